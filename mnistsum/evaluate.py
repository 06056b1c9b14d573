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
from .cli import exits_cleanly, publish, shown_path
from .config import SHIPPED_WEIGHTS, default_data_dir
from .data import MnistSplit, load_split
from .metrics import EvalMetrics, Misclassified
from .model import NUM_DIGITS, DualHeadNet, folded, image_batch
from .precision import autocast


@torch.no_grad()
def evaluate(
    model: DualHeadNet, test_set: MnistSplit, batch_size: int = 256, dtype: torch.dtype | None = None
) -> EvalMetrics:
    """Digit, sum, both and consistency metrics, per-n sum accuracy, confusion matrix.

    The sum head runs once per batch on all ten n (B x 10 rows), counts stay on the device and
    are read once at the end; `dtype` is the autocast format (None: fp32), as in training; the
    network runs with its BatchNorms folded (`model.folded`).
    (Batches of 256 keep a CPU's activations in cache, which much larger batches do not.)"""
    model = folded(model)  # BatchNorm folded into the convolutions; the caller's model is not touched
    device = next(model.parameters()).device
    all_n = torch.arange(NUM_DIGITS, device=device)
    sum_correct_per_n = torch.zeros(NUM_DIGITS, device=device)
    counts = torch.zeros(4, device=device)  # both correct, consistent, digit loss, sum loss
    digit_preds = []
    for start in range(0, len(test_set), batch_size):
        images = image_batch(test_set.images[start : start + batch_size], device)
        labels = test_set.labels[start : start + batch_size].to(device)
        with autocast(device, dtype):
            digit_logits = model.digit_logits(images)
            # Row n * B + i pairs image i with n: every (image, n) pair of the batch in one call.
            ns = all_n.repeat_interleave(len(labels))
            sum_logits = model.sum_logits(digit_logits.repeat(NUM_DIGITS, 1), ns).float()
        digit_logits = digit_logits.float()
        digit_pred = digit_logits.argmax(1)
        digit_preds.append(digit_pred)
        sum_pred = sum_logits.argmax(1).view(NUM_DIGITS, -1)
        sum_ok = sum_pred == labels + all_n[:, None]
        sum_correct_per_n += sum_ok.sum(1)
        counts += torch.stack(
            [
                (sum_ok & (digit_pred == labels)).sum(),
                (sum_pred == digit_pred + all_n[:, None]).sum(),
                F.cross_entropy(digit_logits, labels, reduction="sum"),
                F.cross_entropy(sum_logits, labels.repeat(NUM_DIGITS) + ns, reduction="sum"),
            ]
        )

    images, pairs = len(test_set), len(test_set) * NUM_DIGITS
    preds, labels = torch.cat(digit_preds).cpu(), test_set.labels.cpu()
    confusion = torch.bincount(labels * NUM_DIGITS + preds, minlength=NUM_DIGITS**2).view(NUM_DIGITS, NUM_DIGITS)
    sum_correct_per_n = sum_correct_per_n.cpu().round().long()
    both_correct, consistent, digit_loss, sum_loss = counts.tolist()
    wrong = torch.nonzero(preds != labels).flatten().tolist()
    return EvalMetrics(
        images=images,
        pairs=pairs,
        digit_accuracy=int(confusion.diag().sum()) / images,
        sum_accuracy=int(sum_correct_per_n.sum()) / pairs,
        both_accuracy=round(both_correct) / pairs,
        sum_consistency=round(consistent) / pairs,
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
    report = {"weights": shown_path(args.weights), "arch": model.arch, "fusion": model.fusion, **metrics.to_dict()}
    publish(report, format_report(metrics), args.out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
