"""The recipe stored in the shipped checkpoint, run in its short version, lands on the
validation numbers recorded beside the weights (`python -m mnistsum.reproduce --out`)."""

import json

import pytest

from mnistsum import reproduce
from mnistsum.config import SHIPPED_WEIGHTS, TrainConfig
from mnistsum.export import file_digest
from mnistsum.predictor import Predictor

pytestmark = pytest.mark.slow


def test_the_stored_numbers_belong_to_the_shipped_weights_and_its_recipe_is_the_preset():
    stored = json.loads(reproduce.REPORT.read_text())
    assert stored["weights_sha256"] == file_digest(SHIPPED_WEIGHTS)
    assert stored["short"] == reproduce.SHORT
    recipe = TrainConfig.from_dict(Predictor.load().meta["config"]).recipe()
    assert recipe == TrainConfig.preset("shipped").recipe()  # `--preset shipped` retrains exactly these weights


def test_the_short_version_of_the_stored_recipe_reproduces_its_validation_numbers(pen_dir, mnist_dir):
    assert pen_dir == mnist_dir  # one data folder holds both, as the recipe reads them
    fresh = reproduce.measure(SHIPPED_WEIGHTS, str(mnist_dir))
    assert reproduce.compare(json.loads(reproduce.REPORT.read_text()), fresh) == []
    assert fresh["mnist_val_digit_accuracy"] > 0.9 and fresh["pen_val_accuracy"] > 0.8  # it learned


def test_compare_names_what_moved():
    stored = {"weights_sha256": "a", "mnist_val_digit_accuracy": 0.95, "pen_val_accuracy": 0.90}
    same = {**stored, "pen_val_accuracy": 0.91}
    assert reproduce.compare(stored, same) == []
    moved = {**stored, "mnist_val_digit_accuracy": 0.93, "weights_sha256": "b"}
    problems = reproduce.compare(stored, moved)
    assert len(problems) == 2 and "other weights" in problems[0] and "mnist_val_digit_accuracy" in problems[1]
