#!/usr/bin/env bash
# Installs Bastion from a source tree onto this server. (The usual way is the Debian package: scripts/package.sh
# makes artifacts/bastion_<version>_amd64.deb; `apt install ./bastion_*.deb`.) Installs
#   /usr/local/sbin/bastiond, /usr/local/bin/bastionctl   the NativeAOT executables (no .NET needed on the server)
#   /etc/systemd/system/bastion.service                  systemd/bastion.service, starting /usr/local/sbin/bastiond
#   the group bastion-admin, then /etc/dbus-1/system.d/org.bastion.Bastion1.conf (the D-Bus policy naming it)
#   /etc/bastion/bastion.yaml                            a minimal config, only if there is none (yours is kept)
#   /usr/local/share/doc/bastion/                        README.md, the example config, the hardening drop-in
# It does not build: it installs the binaries in artifacts/bin, which `scripts/build.sh` makes (as yourself, on any
# machine with the .NET SDK; copy the tree over). Nor does it enable or restart the service: it prints the commands.
#   scripts/install.sh [--bin DIR]     DIR: where bastiond and bastionctl are (default: artifacts/bin)
# DESTDIR=/some/dir installs under that directory instead (staging: no group, no systemctl, no dbus reload).
set -euo pipefail
BASTION_SCRIPT=install
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

bin=$BASTION_REPO/artifacts/bin
while (($# > 0)); do
    case "$1" in
        --bin) [[ $# -ge 2 ]] || die "--bin needs a DIR"; bin=$2; shift 2 ;;
        -h | --help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
done
require_root "installing into /usr/local, /etc/bastion and /etc/systemd/system"

dest=${DESTDIR:-}
config=$dest/etc/bastion/bastion.yaml
policy_dir=$dest/etc/dbus-1/system.d
doc=$dest/usr/local/share/doc/bastion

# The binaries: NativeAOT executables built beforehand. Building here would need the SDK on the server, take minutes,
# leave build servers running as root and root-owned files in the tree.
for program in bastiond bastionctl; do
    [[ -f $bin/$program && -x $bin/$program ]] ||
        die "$bin/$program is missing: build it first, as yourself, with scripts/build.sh (needs the .NET SDK; any machine will do), or install the Debian package"
done
if [[ -e $bin/bastiond.dll ]]; then
    die "$bin holds a --jit build (it would need the .NET runtime on this server): run scripts/build.sh without --jit"
fi
if [[ -f $bin/.build-stamp ]] && [[ -n $(find "$BASTION_REPO/src" -name '*.cs' -newer "$bin/.build-stamp" -print -quit) ]]; then
    log "note: sources changed after the last build of $bin; installing that build anyway (scripts/build.sh to refresh)"
fi

# install_file MODE SOURCE TARGET: owned by root, written under a temporary name in the target's directory and renamed
# over the target, so nobody (a running daemon, dbus-daemon watching system.d, systemd) ever sees half a file or a
# file whose mode is not final yet. The temporary name does not end in .conf/.service: nothing picks it up.
install_file() {
    local mode=$1 source=$2 target=$3 tmp
    install -d -m 0755 -o root -g root "$(dirname "$target")"
    tmp="$(dirname "$target")/.$(basename "$target").new-$$"
    install -m "$mode" -o root -g root "$source" "$tmp"
    mv -f "$tmp" "$target"
}

# The config the service will run with: the existing one, or the minimal one.
new_config=''
if [[ ! -f $config ]]; then
    new_config=$BASTION_REPO/config/bastion.default.yaml
fi
# Refuse to install a daemon that would refuse its config: check with the new binary first.
log "checking ${new_config:+the new }config with the new bastiond"
if ! "$bin/bastiond" --check-config --config "${new_config:-$config}"; then
    die "the config does not pass --check-config with the new version: fix it (errors above), then run this again"
fi

log "installing bastiond into $dest/usr/local/sbin and bastionctl into $dest/usr/local/bin"
install_file 0755 "$bin/bastiond" "$dest/usr/local/sbin/bastiond"
install_file 0755 "$bin/bastionctl" "$dest/usr/local/bin/bastionctl"
# Earlier versions installed /usr/local/lib/bastion with links to it (the renames above replaced the links).
if [[ -d $dest/usr/local/lib/bastion && -f $dest/usr/local/lib/bastion/bastiond ]]; then
    rm -rf "$dest/usr/local/lib/bastion"
fi

unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed -e 's#^ExecStart=/usr/sbin/bastiond #ExecStart=/usr/local/sbin/bastiond #' \
    -e 's#^Documentation=file:/usr/share/doc/bastion/#Documentation=file:/usr/local/share/doc/bastion/#' \
    "$BASTION_REPO/systemd/bastion.service" >"$unit"
grep -q '^ExecStart=/usr/local/sbin/bastiond ' "$unit" || die "systemd/bastion.service: no ExecStart=/usr/sbin/bastiond line to adapt"
install_file 0644 "$unit" "$dest/etc/systemd/system/bastion.service"
install_file 0644 "$BASTION_REPO/README.md" "$doc/README.md"
install_file 0644 "$BASTION_REPO/config/bastion.example.yaml" "$doc/examples/bastion.example.yaml"
# The full systemd sandbox, not active: it would confine the emergency desktop's session too (see the file). For
# machines that leave vnc.mode off; installing it is the admin's choice (printed below).
install_file 0644 "$BASTION_REPO/systemd/bastion-hardening.conf" "$doc/bastion-hardening.conf"

# D-Bus: the group first, then the policy that names it. dbus-daemon reloads as soon as a file appears in system.d;
# a rule naming a group that does not exist yet is dropped ("Unknown group") until the next reload.
if [[ -z $dest ]] && ! getent group bastion-admin >/dev/null; then
    groupadd --system bastion-admin
    log "created the group bastion-admin (may restart components and reload over D-Bus): usermod -aG bastion-admin NAME"
fi
install_file 0644 "$BASTION_REPO/systemd/org.bastion.Bastion1.conf" "$policy_dir/org.bastion.Bastion1.conf"
if [[ -z $dest ]] && [[ -d /run/systemd/system ]] && systemctl -q is-active dbus.service; then
    # Explicitly, not only through inotify: the policy must be in force before bastiond asks for its name.
    systemctl reload dbus.service || log "warning: systemctl reload dbus failed; run it before starting bastion"
fi

if [[ -n $new_config ]]; then
    install -d -m 0755 -o root -g root "$dest/etc/bastion"
    install_file 0644 "$new_config" "$config"
    log "wrote a minimal $config"
else
    log "kept the existing $config"
fi

if [[ -z $dest ]]; then
    # The daemon runs without this shell's environment: make sure it starts with an empty one.
    env -i /usr/local/sbin/bastiond --version >/dev/null ||
        die "the installed bastiond does not start with an empty environment"
    if [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
    fi
fi

cat <<TEXT
Installed bastiond $("$dest/usr/local/sbin/bastiond" --version 2>/dev/null || true).
  start now and at boot:   systemctl enable --now bastion
  after an upgrade:        systemctl restart bastion
  status:                  bastionctl status    (or: systemctl status bastion)
  let an admin restart/reload: usermod -aG bastion-admin NAME   (root always may)
  without the emergency desktop (vnc.mode off), the full sandbox:
    install -D -m 0644 /usr/local/share/doc/bastion/bastion-hardening.conf /etc/systemd/system/bastion.service.d/hardening.conf
TEXT
