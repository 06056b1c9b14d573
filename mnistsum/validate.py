"""Scores for choosing a recipe, on validation data only: the test set and the test writers
are never read here.

    python -m mnistsum.train --preset shipped --pen-writers train --val-size 5000 --out /tmp/try.pt
    python -m mnistsum.validate --weights /tmp/try.pt

Three numbers decide: MNIST's last `--val-size` training images (the same ones `val_size`
holds out of training), the pen drawings of every pen set's validation writers at pens 10,
22 and 34 px (per set, with the 1/7 trade-off: flagged ones beside plain sevens, and
MNIST's ones and sevens), and the thick-pen stress drawing of the first 1,000 of those
MNIST images. A checkpoint
that learned from the validation writers or images is refused: its score would be a
training score.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

import numpy as np

from .cli import exits_cleanly, publish, shown_path
from .config import TrainConfig, default_data_dir
from .data import hold_out, load_split
from .evaluate import evaluate
from .pen import load_pen_digits, writer_split
from .pen_eval import FLAGGED_ONES, PLAIN_SEVENS, evaluate_pens
from .predictor import Predictor
from .stress import stress_accuracy

STRESS = ("sketchpad 280, thick pen", "sketchpad 280, thin pen")
STRESS_COUNT = 1000


def trained_on_validation(meta: dict[str, Any], val_size: int) -> str | None:
    """Why a checkpoint's validation score would be a training score, or None if it would not."""
    if "config" not in meta:
        return "the checkpoint does not record its recipe, so what it learned from is unknown"
    cfg = TrainConfig.from_dict(meta["config"])
    if cfg.pen_copies and "val" in cfg.pen_writers.split("+"):
        return (
            f"it learned from the validation writers (pen_writers={cfg.pen_writers!r}); train with --pen-writers train"
        )
    if cfg.val_size < val_size:
        return f"it learned from MNIST's last {val_size} training images (its val_size is {cfg.val_size}); train with --val-size {val_size}"
    return None


def validate(
    predictor: Predictor, data_dir: str, val_size: int = 5000, limit: int | None = None, supersample: int = 2
) -> dict[str, Any]:
    """MNIST validation accuracy, the validation writers' drawings, and the pen stress sets;
    `limit` draws only that many stress images and pen digits (every k-th: a quick look)."""
    _, val = hold_out(load_split(data_dir, train=True), val_size)
    mnist = evaluate(predictor.model, val)
    count = min(STRESS_COUNT, limit or STRESS_COUNT)
    stress = stress_accuracy(predictor, val.images[:count].numpy(), val.labels[:count].numpy(), STRESS)
    writers = writer_split(load_pen_digits(data_dir), "val")
    if limit is not None:
        writers = writers.take(np.arange(0, len(writers), -(-len(writers) // limit)))
    pens = evaluate_pens(predictor, writers, supersample=supersample)
    errors = Counter(f"{e['true']}->{e['predicted']}" for m in pens["by_pen"].values() for e in m["misclassified"])
    confusion = np.array(mnist.confusion)
    by_set = {
        name: {
            **summary,
            "by_pen": {pen: m["per_set"][name]["digit_accuracy"] for pen, m in pens["by_pen"].items()},
            **{
                key: _style_mean(pens, name, style)
                for key, style in (("flagged_ones", FLAGGED_ONES), ("plain_sevens", PLAIN_SEVENS))
            },
        }
        for name, summary in pens["sets"].items()
    }
    return {
        "mnist_val_images": len(val),
        "mnist_val_digit_accuracy": mnist.digit_accuracy,
        "mnist_val_sum_accuracy": mnist.sum_accuracy,
        "mnist_val_ones": float(confusion[1, 1] / confusion[1].sum()),
        "mnist_val_sevens": float(confusion[7, 7] / confusion[7].sum()),
        "mnist_val_ones_read_as_7": int(confusion[1, 7]),
        "mnist_val_sevens_read_as_1": int(confusion[7, 1]),
        "stress_images": count,
        "stress": stress,
        "pen_val_digits": pens["digits"],
        "pen_val_writers": pens["writers"],
        "pen_val_accuracy": pens["digit_accuracy"],
        "pen_val_by_pen": {pen: m["digit_accuracy"] for pen, m in pens["by_pen"].items()},
        "pen_val_weakest_digit": pens["min_digit_accuracy"],
        "pen_val_missing_sets": pens["missing_sets"],
        "pen_val_by_set": by_set,
        "pen_val_common_errors": dict(errors.most_common(8)),
    }


def _style_mean(pens: dict[str, Any], name: str, style: str) -> dict[str, Any] | None:
    """A style's digits in one set and their accuracy averaged over the pens (None if the set has none)."""
    rows = [m["per_set"][name]["per_style"].get(style) for m in pens["by_pen"].values()]
    if any(r is None for r in rows):
        return None
    return {"digits": rows[0]["digits"], "accuracy": float(np.mean([r["accuracy"] for r in rows]))}


def format_report(r: dict[str, Any]) -> str:
    by_pen = " / ".join(f"{v:.2%}" for v in r["pen_val_by_pen"].values())
    pens = " / ".join(r["pen_val_by_pen"])

    def style(s: dict[str, Any] | None) -> str:
        return "none" if s is None else f"{s['accuracy']:.1%} of {s['digits']}"

    sets = [
        f"  {name} ({s['digits']:,} digits, {s['writers']} writers)  {s['digit_accuracy']:.2%} "
        f"({' / '.join(f'{v:.2%}' for v in s['by_pen'].values())}), weakest digit {s['min_digit_accuracy']:.1%}, "
        f"flagged ones {style(s['flagged_ones'])}, plain sevens {style(s['plain_sevens'])}"
        for name, s in r["pen_val_by_set"].items()
    ]
    missing = [f"  missing pen set(s), not measured: {', '.join(r['pen_val_missing_sets'])}"]
    return "\n".join(
        [
            f"MNIST validation ({r['mnist_val_images']:,} images)   digit {r['mnist_val_digit_accuracy']:.2%}, "
            f"sum {r['mnist_val_sum_accuracy']:.2%}; ones {r['mnist_val_ones']:.2%}, sevens {r['mnist_val_sevens']:.2%} "
            f"(1->7 x{r['mnist_val_ones_read_as_7']}, 7->1 x{r['mnist_val_sevens_read_as_1']})",
            f"validation writers ({r['pen_val_digits']:,} digits, {r['pen_val_writers']} writers)  "
            f"{r['pen_val_accuracy']:.2%} (pens {pens} px: {by_pen}), weakest digit {r['pen_val_weakest_digit']:.1%}",
            *sets,
            *(missing if r["pen_val_missing_sets"] else []),
            *(f"{name} ({r['stress_images']:,} validation images)  {acc:.1%}" for name, acc in r["stress"].items()),
            "most common errors (true->read as, all pens): "
            + ", ".join(f"{k} x{v}" for k, v in r["pen_val_common_errors"].items()),
        ]
    )


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="a checkpoint trained with --pen-writers train --val-size N")
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding MNIST/raw/ and the pen sets")
    parser.add_argument("--val-size", type=int, default=5000, help="MNIST's last VAL_SIZE training images")
    parser.add_argument("--limit", type=int, help="only LIMIT stress images and pen digits (a quick look)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON report to this file (atomically)")
    args = parser.parse_args(argv)
    predictor = Predictor.load(args.weights)
    why = trained_on_validation(predictor.meta, args.val_size)
    if why:
        print(f"error: {args.weights} cannot be validated: {why}.", file=sys.stderr)
        return 2
    report = {"weights": shown_path(args.weights), **validate(predictor, args.data_dir, args.val_size, args.limit)}
    publish(report, format_report(report), args.out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
