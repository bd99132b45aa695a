#!/usr/bin/env bash
# Scrape cost: bastiond with FORWARDS tunnels (200 tunnels: entries over one shared SSH session) serving GET /metrics,
# scraped every second for DURATION seconds, next to Debian's prometheus-node-exporter's /metrics scraped the same way.
# Measures: scrape latency (curl time_total, median and p95), body size and series, bastiond's CPU while scraped and
# while not scraped (same length), node_exporter's CPU while scraped.
#
#   scripts/bench/metrics.sh [--forwards 200] [--duration 30]
#
# Last line: RESULT bastion_scrape_ms_p50=… bastion_scrape_ms_p95=… node_scrape_ms_p50=… node_scrape_ms_p95=…
#            bastion_cpu_pct_scraped=… bastion_cpu_pct_idle=… node_cpu_pct_scraped=… series=… bytes=… forwards=… loadavg=…
# Environment: BASTION_BENCH_SSH_PORT (default 22051); BASTION_BIN_DIR or BASTIOND/BASTIONCTL.
set -euo pipefail
BASTION_SCRIPT=bench-metrics
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/sshd.sh
source "$here/../lib/sshd.sh"
# shellcheck source=../lib/notify.sh
source "$here/../lib/notify.sh"
# shellcheck source=../lib/tunnel-bench.sh
source "$here/../lib/tunnel-bench.sh"

FORWARDS=200 DURATION=30
PORT=${BASTION_BENCH_SSH_PORT:-22051}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID='' NODE_PID=''
while (($#)); do
    case "$1" in
        --forwards) FORWARDS=${2:-}; shift ;;
        --duration) DURATION=${2:-}; shift ;;
        -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
    shift
done
metrics_cleanup() {
    stop_pid "$NODE_PID" node_exporter 5
    tunnel_bench_cleanup
}
trap metrics_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_root "the metrics benchmark (its sshd runs in a private mount namespace)"
command -v prometheus-node-exporter >/dev/null || die "prometheus-node-exporter is missing: run scripts/install-deps.sh"
command -v curl >/dev/null || die "curl is missing"
resolve_binaries
tunnel_bench_setup "$PORT"
TICKS=$(getconf CLK_TCK)

# scrape_loop URL OUT: one GET every second for DURATION seconds; curl's time_total (s) per line into OUT.
scrape_loop() {
    local url=$1 out=$2 i next
    : >"$out"
    next=$EPOCHREALTIME
    for ((i = 0; i < DURATION; i++)); do
        curl -s -o /dev/null -w '%{time_total}\n' --max-time 10 "$url" >>"$out" || echo "fail" >>"$out"
        next=$(awk -v n="$next" 'BEGIN { printf "%.6f", n + 1 }')
        sleep "$(awk -v n="$next" -v now="$EPOCHREALTIME" 'BEGIN { d = n - now; printf "%.3f", (d > 0 ? d : 0) }')"
    done
}

# percentiles FILE: "p50_ms p95_ms failures" (nearest rank; mawk has no asort, so sort does the sorting)
percentiles() {
    local fails
    fails=$(grep -c '^fail$' "$1" || true)
    grep -v '^fail$' "$1" | sort -g | awk -v f="$fails" '{ v[n++] = $1 * 1000 }
        END { if (n == 0) { print "nan nan " f; exit }
              printf "%.2f %.2f %d\n", v[int((n - 1) * 0.5)], v[int((n - 1) * 0.95)], f }'
}

cpu_pct() { awk -v c="$1" -v t="$TICKS" -v s="$DURATION" 'BEGIN { printf "%.2f", c / t / s * 100 }'; }

body="metrics:
  listen: 127.0.0.1:0
tunnels:"
for ((i = 0; i < FORWARDS; i++)); do
    body+=$'\n'"$(tunnel_yaml "fwd-$i" 127.0.0.1:0 "127.0.0.1:$PORT" "$PORT")"
done
bastiond_start "$body"
wait_for 180 "all $FORWARDS tunnels to run" tunnels_running "$FORWARDS" || die "only $(running_tunnels) of $FORWARDS running"
address=$(sed -n 's/.*metrics: serving GET \/metrics on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$BENCH_DIR/bastiond/bastiond.log" | head -1)
[[ -n $address ]] || die "bastiond did not log its metrics address"
url="http://$address/metrics"
curl -s --max-time 10 "$url" >"$BENCH_DIR/bastion.metrics"
series=$(grep -vc '^#' "$BENCH_DIR/bastion.metrics" || true)
bytes=$(wc -c <"$BENCH_DIR/bastion.metrics")
log "bastiond: $FORWARDS tunnels running; $url serves $series series, $bytes bytes"

sleep 3 # let start-up work settle
c0=$(cpu_ticks "$BASTIOND_PID")
sleep "$DURATION"
c1=$(cpu_ticks "$BASTIOND_PID")
b_idle=$(cpu_pct $((c1 - c0)))
log "bastiond not scraped: ${b_idle}% CPU over ${DURATION}s; now scraping every second"
c0=$(cpu_ticks "$BASTIOND_PID")
scrape_loop "$url" "$BENCH_DIR/bastion.times"
c1=$(cpu_ticks "$BASTIOND_PID")
b_scraped=$(cpu_pct $((c1 - c0)))
read -r b50 b95 bfail < <(percentiles "$BENCH_DIR/bastion.times")

node_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" </dev/null >"$BENCH_DIR/node.log" 2>&1 &
NODE_PID=$!
wait_for 30 "node_exporter to answer" curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$node_port/metrics"
node_series=$(curl -s --max-time 10 "http://127.0.0.1:$node_port/metrics" | grep -vc '^#' || true)
log "node_exporter on 127.0.0.1:$node_port ($node_series series); scraping every second"
c0=$(cpu_ticks "$NODE_PID")
scrape_loop "http://127.0.0.1:$node_port/metrics" "$BENCH_DIR/node.times"
c1=$(cpu_ticks "$NODE_PID")
n_scraped=$(cpu_pct $((c1 - c0)))
read -r n50 n95 nfail < <(percentiles "$BENCH_DIR/node.times")

load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
echo "bastiond ($FORWARDS tunnels, $series series, $bytes bytes): scrape p50 ${b50} ms, p95 ${b95} ms, ${bfail} failed; CPU ${b_scraped}% scraped, ${b_idle}% not scraped"
echo "node_exporter ($node_series series): scrape p50 ${n50} ms, p95 ${n95} ms, ${nfail} failed; CPU ${n_scraped}% scraped"
echo "load average during the run: $load (the machine is shared)"
echo "RESULT bastion_scrape_ms_p50=$b50 bastion_scrape_ms_p95=$b95 node_scrape_ms_p50=$n50 node_scrape_ms_p95=$n95 bastion_cpu_pct_scraped=$b_scraped bastion_cpu_pct_idle=$b_idle node_cpu_pct_scraped=$n_scraped series=$series bytes=$bytes node_series=$node_series forwards=$FORWARDS loadavg=$load"
