"""Runs survive a restart: every change is a row in the leaderboard's SQLite file; after a restart
queued runs start in their order, a running one is `interrupted`, and nothing vanishes -- also
when the server is killed (SIGKILL) mid-run."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.jobs import (
    RESTARTED,
    TRAINING_JOB,
    JobQueue,
    RunStore,
    status_dict,
    submit_run,
    training_resumer,
)
from mnistsum.leaderboard import FILE_NAME, Leaderboard, owner_tag

REPO = Path(__file__).resolve().parent.parent
TINY = TrainConfig(epochs=1, batch_size=64, device="cpu")
ALICE, BOB, CAROL = "alice-token-0000000", "bob-token-00000000", "carol-token-000000"


def tiny_data() -> dict:
    return {"train_set": synthetic_split(256, seed=1), "test_set": synthetic_split(100, seed=2)}


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "state" / FILE_NAME


def blocked(release: threading.Event):
    def events(stop):
        yield "started"
        while not release.wait(0.01) and not stop.is_set():
            pass

    return events


def wait_for(condition, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s")


def test_every_change_of_a_run_is_a_row_beside_the_leaderboard(db):
    board, store = Leaderboard(db), RunStore(db)
    queue = JobQueue(workers=1, store=store)
    try:
        status = queue.submit(ALICE, "blocker", blocked(release := threading.Event()), settings={"k": 1})
        queued = submit_run(queue, board, BOB, TINY, "bob")
        record = store.get(queued.job_id)
        assert (record.state, record.owner, record.name) == ("queued", owner_tag(BOB), TRAINING_JOB)
        assert record.settings["nickname"] == "bob" and record.settings["config"]["epochs"] == 1
        assert BOB not in db.read_bytes().decode("latin1")  # the token itself is never stored
        wait_for(lambda: store.get(status.job_id).state == "running")
        queue.stop(BOB)
        assert store.get(queued.job_id).state == "cancelled" and store.get(queued.job_id).ended is not None
        release.set()
        assert queue.wait(ALICE, status.job_id, 10).state == "finished"
        assert store.get(status.job_id).state == "finished"
    finally:
        queue.close()
    board.count()  # the leaderboard's table, in the same file
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "runs"} <= tables


def test_a_finished_run_stores_its_result_and_its_leaderboard_row(db):
    board, store = Leaderboard(db), RunStore(db)
    queue = JobQueue(workers=1, store=store)
    try:
        job = queue.submit(ALICE, TRAINING_JOB, *_training(board, "ada", ALICE))
        done = queue.wait(ALICE, job.job_id, 60)
    finally:
        queue.close()
    stored = store.get(job.job_id)
    assert stored.state == "finished" and stored.started <= stored.ended
    assert stored.result["epochs_done"] == 1 and 0 <= stored.result["digit_accuracy"] <= 1
    assert stored.result["leaderboard_id"] == board.rows()[0].id and done.result == stored.result


def _training(board: Leaderboard, nickname: str, token: str):
    from mnistsum.jobs import leaderboard_recorder, training_job

    return training_job(TINY, **tiny_data()), leaderboard_recorder(board, nickname, token)


def test_a_restart_runs_the_queued_runs_in_order_and_interrupts_the_running_one(db):
    board, store = Leaderboard(db), RunStore(db)
    before = JobQueue(workers=1, store=store)  # the server that "dies": its worker stays busy
    release = threading.Event()
    try:
        running = before.submit(CAROL, TRAINING_JOB, blocked(release), settings={"config": TINY.to_dict()})
        wait_for(lambda: store.get(running.job_id).state == "running")
        queued = [submit_run(before, board, token, TINY, name) for token, name in ((ALICE, "ada"), (BOB, "bob"))]

        after = JobQueue(workers=1, store=RunStore(db))  # the restarted server, same file
        try:
            order: list[str] = []
            resume = training_resumer(board, **tiny_data())

            def resumer(record):
                order.append(record.settings["nickname"])
                return resume(record)

            assert after.restore({TRAINING_JOB: resumer}) == {"resumed": 2, "interrupted": 1}
            assert order == ["ada", "bob"]
            carol = after.latest(CAROL, TRAINING_JOB)
            assert (carol.state, carol.error, carol.active) == ("interrupted", RESTARTED, False)
            assert status_dict(carol)["state"] == "interrupted" and carol.owner == CAROL  # adopted by its token
            ends = [after.wait(token, job.job_id, 60) for token, job in zip((ALICE, BOB), queued, strict=True)]
            assert [e.state for e in ends] == ["finished", "finished"] and ends[0].started <= ends[1].started
            mine = {r.nickname: r.mine for r in board.rows(token=ALICE)}
            assert mine == {"ada": True, "bob": False}  # rows under the owners' tags, found by their tokens
            again = submit_run(after, board, CAROL, TINY, "carol")  # Start is ready again
            assert again.job_id > max(j.job_id for j in queued) and again.state in ("queued", "running")
            after.wait(CAROL, again.job_id, 60)
        finally:
            after.close()
    finally:
        release.set()
        before.close()


def test_a_graceful_shutdown_keeps_the_queue_for_the_next_start(db):
    store = RunStore(db)
    queue = JobQueue(workers=1, store=store)
    release = threading.Event()
    running = queue.submit(ALICE, "race", blocked(release))
    wait_for(lambda: store.get(running.job_id).state == "running")
    waiting = queue.submit(BOB, "race", blocked(release))
    queue.close(timeout=10)
    assert store.get(running.job_id).state == "interrupted" and store.get(running.job_id).error == RESTARTED
    assert store.get(waiting.job_id).state == "queued"  # not cancelled: the next start runs it

    again = JobQueue(workers=1, store=store)
    try:  # no way to rebuild a "race" here: it is interrupted with the reason, not dropped
        assert again.restore({}) == {"resumed": 0, "interrupted": 1}
        assert again.latest(BOB).state == "interrupted" and again.latest(ALICE).state == "interrupted"
    finally:
        again.close()


def test_a_visitors_last_ended_run_is_shown_again_after_a_restart(db):
    board, store = Leaderboard(db), RunStore(db)
    queue = JobQueue(workers=1, store=store)
    try:
        job = queue.submit(ALICE, TRAINING_JOB, *_training(board, "ada", ALICE))
        queue.wait(ALICE, job.job_id, 60)
    finally:
        queue.close()
    again = JobQueue(workers=1, store=store)
    try:
        again.restore({})
        seen = again.latest(ALICE, TRAINING_JOB)
        assert (seen.job_id, seen.state, seen.latest) == (job.job_id, "finished", None)
        assert seen.result["leaderboard_id"] == board.rows()[0].id
        assert again.latest(BOB) is None
    finally:
        again.close()


# --- a real kill ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _app(state: Path, mnist_dir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = _free_port()
    env = {
        **os.environ,
        "MNISTSUM_STATE_DIR": str(state),
        "MNISTSUM_DATA": str(mnist_dir),
        "MNISTSUM_TRAIN_WORKERS": "1",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
    }
    child = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert child.poll() is None and time.monotonic() < deadline, "app.py did not start"
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}/", child
    finally:
        if child.poll() is None:
            child.terminate()
            child.wait(timeout=30)


def _client(url: str):
    """A client of a just-started app: on a busy machine its first answer (while it resumes the
    queue) can be slower than the client's timeout, so that is tried again a few times."""
    import httpx
    from gradio_client import Client

    for attempt in range(10):
        try:
            return Client(url, verbose=False)
        except httpx.TimeoutException:
            if attempt == 9:
                raise
            time.sleep(2)


@pytest.mark.slow
def test_a_sigkill_mid_run_loses_nothing(tmp_path, mnist_dir):
    state = tmp_path / "state"
    with _app(state, mnist_dir) as (url, server):
        client = _client(url)
        tokens = [client.predict(api_name="/visitor_token") for _ in range(3)]
        long, short = {"epochs": 30, "limit": 60000}, {"epochs": 1, "limit": 500}
        for k, (token, size) in enumerate(zip(tokens, (long, short, short), strict=True)):
            client.predict(token, f"kid {k}", **size, api_name="/train_start")
        wait_for(lambda: client.predict(tokens[0], api_name="/train_status")["progress"]["batch"] > 0, 120)
        os.kill(server.pid, signal.SIGKILL)  # no shutdown handler runs
        server.wait(timeout=30)

    conn = sqlite3.connect(state / FILE_NAME)
    assert [r[0] for r in conn.execute("SELECT state FROM jobs ORDER BY id")] == ["running", "queued", "queued"]
    conn.close()
    with _app(state, mnist_dir) as (url, _):
        client = _client(url)
        first = client.predict(tokens[0], api_name="/train_status")
        assert (first["state"], first["error"]) == ("interrupted", RESTARTED)
        ends = [
            wait_for(lambda t=t: (s := client.predict(t, api_name="/train_status"))["state"] == "finished" and s, 180)
            for t in tokens[1:]
        ]
        assert all(e["result"]["leaderboard_id"] for e in ends)
        rows = list(csv.DictReader(io.StringIO(client.predict(api_name="/leaderboard_csv"))))
        assert sorted(r["nickname"] for r in rows) == ["kid 1", "kid 2"]
    assert sqlite3.connect(state / FILE_NAME).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_page_tells_a_visitor_their_run_was_interrupted_and_start_is_ready(db):
    from demo.job_panel import not_started_headline
    from demo.train_view import headline
    from mnistsum.jobs import JobStatus

    interrupted = JobStatus(12, ALICE, TRAINING_JOB, "interrupted", error=RESTARTED)
    assert "Run #12 was stopped by a server restart" in headline(interrupted, "shipped weights")
    assert "press **Start** to run it again" in headline(interrupted, "shipped weights") and not interrupted.active
    result = {"digit_accuracy": 0.981, "sum_accuracy": 0.975, "leaderboard_id": 3}
    before = JobStatus(11, ALICE, TRAINING_JOB, "finished", result=result)
    shown = not_started_headline(before, "Run")
    assert "finished** before the server restarted" in shown and "98.10%" in shown and "97.50%" in shown
