#!/usr/bin/env bash
# The lab: Bastion running on loopback against a throwaway sshd and a private Tor network, so you can see it
# work without touching this machine's services or the public Tor network. Everything lives in a temp dir that
# is removed on exit.
#
#   scripts/lab.sh          start it, publish the sshd as an onion, ssh to it over the onion once, show the
#                           status, the ssh command and how to reach the emergency desktop, follow the daemon's
#                           log until Ctrl-C
#   scripts/lab.sh --once   the same, then the VNC fallback drill (stop sshd, the desktop comes up over mutual
#                           TLS, start sshd, the desktop is lowered), WATCHDOG, a reload (SIGHUP), the fleet (a
#                           NATS broker: `bastionctl fleet status` and a signed `vnc start` through it) and a clean
#                           stop (SIGTERM); exit 0 only if all of that happened (tests and CI use this)
#
# Environment: BASTION_LAB_SSH_PORT (default 22022) moves the lab sshd; BASTION_BIN_DIR, or BASTIOND and
# BASTIONCTL, use those binaries instead of building artifacts/bin; BASTION_LAB_KEEP=1 keeps the temp dir.
# Needs root: the lab sshd runs in its own mount namespace (nothing on the system changes).
set -euo pipefail
BASTION_SCRIPT=lab
here="$(dirname "$0")"
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=lib/sshd.sh
source "$here/lib/sshd.sh"
# shellcheck source=lib/notify.sh
source "$here/lib/notify.sh"
# shellcheck source=lib/tor.sh
source "$here/lib/tor.sh"

ONCE=0
LAB_SSH_PORT=${BASTION_LAB_SSH_PORT:-22022}
READY_TIMEOUT=60          # exec to READY=1; a cold JIT start on a busy 2-core machine is well under this
CHECK_TIMEOUT=30          # until the sshd check reports Running (its interval is 2s)
STOP_TIMEOUT=30           # SIGTERM to exit; the daemon's own supervision.stopTimeout is 10s
LAB_WATCHDOG_USEC=4000000 # as systemd would pass with WatchdogSec=4s: the daemon must ping at least every 4s
TORNET_TIMEOUT=60         # the private network's consensus: ~7s typical, 15s seen on a loaded machine
ONION_TIMEOUT=120         # bastiond's tor bootstrapped, descriptor uploaded, self-test passed: ~5-20s typical
SSH_TIMEOUT=60            # retries of the first ssh over the onion (a fresh descriptor may need a second try)
VNC_UP_TIMEOUT=30         # sshd stopped → desktop up over mutual TLS: 2 failed checks (2s apart) + Xvnc, ~5s typical
VNC_DOWN_TIMEOUT=40       # sshd back → desktop lowered: the check sees it (2s) + grace (5s), ~7s typical
NATS_TIMEOUT=30           # nats-server "Server is ready": well under a second typical
FLEET_TIMEOUT=60          # bastiond connected to the broker and its first signed status in the bucket: ~1-3s typical

LAB_DIR='' LAB_UP=0
SSHD_PID='' BASTIOND_PID='' NOTIFY_RECEIVER_PID='' FOLLOW_PID='' NATS_PID=''
LAB_NATS_URL='' LAB_FLEET='' FLEET_ARGS=()
LAB_NET='' LAB_SOCKS='' LAB_DAEMON_SOCKS='' ONION_ADDRESS='' SSH_COMMAND=()
LAB_PKI='' LAB_VNC_DISPLAY='' LAB_VNC_PORT='' LAB_VIEWER_PORT=5999 PROBE_COMMAND=()

usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; }

parse_args() {
    while (($#)); do
        case "$1" in
            --once) ONCE=1 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; exit 2 ;;
        esac
        shift
    done
    if ! [[ $LAB_SSH_PORT =~ ^[0-9]+$ ]] || ((LAB_SSH_PORT < 1 || LAB_SSH_PORT > 65535)); then
        die "BASTION_LAB_SSH_PORT='$LAB_SSH_PORT' is not a port number"
    fi
}

prepare() {
    require_root "the lab (its sshd runs in a private mount namespace)"
    "$here/install-deps.sh" --system-only
    resolve_binaries
    LAB_DIR="$(mktemp -d /tmp/bastion-lab.XXXXXX)"
    LAB_CONFIG=$LAB_DIR/bastion/bastion.yaml
    LAB_RUNTIME=$LAB_DIR/bastion/run
    NOTIFY_LOG=$LAB_DIR/notify.log
    log "lab directory: $LAB_DIR"
}

# The emergency desktop's session CA and certificates, made the way an admin makes them: `bastionctl pki`. The tls
# endpoint presents "vnc" (127.0.0.1); "admin" is the client certificate a viewer's `bastionctl connect` uses.
setup_pki() {
    LAB_PKI=$LAB_DIR/bastion/pki
    mkdir -p "$LAB_DIR/bastion"
    if ! { "$BASTIONCTL" pki --dir "$LAB_PKI" init --name "Bastion lab CA" &&
        "$BASTIONCTL" pki --dir "$LAB_PKI" issue server vnc --ip 127.0.0.1 &&
        "$BASTIONCTL" pki --dir "$LAB_PKI" issue client admin; } >"$LAB_DIR/pki.log" 2>&1; then
        log "bastionctl pki failed:"
        cat "$LAB_DIR/pki.log" >&2
        return 1
    fi
    log "session CA in $LAB_PKI: server certificate vnc (127.0.0.1), client certificate admin"
}

# A display in 100..899 with no X lock or socket, and a free loopback port for the endpoint (it listens only while
# the desktop is raised, so it cannot be port 0).
pick_vnc_places() {
    local n i
    for ((i = 0; i < 500; i++)); do
        n=$((100 + RANDOM % 800))
        [[ -e /tmp/.X$n-lock || -e /tmp/.X11-unix/X$n ]] || { LAB_VNC_DISPLAY=$n; break; }
    done
    [[ -n $LAB_VNC_DISPLAY ]] || die "no free X display in 100..899"
    LAB_VNC_PORT="$(tornet_pick_port)"
}

# The private Tor network: 4 authorities (also the relays), then the lab's client tor (the one `ssh` uses).
# Every tor dies with this script (__OwningControllerProcess) even if the teardown never runs.
start_tor_network() {
    LAB_NET=$LAB_DIR/tor
    export TORNET_OWNER=$$
    log "starting a private Tor network on loopback (4 directory authorities)"
    tornet_create "$LAB_NET"
    tornet_start_authorities "$LAB_NET" "$TORNET_TIMEOUT" || return 1
    LAB_SOCKS="$(tornet_start_client "$LAB_NET" client "$TORNET_TIMEOUT")" || return 1
    log "private Tor network up; the lab's client tor has SocksPort 127.0.0.1:$LAB_SOCKS"
}

start_sshd() {
    tcp_port_free "$LAB_SSH_PORT" ||
        die "port $LAB_SSH_PORT on loopback is taken ($(ss -Hltnp "sport = :$LAB_SSH_PORT" | head -1)); stop that or set BASTION_LAB_SSH_PORT to a free port"
    mkdir -p "$LAB_DIR/sshd"
    sshd_prepare "$LAB_DIR/sshd" "$LAB_SSH_PORT"
    sshd_start "$LAB_DIR/sshd" "$LAB_DIR/sshd.log"
    sshd_wait_ready "$LAB_DIR/sshd.log" 15
    log "sshd (pid $SSHD_PID) listening on 127.0.0.1:$LAB_SSH_PORT"
}

# The fleet's broker: a private nats-server with JetStream on loopback, its store in the lab dir, killed by PID on
# teardown. The lab's admin key (made here, as an admin has one in ~/.ssh) is the one the node's allowed_signers lists.
start_nats() {
    local port
    port="$(tornet_pick_port)"
    LAB_FLEET=$LAB_DIR/fleet
    mkdir -p "$LAB_FLEET/store"
    setsid /usr/sbin/nats-server -a 127.0.0.1 -p "$port" -js -sd "$LAB_FLEET/store" </dev/null >"$LAB_DIR/nats.log" 2>&1 &
    NATS_PID=$!
    WAIT_FOR_PID=$NATS_PID wait_for "$NATS_TIMEOUT" "nats-server to be ready" grep -q 'Server is ready' "$LAB_DIR/nats.log" || return 1
    LAB_NATS_URL="nats://127.0.0.1:$port"
    ssh-keygen -q -t ed25519 -N '' -C lab-admin -f "$LAB_FLEET/admin_ed25519"
    printf 'admin@lab %s\n' "$(cat "$LAB_FLEET/admin_ed25519.pub")" >"$LAB_FLEET/allowed_signers"
    log "nats-server (pid $NATS_PID) with JetStream on $LAB_NATS_URL; the lab admin's key: $LAB_FLEET/admin_ed25519"
}

start_bastiond() {
    mkdir -p "$LAB_DIR/bastion"
    LAB_DAEMON_SOCKS="$(tornet_pick_port)"
    # The lab sshd's port, a free SocksPort for bastiond's tor, and the private network's torrc lines.
    local lines
    lines="$(tornet_extra_config "$LAB_NET" | sed 's/^/      - "/; s/$/"/')"
    awk -v lines="$lines" '{ print } /# lab.sh: private network lines go here/ { print lines }' "$BASTION_REPO/config/lab.yaml" |
        sed "s/127\.0\.0\.1:22022/127.0.0.1:$LAB_SSH_PORT/; s/127\.0\.0\.1:9350/127.0.0.1:$LAB_DAEMON_SOCKS/" |
        sed "s/^  display: 55\$/  display: $LAB_VNC_DISPLAY/; s/127\.0\.0\.1:5443/127.0.0.1:$LAB_VNC_PORT/" >"$LAB_CONFIG"
    cat >>"$LAB_CONFIG" <<YAML

# lab.sh: the fleet (issue #18) through the lab's own nats-server
fleet:
  node: lab
  servers: [ "$LAB_NATS_URL" ]
  allowedSigners: $LAB_FLEET/allowed_signers
  statusInterval: 5s
YAML

    local summary
    if ! summary="$("$BASTIOND" --check-config --config "$LAB_CONFIG" 2>"$LAB_DIR/check-config.err")"; then
        log "bastiond --check-config refused the lab config:"
        cat "$LAB_DIR/check-config.err" >&2
        return 1
    fi
    log "config: $summary"

    notify_listen "$LAB_DIR/notify.sock" "$NOTIFY_LOG"
    # As systemd would start it: NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (this subshell's pid is
    # the daemon's, since both exec and setsid replace the process in place).
    (
        export NOTIFY_SOCKET="$LAB_DIR/notify.sock" WATCHDOG_USEC="$LAB_WATCHDOG_USEC" WATCHDOG_PID="$BASHPID"
        # bastiond refuses to start a tor that could reach the public Tor network.
        export BASTION_TOR_PRIVATE_NETWORK=1
        exec setsid "$BASTIOND" --config "$LAB_CONFIG"
    ) </dev/null >"$LAB_DIR/bastiond.log" 2>&1 &
    BASTIOND_PID=$!
    log "bastiond started (pid $BASTIOND_PID), log: $LAB_DIR/bastiond.log"
}

component_state() {
    jq -r --arg k "$1" --arg n "$2" '.components[]? | select(.kind == $k and .name == $n) | .state' \
        "$LAB_RUNTIME/status.json" 2>/dev/null
}
check_running() { [[ $(component_state check sshd) == Running ]]; }
desktop_state() {
    jq -r '.components[]? | select(.kind == "vnc") | .state' "$LAB_RUNTIME/status.json" 2>/dev/null
}
desktop_lowered() { [[ $(desktop_state) == Standby ]]; }
desktop_detail() {
    jq -r --arg d "$1" '.components[]? | select(.kind == "vnc") | .details[$d] // empty' "$LAB_RUNTIME/status.json" 2>/dev/null
}
onion_detail() {
    jq -r --arg d "$1" '.components[]? | select(.kind == "onion" and .name == "ssh") | .details[$d] // empty' \
        "$LAB_RUNTIME/status.json" 2>/dev/null
}
onion_reachable() { [[ $(component_state onion ssh) == Running && $(onion_detail state) == reachable ]]; }
process_gone() { ! kill -0 "$1" 2>/dev/null; }
# Live members of a process group (zombies are dead already: their reaping is not our business).
group_live() { ps -eo pgid=,pid=,stat=,args= | awk -v g="$1" '$1 == g && $3 !~ /^Z/ { $1 = ""; print }'; }
group_empty() { [[ -z $(group_live "$1") ]]; }

# The daemon died: say with which exit code (and forget its pid: there is nothing left to stop).
report_exit() {
    local rc=0
    wait "$BASTIOND_PID" || rc=$?
    log "bastiond exited with code $rc $1"
    BASTIOND_PID=''
}

wait_until_up() {
    WAIT_FOR_PID=$BASTIOND_PID wait_for "$READY_TIMEOUT" "READY=1 from bastiond" \
        notify_has "$NOTIFY_LOG" READY=1 || {
        process_gone "$BASTIOND_PID" && report_exit "before sending READY=1"
        return 1
    }
    log "READY=1 received"
    WAIT_FOR_PID=$BASTIOND_PID wait_for "$CHECK_TIMEOUT" "the sshd check to be Running in status.json" \
        check_running || return 1
    log "check 'sshd' is Running"
    WAIT_FOR_PID=$BASTIOND_PID wait_for "$ONION_TIMEOUT" "the onion service to be reachable (descriptor uploaded, self-test passed)" \
        onion_reachable || return 1
    ONION_ADDRESS="$(onion_detail address)"
    log "onion service 'ssh' is reachable at $ONION_ADDRESS"
    WAIT_FOR_PID=$BASTIOND_PID wait_for "$CHECK_TIMEOUT" "the emergency desktop in standby (sshd is fine)" \
        desktop_lowered || return 1
    log "emergency desktop in standby: $(jq -r '.components[]? | select(.kind == "vnc") | .reason' "$LAB_RUNTIME/status.json")"
    PROBE_COMMAND=("$BASTIONCTL" vnc probe --connect "127.0.0.1:$LAB_VNC_PORT" --cert "$LAB_PKI/issued/admin.crt"
        --key "$LAB_PKI/issued/admin.key" --ca "$LAB_PKI/ca.crt" --password-file "$(desktop_detail passwordFile)" --timeout 3s)
    LAB_UP=1
}

# The exact command a user runs: OpenSSH through the lab's client tor (netcat-openbsd speaks SOCKS5; tor resolves
# the .onion), with the lab's client key and a throwaway known_hosts.
ssh_over_onion() {
    SSH_COMMAND=(ssh -i "$LAB_DIR/sshd/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes
        -o UserKnownHostsFile="$LAB_DIR/known_hosts" -o StrictHostKeyChecking=accept-new -o ConnectTimeout=30
        -o ProxyCommand="nc -X 5 -x 127.0.0.1:$LAB_SOCKS %h %p" "$(id -un)@$ONION_ADDRESS")
    local deadline=$((SECONDS + SSH_TIMEOUT)) out
    log "running: ${SSH_COMMAND[*]} 'echo ...'"
    # shellcheck disable=SC2016 # expanded by the remote shell, on the lab sshd
    until out="$("${SSH_COMMAND[@]}" 'echo "hello from $(hostname) over the onion (sshd pid $PPID)"' 2>"$LAB_DIR/ssh.err")"; do
        if ((SECONDS >= deadline)); then
            log "ssh over the onion did not work within ${SSH_TIMEOUT}s:"
            sed 's/^/    /' "$LAB_DIR/ssh.err" >&2
            return 1
        fi
        sleep 1
    done
    printf '%s\n' "$out"
    log "ssh over the onion worked"
}

show_status() {
    echo
    "$BASTIONCTL" status --runtime-dir "$LAB_RUNTIME" || { log "bastionctl status failed"; return 1; }
    echo
    # Prometheus metrics (config/lab.yaml: metrics.listen on a Unix socket in the runtime dir); informative only.
    echo "metrics: curl --unix-socket $LAB_RUNTIME/metrics.sock http://bastion/metrics"
    echo "  $(curl -s --max-time 5 --unix-socket "$LAB_RUNTIME/metrics.sock" http://bastion/metrics 2>/dev/null |
        grep -m1 '^bastion_component_up{kind="check"' || echo '(no answer)')"
    echo
}

explain() {
    cat <<TEXT
What you're looking at:
  sshd       a throwaway OpenSSH on 127.0.0.1:$LAB_SSH_PORT (pid $SSHD_PID): its own host key and config in
             $LAB_DIR/sshd, its own mount namespace. This machine's sshd is untouched.
  tor        a private Tor network on 127.0.0.1 ($LAB_NET): 4 directory authorities and the lab's client
             tor (SocksPort $LAB_SOCKS). None of them can reach the public Tor network.
  bastiond   pid $BASTIOND_PID, config $LAB_CONFIG (a copy of config/lab.yaml).
             Its health check 'sshd' reads the SSH-2.0- banner every 2s. Its own tor (SocksPort
             $LAB_DAEMON_SOCKS) publishes the sshd as $ONION_ADDRESS
             (key: $LAB_DIR/bastion/state/onion/ssh/onion.key, 0600).
  status     the table above is $LAB_RUNTIME/status.json, as printed by
             $BASTIONCTL status --runtime-dir $LAB_RUNTIME
  fleet      nats-server (pid $NATS_PID) with JetStream on $LAB_NATS_URL, store in $LAB_FLEET/store; bastiond
             is node 'lab' there: its signed, encrypted status in the KV bucket bastion-fleet-status every 5s,
             commands from the stream bastion-fleet-cmd (allowed_signers: $LAB_FLEET/allowed_signers)
  systemd    this script plays systemd: the daemon's sd_notify messages (READY, STATUS, WATCHDOG…)
             arrive on $LAB_DIR/notify.sock, one per line in $NOTIFY_LOG

SSH over the onion, through the lab's client tor (paste it):
  ${SSH_COMMAND[*]@Q}

The emergency desktop (vnc.mode fallback): in standby while sshd answers; after 2 failed checks bastiond starts
Xvnc :$LAB_VNC_DISPLAY (a terminal running login) and opens tls/vnc on 127.0.0.1:$LAB_VNC_PORT; 5s after sshd is back
it lowers it again (never while a viewer is connected). To see it, freeze sshd (kill -STOP $SSHD_PID; it then
accepts connections but never sends its banner, so the check fails; kill -CONT $SSHD_PID brings it back), then:
  $BASTIONCTL connect 127.0.0.1:$LAB_VNC_PORT --local 127.0.0.1:$LAB_VIEWER_PORT \\
      --cert $LAB_PKI/issued/admin.crt --key $LAB_PKI/issued/admin.key --ca $LAB_PKI/ca.crt
      your end of the mutual TLS: a plain VNC port on 127.0.0.1:$LAB_VIEWER_PORT, for this machine only
  vncviewer 127.0.0.1::$LAB_VIEWER_PORT      (or: gvnccapture 127.0.0.1:$((LAB_VIEWER_PORT - 5900)) desktop.png)
      the VNC password, the second factor: $BASTIONCTL vnc password --runtime-dir $LAB_RUNTIME
  ${PROBE_COMMAND[*]@Q}
      the same check without a viewer: mutual TLS, VNC authentication, ServerInit
  $BASTIONCTL vnc status --runtime-dir $LAB_RUNTIME
      what the fallback policy sees (the lab has no D-Bus, so vnc start/stop/auto are not available here)

Try, in another terminal:
  $BASTIONCTL fleet status ${FLEET_ARGS[*]@Q}
  $BASTIONCTL fleet send ${FLEET_ARGS[*]@Q} lab -- vnc auto
      the fleet as an admin sees it: the node's signed status from the broker; a signed command, the node's signed reply
  $BASTIONCTL onion --runtime-dir $LAB_RUNTIME --socks 127.0.0.1:$LAB_SOCKS
      the onion address, its state and the ssh command, as the daemon reports them
  kill -KILL \$(jq -r '.components[] | select(.kind == "tor") | .details.pid' $LAB_RUNTIME/status.json)
      kills bastiond's tor: it is restarted and the same address is published again
  kill -STOP $SSHD_PID
      sshd hangs: the check goes Degraded, then Failed; kill -CONT $SSHD_PID heals it
  kill -HUP $BASTIOND_PID
      reloads the config (edit $LAB_CONFIG first to see a refused reload)

Following the daemon's log. Ctrl-C stops everything and removes $LAB_DIR.
TEXT
}

# Interactive: follow the log until Ctrl-C (the INT trap) or until the daemon dies on its own.
follow() {
    tail -n 20 -f --pid="$BASTIOND_PID" "$LAB_DIR/bastiond.log" &
    FOLLOW_PID=$!
    wait "$FOLLOW_PID" || true
    FOLLOW_PID=''
    report_exit "by itself"
    return 1
}

# The drill an admin would run: sshd stops; the desktop must come up over mutual TLS (bastionctl vnc probe: client
# certificate, VNC password, ServerInit); sshd starts again; the desktop must be lowered after the grace period.
VNC_DRILL=''
exercise_vnc_fallback() {
    local t0 verdict seconds deadline
    log "VNC drill: stopping sshd (pid $SSHD_PID)"
    stop_pid "$SSHD_PID" sshd 5
    SSHD_PID=''
    t0=$EPOCHREALTIME
    deadline=$((SECONDS + VNC_UP_TIMEOUT))
    until verdict="$("${PROBE_COMMAND[@]}" 2>&1)"; do
        if ((SECONDS >= deadline)); then
            log "the emergency desktop did not come up over mutual TLS within ${VNC_UP_TIMEOUT}s; last probe: $verdict"
            return 1
        fi
        process_gone "$BASTIOND_PID" && { report_exit "during the VNC drill"; return 1; }
        sleep 0.2
    done
    seconds=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    printf 'vnc probe: %s\n' "$verdict"
    log "VNC drill: desktop up over mutual TLS ${seconds}s after sshd stopped ($(jq -r '.components[]? | select(.kind == "vnc") | .reason' "$LAB_RUNTIME/status.json"))"
    : >"$LAB_DIR/sshd.2.log" # sshd_wait_ready reads it before the background sshd has created it
    sshd_start "$LAB_DIR/sshd" "$LAB_DIR/sshd.2.log"
    sshd_wait_ready "$LAB_DIR/sshd.2.log" 15
    log "VNC drill: sshd started again (pid $SSHD_PID)"
    WAIT_FOR_PID=$BASTIOND_PID wait_for "$VNC_DOWN_TIMEOUT" "the desktop lowered after sshd came back" desktop_lowered || return 1
    log "VNC drill: desktop lowered again"
    VNC_DRILL="sshd stopped → desktop up over mutual TLS in ${seconds}s → lowered after sshd came back"
}

# The fleet as an admin sees it: the node's public key into the admins' node list, `bastionctl fleet status` (the
# node's signed, encrypted status from the broker's KV bucket), then a `vnc start` signed with the lab admin's key,
# stored in the broker's stream, run by bastiond through its control path, answered with a signed reply.
fleet_fresh() { "$BASTIONCTL" fleet status "${FLEET_ARGS[@]}" >"$LAB_DIR/fleet-status.out" 2>&1; }
exercise_fleet() {
    "$BASTIONCTL" --config "$LAB_CONFIG" fleet node-key >"$LAB_FLEET/nodes" || { log "bastionctl fleet node-key failed"; return 1; }
    FLEET_ARGS=(--servers "$LAB_NATS_URL" --nodes "$LAB_FLEET/nodes" --key "$LAB_FLEET/admin_ed25519")
    WAIT_FOR_PID=$BASTIOND_PID wait_for "$FLEET_TIMEOUT" "the node's signed status in the broker's bucket (bastionctl fleet status)" \
        fleet_fresh || { cat "$LAB_DIR/fleet-status.out" >&2; return 1; }
    echo
    echo "\$ bastionctl fleet status ${FLEET_ARGS[*]}"
    cat "$LAB_DIR/fleet-status.out"
    echo "\$ bastionctl fleet send ${FLEET_ARGS[*]} lab -- vnc start --for $1"
    "$BASTIONCTL" fleet send "${FLEET_ARGS[@]}" lab -- vnc start --for "$1" || { log "the signed vnc start through the broker failed"; return 1; }
    echo
    log "fleet: status read from the broker and a signed vnc start answered by the node"
}

exercise_watchdog() {
    WAIT_FOR_PID=$BASTIOND_PID wait_for 10 "WATCHDOG=1 (WATCHDOG_USEC=$LAB_WATCHDOG_USEC)" \
        notify_has "$NOTIFY_LOG" WATCHDOG=1 || return 1
    log "WATCHDOG=1 received"
}

exercise_reload() {
    local before reloading
    before="$(notify_lines "$NOTIFY_LOG")"
    log "sending SIGHUP"
    kill -HUP "$BASTIOND_PID"
    WAIT_FOR_PID=$BASTIOND_PID wait_for 30 "RELOADING=1 after SIGHUP" \
        notify_has "$NOTIFY_LOG" RELOADING=1 "$before" || return 1
    reloading="$(notify_line_of "$NOTIFY_LOG" RELOADING=1 "$before")"
    WAIT_FOR_PID=$BASTIOND_PID wait_for 30 "READY=1 after RELOADING=1" \
        notify_has "$NOTIFY_LOG" READY=1 "$reloading" || return 1
    log "reload: RELOADING=1 then READY=1"
    WAIT_FOR_PID=$BASTIOND_PID wait_for "$CHECK_TIMEOUT" "the sshd check to be Running after the reload" \
        check_running || return 1
}

exercise_stop() {
    local before rc=0
    before="$(notify_lines "$NOTIFY_LOG")"
    log "sending SIGTERM"
    kill -TERM "$BASTIOND_PID"
    wait_for "$STOP_TIMEOUT" "bastiond to exit after SIGTERM" process_gone "$BASTIOND_PID" || return 1
    wait "$BASTIOND_PID" || rc=$?
    local group=$BASTIOND_PID
    BASTIOND_PID=''
    # Its children (tor, Xvnc…) are in its process group: a clean stop leaves none behind.
    if ! wait_for 3 "bastiond's children to go" group_empty "$group"; then
        log "bastiond exited but left processes behind: $(group_live "$group" | tr '\n' ';')"
        kill -KILL -- "-$group" 2>/dev/null
        return 1
    fi
    # The datagram left before the process exited; give the receiver a moment to write it.
    wait_for 5 "STOPPING=1 after SIGTERM" notify_has "$NOTIFY_LOG" STOPPING=1 "$before" || return 1
    ((rc == 0)) || { log "bastiond exited with code $rc after SIGTERM (expected 0)"; return 1; }
    log "stop: STOPPING=1, exit code 0"
}

dump_logs() {
    local f shown=0
    for f in bastiond.log check-config.err pki.log sshd.log sshd.2.log ssh.err notify.log nats.log fleet-status.out bastion/run/status.json; do
        [[ -s $LAB_DIR/$f ]] || continue
        printf '\n----- %s (last 200 lines) -----\n' "$f" >&2
        tail -n 200 "$LAB_DIR/$f" >&2
        [[ -z $(tail -c 1 "$LAB_DIR/$f") ]] || echo >&2
        shown=1
    done
    if ((shown)); then printf -- '-----\n' >&2; fi
    [[ -n $LAB_NET ]] && tornet_dump_logs "$LAB_NET"
}

teardown() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    # Ctrl-C (or SIGTERM) is how an interactive lab ends once it is up: that is success.
    if (((rc == 130 || rc == 143) && LAB_UP && !ONCE)); then rc=0; fi
    [[ -n $FOLLOW_PID ]] && kill "$FOLLOW_PID" 2>/dev/null
    # Bounded well inside the 60s a caller's `timeout --kill-after` allows (the daemon's own limit is 10s).
    stop_pid "$BASTIOND_PID" bastiond 15
    stop_pid "$SSHD_PID" sshd 5
    stop_pid "$NATS_PID" nats-server 5
    [[ -n $LAB_NET ]] && tornet_stop "$LAB_NET"
    stop_pid "$NOTIFY_RECEIVER_PID" "notify receiver" 2
    if [[ -n $LAB_DIR ]]; then
        ((rc != 0)) && dump_logs
        if [[ ${BASTION_LAB_KEEP:-0} == 1 ]]; then
            log "kept $LAB_DIR"
        else
            rm -rf "$LAB_DIR"
        fi
    fi
    if ((rc == 0)); then log "lab stopped"; else log "lab FAILED (exit code $rc)"; fi
    exit "$rc"
}

main() {
    parse_args "$@"
    trap teardown EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    prepare
    start_tor_network
    start_sshd
    setup_pki
    pick_vnc_places
    start_nats
    start_bastiond
    wait_until_up
    ssh_over_onion
    show_status
    if ((ONCE)); then
        exercise_vnc_fallback
        exercise_watchdog
        exercise_reload
        exercise_fleet 1m
        exercise_stop
        log "OK: READY, check Running, ssh over the onion $ONION_ADDRESS, VNC fallback drill ($VNC_DRILL), WATCHDOG, reload (RELOADING then READY), fleet (status and a signed vnc start through NATS) and stop (STOPPING, exit 0)"
    else
        exercise_fleet 2m
        explain
        follow
    fi
}

main "$@"
