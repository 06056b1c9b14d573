"""`python -m tools.http_bench` runs against a live app and reports what it measured (never asserts speed)."""

from __future__ import annotations

import re
import time

import pytest
from gradio_client import Client

from tools.http_bench import RestClient, call, is_loopback, main, shared_tls_context

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:7860/", True),
        ("http://localhost:1/", True),
        ("http://[::1]:80/", True),
        ("https://example.org/", False),
        ("http://10.0.0.1/", False),
        ("not a url", False),
    ],
)
def test_only_loopback_targets_are_accepted(url: str, ok: bool) -> None:
    assert is_loopback(url) is ok


def timed(client: Client | RestClient, n: int, drawn: bool = True) -> None:
    """`call` raises unless the answer is right (sum 7 + n, or none for an empty pad), and the
    time it reports is the round trip's: more than nothing, within the time around it."""
    start = time.perf_counter()
    elapsed = call(client, n, drawn)
    assert 0 < elapsed <= time.perf_counter() - start


class WrongAnswers:
    def predict(self, *args: object, api_name: str) -> list[dict]:
        return [{"sum": 3}]


def test_call_refuses_a_wrong_answer() -> None:
    with pytest.raises(AssertionError, match="expected sum 11 for n=4, got {'sum': 3}"):
        call(WrongAnswers(), 4)


def test_a_shared_tls_context_client_gets_the_same_answer(app_url: str) -> None:
    timed(Client(app_url, verbose=False, download_files=False, ssl_verify=shared_tls_context()), 4)


def test_rest_client_gets_the_same_answer_and_the_errors(app_url: str) -> None:
    rest = RestClient(app_url)
    timed(rest, 6)
    timed(rest, 2, drawn=False)
    with pytest.raises(RuntimeError, match="/predict failed"):
        rest.predict("", 12, api_name="/predict")


def test_benchmark_reports_every_measurement(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", app_url, "--requests", "3", "--clients", "2", "--per-client", "2"]) == 0
    out = capsys.readouterr().out
    names = (
        "gradio_client, empty pad",
        "gradio_client, drawing",
        "+ shared TLS, empty pad",
        "+ shared TLS, drawing",
        "REST API (httpx), drawing",
    )
    for name in names:
        assert re.search(rf"{re.escape(name)}\s*: n=3\s+median [\d.]+ ms", out), name
    assert "2 clients x 2 calls" in out and "errors 0/4" in out


def test_benchmark_refuses_other_hosts() -> None:
    with pytest.raises(SystemExit):
        main(["--url", "https://example.org/"])
