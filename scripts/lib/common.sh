# shellcheck shell=bash
# Shared by the scripts in scripts/: messages, the repository root, the .NET SDK, waiting with a timeout.
# Sourced, never executed. Callers run with `set -euo pipefail`.

BASTION_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export BASTION_REPO

# No telemetry, no banner, no first-run experience: CI has no stdin and must not wait or phone home.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_GENERATE_ASPNET_CERTIFICATE=false

# "[script] message" on stderr, so stdout stays for results a caller may parse.
log() { printf '[%s] %s\n' "${BASTION_SCRIPT:-$(basename "$0")}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 needs root (run it with sudo)"
}

# Puts the .NET SDK on PATH if it is installed where Microsoft's packages put it but not linked.
# The SDK is not an apt package here: the machine image provides it (global.json pins the version).
ensure_dotnet() {
    if ! command -v dotnet >/dev/null 2>&1; then
        local d
        for d in /usr/share/dotnet /usr/lib/dotnet "$HOME/.dotnet"; do
            if [[ -x $d/dotnet ]]; then
                export DOTNET_ROOT="$d" PATH="$d:$PATH"
                break
            fi
        done
    fi
    command -v dotnet >/dev/null 2>&1 ||
        die "the .NET SDK is not installed (need the version in global.json, e.g. under /usr/share/dotnet)"
    # Run inside the repository so global.json decides; a missing SDK version fails here, clearly.
    local out
    if ! out="$(cd "$BASTION_REPO" && dotnet --version 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "the .NET SDK required by $BASTION_REPO/global.json is not installed (installed: $(dotnet --list-sdks 2>/dev/null | tr '\n' ' '))"
    fi
}

# wait_for TIMEOUT_SECONDS DESCRIPTION COMMAND [ARGS...]
# Polls COMMAND every 0.1 s until it succeeds; returns 1 (after a message) when the time is up.
# If WAIT_FOR_PID is set and that process dies first, gives up at once: no point waiting for a dead daemon.
wait_for() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        if [[ -n ${WAIT_FOR_PID:-} ]] && ! kill -0 "$WAIT_FOR_PID" 2>/dev/null; then
            log "gave up waiting for $what: process $WAIT_FOR_PID exited"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.1
    done
}

# True when nothing listens on 127.0.0.1:PORT (or on a wildcard address with that port).
tcp_port_free() {
    [[ -z $(ss -Hltn "sport = :$1") ]]
}

# stop_pid PID NAME [GRACE_SECONDS]: SIGTERM to PID alone, then SIGKILL to its whole process group.
# Only ever for processes this script started with setsid (so PID is also their process group id). Like
# systemd's KillMode=mixed: the process gets to stop its own children in order; whatever is left of the
# group when it exits, or when the grace period is over, is killed.
stop_pid() {
    local pid=$1 name=$2 grace=${3:-10}
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + grace))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && log "$name (pid $pid) did not stop within ${grace}s of SIGTERM: SIGKILL"
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# resolve_binaries: sets BASTIOND and BASTIONCTL.
# Given binaries win (BASTIOND, BASTIONCTL, or BASTION_BIN_DIR: what tests pass, so the binaries under test
# are the ones used) and are never rebuilt. Otherwise artifacts/bin, published again by scripts/build.sh
# when missing or older than a source file.
resolve_binaries() {
    if [[ -n ${BASTIOND:-}${BASTIONCTL:-}${BASTION_BIN_DIR:-} ]]; then
        local dir=${BASTION_BIN_DIR:-$BASTION_REPO/artifacts/bin}
        BASTIOND=${BASTIOND:-$dir/bastiond}
        BASTIONCTL=${BASTIONCTL:-$dir/bastionctl}
    else
        BASTIOND=$BASTION_REPO/artifacts/bin/bastiond
        BASTIONCTL=$BASTION_REPO/artifacts/bin/bastionctl
        if build_is_stale; then
            log "artifacts/bin is missing or older than the sources: building"
            "$BASTION_REPO/scripts/build.sh" >/dev/null
        fi
    fi
    local b
    for b in "$BASTIOND" "$BASTIONCTL"; do
        [[ -x $b ]] || die "$b is missing or not executable (scripts/build.sh publishes it)"
    done
}

build_is_stale() {
    local stamp=$BASTION_REPO/artifacts/bin/.build-stamp
    [[ -f $stamp && -x $BASTIOND && -x $BASTIONCTL ]] || return 0
    local newer
    newer="$(cd "$BASTION_REPO" && find src Directory.Build.props Directory.Packages.props global.json \
        \( -name bin -o -name obj \) -prune -o -type f -newer "$stamp" -print -quit)"
    [[ -n $newer ]]
}
