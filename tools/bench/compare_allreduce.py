#!/usr/bin/env python3
"""Two all-reduce benchmark JSON files side by side: time and busbw by size, and their ratio.

Reads what comm/allreduce_benchmark --json and tools/bench/torch_allreduce.py --json
write (the same fields: results[] with size_bytes, time_us, algbw_gbs, busbw_gbs,
correct; ranks, gpu, nccl). The ratio is A's busbw over B's at each size; with the same
ranks that is B's time over A's, so it is defined for one rank too (busbw 0). The
summary line gives the geometric mean, minimum and maximum of the ratio over the sizes
of at least --large (64 MiB by default), where bandwidth, not latency, decides.

  compare_allreduce.py fftrain.json torch.json                   # fftrain vs PyTorch
  compare_allreduce.py emulated.json nvlink.json --names "emulated nodes" NVLink
  compare_allreduce.py a.json b.json --markdown allreduce.md

Exit status 1 (with a message) when a file cannot be read, is not such JSON, the two
ran on different numbers of ranks, or they share no size; a result marked incorrect is
shown as WRONG but does not change the exit status (its benchmark already failed).
"""
import argparse
import json
import math
import sys

_UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


def human_size(size):
    for unit, name in _UNITS:
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


def parse_size(text):
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    if scale != 1:
        text = text[:-1]
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size (a number with K, M or G)") \
            from None
    return value * scale


def load(path, name):
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except OSError as e:
        raise SystemExit(f"compare_allreduce: cannot read the {name} JSON {path}: "
                         f"{e.strerror}") from None
    except json.JSONDecodeError as e:
        raise SystemExit(f"compare_allreduce: {path} is not JSON: {e}") from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not all(
            isinstance(r, dict) and {"size_bytes", "time_us", "busbw_gbs"} <= r.keys()
            for r in results):
        raise SystemExit(f"compare_allreduce: {path} is not an all-reduce benchmark's JSON "
                         "(results[] with size_bytes, time_us, busbw_gbs)")
    return document


def describe(document, name):
    tool = document.get("tool", "?")
    extra = f" torch {document['torch']}," if "torch" in document else ""
    return (f"{name}: {tool},{extra} NCCL {document.get('nccl', '?')}, "
            f"{document.get('ranks', '?')} ranks, {document.get('gpu', '?')}")


def compare(a, b, large):
    """Rows (size, a row, b row, ratio) over the union of sizes, and the large-size ratios."""
    rows_a = {r["size_bytes"]: r for r in a["results"]}
    rows_b = {r["size_bytes"]: r for r in b["results"]}
    rows, large_ratios = [], []
    for size in sorted(set(rows_a) | set(rows_b)):
        ra, rb = rows_a.get(size), rows_b.get(size)
        ratio = None
        if ra and rb and ra["time_us"] > 0 and rb["time_us"] > 0:
            ratio = rb["time_us"] / ra["time_us"]
            if size >= large:
                large_ratios.append((ratio, size))
        rows.append((size, ra, rb, ratio))
    return rows, large_ratios


def cell(row, key, fmt):
    if row is None:
        return "-"
    text = format(row[key], fmt)
    return text + (" WRONG" if key == "busbw_gbs" and row.get("correct") is False else "")


def summary_line(names, large, large_ratios):
    if not large_ratios:
        return f"at >= {human_size(large)}: no size with both results"
    ratios = [r for r, _ in large_ratios]
    mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    low, high = min(large_ratios), max(large_ratios)
    return (f"at >= {human_size(large)}: {names[0]}/{names[1]} busbw ratio {mean:.2f}x "
            f"(geometric mean of {len(ratios)} sizes; min {low[0]:.2f}x at "
            f"{human_size(low[1])}, max {high[0]:.2f}x at {human_size(high[1])})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("a", help="the first JSON (fftrain's, for fftrain vs PyTorch)")
    parser.add_argument("b", help="the second JSON (PyTorch's)")
    parser.add_argument("--names", nargs=2, default=["fftrain", "PyTorch"], metavar=("A", "B"),
                        help="column names (default: fftrain PyTorch)")
    parser.add_argument("--large", type=parse_size, default=64 << 20,
                        help="smallest size in the summary ratio (default 64M)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    args = parser.parse_args()

    a, b = load(args.a, args.names[0]), load(args.b, args.names[1])
    if a.get("ranks") != b.get("ranks"):
        raise SystemExit(f"compare_allreduce: {args.a} ran on {a.get('ranks')} ranks and "
                         f"{args.b} on {b.get('ranks')}: not comparable")
    rows, large_ratios = compare(a, b, args.large)
    if not any(ratio is not None for *_, ratio in rows):
        raise SystemExit(f"compare_allreduce: {args.a} and {args.b} share no size")

    na, nb = args.names
    header = ["size", f"{na} us", f"{na} busbw GB/s", f"{nb} us", f"{nb} busbw GB/s",
              f"{na}/{nb}"]
    table = []
    for size, ra, rb, ratio in rows:
        table.append([human_size(size), cell(ra, "time_us", ".2f"), cell(ra, "busbw_gbs", ".2f"),
                      cell(rb, "time_us", ".2f"), cell(rb, "busbw_gbs", ".2f"),
                      "-" if ratio is None else f"{ratio:.2f}x"])
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    summary = summary_line(args.names, args.large, large_ratios)
    print(describe(a, na))
    print(describe(b, nb))
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for r in table:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print(summary)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write(f"{describe(a, na)}  \n{describe(b, nb)}\n\n")
            out.write("| " + " | ".join(header) + " |\n")
            out.write("|" + "---|" * len(header) + "\n")
            for r in table:
                out.write("| " + " | ".join(r) + " |\n")
            out.write(f"\n{summary}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
