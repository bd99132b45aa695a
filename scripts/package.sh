#!/usr/bin/env bash
# Makes the Debian package artifacts/bastion_<version>_amd64.deb from the NativeAOT binaries in artifacts/bin
# (scripts/build.sh makes them), then runs lintian on it (errors fail; warnings are printed). The server needs no .NET.
#   bastiond -> /usr/sbin, bastionctl -> /usr/bin, the unit -> /lib/systemd/system, the D-Bus policy ->
#   /usr/share/dbus-1/system.d, a minimal config -> /etc/bastion/bastion.yaml (a conffile: your edits survive upgrades),
#   README, the full example config and the hardening drop-in -> /usr/share/doc/bastion.
# Maintainer scripts: the group bastion-admin is created before the policy naming it is unpacked (preinst), dbus is
# reloaded, the unit is enabled and started the Debian way (deb-systemd-helper/-invoke, so policy-rc.d is obeyed);
# purge removes /var/lib/bastion and /run/bastion.
#   scripts/package.sh [--bin DIR] [--out DIR] [--no-lintian]   prints the path of the .deb on stdout
#     --bin: the binaries (default artifacts/bin); --out: where the .deb goes (default artifacts)
set -euo pipefail
BASTION_SCRIPT=package
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

bin=$BASTION_REPO/artifacts/bin
out=$BASTION_REPO/artifacts
lint=1
while (($# > 0)); do
    case "$1" in
        --bin) [[ $# -ge 2 ]] || die "--bin needs a DIR"; bin=$2; shift 2 ;;
        --out) [[ $# -ge 2 ]] || die "--out needs a DIR"; out=$2; shift 2 ;;
        --no-lintian) lint=0; shift ;;
        -h | --help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
done

for program in bastiond bastionctl; do
    [[ -x $bin/$program ]] || die "$bin/$program is missing: run scripts/build.sh first"
done
[[ ! -e $bin/bastiond.dll ]] || die "$bin holds a --jit build (it needs the .NET runtime): run scripts/build.sh without --jit"
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (scripts/install-deps.sh installs it)"

version="$("$bin/bastiond" --version | awk '{print $2}')"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read the version from '$bin/bastiond --version'"
arch=amd64
name=bastion_${version}_$arch
mkdir -p "$out"
out="$(cd "$out" && pwd)"
staging=$(mktemp -d "$out/.deb-staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
stage=$staging/$name
mkdir -p "$stage/DEBIAN"

# put MODE SOURCE PATH-IN-PACKAGE
put() { install -D -m "$1" "$2" "$stage/$3"; }
put 0755 "$bin/bastiond" usr/sbin/bastiond
put 0755 "$bin/bastionctl" usr/bin/bastionctl
put 0644 "$BASTION_REPO/systemd/bastion.service" lib/systemd/system/bastion.service
put 0644 "$BASTION_REPO/systemd/org.bastion.Bastion1.conf" usr/share/dbus-1/system.d/org.bastion.Bastion1.conf
put 0644 "$BASTION_REPO/config/bastion.default.yaml" etc/bastion/bastion.yaml
doc=usr/share/doc/bastion
put 0644 "$BASTION_REPO/README.md" $doc/README.md
put 0644 "$BASTION_REPO/config/bastion.example.yaml" $doc/examples/bastion.example.yaml
put 0644 "$BASTION_REPO/systemd/bastion-hardening.conf" $doc/bastion-hardening.conf
gzip -9n "$stage/$doc/README.md"

cat >"$stage/$doc/copyright" <<'TEXT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: bastion
Comment: bastiond and bastionctl are NativeAOT executables: they contain the .NET runtime libraries and the
 NuGet packages pinned in Directory.Packages.props of the source (Microsoft.Extensions.*, Serilog, YamlDotNet,
 SSH.NET, System.CommandLine, BouncyCastle), each under its own license (MIT, Apache-2.0).

Files: *
Copyright: 2026 The Bastion authors
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
 documentation files (the "Software"), to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
 permit persons to whom the Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or substantial portions of
 the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
 THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.
TEXT
# The date of the newest commit, not now: the same tree packs into the same changelog.
date_rfc2822="$(git -C "$BASTION_REPO" log -1 --format=%aD 2>/dev/null || date -R)"
printf 'bastion (%s) unstable; urgency=medium\n\n  * Built from the Bastion source tree by scripts/package.sh.\n\n -- Bastion maintainers <maintainers@bastion-project.org>  %s\n' \
    "$version" "$date_rfc2822" | gzip -9n >"$stage/$doc/changelog.gz"

# NativeAOT links the runtime's compression library (zlib) into each executable; there is no shared libz to use
# instead. Said once here rather than silenced everywhere.
mkdir -p "$stage/usr/share/lintian/overrides"
cat >"$stage/usr/share/lintian/overrides/bastion" <<'TEXT'
# NativeAOT executables carry the .NET runtime's own statically linked zlib (System.IO.Compression.Native).
bastion: embedded-library zlib [usr/bin/bastionctl]
bastion: embedded-library zlib [usr/sbin/bastiond]
TEXT
chmod 0644 "$stage/usr/share/lintian/overrides/bastion"

# The executables link only libc and libm (readelf -d); libssl (TLS, SSH) is loaded at run time with dlopen, so it
# is named here rather than found by dpkg-shlibdeps (D-Bus is managed code, sd_notify a datagram: no libsystemd).
# passwd: groupadd.
depends='libc6 (>= 2.34), libssl3, passwd'
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<TEXT
Package: bastion
Version: $version
Architecture: $arch
Maintainer: Bastion maintainers <maintainers@bastion-project.org>
Installed-Size: $installed_size
Depends: $depends
Recommends: dbus, openssh-server
Suggests: tor, tigervnc-standalone-server, xterm, xfonts-base, xauth
Section: admin
Priority: optional
Homepage: https://localhost/bastion
Description: out-of-band access daemon for a server whose normal way in is broken
 bastiond keeps SSH tunnels alive, publishes sshd as a Tor onion service through
 a tor it manages, supervises an emergency VNC desktop behind its own mutual-TLS
 endpoint and reports through sd_notify, D-Bus and bastionctl. It is configured
 by one YAML file, /etc/bastion/bastion.yaml.
TEXT
echo /etc/bastion/bastion.yaml >"$stage/DEBIAN/conffiles"

# preinst: the group exists before dpkg unpacks the D-Bus policy naming it (dbus-daemon rereads system.d as soon as
# a file appears there and drops a rule naming an unknown group).
cat >"$stage/DEBIAN/preinst" <<'SH'
#!/bin/sh
set -e
case "$1" in
    install | upgrade)
        if ! getent group bastion-admin >/dev/null; then
            groupadd --system bastion-admin
        fi
        ;;
esac
exit 0
SH

cat >"$stage/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
case "$1" in
    configure | abort-upgrade | abort-deconfigure | abort-remove)
        if ! getent group bastion-admin >/dev/null; then
            groupadd --system bastion-admin
        fi
        # The policy must be in force before bastiond asks for its name (the dbus trigger would run later).
        if command -v dbus-send >/dev/null && [ -S /run/dbus/system_bus_socket ]; then
            dbus-send --system --type=method_call --dest=org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus.ReloadConfig >/dev/null 2>&1 || true
        fi
        # Enabled on a new install; an admin's disable survives upgrades (deb-systemd-helper keeps that state).
        deb-systemd-helper unmask bastion.service >/dev/null || true
        if deb-systemd-helper --quiet was-enabled bastion.service; then
            deb-systemd-helper enable bastion.service >/dev/null || true
        else
            deb-systemd-helper update-state bastion.service >/dev/null || true
        fi
        if [ -d /run/systemd/system ]; then
            systemctl --system daemon-reload >/dev/null || true
            if [ -n "$2" ]; then action=restart; else action=start; fi
            # deb-systemd-invoke obeys policy-rc.d.
            deb-systemd-invoke "$action" bastion.service >/dev/null || true
        fi
        ;;
esac
exit 0
SH

cat >"$stage/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    deb-systemd-invoke stop bastion.service >/dev/null || true
fi
exit 0
SH

cat >"$stage/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
case "$1" in
    remove)
        if command -v deb-systemd-helper >/dev/null; then
            deb-systemd-helper mask bastion.service >/dev/null || true
        fi
        ;;
    purge)
        if command -v deb-systemd-helper >/dev/null; then
            deb-systemd-helper purge bastion.service >/dev/null || true
            deb-systemd-helper unmask bastion.service >/dev/null || true
        fi
        # The state: the CA, onion service keys, the generated VNC password. The group bastion-admin stays (as
        # Debian does with system groups): members may still be listed in it and files may carry it.
        rm -rf /var/lib/bastion /run/bastion
        rmdir /etc/bastion 2>/dev/null || true
        ;;
esac
exit 0
SH
chmod 0755 "$stage/DEBIAN/preinst" "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

deb=$out/$name.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
log "built $deb ($(du -h "$deb" | cut -f1))"

if ((lint)); then
    command -v lintian >/dev/null || die "lintian is missing (scripts/install-deps.sh installs it)"
    # Errors fail the build; warnings and info are shown. Run as root here: lintian only refuses that with --allow-root.
    if ! lintian --allow-root --fail-on error --tag-display-limit 0 "$deb" >&2; then
        die "lintian reported errors in $deb (above)"
    fi
fi
echo "$deb"
