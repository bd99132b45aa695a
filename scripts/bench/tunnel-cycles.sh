#!/usr/bin/env bash
# Connect/kill cycles: a -L and a -R tunnel on one session; each cycle kills the session on the server (sshd's
# per-connection process), waits until the tunnel carries a connection again (sshd's banner through the -L bind),
# and goes on. File descriptors and RSS of bastiond after a warm-up vs at the end. The CI test runs 40 cycles.
#
#   scripts/bench/tunnel-cycles.sh [--cycles 1000]
#
# Last line: RESULT cycles=… fds_start=… fds_end=… rss_start_mb=… rss_end_mb=… seconds=…
set -euo pipefail
BASTION_SCRIPT=bench-tunnel-cycles
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/sshd.sh
source "$here/../lib/sshd.sh"
# shellcheck source=../lib/notify.sh
source "$here/../lib/notify.sh"
# shellcheck source=../lib/tunnel-bench.sh
source "$here/../lib/tunnel-bench.sh"

CYCLES=1000
PORT=${BASTION_BENCH_SSH_PORT:-22061}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID=''
while (($#)); do
    case "$1" in
        --cycles) CYCLES=${2:-}; shift ;;
        -h | --help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
    shift
done
tunnel_bench_traps

require_root "the tunnel benchmark (its sshd runs in a private mount namespace)"
resolve_binaries
tunnel_bench_setup "$PORT"
L_PORT=$((PORT + 2)) R_PORT=$((PORT + 3))
# A restart right after each kill: this measures leaks, not backoff (which would grow to its max, as it should).
TUNNEL_BACKOFF="initial: 50ms
      max: 100ms
      resetAfter: 200ms"
bastiond_start "tunnels:
$(tunnel_yaml cyc-l "127.0.0.1:$L_PORT" "127.0.0.1:$PORT" "$PORT")
$(tunnel_yaml cyc-r "127.0.0.1:$R_PORT" "127.0.0.1:$PORT" "$PORT" remote)"
wait_for 30 "the tunnel" banner_through "$L_PORT"
start=$SECONDS
fds0='' rss0=''
for ((i = 1; i <= CYCLES; i++)); do
    if ((i == 20)); then fds0=$(fd_count "$BASTIOND_PID") rss0=$(rss_kb "$BASTIOND_PID"); fi
    # shellcheck disable=SC2046 # one pid per word
    kill -9 $(cat /proc/"$SSHD_PID"/task/*/children) 2>/dev/null || true
    sleep 0.05
    wait_for 60 "cycle $i: the tunnel to carry a connection again" banner_through "$L_PORT"
    ((i % 100 == 0)) && log "cycle $i: fds $(fd_count "$BASTIOND_PID"), RSS $(rss_kb "$BASTIOND_PID") kB"
done
wait_for 30 "both tunnels running" tunnels_running 2 || true
sleep 2
fds1=$(fd_count "$BASTIOND_PID") rss1=$(rss_kb "$BASTIOND_PID")
echo "after $CYCLES cycles in $((SECONDS - start))s: fds $fds0 → $fds1, RSS $((rss0 / 1024)) → $((rss1 / 1024)) MB; reconnects: $(tunnel_detail cyc-l reconnects)"
echo "RESULT cycles=$CYCLES fds_start=$fds0 fds_end=$fds1 rss_start_mb=$((rss0 / 1024)) rss_end_mb=$((rss1 / 1024)) seconds=$((SECONDS - start))"
