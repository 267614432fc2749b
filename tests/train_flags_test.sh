#!/usr/bin/env bash
# The train binary refuses bad flags with a message naming the problem and a non-zero
# exit, before doing any work.
set -u
train=$1
failures=0 checks=0

expect_refusal() {  # expect_refusal "message substring" flags...
  local want=$1; shift
  local out rc
  checks=$((checks + 1))
  out=$(timeout 60 "$train" "$@" 2>&1); rc=$?
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
# Issue 17, defect 4: numeric flags are range-checked where they are parsed, with the
# flag's name; nothing overflows a float or the schedule's step counts; a size that cannot
# fit in memory is an error, not a std::bad_alloc (exit 134).
expect_refusal "--learning_rate must be a finite number within a float's range" --learning_rate=1e39
expect_refusal "--learning_rate must be positive" --learning_rate=0
expect_refusal "--final_learning_rate must be a finite number" --final_learning_rate=nan
expect_refusal "--final_learning_rate must be in [0, --learning_rate=0.02], got 0.5" --final_learning_rate=0.5
expect_refusal "--final_learning_rate must be a finite number" --final_learning_rate=-inf
expect_refusal "--warmup_steps must be in [0, 2^40], got -1" --warmup_steps=-1
expect_refusal "--warmup_steps must be in [0, 2^40]" --warmup_steps=9000000000000000000
expect_refusal "--epochs must be positive and at most 10^9" --epochs=1000000000000000000
expect_refusal "--gamma must be a finite number" --gamma=inf --schedule=step
expect_refusal "--momentum must be a finite number" --momentum=nan
expect_refusal "--weight_decay must be a finite number" --weight_decay=1e300
expect_refusal "--synthetic_train and --synthetic_test must be at most 2^40" --dataset=synthetic --synthetic_train=9000000000000000000
expect_refusal "--synthetic_train=100000000000 --synthetic_test=2000 --synthetic_shape=1x28x28: MakeSyntheticDataset" --device=cpu --dataset=synthetic --synthetic_train=100000000000
expect_refusal "--benchmark_iterations must be >= 0 and at most 10^6" --benchmark_iterations=10000000 --device=cpu
expect_refusal "--gpu must be -1 (the local rank) or a device ordinal >= 0" --gpu=-7 --device=cpu
# The data-parallel flags (docs/distributed.md).
expect_refusal "--bucket_mb must be in [2^-18, 2^20]" --bucket_mb=nan --device=cpu
expect_refusal "--bucket_mb must be in [2^-18, 2^20]" --bucket_mb=0 --device=cpu
expect_refusal "--bucket_mb must be in [2^-18, 2^20]" --bucket_mb=1e9 --device=cpu
expect_refusal "--collective_timeout_s must be in (0, 604800]" --collective_timeout_s=0
expect_refusal "--collective_timeout_s must be in (0, 604800]" --collective_timeout_s=inf
expect_refusal "--collective_timeout_s must be in (0, 604800]" --collective_timeout_s=nan
expect_refusal "--communicator must be auto, nccl, mpi or single" --communicator=pigeon
expect_refusal "--communicator=nccl needs --device=cuda" --communicator=nccl --device=cpu

echo "$(( checks - failures )) passed, ${failures} failed"
(( failures == 0 ))
