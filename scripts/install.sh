#!/usr/bin/env bash
# Installs Bastion on this server: publishes the binaries and installs
#   /usr/local/lib/bastion/             bastiond, bastionctl (NativeAOT executables: no .NET runtime needed)
#   /usr/local/bin/bastionctl           -> /usr/local/lib/bastion/bastionctl
#   /usr/local/sbin/bastiond            -> /usr/local/lib/bastion/bastiond (for --check-config)
#   /etc/systemd/system/bastion.service
#   /etc/dbus-1/system.d/org.bastion.Bastion1.conf   the D-Bus policy; and the group bastion-admin it names
#   /etc/bastion/bastion.yaml           a minimal config, only if there is none (yours is never replaced)
#   /usr/local/share/doc/bastion/README.md
# It does not enable or restart the service: it prints the commands. Tests never run this script.
# DESTDIR=/some/dir installs under that directory instead (staging; no systemctl).
set -euo pipefail
BASTION_SCRIPT=install
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

case "${1:-}" in
    "") ;;
    -h | --help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (try --help)" ;;
esac
require_root "installing into /usr/local, /etc/bastion and /etc/systemd/system"

dest=${DESTDIR:-}
lib=$dest/usr/local/lib/bastion
config=$dest/etc/bastion/bastion.yaml

"$BASTION_REPO/scripts/build.sh" >/dev/null
bin=$BASTION_REPO/artifacts/bin

# The config the service will run with: the existing one, or the minimal one written below.
new_config=''
if [[ ! -f $config ]]; then
    new_config="$(mktemp)"
    trap 'rm -f "$new_config"' EXIT
    cat >"$new_config" <<'YAML'
# Bastion configuration. Check it with: bastiond --check-config --config /etc/bastion/bastion.yaml
# Apply changes with: systemctl reload bastion (a config that fails validation is refused; the last
# good one keeps running and the errors show in `systemctl status bastion` and the journal).
# Relative paths resolve against this file's directory.

paths:
  stateDir: /var/lib/bastion   # keys; private (0700)
  runtimeDir: /run/bastion     # status.json, sockets

checks:
  # Is the local sshd answering? (The emergency desktop will use this to decide when to come up.)
  - name: sshd
    endpoint: 127.0.0.1:22
    expect: "SSH-2.0-"
YAML
fi

# Refuse to install a daemon that would refuse its config: check with the new binary first.
log "checking ${new_config:+the new }config with the new bastiond"
if ! "$bin/bastiond" --check-config --config "${new_config:-$config}"; then
    die "the config does not pass --check-config with the new version: fix it (errors above), then run this again"
fi

# Swap the whole directory, so a running daemon never sees a half-copied set of libraries.
log "installing binaries into $lib"
mkdir -p "$(dirname "$lib")"
rm -rf "$lib.new" "$lib.old"
cp -a "$bin" "$lib.new"
rm -f "$lib.new/.build-stamp"
if [[ -d $lib ]]; then mv "$lib" "$lib.old"; fi
mv "$lib.new" "$lib"
rm -rf "$lib.old"

install -d -m 0755 "$dest/usr/local/bin" "$dest/usr/local/sbin"
ln -sfn /usr/local/lib/bastion/bastionctl "$dest/usr/local/bin/bastionctl"
ln -sfn /usr/local/lib/bastion/bastiond "$dest/usr/local/sbin/bastiond"
install -D -m 0644 "$BASTION_REPO/systemd/bastion.service" "$dest/etc/systemd/system/bastion.service"
install -D -m 0644 "$BASTION_REPO/README.md" "$dest/usr/local/share/doc/bastion/README.md"
# The full systemd sandbox, not active: it would confine the emergency desktop's session too (see the file). For
# machines that leave vnc.mode off; installing it is the admin's choice (printed below).
install -D -m 0644 "$BASTION_REPO/systemd/bastion-hardening.conf" "$dest/usr/local/share/doc/bastion/bastion-hardening.conf"
# D-Bus policy: only root owns org.bastion.Bastion1; root and the group bastion-admin may restart and reload; everyone may
# read the status. dbus-daemon notices new files in system.d by itself.
install -D -m 0644 "$BASTION_REPO/systemd/org.bastion.Bastion1.conf" "$dest/etc/dbus-1/system.d/org.bastion.Bastion1.conf"
if [[ -z $dest ]] && ! getent group bastion-admin >/dev/null; then
    groupadd --system bastion-admin
    log "created the group bastion-admin (may restart components and reload over D-Bus): usermod -aG bastion-admin NAME"
fi
install -d -m 0755 "$dest/etc/bastion"
if [[ -n $new_config ]]; then
    install -m 0644 "$new_config" "$config"
    log "wrote a minimal $config"
else
    log "kept the existing $config"
fi

if [[ -z $dest ]]; then
    # The daemon runs without this shell's environment: make sure it starts with an empty one.
    env -i /usr/local/lib/bastion/bastiond --version >/dev/null ||
        die "the installed bastiond does not start with an empty environment (a --jit build needs the .NET 10 runtime in /usr/share/dotnet)"
    if [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
    fi
fi

cat <<TEXT
Installed bastiond $("$lib/bastiond" --version 2>/dev/null || true) into $lib.
  start now and at boot:   systemctl enable --now bastion
  after an upgrade:        systemctl restart bastion
  status:                  bastionctl status    (or: systemctl status bastion)
  let an admin restart/reload: usermod -aG bastion-admin NAME   (root always may)
  without the emergency desktop (vnc.mode off), the full sandbox:
    install -D -m 0644 /usr/local/share/doc/bastion/bastion-hardening.conf /etc/systemd/system/bastion.service.d/hardening.conf
TEXT
