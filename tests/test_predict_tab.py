"""The Predict tab's callbacks, called directly with what the Sketchpad sends."""

from __future__ import annotations

import copy
import random
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from demo.app import build_app, model_banner
from demo.make_examples import CANVAS, draw_digit, example_path
from demo.predict_tab import (
    BLANK,
    PREDICT_CONCURRENCY,
    PredictOutputs,
    build_predict_tab,
    load_example,
    predict,
    random_mnist_digit,
    stages,
    stages_if_open,
)
from demo.state import ModelSlot, VisitorModels
from mnistsum.config import NUM_DIGITS, NUM_SUMS
from mnistsum.data import MnistSplit
from mnistsum.predictor import Predictor


@pytest.fixture(scope="module")
def slot() -> ModelSlot:
    slot = ModelSlot()
    assert slot.predictor is not None, slot.error
    return slot


def pad_value(composite: np.ndarray | None) -> dict:
    """What an `image_mode="L"` Sketchpad hands the function (its `layers` are useless: a Gradio bug)."""
    return {"background": None, "layers": [], "composite": composite}


@pytest.mark.parametrize(("digit", "n"), [(7, 3), (1, 9), (0, 0), (4, 8)])
def test_drawn_digit_gives_the_digit_and_the_sum(slot: ModelSlot, digit: int, n: int) -> None:
    out = predict(slot, pad_value(draw_digit(digit)), n)
    assert out.headline.startswith(f"## {digit} + {n} = {digit + n}\n")
    assert "shipped weights" in out.headline
    assert max(out.digits, key=out.digits.get) == str(digit)
    assert sum(out.digits.values()) == pytest.approx(1, abs=1e-4)
    assert out.agreement.startswith("✓")
    assert list(out.learned_sum["sum"]) == [str(s) for s in range(NUM_SUMS)]
    assert out.learned_sum["probability"].sum() == pytest.approx(1, abs=1e-4)
    assert out.learned_sum["probability"].idxmax() == digit + n
    assert out.analytic_sum["probability"].idxmax() == digit + n
    assert out.model_input.shape == (28, 28) and out.model_input.dtype == np.uint8  # enlarged by the page
    np.testing.assert_array_equal(out.model_input, np.round(slot.predictor.predict(draw_digit(digit), n).model_input * 255))
    assert out.sum_table.count("<td") == NUM_DIGITS * NUM_SUMS


def test_rgba_drawing_is_read_too(slot: ModelSlot) -> None:
    """An RGBA pad (or API upload) with transparent background and opaque strokes."""
    ink = draw_digit(7) < 128
    rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    rgba[ink, 3] = 255
    assert predict(slot, pad_value(rgba), 2).headline.startswith("## 7 + 2 = 9")


@pytest.mark.parametrize(
    "drawing",
    [
        None,  # what a slider moved right after a stroke can send
        pad_value(None),  # an empty or cleared pad
        pad_value(np.full((CANVAS, CANVAS), 255, np.uint8)),  # everything erased
        pad_value(np.full((CANVAS, CANVAS), 128, np.uint8)),  # flat grey: no ink either
    ],
    ids=["none", "cleared", "erased", "grey"],
)
def test_nothing_drawn_blanks_the_outputs_without_an_error(slot: ModelSlot, drawing: dict | None) -> None:
    out = predict(slot, drawing, 3)
    assert out == BLANK
    assert "Draw a digit" in out.headline
    assert out.digits == {} and out.model_input is None and out.sum_table == ""
    assert stages(drawing) is None  # and the stages panel, if open, empties too


@pytest.mark.parametrize("n", [-1, 10, 3.5, "3", None, True])
def test_bad_n_is_a_clear_error(slot: ModelSlot, n: object) -> None:
    with pytest.raises(gr.Error, match="n must be a whole number from 0 to 9"):
        predict(slot, pad_value(draw_digit(7)), n)


@pytest.mark.parametrize(
    ("drawing", "message"),
    [
        ("a string", "Sketchpad value"),
        (pad_value(np.zeros((CANVAS, CANVAS, 2), np.uint8)), "Cannot read this drawing"),
        (pad_value(np.zeros((0, 0), np.uint8)), "Cannot read this drawing"),
        (pad_value([[0, 255]]), "Cannot read this drawing"),
    ],
    ids=["not-a-dict", "two-channels", "empty-array", "list"],
)
def test_unusable_drawing_is_a_clear_error(slot: ModelSlot, drawing: object, message: str) -> None:
    with pytest.raises(gr.Error, match=message):
        predict(slot, drawing, 3)


def test_disagreeing_heads_are_flagged(slot: ModelSlot) -> None:
    """A sum head forced to always answer 0 must be called out, not hidden."""
    model = copy.deepcopy(slot.predictor.model)
    with torch.no_grad():
        model.sum_head[-1].bias[0] += 1000
    broken = ModelSlot()
    broken.swap(Predictor(model), "a deliberately broken sum head")
    out = predict(broken, pad_value(draw_digit(7)), 3)
    assert out.headline.startswith("## 7 + 3 → 0 ⚠")
    assert out.agreement.startswith("⚠ **The heads disagree:** the learned sum head says 0")
    assert "7 + 3 = 10" in out.agreement
    assert "a deliberately broken sum head" in out.headline


def test_missing_weights_leave_the_app_running_and_say_how_to_fix(tmp_path: Path) -> None:
    slot = ModelSlot(tmp_path / "missing.pt")
    assert slot.predictor is None
    assert "not found" in slot.error and "python -m mnistsum.train" in slot.error
    assert predict(slot, pad_value(None), 3) == BLANK  # clearing the pad is still fine
    with pytest.raises(gr.Error, match="No model is loaded.*not found"):
        predict(slot, pad_value(draw_digit(7)), 3)


def test_corrupt_weights_are_reported(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    slot = ModelSlot(corrupt)
    assert slot.predictor is None and "not a readable checkpoint" in slot.error


def test_swap_serves_the_new_model(slot: ModelSlot) -> None:
    fresh = ModelSlot()
    fresh.swap(slot.predictor, "trained in this session: demo")
    assert fresh.predictor is slot.predictor and fresh.error is None
    assert "trained in this session: demo" in predict(fresh, pad_value(draw_digit(1)), 0).headline


def test_random_mnist_digit_is_drawn_like_a_canvas(
    slot: ModelSlot, mnist_dir: Path, mnist_test: MnistSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A seeded pick: about 8% of test digits come back from the 280 px canvas with a mean
    # pixel difference above the 0.05 bound below, so an unseeded pick made the test flaky.
    monkeypatch.setattr(random, "randrange", random.Random(0).randrange)
    drawing, caption, *shown, _ = random_mnist_digit(slot, mnist_dir, 2)
    index = int(re.search(r"#(\d+)", caption).group(1))
    label = int(mnist_test.labels[index])
    assert f"labelled **{label}**" in caption
    assert drawing.shape == (CANVAS, CANVAS) and drawing.dtype == np.uint8
    assert drawing[0, 0] == 255  # dark ink on white paper, like the pad
    model_input = slot.predictor.predict(drawing, 0).model_input
    original = mnist_test.images[index].numpy() / 255
    assert np.abs(model_input - original).mean() < 0.05  # preprocessing gives the digit back
    expected = predict(slot, pad_value(drawing), 2)  # predicted in the same event, as if drawn
    assert PredictOutputs(*shown).headline == expected.headline
    assert np.array_equal(PredictOutputs(*shown).model_input, expected.model_input)


@pytest.mark.parametrize("digit", [0, 4, 9])
def test_an_example_is_loaded_and_predicted_in_one_event(slot: ModelSlot, digit: int) -> None:
    drawing, caption, *shown, stages_shown = load_example(slot, digit, 5)
    assert drawing.shape == (CANVAS, CANVAS) and caption == ""
    assert PredictOutputs(*shown).headline.startswith(f"## {digit} + 5 = {digit + 5}")
    assert isinstance(stages_shown, type(gr.skip()))  # stages panel closed: left alone
    *_, stages_shown = load_example(slot, digit, 5, panel_open=True)
    np.testing.assert_array_equal(stages_shown, stages(pad_value(drawing)))


def test_stages_picture_follows_the_pad_only_while_open(slot: ModelSlot) -> None:
    drawing = pad_value(draw_digit(3))
    picture = stages(drawing)
    assert picture.ndim == 3 and picture.shape[1] > 4 * picture.shape[0]  # five stages in a row
    assert isinstance(stages_if_open(drawing, False), type(gr.skip()))
    np.testing.assert_array_equal(stages_if_open(drawing, True), picture)
    with pytest.raises(gr.Error, match="Cannot read this drawing"):
        stages(pad_value(np.zeros((CANVAS, CANVAS, 2), np.uint8)))


def _tab(slot: ModelSlot, tmp_path: Path):
    """The Predict tab alone, its visitor's model coming from `slot`."""
    models = VisitorModels(slot, tmp_path / "models")
    with gr.Blocks() as demo:
        visitor = gr.State()
        pad, n = build_predict_tab(models, visitor, data_dir=tmp_path)
    return demo, pad, n, visitor


def test_one_predict_endpoint_for_pad_and_slider(slot: ModelSlot, tmp_path: Path) -> None:
    demo, pad, n, visitor = _tab(slot, tmp_path)
    [dep] = [d for d in demo.fns.values() if d.api_name == "predict"]
    assert {(t[0], t[1]) for t in dep.targets} == {(pad._id, "change"), (n._id, "change")}
    assert dep.trigger_mode == "always_last"
    assert dep.concurrency_limit == PREDICT_CONCURRENCY > 1
    assert [c._id for c in dep.inputs] == [pad._id, n._id, visitor._id]  # the visitor's token picks the model
    # examples and the random digit predict too, privately, in the same concurrency group
    headline = dep.outputs[0]
    runs = [d for d in demo.fns.values() if headline in d.outputs]
    assert len(runs) == 3 and {d.concurrency_id for d in runs} == {"predict"}
    assert [d.api_visibility for d in runs].count("public") == 1


def test_random_button_is_disabled_with_a_reason_without_data(slot: ModelSlot, tmp_path: Path) -> None:
    demo, *_ = _tab(slot, tmp_path)
    [button] = [b for b in demo.blocks.values() if isinstance(b, gr.Button) and "MNIST" in str(b.value)]
    assert button.interactive is False
    notes = [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "MNISTSUM_DATA" in str(b.value)]
    assert notes and str(tmp_path) in notes[0]


def test_example_files_are_the_drawn_digits(slot: ModelSlot) -> None:
    """The committed images are what `make_examples` draws, and the model reads each one."""
    for digit in range(NUM_DIGITS):
        image = np.asarray(Image.open(example_path(digit)))
        np.testing.assert_array_equal(image, draw_digit(digit))
        assert slot.predictor.predict(image, 0).digit == digit


def test_app_starts_without_weights_and_says_why(tmp_path: Path) -> None:
    slot = ModelSlot(tmp_path / "missing.pt")
    build_app(slot, data_dir=tmp_path)  # every tab builds without a model
    banner = model_banner(slot)
    assert banner["visible"] is True and "No model is loaded" in banner["value"] and "not found" in banner["value"]
    assert model_banner(ModelSlot())["visible"] is False


def test_queue_statistics_are_not_rebuilt_after_every_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Gradio's per-event analytics rebuild is throttled by default, and a deployment can override it."""
    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)
    assert build_app(data_dir=tmp_path)._queue.ANAYLTICS_CACHE_FREQUENCY == 200
    monkeypatch.setenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", "7")
    assert build_app(data_dir=tmp_path)._queue.ANAYLTICS_CACHE_FREQUENCY == 7
