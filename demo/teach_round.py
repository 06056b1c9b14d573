""" "Teach it your hand": a round that asks for each digit 0-9 once, and its link in the Learn tab.

Wiring only. The round runs in the page (`demo/static/teach_round.js`, under the pad): which
digit is asked, the drawings kept so far, skipped ones; all of it in the visitor's localStorage,
so a reload resumes the round where it was. The server sees the drawings once, when the round
ends (the component's `submit`): it reads them with the visitor's model, fits the last layer to
them through `VisitorHandwriting.teach` (the path "It was N" takes, into the same record), reads
them again (`mnistsum.teaching`), and sends back the new record for the page's store and one
line, "before: 8 of 10 read right, after: 10 of 10". It keeps none of it.

The round is offered once, on a first visit (a small line under the pad; the "offered" flag
kept in the browser), and is always reachable from **Teach it my handwriting** and the Learn tab.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np

from mnistsum.teaching import RoundResult, UnusableDrawing, read_all, read_round

from .handwriting import STORAGE_KEY, VisitorHandwriting, record_text
from .state import REFUSALS, refusal

ROUND_KEY = "mnistsum-round"  # localStorage: the round in progress (digit asked, drawings kept, skipped)
OFFERED_KEY = "mnistsum-round-offered"  # localStorage: the first-visit offer was shown
START_JS = "() => { if (window.mnistsumRound) window.mnistsumRound.start(); }"
STATIC = Path(__file__).resolve().parent / "static"


class RoundDone(NamedTuple):
    """What the end of a round returns, in the order of the event's outputs."""

    answer: Any
    status: Any
    store: Any
    undo: Any
    round: dict[str, Any]  # the round view's value: {"done": ...}, or {"redo": digit, "message": ...}


class TeachRound(gr.HTML):
    """The round under the pad: the first-visit offer, the digit asked with a chip per digit
    (tap one to redo it), Keep / Skip / Finish now / Stop, and the before-and-after line.
    Its value is set by the server only when a round ends; `submit` sends the round to it."""

    def __init__(self, elem_id: str = "teach-round", **kwargs: Any) -> None:
        keys = {"key": ROUND_KEY, "offered": OFFERED_KEY, "handwriting": STORAGE_KEY}
        data = " ".join(f'data-{name}="{html.escape(value)}"' for name, value in keys.items())
        super().__init__(
            value=None,
            html_template=f'<div class="teach-round" {data} aria-live="polite"></div>',
            js_on_load=(STATIC / "teach_round.js").read_text(encoding="utf-8"),
            apply_default_css=False,
            elem_id=elem_id,
            **kwargs,
        )

    def postprocess(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value

    def api_info(self) -> dict[str, Any]:
        return {"type": "object", "description": "the end of a round: {done: before/after} or {redo, message}"}

    def example_payload(self) -> Any:
        return None

    def example_value(self) -> Any:
        return None


def _told(**fields: Any) -> dict[str, Any]:
    return {**fields, "at": time.time()}  # a new value each time, so the page hears a repeat too


def finish_round(
    handwriting: VisitorHandwriting,
    answer: Any,
    image: np.ndarray | None,
    n: int,
    token: str | None,
    stored: str | None,
    sent: Any,
) -> RoundDone:
    """The round's drawings (`sent`, as the page sends them) read by the visitor's model, taught
    into their record in one fit, and read again; a drawing that cannot be read is asked again."""
    skip = gr.skip()
    try:
        drawings, digits = read_round(sent)
        served = handwriting.for_visitor(token, stored)
        if served.predictor is None:
            raise ValueError(f"No model is loaded. {served.error}")
        before = read_all(served.predictor, drawings, digits)
        held = handwriting.teach(token, stored, drawings, digits)
        result = RoundResult(tuple(digits), before, read_all(held.model, drawings, digits))
    except UnusableDrawing as err:
        return RoundDone(skip, skip, skip, skip, _told(redo=err.digit, message=f"⚠️ {err}: draw it again."))
    except REFUSALS as err:
        return RoundDone(skip, skip, skip, skip, _told(message=refusal(err)))
    text = record_text(held)
    shown = answer(handwriting.for_visitor(token, text), image, n)
    done = {**result.as_dict(), "misread": result.misread(), "taught": len(held)}
    # the round's line is the only place it is told: the correction's status line is emptied
    return RoundDone(shown, "", text, gr.update(visible=False), _told(done=done))


def on_submit(handwriting: VisitorHandwriting, answer: Any) -> Any:
    """`finish_round` as an event handler: Gradio hands the round (the event's data) only to a
    parameter it can see typed `gr.EventData`, which it cannot through a partial."""

    def finished(image: np.ndarray | None, n: int, token: str | None, stored: str | None, evt: gr.EventData):
        return finish_round(handwriting, answer, image, n, token, stored, getattr(evt, "_data", None))

    return finished


def build_round_link(tabs: gr.Tabs) -> None:
    """In the Learn tab: the round as the lesson's fine-tuning step, one tap away."""
    gr.Markdown(
        "### Fine-tuning: teach it your hand (30 seconds)\n"
        "Draw each digit 0–9 once on the Predict tab. Only the last layer of the digit head learns your drawings "
        "(MNIST images are replayed beside them, so it keeps what it knew); you see how many of your drawings "
        "it read right before and after. Your drawings stay in this browser."
    )
    link = gr.Button("Teach it your hand", size="sm", elem_id="learn-teach-round")
    private = {"api_visibility": "private", "show_progress": "hidden"}
    link.click(lambda: gr.Tabs(selected="predict"), None, tabs, **private).then(fn=None, js=START_JS)
