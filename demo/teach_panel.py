"""Beside the Predict tab's answer: "Wrong? It was:", "Did you mean 1 or 7?", Undo, and "Forget my handwriting".

Wiring only. A correction hands the drawing the server already has (the tab's `received`
state: the pad is not read again), its digit and the visitor's stored record (the page's
`HandwritingStore`, from their browser) to `VisitorHandwriting.teach`, which fits the last layer
once (`mnistsum.handwriting`); the answer is given again with the new layer, and the new record
goes back to the browser. The server keeps none of it.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from typing import Any, NamedTuple

import gradio as gr
import numpy as np

from mnistsum import render
from mnistsum.handwriting import Handwriting, forgetting, forgetting_set
from mnistsum.model import NUM_DIGITS
from mnistsum.payload import png_data_url
from mnistsum.predictor import BlankDrawingError

from .handwriting import HandwritingStore, VisitorHandwriting, record_text
from .state import REFUSALS, refusal
from .teach_round import START_JS, TeachRound, on_submit

TEACH_CONCURRENCY = 2
NOTHING_DRAWN = "⚠️ Nothing is drawn: draw the digit on the pad first, then press the button."
Answer = Callable[[Any, np.ndarray | None, int], dict[str, Any]]  # `predict_tab.page_answer`
HIDE = {"visible": False}


class Taught(NamedTuple):
    """What every correction returns, in the order of the events' outputs."""

    answer: Any  # the answer view's value, or gr.skip() to leave it
    status: str
    store: Any  # the record's JSON text for the browser ("" for none), or gr.skip()
    undo: Any  # the Undo button: its label and whether it shows


def refused(status: str) -> Taught:
    return Taught(gr.skip(), status, gr.skip(), gr.skip())


def details_html(held: Handwriting | None) -> str:
    """The drawings the model learned from, and MNIST validation accuracy before and after."""
    if held is None or not held.digits:
        return "<p>No drawings taught yet: the model is the one it was.</p>"
    figures = "".join(
        f'<figure><img alt="a {d} you taught" src="{png_data_url(render.to_uint8(image))}"><figcaption>{d}'
        "</figcaption></figure>"
        for image, d in zip(held.inputs, held.digits)
    )
    images = forgetting_set(held.data_dir)
    measured = forgetting(held, images)
    if measured is None:
        cost = "MNIST is not in the data folder, so what adapting cost on MNIST is not measured here."
    else:
        before, after = measured
        cost = (
            f"MNIST validation digits ({len(images):,}), what adapting cost: <strong>{before:.1%}</strong> before, "
            f"<strong>{after:.1%}</strong> after ({100 * (after - before):+.1f} points)."
        )
    return (
        f"<p>{html.escape(held.summary())} Only the last layer of the digit head changed; the sum head reads it "
        f'as before.</p><div class="taught">{figures}</div><p>{cost}</p>'
    )


def _answered(handwriting: VisitorHandwriting, answer: Answer, held: Handwriting | None, image, n, token) -> Any:
    text = record_text(held)
    return answer(handwriting.for_visitor(token, text), image, n), text


def correct(
    handwriting: VisitorHandwriting,
    answer: Answer,
    digit: int,
    image: np.ndarray | None,
    n: int,
    token: str | None,
    stored: str | None,
) -> Taught:
    """ "It was <digit>": learn this drawing as `digit`, answer again with the new layer, and say
    what changed, with a one-tap Undo."""
    if image is None:
        return refused(NOTHING_DRAWN)
    served = handwriting.for_visitor(token, stored)
    if served.predictor is None:
        return refused(f"⚠️ No model is loaded. {served.error}")
    try:
        before = served.predictor.predict(image, 0).digit
        held = handwriting.teach(token, stored, [image], [digit])
    except BlankDrawingError:  # erased: the pad sends a white picture
        return refused(NOTHING_DRAWN)
    except REFUSALS as err:
        return refused(refusal(err))
    shown, text = _answered(handwriting, answer, held, image, n, token)
    shown = {**shown, "corrected": True}  # the visitor said what this drawing is: no "Did you mean" about it
    change = f"it read {before}, now drawings like it read {digit}" if before != digit else f"it read {digit} already"
    status = f"✅ Taught this drawing as a **{digit}** ({change}). {held.summary()}"
    return Taught(shown, status, text, gr.update(value=f"Undo: that was not a {digit}", visible=True))


def remove(
    handwriting: VisitorHandwriting,
    answer: Answer,
    index: int | None,
    image: np.ndarray | None,
    n: int,
    token: str | None,
    stored: str | None,
) -> Taught:
    """Take one taught drawing back (`index`; None: the last one taught, which Undo means)."""
    try:
        held = handwriting.held(token, stored)
        if held is None or not held.digits:
            return refused("Nothing is taught: there is nothing to undo.")
        index = len(held) - 1 if index is None else int(index)
        digit = held.digits[index] if 0 <= index < len(held) else None
        held = held.without(index)
    except REFUSALS as err:
        return refused(refusal(err))
    shown, text = _answered(handwriting, answer, held, image, n, token)
    status = f"↩️ Removed: that drawing is no longer taught as a {digit}. {held.summary()}"
    return Taught(shown if image is not None else gr.skip(), status, text, gr.update(**HIDE))


def removed_by_click(handwriting: VisitorHandwriting, answer: Answer, image, n, token, stored, evt: gr.EventData):
    """A drawing's × in the store's list: the page sends its index."""
    index = getattr(evt, "_data", None) or {}
    if not isinstance(index.get("remove"), int):
        return refused("⚠️ Which drawing to remove was not said.")
    return remove(handwriting, answer, index["remove"], image, n, token, stored)


def forget(
    handwriting: VisitorHandwriting, answer: Answer, image: np.ndarray | None, n: int, token: str | None
) -> Taught:
    """Back to the model the visitor had, in this browser too, and answer again with it."""
    served = handwriting.for_visitor(token)
    status = f"✅ Forgot your handwriting, here and in this browser: back to {served.source}."
    return Taught(answer(served, image, n), status, "", gr.update(**HIDE))


def check_stored(handwriting: VisitorHandwriting, token: str | None, evt: gr.EventData) -> tuple[str, str]:
    """At page load, the record the browser kept: back to the page if it passes the check, else
    dropped (the store empties, and localStorage with it) with a one-line note."""
    stored = (getattr(evt, "_data", None) or {}).get("stored") or ""
    if not stored:
        return "", ""
    try:
        handwriting.held(token, stored, relearn=False)
    except ValueError as err:
        return "", f"⚠️ Your stored handwriting was dropped: {err}"
    return stored, ""


def details_for(handwriting: VisitorHandwriting, token: str | None, stored: str | None) -> str:
    """The details panel after a lesson: asked for once the answer is shown, since measuring
    what it cost on MNIST reads a thousand images the first time a model is adapted."""
    try:
        return details_html(handwriting.held(token, stored))
    except ValueError:
        return details_html(None)


def meant_by_click(handwriting: VisitorHandwriting, answer: Answer, image, n, token, stored, evt: gr.EventData):
    """A tap on "Did you mean 1 or 7?" (the answer view sends `{"meant": digit}`): "It was <digit>"."""
    meant = (getattr(evt, "_data", None) or {}).get("meant")
    if not isinstance(meant, int) or isinstance(meant, bool) or not 0 <= meant < NUM_DIGITS:
        return refused("⚠️ Which digit you meant was not said.")
    return correct(handwriting, answer, meant, image, n, token, stored)


def _event_handlers(handwriting: VisitorHandwriting, answer: Answer) -> tuple[Callable, Callable, Callable]:
    """`removed_by_click`, `check_stored` and `meant_by_click` bound to the app, as functions: Gradio passes
    the event's data only to a parameter it can see typed gr.EventData, which it cannot in a partial."""

    def on_remove(image: np.ndarray | None, n: int, token: str | None, stored: str | None, evt: gr.EventData) -> Taught:
        return removed_by_click(handwriting, answer, image, n, token, stored, evt)

    def on_load(token: str | None, evt: gr.EventData) -> tuple[str, str]:
        return check_stored(handwriting, token, evt)

    def on_meant(image: np.ndarray | None, n: int, token: str | None, stored: str | None, evt: gr.EventData) -> Taught:
        return meant_by_click(handwriting, answer, image, n, token, stored, evt)

    return on_remove, on_load, on_meant


def build_teach_panel(
    handwriting: VisitorHandwriting,
    answer: Answer,
    visitor: gr.State,
    received: Any,
    n: gr.Slider,
    shown: Any,
    round_view: TeachRound,
) -> tuple[list[Any], HandwritingStore]:
    """The correction panel (hidden by the page's CSS while the answer is blank), then the answer view
    `shown` (created with render=False; its "Did you mean" row teaches too), the visitor's stored
    handwriting, and their wiring, with the round's end (`round_view`, under the pad); returns
    (the events that change the answer, the store)."""
    private = {"api_visibility": "private", "show_progress": "hidden"}
    # One adaptation is CPU-bound for under a second: a few at once across all visitors, the rest queue.
    lesson = {**private, "concurrency_id": "teach", "concurrency_limit": TEACH_CONCURRENCY}
    with gr.Column(elem_id="teach", variant="panel"):
        gr.Markdown("**Wrong? It was:**")
        with gr.Row(elem_id="it-was"):
            buttons = [gr.Button(f"It was {d}", size="sm", min_width=44) for d in range(NUM_DIGITS)]
    with gr.Row(elem_id="teach-feedback"):  # outside the panel: a note at load shows before any answer
        status = gr.Markdown(elem_id="teach-status")
        undo = gr.Button("Undo", visible=False, size="sm", elem_id="teach-undo", scale=0, min_width=44)
    shown.render()  # the answer, right under its correction panel
    store = HandwritingStore()
    with gr.Row():
        start = gr.Button("Teach it my handwriting", size="sm", elem_id="teach-start")
        forget_button = gr.Button("Forget my handwriting", size="sm")
    with gr.Accordion("What it learned from your handwriting, and what that cost", open=False):
        details = gr.HTML(details_html(None), elem_id="teach-details")
    inputs, outputs = [received, n, visitor, store], [shown, status, store, undo]
    events = [
        button.click(functools.partial(correct, handwriting, answer, d), inputs, outputs, **lesson)
        for d, button in enumerate(buttons)
    ]
    events.append(undo.click(functools.partial(remove, handwriting, answer, None), inputs, outputs, **lesson))
    on_remove, on_load, on_meant = _event_handlers(handwriting, answer)
    events.append(store.click(on_remove, inputs, outputs, **lesson))
    events.append(shown.click(on_meant, inputs, outputs, **lesson))  # "Did you mean 1 or 7?"
    events.append(forget_button.click(functools.partial(forget, handwriting, answer), inputs[:3], outputs, **lesson))
    store.submit(on_load, visitor, [store, status], **private)
    start.click(fn=None, js=START_JS)  # the round runs in the page until it ends
    events.append(round_view.submit(on_submit(handwriting, answer), inputs, [*outputs, round_view], **lesson))
    for event in events:  # the answer first; then what it learned and what that cost
        event.then(functools.partial(details_for, handwriting), [visitor, store], details, **private)
    return events, store
