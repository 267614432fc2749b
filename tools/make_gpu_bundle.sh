#!/usr/bin/env bash
# Builds the GPU bundle: a self-contained folder with every test binary (GPU tests and
# the CPU ones too), the benchmark and tool binaries (the trainer: bin/trainer.train),
# the shared libraries a GPU node lacks (Abseil, Google Benchmark), Fashion-MNIST
# (data/), and run_tests.sh. Copy it to a GPU node (no Bazel
# needed) and run ./run_tests.sh there.
#
# Usage: tools/make_gpu_bundle.sh [OUTPUT_DIR]   (default: gpu_bundle/)
#        extra Bazel flags via BAZEL_FLAGS, e.g. BAZEL_FLAGS=--//third_party/cuda:archs=80,90
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu_bundle}

tools/setup.sh

# GoogleTest binaries only: shell tests need Bazel's runfiles.
tests=$(bazel query 'kind(cc_test, tests(//...))' 2>/dev/null)
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

# GPU nodes have glibc, CUDA, NCCL, Open MPI, FFTW, OpenBLAS and zlib, but not Abseil,
# and a different Google Benchmark: carry those.
for f in "$out"/tests/* "$out"/bin/*; do
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

cp tools/gpu_bundle/run_tests.sh "$out/run_tests.sh"
chmod +x "$out/run_tests.sh"
# The commit built, marked "-dirty" where tracked files differed from it (a bundle built
# before its commit must not be credited to the parent).
if commit=$(git rev-parse HEAD 2>/dev/null); then
  git diff --quiet HEAD -- || commit="$commit-dirty"
  echo "$commit" > "$out/COMMIT"
fi
echo "GPU bundle in $out: $(ls "$out/tests" | wc -l) tests, $(ls "$out/bin" | wc -l) binaries," \
     "$(du -sh "$out" | cut -f1)"
