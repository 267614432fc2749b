#!/usr/bin/env bash
# Installs what is missing, then builds everything and runs every test except
# benchmarks. GPU tests skip themselves, with a reason, where there is no GPU.
# Extra arguments go to `bazel test` (e.g. a target pattern).
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || exit 1

targets=("$@")
(( ${#targets[@]} )) || targets=(//...)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel test "${targets[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# One closing line a reader (or CI) can take in at a glance.
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD|INCOMPLETE)' "$log")
echo "${passed} passed, ${failed} failed"
if (( status != 0 )) && (( failed == 0 )); then
  echo "test.sh: bazel exited with status ${status}" >&2
fi
exit "$status"
