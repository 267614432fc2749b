# Sourced by tools/setup.sh, test.sh and train.sh: whether this build has CUDA, by the same
# rule as the @cuda repository (third_party/cuda/cuda_configure.bzl), so the scripts and
# Bazel agree. Sets FFTRAIN_CUDA_MISSING to the reason CUDA is left out, or "" when the
# toolkit is at /usr/local/cuda and FFTRAIN_CPU_ONLY does not hide it; exports it to
# Bazel as FFTRAIN_CUDA_STATE, so that @cuda is looked at again when it changes (CUDA
# installed or removed since the last build).
if [[ -n ${FFTRAIN_CPU_ONLY:-} && ${FFTRAIN_CPU_ONLY} != 0 ]]; then
  FFTRAIN_CUDA_MISSING="FFTRAIN_CPU_ONLY=$FFTRAIN_CPU_ONLY hides CUDA from the build"
elif [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  FFTRAIN_CUDA_MISSING="CUDA not found: /usr/local/cuda/bin/nvcc is missing"
elif [[ ! -f /usr/local/cuda/include/cuda_runtime.h ]]; then
  FFTRAIN_CUDA_MISSING="CUDA not found: /usr/local/cuda/include/cuda_runtime.h is missing"
else
  FFTRAIN_CUDA_MISSING=""
fi
export FFTRAIN_CUDA_STATE="${FFTRAIN_CUDA_MISSING:-cuda at /usr/local/cuda}"
