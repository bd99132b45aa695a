#!/usr/bin/env bash
# D-Bus status benchmark: round trip and calls/s of bastiond's GetStatus on a private dbus-daemon, next to the bus
# daemon's own native method as the reference, both called the same way.
#   bastiond GetStatus:         busctl call org.bastion.Bastion1 … GetStatus (the daemon, one check configured)
#   reference (native C):       busctl call org.freedesktop.DBus … GetId (answered by dbus-daemon itself)
#   bastionctl status --json:   the whole command over D-Bus (process start, connect, call, JSON), for the admin's view
# Latency: N sequential calls, each a fresh busctl process (so it includes process start and connecting, on both
# sides alike); the difference between the two sides is what bastiond adds. Calls/s: N calls by 4 parallel workers.
# The bus is a private dbus-daemon with the shipped policy (systemd/org.bastion.Bastion1.conf), as in the tests.
#
#   scripts/bench/dbus-status.sh [--calls N]
#
# Last line: RESULT bastion_status_ms=… dbus_getid_ms=… ratio=… bastion_calls_per_s=… dbus_calls_per_s=…
#            bastionctl_status_ms=… calls=N   (ratio = bastion_status_ms / dbus_getid_ms)
# Environment: BASTION_BIN_DIR, or BASTIOND and BASTIONCTL, as for scripts/lab.sh.
set -euo pipefail
BASTION_SCRIPT=bench-dbus-status
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

CALLS=200 WORKERS=4
BENCH_DIR='' BUS_PID='' BASTIOND_PID=''

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; }

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
cat >"$BENCH_DIR/bus.conf" <<XML
<busconfig>
  <type>system</type>
  <listen>$address</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <include>$BASTION_REPO/systemd/org.bastion.Bastion1.conf</include>
</busconfig>
XML
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

bastion_call() { busctl --address="$address" call org.bastion.Bastion1 /org/bastion/Bastion1 org.bastion.Bastion1 GetStatus >/dev/null; }
reference_call() { busctl --address="$address" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId >/dev/null; }
bastionctl_call() { DBUS_SYSTEM_BUS_ADDRESS=$address "$BASTIONCTL" status --json --runtime-dir "$BENCH_DIR/run" >/dev/null; }

WAIT_FOR_PID=$BASTIOND_PID wait_for 15 "bastiond on the bus" bastion_call || die "bastiond did not come up: $(cat "$BENCH_DIR/bastiond.log")"
DBUS_SYSTEM_BUS_ADDRESS=$address "$BASTIONCTL" status --json --runtime-dir "$BENCH_DIR/run" | grep -q '"source": "dbus"' ||
    die "bastionctl does not get the status over D-Bus"

# sequential FUNCTION N → average ms per call
sequential() {
    local fn=$1 n=$2 i start end
    "$fn" # warm-up
    start=$EPOCHREALTIME
    for ((i = 0; i < n; i++)); do "$fn"; done
    end=$EPOCHREALTIME
    awk -v a="$start" -v b="$end" -v n="$n" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }'
}

# parallel FUNCTION N → calls per second with $WORKERS workers
parallel() {
    local fn=$1 n=$2 w start end pids=()
    start=$EPOCHREALTIME
    for ((w = 0; w < WORKERS; w++)); do
        (for ((i = w; i < n; i += WORKERS)); do "$fn"; done) &
        pids+=($!)
    done
    wait "${pids[@]}"
    end=$EPOCHREALTIME
    awk -v a="$start" -v b="$end" -v n="$n" 'BEGIN { printf "%.0f", n / (b - a) }'
}

log "measuring $CALLS sequential calls each, then $CALLS calls by $WORKERS workers each"
bastion_ms="$(sequential bastion_call "$CALLS")"
reference_ms="$(sequential reference_call "$CALLS")"
bastionctl_ms="$(sequential bastionctl_call "$((CALLS / 4 > 0 ? CALLS / 4 : 1))")"
bastion_rate="$(parallel bastion_call "$CALLS")"
reference_rate="$(parallel reference_call "$CALLS")"
kill -0 "$BASTIOND_PID" || die "bastiond died during the benchmark: $(cat "$BENCH_DIR/bastiond.log")"
ratio="$(awk -v a="$bastion_ms" -v b="$reference_ms" 'BEGIN { printf "%.2f", a / b }')"

printf '%-42s %10s %12s\n' "" "ms/call" "calls/s ($WORKERS)"
printf '%-42s %10s %12s\n' "bastiond GetStatus (busctl)" "$bastion_ms" "$bastion_rate"
printf '%-42s %10s %12s\n' "dbus-daemon GetId (busctl, reference)" "$reference_ms" "$reference_rate"
printf '%-42s %10s %12s\n' "bastionctl status --json (over D-Bus)" "$bastionctl_ms" "-"
echo "RESULT bastion_status_ms=$bastion_ms dbus_getid_ms=$reference_ms ratio=$ratio bastion_calls_per_s=$bastion_rate dbus_calls_per_s=$reference_rate bastionctl_status_ms=$bastionctl_ms calls=$CALLS"
