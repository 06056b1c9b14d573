"""The Predict tab's "Wrong? It was:" panel: callbacks called directly, per-visitor memory, and the wiring."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from conftest import free_port
from test_adapt import flagged_one
from test_predict_tab import predict_tab_alone

from demo.app import build_app, launch
from demo.handwriting import HandwritingStore, VisitorHandwriting, record_text
from demo.make_examples import draw_digit
from demo.predict_tab import page_answer, predict_for_visitor, predict_json
from demo.state import AppState, ModelSlot, VisitorModels
from demo.teach_panel import (
    NOTHING_DRAWN,
    TEACH_CONCURRENCY,
    check_stored,
    correct,
    details_for,
    details_html,
    forget,
    remove,
    removed_by_click,
)
from mnistsum import lastlayer
from mnistsum.checkpoint import save_checkpoint
from mnistsum.payload import png_data_url

A, B = "visitor-a-0123456789", "visitor-b-0123456789"


def digit_for(handwriting: VisitorHandwriting, image: np.ndarray, token: str | None, stored: str | None = None) -> int:
    return predict_for_visitor(handwriting, png_data_url(image), 0, token=token, stored=stored).answer["digit"]


class Event:
    """What Gradio hands a handler as gr.EventData: the page's data in `_data`."""

    def __init__(self, **data: object) -> None:
        self._data = data


def test_a_correction_goes_back_to_the_browser_and_the_server_keeps_nothing(
    handwriting: VisitorHandwriting, mnist_dir: Path
) -> None:
    """Needs MNIST (`mnist_dir`): the details measure forgetting on its validation images."""
    similar = flagged_one((0.31, 0.31), 0.49)
    assert digit_for(handwriting, similar, A) == 7  # the shipped answer
    shown, status, stored, undo = correct(handwriting, page_answer, 1, flagged_one(), 3, A, "")
    assert (shown["digit"], shown["sum"], shown["adapted"]) == (1, 4, 1)  # answered again, with the new layer
    assert "Taught this drawing as a **1** (it read 7" in status and undo["value"] == "Undo: that was not a 1"
    record = json.loads(stored)
    assert record["params"]["digits"] == [1] and len(record["drawings"]) == 1
    details = details_for(handwriting, A, stored)
    assert details.count("<img") == 1 and "MNIST validation digits" in details
    assert digit_for(handwriting, similar, A, stored) == 1  # a similar drawing, with the stored record: 1
    assert digit_for(handwriting, similar, A) == 7  # without it (the server kept nothing): the shipped answer
    assert digit_for(handwriting, similar, B) == 7  # another visitor
    assert predict_json(handwriting.default, similar, 0)["digit"] == 7  # and /predict_json
    assert not vars(handwriting).keys() - {"models", "keep", "data_dir", "_warmed"}  # nothing per visitor
    shown, status, stored, undo = forget(handwriting, page_answer, similar, 0, A)
    assert shown["digit"] == 7 and shown["adapted"] == 0 and "Forgot your handwriting" in status and stored == ""
    assert "No drawings taught yet" in details_for(handwriting, A, stored)


def test_undo_and_remove_take_a_drawing_back(handwriting: VisitorHandwriting) -> None:
    similar = flagged_one((0.31, 0.31), 0.49)
    _, _, one, _ = correct(handwriting, page_answer, 4, draw_digit(4), 0, A, "")
    _, _, two, _ = correct(handwriting, page_answer, 1, similar, 0, A, one)  # a mis-click, say
    assert json.loads(two)["params"]["digits"] == [4, 1]
    shown, status, undone, undo = remove(handwriting, page_answer, None, similar, 0, A, two)  # Undo: the last one
    assert shown["digit"] == 7 and "no longer taught as a 1" in status and undo["visible"] is False
    assert json.loads(undone)["params"] == json.loads(one)["params"]  # exactly the record before the mis-click
    _, status, left, _ = removed_by_click(handwriting, page_answer, similar, 0, A, two, Event(remove=0))
    assert json.loads(left)["params"]["digits"] == [1] and "no longer taught as a 4" in status
    _, _, empty, _ = remove(handwriting, page_answer, 0, similar, 0, A, left)
    assert empty == ""  # the last one removed: nothing is stored
    assert "Nothing is taught" in remove(handwriting, page_answer, None, similar, 0, A, "").status
    assert "Which drawing" in removed_by_click(handwriting, page_answer, similar, 0, A, two, Event()).status


def test_a_stored_record_is_checked_at_load_and_a_bad_one_dropped_with_a_note(handwriting: VisitorHandwriting) -> None:
    _, _, stored, _ = correct(handwriting, page_answer, 1, flagged_one(), 0, A, "")
    assert check_stored(handwriting, A, Event(stored=stored)) == (stored, "")
    assert check_stored(handwriting, A, Event(stored="")) == ("", "")
    tampered = json.loads(stored)
    tampered["params"]["bias"][3] = 9.0
    for bad, reason in [
        (json.dumps(tampered), "sha256 does not match"),
        (stored[:-40], "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ]:
        value, note = check_stored(handwriting, A, Event(stored=bad))
        assert value == "" and note.startswith("⚠️ Your stored handwriting was dropped") and reason in note, note
        assert "\n" not in note  # one line
        assert digit_for(handwriting, flagged_one((0.31, 0.31), 0.49), A, bad) == 7  # the page keeps answering


def test_a_correction_equal_to_the_answer_is_kept(handwriting: VisitorHandwriting) -> None:
    shown, status, _, _ = correct(handwriting, page_answer, 7, draw_digit(7), 0, A, "")
    assert shown["digit"] == 7 and "it read 7 already" in status


def test_a_blank_pad_is_a_clear_message_and_nothing_is_lost(handwriting: VisitorHandwriting) -> None:
    _, _, stored, _ = correct(handwriting, page_answer, 1, flagged_one(), 0, A, "")
    taught = correct(handwriting, page_answer, 1, None, 0, A, stored)
    assert taught.status == NOTHING_DRAWN and taught.answer == gr.skip() and taught.store == gr.skip()
    erased = correct(handwriting, page_answer, 1, np.full((280, 280), 255, np.uint8), 0, A, stored)
    assert erased.status == NOTHING_DRAWN and erased.store == gr.skip()  # the stored record stays as it was


def test_no_model_is_a_clear_message(tmp_path: Path) -> None:
    empty = VisitorHandwriting(VisitorModels(ModelSlot(tmp_path / "missing.pt"), tmp_path / "m"))
    assert "No model is loaded" in correct(empty, page_answer, 1, flagged_one(), 0, A, "").status


def test_a_hundred_corrections_keep_the_latest_and_say_so(slot: ModelSlot, tmp_path: Path) -> None:
    handwriting = VisitorHandwriting(VisitorModels(slot, tmp_path / "models"), keep=40)
    drawings = [draw_digit(d, pen=12 + 2 * i) for d in range(10) for i in range(10)]  # ten pens per digit
    held = handwriting.teach(A, "", drawings, [d for d in range(10) for _ in range(10)])
    assert len(held) == 40 and "The latest 40 are kept: 60 older one(s) were let go" in held.summary()
    assert len(json.loads(record_text(held))["drawings"]) == 40


def test_the_same_drawing_clicked_twice_is_one_example(handwriting: VisitorHandwriting) -> None:
    _, _, stored, _ = correct(handwriting, page_answer, 7, flagged_one(), 0, A, "")
    _, _, stored, _ = correct(handwriting, page_answer, 1, flagged_one(), 0, A, stored)  # changed their mind
    assert json.loads(stored)["params"]["digits"] == [1]


def test_a_new_model_of_the_visitor_learns_the_stored_drawings_again(handwriting: VisitorHandwriting, slot) -> None:
    """A record fitted on the shipped weights, read with the visitor's own model: the page says
    it is not used; the next correction learns all the drawings again on that model."""
    _, _, stored, _ = correct(handwriting, page_answer, 1, flagged_one(), 0, A, "")
    changed = copy.deepcopy(slot.predictor.model)  # stands in for a model the visitor trained
    with torch.no_grad():
        changed.backbone[0].weight.mul_(1.001)  # other weights, the same shape
    save_checkpoint(handwriting.models.path_for(A), changed, {"source": "your trained model"})
    handwriting.models.reload(A)
    served = handwriting.for_visitor(A, stored)
    assert "not with your handwriting: it was taught on other weights" in served.source
    _, _, again, _ = correct(handwriting, page_answer, 7, draw_digit(7), 0, A, stored)
    params = json.loads(again)["params"]
    assert (
        params["digits"] == [1, 7] and params["fitted_on_sha256"] == handwriting.for_visitor(A).predictor.weights_sha256
    )


def test_details_without_a_lesson(handwriting: VisitorHandwriting) -> None:
    assert "No drawings taught yet" in details_html(None)


def test_the_panel_is_wired_to_the_drawing_the_server_has(slot: ModelSlot, tmp_path: Path) -> None:
    demo = predict_tab_alone(slot, tmp_path)
    buttons = {b.value: b for b in demo.blocks.values() if isinstance(b, gr.Button)}
    for name in [*(f"It was {d}" for d in range(10)), "Forget my handwriting", "Teach it my handwriting"]:
        assert name in buttons, name
    [page_dep] = [
        d
        for d in demo.fns.values()
        if (t := d.targets) and t[0][1] == "submit" and d.fn and "predict_for_visitor" in str(d.fn)
    ]
    received = page_dep.inputs[0]  # the pad: its value is the drawing, decoded when a button reads it
    [store] = [b for b in demo.blocks.values() if isinstance(b, HandwritingStore)]
    assert page_dep.inputs[-1] is store and page_dep.api_visibility == "private"
    for d in range(10):
        [dep] = [
            x for x in demo.fns.values() if (buttons[f"It was {d}"]._id, "click") in [(t[0], t[1]) for t in x.targets]
        ]
        assert dep.fn.func is correct and dep.fn.args[-1] == d
        assert [b._id for b in dep.inputs] == [received._id, dep.inputs[1]._id, demo.visitor._id, store._id]
        assert store in dep.outputs
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
    assert state.handwriting._warmed is None and model not in lastlayer._REPLAY  # building the app starts nothing
    launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        assert state.handwriting._warmed is state.slot.predictor
        deadline = time.monotonic() + 300  # a generous wait for a background job, not a speed check
        while len(lastlayer._REPLAY.get(model, {})) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(lastlayer._REPLAY.get(model, {})) == 2  # the replay and the forgetting features, computed unasked
    finally:
        demo.close()
        state.queue.close()


def test_a_script_cannot_push_out_a_class_handwriting(handwriting: VisitorHandwriting) -> None:
    """The server holds no visitor's handwriting, so scripted lessons with fresh tokens push nothing out."""
    _, _, stored, _ = correct(handwriting, page_answer, 1, flagged_one(), 0, A, "")
    for k in range(20):  # scripted "It was 1" calls with fresh tokens
        handwriting.teach(f"script-token-{k:06d}", "", [flagged_one()], [1])
    assert handwriting.for_visitor(A, stored).predictor.predict(flagged_one((0.31, 0.31), 0.49), 0).digit == 1
