"""What the server can put on the pad: the ten examples and a random MNIST test digit. The pad
reads a picture set this way like a stroke (in the page, or through the server's fallback)."""

from __future__ import annotations

import functools
import random
from pathlib import Path

import numpy as np
from PIL import Image

from mnistsum import render
from mnistsum.data import MnistSplit, load_split
from mnistsum.payload import png_data_url
from mnistsum.render import CANVAS

from .make_examples import example_path


@functools.lru_cache(maxsize=1)
def _test_split(data_dir: str) -> MnistSplit:
    """Loaded once, on the first click: 8 MB that most visitors never need."""
    return load_split(data_dir, train=False)


def random_mnist_digit(data_dir: str | Path) -> tuple[str, str]:
    """A random MNIST test digit for the pad (drawn like a canvas) and a line saying which one;
    the pad's own `change` then predicts it like any drawing."""
    split = _test_split(str(data_dir))
    index = random.randrange(len(split))
    drawing = render.as_drawing(split.images[index].numpy(), size=CANVAS)
    return png_data_url(drawing), f"MNIST test image #{index}: labelled **{int(split.labels[index])}**."


def load_example(index: int) -> tuple[str, str]:
    """Example `index` for the pad, and an empty caption."""
    return png_data_url(np.asarray(Image.open(example_path(index)).convert("L"))), ""
