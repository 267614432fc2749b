#!/usr/bin/env bash
# Tests run_sanitizers.sh without a GPU, on stand-ins for nvidia-smi, compute-sanitizer and
# the kernel tests: a clean pass counts every (tool, test) run clean and exits 0; an error
# the tool reports, a failing test, a test that skips, a timeout and the budget each count
# as they should and fail the pass; the sweep setting reaches the tests; bad arguments and
# a missing GPU, sanitizer or test are refused.
# Usage (Bazel passes it): run_sanitizers_test.sh RUN_SANITIZERS
set -uo pipefail
script=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/run_sanitizers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_in() {  # FILE TEXT...
  local file=$1; shift
  for want in "$@"; do grep -qF -- "$want" "$file" || fail "'$want' missing: $(tail -n 30 "$file")"; done
}

bash -n "$script" || fail "bash -n"
bundle=$tmp/bundle fake=$tmp/fakebin
mkdir -p "$bundle/tests" "$fake"
cp "$script" "$bundle/run_sanitizers.sh"
echo 0123abc >"$bundle/COMMIT"

cat >"$fake/nvidia-smi" <<'STUB'
#!/usr/bin/env bash
(( ${FAKE_GPUS:-1} > 0 )) || exit 9
case "$*" in -L) echo "GPU 0: NVIDIA H200 (UUID: GPU-fake)" ;; *) echo "NVIDIA H200" ;; esac
STUB
# compute-sanitizer: runs the test after its options; FAKE_ERRORS=tool:test reports 3
# errors there (exit 86, as --error-exitcode asks).
cat >"$fake/compute-sanitizer" <<'STUB'
#!/usr/bin/env bash
[[ $1 == --version ]] && { echo "Compute Sanitizer Version 2099.1 (fake)"; exit 0; }
tool=""
while [[ $1 == --* ]]; do
  [[ $1 == --tool ]] && tool=$2
  [[ $1 == --tool || $1 == --leak-check || $1 == --error-exitcode ]] && shift
  shift
done
echo "$tool $(basename "$1") ${*:2} every=${FFTRAIN_SWEEP_EVERY:-unset}" >>"$FAKE_CALLS"
echo "========= COMPUTE-SANITIZER"
"$@"; rc=$?
if [[ ${FAKE_ERRORS:-} == "$tool:$(basename "$1")" ]]; then
  echo "========= Invalid __global__ read of size 4 bytes"
  # racecheck's summary line is its own (the real tool prints it instead of ERROR SUMMARY).
  if [[ $tool == racecheck ]]; then
    echo "========= RACECHECK SUMMARY: 3 hazards displayed (1 error, 2 warnings)"
  else
    echo "========= ERROR SUMMARY: 3 errors"
  fi
  exit 86
fi
if [[ $tool == racecheck ]]; then
  echo "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)"
  [[ -n ${FAKE_RACE_WARNINGS:-} ]] && { echo "========= RACECHECK SUMMARY: 2 hazards displayed (0 errors, 2 warnings)"; }
else
  echo "========= ERROR SUMMARY: 0 errors"
fi
exit "$rc"
STUB
for t in register_fft_kernels_test tf32x3_product_kernels_test cuda_fft_conv_test \
         cuda_tiled_conv_test gpu_reference_conv_test; do
  cat >"$bundle/tests/fftconv.$t" <<'STUB'
#!/usr/bin/env bash
me=$(basename "$0")
[[ ${FAKE_SLOW:-} == "$me" ]] && sleep 30
echo "[==========] Running 2 tests from 1 test suite."
if [[ ${FAKE_FAIL:-} == "$me" ]]; then
  echo "[  FAILED  ] 1 test, listed below:"; echo "[==========] 2 tests from 1 test suite ran. (1 ms total)"; exit 1
fi
echo "[==========] 2 tests from 1 test suite ran. (1 ms total)"
[[ ${FAKE_SKIP:-} == "$me" ]] && echo "[  SKIPPED ] 1 test, listed below:"
echo "[  PASSED  ] 2 tests."
STUB
  chmod +x "$bundle/tests/fftconv.$t"
done
chmod +x "$fake"/* "$bundle/run_sanitizers.sh"

run() {  # OUTPUT ARGS...: runs the script with the stand-ins; sets status
  local out=$1; shift
  : >"$tmp/calls"
  PATH="$fake:$PATH" FAKE_CALLS=$tmp/calls "$bundle/run_sanitizers.sh" "$@" >"$out" 2>&1
  status=$?
}

run "$tmp/clean"
(( status == 0 )) || fail "a clean pass exited $status"
expect_in "$tmp/clean" "GPU: NVIDIA H200; bundle commit 0123abc; Compute Sanitizer Version 2099.1" \
  "sanitizers: 20 clean, 0 with errors, 0 failed, 0 timed out, 0 not run (of 20 runs: 4 tools x 5 kernel tests, sweeps every 40th shape"
(( $(grep -c "clean" "$tmp/clean") == 21 )) || fail "20 clean runs expected: $(cat "$tmp/clean")"
expect_in "$tmp/calls" "memcheck fftconv.cuda_fft_conv_test --gtest_color=no --gtest_filter=Engines/*" \
  "synccheck fftconv.gpu_reference_conv_test" "racecheck fftconv.register_fft_kernels_test" "every=40"
grep -q "initcheck.*every=40" "$tmp/calls" || fail "initcheck did not run with the sweep setting"

FAKE_ERRORS=racecheck:fftconv.cuda_tiled_conv_test run "$tmp/errors" --tools "memcheck racecheck" --every 7
(( status == 1 )) || fail "an error report: exit $status, expected 1"
expect_in "$tmp/errors" "Invalid __global__ read" \
  "sanitizers: 9 clean, 1 with errors, 0 failed, 0 timed out, 0 not run (of 10 runs: 2 tools x 5 kernel tests, sweeps every 7th shape"
grep -qE "^racecheck +fftconv.cuda_tiled_conv_test +3 errors" "$tmp/errors" || fail "the run with errors: $(cat "$tmp/errors")"

# racecheck's warnings are findings too, even with no error and exit 0.
FAKE_RACE_WARNINGS=1 run "$tmp/warnings" --tools racecheck
(( status == 1 )) || fail "racecheck warnings: exit $status, expected 1"
expect_in "$tmp/warnings" "sanitizers: 0 clean, 5 with errors"
grep -qE "^racecheck +fftconv.register_fft_kernels_test +2 errors" "$tmp/warnings" || fail "warnings: $(cat "$tmp/warnings")"

FAKE_FAIL=fftconv.tf32x3_product_kernels_test run "$tmp/failing" --tools synccheck
(( status == 1 )) || fail "a failing test: exit $status"
expect_in "$tmp/failing" "sanitizers: 4 clean, 0 with errors, 1 failed"
FAKE_SKIP=fftconv.register_fft_kernels_test run "$tmp/skipping" --tools initcheck
(( status == 1 )) || fail "a skipping test: exit $status"
expect_in "$tmp/skipping" "sanitizers: 4 clean, 0 with errors, 1 failed"

FAKE_SLOW=fftconv.register_fft_kernels_test run "$tmp/slow" --tools memcheck --timeout 1 --budget 1
(( status == 1 )) || fail "a timeout: exit $status"
expect_in "$tmp/slow" "timed out"
grep -qE "sanitizers: 0 clean, 0 with errors, 0 failed, 1 timed out, 4 not run \(of 5 runs" "$tmp/slow" ||
  fail "timeout and budget: $(tail -n 3 "$tmp/slow")"

run "$tmp/bad_tool" --tools "memcheck leakcheck"
(( status == 2 )) && expect_in "$tmp/bad_tool" "unknown tool 'leakcheck'" || fail "a bad tool: exit $status"
run "$tmp/bad_every" --every 0
(( status == 2 )) && expect_in "$tmp/bad_every" "--every needs a positive integer, got '0'" || fail "--every 0: exit $status"
FAKE_GPUS=0 run "$tmp/no_gpu"
(( status == 1 )) && expect_in "$tmp/no_gpu" "no GPU here" || fail "no GPU: exit $status"
rm "$bundle/tests/fftconv.gpu_reference_conv_test"
run "$tmp/missing"
(( status == 1 )) && expect_in "$tmp/missing" "tests/fftconv.gpu_reference_conv_test is missing" || fail "a missing test: exit $status"

if (( failures )); then echo "$failures failure(s)" >&2; exit 1; fi
echo PASS
