#!/usr/bin/env bash
# The main job: trains the `fmnist` network on Fashion-MNIST and prints the final test
# accuracy. Installs what is missing and builds first.
#   With a GPU: the full training set, 15 epochs (docs/training.md).
#   Without:    the CPU, a 10000-image subset and 1 epoch, a few minutes on 2 cores.
# Extra arguments go to the trainer and override these defaults, e.g.
#   tools/train.sh --epochs=5 --log=runs/my.jsonl
# The metrics log goes to runs/fmnist-<time>.jsonl; tools/plot/plot.sh turns it into a PNG.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
bazel build //trainer:train
mkdir -p runs
log="runs/fmnist-$(date +%Y%m%d-%H%M%S).jsonl"

if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  defaults=(--device=cuda --epochs=15 --batch_size=128 --learning_rate=0.02 --warmup_steps=100)
else
  echo "train.sh: no GPU found: training on the CPU on a subset (10000 images, 1 epoch)"
  defaults=(--device=cpu --train_limit=10000 --epochs=1 --batch_size=64 --learning_rate=0.01
            --warmup_steps=20)
fi
bazel-bin/trainer/train --network=fmnist --log="$log" "${defaults[@]}" "$@"
echo "metrics: $log (plot: tools/plot/plot.sh $log -o ${log%.jsonl}.png)"
