#!/usr/bin/env bash
# Time from sshd's death to the emergency desktop reachable over mutual TLS: a throwaway sshd watched by a bastiond
# check (interval 1s), vnc.mode fallback (vnc.fallback.failures FAILURES, grace 2s), the desktop behind a tls: endpoint
# on loopback with a session CA made by `bastionctl pki`. Each run: a random 0-1s pause (so sshd dies at a random point
# of the check's cycle, as a real crash does), SIGKILL sshd, then poll
# `bastionctl vnc probe --connect … --cert … --key … --ca … --password-file …` (mutual TLS, VNC authentication,
# ServerInit) until it says up; the time is from the kill to that answer. Then sshd is started again and the run waits
# until the desktop is lowered (grace) before the next one. Median of RUNS.
# There is no native tool to compare with (nothing else raises a desktop when sshd dies), so no ratio.
#
#   scripts/bench/vnc-fallback.sh [--runs 5] [--failures 3]
#
# Last line: RESULT seconds=<median> runs=<n>
set -euo pipefail
BASTION_SCRIPT=bench-vnc-fallback
here="$(dirname "$0")"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/sshd.sh
source "$here/../lib/sshd.sh"
# shellcheck source=../lib/notify.sh
source "$here/../lib/notify.sh"
# shellcheck source=../lib/tunnel-bench.sh
source "$here/../lib/tunnel-bench.sh"

RUNS=5 FAILURES=3
PORT=${BASTION_BENCH_SSH_PORT:-22061}
BENCH_DIR='' SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID=''
while (($#)); do
    case "$1" in
        --runs) RUNS=${2:-}; shift ;;
        --failures) FAILURES=${2:-}; shift ;;
        -h | --help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) log "unknown argument '$1' (try --help)"; exit 2 ;;
    esac
    shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number"
[[ $FAILURES =~ ^[1-9][0-9]*$ ]] || die "--failures must be a positive number"
tunnel_bench_traps
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

require_root "the VNC fallback benchmark (its sshd runs in a private mount namespace; Xvnc runs as root)"
for tool in Xvnc xterm jq; do
    command -v "$tool" >/dev/null || die "$tool is missing: scripts/install-deps.sh installs it"
done
resolve_binaries
tcp_port_free "$PORT" || die "port $PORT on loopback is taken; set BASTION_BENCH_SSH_PORT to a free port"

# free_display: an X display in 100..899 without a lock file or socket (another desktop may run here).
free_display() {
    local n i
    for ((i = 0; i < 500; i++)); do
        n=$((100 + RANDOM % 800))
        [[ -e /tmp/.X$n-lock || -e /tmp/.X11-unix/X$n ]] || { echo "$n"; return 0; }
    done
    die "no free X display in 100..899"
}
# free_port: a loopback port nothing listens on (the endpoint listens only while raised, so it cannot use port 0).
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((30000 + RANDOM % 20000))
        tcp_port_free "$p" && { echo "$p"; return 0; }
    done
    die "no free loopback port"
}

BENCH_DIR="$(mktemp -d /tmp/bastion-vnc-bench.XXXXXX)"
sshd_prepare "$BENCH_DIR/sshd" "$PORT"
sshd_start "$BENCH_DIR/sshd" "$BENCH_DIR/sshd.log"
sshd_wait_ready "$BENCH_DIR/sshd.log" 15

PKI=$BENCH_DIR/pki
"$BASTIONCTL" pki --dir "$PKI" init --name "Bastion bench CA" >/dev/null
"$BASTIONCTL" pki --dir "$PKI" issue server vnc --ip 127.0.0.1 >/dev/null
"$BASTIONCTL" pki --dir "$PKI" issue client bench >/dev/null
DISPLAY_N="$(free_display)" TLS_PORT="$(free_port)"

bastiond_start "$(cat <<YAML
logging:
  level: information
dbus:
  bus: none
checks:
  - name: sshd
    endpoint: 127.0.0.1:$PORT
    interval: 1s
    timeout: 500ms
    failures: 1
vnc:
  mode: fallback
  display: $DISPLAY_N
  geometry: 1024x768
  session: [/usr/bin/xterm, -e, /bin/sh, -c, "sleep 3600"]
  endpoint: vnc
  fallback:
    check: sshd
    failures: $FAILURES
    grace: 2s
pki:
  dir: $PKI
tls:
  - name: vnc
    mode: listen
    address: 127.0.0.1:$TLS_PORT
    certificate: $PKI/issued/vnc.crt
    key: $PKI/issued/vnc.key
YAML
)"
PASSWORD_FILE=$BENCH_DIR/bastiond/state/vnc/passwd

desktop_state() { status_json | jq -r '.components[]? | select(.kind == "vnc") | .state' 2>/dev/null; }
lowered() { [[ $(desktop_state) == Standby ]]; }
check_running() { [[ $(status_json | jq -r '.components[]? | select(.kind == "check" and .name == "sshd") | .state' 2>/dev/null) == Running ]]; }
probe() {
    "$BASTIONCTL" vnc probe --connect "127.0.0.1:$TLS_PORT" --cert "$PKI/issued/bench.crt" --key "$PKI/issued/bench.key" \
        --ca "$PKI/ca.crt" --password-file "$PASSWORD_FILE" --timeout 2s
}
show_daemon_log() { log "bastiond log (last 60 lines):"; tail -n 60 "$BENCH_DIR/bastiond/bastiond.log" >&2; }

WAIT_FOR_PID=$BASTIOND_PID wait_for 30 "the sshd check Running" check_running || { show_daemon_log; exit 1; }
WAIT_FOR_PID=$BASTIOND_PID wait_for 30 "the desktop in standby (sshd is fine)" lowered || { show_daemon_log; exit 1; }
WAIT_FOR_PID=$BASTIOND_PID wait_for 30 "the generated VNC password file" test -s "$PASSWORD_FILE" || { show_daemon_log; exit 1; }
log "bastiond pid $BASTIOND_PID, check interval 1s, fallback after $FAILURES failed probes, desktop :$DISPLAY_N behind 127.0.0.1:$TLS_PORT"

times=()
for ((run = 1; run <= RUNS; run++)); do
    # A crash comes at any point of the check's 1s cycle. Without this pause every kill would land just after the probe
    # that ended the previous run's grace period (the loop waits for that lowering), i.e. always at the worst phase.
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", (r % 1000) / 1000 }')"
    # A crash, not a shutdown: SIGKILL, so connections are refused at once.
    kill -KILL "$SSHD_PID"
    t0=$EPOCHREALTIME
    wait "$SSHD_PID" 2>/dev/null || true
    deadline=$((SECONDS + 60))
    until verdict="$(probe 2>&1)"; do
        if ((SECONDS >= deadline)); then
            log "run $run: the desktop did not come up within 60s; last probe: $verdict"
            show_daemon_log
            exit 1
        fi
        sleep 0.05
    done
    t1=$EPOCHREALTIME
    seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    times+=("$seconds")
    printf 'run %d: %s s from sshd killed to VNC up over mutual TLS (%s)\n' "$run" "$seconds" "$verdict"

    # sshd back; the desktop lowers after the grace period (2s) once the check has seen it healthy.
    sshd_log=$BENCH_DIR/sshd.run$run.log
    : >"$sshd_log" # sshd_wait_ready reads it before the background sshd has created it
    sshd_start "$BENCH_DIR/sshd" "$sshd_log"
    sshd_wait_ready "$sshd_log" 15
    WAIT_FOR_PID=$BASTIOND_PID wait_for 60 "the desktop lowered after sshd came back (run $run)" lowered || { show_daemon_log; exit 1; }
done

sorted="$(printf '%s\n' "${times[@]}" | sort -g | tr '\n' ' ')"
printf 'sorted: %s(min %s, max %s); check interval 1s x %d failures = detection, then Xvnc start + probe\n' \
    "$sorted" "$(printf '%s\n' "${times[@]}" | sort -g | head -1)" "$(printf '%s\n' "${times[@]}" | sort -g | tail -1)" "$FAILURES"
printf 'RESULT seconds=%s runs=%d\n' "$(median "${times[@]}")" "$RUNS"
