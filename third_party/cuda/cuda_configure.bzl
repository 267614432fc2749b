"""The @cuda repository: the CUDA toolkit at /usr/local/cuda, or stand-ins where it is absent.

With the toolkit (bin/nvcc and include/cuda_runtime.h present), @cuda holds its headers
and the libraries we link (cuda.BUILD). Without it, or with FFTRAIN_CPU_ONLY=1 in the
repository environment (`bazel build --config=cpu_only`, which CI uses to check the CPU-only
build on a machine that has CUDA), @cuda has the same targets, but each is incompatible
with every platform and there are no headers: whatever depends on CUDA is skipped by
`bazel build //...` and `bazel test //...`, and a CUDA #include in a CPU target fails to
compile. Either way @cuda//:defs.bzl says which it is (CUDA_AVAILABLE) and why, for
third_party/cuda/cuda.bzl's if_cuda().
"""

_CUDA_HOME = "/usr/local/cuda"

# Every target cuda.BUILD defines; the stand-ins keep the names so that labels resolve.
_TARGETS = ["cuda_headers", "cudart", "cufft", "cublas", "nvtx", "nccl"]

def _cuda_repository_impl(ctx):
    hidden = ctx.os.environ.get("FFTRAIN_CPU_ONLY", "") not in ["", "0"]
    missing = [f for f in ["bin/nvcc", "include/cuda_runtime.h"] if not ctx.path(_CUDA_HOME + "/" + f).exists]
    if hidden:
        reason = "FFTRAIN_CPU_ONLY=%s hides CUDA from the build (--config=cpu_only)" % ctx.os.environ["FFTRAIN_CPU_ONLY"]
    elif missing:
        reason = "CUDA not found: %s/%s is missing" % (_CUDA_HOME, missing[0])
    else:
        reason = ""
    if not reason:
        for entry in ["include", "lib64"]:
            ctx.symlink(_CUDA_HOME + "/" + entry, entry)
        ctx.symlink(ctx.attr.build_file, "BUILD.bazel")
    else:
        lines = [
            "# Stand-ins: " + reason + ".",
            "# Each is incompatible with every platform, so what depends on it is skipped.",
            'package(default_visibility = ["//visibility:public"])',
            "",
        ]
        for name in _TARGETS:
            lines.append('cc_library(name = "%s", target_compatible_with = ["@//third_party/cuda:toolkit_missing"])' % name)
        ctx.file("BUILD.bazel", "\n".join(lines) + "\n")
    ctx.file("defs.bzl", "\n".join([
        "# Written by //third_party/cuda:cuda_configure.bzl.",
        "CUDA_AVAILABLE = %s" % (not reason),
        "CUDA_UNAVAILABLE_REASON = %s" % repr(reason),
        "",
    ]))

cuda_repository = repository_rule(
    implementation = _cuda_repository_impl,
    attrs = {"build_file": attr.label(allow_single_file = True)},
    # FFTRAIN_CUDA_STATE: tools/cuda_env.sh exports what it found, so that the scripts'
    # next Bazel run looks again when CUDA was installed or removed. Bazel run by hand:
    # `bazel sync --configure` after installing or removing the toolkit.
    environ = ["FFTRAIN_CPU_ONLY", "FFTRAIN_CUDA_STATE"],
    local = True,
    configure = True,
)
