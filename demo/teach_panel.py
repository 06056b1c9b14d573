"""Under the Predict tab's answer: "Wrong? It was:", a guided round, and "Forget my handwriting".

Wiring only. A correction hands the drawing the server already has (the tab's `received`
state: the pad is not read again) and its digit to `demo.state.VisitorHandwriting.teach`, which
adapts this visitor's model (`mnistsum.handwriting`); the answer is then given again by the
adapted model. Everything stays in memory, under the visitor's token.
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
from mnistsum.preprocess import preprocess

from .handwriting import VisitorHandwriting
from .state import REFUSALS, refusal

ROUND = tuple(d for d in range(NUM_DIGITS) for _ in range(2))  # the guided round asks for each digit twice
TEACH_CONCURRENCY = 2
NOTHING_DRAWN = "⚠️ Nothing is drawn: draw the digit on the pad first, then press the button."
Answer = Callable[[Any, np.ndarray | None, int], dict[str, Any]]  # `predict_tab.page_answer`


class Taught(NamedTuple):
    """What every button of the panel returns, in the order of the events' outputs."""

    answer: Any  # the answer view's value, or gr.skip() to leave it
    status: str


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


def correct(
    handwriting: VisitorHandwriting, answer: Answer, digit: int, image: np.ndarray | None, n: int, token: str | None
) -> Taught:
    """ "It was <digit>": learn this drawing as `digit`, then answer again with the adapted model."""
    if image is None:
        return Taught(gr.skip(), NOTHING_DRAWN)
    try:
        held = handwriting.teach(token, [image], [digit])
    except BlankDrawingError:  # erased: the pad sends a white picture
        return Taught(gr.skip(), NOTHING_DRAWN)
    except REFUSALS as err:
        return Taught(gr.skip(), refusal(err))
    note = "" if len(held) > 1 else " If you switch models in the Train tab, your drawings are learned again on it."
    return Taught(answer(handwriting.for_visitor(token), image, n), f"✅ {held.summary()}{note}")


def forget(
    handwriting: VisitorHandwriting, answer: Answer, image: np.ndarray | None, n: int, token: str | None
) -> Taught:
    """Back to the model the visitor had, and answer again with it."""
    handwriting.forget(token)
    served = handwriting.for_visitor(token)
    return Taught(answer(served, image, n), f"✅ Forgot your drawings: back to {served.source}.")


def details_for(handwriting: VisitorHandwriting, token: str | None) -> str:
    """The details panel after a lesson: asked for once the answer is shown, since measuring
    what it cost on MNIST reads a thousand images the first time a model is adapted."""
    return details_html(handwriting.current(token))


def round_prompt(step: int) -> str:
    return f"✍️ Draw a **{ROUND[step]}** ({step + 1} of {len(ROUND)}), then press **Keep this drawing**."


def start_round() -> tuple[dict[str, Any], str, str, Any, Any]:
    """A fresh round: (its state, the prompt, an empty pad, the round's buttons shown)."""
    return {"step": 0, "drawings": []}, round_prompt(0), "", gr.update(visible=True), gr.update(visible=True)


def keep_drawing(
    handwriting: VisitorHandwriting,
    answer: Answer,
    state: dict[str, Any] | None,
    image: np.ndarray | None,
    n: int,
    token: str | None,
) -> tuple[Any, ...]:
    """Keep the drawing for the digit asked; after the last one, adapt once to all of them.
    Returns (round state, prompt, pad, keep button, stop button, answer, status)."""
    skip = (gr.skip(),) * 4
    if not state or "step" not in state:
        return (None, "⚠️ No round is running: press **Teach it my handwriting**.", gr.skip(), *skip)
    step = state["step"]
    if image is None or preprocess(image).blank:
        return (state, f"{NOTHING_DRAWN}\n\n{round_prompt(step)}", gr.skip(), *skip)
    drawings = [*state["drawings"], image]
    if len(drawings) < len(ROUND):
        return ({"step": step + 1, "drawings": drawings}, round_prompt(step + 1), "", *skip)
    hide = gr.update(visible=False)
    try:
        held = handwriting.teach(token, drawings, list(ROUND))
    except REFUSALS as err:  # a blank or unreadable drawing: say which, and keep the round to redo
        return (state, f"{refusal(err)}\n\n{round_prompt(step)}", gr.skip(), *skip)
    done = f"🎉 Round done. {held.summary()} Draw any digit to try it."
    return (None, done, "", hide, hide, answer(handwriting.for_visitor(token), None, n), done)


def stop_round() -> tuple[None, str, Any, Any]:
    hide = gr.update(visible=False)
    return None, "Round stopped: nothing from it was learned.", hide, hide


def build_teach_panel(
    handwriting: VisitorHandwriting,
    answer: Answer,
    visitor: gr.State,
    pad: gr.components.Component,
    received: gr.State,
    n: gr.Slider,
    shown: gr.components.Component,
) -> list[Any]:
    """The buttons under the answer and their wiring; returns the events that change the answer
    (the caller re-applies the slider's n to each)."""
    private = {"api_visibility": "private", "show_progress": "hidden"}
    # One adaptation is CPU-bound for under a second: a few at once across all visitors, the rest queue.
    lesson = {**private, "concurrency_id": "teach", "concurrency_limit": TEACH_CONCURRENCY}
    with gr.Group(elem_id="teach"):
        gr.Markdown("**Wrong? It was:**")
        with gr.Row(elem_id="it-was"):
            buttons = [gr.Button(f"It was {d}", size="sm", min_width=60) for d in range(NUM_DIGITS)]
        with gr.Row():
            start = gr.Button("Teach it my handwriting", size="sm")
            forget_button = gr.Button("Forget my handwriting", size="sm")
        prompt = gr.Markdown(elem_id="teach-prompt")
        with gr.Row():
            keep = gr.Button("Keep this drawing", variant="primary", size="sm", visible=False)
            stop = gr.Button("Stop the round", size="sm", visible=False)
        status = gr.Markdown(elem_id="teach-status")
    with gr.Accordion("What it learned from your handwriting, and what that cost", open=False):
        details = gr.HTML(details_html(None), elem_id="teach-details")
    round_state = gr.State(None)
    outputs = [shown, status]
    events = [
        button.click(functools.partial(correct, handwriting, answer, d), [received, n, visitor], outputs, **lesson)
        for d, button in enumerate(buttons)
    ]
    events.append(
        forget_button.click(functools.partial(forget, handwriting, answer), [received, n, visitor], outputs, **lesson)
    )
    start.click(start_round, None, [round_state, prompt, pad, keep, stop], **private)
    events.append(
        keep.click(
            functools.partial(keep_drawing, handwriting, answer),
            [round_state, received, n, visitor],
            [round_state, prompt, pad, keep, stop, *outputs],
            **lesson,
        )
    )
    stop.click(stop_round, None, [round_state, prompt, keep, stop], **private)
    for event in events:  # the answer first; then what it learned and what that cost
        event.then(functools.partial(details_for, handwriting), visitor, details, **private)
    return events
