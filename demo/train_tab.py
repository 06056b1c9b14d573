"""The Train tab: train a fresh network in the background and watch it learn.

Wiring only: the form becomes a `TrainConfig` (defaults from the "class" preset), `mnistsum.jobs`
runs the one training loop in a background thread, and a `gr.Timer` polls the job's snapshot.
There is one job per server and every visitor sees it, so a reloaded page, or another browser,
re-attaches to the run in progress. The named endpoints `/train_start`, `/train_stop` and
`/train_status` drive the same job from gradio_client.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from mnistsum import render
from mnistsum.config import TrainConfig, apply_values, default_data_dir
from mnistsum.data import data_status, has_mnist
from mnistsum.jobs import (
    RUNNER,
    JobRunner,
    JobStatus,
    TrainingPolicy,
    TrainProgress,
    checkpoint_dir,
    completed_result,
    save_trained,
    start_training,
    status_dict,
)
from mnistsum.metrics import EvalMetrics
from mnistsum.model import FUSIONS, NETWORKS
from mnistsum.predictor import Predictor
from mnistsum.train import checkpoint_meta

from .state import REFUSALS, ModelSlot, refusal

PRESET = "class"
ACTIVE_POLL_S = 0.5  # smooth progress while a job runs
IDLE_POLL_S = 3.0  # still notices a job started from another browser, at little cost
TRAIN_IMAGES = 60_000
UI_MAX_EPOCHS = 30
BATCH_SIZES = [32, 64, 128, 256, 512, 1024]
GALLERY_SIZE = 32
CURVE_COLORS = {"digit train": "#9ecae1", "digit test": "#08519c", "sum train": "#fdae6b", "sum test": "#a63603"}
INTRO = """### Train a network from scratch
The same training loop as `python -m mnistsum.train`, running on this server while you watch.
One run at a time, shared by everyone on this page: reload and you re-attach to it.
On 5,000 images an epoch takes a few seconds on a laptop."""
DISABLED = """### Training is switched off on this deployment
Training here would slow the demo down for every visitor, so this deployment sets
`MNISTSUM_TRAINING=off`. To train, run the app on your own machine (`python app.py`)
or use the command line: `python -m mnistsum.train --preset class`."""


FORM_FIELDS = ("arch", "fusion", "epochs", "batch_size", "lr", "seed", "augment", "limit", "download")


def form_config(base: TrainConfig, *values: Any) -> TrainConfig:
    """The form's values (in `FORM_FIELDS` order) on top of the preset; `apply_values` checks
    their types, `TrainConfig` their range."""
    return apply_values(base, dict(zip(FORM_FIELDS, values, strict=True)))


def _start(runner: JobRunner, policy: TrainingPolicy, base: TrainConfig, *form: Any) -> str:
    """Start a run; a refusal (bad value, policy, a job already running) comes back as the message.
    A started run needs no message: the headline and progress bar take over."""
    try:
        start_training(runner, form_config(base, *form), policy)
    except REFUSALS as err:
        return refusal(err)
    return ""


def _stop(runner: JobRunner) -> str:
    """Ask the job to stop; the headline follows it, so the message line is cleared."""
    runner.stop()
    return ""


def _use_weights(runner: JobRunner, slot: ModelSlot) -> str:
    try:
        result = completed_result(runner.status())
    except REFUSALS as err:
        return refusal(err)
    slot.swap(
        Predictor(result.model, checkpoint_meta(result)),
        f"trained in the app ({result.config.arch}/{result.config.fusion}, {result.config.epochs} epochs on "
        f"{result.history[-1].train.samples:,} images, test digit accuracy {result.test_metrics.digit_accuracy:.2%})",
    )
    return "✅ The Predict tab now uses these weights."


def _save(runner: JobRunner, name: str) -> str:
    try:
        path = save_trained(completed_result(runner.status()), name)
    except REFUSALS as err:
        return refusal(err)
    return f"✅ Saved `{path}`."


def _headline(status: JobStatus, slot: ModelSlot) -> str:
    progress = status.latest if isinstance(status.latest, TrainProgress) else None
    if status.job_id == 0:
        return "No training run yet: choose the settings and press **Start**."
    if progress is None and status.active:
        return f"A **{status.name}** job is running elsewhere in the app; training can start when it ends."
    if status.state == "failed":
        return (
            f"### ❌ Training failed\n```\n{_wrapped(status.error or '')}\n```\n"
            f"The Predict tab is unaffected (model: {slot.source})."
        )
    if progress is None:
        return f"The last job ({status.name}) ended: {status.state}."
    epochs = f"{len(progress.history)} of {progress.config.epochs} epochs"
    if status.state == "running":
        return f"**Training run #{status.job_id}** · {epochs} done · {status.elapsed:.0f}s"
    if status.state == "stopping":
        return f"**Stopping run #{status.job_id}** at the next batch…"
    if status.state == "stopped" or not progress.completed:
        return f"**Run #{status.job_id} stopped** after {epochs}; its weights are not offered (mid-epoch, untested)."
    final = progress.final_test
    return (
        f"### ✅ Run #{status.job_id} finished in {status.elapsed:.0f}s\n"
        f"Test digit accuracy **{final.digit_accuracy:.2%}** · sum accuracy **{final.sum_accuracy:.2%}** "
        f"(all {final.pairs:,} (image, n) pairs) · both right {final.both_accuracy:.2%} · "
        f"sum = digit + n {final.sum_consistency:.2%}"
    )


def _wrapped(text: str, width: int = 100) -> str:
    """Long lines folded for a code block, which would otherwise scroll sideways."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent="  ") or line for line in text.splitlines())


def _data_line(data_dir: str) -> str:
    if has_mnist(data_dir):
        return f"**Data:** {data_status(data_dir)}"
    return f"**Data: ⚠️ MNIST is missing.**\n```\n{_wrapped(data_status(data_dir))}\n```"


def _progress_html(status: JobStatus) -> str:
    progress = status.latest if isinstance(status.latest, TrainProgress) else None
    if not status.active or progress is None:
        return ""
    b = progress.batch
    if b is None:
        text = "loading MNIST…"
    elif progress.evaluating:
        text = f"epoch {b.epoch}/{progress.config.epochs}: evaluating on the test set…"
    else:
        text = (
            f"epoch {b.epoch}/{progress.config.epochs} · batch {b.batch}/{b.num_batches} · "
            f"loss {b.loss:.3f} · {b.samples_per_s:,.0f} images/s · about {b.eta_s:.0f}s left in this epoch"
        )
    return (
        f'<div id="train-progress"><progress value="{progress.fraction:.4f}" max="1" style="width:100%"></progress>'
        f"<div>{text}</div></div>"
    )


# Gradio 6.31's LinePlot draws nothing if it was first given an empty frame, and keeps the
# series it first saw: so an empty plot gets None, and every series of a plot appears at once.


def _epoch_curves(progress: TrainProgress | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(accuracy, mean loss) per epoch: four series each, digit/sum x train/test."""
    rows = pd.DataFrame(progress.curve_rows() if progress else [])
    if rows.empty:
        return None, None
    return tuple(rows[rows["metric"] == m].drop(columns="metric") for m in ("accuracy", "loss"))


def _batch_curve(progress: TrainProgress | None) -> pd.DataFrame | None:
    """The training loss every few batches: the curve that moves before the first epoch ends."""
    if progress is None or not progress.batch_losses:
        return None
    return pd.DataFrame(progress.batch_losses, columns=["epoch", "loss"])


def _confusion(final: EvalMetrics) -> pd.DataFrame:
    table = pd.DataFrame(final.confusion, columns=[f"→ {d}" for d in range(10)])
    table.insert(0, "true \\ predicted", [str(d) for d in range(10)])
    return table


def _gallery(progress: TrainProgress) -> list[tuple[Any, str]]:
    return [
        (render.fit(image, size=112), f"{true} → {predicted}")
        for image, true, predicted in progress.misclassified(GALLERY_SIZE)
    ]


def build_train_tab(
    slot: ModelSlot,
    data_dir: str | Path | None = None,
    runner: JobRunner = RUNNER,
    policy: TrainingPolicy | None = None,
) -> None:
    """Lay out the tab and wire it to `runner` (the app's shared one by default) under `policy`
    (from the MNISTSUM_* environment variables by default)."""
    policy = policy or TrainingPolicy.from_env()
    base = TrainConfig.preset(PRESET, data_dir=str(data_dir or default_data_dir()))
    _register_api(runner, policy, base)
    if not policy.enabled:
        gr.Markdown(DISABLED, elem_id="train-disabled")
        return
    gr.Markdown(INTRO)

    max_epochs = min(UI_MAX_EPOCHS, policy.max_epochs or UI_MAX_EPOCHS)
    max_limit = min(TRAIN_IMAGES, policy.max_limit or TRAIN_IMAGES)
    batch_sizes = [b for b in BATCH_SIZES if policy.max_batch_size is None or b <= policy.max_batch_size]
    with gr.Row():
        arch = gr.Dropdown(
            [(f"{name}: {network.title}", name) for name, network in NETWORKS.items()],
            value=base.arch,
            label="Backbone",
            info=" · ".join(f"{name}: {network.description}" for name, network in NETWORKS.items()),
        )
        fusion = gr.Dropdown(
            list(FUSIONS), value=base.fusion, label="Fusion", info="how the sum head meets n (the exercise used add)"
        )
        epochs = gr.Slider(
            1, max_epochs, value=min(base.epochs, max_epochs), step=1, label="Epochs", elem_id="train-epochs"
        )
        batch_size = gr.Dropdown(batch_sizes, value=base.batch_size, label="Batch size")
    with gr.Row():
        lr = gr.Number(base.lr, label="Learning rate", minimum=0, step=1e-3)
        seed = gr.Number(base.seed, label="Seed", precision=0, minimum=0)
        limit = gr.Slider(
            500,
            max_limit,
            value=min(base.limit or max_limit, max_limit),
            step=500,
            label="Training images",
            elem_id="train-limit",
        )
        with gr.Column(min_width=160):
            augment = gr.Checkbox(base.augment, label="Augment (shifts, rotations, stroke width)")
            download = gr.Checkbox(False, label="Download MNIST if missing (needs internet)")
    data_line = gr.Markdown(_data_line(base.data_dir), elem_id="train-data-status")
    if policy.describe():
        gr.Markdown(f"*{policy.describe()}*")
    with gr.Row():
        start = gr.Button("▶ Start", variant="primary", elem_id="train-start")
        stop = gr.Button("■ Stop", variant="stop", interactive=False, elem_id="train-stop")
    message = gr.Markdown(elem_id="train-message")
    headline = gr.Markdown(elem_id="train-headline")
    bar = gr.HTML(elem_id="train-progress-box")
    log = gr.Textbox(
        label="Log (the exercise's line per epoch, then the test metrics)",
        lines=6,
        max_lines=14,
        interactive=False,
        buttons=["copy"],
        elem_id="train-log",
    )
    with gr.Row():
        live_loss = gr.LinePlot(
            x="epoch", y="loss", label="Training loss, live (digit + sum)", elem_id="train-live-loss"
        )
        accuracy = _epoch_plot("Accuracy per epoch", "accuracy", "train-accuracy")
        loss = _epoch_plot("Mean loss per epoch", "loss", "train-loss")
    with gr.Column(visible=False) as results:
        gr.Markdown("### The finished run")
        with gr.Row():
            use = gr.Button("Use these weights in the Predict tab", variant="primary", elem_id="train-use")
            name = gr.Textbox(label=f"Checkpoint name (saved in {checkpoint_dir()}/)", scale=2, elem_id="train-name")
            save = gr.Button("💾 Save", elem_id="train-save")
        result_message = gr.Markdown(elem_id="train-result-message")
        confusion = gr.Dataframe(label="Confusion matrix on the test set (rows: true digit)", interactive=False)
        gallery = gr.Gallery(
            label=f"Misclassified test digits, true → predicted (the first {GALLERY_SIZE})",
            columns=8,
            height="auto",
            object_fit="contain",
            format="png",
            allow_preview=False,
            elem_id="train-misclassified",
        )
    timer = gr.Timer(ACTIVE_POLL_S)
    seen = gr.State()

    def poll(last_seen: tuple | None) -> dict:
        """Render the shared job; only what changed since this page's last poll is sent."""
        status = runner.status()
        progress = status.latest if isinstance(status.latest, TrainProgress) else None
        epochs_key = (status.job_id, status.state, len(progress.history) if progress else 0)
        points = len(progress.batch_losses) if progress else 0
        seen_epochs, seen_points = last_seen or (None, None)
        if epochs_key == seen_epochs and points == seen_points and not status.active:
            return {seen: gr.skip()}  # nothing new (an empty dict would not count as updates)
        out: dict = {
            seen: (epochs_key, points),
            headline: _headline(status, slot),
            bar: _progress_html(status),
            start: gr.Button(interactive=not status.active),
            stop: gr.Button(interactive=status.state == "running"),
            timer: gr.Timer(ACTIVE_POLL_S if status.active else IDLE_POLL_S),
        }
        if epochs_key == seen_epochs and points == seen_points:
            return out
        out[live_loss] = _batch_curve(progress)
        if epochs_key == seen_epochs:
            return out
        acc_rows, loss_rows = _epoch_curves(progress)
        finished = progress is not None and progress.completed and not status.active
        out |= {
            log: progress.log_text if progress else "",
            accuracy: acc_rows,
            loss: loss_rows,
            results: gr.Column(visible=finished),
            data_line: _data_line(base.data_dir),
        }
        if finished:
            out |= {
                confusion: _confusion(progress.final_test),
                gallery: _gallery(progress),
                result_message: "",
                name: f"{progress.config.arch}-{progress.config.fusion}-run{status.job_id}",
            }
        return out

    every_tick = [seen, headline, bar, start, stop, timer, live_loss]
    on_change = [log, accuracy, loss, results, data_line, confusion, gallery, result_message, name]
    poll_event = {"fn": poll, "inputs": seen, "outputs": every_tick + on_change, "api_visibility": "private"}
    timer.tick(**poll_event, show_progress="hidden", concurrency_limit=None)
    form = [arch, fusion, epochs, batch_size, lr, seed, augment, limit, download]
    start.click(functools.partial(_start, runner, policy, base), form, message, api_visibility="private").then(
        **poll_event
    )
    stop.click(functools.partial(_stop, runner), None, message, api_visibility="private").then(**poll_event)
    use.click(functools.partial(_use_weights, runner, slot), None, result_message, api_visibility="private")
    save.click(functools.partial(_save, runner), name, result_message, api_visibility="private")


def _epoch_plot(label: str, y_title: str, elem_id: str) -> gr.LinePlot:
    return gr.LinePlot(
        x="epoch",
        y="value",
        color="series",
        color_map=CURVE_COLORS,
        label=label,
        x_title="epoch",
        y_title=y_title,
        elem_id=elem_id,
    )


def _register_api(runner: JobRunner, policy: TrainingPolicy, base: TrainConfig) -> None:
    """Named endpoints for gradio_client; each returns the job's status as a JSON dict."""

    def train_start(
        arch: str = base.arch,
        fusion: str = base.fusion,
        epochs: int = base.epochs,
        batch_size: int = base.batch_size,
        lr: float = base.lr,
        seed: int = base.seed,
        augment: bool = base.augment,
        limit: int = base.limit or TRAIN_IMAGES,
        download: bool = False,
    ) -> dict:
        """Start a training run in the background and return at once; refused (an error) if a
        job is already running, a value is invalid, or this deployment does not allow it."""
        try:
            form = (arch, fusion, epochs, batch_size, lr, seed, augment, limit, download)
            status = start_training(runner, form_config(base, *form), policy)
        except REFUSALS as err:
            raise gr.Error(str(err)) from err
        return status_dict(status)

    def train_stop() -> dict:
        """Ask the running job to stop at its next batch."""
        return status_dict(runner.stop())

    def train_status() -> dict:
        """State (idle, running, stopping, finished, stopped, failed), error, progress, log and per-epoch metrics."""
        return status_dict(runner.status())

    gr.api(train_start, api_name="train_start")
    gr.api(train_stop, api_name="train_stop")
    gr.api(train_status, api_name="train_status", concurrency_limit=None)
