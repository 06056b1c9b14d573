"""The Predict tab: draw a digit, pick n, read the digit and digit + n, and see why.

Wiring only: the drawing is unwrapped from the Sketchpad's dict and handed to
`Predictor.predict`; pictures come from `mnistsum.render`. Pad and slider share one
event, so the browser and API callers reach the same named endpoint, `/predict`. The
preprocessing stages are a second endpoint, `/stages`, computed only while their panel
is open: every stroke fires `/predict`, so it carries only what is always on screen.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from mnistsum import render
from mnistsum.render import CANVAS
from mnistsum.config import NUM_DIGITS, NUM_SUMS, default_data_dir
from mnistsum.data import MnistSplit, has_mnist, load_split
from mnistsum.predictor import BlankDrawingError, Prediction, check_n
from mnistsum.preprocess import preprocess

from .make_examples import PEN, example_path
from .state import ModelSlot, VisitorModels

PAD_ID = "drawing"
# Visitors are served in parallel: one prediction is ~10 ms of CPU, so a handful of
# workers keeps every core busy without letting a crowd queue up behind one slot.
PREDICT_CONCURRENCY = 8
TOP_DIGITS = 3
HINT = "### Draw a digit\nUse the brush on the white square; the answer appears each time you lift the pen."
STAGE_CAPTIONS = {
    "raw": "1. your drawing",
    "ink": "2. ink only",
    "crop": "3. cropped",
    "20x20": "4. scaled to 20 px",
    "28x28": "5. centred by mass",
}
# The 28x28 input is sent as it is and enlarged by the browser, square pixels kept; the sum
# table is an HTML heatmap (mnistsum.render.heatmap_html) styled here.
CSS = """
#model-input img { image-rendering: pixelated; width: 280px; height: 280px; object-fit: contain; }
#sum-table .heatmap { border-collapse: collapse; font-size: 0.8rem; margin: 0.4rem 0; }
#sum-table .heatmap td { width: 1.35rem; height: 1.35rem; padding: 0; border: 1px solid transparent; }
#sum-table .heatmap th { padding: 0 0.35rem; font-weight: normal; text-align: center; }
#sum-table .heatmap tbody th { text-align: right; }
#sum-table .heatmap tr.highlight td { border-top: 2px solid #ff4040; border-bottom: 2px solid #ff4040; }
#sum-table .heatmap tr.highlight th { font-weight: bold; color: #ff4040; }
"""
SUM_ROWS = [f"n={n}" for n in range(NUM_DIGITS)]
SUM_COLS = [str(s) for s in range(NUM_SUMS)]
# At page load and after "Clear canvas" the editor has no tool selected; click its
# Brush button (once it exists) so a visitor can draw straight away.
SELECT_BRUSH_JS = f"""() => {{
  const select = (triesLeft) => {{
    const brush = document.querySelector('#{PAD_ID} button[aria-label="Brush"]');
    if (brush) brush.click();
    else if (triesLeft > 0) setTimeout(() => select(triesLeft - 1), 100);
  }};
  select(100);
}}"""


class PredictOutputs(NamedTuple):
    """What one prediction shows, in the order of the event's output components."""

    headline: str
    digits: dict[str, float]
    agreement: str
    learned_sum: pd.DataFrame | None
    analytic_sum: pd.DataFrame | None
    model_input: np.ndarray | None  # (28, 28) uint8, white ink on black; the page shows it pixelated
    sum_table: str  # HTML heatmap


BLANK = PredictOutputs(HINT, {}, "", None, None, None, "")


def predict(slot: ModelSlot, drawing: dict[str, Any] | None, n: Any) -> PredictOutputs:
    """The `/predict` endpoint. An empty canvas is not an error: it blanks the outputs and
    shows a hint. Bad n, an unreadable image or a missing model raise `gr.Error`."""
    return predict_image(slot, composite(drawing), n)


def predict_image(slot: ModelSlot, image: np.ndarray | None, n: Any) -> PredictOutputs:
    """What `predict` shows for an image already unwrapped (None: nothing drawn)."""
    try:
        n = check_n(n)
    except ValueError as err:
        raise gr.Error(str(err)) from err
    if image is None:
        return BLANK
    predictor = slot.predictor
    if predictor is None:
        raise gr.Error(f"No model is loaded. {slot.error}")
    try:
        prediction = predictor.predict(image, n)
    except BlankDrawingError:
        return BLANK
    except ValueError as err:
        raise gr.Error(f"Cannot read this drawing: {err}") from err
    table = predictor.sum_table(prediction)
    return PredictOutputs(
        headline=_headline(prediction, slot.source),
        digits={str(d): float(p) for d, p in enumerate(prediction.digit_probs)},
        agreement=_agreement(prediction),
        learned_sum=_sum_frame(prediction.sum_probs),
        analytic_sum=_sum_frame(prediction.analytic_sum_probs),
        model_input=render.to_uint8(prediction.model_input),
        sum_table=render.heatmap_html(table, SUM_ROWS, SUM_COLS, highlight_row=n, corner="sum"),
    )


def stages(drawing: dict[str, Any] | None) -> np.ndarray | None:
    """The `/stages` endpoint: the preprocessing stages of a Sketchpad value as one picture
    (None when nothing is drawn). It needs no model: this is what happens before the network."""
    return stages_image(composite(drawing))


def stages_image(image: np.ndarray | None) -> np.ndarray | None:
    """The stages picture for an image already unwrapped (None: nothing drawn)."""
    if image is None:
        return None
    try:
        prepared = preprocess(image)
    except ValueError as err:
        raise gr.Error(f"Cannot read this drawing: {err}") from err
    if prepared.blank:
        return None
    return render.strip([prepared.stages[name] for name in STAGE_CAPTIONS], list(STAGE_CAPTIONS.values()))


def stages_if_open(drawing: dict[str, Any] | None, panel_open: bool) -> Any:
    """Follow the pad with the stages only while their panel is open; otherwise change nothing."""
    return stages(drawing) if panel_open else gr.skip()


def composite(drawing: Any) -> np.ndarray | None:
    """The flattened image of a Sketchpad value; None when nothing is drawn.

    An empty or cleared pad sends `composite=None`, and a slider moved right after a
    stroke can send `None` for the whole pad before the real value arrives.
    """
    if drawing is None:
        return None
    if not isinstance(drawing, dict):
        kind = type(drawing).__name__
        raise gr.Error(f"Send the drawing as a Sketchpad value (a dict with 'composite'), not a {kind}.")
    return drawing.get("composite")


def _headline(prediction: Prediction, source: str) -> str:
    digit, n, total = prediction.digit, prediction.n, prediction.sum
    p_digit, p_sum = prediction.digit_probs[digit], prediction.sum_probs[total]
    if prediction.consistent:
        answer = f"## {digit} + {n} = {total}"
    else:
        answer = f"## {digit} + {n} → {total} ⚠"
    return f"{answer}\ndigit **{digit}** at {p_digit:.1%} · sum **{total}** at {p_sum:.1%}  \n*Model: {source}*"


def _agreement(prediction: Prediction) -> str:
    """The flag next to the two sum distributions."""
    implied = prediction.digit + prediction.n
    if prediction.consistent:
        return f"✓ **The heads agree:** the learned sum head and the digit head shifted by n both say {implied}."
    p_learned = prediction.sum_probs[prediction.sum]
    return (
        f"⚠ **The heads disagree:** the learned sum head says {prediction.sum} ({p_learned:.1%}), "
        f"but the digit head shifted by n says {prediction.digit} + {prediction.n} = {implied}."
    )


def _sum_frame(probs: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"sum": SUM_COLS, "probability": probs.astype(float)})


@functools.lru_cache(maxsize=1)
def _test_split(data_dir: str) -> MnistSplit:
    """Loaded once, on the first click: 8 MB that most visitors never need."""
    return load_split(data_dir, train=False)


def random_mnist_digit(slot: ModelSlot, data_dir: str | Path, n: Any, panel_open: bool = False) -> tuple[Any, ...]:
    """A random MNIST test digit put on the pad, a line saying which one, its prediction and
    (while their panel is open) its preprocessing stages."""
    split = _test_split(str(data_dir))
    index = random.randrange(len(split))
    drawing = render.as_drawing(split.images[index].numpy(), size=CANVAS)
    caption = f"MNIST test image #{index}: labelled **{int(split.labels[index])}**."
    return (drawing, caption, *_shown(slot, drawing, n, panel_open))


def load_example(slot: ModelSlot, index: int, n: Any, panel_open: bool = False) -> tuple[Any, ...]:
    """Example `index` put on the pad, its prediction and (while their panel is open) its stages.

    Predicted here from the file, not from the pad: a value set from the server reaches the
    pad's canvas asynchronously, so reading the pad back right away can find it still empty.
    """
    drawing = np.asarray(Image.open(example_path(index)).convert("L"))
    return (drawing, "", *_shown(slot, drawing, n, panel_open))


def _shown(slot: ModelSlot, drawing: np.ndarray, n: Any, panel_open: bool) -> tuple[Any, ...]:
    return (*predict_image(slot, drawing, n), stages_image(drawing) if panel_open else gr.skip())


def build_predict_tab(
    models: VisitorModels, visitor: gr.State, data_dir: str | Path | None = None
) -> tuple[gr.ImageEditor, gr.Slider]:
    """Lay out the tab and wire it; returns the pad and the n slider for other tabs to follow.
    Every prediction uses the model of the visitor whose token `visitor` holds (a `gr.State`,
    so it is not part of `/predict`'s API: callers send the drawing and n, and get the default model)."""
    data_dir = Path(data_dir or default_data_dir())
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            pad = gr.Sketchpad(
                label="Draw a digit 0–9",
                elem_id=PAD_ID,
                canvas_size=(CANVAS, CANVAS),
                fixed_canvas=True,
                image_mode="L",
                type="numpy",
                # Gradio's brush size is a radius (size 11 draws 22 px wide): strokes as wide as the examples'.
                brush=gr.Brush(colors=["#000000"], default_size=PEN // 2, color_mode="fixed"),
                eraser=gr.Eraser(default_size=PEN // 2 + 4),
                layers=False,
                transforms=(),
                format="png",  # lossless: a drawing is a few KB either way
            )
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
                    f"*The button needs the MNIST test set, which is not in `{data_dir.resolve()}`: "
                    "set `MNISTSUM_DATA` to a folder holding `MNIST/raw/`.*"
                )
        with gr.Column(scale=6, min_width=300):
            headline = gr.Markdown(HINT, label="headline", elem_id="headline")
            digits = gr.Label(num_top_classes=TOP_DIGITS, label="Digit head: top 3", elem_id="digit-probs")
            agreement = gr.Markdown(label="agreement", elem_id="agreement")
            with gr.Row():
                learned_sum = _sum_plot("Learned sum head: p(sum)")
                analytic_sum = _sum_plot("Digit head shifted by n: p_digit(sum − n)")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=240):
            gr.Markdown("**What the network saw:** 28x28, one square per pixel.")
            model_input = _picture("What the network saw (28x28)", "model-input", height=300)
        with gr.Column(scale=3, min_width=300):
            gr.Markdown(
                "**The sum head for every n:** your drawing with n = 0…9 (rows; yours is framed), brighter = more "
                "likely; hover a square for its value. A working head draws a diagonal band, shifted one column per row."
            )
            sum_table = gr.HTML(label="Learned sum for every n", elem_id="sum-table")
    with gr.Accordion("How your drawing became 28x28 (preprocessing stages)", open=False) as stages_panel:
        gr.Markdown(
            "The steps MNIST itself used: keep the ink, crop to it, scale the longer side to 20 px, "
            "then place it in 28x28 with its centre of mass in the middle."
        )
        stages_picture = _picture("Preprocessing stages", "stages", height=200)
    panel_open = gr.State(False)

    outputs = [headline, digits, agreement, learned_sum, analytic_sum, model_input, sum_table]
    shared = {"concurrency_limit": PREDICT_CONCURRENCY, "concurrency_id": "predict", "show_progress": "hidden"}
    gr.on(
        triggers=[pad.change, n.change],
        fn=lambda drawing, n, token: predict(models.for_visitor(token), drawing, n),
        inputs=[pad, n, visitor],
        outputs=outputs,
        trigger_mode="always_last",
        api_name="predict",
        api_description="Drawing (Sketchpad value; an empty canvas gives empty outputs) and n (0-9) -> headline, "
        "digit probabilities, whether the heads agree, both sum distributions, the 28x28 model input (PNG) and "
        "the sum for every n (an HTML heatmap). The preprocessing stages are /stages.",
        **shared,
    )
    stages_panel.expand(lambda: True, None, panel_open, api_visibility="private").then(
        stages, pad, stages_picture, api_name="stages",
        api_description="Drawing (Sketchpad value) -> one picture of the preprocessing stages, raw to 28x28 "
        "(None when nothing is drawn).", **shared,
    )
    stages_panel.collapse(lambda: False, None, panel_open, api_visibility="private")
    pad.change(stages_if_open, [pad, panel_open], stages_picture, api_visibility="private", **shared)
    # A value set from the server fires no `change` on the pad, so these events predict themselves.
    examples.click(
        lambda index, n_value, panel, token: load_example(models.for_visitor(token), index, n_value, panel),
        [examples, n, panel_open, visitor], [pad, mnist_caption, *outputs, stages_picture],
        api_visibility="private", **shared,
    )
    random_button.click(
        lambda n_value, panel, token: random_mnist_digit(models.for_visitor(token), data_dir, n_value, panel),
        [n, panel_open, visitor],
        [pad, mnist_caption, *outputs, stages_picture], api_visibility="private", **shared,
    )
    gr.on(triggers=None, fn=None, js=SELECT_BRUSH_JS)  # no triggers: at page load
    pad.clear(fn=lambda: "", outputs=mnist_caption, js=SELECT_BRUSH_JS, api_visibility="private")
    return pad, n


def _picture(label: str, elem_id: str, height: int) -> gr.Image:
    """An output image shown at its own size (`height` leaves room for it), without the label
    badge, which would cover the picture's own labels; the label still names the API output."""
    return gr.Image(
        label=label,
        show_label=False,
        format="png",
        interactive=False,
        buttons=["fullscreen"],
        elem_id=elem_id,
        height=height,
    )


def _sum_plot(label: str) -> gr.BarPlot:
    return gr.BarPlot(
        x="sum",
        y="probability",
        sort=SUM_COLS,
        y_lim=[0, 1],
        label=label,
        height=220,
        min_width=240,
    )
