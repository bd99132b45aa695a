#!/usr/bin/env bash
# TLS relay throughput: 1 GiB through a mutual-TLS tunnel, Bastion vs stunnel, same certificates, same backend,
# same source, in one run.
#   bastion: source → bastionctl connect (local plain port) → mTLS → bastiond tls: endpoint → backend
#   stunnel: source → stunnel client (local plain port)     → mTLS → stunnel server          → backend
# The certificates come from `bastionctl pki` (ECDSA P-256, server + client, one session CA); stunnel verifies both
# ends like Bastion does (verifyChain, requireCert). Source: socat reading /dev/zero (1 GiB); backend: socat into
# wc -c, which must count exactly 1 GiB. Time: from the source's start until the backend has seen EOF.
# Runs alternate (bastion, stunnel, bastion, …); the median of each side is reported.
#
#   scripts/bench/tls-relay.sh [--runs N] [--mib N]
#
# Last line: RESULT bastion_mbps=… stunnel_mbps=… ratio=… bastion_cpu_s_per_gib=… stunnel_cpu_s_per_gib=… ceiling_mbps=… load=…
# (MB/s = 10^6 bytes/s; ratio = bastion / stunnel; CPU = user+system time of both relay processes of a side per GiB;
# ceiling = the same source and sink over plain loopback TCP, no relay: the harness's own limit; load = the 1-minute
# load average at the end — figures taken under load are not comparable with idle ones, and say so).
# Binaries: BASTION_BIN_DIR or BASTIOND/BASTIONCTL, else artifacts/bin (built by scripts/build.sh when stale).
set -euo pipefail
BASTION_SCRIPT=bench-tls-relay
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

RUNS=3 MIB=1024
usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; }
while (($#)); do
    case "$1" in
        --runs) RUNS=${2:-}; shift ;;
        --mib) MIB=${2:-}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"
[[ $MIB =~ ^[1-9][0-9]*$ ]] || die "--mib needs a positive number"
for tool in stunnel socat ss; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done
resolve_binaries

DIR='' PIDS=()
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid" "bench process" 5; done
    [[ -n $DIR ]] && rm -rf "$DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DIR=$(mktemp -d /tmp/bastion-bench-tls.XXXXXX)
BYTES=$((MIB * 1024 * 1024))
USED_PORTS=" "
# free_port VAR: sets VAR to a random loopback port nothing listens on and no earlier call picked (stunnel cannot bind
# port 0 and tell us which port it got). Not in $(…): USED_PORTS must persist.
free_port() {
    local port
    while true; do
        port=$((20000 + RANDOM % 40000))
        if [[ $USED_PORTS != *" $port "* ]] && tcp_port_free "$port"; then
            USED_PORTS+="$port "
            printf -v "$1" '%s' "$port"
            return
        fi
    done
}
start() { setsid "$@" & PIDS+=("$!"); }

"$BASTIONCTL" pki --dir "$DIR/pki" init >/dev/null
"$BASTIONCTL" pki --dir "$DIR/pki" issue server srv --ip 127.0.0.1 >/dev/null
"$BASTIONCTL" pki --dir "$DIR/pki" issue client admin >/dev/null
CA=$DIR/pki/ca.crt SRV=$DIR/pki/issued/srv ADM=$DIR/pki/issued/admin

free_port BACKEND_PORT
free_port BASTION_PORT
cat >"$DIR/bastion.yaml" <<YAML
paths:
  stateDir: $DIR/state
  runtimeDir: $DIR/run
logging:
  level: warning
pki:
  dir: $DIR/pki
tls:
  - name: bench
    mode: listen
    address: 127.0.0.1:$BASTION_PORT
    backend: 127.0.0.1:$BACKEND_PORT
    certificate: $SRV.crt
    key: $SRV.key
YAML
start "$BASTIOND" --config "$DIR/bastion.yaml" 2>"$DIR/bastiond.log"
BASTIOND_PID=${PIDS[-1]}
WAIT_FOR_PID=${PIDS[-1]} wait_for 20 "bastiond listening on $BASTION_PORT" bash -c "ss -Hltn 'sport = :$BASTION_PORT' | grep -q ."
start "$BASTIONCTL" connect "127.0.0.1:$BASTION_PORT" --local "127.0.0.1:0" --cert "$ADM.crt" --key "$ADM.key" --ca "$CA" >"$DIR/connect.out" 2>"$DIR/connect.log"
CONNECT_PID=${PIDS[-1]}
wait_for 20 "bastionctl connect" grep -q 'listening on' "$DIR/connect.out"
BASTION_LOCAL=$(grep -o '127.0.0.1:[0-9]*' "$DIR/connect.out" | head -1 | cut -d: -f2)

free_port STUNNEL_SERVER_PORT
free_port STUNNEL_LOCAL
cat >"$DIR/stunnel-server.conf" <<CONF
foreground = yes
pid =
debug = 3
[bench]
accept = 127.0.0.1:$STUNNEL_SERVER_PORT
connect = 127.0.0.1:$BACKEND_PORT
cert = $SRV.crt
key = $SRV.key
CAfile = $CA
verifyChain = yes
requireCert = yes
sslVersionMin = TLSv1.2
CONF
cat >"$DIR/stunnel-client.conf" <<CONF
foreground = yes
pid =
debug = 3
[bench]
client = yes
accept = 127.0.0.1:$STUNNEL_LOCAL
connect = 127.0.0.1:$STUNNEL_SERVER_PORT
cert = $ADM.crt
key = $ADM.key
CAfile = $CA
verifyChain = yes
sslVersionMin = TLSv1.2
CONF
start stunnel "$DIR/stunnel-server.conf" 2>"$DIR/stunnel-server.log"
STUNNEL_SERVER_PID=${PIDS[-1]}
start stunnel "$DIR/stunnel-client.conf" 2>"$DIR/stunnel-client.log"
STUNNEL_CLIENT_PID=${PIDS[-1]}
wait_for 20 "stunnel listening" bash -c "ss -Hltn 'sport = :$STUNNEL_LOCAL' | grep -q . && ss -Hltn 'sport = :$STUNNEL_SERVER_PORT' | grep -q ."

# cpu_ticks PID...: user + system clock ticks these processes have used so far (all their threads).
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$total"
}
TICKS=$(getconf CLK_TCK)

# one_run LOCAL_PORT → prints MB/s. The backend (one connection, then exit) counts the bytes.
one_run() {
    local port=$1 count=$DIR/count t0 t1
    rm -f "$count"
    socat -u -b 262144 "TCP-LISTEN:$BACKEND_PORT,bind=127.0.0.1,reuseaddr" STDOUT | wc -c >"$count" &
    local sink=$!
    wait_for 10 "backend listening" bash -c "ss -Hltn 'sport = :$BACKEND_PORT' | grep -q ."
    t0=$EPOCHREALTIME
    head -c "$BYTES" /dev/zero | socat -u -b 262144 STDIN "TCP:127.0.0.1:$port"
    wait "$sink"
    t1=$EPOCHREALTIME
    local got
    got=$(tr -d ' ' <"$count")
    [[ $got == "$BYTES" ]] || die "the backend received $got bytes, not $BYTES (logs in $DIR)"
    awk -v a="$t0" -v b="$t1" -v n="$BYTES" 'BEGIN { printf "%.0f", n / (b - a) / 1e6 }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The machine may be shared: besides MB/s, the CPU time both relay processes of a side used per GiB (less load-sensitive).
per_gib() { awk -v t="$1" -v k="$TICKS" -v m="$MIB" 'BEGIN { printf "%.2f", t / k * 1024 / m }'; }
bastion=() stunnel=() bastion_cpu=() stunnel_cpu=() ceiling=()
for ((i = 1; i <= RUNS; i++)); do
    r=$(one_run "$BACKEND_PORT" 2>/dev/null || true) # source straight into the sink: no relay
    [[ -n $r ]] && ceiling+=("$r")
    c0=$(cpu_ticks "$BASTIOND_PID" "$CONNECT_PID")
    b=$(one_run "$BASTION_LOCAL")
    bc=$(per_gib "$(($(cpu_ticks "$BASTIOND_PID" "$CONNECT_PID") - c0))")
    c0=$(cpu_ticks "$STUNNEL_SERVER_PID" "$STUNNEL_CLIENT_PID")
    s=$(one_run "$STUNNEL_LOCAL")
    sc=$(per_gib "$(($(cpu_ticks "$STUNNEL_SERVER_PID" "$STUNNEL_CLIENT_PID") - c0))")
    log "run $i/$RUNS: bastion $b MB/s ($bc CPU s/GiB), stunnel $s MB/s ($sc CPU s/GiB), ceiling ${r:-?} MB/s; $MIB MiB each; load $(cut -d' ' -f1 /proc/loadavg)"
    bastion+=("$b") stunnel+=("$s") bastion_cpu+=("$bc") stunnel_cpu+=("$sc")
done
B=$(median "${bastion[@]}") S=$(median "${stunnel[@]}")
BC=$(printf '%s\n' "${bastion_cpu[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
SC=$(printf '%s\n' "${stunnel_cpu[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
printf 'bastion (bastionctl connect + bastiond): %s MB/s  runs: %s  CPU s/GiB (median): %s\n' "$B" "${bastion[*]}" "$BC"
printf 'stunnel (client + server):               %s MB/s  runs: %s  CPU s/GiB (median): %s\n' "$S" "${stunnel[*]}" "$SC"
C=$( ((${#ceiling[@]})) && median "${ceiling[@]}" || echo "?")
printf 'ceiling (plain loopback TCP, no relay):  %s MB/s  runs: %s\n' "$C" "${ceiling[*]}"
printf 'RESULT bastion_mbps=%s stunnel_mbps=%s ratio=%s bastion_cpu_s_per_gib=%s stunnel_cpu_s_per_gib=%s ceiling_mbps=%s load=%s\n' "$B" "$S" \
    "$(awk -v b="$B" -v s="$S" 'BEGIN { printf "%.2f", b / s }')" "$BC" "$SC" "$C" "$(cut -d' ' -f1 /proc/loadavg)"
