#!/usr/bin/env bash
# The one command that runs every test: installs what is missing, publishes the binaries, runs all test
# projects against them and ends with one line, e.g. "153 passed, 0 failed, 0 skipped".
# Exits non-zero if a test failed, if any was skipped (a skipped test is not a passing one), if no test
# ran at all, or if a test project produced no results. A test hung for 5 minutes is dumped and fails.
# Extra arguments go to `dotnet test` (e.g. --filter FullyQualifiedName~Lab).
set -euo pipefail
BASTION_SCRIPT="test"
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

"$BASTION_REPO/scripts/install-deps.sh"
"$BASTION_REPO/scripts/build.sh" >/dev/null
# Integration tests start these published binaries (tests/Bastion.IntegrationTests/Infrastructure/Binaries.cs).
export BASTION_BIN_DIR="$BASTION_REPO/artifacts/bin"

cd "$BASTION_REPO"
mapfile -t projects < <(grep -l '<IsTestProject>true</IsTestProject>' tests/*/*.csproj | sort)
((${#projects[@]} > 0)) || die "no test project under tests/"
# Each project writes tests/<project>/TestResults/results.trx (and any hang dump) into its own folder, so
# every project's results are found by name and a project that reported nothing is noticed.
for project in "${projects[@]}"; do rm -rf "$(dirname "$project")/TestResults"; done
mkdir -p artifacts
test_log="$BASTION_REPO/artifacts/dotnet-test.log"

log "dotnet test Bastion.sln -c Release"
rc=0
dotnet test Bastion.sln -c Release --nologo \
    --logger "trx;LogFileName=results.trx" \
    --logger "console;verbosity=normal" \
    --blame-hang-timeout "${BASTION_TEST_HANG_TIMEOUT:-5m}" --blame-hang-dump-type mini \
    "$@" 2>&1 | tee "$test_log" || rc=$?

# Counters of every TRX. A skipped test counts in total but not in executed (its outcome is NotExecuted);
# failed = executed but not passed (failed, error, timeout, aborted…): no outcome slips through as a pass.
total=0 passed=0 skipped=0
problems=()
((rc == 0)) || problems+=("dotnet test exited with code $rc")
for project in "${projects[@]}"; do
    trx="$(dirname "$project")/TestResults/results.trx"
    if [[ ! -f $trx ]]; then
        problems+=("$(basename "$project" .csproj) produced no results (build failure or test host crash?)")
        continue
    fi
    counters="$(grep -o '<Counters [^>]*>' "$trx" | head -1)"
    count() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
    t="$(count total)" e="$(count executed)" p="$(count passed)"
    if [[ -z $t || -z $e || -z $p ]]; then
        problems+=("$trx has no readable counters")
        continue
    fi
    total=$((total + t)) passed=$((passed + p)) skipped=$((skipped + t - e))
done
# A test that hung (killed by --blame-hang-timeout) or crashed its host is in no counter: vstest names it
# after "The test(s) running when the crash occurred:". It counts as failed.
mapfile -t crashed < <(awk '/running when the crash occurred:/{on=1; next} on && /^[[:space:]]*$/{on=0} on{print}' "$test_log")
failed=$((total - passed - skipped + ${#crashed[@]}))

((total > 0)) || problems+=("no test ran")
((failed == 0)) || problems+=("$failed failed")
((${#crashed[@]} == 0)) || problems+=("hung or crashed: ${crashed[*]}")
((skipped == 0)) || problems+=("$skipped skipped (skipping is not passing: fix or delete the test)")

if ((${#problems[@]} > 0)); then
    echo
    echo "===== FAILED"
    printf '  - %s\n' "${problems[@]}"
    # The failed tests again, with their messages and output, so they are next to the verdict.
    awk '/^  Failed /{on=1} /^  (Passed|Skipped) |^\[xUnit|^Data collector|^Results File|^Test Run/{on=0} on' "$test_log"
    grep -E '^  Skipped ' "$test_log" || true
    find tests -path '*/TestResults/*' \( -name 'Sequence_*.xml' -o -name '*.dmp' \) -printf 'hang/crash evidence: %p\n'
    echo "full log: $test_log; results: tests/*/TestResults/results.trx"
fi
echo "$passed passed, $failed failed, $skipped skipped"
((${#problems[@]} == 0))
