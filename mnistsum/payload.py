"""What travels between a drawing pad and the model: image data URLs in, plain JSON out.

A browser pad sends its drawing as a small `data:image/png;base64,...` string once per
stroke; `decode_drawing` turns it back into the uint8 array `preprocess` reads, and refuses
anything oversized or malformed with a `DrawingPayloadError` that says what was wrong.
`answer` shapes a `Prediction` as one JSON-ready dict, the same for the page and for programs,
so the two never disagree on what a prediction says.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .model import NUM_DIGITS
from .predictor import Prediction

# A 280x280 drawing is 2-10 KB as PNG; these bounds leave room for photos and big canvases
# while keeping one request from costing the server more than a few milliseconds and MB.
MAX_PAYLOAD_CHARS = 2_000_000  # base64 characters, about 1.5 MB of image file
MAX_SIDE = 4096  # pixels along either side of the decoded image
MAX_PIXELS = 4096 * 4096
MAX_FILE_BYTES = 5_000_000  # an image file (an upload, a fetched URL): the upload route's cap too
IMAGE_TYPES = ("png", "jpeg", "jpg", "webp", "gif", "bmp")
_DATA_URL = re.compile(r"data:image/(?P<kind>[a-z]+);base64,", re.IGNORECASE)


class DrawingPayloadError(ValueError):
    """A pad payload that is not a usable image: the message says why and what is accepted."""


def decode_drawing(payload: Any) -> np.ndarray | None:
    """A pad's value -> uint8 array (H, W) for grayscale, (H, W, C) otherwise; None for an
    empty pad ('' or None). Accepts `data:image/<png|jpeg|webp|...>;base64,<data>`."""
    if payload is None or payload == "":
        return None
    if not isinstance(payload, str):
        raise DrawingPayloadError(
            f"the drawing must be an image data URL string (data:image/png;base64,...), got {type(payload).__name__}"
        )
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise DrawingPayloadError(
            f"the drawing is too large: {len(payload):,} characters, at most {MAX_PAYLOAD_CHARS:,} are accepted"
        )
    match = _DATA_URL.match(payload)
    if match is None:
        raise DrawingPayloadError("the drawing must be an image data URL: data:image/png;base64,<base64 data>")
    if match["kind"].lower() not in IMAGE_TYPES:
        raise DrawingPayloadError(f"image/{match['kind']} is not accepted; send one of {', '.join(IMAGE_TYPES)}")
    try:
        data = base64.b64decode(payload[match.end() :], validate=True)
    except (binascii.Error, ValueError) as err:
        raise DrawingPayloadError(f"the drawing's base64 data is malformed ({err})") from err
    return _read_image(data)


def read_image_file(path: str | Path) -> np.ndarray:
    """An image file (an upload, a downloaded URL) as `decode_drawing` gives it, refused with a
    `DrawingPayloadError` when the file or its pixel count (read from the header, before any
    decoding) is over the caps: a 600 KB PNG can hold 13000x13000 pixels, 170 MB decoded."""
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise DrawingPayloadError(f"the image file cannot be read ({type(err).__name__})") from err
    if size > MAX_FILE_BYTES:
        raise DrawingPayloadError(f"the image file is {size:,} bytes; at most {MAX_FILE_BYTES:,} are accepted")
    return _read_image(Path(path))


def _read_image(source: bytes | Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Our own cap, below, is far under PIL's bomb limit and says what is accepted.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                width, height = image.size  # read from the header: nothing is decoded yet
                if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
                    raise DrawingPayloadError(
                        f"the drawing is {width}x{height} pixels; at most {MAX_SIDE} on a side is accepted"
                    )
                image.load()
                return _as_array(image)
    except DrawingPayloadError:
        raise
    except Image.DecompressionBombError as err:  # over twice PIL's limit: refused at open, from the header too
        raise DrawingPayloadError(f"the drawing has too many pixels ({err}); at most {MAX_SIDE} on a side") from err
    except (OSError, ValueError) as err:
        raise DrawingPayloadError(f"the drawing is not a readable image ({type(err).__name__}: {err})") from err


def _as_array(image: Image.Image) -> np.ndarray:
    """Grayscale stays one plane; colour keeps its alpha so transparent strokes still read as ink."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image if image.mode != "LA" else image.convert("RGBA"))
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def png_data_url(image: np.ndarray) -> str:
    """A uint8 image as a PNG data URL: what a pad sends, and a picture a page shows inline
    (no file on the server, so nothing is shared between responses)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _rounded(values: np.ndarray, digits: int = 6) -> list[float]:
    return [round(float(v), digits) for v in values]


def blank_answer(n: int) -> dict[str, Any]:
    """What a prediction says when nothing was drawn: no digit, no guess."""
    return {
        "blank": True,
        "verdict": None,
        "reason": None,
        "n": n,
        "digit": None,
        "sum": None,
        "heads_agree": None,
        "digit_probs": [],
        "sum_probs": [],
        "analytic_sum_probs": [],
    }


def answer(prediction: Prediction, sum_table: np.ndarray | None = None) -> dict[str, Any]:
    """One prediction as plain JSON: the digit, the learned sum, both sum distributions over
    0..18 (the learned head's, and the digit head's shifted by n), and whether they agree;
    `verdict` says whether the drawing is one digit at all (the digit is the network's guess either way).

    With `sum_table` (the learned sum for every n, `Predictor.sum_table`) it also carries
    that 10x19 table, which is all a page needs to show any other n without asking again.
    """
    out = {
        "blank": False,
        "verdict": prediction.verdict.kind,  # "digit", "two_digits" or "not_a_digit" (mnistsum.verdict)
        "reason": prediction.verdict.reason,  # why, when not a digit: pair, tap, scribble, letter, unsure
        "n": prediction.n,
        "digit": prediction.digit,
        "sum": prediction.sum,
        "heads_agree": prediction.consistent,
        "digit_probs": _rounded(prediction.digit_probs),
        "sum_probs": _rounded(prediction.sum_probs),
        "analytic_sum_probs": _rounded(prediction.analytic_sum_probs),
    }
    if sum_table is not None:
        if sum_table.shape[0] != NUM_DIGITS:
            raise ValueError(f"the sum table needs one row per n (10), got shape {sum_table.shape}")
        out["sum_table"] = [_rounded(row) for row in sum_table]
    return out
