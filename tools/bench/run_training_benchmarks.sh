#!/usr/bin/env bash
# End-to-end training figures on a GPU node, fftrain with and without CUDA graphs next to
# PyTorch + cuDNN in the same job, from the repository root with the GPU bundle
# (tools/make_gpu_bundle.sh; no Bazel needed here):
#   1. fmnist, 15 epochs on Fashion-MNIST: fftrain --cuda_graphs=true and =false, then
#      tools/bench/torch_fmnist.py (same network and recipe): seconds per epoch (training
#      and evaluation) and final test accuracy;
#   2. paper128, batch 128: milliseconds per training iteration and peak device memory,
#      fftrain with and without graphs, then tools/bench/torch_paper128.py.
# Every run's output is kept in OUT_DIR; the summary (OUT_DIR/training.md) is the table
# docs/training.md quotes. The steps run even when one fails; the exit status is
# non-zero if any failed.
#
# Usage: tools/bench/run_training_benchmarks.sh [BUNDLE_DIR [OUT_DIR]] [--epochs N]
#   BUNDLE_DIR  default gpu_bundle (its data/fashion-mnist is the data set)
#   OUT_DIR     default $OUT when set, else ./bench_out
#   --epochs    fmnist epochs (default 15)
set -uo pipefail

die() { echo "run_training_benchmarks: $*" >&2; exit 2; }

positional=()
epochs=15
while (( $# )); do
  case $1 in
    --epochs) (( $# >= 2 )) || die "--epochs needs a value"; epochs=$2; shift ;;
    --epochs=*) epochs=${1#*=} ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) positional+=("$1") ;;
  esac
  shift
done
(( ${#positional[@]} <= 2 )) || die "too many arguments: ${positional[*]} (see --help)"
[[ $epochs =~ ^[1-9][0-9]*$ ]] || die "--epochs must be a positive integer, got '$epochs'"
bundle=${positional[0]:-gpu_bundle}
out=${positional[1]:-${OUT:-./bench_out}}
train="$bundle/bin/trainer.train"
data="$bundle/data/fashion-mnist"
[[ -f tools/bench/torch_fmnist.py ]] ||
  die "run it from the repository root (tools/bench/ is not under $(pwd))"
[[ -x $train ]] || die "$train is missing: build the bundle with tools/make_gpu_bundle.sh"
[[ -d $data ]] || die "$data is missing: the bundle carries Fashion-MNIST in data/"
mkdir -p "$out" || die "cannot create the output folder $out"
export LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "run_training_benchmarks: bundle $bundle (commit $(cat "$bundle/COMMIT" 2>/dev/null || echo unknown)), results in $out"

status=0
step() {  # step NAME COMMAND...: runs it, output to OUT/NAME.txt
  local name=$1; shift
  echo "run_training_benchmarks: $name: $*"
  "$@" >"$out/$name.txt" 2>&1 || { echo "run_training_benchmarks: $name failed" >&2; status=1; }
  tail -n 3 "$out/$name.txt"
}

for graphs in true false; do
  rm -f "$out/fmnist_graphs_$graphs.jsonl"
  step "fmnist_graphs_$graphs" "$train" --network=fmnist --epochs="$epochs" --data_dir="$data" \
    --progress=false --cuda_graphs="$graphs" --log="$out/fmnist_graphs_$graphs.jsonl"
done
step torch_fmnist python3 tools/bench/torch_fmnist.py --data_dir "$data" --epochs "$epochs"
for graphs in true false; do
  step "paper128_graphs_$graphs" "$train" --network=paper128 --dataset=synthetic \
    --benchmark_iterations=20 --cuda_graphs="$graphs"
done
step torch_paper128 python3 tools/bench/torch_paper128.py --iterations 20

python3 - "$out" "$epochs" >"$out/training.md" <<'PY' || status=1
import json, re, statistics, sys
out, epochs = sys.argv[1], sys.argv[2]
def text(name):
    try:
        return open(f"{out}/{name}.txt").read()
    except OSError:
        return ""
def fftrain_fmnist(graphs):
    try:
        events = [json.loads(l) for l in open(f"{out}/fmnist_graphs_{graphs}.jsonl")]
    except OSError:
        return None
    ep = [e for e in events if e.get("event") == "epoch"]
    if not ep:
        return None
    return (statistics.median(e["epoch_seconds"] for e in ep),
            statistics.median(e["phase_seconds"]["eval"] for e in ep),
            100 * ep[-1]["test_accuracy"])
gpu = re.search(r"GPU: (.*?),", text("torch_fmnist")) or re.search(r"GPU: (.*?),", text("torch_paper128"))
print(f"GPU: {gpu.group(1) if gpu else 'unknown'}\n")
print(f"| fmnist, {epochs} epochs | median epoch s (training + evaluation) | evaluation s | final test accuracy |")
print("|---|---:|---:|---:|")
rows = {}
for graphs in ("true", "false"):
    r = fftrain_fmnist(graphs)
    label = f"fftrain, --cuda_graphs={graphs}"
    rows[graphs] = r
    print(f"| {label} | {r[0]:.3f} | {r[1]:.3f} | {r[2]:.2f}% |" if r else f"| {label} | failed | | |")
m = re.search(r"median epoch ([0-9.]+) s \(training ([0-9.]+) s, evaluation ([0-9.]+) s\), final test accuracy ([0-9.]+)%", text("torch_fmnist"))
torch_epoch = float(m.group(1)) if m else None
print(f"| PyTorch + cuDNN | {m.group(1)} | {m.group(3)} | {m.group(4)}% |" if m else "| PyTorch + cuDNN | failed | | |")
if torch_epoch and rows.get("true"):
    print(f"\nfmnist epoch, PyTorch / fftrain with graphs: **{torch_epoch / rows['true'][0]:.2f}x**"
          + (f"; without graphs: {torch_epoch / rows['false'][0]:.2f}x" if rows.get("false") else ""))
print("\n| paper128, batch 128 | ms per iteration | peak MiB allocated | device MiB in use / reserved |")
print("|---|---:|---:|---:|")
for graphs in ("true", "false"):
    t = text(f"paper128_graphs_{graphs}")
    ms = re.search(r"([0-9.]+) ms per training iteration", t)
    mem = re.search(r"peak ([0-9.]+) MiB allocated by fftrain; ([0-9.]+) MiB of the device", t)
    print(f"| fftrain, --cuda_graphs={graphs} | {ms.group(1) if ms else 'failed'} | "
          f"{mem.group(1) if mem else '?'} | {mem.group(2) if mem else '?'} |")
for line in text("torch_paper128").splitlines():
    m = re.search(r"\((strict fp32|TF32)\): ([0-9.]+) ms .*peak memory ([0-9.]+) MiB allocated .*?, ([0-9.]+) MiB reserved", line)
    if m:
        print(f"| PyTorch + cuDNN, {m.group(1)} | {m.group(2)} | {m.group(3)} | {m.group(4)} |")
PY
cat "$out/training.md"
exit $status
