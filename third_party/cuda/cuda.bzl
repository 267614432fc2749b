"""cuda_library: compiles .cu files with nvcc into an archive that cc targets link.

The .cu files see the headers of `hdrs` and of every dependency (their include paths are
passed to nvcc), so kernels include our plain C++ headers as any cc target would. The
architectures come from the build setting //third_party/cuda:archs.
"""

load("@cuda//:defs.bzl", "CUDA_AVAILABLE")

def if_cuda(with_cuda, without_cuda = []):
    """`with_cuda` in a build with the CUDA toolkit, else `without_cuda` (cuda_configure.bzl)."""
    return with_cuda if CUDA_AVAILABLE else without_cuda

# Added to every CUDA target in a build without the toolkit: it is skipped, not built.
_WITHOUT_CUDA = [] if CUDA_AVAILABLE else ["//third_party/cuda:toolkit_missing"]

CudaArchsInfo = provider(fields = {"archs": "list of compute capabilities, e.g. ['90']"})

def _cuda_archs_flag_impl(ctx):
    archs = [a.strip() for a in ctx.build_setting_value.split(",") if a.strip()]
    for a in archs:
        if not a.isdigit():
            fail("//third_party/cuda:archs takes compute capabilities such as 80,90; got '%s'" % a)
    if not archs:
        fail("//third_party/cuda:archs is empty")
    return [CudaArchsInfo(archs = archs)]

cuda_archs_flag = rule(
    implementation = _cuda_archs_flag_impl,
    build_setting = config.string(flag = True),
)

_NVCC = "/usr/local/cuda/bin/nvcc"

def _cuda_archive_impl(ctx):
    archs = ctx.attr._archs[CudaArchsInfo].archs
    headers = []
    include_flags = ["-I.", "-I" + ctx.bin_dir.path, "-I" + ctx.genfiles_dir.path]
    for dep in ctx.attr.deps:
        cc = dep[CcInfo].compilation_context
        headers.append(cc.headers)
        for d in cc.includes.to_list() + cc.quote_includes.to_list():
            include_flags.append("-I" + d)
        for d in cc.system_includes.to_list():
            include_flags.append("-isystem")
            include_flags.append(d)
    inputs = depset(ctx.files.srcs + ctx.files.hdrs, transitive = headers)
    gencode = []
    for a in archs:
        # Hopper's wgmma is in sm_90a's arch-specific feature set, whose code runs on
        # compute capability 9.0 exactly; other archs build the portable code.
        if ctx.attr.arch_specific and a == "90":
            gencode.append("-gencode=arch=compute_90a,code=sm_90a")
        else:
            gencode.append("-gencode=arch=compute_%s,code=sm_%s" % (a, a))

    objects = []
    for src in ctx.files.srcs:
        obj = ctx.actions.declare_file("_cuda_objs/%s/%s.o" % (ctx.label.name, src.basename))
        args = ctx.actions.args()
        # Intermediates beside the object: in /tmp, sandboxed actions (each its own PID
        # namespace) picked the same temporary names and broke each other's builds.
        # Fatbins compressed for size: a quarter of the bytes, which keeps the GPU bundle
        # under what the device tool carries (64 MiB).
        args.add_all(["-c", "-std=c++17", "-O3", "-Xcompiler", "-fPIC", "--expt-relaxed-constexpr",
                      "--objdir-as-tempdir", "--compress-mode=size"])
        args.add_all(gencode)
        args.add_all(include_flags)
        args.add_all(ctx.attr.copts)
        args.add(src.path)
        args.add("-o", obj)
        ctx.actions.run(
            executable = _NVCC,
            arguments = [args],
            inputs = inputs,
            outputs = [obj],
            mnemonic = "Nvcc",
            progress_message = "nvcc %s" % src.short_path,
            use_default_shell_env = True,
        )
        objects.append(obj)

    archive = ctx.actions.declare_file("lib%s.a" % ctx.label.name)
    ctx.actions.run(
        executable = "/usr/bin/ar",
        arguments = ["rcs", archive.path] + [o.path for o in objects],
        inputs = objects,
        outputs = [archive],
        mnemonic = "CudaArchive",
    )
    return [DefaultInfo(files = depset([archive]))]

_cuda_archive = rule(
    implementation = _cuda_archive_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = [".cu"]),
        "hdrs": attr.label_list(allow_files = [".h", ".cuh"]),
        "deps": attr.label_list(providers = [CcInfo]),
        "copts": attr.string_list(),
        "arch_specific": attr.bool(default = False),
        "_archs": attr.label(default = "//third_party/cuda:archs"),
    },
)

def cuda_library(name, srcs, hdrs = [], deps = [], copts = [], tags = [], visibility = None,
                 arch_specific = False, **kwargs):
    """A cc_library whose .cu sources are compiled by nvcc. Tagged `gpu`.

    arch_specific: build sm_90 as sm_90a (Hopper-only instructions such as wgmma); the
    code must then check the device before launching.
    """
    _cuda_archive(
        name = name + "_nvcc",
        srcs = srcs,
        hdrs = hdrs,
        deps = deps + ["@cuda//:cuda_headers"],
        copts = copts,
        arch_specific = arch_specific,
        tags = tags + ["gpu"],
        target_compatible_with = _WITHOUT_CUDA,
        visibility = ["//visibility:private"],
    )
    native.cc_library(
        name = name,
        srcs = [":" + name + "_nvcc"],
        hdrs = hdrs,
        deps = deps + ["@cuda//:cudart"],
        tags = tags + ["gpu"],
        target_compatible_with = _WITHOUT_CUDA,
        visibility = visibility,
        alwayslink = True,
        linkstatic = True,
        **kwargs
    )
