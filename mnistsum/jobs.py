"""Background jobs for the app: one at a time, stoppable, observed by polling.

A web request must return at once, yet training takes minutes, and on a shared deployment
every visitor sees the same machine. So a `JobRunner` runs one event generator at a time in
a daemon thread and keeps only the latest value it yielded. Each value is a complete,
immutable snapshot, so a poller (a `gr.Timer`, a notebook, a test) reads one object and never
sees a half-updated state, and a page reloaded mid-run simply polls again and re-attaches.

The runner is generic: the Train tab runs `train()` through `training_job()`, and the fusion
race can run `race()`, whose updates are already snapshots. Errors inside a job end it with
the message kept for display; the app that started it keeps serving.

The training-specific parts live here too: `TrainProgress` (what a run has produced so far),
`TrainingPolicy` (the environment's limits for public deployments) and `save_trained`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping

import numpy as np

from .checkpoint import save_checkpoint
from .config import SHIPPED_WEIGHTS, TrainConfig
from .data import MnistSplit, ensure_splits
from .metrics import EvalMetrics
from .train import BatchEnd, EpochEnd, TrainEvent, TrainResult, checkpoint_meta, train

log = logging.getLogger(__name__)

JobState = Literal["idle", "running", "stopping", "finished", "stopped", "failed"]
EventFactory = Callable[[threading.Event], Iterable[Any]]


class JobBusyError(RuntimeError):
    """A job is already running; the message names it."""


@dataclass(frozen=True)
class JobStatus:
    """One immutable view of the runner; `latest` is the last value the job yielded."""

    job_id: int  # 0 before the first job; lets a poller tell a new job from the old one
    name: str
    state: JobState
    latest: Any = None
    error: str | None = None
    started: float | None = None  # time.time()
    ended: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ("running", "stopping")

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.time()) - self.started


class JobRunner:
    """Runs at most one job at a time in a background thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status = JobStatus(0, "", "idle")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def status(self) -> JobStatus:
        return self._status

    def start(self, name: str, make_events: EventFactory) -> JobStatus:
        """Run `make_events(stop_event)` in the background; `JobBusyError` if a job is running.

        The factory is called in the worker thread, so slow setup (loading data) does not
        hold up the caller and its errors are captured like any other.
        """
        with self._lock:
            if self._status.active:
                raise JobBusyError(
                    f"a {self._status.name} job is already running (for {self._status.elapsed:.0f}s); "
                    "stop it or wait for it to finish"
                )
            self._stop = threading.Event()
            self._status = JobStatus(self._status.job_id + 1, name, "running", started=time.time())
            self._thread = threading.Thread(
                target=self._run, args=(make_events, self._stop), name=f"mnistsum-{name}", daemon=True
            )
            self._thread.start()
            return self._status

    def stop(self) -> JobStatus:
        """Ask the running job to stop at its next check (for training: the next batch)."""
        with self._lock:
            if self._status.state == "running":
                self._stop.set()
                self._status = dataclasses.replace(self._status, state="stopping")
            return self._status

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the current job ends or `timeout` passes (for scripts and tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._status

    def _run(self, make_events: EventFactory, stop: threading.Event) -> None:
        try:
            for snapshot in make_events(stop):
                self._set(latest=snapshot)
        except Exception as err:  # anything: NaN loss, out of memory, missing data
            log.exception("background job failed")
            self._set(state="failed", error=f"{type(err).__name__}: {err}", ended=time.time())
        else:
            self._set(state="stopped" if stop.is_set() else "finished", ended=time.time())

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._status = dataclasses.replace(self._status, **changes)


RUNNER = JobRunner()  # the app's one runner: training and the fusion race take turns on the CPU


# --- training jobs -------------------------------------------------------------------------

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

    def advance(self, event: TrainEvent) -> "TrainProgress":
        if isinstance(event, BatchEnd):
            return self._add_batch(event)
        if isinstance(event, EpochEnd):
            return dataclasses.replace(self, history=(*self.history, event))
        return dataclasses.replace(self, result=event)

    def _add_batch(self, event: BatchEnd) -> "TrainProgress":
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
            for split in ("train", "test")
            if (key := f"{split}_{head}_{metric}") in row
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary for API clients."""
        b = self.batch
        final = self.final_test
        return {
            "config": self.config.to_dict(),
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
    """Flatten an `EpochEnd`. Losses are means (per batch in training, per image or pair on the test set)."""
    row: dict[str, Any] = {
        "epoch": end.epoch,
        "seconds": round(end.seconds, 2),
        "train_digit_accuracy": end.train.digit_accuracy,
        "train_sum_accuracy": end.train.sum_accuracy,
        "train_digit_loss": end.train.digit_loss_batch_mean,
        "train_sum_loss": end.train.sum_loss_batch_mean,
    }
    if end.test is not None:
        t = end.test
        row |= {
            "test_digit_accuracy": t.digit_accuracy,
            "test_sum_accuracy": t.sum_accuracy,
            "test_both_accuracy": t.both_accuracy,
            "test_sum_consistency": t.sum_consistency,
            "test_digit_loss": t.digit_loss_per_image,
            "test_sum_loss": t.sum_loss_per_pair,
        }
    return row


def training_job(
    cfg: TrainConfig, train_set: MnistSplit | None = None, test_set: MnistSplit | None = None
) -> EventFactory:
    """An event factory for `JobRunner.start`: loads the data if not given, then runs `train()`."""

    def events(stop: threading.Event) -> Iterator[TrainProgress]:
        progress = TrainProgress(cfg)
        yield progress
        train_split, test_split = ensure_splits(cfg.data_dir, cfg.download, train_set, test_set)
        progress = dataclasses.replace(progress, test_set=test_split)
        for event in train(cfg, train_split, test_split, stop):
            progress = progress.advance(event)
            yield progress

    return events


def status_dict(status: JobStatus) -> dict[str, Any]:
    """A JSON-safe view of the runner for `/train_status`: state, error, and a training job's progress."""
    out: dict[str, Any] = {
        "job_id": status.job_id,
        "name": status.name,
        "state": status.state,
        "error": status.error,
        "elapsed_s": round(status.elapsed, 2),
    }
    if isinstance(status.latest, TrainProgress):
        out.update(status.latest.to_dict())
    return out


def completed_result(status: JobStatus) -> TrainResult:
    """The finished training run behind `status`, or a ValueError saying why there is none."""
    progress = status.latest
    if status.active:
        raise ValueError("training is still running; wait for it to finish")
    if not isinstance(progress, TrainProgress) or progress.result is None:
        raise ValueError("no trained model yet: start a training run first")
    if not progress.completed:
        raise ValueError("the last run was stopped before the end; its weights are mid-epoch and untested")
    return progress.result


# --- limits for public deployments ---------------------------------------------------------

TRAINING_ENV = "MNISTSUM_TRAINING"
MAX_EPOCHS_ENV = "MNISTSUM_MAX_EPOCHS"
MAX_LIMIT_ENV = "MNISTSUM_MAX_LIMIT"
MAX_BATCH_SIZE_ENV = "MNISTSUM_MAX_BATCH_SIZE"
_ON, _OFF = {"1", "on", "true", "yes"}, {"0", "off", "false", "no"}


class PolicyError(ValueError):
    """The request is outside what this deployment allows; the message says which limit."""


@dataclass(frozen=True)
class TrainingPolicy:
    """What this deployment lets visitors train; unlimited unless the environment says otherwise."""

    enabled: bool = True
    max_epochs: int | None = None
    max_limit: int | None = None  # most training images per run
    max_batch_size: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "TrainingPolicy":
        """Read the MNISTSUM_* variables; a malformed value raises ValueError at startup, not mid-demo."""
        env = os.environ if environ is None else environ
        switch = env.get(TRAINING_ENV, "on").strip().lower()
        if switch not in _ON | _OFF:
            raise ValueError(f"{TRAINING_ENV} must be 'on' or 'off', got {env[TRAINING_ENV]!r}")
        return cls(
            enabled=switch in _ON,
            max_epochs=_positive_int(env, MAX_EPOCHS_ENV),
            max_limit=_positive_int(env, MAX_LIMIT_ENV),
            max_batch_size=_positive_int(env, MAX_BATCH_SIZE_ENV),
        )

    def check(self, cfg: TrainConfig) -> None:
        """Raise `PolicyError` if `cfg` asks for more than this deployment allows."""
        if not self.enabled:
            raise PolicyError(
                f"training is switched off on this deployment ({TRAINING_ENV}=off), to keep it responsive "
                "for everyone; train on your own machine with `python -m mnistsum.train --preset class`"
            )
        caps = (
            ("epochs", cfg.epochs, self.max_epochs, MAX_EPOCHS_ENV),
            ("training subset size", cfg.limit, self.max_limit, MAX_LIMIT_ENV),
            ("batch size", cfg.batch_size, self.max_batch_size, MAX_BATCH_SIZE_ENV),
        )
        for what, value, cap, env in caps:
            if cap is not None and (value is None or value > cap):
                shown = "the full training set" if value is None else f"{value:,}"
                raise PolicyError(f"{what} {shown} is above this deployment's cap of {cap:,} ({env})")

    def describe(self) -> str:
        """One line for the UI; empty when nothing is limited."""
        if not self.enabled:
            return f"Training is switched off on this deployment ({TRAINING_ENV}=off)."
        caps = [
            f"{label} {cap:,}"
            for label, cap in (
                ("epochs", self.max_epochs),
                ("training images", self.max_limit),
                ("batch size", self.max_batch_size),
            )
            if cap is not None
        ]
        return f"This deployment caps training at: {', '.join(caps)}." if caps else ""


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def start_training(
    runner: JobRunner,
    cfg: TrainConfig,
    policy: TrainingPolicy | None = None,
    train_set: MnistSplit | None = None,
    test_set: MnistSplit | None = None,
) -> JobStatus:
    """Check `cfg` against the policy and start it; `PolicyError` or `JobBusyError` if refused."""
    (policy or TrainingPolicy()).check(cfg)
    return runner.start("training", training_job(cfg, train_set, test_set))


# --- saving --------------------------------------------------------------------------------

CHECKPOINT_DIR_ENV = "MNISTSUM_CHECKPOINT_DIR"


def checkpoint_dir() -> Path:
    """Where the app saves checkpoints: `$MNISTSUM_CHECKPOINT_DIR`, else ./checkpoints."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV) or "checkpoints")


def checkpoint_path(name: str, directory: str | Path | None = None) -> Path:
    """A file inside `directory` for a user-typed name: no separators, no dot-files, never the shipped weights."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip().removesuffix(".pt")).strip(".-")[:64]
    if not stem:
        raise ValueError("give the checkpoint a name (letters, digits, '-', '_' and '.')")
    path = Path(directory if directory is not None else checkpoint_dir()) / f"{stem}.pt"
    if path.resolve() == SHIPPED_WEIGHTS.resolve():
        raise ValueError("the shipped weights are never overwritten from the app; choose another name")
    return path


def save_trained(result: TrainResult, name: str, directory: str | Path | None = None) -> Path:
    """Save a finished run as `<name>.pt` atomically; refuses to replace an existing file."""
    path = checkpoint_path(name, directory)
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose another name")
    save_checkpoint(path, result.model, checkpoint_meta(result))
    return path
