#!/usr/bin/env bash
# The Debian package under a real systemd, as an admin uses it. Boots systemd 252 as PID 1 of a container
# (systemd-nspawn, --private-network) whose root is an overlay of this machine's own / (upper layer on a tmpfs in a
# private mount namespace: nothing is written to the host), installs the .deb with dpkg inside and checks, step by step:
# start, READY and STATUS, reload, a broken config, the D-Bus policy, the watchdog, the hardening drop-in, stop,
# reboot, purge. Prints "ok - STEP" per step; on the first failure "not ok - STEP: why", the unit's journal, and exits 1.
#   real-systemd.sh DEB BINDIR     as root. BINDIR: the NativeAOT binaries for the install-from-source step
#   (scripts/install.sh). This repository and BINDIR are bound read-only into the container.
# Everything it creates (container, overlay, tmpfs, cgroup directories, users in the overlay) is gone when it exits.
# See /work/shared/notes/systemd-container.md for the recipe; the README's "Tests" section for what it costs in CI.
set -euo pipefail

die_setup() { printf 'not ok - setup: %s\n' "$*"; exit 1; }
[[ $(id -u) -eq 0 ]] || die_setup "needs root"
[[ $# -eq 2 ]] || die_setup "usage: real-systemd.sh DEB BINDIR"
deb="$(realpath "$1")"
bindir="$(realpath "$2")"
src="$(cd "$(dirname "$0")/../../.." && pwd)"
[[ -f $deb ]] || die_setup "no package at $deb"
command -v systemd-nspawn >/dev/null || die_setup "systemd-nspawn is missing: scripts/install-deps.sh installs systemd-container (the version of the installed systemd)"
[[ -x /lib/systemd/systemd ]] || die_setup "/lib/systemd/systemd is missing"

# A private mount namespace: the overlay, its tmpfs and the tmpfs over /run/systemd/nspawn vanish with this script.
if [[ ${BASTION_REAL_SYSTEMD_NS:-} != 1 ]]; then
    exec env BASTION_REAL_SYSTEMD_NS=1 unshare --mount --propagation private -- "$0" "$@"
fi

started=$SECONDS
machine=bastion-test-$$
work=$(mktemp -d /tmp/bastion-nspawn.XXXXXX)
cgroups=()
nspawn_pid=''
pid1=''
step_name=setup

cleanup() {
    local rc=$?
    stop_container || true
    local cg
    for cg in "${cgroups[@]}"; do
        # Deepest first: whatever systemd made below ours. Empty by now (every process of the container has exited).
        [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
        [[ -d $cg ]] && printf '# warning: could not remove cgroup %s\n' "$cg"
    done
    umount -R "$work" 2>/dev/null || true
    rmdir "$work" 2>/dev/null || true
    printf '# %ds in all\n' "$((SECONDS - started))"
    exit "$rc"
}
trap cleanup EXIT

mount -t tmpfs -o mode=0700,size=2g bastion-nspawn "$work"
mkdir "$work/upper" "$work/work" "$work/root" "$work/deb"
# No .NET in the container: the package must not need it. Whiteouts (character devices 0:0 in the upper layer) hide
# the SDK and the dotnet command of the host.
# (A directory in the upper layer lends the merged one its owner and mode: copied from the host's.)
for hidden in usr/share/dotnet usr/bin/dotnet root/.dotnet; do
    for dir in usr usr/share usr/bin root; do
        [[ $hidden == "$dir"/* && ! -d $work/upper/$dir ]] || continue
        mkdir "$work/upper/$dir"
        chown --reference="/$dir" "$work/upper/$dir"
        chmod --reference="/$dir" "$work/upper/$dir"
    done
    mknod "$work/upper/$hidden" c 0 0
done
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$work/root"
mkdir -p /run/systemd/nspawn
mount -t tmpfs -o mode=0755 nspawn-locks /run/systemd/nspawn
cp "$deb" "$work/deb/bastion.deb"
root=$work/root

# The container's own identity, and none of the host's services but sshd and dbus (no tor, no database, no timers).
systemd-id128 new >"$root/etc/machine-id"
echo "$machine" >"$root/etc/hostname"
for unit in tor.service tor@default.service postgresql.service stunnel.target stunnel4.service e2scrub_reap.service \
    systemd-timesyncd.service systemd-pstore.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
    dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer machines.target remote-fs.target packagekit.service; do
    ln -sfn /dev/null "$root/etc/systemd/system/$unit"
done
# And whatever else the host has enabled (a package installed later, e.g. prometheus, enables its service even
# though policy-rc.d keeps it from starting on the host): only ssh and dbus run in the container.
for wanted in /etc/systemd/system/*.wants/*; do
    unit=${wanted##*/}
    [[ -e $wanted || -L $wanted ]] || continue
    case $unit in ssh.service | sshd.service | dbus.service | dbus.socket | bastion.service) continue ;; esac
    ln -sfn /dev/null "$root/etc/systemd/system/$unit"
done
# A persistent journal, so the reboot step can read the previous boot's shutdown.
mkdir -p "$root/var/log/journal"
# dpkg's man-db trigger rebuilds the whole manual page index at every install and purge (tens of seconds): off.
rm -f "$root/var/lib/man-db/auto-update"
# This container is the server the package is for: apt may start services in it (the host keeps its policy-rc.d).
rm -f "$root/usr/sbin/policy-rc.d"
# No leftovers of a bastion the host itself may have.
rm -rf "$root/etc/bastion" "$root/var/lib/bastion" "$root/etc/systemd/system/bastion.service" "$root/etc/systemd/system/bastion.service.d"

boot_no=0
boot() {
    boot_no=$((boot_no + 1))
    local cg_v1=/sys/fs/cgroup/systemd/$machine-$boot_no cg_v2=/sys/fs/cgroup/unified/$machine-$boot_no
    mkdir "$cg_v1" "$cg_v2"
    cgroups+=("$cg_v1" "$cg_v2")
    (
        # A cgroup of its own in both hierarchies, or parallel containers collide at the root.
        echo "$BASHPID" >"$cg_v1/cgroup.procs"
        echo "$BASHPID" >"$cg_v2/cgroup.procs"
        exec systemd-nspawn -q -D "$root" -M "$machine" --register=no --keep-unit --private-network \
            --console=read-only -b --bind-ro="$work/deb:/mnt/deb" --bind-ro="$src:/mnt/src" --bind-ro="$bindir:/mnt/bin"
    ) >"$work/console.$boot_no.log" 2>&1 &
    nspawn_pid=$!
    pid1=''
    local deadline=$((SECONDS + 60)) child
    while [[ -z $pid1 ]]; do
        for child in $(pgrep -P "$nspawn_pid" || true); do
            [[ $(cat "/proc/$child/comm" 2>/dev/null) == systemd ]] && pid1=$child
        done
        kill -0 "$nspawn_pid" 2>/dev/null || fail "systemd-nspawn exited: $(tail -20 "$work/console.$boot_no.log")"
        ((SECONDS < deadline)) || fail "no systemd as PID 1 of the container after 60s"
        sleep 0.1
    done
    # Until the manager answers (its socket appears a moment after exec) and has finished booting.
    local state=''
    deadline=$((SECONDS + 120))
    until [[ $state == running || $state == degraded ]]; do
        ((SECONDS < deadline)) || break
        sleep 0.2
        state="$(c systemctl is-system-running 2>&1 || true)"
    done
    case "$state" in
        running) ;;
        degraded) printf '# boot %d: degraded: %s\n' "$boot_no" "$(c systemctl --failed --no-legend --plain | tr '\n' ' ')" ;;
        *) fail "the container's systemd did not finish booting: '$state'" ;;
    esac
}

stop_container() {
    [[ -n $nspawn_pid ]] || return 0
    if kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM to systemd-nspawn is a clean poweroff of the container; SIGKILL after a timeout.
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while kill -0 "$nspawn_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        if kill -0 "$nspawn_pid" 2>/dev/null; then
            printf '# systemd-nspawn (pid %s) did not power off within 30s: SIGKILL\n' "$nspawn_pid"
            kill -KILL "$nspawn_pid" 2>/dev/null || true
        fi
    fi
    wait "$nspawn_pid" 2>/dev/null || true
    nspawn_pid=''
    pid1=''
}

# c CMD...: runs CMD inside the container (all its namespaces), with a clean environment.
c() { nsenter -t "$pid1" -a -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER= "$@"; }
prop() { c systemctl show -P "$1" bastion.service; }

fail() {
    printf 'not ok - %s: %s\n' "$step_name" "$*"
    if [[ -n $pid1 ]]; then
        printf '# ---- systemctl status bastion ----\n'
        c systemctl status --no-pager -l bastion.service 2>&1 | sed 's/^/# /' || true
        printf '# ---- journal of bastion.service and dbus (last 80 lines) ----\n'
        c journalctl --no-pager -o short-monotonic -u bastion.service -u dbus.service -n 80 2>&1 | sed 's/^/# /' || true
    fi
    exit 1
}
step() { step_name=$1; step_started=$SECONDS; }
ok() { printf 'ok - %s (%ds)\n' "$step_name" "$((SECONDS - step_started))"; }

# wait_until SECONDS WHAT CMD...: polls CMD every 0.2s.
wait_until() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
        sleep 0.2
    done
}
is_active() { [[ $(prop ActiveState) == active ]]; }
journal_since() { c journalctl --no-pager -o cat -u bastion.service --since "@$1" "${@:2}"; }
now() { c date +%s.%N; }
has_err_line() { journal_since "$1" -p err | grep -qF -- "$2"; }

step "boot systemd as PID 1 of a container"
boot
ok

step "the .deb installs with dpkg inside (no .NET there needed) and starts the daemon"
c sh -c '! command -v dotnet && ! test -e /usr/share/dotnet' >/dev/null || fail "the container has .NET"
c dpkg -i /mnt/deb/bastion.deb >"$work/dpkg.log" 2>&1 || fail "dpkg -i failed: $(cat "$work/dpkg.log")"
[[ -x $root/usr/sbin/bastiond && -x $root/usr/bin/bastionctl && -f $root/lib/systemd/system/bastion.service ]] ||
    fail "bastiond, bastionctl or the unit are not where the package puts them"
c getent group bastion-admin >/dev/null || fail "the group bastion-admin was not created"
wait_until 30 "bastion active after the install" is_active
ok

step "systemctl enable --now: enabled, active, READY and STATUS in systemctl status"
c systemctl enable --now bastion.service >/dev/null 2>&1 || fail "systemctl enable --now failed"
[[ $(c systemctl is-enabled bastion.service) == enabled ]] || fail "not enabled"
is_active || fail "not active"
# Type=notify: 'active (running)' is only reached after READY=1.
[[ $(prop Type) == notify && $(prop SubState) == running ]] || fail "Type=$(prop Type) SubState=$(prop SubState)"
wait_until 20 "a STATUS= line" test -n "$(prop StatusText)"
status="$(c systemctl status --no-pager bastion.service)"
grep -q 'Active: active (running)' <<<"$status" || fail "systemctl status shows no 'active (running)': $status"
grep -qE '^ +Status: ".+"' <<<"$status" || fail "systemctl status shows no Status: line: $status"
printf '# Status: %s\n' "$(prop StatusText)"
c test -f /run/bastion/status.json || fail "no /run/bastion/status.json"
[[ $(c stat -c '%U %a' /run/bastion /var/lib/bastion | tr '\n' ' ') == 'root 755 root 700 ' ]] ||
    fail "runtime/state directories: $(c stat -c '%n %U %a' /run/bastion /var/lib/bastion | tr '\n' ' ')"
ok

step "D-Bus: the policy is in force at once, no 'Unknown group' from dbus-daemon"
c journalctl --no-pager -o cat -u dbus.service | grep -i "unknown group" && fail "dbus-daemon dropped a rule: Unknown group"
c busctl status org.bastion.Bastion1 >/dev/null 2>&1 || fail "bastiond does not own org.bastion.Bastion1 on the system bus"
ok

step "D-Bus: an unprivileged user is refused Reload, a bastion-admin member is allowed"
c useradd --create-home --shell /bin/sh bastion-mallory
c useradd --create-home --shell /bin/sh --groups bastion-admin bastion-alice
pid_before=$(prop MainPID)
if out="$(c runuser -u bastion-mallory -- busctl --system call org.bastion.Bastion1 /org/bastion/Bastion1 org.bastion.Bastion1 Reload 2>&1)"; then
    fail "an unprivileged user's Reload was accepted: $out"
fi
grep -qi "access denied\|AccessDenied" <<<"$out" || fail "the refusal is not access denied: $out"
out="$(c runuser -u bastion-alice -- bastionctl reload 2>&1)" || fail "bastionctl reload as a bastion-admin member failed: $out"
grep -q reloaded <<<"$out" || fail "bastionctl reload said: $out"
[[ $(prop MainPID) == "$pid_before" ]] || fail "the daemon restarted instead of reloading"
ok

step "systemctl reload: the daemon re-reads its config and keeps running"
since=$(now)
c systemctl reload bastion.service || fail "systemctl reload failed"
wait_until 20 "a reload line in the journal" journal_since "$since" --grep "reload"
same_daemon() { is_active && [[ $(prop MainPID) == "$1" ]]; }
same_daemon "$pid_before" || fail "not the same running daemon after reload"
ok

step "a broken config at reload: still running on the last good one, the error at priority err"
cp "$root/etc/bastion/bastion.yaml" "$work/good.yaml"
printf 'checks:\n  - name: sshd\n    endpoint: 127.0.0.1:70000\n' >"$root/etc/bastion/bastion.yaml"
since=$(now)
c systemctl reload bastion.service || fail "systemctl reload failed"
wait_until 20 "the config error at priority err" has_err_line "$since" "65535"
same_daemon "$pid_before" || fail "the daemon did not keep running"
wait_until 10 "STATUS to mention the refused config" bash -c "[[ \"\$(nsenter -t $pid1 -a -- systemctl show -P StatusText bastion.service)\" == *config* ]]"
ok

step "a broken config at start: the service fails and the journal has file:line:col at priority err"
since=$(now)
c systemctl restart bastion.service 2>/dev/null && fail "restart with a broken config succeeded"
wait_until 20 "the config error at start at priority err" has_err_line "$since" "/etc/bastion/bastion.yaml:3:"
cp "$work/good.yaml" "$root/etc/bastion/bastion.yaml"
c systemctl restart bastion.service || fail "restart with the good config failed"
is_active || fail "not active with the good config"
ok

step "watchdog: a healthy daemon is kept (WatchdogSec=4s drop-in, 3 periods)"
mkdir -p "$root/etc/systemd/system/bastion.service.d"
# A short watchdog saves time here; the shipped unit has 30s. RestartSec=1s likewise.
printf '[Service]\nWatchdogSec=4s\nRestartSec=1s\n' >"$root/etc/systemd/system/bastion.service.d/test-watchdog.conf"
c systemctl daemon-reload
c systemctl restart bastion.service || fail "restart failed"
[[ $(prop WatchdogUSec) == 4s ]] || fail "WatchdogUSec is $(prop WatchdogUSec)"
pid=$(prop MainPID)
restarts=$(prop NRestarts)
sleep 12
[[ $(prop NRestarts) == "$restarts" ]] || fail "NRestarts $(prop NRestarts), was $restarts"
same_daemon "$pid" ||
    fail "the healthy daemon was not kept: MainPID $(prop MainPID) (was $pid), NRestarts $(prop NRestarts) (was $restarts)"
ok

step "watchdog: a SIGSTOPped daemon is killed and restarted"
since=$(now)
c kill -STOP "$pid"
stopped_at=$SECONDS
new_pid_running() { local p; p=$(prop MainPID); [[ $p != 0 && $p != "$pid" ]] && is_active; }
wait_until 30 "a new daemon after the watchdog fired" new_pid_running
journal_since "$since" | grep -q "Watchdog timeout" || fail "no 'Watchdog timeout' in the journal"
[[ $(prop NRestarts) -gt $restarts ]] || fail "NRestarts did not grow"
printf '# killed and active again %ds after SIGSTOP (WatchdogSec=4s, RestartSec=1s)\n' "$((SECONDS - stopped_at))"
rm "$root/etc/systemd/system/bastion.service.d/test-watchdog.conf"
c systemctl daemon-reload
c systemctl restart bastion.service || fail "restart failed"
ok

step "the hardening drop-in: the daemon starts under the full sandbox and reaches READY"
c install -D -m 0644 /usr/share/doc/bastion/bastion-hardening.conf /etc/systemd/system/bastion.service.d/hardening.conf
c systemctl daemon-reload
c systemctl restart bastion.service || fail "restart under the hardening drop-in failed"
[[ $(prop ProtectSystem) == strict && $(prop SubState) == running ]] || fail "ProtectSystem=$(prop ProtectSystem) SubState=$(prop SubState)"
out="$(c bastionctl reload 2>&1)" || fail "reload under the sandbox: $out"
rm -r "$root/etc/systemd/system/bastion.service.d"
c systemctl daemon-reload
c systemctl restart bastion.service || fail "restart without the drop-in failed"
ok

step "systemctl stop: inactive, nothing of the unit left"
c systemctl stop bastion.service || fail "systemctl stop failed"
[[ $(prop ActiveState) == inactive ]] || fail "ActiveState=$(prop ActiveState) after stop"
[[ $(prop MainPID) == 0 ]] || fail "MainPID $(prop MainPID) after stop"
c systemctl start bastion.service || fail "start again failed"
ok

step "reboot: active again (enabled), and bastiond stops before the bus goes away"
stop_container
boot
wait_until 30 "bastion active after the reboot" is_active
[[ $(prop SubState) == running ]] || fail "SubState=$(prop SubState) after reboot"
# The previous boot's shutdown (persistent journal): bastiond stopped, and said nothing about losing the bus
# (After=dbus.service orders its stop before the bus's).
previous="$(c journalctl --no-pager -o cat -b -1 -u bastion.service 2>&1)" || fail "no journal of the previous boot: $previous"
grep -q "Stopped Bastion\|bastion.service: Deactivated" <<<"$previous" || fail "the previous boot's journal does not show bastion stopping: $(tail -5 <<<"$previous")"
if grep "dbus: lost the connection" <<<"$previous"; then
    fail "at shutdown bastiond lost the bus while still running"
fi
ok

step "SIGKILL of bastiond with the desktop raised: systemd cleans the cgroup, the desktop comes back"
c bastionctl pki --dir /etc/bastion/pki init --name "Bastion test CA" >/dev/null 2>&1 || fail "bastionctl pki init failed"
c bastionctl pki --dir /etc/bastion/pki issue server vnc --ip 127.0.0.1 >/dev/null 2>&1 || fail "bastionctl pki issue failed"
cp "$root/etc/bastion/bastion.yaml" "$work/good.yaml"
cat >>"$root/etc/bastion/bastion.yaml" <<'YAML'
vnc:
  mode: always
  display: 55
  endpoint: vnc
pki:
  dir: pki
tls:
  - name: vnc
    mode: listen
    address: 127.0.0.1:5443
    certificate: pki/issued/vnc.crt
    key: pki/issued/vnc.key
YAML
c bastiond --check-config --config /etc/bastion/bastion.yaml >/dev/null 2>&1 || fail "the desktop config is refused: $(c bastiond --check-config --config /etc/bastion/bastion.yaml 2>&1)"
c systemctl restart bastion.service || fail "restart with the desktop failed"
desktop() { c jq -r '.components[] | select(.kind == "vnc") | "\(.state) \(.details.xvncPid // "")"' /run/bastion/status.json; }
desktop_up() { [[ $(desktop) =~ ^Running\ [0-9]+$ ]]; }
wait_until 60 "the desktop raised" desktop_up
xvnc=$(desktop | cut -d' ' -f2)
pid=$(prop MainPID)
restarts=$(prop NRestarts)
c kill -KILL "$pid"
xvnc_gone() { ! c kill -0 "$xvnc"; }
wait_until 30 "Xvnc ($xvnc) killed with the rest of the cgroup" xvnc_gone
restarted() { [[ $(prop NRestarts) -gt $restarts ]] && is_active && [[ $(prop MainPID) != "$pid" ]]; }
wait_until 40 "bastiond restarted" restarted
wait_until 60 "the desktop raised again" desktop_up
[[ $(desktop | cut -d' ' -f2) != "$xvnc" ]] || fail "the same Xvnc pid after the restart"
cp "$work/good.yaml" "$root/etc/bastion/bastion.yaml"
c systemctl restart bastion.service || fail "restart without the desktop failed"
# The admin's own CA is not the package's to purge: removed here, so the purge step sees only what the package made.
rm -r "$root/etc/bastion/pki"
ok

step "apt-get purge: the service, the files and the state are gone"
c apt-get purge -y -q bastion >"$work/purge.log" 2>&1 || fail "apt-get purge failed: $(cat "$work/purge.log")"
[[ $(prop ActiveState) == inactive ]] || fail "ActiveState=$(prop ActiveState) after purge"
for gone in /usr/sbin/bastiond /usr/bin/bastionctl /lib/systemd/system/bastion.service /etc/bastion /var/lib/bastion \
    /run/bastion /usr/share/dbus-1/system.d/org.bastion.Bastion1.conf /etc/systemd/system/multi-user.target.wants/bastion.service; do
    c test -e "$gone" && fail "$gone is still there after purge"
done
ok

step "install.sh from source: the group before the policy, dbus reloaded, an admin allowed at once"
c groupdel bastion-admin
out="$(c /mnt/src/scripts/install.sh --bin /mnt/bin 2>&1)" || fail "install.sh failed: $out"
c getent group bastion-admin >/dev/null || fail "install.sh did not create bastion-admin"
[[ $(c stat -c '%U:%G %a' /usr/local/sbin/bastiond /etc/dbus-1/system.d/org.bastion.Bastion1.conf | tr '\n' ' ') == 'root:root 755 root:root 644 ' ]] ||
    fail "owner/mode of the installed files: $(c stat -c '%n %U:%G %a' /usr/local/sbin/bastiond /etc/dbus-1/system.d/org.bastion.Bastion1.conf | tr '\n' ' ')"
c usermod -aG bastion-admin bastion-alice
c systemctl enable --now bastion.service >/dev/null 2>&1 || fail "systemctl enable --now after install.sh failed"
wait_until 20 "bastiond on the bus" c busctl status org.bastion.Bastion1
out="$(c runuser -u bastion-alice -- bastionctl reload 2>&1)" || fail "a bastion-admin member was refused after install.sh: $out"
c journalctl --no-pager -o cat -u dbus.service -b | grep -i "unknown group" && fail "dbus-daemon dropped a rule: Unknown group"
c systemctl disable --now bastion.service >/dev/null 2>&1
ok

printf '# the container ran %ds\n' "$((SECONDS - started))"
