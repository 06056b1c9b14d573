"""When to ask the visitor, and what a round of teaching changed: the two rules the page's
"Did you mean 1 or 7?" and "Teach it your hand" stand on.

    close_pair([0.01, 0.30, ..., 0.65, ...])     # (1, 7): the top two are close, ask which
    images, digits = read_round(sent)            # what the page sends when a round ends, checked
    result = RoundResult(tuple(digits), read_all(before, images, digits), read_all(after, images, digits))
    result.summary()                             # "before: 8 of 10 read right, after: 10 of 10"

`close_pair` is ported to the page (`demo/static/answer.js`, which reads its shares from the
answer view's data attributes), so the page reader and the server fallback ask the same
question; Python is the reference (tests/test_teach_round.py and tests/test_browser_round.py
check both). How often the rule asks, and how many wrong answers it offers the right digit for,
on pen digits of writers the model never saw: `python -m mnistsum.teaching` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cli import exits_cleanly, publish, shown_path
from .config import SHIPPED_WEIGHTS, default_data_dir
from .model import NUM_DIGITS
from .payload import DrawingPayloadError, decode_drawing
from .pen import PARTS, load_pen_digits, render, writer_split
from .predictor import BlankDrawingError, Predictor

# Ask "did you mean a or b?" when the second digit's probability is at least this share of the
# first's: with two digits sharing the mass, when the top one is at most ~80%. Chosen from a
# sweep of `python -m mnistsum.teaching` (0.1-0.35): past 0.25 it catches fewer wrong answers,
# below it asks about more right ones; the numbers are in docs/benchmarks.md.
CLOSE_SHARE = 0.25
# Pairs that writers' own habits confuse, asked about at a lower bar: a 1 written with a long
# flag is read as a confident 7 (1 at a few percent) and a crossed 7 the other way; one tap
# then teaches it (issue 28: a single 1 and a single 7 fix most of a writer's ones).
PAIR_SHARES: dict[frozenset[int], float] = {frozenset({1, 7}): 0.01}


def share_for(a: int, b: int) -> float:
    """The share of the first digit's probability the second must reach for the pair to be asked."""
    return PAIR_SHARES.get(frozenset({int(a), int(b)}), CLOSE_SHARE)


def close_pair(digit_probs: Sequence[float]) -> tuple[int, int] | None:
    """The top two digits, smaller first, when they are close enough to ask which one was
    meant (`CLOSE_SHARE`, `PAIR_SHARES`); None when the top one stands clear."""
    probs = np.asarray(digit_probs, dtype=np.float64)
    if probs.shape != (10,) or not np.isfinite(probs).all():
        raise ValueError(f"digit_probs must be 10 finite probabilities, got shape {probs.shape}")
    second, first = (int(d) for d in np.argsort(probs, kind="stable")[-2:])
    if probs[first] <= 0 or probs[second] < share_for(first, second) * probs[first]:
        return None
    return (min(first, second), max(first, second))


class UnusableDrawing(ValueError):
    """A round's drawing that cannot be read (erased, or not an image): `digit` is the one to redo."""

    def __init__(self, digit: int, reason: str) -> None:
        super().__init__(f"your {digit}: {reason}")
        self.digit = digit


@dataclass(frozen=True)
class RoundResult:
    """What the reader answered for each of the round's drawings before and after learning them.

    "After" is measured on the very drawings it learned from: it says the lesson took, not how
    the visitor's next drawing will read (the page says so and invites a new drawing)."""

    digits: tuple[int, ...]
    before: tuple[int, ...]
    after: tuple[int, ...]

    @property
    def right_before(self) -> int:
        return sum(a == d for a, d in zip(self.before, self.digits))

    @property
    def right_after(self) -> int:
        return sum(a == d for a, d in zip(self.after, self.digits))

    def misread(self) -> list[tuple[int, int]]:
        """(digit drawn, what it was read as) before the round, for each drawing read wrong."""
        return [(d, a) for a, d in zip(self.before, self.digits) if a != d]

    def summary(self) -> str:
        """One line for people, e.g. "before: 8 of 10 read right, after: 10 of 10"."""
        total = len(self.digits)
        return f"before: {self.right_before} of {total} read right, after: {self.right_after} of {total}"

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON for the page."""
        return {
            "digits": list(self.digits),
            "before": list(self.before),
            "after": list(self.after),
            "right_before": self.right_before,
            "right_after": self.right_after,
            "summary": self.summary(),
        }


def read_round(data: Any) -> tuple[list[np.ndarray], list[int]]:
    """The round as the page sends it, `{"drawings": [PNG data URL, ...], "digits": [d, ...]}`
    (each digit 0-9 at most once), as images and digits; ValueError (`UnusableDrawing` for one
    drawing) saying what is wrong."""
    drawings = data.get("drawings") if isinstance(data, dict) else None
    digits = data.get("digits") if isinstance(data, dict) else None
    if not isinstance(drawings, list) or not isinstance(digits, list) or len(drawings) != len(digits):
        raise ValueError("the round must send its drawings and their digits, one digit per drawing")
    if not 0 < len(digits) <= NUM_DIGITS:
        raise ValueError(f"a round holds 1 to {NUM_DIGITS} drawings, got {len(digits)}")
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < NUM_DIGITS for d in digits):
        raise ValueError("the round's digits must be whole numbers 0-9")
    if len(set(digits)) != len(digits):
        raise ValueError("a round asks for each digit once: a digit came twice")
    images = []
    for drawing, digit in zip(drawings, digits):
        try:
            image = decode_drawing(drawing)
        except DrawingPayloadError as err:
            raise UnusableDrawing(digit, str(err)) from err
        if image is None:
            raise UnusableDrawing(digit, "nothing is drawn")
        images.append(image)
    return images, digits


def read_all(predictor: Predictor, drawings: Sequence[Any], digits: Sequence[int]) -> tuple[int, ...]:
    """The digit `predictor` reads in each drawing; `UnusableDrawing` naming the first it cannot read."""
    read = []
    for drawing, digit in zip(drawings, digits, strict=True):
        try:
            read.append(predictor.predict(drawing, 0).digit)
        except ValueError as err:  # BlankDrawingError too: an erased drawing
            raise UnusableDrawing(int(digit), str(err)) from err
    return tuple(read)


def measure_asking(predictor: Predictor, strokes: Sequence[Any], labels: Sequence[int], pen: float = 22) -> dict:
    """The rule on drawings the pad would send: how often it asks, and of the drawings read wrong,
    how many it asks about with the right digit in the pair (one tap away), overall and for 1 and 7."""
    asked = caught = wrong = ones_sevens = asked_17 = caught_17 = wrong_17 = 0
    read = 0
    for stroke, label in zip(strokes, labels):
        try:
            prediction = predictor.predict(render(stroke, pen=pen, supersample=2), 0)
        except BlankDrawingError:
            continue
        read += 1
        pair = close_pair(prediction.digit_probs)
        is_17 = int(label) in (1, 7)
        asked += pair is not None
        ones_sevens += is_17
        asked_17 += is_17 and pair is not None
        if prediction.digit != label:
            wrong += 1
            wrong_17 += is_17
            hit = pair is not None and int(label) in pair
            caught += hit
            caught_17 += is_17 and hit
    share = lambda a, b: a / b if b else None  # noqa: E731
    return {
        "drawings": read,
        "asked": share(asked, read),
        "wrong": wrong,
        "wrong_offered_right": share(caught, wrong),
        "ones_and_sevens": ones_sevens,
        "asked_ones_sevens": share(asked_17, ones_sevens),
        "wrong_ones_sevens": wrong_17,
        "wrong_ones_sevens_offered_right": share(caught_17, wrong_17),
    }


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """`python -m mnistsum.teaching`: `measure_asking` on pen digits of held-out writers."""
    parser = argparse.ArgumentParser(description="How often 'Did you mean a or b?' asks, on pen digits")
    parser.add_argument("--weights", default=str(SHIPPED_WEIGHTS))
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding the pen sets")
    parser.add_argument("--writers", nargs="+", default=["test"], choices=PARTS)
    parser.add_argument("--limit", type=int, default=3000, help="every k-th digit, about LIMIT of them")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    digits = writer_split(load_pen_digits(args.data_dir), args.writers)
    digits = digits.take(np.arange(0, len(digits), -(-len(digits) // args.limit)))
    report = {
        "weights": shown_path(args.weights),
        "writers": args.writers,
        "close_share": CLOSE_SHARE,
        "pair_shares": {"-".join(map(str, sorted(p))): s for p, s in PAIR_SHARES.items()},
        **measure_asking(Predictor.load(args.weights), digits.strokes, digits.labels),
    }
    pct = lambda x: "n/a" if x is None else f"{x:.1%}"  # noqa: E731
    text = (
        f"{report['drawings']} pen digits ({', '.join(args.writers)} writers): asked on {pct(report['asked'])}; "
        f"of {report['wrong']} read wrong, {pct(report['wrong_offered_right'])} offered the right digit.\n"
        f"1s and 7s ({report['ones_and_sevens']}): asked on {pct(report['asked_ones_sevens'])}; of "
        f"{report['wrong_ones_sevens']} read wrong, {pct(report['wrong_ones_sevens_offered_right'])} offered the right digit."
    )
    publish(report, text, None, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
