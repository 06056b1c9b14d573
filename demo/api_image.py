"""`/predict_json`'s image input: Gradio's image component, with the size checks before decoding.

`gr.Image` decodes whatever arrives (a FileData `{"url": "data:..."}` too, which skips the
upload route's size cap) before a handler can look at it: a 677 KB PNG of 13000x13000 pixels
then costs 1.9 GB and 9 s. Here the payload goes through `mnistsum.payload` instead, which reads
the pixel count from the image's header and refuses an oversized one before decoding it.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from mnistsum.payload import DrawingPayloadError, decode_drawing, read_image_file

from .refusals import refused


class CheckedImage(gr.Image):
    """A `gr.Image(type="numpy")` whose payload is size-checked before it is decoded."""

    @classmethod
    def get_block_name(cls) -> str:
        return "image"  # the page and the API see the ordinary image component

    def preprocess(self, payload: Any) -> np.ndarray | None:
        """The image as a uint8 array (None when absent); a `gr.Error` saying why when it is refused."""
        if payload is None:
            return None
        try:
            if payload.url and payload.url.startswith("data:"):
                return decode_drawing(payload.url)
            if payload.path is None:
                raise DrawingPayloadError("the image has neither a file nor a data URL")
            return read_image_file(payload.path)
        except DrawingPayloadError as err:
            raise refused(f"Cannot read this image: {err}") from err
