"""The fusion race: two lanes in lockstep over one data order."""

from __future__ import annotations

import json
import threading

import pytest

from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.jobs import PolicyError, TrainingPolicy
from mnistsum.race import (
    ClassRace,
    RaceRecord,
    RaceRefused,
    RaceUpdate,
    _starting_lanes,
    race,
    race_configs,
)

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


TINY = {"train_set": TRAIN, "test_set": TEST, "epochs": 1, "batch_size": 32, "device": "cpu"}


def test_one_race_for_the_class_kept_across_a_restart(tmp_path):
    path = tmp_path / "race.json"
    board = ClassRace(path)
    assert board.latest() is None
    started = board.start("anyone", **TINY)  # no teacher token configured: anyone may start it
    assert started.race_id == 1 and started.state == "running"
    final = board.wait(timeout=60)
    assert final.state == "finished", final.error
    assert [len(lane.sum_accuracy) for lane in final.update.lanes] == [1, 1]
    restarted = ClassRace(path).latest()  # a new server on the same state folder
    assert restarted.race_id == 1 and restarted.state == "finished"
    assert restarted.update.lanes == final.update.lanes
    assert restarted.update.curve_rows() == final.update.curve_rows()


def test_a_race_interrupted_by_a_restart_says_so(tmp_path):
    path = tmp_path / "race.json"
    record = RaceRecord(4, "running", True, 1.0, RaceUpdate(_starting_lanes(*race_configs())))
    path.write_text(json.dumps(record.to_dict()))
    assert ClassRace(path).latest().state == "interrupted"
    path.write_text("{not json")
    unreadable = ClassRace(path).latest()  # not fatal, and not silent: the class is told
    assert unreadable.state == "failed" and "could not be read (JSONDecodeError)" in unreadable.error
    assert path.with_name("race.json.bad").read_text() == "{not json"  # kept, not deleted


def test_only_the_teacher_starts_or_stops_the_race_when_a_token_is_set(tmp_path):
    board = ClassRace(tmp_path / "race.json", teacher_token="teach-123")
    for token in (None, "", "student"):
        with pytest.raises(RaceRefused, match="teacher"):
            board.start(token, **TINY)
    assert board.latest() is None
    board.start("teach-123", **{**TINY, "epochs": 2})
    with pytest.raises(RaceRefused, match="teacher"):
        board.stop("student")
    with pytest.raises(RaceRefused, match="still running"):  # one race at a time, even for the teacher
        board.start("teach-123", **TINY)
    board.stop("teach-123")
    assert board.wait(timeout=60).state in ("stopped", "finished")


def test_race_obeys_the_deployment_policy(tmp_path):
    with pytest.raises(PolicyError, match="cap"):
        ClassRace(tmp_path / "race.json", policy=TrainingPolicy(max_epochs=2)).start(train_set=TRAIN, test_set=TEST)
