#!/usr/bin/env bash
# Time from sshd back to tunnel usable: a Bastion -L tunnel (backoff initial 500ms, max 5s) to a sshd that is
# killed with its session processes (as in a reboot), kept down DOWN seconds, and started again; measured from
# "Server listening on" to the first connection through the tunnel that gets sshd's banner. For reference the same for an OpenSSH client restarted by a shell
# loop (`while :; do ssh -N -L …; sleep 1; done`: what people use instead of autossh). Median of RUNS.
#
#   scripts/bench/tunnel-recovery.sh [--runs 5] [--down 3]
#
# Last line: RESULT bastion_recovery_ms=… openssh_loop_recovery_ms=… ratio=… runs=… down_s=…
set -euo pipefail
BASTION_SCRIPT=bench-tunnel-recovery
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/sshd.sh
source "$here/../lib/sshd.sh"
# shellcheck source=../lib/notify.sh
source "$here/../lib/notify.sh"
# shellcheck source=../lib/tunnel-bench.sh
source "$here/../lib/tunnel-bench.sh"

RUNS=5 DOWN=3
PORT=${BASTION_BENCH_SSH_PORT:-22051}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID='' LOOP_PID='' BOUNCE_MS=''
while (($#)); do
    case "$1" in
        --runs) RUNS=${2:-}; shift ;;
        --down) DOWN=${2:-}; shift ;;
        -h | --help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
    shift
done
tunnel_bench_traps
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

require_root "the tunnel benchmark (its sshd runs in a private mount namespace)"
resolve_binaries
tunnel_bench_setup "$PORT"
B_PORT=$((PORT + 2)) O_PORT=$((PORT + 3))

# bounce PORT: kill sshd, wait DOWN s, start it; sets BOUNCE_MS: from "listening" until PORT serves the banner again.
# (Not run in $(…): SSHD_PID must stay current in this shell, or the cleanup trap would miss the restarted sshd.)
bounce() {
    local port=$1 t0
    wait_for 30 "the tunnel to work before the bounce" banner_through "$port"
    # sshd's per-connection processes run in sessions of their own (setsid): kill them too, as a reboot would,
    # or the established SSH session simply survives the listener's restart.
    # shellcheck disable=SC2046 # one pid per word
    kill -9 $(cat /proc/"$SSHD_PID"/task/*/children) 2>/dev/null || true
    stop_pid "$SSHD_PID" sshd 5
    sleep "$DOWN"
    local sshd_log=$BENCH_DIR/sshd.bounce.$EPOCHREALTIME.log
    sshd_start "$BENCH_DIR/sshd" "$sshd_log"
    until grep -q 'Server listening on' "$sshd_log" 2>/dev/null; do sleep 0.005; done
    t0=$EPOCHREALTIME
    while ! banner_through "$port"; do sleep 0.02; done
    BOUNCE_MS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
}

bastiond_start "tunnels:
$(tunnel_yaml recover "127.0.0.1:$B_PORT" "127.0.0.1:$PORT" "$PORT")"
b=()
for ((i = 1; i <= RUNS; i++)); do bounce "$B_PORT"; b+=("$BOUNCE_MS"); log "bastion run $i: $BOUNCE_MS ms"; done
stop_pid "$BASTIOND_PID" bastiond 15
BASTIOND_PID=''

# shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
setsid bash -c 'while :; do ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ExitOnForwardFailure=yes -o ServerAliveInterval=1 -o ServerAliveCountMax=2 -i "$1" -p "$2" -L "127.0.0.1:$3:127.0.0.1:$2" \
    "$(id -un)@127.0.0.1"; sleep 1; done' _ "$BENCH_DIR/sshd/id_ed25519" "$PORT" "$O_PORT" </dev/null >"$BENCH_DIR/loop.log" 2>&1 &
LOOP_PID=$!
o=()
for ((i = 1; i <= RUNS; i++)); do bounce "$O_PORT"; o+=("$BOUNCE_MS"); log "ssh loop run $i: $BOUNCE_MS ms"; done

bm=$(median "${b[@]}") om=$(median "${o[@]}")
echo "bastion: ${b[*]} ms; ssh loop: ${o[*]} ms (sshd down ${DOWN}s each time)"
echo "RESULT bastion_recovery_ms=$bm openssh_loop_recovery_ms=$om ratio=$(awk -v a="$bm" -v b="$om" 'BEGIN { printf "%.2f", a / b }') runs=$RUNS down_s=$DOWN"
