#!/usr/bin/env bash
# Tunnel throughput: SIZE bytes through a Bastion local (-L) tunnel vs through `ssh -N -L` (or, with --kind remote,
# a Bastion -R tunnel vs `ssh -N -R`: the source connects to the port sshd listens on, and the client relays to the
# sink), to the same sshd, same cipher (aes128-gcm@openssh.com: what Bastion offers first), in one run, alternating, median of RUNS each.
# Data: a python source (1 MiB sendall of zeros) into the forward, a python sink behind it (recv_into a 1 MiB buffer,
# counted done when the sink has everything). The harness measures its own ceiling in the same run: the same source
# and sink through a plain loopback connection. A ceiling that is not several times the tunnel speeds is reported:
# then the harness, not the tunnel, may set the figures (an earlier pipe-based harness topped out near 200 MB/s).
# Also the client-side CPU time per run (bastiond vs ssh), from /proc/PID/stat, and the load average.
#
#   scripts/bench/tunnel-throughput.sh [--size-mib 1024] [--runs 3] [--kind local|remote] [--perf DIR]
#
# --perf DIR: also record `perf record -g` of bastiond during each Bastion run into DIR (bastiond runs with
# DOTNET_PerfMapEnabled=1 so JIT-compiled frames have names); read with `perf report -i DIR/bastion.TIME.data`.
#
# Last line: RESULT kind=… bastion_mbps=… openssh_mbps=… ratio=… bastion_cpu_s=… openssh_cpu_s=… bastion_cpu_s_per_gib=…
# openssh_cpu_s_per_gib=… ceiling_mbps=… size_mib=… runs=… load=…
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

SIZE_MIB=1024 RUNS=3 KIND=local PERF_DIR='' PERF_PID=''
PORT=${BASTION_BENCH_SSH_PORT:-22031}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID='' SSH_PID=''
while (($#)); do
    case "$1" in
        --size-mib) SIZE_MIB=${2:-}; shift ;;
        --runs) RUNS=${2:-}; shift ;;
        --kind) KIND=${2:-}; shift ;;
        --perf) PERF_DIR=${2:-}; shift ;;
        -h | --help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
    shift
done

[[ $KIND == local || $KIND == remote ]] || die "--kind is local or remote"
FLAG=L
[[ $KIND == remote ]] && FLAG=R
tunnel_bench_traps

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

require_root "the tunnel benchmark (its sshd runs in a private mount namespace)"
resolve_binaries
tunnel_bench_setup "$PORT"
SINK_PORT=$((PORT + 1)) B_PORT=$((PORT + 2)) O_PORT=$((PORT + 3))
for p in "$SINK_PORT" "$B_PORT" "$O_PORT"; do tcp_port_free "$p" || die "port $p is taken"; done
BYTES=$((SIZE_MIB * 1024 * 1024))
TICKS=$(getconf CLK_TCK)

if [[ -n $PERF_DIR ]]; then
    mkdir -p "$PERF_DIR"
    export DOTNET_PerfMapEnabled=1
fi
# -R: the tunnel's end-to-end check reaches the target at once; something must accept there until the tunnel runs
# (later checks find the sink or nothing: the sink ignores a connection that sends nothing).
STANDIN=''
if [[ $KIND == remote ]]; then
    python3 -c 'import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(16)
while True:
    l.accept()[0].close()' "$SINK_PORT" &
    STANDIN=$!
fi
bastiond_start "tunnels:
$(tunnel_yaml bench "127.0.0.1:$B_PORT" "127.0.0.1:$SINK_PORT" "$PORT" "$KIND")"
wait_for 30 "the Bastion tunnel to run" tunnels_running 1 || { cat "$BENCH_DIR/bastiond/bastiond.log" >&2; die "tunnel not running"; }
if [[ -n $STANDIN ]]; then
    kill "$STANDIN"
    wait "$STANDIN" 2>/dev/null || true
fi

setsid ssh -N -c aes128-gcm@openssh.com -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ExitOnForwardFailure=yes -i "$BENCH_DIR/sshd/id_ed25519" -p "$PORT" "-$FLAG" "127.0.0.1:$O_PORT:127.0.0.1:$SINK_PORT" \
    "$(id -un)@127.0.0.1" </dev/null >"$BENCH_DIR/ssh.log" 2>&1 &
SSH_PID=$!
wait_for 30 "ssh -$FLAG to listen" bash -c "ss -Hltn 'sport = :$O_PORT' | grep -q ."

# The source and the sink: plain sockets and big buffers, no pipes (a pipe stage caps a run near 200 MB/s).
SINK_PY='import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(1)
print("listening", flush=True)
buf = bytearray(1 << 20); total = 0
while total == 0:
    c, _ = l.accept()
    while True:
        n = c.recv_into(buf)
        if n == 0: break
        total += n
    c.close()
print(total, flush=True)'
SOURCE_PY='import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); left = int(sys.argv[2]); chunk = bytes(1 << 20)
while left > 0:
    n = min(left, len(chunk)); s.sendall(chunk[:n] if n < len(chunk) else chunk); left -= n
s.close()'

# one_run PORT [CLIENT_PID]: SIZE bytes into PORT; prints "MB/s cpu_seconds" (cpu 0 without a client).
one_run() {
    local port=$1 client=${2:-} got t0 t1 c0=0 c1=0
    rm -f "$BENCH_DIR/sink.count"
    # The sink counts what arrives and exits at EOF; the run is over when it has counted.
    python3 -c "$SINK_PY" "$SINK_PORT" >"$BENCH_DIR/sink.count" &
    local sink=$!
    wait_for 10 "the sink to listen" grep -qs listening "$BENCH_DIR/sink.count"
    [[ -n $client ]] && c0=$(cpu_ticks "$client")
    if [[ -n $PERF_DIR && $client == "$BASTIOND_PID" ]]; then
        perf record -q -F 999 -g -p "$client" -o "$PERF_DIR/bastion.$EPOCHSECONDS.data" >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 0.5
    fi
    t0=$EPOCHREALTIME
    python3 -c "$SOURCE_PY" "$port" "$BYTES" &
    local source=$!
    wait "$sink"
    t1=$EPOCHREALTIME
    wait "$source" || true
    [[ -n $client ]] && c1=$(cpu_ticks "$client")
    if [[ -n $PERF_PID ]]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=''
        [[ -f /tmp/perf-$BASTIOND_PID.map ]] && cp "/tmp/perf-$BASTIOND_PID.map" "$PERF_DIR/"
    fi
    got=$(tail -1 "$BENCH_DIR/sink.count")
    [[ $got == "$BYTES" ]] || die "the sink got $got bytes, expected $BYTES"
    awk -v b="$BYTES" -v a="$t0" -v z="$t1" -v c="$((c1 - c0))" -v t="$TICKS" 'BEGIN { printf "%.1f %.2f\n", b / (z - a) / 1e6, c / t }'
}

log "$(nproc) CPUs, $(uname -r), $(/usr/sbin/sshd -V 2>&1 | head -1), ${SIZE_MIB} MiB x $RUNS runs each, cipher aes128-gcm, kind $KIND"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
b_mbps=() o_mbps=() b_cpu=() o_cpu=() c_mbps=()
for ((i = 1; i <= RUNS; i++)); do
    read -r mbps _ < <(one_run "$SINK_PORT")
    c_mbps+=("$mbps")
    log "run $i ceiling (same source and sink, plain loopback): $mbps MB/s"
    read -r mbps cpu < <(one_run "$B_PORT" "$BASTIOND_PID")
    b_mbps+=("$mbps") b_cpu+=("$cpu")
    log "run $i bastion: $mbps MB/s, bastiond CPU ${cpu}s"
    read -r mbps cpu < <(one_run "$O_PORT" "$SSH_PID")
    o_mbps+=("$mbps") o_cpu+=("$cpu")
    log "run $i openssh: $mbps MB/s, ssh CPU ${cpu}s"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
bm=$(median "${b_mbps[@]}") om=$(median "${o_mbps[@]}") cm=$(median "${c_mbps[@]}")
bc=$(median "${b_cpu[@]}") oc=$(median "${o_cpu[@]}")
ratio=$(awk -v a="$bm" -v b="$om" 'BEGIN { printf "%.2f", a / b }')
per_gib() { awk -v c="$1" -v m="$SIZE_MIB" 'BEGIN { printf "%.2f", c * 1024 / m }'; }
bg=$(per_gib "$bc") og=$(per_gib "$oc")
echo "ceiling (harness alone, plain loopback): ${c_mbps[*]} MB/s"
echo "bastion (SSH.NET, aes128-gcm): ${b_mbps[*]} MB/s; client CPU ${b_cpu[*]} s"
echo "openssh ssh -N -$FLAG (aes128-gcm): ${o_mbps[*]} MB/s; client CPU ${o_cpu[*]} s"
echo "load average: $load0 before, $load1 after ($(nproc) CPUs)"
if awk -v c="$cm" -v b="$bm" -v o="$om" 'BEGIN { m = b > o ? b : o; exit !(c < 4 * m) }'; then
    echo "WARNING: the harness's own ceiling ($cm MB/s) is less than 4x the faster tunnel: these figures may measure the harness (or a loaded machine), not the tunnels"
fi
echo "client CPU per GiB (medians): bastiond ${bg} s, ssh ${og} s"
echo "RESULT kind=$KIND bastion_mbps=$bm openssh_mbps=$om ratio=$ratio bastion_cpu_s=$bc openssh_cpu_s=$oc bastion_cpu_s_per_gib=$bg openssh_cpu_s_per_gib=$og ceiling_mbps=$cm size_mib=$SIZE_MIB runs=$RUNS load=\"$load1\""
