"""Draw the example digits the Predict tab offers, as a person would on the canvas.

Each digit is a few pen strokes in unit coordinates (x right, y down). The same strokes
feed the browser test, which draws them with the mouse, so the examples and the test
agree on what a drawn digit looks like. Regenerate the images with
`python -m demo.make_examples` (they are committed; nothing here runs at app start).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mnistsum.render import CANVAS

PEN = 22  # stroke width in canvas pixels: about 1/8 of a digit's height, as in MNIST
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"

Point = tuple[float, float]
Stroke = list[Point]


def _arc(cx: float, cy: float, rx: float, ry: float, start_deg: float, end_deg: float, steps: int = 16) -> Stroke:
    """Points along an ellipse from `start_deg` to `end_deg` (0 = right, 90 = down)."""
    angles = np.linspace(math.radians(start_deg), math.radians(end_deg), steps)
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def _figure_eight(steps: int = 24) -> Stroke:
    ts = np.linspace(0, 2 * math.pi, steps)
    return [(0.5 + 0.16 * math.sin(2 * t), 0.5 - 0.32 * math.cos(t)) for t in ts]


STROKES: dict[int, list[Stroke]] = {
    0: [_arc(0.5, 0.5, 0.2, 0.32, -90, 275)],
    1: [[(0.54, 0.18), (0.47, 0.82)]],
    2: [_arc(0.5, 0.34, 0.18, 0.16, 200, 380, 10) + [(0.3, 0.8), (0.72, 0.8)]],
    3: [_arc(0.49, 0.33, 0.17, 0.15, 210, 450, 10) + _arc(0.49, 0.64, 0.19, 0.17, -90, 150, 10)],
    4: [[(0.55, 0.18), (0.3, 0.6), (0.74, 0.6)], [(0.6, 0.36), (0.6, 0.84)]],
    5: [[(0.7, 0.2), (0.38, 0.2), (0.35, 0.47)] + _arc(0.5, 0.63, 0.19, 0.18, -120, 150, 10)],
    6: [[(0.63, 0.18), (0.46, 0.3)] + _arc(0.5, 0.64, 0.16, 0.18, 200, 560, 16)],
    7: [[(0.3, 0.22), (0.7, 0.22), (0.45, 0.82)]],
    8: [_figure_eight()],
    9: [_arc(0.5, 0.36, 0.17, 0.17, 0, 360, 16) + [(0.64, 0.82)]],
}


def draw_digit(digit: int, size: int = CANVAS, pen: int = PEN) -> np.ndarray:
    """`digit` drawn with round pen strokes, black ink on a white `size` x `size` canvas (uint8)."""
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    for stroke in STROKES[digit]:
        points = [(x * size, y * size) for x, y in stroke]
        draw.line(points, fill=0, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=0)
    return np.asarray(image)


def example_path(digit: int) -> Path:
    return EXAMPLES_DIR / f"digit_{digit}.png"


def main() -> None:
    EXAMPLES_DIR.mkdir(exist_ok=True)
    for digit in STROKES:
        Image.fromarray(draw_digit(digit)).save(example_path(digit), optimize=True)
        print(example_path(digit))


if __name__ == "__main__":
    main()
