#!/usr/bin/env bash
# Installs what fftrain needs to build and test, from Debian's packages, only where
# missing. Idempotent: a second run installs nothing. CUDA is not a Debian package: with
# CUDA 13 at /usr/local/cuda the GPU backend is built too; without it (or with
# FFTRAIN_CPU_ONLY=1) the build is CPU-only, and this says so once.
set -euo pipefail
# shellcheck source=tools/cuda_env.sh
source "$(dirname "$0")/cuda_env.sh"
if [[ -n $FFTRAIN_CUDA_MISSING ]]; then
  echo "setup: $FFTRAIN_CUDA_MISSING: building the CPU backend only; the CUDA backend," \
       "NCCL and the GPU tests are left out (install CUDA 13 at /usr/local/cuda for them)." >&2
fi

packages=(
  bazel-bootstrap   # Bazel 4.2.3, offline
  libabsl-dev       # Abseil 20220623
  googletest libgtest-dev libgmock-dev
  libbenchmark-dev
  libfftw3-dev      # FFTW single precision (CPU backend)
  libopenblas-dev   # CBLAS (CPU backend)
  libopenmpi-dev openmpi-bin
  zlib1g-dev
  dataset-fashion-mnist   # the trainer's default data set
  python3-matplotlib      # tools/plot.sh
  clang-14 libclang-rt-14-dev   # tools/fuzz.sh: clang, libFuzzer, ASan/UBSan runtimes
  llvm-14                       # llvm-symbolizer, for readable fuzzer reports
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if (( ${#missing[@]} == 0 )); then
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    SUDO=sudo
  else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
