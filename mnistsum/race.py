"""The fusion race: the exercise's add-fusion and our concatenation, trained side by side.

Both lanes are ordinary `train()` runs whose configs share the seed, the data limit, the
epochs and the batch size, so they see the same images in the same order with the same n
draws (train.py guarantees it); stepping the two generators in lockstep makes the race fair
and lets the UI show both curves growing together. Any gap between the curves is then down
to what differs between the configs, not to luck in the data.

A class has one race (`ClassRace`): the teacher starts it and every visitor watches the same
one, including those who arrive later or after a restart, since its latest snapshot is kept in
the state folder. It runs on its own thread, outside the queue of the students' runs, and only
one at a time, so no race waits behind a student's run and no run waits behind a race.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import atomic_write_text
from .config import TrainConfig
from .data import MnistSplit, cached_split
from .jobs import TrainingPolicy, threads_per_worker
from .jobs.queue import WORKER_NICENESS, lower_priority
from .train import BatchEnd, EpochEnd, TrainResult, train

log = logging.getLogger(__name__)

SHARED_FIELDS = ("seed", "limit", "epochs", "batch_size", "redraw_n")
RACE_FILE = "race.json"  # the class's latest race, in the state folder


@dataclass(frozen=True)
class Lane:
    """One lane's progress; accuracies are on the test set, one entry per finished epoch."""

    label: str
    config: TrainConfig
    batches_done: int
    total_batches: int
    sum_accuracy: tuple[float, ...] = ()
    digit_accuracy: tuple[float, ...] = ()

    @property
    def progress(self) -> float:
        return self.batches_done / self.total_batches if self.total_batches else 0.0


@dataclass(frozen=True)
class RaceUpdate:
    """A complete snapshot: the latest one is all a poller needs."""

    lanes: tuple[Lane, Lane]
    finished: bool = False
    stopped: bool = False

    def series(self, metric: str) -> dict[str, list[tuple[int, float]]]:
        """One lane's (epoch, test accuracy) points per label; `metric` is "sum" or "digit"."""
        return {lane.label: list(enumerate(getattr(lane, f"{metric}_accuracy"), 1)) for lane in self.lanes}

    def curve_rows(self) -> list[dict[str, Any]]:
        """Long-format rows (lane, epoch, metric, accuracy) for a line plot."""
        return [
            {"lane": lane.label, "epoch": epoch, "metric": metric, "accuracy": value}
            for lane in self.lanes
            for metric, values in (("sum", lane.sum_accuracy), ("digit", lane.digit_accuracy))
            for epoch, value in enumerate(values, 1)
        ]


def lane_label(cfg: TrainConfig) -> str:
    return f"{cfg.fusion} fusion ({cfg.arch} backbone)"


def race_configs(isolate_fusion: bool = True, **overrides: Any) -> tuple[TrainConfig, TrainConfig]:
    """(add lane, concat lane): 5 epochs on 5,000 images, seed 0, unless `overrides` say otherwise.

    isolate_fusion=True puts both fusions on our backbone and training recipe, so the only
    difference is how n meets the digit evidence; False races the exercise's whole network
    (its backbone + add) against ours. The defaults take a couple of minutes on a CPU and the
    gap in the sum is unmistakable (the README's "How it works" has the measured end points)."""
    shared = {"epochs": 5, "limit": 5000, "seed": 0, **overrides}
    return (
        TrainConfig(arch="default" if isolate_fusion else "exercise", fusion="add", **shared),
        TrainConfig(arch="default", fusion="concat", **shared),
    )


def _advance(lane: Lane, event: BatchEnd | EpochEnd | TrainResult) -> Lane:
    if isinstance(event, BatchEnd):
        total = event.num_batches * lane.config.epochs
        done = (event.epoch - 1) * event.num_batches + event.batch
        return Lane(lane.label, lane.config, done, total, lane.sum_accuracy, lane.digit_accuracy)
    if isinstance(event, EpochEnd) and event.test is not None:
        return Lane(
            lane.label,
            lane.config,
            lane.batches_done,
            lane.total_batches,
            (*lane.sum_accuracy, event.test.sum_accuracy),
            (*lane.digit_accuracy, event.test.digit_accuracy),
        )
    return lane


def race(
    cfg_a: TrainConfig,
    cfg_b: TrainConfig,
    train_set: MnistSplit,
    test_set: MnistSplit,
    stop: threading.Event | None = None,
) -> Iterator[RaceUpdate]:
    """Train both configs in lockstep on one data order; yield a snapshot after every step."""
    differing = [f for f in SHARED_FIELDS if getattr(cfg_a, f) != getattr(cfg_b, f)]
    if differing:
        raise ValueError(f"a fair race needs the same {', '.join(differing)} in both configs")
    cfg_a, cfg_b = (cfg.replace(eval_every_epoch=True) for cfg in (cfg_a, cfg_b))
    lanes = _starting_lanes(cfg_a, cfg_b)
    stopped = False
    runs = zip(train(cfg_a, train_set, test_set, stop), train(cfg_b, train_set, test_set, stop))
    for event_a, event_b in runs:
        lanes = (_advance(lanes[0], event_a), _advance(lanes[1], event_b))
        stopped = stopped or any(isinstance(e, TrainResult) and e.stopped for e in (event_a, event_b))
        yield RaceUpdate(lanes)
    yield RaceUpdate(lanes, finished=True, stopped=stopped)


def _starting_lanes(cfg_a: TrainConfig, cfg_b: TrainConfig) -> tuple[Lane, Lane]:
    return Lane(lane_label(cfg_a), cfg_a, 0, 0), Lane(lane_label(cfg_b), cfg_b, 0, 0)


# --- the class's one race --------------------------------------------------------------------


class RaceRefused(PermissionError):
    """A race was not started or stopped; the message says why (a race runs, the token is wrong)."""


@dataclass(frozen=True)
class RaceRecord:
    """The class's latest race as everyone sees it; `update` is its latest snapshot."""

    race_id: int
    state: str  # running, stopping, finished, stopped, failed, interrupted (the server restarted mid-race)
    isolate_fusion: bool
    started: float  # time.time()
    update: RaceUpdate | None = None
    ended: float | None = None
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ("running", "stopping")

    @property
    def elapsed(self) -> float:
        return (self.ended or time.time()) - self.started

    @property
    def version(self) -> tuple:
        """Changes with the state, each epoch and each tenth of progress: when a page should redraw."""
        lanes = self.update.lanes if self.update else ()
        return (self.race_id, self.state, tuple((len(lane.sum_accuracy), int(lane.progress * 10)) for lane in lanes))

    def to_dict(self) -> dict[str, Any]:
        lanes = self.update.lanes if self.update else ()
        return {
            **{f: getattr(self, f) for f in ("race_id", "state", "isolate_fusion", "started", "ended", "error")},
            "finished": bool(self.update and self.update.finished),
            "lanes": [
                {
                    "label": lane.label,
                    "config": lane.config.to_dict(),
                    "batches_done": lane.batches_done,
                    "total_batches": lane.total_batches,
                    "sum_accuracy": list(lane.sum_accuracy),
                    "digit_accuracy": list(lane.digit_accuracy),
                }
                for lane in lanes
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RaceRecord:
        lanes = tuple(
            Lane(
                lane["label"],
                TrainConfig.from_dict(lane["config"]),
                int(lane["batches_done"]),
                int(lane["total_batches"]),
                tuple(float(v) for v in lane["sum_accuracy"]),
                tuple(float(v) for v in lane["digit_accuracy"]),
            )
            for lane in data["lanes"]
        )
        state = data["state"]
        update = RaceUpdate(lanes, finished=bool(data["finished"]), stopped=state != "finished") if lanes else None
        record = cls(int(data["race_id"]), state, bool(data["isolate_fusion"]), float(data["started"]), update)
        return dataclasses.replace(record, ended=data["ended"], error=data["error"])


def teacher_allows(expected: str | None, given: str | None) -> bool:
    """Whether `given` is the teacher token; with none configured (local use), anyone is the teacher."""
    if not expected:
        return True
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


class ClassRace:
    """One race for the whole class, at most one running, its latest snapshot kept in `path`.

    With a `teacher_token` (MNISTSUM_TEACHER_TOKEN), starting and stopping need it; without one
    anyone may. The race trains on its own thread with the same torch thread count and low
    priority as a queue worker, so predictions keep a core and the students' queue never waits
    for it. The file is rewritten (atomically) when the race starts, after each epoch and at the
    end: every visitor, and a restarted server, reads the same race.
    """

    def __init__(
        self,
        path: str | Path,
        teacher_token: str | None = None,
        policy: TrainingPolicy | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.overrides = overrides or {}  # `race_configs` settings for every race (a short one for tests)
        self.teacher_token = teacher_token or None
        self.policy = policy or TrainingPolicy()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._record = self._load()

    @property
    def needs_token(self) -> bool:
        return self.teacher_token is not None

    def latest(self) -> RaceRecord | None:
        """The class's latest race (running or ended), or None before the first one."""
        return self._record

    def start(
        self,
        token: str | None = None,
        isolate_fusion: bool = True,
        train_set: MnistSplit | None = None,
        test_set: MnistSplit | None = None,
        class_code: str | None = None,
        **overrides: Any,
    ) -> RaceRecord:
        """Start the class's race (`overrides`: `race_configs`'s, e.g. data_dir); `RaceRefused` for a wrong
        token or while one runs, `PolicyError` where this deployment does not allow the training it needs
        (or, with no teacher token set, the class code is missing or wrong)."""
        if not teacher_allows(self.teacher_token, token):
            raise RaceRefused("only the teacher starts the class's race: enter the teacher token")
        if self.teacher_token is None:  # no teacher here: training needs the class code, if the server has one
            self.policy.check_class_code(class_code)
        cfg_a, cfg_b = race_configs(isolate_fusion, **{**self.overrides, **overrides})
        for cfg in (cfg_a, cfg_b):
            self.policy.check(cfg)
        with self._lock:
            if self._record is not None and self._record.active:
                raise RaceRefused(f"race #{self._record.race_id} is still running: everyone is watching that one")
            race_id = self._record.race_id + 1 if self._record else 1
            self._stop = threading.Event()
            record = RaceRecord(
                race_id, "running", isolate_fusion, time.time(), RaceUpdate(_starting_lanes(cfg_a, cfg_b))
            )
            self._set(record, save=True)
            self._thread = threading.Thread(
                target=self._run, args=(record, cfg_a, cfg_b, train_set, test_set, self._stop), daemon=True
            )
            self._thread.start()
        return record

    def stop(self, token: str | None = None, class_code: str | None = None) -> RaceRecord | None:
        """Ask the running race to stop at the next batch: what starting it takes (the teacher's token
        when one is set, else the class code when the server has one) stops it too."""
        if not teacher_allows(self.teacher_token, token):
            raise RaceRefused("only the teacher stops the class's race: enter the teacher token")
        if self.teacher_token is None:
            self.policy.check_class_code(class_code)
        with self._lock:
            if self._record is not None and self._record.state == "running":
                self._stop.set()
                self._set(dataclasses.replace(self._record, state="stopping"))
            return self._record

    def wait(self, timeout: float | None = None) -> RaceRecord | None:
        """Block until the running race ends (scripts, tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._record

    def close(self, timeout: float = 30) -> None:
        self._stop.set()
        self.wait(timeout)

    def _run(
        self,
        record: RaceRecord,
        cfg_a: TrainConfig,
        cfg_b: TrainConfig,
        train_set: MnistSplit | None,
        test_set: MnistSplit | None,
        stop: threading.Event,
    ) -> None:
        torch.set_num_threads(threads_per_worker(self.policy.workers))
        lower_priority(WORKER_NICENESS)
        epochs = 0
        try:
            train_split = train_set if train_set is not None else cached_split(cfg_a.data_dir, True, cfg_a.download)
            test_split = test_set if test_set is not None else cached_split(cfg_a.data_dir, False, cfg_a.download)
            for update in race(cfg_a, cfg_b, train_split, test_split, stop):
                done = len(update.lanes[0].sum_accuracy)
                record = dataclasses.replace(self._record, update=update)
                self._set(record, save=done != epochs)
                epochs = done
            state = "stopped" if update.stopped else "finished"
            self._set(dataclasses.replace(self._record, state=state, ended=time.time()), save=True)
        except Exception as err:  # missing data, a bug: the class sees why
            log.exception("race #%s failed", record.race_id)
            failed = dataclasses.replace(
                self._record, state="failed", ended=time.time(), error=f"{type(err).__name__}: {err}"
            )
            self._set(failed, save=True)

    def _set(self, record: RaceRecord, save: bool = False) -> None:
        if self._record is not None and self._record.state == "stopping" and record.state == "running":
            record = dataclasses.replace(record, state="stopping")
        self._record = record  # one assignment: readers see the old record or the new one, never half
        if save:
            try:
                atomic_write_text(self.path, json.dumps(record.to_dict()))
            except OSError:
                log.exception("could not save the race to %s", self.path)

    def _unreadable(self, err: Exception) -> RaceRecord:
        """A saved race that cannot be read: kept aside as `<file>.bad` (nothing is deleted) and shown
        to the class as a failed race that says so, instead of vanishing with only a log line."""
        kept = self.path.with_name(self.path.name + ".bad")
        try:
            self.path.replace(kept)
        except OSError:
            kept = self.path
        log.warning("the race file %s is unreadable (%s: %s); kept as %s", self.path, type(err).__name__, err, kept)
        now = time.time()
        error = (
            f"the saved race ({self.path.name} in the server's state folder) could not be read "
            f"({type(err).__name__}); it was kept as {kept.name}, and the next race starts afresh"
        )
        return RaceRecord(0, "failed", True, now, None, ended=now, error=error)

    def _load(self) -> RaceRecord | None:
        """The saved race; one that was running when the server stopped is shown as interrupted."""
        try:
            record = RaceRecord.from_dict(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            return self._unreadable(err)
        if record.active:
            record = dataclasses.replace(record, state="interrupted", ended=record.ended or time.time())
        return record
