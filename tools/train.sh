#!/usr/bin/env bash
# The main job: trains the `fmnist` network on Fashion-MNIST and prints the final test
# accuracy. Installs what is missing and builds first.
#   With a GPU: the full training set, 15 epochs (docs/training.md).
#   Without:    the CPU, a 10000-image subset and 1 epoch, a few minutes on 2 cores.
# Data parallel (docs/distributed.md): --ranks=N starts N ranks with mpirun (one per GPU
# on a GPU machine, --ranks=all for every GPU; processes on the CPU otherwise). The
# global batch stays the single-rank default, split over the ranks, so N ranks train
# the same model as one; a --batch_size given here is per rank.
# Extra arguments go to the trainer and override these defaults, e.g.
#   tools/train.sh --epochs=5 --log=runs/my.jsonl
#   tools/train.sh --ranks=2
# The metrics log goes to runs/fmnist-<time>.jsonl; tools/plot/plot.sh turns it into a PNG.
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=1
log=
trainer_args=()
for arg in "$@"; do
  case $arg in
    --ranks=*) ranks=${arg#--ranks=} ;;
    --log=*) log=${arg#--log=} ;;
    *) trainer_args+=("$arg") ;;
  esac
done

# shellcheck source=tools/cuda_env.sh
source tools/cuda_env.sh
gpus=0
if [[ -z $FFTRAIN_CUDA_MISSING ]] && command -v nvidia-smi >/dev/null &&
   nvidia-smi -L >/dev/null 2>&1; then
  gpus=$(nvidia-smi -L | grep -c '^GPU ')
fi
if [[ $ranks == all ]]; then
  if (( gpus == 0 )); then
    echo "train.sh: --ranks=all needs GPUs and a CUDA build; nvidia-smi finds none${FFTRAIN_CUDA_MISSING:+ or $FFTRAIN_CUDA_MISSING}; give a number" >&2
    exit 2
  fi
  ranks=$gpus
fi
if ! [[ $ranks =~ ^[1-9][0-9]*$ ]] || (( ranks > 4096 )); then
  echo "train.sh: --ranks must be a number from 1 to 4096 or 'all', got '$ranks'" >&2
  exit 2
fi
if (( gpus > 0 && ranks > gpus )); then
  echo "train.sh: --ranks=$ranks but this machine has $gpus GPUs (one rank per GPU)" >&2
  exit 2
fi

tools/setup.sh
bazel build //trainer:train
mkdir -p runs
[[ -n $log ]] || log="runs/fmnist-$(date +%Y%m%d-%H%M%S).jsonl"

if (( gpus > 0 )); then
  global_batch=128
  defaults=(--device=cuda --epochs=15 --learning_rate=0.02 --warmup_steps=100)
else
  if [[ -n $FFTRAIN_CUDA_MISSING ]]; then
    echo "train.sh: a CPU-only build ($FFTRAIN_CUDA_MISSING): training on the CPU on a subset (10000 images, 1 epoch)"
  else
    echo "train.sh: no GPU found: training on the CPU on a subset (10000 images, 1 epoch)"
  fi
  global_batch=64
  defaults=(--device=cpu --train_limit=10000 --epochs=1 --learning_rate=0.01 --warmup_steps=20)
fi
if (( global_batch % ranks != 0 )); then
  echo "train.sh: the default global batch of $global_batch does not split over $ranks ranks;" \
       "give --batch_size (per rank)" >&2
  exit 2
fi
defaults+=(--batch_size=$((global_batch / ranks)))

command=(bazel-bin/trainer/train --network=fmnist --log="$log" "${defaults[@]}"
         "${trainer_args[@]}")
if (( ranks > 1 )); then
  launcher=(mpirun -np "$ranks" --bind-to none -x NCCL_NVLS_ENABLE=0)
  (( $(id -u) == 0 )) && launcher+=(--allow-run-as-root)
  (( ranks > $(nproc) )) && launcher+=(--oversubscribe)
  # The trainer's own threads (OpenBLAS, FFTW) would otherwise oversubscribe the cores.
  (( gpus == 0 )) && launcher+=(-x OPENBLAS_NUM_THREADS=1)
  echo "train.sh: ${launcher[*]} ${command[*]}"
  NCCL_NVLS_ENABLE=0 "${launcher[@]}" "${command[@]}"
else
  "${command[@]}"
fi
echo "metrics: $log (plot: tools/plot/plot.sh $log -o ${log%.jsonl}.png)"
