"""A short training on real MNIST and what it saves; the evaluate CLI's JSON."""

import dataclasses
import json

import pytest

from mnistsum.checkpoint import load_checkpoint, save_checkpoint
from mnistsum.config import REPO_ROOT, SHIPPED_WEIGHTS, TrainConfig
from mnistsum.metrics import EvalMetrics
from mnistsum.train import checkpoint_meta, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_run(mnist_dir, mnist_train, mnist_test):
    cfg = TrainConfig.preset("class", data_dir=str(mnist_dir), device="cpu")
    return run(cfg, train_set=mnist_train, test_set=mnist_test)


def test_short_training_reaches_a_sensible_accuracy(short_run):
    test = short_run.test_metrics
    assert [end.train.samples for end in short_run.history] == [5000, 5000, 5000]
    assert test.digit_accuracy > 0.97
    assert test.sum_accuracy > 0.95
    assert test.pairs == 100_000


def test_a_saved_run_loads_with_its_recipe_and_numbers(short_run, tmp_path):
    weights = tmp_path / "short.pt"
    save_checkpoint(weights, short_run.model, checkpoint_meta(short_run, "class"))
    model, meta = load_checkpoint(weights)
    assert TrainConfig.from_dict(meta["config"]) == short_run.config
    assert EvalMetrics.from_dict(meta["test_metrics"]) == dataclasses.replace(
        short_run.test_metrics, confusion=(), misclassified=()
    )


def test_evaluate_cli_json(shipped_evaluation):
    metrics = shipped_evaluation
    # the report names the weights relative to the repository: no folder of the measuring machine
    assert (metrics["weights"], metrics["arch"], metrics["fusion"]) == ("weights/mnistsum.pt", "wide", "concat")
    assert SHIPPED_WEIGHTS.relative_to(REPO_ROOT).as_posix() == metrics["weights"]
    read_back = json.loads(json.dumps(EvalMetrics.from_dict(metrics).to_dict()))
    assert read_back == {k: v for k, v in metrics.items() if k not in ("weights", "arch", "fusion")}
    assert len(metrics["per_n_sum_accuracy"]) == 10
    confusion = metrics["confusion"]
    assert len(confusion) == 10 and sum(map(sum, confusion)) == 10_000
    assert sum(confusion[i][i] for i in range(10)) == round(metrics["digit_accuracy"] * 10_000)
    assert len(metrics["misclassified"]) == 10_000 - sum(confusion[i][i] for i in range(10))
