#!/usr/bin/python3
"""Plots a trainer's JSON-lines log: loss and accuracy against epochs, in one PNG.

    plot_training.py LOG.jsonl -o OUT.png [--title T]

Reads "step" events (loss per optimizer step) and "epoch" events (train and test loss
and accuracy per epoch); other events, such as "config", are read only for the title
and steps per epoch. Run it through tools/plot/plot.sh, which makes sure Debian's
matplotlib is installed for /usr/bin/python3.
"""

import argparse
import json
import math
import os
import sys


class LogError(Exception):
    """A problem with the log, reported as one line and a non-zero exit."""


def _number(event, key, path, line_number):
    """The numeric field `key` of `event`, or None where absent or null.

    The trainer writes NaN and infinities (a diverged loss) as null, so null is a
    missing point rather than an error; anything else that is not a number is.
    """
    value = event.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LogError(
            f"{path}:{line_number}: field \"{key}\" of the {event['event']} event is "
            f"{json.dumps(value)}, not a number")
    return float(value) if math.isfinite(value) else None


def _drop_replayed(events, key, value):
    """Drops the trailing events whose `key` is at or past `value`.

    Resumed training appends to the log and replays from its checkpoint, so the later run
    replaces what the earlier one logged from that point on.
    """
    while events and events[-1][key] is not None and events[-1][key] >= value:
        events.pop()


def read_log(path):
    """Returns (configs, steps, epochs): lists of dicts, in log order."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise LogError(f"{path}: no such file")
    except OSError as e:
        raise LogError(f"{path}: cannot read: {e.strerror}")

    lines = data.split(b"\n")  # the last element is whatever follows the last newline

    configs, steps, epochs = [], [], []
    for line_number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            event = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if line_number == len(lines):
                # The trainer flushes line by line, so a log read mid-write (or after a
                # crash) may end in a partial line with no newline yet: in flight, not bad.
                print(f"plot_training: {path}:{line_number}: ignoring the unterminated, "
                      "incomplete last line (still being written?)", file=sys.stderr)
                continue
            if isinstance(e, UnicodeDecodeError):
                raise LogError(f"{path}:{line_number}: not UTF-8 text ({e.reason})")
            raise LogError(f"{path}:{line_number}: malformed JSON: {e.msg} (column {e.colno})")
        if not isinstance(event, dict):
            raise LogError(f"{path}:{line_number}: expected a JSON object, "
                           f"found {type(event).__name__}")
        kind = event.get("event")
        if not isinstance(kind, str):
            raise LogError(f"{path}:{line_number}: the object has no \"event\" field")

        if kind == "config":
            configs.append(event)
        elif kind == "step":
            step = {k: _number(event, k, path, line_number)
                    for k in ("epoch", "step", "loss", "accuracy")}
            if step["step"] is None and step["epoch"] is None:
                raise LogError(
                    f"{path}:{line_number}: step event has neither \"step\" nor \"epoch\"")
            if step["step"] is not None:
                _drop_replayed(steps, "step", step["step"])
            steps.append(step)
        elif kind == "epoch":
            epoch = {k: _number(event, k, path, line_number)
                     for k in ("epoch", "step", "train_loss", "train_accuracy", "test_loss",
                               "test_accuracy", "images_per_s")}
            if epoch["epoch"] is None:
                raise LogError(f"{path}:{line_number}: epoch event has no \"epoch\" number")
            _drop_replayed(epochs, "epoch", epoch["epoch"])
            epochs.append(epoch)
        # Other events are for other readers: skipped, so the log can grow new ones.

    if not steps and not epochs:
        raise LogError(f"{path}: no \"step\" or \"epoch\" events to plot")
    return configs, steps, epochs


def steps_per_epoch(configs, epochs):
    """Optimizer steps in one epoch, from the config or the epoch events; None if unknown."""
    for config in reversed(configs):
        value = config.get("steps_per_epoch")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    for epoch in reversed(epochs):
        if (epoch["step"] or 0) > 0 and epoch["epoch"] > 0:
            return epoch["step"] / epoch["epoch"]  # "step" counts steps since the start
    return None


def as_percent(values):
    """Accuracies in percent. The trainer logs fractions; a log in percent is left as is."""
    present = [v for v in values if v is not None]
    scale = 100.0 if present and max(present) <= 1.0 else 1.0
    return [None if v is None else v * scale for v in values]


def series(xs, ys):
    """The (x, y) pairs where y is present, as two lists."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot(configs, steps, epochs, out_path, title):
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    spe = steps_per_epoch(configs, epochs)
    step_x = [s["step"] / spe if spe and s["step"] is not None else s["epoch"] for s in steps]
    epoch_x = [e["epoch"] for e in epochs]

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    train_color, test_color = "tab:blue", "tab:orange"

    x, y = series(step_x, [s["loss"] for s in steps])
    if x:
        loss_ax.plot(x, y, color=train_color, linewidth=0.7, alpha=0.45, label="train (per step)")
    x, y = series(epoch_x, [e["train_loss"] for e in epochs])
    if x:
        loss_ax.plot(x, y, "o-", color=train_color, markersize=4, label="train (epoch)")
    x, y = series(epoch_x, [e["test_loss"] for e in epochs])
    if x:
        loss_ax.plot(x, y, "s-", color=test_color, markersize=4, label="test (epoch)")
    loss_ax.set_title("Loss")
    loss_ax.set_ylabel("cross-entropy loss")

    x, y = series(step_x, as_percent([s["accuracy"] for s in steps]))
    if x:
        acc_ax.plot(x, y, color=train_color, linewidth=0.7, alpha=0.3, label="train (per step)")
    x, y = series(epoch_x, as_percent([e["train_accuracy"] for e in epochs]))
    if x:
        acc_ax.plot(x, y, "o-", color=train_color, markersize=4, label="train (epoch)")
    x, y = series(epoch_x, as_percent([e["test_accuracy"] for e in epochs]))
    if x:
        acc_ax.plot(x, y, "s-", color=test_color, markersize=4, label="test (epoch)")
        best = max(range(len(y)), key=lambda i: y[i])
        acc_ax.annotate(f"best test {y[best]:.2f}%\n(epoch {x[best]:g})",
                        xy=(x[best], y[best]), xytext=(0, -42), textcoords="offset points",
                        ha="center", fontsize=9, color=test_color,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85),
                        arrowprops=dict(arrowstyle="->", color=test_color))
    acc_ax.set_title("Accuracy")
    acc_ax.set_ylabel("accuracy (%)")

    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(loc="best", fontsize=9)
        else:
            ax.text(0.5, 0.5, "no data in the log", transform=ax.transAxes,
                    ha="center", va="center", color="gray")
    fig.suptitle(title)

    # Drawn to a temporary beside the output and renamed, so OUT.png is never half-written.
    tmp_path = f"{out_path}.tmp.{os.getpid()}.png"
    try:
        fig.savefig(tmp_path, dpi=110, format="png")
        os.replace(tmp_path, out_path)
    except OSError as e:
        try:
            os.unlink(tmp_path)
        except OSError:
            pass
        raise LogError(f"{out_path}: cannot write: {e.strerror or e}")
    finally:
        plt.close(fig)


def default_title(log_path, configs):
    name = os.path.basename(log_path)
    for config in reversed(configs):
        spec = config.get("network") or config.get("network_spec")
        if isinstance(spec, str) and spec:
            return f"{name}: {spec}"
    return name


def main(argv):
    parser = argparse.ArgumentParser(
        prog="plot_training.py",
        description="Plot loss and accuracy from a trainer's JSON-lines log into a PNG.")
    parser.add_argument("log", metavar="LOG.jsonl", help="the trainer's log")
    parser.add_argument("-o", "--output", metavar="OUT.png", required=True,
                        help="the PNG to write (replaced if it exists)")
    parser.add_argument("--title", help="figure title (default: the log's name and network)")
    args = parser.parse_args(argv)
    try:
        configs, steps, epochs = read_log(args.log)
        plot(configs, steps, epochs, args.output,
             args.title if args.title is not None else default_title(args.log, configs))
    except LogError as e:
        print(f"plot_training: error: {e}", file=sys.stderr)
        return 1
    print(f"plot_training: wrote {args.output} ({len(epochs)} epochs, {len(steps)} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
