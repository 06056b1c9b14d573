"""What the pad sends and what programs get back: `mnistsum.payload`."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from demo.make_examples import draw_digit
from mnistsum import payload as payload_module
from mnistsum.payload import DrawingPayloadError, answer, blank_answer, decode_drawing, png_data_url
from mnistsum.predictor import Predictor


def data_url(image: Image.Image, kind: str = "png") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=kind.upper())
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_png_data_url_round_trips_exactly() -> None:
    seven = draw_digit(7)
    decoded = decode_drawing(png_data_url(seven))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, seven)


def test_what_a_browser_canvas_sends_is_read() -> None:
    """A canvas exports opaque RGBA; JPEG and a transparent background (ink in alpha) work too."""
    ink = draw_digit(4) < 128
    opaque = np.stack([np.where(ink, 0, 255)] * 3 + [np.full(ink.shape, 255)], axis=-1).astype(np.uint8)
    transparent = np.zeros((*ink.shape, 4), np.uint8)
    transparent[ink, 3] = 255
    predictor = Predictor.load()
    for image in (Image.fromarray(opaque, "RGBA"), Image.fromarray(transparent, "RGBA")):
        assert predictor.predict(decode_drawing(data_url(image)), 1).digit == 4
    jpeg = decode_drawing(data_url(Image.fromarray(draw_digit(4)), "jpeg"))
    assert jpeg.shape == ink.shape and predictor.predict(jpeg, 1).digit == 4


@pytest.mark.parametrize("empty", [None, ""])
def test_an_empty_pad_is_none(empty: str | None) -> None:
    assert decode_drawing(empty) is None


def _tall_png(width: int, height: int) -> str:
    return data_url(Image.new("L", (width, height), 255))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (123, "must be an image data URL string.*got int"),
        ({"composite": None}, "got dict"),
        ("hello", "must be an image data URL"),
        ("data:text/plain;base64,aGVsbG8=", "must be an image data URL"),
        ("data:image/tiff;base64,aGVsbG8=", "image/tiff is not accepted"),
        ("data:image/png;base64,not base64!!", "base64 data is malformed"),
        ("data:image/png;base64," + base64.b64encode(b"not a png at all").decode(), "not a readable image"),
        (
            "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode(),
            "not a readable image",
        ),
        (_tall_png(5000, 8), "5000x8 pixels; at most 4096"),
    ],
    ids=["int", "dict", "text", "text-url", "tiff", "bad-base64", "not-an-image", "truncated-png", "too-wide"],
)
def test_malformed_payloads_are_clear_errors(payload: object, message: str) -> None:
    with pytest.raises(DrawingPayloadError, match=message):
        decode_drawing(payload)


def test_an_oversized_payload_is_refused_before_decoding() -> None:
    payload = "data:image/png;base64," + "A" * payload_module.MAX_PAYLOAD_CHARS
    with pytest.raises(DrawingPayloadError, match="too large: 2,000,022 characters, at most 2,000,000"):
        decode_drawing(payload)
    assert issubclass(DrawingPayloadError, ValueError)  # callers catching ValueError catch it too


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    """A tiny file that claims 40000x40000 pixels is refused before any pixel is decoded."""
    bomb = io.BytesIO()
    Image.new("1", (40000, 40000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 300_000
    with pytest.raises(DrawingPayloadError, match="pixels|not a readable image"):
        decode_drawing("data:image/png;base64," + base64.b64encode(bomb.getvalue()).decode())


def test_answer_is_plain_json_that_says_everything_once() -> None:
    predictor = Predictor.load()
    prediction = predictor.predict(draw_digit(7), 3)
    table = predictor.sum_table(prediction)
    out = answer(prediction, table)
    assert (out["digit"], out["sum"], out["n"], out["heads_agree"], out["blank"]) == (7, 10, 3, True, False)
    assert len(out["digit_probs"]) == 10 and len(out["sum_probs"]) == len(out["analytic_sum_probs"]) == 19
    assert all(isinstance(p, float) for p in out["digit_probs"] + out["sum_probs"])
    assert sum(out["sum_probs"]) == pytest.approx(1, abs=1e-4)
    assert out["analytic_sum_probs"][3:13] == out["digit_probs"]
    assert len(out["sum_table"]) == 10 and out["sum_table"][3] == out["sum_probs"]  # row n is this prediction
    assert "sum_table" not in answer(prediction)
    with pytest.raises(ValueError, match="one row per n"):
        answer(prediction, table[:3])


def test_a_blank_answer_guesses_nothing() -> None:
    out = blank_answer(5)
    assert out["blank"] is True and out["n"] == 5
    assert out["digit"] is None and out["sum"] is None and out["heads_agree"] is None
    assert out["digit_probs"] == [] and out["sum_probs"] == []
