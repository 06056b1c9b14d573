"""Drawings that are not one digit, as strokes in unit coordinates of the pad (x right, y down):
what a visitor draws instead of a digit. The browser test draws them on the pad; the unit tests
render them as the pad would."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from demo.make_examples import PEN
from mnistsum.render import CANVAS

Stroke = list[tuple[float, float]]

NOT_ONE: dict[str, tuple[str, list[Stroke]]] = {  # name -> (the verdict expected, strokes)
    "a tap": ("not_a_digit", [[(0.5, 0.5)]]),
    "a letter A": ("not_a_digit", [[(0.3, 0.8), (0.5, 0.2), (0.7, 0.8)], [(0.37, 0.6), (0.63, 0.6)]]),
    "an x": ("not_a_digit", [[(0.3, 0.25), (0.7, 0.75)], [(0.7, 0.25), (0.3, 0.75)]]),
    "a scribble": (
        "not_a_digit",
        [[(0.2, 0.15), (0.8, 0.28), (0.2, 0.41), (0.8, 0.54), (0.2, 0.67), (0.8, 0.8), (0.2, 0.9)]],
    ),
    "1 2 side by side": (
        "two_digits",
        [
            [(0.22, 0.25), (0.22, 0.75)],
            [(0.52, 0.35), (0.62, 0.25), (0.76, 0.28), (0.79, 0.42), (0.52, 0.75), (0.82, 0.75)],
        ],
    ),
}


def on_pad(strokes: list[Stroke], pen: int = PEN) -> np.ndarray:
    """The strokes as the pad draws them: round pen, dark ink on a white CANVAS x CANVAS square."""
    image = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(x * CANVAS, y * CANVAS) for x, y in stroke]
        if len(points) > 1:
            draw.line(points, fill=0, width=pen, joint="curve")
        for x, y in points:
            draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=0)
    return np.asarray(image)
