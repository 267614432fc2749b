"""System libraries (Debian 12 packages and CUDA at /usr/local/cuda) as Bazel repositories.

Nothing is downloaded: each repository points at an installed location and carries a
BUILD file of ours from third_party/. tools/setup.sh installs the packages.
"""

load("//third_party/cuda:cuda_configure.bzl", "cuda_repository")

def fftrain_system_libraries():
    """Declares one repository per system library."""
    # /usr/local/cuda, or incompatible stand-ins where it is absent (a CPU-only build).
    cuda_repository(
        name = "cuda",
        build_file = "//third_party/cuda:cuda.BUILD",
    )
    native.new_local_repository(
        name = "mpi",
        path = "/usr/lib/x86_64-linux-gnu/openmpi",
        build_file = "//third_party:mpi.BUILD",
    )
    for name in ["absl", "gtest", "benchmark", "fftw", "openblas", "zlib"]:
        native.new_local_repository(
            name = name,
            path = "/usr/include",
            build_file = "//third_party:%s.BUILD" % name,
        )
