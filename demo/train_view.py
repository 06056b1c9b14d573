"""What the Train tab shows of the visitor's run: the headline, the progress bar, the log, the
curves, and once it finished, the confusion matrix and the misclassified digits.

`RunView` lays the parts out and renders a `JobStatus` into them; only what changed since the
page's last poll is sent, so an idle page costs next to nothing.
"""

from __future__ import annotations

import textwrap
from typing import Any

import gradio as gr
import pandas as pd

from mnistsum import render
from mnistsum.data import data_status, has_mnist
from mnistsum.jobs import JobStatus, TrainProgress, checkpoint_dir
from mnistsum.metrics import EvalMetrics

from .job_panel import JobPanel, not_started_headline
from .state import AppState

GALLERY_SIZE = 32
CURVE_COLORS = {
    "digit train": "#9ecae1",
    "digit validation": "#3182bd",
    "digit test": "#08519c",
    "sum train": "#fdae6b",
    "sum validation": "#e6550d",
    "sum test": "#a63603",
}


def _progress_of(status: JobStatus | None) -> TrainProgress | None:
    return status.latest if status is not None and isinstance(status.latest, TrainProgress) else None


def headline(status: JobStatus | None, model_source: str) -> str:
    """One line (or a short block) on where the visitor's run stands."""
    progress = _progress_of(status)
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
        f"sum = digit + n {final.sum_consistency:.2%} · "
        + (f"⚠️ {status.error}" if status.error else "on the leaderboard below")
    )


def _wrapped(text: str, width: int = 100) -> str:
    """Long lines folded for a code block, which would otherwise scroll sideways."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent="  ") or line for line in text.splitlines())


def data_line(data_dir: str) -> str:
    """Whether MNIST is there to train on, and the fix when it is not."""
    if has_mnist(data_dir):
        return f"**Data:** {data_status(data_dir)}"
    return f"**Data: ⚠️ MNIST is missing.**\n```\n{_wrapped(data_status(data_dir))}\n```"


def progress_html(status: JobStatus | None) -> str:
    progress = _progress_of(status)
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


def curves_html(progress: TrainProgress | None) -> str:
    """The live training loss, then accuracy and mean loss per epoch: train and validation lines that
    end in the test result, a marked point at the last epoch (measured once, on the finished model)."""
    rows = progress.curve_rows() if progress else []
    live = {"training loss (digit + sum)": list(progress.batch_losses)} if progress and progress.batch_losses else {}
    charts = [render.line_chart_html(live, "Training loss, live", y_label="loss", y_range=None)]
    for metric, title in (("accuracy", "Accuracy per epoch"), ("loss", "Mean loss per epoch")):
        found = [row for row in rows if row["metric"] == metric]
        series = {name: [(r["epoch"], r["value"]) for r in found if r["series"] == name] for name in CURVE_COLORS}
        series = {name: points for name, points in series.items() if points}
        marked = [name for name in series if name.endswith("test")]
        y_range = (0.0, 1.0) if metric == "accuracy" else None
        charts.append(render.line_chart_html(series, title, "epoch", metric, y_range, CURVE_COLORS, marked))
    return f'<div class="chart-row">{"".join(charts)}</div>'


def _confusion(final: EvalMetrics) -> pd.DataFrame:
    table = pd.DataFrame(final.confusion, columns=[f"→ {d}" for d in range(10)])
    table.insert(0, "true \\ predicted", [str(d) for d in range(10)])
    return table


def _gallery(progress: TrainProgress) -> list[tuple[Any, str]]:
    return [
        (render.fit(image, size=112), f"{true} → {predicted}")
        for image, true, predicted in progress.misclassified(GALLERY_SIZE)
    ]


class RunView:
    """The run's parts, laid out below the job panel; `use`, `name` and `save` are for the tab to wire."""

    def __init__(self, app: AppState, panel: JobPanel, data_dir: str, data_status_line: gr.Markdown) -> None:
        self.app, self.panel, self.data_dir, self.data_line = app, panel, data_dir, data_status_line
        self.headline = gr.Markdown(elem_id="train-headline")
        self.bar = gr.HTML(elem_id="train-progress-box")
        self.log = gr.Textbox(
            label="Log (the exercise's line per epoch, then accuracy on held-out images)",
            lines=6,
            max_lines=14,
            interactive=False,
            buttons=["copy"],
            elem_id="train-log",
        )
        self.curves = gr.HTML(curves_html(None), elem_id="train-curves")
        with gr.Column(visible=False) as self.results:
            gr.Markdown("### Your finished run")
            with gr.Row():
                self.use = gr.Button("Use these weights in my Predict tab", variant="primary", elem_id="train-use")
                label = f"Checkpoint name (saved in {checkpoint_dir()}/)"
                self.name = gr.Textbox(label=label, scale=2, elem_id="train-name")
                self.save = gr.Button("💾 Save", elem_id="train-save")
            self.message = gr.Markdown(elem_id="train-result-message")
            self.confusion = gr.Dataframe(
                label="Confusion matrix on the test set (rows: true digit)", interactive=False
            )
            self.gallery = gr.Gallery(
                label=f"Misclassified test digits, true → predicted (the first {GALLERY_SIZE})",
                columns=8,
                height="auto",
                object_fit="contain",
                format="png",
                allow_preview=False,
                elem_id="train-misclassified",
            )
        self.outputs = [self.headline, self.bar, self.curves, self.log, self.results]
        self.outputs += [self.data_line, self.confusion, self.gallery, self.message, self.name]
        # The id of the visitor's run that just landed on the leaderboard: the board refreshes on its change
        # at once, not on its own timer (whose next tick can be seconds away).
        self.landed = gr.State()
        self.outputs.append(self.landed)

    def render(self, status: JobStatus | None, last_seen: tuple | None) -> dict:
        """This visitor's run; only what changed since this page's last poll is sent."""
        progress = _progress_of(status)
        job_key = (status.job_id, status.state, len(progress.history) if progress else 0) if status else None
        points = len(progress.batch_losses) if progress else 0
        seen_job, seen_points = last_seen or (False, None)
        active = status is not None and status.active
        if job_key == seen_job and points == seen_points and not active:
            return {self.panel.seen: gr.skip()}  # nothing new (an empty dict would not count as updates)
        source = self.app.models.for_visitor(status.owner).source if status else ""
        out: dict = {
            self.panel.seen: (job_key, points),
            self.headline: headline(status, source),
            self.bar: progress_html(status),
        }
        if job_key == seen_job and points == seen_points:
            return out
        out[self.curves] = curves_html(progress)
        if job_key == seen_job:
            return out
        finished = progress is not None and progress.completed and not active
        out |= {
            self.log: progress.log_text if progress else "",
            self.results: gr.Column(visible=finished),
            self.data_line: data_line(self.data_dir),
        }
        if finished:
            out |= {
                self.landed: status.job_id,
                self.confusion: _confusion(progress.final_test),
                self.gallery: _gallery(progress),
                self.message: "",
                self.name: f"{progress.config.arch}-{progress.config.fusion}-run{status.job_id}",
            }
        return out
