# shellcheck shell=bash
# Shared by scripts/bench/tunnel-*.sh: a throwaway sshd (lib/sshd.sh) plus a bastiond with a tunnels: config.
# Sourced after lib/common.sh, lib/sshd.sh and lib/notify.sh. Sets BENCH_DIR, SSHD_PID, BASTIOND_PID.

# tunnel_bench_traps: on any exit, stop what the bench started (only those PIDs: bastiond, SSH_PID, LOOP_PID, sshd,
# the notify receiver) and remove BENCH_DIR; Ctrl-C and SIGTERM exit 130 and 143.
tunnel_bench_cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_pid "$BASTIOND_PID" bastiond 15
    stop_pid "${SSH_PID:-}" ssh 5
    stop_pid "${LOOP_PID:-}" "ssh loop" 5
    stop_pid "$SSHD_PID" sshd 5
    stop_pid "$NOTIFY_RECEIVER_PID" "notify receiver" 2
    [[ -n $BENCH_DIR ]] && rm -rf "$BENCH_DIR"
    exit "$rc"
}
tunnel_bench_traps() {
    trap tunnel_bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# tunnel_bench_setup PORT: temp dir, sshd on 127.0.0.1:PORT with a client key (BENCH_DIR/sshd/id_ed25519).
tunnel_bench_setup() {
    local port=$1
    tcp_port_free "$port" || die "port $port on loopback is taken; set BASTION_BENCH_SSH_PORT to a free port"
    BENCH_DIR="$(mktemp -d /tmp/bastion-tunnel-bench.XXXXXX)"
    sshd_prepare "$BENCH_DIR/sshd" "$port"
    # Many forwards over one session, and a server that drops dead clients' forwards quickly.
    printf 'MaxSessions 1000\nClientAliveInterval 5\nClientAliveCountMax 2\n' >>"$BENCH_DIR/sshd/sshd_config"
    sshd_start "$BENCH_DIR/sshd" "$BENCH_DIR/sshd.log"
    sshd_wait_ready "$BENCH_DIR/sshd.log" 15
    HOST_FP="$(ssh-keygen -lf "$BENCH_DIR/sshd/ssh_host_ed25519_key.pub" | awk '{print $2}')"
}

# tunnel_yaml NAME BIND TARGET SSH_PORT [KIND]: one tunnels: item for the bench sshd.
# TUNNEL_BACKOFF overrides the backoff mapping (default: initial 500ms, max 5s).
tunnel_yaml() {
    local name=$1 bind=$2 target=$3 port=$4 kind=${5:-local}
    local backoff=${TUNNEL_BACKOFF:-"initial: 500ms
      max: 5s"}
    cat <<YAML
  - name: $name
    kind: $kind
    server:
      host: 127.0.0.1
      port: $port
      user: $(id -un)
      identity: $BENCH_DIR/sshd/id_ed25519
      hostKey:
        fingerprints: ["$HOST_FP"]
    bind: $bind
    target: $target
    backoff:
      $backoff
YAML
}

# bastiond_start CONFIG_BODY: writes the config (private state/runtime dirs) and starts bastiond; waits READY.
bastiond_start() {
    local body=$1 dir=$BENCH_DIR/bastiond
    mkdir -p "$dir"
    printf 'paths:\n  stateDir: %s/state\n  runtimeDir: %s/run\n%s\n' "$dir" "$dir" "$body" >"$dir/bastion.yaml"
    mkfifo "$dir/notify.fifo"
    (cat "$dir/notify.fifo" >"$dir/notify.log") &
    notify_listen "$dir/notify.sock" "$dir/notify.fifo"
    NOTIFY_SOCKET="$dir/notify.sock" setsid "$BASTIOND" --config "$dir/bastion.yaml" </dev/null >"$dir/bastiond.log" 2>&1 &
    BASTIOND_PID=$!
    WAIT_FOR_PID=$BASTIOND_PID wait_for 60 "READY=1 from bastiond" grep -q 'READY=1' "$dir/notify.log" || {
        cat "$dir/bastiond.log" >&2
        return 1
    }
}

status_json() { cat "$BENCH_DIR/bastiond/run/status.json" 2>/dev/null; }

# running_tunnels: how many tunnel components status.json shows Running.
running_tunnels() {
    status_json | python3 -c 'import json,sys
try: s = json.load(sys.stdin)
except Exception: print(0); sys.exit()
print(sum(1 for c in s["components"] if c["kind"] == "tunnel" and c["state"] == "Running"))'
}

# tunnels_running N: true when exactly N tunnels are Running (evaluated on every call, for wait_for).
tunnels_running() { [[ "$(running_tunnels)" == "$1" ]]; }

# tunnel_detail NAME KEY
tunnel_detail() {
    status_json | python3 -c 'import json,sys
s = json.load(sys.stdin)
print(next(c for c in s["components"] if c["name"] == sys.argv[1])["details"].get(sys.argv[2], ""))' "$1" "$2"
}

# cpu_ticks PID: utime+stime in clock ticks; rss_kb PID; fd_count PID
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
sshd_sessions() { cat /proc/"$SSHD_PID"/task/*/children 2>/dev/null | wc -w; }

# banner_through PORT: true when a connection to 127.0.0.1:PORT yields an SSH banner (the target is the bench sshd).
banner_through() {
    local got
    # shellcheck disable=SC2016 # expanded by the inner bash, from its argument
    got="$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; head -c 7 <&3' _ "$1" 2>/dev/null)" || return 1
    [[ $got == SSH-2.0 ]]
}
