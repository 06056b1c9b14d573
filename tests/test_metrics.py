"""Metrics are types with names that say which loss is which, and older JSON still reads."""

import json

import pytest

from mnistsum.config import REPO_ROOT
from mnistsum.metrics import EvalMetrics, Misclassified, TrainTotals


def test_train_totals_say_which_loss_is_which():
    t = TrainTotals(
        samples=1000, batches=8, digit_correct=900, sum_correct=800, digit_loss_batch_sum=4.0, sum_loss_batch_sum=8.0
    )
    assert (t.digit_accuracy, t.sum_accuracy) == (0.9, 0.8)
    assert (t.digit_loss_batch_mean, t.sum_loss_batch_mean) == (0.5, 1.0)  # the exercise prints the sums


def test_eval_metrics_round_trip_through_json():
    m = EvalMetrics(
        images=2,
        pairs=20,
        digit_accuracy=0.5,
        sum_accuracy=0.5,
        both_accuracy=0.5,
        sum_consistency=1.0,
        digit_loss_per_image=0.7,
        sum_loss_per_pair=0.9,
        per_n_sum_accuracy=(0.5,) * 10,
        confusion=((1, 0), (1, 0)),
        misclassified=(Misclassified(index=1, true=1, predicted=0),),
    )
    assert EvalMetrics.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    assert "confusion" not in m.summary() and m.summary()["digit_loss_per_image"] == 0.7


@pytest.mark.parametrize("source", ["old names", "metrics.json"])
def test_metrics_written_before_the_rename_still_read(source):
    """Files written before the loss names changed (digit_loss was per image, sum_loss per pair)
    read as today's; the shipped metrics.json reads as it is. (The shipped checkpoint records no
    test metrics: its recipe evaluates nothing during training.)"""
    published = json.loads((REPO_ROOT / "weights" / "metrics.json").read_text())
    old = published
    if source == "old names":
        renamed = {"digit_loss_per_image": "digit_loss", "sum_loss_per_pair": "sum_loss"}
        old = {renamed.get(k, k): v for k, v in published.items()}
    m = EvalMetrics.from_dict(old)
    loss_key = "digit_loss" if "digit_loss" in old else "digit_loss_per_image"
    assert m.digit_loss_per_image == old[loss_key] and m.digit_accuracy == old["digit_accuracy"]
    assert len(m.per_n_sum_accuracy) == 10
