"""What a training job has produced so far, for the page, the API and the leaderboard.

`training_job(cfg)` is the event factory the queue runs: it loads MNIST (once per process)
and turns `train()`'s events into `TrainProgress` snapshots, each a complete, immutable view
(the log, per-epoch metrics, a live loss curve, the final test metrics), so a poller needs
nothing but the latest one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..data import DataMissingError, MnistSplit, cached_split
from ..leaderboard import Leaderboard, owner_tag, public_config
from ..metrics import EvalMetrics
from ..precision import resolve_precision
from ..train import BatchEnd, EpochEnd, TrainEvent, TrainResult, pick_device, train
from .policy import TrainingPolicy
from .queue import EventFactory, JobQueue, JobStatus, OnDone, Resumer
from .store import RunRecord

TRAINING_JOB = "training run"  # the queue's job name, so the Train tab finds its own

LOSS_POINTS_PER_EPOCH = 40


@dataclass(frozen=True)
class TrainProgress:
    """What a training job has produced so far; a new object after every event."""

    config: TrainConfig
    test_set: MnistSplit | None = None  # kept to show the misclassified digits
    batch: BatchEnd | None = None  # the latest batch; None while the data loads
    history: tuple[EpochEnd, ...] = ()
    result: TrainResult | None = None
    # (fractional epoch, mean batch loss since the previous point): a curve that moves within the first epoch
    batch_losses: tuple[tuple[float, float], ...] = ()
    loss_window: tuple[float, int] = (0.0, 0)  # batch losses summed since the last point, and how many

    def advance(self, event: TrainEvent) -> TrainProgress:
        if isinstance(event, BatchEnd):
            return self._add_batch(event)
        if isinstance(event, EpochEnd):
            return dataclasses.replace(self, history=(*self.history, event))
        return dataclasses.replace(self, result=event)

    def _add_batch(self, event: BatchEnd) -> TrainProgress:
        """Average batch losses into about `LOSS_POINTS_PER_EPOCH` points, so long runs stay small to send."""
        total, count = self.loss_window[0] + event.loss, self.loss_window[1] + 1
        if count < event.num_batches // LOSS_POINTS_PER_EPOCH and event.batch < event.num_batches:
            return dataclasses.replace(self, batch=event, loss_window=(total, count))
        point = (event.epoch - 1 + event.batch / event.num_batches, total / count)
        return dataclasses.replace(self, batch=event, batch_losses=(*self.batch_losses, point), loss_window=(0.0, 0))

    @property
    def completed(self) -> bool:
        """Trained to the last epoch (a stopped run's weights are mid-epoch and untested)."""
        return self.result is not None and not self.result.stopped

    @property
    def fraction(self) -> float:
        """Share of all batches done, 0..1."""
        if self.batch is None:
            return 0.0
        done = (self.batch.epoch - 1) * self.batch.num_batches + self.batch.batch
        return done / (self.config.epochs * self.batch.num_batches)

    @property
    def evaluating(self) -> bool:
        """The epoch's batches are done and its test evaluation is running."""
        b = self.batch
        return b is not None and b.batch == b.num_batches and len(self.history) < b.epoch and self.result is None

    @property
    def log_text(self) -> str:
        return "\n".join(end.log_line for end in self.history)

    @property
    def final_test(self) -> EvalMetrics | None:
        """Test metrics of a completed run (with the confusion matrix and misclassified list)."""
        return self.result.test_metrics if self.completed and self.result else None

    def misclassified(self, limit: int = 24) -> list[tuple[np.ndarray, int, int]]:
        """The first misclassified test digits of a completed run: (28x28 image in [0, 1], true, predicted)."""
        final = self.final_test
        if final is None or self.test_set is None:
            return []
        images = self.test_set.images
        return [(images[m.index].numpy() / 255.0, m.true, m.predicted) for m in final.misclassified[:limit]]

    def epoch_rows(self) -> list[dict[str, Any]]:
        """One flat row per epoch: train and test, digit and sum, accuracy and mean loss."""
        return [epoch_row(end) for end in self.history]

    def curve_rows(self) -> list[dict[str, Any]]:
        """Long-format rows (epoch, metric, series, value) for line plots, one series per split and head."""
        return [
            {"epoch": row["epoch"], "metric": metric, "series": f"{head} {split}", "value": row[key]}
            for row in self.epoch_rows()
            for metric in ("accuracy", "loss")
            for head in ("digit", "sum")
            for split in ("train", "validation", "test")
            if (key := f"{split}_{head}_{metric}") in row
        ]

    def result_summary(self) -> dict[str, Any]:
        """What the run store keeps of how it ended: epochs done and, when completed, the test metrics."""
        final = self.final_test
        return {"epochs_done": len(self.history), **({} if final is None else final.summary())}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary for API clients."""
        b = self.batch
        final = self.final_test
        return {
            "config": public_config(self.config.to_dict()),
            "progress": {
                "fraction": self.fraction,
                "epoch": b.epoch if b else 0,
                "epochs": self.config.epochs,
                "batch": b.batch if b else 0,
                "num_batches": b.num_batches if b else 0,
                "samples_per_s": b.samples_per_s if b else 0.0,
                "eta_s": b.eta_s if b else None,
            },
            "log": self.log_text,
            "epochs": self.epoch_rows(),
            "batch_losses": [list(point) for point in self.batch_losses],
            "final": None if final is None else _final_summary(final),
        }


def _final_summary(test: EvalMetrics) -> dict[str, Any]:
    """Final test metrics with the misclassified list reduced to its length (it can be thousands long)."""
    return {**test.summary(), "confusion": test.confusion, "misclassified_count": len(test.misclassified)}


def epoch_row(end: EpochEnd) -> dict[str, Any]:
    """Flatten an `EpochEnd`. Losses are means (per batch in training, per image or pair when evaluated)."""
    row: dict[str, Any] = {
        "epoch": end.epoch,
        "seconds": round(end.seconds, 2),
        "train_digit_accuracy": end.train.digit_accuracy,
        "train_sum_accuracy": end.train.sum_accuracy,
        "train_digit_loss": end.train.digit_loss_batch_mean,
        "train_sum_loss": end.train.sum_loss_batch_mean,
    }
    for split, m in (("validation", end.val), ("test", end.test)):
        if m is not None:
            row |= {
                f"{split}_digit_accuracy": m.digit_accuracy,
                f"{split}_sum_accuracy": m.sum_accuracy,
                f"{split}_both_accuracy": m.both_accuracy,
                f"{split}_sum_consistency": m.sum_consistency,
                f"{split}_digit_loss": m.digit_loss_per_image,
                f"{split}_sum_loss": m.sum_loss_per_pair,
            }
    return row


def preload_data(data_dir: str) -> threading.Thread:
    """Load MNIST into `cached_split`'s memory on a background thread, so the first run after
    launch starts training at once (a missing dataset is left for that run to report)."""

    def load() -> None:
        with contextlib.suppress(DataMissingError, OSError):
            cached_split(data_dir, True)
            cached_split(data_dir, False)

    thread = threading.Thread(target=load, daemon=True, name="mnistsum-preload")
    thread.start()
    return thread


def training_job(
    cfg: TrainConfig, train_set: MnistSplit | None = None, test_set: MnistSplit | None = None
) -> EventFactory:
    """An event factory for `JobQueue.submit`: loads the data if not given, then runs `train()`."""

    def events(stop: threading.Event) -> Iterator[TrainProgress]:
        progress = TrainProgress(cfg)
        yield progress
        train_split = train_set if train_set is not None else cached_split(cfg.data_dir, True, cfg.download)
        test_split = test_set if test_set is not None else cached_split(cfg.data_dir, False, cfg.download)
        progress = dataclasses.replace(progress, test_set=test_split)
        for event in train(cfg, train_split, test_split, stop):
            progress = progress.advance(event)
            yield progress

    return events


def status_dict(status: JobStatus | None) -> dict[str, Any]:
    """A JSON-safe view of one visitor's job for `/train_status`: state, queue place, error, progress."""
    if status is None:
        return {"job_id": None, "name": None, "state": "idle", "error": None, "place": None, "start_eta_s": None}
    out: dict[str, Any] = {
        "job_id": status.job_id,
        "name": status.name,
        "state": status.state,
        "error": status.error,
        "place": status.place,
        "start_eta_s": None if status.start_eta_s is None else round(status.start_eta_s, 1),
        "elapsed_s": round(status.elapsed, 2),
        "result": status.result,
    }
    if isinstance(status.latest, TrainProgress):
        out.update(status.latest.to_dict())
    return out


def completed_result(status: JobStatus | None) -> TrainResult:
    """The finished training run behind `status`, or a ValueError saying why there is none."""
    if status is None:
        raise ValueError("no trained model yet: start a training run first")
    progress = status.latest
    if status.active:
        raise ValueError("training is still running; wait for it to finish")
    if not isinstance(progress, TrainProgress) or progress.result is None:
        raise ValueError("no trained model yet: start a training run first")
    if not progress.completed:
        raise ValueError("the last run was stopped before the end; its weights are mid-epoch and untested")
    return progress.result


def start_training(
    queue: JobQueue,
    owner: str,
    cfg: TrainConfig,
    policy: TrainingPolicy | None = None,
    on_done: OnDone | None = None,
    train_set: MnistSplit | None = None,
    test_set: MnistSplit | None = None,
    *,
    class_code: str | None = None,
    address: str | None = None,
    settings: dict[str, Any] | None = None,
) -> JobStatus:
    """Check the class code and `cfg` against the policy and queue it for `owner`, counted against the
    client `address` if given; `PolicyError` (`ClassCodeError`) or `JobRefused` if refused.
    `settings` (JSON-safe, e.g. the nickname) is stored with the config, to resume the run after a restart.
    `PrecisionError` for bf16 forced on a server without it: now, not after a wait in the queue."""
    policy = policy or TrainingPolicy()
    with_code = policy.check_class_code(class_code)
    policy.check(cfg)
    resolve_precision(cfg.precision, pick_device(cfg.device))
    return queue.submit(
        owner,
        TRAINING_JOB,
        training_job(cfg, train_set, test_set),
        on_done,
        settings={**(settings or {}), "config": cfg.to_dict()},
        address=address,
        address_limit=None if address is None else policy.address_limit(with_code),
    )


def submit_run(
    queue: JobQueue,
    board: Leaderboard,
    owner: str,
    cfg: TrainConfig,
    nickname: Any = "",
    policy: TrainingPolicy | None = None,
    class_code: str | None = None,
    address: str | None = None,
) -> JobStatus:
    """A visitor's run, the way the Train tab and `/train_start` queue it: the nickname checked, the run
    stored so it survives a restart, and a leaderboard row under the nickname once it completes."""
    policy = policy or TrainingPolicy()
    nickname = policy.check_nickname(nickname)
    return start_training(
        queue,
        owner,
        cfg,
        policy,
        on_done=leaderboard_recorder(board, nickname, owner, address=None if address is None else owner_tag(address)),
        class_code=class_code,
        address=address,
        settings={"nickname": nickname},
    )


def leaderboard_recorder(
    board: Leaderboard, nickname: str, token: str | None = None, owner: str | None = None, address: str | None = None
) -> OnDone:
    """An `on_done` for `start_training`: a completed run becomes a leaderboard row (stopped or failed ones do not).
    `owner` is the token's tag, for a run resumed after a restart (the store never kept the token)."""

    def record(status: JobStatus) -> dict[str, Any] | None:
        progress = status.latest
        if status.state == "finished" and isinstance(progress, TrainProgress) and progress.completed:
            return {"leaderboard_id": board.record(progress.result, nickname, token, owner=owner, address=address)}
        return None

    return record


def training_resumer(
    board: Leaderboard, train_set: MnistSplit | None = None, test_set: MnistSplit | None = None
) -> Resumer:
    """Rebuilds a stored training run after a restart (for `JobQueue.restore`): the same config, and the
    same nickname on the leaderboard, under the owner's tag."""

    def resume(record: RunRecord) -> tuple[EventFactory, OnDone]:
        cfg = TrainConfig.from_dict(record.settings["config"])
        nickname = record.settings.get("nickname", "")
        return training_job(cfg, train_set, test_set), leaderboard_recorder(
            board, nickname, owner=record.owner, address=record.address
        )

    return resume
