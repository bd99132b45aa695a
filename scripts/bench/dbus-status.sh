#!/usr/bin/env bash
# D-Bus status benchmark: round trip and calls/s of bastiond's GetStatus on a private dbus-daemon, side by side with the
# bus daemon's own native method (org.freedesktop.DBus.GetId, answered by dbus-daemon in C) called the same way.
#   in-process (python3-dbus, one connection): N sequential calls → ms per round trip; then N calls spread over 4
#     processes with a connection each → calls/s. What a client that stays connected sees.
#   per command (a fresh process each time): `bastionctl status --json` over D-Bus, next to `busctl call … GetStatus`
#     — what an admin typing the command sees (process start and connecting included).
# The bus is a private dbus-daemon with the shipped policy (systemd/org.bastion.Bastion1.conf), as in the tests; the
# daemon runs one check.
#
#   scripts/bench/dbus-status.sh [--calls N]
#
# Last line: RESULT bastion_status_ms=… dbus_getid_ms=… ratio=… bastion_calls_per_s=… dbus_calls_per_s=…
#            bastionctl_status_ms=… busctl_status_ms=… calls=N   (ratio = bastion_status_ms / dbus_getid_ms)
# Environment: BASTION_BIN_DIR, or BASTIOND and BASTIONCTL, as for scripts/lab.sh.
set -euo pipefail
BASTION_SCRIPT=bench-dbus-status
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

CALLS=2000 WORKERS=4
BENCH_DIR='' BUS_PID='' BASTIOND_PID=''

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; }
PYTHON=/usr/bin/python3 # Debian's, where python3-dbus is installed

while (($#)); do
    case "$1" in
        --calls) CALLS=${2:-}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
[[ $CALLS =~ ^[1-9][0-9]*$ ]] || die "--calls needs a positive number"
for tool in dbus-daemon busctl; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done
"$PYTHON" -c 'import dbus' 2>/dev/null || die "python3-dbus is missing (scripts/install-deps.sh installs it)"

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_pid "$BASTIOND_PID" bastiond 15
    stop_pid "$BUS_PID" dbus-daemon 5
    [[ -n $BENCH_DIR ]] && rm -rf "$BENCH_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

resolve_binaries
BENCH_DIR="$(mktemp -d /tmp/bastion-bench-dbus.XXXXXX)"
address="unix:path=$BENCH_DIR/bus"
sed -e "s|@LISTEN@|$address|" -e "s|@POLICY@|$BASTION_REPO/systemd/org.bastion.Bastion1.conf|" \
    "$BASTION_REPO/scripts/lib/private-system-bus.conf.in" >"$BENCH_DIR/bus.conf"
setsid dbus-daemon --config-file="$BENCH_DIR/bus.conf" --nofork 2>"$BENCH_DIR/bus.log" &
BUS_PID=$!
WAIT_FOR_PID=$BUS_PID wait_for 10 "dbus-daemon" test -S "$BENCH_DIR/bus" || die "dbus-daemon did not start: $(cat "$BENCH_DIR/bus.log")"

mkdir -p "$BENCH_DIR/run" "$BENCH_DIR/state"
cat >"$BENCH_DIR/bastion.yaml" <<YAML
paths:
  stateDir: $BENCH_DIR/state
  runtimeDir: $BENCH_DIR/run
dbus:
  bus: address
  address: $address
checks:
  - name: sshd
    endpoint: 127.0.0.1:1
    interval: 5s
YAML
setsid "$BASTIOND" --config "$BENCH_DIR/bastion.yaml" >"$BENCH_DIR/bastiond.log" 2>&1 &
BASTIOND_PID=$!

bastion_up() { busctl --address="$address" call org.bastion.Bastion1 /org/bastion/Bastion1 org.bastion.Bastion1 GetStatus >/dev/null; }
bastionctl_call() { DBUS_SYSTEM_BUS_ADDRESS=$address "$BASTIONCTL" status --json --runtime-dir "$BENCH_DIR/run" >/dev/null; }

WAIT_FOR_PID=$BASTIOND_PID wait_for 15 "bastiond on the bus" bastion_up || die "bastiond did not come up: $(cat "$BENCH_DIR/bastiond.log")"
DBUS_SYSTEM_BUS_ADDRESS=$address "$BASTIONCTL" status --json --runtime-dir "$BENCH_DIR/run" | grep -q '"source": "dbus"' ||
    die "bastionctl does not get the status over D-Bus"

# sequential FUNCTION N → average ms per call (a process per call)
sequential() {
    local fn=$1 n=$2 i start end
    "$fn" # warm-up
    start=$EPOCHREALTIME
    for ((i = 0; i < n; i++)); do "$fn"; done
    end=$EPOCHREALTIME
    awk -v a="$start" -v b="$end" -v n="$n" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }'
}

# in_process bastion|dbus latency|rate N → ms per call (one connection) or calls/s (WORKERS processes)
in_process() {
    "$PYTHON" - "$address" "$1" "$2" "$3" "$WORKERS" <<'PY'
import multiprocessing, sys, time
import dbus

address, target, mode, n, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def method(bus):
    if target == "bastion":
        obj = bus.get_object("org.bastion.Bastion1", "/org/bastion/Bastion1", introspect=False)
        return obj.get_dbus_method("GetStatus", "org.bastion.Bastion1")
    obj = bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus", introspect=False)
    return obj.get_dbus_method("GetId", "org.freedesktop.DBus")

def run(count):
    call = method(dbus.bus.BusConnection(address))
    call()  # warm-up
    start = time.perf_counter()
    for _ in range(count):
        call()
    return time.perf_counter() - start

if mode == "latency":
    print("%.3f" % (run(n) * 1000 / n))
else:
    per = max(1, n // workers)
    start = time.perf_counter()
    with multiprocessing.Pool(workers) as pool:
        pool.map(run, [per] * workers)
    print("%.0f" % (per * workers / (time.perf_counter() - start)))
PY
}

busctl_status() { busctl --address="$address" call org.bastion.Bastion1 /org/bastion/Bastion1 org.bastion.Bastion1 GetStatus >/dev/null; }

log "in-process: $CALLS calls each, sequential, then by $WORKERS processes; per command: $((CALLS / 10 > 0 ? CALLS / 10 : 1)) runs each"
bastion_ms="$(in_process bastion latency "$CALLS")"
reference_ms="$(in_process dbus latency "$CALLS")"
bastion_rate="$(in_process bastion rate "$CALLS")"
reference_rate="$(in_process dbus rate "$CALLS")"
runs=$((CALLS / 10 > 0 ? CALLS / 10 : 1))
bastionctl_ms="$(sequential bastionctl_call "$runs")"
busctl_ms="$(sequential busctl_status "$runs")"
kill -0 "$BASTIOND_PID" || die "bastiond died during the benchmark: $(cat "$BENCH_DIR/bastiond.log")"
ratio="$(awk -v a="$bastion_ms" -v b="$reference_ms" 'BEGIN { printf "%.2f", a / b }')"

printf '%-50s %10s %14s\n' "" "ms/call" "calls/s ($WORKERS)"
printf '%-50s %10s %14s\n' "bastiond GetStatus (in-process client)" "$bastion_ms" "$bastion_rate"
printf '%-50s %10s %14s\n' "dbus-daemon GetId (in-process client, reference)" "$reference_ms" "$reference_rate"
printf '%-50s %10s %14s\n' "bastionctl status --json (whole command, D-Bus)" "$bastionctl_ms" "-"
printf '%-50s %10s %14s\n' "busctl call GetStatus (whole command)" "$busctl_ms" "-"
echo "RESULT bastion_status_ms=$bastion_ms dbus_getid_ms=$reference_ms ratio=$ratio bastion_calls_per_s=$bastion_rate dbus_calls_per_s=$reference_rate bastionctl_status_ms=$bastionctl_ms busctl_status_ms=$busctl_ms calls=$CALLS"
