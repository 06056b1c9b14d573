"""The Learn tab's handlers, called directly: what they show for a drawing and for the class's race."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from demo.learn_tab import BLANK, inspect, race_curves_html, race_headline
from demo.make_examples import example_path
from mnistsum.data import synthetic_split
from mnistsum.model import DualHeadNet
from mnistsum.predictor import Predictor
from mnistsum.race import ClassRace


def _drawing(digit: int) -> np.ndarray:
    """One of the Predict tab's example drawings, as the server received it from the pad."""
    return np.asarray(Image.open(example_path(digit)).convert("L"))


def test_inspect_explains_the_drawing_on_screen_with_its_n():
    torch.manual_seed(0)
    predictor = Predictor(DualHeadNet(arch="default"))
    out = inspect(lambda token: predictor, _drawing(7), 3)
    assert "The network reads" in out.given and "<strong>n = 3</strong>" in out.given
    assert (len(out.conv1), len(out.conv2)) == (16, 32)
    assert out.given.count('title="n ') == 10 and 'title="n 3: 1"' in out.given  # the one-hot n
    assert "(concat, n = 3)" in out.given and "What add would hand over" in out.given
    assert out.given.count('title="digit logit + one-hot n ') == 10 and "<em>3 +1</em>" in out.given
    assert "n = 5" in inspect(lambda token: predictor, _drawing(7), 5).given  # never the previous n


def test_inspect_is_quiet_without_a_drawing_or_a_model():
    predictor = Predictor(DualHeadNet(arch="exercise"))
    assert inspect(lambda token: predictor, None, 3) == BLANK
    assert inspect(lambda token: predictor, np.full((280, 280), 255, np.uint8), 3) == BLANK  # white page
    assert inspect(lambda token: None, _drawing(7), 3) == BLANK


def test_race_headline_and_curves_follow_the_class_race(tmp_path):
    race = ClassRace(tmp_path / "race.json", teacher_token="t")
    assert "No race yet" in race_headline(None, needs_token=True) and "teacher" in race_headline(None, True)
    assert race_curves_html(None) == ""
    race.start("t", train_set=synthetic_split(64), test_set=synthetic_split(20, 1), epochs=2, batch_size=32)
    record = race.wait(60)
    headline = race_headline(record)
    assert "finished" in headline and "add fusion" in headline and "concat fusion" in headline
    curves = race_curves_html(record)
    assert curves.count("<polyline") == 2 * 2 and curves.count("<circle") == 2 * 2 * 2  # lanes x charts, epochs
    assert "concat fusion (default backbone)</span>" in curves  # the whole label in the legend


def test_inspect_checks_n_like_the_predict_tab():
    torch.manual_seed(0)
    predictor = Predictor(DualHeadNet(arch="default"))
    assert 'title="n 3: 1"' in inspect(lambda token: predictor, _drawing(7), 3.0).given
    for bad in (3.5, "3", True, 10, None):
        out = inspect(lambda token: predictor, _drawing(7), bad)
        assert "⚠️ n must be a whole number from 0 to 9" in out.given and out.conv1 is None, bad


def test_learn_and_predict_read_the_same_taught_model(tmp_path, mnist_dir):
    """After "It was 1" on a flag-footed 1 the shipped model reads as 7, Predict says 1 and so
    must Learn: both get the model through `VisitorHandwriting.for_visitor`, which names it."""
    from test_adapt import flagged_one

    from demo.handwriting import VisitorHandwriting
    from demo.learn_tab import inspect_for_visitor
    from demo.predict_tab import predict_for_visitor
    from demo.state import ModelSlot, VisitorModels
    from mnistsum.payload import png_data_url

    token = "visitor-learn-0123456789"
    handwriting = VisitorHandwriting(VisitorModels(ModelSlot(), tmp_path / "models"))
    similar = flagged_one((0.31, 0.31), 0.49)
    before = inspect_for_visitor(handwriting, similar, 0, token)
    assert "The network reads <strong>7</strong>" in before.given and "Model: the shipped weights" in before.given
    stored = json.dumps(handwriting.teach(token, "", [flagged_one()], [1]).to_record())  # what the browser keeps
    shown = predict_for_visitor(handwriting, png_data_url(similar), 0, token=token, stored=stored).answer
    after = inspect_for_visitor(handwriting, similar, 0, token, stored)
    assert shown["digit"] == 1 and "The network reads <strong>1</strong>" in after.given
    assert shown["model"] == "the shipped weights, adapted to 1 of your drawings"
    assert f"Model: {shown['model']}" in after.given and ".pt" not in after.given


def test_the_layer_table_open_is_the_shipped_networks(tmp_path):
    """The feature maps above the tables are the shipped network's: its table is the one open."""
    import gradio as gr

    from demo.app import build_app
    from demo.state import AppState
    from mnistsum.checkpoint import load_checkpoint
    from mnistsum.config import SHIPPED_WEIGHTS
    from mnistsum.model import NETWORKS

    state = AppState(state_dir=tmp_path)
    demo = build_app(state=state, data_dir=tmp_path)
    try:
        tables = [b for b in demo.blocks.values() if isinstance(b, gr.Accordion) and b.label.startswith("Layer by")]
        arch = load_checkpoint(SHIPPED_WEIGHTS)[0].arch
        assert len(tables) == len(NETWORKS)
        assert [t.label for t in tables if t.open] == [f"Layer by layer: {arch}, {NETWORKS[arch].title}"]
    finally:
        state.queue.close()
