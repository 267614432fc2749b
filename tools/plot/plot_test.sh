#!/usr/bin/env bash
# Tests plot.sh and plot_training.py: a small log gives a PNG; bad logs give a clear
# error and a non-zero exit, and leave no output file. Runs under `bazel test` or alone.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
PLOT="$here/plot.sh"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
# matplotlib caches fonts under $HOME, which the test sandbox may not let it write.
export MPLCONFIGDIR="$tmp/mplconfig"

if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  # The test must not install packages; tools/setup.sh does.
  echo "FAIL: /usr/bin/python3 cannot import matplotlib; run tools/setup.sh" >&2
  exit 1
fi

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

is_png() {  # the 8-byte PNG signature: 89 50 4E 47 0D 0A 1A 0A
  [[ -s "$1" ]] && [[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ]]
}

# Expects the plotter to fail on log $1, with stderr containing $2 and no PNG written.
expect_error() {
  local log="$1" want="$2" out="$tmp/should_not_exist.png"
  rm -f "$out"
  if "$PLOT" "$log" -o "$out" 2>"$tmp/stderr"; then
    fail "$log: exit 0, expected an error"
  elif ! grep -qF -- "$want" "$tmp/stderr"; then
    fail "$log: stderr lacks '$want': $(cat "$tmp/stderr")"
  fi
  [[ -e "$out" ]] && fail "$log: wrote $out despite the error"
  ls "$tmp" | grep -q '\.tmp\.' && fail "$log: left a temporary file in $tmp"
  return 0
}

# A short run: 2 epochs of 4 steps, then a resumed run replaying epoch 2.
log="$tmp/train.jsonl"
{
  echo '{"event":"config","network":"conv(1,8,5)-relu-pool(2)-fc(10)","learning_rate":0.05}'
  loss=2.3
  for step in 1 2 3 4 5 6 7 8; do
    epoch=$(( (step - 1) / 4 + 1 ))
    loss=$(awk -v l="$loss" 'BEGIN { printf "%.3f", l * 0.8 }')
    echo "{\"event\":\"step\",\"epoch\":$epoch,\"step\":$step,\"loss\":$loss,\"accuracy\":0.$((50 + step * 4)),\"images_per_s\":12345.6,\"learning_rate\":0.05}"
    if (( step % 4 == 0 )); then
      echo "{\"event\":\"epoch\",\"epoch\":$epoch,\"step\":$step,\"train_loss\":$loss,\"train_accuracy\":0.8$epoch,\"test_loss\":0.4$epoch,\"test_accuracy\":0.85$epoch,\"images_per_s\":20000.0,\"epoch_seconds\":3.2,\"phase_seconds\":{\"data\":0.1,\"forward\":1.0,\"backward\":1.5,\"update\":0.2,\"eval\":0.4}}"
    fi
  done
  echo '{"event":"step","epoch":2,"step":6,"loss":null,"accuracy":0.6}'
  echo '{"event":"epoch","epoch":2,"step":8,"train_loss":0.5,"train_accuracy":0.83,"test_loss":0.45,"test_accuracy":0.86}'
  echo '{"event":"epoch","epoch":3,"step":12,"train_loss":0.4,"train_accuracy":0.85,"test_loss":0.44,"test_accuracy":0.855}'
} >"$log"

out="$tmp/train.png"
if "$PLOT" "$log" -o "$out" --title "plot_test" >"$tmp/stdout" 2>"$tmp/stderr"; then
  is_png "$out" || fail "$out is not a PNG"
  grep -q "3 epochs" "$tmp/stdout" || fail "stdout: $(cat "$tmp/stdout")"
else
  fail "plotting $log failed: $(cat "$tmp/stderr")"
fi

# Epoch events only (no step events), and a partial last line still being written.
printf '%s\n%s\n%s' \
  '{"event":"epoch","epoch":1,"train_loss":0.9,"test_loss":0.8,"train_accuracy":0.7,"test_accuracy":0.72}' \
  '{"event":"epoch","epoch":2,"train_loss":0.6,"test_loss":0.7,"train_accuracy":0.8,"test_accuracy":0.78}' \
  '{"event":"epoch","epo' >"$tmp/epochs.jsonl"
if "$PLOT" "$tmp/epochs.jsonl" -o "$tmp/epochs.png" 2>"$tmp/stderr"; then
  is_png "$tmp/epochs.png" || fail "$tmp/epochs.png is not a PNG"
  grep -q "unterminated" "$tmp/stderr" || fail "no warning for the partial line: $(cat "$tmp/stderr")"
else
  fail "plotting $tmp/epochs.jsonl failed: $(cat "$tmp/stderr")"
fi

# Errors.
printf '%s\n%s\n%s\n%s\n' "$(sed -n 1p "$log")" "$(sed -n 2p "$log")" \
  '{"event":"step","step":3,"loss":0.5' "$(sed -n 3p "$log")" >"$tmp/malformed.jsonl"
expect_error "$tmp/malformed.jsonl" "malformed.jsonl:3: malformed JSON"
expect_error "$tmp/missing.jsonl" "missing.jsonl: no such file"
echo '{"event":"config","network":"fc(10)"}' >"$tmp/config_only.jsonl"
expect_error "$tmp/config_only.jsonl" 'no "step" or "epoch" events'
: >"$tmp/empty.jsonl"
expect_error "$tmp/empty.jsonl" 'no "step" or "epoch" events'
echo '{"event":"epoch","epoch":1,"test_accuracy":"high"}' >"$tmp/badfield.jsonl"
expect_error "$tmp/badfield.jsonl" 'badfield.jsonl:1: field "test_accuracy"'
echo '[1,2]' >"$tmp/array.jsonl"
expect_error "$tmp/array.jsonl" "array.jsonl:1: expected a JSON object"
if "$PLOT" "$log" -o "$tmp/no/such/dir/x.png" 2>"$tmp/stderr"; then
  fail "writing into a missing directory succeeded"
else
  grep -qF "no/such/dir/x.png: cannot write" "$tmp/stderr" || fail "stderr: $(cat "$tmp/stderr")"
fi

if (( failures )); then
  echo "plot_test: $failures failure(s)" >&2
  exit 1
fi
echo "plot_test: all passed"
