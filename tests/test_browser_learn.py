"""The Learn tab in a real browser: it follows the Predict tab's drawing and shows the checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import TIMEOUT_MS, draw, expect, open_app


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    page = open_app(browser, app_url)
    yield page
    page.close()


def test_learn_tab_explains_the_drawing_from_the_predict_tab(page: Any):
    draw(page, 7)
    expect(page.locator("#headline")).to_contain_text("7 +", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Learn").click()
    expect(page.locator("#learn-caption")).to_contain_text("The network reads 7", timeout=TIMEOUT_MS)
    expect(page.locator("#exercise-rf")).to_contain_text("❌ wrong")  # the exercise's receptive fields, checked
    expect(page.locator("#race-start")).to_be_visible()


def test_learn_tab_follows_an_example_loaded_from_the_server(page: Any):
    """An example click sets the pad from the server (no pad.change): opening Learn still reads it."""
    page.locator(".gallery-item").nth(4).click()
    expect(page.locator("#headline")).to_contain_text("4 +")
    page.get_by_role("tab", name="Learn").click()
    expect(page.locator("#learn-caption")).to_contain_text("The network reads 4")
