"""One person's handwriting, taught: their labelled drawings and the model adapted to them.

The app keeps one `Handwriting` per visitor, in memory only. It is immutable: teaching returns a
new one, so a request that is still answering with the previous model finishes on it. It keeps
the latest `keep` drawings (the oldest are let go, and it says how many), adapts once per
lesson (`mnistsum.adapt`), and learns the same drawings again when the model under it changes
(a visitor who trains and uses their own model keeps what they taught).

What adapting cost is measured, not assumed: `forgetting` reads a fixed set of MNIST validation
images with the model before and after.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .config import default_data_dir
from .data import MnistSplit, cached_split, has_mnist, hold_out
from .lastlayer import MAX_DRAWINGS, cached_features, head_accuracy, replay_set
from .predictor import Predictor, prepare_all

KEEP = 40  # drawings kept per person: two guided rounds; the oldest go first
FORGETTING_IMAGES = 1000  # MNIST validation images read before and after
VAL_SIZE = 5000  # MNIST's validation images: the last ones of the training set (`data.hold_out`)


@dataclass(frozen=True)
class Handwriting:
    """The latest `keep` labelled drawings of one person, and `adapted`: `base` adapted to them."""

    base: Predictor
    inputs: tuple[np.ndarray, ...] = ()  # (28, 28) model inputs in [0, 1]
    digits: tuple[int, ...] = ()
    adapted: Predictor | None = None
    let_go: int = 0  # older drawings dropped to keep `keep`
    keep: int = KEEP
    seconds: float = 0.0  # the last adaptation's time
    data_dir: str | None = None  # where MNIST's replay images are read (default: `default_data_dir()`)

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= MAX_DRAWINGS:
            raise ValueError(f"keep must be 1 to {MAX_DRAWINGS}, got {self.keep}")

    def __len__(self) -> int:
        return len(self.digits)

    @property
    def model(self) -> Predictor:
        """What answers: the adapted model, or the base one before any lesson."""
        return self.adapted or self.base

    def taught(self, drawings: Sequence[np.ndarray], digits: Sequence[Any]) -> Handwriting:
        """These labelled drawings added (any images `predict` takes) and the model adapted
        once to all that are kept. A drawing already kept that is labelled again keeps only
        its new digit (two clicks on one drawing are one example). Errors: `adapt.prepare_all`."""
        new_inputs, new_digits = prepare_all(self.base, drawings, digits)
        inputs, labels = list(self.inputs), list(self.digits)
        for image, digit in zip(new_inputs, new_digits):
            same = [i for i, kept in enumerate(inputs) if np.array_equal(kept, image)]
            for i in reversed(same):
                del inputs[i], labels[i]
            inputs.append(image)
            labels.append(digit)
        drop = max(0, len(labels) - self.keep)
        return self._adapt(tuple(inputs[drop:]), tuple(labels[drop:]), self.let_go + drop, self.base)

    def on(self, base: Predictor) -> Handwriting:
        """The same drawings learned again on top of another model (the visitor changed theirs)."""
        if base is self.base:
            return self
        if not self.digits:
            return replace(self, base=base, adapted=None)
        return self._adapt(self.inputs, self.digits, self.let_go, base)

    def _adapt(self, inputs: tuple, digits: tuple, let_go: int, base: Predictor) -> Handwriting:
        start = time.perf_counter()
        adapted = base.adapt_inputs(np.stack(inputs), digits, replay=replay_set(self.data_dir))
        return replace(
            self,
            base=base,
            inputs=inputs,
            digits=digits,
            adapted=adapted,
            let_go=let_go,
            seconds=time.perf_counter() - start,
        )

    def summary(self) -> str:
        """One line for people: how many drawings, of which digits, and what was let go."""
        if not self.digits:
            return "Not adapted: no drawings taught yet."
        counts = np.bincount(self.digits, minlength=10)
        digits = ", ".join(f"{d}×{c}" if c > 1 else str(d) for d, c in enumerate(counts) if c)
        kept = f" The latest {self.keep} are kept: {self.let_go} older one(s) were let go." if self.let_go else ""
        return f"Adapted to {len(self)} of your drawings ({digits}) in {self.seconds:.2f} s.{kept}"


def forgetting_set(data_dir: str | None = None, size: int = FORGETTING_IMAGES) -> MnistSplit | None:
    """The last `size` MNIST validation images, or None when MNIST is not in `data_dir`."""
    data_dir = data_dir or default_data_dir()
    if not has_mnist(data_dir):
        return None
    _, val = hold_out(cached_split(data_dir, train=True), VAL_SIZE)
    return MnistSplit(val.images[-size:], val.labels[-size:])


def forgetting(handwriting: Handwriting, images: MnistSplit | None) -> tuple[float, float] | None:
    """MNIST digit accuracy on `images` (validation digits) before and after adapting; None
    when there is nothing to compare."""
    if images is None or handwriting.adapted is None:
        return None
    base = handwriting.base.model
    return head_accuracy(base, base, images), head_accuracy(handwriting.adapted.model, base, images)


def warm(predictor: Predictor, data_dir: str | None = None) -> None:
    """Compute `predictor`'s replay and forgetting features now (seconds, once per model), so
    the first person who corrects an answer does not wait for them."""
    for images in (replay_set(data_dir), forgetting_set(data_dir)):
        if images is not None:
            cached_features(predictor.model, images)
