"""Drawn digits as a first-class evaluation: pen digits of held-out writers, rendered as the
drawing pad sends them, read through `Predictor.predict` -- the path a user's drawing takes.

Every digit is drawn on a 280x280 white pad at each pen width (10, 22 and 34 px by default)
and reported per pen set (UNIPEN, pendigits, ...) and pooled: per digit, per writing style
(with counts), per writer and per contributor, with the worst writers, confusion matrices
(the 1/7 trade-off: ones read as 7 beside sevens read as 1), and the sum head on the same
drawings for all ten values of n.

CLI: `python -m mnistsum.pen_eval [--weights PATH] [--writers test] [--json] [--out FILE]`
(also `python -m mnistsum.evaluate --drawn ...`). With `--sizes` it measures instead how
the digit head reads the same digits drawn small, in a corner, with the pad's one pen
(`SIZES`): the pen does not shrink with the digit, so a small digit is a thick one.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .cli import exits_cleanly, publish, shown_path
from .config import SHIPPED_WEIGHTS, default_data_dir
from .model import NUM_DIGITS
from .pen import EVAL_PEN_WIDTHS, PARTS, PenDigits, load_pen_digits, render, writer_split
from .predictor import BlankDrawingError, Predictor

# Drawings of one size and place with the pad's pen (22 px): name -> (pen px, digit's longer side px, centre or None)
SIZES: dict[str, tuple[float, float, tuple[float, float] | None]] = {
    "200 px, centred (as usual)": (22, 200, None),
    "100 px, centred": (22, 100, None),
    "70 px, top right corner": (22, 70, (235, 45)),
    "60 px, top left corner": (22, 60, (35, 35)),
    "40 px, top right corner": (22, 40, (250, 30)),
}
BLANK = -1  # the prediction recorded when a drawing is read as empty (always wrong)
WORST = 5  # how many of the worst writers a report lists


def tail_curls(strokes: list[np.ndarray]) -> bool:
    """Whether the pen, after the lowest point of a digit, comes back up by more than a tenth
    of the digit's height: a 9 (or 7) whose tail curls rather than ends at the bottom."""
    height = max(float(np.ptp(np.concatenate(strokes)[:, 1])), 1e-9)
    stroke = max(strokes, key=lambda s: s[:, 1].max())
    bottom = int(np.argmax(stroke[:, 1]))
    after, before = stroke[bottom:, 1], stroke[: bottom + 1, 1]
    # The tail is the side of the lowest point that rises less (the other side climbs to the loop).
    tail = after if np.ptp(after) < np.ptp(before) else before
    return float(stroke[bottom, 1] - tail.min()) > 0.1 * height


def crossed(strokes: list[np.ndarray]) -> bool:
    """Whether a digit of 2+ strokes has a short, level stroke around mid-height: the bar
    across a 7's stem (a 7 whose top bar is a separate stroke is not crossed)."""
    if len(strokes) < 2:
        return False
    pts = np.concatenate(strokes)
    top, height = float(pts[:, 1].min()), max(float(np.ptp(pts[:, 1])), 1e-9)
    for s in strokes:
        width, tall = np.ptp(s, axis=0)
        middle = 0.3 <= (float(s[:, 1].mean()) - top) / height <= 0.8
        if middle and tall < 0.5 * max(float(width), 1e-9) and tall < 0.35 * height:
            return True
    return False


FLAGGED_ONES = "1 with a flag or a foot (width >= 0.3 height)"
PLAIN_ONES = "1 as a bare stroke"
CROSSED_SEVENS = "7 crossed at mid-height"
PLAIN_SEVENS = "7 plain (not crossed)"


def styles(digits: PenDigits) -> dict[str, np.ndarray]:
    """Writing styles MNIST rarely has, and their plain twins, found from the trajectories
    (cheap proxies, not a hand labelling): masks over `digits`."""
    strokes = np.array([len(s) for s in digits.strokes])
    extent = np.array([np.ptp(np.concatenate(s), axis=0) for s in digits.strokes]).reshape(-1, 2)
    width_to_height = extent[:, 0] / np.maximum(extent[:, 1], 1e-9)
    labels = digits.labels
    curls = np.zeros(len(digits), bool)
    curls[labels == 9] = [tail_curls(digits.strokes[i]) for i in np.flatnonzero(labels == 9)]
    cross = np.zeros(len(digits), bool)
    cross[labels == 7] = [crossed(digits.strokes[i]) for i in np.flatnonzero(labels == 7)]
    return {
        "0 with a slash or a dot (2+ strokes)": (labels == 0) & (strokes >= 2),
        "0 plain (one stroke)": (labels == 0) & (strokes == 1),
        FLAGGED_ONES: (labels == 1) & (width_to_height >= 0.3),
        PLAIN_ONES: (labels == 1) & (width_to_height < 0.3),
        CROSSED_SEVENS: (labels == 7) & cross,
        PLAIN_SEVENS: (labels == 7) & ~cross,
        "4 in one stroke (closed)": (labels == 4) & (strokes == 1),
        "4 in 2+ strokes (open or crossed)": (labels == 4) & (strokes >= 2),
        "9 whose tail curls back up": (labels == 9) & curls,
        "9 whose tail ends at the bottom": (labels == 9) & ~curls,
    }


def _accuracy_by(keys: np.ndarray, correct: np.ndarray) -> dict[str, dict[str, Any]]:
    out = {}
    for key in sorted(set(keys.tolist())):
        mask = keys == key
        out[str(key)] = {"digits": int(mask.sum()), "accuracy": float(correct[mask].mean())}
    return out


def _confusion(labels: np.ndarray, preds: np.ndarray) -> list[list[int]]:
    confusion = np.zeros((NUM_DIGITS, NUM_DIGITS + 1), np.int64)  # last column: read as blank
    np.add.at(confusion, (labels, np.where(preds == BLANK, NUM_DIGITS, preds)), 1)
    return confusion.tolist()


def _breakdown(digits: PenDigits, preds: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, Any]:
    """Accuracy of `preds` on `digits`: overall, per digit, per style (with counts), and where the errors go."""
    correct = preds == digits.labels
    return {
        "digits": len(digits),
        "writers": len(set(digits.writers.tolist())),
        "digit_accuracy": float(correct.mean()),
        "per_digit": {
            str(d): float(correct[digits.labels == d].mean()) for d in range(NUM_DIGITS) if d in digits.labels
        },
        "per_style": {
            name: {"digits": int(mask.sum()), "accuracy": float(correct[mask].mean())}
            for name, mask in masks.items()
            if mask.any()
        },
        "confusion": _confusion(digits.labels, preds),
    }


def evaluate_drawn(
    predictor: Predictor,
    digits: PenDigits,
    pen: float,
    supersample: int = 4,
    masks: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Digit and sum metrics of `predictor` on `digits` drawn with a `pen` px pen, pooled and per set."""
    masks = styles(digits) if masks is None else masks
    preds = np.empty(len(digits), np.int64)
    sum_correct = consistent = 0
    sums = np.arange(NUM_DIGITS)
    for i, (strokes, label) in enumerate(zip(digits.strokes, digits.labels)):
        try:
            prediction = predictor.predict(render(strokes, pen=pen, supersample=supersample), 0)
        except BlankDrawingError:
            preds[i] = BLANK
            continue
        preds[i] = prediction.digit
        sum_pred = predictor.sum_table(prediction).argmax(1)  # the sum head for n = 0..9
        sum_correct += int((sum_pred == label + sums).sum())
        consistent += int((sum_pred == prediction.digit + sums).sum())

    correct = preds == digits.labels
    pairs = len(digits) * NUM_DIGITS
    contributors = np.char.add(np.char.add(digits.sets, "/"), digits.contributors.astype(str))
    per_writer = _accuracy_by(digits.writers, correct)
    worst = sorted(per_writer.items(), key=lambda kv: (kv[1]["accuracy"], -kv[1]["digits"]))[:WORST]
    per_set = {}
    for name in sorted(set(digits.sets.tolist())):
        index = np.flatnonzero(digits.sets == name)
        per_set[name] = _breakdown(digits.take(index), preds[index], {k: m[index] for k, m in masks.items()})
    return {
        "pen": pen,
        "pairs": pairs,
        **_breakdown(digits, preds, masks),
        "sum_accuracy": sum_correct / pairs,
        "sum_consistency": consistent / pairs,
        "blank": int((preds == BLANK).sum()),
        "per_set": per_set,
        "per_contributor": _accuracy_by(contributors, correct),
        "per_writer": per_writer,
        "worst_writers": [{"writer": w, **v} for w, v in worst],
        "misclassified": [
            {
                "index": int(i),
                "writer": str(digits.writers[i]),
                "true": int(digits.labels[i]),
                "predicted": int(preds[i]),
            }
            for i in np.flatnonzero(~correct)
        ],
    }


def evaluate_pens(
    predictor: Predictor, digits: PenDigits, pens: Sequence[float] = EVAL_PEN_WIDTHS, supersample: int = 4
) -> dict[str, Any]:
    """`evaluate_drawn` at every pen width, plus the pooled accuracy and per-digit minimum,
    pooled and per set (the targets are per set)."""
    masks = styles(digits)
    by_pen = {f"{pen:g}": evaluate_drawn(predictor, digits, pen, supersample, masks) for pen in pens}
    sets = {
        name: {
            "digits": m["digits"],
            "writers": m["writers"],
            "digit_accuracy": float(np.mean([p["per_set"][name]["digit_accuracy"] for p in by_pen.values()])),
            "min_digit_accuracy": min(min(p["per_set"][name]["per_digit"].values()) for p in by_pen.values()),
        }
        for name, m in next(iter(by_pen.values()))["per_set"].items()
    }
    return {
        "digits": len(digits),
        "writers": len(set(digits.writers.tolist())),
        "missing_sets": list(digits.missing),
        "pen_widths": list(pens),
        "digit_accuracy": float(np.mean([m["digit_accuracy"] for m in by_pen.values()])),
        "min_digit_accuracy": min(min(m["per_digit"].values()) for m in by_pen.values()),
        "sets": sets,
        "by_pen": by_pen,
    }


def evaluate_sizes(
    predictor: Predictor, digits: PenDigits, sizes: dict[str, Any] = SIZES, supersample: int = 2
) -> dict[str, Any]:
    """Digit accuracy of `predictor.predict` on `digits` drawn at each of `sizes` (a blank
    reading counts as wrong), pooled and per pen set."""
    accuracy: dict[str, Any] = {}
    for name, (pen, box, centre) in sizes.items():
        preds = np.full(len(digits), BLANK)
        for i, strokes in enumerate(digits.strokes):
            drawing = render(strokes, pen=pen, box=box, centre=centre, supersample=supersample)
            try:
                preds[i] = predictor.predict(drawing, 0).digit
            except BlankDrawingError:
                pass
        correct = preds == digits.labels
        per_set = {s: float(correct[digits.sets == s].mean()) for s in sorted(set(digits.sets.tolist()))}
        accuracy[name] = {"pen": pen, "box": box, "digit_accuracy": float(correct.mean()), "per_set": per_set}
    return {"digits": len(digits), "writers": len(set(digits.writers.tolist())), "sizes": accuracy}


def one_seven(m: dict[str, Any]) -> tuple[int, int]:
    """(ones read as 7, sevens read as 1) in a confusion matrix: the 1/7 trade-off in two numbers."""
    return m["confusion"][1][7], m["confusion"][7][1]


def format_report(report: dict[str, Any]) -> str:
    """Tables for people, per set: per pen, per digit, per style; then contributors, the worst
    writers and the commonest errors over all sets."""
    pens = list(report["by_pen"].values())
    head = "| | " + " | ".join(f"pen {m['pen']:g}" for m in pens) + " |"
    rule = "|---|" + "---|" * len(pens)

    def row(name: str, values: Sequence[float]) -> str:
        return f"| {name} | " + " | ".join(f"{v:.2%}" for v in values) + " |"

    lines = [f"{report['digits']:,} pen digits by {report['writers']} held-out writers, drawn on 280x280"]
    if report.get("missing_sets"):
        lines.append(f"missing pen set(s), not measured: {', '.join(report['missing_sets'])}")
    for name, summary in report["sets"].items():
        sets = [m["per_set"][name] for m in pens]
        lines += ["", f"{name}: {summary['digits']:,} digits by {summary['writers']} writers", head, rule]
        lines.append(row("digit accuracy", [m["digit_accuracy"] for m in sets]))
        lines += [row(f"digit {d}", [m["per_digit"][d] for m in sets]) for d in sets[0]["per_digit"]]
        lines += [
            row(f"{style} ({v['digits']})", [m["per_style"][style]["accuracy"] for m in sets])
            for style, v in sets[0]["per_style"].items()
        ]
        lines.append(
            "| ones read as 7 / sevens read as 1 | " + " | ".join("{} / {}".format(*one_seven(m)) for m in sets) + " |"
        )
    lines += ["", "all sets", head, rule]
    lines += [
        row("digit accuracy", [m["digit_accuracy"] for m in pens]),
        row("sum accuracy (all 10 n)", [m["sum_accuracy"] for m in pens]),
        row("sum consistency", [m["sum_consistency"] for m in pens]),
    ]
    lines += [
        row(f"{c} ({v['digits']} digits)", [m["per_contributor"][c]["accuracy"] for m in pens])
        for c, v in pens[0]["per_contributor"].items()
    ]
    lines += ["", "worst writers (digits, accuracy) per pen:"]
    for m in pens:
        worst = ", ".join(f"{w['writer']} ({w['digits']}, {w['accuracy']:.1%})" for w in m["worst_writers"])
        lines.append(f"  pen {m['pen']:g}: {worst}")
    errors: dict[tuple[int, int], int] = defaultdict(int)
    for m in pens:
        for e in m["misclassified"]:
            errors[(e["true"], e["predicted"])] += 1
    common = sorted(errors.items(), key=lambda kv: -kv[1])[:10]
    lines.append(
        "most common errors, all pens (true -> read as): "
        + ", ".join(f"{t}->{'blank' if p == BLANK else p} x{c}" for (t, p), c in common)
    )
    lines += ["", f"confusion at pen {pens[len(pens) // 2]['pen']:g} (rows: true digit; last column: read as blank)"]
    for d, counts in enumerate(pens[len(pens) // 2]["confusion"]):
        lines.append(f"  {d}: " + " ".join(f"{c:4d}" for c in counts))
    return "\n".join(lines)


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHIPPED_WEIGHTS), help="checkpoint to evaluate")
    parser.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help="folder holding the pen sets, unipen/ pendigits/ (env MNISTSUM_DATA)",
    )
    parser.add_argument("--sets", nargs="+", help="only these pen sets (default: every set in the data folder)")
    parser.add_argument("--writers", nargs="+", default=["test"], choices=PARTS, help="which writer split(s)")
    parser.add_argument("--pens", nargs="+", type=float, default=list(EVAL_PEN_WIDTHS), help="pen widths, px")
    parser.add_argument("--limit", type=int, help="only the first LIMIT digits of those writers (a quick look)")
    parser.add_argument("--sizes", action="store_true", help="digits drawn small and in corners instead (SIZES)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON report to this file (atomically)")
    args = parser.parse_args(argv)
    predictor = Predictor.load(args.weights)
    digits = writer_split(load_pen_digits(args.data_dir, args.sets), args.writers)
    if args.limit is not None:  # every k-th digit, so every set is in a quick look
        digits = digits.take(np.arange(0, len(digits), -(-len(digits) // args.limit)))
    head = {"weights": shown_path(args.weights), "writer_split": args.writers}
    if args.sizes:
        report = {**head, **evaluate_sizes(predictor, digits)}
        text = "\n".join(f"{name:<28} {m['digit_accuracy']:.2%}" for name, m in report["sizes"].items())
        publish(report, text, args.out, args.json, indent=1)
        return 0
    report = {**head, **evaluate_pens(predictor, digits, args.pens)}
    publish(report, format_report(report), args.out, args.json, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
