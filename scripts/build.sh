#!/usr/bin/env bash
# Publishes bastiond and bastionctl (Release, framework-dependent) into artifacts/bin/.
# Both apps go to the same folder: they share Bastion.Core.dll and the same runtime.
set -euo pipefail
BASTION_SCRIPT=build
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

ensure_dotnet
out="$BASTION_REPO/artifacts/bin"
# Start clean: publishing over an old folder would keep DLLs that are no longer dependencies.
rm -rf "$out"
mkdir -p "$out"
cd "$BASTION_REPO"
for project in src/Bastion.Daemon src/Bastion.Cli; do
    log "dotnet publish $project"
    dotnet publish "$project" -c Release -o "$out" --nologo --verbosity quiet
done
# The lab and the benchmark rebuild when a source file is newer than this stamp.
touch "$out/.build-stamp"
log "published to $out:"
ls -l "$out/bastiond" "$out/bastionctl" >&2
echo "$out"
