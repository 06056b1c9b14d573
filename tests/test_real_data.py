"""A short training on real MNIST, then the evaluate CLI on what it saved."""

import json
import subprocess
import sys

import pytest

from mnistsum.checkpoint import save_checkpoint
from mnistsum.config import TrainConfig
from mnistsum.train import checkpoint_meta, run


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


def test_evaluate_cli_json(short_run, mnist_dir, tmp_path):
    weights = tmp_path / "short.pt"
    save_checkpoint(weights, short_run.model, checkpoint_meta(short_run, "class"))
    out = subprocess.run(
        [sys.executable, "-m", "mnistsum.evaluate", "--weights", str(weights), "--data-dir", str(mnist_dir), "--json"],
        capture_output=True, text=True, check=True,
    )
    metrics = json.loads(out.stdout)
    expected = short_run.test_metrics
    for key in ("digit_accuracy", "sum_accuracy", "both_accuracy", "sum_consistency"):
        assert metrics[key] == pytest.approx(getattr(expected, key))
    assert len(metrics["per_n_sum_accuracy"]) == 10
    confusion = metrics["confusion"]
    assert len(confusion) == 10 and sum(map(sum, confusion)) == 10_000
    assert sum(confusion[i][i] for i in range(10)) == round(metrics["digit_accuracy"] * 10_000)
    assert len(metrics["misclassified"]) == 10_000 - sum(confusion[i][i] for i in range(10))


def test_evaluate_cli_reports_missing_data(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mnistsum.evaluate", "--data-dir", str(tmp_path), "--json"],
        capture_output=True, text=True,
    )
    assert out.returncode == 2 and "MNIST not found" in out.stderr
