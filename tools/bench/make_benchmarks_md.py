#!/usr/bin/env python3
"""Writes docs/benchmarks.md from fft_conv_benchmark's and cudnn_baseline.py's JSON.

  python3 tools/bench/make_benchmarks_md.py --fftrain bench_out/fftconv.json \\
      --cudnn bench_out/cudnn.json --out docs/benchmarks.md \\
      [--command "CMD" ...] [--commit SHA]

--fftrain is Google Benchmark's JSON (--benchmark_out_format=json), with or without
--benchmark_repetitions (the median aggregate is used where present); --cudnn is
cudnn_baseline.py's. Both must come from the same GPU and time the same shapes under the
same layer names, else it stops with the reason. The report has one table per layer group
and a summary against the performance issue's targets:
  kernels >= 5:  fftrain at least as fast as cuDNN on every pass, and 2x in geometric mean
  every case:    within 3x of the FFT roofline bound
  3x3 kernels:   within 1.5x of cuDNN's time
Standard library only (Debian's python3).
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

PASSES = ("forward", "backward_data", "backward_filter")
COUNTERS = ("ms", "TFLOPs", "bound_ms", "x_bound", "workspace_MiB")
MODE_NAMES = {"fp32": "fp32", "tf32": "TF32"}

# (title, name pattern, counted in the targets); a layer goes to the first group
# whose pattern matches. The targets are the and cover its layers only.
GROUPS = (
    ("convnet-benchmarks L1-L5, batch 128", re.compile(r"^L\d+$"), True),
    ("The paper's sweep: 96 -> 256 planes (32x32 batch 128, 64x64 batch 64)",
     re.compile(r"^S\d+k\d+$"), True),
    ("Large kernel: 128 -> 128 planes, 64x64, batch 32", re.compile(r"^K\d+$"), True),
    ("3x3, ResNet-like: 64 -> 64 planes, 56x56, batch 128", re.compile(r"^R\d+k\d+$"), True),
    ("Beyond the issue's layers (not in the targets): large image, small kernel, "
     "64 -> 64 planes, 256x256, batch 16", re.compile(r"^T\d+k\d+$"), False),
    ("Other layers (not in the targets)", re.compile(r""), False),
)

# The targets.
SPEEDUP_PER_PASS_TARGET = 1.0
GEOMEAN_SPEEDUP_TARGET = 2.0
X_BOUND_TARGET = 3.0
RATIO_3X3_TARGET = 1.5


def group_of(layer):
    return next(title for title, pattern, _ in GROUPS if pattern.search(layer))


def in_targets(layer):
    return next(counted for _, pattern, counted in GROUPS if pattern.search(layer))


class InputError(Exception):
    """A problem with the input files, reported as one line."""


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise InputError(f"cannot read the {what} JSON {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not JSON ({what}): {e}")


def kernel_of(shape):
    """(kh, kw) from a ConvShape::ToString string, or None."""
    m = re.search(r"\bk=(\d+)x(\d+)\b", shape or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def read_fftrain(path):
    """context, and {(layer, pass): case} in the file's order."""
    doc = load_json(path, "fft_conv_benchmark")
    if not isinstance(doc, dict) or "benchmarks" not in doc or "context" not in doc:
        raise InputError(f"{path}: not Google Benchmark JSON (no 'context' and 'benchmarks'); "
                         f"run fft_conv_benchmark with --benchmark_out_format=json")
    runs = {}  # run name -> list of entries
    for entry in doc["benchmarks"]:
        run_name = entry.get("run_name", entry.get("name", ""))
        runs.setdefault(run_name, []).append(entry)
    cases = {}
    for run_name, entries in runs.items():
        name = re.sub(r"/manual_time$", "", run_name)
        layer, _, pass_name = name.rpartition("/")
        if not layer or pass_name not in PASSES:
            raise InputError(f"{path}: benchmark '{run_name}' is not LAYER/PASS with PASS one of "
                             f"{', '.join(PASSES)}; not fft_conv_benchmark's output?")
        case = {"layer": layer, "pass": pass_name, "shape": None, "method": None}
        for e in entries:
            # The label is "SHAPE" or "SHAPE; METHOD" (the transform and product used).
            shape, _, method = (e.get("label") or "").partition("; ")
            case["shape"] = case["shape"] or shape or None
            case["method"] = case["method"] or method or None
        errors = [e.get("error_message", "unknown error") for e in entries
                  if e.get("error_occurred")]
        medians = [e for e in entries if e.get("run_type") == "aggregate"
                   and e.get("aggregate_name") == "median"]
        iterations = [e for e in entries if e.get("run_type", "iteration") == "iteration"
                      and not e.get("error_occurred")]
        if errors:
            case["error"] = errors[0]
        elif medians or iterations:
            source = medians if medians else iterations
            for counter in COUNTERS:
                values = [e[counter] for e in source if counter in e]
                if not values:
                    raise InputError(f"{path}: {name} has no counter '{counter}'; not "
                                     f"fft_conv_benchmark's output?")
                case[counter] = statistics.median(values)
        else:
            continue  # only mean/stddev/cv aggregates: nothing to report
        cases[(layer, pass_name)] = case
    if not cases:
        raise InputError(f"{path}: no benchmark results in it")
    return doc["context"], cases


def read_cudnn(path):
    doc = load_json(path, "cudnn_baseline")
    if not isinstance(doc, dict) or doc.get("tool") != "cudnn_baseline" or "results" not in doc:
        raise InputError(f"{path}: not cudnn_baseline.py's JSON (no 'tool': 'cudnn_baseline')")
    cases = {}
    for r in doc["results"]:
        try:
            key = (r["layer"], r["pass"])
        except KeyError as e:
            raise InputError(f"{path}: a result lacks {e}")
        cases[key] = r
    return doc, cases


def check_same_setup(context, cudnn_doc, fftrain_cases, cudnn_cases):
    gpu = context.get("gpu", "")
    cudnn_gpu = cudnn_doc.get("gpu", "")
    # fftrain names the GPU as "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)",
    # PyTorch as "NVIDIA H100 80GB HBM3".
    if not gpu or not cudnn_gpu or not gpu.startswith(cudnn_gpu):
        raise InputError(f"the two files come from different GPUs: fftrain on '{gpu}', "
                         f"cuDNN on '{cudnn_gpu}'; compare only runs on one GPU")
    for key, case in fftrain_cases.items():
        other = cudnn_cases.get(key)
        if other is None or not case["shape"] or not other.get("shape"):
            continue
        if case["shape"] != other["shape"]:
            raise InputError(f"{key[0]} is '{case['shape']}' in the fftrain file but "
                             f"'{other['shape']}' in the cuDNN file; the layer lists differ")


def missed(value, target, at_least):
    """'met' or 'missed by F.FFx' for value against target."""
    ok = value >= target if at_least else value <= target
    if ok:
        return "met"
    return f"missed by {(target / value if at_least else value / target):.2f}x"


def cudnn_version(version):
    """cuDNN 9 reports 91900 for 9.19.0."""
    if isinstance(version, int) and version >= 10000:
        return f"{version // 10000}.{version // 100 % 100}.{version % 100}"
    return str(version)


def cell(text):
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def fmt(value, digits):
    return f"{value:.{digits}f}"


def build_rows(fftrain_cases, cudnn_cases):
    """Rows in the fftrain file's order, each with speedup where both times exist."""
    rows = []
    for (layer, pass_name), case in fftrain_cases.items():
        row = dict(case)
        cudnn = cudnn_cases.get((layer, pass_name))
        row["shape"] = case["shape"] or (cudnn or {}).get("shape")
        row["kernel"] = kernel_of(row["shape"])
        if row["kernel"] is None:
            raise InputError(f"{layer}: no shape in either file, so its kernel size is unknown")
        if cudnn and "best_ms" in cudnn:
            row["cudnn_ms"] = cudnn["best_ms"]
            row["cudnn_mode"] = MODE_NAMES.get(cudnn.get("best_mode"), cudnn.get("best_mode"))
            if "ms" in row and row["ms"] > 0:
                row["speedup"] = row["cudnn_ms"] / row["ms"]
        rows.append(row)
    return rows


def table(rows):
    lines = ["| layer | pass | fftrain ms | cuDNN ms (mode) | speedup | fftrain TFLOP/s "
             "| bound ms | x bound | workspace MiB | fftrain method |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        cudnn = f"{fmt(r['cudnn_ms'], 3)} ({r['cudnn_mode']})" if "cudnn_ms" in r else "n/a"
        speedup = f"{r['speedup']:.2f}x" if "speedup" in r else "n/a"
        if "error" in r:
            lines.append(f"| {r['layer']} | {r['pass']} | error: {cell(r['error'])} | {cudnn} "
                         f"| n/a | | | | |")
            continue
        lines.append(f"| {r['layer']} | {r['pass']} | {fmt(r['ms'], 3)} | {cudnn} | {speedup} "
                     f"| {fmt(r['TFLOPs'], 1)} | {fmt(r['bound_ms'], 3)} "
                     f"| {fmt(r['x_bound'], 2)} | {fmt(r['workspace_MiB'], 1)} "
                     f"| {cell(r.get('method') or 'default')} |")
    return lines


def summary(rows):
    lines = []
    rows = [r for r in rows if in_targets(r["layer"])]
    big = [r for r in rows if min(r["kernel"]) >= 5 and "speedup" in r]
    small = [r for r in rows if r["kernel"] == (3, 3) and "speedup" in r]
    timed = [r for r in rows if "x_bound" in r]
    untimed = [r for r in rows if "speedup" not in r]

    def case(r):
        return f"{r['layer']} {r['pass']}"

    if big:
        geomean = math.exp(sum(math.log(r["speedup"]) for r in big) / len(big))
        worst = min(big, key=lambda r: r["speedup"])
        layers = len({r["layer"] for r in big})
        lines.append(f"- Kernels >= 5 ({layers} layers, {len(big)} cases): geometric-mean "
                     f"speedup over cuDNN **{geomean:.2f}x** (target >= "
                     f"{GEOMEAN_SPEEDUP_TARGET:g}x: "
                     f"{missed(geomean, GEOMEAN_SPEEDUP_TARGET, True)}).")
        lines.append(f"- Kernels >= 5, worst case: **{worst['speedup']:.2f}x** ({case(worst)}) "
                     f"(target >= {SPEEDUP_PER_PASS_TARGET:g}x on every pass: "
                     f"{missed(worst['speedup'], SPEEDUP_PER_PASS_TARGET, True)}).")
    else:
        lines.append("- Kernels >= 5: no case with both times; the speedup targets are not "
                     "evaluated.")
    if timed:
        worst = max(timed, key=lambda r: r["x_bound"])
        lines.append(f"- Roofline, worst case: **{worst['x_bound']:.2f}x** the bound "
                     f"({case(worst)}) (target <= {X_BOUND_TARGET:g}x: "
                     f"{missed(worst['x_bound'], X_BOUND_TARGET, False)}).")
    if small:
        worst = max(small, key=lambda r: 1 / r["speedup"])
        ratio = 1 / worst["speedup"]
        per_layer = "; ".join(
            f"{layer} " + " / ".join(f"{1 / r['speedup']:.2f}" for r in small
                                     if r["layer"] == layer)
            for layer in dict.fromkeys(r["layer"] for r in small))
        lines.append(f"- 3x3 kernels, fftrain time / cuDNN time, worst: **{ratio:.2f}x** "
                     f"({case(worst)}) (target <= {RATIO_3X3_TARGET:g}x: "
                     f"{missed(ratio, RATIO_3X3_TARGET, False)}); per layer, forward / "
                     f"backward data / backward filter: {per_layer}.")
    else:
        lines.append("- 3x3 kernels: no case with both times; the target is not evaluated.")
    if untimed:
        lines.append(f"- Left out of the speedups for want of a time on one side: "
                     f"{', '.join(case(r) for r in untimed)}.")
    return lines


def render(context, cudnn_doc, rows, commands, commit):
    peak_tflops = context.get("peak_tflops", "?")
    peak_tbps = context.get("peak_tbps", "?")
    peak_tf32 = context.get("peak_tf32_tflops")
    # Runs since the cost model's peaks table: tf32x3 products bounded at the tensor
    # cores' rate (fftconv/cost_model.h).
    tf32_note = (f"; the products of tf32x3 methods count at {peak_tf32}/3 TFLOP/s, the "
                 f"tensor cores' dense TF32 rate over the three products per fp32 one"
                 if peak_tf32 else "")
    out = ["# Benchmarks: fftrain's FFT convolution against cuDNN", ""]
    out.append(f"GPU: {context.get('gpu', 'unknown')}. Measured {context.get('date', '?')} "
               f"(fftrain) and {cudnn_doc.get('date', '?')} (cuDNN)"
               + (f", fftrain commit {commit}" if commit else "") + ".")
    out.append(f"cuDNN {cudnn_version(cudnn_doc.get('cudnn', '?'))} through PyTorch "
               f"{cudnn_doc.get('torch', '?')}, "
               f"`cudnn.benchmark` on, the faster of strict fp32 and TF32 per pass, median of "
               f"{cudnn_doc.get('iterations', '?')} calls.")
    out.append("")
    out.append("Every case is stride 1 without padding; times are milliseconds per call "
               "of one pass, each call timed alone between CUDA events (fftrain: the median "
               "over the calls of a run, then the median of the repetitions). Forward "
               "includes the bias; backward data starts from the weights' spectrum that "
               "the forward pass made (as in training); backward filter transforms dL/dy "
               "itself and includes the bias gradient (cuDNN's too). Speedup = cuDNN ms / "
               "fftrain ms. TFLOP/s is effective: the direct method's 2 N C K oh ow kh kw "
               "flops over fftrain's time. Bound = the FFT method's roofline, "
               f"max(FFT flops / {peak_tflops} TFLOP/s, least bytes / {peak_tbps} TB/s)"
               f"{tf32_note} (fftconv/cost_model.h); x bound = fftrain time / bound.")
    out.append("")
    out.append("Commands (from the repository root on the GPU node):")
    out.append("")
    out.append("```")
    out.extend(commands or [context.get("executable", "fft_conv_benchmark"),
                            cudnn_doc.get("command", "cudnn_baseline.py")])
    out.append("```")
    out.append("")
    out.append("## Summary against the issue's targets")
    out.append("")
    out.extend(summary(rows))
    for title, _, _ in GROUPS:
        group = [r for r in rows if group_of(r["layer"]) == title]
        if not group:
            continue
        out.append("")
        out.append(f"## {title}")
        out.append("")
        shapes = dict.fromkeys(f"{r['layer']}: {r['shape']}" for r in group)
        out.append("; ".join(shapes) + ".")
        out.append("")
        out.extend(table(group))
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--fftrain", required=True, help="fft_conv_benchmark's JSON")
    parser.add_argument("--cudnn", required=True, help="cudnn_baseline.py's JSON")
    parser.add_argument("--out", default="docs/benchmarks.md", help="the Markdown to write")
    parser.add_argument("--command", action="append", default=[],
                        help="a command that produced the data, for the report (repeatable)")
    parser.add_argument("--commit", default="", help="fftrain's commit, for the report")
    args = parser.parse_args()
    try:
        context, fftrain_cases = read_fftrain(args.fftrain)
        cudnn_doc, cudnn_cases = read_cudnn(args.cudnn)
        check_same_setup(context, cudnn_doc, fftrain_cases, cudnn_cases)
        rows = build_rows(fftrain_cases, cudnn_cases)
        text = render(context, cudnn_doc, rows, args.command, args.commit)
    except InputError as e:
        print(f"make_benchmarks_md: {e}", file=sys.stderr)
        return 1
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        print(f"make_benchmarks_md: --out: directory {out_dir} does not exist", file=sys.stderr)
        return 1
    # Written whole or not at all: a failed run must not leave half a report in docs/.
    tmp = f"{args.out}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print("\n".join(summary(rows)))
    print(f"make_benchmarks_md: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
