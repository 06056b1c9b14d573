"""The Train tab: each visitor trains their own network in the class's queue, and the class
leaderboard ranks every finished run.

Wiring only: the form (`demo.train_form`) becomes a `TrainConfig` (defaults from the "class"
preset), the shared `JobPanel` queues it for this browser's visitor token and polls *their* job
into a `RunView`, `mnistsum.jobs` runs the one training loop on a worker, and the leaderboard
(`demo.leaderboard_view`) shows the finished runs. API callers get the same through
`demo.train_api`, passing their token (from `/visitor_token`) with every call.
"""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from mnistsum.checkpoint import CheckpointError
from mnistsum.config import TrainConfig, default_data_dir
from mnistsum.jobs import TRAINING_JOB, completed_result, save_trained
from mnistsum.jobs.policy import TRAIN_LOCALLY
from mnistsum.leaderboard import visitor_seed

from .job_panel import JobPanel
from .leaderboard_view import build_leaderboard
from .state import REFUSALS, AppState, refusal
from .train_api import latest_run, register_train_api
from .train_form import NAMES, build_form, submit
from .train_view import RunView, data_line

PRESET = "class"
NICKNAME_KEY = "mnistsum-nickname"  # the browser's localStorage key for the nickname
INTRO = """### Train a network from scratch
The same training loop as `python -m mnistsum.train`, running on this server while you watch.
Your runs are yours: this browser keeps a private token, so a reload re-attaches to *your* run,
and nobody else can see, stop or reuse it. Runs wait their turn in one queue, first come first
served, one at a time per visitor. The default settings train in a few seconds."""
CLASS_CODE_NOTE = f"""

**Training on this server is for a class: enter the class code your teacher gave you.**
Without it you can still draw and predict in the other tabs, and train on your own machine:
{TRAIN_LOCALLY}."""
DISABLED = """### Training is switched off on this deployment
Training here would slow the demo down for every visitor, so this deployment sets
`MNISTSUM_TRAINING=off`. To train, run the app on your own machine (`python app.py`)
or use the command line: `python -m mnistsum.train --preset class`."""


def _use_weights(app: AppState, token: str | None) -> str:
    """This visitor's Predict and Learn tabs switch to their finished run; nobody else's change."""
    try:
        result = completed_result(latest_run(app, token))
    except REFUSALS as err:
        return refusal(err)
    source = (
        f"your model, trained here in the Train tab ({result.config.arch}/{result.config.fusion}, {result.config.epochs} epochs on "
        f"{result.history[-1].train.samples:,} images, test digit accuracy {result.test_metrics.digit_accuracy:.2%})"
    )
    try:
        app.models.use(token, result, source)
    except OSError as err:
        return f"⚠️ Could not keep your model: {err}"
    return "✅ Your Predict and Learn tabs now use these weights (everyone else keeps theirs)."


def _reload_model(app: AppState, token: str | None) -> str:
    if not token:
        return "⚠️ No visitor token: reload the page."
    try:
        served = app.models.reload(token)
    except CheckpointError:
        return "⚠️ You have no saved model on this server yet: finish a run and press **Use these weights**."
    return f"✅ Reloaded {served.source}."


def _use_shipped(app: AppState, token: str | None) -> str:
    if token:
        app.models.reset(token)
    return f"✅ Your Predict and Learn tabs use {app.slot.source} again."


def _save(app: AppState, token: str | None, name: str) -> str:
    try:
        path = save_trained(completed_result(latest_run(app, token)), name, owner=token)
    except REFUSALS as err:
        return refusal(err)
    return f"✅ Saved `{path}`."


def _arrival(app: AppState, token: str | None, nickname: str) -> tuple:
    """At page load: the visitor's own seed, their nickname as they left it, and their model's buttons if any."""
    seed = visitor_seed(token) if token else gr.skip()
    return seed, nickname or gr.skip(), gr.Row(visible=app.models.has_own(token))


def build_train_tab(
    app: AppState, visitor: gr.State, data_dir: str | Path | None = None, kept_nickname: gr.BrowserState | None = None
) -> None:
    """Lay out the tab and wire it to the app's queue, models and leaderboard for the visitor
    whose token `visitor` holds (set at page load by `demo.app`); `kept_nickname`, the browser's
    copy of the nickname, fills the form at page load."""
    base = TrainConfig.preset(PRESET, data_dir=str(data_dir or default_data_dir()))
    register_train_api(app, base)
    if not app.policy.enabled:
        gr.Markdown(DISABLED, elem_id="train-disabled")
        build_leaderboard(app, visitor)
        return
    gr.Markdown(INTRO + (CLASS_CODE_NOTE if app.policy.needs_class_code else ""))
    private = {"api_visibility": "private"}
    form = build_form(base, app.policy)
    data_status = gr.Markdown(data_line(base.data_dir), elem_id="train-data-status")
    if app.policy.describe():
        gr.Markdown(f"*{app.policy.describe()}*")
    panel = JobPanel(app.queue, visitor, TRAINING_JOB, "▶ Start", "train")
    view = RunView(app, panel, base.data_dir, data_status)
    with gr.Row(visible=False) as own_model:  # only once the visitor has a model of their own
        reload_model = gr.Button("Reload my model", size="sm", elem_id="train-reload-model")
        shipped = gr.Button("Back to the shipped model", size="sm", elem_id="train-use-shipped")
    model_message = gr.Markdown(elem_id="train-model-message")
    nickname, seed = form[NAMES.index("nickname")], form[NAMES.index("seed")]
    kept_nickname = kept_nickname or gr.State("")
    arrive = functools.partial(_arrival, app)
    visitor.change(arrive, [visitor, kept_nickname], [seed, nickname, own_model], **private)
    nickname.change(lambda text: text, nickname, kept_nickname, **private)

    panel.wire(
        lambda request, token, *values: submit(app, base, request, token, *values), form, view.render, view.outputs
    )
    view.use.click(lambda token: _use_weights(app, token), visitor, view.message, **private).then(
        lambda token: gr.Row(visible=app.models.has_own(token)), visitor, own_model, **private
    )
    view.save.click(lambda token, text: _save(app, token, text), [visitor, view.name], view.message, **private)
    reload_model.click(lambda token: _reload_model(app, token), visitor, model_message, **private)
    shipped.click(lambda token: _use_shipped(app, token), visitor, model_message, **private)
    build_leaderboard(app, visitor, landed=view.landed)
