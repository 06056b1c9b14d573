"""Exhaustive evaluation on the MNIST test set.

The sum is judged on every (test image, n) pair -- 10,000 x 10 = 100,000 pairs -- not on one
random n per image, so the number does not depend on a draw. The backbone runs once per
image; only the small sum head runs ten times.

CLI: `python -m mnistsum.evaluate --weights weights/mnistsum.pt --data-dir DIR --json`
(`--drawn` evaluates on pen drawings of held-out writers instead: `mnistsum/pen_eval.py`).
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint
from .cli import exits_cleanly, publish
from .config import SHIPPED_WEIGHTS, default_data_dir
from .data import MnistSplit, load_split
from .metrics import EvalMetrics, Misclassified
from .model import NUM_DIGITS, DualHeadNet, image_batch


@torch.no_grad()
def evaluate(model: DualHeadNet, test_set: MnistSplit, batch_size: int = 256) -> EvalMetrics:
    """Digit, sum, both and consistency metrics, per-n sum accuracy, confusion matrix.
    (Batches of 256 keep a CPU's activations in cache, which much larger batches do not.)"""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    confusion = torch.zeros(NUM_DIGITS, NUM_DIGITS, dtype=torch.long)
    sum_correct_per_n = torch.zeros(NUM_DIGITS, dtype=torch.long)
    digit_preds = []
    both_correct = consistent = 0
    digit_loss = sum_loss = 0.0
    for start in range(0, len(test_set), batch_size):
        images = image_batch(test_set.images[start : start + batch_size], device)
        labels = test_set.labels[start : start + batch_size].to(device)
        digit_logits = model.digit_logits(images)
        digit_pred = digit_logits.argmax(1)
        digit_preds.append(digit_pred.cpu())
        digit_loss += F.cross_entropy(digit_logits, labels, reduction="sum").item()
        confusion += torch.bincount((labels * NUM_DIGITS + digit_pred).cpu(), minlength=NUM_DIGITS**2).view(
            NUM_DIGITS, NUM_DIGITS
        )
        for n in range(NUM_DIGITS):
            ns = torch.full_like(labels, n)
            sum_logits = model.sum_logits(digit_logits, ns)
            sum_pred = sum_logits.argmax(1)
            sum_loss += F.cross_entropy(sum_logits, labels + n, reduction="sum").item()
            sum_ok = sum_pred == labels + n
            sum_correct_per_n[n] += int(sum_ok.sum())
            both_correct += int((sum_ok & (digit_pred == labels)).sum())
            consistent += int((sum_pred == digit_pred + n).sum())
    model.train(was_training)

    images, pairs = len(test_set), len(test_set) * NUM_DIGITS
    preds, labels = torch.cat(digit_preds), test_set.labels.cpu()
    wrong = torch.nonzero(preds != labels).flatten().tolist()
    return EvalMetrics(
        images=images,
        pairs=pairs,
        digit_accuracy=int(confusion.diag().sum()) / images,
        sum_accuracy=int(sum_correct_per_n.sum()) / pairs,
        both_accuracy=both_correct / pairs,
        sum_consistency=consistent / pairs,
        digit_loss_per_image=digit_loss / images,
        sum_loss_per_pair=sum_loss / pairs,
        per_n_sum_accuracy=tuple((sum_correct_per_n.double() / images).tolist()),
        confusion=tuple(map(tuple, confusion.tolist())),
        misclassified=tuple(Misclassified(i, int(labels[i]), int(preds[i])) for i in wrong),
    )


def format_report(m: EvalMetrics) -> str:
    """The headline numbers, for people."""
    per_n = "  ".join(f"{n}:{acc:.2%}" for n, acc in enumerate(m.per_n_sum_accuracy))
    return (
        f"digit accuracy   {m.digit_accuracy:.2%}  ({m.images:,} test images)\n"
        f"sum accuracy     {m.sum_accuracy:.2%}  (all {m.pairs:,} (image, n) pairs)\n"
        f"both correct     {m.both_accuracy:.2%}\n"
        f"sum consistency  {m.sum_consistency:.2%}  (predicted sum == predicted digit + n)\n"
        f"sum accuracy by n  {per_n}\n"
        f"misclassified digits: {len(m.misclassified)}"
    )


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--drawn" in argv:  # pen drawings of held-out writers instead of MNIST (mnistsum/pen_eval.py)
        from .pen_eval import main as drawn_main

        return drawn_main([a for a in argv if a != "--drawn"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--drawn", action="store_true", help="evaluate on pen drawings: see python -m mnistsum.pen_eval -h"
    )
    parser.add_argument("--weights", default=str(SHIPPED_WEIGHTS), help="checkpoint to evaluate")
    parser.add_argument("--data-dir", default=default_data_dir(), help="MNIST root (env MNISTSUM_DATA)")
    parser.add_argument("--download", action="store_true", help="download MNIST if missing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON metrics to this file (atomically)")
    args = parser.parse_args(argv)
    model, _ = load_checkpoint(args.weights)
    test_set = load_split(args.data_dir, train=False, download=args.download)
    metrics = evaluate(model, test_set)
    report = {"weights": args.weights, "arch": model.arch, "fusion": model.fusion, **metrics.to_dict()}
    publish(report, format_report(metrics), args.out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
