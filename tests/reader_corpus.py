"""The fixed corpus the page's reader is checked on: drawings at the pad's canvas size.

UNIPEN and pendigits writers (rendered as the pad draws: round pens from hairline to very
thick, the digit anywhere on the canvas, corners included), MNIST test digits pasted on the
canvas (full size and small), and the odd cases: a blank pad, a stray dot, a dot beside a
digit, a hairline and a very thick stroke. Fixed seeds: the same drawings every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mnistsum.data import load_split
from mnistsum.pen import load_pen_digits, render
from mnistsum.render import CANVAS, as_drawing
from mnistsum.verdict_eval import negatives

SEED = 27


def _pen_drawings(pen_dir: Path, count: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    digits = load_pen_digits(pen_dir)
    out = []
    for name in ("unipen", "pendigits"):
        index = np.flatnonzero(digits.sets == name)
        for i in rng.choice(index, size=min(count, index.size), replace=False):
            pen = float(rng.choice([1, 2, 4, 8, 14, 22, 34, 48, 64]))
            box = float(rng.uniform(40, 250))
            margin = min(box / 2 + pen / 2, CANVAS / 2)
            centre = (float(rng.uniform(margin, CANVAS - margin)), float(rng.uniform(margin, CANVAS - margin)))
            drawing = render(digits.strokes[i], pen=pen, box=box, centre=centre, supersample=2)
            out.append((f"{name} #{i} pen {pen:g} box {box:.0f}", drawing))
    return out


def _mnist_drawings(mnist_dir: Path, count: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    split = load_split(mnist_dir, train=False)
    out = []
    for k, i in enumerate(rng.choice(len(split), size=count, replace=False)):
        digit = split.images[int(i)].numpy()
        if k % 2 == 0:
            out.append((f"MNIST #{i} full canvas", as_drawing(digit)))
            continue
        side = int(rng.integers(28, 140))
        small = 255 - np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR))
        canvas = np.full((CANVAS, CANVAS), 255, np.uint8)
        top, left = (int(v) for v in rng.integers(0, CANVAS - side, size=2))
        canvas[top : top + side, left : left + side] = small
        out.append((f"MNIST #{i} pasted {side}px at ({left}, {top})", canvas))
    return out


def _odd_cases(pen_dir: Path) -> list[tuple[str, np.ndarray]]:
    digits = load_pen_digits(pen_dir)
    blank = np.full((CANVAS, CANVAS), 255, np.uint8)
    dot = blank.copy()
    dot[100:104, 200:204] = 0
    seven = digits.strokes[int(np.flatnonzero(digits.labels == 7)[0])]
    beside = render(seven, pen=18, box=150, centre=(110, 140)).copy()
    beside[20:26, 260:266] = 0  # a stray dot far from the digit
    bar = blank.copy()
    bar[60:220, 130:150] = 0  # flat ink with hard edges: no stroke edge inside its crop
    return [
        ("blank pad", blank),
        ("a solid bar, no anti-aliasing", bar),
        ("a stray dot", dot),
        ("a 7 and a stray dot", beside),
        ("a hairline 7", render(seven, pen=1, box=200)),
        ("a very thick 7", render(seven, pen=80, box=160)),
        ("a 7 in the top-left corner", render(seven, pen=14, box=70, centre=(40, 40))),
        ("a 7 in the bottom-right corner", render(seven, pen=14, box=70, centre=(240, 240))),
    ]


def corpus(mnist_dir: Path, pen_dir: Path, pen_per_set: int = 800, mnist: int = 500) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 CANVAS x CANVAS drawing, dark ink on white) for every drawing, in a fixed order."""
    rng = np.random.default_rng(SEED)
    return _pen_drawings(pen_dir, pen_per_set, rng) + _mnist_drawings(mnist_dir, mnist, rng) + _odd_cases(pen_dir)


def negative_corpus(mnist_dir: Path, pen_dir: Path, count: int = 40) -> list[tuple[str, np.ndarray]]:
    """What is not one digit (mnistsum.verdict_eval's negatives): pairs, taps, scribbles, letters."""
    digits = load_pen_digits(pen_dir)
    images = load_split(mnist_dir, train=False).images.numpy()
    return [item for kind in negatives(digits, images, count, seed=SEED).values() for item in kind]
