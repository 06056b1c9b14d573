"""The Learn tab: why the exercise's add-fusion fails, and what the network computes.

Wiring only: the fusion race is a job in the class's queue, owned by the visitor who started
it, shown through the same `JobPanel` as a training run; the model explorer and the views of
the current drawing come from `mnistsum.explain`, on the visitor's own model. The tab follows
the Predict tab's received drawing and n slider, so it always explains the drawing on screen.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
import pandas as pd

from mnistsum import render
from mnistsum.config import default_data_dir
from mnistsum.data import data_status
from mnistsum.explain import (
    EXERCISE_RF_SOURCE,
    SMOOTHGRAD_SAMPLES,
    TABLE_COLUMNS,
    FusionView,
    display_rows,
    exercise_receptive_fields,
    feature_maps,
    fusion_view,
    layer_table,
    saliency,
)
from mnistsum.jobs import JobStatus
from mnistsum.model import NETWORKS, DualHeadNet
from mnistsum.predictor import Predictor, check_n
from mnistsum.race import RACE_JOB, RaceUpdate, race_configs, start_race

from .job_panel import JobPanel, not_started_headline
from .state import REFUSALS, AppState, VisitorModels, refusal, request_address

INSPECT_CONCURRENCY = 4
CELL = 10  # screen pixels per input pixel in the saliency picture
MAP_TILE = 84
RACE_CHOICES = {
    "Only the fusion differs (both on our backbone and recipe)": True,
    "The exercise's whole network (its backbone + add) vs ours": False,
}
CURVE_COLUMNS = ["lane", "epoch", "accuracy"]
WHY_ADD_FAILS = """**Why adding loses information.** The exercise hands its sum head `logits + one_hot(n)`:
ten numbers, each a digit score with n's 0/1 flag added on top. Take two drawings of a 7 whose scores differ in
two slots only: the first scores digit 2 at 0.5 and digit 4 at 0.0, the second scores them 1.5 and −1.0. With
n = 2 for the first and n = 4 for the second, both hand the sum head the very same ten numbers (slot 2 reads 1.5,
slot 4 reads 0.0), yet the answers are 9 and 11: no head can get both right. And since scores swing by several
units from one drawing to the next, the +1 that marks n is buried almost everywhere. Concatenation hands over
twenty numbers, ten digit probabilities next to ten n flags, so nothing collides and the head only has to learn
p(sum = s) = p(digit = s − n). Both lanes below see the same images in the same order with the same n: when they
read the digit equally well, the gap in the sum is the fusion alone."""
INSPECT_HINT = "*Draw a digit in the Predict tab, then come back: its feature maps, saliency and the sum head's input appear here.*"


class InspectOutputs(NamedTuple):
    """What the explorer shows for one drawing, in the order of the event's outputs."""

    caption: str
    model_input: np.ndarray | None
    saliency: np.ndarray | None
    conv1: list[tuple[np.ndarray, str]] | None
    conv2: list[tuple[np.ndarray, str]] | None
    digit_probs: pd.DataFrame | None
    one_hot_n: pd.DataFrame | None
    own_input: Any
    other_input: Any


BLANK = InspectOutputs(INSPECT_HINT, None, None, None, None, None, None, None, None)


def inspect(
    get_predictor: Callable[[str | None], Predictor | None],
    image: np.ndarray | None,
    n: int,
    token: str | None = None,
) -> InspectOutputs:
    """Feature maps, saliency and the sum head's input for the drawing the Predict tab last sent
    (the image the server received; None when nothing is drawn), through the visitor's model
    (`get_predictor(token)`)."""
    try:
        n = check_n(n)
    except REFUSALS as err:
        return BLANK._replace(caption=refusal(err))
    predictor = get_predictor(token)
    if image is None or predictor is None:
        return BLANK
    try:
        model_input, _ = predictor.prepare(image)
    except ValueError:  # blank or unreadable: the Predict tab already tells the visitor which
        return BLANK
    model = predictor.model
    own = fusion_view(model, model_input, n)
    other = fusion_view(model, model_input, n, fusion="add" if own.fusion == "concat" else "concat")
    digit = int(own.digit_probs.argmax())
    maps = feature_maps(model, model_input, layers=2)
    return InspectOutputs(
        caption=f"The network reads **{digit}**. Saliency: which pixels move the score of {digit} most "
        f"(SmoothGrad: the input gradient averaged over {SMOOTHGRAD_SAMPLES} noisy copies of the drawing).",
        model_input=render.pixel_grid(model_input),
        saliency=np.repeat(np.repeat(render.colormap(saliency(model, model_input)), CELL, 0), CELL, 1),
        conv1=_channel_tiles(maps[0], "conv1"),
        conv2=_channel_tiles(maps[1], "conv2"),
        digit_probs=_bars([str(d) for d in range(10)], own.digit_probs, "p(digit)"),
        one_hot_n=_bars([str(k) for k in range(10)], own.one_hot_n, "n"),
        own_input=_fusion_plot(own, f"What this model's sum head received ({own.fusion})"),
        other_input=_fusion_plot(other, f"What {other.fusion} would hand over from the same logits"),
    )


def inspect_for_visitor(models: VisitorModels, image: np.ndarray | None, n: int, token: str | None) -> InspectOutputs:
    """`inspect` through this visitor's model; if theirs was dropped from memory, the caption says
    so, as the Predict tab does, instead of silently explaining the default model."""
    served = models.for_visitor(token)
    out = inspect(lambda _token: served.predictor, image, n, token)
    return out._replace(caption=f"⚠️ {served.notice}.\n\n{out.caption}") if served.notice else out


def _channel_tiles(maps: np.ndarray, layer: str) -> list[tuple[np.ndarray, str]]:
    """One picture per channel, all on the layer's scale so weak channels look weak."""
    peak = maps.max() or 1.0
    return [(render.fit(channel / peak, size=MAP_TILE), f"{layer} #{i}") for i, channel in enumerate(maps)]


def _bars(labels: list[str], values: np.ndarray, group: str) -> pd.DataFrame:
    return pd.DataFrame({"slot": labels, "value": values.astype(float), "carries": group})


def _fusion_plot(view: FusionView, label: str) -> gr.BarPlot:
    frame = pd.DataFrame({"slot": view.labels, "value": view.sum_head_input.astype(float), "carries": view.groups})
    return gr.BarPlot(frame, sort=view.labels, label=label)


def _layer_frame(arch: str) -> pd.DataFrame:
    return pd.DataFrame(display_rows(layer_table(DualHeadNet(arch=arch))), columns=list(TABLE_COLUMNS))


def _exercise_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "layer": r.layer,
                "claimed": r.claimed,
                "computed": r.computed,
                "verdict": "❌ wrong" if r.wrong else "✓",
                "working": r.note,
            }
            for r in exercise_receptive_fields()
        ]
    )


def _race(status: JobStatus | None) -> RaceUpdate | None:
    """The race behind `status`, or None before the visitor's first race has produced anything."""
    return status.latest if status is not None and isinstance(status.latest, RaceUpdate) else None


def _epochs_done(status: JobStatus | None) -> tuple[int, ...]:
    race = _race(status)
    return tuple(len(lane.sum_accuracy) for lane in race.lanes) if race else ()


def _race_headline(status: JobStatus | None) -> str:
    if status is None:
        return "No race yet: pick the lanes and press **Start the race**."
    waiting = not_started_headline(status, "Race")
    if waiting is not None:
        return waiting
    if status.state == "failed":
        return f"### ❌ The race failed\n```\n{status.error}\n```"
    race = _race(status)
    if race is None:
        return f"**Race #{status.job_id}** · loading MNIST…"
    lines = [
        f"- **{lane.label}**: {lane.progress:.0%} trained · test sum accuracy "
        + (f"**{lane.sum_accuracy[-1]:.1%}**, digit {lane.digit_accuracy[-1]:.1%}" if lane.sum_accuracy else "…")
        for lane in race.lanes
    ]
    state = "stopping…" if status.state == "stopping" else status.state
    return f"**Race #{status.job_id}** · {state} · {status.elapsed:.0f}s\n" + "\n".join(lines)


def _race_curves(status: JobStatus | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(sum, digit) curves; None, not an empty frame, before the first epoch (see `_curve_plot`)."""
    race = _race(status)
    if race is None or not race.curve_rows():
        return None, None
    rows = pd.DataFrame(race.curve_rows())
    return tuple(rows[rows["metric"] == m][CURVE_COLUMNS].reset_index(drop=True) for m in ("sum", "digit"))


def build_learn_tab(
    tab: gr.Tab,
    drawing: gr.State,
    n_slider: gr.Slider,
    app: AppState,
    visitor: gr.State,
    data_dir: str | Path | None = None,
) -> None:
    """Lay out the tab inside the caller's `tab` and wire it to the Predict tab's received
    `drawing` (a per-session state) and `n_slider`, the visitor's model and the class's job queue.

    The inspector (feature maps, SmoothGrad, ...) runs when the tab is opened, on the drawing the
    server last received from the Predict tab: the pad and slider live there, so they cannot
    change while this tab is on screen, and strokes drawn elsewhere cost nothing here."""
    policy = app.policy
    data_dir = str(data_dir or default_data_dir())
    add_cfg, _ = race_configs()

    gr.Markdown("## 1. The fusion race: add vs concatenate")
    gr.Markdown(WHY_ADD_FAILS)
    if policy.enabled:
        choice = gr.Radio(list(RACE_CHOICES), value=next(iter(RACE_CHOICES)), label="Lanes")
        class_code = gr.Textbox(
            label="Class code (from your teacher: training here is for the class)",
            visible=policy.needs_class_code,
            max_length=128,
            elem_id="race-class-code",
        )
        gr.Markdown(
            f"*{add_cfg.epochs} epochs on {add_cfg.limit:,} training images, seed {add_cfg.seed}; accuracy on all "
            f"100,000 (test image, n) pairs after each epoch; a couple of minutes on a laptop CPU, and it waits "
            f"its turn in the class's queue like a training run. Data: {data_status(data_dir)}*"
        )
        panel = JobPanel(app.queue, visitor, RACE_JOB, "▶ Start the race", "race")
        headline = gr.Markdown(elem_id="race-headline")
        with gr.Row():
            sum_plot = _curve_plot("Sum accuracy (test)", "race-sum")
            digit_plot = _curve_plot("Digit accuracy (test)", "race-digit")

        def render_race(status: JobStatus | None, last_seen: tuple | None) -> dict:
            out: dict = {headline: _race_headline(status)}
            key = (status.job_id if status else None, _epochs_done(status))
            if key != last_seen:  # redraw the curves only when an epoch has ended
                out[sum_plot], out[digit_plot] = _race_curves(status)
                out[panel.seen] = key
            return out

        def submit(request: gr.Request, token: str, lanes: str, code: str) -> JobStatus:
            address = request_address(request, policy)
            return start_race(
                app.queue, token, RACE_CHOICES[lanes], policy, data_dir=data_dir, class_code=code, address=address
            )

        panel.wire(submit, [choice, class_code], render_race, [headline, sum_plot, digit_plot])
    else:
        gr.Markdown(f"*The race trains two networks, and training is switched off here. {policy.describe()}*")

    gr.Markdown("## 2. Inside the network")
    for arch, network in NETWORKS.items():
        with gr.Accordion(f"Layer by layer: {network.title} ({arch})", open=arch == "default"):
            gr.Dataframe(_layer_frame(arch), interactive=False, wrap=True, max_height=900)
    gr.Markdown(
        "*RF: receptive field, the side of the input square one value can see "
        "(r_out = r_in + (k−1)·j_in, j_out = j_in·s); "
        "**(all)** once it covers the whole 28×28 image. MACs: multiply-accumulates for one image.*"
    )
    with gr.Accordion("The exercise's receptive fields, checked", open=True):
        gr.Markdown(f"*{EXERCISE_RF_SOURCE}*")
        gr.Dataframe(_exercise_frame(), interactive=False, wrap=True, elem_id="exercise-rf")

    caption = gr.Markdown(INSPECT_HINT, elem_id="learn-caption")
    with gr.Row(equal_height=False):
        model_input = gr.Image(label="What the network saw (28x28)", format="png", interactive=False)
        heat = gr.Image(label="Saliency (brighter = matters more)", format="png", interactive=False)
    conv1 = _tile_gallery("conv1 feature maps, after ReLU")
    conv2 = _tile_gallery("conv2 feature maps, after ReLU")

    gr.Markdown("## 3. What the network was given")
    with gr.Row():
        digit_probs = _bar_plot("Digit head: p(digit)")
        one_hot_n = _bar_plot("n, one-hot")
    with gr.Row():
        own_input = _bar_plot("What this model's sum head received")
        other_input = _bar_plot("What the other fusion would hand over from the same logits")

    tab.select(
        fn=functools.partial(inspect_for_visitor, app.models),
        inputs=[drawing, n_slider, visitor],
        outputs=[caption, model_input, heat, conv1, conv2, digit_probs, one_hot_n, own_input, other_input],
        concurrency_limit=INSPECT_CONCURRENCY,
        show_progress="hidden",
        api_visibility="private",
    )


def _curve_plot(label: str, elem_id: str) -> gr.LinePlot:
    # Starts with no value: with an empty DataFrame instead, curves that arrive while the tab
    # is hidden were drawn on nominal axes without lines (seen in Chromium, Gradio 6.31).
    return gr.LinePlot(None, x="epoch", y="accuracy", color="lane", label=label, y_lim=[0, 1], elem_id=elem_id)


def _bar_plot(label: str) -> gr.BarPlot:
    return gr.BarPlot(x="slot", y="value", color="carries", label=label, height=220, min_width=240)


def _tile_gallery(label: str) -> gr.Gallery:
    return gr.Gallery(label=label, columns=8, height="auto", object_fit="contain", format="png", allow_preview=False)
