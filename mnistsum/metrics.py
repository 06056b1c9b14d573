"""What training and evaluation measure, as types rather than dicts of strings.

Two losses that mean different things get different names. The exercise's log line prints,
per epoch, each batch's mean loss summed over the epoch's batches
(`TrainTotals.digit_loss_batch_sum`); evaluation reports the mean loss per test image, or
per (image, n) pair for the sum (`EvalMetrics.digit_loss_per_image`). Both are frozen and
turn into JSON through `dataclasses.asdict`, so metrics.json and checkpoint metadata stay
plain JSON; `EvalMetrics.from_dict` also reads what older versions wrote.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrainTotals:
    """One epoch's running totals on the training images (augmented, one n per image)."""

    samples: int
    batches: int
    digit_correct: int
    sum_correct: int
    digit_loss_batch_sum: float  # sum over batches of the batch's mean loss: the exercise's "Loss"
    sum_loss_batch_sum: float

    @property
    def digit_accuracy(self) -> float:
        return self.digit_correct / self.samples

    @property
    def sum_accuracy(self) -> float:
        return self.sum_correct / self.samples

    @property
    def digit_loss_batch_mean(self) -> float:
        """Mean over the epoch's batches: comparable with `EvalMetrics.digit_loss_per_image`."""
        return self.digit_loss_batch_sum / self.batches

    @property
    def sum_loss_batch_mean(self) -> float:
        return self.sum_loss_batch_sum / self.batches


@dataclass(frozen=True)
class Misclassified:
    index: int  # position in the evaluated split
    true: int
    predicted: int


@dataclass(frozen=True)
class EvalMetrics:
    """`evaluate()`'s result: every test image once for the digit, every (image, n) pair for the sum."""

    images: int
    pairs: int
    digit_accuracy: float
    sum_accuracy: float  # over all pairs
    both_accuracy: float  # digit and sum both right, over all pairs
    sum_consistency: float  # predicted sum == predicted digit + n, over all pairs
    digit_loss_per_image: float
    sum_loss_per_pair: float
    per_n_sum_accuracy: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...] = ()  # rows: true digit, columns: predicted
    misclassified: tuple[Misclassified, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> dict[str, Any]:
        """The numbers without the confusion matrix and the misclassified list: what a checkpoint records."""
        return {k: v for k, v in self.to_dict().items() if k not in ("confusion", "misclassified")}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvalMetrics:
        """Read metrics from JSON, including older files that called the losses digit_loss and sum_loss."""
        renamed = {"digit_loss": "digit_loss_per_image", "sum_loss": "sum_loss_per_pair"}
        known = {f.name for f in dataclasses.fields(cls)}
        values = {renamed.get(k, k): v for k, v in values.items() if renamed.get(k, k) in known}
        return cls(
            **{
                **values,
                "per_n_sum_accuracy": tuple(values["per_n_sum_accuracy"]),
                "confusion": tuple(tuple(row) for row in values.get("confusion", ())),
                "misclassified": tuple(Misclassified(**m) for m in values.get("misclassified", ())),
            }
        )
