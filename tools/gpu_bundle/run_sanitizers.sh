#!/usr/bin/env bash
# compute-sanitizer over the GPU bundle's kernel tests: memcheck (with device leak
# checking), racecheck, initcheck and synccheck, each over every kernel test, on small
# shapes so the pass fits in a few minutes: the sweeps keep every Nth shape
# (FFTRAIN_SWEEP_EVERY, see fftconv/test_util.h), and the layer-scale and 128x128 cases,
# which only repeat the same code paths at larger sizes, are left to run_tests.sh.
#
# Prints a line per run (tool, test, result, seconds), the sanitizer's report for every
# run that was not clean, and one summary line:
#   sanitizers: N clean, N with errors, N failed, N timed out, N not run (of N runs) on GPU
# A run is clean when the tests passed and the tool reported 0 errors. "failed": the tests
# failed or crashed under the tool with no error of its own; "not run": the budget was
# spent before the run could start. Exit status 0 only if every run was clean.
#
# Usage: ./run_sanitizers.sh [--tools "memcheck racecheck initcheck synccheck"]
#          [--timeout SECONDS] [--budget SECONDS] [--every N] [--logs DIR]
#   --timeout  per run (default 120)
#   --budget   for the whole pass (default 600); runs that would start after it are "not run"
#   --every    FFTRAIN_SWEEP_EVERY for the sweeps (default 40: 7 of their 275 shapes)
#   --logs     keep every run's full log there (default: a temporary folder, removed)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

tools="memcheck racecheck initcheck synccheck"
timeout_s=120
budget_s=600
every=40
logs=""
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "run_sanitizers.sh: $1 needs a positive integer, got '$2'" >&2; exit 2; }; }
while (( $# )); do
  case $1 in
    --tools) tools=${2:?--tools needs a value}; shift ;;
    --timeout) positive "$1" "${2:-}"; timeout_s=$2; shift ;;
    --budget) positive "$1" "${2:-}"; budget_s=$2; shift ;;
    --every) positive "$1" "${2:-}"; every=$2; shift ;;
    --logs) logs=${2:?--logs needs a folder}; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run_sanitizers.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
for tool in $tools; do
  case $tool in
    memcheck|racecheck|initcheck|synccheck) ;;
    *) echo "run_sanitizers.sh: unknown tool '$tool' (memcheck, racecheck, initcheck, synccheck)" >&2; exit 2 ;;
  esac
done

sanitizer=""
for candidate in compute-sanitizer /usr/local/cuda/bin/compute-sanitizer \
                 /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  if command -v "$candidate" >/dev/null; then sanitizer=$(command -v "$candidate"); break; fi
done
if [[ -z $sanitizer ]]; then
  echo "run_sanitizers.sh: compute-sanitizer not found (on PATH or under /usr/local/cuda)" >&2
  exit 1
fi
gpu=""
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
fi
if [[ -z $gpu ]]; then
  # Without a GPU every test would skip and the pass would prove nothing.
  echo "run_sanitizers.sh: no GPU here; the sanitizer pass needs one" >&2
  exit 1
fi
echo "GPU: $gpu; bundle commit $(cat "$here/COMMIT" 2>/dev/null || echo unknown);" \
     "$("$sanitizer" --version 2>/dev/null | grep -m1 -i version || echo 'compute-sanitizer')"

# The kernel tests and the cases each runs: name|gtest filter.
kernel_tests=(
  "fftconv.register_fft_kernels_test|*"
  "fftconv.tf32x3_product_kernels_test|*MatchesDoubleProductInEveryLayout*:*RejectsBadSizes*"
  "fftconv.cuda_fft_conv_test|Engines/*:*BiasGradientFromDcBinsCoversPartialBlocks:*ReuseAndKeptInputSpectrumMatchFreshTransforms:*RefusesBadArguments:*BatchedKernelsRefuseSizesTheyDoNotTake:*WorkspaceCoversLayoutAndLibraryWorkAreas"
  "fftconv.cuda_tiled_conv_test|Methods/*:*RefusesTilesThatDoNotFit"
  "fftconv.gpu_reference_conv_test|*"
)
for entry in "${kernel_tests[@]}"; do
  [[ -x $here/tests/${entry%%|*} ]] || {
    echo "run_sanitizers.sh: tests/${entry%%|*} is missing from the bundle" >&2; exit 1; }
done

keep_logs=1
if [[ -z $logs ]]; then logs=$(mktemp -d); keep_logs=0; fi
mkdir -p "$logs" || exit 1
(( keep_logs )) || trap 'rm -rf "$logs"' EXIT
export FFTRAIN_SWEEP_EVERY=$every

# Extra options per tool: memcheck also reports device memory still allocated at exit.
tool_options() {
  case $1 in
    memcheck) echo "--leak-check full" ;;
    *) echo "" ;;
  esac
}

clean=0 errors=0 failed=0 timed_out=0 not_run=0 runs=0
start_all=$SECONDS
for tool in $tools; do
  for entry in "${kernel_tests[@]}"; do
    name=${entry%%|*} filter=${entry#*|}
    runs=$((runs + 1))
    if (( SECONDS - start_all >= budget_s )); then
      not_run=$((not_run + 1))
      printf '%-10s %-40s %-12s\n' "$tool" "$name" "not run"
      continue
    fi
    log=$logs/$tool.$name.log
    scratch=$(mktemp -d)
    start=$SECONDS
    # shellcheck disable=SC2046  # the options are words
    TEST_TMPDIR=$scratch timeout --kill-after=10 "$timeout_s" \
      "$sanitizer" --tool "$tool" $(tool_options "$tool") --error-exitcode 86 \
      "$here/tests/$name" --gtest_color=no --gtest_filter="$filter" >"$log" 2>&1
    rc=$?
    rm -rf "$scratch"
    secs=$((SECONDS - start))
    # racecheck sums up as "RACECHECK SUMMARY: H hazards displayed (E errors, W warnings)";
    # its warnings (hazards it could not prove harmless) count as findings too.
    reported=$(sed -nE -e 's/^========= ERROR SUMMARY: ([0-9]+) errors?.*/\1/p' \
                       -e 's/^========= RACECHECK SUMMARY: .*\(([0-9]+) errors?, ([0-9]+) warnings?\).*/\1 \2/p' \
               "$log" | tail -n 1 | awk '{print $1 + $2}')
    ran=$(sed -nE 's/^\[==========\] ([0-9]+) tests? from .* ran\..*/\1/p' "$log" | tail -n 1)
    skipped=$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) tests?, listed below.*/\1/p' "$log" | tail -n 1)
    if (( rc == 124 || rc == 137 )); then
      result="timed out"; timed_out=$((timed_out + 1))
    elif [[ -n $reported ]] && (( reported > 0 )) || (( rc == 86 )); then
      result="${reported:-?} errors"; errors=$((errors + 1))
    elif (( rc != 0 )) || [[ -z $reported ]] || [[ -z $ran ]] || (( ran == 0 )) ||
         (( ${skipped:-0} > 0 )); then
      # Tests that failed, a crash, no sanitizer summary, a filter that matched nothing, or
      # tests that skipped (on a GPU machine they did not run).
      result="failed"; failed=$((failed + 1))
    else
      result="clean"; clean=$((clean + 1))
    fi
    printf '%-10s %-40s %-12s %4ss  (%s tests)\n' "$tool" "$name" "$result" "$secs" "${ran:-0}"
    if [[ $result != clean ]]; then
      grep -vE '^\[ +(RUN|OK) +\]' "$log" | head -n 80 | sed 's/^/    | /'
    fi
  done
done

echo "sanitizers: $clean clean, $errors with errors, $failed failed, $timed_out timed out," \
     "$not_run not run (of $runs runs: $(wc -w <<<"$tools") tools x ${#kernel_tests[@]} kernel tests," \
     "sweeps every ${every}th shape, $((SECONDS - start_all)) s) on $gpu"
(( clean == runs ))
