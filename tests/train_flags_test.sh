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
# Issue 17, defect 3: a network that cannot fit is refused at start-up naming the layer
# (a convolution to 10^6 maps of 64x64 needs terabytes), before anything is allocated.
expect_refusal "layer 1 'conv5x1000000p2' needs" --device=cpu --dataset=synthetic \
  --network=conv5x1000000p2,relu,pool2,fc10 --synthetic_shape=1x64x64 --synthetic_train=128 \
  --synthetic_test=0
# The data-parallel flags (docs/distributed.md).
expect_refusal "--bucket_mb must be in [2^-18, 2^20]" --bucket_mb=nan --device=cpu
expect_refusal "--bucket_mb must be in [2^-18, 2^20]" --bucket_mb=0 --device=cpu
expect_refusal "--bucket_mb must be in [2^-18, 2^20]" --bucket_mb=1e9 --device=cpu
expect_refusal "--collective_timeout_s must be in (0, 604800]" --collective_timeout_s=0
expect_refusal "--collective_timeout_s must be in (0, 604800]" --collective_timeout_s=inf
expect_refusal "--collective_timeout_s must be in (0, 604800]" --collective_timeout_s=nan
expect_refusal "--communicator must be auto, nccl, mpi or single" --communicator=pigeon
expect_refusal "--communicator=nccl needs --device=cuda" --communicator=nccl --device=cpu

expect_success() {  # expect_success "output substring" flags...: exit 0 and the text
  local want=$1; shift
  local out rc
  checks=$((checks + 1))
  out=$(timeout 120 "$train" "$@" 2>&1); rc=$?
  if (( rc != 0 )) || [[ $out != *"$want"* ]]; then
    echo "FAIL: train $* -> exit $rc, output: $out (wanted exit 0 and: $want)"
    failures=$((failures + 1))
  else
    echo "ok: train $* -> exit 0, says: $want"
  fi
}

check() {  # check NAME STATUS(0 = pass) [DETAILS]
  checks=$((checks + 1))
  if (( $2 == 0 )); then echo "ok: $1"; else echo "FAIL: $1 ${3:-}"; failures=$((failures + 1)); fi
}

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/train_flags.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
tiny=(--device=cpu --dataset=synthetic --network=conv3x4p1,relu,pool2,fc4 --synthetic_shape=1x8x8
      --synthetic_train=64 --synthetic_test=16 --batch_size=16 --epochs=1 --progress=false)

# A Fashion-MNIST folder of 64 training and 16 test images of 8x8 pixels, uncompressed.
data=$work/data
mkdir -p "$data"
idx_pair() {  # idx_pair PREFIX COUNT(hex byte)
  { printf "\x00\x00\x08\x03\x00\x00\x00\x$2\x00\x00\x00\x08\x00\x00\x00\x08"
    head -c $(( 16#$2 * 64 )) /dev/urandom; } >"$data/$1-images-idx3-ubyte"
  { printf "\x00\x00\x08\x01\x00\x00\x00\x$2"; head -c $(( 16#$2 )) /dev/zero; } \
    >"$data/$1-labels-idx1-ubyte"
}
idx_pair train 40
idx_pair t10k 10
fmnist=(--device=cpu --dataset=fashion-mnist --data_dir="$data" --network=conv3x4p1,relu,pool2,fc10
        --batch_size=16 --epochs=1 --progress=false)
expect_success "final test accuracy" "${fmnist[@]}"

# Issue 17, defect 2: outputs are regular files or new paths; an output that is an input,
# or two outputs that are one file (also through links), are refused at start-up, and
# nothing is written.
before=$(md5sum "$data/train-images-idx3-ubyte")
expect_refusal "is $data/train-images-idx3-ubyte, an input of this run (--data_dir)" \
  "${fmnist[@]}" --log="$data/train-images-idx3-ubyte"
expect_refusal "an input of this run (--data_dir); refusing to overwrite it" \
  "${fmnist[@]}" --checkpoint="$data/t10k-labels-idx1-ubyte"
ln -s "$data/train-images-idx3-ubyte" "$work/images-link"
expect_refusal "an input of this run" "${fmnist[@]}" --checkpoint="$work/images-link"
[[ $(md5sum "$data/train-images-idx3-ubyte") == "$before" ]]; check "the data file is unchanged" $?
[[ -L $work/images-link ]]; check "the link to it is still a link" $?
expect_refusal "--log=$work/same and --checkpoint=$work/same are the same file" \
  "${tiny[@]}" --log="$work/same" --checkpoint="$work/same"
touch "$work/log.jsonl"; ln -s log.jsonl "$work/log-link"
expect_refusal "are the same file" "${tiny[@]}" --log="$work/log.jsonl" --checkpoint="$work/log-link"
expect_refusal "--checkpoint=/dev/null: is a character device, not a regular file" \
  "${tiny[@]}" --checkpoint=/dev/null
[[ -c /dev/null ]]; check "/dev/null is still a character device" $?
mkfifo "$work/fifo"
expect_refusal "--log=$work/fifo: is a FIFO, not a regular file" "${tiny[@]}" --log="$work/fifo"
expect_refusal "--checkpoint=$work/fifo: is a FIFO" "${tiny[@]}" --checkpoint="$work/fifo" --resume
expect_refusal "--log=$work: is a directory, not a regular file" "${tiny[@]}" --log="$work"
# A fresh run refuses to replace an existing checkpoint unless told to.
expect_success "final test accuracy" "${tiny[@]}" --checkpoint="$work/run.ckpt"
expect_refusal "--checkpoint=$work/run.ckpt already exists: --resume continues the run it holds, --overwrite_checkpoint" \
  "${tiny[@]}" --checkpoint="$work/run.ckpt"
expect_success "this new run replaces the checkpoint at $work/run.ckpt" \
  "${tiny[@]}" --checkpoint="$work/run.ckpt" --overwrite_checkpoint

# Issue 17, defect 5: an unwritable checkpoint or log is found at start-up, not after the
# first epoch; flags that do not apply say so.
out=$(timeout 60 "$train" "${fmnist[@]}" --checkpoint=/proc/fftrain.ckpt 2>&1); rc=$?
[[ $rc != 0 && $out == *"cannot create files in its folder /proc"* && $out != *"epoch 1/1"* ]]
check "an unwritable checkpoint folder is refused before training" $? "(exit $rc: $out)"
expect_refusal "--log=$work/no/such/dir/log.jsonl: its folder $work/no/such/dir cannot be used" \
  "${tiny[@]}" --log="$work/no/such/dir/log.jsonl"
expect_success "flag --data_dir has no effect with --dataset=synthetic" "${tiny[@]}" --data_dir=/x
expect_success "flag --train_limit has no effect with --dataset=synthetic" "${tiny[@]}" --train_limit=5
expect_success "flag --synthetic_train has no effect with --dataset=fashion-mnist" \
  "${fmnist[@]}" --synthetic_train=5
expect_success "flag --final_learning_rate has no effect with --schedule=step" \
  "${tiny[@]}" --schedule=step --final_learning_rate=0.001
expect_success "flag --gamma has no effect with --schedule=cosine" "${tiny[@]}" --gamma=0.5
expect_success "flag --tune has no effect on the CPU" "${tiny[@]}" --tune=cost
expect_success "flag --bucket_mb has no effect with one rank" "${tiny[@]}" --bucket_mb=4
expect_success "flag --overwrite_checkpoint has no effect without --checkpoint" \
  "${tiny[@]}" --overwrite_checkpoint

echo "$(( checks - failures )) passed, ${failures} failed"
(( failures == 0 ))
