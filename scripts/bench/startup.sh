#!/usr/bin/env bash
# Startup benchmark: how long from exec until the daemon says it is ready, median of N runs.
#   bastiond as shipped (scripts/build.sh: NativeAOT): exec → READY=1 on NOTIFY_SOCKET, with a minimal config
#                              (one check pointed at a running throwaway sshd; no tor, no VNC)
#   bastiond JIT (framework-dependent publish of the same source, built into a temp dir): the same, for comparison
#   OpenSSH sshd -D (native reference): exec → "Server listening on" (the lab's private-sshd recipe)
# Each side gets one warm-up run that is not counted. Times are taken with bash's $EPOCHREALTIME (µs):
# the start just before exec, the end by a reader blocked on the daemon's output when the line arrives.
#
#   scripts/bench/startup.sh [--runs N] [--only sshd|bastiond]
#
# Last line: RESULT bastion_ready_ms=… bastion_jit_ready_ms=… sshd_ready_ms=… ratio=… runs=…  (NA for a side
# not measured; ratio = bastion_ready_ms / sshd_ready_ms).
# Environment: BASTION_BENCH_SSH_PORT (default 22023); BASTION_BIN_DIR, or BASTIOND and BASTIONCTL, as
# for scripts/lab.sh. Needs root (the private sshd).
set -euo pipefail
BASTION_SCRIPT=bench-startup
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/sshd.sh
source "$here/../lib/sshd.sh"
# shellcheck source=../lib/notify.sh
source "$here/../lib/notify.sh"

RUNS=15 ONLY='' RUN_MS=''
PORT=${BASTION_BENCH_SSH_PORT:-22023}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID='' READER_PID=''

usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; }

while (($#)); do
    case "$1" in
        --runs) RUNS=${2:-}; shift ;;
        --only) ONLY=${2:-}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"
[[ -z $ONLY || $ONLY == sshd || $ONLY == bastiond ]] || die "--only takes sshd or bastiond"

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_pid "$BASTIOND_PID" bastiond 15
    stop_pid "$SSHD_PID" sshd 5
    stop_pid "$NOTIFY_RECEIVER_PID" "notify receiver" 2
    [[ -n $READER_PID ]] && kill "$READER_PID" 2>/dev/null
    [[ -n $BENCH_DIR ]] && rm -rf "$BENCH_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# µs → ms with one decimal, from two $EPOCHREALTIME values.
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# stamp_when PATTERN FIFO STAMP LOG: background reader that copies FIFO to LOG and writes $EPOCHREALTIME
# to STAMP the first time a line, with a tab added at both ends, matches PATTERN (a bash glob; the tabs
# let a pattern match one whole notify field: *<tab>READY=1<tab>*).
stamp_when() {
    local pattern=$1 fifo=$2 stamp=$3 out=$4
    (
        while IFS= read -r line; do
            # shellcheck disable=SC2053 # the pattern is a glob on purpose
            if [[ ! -f $stamp && $'\t'$line$'\t' == $pattern ]]; then printf '%s\n' "$EPOCHREALTIME" >"$stamp"; fi
            printf '%s\n' "$line" >>"$out"
        done <"$fifo"
    ) &
    READER_PID=$!
}

# One sshd run: exec (inside the private namespace) → "Server listening on". Sets RUN_MS.
# (Not run in $(…): the pids must stay in this shell for wait and for the cleanup trap.)
sshd_run() {
    local dir=$1 run=$2
    local fifo=$dir/out.$run t0=$dir/t0.$run ready=$dir/ready.$run
    mkfifo "$fifo"
    stamp_when '*Server listening on*' "$fifo" "$ready" "$dir/sshd.log.$run"
    sshd_start "$dir" "$fifo" "$t0"
    WAIT_FOR_PID=$SSHD_PID wait_for 30 "sshd run $run to listen" test -s "$ready" || {
        cat "$dir/sshd.log.$run" >&2
        return 1
    }
    stop_pid "$SSHD_PID" sshd 5
    SSHD_PID=''
    wait "$READER_PID" 2>/dev/null || true
    READER_PID=''
    RUN_MS="$(elapsed_ms "$(<"$t0")" "$(<"$ready")")"
}

# One bastiond run: exec → READY=1, then SIGTERM. Sets RUN_MS.
bastiond_run() {
    local run=$1
    local dir=$BENCH_DIR/bastiond.$run
    mkdir -p "$dir"
    # Its own config, not config/lab.yaml: the lab's onion: section would start a tor that only lab.sh points at
    # the private Tor network (a tor must never start with a default configuration here), and its vnc:/tls: parts
    # need the lab's certificates. What is measured is the daemon's own start: config, supervision, one check.
    cat >"$dir/bastion.yaml" <<YAML
paths: {stateDir: state, runtimeDir: run}
logging: {level: information, format: text}
dbus: {bus: none}
checks:
  - {name: sshd, endpoint: "127.0.0.1:$PORT", expect: "SSH-2.0-", interval: 2s, timeout: 1s, failures: 3}
YAML
    mkfifo "$dir/notify.fifo"
    stamp_when $'*\tREADY=1\t*' "$dir/notify.fifo" "$dir/ready" "$dir/notify.log"
    notify_listen "$dir/notify.sock" "$dir/notify.fifo"
    (
        printf '%s\n' "$EPOCHREALTIME" >"$dir/t0"
        export NOTIFY_SOCKET="$dir/notify.sock" BASTION_TOR_PRIVATE_NETWORK=1
        exec setsid "$BASTIOND" --config "$dir/bastion.yaml"
    ) </dev/null >"$dir/bastiond.log" 2>&1 &
    BASTIOND_PID=$!
    WAIT_FOR_PID=$BASTIOND_PID wait_for 60 "READY=1 from bastiond (run $run)" test -s "$dir/ready" || {
        log "bastiond log:"
        cat "$dir/bastiond.log" >&2
        return 1
    }
    stop_pid "$BASTIOND_PID" bastiond 15
    BASTIOND_PID=''
    stop_pid "$NOTIFY_RECEIVER_PID" "notify receiver" 2
    NOTIFY_RECEIVER_PID=''
    wait "$READER_PID" 2>/dev/null || true
    READER_PID=''
    RUN_MS="$(elapsed_ms "$(<"$dir/t0")" "$(<"$dir/ready")")"
}

require_root "the startup benchmark (its sshd runs in a private mount namespace)"
"$BASTION_REPO/scripts/install-deps.sh" --system-only
[[ $ONLY == sshd ]] || resolve_binaries
tcp_port_free "$PORT" || die "port $PORT on loopback is taken; set BASTION_BENCH_SSH_PORT to a free port"
BENCH_DIR="$(mktemp -d /tmp/bastion-bench.XXXXXX)"
sshd_prepare "$BENCH_DIR/sshd" "$PORT"

log "$(nproc) CPUs, $(uname -r), $RUNS runs each (+1 warm-up), $(/usr/sbin/sshd -V 2>&1 | head -1)"

sshd_ms=NA
if [[ $ONLY != bastiond ]]; then
    sshd_run "$BENCH_DIR/sshd" warmup
    times=()
    for ((i = 1; i <= RUNS; i++)); do
        sshd_run "$BENCH_DIR/sshd" "$i"
        times+=("$RUN_MS")
    done
    sshd_ms="$(median "${times[@]}")"
    log "sshd -D exec → listening (ms): ${times[*]}"
    echo "sshd:     median ${sshd_ms} ms  (min $(printf '%s\n' "${times[@]}" | sort -g | head -1), max $(printf '%s\n' "${times[@]}" | sort -g | tail -1))"
fi

# measure_bastiond LABEL: a warm-up and $RUNS runs of $BASTIOND; prints them and sets RUN_MEDIAN.
measure_bastiond() {
    local label=$1 times=() i
    bastiond_run "$label-warmup"
    for ((i = 1; i <= RUNS; i++)); do
        bastiond_run "$label-$i"
        times+=("$RUN_MS")
    done
    RUN_MEDIAN="$(median "${times[@]}")"
    log "bastiond ($label) exec → READY=1 (ms): ${times[*]}"
    echo "bastiond $label: median ${RUN_MEDIAN} ms  (min $(printf '%s\n' "${times[@]}" | sort -g | head -1), max $(printf '%s\n' "${times[@]}" | sort -g | tail -1))"
}

bastion_ms=NA jit_ms=NA RUN_MEDIAN=''
if [[ $ONLY != sshd ]]; then
    # The bench config's check needs its sshd: one instance serves every bastiond run.
    sshd_start "$BENCH_DIR/sshd" "$BENCH_DIR/sshd.log"
    sshd_wait_ready "$BENCH_DIR/sshd.log" 15
    measure_bastiond shipped
    bastion_ms=$RUN_MEDIAN

    log "publishing a JIT (framework-dependent) bastiond for comparison"
    (cd "$BASTION_REPO" && dotnet publish src/Bastion.Daemon -c Release -o "$BENCH_DIR/jit" --nologo --verbosity quiet) >&2
    shipped=$BASTIOND
    BASTIOND=$BENCH_DIR/jit/bastiond
    measure_bastiond jit
    BASTIOND=$shipped
    jit_ms=$RUN_MEDIAN
fi

ratio=NA
if [[ $sshd_ms != NA && $bastion_ms != NA ]]; then
    ratio="$(awk -v a="$bastion_ms" -v b="$sshd_ms" 'BEGIN { printf "%.2f", a / b }')"
fi
echo "RESULT bastion_ready_ms=$bastion_ms bastion_jit_ready_ms=$jit_ms sshd_ready_ms=$sshd_ms ratio=$ratio runs=$RUNS"
