"""The fusion race: two lanes in lockstep over one data order."""

from __future__ import annotations

import threading

import pytest

from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.jobs import JobQueue, PolicyError, TrainingPolicy
from mnistsum.race import RACE_JOB, RaceUpdate, race, race_configs, start_race

TRAIN, TEST = synthetic_split(64, seed=0), synthetic_split(20, seed=1)


def _tiny(arch: str, fusion: str) -> TrainConfig:
    return TrainConfig(arch=arch, fusion=fusion, epochs=2, batch_size=32, seed=3, device="cpu")


def test_race_yields_two_lockstep_metric_streams():
    updates = list(race(_tiny("default", "add"), _tiny("default", "concat"), TRAIN, TEST))
    assert all(u.lanes[0].batches_done == u.lanes[1].batches_done for u in updates)
    final = updates[-1]
    assert final.finished and not final.stopped
    add, concat = final.lanes
    assert (add.label, concat.label) == ("add fusion (default backbone)", "concat fusion (default backbone)")
    assert add.progress == concat.progress == 1.0
    assert len(add.sum_accuracy) == len(concat.sum_accuracy) == 2
    assert all(0.0 <= acc <= 1.0 for acc in add.sum_accuracy + concat.sum_accuracy)
    assert len(final.curve_rows()) == 2 * 2 * 2  # lanes x metrics x epochs


def test_identical_lanes_see_identical_data():
    # The exercise backbone has no dropout, so two lanes with one config differ only if their
    # (image, n) streams differ: equal curves show the race feeds both lanes the same data.
    cfg = _tiny("exercise", "add")
    final = list(race(cfg, cfg, TRAIN, TEST))[-1]
    assert final.lanes[0].sum_accuracy == final.lanes[1].sum_accuracy
    assert final.lanes[0].digit_accuracy == final.lanes[1].digit_accuracy


def test_unfair_race_is_refused():
    with pytest.raises(ValueError, match="seed"):
        next(race(_tiny("default", "add"), _tiny("default", "concat").replace(seed=4), TRAIN, TEST))


def test_stop_ends_both_lanes_early():
    stop = threading.Event()
    stop.set()
    final = list(race(_tiny("default", "add"), _tiny("default", "concat"), TRAIN, TEST, stop))[-1]
    assert final.finished and final.stopped
    assert final.lanes[0].sum_accuracy == final.lanes[1].sum_accuracy == ()


def test_default_race_isolates_the_fusion():
    add, concat = race_configs()
    assert (add.epochs, add.limit, add.seed) == (5, 5000, 0)
    assert (add.arch, add.fusion, concat.arch, concat.fusion) == ("default", "add", "default", "concat")
    assert add.replace(fusion="concat") == concat
    exercise_add, _ = race_configs(isolate_fusion=False)
    assert exercise_add.arch == "exercise"


def test_race_runs_as_a_job_in_the_queue():
    queue = JobQueue()
    status = start_race(
        queue, "visitor-token-00000", train_set=TRAIN, test_set=TEST, epochs=1, batch_size=32, device="cpu"
    )
    assert status.name == RACE_JOB and status.owner == "visitor-token-00000"
    final = queue.wait("visitor-token-00000", status.job_id, timeout=60)
    queue.close()
    assert final.state == "finished", final.error
    assert isinstance(final.latest, RaceUpdate) and final.latest.finished
    assert [len(lane.sum_accuracy) for lane in final.latest.lanes] == [1, 1]


def test_race_obeys_the_deployment_policy():
    with pytest.raises(PolicyError, match="cap"):
        start_race(
            JobQueue(), "visitor-token-00000", policy=TrainingPolicy(max_epochs=2), train_set=TRAIN, test_set=TEST
        )
