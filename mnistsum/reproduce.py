"""Does the recipe stored in the shipped checkpoint still make the model it describes?

Retraining the whole recipe takes half an hour on a laptop CPU, too long for a test. So the
stored recipe is run in a short version (`SHORT`: one epoch on a few thousand MNIST images and
one drawing of each training writer's pen digits, in float32), as the validation twin the
recipe was chosen with (pen validation writers and MNIST's held-out images unseen), and its
validation numbers are kept beside the weights. A change to training, augmentation, the pen
renderer or the recipe's settings moves them; `--check` (and `tests/test_reproduce.py`)
retrains and compares.

    python -m mnistsum.reproduce --out weights/reproduce.json   # after shipping new weights
    python -m mnistsum.reproduce --check                        # exit 1 when the numbers moved
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .cli import exits_cleanly, publish
from .config import REPO_ROOT, SHIPPED_WEIGHTS, TrainConfig, default_data_dir
from .export import file_digest
from .predictor import Predictor
from .train import run
from .validate import validate

REPORT = REPO_ROOT / "weights" / "reproduce.json"
# The short version: what changes from the stored recipe (everything else is kept as stored).
SHORT: dict[str, Any] = {
    "epochs": 1,
    "limit": 4000,
    "val_size": 1000,
    "pen_copies": 1,
    "pen_writers": "train",
    "precision": "fp32",  # the same arithmetic on every CPU: bf16 exists only on some
    "eval_every_epoch": False,
    # ~90 steps: an average that keeps 0.999 of itself per step would still be 90% the
    # random initial weights (and read 9%); 0.95 averages about the last 20 steps.
    "ema_decay": 0.95,
}
VAL_PEN_DIGITS = 600  # validation writers' digits scored (every k-th), at each of the three pens
# How far a retrain on another machine may land from the stored numbers, in points: two runs on
# one machine agree exactly; other CPUs sum in another order, and one epoch amplifies that a little.
TOLERANCE = {"mnist_val_digit_accuracy": 1.5, "pen_val_accuracy": 2.0}


def short_config(recipe: dict[str, Any], data_dir: str) -> TrainConfig:
    """The stored recipe in its short version, reading data from `data_dir`."""
    return TrainConfig.from_dict(recipe).replace(**SHORT, data_dir=data_dir)


def measure(weights: Path, data_dir: str) -> dict[str, Any]:
    """Train the short version of `weights`' stored recipe and score it on validation data."""
    meta = Predictor.load(weights).meta
    cfg = short_config(meta["config"], data_dir)
    result = run(cfg)
    scores = validate(Predictor(result.model.eval()), data_dir, cfg.val_size, limit=VAL_PEN_DIGITS)
    return {
        "weights_sha256": file_digest(weights),
        "short": SHORT,
        "val_pen_digits": VAL_PEN_DIGITS,
        "train_seconds": round(result.seconds, 1),
        **{key: scores[key] for key in TOLERANCE},
        "pen_val_by_pen": scores["pen_val_by_pen"],
    }


def compare(stored: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """What moved beyond `TOLERANCE`, one line each (empty: reproduced)."""
    problems = []
    if stored.get("weights_sha256") != fresh["weights_sha256"]:
        problems.append("the stored numbers belong to other weights: run python -m mnistsum.reproduce --out")
    for key, points in TOLERANCE.items():
        was, now = stored.get(key), fresh[key]
        if was is None or abs(now - was) * 100 > points:
            problems.append(f"{key}: stored {was}, retrained {now:.4f} (allowed: {points} points)")
    return problems


def format_report(r: dict[str, Any]) -> str:
    return (
        f"short version of the stored recipe ({r['train_seconds']} s to train): MNIST validation "
        f"{r['mnist_val_digit_accuracy']:.2%}, validation writers {r['pen_val_accuracy']:.2%} "
        f"({r['val_pen_digits']} digits at pens {', '.join(r['pen_val_by_pen'])} px)"
    )


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS, help="the checkpoint whose recipe to run")
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding MNIST/raw/ and the pen sets")
    parser.add_argument("--check", action="store_true", help=f"compare with {REPORT.name}; exit 1 if it moved")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON report to this file (atomically)")
    args = parser.parse_args(argv)
    fresh = measure(args.weights, args.data_dir)
    publish(fresh, format_report(fresh), args.out, args.json)
    if args.check:
        problems = compare(json.loads(REPORT.read_text()), fresh)
        for line in problems:
            print(f"not reproduced: {line}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
