"""The Train tab's API through gradio_client on the launched app: visitors' tokens, the queue,
refusals, the leaderboard, and deployments with limits."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import mnistsum.precision as precision
from demo.app import build_app, launch
from demo.leaderboard_view import leaderboard_html
from demo.make_examples import example_path
from demo.state import AppState
from mnistsum.jobs import TRAINING_JOB
from mnistsum.leaderboard import Row

pytestmark = pytest.mark.slow

SMALL = {"epochs": 1, "limit": 1000}  # ~1,000 real images: seconds, not minutes
LONG = {"epochs": 30, "limit": 5000}  # far longer than any test: it ends with Stop
EXERCISE_LINE = re.compile(
    r"epoch: 1 MNIST \{Correct: \d+ Accuracy: [01]\.\d{3} Loss: [\d.]+ \} RANDOM \{Correct: \d+ Accuracy: [01]\.\d{3} "
    r"Loss: [\d.]+ \} Total \{Correct: \d+ Accuracy: [01]\.\d{3} loss: [\d.]+ \}"
)
ENDED = ("finished", "stopped", "cancelled", "failed")


class Visitor:
    """One API caller with its own token (from /visitor_token), like one browser."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.token = client.predict(api_name="/visitor_token")

    def start(self, nickname: str = "", **values: Any) -> dict:
        return self.client.predict(self.token, nickname, **values, api_name="/train_start")

    def status(self, run_id: int | None = None) -> dict:
        return self.client.predict(self.token, run_id, api_name="/train_status")

    def stop(self, run_id: int | None = None) -> dict:
        return self.client.predict(self.token, run_id, api_name="/train_stop")

    def until(self, done, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if done(status):
                return status
            time.sleep(0.3)
        raise AssertionError(f"no matching status within {timeout}s; last: {status}")


@pytest.fixture
def visitors(app_url: str, mnist_dir) -> Iterator[list[Visitor]]:
    """Two API visitors on the session's app (served with MNIST); their runs are stopped afterwards."""
    client = Client(app_url, verbose=False)
    made = [Visitor(client), Visitor(client)]
    yield made
    for visitor in made:
        visitor.stop()
        visitor.until(lambda s: s["state"] in ENDED + ("idle",), timeout=120)


def test_two_visitors_each_see_their_own_run_and_the_second_waits_its_turn(visitors, app_state):
    alice, bob = visitors
    assert alice.token != bob.token and alice.status()["state"] == "idle"
    first = alice.start("alice", **SMALL)
    second = bob.start("bob", **SMALL)
    assert second["state"] == "queued" and second["place"] == 1
    assert 0 <= second["start_eta_s"] <= app_state.queue._estimate(TRAINING_JOB)  # what is left of Alice's run
    assert bob.status()["job_id"] == second["job_id"] and alice.status()["job_id"] == first["job_id"]
    with pytest.raises(AppError, match=f"run #{second['job_id']} is not one of yours"):
        alice.status(second["job_id"])  # reading someone else's run by its id is refused
    with pytest.raises(AppError, match=f"run #{first['job_id']} is not one of yours"):
        bob.stop(first["job_id"])  # and so is stopping it
    with pytest.raises(AppError, match="you already have a training run"):
        alice.start(**SMALL)  # one queued-or-running run per visitor

    a = alice.until(lambda s: s["state"] in ENDED)
    b = bob.until(lambda s: s["state"] in ENDED)
    assert a["state"] == b["state"] == "finished", (a["error"], b["error"])
    a_run = app_state.queue.status(alice.token, first["job_id"])
    b_run = app_state.queue.status(bob.token, second["job_id"])
    assert b_run.started >= a_run.ended  # one worker: Bob's run started after Alice's ended

    exercise, test = a["log"].splitlines()  # one epoch: no validation line, the test set once at the end
    assert EXERCISE_LINE.fullmatch(exercise), exercise
    assert re.fullmatch(r"\s+test: digit 0\.\d{4}  sum 0\.\d{4} \(all 100,000 pairs\)  both .*", test), test
    (epoch,) = a["epochs"]
    final = a["final"]
    assert epoch["test_digit_accuracy"] == final["digit_accuracy"] > 0.5  # well above chance
    assert sum(map(sum, final["confusion"])) == 10_000
    assert final["misclassified_count"] == 10_000 - sum(final["confusion"][d][d] for d in range(10))

    board = list(csv.DictReader(io.StringIO(alice.client.predict(api_name="/leaderboard_csv"))))
    landed = {row["nickname"]: row for row in board}
    assert {"alice", "bob"} <= set(landed)
    assert float(landed["alice"]["digit_accuracy"]) == final["digit_accuracy"]


def test_stop_cancels_a_queued_run_and_stops_a_running_one(visitors):
    alice, bob = visitors
    running = alice.start(**LONG)
    queued = bob.start(**SMALL)
    assert queued["state"] == "queued"
    assert bob.stop()["state"] == "cancelled"
    assert bob.status()["state"] == "cancelled" and bob.status()["job_id"] == queued["job_id"]
    alice.until(lambda s: s["progress"]["batch"] > 0 if s["state"] == "running" else False)
    assert alice.stop()["state"] == "stopping"
    stopped = alice.until(lambda s: s["state"] != "stopping", timeout=60)
    assert stopped["state"] == "stopped" and stopped["error"] is None and stopped["final"] is None
    assert stopped["job_id"] == running["job_id"]


@pytest.mark.parametrize(
    "values, reason",
    [
        ({"lr": 0}, "lr must be > 0"),
        ({"arch": "resnet"}, "arch must be one of"),
        ({"epochs": 0}, "epochs must be >= 1"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(visitors, values, reason):
    with pytest.raises(AppError, match=reason):
        visitors[0].start(**values)
    assert visitors[0].status()["state"] == "idle"


def test_bf16_forced_on_a_server_without_it_is_refused_with_the_reason(visitors, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)  # the app runs in this process
    with pytest.raises(AppError, match="bf16 needs native bf16"):
        visitors[0].start(precision="bf16", **SMALL)
    assert visitors[0].status()["state"] == "idle"


@pytest.mark.parametrize("token", ["", "short", "x" * 200, "has spaces in it!!!!"])
def test_a_bad_token_is_refused_clearly(app_url, token):
    client = Client(app_url, verbose=False)
    for call in (
        lambda: client.predict(token, **SMALL, api_name="/train_start"),
        lambda: client.predict(token, api_name="/train_status"),
        lambda: client.predict(token, api_name="/train_stop"),
    ):
        with pytest.raises(AppError, match="a visitor token is required"):
            call()


@pytest.mark.parametrize("run_id", ["seven", [1], 1.5])
def test_a_bad_run_id_is_refused_clearly(visitors, run_id):
    for call in (visitors[0].status, visitors[0].stop):
        with pytest.raises(AppError, match=r"run_id must be a whole number \(a run's job_id\), got"):
            call(run_id)


def test_leaderboard_html_escapes_every_string():
    row = Row(
        id=1,
        nickname="<img src=x onerror=alert(1)>",
        mine=True,
        arch="default",
        fusion="concat",
        epochs=3,
        images=5000,
        batch_size=64,
        lr=3e-3,
        augment=False,
        seed=0,
        sum_accuracy=0.8,
        digit_accuracy=0.9,
        both_accuracy=0.7,
        sum_consistency=0.95,
        parameters=251405,
        wall_s=7.5,
        finished_at="2026-11-29 08:00:00",
    )
    page = leaderboard_html([row])
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt; ★ you" in page
    assert 'class="mine"' in page
    headers = re.findall(r"<th>(.*?)</th>", page)
    assert headers == ["#", "nickname", "backbone", "fusion", "epochs", "images", "batch", "lr", "augment", "seed"] + [
        "sum",
        "digit",
        "both",
        "sum = digit + n",
        "parameters",
        "time",
        "finished (UTC)",
    ]
    cells = re.findall(r"<td>(.*?)</td>", page)
    assert cells[2:] == ["default", "concat", "3", "5,000", "64", "0.003", "no", "0", "80.00%", "90.00%", "70.00%"] + [
        "95.00%",
        "251,405",
        "7.5s",
        "2026-11-29 08:00:00",
    ]


# --- a public deployment: limits from the environment, and no MNIST on disk ---------------------


@contextlib.contextmanager
def served_app(data_dir: Path, state_dir: Path) -> Iterator[Client]:
    state = AppState(state_dir=state_dir)  # the policy from the (patched) environment
    demo = build_app(data_dir=data_dir, state=state)
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False)
    finally:
        demo.close()
        state.queue.close()


def test_a_capped_deployment_refuses_bigger_runs_and_survives_missing_data(monkeypatch, tmp_path):
    monkeypatch.setenv("MNISTSUM_MAX_EPOCHS", "2")
    monkeypatch.setenv("MNISTSUM_MAX_LIMIT", "3000")
    with served_app(tmp_path, tmp_path / "state") as client:
        visitor = Visitor(client)
        with pytest.raises(AppError, match="epochs 3 is above this deployment's cap of 2"):
            visitor.start(epochs=3, limit=1000)
        with pytest.raises(AppError, match="training subset size 5,000 is above .* 3,000"):
            visitor.start(epochs=1, limit=5000)

        visitor.start(epochs=1, limit=1000)
        status = visitor.until(lambda s: s["state"] in ENDED)
        assert status["state"] == "failed"
        assert status["error"].startswith("DataMissingError: MNIST not found under data directory")
        assert "tick 'download'" in status["error"] and "MNISTSUM_DATA" in status["error"]

        answer = client.predict(handle_file(str(example_path(7))), 2, api_name="/predict_json")
        assert (answer["digit"], answer["sum"]) == (7, 9)  # predict keeps serving


def test_a_full_queue_refuses_the_next_visitor_with_the_reason(monkeypatch, tmp_path, mnist_dir):
    monkeypatch.setenv("MNISTSUM_TRAIN_WORKERS", "1")
    monkeypatch.setenv("MNISTSUM_MAX_QUEUE", "1")
    with served_app(mnist_dir, tmp_path / "state") as client:
        running, waiting, refused = Visitor(client), Visitor(client), Visitor(client)
        running.start(**LONG)
        running.until(lambda s: s["state"] == "running")
        assert waiting.start(**SMALL)["state"] == "queued"
        with pytest.raises(AppError, match=r"the queue is full \(1 runs waiting"):
            refused.start(**SMALL)
        assert refused.status()["state"] == "idle"
        waiting.stop()
        running.stop()
        running.until(lambda s: s["state"] in ENDED, timeout=60)


def test_with_training_switched_off_the_api_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("MNISTSUM_TRAINING", "off")
    with served_app(tmp_path, tmp_path / "state") as client:
        visitor = Visitor(client)
        with pytest.raises(AppError, match=r"training is switched off on this deployment \(MNISTSUM_TRAINING=off\)"):
            visitor.start()
        assert visitor.status()["state"] == "idle"  # nothing was started
