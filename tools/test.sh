#!/usr/bin/env bash
# Installs what is missing, then builds everything and runs every test except
# benchmarks. GPU tests skip themselves, with a reason, where there is no GPU.
# Then, with no arguments, the checks of docs/reliability.md ("Fuzzing and sanitizers"):
#   - the CPU tests again under AddressSanitizer + UBSan (bazel test --config=asan //...);
#   - each fuzz target for FFTRAIN_FUZZ_SECONDS seconds (default 60; tools/fuzz.sh).
# Extra arguments go to `bazel test` (e.g. a target pattern), and then only that runs.
# FFTRAIN_QUICK=1 skips the sanitizer build and the fuzzers (for a quick local run; CI
# runs everything).
#
# The last line counts every part together: "N passed, N failed" (each Bazel test target
# once per configuration, each fuzzer once). The exit status is non-zero if any part
# failed.
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || exit 1

targets=("$@")
full=1
if (( ${#targets[@]} )) || [[ "${FFTRAIN_QUICK:-0}" == 1 ]]; then full=0; fi
(( ${#targets[@]} )) || targets=(//...)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
timings=()

# Runs one part, its output both shown and kept in $log for the count.
part() {
  local name="$1" start=$SECONDS rc
  shift
  "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  timings+=("$name $((SECONDS - start)) s (exit $rc)")
  if (( rc != 0 )); then
    status=$rc
    echo "test.sh: $name exited with status $rc" >&2
  fi
}

part "bazel test" bazel test "${targets[@]}"
if (( full )); then
  part "bazel test --config=asan" bazel test --config=asan //...
  part "tools/fuzz.sh" tools/fuzz.sh --seconds "${FFTRAIN_FUZZ_SECONDS:-60}"
fi

# One closing line a reader (or CI) can take in at a glance.
passed=$(grep -cE '^(//[^ ]+ +(\(cached\) )?PASSED|fuzz:[^ ]+ PASSED)' "$log")
failed=$(grep -cE '^(//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD|INCOMPLETE)|fuzz:[^ ]+ FAILED)' "$log")
(( full )) && printf 'test.sh: %s\n' "${timings[@]}"
echo "${passed} passed, ${failed} failed"
exit "$status"
