#!/usr/bin/env python3
"""Weak scaling of fftrain's trainer and PyTorch DDP: ms per iteration and efficiency by ranks.

Weak scaling: the same batch on every GPU, so the ideal is the one-rank time and the
efficiency at G ranks is t(1) / t(G), each framework against its own one-rank time.
fftrain's times come from `train --benchmark_iterations=N` ("X ms per training
iteration"); PyTorch's from tools/bench/torch_ddp_paper128.py --json (its "ddp" time,
and with --baseline also its "alone" time on the same GPUs: DDP's own overhead).

  weak_scaling_table.py --fftrain 1=16.8 --fftrain 8=17.5 \\
      --torch 1=ddp1.json --torch 8=ddp8.json [--single 16.7 --nccl 16.8] [--markdown F]

--single and --nccl, fftrain's one-rank times with --communicator=single and =nccl, add
the NCCL path's cost on one GPU (issue 14: under 1%). A rank count with no time (its run
failed) shows "-". Exit status 1 for unreadable or malformed input.
"""
import argparse
import json
import sys


def ranks_value(text):
    ranks, sep, value = text.partition("=")
    if not sep or not ranks.isdigit() or int(ranks) < 1 or not value:
        raise argparse.ArgumentTypeError(f"'{text}' is not RANKS=VALUE (e.g. 8=17.5)")
    return int(ranks), value


def positive_ms(text, what):
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"weak_scaling_table: {what}: '{text}' is not a number of ms") from None
    if not value > 0:
        raise SystemExit(f"weak_scaling_table: {what}: {value} ms is not positive")
    return value


def torch_times(path):
    """(ddp ms, alone ms or None) from torch_ddp_paper128.py's JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except OSError as e:
        raise SystemExit(f"weak_scaling_table: cannot read {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise SystemExit(f"weak_scaling_table: {path} is not JSON: {e}") from None
    try:
        ddp = float(document["ddp"]["ms_per_iteration"])
        alone = document.get("alone", {}).get("ms_per_iteration")
    except (KeyError, TypeError, ValueError):
        raise SystemExit(f"weak_scaling_table: {path} is not torch_ddp_paper128.py's JSON "
                         "(no ddp.ms_per_iteration)") from None
    return ddp, None if alone is None else float(alone)


def efficiency(times, ranks):
    if 1 not in times or ranks not in times:
        return "-"
    return f"{100 * times[1] / times[ranks]:.1f}%"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--fftrain", type=ranks_value, action="append", default=[],
                        metavar="RANKS=MS", help="fftrain's ms per iteration at RANKS ranks")
    parser.add_argument("--torch", type=ranks_value, action="append", default=[],
                        metavar="RANKS=JSON", help="torch_ddp_paper128.py's JSON at RANKS ranks")
    parser.add_argument("--single", metavar="MS", help="fftrain, one rank, --communicator=single")
    parser.add_argument("--nccl", metavar="MS", help="fftrain, one rank, --communicator=nccl")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    args = parser.parse_args()
    if not args.fftrain and not args.torch:
        parser.error("give at least one --fftrain or --torch")

    fftrain = {r: positive_ms(v, f"--fftrain {r}") for r, v in args.fftrain}
    ddp, alone = {}, {}
    for ranks, path in args.torch:
        ddp[ranks], alone_ms = torch_times(path)
        if alone_ms is not None:
            alone[ranks] = alone_ms

    header = ["ranks", "fftrain ms", "fftrain eff", "PyTorch DDP ms", "PyTorch eff",
              "PyTorch alone ms", "DDP/alone", "fftrain speedup"]
    table = []
    for ranks in sorted(set(fftrain) | set(ddp)):
        f, d, a = fftrain.get(ranks), ddp.get(ranks), alone.get(ranks)
        table.append([
            str(ranks),
            "-" if f is None else f"{f:.3f}",
            efficiency(fftrain, ranks),
            "-" if d is None else f"{d:.3f}",
            efficiency(ddp, ranks),
            "-" if a is None else f"{a:.3f}",
            "-" if a is None or d is None else f"{100 * a / d:.1f}%",
            "-" if f is None or d is None else f"{d / f:.2f}x",
        ])
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in table]
    notes = ["efficiency = t(1 rank) / t(G ranks), each against its own one-rank time; "
             "fftrain speedup = PyTorch DDP ms / fftrain ms"]
    if args.single is not None and args.nccl is not None:
        single = positive_ms(args.single, "--single")
        nccl = positive_ms(args.nccl, "--nccl")
        cost = 100 * (nccl - single) / single
        verdict = "met" if cost < 1 else "missed"
        notes.append(f"one rank: --communicator=nccl {nccl:.3f} ms against single "
                     f"{single:.3f} ms: {cost:+.2f}% (issue 14 target < 1%: {verdict})")
    elif args.single is not None or args.nccl is not None:
        notes.append("one rank: NCCL against single: a time is missing")
    print("\n".join(lines + notes))
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write("| " + " | ".join(header) + " |\n")
            out.write("|" + "---|" * len(header) + "\n")
            for r in table:
                out.write("| " + " | ".join(r) + " |\n")
            out.write("\n" + "\n".join(notes) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
