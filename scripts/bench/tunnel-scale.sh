#!/usr/bin/env bash
# 200 forwards to one server: bastiond (200 tunnels: entries, one shared SSH session) vs one `ssh -N` with 200 -L.
# Once all forward, both sit idle for IDLE seconds: RSS (at the end, and the highest seen each second), open fds,
# CPU time used while idle, SSH sessions on sshd. Use --idle 150 or more for the settled figure.
#
#   scripts/bench/tunnel-scale.sh [--forwards 200] [--idle 30]
#
# Last line: RESULT bastion_rss_mb=… openssh_rss_mb=… bastion_max_rss_mb=… openssh_max_rss_mb=… bastion_anon_mb=… bastion_threads=…
#            bastion_idle_cpu_pct=… openssh_idle_cpu_pct=… bastion_fds=… openssh_fds=… bastion_sessions=…
#            bastion_ready_s=… forwards=…
# Environment: BASTION_BENCH_SSH_PORT (default 22041); BASTION_BIN_DIR or BASTIOND/BASTIONCTL.
set -euo pipefail
BASTION_SCRIPT=bench-tunnel-scale
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/sshd.sh
source "$here/../lib/sshd.sh"
# shellcheck source=../lib/notify.sh
source "$here/../lib/notify.sh"
# shellcheck source=../lib/tunnel-bench.sh
source "$here/../lib/tunnel-bench.sh"

FORWARDS=200 IDLE=30
PORT=${BASTION_BENCH_SSH_PORT:-22041}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID='' SSH_PID=''
while (($#)); do
    case "$1" in
        --forwards) FORWARDS=${2:-}; shift ;;
        --idle) IDLE=${2:-}; shift ;;
        -h | --help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
    shift
done
tunnel_bench_traps

require_root "the tunnel benchmark (its sshd runs in a private mount namespace)"
resolve_binaries
tunnel_bench_setup "$PORT"
TICKS=$(getconf CLK_TCK)

# idle_measure PID: idles IDLE seconds, reading the RSS every second; prints "rss_mb fds cpu_pct max_rss_mb"
# (RSS at the end, and the highest seen: a daemon's RSS can climb while it idles, until its first collection).
idle_measure() {
    local pid=$1 c0 c1 i r max=0
    sleep 3 # let start-up work settle
    c0=$(cpu_ticks "$pid")
    for ((i = 0; i < IDLE; i++)); do
        sleep 1
        r=$(rss_kb "$pid")
        ((r > max)) && max=$r
    done
    c1=$(cpu_ticks "$pid")
    awk -v r="$(rss_kb "$pid")" -v f="$(fd_count "$pid")" -v c="$((c1 - c0))" -v t="$TICKS" -v s="$IDLE" -v m="$max" \
        'BEGIN { printf "%.1f %d %.2f %.1f\n", r / 1024, f, c / t / s * 100, m / 1024 }'
}

body="tunnels:"
for ((i = 0; i < FORWARDS; i++)); do
    body+=$'\n'"$(tunnel_yaml "fwd-$i" 127.0.0.1:0 "127.0.0.1:$PORT" "$PORT")"
done
t0=$EPOCHREALTIME
bastiond_start "$body"
wait_for 120 "all $FORWARDS tunnels to run" tunnels_running "$FORWARDS" || die "only $(running_tunnels) of $FORWARDS running"
ready_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
sessions=$(grep -c 'Accepted publickey' "$BENCH_DIR/sshd.log" || true)
log "bastiond: $FORWARDS tunnels running after ${ready_s}s over $sessions SSH session(s); idling ${IDLE}s"
read -r b_rss b_fds b_cpu b_max < <(idle_measure "$BASTIOND_PID")
# Where the RSS is: anonymous (heaps, stacks) against file pages (the binary's code, libcrypto), and the threads.
b_anon=$(awk '/^Anonymous:/ { printf "%.1f", $2 / 1024 }' "/proc/$BASTIOND_PID/smaps_rollup")
b_file=$(awk '/^Rss:/ { r = $2 } /^Anonymous:/ { a = $2 } END { printf "%.1f", (r - a) / 1024 }' "/proc/$BASTIOND_PID/smaps_rollup")
b_threads=$(awk '/^Threads:/ { print $2 }' "/proc/$BASTIOND_PID/status")
log "bastiond: ${b_anon} MB anonymous, ${b_file} MB file-backed, ${b_threads} threads"
stop_pid "$BASTIOND_PID" bastiond 15
BASTIOND_PID=''

args=()
for ((i = 0; i < FORWARDS; i++)); do args+=(-L "127.0.0.1:$((PORT + 100 + i)):127.0.0.1:$PORT"); done
setsid ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ServerAliveInterval=10 \
    -i "$BENCH_DIR/sshd/id_ed25519" -p "$PORT" "${args[@]}" "$(id -un)@127.0.0.1" </dev/null >"$BENCH_DIR/ssh.log" 2>&1 &
SSH_PID=$!
wait_for 30 "ssh's last forward to listen" bash -c "ss -Hltn 'sport = :$((PORT + 99 + FORWARDS))' | grep -q ."
log "ssh -N with $FORWARDS -L: idling ${IDLE}s"
read -r o_rss o_fds o_cpu o_max < <(idle_measure "$SSH_PID")

echo "bastiond: RSS ${b_rss} MB (at most ${b_max} MB while idle; ${b_anon} MB anonymous, ${b_file} MB file), ${b_threads} threads, ${b_fds} fds, idle CPU ${b_cpu}% over ${IDLE}s, ${sessions} SSH session(s), all running after ${ready_s}s"
echo "ssh -N:   RSS ${o_rss} MB (at most ${o_max} MB), ${o_fds} fds, idle CPU ${o_cpu}% over ${IDLE}s, 1 SSH session"
echo "RESULT bastion_rss_mb=$b_rss openssh_rss_mb=$o_rss bastion_max_rss_mb=$b_max openssh_max_rss_mb=$o_max bastion_anon_mb=$b_anon bastion_threads=$b_threads bastion_idle_cpu_pct=$b_cpu openssh_idle_cpu_pct=$o_cpu bastion_fds=$b_fds openssh_fds=$o_fds bastion_sessions=$sessions bastion_ready_s=$ready_s forwards=$FORWARDS"
