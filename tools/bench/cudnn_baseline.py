#!/usr/bin/env python3
"""cuDNN through PyTorch on the layers of fft_conv_benchmark: milliseconds per pass.

The baseline of docs/benchmarks.md: what a user would run instead of fftrain. For each
layer (the same names and shapes as tools/bench/fft_conv_benchmark.cc) and each pass it
times, with torch.backends.cudnn.benchmark on:
  forward          torch.nn.functional.conv2d(x, w, b)
  backward_data    dL/dx alone             (aten.convolution_backward, mask [x])
  backward_filter  dL/dw and dL/db         (aten.convolution_backward, mask [w, b]),
                   as fftrain's BackwardFilter computes both
in strict fp32 (cudnn.allow_tf32 = False) and with TF32 tensor cores allowed, and keeps
the faster mode per pass: the strongest baseline a user gets by flipping one switch.
Each time is the median of --iterations calls, each between two CUDA events on the
current stream, after --warmup untimed calls (which also run cuDNN's autotuning).

  python3 tools/bench/cudnn_baseline.py --out bench_out/cudnn.json [--layers REGEX]
  python3 tools/bench/cudnn_baseline.py --list_layers     # needs neither torch nor a GPU

Writes JSON (--out) and prints a table. Exits non-zero, with the reason, where PyTorch,
CUDA or cuDNN is missing, and after writing the JSON if any case failed.
"""
import argparse
import datetime
import json
import os
import re
import statistics
import sys
import warnings

PASSES = ("forward", "backward_data", "backward_filter")
MODES = ("fp32", "tf32")  # strict fp32, then TF32 tensor cores allowed
MIN_ITERATIONS = 20


def valid_conv(n, c, size, k, kernel):
    """A stride-1 convolution without padding, as a dict of ConvShape's fields."""
    return {"n": n, "c": c, "h": size, "w": size, "k": k, "kh": kernel, "kw": kernel,
            "pad_h": 0, "pad_w": 0}


def all_layers():
    """The layers of the performance issue, in fft_conv_benchmark's order and names."""
    layers = [
        # convnet-benchmarks L1..L5 (fftconv::ConvnetBenchmarkLayers), batch 128.
        ("L1", valid_conv(128, 3, 128, 96, 11)),
        ("L2", valid_conv(128, 64, 64, 128, 9)),
        ("L3", valid_conv(128, 128, 32, 128, 9)),
        ("L4", valid_conv(128, 128, 16, 128, 7)),
        ("L5", valid_conv(128, 384, 13, 384, 3)),
    ]
    # The paper's sweep: 96 -> 256 planes.
    for kernel in (3, 5, 7, 9, 11, 13):
        layers.append((f"S32k{kernel}", valid_conv(128, 96, 32, 256, kernel)))
    layers.append(("S64k9", valid_conv(64, 96, 64, 256, 9)))
    layers.append(("K31", valid_conv(32, 128, 64, 128, 31)))
    layers.append(("R56k3", valid_conv(128, 64, 56, 64, 3)))
    # Beyond the list: a large image with a small kernel (tiled FFT convolution).
    layers.append(("T256k5", valid_conv(16, 64, 256, 64, 5)))
    return layers


def shape_string(s):
    """ConvShape::ToString's format, which make_benchmarks_md.py compares."""
    return (f"N={s['n']} C={s['c']} H={s['h']} W={s['w']} K={s['k']} "
            f"k={s['kh']}x{s['kw']} pad={s['pad_h']}x{s['pad_w']}")


def select_layers(pattern):
    layers = all_layers()
    if not pattern:
        return layers
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise SystemExit(f"cudnn_baseline: --layers '{pattern}' is not a regular expression: {e}")
    picked = [(name, s) for name, s in layers if regex.search(name)]
    if not picked:
        names = ", ".join(name for name, _ in layers)
        raise SystemExit(f"cudnn_baseline: --layers '{pattern}' matches no layer; "
                         f"the layers are {names}")
    return picked


def import_torch():
    """torch, or a clear exit where PyTorch, CUDA or cuDNN is missing."""
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise SystemExit(f"cudnn_baseline: PyTorch is not installed for {sys.executable} "
                         f"({e}); this baseline runs on the GPU node, whose python3 has it")
    if not torch.cuda.is_available():
        raise SystemExit(f"cudnn_baseline: torch {torch.__version__} sees no CUDA device "
                         f"(torch.cuda.is_available() is False); run it on a GPU node")
    if not torch.backends.cudnn.is_available():
        raise SystemExit(f"cudnn_baseline: torch {torch.__version__} has no cuDNN; "
                         f"the baseline is cuDNN")
    return torch


def set_mode(torch, mode):
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.benchmark = True
    # PyTorch >= 2.9 prefers torch.backends.cudnn.conv.fp32_precision and warns about
    # allow_tf32, which still works and is what torch_paper128.py uses; one API only,
    # since PyTorch refuses to mix the two.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
        if torch.backends.cudnn.allow_tf32 != (mode == "tf32"):
            raise SystemExit(f"cudnn_baseline: could not set cudnn.allow_tf32 for {mode}")


def pass_function(torch, pass_name, x, w, b, gy):
    s = [1, 1]
    p = [0, 0]
    if pass_name == "forward":
        return lambda: torch.nn.functional.conv2d(x, w, b)
    if pass_name == "backward_data":
        return lambda: torch.ops.aten.convolution_backward(
            gy, x, w, None, s, p, s, False, p, 1, [True, False, False])
    if pass_name == "backward_filter":
        return lambda: torch.ops.aten.convolution_backward(
            gy, x, w, [w.shape[0]], s, p, s, False, p, 1, [False, True, True])
    raise ValueError(f"unknown pass {pass_name}")


def time_ms(torch, fn, warmup, iterations):
    """Median milliseconds of one call, each timed alone between two CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iterations):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def run_layer(torch, name, s, args):
    """One dict per pass: both modes' medians and the best."""
    generator = torch.Generator(device="cuda")
    generator.manual_seed(args.seed)
    oh = s["h"] + 2 * s["pad_h"] - s["kh"] + 1
    ow = s["w"] + 2 * s["pad_w"] - s["kw"] + 1

    def uniform(*shape):  # never zeros, like fft_conv_benchmark's buffers
        return torch.rand(*shape, device="cuda", generator=generator) * 2 - 1

    x = uniform(s["n"], s["c"], s["h"], s["w"])
    w = uniform(s["k"], s["c"], s["kh"], s["kw"])
    b = uniform(s["k"])
    gy = uniform(s["n"], s["k"], oh, ow)
    results = []
    for pass_name in PASSES:
        entry = {"layer": name, "shape": shape_string(s), "pass": pass_name, "ms": {}}
        fn = pass_function(torch, pass_name, x, w, b, gy)
        for mode in MODES:
            set_mode(torch, mode)
            try:
                with torch.no_grad():
                    entry["ms"][mode] = time_ms(torch, fn, args.warmup, args.iterations)
            except RuntimeError as e:  # out of memory, cuDNN errors: record, go on
                entry.setdefault("errors", {})[mode] = str(e).splitlines()[0]
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
        if entry["ms"]:
            entry["best_mode"] = min(entry["ms"], key=entry["ms"].get)
            entry["best_ms"] = entry["ms"][entry["best_mode"]]
        results.append(entry)
    del x, w, b, gy
    torch.cuda.empty_cache()
    return results


def print_table(results):
    print(f"{'layer':<8} {'pass':<16} {'fp32 ms':>9} {'tf32 ms':>9} {'best':>9}  mode")
    for r in results:
        cells = [f"{r['ms'][m]:9.3f}" if m in r["ms"] else f"{'error':>9}" for m in MODES]
        best = f"{r['best_ms']:9.3f}" if "best_ms" in r else f"{'-':>9}"
        print(f"{r['layer']:<8} {r['pass']:<16} {cells[0]} {cells[1]} {best}  "
              f"{r.get('best_mode', '-')}")
        for mode, error in r.get("errors", {}).items():
            print(f"    {mode}: {error}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--out", help="JSON output file (required unless --list_layers)")
    parser.add_argument("--layers", default="",
                        help="regular expression searched in the layer names; default all")
    parser.add_argument("--iterations", type=int, default=30,
                        help=f"timed calls per pass and mode, median taken "
                             f"(at least {MIN_ITERATIONS}; default 30)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed calls first, cuDNN's autotuning among them (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random tensors")
    parser.add_argument("--list_layers", action="store_true",
                        help="print the selected layers' names and shapes, then exit")
    args = parser.parse_args()

    layers = select_layers(args.layers)
    if args.list_layers:
        for name, s in layers:
            print(f"{name} {shape_string(s)}")
        return 0
    if not args.out:
        parser.error("--out is required")
    if args.iterations < MIN_ITERATIONS:
        parser.error(f"--iterations must be at least {MIN_ITERATIONS}, got {args.iterations}")
    if args.warmup < 1:
        parser.error(f"--warmup must be at least 1 (cuDNN autotunes on the first call), "
                     f"got {args.warmup}")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        parser.error(f"--out: directory {out_dir} does not exist")

    torch = import_torch()
    gpu = torch.cuda.get_device_name()
    print(f"GPU: {gpu}; torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}; "
          f"median of {args.iterations} after {args.warmup} warm-up calls", flush=True)
    results = []
    for name, s in layers:
        results.extend(run_layer(torch, name, s, args))
        print(f"  {name} done", file=sys.stderr, flush=True)

    report = {
        "tool": "cudnn_baseline",
        "gpu": gpu,
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python3"] + sys.argv),
        "iterations": args.iterations,
        "warmup": args.warmup,
        "modes": {"fp32": "cudnn.allow_tf32=False", "tf32": "cudnn.allow_tf32=True"},
        "results": results,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print_table(results)
    failed = [f"{r['layer']}/{r['pass']}" for r in results if "errors" in r]
    if failed:
        print(f"cudnn_baseline: errors in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
