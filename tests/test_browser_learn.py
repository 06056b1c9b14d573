"""The Learn tab in a real browser: it follows the Predict tab's drawing and shows the checks."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from demo.make_examples import STROKES

TIMEOUT_MS = 30_000  # generous: the machine running the tests may be busy


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    page.locator("#drawing canvas").first.wait_for(state="visible")
    yield page
    page.close()


def expect(locator: Any) -> Any:
    """Playwright's `expect`, imported late: without Playwright the `browser` fixture skips (or fails)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def draw_seven(page: Any) -> None:
    """The example 7's strokes, replayed with the mouse inside the canvas."""
    expect(page.get_by_text("select the draw tool")).to_be_hidden()
    box = page.locator("#drawing canvas").first.bounding_box()
    side = 0.75 * min(box["width"], box["height"])
    left, top = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    for stroke in STROKES[7]:
        page.mouse.move(left + stroke[0][0] * side, top + stroke[0][1] * side)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(left + x * side, top + y * side, steps=8)
        page.mouse.up()


def test_learn_tab_explains_the_drawing_from_the_predict_tab(page: Any):
    draw_seven(page)
    expect(page.locator("#headline")).to_contain_text("7 +", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Learn").click()
    expect(page.locator("#learn-caption")).to_contain_text("The network reads 7", timeout=TIMEOUT_MS)
    expect(page.locator("#exercise-rf")).to_contain_text("❌ wrong")  # the exercise's receptive fields, checked
    expect(page.locator("#race-start")).to_be_visible()
