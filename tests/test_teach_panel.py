"""The Predict tab's "Wrong? It was:" panel: callbacks called directly, per-visitor memory, and the wiring."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from conftest import free_port
from test_adapt import flagged_one
from test_predict_tab import predict_tab_alone

from demo.app import build_app, launch
from demo.handwriting import VisitorHandwriting
from demo.make_examples import draw_digit
from demo.predict_tab import page_answer, predict_for_visitor, predict_json
from demo.state import AppState, ModelSlot, VisitorModels
from demo.teach_panel import (
    NOTHING_DRAWN,
    ROUND,
    TEACH_CONCURRENCY,
    correct,
    details_for,
    details_html,
    forget,
    keep_drawing,
    start_round,
    stop_round,
)
from mnistsum import adapt
from mnistsum.checkpoint import save_checkpoint
from mnistsum.payload import png_data_url

A, B = "visitor-a-0123456789", "visitor-b-0123456789"


@pytest.fixture(scope="module")
def slot() -> ModelSlot:
    slot = ModelSlot()
    assert slot.predictor is not None, slot.error
    return slot


@pytest.fixture
def handwriting(slot: ModelSlot, tmp_path: Path) -> VisitorHandwriting:
    return VisitorHandwriting(VisitorModels(slot, tmp_path / "models"), capacity=4)


def digit_for(handwriting: VisitorHandwriting, image: np.ndarray, token: str | None) -> int:
    return predict_for_visitor(handwriting, png_data_url(image), 0, token=token).answer["digit"]


def test_a_correction_adapts_this_visitors_model_only(handwriting: VisitorHandwriting, mnist_dir: Path) -> None:
    """Needs MNIST (`mnist_dir`): the details measure forgetting on its validation images."""
    similar = flagged_one((0.31, 0.31), 0.49)
    assert digit_for(handwriting, similar, A) == 7  # the shipped answer
    shown, status = correct(handwriting, page_answer, 1, flagged_one(), 3, A)
    details = details_for(handwriting, A)  # asked for once the answer is shown
    assert (shown["digit"], shown["sum"], shown["adapted"]) == (1, 4, 1)  # answered again, by the adapted model
    assert "Adapted to 1 of your drawings (1)" in status and "learned again" in status
    assert details.count("<img") == 1 and "MNIST validation digits" in details
    assert digit_for(handwriting, similar, A) == 1  # a similar drawing now reads as 1
    assert digit_for(handwriting, similar, B) == 7  # another visitor keeps the shipped answer
    assert digit_for(handwriting, similar, None) == 7  # and so does an API caller of /predict
    assert predict_json(handwriting.default, similar, 0)["digit"] == 7  # and of /predict_json
    shown, status = forget(handwriting, page_answer, similar, 0, A)
    details = details_for(handwriting, A)
    assert shown["digit"] == 7 and shown["adapted"] == 0 and "Forgot your drawings" in status
    assert digit_for(handwriting, similar, A) == 7 and "No drawings taught yet" in details


def test_a_correction_equal_to_the_answer_is_kept(handwriting: VisitorHandwriting) -> None:
    shown, status = correct(handwriting, page_answer, 7, draw_digit(7), 0, A)
    assert shown["digit"] == 7 and "Adapted to 1 of your drawings (7)" in status


def test_a_blank_pad_is_a_clear_message_and_nothing_is_lost(handwriting: VisitorHandwriting) -> None:
    correct(handwriting, page_answer, 1, flagged_one(), 0, A)
    shown, status = correct(handwriting, page_answer, 1, None, 0, A)
    assert status == NOTHING_DRAWN and shown == gr.skip()  # the answer stays
    _, status = correct(handwriting, page_answer, 1, np.full((280, 280), 255, np.uint8), 0, A)  # erased
    assert status == NOTHING_DRAWN
    assert len(handwriting.current(A)) == 1  # the earlier correction is still there


def test_no_token_or_no_model_is_a_clear_message(handwriting: VisitorHandwriting, tmp_path: Path) -> None:
    _, status = correct(handwriting, page_answer, 1, flagged_one(), 0, None)
    assert "no visitor token: reload the page" in status
    empty = VisitorHandwriting(VisitorModels(ModelSlot(tmp_path / "missing.pt"), tmp_path / "m"))
    _, status = correct(empty, page_answer, 1, flagged_one(), 0, A)
    assert "No model is loaded" in status


def test_a_hundred_corrections_keep_the_latest_and_say_so(slot: ModelSlot, tmp_path: Path) -> None:
    handwriting = VisitorHandwriting(VisitorModels(slot, tmp_path / "models"), keep=40)
    drawings = [draw_digit(d, pen=12 + 2 * i) for d in range(10) for i in range(10)]  # ten pens per digit
    held = handwriting.teach(A, drawings, [d for d in range(10) for _ in range(10)])
    assert (
        len(held) == 40
        and held.let_go == 60
        and "The latest 40 are kept: 60 older one(s) were let go" in held.summary()
    )
    _, status = correct(handwriting, page_answer, 9, flagged_one(), 0, A)
    assert "Adapted to 40 of your drawings" in status and "61 older" in status


def test_two_quick_clicks_are_both_learned(handwriting: VisitorHandwriting) -> None:
    results = []
    clicks = [
        threading.Thread(target=lambda d=d: results.append(handwriting.teach(A, [draw_digit(d)], [d]))) for d in (4, 5)
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    assert sorted(handwriting.current(A).digits) == [4, 5] and len(results) == 2


def test_the_same_drawing_clicked_twice_is_one_example(handwriting: VisitorHandwriting) -> None:
    correct(handwriting, page_answer, 7, flagged_one(), 0, A)
    correct(handwriting, page_answer, 1, flagged_one(), 0, A)  # changed their mind: it was a 1
    assert handwriting.current(A).digits == (1,)


def test_a_new_model_of_the_visitor_gets_the_drawings_again(handwriting: VisitorHandwriting, slot: ModelSlot) -> None:
    """A training run that finishes and is used (or a reloaded model) replaces the base: the drawings follow."""
    correct(handwriting, page_answer, 1, flagged_one(), 0, A)
    save_checkpoint(handwriting.models.path_for(A), slot.predictor.model, {"source": "your trained model"})
    mine = handwriting.models.reload(A)  # what "Use these weights" / "Reload my model" do
    served = handwriting.for_visitor(A)
    assert served.predictor.meta["adapted"]["drawings"] == 1
    assert served.predictor.model.backbone[0] is mine.predictor.model.backbone[0]  # adapted on top of it
    assert digit_for(handwriting, flagged_one((0.31, 0.31), 0.49), A) == 1
    handwriting.models.reset(A)  # back to the shipped model: still their handwriting
    assert handwriting.for_visitor(A).predictor.model.backbone[0] is slot.predictor.model.backbone[0]
    assert handwriting.current(A).digits == (1,)


def test_a_visitor_dropped_from_memory_is_told(slot: ModelSlot, tmp_path: Path, monkeypatch) -> None:
    handwriting = VisitorHandwriting(VisitorModels(slot, tmp_path / "models"), capacity=1)
    handwriting.teach(A, [flagged_one()], [1])
    monkeypatch.setattr("demo.handwriting.IDLE_S", 0)  # A has been idle long enough to make room
    handwriting.teach(B, [flagged_one()], [1])
    served = handwriting.for_visitor(A)
    assert "your handwriting was dropped from memory" in served.source and served.notice
    assert digit_for(handwriting, flagged_one((0.31, 0.31), 0.49), A) == 7  # served by the model they had
    handwriting.teach(A, [flagged_one()], [1])  # teaching again works
    assert "dropped" not in handwriting.for_visitor(A).source


def test_the_guided_round_asks_each_digit_twice_and_adapts_once(handwriting: VisitorHandwriting, monkeypatch) -> None:
    lessons = []
    teach = handwriting.teach
    monkeypatch.setattr(handwriting, "teach", lambda *a: lessons.append(a[2]) or teach(*a))
    state, prompt, pad, keep, stop = start_round()
    assert "Draw a **0** (1 of 20)" in prompt and pad == "" and keep["visible"] and stop["visible"]
    assert ROUND == tuple(d for d in range(10) for _ in range(2))
    for blank in (None, np.full((280, 280), 255, np.uint8)):  # nothing drawn, or erased: asked again
        out = keep_drawing(handwriting, page_answer, state, blank, 0, A)
        assert out[0] is state and NOTHING_DRAWN in out[1] and "Draw a **0** (1 of 20)" in out[1]
    for step, digit in enumerate(ROUND):
        assert f"Draw a **{digit}** ({step + 1} of 20)" in out[1] or step == 0
        out = keep_drawing(handwriting, page_answer, state, draw_digit(digit, pen=18 + 4 * (step % 2)), 0, A)
        state = out[0]
        assert lessons == [] or step == len(ROUND) - 1
    assert state is None and "Round done" in out[1] and "Adapted to 20 of your drawings" in out[6]
    assert lessons == [list(ROUND)]  # one adaptation, at the end
    assert out[3]["visible"] is False and details_for(handwriting, A).count("<img") == 20
    assert stop_round()[0] is None and "nothing from it was learned" in stop_round()[1]
    assert "No round is running" in keep_drawing(handwriting, page_answer, None, draw_digit(1), 0, A)[1]


def test_details_without_a_lesson(handwriting: VisitorHandwriting) -> None:
    assert "No drawings taught yet" in details_html(None)


def test_the_panel_is_wired_to_the_drawing_the_server_has(slot: ModelSlot, tmp_path: Path) -> None:
    demo = predict_tab_alone(slot, tmp_path)
    buttons = {b.value: b for b in demo.blocks.values() if isinstance(b, gr.Button)}
    for name in [*(f"It was {d}" for d in range(10)), "Forget my handwriting", "Teach it my handwriting"]:
        assert name in buttons, name
    [predict_dep] = [d for d in demo.fns.values() if d.api_name == "predict"]
    received = predict_dep.inputs[0]  # the pad: its value is the drawing, decoded when a button reads it
    for d in range(10):
        [dep] = [
            x for x in demo.fns.values() if (buttons[f"It was {d}"]._id, "click") in [(t[0], t[1]) for t in x.targets]
        ]
        assert dep.fn.func is correct and dep.fn.args[-1] == d
        assert [b._id for b in dep.inputs] == [received._id, dep.inputs[1]._id, demo.visitor._id]
        assert dep.api_visibility == "private"  # not an API endpoint: API callers are not affected
        assert dep.concurrency_id == "teach" and dep.concurrency_limit == TEACH_CONCURRENCY
    public = sorted(d.api_name for d in demo.fns.values() if d.api_visibility == "public")
    assert public == ["predict", "predict_json"]


def test_launching_starts_the_warm_up_before_any_page_loads(tmp_path: Path, mnist_dir: Path) -> None:
    """The first correction on a fresh server must not wait for MNIST and the replay features:
    `launch` computes them in the background before anyone opens the page."""
    state = AppState(slot=ModelSlot(), state_dir=tmp_path)
    demo = build_app(data_dir=mnist_dir, state=state)
    model = state.slot.predictor.model
    assert state.handwriting._warmed is None and model not in adapt._REPLAY  # building the app starts nothing
    launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        assert state.handwriting._warmed is state.slot.predictor
        deadline = time.monotonic() + 300  # a generous wait for a background job, not a speed check
        while len(adapt._REPLAY.get(model, {})) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(adapt._REPLAY.get(model, {})) == 2  # the replay and the forgetting features, computed unasked
    finally:
        demo.close()
        state.queue.close()


def test_a_script_cannot_push_out_a_class_handwriting(slot: ModelSlot, tmp_path: Path) -> None:
    handwriting = VisitorHandwriting(VisitorModels(slot, tmp_path / "models"), capacity=2)
    handwriting.teach(A, [flagged_one()], [1])
    handwriting.teach(B, [flagged_one()], [1])
    for k in range(4):  # scripted "It was 1" calls with fresh tokens
        with pytest.raises(ValueError, match="holds 2 visitors' handwriting, all taught in the last 15 minutes"):
            handwriting.teach(f"script-token-{k:06d}", [flagged_one()], [1])
    assert "dropped" not in handwriting.for_visitor(A).source and "dropped" not in handwriting.for_visitor(B).source
