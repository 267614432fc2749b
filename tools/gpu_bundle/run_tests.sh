#!/usr/bin/env bash
# Runs every test of the GPU bundle on this machine and prints "N passed, N failed".
# Counts are test cases (GoogleTest). A skipped test counts as failed when a GPU is
# present (a GPU test that skips on a GPU node did not run), unless --allow-skips.
# Exit status: 0 only if nothing failed.
#
# Usage: ./run_tests.sh [--allow-skips] [--filter REGEX] [-- extra gtest flags]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [[ -d $here/data/fashion-mnist ]]; then
  export FFTRAIN_FASHION_MNIST_DIR=${FFTRAIN_FASHION_MNIST_DIR:-$here/data/fashion-mnist}
fi

allow_skips=0
filter=.
extra=()
while (( $# )); do
  case $1 in
    --allow-skips) allow_skips=1 ;;
    --filter) filter=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run_tests.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

gpu="none"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
fi
echo "GPU: $gpu; bundle commit $(cat "$here/COMMIT" 2>/dev/null || echo unknown)"

passed=0 failed=0 skipped=0
for t in "$here"/tests/*; do
  name=$(basename "$t")
  [[ $name =~ $filter ]] || continue
  log=$(mktemp)
  scratch=$(mktemp -d)  # as Bazel does: each test gets its own TEST_TMPDIR
  start=$(date +%s.%N)
  TEST_TMPDIR=$scratch "$t" --gtest_color=no "${extra[@]}" >"$log" 2>&1
  rc=$?
  rm -rf "$scratch"
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
  p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\..*/\1/p' "$log" | tail -n 1)
  f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?, listed below.*/\1/p' "$log" | tail -n 1)
  s=$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) tests?, listed below.*/\1/p' "$log" | tail -n 1)
  p=${p:-0} f=${f:-0} s=${s:-0}
  if (( rc != 0 && f == 0 )); then f=1; fi  # crashed or died before its summary
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  printf '%-45s %4d passed %4d failed %4d skipped  %6ss\n' "$name" "$p" "$f" "$s" "$secs"
  # Lines the tests print for the record (measured errors), and failures in full.
  grep -E '^(worst|L[0-9] |CPU vs GPU)' "$log" | sed 's/^/    /'
  if (( f > 0 )) || { (( s > 0 )) && [[ $gpu != none ]] && (( !allow_skips )); }; then
    sed 's/^/    | /' "$log" | tail -n 60
  fi
  rm -f "$log"
done

if [[ $gpu != none ]] && (( !allow_skips )); then
  failed=$((failed + skipped))
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
(( failed == 0 ))
