"""The Train tab in a real browser: start a run, watch it stream, reload and re-attach, stop."""

from __future__ import annotations

import re

from typing import Any, Iterator

import pytest

from browser_helpers import expect, open_app
from mnistsum.jobs import RUNNER

EPOCH_1 = re.compile(r"^epoch: 1 MNIST \{Correct: \d+", re.MULTILINE)


def open_train_tab(page: Any) -> None:
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-start")).to_be_visible()


def set_slider(page: Any, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


@pytest.fixture
def page(browser: Any, app_url: str, mnist_dir) -> Iterator[Any]:
    page = open_app(browser, app_url, height=1200)
    yield page
    page.close()
    RUNNER.stop()
    RUNNER.wait(120)


def test_start_stream_reload_reattach_and_stop(page: Any):
    open_train_tab(page)
    set_slider(page, "train-epochs", 20)  # far longer than the test: it ends with Stop
    set_slider(page, "train-limit", 2000)
    page.locator("#train-start").click()

    headline = page.locator("#train-headline")
    expect(headline).to_contain_text("Training run #", timeout=30_000)
    expect(page.locator("#train-progress progress")).to_be_visible(timeout=60_000)
    expect(page.locator("#train-live-loss .vega-embed .mark-line path")).to_be_attached(timeout=60_000)
    expect(page.locator("#train-log textarea")).to_have_value(EPOCH_1, timeout=180_000)
    expect(page.locator("#train-accuracy .vega-embed")).to_be_attached(timeout=30_000)
    config = RUNNER.status().latest.config
    assert (config.epochs, config.limit) == (20, 2000)  # the form's values reached the job

    page.reload()
    open_train_tab(page)
    expect(headline).to_contain_text("Training run #", timeout=30_000)
    expect(page.locator("#train-log textarea")).to_have_value(EPOCH_1, timeout=30_000)
    expect(page.locator("#train-progress progress")).to_be_visible(timeout=30_000)
    expect(page.locator("#train-live-loss .vega-embed .mark-line path")).to_be_attached(timeout=30_000)
    expect(page.locator("#train-start")).to_be_disabled()

    page.locator("#train-stop").click()
    expect(headline).to_contain_text("stopped", timeout=60_000)
    expect(page.locator("#train-start")).to_be_enabled()
    assert RUNNER.status().state == "stopped"
