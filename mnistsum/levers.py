"""The levers tried for the shipped recipe: one validation twin each, one row each in the card.

A lever is the shipped preset with a few settings changed. Each is trained as its validation
twin (the pen sets' training writers only, MNIST's last 5,000 training images held out) and
scored by `mnistsum.validate` on what it never saw: MNIST's held-out images and the pen sets'
validation writers. The recipe is chosen on these rows; the test sets are read once, by the
shipped weights' own reports. The rows are written to `weights/levers.json` and the model card
shows them (`python -m mnistsum.card --write`).

    python -m mnistsum.levers --work /tmp/levers --out weights/levers.json   # every lever, ~1.5 h
    python -m mnistsum.levers --work /tmp/levers --only b_cool10 --out weights/levers.json

A lever whose `<name>.json` is already in `--work` is not trained again, so a stopped run
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import atomic_write_text
from .cli import exits_cleanly
from .config import REPO_ROOT, TrainConfig, default_data_dir

REPORT = REPO_ROOT / "weights" / "levers.json"
TWIN = {"pen_writers": "train", "val_size": 5000}  # what makes a run a validation twin


@dataclass(frozen=True)
class Lever:
    """One row: what it tries, and the shipped preset's settings it changes."""

    tries: str
    changes: dict[str, Any] = field(default_factory=dict)


LEVERS: dict[str, Lever] = {
    "a_const10": Lever("the last release's recipe: constant lr, 10 epochs", {"schedule": "constant", "epochs": 10}),
    "b_cool10": Lever("schedule: cooldown over the last 30% of steps, 10 epochs", {"epochs": 10}),
    "c_cool20": Lever("length: cooldown, 20 epochs", {}),
    "f_cool10_pen3": Lever("balance: 3 drawings per pen digit (not 6), 10 epochs", {"epochs": 10, "pen_copies": 3}),
    "d_cool20_pen3": Lever("balance: 3 drawings per pen digit, 20 epochs", {"pen_copies": 3}),
    "e_wider10": Lever("capacity: the `wider` network, cooldown, 10 epochs", {"epochs": 10, "arch": "wider"}),
}
CHOSEN = "c_cool20"  # the shipped preset: best on MNIST val and the writers; the others tie or trail
# Their mean probabilities on MNIST's held-out images: what distilling them into one network could reach.
ENSEMBLE = ("a_const10", "b_cool10", "c_cool20", "e_wider10")


def twin_config(lever: Lever, data_dir: str) -> TrainConfig:
    """The lever's validation twin: the shipped preset, the lever's changes, the twin's split."""
    return TrainConfig.preset("shipped", **{**lever.changes, **TWIN, "data_dir": data_dir})


def train_and_score(name: str, work: Path, data_dir: str) -> dict[str, Any]:
    """Train lever `name`'s twin into `work` (unless it is there) and return its scores."""
    from .checkpoint import save_checkpoint
    from .predictor import Predictor
    from .train import checkpoint_meta, run
    from .validate import validate

    scores, weights = work / f"{name}.json", work / f"{name}.pt"
    if scores.exists():
        return json.loads(scores.read_text())
    cfg = twin_config(LEVERS[name], data_dir)
    result = run(cfg)
    save_checkpoint(weights, result.model, checkpoint_meta(result, "shipped"))
    row = {**validate(Predictor(result.model.eval()), data_dir, cfg.val_size), "train_seconds": result.seconds}
    atomic_write_text(scores, json.dumps(row, indent=2) + "\n")
    return row


def ensemble_accuracy(work: Path, data_dir: str, names: tuple[str, ...] = ENSEMBLE) -> float | None:
    """MNIST validation digit accuracy of the members' mean probabilities (None: a member is missing)."""
    from .data import hold_out, load_split
    from .predictor import Predictor

    paths = [work / f"{name}.pt" for name in names]
    if not all(p.exists() for p in paths):
        return None
    _, val = hold_out(load_split(data_dir, train=True), TWIN["val_size"])
    zeros = np.zeros(len(val), dtype=np.int64)  # the digit head does not read n
    probs = sum(Predictor.load(p).probabilities(val.images.numpy(), zeros)[0] for p in paths)
    return float((probs.argmax(1) == val.labels.numpy()).mean())


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """What the card shows of one lever's validation scores."""
    sets = row["pen_val_by_set"]
    return {
        "mnist_val": row["mnist_val_digit_accuracy"],
        "pen_val": row["pen_val_accuracy"],
        "pen_val_by_set": {name: s["digit_accuracy"] for name, s in sets.items()},
        "weakest_digit": row["pen_val_weakest_digit"],
        "thick_pen": row["stress"].get("sketchpad 280, thick pen"),
        "train_seconds": row.get("train_seconds"),
    }


def levers_table(report: dict[str, Any]) -> list[str]:
    """The card's rows: each lever against MNIST's held-out images and the validation writers."""
    names = sorted({n for r in report["rows"] for n in r["pen_val_by_set"]})
    lines = [
        "| lever (the shipped preset otherwise) | MNIST val | validation writers, all pens | "
        + " / ".join(names)
        + " | weakest digit | thick pen |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        by_set = " / ".join(f"{r['pen_val_by_set'][n]:.2%}" if n in r["pen_val_by_set"] else "—" for n in names)
        thick = "—" if r["thick_pen"] is None else f"{r['thick_pen']:.1%}"
        tries = f"**{r['tries']} (shipped)**" if r["name"] == report.get("chosen") else r["tries"]
        lines.append(
            f"| {tries} | {r['mnist_val']:.2%} | {r['pen_val']:.2%} | {by_set} | {r['weakest_digit']:.1%} | {thick} |"
        )
    if report.get("ensemble") is not None:
        tried = {r["name"]: r["tries"].split(":")[0] for r in report["rows"]}
        members = ", ".join(tried.get(name, name) for name in report["ensemble_of"])
        lines.append(
            f"| distillation's ceiling: the mean probabilities of the rows {members} "
            f"| {report['ensemble']:.2%} | | | | |"
        )
    return lines


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnistsum.levers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for each lever's checkpoint and scores")
    parser.add_argument("--only", nargs="+", choices=list(LEVERS), help="these levers only (default: all)")
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding MNIST/raw/ and the pen sets")
    parser.add_argument("--out", type=Path, default=REPORT, help="the report (written atomically)")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.only or list(LEVERS):
        print(f"{name}: {LEVERS[name].tries}", flush=True)
        row = {"name": name, "tries": LEVERS[name].tries, "changes": LEVERS[name].changes}
        rows.append({**row, **summary(train_and_score(name, args.work, args.data_dir))})
        print(f"  MNIST val {rows[-1]['mnist_val']:.2%}, validation writers {rows[-1]['pen_val']:.2%}", flush=True)
    report = {"twin": TWIN, "chosen": CHOSEN, "rows": rows, "ensemble_of": list(ENSEMBLE)}
    report["ensemble"] = ensemble_accuracy(args.work, args.data_dir)
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print("\n".join(levers_table(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
