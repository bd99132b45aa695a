#!/usr/bin/env bash
# Tunnel throughput: SIZE bytes through a Bastion local (-L) tunnel vs through `ssh -N -L`, to the same sshd, same
# cipher (aes128-gcm@openssh.com: what Bastion offers first), in one run, alternating, median of RUNS each.
# Data: socat from /dev/zero into the forward, a socat sink behind it (counted done when the sink has everything).
# Also the client-side CPU time per run (bastiond vs ssh), from /proc/PID/stat.
#
#   scripts/bench/tunnel-throughput.sh [--size-mib 1024] [--runs 3]
#
# Last line: RESULT bastion_mbps=… openssh_mbps=… ratio=… bastion_cpu_s=… openssh_cpu_s=… size_mib=… runs=…
# (MB/s = 10^6 bytes per second; ratio = bastion / openssh; cpu_s = median client CPU seconds per run).
# Environment: BASTION_BENCH_SSH_PORT (default 22031); BASTION_BIN_DIR or BASTIOND/BASTIONCTL as for scripts/lab.sh.
set -euo pipefail
BASTION_SCRIPT=bench-tunnel-throughput
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/sshd.sh
source "$here/../lib/sshd.sh"
# shellcheck source=../lib/notify.sh
source "$here/../lib/notify.sh"
# shellcheck source=../lib/tunnel-bench.sh
source "$here/../lib/tunnel-bench.sh"

SIZE_MIB=1024 RUNS=3
PORT=${BASTION_BENCH_SSH_PORT:-22031}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID='' SSH_PID=''
while (($#)); do
    case "$1" in
        --size-mib) SIZE_MIB=${2:-}; shift ;;
        --runs) RUNS=${2:-}; shift ;;
        -h | --help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
    shift
done

tunnel_bench_traps

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

require_root "the tunnel benchmark (its sshd runs in a private mount namespace)"
resolve_binaries
tunnel_bench_setup "$PORT"
SINK_PORT=$((PORT + 1)) B_PORT=$((PORT + 2)) O_PORT=$((PORT + 3))
for p in "$SINK_PORT" "$B_PORT" "$O_PORT"; do tcp_port_free "$p" || die "port $p is taken"; done
BYTES=$((SIZE_MIB * 1024 * 1024))
TICKS=$(getconf CLK_TCK)

bastiond_start "tunnels:
$(tunnel_yaml bench "127.0.0.1:$B_PORT" "127.0.0.1:$SINK_PORT" "$PORT")"
wait_for 30 "the Bastion tunnel to run" tunnels_running 1 || { cat "$BENCH_DIR/bastiond/bastiond.log" >&2; die "tunnel not running"; }

setsid ssh -N -c aes128-gcm@openssh.com -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ExitOnForwardFailure=yes -i "$BENCH_DIR/sshd/id_ed25519" -p "$PORT" -L "127.0.0.1:$O_PORT:127.0.0.1:$SINK_PORT" \
    "$(id -un)@127.0.0.1" </dev/null >"$BENCH_DIR/ssh.log" 2>&1 &
SSH_PID=$!
wait_for 30 "ssh -L to listen" bash -c "ss -Hltn 'sport = :$O_PORT' | grep -q ."

# one_run PORT CLIENT_PID: SIZE bytes into PORT; prints "MB/s cpu_seconds".
one_run() {
    local port=$1 client=$2 got t0 t1 c0 c1
    rm -f "$BENCH_DIR/sink.count"
    # The sink counts what arrives and exits at EOF; the run is over when it has exited.
    (socat -u "TCP-LISTEN:$SINK_PORT,reuseaddr" STDOUT | wc -c >"$BENCH_DIR/sink.count") &
    local sink=$!
    wait_for 10 "the sink to listen" bash -c "ss -Hltn 'sport = :$SINK_PORT' | grep -q ."
    c0=$(cpu_ticks "$client")
    t0=$EPOCHREALTIME
    head -c "$BYTES" /dev/zero | socat -u STDIN "TCP:127.0.0.1:$port"
    wait "$sink"
    t1=$EPOCHREALTIME
    c1=$(cpu_ticks "$client")
    got=$(<"$BENCH_DIR/sink.count")
    [[ $got == "$BYTES" ]] || die "the sink got $got bytes, expected $BYTES"
    awk -v b="$BYTES" -v a="$t0" -v z="$t1" -v c="$((c1 - c0))" -v t="$TICKS" 'BEGIN { printf "%.1f %.2f\n", b / (z - a) / 1e6, c / t }'
}

# Diagnostic: SSH.NET's own forward listens on a second loopback port of bastiond, behind the counting relay.
# Measuring it directly shows what the relay hop costs.
INNER_PORT=$(ss -Hltnp | awk -v pid="pid=$BASTIOND_PID," -v b=":$B_PORT" '$0 ~ pid && $4 !~ b"$" { n = split($4, a, ":"); print a[n]; exit }')
log "$(nproc) CPUs, $(uname -r), $(/usr/sbin/sshd -V 2>&1 | head -1), ${SIZE_MIB} MiB x $RUNS runs each, cipher aes128-gcm"
b_mbps=() o_mbps=() b_cpu=() o_cpu=() d_mbps=()
for ((i = 1; i <= RUNS; i++)); do
    read -r mbps cpu < <(one_run "$B_PORT" "$BASTIOND_PID")
    b_mbps+=("$mbps") b_cpu+=("$cpu")
    log "run $i bastion: $mbps MB/s, bastiond CPU ${cpu}s"
    read -r mbps cpu < <(one_run "$O_PORT" "$SSH_PID")
    o_mbps+=("$mbps") o_cpu+=("$cpu")
    log "run $i openssh: $mbps MB/s, ssh CPU ${cpu}s"
    if [[ -n $INNER_PORT ]]; then
        read -r mbps cpu < <(one_run "$INNER_PORT" "$BASTIOND_PID")
        d_mbps+=("$mbps")
        log "run $i SSH.NET forward without the relay (diagnostic): $mbps MB/s, bastiond CPU ${cpu}s"
    fi
done
bm=$(median "${b_mbps[@]}") om=$(median "${o_mbps[@]}")
bc=$(median "${b_cpu[@]}") oc=$(median "${o_cpu[@]}")
ratio=$(awk -v a="$bm" -v b="$om" 'BEGIN { printf "%.2f", a / b }')
echo "bastion (SSH.NET, aes128-gcm): ${b_mbps[*]} MB/s; client CPU ${b_cpu[*]} s"
[[ ${#d_mbps[@]} -gt 0 ]] && echo "diagnostic, SSH.NET's forward without Bastion's counting relay: ${d_mbps[*]} MB/s (median $(median "${d_mbps[@]}"))"
echo "openssh ssh -N -L (aes128-gcm): ${o_mbps[*]} MB/s; client CPU ${o_cpu[*]} s"
echo "RESULT bastion_mbps=$bm openssh_mbps=$om ratio=$ratio bastion_cpu_s=$bc openssh_cpu_s=$oc size_mib=$SIZE_MIB runs=$RUNS"
