"""The Predict tab: draw a digit, pick n, read the digit and digit + n, and see why.

Wiring only. The page reads each drawing itself (`demo.page_reader`: the port of
`mnistsum.preprocess` and the exported network), so a stroke, Undo, Redo, Clear or slider step
sends nothing; the answer view renders what it computed. Where the page cannot run the model
the pad fires `submit`, the `/predict` endpoint: it decodes the pad's PNG data URL
(`mnistsum.payload`), runs `Predictor.predict` and answers with one JSON object holding the sum
head for every n, which programs can call too. What needs the drawing on the server (teaching,
the stages panel, Learn) reads the pad's value when it runs; nothing is kept per session.
The visitor's handwriting (`demo.handwriting`) lives in their browser and comes with each
request that needs it. Programs send a plain image to `/predict_json` and get plain JSON back.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np

from mnistsum import render
from mnistsum.config import default_data_dir
from mnistsum.data import has_mnist
from mnistsum.model import NUM_DIGITS, NUM_SUMS
from mnistsum.payload import DrawingPayloadError, answer, blank_answer, decode_drawing, png_data_url
from mnistsum.predictor import BlankDrawingError, Predictor, check_n
from mnistsum.preprocess import preprocess
from mnistsum.render import CANVAS
from mnistsum.teaching import close_pair

from .api_image import CheckedImage
from .handwriting import HandwritingStore, VisitorHandwriting
from .make_examples import PEN, example_path
from .models import ModelSlot, VisitorModels
from .pad import AnswerView, DrawingPad
from .pad_sources import load_example, random_mnist_digit
from .page_reader import PageReader, reader_value
from .refusals import refused
from .teach_panel import build_teach_panel
from .teach_round import TeachRound

PAD_ID = "drawing"
# Visitors are served in parallel: one prediction is ~10 ms of CPU, so a handful of
# workers keeps every core busy without letting a crowd queue up behind one slot.
PREDICT_CONCURRENCY = 8
# /predict_json takes photos and big files: its own slots, so image work never holds a stroke's.
IMAGE_CONCURRENCY = 2
HINT = "Draw a digit\nUse the brush on the white square; the answer appears each time you lift the pen."
STAGE_CAPTIONS = {
    "raw": "1. your drawing",
    "ink": "2. ink only",
    "crop": "3. cropped",
    "20x20": "4. scaled to 20 px",
    "28x28": "5. centred by mass",
}
SUM_ROWS = [f"n={n}" for n in range(NUM_DIGITS)]
SUM_COLS = [str(s) for s in range(NUM_SUMS)]
# The answer view shows value.view_n when set: the slider sets it in the page, and the same
# step runs after every /predict, so an answer that left while n moved lands on the current n.
VIEW_N_JS = "(n, shown) => (shown ? {...shown, view_n: n} : shown)"
CLEAR_CAPTION_JS = "() => ''"


class Shown(NamedTuple):
    """What `/predict` returns, in the order of the event's outputs."""

    answer: dict[str, Any]  # the answer view's value (see `page_answer`)
    stages: str | None  # the stages picture as inline HTML, only while its panel is open


def current_predictor(slot: ModelSlot) -> Predictor:
    """The model that answers this request: the one place a handler gets it."""
    predictor = slot.predictor
    if predictor is None:
        raise refused(f"No model is loaded. {slot.error}")
    return predictor


def read_drawing(drawing: Any) -> np.ndarray | None:
    """The pad's value as an image (None: nothing drawn); a clear `gr.Error` if unusable.
    The pad's own preprocessing has already decoded what the page sends."""
    if isinstance(drawing, np.ndarray):
        return drawing
    try:
        return decode_drawing(drawing)
    except DrawingPayloadError as err:
        raise refused(f"Cannot read this drawing: {err}") from err


def _n(n: Any) -> int:
    try:
        return check_n(n)
    except ValueError as err:
        raise refused(str(err)) from err


def page_answer(slot: ModelSlot, image: np.ndarray | None, n: int) -> dict[str, Any]:
    """What the answer view shows: `mnistsum.payload.answer` with the sum for every n, plus
    the 28x28 input inline, the sum-table heatmap and where the model came from."""
    if image is None:
        return blank_answer(n)
    predictor = current_predictor(slot)
    try:
        prediction = predictor.predict(image, n)
    except BlankDrawingError:
        return blank_answer(n)
    except ValueError as err:
        raise refused(f"Cannot read this drawing: {err}") from err
    table = predictor.sum_table(prediction)
    return {
        **answer(prediction, table),
        "model": slot.source,
        "adapted": predictor.meta.get("adapted", {}).get("drawings", 0),  # drawings taught, for the headline
        "model_numbers": slot.numbers,
        "did_you_mean": close_pair(prediction.digit_probs),  # the page reader asks the same (answer.js)
        "model_input": png_data_url(render.to_uint8(prediction.model_input)),
        "sum_table_html": render.heatmap_html(table, SUM_ROWS, SUM_COLS, highlight_row=n, corner="sum"),
    }


def predict(slot: ModelSlot, drawing: Any, n: Any, panel_open: bool = False) -> Shown:
    """The `/predict` endpoint: the pad's data URL and n -> the answer (and, while the page's
    panel is open, the stages). An empty pad is not an error: the answer says so."""
    n = _n(n)
    image = read_drawing(drawing)
    return Shown(page_answer(slot, image, n), stages_html(image) if panel_open else None)


def predict_for_visitor(
    models: VisitorModels | VisitorHandwriting,
    drawing: Any,
    n: Any,
    panel_open: bool = False,
    token: str | None = None,
    stored: str | None = None,
) -> Shown:
    """`predict` with this visitor's model (token: a hidden `gr.State`) and their stored handwriting."""
    served = models.for_visitor(token, stored) if isinstance(models, VisitorHandwriting) else models.for_visitor(token)
    return predict(served, drawing, n, panel_open)


def predict_json(slot: ModelSlot, image: np.ndarray | None, n: Any) -> dict[str, Any]:
    """The `/predict_json` endpoint for programs: an image and n -> one JSON object."""
    n = _n(n)
    if image is None:
        return blank_answer(n)
    try:
        prediction = current_predictor(slot).predict(image, n)
    except BlankDrawingError:
        return blank_answer(n)
    except ValueError as err:
        raise refused(f"Cannot read this image: {err}") from err
    return {**answer(prediction), "model": slot.source}


def stages_html(image: np.ndarray | None) -> str | None:
    """The preprocessing stages of a drawing as one inline picture (None when nothing is drawn)."""
    if image is None:
        return None
    try:
        prepared = preprocess(image)
    except ValueError as err:
        raise refused(f"Cannot read this drawing: {err}") from err
    if prepared.blank:
        return None
    picture = render.strip([prepared.stages[name] for name in STAGE_CAPTIONS], list(STAGE_CAPTIONS.values()))
    return f'<img alt="the preprocessing stages, raw to 28x28" src="{png_data_url(picture)}">'


def _inputs(data_dir: Path) -> tuple[DrawingPad, TeachRound, gr.Slider, gr.Dataset, gr.Button, gr.Markdown]:
    """The left column: the pad, the guided round under it, n, the examples and the random MNIST digit."""
    # Round pen strokes as wide as the examples'; the eraser a little wider.
    pad = DrawingPad("Draw a digit 0–9", size=CANVAS, pen=PEN, eraser=PEN + 8, elem_id=PAD_ID)
    round_view = TeachRound()
    n = gr.Slider(0, 9, value=3, step=1, label="n (added to the digit)", elem_id="n-slider")
    examples = gr.Dataset(
        components=[gr.Image(visible=False)],
        samples=[[str(example_path(d))] for d in range(NUM_DIGITS)],
        type="index",
        label="Examples: click one, then move n",
        samples_per_page=NUM_DIGITS,
    )
    has_data = has_mnist(data_dir)
    random_button = gr.Button("Random MNIST test digit", interactive=has_data, size="sm")
    mnist_caption = gr.Markdown(elem_id="mnist-caption")
    if not has_data:
        gr.Markdown(
            "*The button needs the MNIST test set, which this server does not have "
            "(its operator sets `MNISTSUM_DATA` to a folder holding `MNIST/raw/`).*"
        )
    return pad, round_view, n, examples, random_button, mnist_caption


def _stages_panel(received: DrawingPad, shared: dict[str, Any]) -> tuple[gr.HTML, gr.State]:
    """The preprocessing stages, drawn only while the panel is open."""
    with gr.Accordion("How your drawing became 28x28 (preprocessing stages)", open=False) as stages_panel:
        gr.Markdown(
            "The steps MNIST itself used: keep the ink, crop to it, scale the longer side to 20 px, "
            "then place it in 28x28 with its centre of mass in the middle."
        )
        stages_view = gr.HTML(elem_id="stages")
    panel_open = gr.State(False)
    stages_panel.expand(lambda: True, None, panel_open, api_visibility="private").then(
        stages_html, received, stages_view, api_visibility="private", **shared
    )
    stages_panel.collapse(lambda: False, None, panel_open, api_visibility="private")
    return stages_view, panel_open


def _programs_api(
    models: VisitorModels | VisitorHandwriting,
    pad: DrawingPad,
    n: gr.Slider,
    outputs: list[Any],
    shared: dict[str, Any],
) -> None:
    """For programs: `/predict` (the pad's data URL and n, as the page sends them) and
    `/predict_json` (a plain image, file or URL, and n, one JSON object out); not shown on the page."""
    gr.Button(visible=False).click(
        lambda drawing, n: predict(models.default.served(), drawing, n)[:2],  # the default model: (answer, None)
        inputs=[pad, n],
        outputs=outputs,
        api_name="predict",
        api_description="Drawing (an image data URL: data:image/png;base64,...; '' for an empty pad) and n (0-9) "
        "-> the answer as one JSON object (digit, sum, heads_agree, digit_probs, sum_probs, analytic_sum_probs, "
        "sum_table for every n, the 28x28 model input as a PNG data URL) and the stages picture (None). "
        "Programs with an image file or URL: /predict_json.",
        **shared,
    )
    api_image = CheckedImage(type="numpy", image_mode=None, visible=False, label="image")
    api_answer = gr.JSON(visible=False, label="answer")
    gr.Button(visible=False).click(
        functools.partial(predict_json, models.default),
        inputs=[api_image, n],
        outputs=api_answer,
        api_name="predict_json",
        api_description="An image (file or URL; either polarity, any size) and n (0-9) -> one JSON object: "
        "digit, sum, heads_agree, digit_probs (10), sum_probs and analytic_sum_probs (19 each), model; "
        "blank=true and nulls when the image has no ink.",
        **{**shared, "concurrency_limit": IMAGE_CONCURRENCY, "concurrency_id": "predict_json"},
    )


def build_predict_tab(
    models: VisitorModels | VisitorHandwriting, visitor: gr.State, data_dir: str | Path | None = None
) -> tuple[DrawingPad, gr.Slider, PageReader, HandwritingStore]:
    """Lay out the tab and wire it; returns the pad (its value is the drawing, decoded on the
    server only when an event reads it) and the n slider, for the Learn tab to follow, and the
    page's reader, for the app to refresh when the visitor's model changes. Predictions use the
    model of the visitor whose token `visitor` holds, adapted to the handwriting they taught
    it; /predict_json, which has no visitor, the default one."""
    data_dir = Path(data_dir or default_data_dir())
    handwriting = (
        models if isinstance(models, VisitorHandwriting) else VisitorHandwriting(models, data_dir=str(data_dir))
    )
    shared = {"concurrency_limit": PREDICT_CONCURRENCY, "concurrency_id": "predict", "show_progress": "hidden"}
    with gr.Row(equal_height=False, elem_id="predict-row"):
        with gr.Column(scale=4, min_width=300):
            pad, round_view, n, examples, random_button, mnist_caption = _inputs(data_dir)
        with gr.Column(scale=6, min_width=300):
            reader = PageReader(reader_value(handwriting, None))
            shown = AnswerView(HINT, elem_id="answer", render=False)  # rendered under its correction panel
            teach_events, store = build_teach_panel(handwriting, page_answer, visitor, pad, n, shown, round_view)
    stages_view, panel_open = _stages_panel(pad, shared)
    # The fallback: the page fires the pad's `submit` only when it cannot read the drawing itself.
    # Queued: without the queue, Gradio 6.31 shows the visitor no error message. Private: it
    # reads the visitor's states and stored handwriting; programs call /predict.
    predicted = pad.submit(
        functools.partial(predict_for_visitor, handwriting),
        inputs=[pad, n, panel_open, visitor, store],
        outputs=[shown, stages_view],
        trigger_mode="always_last",
        queue=True,
        api_visibility="private",
        **shared,
    )
    for event in [predicted, *teach_events]:  # an answer that left while n moved lands on the current n
        event.then(fn=None, js=VIEW_N_JS, inputs=[n, shown], outputs=shown, show_progress="hidden")
    private = {"api_visibility": "private", "show_progress": "hidden"}
    for event in teach_events:  # the page's reader takes the visitor's adapted layer (or drops it)
        event.then(functools.partial(reader_value, handwriting), visitor, reader, **private)
    n.change(fn=None, js=VIEW_N_JS, inputs=[n, shown], outputs=shown, show_progress="hidden")
    # A picture set from the server is read like a stroke: in the page, or by `submit`.
    examples.click(load_example, examples, [pad, mnist_caption], **private)
    random_button.click(functools.partial(random_mnist_digit, data_dir), None, [pad, mnist_caption], **private)
    pad.input(fn=None, js=CLEAR_CAPTION_JS, outputs=mnist_caption)
    _programs_api(handwriting, pad, n, [shown, stages_view], shared)
    return pad, n, reader, store
