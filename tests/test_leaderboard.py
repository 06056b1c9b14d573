"""The class leaderboard in SQLite: rows land, rank, survive a new process, export, clear, concurrency."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.jobs import TRAINING_JOB, JobQueue, leaderboard_recorder, start_training, training_job
from mnistsum.leaderboard import COLUMNS, ROW_COLUMNS, ClearRefused, Leaderboard, Row, clean_nickname
from mnistsum.train import TrainResult, run

REPO = Path(__file__).resolve().parent.parent
TINY = TrainConfig(epochs=1, batch_size=64, device="cpu")
HOSTILE = "<img src=x onerror=alert(1)>"
ALICE, BOB = "alice-token-0000000", "bob-token-00000000"


def data() -> dict:
    return {"train_set": synthetic_split(256, seed=1), "test_set": synthetic_split(100, seed=2)}


@pytest.fixture(scope="module")
def result() -> TrainResult:
    return run(TINY, **data())


@pytest.fixture
def board(tmp_path) -> Leaderboard:
    return Leaderboard(tmp_path / "state" / "leaderboard.sqlite3")


def test_a_row_holds_the_run_and_ranks_best_first(board, result):
    assert not board.path.exists()  # created on first use
    board.record(result, "ada", ALICE)
    board.record(result, HOSTILE, BOB)
    rows = board.rows(token=ALICE)
    assert [r.nickname for r in rows] == ["ada", HOSTILE]  # equal scores: the earlier run first
    assert [r.mine for r in rows] == [True, False]
    top = rows[0]
    test = result.test_metrics
    assert (top.digit_accuracy, top.sum_accuracy, top.both_accuracy, top.sum_consistency) == (
        test.digit_accuracy,
        test.sum_accuracy,
        test.both_accuracy,
        test.sum_consistency,
    )
    assert top.parameters == sum(p.numel() for p in result.model.parameters()) and top.images == 256
    assert board.rows(arch="seed") == [] and len(board.rows(fusion="concat")) == 2
    journal = sqlite3.connect(board.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    owners = [r[0] for r in sqlite3.connect(board.path).execute("SELECT owner FROM runs")]
    assert ALICE not in owners and BOB not in owners  # only a hash of the token is stored


def test_rows_survive_a_new_process_with_the_same_state_dir(tmp_path, result):
    Leaderboard(tmp_path / "leaderboard.sqlite3").record(result, "grace", ALICE)
    code = (
        "import sys; from mnistsum.leaderboard import Leaderboard, state_dir, FILE_NAME; "
        "print([r.nickname for r in Leaderboard(state_dir() / FILE_NAME).rows()])"
    )
    env = {"MNISTSUM_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "['grace']"


def test_csv_export_has_every_row_and_defuses_formulas(board, result):
    board.record(result, '=HYPERLINK("http://x")', ALICE)
    board.record(result, "linus", BOB)
    rows = list(csv.DictReader(io.StringIO(board.to_csv())))
    assert [r["nickname"] for r in rows] == ['\'=HYPERLINK("http://x")', "linus"]
    assert rows[0]["arch"] == "default" and float(rows[0]["sum_accuracy"]) == result.test_metrics.sum_accuracy
    assert '"epochs": 1' in rows[0]["config"] and "owner" not in rows[0]


def test_clear_needs_the_teacher_token(board, result):
    board.record(result, "ada", ALICE)
    with pytest.raises(ClearRefused, match="no teacher token"):
        board.clear("anything", environ={})
    with pytest.raises(ClearRefused, match="wrong teacher token"):
        board.clear("guess", environ={"MNISTSUM_TEACHER_TOKEN": "s3cret-class"})
    with pytest.raises(ClearRefused, match="wrong teacher token"):
        board.clear("", environ={"MNISTSUM_TEACHER_TOKEN": "s3cret-class"})
    assert board.count() == 1
    assert board.clear("s3cret-class", environ={"MNISTSUM_TEACHER_TOKEN": "s3cret-class"}) == 1
    assert board.count() == 0


def test_many_runs_finishing_at_once_all_land(board, result):
    barrier = threading.Barrier(8)

    def finish(k: int) -> None:
        barrier.wait()
        Leaderboard(board.path).record(result, f"student {k}", f"token-{k:016d}")

    threads = [threading.Thread(target=finish, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.nickname for r in board.rows()) == [f"student {k}" for k in range(8)]


def test_two_queued_runs_on_two_workers_both_land_and_a_crash_records_nothing(board):
    queue = JobQueue(workers=2)
    try:
        jobs = [
            start_training(queue, owner, TINY, on_done=leaderboard_recorder(board, owner[:5], owner), **data())
            for owner in (ALICE, BOB)
        ]
        broken = queue.submit(  # a learning rate the policy would refuse: straight to the queue
            "crash-token-000000",
            TRAINING_JOB,
            training_job(TINY.replace(lr=1e12), **data()),
            on_done=leaderboard_recorder(board, "nan", "x"),
        )
        for owner, job in ((ALICE, jobs[0]), (BOB, jobs[1])):
            assert queue.wait(owner, job.job_id, 60).state == "finished"
        assert queue.wait("crash-token-000000", broken.job_id, 60).state == "failed"
    finally:
        queue.close()
    assert sorted(r.nickname for r in board.rows()) == ["alice", "bob-t"]


def test_a_stopped_run_is_refused(board, result):
    stopped = TrainResult(result.model, result.config, result.history, stopped=True)
    with pytest.raises(ValueError, match="completed run"):
        board.record(stopped, "x", ALICE)
    assert board.count() == 0


@pytest.mark.parametrize(
    "typed, stored",
    [("  ada  lovelace ", "ada lovelace"), ("", "anonymous"), ("a\x00b\u202ec", "abc"), ("x" * 50, "x" * 32)],
)
def test_nicknames_are_trimmed_to_printable_text(typed, stored):
    assert clean_nickname(typed) == stored


def test_the_table_the_row_and_the_csv_share_one_list_of_columns(board, result):
    board.record(result, "ada", ALICE)
    table = [r[1] for r in sqlite3.connect(board.path).execute("PRAGMA table_info(runs)")]
    assert table == [*ROW_COLUMNS, "owner", "config", "address"]
    assert ROW_COLUMNS == tuple(f for f in Row.__dataclass_fields__ if f != "mine")
    assert next(csv.reader(io.StringIO(board.to_csv()))) == list(COLUMNS) == [*ROW_COLUMNS, "config"]
