#!/usr/bin/env bash
# Installs what is missing, then builds everything and runs every test except
# benchmarks. Then, with no arguments, the checks of docs/reliability.md ("Fuzzing and
# sanitizers") and the CPU-only build (docs/architecture.md):
#   - the CPU tests again under AddressSanitizer + UBSan (bazel test --config=asan //...);
#   - the tests again in the CPU-only build, with CUDA hidden (--config=cpu_only): a CPU
#     target that needs CUDA fails here;
#   - each fuzz target for FFTRAIN_FUZZ_SECONDS seconds (default 60; tools/fuzz.sh).
# Extra arguments go to `bazel test` (e.g. a target pattern), and then only that runs.
# FFTRAIN_QUICK=1 runs only the first part (for a quick local run; CI runs everything).
#
# Without a GPU, the GPU tests (tag `gpu`) are built but not run, and count as skipped;
# so do, in a build without CUDA (no /usr/local/cuda, FFTRAIN_CPU_ONLY=1, or the cpu_only
# part), the tests that need the CUDA build (tag `cuda_build`). A test that Bazel skips
# as incompatible with the CPU-only build without either tag depends on CUDA by mistake,
# and fails. GPU test cases that skip inside CPU test targets are reported on their own.
#
# The last line counts every part together: "N passed, N failed, N skipped" (each Bazel
# test target once per part, each fuzzer once). The exit status is non-zero if any part
# failed.
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || exit 1
# shellcheck source=tools/cuda_env.sh
source tools/cuda_env.sh

targets=("$@")
full=1
if (( ${#targets[@]} )) || [[ "${FFTRAIN_QUICK:-0}" == 1 ]]; then full=0; fi
(( ${#targets[@]} )) || targets=(//...)

gpu=0
if [[ -z $FFTRAIN_CUDA_MISSING ]] && command -v nvidia-smi >/dev/null &&
   nvidia-smi -L >/dev/null 2>&1; then
  gpu=1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
skipped=0
timings=()

fail_part() {  # NAME RC
  status=$2
  echo "test.sh: $1 exited with status $2" >&2
}

# Runs one part, its output both shown and kept in $log for the count.
part() {
  local name="$1" start=$SECONDS rc
  shift
  "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  timings+=("$name $((SECONDS - start)) s (exit $rc)")
  (( rc == 0 )) || fail_part "$name" "$rc"
}

# How many test targets among $targets carry one of the tags (a regex alternative).
tagged_tests() {
  local query="" t
  for t in "${targets[@]}"; do query+="${query:+ + }tests($t)"; done
  bazel query "attr(tags, '\\b($1)\\b', $query)" 2>/dev/null | grep -c '^//'
}

# A bazel test part in which the tests with the tags in $1 (e.g. "gpu|cuda_build") do not
# run: they count as skipped, and Bazel's own SKIPPED (incompatible) targets as failures.
# Also reports GPU test cases skipped inside the targets that passed.
test_part() {  # NAME TAGS BAZEL_ARGS...
  local name=$1 tags=$2 before filters="-benchmark" incompatible cases
  shift 2
  if [[ -n $tags ]]; then
    filters+=",-${tags//|/,-}"
    skipped=$((skipped + $(tagged_tests "$tags")))
  fi
  before=$(wc -l <"$log")
  part "$name" bazel test --test_tag_filters="$filters" "$@" "${targets[@]}"
  incompatible=$(tail -n +"$((before + 1))" "$log" | grep -E '^//[^ ]+ +SKIPPED' | awk '{print $1}')
  if [[ -n $incompatible ]]; then
    echo "test.sh: $name: these tests were skipped as incompatible, so they depend on CUDA," \
         "but are not tagged gpu or cuda_build:" $incompatible >&2
    fail_part "$name" 1
  fi
  # GPU cases that skipped inside test targets that passed (e.g. a test run on each backend).
  cases=$(tail -n +"$((before + 1))" "$log" | sed -nE 's#^//([^: ]*):([^ ]+) +(\(cached\) )?PASSED.*#bazel-testlogs/\1/\2/test.xml#p' |
          xargs -r cat 2>/dev/null | sed -nE 's/.*<testsuite [^>]*skipped="([0-9]+)".*/\1/p' |
          awk '{n += $1} END {print n + 0}')
  (( cases > 0 )) && echo "test.sh: $name: $cases test cases skipped inside passing targets (GPU cases without a GPU)"
  return 0
}

if [[ -n $FFTRAIN_CUDA_MISSING ]]; then
  echo "test.sh: a CPU-only build ($FFTRAIN_CUDA_MISSING): GPU and CUDA-build tests are skipped"
  test_part "bazel test (CPU-only build)" "gpu|cuda_build"
elif (( gpu )); then
  test_part "bazel test" ""
else
  echo "test.sh: no GPU: the GPU tests are built, not run, and count as skipped"
  test_part "bazel test" "gpu"
fi
if (( full )); then
  part "bazel test --config=asan" bazel test --config=asan //...
  if [[ -z $FFTRAIN_CUDA_MISSING ]]; then
    test_part "bazel test --config=cpu_only" "gpu|cuda_build" --config=cpu_only
  fi
  part "tools/fuzz.sh" tools/fuzz.sh --seconds "${FFTRAIN_FUZZ_SECONDS:-60}"
fi

# One closing line a reader (or CI) can take in at a glance.
passed=$(grep -cE '^(//[^ ]+ +(\(cached\) )?PASSED|fuzz:[^ ]+ PASSED)' "$log")
failed=$(grep -cE '^(//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD|INCOMPLETE|SKIPPED)|fuzz:[^ ]+ FAILED)' "$log")
(( full )) && printf 'test.sh: %s\n' "${timings[@]}"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$status"
