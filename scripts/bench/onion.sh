#!/usr/bin/env bash
# Onion benchmark (informational: Tor bounds these numbers), in one run on a private Tor network on loopback:
#   cold start: bastiond exec → its onion service "reachable" in status.json (tor started, bootstrapped,
#               descriptor uploaded, self-test through tor passed), and → the first OpenSSH command over it
#               through a client tor. Reference: the same tor network's plain client tor, exec → bootstrapped.
#   throughput: 100 MiB through `ssh ... 'cat >/dev/null'` over the onion (client tor → private network → bastiond's
#               tor → sshd), versus the same ssh straight to sshd on 127.0.0.1.
#   frozen tor: SIGSTOP of bastiond's tor → status says "tor not answering its control port" (then SIGCONT).
#   revocation: clients alice and bob authorized; bob logs in through his own client tor (key in its
#               ClientOnionAuthDir), keeps a session open; `bastionctl onion client remove bob` → bob's first refused
#               new login (and the next three refused too).
#
#   scripts/bench/onion.sh [--mib N]
#
# Last line: RESULT cold_reachable_s=… cold_first_ssh_s=… tor_bootstrap_s=… onion_mib_s=… direct_mib_s=… ratio=… mib=…
#            frozen_detected_s=… revocation_s=…
# (ratio = direct_mib_s / onion_mib_s: how many times slower the onion path is; frozen_detected_s: "frozen tor detected
# after N s"; revocation_s: "revocation effective after N s", from the remove command's start).
# Environment: BASTION_BENCH_SSH_PORT (default 22024); BASTION_BIN_DIR, or BASTIOND and BASTIONCTL, as for
# scripts/lab.sh. Needs root (the private sshd). Nothing here can reach the public Tor network.
set -euo pipefail
BASTION_SCRIPT=bench-onion
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/sshd.sh
source "$here/../lib/sshd.sh"
# shellcheck source=../lib/tor.sh
source "$here/../lib/tor.sh"

MIB=100
PORT=${BASTION_BENCH_SSH_PORT:-22024}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NET='' TOR_PID='' SESSION_PID=''

usage() { sed -n '2,23s/^# \{0,1\}//p' "$0"; }

while (($#)); do
    case "$1" in
        --mib) MIB=${2:-}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
[[ $MIB =~ ^[1-9][0-9]*$ ]] || die "--mib needs a positive number"

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    [[ -n $TOR_PID ]] && kill -CONT "$TOR_PID" 2>/dev/null
    [[ -n $SESSION_PID ]] && kill "$SESSION_PID" 2>/dev/null
    stop_pid "$BASTIOND_PID" bastiond 15
    stop_pid "$SSHD_PID" sshd 5
    [[ -n $NET ]] && tornet_stop "$NET"
    if ((rc != 0)) && [[ -n $BENCH_DIR ]]; then
        tail -n 40 "$BENCH_DIR/bastiond.log" >&2
        [[ -n $NET ]] && tornet_dump_logs "$NET"
    fi
    [[ -n $BENCH_DIR ]] && rm -rf "$BENCH_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
mib_s() { awk -v m="$MIB" -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", m / (b - a) }'; }

require_root "the onion benchmark (its sshd runs in a private mount namespace)"
resolve_binaries
BENCH_DIR="$(mktemp -d /tmp/bastion-bench-onion.XXXXXX)"
NET=$BENCH_DIR/tor
export TORNET_OWNER=$$

tcp_port_free "$PORT" || die "port $PORT is taken; set BASTION_BENCH_SSH_PORT"
mkdir -p "$BENCH_DIR/sshd"
sshd_prepare "$BENCH_DIR/sshd" "$PORT"
: >"$BENCH_DIR/sshd.log"
sshd_start "$BENCH_DIR/sshd" "$BENCH_DIR/sshd.log"
sshd_wait_ready "$BENCH_DIR/sshd.log" 15

log "private Tor network: 4 authorities"
tornet_create "$NET"
tornet_start_authorities "$NET" 90
t0=$EPOCHREALTIME
socks="$(tornet_start_client "$NET" client 90)"
t1=$EPOCHREALTIME
tor_bootstrap_s="$(secs "$t0" "$t1")"
log "client tor bootstrapped in ${tor_bootstrap_s}s (SocksPort $socks)"

daemon_socks="$(tornet_pick_port)"
mkdir -p "$BENCH_DIR/bastion"
{
    printf 'paths:\n  stateDir: %s/state\n  runtimeDir: %s/run\ndbus:\n  bus: none\n' "$BENCH_DIR/bastion" "$BENCH_DIR/bastion"
    printf 'onion:\n  tor:\n    socksPort: 127.0.0.1:%s\n    extraConfig:\n' "$daemon_socks"
    tornet_extra_config "$NET" | sed 's/^/      - "/; s/$/"/'
    printf '  services:\n    - name: ssh\n      ports:\n        - {virtual: 22, target: "127.0.0.1:%s"}\n' "$PORT"
} >"$BENCH_DIR/bastion.yaml"
status=$BENCH_DIR/bastion/run/status.json
reachable() {
    [[ $(jq -r '.components[]? | select(.kind == "onion") | .details.state // empty' "$status" 2>/dev/null) == reachable ]]
}

start=$EPOCHREALTIME
(
    export BASTION_TOR_PRIVATE_NETWORK=1
    exec setsid "$BASTIOND" --config "$BENCH_DIR/bastion.yaml"
) </dev/null >"$BENCH_DIR/bastiond.log" 2>&1 &
BASTIOND_PID=$!
WAIT_FOR_PID=$BASTIOND_PID wait_for 180 "the onion service to be reachable" reachable
reachable_at=$EPOCHREALTIME
address="$(jq -r '.components[] | select(.kind == "onion") | .details.address' "$status")"
ssh_opts=(-i "$BENCH_DIR/sshd/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=/dev/null
    -o StrictHostKeyChecking=no -o LogLevel=ERROR -o ConnectTimeout=30)
onion_ssh=(ssh "${ssh_opts[@]}" -o ProxyCommand="nc -X 5 -x 127.0.0.1:$socks %h %p" "root@$address")
direct_ssh=(ssh "${ssh_opts[@]}" -p "$PORT" root@127.0.0.1)
deadline=$((SECONDS + 120))
until "${onion_ssh[@]}" true 2>"$BENCH_DIR/ssh.err"; do
    ((SECONDS < deadline)) || { cat "$BENCH_DIR/ssh.err" >&2; die "ssh over the onion never worked"; }
    sleep 0.5
done
first_ssh_at=$EPOCHREALTIME
cold_reachable_s="$(secs "$start" "$reachable_at")"
cold_first_ssh_s="$(secs "$start" "$first_ssh_at")"
log "cold start: reachable after ${cold_reachable_s}s, first ssh over the onion after ${cold_first_ssh_s}s ($address)"

copy() {
    local a b
    a=$EPOCHREALTIME
    head -c "$((MIB * 1024 * 1024))" /dev/zero | "$@" 'cat >/dev/null'
    b=$EPOCHREALTIME
    mib_s "$a" "$b"
}
direct_mib_s="$(copy "${direct_ssh[@]}")"
log "direct: $MIB MiB at $direct_mib_s MiB/s"
onion_mib_s="$(copy "${onion_ssh[@]}")"
log "onion:  $MIB MiB at $onion_mib_s MiB/s"
ratio="$(awk -v d="$direct_mib_s" -v o="$onion_mib_s" 'BEGIN { printf "%.1f", d / o }')"

component() { jq -r --arg k "$1" '.components[]? | select(.kind == $k) | '"$2"' // empty' "$status" 2>/dev/null; }

# Frozen tor: SIGSTOP bastiond's tor until its probe says so.
TOR_PID="$(component tor .details.pid)"
[[ $TOR_PID =~ ^[0-9]+$ ]] || die "no tor pid in $status"
tor_not_answering() { [[ $(component tor .reason) == "tor not answering its control port"* ]]; }
a=$EPOCHREALTIME
kill -STOP "$TOR_PID"
WAIT_FOR_PID=$BASTIOND_PID wait_for 120 "bastiond to notice the frozen tor" tor_not_answering
frozen_detected_s="$(secs "$a" "$EPOCHREALTIME")"
kill -CONT "$TOR_PID"
TOR_PID=''
log "frozen tor detected after ${frozen_detected_s}s"
WAIT_FOR_PID=$BASTIOND_PID wait_for 180 "the onion service to be reachable again" reachable

# Revocation: two clients (removing the last one is refused: it would make the onion public), bob is revoked.
ctl() { "$BASTIONCTL" --runtime-dir "$BENCH_DIR/bastion/run" "$@"; }
authdir=$BENCH_DIR/bob-auth
install -d -m 700 "$authdir"
ctl onion client add alice >/dev/null 2>"$BENCH_DIR/ctl.err" || { cat "$BENCH_DIR/ctl.err" >&2; die "onion client add alice failed"; }
ctl onion client add bob >"$authdir/bob.auth_private" 2>"$BENCH_DIR/ctl.err" || { cat "$BENCH_DIR/ctl.err" >&2; die "onion client add bob failed"; }
chmod 600 "$authdir/bob.auth_private"
both_reachable() { reachable && [[ $(component onion .details.clients) == *alice* && $(component onion .details.clients) == *bob* ]]; }
WAIT_FOR_PID=$BASTIOND_PID wait_for 180 "the onion service with alice and bob to be reachable" both_reachable
bob_socks="$(tornet_start_client "$NET" bob 90 "$authdir")"
bob_ssh=(ssh "${ssh_opts[@]}" -o ProxyCommand="nc -X 5 -x 127.0.0.1:$bob_socks %h %p" "root@$address")
deadline=$((SECONDS + 120))
until "${bob_ssh[@]}" true 2>"$BENCH_DIR/ssh.err"; do
    ((SECONDS < deadline)) || { cat "$BENCH_DIR/ssh.err" >&2; die "bob never got in with his key"; }
    sleep 0.5
done
"${bob_ssh[@]}" -o ServerAliveInterval=5 'sleep 600' </dev/null >/dev/null 2>&1 &
SESSION_PID=$!
sleep 2
a=$EPOCHREALTIME
ctl onion client remove bob >/dev/null 2>"$BENCH_DIR/ctl.err" || { cat "$BENCH_DIR/ctl.err" >&2; die "onion client remove bob failed"; }
deadline=$((SECONDS + 300))
while "${bob_ssh[@]}" true 2>/dev/null; do
    ((SECONDS < deadline)) || die "bob still gets in 300 s after his removal"
    sleep 0.5
done
revocation_s="$(secs "$a" "$EPOCHREALTIME")"
for _ in 1 2 3; do
    if "${bob_ssh[@]}" true 2>/dev/null; then die "bob got in again after a refused login"; fi
done
kill "$SESSION_PID" 2>/dev/null || true
SESSION_PID=''
log "revocation effective after ${revocation_s}s (and stays: three more logins refused)"

echo "RESULT cold_reachable_s=$cold_reachable_s cold_first_ssh_s=$cold_first_ssh_s tor_bootstrap_s=$tor_bootstrap_s onion_mib_s=$onion_mib_s direct_mib_s=$direct_mib_s ratio=$ratio mib=$MIB frozen_detected_s=$frozen_detected_s revocation_s=$revocation_s"
