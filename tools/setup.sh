#!/usr/bin/env bash
# Installs what fftrain needs to build and test, from Debian's packages, only where
# missing. Idempotent: a second run installs nothing. CUDA must already be at
# /usr/local/cuda (it is not a Debian package).
set -euo pipefail

CUDA_HOME=/usr/local/cuda
if [[ ! -x "$CUDA_HOME/bin/nvcc" ]]; then
  echo "setup: CUDA not found: $CUDA_HOME/bin/nvcc is missing." >&2
  echo "setup: fftrain builds its CUDA backend with CUDA 13 at $CUDA_HOME; install it there first." >&2
  exit 1
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
