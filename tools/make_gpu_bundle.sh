#!/usr/bin/env bash
# Builds the GPU bundle: a self-contained folder with every test binary (GPU tests and
# the CPU ones too), every cc_binary (benchmarks and tools: bin/trainer.train,
# bin/comm.allreduce_benchmark, bin/tools.checkpoint_diff, and the multi-rank test
# binaries that mpirun starts, bin/comm.mpi_communicator_test_bin and
# bin/tests.mpi_training_test), the shared libraries a GPU node lacks (Abseil, Google
# Benchmark), Fashion-MNIST (data/), the Python scripts of tools/bench (bench/: the
# PyTorch baselines and the tables run_multigpu.sh prints), run_tests.sh (every test on
# one GPU), run_sanitizers.sh (compute-sanitizer over the kernel tests) and
# run_multigpu.sh (multi-rank checks and measurements on G GPUs). Copy it to a GPU node
# (no Bazel needed) and run ./run_tests.sh, ./run_sanitizers.sh or ./run_multigpu.sh there.
#
# Usage: tools/make_gpu_bundle.sh [--multigpu] [--strip] [OUTPUT_DIR]   (default: gpu_bundle/)
#   --multigpu  what run_multigpu.sh needs alone: no tests/, run_tests.sh or
#               run_sanitizers.sh (about 37 MiB instead of 73: the device tool carries
#               64 MiB in all, working tree included)
#   --strip     strip the binaries' symbol tables (about 10 MiB less; crash reports then
#               show addresses instead of function names)
#   extra Bazel flags via BAZEL_FLAGS, e.g. BAZEL_FLAGS=--//third_party/cuda:archs=80,90
set -euo pipefail
cd "$(dirname "$0")/.."
multigpu=0 strip=0 out=gpu_bundle
while (( $# )); do
  case $1 in
    --multigpu) multigpu=1 ;;
    --strip) strip=1 ;;
    -*) echo "make_gpu_bundle: unknown option '$1' (--multigpu, --strip)" >&2; exit 2 ;;
    *) out=$1 ;;
  esac
  shift
done

tools/setup.sh

# GoogleTest binaries only: shell tests need Bazel's runfiles.
tests=""
(( multigpu )) || tests=$(bazel query 'kind(cc_test, tests(//...))' 2>/dev/null)
binaries=$(bazel query 'kind("cc_binary", //...)' 2>/dev/null)
# shellcheck disable=SC2086
bazel build ${BAZEL_FLAGS:-} $tests $binaries

rm -rf "$out"
mkdir -p "$out/tests" "$out/bin" "$out/lib"

label_to_path() {  # //fftconv:cuda_fft_conv_test -> bazel-bin/fftconv/cuda_fft_conv_test
  local label=${1#//}
  echo "bazel-bin/${label%%:*}/${label##*:}"
}
label_to_name() {  # //fftconv:cuda_fft_conv_test -> fftconv.cuda_fft_conv_test
  local label=${1#//}
  echo "${label%%:*}.${label##*:}" | tr '/' '.'
}

for t in $tests; do
  cp "$(label_to_path "$t")" "$out/tests/$(label_to_name "$t")"
done
for b in $binaries; do
  cp "$(label_to_path "$b")" "$out/bin/$(label_to_name "$b")"
done
(( multigpu )) && rmdir "$out/tests"
if (( strip )); then
  chmod u+w "$out"/bin/* "$out"/tests/* 2>/dev/null || true
  strip --strip-unneeded "$out"/bin/* "$out"/tests/* 2>/dev/null || true
fi

# GPU nodes have glibc, CUDA, NCCL, Open MPI, FFTW, OpenBLAS and zlib, but not Abseil,
# and a different Google Benchmark: carry those.
for f in "$out"/bin/* "$out"/tests/*; do
  [[ -f $f ]] || continue
  ldd "$f" | awk '/=> \// {print $3}'
done | sort -u | grep -E '/lib(absl_|benchmark)' | while read -r lib; do
  cp -L "$lib" "$out/lib/"
done

# The trainer's default data set: GPU nodes lack Debian's package.
data_dir=${FFTRAIN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [[ -d $data_dir ]]; then
  mkdir -p "$out/data/fashion-mnist"
  cp "$data_dir"/*-ubyte* "$out/data/fashion-mnist/"
else
  echo "make_gpu_bundle: $data_dir is absent; the bundle carries no Fashion-MNIST" >&2
fi

# run_multigpu.sh runs them from bench/ (torch_ddp_paper128.py imports its siblings).
# run_benchmarks.sh runs from the repository root instead, with tools/bench/ there; the
# copies here let the bundle alone do the multi-GPU runs.
mkdir -p "$out/bench"
cp tools/bench/*.py "$out/bench/"

if (( !multigpu )); then
  cp tools/gpu_bundle/run_tests.sh tools/gpu_bundle/run_sanitizers.sh "$out/"
  chmod +x "$out/run_tests.sh" "$out/run_sanitizers.sh"
fi
cp tools/gpu_bundle/run_multigpu.sh "$out/run_multigpu.sh"
chmod +x "$out/run_multigpu.sh"
# What run_multigpu.sh needs: a bundle without it must not pass for a complete one.
for needed in trainer.train comm.allreduce_benchmark comm.mpi_communicator_test_bin \
              tests.mpi_training_test tools.checkpoint_diff; do
  [[ -x $out/bin/$needed ]] || { echo "make_gpu_bundle: bin/$needed is missing" >&2; exit 1; }
done
# The commit built, marked "-dirty" where tracked files differed from it (a bundle built
# before its commit must not be credited to the parent).
if commit=$(git rev-parse HEAD 2>/dev/null); then
  git diff --quiet HEAD -- || commit="$commit-dirty"
  echo "$commit" > "$out/COMMIT"
fi
echo "GPU bundle in $out: $(find "$out/tests" -type f 2>/dev/null | wc -l) tests," \
     "$(find "$out/bin" -type f | wc -l) binaries$( ((multigpu)) && echo " (--multigpu)")," \
     "$(du -sh "$out" | cut -f1)"
