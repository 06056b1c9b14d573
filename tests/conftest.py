"""Shared fixtures and markers.

Real-data tests take MNIST from `$MNISTSUM_DATA` (default `../shared/data`, then `./data`).
Where the data is optional they skip when it is absent; with `MNISTSUM_REQUIRE_DATA=1`
(set by `.ci/run`) a missing dataset fails them instead, so CI cannot pass by skipping.

Markers (registered in pyproject.toml): `data` and `browser` are given here to every test
that uses the MNIST or the browser fixtures; `slow` to browser tests and, by hand, to
modules that train, serve or evaluate on all of MNIST. `python -m pytest -m "not slow"` is
the quick loop; a plain `python -m pytest` (CI) runs everything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mnistsum import Predictor, environment
from mnistsum.data import MnistSplit, has_mnist, load_split
from mnistsum.pen import PenDigits, has_pen_digits, load_pen_digits

REPO = Path(__file__).resolve().parent.parent


def _data_root(has: Any = has_mnist) -> Path | None:
    candidates = [os.environ.get(environment.DATA.name), REPO.parent / "shared" / "data", REPO / "data"]
    for candidate in candidates:
        if candidate and has(candidate):
            return Path(candidate)
    return None


def _missing_data(message: str) -> None:
    if environment.REQUIRE_DATA.get():
        pytest.fail(message + " and MNISTSUM_REQUIRE_DATA=1 says it must be there")
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "mnist_dir" in fixtures or "pen_dir" in fixtures:
            item.add_marker(pytest.mark.data)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    root = _data_root()
    if root is None:
        _missing_data("MNIST not found (set MNISTSUM_DATA to a folder holding MNIST/raw/)")
    return root


@pytest.fixture(scope="session")
def pen_dir() -> Path:
    """The folder holding unipen/unipen_dev.npz (the pen-drawn digits)."""
    root = _data_root(has_pen_digits)
    if root is None:
        _missing_data("pen digits not found (set MNISTSUM_DATA to a folder holding unipen/unipen_dev.npz)")
    return root


@pytest.fixture(scope="session")
def pen_digits(pen_dir: Path) -> PenDigits:
    return load_pen_digits(pen_dir)


@pytest.fixture(scope="session")
def mnist_test(mnist_dir: Path) -> MnistSplit:
    return load_split(mnist_dir, train=False)


@pytest.fixture(scope="session")
def mnist_train(mnist_dir: Path) -> MnistSplit:
    return load_split(mnist_dir, train=True)


@pytest.fixture(scope="module")
def slot() -> Any:
    """The app's model slot with the shipped weights (demo.state.ModelSlot), one per test module."""
    from demo.state import ModelSlot

    slot = ModelSlot()
    assert slot.predictor is not None, slot.error
    return slot


@pytest.fixture
def handwriting(slot: Any, tmp_path: Path) -> Any:
    """A fresh visitor handwriting store (demo.handwriting.VisitorHandwriting) on `slot`."""
    from demo.handwriting import VisitorHandwriting
    from demo.state import VisitorModels

    return VisitorHandwriting(VisitorModels(slot, tmp_path / "models"))


@pytest.fixture(scope="session")
def shipped() -> Predictor:
    """The shipped weights, loaded once for every test that reads them."""

    return Predictor.load()


@pytest.fixture(scope="session")
def shipped_evaluation(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`python -m mnistsum.evaluate --json` on the shipped weights, run once (in-process) and
    read by both the CLI test and the shipped-weights tests: 100,000 pairs are evaluated once."""
    from mnistsum.evaluate import main

    out = tmp_path_factory.mktemp("evaluate") / "metrics.json"
    assert main(["--data-dir", str(mnist_dir), "--json", "--out", str(out)]) == 0
    return json.loads(out.read_text())


# Browser and served-app fixtures (tests/test_api.py, tests/test_browser_*.py).

from tools.browser import CHROMIUM, CHROMIUM_FLAGS  # Debian's package; `playwright install` is not used  # noqa: E402


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory, monkeypatch) -> None:
    """Apps built by a test keep their leaderboard and visitors' models in a temporary folder, not ./runs."""
    monkeypatch.setenv("MNISTSUM_STATE_DIR", str(tmp_path_factory.mktemp("runs")))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> Iterator[tuple[str, Any]]:
    """The whole app with the shipped weights, served on a free loopback port for the session,
    with its state (leaderboard, visitors' models) in a fresh folder: (url, its `AppState`)."""
    from demo.app import build_app, launch
    from demo.state import AppState
    from mnistsum.jobs import TrainingPolicy

    # One worker, whatever the machine: the tests watch the second visitor's run wait its turn. Every
    # test visitor comes from 127.0.0.1, and a test's runs may still be stopping when the next one
    # starts: the per-address bound is raised here and tested on apps of its own (test_class_server.py).
    policy = TrainingPolicy(workers=1, runs_per_address=20)
    state = AppState(policy=policy, state_dir=tmp_path_factory.mktemp("state"))
    demo = build_app(data_dir=_data_root(), state=state)  # the Train tab and the random-digit button need MNIST
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url, state
    demo.close()
    state.queue.close()


@pytest.fixture(scope="session")
def app_url(served) -> str:
    return served[0]


@pytest.fixture(scope="session")
def app_state(served) -> Any:
    return served[1]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright. Skips when either is missing, unless
    MNISTSUM_REQUIRE_BROWSER=1 (set by CI), where a missing browser fails the tests."""

    def missing(message: str) -> None:
        if environment.REQUIRE_BROWSER.get():
            pytest.fail(message + " and MNISTSUM_REQUIRE_BROWSER=1 says it must be there")
        pytest.skip(message)

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -r requirements-test.txt)")
    if not CHROMIUM.exists():
        missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
