"""The background job manager: one job at a time, stop, errors captured, and the train job on synthetic data."""

from __future__ import annotations

import json
import threading
import time
from typing import Callable

import pytest

from mnistsum.checkpoint import load_checkpoint
from mnistsum.config import SHIPPED_WEIGHTS, TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.jobs import (
    JobBusyError,
    JobRunner,
    JobStatus,
    PolicyError,
    TrainingPolicy,
    TrainProgress,
    checkpoint_path,
    completed_result,
    save_trained,
    start_training,
    status_dict,
)
from mnistsum.train import BatchEnd

TINY = TrainConfig(epochs=2, batch_size=64, device="cpu")


def tiny_data() -> dict:
    return {"train_set": synthetic_split(256, seed=1), "test_set": synthetic_split(100, seed=2)}


def wait_until(runner: JobRunner, condition: Callable[[JobStatus], bool], timeout: float = 20) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = runner.status()
        if condition(status):
            return status
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s; last status {runner.status()}")


@pytest.fixture(scope="module")
def finished() -> JobStatus:
    runner = JobRunner()
    start_training(runner, TINY, **tiny_data())
    return runner.wait(60)


# --- the generic runner --------------------------------------------------------------------


def test_start_returns_at_once_and_the_latest_snapshot_is_kept():
    release = threading.Event()

    def events(stop):
        yield "first"
        release.wait(10)
        yield "second"

    runner = JobRunner()
    assert runner.status().state == "idle" and runner.status().job_id == 0
    started = runner.start("demo", events)
    assert started.state == "running" and started.job_id == 1 and started.name == "demo"
    assert wait_until(runner, lambda s: s.latest == "first").state == "running"
    release.set()
    done = runner.wait(10)
    assert (done.state, done.latest, done.error) == ("finished", "second", None)
    assert done.ended >= done.started and not done.active


def test_one_job_at_a_time_then_the_next_one_runs():
    release = threading.Event()

    def blocked(stop):
        release.wait(10)
        yield "done"

    runner = JobRunner()
    runner.start("first", blocked)
    with pytest.raises(JobBusyError, match="first job is already running"):
        runner.start("second", lambda stop: iter(["never"]))
    assert runner.status().name == "first"
    release.set()
    runner.wait(10)
    assert runner.start("second", lambda stop: iter(["ran"])).job_id == 2
    assert runner.wait(10).latest == "ran"


def test_stop_ends_the_job_cleanly():
    def endless(stop):
        count = 0
        while not stop.is_set():
            count += 1
            yield count
            time.sleep(0.005)

    runner = JobRunner()
    runner.start("endless", endless)
    wait_until(runner, lambda s: (s.latest or 0) >= 3)
    assert runner.stop().state == "stopping"
    done = runner.wait(10)
    assert done.state == "stopped" and done.error is None and done.latest >= 3


def test_stop_without_a_job_changes_nothing():
    runner = JobRunner()
    assert runner.stop() == runner.status() and runner.status().state == "idle"


def test_an_exception_ends_the_job_with_the_message_and_the_runner_carries_on():
    def broken(stop):
        yield "partial"
        raise RuntimeError("boom")

    runner = JobRunner()
    runner.start("broken", broken)
    failed = runner.wait(10)
    assert failed.state == "failed" and failed.error == "RuntimeError: boom" and failed.latest == "partial"
    runner.start("next", lambda stop: iter([1]))
    assert runner.wait(10).state == "finished"


# --- the training job ------------------------------------------------------------------------


def test_training_job_completes_with_logs_metrics_and_curves(finished):
    assert finished.state == "finished" and finished.error is None
    progress = finished.latest
    assert isinstance(progress, TrainProgress) and progress.completed and progress.fraction == 1.0
    lines = progress.log_text.splitlines()
    assert len(lines) == 4  # per epoch: the exercise's line, then the test line
    assert lines[0].startswith("epoch: 1 MNIST {Correct: ") and "test: digit" in lines[1]
    assert lines[2].startswith("epoch: 2 MNIST")
    assert [row["epoch"] for row in progress.epoch_rows()] == [1, 2]
    assert progress.final_test.digit_accuracy > 0.9  # the synthetic bars are easy
    series = {(r["metric"], r["series"]) for r in progress.curve_rows()}
    assert series == {
        (m, f"{h} {s}") for m in ("accuracy", "loss") for h in ("digit", "sum") for s in ("train", "test")
    }
    assert completed_result(finished) is progress.result
    assert [epoch for epoch, _ in progress.batch_losses] == [e + b / 4 for e in range(2) for b in range(1, 5)]


def test_batch_losses_are_averaged_into_about_forty_points_an_epoch():
    progress = TrainProgress(TINY)
    for batch in range(1, 401):
        progress = progress.advance(BatchEnd(1, batch, 400, 1000.0, 0.0, loss=float(batch)))
    assert len(progress.batch_losses) == 40 and progress.fraction == 0.5  # one of TINY's two epochs
    assert progress.batch_losses[0] == (10 / 400, sum(range(1, 11)) / 10)
    assert progress.batch_losses[-1] == (1.0, sum(range(391, 401)) / 10)


def test_status_dict_is_json_for_api_clients(finished):
    data = json.loads(json.dumps(status_dict(finished)))
    assert data["state"] == "finished" and data["name"] == "training"
    assert len(data["epochs"]) == 2 and 0 <= data["epochs"][-1]["test_sum_accuracy"] <= 1
    assert data["progress"]["fraction"] == 1.0 and data["progress"]["epochs"] == 2
    assert data["final"]["misclassified_count"] == len(finished.latest.final_test.misclassified)
    assert len(data["final"]["confusion"]) == 10 and "misclassified" not in data["final"]
    assert status_dict(JobRunner().status())["state"] == "idle"


def test_misclassified_examples_carry_the_test_image_and_labels(finished):
    wrong = finished.latest.final_test.misclassified[:3]
    shown = finished.latest.misclassified(limit=3)
    assert [(true, predicted) for _, true, predicted in shown] == [(w.true, w.predicted) for w in wrong]
    for (image, _, _), w in zip(shown, wrong, strict=True):
        assert image.shape == (28, 28) and 0 <= image.min() and image.max() <= 1
        assert (image * 255).round().astype("uint8").tolist() == finished.latest.test_set.images[w.index].tolist()


def test_stop_ends_training_at_the_next_batch_and_its_weights_are_not_offered():
    runner = JobRunner()
    start_training(runner, TINY.replace(epochs=200, batch_size=16), **tiny_data())
    wait_until(runner, lambda s: s.latest is not None and s.latest.batch is not None)
    runner.stop()
    done = runner.wait(30)
    assert done.state == "stopped" and done.latest.result.stopped and not done.latest.completed
    assert done.latest.batch.epoch < 200
    with pytest.raises(ValueError, match="stopped"):
        completed_result(done)


def test_a_nan_loss_fails_the_job_with_the_reason():
    runner = JobRunner()
    start_training(runner, TINY.replace(lr=1e12), **tiny_data())
    failed = runner.wait(30)
    assert failed.state == "failed" and failed.error.startswith("FloatingPointError: loss became nan")
    with pytest.raises(ValueError, match="no trained model"):
        completed_result(failed)


def test_missing_data_fails_the_job_with_the_fix(tmp_path):
    runner = JobRunner()
    start_training(runner, TINY.replace(data_dir=str(tmp_path)))
    failed = runner.wait(30)
    assert failed.state == "failed" and failed.error.startswith("DataMissingError: MNIST not found")
    assert "download" in failed.error and "MNISTSUM_DATA" in failed.error


def test_results_are_not_offered_while_running():
    runner = JobRunner()
    start_training(runner, TINY.replace(epochs=200, batch_size=16), **tiny_data())
    with pytest.raises(ValueError, match="still running"):
        completed_result(runner.status())
    runner.stop()
    runner.wait(30)


# --- the deployment policy -------------------------------------------------------------------


def test_policy_defaults_to_unlimited_and_reads_the_environment():
    assert TrainingPolicy.from_env({}) == TrainingPolicy()
    TrainingPolicy().check(TINY.replace(epochs=500, limit=None, batch_size=4096))
    policy = TrainingPolicy.from_env(
        {
            "MNISTSUM_TRAINING": "On",
            "MNISTSUM_MAX_EPOCHS": "5",
            "MNISTSUM_MAX_LIMIT": "10000",
            "MNISTSUM_MAX_BATCH_SIZE": "512",
        }
    )
    assert policy == TrainingPolicy(True, 5, 10000, 512)
    assert "epochs 5" in policy.describe() and "training images 10,000" in policy.describe()
    assert not TrainingPolicy.from_env({"MNISTSUM_TRAINING": "off"}).enabled


@pytest.mark.parametrize(
    "env", [{"MNISTSUM_TRAINING": "maybe"}, {"MNISTSUM_MAX_EPOCHS": "ten"}, {"MNISTSUM_MAX_LIMIT": "0"}]
)
def test_policy_rejects_malformed_values_at_startup(env):
    with pytest.raises(ValueError, match=next(iter(env))):
        TrainingPolicy.from_env(env)


def test_policy_refuses_what_it_caps_before_any_job_starts():
    runner = JobRunner()
    capped = TrainingPolicy(max_epochs=3, max_limit=5000, max_batch_size=256)
    capped.check(TINY.replace(epochs=3, limit=5000, batch_size=256))
    with pytest.raises(PolicyError, match="epochs 4 is above this deployment's cap of 3"):
        start_training(runner, TINY.replace(epochs=4, limit=100), capped)
    with pytest.raises(PolicyError, match="the full training set is above .* 5,000"):
        start_training(runner, TINY.replace(epochs=1, limit=None), capped)
    with pytest.raises(PolicyError, match="batch size 512"):
        start_training(runner, TINY.replace(epochs=1, limit=100, batch_size=512), capped)
    with pytest.raises(PolicyError, match="switched off"):
        start_training(runner, TINY, TrainingPolicy(enabled=False))
    assert runner.status().job_id == 0  # nothing was started


# --- saving -----------------------------------------------------------------------------------


def test_save_writes_a_loadable_checkpoint_and_never_replaces_a_file(finished, tmp_path):
    path = save_trained(completed_result(finished), "class run 1", tmp_path)
    assert path == tmp_path / "class-run-1.pt"
    model, meta = load_checkpoint(path)
    assert meta["epochs_completed"] == 2 and meta["config"]["epochs"] == 2
    with pytest.raises(FileExistsError, match="already exists"):
        save_trained(completed_result(finished), "class run 1", tmp_path)


@pytest.mark.parametrize(
    "name, stem",
    [
        ("../../etc/passwd", "etc-passwd"),
        ("/abs/path.pt", "abs-path"),
        ("..hidden", "hidden"),
        ("ok_name-2.1", "ok_name-2.1"),
    ],
)
def test_checkpoint_names_cannot_leave_the_directory(tmp_path, name, stem):
    path = checkpoint_path(name, tmp_path)
    assert path == tmp_path / f"{stem}.pt" and path.parent == tmp_path


@pytest.mark.parametrize("name", ["", "  ", "...", "/"])
def test_a_checkpoint_needs_a_name(tmp_path, name):
    with pytest.raises(ValueError, match="name"):
        checkpoint_path(name, tmp_path)


def test_the_shipped_weights_are_never_a_save_target():
    with pytest.raises(ValueError, match="shipped weights"):
        checkpoint_path(SHIPPED_WEIGHTS.stem, SHIPPED_WEIGHTS.parent)
