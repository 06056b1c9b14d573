"""Each visitor's model: their choice only, held within a bound, dropped least recently used, reloadable."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from demo.app import build_app, visitor_token
from demo.learn_tab import inspect_for_visitor
from demo.make_examples import example_path
from demo.state import AppState, ModelSlot, VisitorModels, check_token, new_token
from mnistsum.checkpoint import CheckpointError
from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.jobs import TrainingPolicy
from mnistsum.train import TrainResult, run

ALICE, BOB, CAROL = "alice-token-0000000", "bob-token-00000000", "carol-token-000000"


@pytest.fixture(scope="module")
def shipped() -> ModelSlot:
    slot = ModelSlot()
    assert slot.predictor is not None, slot.error
    return slot


@pytest.fixture(scope="module")
def result() -> TrainResult:
    cfg = TrainConfig(epochs=1, batch_size=64, device="cpu")
    return run(cfg, train_set=synthetic_split(128, seed=1), test_set=synthetic_split(50, seed=2))


def test_use_changes_one_visitors_model_and_nobody_elses(shipped, result, tmp_path):
    models = VisitorModels(shipped, tmp_path)
    path = models.use(ALICE, result, "alice's run")
    assert path.exists() and path.parent == tmp_path and ALICE not in path.name  # the file is named by a hash
    assert models.for_visitor(ALICE).predictor.model is result.model
    assert models.for_visitor(ALICE).source == "alice's run"
    assert models.for_visitor(BOB).predictor is shipped.predictor
    assert models.for_visitor(None).predictor is shipped.predictor
    models.reset(ALICE)
    assert models.for_visitor(ALICE).predictor is shipped.predictor


def test_least_recently_used_models_are_dropped_with_a_notice_and_reload_from_their_file(shipped, result, tmp_path):
    models = VisitorModels(shipped, tmp_path, capacity=2)
    models.use(ALICE, result, "alice's run")
    models.use(BOB, result, "bob's run")
    models.for_visitor(ALICE)  # Alice predicts: Bob's is now the least recently used
    models.use(CAROL, result, "carol's run")
    dropped = models.for_visitor(BOB)
    assert dropped.predictor is shipped.predictor
    assert (
        "bob's run" in dropped.notice
        and "dropped from memory" in dropped.source
        and "Reload my model" in dropped.notice
    )
    drawing = np.asarray(Image.open(example_path(7)).convert("L"))
    explained = inspect_for_visitor(models, drawing, 3, BOB)  # the Learn tab says so too
    assert "dropped from memory" in explained.given and "reads <strong>7</strong>" in explained.given
    assert "dropped" not in inspect_for_visitor(models, drawing, 3, ALICE).given
    assert models.for_visitor(ALICE).source == "alice's run" and models.for_visitor(CAROL).source == "carol's run"
    reloaded = models.reload(BOB)
    assert reloaded.source == "bob's run" and reloaded.notice is None
    assert models.for_visitor(BOB).predictor.model.state_dict().keys() == result.model.state_dict().keys()
    with pytest.raises(CheckpointError):
        models.reload("nobody-token-000000")  # never chose a model: nothing to reload


def test_tokens_are_random_and_checked(monkeypatch):
    a, b = new_token(), new_token()
    assert a != b and check_token(a) == a and len(a) >= 16
    for bad in (None, "", "short", "spaces are not ok!!", 12345):
        with pytest.raises(ValueError, match="a visitor token is required"):
            check_token(bad)
    assert visitor_token(a) == (a, a)  # a reload keeps the browser's token
    fresh, same = visitor_token(None)  # a first visit gets a new one
    assert fresh == same and check_token(fresh) == fresh and fresh != a


def test_predict_api_takes_only_the_drawing_and_n(tmp_path):
    """The visitor's token is a gr.State: it picks the model but is not part of /predict's API."""
    demo = build_app(state=AppState(policy=TrainingPolicy.from_env({}), state_dir=tmp_path))
    try:
        endpoints = demo.get_api_info()["named_endpoints"]
        assert [p["parameter_name"] for p in endpoints["/predict"]["parameters"]] == ["drawing", "n"]
        assert [p["parameter_name"] for p in endpoints["/predict_json"]["parameters"]] == ["image", "n"]
        assert [p["parameter_name"] for p in endpoints["/train_status"]["parameters"]] == ["token", "run_id"]
    finally:
        demo.app_state.queue.close()


def test_the_browser_secret_is_made_once_and_kept_across_restarts(tmp_path):
    from demo.state import browser_secret

    first = browser_secret(tmp_path)
    assert len(first) >= 32 and browser_secret(tmp_path) == first  # a restarted app reads the same key
    assert (tmp_path / "browser-secret").stat().st_mode & 0o077 == 0  # nobody else can read it
    assert browser_secret(tmp_path / "other") != first
