"""The job panel the Train and Learn tabs share: Start and Stop, a message line, the queue
line (place and estimated start), and a timer that polls the visitor's own job.

Wiring only. Each page polls `queue.latest(token, job_name)`, so what it shows is its
visitor's job and nothing else, and a reloaded page (same browser, same token) re-attaches
to it. The tab supplies `submit` (what Start queues) and `render` (its own outputs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from mnistsum.jobs import JobQueue, JobStatus

from .state import REFUSALS, refusal

ACTIVE_POLL_S = 0.5  # smooth progress while the visitor's job waits or runs
IDLE_POLL_S = 10.0  # idle, only the queue line changes: a slow poll keeps a class of idle tabs cheap
NO_VISITOR = "⚠️ This page has no visitor token yet (it is set when the page loads); reload the page."

Render = Callable[[JobStatus | None, Any], dict]
Submit = Callable[..., JobStatus]  # (request, token, *inputs): the request tells the client's address


def queue_line(status: JobStatus | None, queue: JobQueue) -> str:
    """Where the visitor's job stands in the queue, and how busy the queue is."""
    counts = queue.counts()
    workers = f"{counts['workers']} worker{'s' * (counts['workers'] > 1)}"
    busy = f"{counts['running']} running on {workers}, {counts['queued']} waiting"
    if status is not None and status.state == "queued":
        eta = status.start_eta_s or 0.0
        when = "any moment now" if eta < 1 else f"in about {eta:.0f}s"
        return (
            f"⏳ **#{status.job_id} is waiting: place {status.place} in the queue**, expected to start {when} ({busy})."
        )
    return f"*Queue: {busy}.*"


def not_started_headline(status: JobStatus, noun: str) -> str | None:
    """The headline of a job that has not run (queued or cancelled), the same in every tab."""
    if status.state == "queued":
        return f"**{noun} #{status.job_id} is in the queue**: it starts when a worker is free."
    if status.state == "cancelled":
        return f"**{noun} #{status.job_id} was cancelled** before it started."
    if status.state == "interrupted":
        return (
            f"### ⚠️ {noun} #{status.job_id} was {status.error or 'stopped by a server restart'}\n"
            "Nothing of it was lost but the time: press **Start** to run it again."
        )
    if status.latest is None and not status.active:  # ended before a restart: only its record is left
        result = status.result or {}
        shown = ""
        if "digit_accuracy" in result and "sum_accuracy" in result:
            shown = f": test digit accuracy **{result['digit_accuracy']:.2%}**, sum **{result['sum_accuracy']:.2%}**"
        return (
            f"**{noun} #{status.job_id} {status.state}** before the server restarted{shown}. "
            "Its model was held in memory and is gone; press **Start** to train again."
        )
    return None


class JobPanel:
    """Lay out Start/Stop/message/queue line now; `wire` them once the tab's own outputs exist."""

    def __init__(self, queue: JobQueue, visitor: gr.State, job_name: str, start_label: str, elem_prefix: str) -> None:
        self.queue = queue
        self.visitor = visitor
        self.job_name = job_name
        with gr.Row():
            self.start = gr.Button(start_label, variant="primary", elem_id=f"{elem_prefix}-start")
            self.stop = gr.Button("■ Stop", variant="stop", interactive=False, elem_id=f"{elem_prefix}-stop")
        self.message = gr.Markdown(elem_id=f"{elem_prefix}-message")
        self.elem_prefix = elem_prefix
        self.queue_line = gr.Markdown(elem_id=f"{elem_prefix}-queue")
        self.timer = gr.Timer(ACTIVE_POLL_S)
        self.seen = gr.State()

    def _scroll_js(self) -> str:
        """After Start, the message, queue place and progress below it scroll into view (at 1366x768
        they start below the fold, and the greyed button alone looks like nothing happened)."""
        return f"() => document.getElementById('{self.elem_prefix}-message')?.scrollIntoView({{block: 'start'}})"

    def wire(
        self, submit: Submit, inputs: Sequence[gr.components.Component], render: Render, outputs: Sequence
    ) -> None:
        """Start queues `submit(token, *inputs)`; every poll renders the visitor's job with `render(status,
        last_seen)`, which returns updates for `outputs` (and for `self.seen`, its memory of what it sent)."""

        def poll(token: str | None, last_seen: Any) -> dict:
            status = self.queue.latest(token, self.job_name) if token else None
            active = status is not None and status.active
            return {
                self.start: gr.Button(interactive=not active),
                self.stop: gr.Button(interactive=active and status.state != "stopping"),
                self.queue_line: queue_line(status, self.queue),
                self.timer: gr.Timer(ACTIVE_POLL_S if active else IDLE_POLL_S),
                **render(status, last_seen),
            }

        def start(request: gr.Request, token: str | None, *values: Any) -> str:
            """A refusal (bad value, policy, class code, queue full, a job already yours or your address's)
            comes back as the message; a queued run needs none: the queue line and headline take over."""
            if not token:
                return NO_VISITOR
            try:
                submit(request, token, *values)
            except REFUSALS as err:
                return refusal(err)
            return ""

        def stop(token: str | None) -> str:
            if token:
                self.queue.stop(token)
            return ""

        panel = [self.start, self.stop, self.queue_line, self.timer]
        poll_event = {
            "fn": poll,
            "inputs": [self.visitor, self.seen],
            "outputs": [*panel, self.seen, *outputs],
            "api_visibility": "private",
        }
        self.timer.tick(**poll_event, show_progress="hidden", concurrency_limit=None)
        started = self.start.click(start, [self.visitor, *inputs], self.message, api_visibility="private")
        started.then(**poll_event).then(fn=None, js=self._scroll_js(), api_visibility="private")
        self.stop.click(stop, self.visitor, self.message, api_visibility="private").then(**poll_event)
