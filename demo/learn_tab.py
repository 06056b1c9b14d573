"""The Learn tab: what the network was given for the drawing on the Predict tab, the class's fusion
race, and the network layer by layer.

Wiring only: the views of the current drawing come from `mnistsum.explain` on the visitor's own
model, drawn by `mnistsum.render`; the race is the class's one `mnistsum.race.ClassRace`, which
every visitor's page polls, so everyone watches the race the teacher started.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
import pandas as pd

from mnistsum import render
from mnistsum.config import PRESETS, default_data_dir
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
from mnistsum.model import NETWORKS, DualHeadNet
from mnistsum.payload import png_data_url
from mnistsum.predictor import Predictor, check_n
from mnistsum.race import ClassRace, RaceRecord, race_configs

from .handwriting import VisitorHandwriting
from .learn_text import INSIDE_INTRO, INSPECT_HINT, JARGON, RF_QUESTION, WHY_ADD_FAILS
from .state import REFUSALS, AppState, VisitorModels, refusal

INSPECT_CONCURRENCY = 4
MAP_TILE = 84
RACE_CHOICES = {
    "Only the fusion differs (both on our backbone and recipe)": True,
    "The exercise's whole network (its backbone + add) vs ours": False,
}
RACE_POLL_S = (1.0, 10.0)  # while a race runs (curves grow), and idle (a race someone else starts appears)


class Inspected(NamedTuple):
    """What the tab shows for one drawing, in the order of the event's outputs."""

    given: str  # HTML: the caption, the 28x28 input, saliency and what each head was handed
    conv1: list[tuple[np.ndarray, str]] | None
    conv2: list[tuple[np.ndarray, str]] | None


BLANK = Inspected(f'<div class="learn-given blank">{INSPECT_HINT}</div>', None, None)


def inspect(
    get_predictor: Callable[[str | None], Predictor | None], image: np.ndarray | None, n: int, token: str | None = None
) -> Inspected:
    """The views of the drawing the Predict tab last sent (None: nothing drawn) with its n, through
    the visitor's model (`get_predictor(token)`)."""
    try:
        n = check_n(n)
    except REFUSALS as err:
        return BLANK._replace(given=f'<div class="learn-given blank">{refusal(err)}</div>')
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
    maps = feature_maps(model, model_input, layers=2)
    heat = np.kron(render.colormap(saliency(model, model_input)), np.ones((10, 10, 1), np.uint8))  # 280x280
    given = given_html(render.pixel_grid(model_input), heat, own, other, n)
    return Inspected(given, _channel_tiles(maps[0], "conv1"), _channel_tiles(maps[1], "conv2"))


def inspect_for_visitor(
    models: VisitorModels | VisitorHandwriting, image: np.ndarray | None, n: int, token: str | None, stored: Any = None
) -> Inspected:
    """`inspect` through this visitor's model, got by the same `for_visitor` the Predict tab calls
    (so a taught handwriting or a trained model is what both explain), naming it as the answer
    does; if theirs was dropped from memory, it says so instead of silently explaining another."""
    served = models.for_visitor(token, stored) if isinstance(models, VisitorHandwriting) else models.for_visitor(token)
    out = inspect(lambda _token: served.predictor, image, n, token)
    if out.conv1 is not None:
        out = out._replace(given=f'{out.given}<p class="source"><em>Model: {html.escape(served.source)}</em></p>')
    if served.notice:
        out = out._replace(given=f"<p>⚠️ {html.escape(served.notice.replace('**', ''))}.</p>{out.given}")
    return out


def _wired(inspected: Inspected) -> tuple[str, dict, dict]:
    """`Inspected` for the tab's outputs: the feature-map galleries stay hidden until there is a
    drawing (an empty gallery is a frame with a broken-image icon)."""
    return (
        inspected.given,
        *(gr.update(value=tiles, visible=tiles is not None) for tiles in (inspected.conv1, inspected.conv2)),
    )


def given_html(model_input: np.ndarray, heat: np.ndarray, own: FusionView, other: FusionView, n: int) -> str:
    """The drawing as the network saw it, its saliency, and what each head was handed, for this n."""
    digit = int(own.digit_probs.argmax())
    digits = [str(d) for d in range(10)]
    caption = (
        f"<p>Your drawing from the Predict tab, with <strong>n = {n}</strong>. The network reads "
        f"<strong>{digit}</strong>; saliency shows which pixels move the score of {digit} most (SmoothGrad: how much "
        f"each pixel changes that score, averaged over {SMOOTHGRAD_SAMPLES} slightly noisy copies of the drawing so "
        "the map is not speckled).</p>"
    )
    pictures = "".join(
        f'<figure><figcaption>{title}</figcaption><img alt="{title}" src="{png_data_url(picture)}"></figure>'
        for title, picture in (("What the network saw (28x28)", model_input), ("Saliency (brighter = more)", heat))
    )
    charts = "".join(
        (
            render.bars_html(own.digit_probs, digits, ["p(digit)"] * 10, "Digit head: p(digit)"),
            render.bars_html(own.one_hot_n, digits, ["n"] * 10, f"n = {n}, one-hot (1 in slot n, 0 elsewhere)"),
            _fusion_bars(own, f"What this model's sum head received ({own.fusion}, n = {n})"),
            _fusion_bars(other, f"What {other.fusion} would hand over from the same logits (n = {n})"),
        )
    )
    return (
        f'<div class="learn-given" data-n="{n}">{caption}<div class="given-pictures">{pictures}</div>'
        f'<div class="given-charts">{charts}</div></div>'
    )


def _fusion_bars(view: FusionView, title: str) -> str:
    labels = [x.removeprefix("logit ").removeprefix("p(").removesuffix(")").removeprefix("n=") for x in view.labels]
    return render.bars_html(view.sum_head_input.astype(float), labels, view.groups, title)


def _channel_tiles(maps: np.ndarray, layer: str) -> list[tuple[np.ndarray, str]]:
    """One picture per channel, all on the layer's scale so weak channels look weak."""
    return [(render.fit(c / (maps.max() or 1.0), size=MAP_TILE), f"{layer} #{i}") for i, c in enumerate(maps)]


# --- the class's race ---------------------------------------------------------------------------


def race_headline(record: RaceRecord | None, needs_token: bool = False) -> str:
    """The race as everyone sees it: who leads, how far along, or how to start one."""
    if record is None:
        who = "The teacher starts it (with the teacher token)" if needs_token else "Press **Start the race**"
        return f"No race yet. {who}; everyone in the class watches the same one."
    if record.state == "failed":
        return f"### ❌ Race #{record.race_id} failed\n```\n{record.error}\n```"
    state = {"interrupted": "interrupted by a server restart", "stopping": "stopping…"}.get(record.state, record.state)
    lines = [
        f"- **{lane.label}**: {lane.progress:.0%} trained · test sum accuracy "
        + (f"**{lane.sum_accuracy[-1]:.1%}**, digit {lane.digit_accuracy[-1]:.1%}" if lane.sum_accuracy else "…")
        for lane in (record.update.lanes if record.update else ())
    ]
    return f"**Race #{record.race_id}** · {state} · {record.elapsed:.0f}s\n" + "\n".join(lines)


def race_curves_html(record: RaceRecord | None) -> str:
    """Sum and digit test accuracy per epoch for both lanes (empty before the first epoch ends)."""
    if record is None or record.update is None or not record.update.curve_rows():
        return ""
    charts = [
        render.line_chart_html(record.update.series(metric), title)
        for metric, title in (("sum", "Sum accuracy (test)"), ("digit", "Digit accuracy (test)"))
    ]
    return f'<div class="chart-row">{"".join(charts)}</div>'


def build_learn_tab(
    tab: gr.Tab,
    drawing: gr.State,
    n_slider: gr.Slider,
    app: AppState,
    visitor: gr.State,
    handwriting: gr.components.Component,
    data_dir: str | Path | None = None,
) -> None:
    """Lay out the tab inside the caller's `tab` and wire it to the Predict tab's `drawing`, `n_slider`
    and the visitor's model (with their `handwriting`, the page's stored record), and the class's race.

    What the network was given comes first and is computed each time the tab opens, from the drawing
    and the n on the Predict tab then: they live there, so they cannot change while this tab shows."""
    gr.Markdown("## 1. What the network was given")
    given = gr.HTML(BLANK.given, elem_id="learn-given")
    gr.Markdown("## 2. The fusion race: add vs concatenate")
    if app.policy.enabled:
        show_race = build_race_section(app.race, str(data_dir or default_data_dir()))
    else:
        gr.Markdown(f"*The race trains two networks, and training is switched off here. {app.policy.describe()}*")
        show_race = None
    gr.Markdown("## 3. Inside the network")
    conv1, conv2 = build_inside_section()
    tab.select(
        fn=lambda *inputs: _wired(inspect_for_visitor(app.handwriting or app.models, *inputs)),
        inputs=[drawing, n_slider, visitor, handwriting],
        outputs=[given, conv1, conv2],
        concurrency_limit=INSPECT_CONCURRENCY,
        show_progress="hidden",
        api_visibility="private",
    )
    if show_race is not None:
        tab.select(**show_race)


def build_race_section(race: ClassRace, data_dir: str) -> dict:
    """The class's race: headline, curves, the controls (the teacher's, when a token is set) and why.
    Returns the event that shows the race now, for the tab to run when it opens."""
    add_cfg, _ = race_configs(**race.overrides)
    headline = gr.Markdown(race_headline(race.latest(), race.needs_token), elem_id="race-headline")
    curves = gr.HTML(race_curves_html(race.latest()), elem_id="race-curves")
    with gr.Accordion(
        "For the teacher: start the race" if race.needs_token else "Start the race", open=not race.needs_token
    ):
        choice = gr.Radio(list(RACE_CHOICES), value=next(iter(RACE_CHOICES)), label="Lanes")
        key = "Teacher token" if race.needs_token else "Class code" if race.policy.needs_class_code else None
        token = gr.Textbox(label=key or "", type="password", visible=key is not None, elem_id="race-token")
        with gr.Row():
            start = gr.Button("▶ Start the race", variant="primary", elem_id="race-start")
            stop = gr.Button("■ Stop", variant="stop", elem_id="race-stop")
        message = gr.Markdown(elem_id="race-message")
        gr.Markdown(
            f"*{add_cfg.epochs} epochs on {add_cfg.limit:,} training images, seed {add_cfg.seed}; test accuracy on all "
            f"100,000 (image, n) pairs after each epoch. It runs beside the students' queue, never in it, one race "
            f"at a time. Data: {data_status(data_dir)}*"
        )
    gr.Markdown(WHY_ADD_FAILS)
    timer = gr.Timer(RACE_POLL_S[1])
    seen = gr.State()

    def poll(last_seen: tuple | None) -> dict:
        record = race.latest()
        active = record is not None and record.active
        key = record.version if record else None
        out: dict = {timer: gr.Timer(RACE_POLL_S[0] if active else RACE_POLL_S[1])}
        if key != last_seen or active:
            out |= {headline: race_headline(record, race.needs_token), seen: key}
        if key != last_seen:
            out[curves] = race_curves_html(record)
        return out

    def act(fn: Callable[[], object]) -> str:
        try:
            fn()
        except REFUSALS as err:
            return refusal(err)
        return ""

    show = {"fn": poll, "inputs": seen, "outputs": [timer, headline, seen, curves], "show_progress": "hidden"}
    private = {"api_visibility": "private"}
    timer.tick(**show, concurrency_limit=None, **private)
    start.click(
        lambda t, c: act(lambda: race.start(t, RACE_CHOICES[c], class_code=t, data_dir=data_dir)),
        [token, choice],
        message,
        **private,
    ).then(**show, **private)
    stop.click(lambda t: act(lambda: race.stop(t, class_code=t)), token, message, **private).then(**show, **private)
    return {**show, **private}


def build_inside_section() -> tuple[gr.Gallery, gr.Gallery]:
    """Feature maps of the current drawing, the layer tables, and the exercise's receptive fields."""
    gr.Markdown(INSIDE_INTRO)
    conv1 = _tile_gallery("conv1 feature maps of your drawing, after ReLU")
    conv2 = _tile_gallery("conv2 feature maps of your drawing, after ReLU")
    gr.Markdown(JARGON)
    for arch, network in NETWORKS.items():  # the shipped network's open: the feature maps above are its
        with gr.Accordion(f"Layer by layer: {arch}, {network.title}", open=arch == PRESETS["shipped"]["arch"]):
            gr.Dataframe(_layer_frame(arch), interactive=False, wrap=True, max_height=900)
    rows = exercise_receptive_fields()
    with gr.Accordion("The exercise's receptive fields, checked", open=True):
        gr.Markdown(f"{RF_QUESTION}\n\n*{EXERCISE_RF_SOURCE}*")
        checked = [(r.layer, r.claimed, r.computed, "❌ wrong" if r.wrong else "✓") for r in rows]
        table = pd.DataFrame(checked, columns=["layer", "claimed", "computed", "verdict"])
        gr.Dataframe(table, interactive=False, elem_id="exercise-rf")
        with gr.Accordion("The working (the answer)", open=False, elem_id="exercise-rf-answer"):
            gr.Markdown("\n".join(f"- **{r.layer}**: {r.note}" for r in rows))
    return conv1, conv2


def _layer_frame(arch: str) -> pd.DataFrame:
    return pd.DataFrame(display_rows(layer_table(DualHeadNet(arch=arch))), columns=list(TABLE_COLUMNS))


def _tile_gallery(label: str) -> gr.Gallery:
    return gr.Gallery(
        label=label, visible=False, columns=8, height="auto", object_fit="contain", format="png", allow_preview=False
    )
