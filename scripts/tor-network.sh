#!/usr/bin/env bash
# A private Tor network on loopback, for tests, the lab and benchmarks (see lib/tor.sh). Nothing it starts can reach
# the public Tor network.
#
#   scripts/tor-network.sh start NET           create NET, start 4 authorities, wait for their consensus, start the
#                                              client tor "client"; prints KEY=VALUE lines (SOCKS_PORT, EXTRA_CONFIG_FILE)
#   scripts/tor-network.sh client NET NAME [AUTHDIR]   one more client tor (e.g. with a ClientOnionAuthDir); prints SOCKS_PORT
#   scripts/tor-network.sh stop-authorities NET    stop the authorities (the only relays; by pid): the network is down
#   scripts/tor-network.sh start-authorities NET   start them again (same keys and ports) and wait for their consensus
#   scripts/tor-network.sh stop NET            stop every tor started in NET (by pid)
#
# The tors run in the background (own sessions) after this script exits; NET/pids lists them.
set -euo pipefail
BASTION_SCRIPT=tor-network
here="$(dirname "$0")"
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=lib/tor.sh
source "$here/lib/tor.sh"

NETWORK_TIMEOUT=${BASTION_TORNET_TIMEOUT:-90}

case "${1:-}" in
    start)
        [[ $# -eq 2 ]] || die "usage: $0 start NET"
        net=$2
        tornet_create "$net"
        tornet_start_authorities "$net" "$NETWORK_TIMEOUT"
        socks="$(tornet_start_client "$net" client "$NETWORK_TIMEOUT")"
        tornet_extra_config "$net" >"$net/extra-config"
        printf 'SOCKS_PORT=%s\nEXTRA_CONFIG_FILE=%s\n' "$socks" "$net/extra-config"
        ;;
    client)
        [[ $# -ge 3 ]] || die "usage: $0 client NET NAME [AUTHDIR]"
        socks="$(tornet_start_client "$2" "$3" "$NETWORK_TIMEOUT" "${4:-}")"
        printf 'SOCKS_PORT=%s\n' "$socks"
        ;;
    stop-authorities)
        [[ $# -eq 2 && -f $2/pids ]] || die "usage: $0 stop-authorities NET (a network started by this script)"
        tornet_stop_authorities "$2"
        ;;
    start-authorities)
        [[ $# -eq 2 && -f $2/pids ]] || die "usage: $0 start-authorities NET (a network started by this script)"
        grep -q ' auth[0-9]*$' "$2/pids" && die "the authorities of $2 are running"
        tornet_start_authorities "$2" "$NETWORK_TIMEOUT"
        ;;
    stop)
        [[ $# -eq 2 ]] || die "usage: $0 stop NET"
        [[ -f $2/pids ]] || die "$2 is not a network started by this script (no $2/pids)"
        tornet_stop "$2"
        ;;
    *)
        sed -n '2,13s/^# \{0,1\}//p' "$0" >&2
        exit 2
        ;;
esac
