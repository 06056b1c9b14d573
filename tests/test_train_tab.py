"""The Train tab's API through gradio_client on the launched app: start, poll, refuse, stop."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Iterator

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from demo.app import build_app, launch
from demo.make_examples import example_path
from mnistsum.jobs import RUNNER

pytestmark = pytest.mark.slow

SMALL = {"epochs": 1, "limit": 2000}  # ~2,000 real images: seconds, not minutes
EXERCISE_LINE = re.compile(
    r"epoch: 1 MNIST \{Correct: \d+ Accuracy: [01]\.\d{3} Loss: [\d.]+ \} RANDOM \{Correct: \d+ Accuracy: [01]\.\d{3} "
    r"Loss: [\d.]+ \} Total \{Correct: \d+ Accuracy: [01]\.\d{3} loss: [\d.]+ \}"
)


@pytest.fixture
def client(app_url: str, mnist_dir) -> Iterator[Client]:
    """A client on the app (served with MNIST); whatever job a test leaves running is stopped."""
    yield Client(app_url, verbose=False)
    RUNNER.stop()
    RUNNER.wait(120)


def poll_until(client: Client, done, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict(api_name="/train_status")
        if done(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"no matching status within {timeout}s; last: {status}")


def test_a_run_streams_its_log_and_metrics_and_a_second_start_is_refused(client):
    started = client.predict(**SMALL, api_name="/train_start")
    assert started["state"] == "running" and started["name"] == "training"
    with pytest.raises(AppError, match="already running"):
        client.predict(**SMALL, api_name="/train_start")

    status = poll_until(client, lambda s: s["state"] not in ("running", "stopping"))
    assert status["state"] == "finished", status["error"]
    assert status["job_id"] == started["job_id"]  # the refused start did not replace it
    exercise, test = status["log"].splitlines()
    assert EXERCISE_LINE.fullmatch(exercise), exercise
    assert re.fullmatch(r"\s+test: digit 0\.\d{4}  sum 0\.\d{4} \(all 100,000 pairs\)  both .*", test), test
    (epoch,) = status["epochs"]
    assert epoch["epoch"] == 1 and epoch["test_digit_accuracy"] > 0.5  # well above chance after one epoch
    assert status["config"]["limit"] == 2000 and status["progress"]["fraction"] == 1.0
    final = status["final"]
    assert final["digit_accuracy"] == epoch["test_digit_accuracy"]
    assert sum(map(sum, final["confusion"])) == 10_000
    assert final["misclassified_count"] == 10_000 - sum(final["confusion"][d][d] for d in range(10))


def test_stop_ends_a_run_at_the_next_batch(client):
    client.predict(epochs=20, limit=2000, api_name="/train_start")
    poll_until(client, lambda s: s.get("progress", {}).get("batch", 0) > 0)
    assert client.predict(api_name="/train_stop")["state"] == "stopping"
    status = poll_until(client, lambda s: s["state"] != "stopping", timeout=60)
    assert status["state"] == "stopped" and status["error"] is None
    assert status["final"] is None and len(status["epochs"]) < 20


@pytest.mark.parametrize(
    "values, reason",
    [
        ({"lr": 0}, "lr must be > 0"),
        ({"arch": "resnet"}, "arch must be one of"),
        ({"epochs": 0}, "epochs must be >= 1"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(client, values, reason):
    with pytest.raises(AppError, match=reason):
        client.predict(**values, api_name="/train_start")
    assert client.predict(api_name="/train_status")["state"] != "running"


# --- a public deployment: limits from the environment, and no MNIST on disk ---------------------


@contextlib.contextmanager
def served_app(data_dir: Path) -> Iterator[Client]:
    demo = build_app(data_dir=data_dir)
    _, url, _ = launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False)
    finally:
        demo.close()
        RUNNER.wait(60)


def test_a_capped_deployment_refuses_bigger_runs_and_survives_missing_data(monkeypatch, tmp_path):
    monkeypatch.setenv("MNISTSUM_MAX_EPOCHS", "2")
    monkeypatch.setenv("MNISTSUM_MAX_LIMIT", "3000")
    with served_app(tmp_path) as client:
        with pytest.raises(AppError, match="epochs 3 is above this deployment's cap of 2"):
            client.predict(epochs=3, limit=1000, api_name="/train_start")
        with pytest.raises(AppError, match="training subset size 5,000 is above .* 3,000"):
            client.predict(epochs=1, limit=5000, api_name="/train_start")

        client.predict(epochs=1, limit=1000, api_name="/train_start")
        status = poll_until(client, lambda s: s["state"] not in ("running", "stopping"))
        assert status["state"] == "failed"
        assert status["error"].startswith("DataMissingError: MNIST not found under data directory")
        assert "tick 'download'" in status["error"] and "MNISTSUM_DATA" in status["error"]

        answer = client.predict(handle_file(str(example_path(7))), 2, api_name="/predict_json")
        assert (answer["digit"], answer["sum"]) == (7, 9)  # predict keeps serving


def test_with_training_switched_off_the_api_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("MNISTSUM_TRAINING", "off")
    with served_app(tmp_path) as client:
        before = client.predict(api_name="/train_status")["job_id"]
        with pytest.raises(AppError, match=r"training is switched off on this deployment \(MNISTSUM_TRAINING=off\)"):
            client.predict(api_name="/train_start")
        assert client.predict(api_name="/train_status")["job_id"] == before  # nothing was started
