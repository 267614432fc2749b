#!/usr/bin/env bash
# Tests scaling_model's command line: the default table (paper128, 1 to 1024 GPUs), each
# input marked assumed or given, and a clear error naming the flag, with a non-zero exit,
# for each kind of nonsense.
# Usage (Bazel passes it): scaling_model_cli_test.sh PATH_TO_scaling_model
set -uo pipefail

model=${1:?usage: scaling_model_cli_test.sh PATH_TO_scaling_model}
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_in() {  # FILE TEXT...
  local file=$1; shift
  for want in "$@"; do
    grep -qF -- "$want" "$file" || fail "$file lacks '$want': $(cat "$file")"
  done
}

# --- the default table ---
if "$model" >"$tmp/out" 2>"$tmp/err"; then
  expect_in "$tmp/out" \
    "--step_ms              16 ms          default, assumed:" \
    "--backward_ms          10.6667 ms     default, assumed: 2/3 of the step" \
    "--parameter_counts     5 layers       default, assumed: paper128's" \
    "--network_gbps         400 Gb/s       default, assumed: one 400 Gb/s NIC per GPU" \
    "26987624 parameters, 107.95 MB in float32, in 3 buckets" \
    "bucket 0:     75.268 MB, layer  5" \
    "bucket 1:     32.543 MB, layers 4,3,2" \
    "bucket 2:      0.140 MB, layer  1" \
    "ring = 2(n-N) alpha_intra + 2(N-1) alpha_inter + 2(n-1)/n S/B"
  rows=$(grep -cE '^ +[0-9]+ +[0-9]+ ' "$tmp/out")
  [[ $rows -eq 11 ]] || fail "expected 11 rows (1 to 1024 GPUs), got $rows: $(cat "$tmp/out")"
  grep -qE '^ +1 +1 +- +16\.000 +0\.000 +0\.000 +100\.0%  -$' "$tmp/out" ||
    fail "the 1-GPU row is not 16 ms at 100%: $(cat "$tmp/out")"
  grep -qE '^ +1024 +128 +320 .* tree$' "$tmp/out" ||
    fail "1024 GPUs: expected 128 nodes, 320 GB/s, tree: $(cat "$tmp/out")"
  grep -qE '^ +8 +1 +370 .* ring$' "$tmp/out" ||
    fail "8 GPUs: expected one node, 370 GB/s, ring: $(cat "$tmp/out")"
else
  fail "the default run exited $?: $(cat "$tmp/err")"
fi

# --- measured inputs are marked as given ---
if "$model" --step_ms=20 --backward_ms=12 --layer_backward_ms=4,3,2,1,0.5 --max_gpus=12 \
    >"$tmp/out" 2>"$tmp/err"; then
  expect_in "$tmp/out" \
    "--step_ms              20 ms          given on the command line (measured)" \
    "--backward_ms          12 ms          given on the command line (measured)" \
    "--layer_backward_ms    4,3,2,1,0.5    given on the command line (measured)" \
    "ready   0.500 ms into backward" "ready   6.500 ms into backward" \
    "ready  10.500 ms into backward"
  rows=$(grep -cE '^ +[0-9]+ +[0-9]+ ' "$tmp/out")
  [[ $rows -eq 5 ]] || fail "--max_gpus=12: expected rows 1, 2, 4, 8, 12, got $rows"
else
  fail "a run with measured inputs exited $?: $(cat "$tmp/err")"
fi

# --- nonsense: exit non-zero, the flag named on stderr ---
expect_error() {  # FLAG_NAME ARGS...
  local flag=$1; shift
  if "$model" "$@" >/dev/null 2>"$tmp/err"; then
    fail "$*: exit 0"
  elif ! grep -qF -- "$flag" "$tmp/err"; then
    fail "$*: stderr does not name $flag: $(cat "$tmp/err")"
  fi
  return 0
}
expect_error --step_ms --step_ms=-1
expect_error --step_ms --step_ms=nan
expect_error --step_ms --step_ms=inf
expect_error step_ms --step_ms=abc             # Abseil's own parse error
expect_error --backward_ms --backward_ms=20     # longer than the step
expect_error --backward_ms --backward_ms=-2
expect_error --backward_ms --backward_ms=10 --update_ms=7
expect_error --update_ms --update_ms=nan
expect_error --parameter_counts --parameter_counts=1,x
expect_error --parameter_counts --parameter_counts=
expect_error --parameter_counts --parameter_counts=100,0
expect_error --layer_backward_ms --layer_backward_ms=1,2
expect_error --layer_backward_ms --layer_backward_ms=5,5,5,5,5   # 25 ms > backward
expect_error --layer_backward_ms --layer_backward_ms=1,2,nan,1,1
expect_error --bucket_mb --bucket_mb=0
expect_error --bucket_mb --bucket_mb=-25
expect_error --first_bucket_mb --first_bucket_mb=inf
expect_error --gpus_per_node --gpus_per_node=0
expect_error --nvlink_busbw_gbs --nvlink_busbw_gbs=nan
expect_error --network_gbps --network_gbps=-400
expect_error --network_efficiency --network_efficiency=1.5
expect_error --network_efficiency --network_efficiency=0
expect_error --alpha_intra_us --alpha_intra_us=-1
expect_error --alpha_inter_us --alpha_inter_us=inf
expect_error --max_gpus --max_gpus=0
expect_error no_such_flag --no_such_flag=1
expect_error "unexpected argument" extra

if (( failures )); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "PASS"
