"""A class server through its API (gradio_client on launched apps): the class code, the Train tab's
limits for API callers, and the per-address bound, with X-Forwarded-For believed only behind a
trusted proxy."""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from demo.app import build_app, launch
from demo.make_examples import example_path
from demo.state import AppState

pytestmark = pytest.mark.slow

CODE = "owl-42"
SMALL = {"epochs": 1, "limit": 500}
LONG = {"epochs": 30, "limit": 60000}  # never ends within a test: it is stopped
ENDED = ("finished", "stopped", "cancelled", "failed", "interrupted")


@contextlib.contextmanager
def served(monkeypatch, data_dir: Path, state_dir: Path, **env: str) -> Iterator[str]:
    for name, value in {"MNISTSUM_TRAIN_WORKERS": "1", **env}.items():
        monkeypatch.setenv(name, value)
    state = AppState(state_dir=state_dir)  # the policy from the (patched) environment
    demo = build_app(data_dir=data_dir, state=state)
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield url
    finally:
        demo.close()
        state.queue.close()


def start(client: Client, token: str, **values: Any) -> dict:
    return client.predict(token, **values, api_name="/train_start")


def until_ended(client: Client, token: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict(token, api_name="/train_status")
        if status["state"] in ENDED:
            return status
        time.sleep(0.3)
    raise AssertionError(f"run not ended within {timeout}s: {status}")


def test_the_class_code_guards_training_and_the_leaderboard_not_predictions(monkeypatch, tmp_path, mnist_dir):
    with served(monkeypatch, mnist_dir, tmp_path / "state", MNISTSUM_CLASS_CODE=CODE) as url:
        client = Client(url, verbose=False)
        token = client.predict(api_name="/visitor_token")
        with pytest.raises(AppError, match="enter the class code your teacher gave you.*train on your own machine"):
            start(client, token, nickname="no code", **SMALL)
        with pytest.raises(AppError, match="not this server's class code"):
            start(client, token, nickname="wrong", class_code="owl-24", **SMALL)
        assert client.predict(token, api_name="/train_status")["state"] == "idle"
        answer = client.predict(handle_file(str(example_path(7))), 2, api_name="/predict_json")
        assert (answer["digit"], answer["sum"]) == (7, 9)  # drawing and predicting need no code

        assert start(client, token, nickname="ada", class_code=" OWL-42", **SMALL)["state"] in ("queued", "running")
        done = until_ended(client, token)
        assert done["state"] == "finished" and done["result"]["leaderboard_id"] >= 1
        rows = list(csv.DictReader(io.StringIO(client.predict(api_name="/leaderboard_csv"))))
        assert [r["nickname"] for r in rows] == ["ada"]  # only the run with the code landed


def test_api_callers_get_the_train_tabs_limits(monkeypatch, tmp_path):
    with served(monkeypatch, tmp_path, tmp_path / "state") as url:
        client = Client(url, verbose=False)
        token = client.predict(api_name="/visitor_token")
        for values, reason in (
            ({"epochs": 1_000_000}, "epochs 1,000,000 is above the limit of 30"),
            ({"limit": 600_000}, "training subset size 600,000 is above the limit of 60,000"),
            ({"batch_size": 65536}, "batch size 65,536 is above the limit of 1,024"),
            ({"lr": 5.0}, "learning rate 5.0 is outside the range"),  # JSON has no inf; NaN: see test_access
            ({"nickname": "x" * 10_000}, "a nickname is at most 32 characters, got 10,000"),
        ):
            with pytest.raises(AppError, match=reason):
                start(client, token, **values)
        assert client.predict(token, api_name="/train_status")["state"] == "idle"


def test_one_address_holds_three_runs_and_a_forged_forwarded_for_does_not_help(monkeypatch, tmp_path, mnist_dir):
    with served(monkeypatch, mnist_dir, tmp_path / "state") as url:
        plain = Client(url, verbose=False)
        forged = Client(url, verbose=False, headers={"X-Forwarded-For": "198.51.100.7"})
        tokens = [plain.predict(api_name="/visitor_token") for _ in range(5)]
        for token in tokens[:3]:
            start(plain, token, **LONG)
        with pytest.raises(AppError, match="your network address already has 3 runs queued or running"):
            start(plain, tokens[3], **SMALL)
        with pytest.raises(AppError, match="already has 3 runs"):
            start(forged, tokens[4], **SMALL)  # no trusted proxy: the header is ignored
        plain.predict(tokens[1], api_name="/train_stop")  # a queued one cancelled frees a place
        assert start(plain, tokens[3], **SMALL)["state"] == "queued"
        for token in tokens:
            plain.predict(token, api_name="/train_stop")


def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_bound(monkeypatch, tmp_path, mnist_dir):
    with served(
        monkeypatch, mnist_dir, tmp_path / "state", MNISTSUM_PROXY_HOPS="1", MNISTSUM_RUNS_PER_ADDRESS="1"
    ) as url:
        school = Client(url, verbose=False, headers={"X-Forwarded-For": "203.0.113.5"})
        home = Client(url, verbose=False, headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.9"})
        tokens = [school.predict(api_name="/visitor_token") for _ in range(3)]
        start(school, tokens[0], **LONG)
        with pytest.raises(AppError, match="already has 1 runs"):
            start(school, tokens[1], **SMALL)
        assert start(home, tokens[2], **SMALL)["state"] == "queued"  # the address the proxy saw, not the forged one
        for token in tokens:
            school.predict(token, api_name="/train_stop")
