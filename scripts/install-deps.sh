#!/usr/bin/env bash
# Installs what building, testing and the lab need: Debian packages (for this and later issues) and the
# NuGet packages of the solution. Idempotent: when everything is present it only checks and restores.
#
#   scripts/install-deps.sh                 apt packages (only if missing) + dotnet restore
#   scripts/install-deps.sh --system-only   apt packages only (the lab uses this while tests build)
#
# Meant for development, CI and lab machines, not for the server Bastion protects (see scripts/install.sh):
# it leaves /usr/sbin/policy-rc.d in place so that packages shipping a service (ssh, tor, dbus, stunnel4, nats-server)
# are installed but never started by apt. Tests and the lab start their own private instances.
set -euo pipefail
BASTION_SCRIPT=install-deps
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

restore=1
case "${1:-}" in
    "") ;;
    --system-only) restore=0 ;;
    -h | --help)
        sed -n '2,11s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *) die "unknown option '$1' (try --help)" ;;
esac

# Every Debian package the project uses, with what for. Names checked with apt-cache on Debian 12.
packages=(
    openssh-server openssh-client # private sshd for tests, the lab and the benchmark; ssh-keygen, ssh-keyscan
    tor                           # onion services (tor, tor-gencert); only ever on a private test network here
    dbus                          # dbus-daemon (private buses in the D-Bus tests), dbus-monitor; busctl comes with systemd
    libglib2.0-bin                # gdbus: a second, independent D-Bus client in the tests (prints error names)
    python3-dbus                  # scripts/bench/dbus-status.sh: an in-process D-Bus client for round-trip timing
    tigervnc-standalone-server    # Xvnc, the emergency desktop (later issue)
    tigervnc-viewer               # vncviewer, to look at the desktop by hand
    gvncviewer                    # gvnccapture: screenshots of the desktop in tests (Debian ships it in gvncviewer)
    xfonts-base xauth             # Xvnc and xterm need core fonts; xauth for the X cookie (recommends we skip)
    xterm                         # default session terminal of the emergency desktop
    fonts-dejavu-core             # its scalable font (DejaVu Sans Mono, sized to the geometry)
    x11-utils                     # xwininfo: tests check that the console fills the screen
    xvfb                          # a throwaway X server for viewer tests
    ssvnc stunnel4                # TLS-wrapped VNC from the admin's side
    socat netcat-openbsd          # sd_notify receiver in the lab, TCP/unix plumbing in tests
    testssl.sh sslscan nmap       # audits of the mutual-TLS endpoint
    jq                            # reading status.json in the lab
    shellcheck                    # lints these scripts (a test runs it)
    systemd                       # systemd-analyze verify (already part of Debian)
    procps iproute2               # ps, pgrep -P; ss (is a port free?)
    clang zlib1g-dev              # NativeAOT: the compiler driver and linker, and libz, for scripts/build.sh
    lintian                       # scripts/package.sh checks the .deb with it (errors fail)
    util-linux                    # unshare, nsenter: the real-systemd test's private mount namespace and commands
    prometheus                    # a private Prometheus scrapes bastiond in the metrics tests; promtool checks rules
    prometheus-node-exporter      # scripts/bench/metrics.sh: node_exporter's /metrics as the reference scrape
    curl                          # scrapes /metrics in scripts/lab.sh and scripts/bench/metrics.sh
    nats-server                   # a private NATS broker with JetStream for the fleet tests (ships a service: never started)
)
# systemd-nspawn boots a real systemd as PID 1 for the real-systemd test (tests/.../Systemd/RealSystemdTests.cs).
# It must be the version of the installed systemd: a newer systemd-container would upgrade libsystemd-shared
# under the running system. Installed below with that version pinned.
# Installed when this Debian release has them (bookworm ships vncpasswd in tigervnc-tools).
optional_packages=(tigervnc-tools)

missing_packages() {
    local p status
    for p in "$@"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
        [[ $status == installed ]] || printf '%s\n' "$p"
    done
}

systemd_version="$(dpkg-query -W -f='${Version}' systemd)"
mapfile -t missing < <(missing_packages "${packages[@]}")
if [[ -n $(missing_packages systemd-container) ]]; then
    missing+=("systemd-container=$systemd_version")
elif [[ $(dpkg-query -W -f='${Version}' systemd-container) != "$systemd_version" ]]; then
    die "systemd-container $(dpkg-query -W -f='${Version}' systemd-container) does not match systemd $systemd_version: apt-get install systemd-container=$systemd_version"
fi
mapfile -t missing_optional < <(missing_packages "${optional_packages[@]}")

if ((${#missing[@]} + ${#missing_optional[@]} > 0)); then
    require_root "installing ${missing[*]} ${missing_optional[*]}"
    log "installing: ${missing[*]} ${missing_optional[*]}"

    # Never let apt start a service: a tor started by a postinst would join the public network.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d

    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    for p in "${missing_optional[@]}"; do
        if apt-cache show "$p" >/dev/null 2>&1; then
            missing+=("$p")
        else
            log "optional package $p does not exist in this release: skipped"
        fi
    done

    before="$(ps -eo pid= | sort -n)"
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >/dev/null

    # Check that policy-rc.d did its job: no daemon of these packages started by the install.
    # (Only new processes adopted by init count: a test's own sshd has its test as parent.)
    started=()
    while read -r pid ppid comm; do
        case "$comm" in
            sshd | tor | dbus-daemon | stunnel4 | stunnel | Xvnc | Xtigervnc | Xvfb | prometheus | prometheus-node* | nats-server) ;;
            *) continue ;;
        esac
        [[ $ppid == 1 ]] || continue
        grep -qx "$pid" <<<"$before" && continue
        started+=("$comm (pid $pid)")
    done < <(ps -eo pid=,ppid=,comm=)
    if ((${#started[@]} > 0)); then
        die "the install started services despite /usr/sbin/policy-rc.d: ${started[*]} — stop them (systemctl stop …) before going on"
    fi
    log "packages installed; no service was started"
else
    log "Debian packages: all present"
fi

if ((restore)); then
    ensure_dotnet
    log "dotnet restore Bastion.sln"
    (cd "$BASTION_REPO" && dotnet restore Bastion.sln --verbosity quiet)
fi
