#!/usr/bin/env bash
# The fleet at scale: N bastiond nodes (each with a minimal config: the fleet only, its own state and runtime dirs, a
# 5s status interval) on one private nats-server with JetStream (loopback). Measures:
#   - how long `bastionctl fleet status` takes to list all N nodes (verified and decrypted), once all are fresh;
#   - the round trip of `bastionctl fleet send NODE status` (process start, sign, seal, store, the node opens, runs
#     and answers, the reply verified), p50/p99 over SENDS sends to random nodes;
#   - next to a raw NATS request/reply round trip on the same broker (a responder and a requester speaking the NATS
#     text protocol over a socket, python3), p50/p99 over RAW requests;
#   - RSS per bastiond.
#
#   scripts/bench/fleet.sh [--nodes 50] [--sends 40] [--raw 400]
#
# Last line: RESULT nodes=… status_list_s=… cmd_rtt_ms_p50=… cmd_rtt_ms_p99=… raw_rtt_ms_p50=… raw_rtt_ms_p99=…
#            ratio=… rss_mb_per_node=… load=…   (ratio = cmd p50 / raw p50; load = 1-minute loadavg at the end)
# Environment: BASTION_BIN_DIR or BASTIOND/BASTIONCTL. Heavy with the default 50 nodes: run it on an idle machine.
set -euo pipefail
BASTION_SCRIPT=bench-fleet
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

NODES=50 SENDS=40 RAW=400
while (($#)); do
    case "$1" in
        --nodes) NODES=${2:-}; shift ;;
        --sends) SENDS=${2:-}; shift ;;
        --raw) RAW=${2:-}; shift ;;
        -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
    shift
done
for n in "$NODES" "$SENDS" "$RAW"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "--nodes, --sends and --raw take positive whole numbers"
done
[[ -x /usr/sbin/nats-server ]] || die "/usr/sbin/nats-server is missing: run scripts/install-deps.sh"

BENCH_DIR='' NATS_PID='' RESPONDER_PID='' NODE_PIDS=()
cleanup() {
    local rc=$? pid
    set +e
    for pid in "${NODE_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${NODE_PIDS[@]}"; do
        stop_pid "$pid" bastiond 15
    done
    stop_pid "$RESPONDER_PID" "raw responder" 2
    stop_pid "$NATS_PID" nats-server 5
    if ((rc != 0)) && [[ -n $BENCH_DIR ]]; then
        tail -n 30 "$BENCH_DIR/nats.log" "$BENCH_DIR"/node1/bastiond.log 2>/dev/null >&2
    fi
    [[ -n $BENCH_DIR ]] && rm -rf "$BENCH_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

resolve_binaries
BENCH_DIR="$(mktemp -d /tmp/bastion-bench-fleet.XXXXXX)"

# A free loopback port (nothing listens on it now).
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 10000))
        if tcp_port_free "$p"; then printf '%s\n' "$p"; return 0; fi
    done
    die "no free loopback port in 20000..29999"
}

port="$(free_port)"
URL="nats://127.0.0.1:$port"
mkdir -p "$BENCH_DIR/store"
setsid /usr/sbin/nats-server -a 127.0.0.1 -p "$port" -js -sd "$BENCH_DIR/store" </dev/null >"$BENCH_DIR/nats.log" 2>&1 &
NATS_PID=$!
WAIT_FOR_PID=$NATS_PID wait_for 30 "nats-server to be ready" grep -q 'Server is ready' "$BENCH_DIR/nats.log" || die "nats-server did not start"
log "nats-server (pid $NATS_PID) on $URL"

ssh-keygen -q -t ed25519 -N '' -C bench-admin -f "$BENCH_DIR/admin_ed25519"
printf 'admin@bench %s\n' "$(cat "$BENCH_DIR/admin_ed25519.pub")" >"$BENCH_DIR/allowed_signers"

log "starting $NODES bastiond nodes"
for ((i = 1; i <= NODES; i++)); do
    dir=$BENCH_DIR/node$i
    mkdir -p "$dir"
    cat >"$dir/bastion.yaml" <<YAML
paths:
  stateDir: $dir/state
  runtimeDir: $dir/run
dbus:
  bus: none
fleet:
  node: node$i
  servers: [ "$URL" ]
  allowedSigners: $BENCH_DIR/allowed_signers
  statusInterval: 5s
YAML
    setsid "$BASTIOND" --config "$dir/bastion.yaml" </dev/null >"$dir/bastiond.log" 2>&1 &
    NODE_PIDS+=("$!")
done

# nats_running DIR: the node's fleet/nats component is Running.
nats_running() {
    jq -e '.components[]? | select(.kind == "fleet" or .name == "nats") | select(.state == "Running")' "$1/run/status.json" >/dev/null 2>&1
}
all_running() {
    local i
    for ((i = 1; i <= NODES; i++)); do
        nats_running "$BENCH_DIR/node$i" || return 1
    done
}
wait_for $((60 + NODES * 3)) "all $NODES nodes connected to the broker" all_running || die "not every node connected (see $BENCH_DIR)"

: >"$BENCH_DIR/nodes"
for ((i = 1; i <= NODES; i++)); do
    "$BASTIONCTL" --config "$BENCH_DIR/node$i/bastion.yaml" fleet node-key >>"$BENCH_DIR/nodes"
done
ARGS=(--servers "$URL" --nodes "$BENCH_DIR/nodes" --key "$BENCH_DIR/admin_ed25519")
all_fresh() { "$BASTIONCTL" fleet status "${ARGS[@]}" >/dev/null 2>&1; }
wait_for 120 "every node's status fresh in the bucket" all_fresh || die "not every node's status is fresh"

now() { printf '%s\n' "$EPOCHREALTIME"; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'; }

t0=$(now)
"$BASTIONCTL" fleet status "${ARGS[@]}" >"$BENCH_DIR/status.out" || die "fleet status failed: $(cat "$BENCH_DIR/status.out")"
status_ms=$(ms_since "$t0")
listed=$(grep -c ' fresh ' "$BENCH_DIR/status.out" || true)
((listed == NODES)) || die "fleet status listed $listed fresh nodes of $NODES"
log "fleet status listed all $NODES nodes in ${status_ms} ms"

: >"$BENCH_DIR/cmd.ms"
for ((s = 0; s < SENDS; s++)); do
    node="node$((1 + RANDOM % NODES))"
    t0=$(now)
    out="$("$BASTIONCTL" fleet send "${ARGS[@]}" --timeout 60s "$node" status 2>&1)" || die "fleet send $node status failed: $out"
    ms_since "$t0" >>"$BENCH_DIR/cmd.ms"
done
log "$SENDS fleet send round trips done"

# The raw NATS reference: one responder echoing on bench.echo, one requester timing RAW request/reply round trips
# (each: PUB with a reply inbox, wait for the MSG back), both over plain sockets in the NATS text protocol.
cat >"$BENCH_DIR/raw.py" <<'PY'
import socket, sys, time

def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
    while f.readline().strip() != b"PONG":
        pass
    return s, f

def read_msg(s, f):
    while True:
        line = f.readline()
        if not line:
            sys.exit(1)
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
            continue
        if line.startswith(b"MSG"):
            parts = line.split()
            size = int(parts[-1])
            data = f.read(size + 2)[:-2]
            return parts, data

mode, port = sys.argv[1], int(sys.argv[2])
s, f = connect(port)
if mode == "responder":
    s.sendall(b"SUB bench.echo 1\r\nPING\r\n")
    while f.readline().strip() != b"PONG":
        pass
    print("ready", flush=True)
    while True:
        parts, data = read_msg(s, f)
        reply = parts[3]
        s.sendall(b"PUB " + reply + b" " + str(len(data)).encode() + b"\r\n" + data + b"\r\n")
else:
    count = int(sys.argv[3])
    s.sendall(b"SUB bench.inbox 1\r\n")
    payload = b"x" * 128
    for _ in range(count):
        t0 = time.perf_counter()
        s.sendall(b"PUB bench.echo bench.inbox 128\r\n" + payload + b"\r\n")
        read_msg(s, f)
        print("%.3f" % ((time.perf_counter() - t0) * 1000))
PY
setsid python3 "$BENCH_DIR/raw.py" responder "$port" </dev/null >"$BENCH_DIR/responder.out" 2>&1 &
RESPONDER_PID=$!
WAIT_FOR_PID=$RESPONDER_PID wait_for 10 "the raw responder" grep -q ready "$BENCH_DIR/responder.out" || die "raw responder did not start"
timeout 120 python3 "$BENCH_DIR/raw.py" requester "$port" "$RAW" >"$BENCH_DIR/raw.ms" || die "raw requester failed"

# percentile FILE P: nearest-rank percentile of the numbers in FILE.
percentile() {
    sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.2f\n", v[i] }'
}
cmd50=$(percentile "$BENCH_DIR/cmd.ms" 50) cmd99=$(percentile "$BENCH_DIR/cmd.ms" 99)
raw50=$(percentile "$BENCH_DIR/raw.ms" 50) raw99=$(percentile "$BENCH_DIR/raw.ms" 99)
ratio=$(awk -v a="$cmd50" -v b="$raw50" 'BEGIN { printf "%.0f", (b > 0 ? a / b : 0) }')
rss_kb=0
for pid in "${NODE_PIDS[@]}"; do
    rss_kb=$((rss_kb + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")))
done
rss_mb=$(awk -v k="$rss_kb" -v n="$NODES" 'BEGIN { printf "%.1f", k / 1024 / n }')
status_s=$(awk -v m="$status_ms" 'BEGIN { printf "%.2f", m / 1000 }')
load=$(cut -d' ' -f1 /proc/loadavg)
log "fleet send RTT p50 ${cmd50} ms, p99 ${cmd99} ms (a bastionctl process each: start, sign, seal, store, node runs it, reply verified)"
log "raw NATS request/reply RTT p50 ${raw50} ms, p99 ${raw99} ms; bastiond RSS ${rss_mb} MB per node; loadavg $(cat /proc/loadavg)"
echo "RESULT nodes=$NODES status_list_s=$status_s cmd_rtt_ms_p50=$cmd50 cmd_rtt_ms_p99=$cmd99 raw_rtt_ms_p50=$raw50 raw_rtt_ms_p99=$raw99 ratio=$ratio rss_mb_per_node=$rss_mb load=$load"
