"""Two page-side components built on `gr.HTML`: the drawing pad and the answer view.

Why not `gr.Sketchpad`: every read of its value uploads three PNGs, and Gradio reads it for
every event that lists it, so one stroke cost dozens of requests and seconds in the browser. This
pad draws in the page (pointer events: mouse, pen and finger); the page reads each drawing
itself (`demo.page_reader`) and keeps the pad's value, one small PNG data URL, for the events
that need the drawing on the server (`mnistsum.payload.decode_drawing` reads it). The answer
view renders a prediction, for any n, from the 10x19 sum table it carries, so a step of the n
slider needs no server call. Their JavaScript and CSS live in `demo/static/`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from mnistsum.payload import DrawingPayloadError, decode_drawing
from mnistsum.teaching import CLOSE_SHARE, PAIR_SHARES

from .refusals import refused

STATIC = Path(__file__).resolve().parent / "static"
_SVG = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">{}</svg>'
TOOLS = (  # (action, accessible name, icon path, tooltip)
    ("brush", "Brush", '<path d="M4 20c2 0 4-1 4-3a2 2 0 0 0-4 0"/><path d="M8 17 20 5l-1-1L7 16"/>', "Brush"),
    ("eraser", "Eraser", '<path d="m7 21-4-4 10-10 7 7-7 7z"/><path d="M7 21h13"/>', "Eraser"),
    ("undo", "Undo", '<path d="M9 14 4 9l5-5"/><path d="M4 9h11a5 5 0 0 1 0 10h-3"/>', "Undo (Ctrl+Z)"),
    ("redo", "Redo", '<path d="m15 14 5-5-5-5"/><path d="M20 9H9a5 5 0 0 0 0 10h3"/>', "Redo (Ctrl+Shift+Z)"),
    (
        "clear",
        "Clear",
        '<path d="M4 7h16"/><path d="M10 11v6M14 11v6"/><path d="M6 7l1 13h10l1-13M9 7V4h6v3"/>',
        "Clear",
    ),
)


def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def css() -> str:
    """The stylesheet both components need, for `launch(css=...)`."""
    return _static("pad.css")


def _pad_template(label: str, size: int, pen: int, eraser: int) -> str:
    tools = "".join(
        f'<button type="button" data-action="{action}" aria-label="{name}" title="{tip}">'
        f'{_SVG.format(icon)}<span class="tool-name">{name}</span></button>'
        for action, name, icon, tip in TOOLS
    )
    # No ${value} here: the template never changes, so Gradio never re-renders the canvas.
    return (
        f'<div class="pad" role="group" tabindex="0" data-pen="{pen}" data-eraser="{eraser}" '
        f'aria-label="{html.escape(label)}: drawing pad. Ctrl+Z undoes, Ctrl+Shift+Z redoes.">'
        f'<div class="pad-label">{html.escape(label)}</div>'
        f'<canvas width="{size}" height="{size}" aria-label="Drawing area"></canvas>'
        f'<div class="pad-tools" role="toolbar" aria-label="Drawing tools">{tools}</div></div>'
    )


class DrawingPad(gr.HTML):
    """A square canvas with a round brush ready at load, eraser, Undo/Redo and Clear.

    Its value is a PNG data URL of the whole canvas (dark ink on white), or "" when
    nothing is drawn; setting it from the server (an example) puts that picture on the pad.
    An event that reads it gets the decoded image (None when nothing is drawn).
    """

    def __init__(self, label: str, size: int, pen: int, eraser: int, elem_id: str, **kwargs: Any) -> None:
        super().__init__(
            value="",
            html_template=_pad_template(label, size, pen, eraser),
            js_on_load=_static("pad.js"),
            apply_default_css=False,
            elem_id=elem_id,
            **kwargs,
        )

    def preprocess(self, payload: Any) -> np.ndarray | None:
        """The data URL as the uint8 image `preprocess` reads; a clear `gr.Error` if unusable."""
        try:
            return decode_drawing(payload)
        except DrawingPayloadError as err:
            raise refused(f"Cannot read this drawing: {err}") from err

    def api_info(self) -> dict[str, Any]:
        return {
            "type": "string",
            "description": "the drawing as an image data URL (data:image/png;base64,...); '' for an empty pad",
        }

    def example_payload(self) -> Any:
        return ""

    def example_value(self) -> Any:
        return ""


def _answer_template(hint: str) -> str:
    # the rule for "Did you mean a or b?" (mnistsum.teaching), for the page's own answers
    pairs = json.dumps({",".join(map(str, sorted(pair))): share for pair, share in PAIR_SHARES.items()})
    return (
        f'<div class="answer blank" data-hint="{html.escape(hint)}" data-close-share="{CLOSE_SHARE}" '
        f"data-pair-shares='{html.escape(pairs)}'>"
        '<div id="round-offer" aria-live="polite"></div>'  # the first-visit offer (teach_round.js)
        '<div id="headline" data-part="headline" aria-live="polite"></div>'
        '<div id="did-you-mean" data-part="ask"></div>'
        '<div id="digit-probs" data-part="digits"></div>'
        '<div id="agreement" data-part="agreement"></div>'
        '<div class="sum-charts"><div id="learned-sum" data-part="learned"></div>'
        '<div id="analytic-sum" data-part="analytic"></div></div>'
        '<div class="details"><div id="model-input" data-part="picture"></div>'
        '<div class="table-box"><p class="when-drawn"><strong>The sum head for every n:</strong> your drawing '
        "with n = 0…9 (rows; yours is framed), brighter = more likely; "
        '<span class="pointer-words">hover over</span><span class="touch-words">tap</span> a square for its value. '
        "A working "
        'head draws a diagonal band, shifted one column per row.</p><div id="sum-table" data-part="table"></div>'
        "</div></div></div>"
    )


class AnswerView(gr.HTML):
    """One prediction, rendered in the page: headline, top 3 digits, whether the heads agree,
    both sum distributions, the 28x28 input and the sum for every n.

    Its value is a dict: `mnistsum.payload.answer` with the sum table, plus `model_input`
    (a PNG data URL: inline, so no file is shared between responses), `sum_table_html`,
    `model` (where the weights came from) and `view_n` (the n to show, set by the slider)."""

    def __init__(self, hint: str, elem_id: str, **kwargs: Any) -> None:
        super().__init__(
            value=None,
            html_template=_answer_template(hint),
            js_on_load=_static("answer.js"),
            apply_default_css=False,
            elem_id=elem_id,
            **kwargs,
        )

    def postprocess(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value

    def api_info(self) -> dict[str, Any]:
        return {
            "type": "object",
            "description": "the prediction: blank, n, digit, sum, heads_agree, digit_probs (10), sum_probs and "
            "analytic_sum_probs (19 each), sum_table (10x19, the learned sum for every n), model_input "
            "(PNG data URL), sum_table_html, model",
        }

    def example_payload(self) -> Any:
        return None

    def example_value(self) -> Any:
        return None
