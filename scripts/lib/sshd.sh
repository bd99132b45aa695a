# shellcheck shell=bash
# A throwaway OpenSSH sshd on loopback, changing nothing on the system (recipe: shared notes, ssh.md):
# its own host key and config in DIR, and a private mount namespace in which DIR/run is bind-mounted over
# /run, so the privilege-separation directory /run/sshd exists without touching the real /run.
# Needs root (unshare -m, mount). Sourced after lib/common.sh.

# sshd_prepare DIR PORT: host key, a client key allowed to log in (for tunnels, later), sshd_config.
sshd_prepare() {
    local dir=$1 port=$2
    mkdir -p "$dir/run/sshd"
    chmod 0755 "$dir/run" "$dir/run/sshd"
    ssh-keygen -q -t ed25519 -N '' -C bastion-lab-host -f "$dir/ssh_host_ed25519_key"
    ssh-keygen -q -t ed25519 -N '' -C bastion-lab-client -f "$dir/id_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    cat >"$dir/sshd_config" <<CONF
# Throwaway lab sshd: loopback only, keys only, nothing shared with the system sshd.
Port $port
ListenAddress 127.0.0.1
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
# The lab directory lives under /tmp, which StrictModes would reject.
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
GatewayPorts no
LogLevel VERBOSE
CONF
}

# sshd_start DIR LOG [STAMP_FILE]: starts `sshd -D -e` in the background, sets SSHD_PID.
# With STAMP_FILE, writes $EPOCHREALTIME there just before exec (the benchmark's start time).
# setsid: Ctrl-C in the terminal must reach the script (which tears down in order), not its children.
sshd_start() {
    local dir=$1 sshd_log=$2 stamp=${3:-}
    # unshare and bash exec in place, so $! is sshd's own pid.
    # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
    setsid unshare --mount --propagation private -- bash -c '
        mount --bind "$1" /run || exit 97
        if [[ -n $3 ]]; then printf "%s\n" "$EPOCHREALTIME" >"$3"; fi
        exec /usr/sbin/sshd -D -e -f "$2"' sshd-lab "$dir/run" "$dir/sshd_config" "$stamp" \
        </dev/null >"$sshd_log" 2>&1 &
    SSHD_PID=$!
}

sshd_listening() { grep -q 'Server listening on' "$1"; }

# sshd_wait_ready LOG TIMEOUT: waits for "Server listening on"; on failure shows sshd's own words.
sshd_wait_ready() {
    local sshd_log=$1 timeout=$2
    if ! WAIT_FOR_PID=$SSHD_PID wait_for "$timeout" "sshd to listen" sshd_listening "$sshd_log"; then
        log "sshd log ($sshd_log):"
        sed 's/^/    /' "$sshd_log" >&2 || true
        return 1
    fi
}
