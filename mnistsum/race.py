"""The fusion race: the exercise's add-fusion and our concatenation, trained side by side.

Both lanes are ordinary `train()` runs whose configs share the seed, the data limit, the
epochs and the batch size, so they see the same images in the same order with the same n
draws (train.py guarantees it); stepping the two generators in lockstep makes the race fair
and lets the UI show both curves growing together. Any gap between the curves is then down
to what differs between the configs, not to luck in the data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .config import TrainConfig
from .data import MnistSplit, cached_split
from .jobs import JobQueue, JobStatus, RunRecord, TrainingPolicy
from .jobs.queue import EventFactory
from .train import BatchEnd, EpochEnd, TrainResult, train

SHARED_FIELDS = ("seed", "limit", "epochs", "batch_size", "redraw_n")
RACE_JOB = "fusion race"  # the queue's job name, so the Learn tab finds its own


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


def race_job(
    cfg_a: TrainConfig, cfg_b: TrainConfig, train_set: MnistSplit | None = None, test_set: MnistSplit | None = None
) -> Callable[[threading.Event], Iterator[RaceUpdate]]:
    """An event factory for `JobQueue.submit`: loads MNIST (from cfg_a's data_dir) if not given, then races."""

    def events(stop: threading.Event) -> Iterator[RaceUpdate]:
        yield RaceUpdate(_starting_lanes(cfg_a, cfg_b))
        train_split = train_set if train_set is not None else cached_split(cfg_a.data_dir, True, cfg_a.download)
        test_split = test_set if test_set is not None else cached_split(cfg_a.data_dir, False, cfg_a.download)
        yield from race(cfg_a, cfg_b, train_split, test_split, stop)

    return events


def start_race(
    queue: JobQueue,
    owner: str,
    isolate_fusion: bool = True,
    policy: TrainingPolicy | None = None,
    train_set: MnistSplit | None = None,
    test_set: MnistSplit | None = None,
    class_code: str | None = None,
    address: str | None = None,
    **overrides: Any,
) -> JobStatus:
    """Queue the race for `owner` (it waits its turn with the class's training runs, and counts
    against the client `address` like one).

    Raises `PolicyError` where this deployment does not allow the training it needs (or the class
    code is missing or wrong), and `JobRefused` (the owner or the address already has its jobs, or
    the queue is full) from the queue."""
    policy = policy or TrainingPolicy()
    with_code = policy.check_class_code(class_code)
    cfg_a, cfg_b = race_configs(isolate_fusion, **overrides)
    for cfg in (cfg_a, cfg_b):
        policy.check(cfg)
    settings = {"configs": [cfg_a.to_dict(), cfg_b.to_dict()]}
    limit = None if address is None else policy.address_limit(with_code)
    job = race_job(cfg_a, cfg_b, train_set, test_set)
    return queue.submit(owner, RACE_JOB, job, settings=settings, address=address, address_limit=limit)


def race_resumer(record: RunRecord) -> tuple[EventFactory, None]:
    """Rebuilds a stored race after a restart (for `JobQueue.restore`)."""
    cfg_a, cfg_b = (TrainConfig.from_dict(values) for values in record.settings["configs"])
    return race_job(cfg_a, cfg_b), None
