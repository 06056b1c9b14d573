"""Stress sets: MNIST test digits redrawn the way people draw them, through the full
preprocessing path. They stand in for real handwriting that is not MNIST.

    python -m mnistsum.stress --data-dir DIR [--weights PATH] [--count 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageFilter

from .checkpoint import atomic_write_text
from .cli import exits_cleanly
from .config import SHIPPED_WEIGHTS, default_data_dir
from .data import load_split
from .predictor import Predictor
from .render import on_paper


def _pen_drawing(digit: np.ndarray, size: int, pen: int) -> Image.Image:
    """The digit as a binary pen drawing `size` px tall (white ink on black).

    The strokes are traced at 200 px, thickened (pen > 0) or thinned (pen < 0) by |pen| px
    there, then scaled to `size`, so a pen width means the same at every canvas size and
    the min/max filter stays cheap.
    """
    strokes = Image.fromarray(digit).resize((200, 200), Image.BILINEAR).point(lambda v: 255 if v > 100 else 0)
    if pen > 0:
        strokes = strokes.filter(ImageFilter.MaxFilter(2 * pen + 1))
    elif pen < 0:
        strokes = strokes.filter(ImageFilter.MinFilter(-2 * pen + 1))
    return strokes.resize((size, size), Image.BILINEAR).point(lambda v: 255 if v > 127 else 0)


def _on_canvas(ink: Image.Image, canvas: int, left: int, top: int) -> np.ndarray:
    out = Image.new("L", (canvas, canvas), 0)
    out.paste(ink, (left, top))
    return np.asarray(out)


def _rgba(ink: np.ndarray) -> np.ndarray:
    """A transparent canvas with blue strokes whose shape lives in the alpha channel."""
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 2] = 200
    rgba[..., 3] = ink
    return rgba


STRESS_SETS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mnist as is (28x28)": lambda d: d,
    "sketchpad 280, medium pen": lambda d: on_paper(_on_canvas(_pen_drawing(d, 200, 4), 280, 40, 40)),
    "sketchpad 280, thick pen": lambda d: on_paper(_on_canvas(_pen_drawing(d, 200, 10), 280, 40, 40)),
    "sketchpad 280, thin pen": lambda d: on_paper(_on_canvas(_pen_drawing(d, 200, -2), 280, 40, 40)),
    "small, in a corner (280)": lambda d: on_paper(_on_canvas(_pen_drawing(d, 60, 4), 280, 5, 5)),
    "fills the canvas (280)": lambda d: on_paper(_on_canvas(_pen_drawing(d, 280, 4), 280, 0, 0)),
    "tiny on 1000x1000": lambda d: on_paper(_on_canvas(_pen_drawing(d, 80, 4), 1000, 600, 150)),
    "large on 1000x1000": lambda d: on_paper(_on_canvas(_pen_drawing(d, 900, 4), 1000, 50, 50)),
    "light on dark (280)": lambda d: _on_canvas(_pen_drawing(d, 200, 4), 280, 40, 40),
    "RGBA strokes (280)": lambda d: _rgba(_on_canvas(_pen_drawing(d, 200, 4), 280, 40, 40)),
}


def stress_accuracy(
    predictor: Predictor, images: np.ndarray, labels: np.ndarray, names: Sequence[str] = tuple(STRESS_SETS)
) -> dict[str, float]:
    """Digit accuracy of the full predict path on each stress set named (default: all)."""
    results = {}
    for name in names:
        redraw = STRESS_SETS[name]
        prepared = np.stack([predictor.prepare(redraw(image))[0] for image in images])
        probs, _ = predictor.probabilities(prepared, np.zeros(len(images), dtype=np.int64))
        results[name] = float((probs.argmax(1) == labels).mean())
    return results


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHIPPED_WEIGHTS))
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--count", type=int, default=2000, help="test images per set")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="also write the JSON results to this file (atomically)")
    args = parser.parse_args(argv)
    test = load_split(args.data_dir, train=False)
    results = stress_accuracy(
        Predictor.load(args.weights), test.images[: args.count].numpy(), test.labels[: args.count].numpy()
    )
    if args.out:
        atomic_write_text(args.out, json.dumps({"count": args.count, "accuracy": results}, indent=2) + "\n")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, acc in results.items():
            print(f"{name:<30} {acc:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
