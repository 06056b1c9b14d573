"""The Learn tab's handlers, called directly: what they show for a drawing and for a race."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from demo.learn_tab import BLANK, _race_curves, _race_headline, inspect
from demo.make_examples import example_path
from mnistsum.data import synthetic_split
from mnistsum.jobs import JobQueue
from mnistsum.model import DualHeadNet
from mnistsum.predictor import Predictor
from mnistsum.race import start_race


def _drawing(digit: int) -> np.ndarray:
    """One of the Predict tab's example drawings, as the server received it from the pad."""
    return np.asarray(Image.open(example_path(digit)).convert("L"))


def test_inspect_explains_the_drawing_on_screen():
    torch.manual_seed(0)
    predictor = Predictor(DualHeadNet(arch="default"))
    out = inspect(lambda token: predictor, _drawing(7), 3)
    assert "The network reads" in out.caption
    assert out.model_input.shape[:2] == (281, 281) and out.saliency.shape == (280, 280, 3)
    assert (len(out.conv1), len(out.conv2)) == (16, 32)
    assert out.one_hot_n["value"].tolist() == np.eye(10)[3].tolist()
    own, other = out.own_input.value, out.other_input.value  # the concat model, then the add view
    assert len(own["data"]) == 20 and len(other["data"]) == 10
    assert [row[0] for row in other["data"]][3] == "logit 3 +1"


def test_inspect_is_quiet_without_a_drawing_or_a_model():
    predictor = Predictor(DualHeadNet(arch="exercise"))
    assert inspect(lambda token: predictor, None, 3) == BLANK
    assert inspect(lambda token: predictor, np.full((280, 280), 255, np.uint8), 3) == BLANK  # white page
    assert inspect(lambda token: None, _drawing(7), 3) == BLANK


def test_race_status_and_curves_follow_the_job():
    queue, owner = JobQueue(), "visitor-token-00000"
    assert "No race yet" in _race_headline(None)
    assert _race_curves(None) == (None, None)
    job = start_race(
        queue, owner, train_set=synthetic_split(64), test_set=synthetic_split(20, 1), epochs=2, batch_size=32
    )
    status = queue.wait(owner, job.job_id, 60)
    queue.close()
    headline = _race_headline(status)
    assert "finished" in headline and "add fusion" in headline and "concat fusion" in headline
    sums, digits = _race_curves(status)
    assert len(sums) == len(digits) == 2 * 2  # two lanes, two epochs
    assert set(sums["lane"]) == {"add fusion (default backbone)", "concat fusion (default backbone)"}


def test_inspect_checks_n_like_the_predict_tab():
    torch.manual_seed(0)
    predictor = Predictor(DualHeadNet(arch="default"))
    assert inspect(lambda token: predictor, _drawing(7), 3.0).one_hot_n["value"].tolist() == np.eye(10)[3].tolist()
    for bad in (3.5, "3", True, 10, None):
        out = inspect(lambda token: predictor, _drawing(7), bad)
        assert out.caption.startswith("⚠️ n must be a whole number from 0 to 9") and out.model_input is None, bad
