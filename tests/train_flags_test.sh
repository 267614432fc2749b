#!/usr/bin/env bash
# The train binary refuses bad flags with a message naming the problem and a non-zero
# exit, before doing any work.
set -u
train=$1
failures=0

expect_refusal() {  # expect_refusal "message substring" flags...
  local want=$1; shift
  local out rc
  out=$("$train" "$@" 2>&1); rc=$?
  if (( rc == 0 )) || [[ $out != *"$want"* ]]; then
    echo "FAIL: train $* -> exit $rc, output: $out (wanted: $want)"
    failures=$((failures + 1))
  else
    echo "ok: train $* -> exit $rc: $(echo "$out" | tail -n 1)"
  fi
}

expect_refusal "--device must be auto, cuda or cpu" --device=tpu
expect_refusal "--keep_spectra must be auto, on or off" --keep_spectra=maybe
expect_refusal "--synthetic_shape must be CxHxW" --synthetic_shape=3x128
expect_refusal "--epochs must be positive" --epochs=0
expect_refusal "--batch_size" --batch_size=-4
expect_refusal "unknown learning-rate schedule" --schedule=linear
expect_refusal "layer 2 'pool': expected pool<w>" --network=conv3x8,pool,fc10
expect_refusal "--resume needs --checkpoint" --resume
expect_refusal "Unknown command line flag 'bogus'" --bogus=1
expect_refusal "unexpected argument 'extra'" extra
expect_refusal "--benchmark_iterations must be >= 0" --benchmark_iterations=-1 --device=cpu
expect_refusal "is the data set installed in '/nonexistent/fashion-mnist'" --device=cpu --data_dir=/nonexistent/fashion-mnist
expect_refusal "--tune must be measure, cost or off" --tune=sometimes --device=cpu
expect_refusal "--workspace_cap_mb must be in" --workspace_cap_mb=-5 --device=cpu
echo "$(( 14 - failures )) passed, ${failures} failed"
(( failures == 0 ))
