"""The job queue (owners, FIFO, workers, stop and cancel, failures), the training job on synthetic
data, the deployment policy and saving."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

import mnistsum.data as data_module
import mnistsum.precision as precision
from mnistsum.checkpoint import load_checkpoint
from mnistsum.config import SHIPPED_WEIGHTS, TrainConfig
from mnistsum.data import cached_split, synthetic_split
from mnistsum.jobs import (
    TRAINING_JOB,
    JobQueue,
    JobStatus,
    NotYourJobError,
    OwnerBusyError,
    PolicyError,
    QueueFullError,
    TrainingPolicy,
    TrainProgress,
    checkpoint_path,
    completed_result,
    default_workers,
    preload_data,
    save_trained,
    start_training,
    status_dict,
    threads_per_worker,
    training_job,
)
from mnistsum.precision import PrecisionError
from mnistsum.train import BatchEnd

TINY = TrainConfig(epochs=2, batch_size=64, device="cpu")
ALICE, BOB, CAROL = "alice-token-0000000", "bob-token-00000000", "carol-token-000000"


def tiny_data() -> dict:
    return {"train_set": synthetic_split(256, seed=1), "test_set": synthetic_split(100, seed=2)}


def wait_until(read: Callable[[], JobStatus], condition: Callable[[JobStatus], bool], timeout: float = 20) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read()
        if condition(status):
            return status
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s; last status {read()}")


@pytest.fixture
def queue():
    q = JobQueue(workers=1, max_queue=3)
    yield q
    q.close()


@pytest.fixture(scope="module")
def finished() -> JobStatus:
    q = JobQueue()
    status = start_training(q, ALICE, TINY, **tiny_data())
    done = q.wait(ALICE, status.job_id, 60)
    q.close()
    return done


def blocked_job(release: threading.Event, log: list | None = None, tag: str = ""):
    def events(stop):
        if log is not None:
            log.append(tag)
        yield "started"
        while not release.wait(0.01):
            if stop.is_set():
                return
        yield "done"

    return events


# --- the queue -------------------------------------------------------------------------------


def test_submit_returns_at_once_and_the_latest_snapshot_is_kept(queue):
    release = threading.Event()
    started = queue.submit(ALICE, "demo", blocked_job(release))
    assert started.state in ("queued", "running") and started.owner == ALICE and started.name == "demo"
    running = wait_until(lambda: queue.status(ALICE, started.job_id), lambda s: s.latest == "started")
    assert running.state == "running" and running.place is None
    release.set()
    done = queue.wait(ALICE, started.job_id, 10)
    assert (done.state, done.latest, done.error) == ("finished", "done", None)
    assert done.ended >= done.started >= done.submitted and not done.active


def test_runs_wait_first_in_first_out_with_their_place_and_an_estimated_start(queue):
    release, order = threading.Event(), []
    first = queue.submit(ALICE, "run", blocked_job(release, order, "alice"))
    wait_until(lambda: queue.status(ALICE, first.job_id), lambda s: s.state == "running")
    second = queue.submit(BOB, "run", blocked_job(release, order, "bob"))
    third = queue.submit(CAROL, "run", blocked_job(release, order, "carol"))
    bob, carol = queue.status(BOB, second.job_id), queue.status(CAROL, third.job_id)
    assert (bob.state, bob.place, carol.state, carol.place) == ("queued", 1, "queued", 2)
    assert 0 < bob.start_eta_s < carol.start_eta_s  # carol waits for alice's and bob's runs
    assert queue.counts() == {"queued": 2, "running": 1, "workers": 1}
    release.set()
    for owner, job in ((ALICE, first), (BOB, second), (CAROL, third)):
        assert queue.wait(owner, job.job_id, 10).state == "finished"
    assert order == ["alice", "bob", "carol"]


def test_one_queued_or_running_run_per_visitor(queue):
    release = threading.Event()
    mine = queue.submit(ALICE, "run", blocked_job(release))
    with pytest.raises(OwnerBusyError, match=f"you already have a run \\(#{mine.job_id}"):
        queue.submit(ALICE, "race", blocked_job(release))
    queue.submit(BOB, "run", blocked_job(release))  # others are not held up
    release.set()
    queue.wait(ALICE, mine.job_id, 10)
    again = queue.submit(ALICE, "run", blocked_job(release))  # after it ends, the next one is accepted
    assert queue.wait(ALICE, again.job_id, 10).state == "finished"


def test_the_queue_cap_refuses_with_the_reason(queue):
    release = threading.Event()
    first = queue.submit("owner-running-00000", "run", blocked_job(release))
    wait_until(lambda: queue.status("owner-running-00000", first.job_id), lambda s: s.state == "running")
    for k in range(3):  # max_queue=3 may wait
        queue.submit(f"owner-waiting-{k:05d}", "run", blocked_job(release))
    with pytest.raises(QueueFullError, match="the queue is full \\(3 runs waiting"):
        queue.submit(ALICE, "run", blocked_job(release))
    assert queue.latest(ALICE) is None  # nothing was queued for the refused visitor
    release.set()


def test_stop_cancels_a_queued_run_and_the_queue_moves_on(queue):
    release = threading.Event()
    first = queue.submit(ALICE, "run", blocked_job(release))
    wait_until(lambda: queue.status(ALICE, first.job_id), lambda s: s.state == "running")
    second = queue.submit(BOB, "run", blocked_job(release))
    third = queue.submit(CAROL, "run", blocked_job(release))
    cancelled = queue.stop(BOB)
    assert cancelled.job_id == second.job_id and cancelled.state == "cancelled" and cancelled.started is None
    assert queue.status(CAROL, third.job_id).place == 1  # carol moved up
    release.set()
    assert queue.wait(CAROL, third.job_id, 10).state == "finished"
    assert queue.status(BOB, second.job_id).state == "cancelled"  # it never ran


def test_stop_ends_a_running_job_cleanly(queue):
    def endless(stop):
        count = 0
        while not stop.is_set():
            count += 1
            yield count
            time.sleep(0.005)

    job = queue.submit(ALICE, "endless", endless)
    wait_until(lambda: queue.status(ALICE, job.job_id), lambda s: (s.latest or 0) >= 3)
    assert queue.stop(ALICE).state == "stopping"
    done = queue.wait(ALICE, job.job_id, 10)
    assert done.state == "stopped" and done.error is None and done.latest >= 3


def test_a_visitor_cannot_read_or_stop_another_visitors_job(queue):
    release = threading.Event()
    job = queue.submit(ALICE, "run", blocked_job(release))
    with pytest.raises(NotYourJobError, match=f"run #{job.job_id} is not one of yours"):
        queue.status(BOB, job.job_id)
    with pytest.raises(NotYourJobError):
        queue.stop(BOB, job.job_id)
    assert queue.stop(BOB) is None  # Bob has nothing to stop
    assert queue.latest(BOB) is None and queue.latest(ALICE).job_id == job.job_id
    assert queue.status(ALICE, job.job_id).state in ("queued", "running")  # untouched
    release.set()


def test_a_job_that_raises_is_marked_failed_and_the_queue_keeps_working(queue):
    def broken(stop):
        yield "partial"
        raise RuntimeError("boom")

    failed = queue.submit(ALICE, "broken", broken)
    after = queue.submit(BOB, "next", lambda stop: iter([1]))  # queued behind the one that will crash
    failed = queue.wait(ALICE, failed.job_id, 10)
    assert failed.state == "failed" and failed.error == "RuntimeError: boom" and failed.latest == "partial"
    assert queue.wait(BOB, after.job_id, 10).state == "finished"


def test_worker_count_and_threads_leave_a_core_for_predictions():
    assert default_workers(2) == 1 and default_workers(8) == 4 and default_workers(1) == 1
    assert threads_per_worker(1, cpus=2) == 1 and threads_per_worker(2, cpus=2) == 1
    assert threads_per_worker(1, cpus=8) == 7 and threads_per_worker(3, cpus=8) == 2
    seen = []
    q = JobQueue(workers=1, threads=1)

    def report(stop):
        import os

        import torch

        seen.append(torch.get_num_threads())
        seen.append(
            os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) - os.getpriority(os.PRIO_PROCESS, os.getpid())
        )
        yield None

    job = q.submit(ALICE, "threads", report)
    q.wait(ALICE, job.job_id, 10)
    q.close()
    assert seen == [1, 10]  # one torch thread, and ten nice levels below the serving threads


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
    assert data["state"] == "finished" and data["name"] == "training run"
    assert len(data["epochs"]) == 2 and 0 <= data["epochs"][-1]["test_sum_accuracy"] <= 1
    assert data["progress"]["fraction"] == 1.0 and data["progress"]["epochs"] == 2
    assert data["final"]["misclassified_count"] == len(finished.latest.final_test.misclassified)
    assert len(data["final"]["confusion"]) == 10 and "misclassified" not in data["final"]
    assert status_dict(None)["state"] == "idle"


def test_misclassified_examples_carry_the_test_image_and_labels(finished):
    wrong = finished.latest.final_test.misclassified[:3]
    shown = finished.latest.misclassified(limit=3)
    assert [(true, predicted) for _, true, predicted in shown] == [(w.true, w.predicted) for w in wrong]
    for (image, _, _), w in zip(shown, wrong, strict=True):
        assert image.shape == (28, 28) and 0 <= image.min() and image.max() <= 1
        assert (image * 255).round().astype("uint8").tolist() == finished.latest.test_set.images[w.index].tolist()


def test_stop_ends_training_at_the_next_batch_and_its_weights_are_not_offered(queue):
    job = start_training(queue, ALICE, TINY.replace(epochs=30, batch_size=32), **tiny_data())
    wait_until(lambda: queue.status(ALICE, job.job_id), lambda s: s.latest is not None and s.latest.batch is not None)
    queue.stop(ALICE)
    done = queue.wait(ALICE, job.job_id, 30)
    assert done.state == "stopped" and done.latest.result.stopped and not done.latest.completed
    assert done.latest.batch.epoch < 30
    with pytest.raises(ValueError, match="stopped"):
        completed_result(done)


def test_a_nan_loss_fails_the_job_with_the_reason(queue):
    job = queue.submit(ALICE, TRAINING_JOB, training_job(TINY.replace(lr=1e12), **tiny_data()))  # past the policy
    failed = queue.wait(ALICE, job.job_id, 30)
    assert failed.state == "failed" and failed.error.startswith("FloatingPointError: loss became nan")
    with pytest.raises(ValueError, match="no trained model"):
        completed_result(failed)


def test_missing_data_fails_the_job_with_the_fix(queue, tmp_path):
    job = start_training(queue, ALICE, TINY.replace(data_dir=str(tmp_path)))
    failed = queue.wait(ALICE, job.job_id, 30)
    assert failed.state == "failed" and failed.error.startswith("DataMissingError: MNIST not found")
    assert "download" in failed.error and "MNISTSUM_DATA" in failed.error


def test_results_are_not_offered_while_running(queue):
    job = start_training(queue, ALICE, TINY.replace(epochs=30, batch_size=32), **tiny_data())
    with pytest.raises(ValueError, match="still running"):
        completed_result(queue.status(ALICE, job.job_id))
    with pytest.raises(ValueError, match="no trained model"):
        completed_result(None)
    queue.stop(ALICE)
    queue.wait(ALICE, job.job_id, 30)


# --- the deployment policy -------------------------------------------------------------------


def test_policy_defaults_to_the_pages_limits_and_reads_the_environment():
    assert TrainingPolicy.from_env({}) == TrainingPolicy()
    TrainingPolicy().check(TINY.replace(epochs=30, limit=None, batch_size=1024))
    policy = TrainingPolicy.from_env(
        {
            "MNISTSUM_TRAINING": "On",
            "MNISTSUM_MAX_EPOCHS": "5",
            "MNISTSUM_MAX_LIMIT": "10000",
            "MNISTSUM_MAX_BATCH_SIZE": "512",
        }
    )
    assert policy == TrainingPolicy(True, 5, 10000, 512, workers=default_workers(), max_queue=60)
    assert TrainingPolicy().describe() == ""  # the page's own limits are not a deployment's caps
    assert TrainingPolicy.from_env({"MNISTSUM_TRAIN_WORKERS": "2", "MNISTSUM_MAX_QUEUE": "5"}).workers == 2
    assert "epochs 5" in policy.describe() and "training images 10,000" in policy.describe()
    assert not TrainingPolicy.from_env({"MNISTSUM_TRAINING": "off"}).enabled


@pytest.mark.parametrize(
    "env",
    [
        {"MNISTSUM_TRAINING": "maybe"},
        {"MNISTSUM_MAX_EPOCHS": "ten"},
        {"MNISTSUM_MAX_LIMIT": "0"},
        {"MNISTSUM_TRAIN_WORKERS": "two"},
        {"MNISTSUM_MAX_QUEUE": "-1"},
    ],
)
def test_policy_rejects_malformed_values_at_startup(env):
    with pytest.raises(ValueError, match=next(iter(env))):
        TrainingPolicy.from_env(env)


def test_policy_refuses_what_it_caps_before_any_job_starts(queue):
    capped = TrainingPolicy(max_epochs=3, max_limit=5000, max_batch_size=256)
    capped.check(TINY.replace(epochs=3, limit=5000, batch_size=256))
    with pytest.raises(PolicyError, match="epochs 4 is above this deployment's cap of 3"):
        start_training(queue, ALICE, TINY.replace(epochs=4, limit=100), capped)
    with pytest.raises(PolicyError, match="the full training set is above .* 5,000"):
        start_training(queue, ALICE, TINY.replace(epochs=1, limit=None), capped)
    with pytest.raises(PolicyError, match="batch size 512"):
        start_training(queue, ALICE, TINY.replace(epochs=1, limit=100, batch_size=512), capped)
    with pytest.raises(PolicyError, match="switched off"):
        start_training(queue, ALICE, TINY, TrainingPolicy(enabled=False))
    assert queue.latest(ALICE) is None  # nothing was started


def test_bf16_forced_on_a_server_without_it_is_refused_before_the_queue(queue, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    with pytest.raises(PrecisionError, match="bf16 needs native bf16"):
        start_training(queue, ALICE, TINY.replace(precision="bf16"), **tiny_data())
    assert queue.latest(ALICE) is None


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


def test_ended_jobs_are_forgotten_once_superseded_and_beyond_the_bound():
    q = JobQueue(workers=1, keep_finished=2)
    try:
        first = q.submit(ALICE, "run", lambda stop: iter([1]))
        q.wait(ALICE, first.job_id, 10)
        second = q.submit(ALICE, "run", lambda stop: iter([2]))  # Alice's newer run supersedes the first
        q.wait(ALICE, second.job_id, 10)
        with pytest.raises(NotYourJobError, match="no longer kept"):
            q.status(ALICE, first.job_id)
        for owner in (BOB, CAROL):
            q.wait(owner, q.submit(owner, "run", lambda stop: iter([3])).job_id, 10)
        q.submit("dave-token-0000000", "run", lambda stop: iter([4]))  # three ended latest runs: the oldest goes
        assert q.latest(ALICE) is None and q.latest(BOB).state == "finished"
    finally:
        q.close()


def test_preload_fills_the_cache_the_first_run_reads_and_a_missing_folder_is_left_to_the_run(mnist_dir, tmp_path):
    preload_data(str(mnist_dir)).join()
    assert cached_split(str(mnist_dir), True) is cached_split(str(mnist_dir), True)
    assert (str(mnist_dir.resolve()), False) in data_module._SPLITS
    preload_data(str(tmp_path)).join()  # no MNIST there: nothing raised, nothing cached
    assert (str(tmp_path.resolve()), True) not in data_module._SPLITS
