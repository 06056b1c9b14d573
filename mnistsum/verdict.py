"""Is this one digit? A rule that says "two digits" or "not a digit" instead of a confident guess.

The network answers every drawing with one of ten digits, and a tap, a letter or "17" drawn on
one pad get answers as confident as a neat 7. This looks at the drawing's ink as the pad gives
it (the "ink" stage of `mnistsum.preprocess`, before it is scaled to MNIST's box, where the
evidence is still there) and at the network's probabilities, and says one of `VERDICTS`:

- "two_digits": the ink falls apart, left to right, into two or more tall pieces with a clear
  gap between them, or is far wider than any single digit;
- "not_a_digit" with a `reason`: a "tap" (ink too small to be a digit: a dot, a dab),
  a "scribble" (lines crossed far more often than a digit's strokes cross), a "letter" (two feet
  standing wide apart at the bottom, like A, M, W, or two feet and two heads, like H, K, N, X: no
  digit stands on two), or "unsure"
  (the network itself spreads its belief thin);
- "digit": anything else.

Every threshold is a named constant below, chosen on validation data only (MNIST's last 5,000
training images and the pen sets' validation writers, against the negatives that
`mnistsum.verdict_eval` builds); `python -m mnistsum.verdict_eval` measures false rejects and
detection rates on held-out data, and the model card carries them. The page's port is
`demo/static/reader_verdict.js`; the constants travel to it in weights/reader.json.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .preprocess import _ink_box

VERDICTS = ("digit", "two_digits", "not_a_digit")
REASONS = ("pair", "tap", "scribble", "letter", "unsure")

INK_LEVEL = 0.5  # a pixel with at least this ink strength counts as ink for the shape measures
TAP_EXTENT = 0.15  # ink whose longer side spans less than this share of the pad is a tap or a dot
PAIR_GAP = 0.06  # an empty band of columns at least this share of the ink's height splits it ...
PAIR_HEIGHT = 0.55  # ... into pieces; two pieces at least this share of the ink's height are two digits
WIDE_ASPECT = 1.7  # ink this many times wider than tall is more than one digit
SCRIBBLE_CROSSINGS = 5.0  # strokes met along a line (the busiest tenth of rows and columns): a digit's are fewer
FEET_BAND = (0.8, 0.95)  # the rows (share of the ink's height, from the top) where feet are looked for
FEET_GAP = 0.45  # two feet with an empty gap at least this share of the ink's width between them ...
FEET_ROWS = 0.8  # ... in at least this share of the band's rows stand apart
X_GAP = 0.25  # two feet and two heads (the same band at the top), each with a gap this wide: an X, H, K, N
MIN_CONFIDENCE = 0.4  # the network's top probability below this: it does not know what this is

# What travels to the page's port (names as above).
CONSTANT_NAMES = (
    "INK_LEVEL",
    "TAP_EXTENT",
    "PAIR_GAP",
    "PAIR_HEIGHT",
    "WIDE_ASPECT",
    "SCRIBBLE_CROSSINGS",
    "FEET_BAND",
    "FEET_GAP",
    "FEET_ROWS",
    "X_GAP",
    "MIN_CONFIDENCE",
)


@dataclass(frozen=True)
class Verdict:
    """What the drawing is: `kind` one of `VERDICTS`; `reason` one of `REASONS`, or None for a digit."""

    kind: str
    reason: str | None = None

    @property
    def is_digit(self) -> bool:
        return self.kind == "digit"


DIGIT = Verdict("digit")


@dataclass(frozen=True)
class Shape:
    """The measures the rule reads off the ink (shares are of the ink box unless said)."""

    extent: float  # the ink box's longer side, as a share of the image's longer side
    aspect: float  # width / height of the ink box
    tall_pieces: int  # pieces, split at empty column bands, at least PAIR_HEIGHT of the height
    crossings: float  # strokes met along the busiest tenth of rows and columns
    feet: bool  # two feet apart at the bottom
    crossed: bool  # two narrower feet and two heads (an X, H, K, N)


def _runs(mask: np.ndarray) -> np.ndarray:
    """Runs of True along the last axis: how many start on each line."""
    starts = mask[..., 1:] & ~mask[..., :-1]
    return starts.sum(axis=-1) + mask[..., 0]


def _busiest(counts: np.ndarray) -> float:
    """The mean of the top tenth of the lines that hold ink (at least one line)."""
    counts = np.sort(counts[counts > 0])
    if counts.size == 0:
        return 0.0
    return float(counts[-max(1, counts.size // 10) :].mean())


def _tall_pieces(mask: np.ndarray) -> int:
    """Split the ink at column bands with no ink, at least PAIR_GAP of its height wide; count the
    pieces whose own ink spans at least PAIR_HEIGHT of the height."""
    h = mask.shape[0]
    used = mask.any(axis=0)
    gap = max(1, int(np.ceil(PAIR_GAP * h)))
    pieces, start, empty = [], None, 0
    for c, inked in enumerate(used.tolist()):
        if inked:
            if start is None:
                start = c
            elif empty >= gap:
                pieces.append((start, c - empty))
                start = c
            empty = 0
        else:
            empty += 1
    if start is not None:
        pieces.append((start, len(used) - empty))
    tall = 0
    for a, b in pieces:
        rows = np.flatnonzero(mask[:, a:b].any(axis=1))
        tall += rows.size > 0 and rows[-1] - rows[0] + 1 >= PAIR_HEIGHT * h
    return tall


def _feet(mask: np.ndarray, gap: float) -> bool:
    """Two pieces of ink standing apart in the bottom band: an empty gap of at least `gap`
    of the width between inked columns, in at least FEET_ROWS of the band's rows."""
    h, w = mask.shape
    top = int(FEET_BAND[0] * h)
    band = mask[top : max(int(FEET_BAND[1] * h), top + 1)]
    apart = 0
    for row in band:
        cols = np.flatnonzero(row)
        apart += cols.size > 1 and int(np.diff(cols).max()) - 1 >= gap * w
    return apart >= FEET_ROWS * band.shape[0]


def shape(ink: np.ndarray) -> Shape | None:
    """The measures of an ink map (`preprocess(...).stages["ink"]`); None when it holds no digit."""
    box = _ink_box(ink)
    if box is None:
        return None
    crop = ink[box]
    mask = crop >= INK_LEVEL
    if not mask.any():
        mask = crop > 0
    h, w = crop.shape
    crossings = max(_busiest(_runs(mask)), _busiest(_runs(mask.T)))
    return Shape(
        extent=max(h, w) / max(ink.shape),
        aspect=w / h,
        tall_pieces=_tall_pieces(mask),
        crossings=crossings,
        feet=_feet(mask, FEET_GAP),
        crossed=_feet(mask, X_GAP) and _feet(mask[::-1], X_GAP),
    )


def judge(measured: Shape | None, digit_probs: np.ndarray | None = None) -> Verdict:
    """The verdict from the ink's measures and (optionally) the network's digit probabilities."""
    if measured is None:
        return Verdict("not_a_digit", "tap")
    if measured.extent < TAP_EXTENT:
        return Verdict("not_a_digit", "tap")
    if measured.tall_pieces >= 2 or measured.aspect >= WIDE_ASPECT:
        return Verdict("two_digits", "pair")
    if measured.crossings >= SCRIBBLE_CROSSINGS:
        return Verdict("not_a_digit", "scribble")
    if measured.feet or measured.crossed:
        return Verdict("not_a_digit", "letter")
    if digit_probs is not None and float(np.max(digit_probs)) < MIN_CONFIDENCE:
        return Verdict("not_a_digit", "unsure")
    return DIGIT


def verdict(ink: np.ndarray, digit_probs: np.ndarray | None = None) -> Verdict:
    """Is the ink map (`preprocess(image).stages["ink"]`) one digit? See the module docstring."""
    return judge(shape(ink), digit_probs)


def constants() -> dict[str, float | list[float]]:
    """The rule's thresholds as JSON, for the page's port (`mnistsum.export`)."""
    return {name: np.asarray(globals()[name]).tolist() for name in CONSTANT_NAMES}
