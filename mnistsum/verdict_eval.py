"""How well the one-digit rule (`mnistsum.verdict`) tells digits from what is not one digit.

    python -m mnistsum.verdict_eval [--part test|val] [--out weights/verdict_metrics.json]

False rejects (a digit told "not a digit" or "two digits") on MNIST test and on the held-out pen
writers at the pad's pen (22 px, also drawn small); detection rates on the negatives a visitor
draws, built here from the data we hold and programmatic strokes: two pen digits side by side
on one pad ("17", "1 2"), two MNIST digits side by side, taps and dots, random scribbles and
letters drawn as stroke trajectories. `--part val` measures on the validation data (MNIST's
last 5,000 training images, the pen sets' validation writers): where the thresholds are chosen.
Seeds are fixed, so a run on the same weights gives the same numbers.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .cli import publish, shown_path
from .config import SHIPPED_WEIGHTS, default_data_dir
from .data import load_split
from .pen import CANVAS, PenDigits, StrokeAugment, augment_strokes, load_pen_digits, render, writer_split
from .predictor import BlankDrawingError, Predictor
from .verdict import Verdict

PEN = 22  # the pad's pen (demo/make_examples.PEN)
SEED = 31
VALIDATION = 5000  # MNIST's last training images: the validation part
NEGATIVES = ("pairs", "mnist_pairs", "taps", "scribbles", "letters")
SHAKE = StrokeAugment(max_rotation_deg=10, max_slant=0.25, max_aspect=0.15, jitter=0.01)

# Capital letters as strokes in a unit box (x right, y down), the way people print them.
LETTERS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.22, 0.6), (0.78, 0.6)]],
    "E": [[(1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (1.0, 1.0)], [(0.0, 0.5), (0.75, 0.5)]],
    "F": [[(1.0, 0.0), (0.0, 0.0), (0.0, 1.0)], [(0.0, 0.5), (0.75, 0.5)]],
    "H": [[(0.0, 0.0), (0.0, 1.0)], [(1.0, 0.0), (1.0, 1.0)], [(0.0, 0.5), (1.0, 0.5)]],
    "K": [[(0.0, 0.0), (0.0, 1.0)], [(1.0, 0.0), (0.0, 0.55), (1.0, 1.0)]],
    "M": [[(0.0, 1.0), (0.0, 0.0), (0.5, 0.6), (1.0, 0.0), (1.0, 1.0)]],
    "N": [[(0.0, 1.0), (0.0, 0.0), (1.0, 1.0), (1.0, 0.0)]],
    "R": [[(0.0, 1.0), (0.0, 0.0), (0.7, 0.0), (0.9, 0.2), (0.7, 0.45), (0.0, 0.45)], [(0.35, 0.45), (1.0, 1.0)]],
    "W": [[(0.0, 0.0), (0.25, 1.0), (0.5, 0.35), (0.75, 1.0), (1.0, 0.0)]],
    "X": [[(0.0, 0.0), (1.0, 1.0)], [(1.0, 0.0), (0.0, 1.0)]],
}


def _densify(points: list[tuple[float, float]], step: float = 0.02) -> np.ndarray:
    """A polyline with points every `step` (so a shaky hand bends the lines, not just the corners)."""
    out = [np.asarray(points[0], np.float64)]
    for a, b in zip(points, points[1:]):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        k = max(2, int(np.linalg.norm(b - a) / step))
        out.extend(a + (b - a) * t for t in np.linspace(0, 1, k)[1:])
    return np.stack(out)


def _on_pad(strokes: list[np.ndarray], rng: np.random.Generator, box: tuple[float, float] = (120, 230)) -> np.ndarray:
    side = float(rng.uniform(*box))
    margin = side / 2 + PEN
    centre = (float(rng.uniform(margin, CANVAS - margin)), float(rng.uniform(margin, CANVAS - margin)))
    return render(strokes, pen=PEN, box=side, centre=centre, supersample=2)


def letters(count: int, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    """`count` letters, cycling through `LETTERS`, each shaken, slanted and placed at random."""
    names = list(LETTERS)
    for i in range(count):
        name = names[i % len(names)]
        width = rng.uniform(0.6, 1.0)  # letters narrower than tall, as printed
        strokes = [_densify([(x * width, y) for x, y in s]) for s in LETTERS[name]]
        yield f"letter {name}", _on_pad(augment_strokes(strokes, rng, SHAKE), rng)


def taps(count: int, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    """A tap of the pen, or a short dab (the pen moved a few pixels), anywhere on the pad."""
    for _ in range(count):
        pen = float(rng.uniform(0.7, 1.3) * PEN)
        x, y = (float(v) for v in rng.uniform(pen, CANVAS - pen, size=2))
        drag = rng.uniform(-1, 1, size=2) * rng.uniform(0, 8)
        image = Image.new("L", (CANVAS, CANVAS), 255)
        draw = ImageDraw.Draw(image)
        for px, py in ((x, y), (x + drag[0], y + drag[1])):
            draw.ellipse([px - pen / 2, py - pen / 2, px + pen / 2, py + pen / 2], fill=0)
        draw.line([x, y, x + drag[0], y + drag[1]], fill=0, width=round(pen))
        yield f"tap {pen:.0f} px", np.asarray(image)


def _walk(steps: int, rng: np.random.Generator) -> np.ndarray:
    """A random walk that turns a lot: a hand scribbling."""
    angle, point, out = rng.uniform(0, 2 * math.pi), np.zeros(2), [np.zeros(2)]
    for _ in range(steps):
        angle += rng.normal(0, 1.2)
        point = point + rng.uniform(0.5, 1.5) * np.array([math.cos(angle), math.sin(angle)])
        out.append(point)
    return np.stack(out)


def _zigzag(rng: np.random.Generator) -> np.ndarray:
    """Back and forth across a patch: crossing something out."""
    turns = int(rng.integers(5, 12))
    xs = np.where(np.arange(turns) % 2 == 0, 0.0, 1.0) + rng.normal(0, 0.05, turns)
    ys = np.linspace(0, 1, turns) + rng.normal(0, 0.03, turns)
    return _densify(list(zip(xs.tolist(), ys.tolist())))


def scribbles(count: int, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    """Random-walk scribbles (one or two strokes) and back-and-forth cross-outs."""
    for i in range(count):
        if i % 3 == 2:
            yield "cross-out", _on_pad([_zigzag(rng)], rng)
        else:
            strokes = [_walk(int(rng.integers(25, 60)), rng) for _ in range(int(rng.integers(1, 3)))]
            yield "scribble", _on_pad(strokes, rng)


def pairs(digits: PenDigits, count: int, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    """Two digits of one writer side by side, as a visitor writes "17" or "1 2" on one pad: each
    100-140 px tall, the gap between them from touching to half a digit."""
    for _ in range(count):
        writer = digits.writers[int(rng.integers(len(digits)))]
        mine = np.flatnonzero(digits.writers == writer)
        a, b = (int(i) for i in rng.choice(mine, size=2))
        side = float(rng.uniform(100, 140))
        widths = []
        for i in (a, b):
            pts = np.concatenate(digits.strokes[i])
            span = pts.max(0) - pts.min(0)
            widths.append(side * span[0] / max(span.max(), 1e-9))
        gap = float(rng.uniform(0.1, 0.5)) * side
        total = widths[0] + widths[1] + gap + PEN
        left = (CANVAS - total) / 2 + PEN / 2
        centres = (left + widths[0] / 2, left + widths[0] + gap + widths[1] / 2)
        cy = float(rng.uniform(side / 2 + PEN, CANVAS - side / 2 - PEN))
        drawing = np.minimum(
            *[
                render(digits.strokes[i], pen=PEN, box=side, centre=(cx, cy), supersample=2)
                for i, cx in zip((a, b), centres)
            ]
        )
        yield f"pair {digits.labels[a]}{digits.labels[b]}", drawing


def mnist_pairs(images: np.ndarray, count: int, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    """Two MNIST digits (28x28, white on black) side by side on one pad, each 130 px square."""
    for _ in range(count):
        a, b = (int(i) for i in rng.choice(len(images), size=2, replace=False))
        side, gap = 130, int(rng.integers(0, 20))
        canvas = np.zeros((CANVAS, CANVAS), np.uint8)
        left, top = (CANVAS - 2 * side - gap) // 2, (CANVAS - side) // 2
        for i, x in ((a, left), (b, left + side + gap)):
            canvas[top : top + side, x : x + side] = np.asarray(Image.fromarray(images[i]).resize((side, side)))
        yield "MNIST pair", 255 - canvas


def negatives(
    digits: PenDigits, mnist: np.ndarray, count: int, seed: int = SEED
) -> dict[str, list[tuple[str, np.ndarray]]]:
    """`count` drawings of each kind in `NEGATIVES`, fixed by `seed`."""
    rng = np.random.default_rng(seed)
    return {
        "pairs": list(pairs(digits, count, rng)),
        "mnist_pairs": list(mnist_pairs(mnist, count, rng)),
        "taps": list(taps(count, rng)),
        "scribbles": list(scribbles(count, rng)),
        "letters": list(letters(count, rng)),
    }


def read(predictor: Predictor, image: np.ndarray) -> Verdict:
    """The predictor's verdict on one drawing (an empty one counts as "not a digit")."""
    try:
        return predictor.predict(image, 0).verdict
    except BlankDrawingError:
        return Verdict("not_a_digit", "tap")


def _rejected(predictor: Predictor, images: Any) -> dict[str, Any]:
    verdicts = [read(predictor, image) for image in images]
    kinds = [v.kind if v.is_digit else f"{v.kind}:{v.reason}" for v in verdicts]
    rejected = sum(not v.is_digit for v in verdicts)
    names, counts = np.unique(kinds, return_counts=True)
    return {
        "drawings": len(verdicts),
        "rejected": rejected,
        "rate": rejected / max(len(verdicts), 1),
        "by_verdict": dict(zip(names.tolist(), counts.tolist())),
    }


def measure(
    predictor: Predictor, data_dir: str, part: str = "test", count: int = 300, limit: int | None = None
) -> dict[str, Any]:
    """False rejects on digits and detection rates on negatives (see the module docstring)."""
    train = part != "test"
    split = load_split(data_dir, train=train)
    images = split.images.numpy()
    if train:
        images = images[-VALIDATION:]
    images = images[:limit]
    pen = writer_split(load_pen_digits(data_dir), part)
    if limit is not None:
        pen = pen.take(np.arange(min(limit, len(pen))))
    small = [(22, 70, (235, 45)), (22, 40, (250, 30))]
    out: dict[str, Any] = {"part": part, "false_rejects": {}, "detected": {}}
    out["false_rejects"]["mnist"] = _rejected(predictor, images)
    out["false_rejects"]["pen 22 px"] = _rejected(predictor, (render(s, pen=PEN, supersample=2) for s in pen.strokes))
    for pen_px, box, centre in small:
        drawings = (render(s, pen=pen_px, box=box, centre=centre, supersample=2) for s in pen.strokes)
        out["false_rejects"][f"pen 22 px, {box} px in a corner"] = _rejected(predictor, drawings)
    out["pen_writers"] = len(set(pen.writers.tolist()))
    for kind, drawings in negatives(pen, images, count).items():
        out["detected"][kind] = _rejected(predictor, (d for _, d in drawings))
    return out


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines: what each set of drawings was told."""
    lines = [f"part: {report['part']} ({report['pen_writers']} pen writers)", "false rejects (digits told otherwise):"]
    lines += [f"  {name:<34} {m['rate']:.2%} of {m['drawings']:,}" for name, m in report["false_rejects"].items()]
    lines.append("detected (told two digits / not a digit):")
    lines += [f"  {name:<34} {m['rate']:.1%} of {m['drawings']:,}" for name, m in report["detected"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHIPPED_WEIGHTS), help="checkpoint to measure")
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding MNIST/raw and the pen sets")
    parser.add_argument("--part", choices=("test", "val"), default="test", help="held-out data, or validation")
    parser.add_argument("--count", type=int, default=300, help="drawings of each negative kind")
    parser.add_argument("--limit", type=int, help="only the first LIMIT MNIST images and pen digits (a quick look)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON report to this file (atomically)")
    args = parser.parse_args(argv)
    report = {
        "weights": shown_path(args.weights),
        **measure(Predictor.load(args.weights), args.data_dir, args.part, args.count, args.limit),
    }
    publish(report, format_report(report), args.out, args.json, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
