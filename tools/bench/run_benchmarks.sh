#!/usr/bin/env bash
# Runs the performance benchmarks on a GPU node, from the repository root, with the GPU
# bundle (tools/make_gpu_bundle.sh; no Bazel needed here):
#   1. fftrain's passes, bundle/bin/tools.bench.fft_conv_benchmark -> OUT/fftconv.json
#   2. cuDNN through PyTorch, tools/bench/cudnn_baseline.py       -> OUT/cudnn.json
#   3. the report, tools/bench/make_benchmarks_md.py               -> OUT/benchmarks.md
# Copy OUT/benchmarks.md to docs/benchmarks.md. All layers take about 3-4 minutes on an
# H100. The steps run even when one fails (its error shows in the report or the log);
# the exit status is non-zero if any failed.
#
# Usage: tools/bench/run_benchmarks.sh [BUNDLE_DIR [OUT_DIR]] [--layers REGEX]
#                                      [--min_time SECONDS] [--repetitions N]
#   BUNDLE_DIR  default gpu_bundle
#   OUT_DIR     default $OUT when set, else ./bench_out
#   --layers    regular expression of layer names for both benchmarks (default: all)
#   --min_time  Google Benchmark's minimum timed seconds per repetition (default 0.2)
#   --repetitions  repetitions per case; the report uses their median (default 3)
set -uo pipefail

die() { echo "run_benchmarks: $*" >&2; exit 2; }

positional=()
layers=""
min_time=0.2
repetitions=3
while (( $# )); do
  case $1 in
    --layers) (( $# >= 2 )) || die "--layers needs a value"; layers=$2; shift ;;
    --layers=*) layers=${1#*=} ;;
    --min_time) (( $# >= 2 )) || die "--min_time needs a value"; min_time=$2; shift ;;
    --min_time=*) min_time=${1#*=} ;;
    --repetitions) (( $# >= 2 )) || die "--repetitions needs a value"; repetitions=$2; shift ;;
    --repetitions=*) repetitions=${1#*=} ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) positional+=("$1") ;;
  esac
  shift
done
(( ${#positional[@]} <= 2 )) || die "too many arguments: ${positional[*]} (see --help)"
bundle=${positional[0]:-gpu_bundle}
out=${positional[1]:-${OUT:-./bench_out}}
[[ $min_time =~ ^[0-9]*\.?[0-9]+$ ]] ||
  die "--min_time must be a number of seconds, got '$min_time'"
[[ $repetitions =~ ^[1-9][0-9]*$ ]] ||
  die "--repetitions must be a positive integer, got '$repetitions'"

[[ -f tools/bench/cudnn_baseline.py && -f tools/bench/make_benchmarks_md.py ]] ||
  die "run it from the repository root (tools/bench/ is not under $(pwd))"
benchmark="$bundle/bin/tools.bench.fft_conv_benchmark"
[[ -x $benchmark ]] ||
  die "$benchmark is missing: build the bundle with tools/make_gpu_bundle.sh and pass its folder"
mkdir -p "$out" || die "cannot create the output folder $out"

# As run_tests.sh: the bundle's Abseil and Google Benchmark, the node's CUDA.
export LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
commit=$(cat "$bundle/COMMIT" 2>/dev/null || echo unknown)
echo "run_benchmarks: bundle $bundle (commit $commit), results in $out"

layer_args=()
[[ -n $layers ]] && layer_args=(--layers "$layers")
fftrain_cmd=("$benchmark" "--benchmark_out=$out/fftconv.json" --benchmark_out_format=json
             "--benchmark_min_time=$min_time" "--benchmark_repetitions=$repetitions"
             --benchmark_report_aggregates_only=true)
[[ -n $layers ]] && fftrain_cmd+=("--layers=$layers")
cudnn_cmd=(python3 tools/bench/cudnn_baseline.py --out "$out/cudnn.json" "${layer_args[@]}")

quote() { printf '%q ' "$@" | sed 's/ $//'; }
status=0

echo "run_benchmarks: $(quote "${fftrain_cmd[@]}")"
rm -f "$out/fftconv.json"
"${fftrain_cmd[@]}" || { echo "run_benchmarks: fft_conv_benchmark failed" >&2; status=1; }

echo "run_benchmarks: $(quote "${cudnn_cmd[@]}")"
rm -f "$out/cudnn.json"
"${cudnn_cmd[@]}" || { echo "run_benchmarks: cudnn_baseline.py failed" >&2; status=1; }

if [[ -s $out/fftconv.json && -s $out/cudnn.json ]]; then
  md_cmd=(python3 tools/bench/make_benchmarks_md.py --fftrain "$out/fftconv.json"
          --cudnn "$out/cudnn.json" --out "$out/benchmarks.md" --commit "$commit"
          --command "LD_LIBRARY_PATH=$bundle/lib:/usr/local/cuda/lib64 $(quote "${fftrain_cmd[@]}")"
          --command "$(quote "${cudnn_cmd[@]}")")
  echo "run_benchmarks: make_benchmarks_md.py --out $out/benchmarks.md"
  "${md_cmd[@]}" || { echo "run_benchmarks: make_benchmarks_md.py failed" >&2; status=1; }
else
  echo "run_benchmarks: no report: $out/fftconv.json or $out/cudnn.json is missing" >&2
  status=1
fi
exit "$status"
