"""The Train tab: each visitor trains their own network in the class's queue, and the class
leaderboard ranks every finished run.

Wiring only: the form becomes a `TrainConfig` (defaults from the "class" preset), the shared
`JobPanel` queues it for this browser's visitor token and polls *their* job, `mnistsum.jobs`
runs the one training loop on a worker, and `mnistsum.leaderboard` keeps the finished runs.
The named endpoints `/train_start`, `/train_stop` and `/train_status` do the same for API
callers, who pass their token (from `/visitor_token`) with every call.
"""

from __future__ import annotations

import html
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from mnistsum import render
from mnistsum.checkpoint import CheckpointError
from mnistsum.config import TrainConfig, apply_values, default_data_dir
from mnistsum.data import data_status, has_mnist
from mnistsum.jobs import (
    TRAINING_JOB,
    JobStatus,
    TrainProgress,
    checkpoint_dir,
    completed_result,
    leaderboard_recorder,
    save_trained,
    start_training,
    status_dict,
)
from mnistsum.leaderboard import ClearRefused, Row
from mnistsum.metrics import EvalMetrics
from mnistsum.model import FUSIONS, NETWORKS

from .job_panel import JobPanel, not_started_headline
from .state import REFUSALS, AppState, check_token, new_token, refusal

PRESET = "class"
BOARD_POLL_S = 10.0  # other students' runs land on the leaderboard while you watch (Refresh: at once)
BOARD_ROWS = 100
BOARD_COLUMNS = (
    "#", "nickname", "backbone", "fusion", "epochs", "images", "batch", "lr", "augment",
    "sum", "digit", "both", "sum = digit + n", "parameters", "time", "finished (UTC)",
)  # fmt: skip
TRAIN_IMAGES = 60_000
UI_MAX_EPOCHS = 30
BATCH_SIZES = [32, 64, 128, 256, 512, 1024]
GALLERY_SIZE = 32
CURVE_COLORS = {
    "digit train": "#9ecae1",
    "digit validation": "#3182bd",
    "digit test": "#08519c",
    "sum train": "#fdae6b",
    "sum validation": "#e6550d",
    "sum test": "#a63603",
}
ALL = "all"
INTRO = """### Train a network from scratch
The same training loop as `python -m mnistsum.train`, running on this server while you watch.
Your runs are yours: this browser keeps a private token, so a reload re-attaches to *your* run,
and nobody else can see, stop or reuse it. Runs wait their turn in one queue, first come first
served, one at a time per visitor. The default settings train in a few seconds."""
DISABLED = """### Training is switched off on this deployment
Training here would slow the demo down for every visitor, so this deployment sets
`MNISTSUM_TRAINING=off`. To train, run the app on your own machine (`python app.py`)
or use the command line: `python -m mnistsum.train --preset class`."""


FORM_FIELDS = ("arch", "fusion", "epochs", "batch_size", "lr", "seed", "augment", "limit", "download")


def form_config(base: TrainConfig, *values: Any) -> TrainConfig:
    """The form's values (in `FORM_FIELDS` order) on top of the preset; `apply_values` checks
    their types, `TrainConfig` their range."""
    return apply_values(base, dict(zip(FORM_FIELDS, values, strict=True)))


def _submit(app: AppState, base: TrainConfig, token: str, nickname: str, *form: Any) -> JobStatus:
    """Queue the form's run for this visitor; a finished run becomes a leaderboard row under `nickname`."""
    record = leaderboard_recorder(app.board, nickname, token)
    return start_training(app.queue, token, form_config(base, *form), app.policy, on_done=record)


def _mine(app: AppState, token: str | None) -> JobStatus | None:
    return app.queue.latest(token, TRAINING_JOB) if token else None


def _use_weights(app: AppState, token: str | None) -> str:
    """This visitor's Predict and Learn tabs switch to their finished run; nobody else's change."""
    try:
        result = completed_result(_mine(app, token))
    except REFUSALS as err:
        return refusal(err)
    source = (
        f"your model, trained here ({result.config.arch}/{result.config.fusion}, {result.config.epochs} epochs on "
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
    return f"✅ Your Predict and Learn tabs use the {app.slot.source} again."


def _save(app: AppState, token: str | None, name: str) -> str:
    try:
        path = save_trained(completed_result(_mine(app, token)), name)
    except REFUSALS as err:
        return refusal(err)
    return f"✅ Saved `{path}`."


def _headline(status: JobStatus | None, model_source: str) -> str:
    progress = status.latest if status is not None and isinstance(status.latest, TrainProgress) else None
    if status is None:
        return "No training run yet: choose the settings and press **Start**."
    waiting = not_started_headline(status, "Run")
    if waiting is not None:
        return waiting
    if status.state == "failed":
        return (
            f"### ❌ Training failed\n```\n{_wrapped(status.error or '')}\n```\n"
            f"Your Predict tab is unaffected (model: {model_source})."
        )
    if progress is None:
        return f"Run #{status.job_id}: {status.state}."
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
        f"sum = digit + n {final.sum_consistency:.2%} · on the leaderboard below"
    )


def _wrapped(text: str, width: int = 100) -> str:
    """Long lines folded for a code block, which would otherwise scroll sideways."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent="  ") or line for line in text.splitlines())


def _data_line(data_dir: str) -> str:
    if has_mnist(data_dir):
        return f"**Data:** {data_status(data_dir)}"
    return f"**Data: ⚠️ MNIST is missing.**\n```\n{_wrapped(data_status(data_dir))}\n```"


def _progress_html(status: JobStatus | None) -> str:
    progress = status.latest if status is not None and isinstance(status.latest, TrainProgress) else None
    if status is None or not status.running or progress is None:
        return ""
    b = progress.batch
    if b is None:
        text = "loading MNIST…"
    elif progress.evaluating:
        text = f"epoch {b.epoch}/{progress.config.epochs}: measuring accuracy on held-out images…"
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


def build_train_tab(app: AppState, visitor: gr.State, data_dir: str | Path | None = None) -> None:
    """Lay out the tab and wire it to the app's queue, models and leaderboard for the visitor
    whose token `visitor` holds (set at page load by `demo.app`)."""
    policy = app.policy
    base = TrainConfig.preset(PRESET, data_dir=str(data_dir or default_data_dir()))
    _register_api(app, base)
    if not policy.enabled:
        gr.Markdown(DISABLED, elem_id="train-disabled")
        _leaderboard_section(app, visitor)
        return
    gr.Markdown(INTRO)

    max_epochs = min(UI_MAX_EPOCHS, policy.max_epochs or UI_MAX_EPOCHS)
    max_limit = min(TRAIN_IMAGES, policy.max_limit or TRAIN_IMAGES)
    batch_sizes = [b for b in BATCH_SIZES if policy.max_batch_size is None or b <= policy.max_batch_size]
    with gr.Row():
        nickname = gr.Textbox(
            label="Your nickname (shown on the class leaderboard)", max_length=32, elem_id="train-nickname"
        )
        arch = gr.Dropdown(
            [(f"{name}: {network.title}", name) for name, network in NETWORKS.items()],
            value=base.arch,
            label="Backbone",
            info=" · ".join(f"{name}: {network.description}" for name, network in NETWORKS.items()),
        )
        fusion = gr.Dropdown(
            list(FUSIONS), value=base.fusion, label="Fusion", info="how the sum head meets n (the exercise used add)"
        )
    with gr.Row():
        epochs = gr.Slider(
            1, max_epochs, value=min(base.epochs, max_epochs), step=1, label="Epochs", elem_id="train-epochs"
        )
        batch_size = gr.Dropdown(batch_sizes, value=base.batch_size, label="Batch size")
        lr = gr.Number(base.lr, label="Learning rate", minimum=0, step=1e-3)
        seed = gr.Number(base.seed, label="Seed", precision=0, minimum=0)
    with gr.Row():
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
    panel = JobPanel(app.queue, visitor, TRAINING_JOB, "▶ Start", "train")
    headline = gr.Markdown(elem_id="train-headline")
    bar = gr.HTML(elem_id="train-progress-box")
    log = gr.Textbox(
        label="Log (the exercise's line per epoch, then accuracy on held-out images)",
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
        gr.Markdown("### Your finished run")
        with gr.Row():
            use = gr.Button("Use these weights in my Predict tab", variant="primary", elem_id="train-use")
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
    with gr.Row():
        reload_model = gr.Button("Reload my model", size="sm", elem_id="train-reload-model")
        shipped = gr.Button("Back to the shipped model", size="sm", elem_id="train-use-shipped")
    model_message = gr.Markdown(elem_id="train-model-message")

    def render_job(status: JobStatus | None, last_seen: tuple | None) -> dict:
        """This visitor's run; only what changed since this page's last poll is sent."""
        progress = status.latest if status is not None and isinstance(status.latest, TrainProgress) else None
        job_key = (status.job_id, status.state, len(progress.history) if progress else 0) if status else None
        points = len(progress.batch_losses) if progress else 0
        seen_job, seen_points = last_seen or (False, None)
        active = status is not None and status.active
        if job_key == seen_job and points == seen_points and not active:
            return {panel.seen: gr.skip()}  # nothing new (an empty dict would not count as updates)
        out: dict = {
            panel.seen: (job_key, points),
            headline: _headline(status, app.models.for_visitor(status.owner).source if status else ""),
            bar: _progress_html(status),
        }
        if job_key == seen_job and points == seen_points:
            return out
        out[live_loss] = _batch_curve(progress)
        if job_key == seen_job:
            return out
        acc_rows, loss_rows = _epoch_curves(progress)
        finished = progress is not None and progress.completed and not active
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

    outputs = [headline, bar, live_loss, log, accuracy, loss, results, data_line]
    outputs += [confusion, gallery, result_message, name]
    form = [nickname, arch, fusion, epochs, batch_size, lr, seed, augment, limit, download]
    panel.wire(lambda token, *values: _submit(app, base, token, *values), form, render_job, outputs)
    private = {"api_visibility": "private"}
    use.click(lambda token: _use_weights(app, token), visitor, result_message, **private)
    save.click(lambda token, text: _save(app, token, text), [visitor, name], result_message, **private)
    reload_model.click(lambda token: _reload_model(app, token), visitor, model_message, **private)
    shipped.click(lambda token: _use_shipped(app, token), visitor, model_message, **private)
    _leaderboard_section(app, visitor)


# --- the class leaderboard -----------------------------------------------------------------


def leaderboard_html(rows: list[Row]) -> str:
    """The leaderboard as an HTML table. Every string a visitor could have typed is escaped,
    and so is every other one: nothing in a row is ever read as markup."""
    if not rows:
        return '<p id="leaderboard-empty">No finished runs yet: the first one lands here.</p>'
    head = "".join(f"<th>{html.escape(title)}</th>" for title in BOARD_COLUMNS)
    body = []
    for rank, r in enumerate(rows, 1):
        cells = (
            str(rank),
            r.nickname + (" ★ you" if r.mine else ""),
            r.arch,
            r.fusion,
            str(r.epochs),
            f"{r.images:,}",
            str(r.batch_size),
            f"{r.lr:g}",
            "yes" if r.augment else "no",
            f"{r.sum_accuracy:.2%}",
            f"{r.digit_accuracy:.2%}",
            f"{r.both_accuracy:.2%}",
            f"{r.sum_consistency:.2%}",
            f"{r.parameters:,}",
            f"{r.wall_s:.1f}s",
            r.finished_at,
        )
        row_class = ' class="mine"' if r.mine else ""
        body.append(f"<tr{row_class}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f'<table id="leaderboard-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _board(app: AppState, token: str | None, arch: str, fusion: str) -> str:
    rows = app.board.rows(token, None if arch == ALL else arch, None if fusion == ALL else fusion)
    return leaderboard_html(rows[:BOARD_ROWS])


def _export_csv(app: AppState) -> str:
    folder = Path(tempfile.mkdtemp(prefix="mnistsum-leaderboard-"))
    path = folder / "leaderboard.csv"
    path.write_text(app.board.to_csv(), encoding="utf-8")
    return str(path)


def _clear(app: AppState, teacher_token: str) -> str:
    try:
        removed = app.board.clear(teacher_token)
    except ClearRefused as err:
        return refusal(err)
    return f"✅ Cleared {removed} runs."


def _leaderboard_section(app: AppState, visitor: gr.State) -> None:
    gr.Markdown(
        "## Class leaderboard\nEvery finished run, best sum accuracy first (all 100,000 test pairs); ★ marks yours."
    )
    with gr.Row():
        arch = gr.Dropdown([ALL, *NETWORKS], value=ALL, label="Backbone", elem_id="board-arch")
        fusion = gr.Dropdown([ALL, *FUSIONS], value=ALL, label="Fusion", elem_id="board-fusion")
        refresh = gr.Button("↻ Refresh", size="sm", elem_id="board-refresh")
    table = gr.HTML(elem_id="leaderboard")
    with gr.Accordion("For the teacher: export or clear", open=False):
        with gr.Row():
            export = gr.Button("⬇ Export CSV", size="sm", elem_id="board-export")
            csv_file = gr.File(label="leaderboard.csv", interactive=False, elem_id="board-csv")
        with gr.Row():
            teacher = gr.Textbox(label="Teacher token", type="password", elem_id="board-teacher-token")
            clear = gr.Button("Clear the leaderboard", variant="stop", size="sm", elem_id="board-clear")
        clear_message = gr.Markdown(elem_id="board-clear-message")
    timer = gr.Timer(BOARD_POLL_S)
    show = {
        "fn": lambda token, a, f: _board(app, token, a, f),
        "inputs": [visitor, arch, fusion],
        "outputs": table,
        "api_visibility": "private",
        "show_progress": "hidden",
    }
    gr.on([refresh.click, arch.change, fusion.change, timer.tick], **show, concurrency_limit=None)
    export.click(lambda: _export_csv(app), None, csv_file, api_visibility="private")
    clear.click(lambda t: _clear(app, t), teacher, clear_message, api_visibility="private").then(**show)


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


def _register_api(app: AppState, base: TrainConfig) -> None:
    """Named endpoints for API callers. Each /train_* call takes the caller's visitor token and
    acts on that visitor's runs only; a bad token, or a run id that is someone else's, is refused."""

    def visitor_token() -> str:
        """A new visitor token: pass it to /train_start, /train_stop and /train_status."""
        return new_token()

    def train_start(
        token: str,
        nickname: str = "",
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
        """Queue a training run for this token and return at once (state "queued" or "running"); refused
        (an error saying why) for a bad token or value, beyond this deployment's caps, when the token
        already has a run queued or running, or when the queue is full."""
        try:
            form = (arch, fusion, epochs, batch_size, lr, seed, augment, limit, download)
            status = _submit(app, base, check_token(token), nickname, *form)
        except REFUSALS as err:
            raise gr.Error(str(err)) from err
        return status_dict(status)

    def train_stop(token: str, run_id: int | None = None) -> dict:
        """Cancel this token's queued run or stop its running one at the next batch (`run_id`: that run, if yours)."""
        try:
            status = app.queue.stop(check_token(token), None if run_id is None else int(run_id))
        except REFUSALS as err:
            raise gr.Error(str(err)) from err
        return status_dict(status if status is not None else _mine(app, token))

    def train_status(token: str, run_id: int | None = None) -> dict:
        """This token's latest run (or `run_id`, if yours): state (idle, queued, running, stopping, finished,
        stopped, cancelled, failed), queue place and estimated start, error, progress, log, metrics."""
        try:
            check_token(token)
            status = _mine(app, token) if run_id is None else app.queue.status(token, int(run_id))
        except REFUSALS as err:
            raise gr.Error(str(err)) from err
        return status_dict(status)

    def leaderboard_csv() -> str:
        """The class leaderboard as CSV text, best first."""
        return app.board.to_csv()

    gr.api(visitor_token, api_name="visitor_token", concurrency_limit=None)
    gr.api(train_start, api_name="train_start", concurrency_limit=None)
    gr.api(train_stop, api_name="train_stop", concurrency_limit=None)
    gr.api(train_status, api_name="train_status", concurrency_limit=None)
    gr.api(leaderboard_csv, api_name="leaderboard_csv", concurrency_limit=None)
