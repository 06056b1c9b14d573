"""What the browser tests share: opening the app, Playwright's `expect`, drawing with the mouse."""

from __future__ import annotations

from typing import Any

from demo.make_examples import STROKES

TIMEOUT_MS = 30_000  # generous: the machine running the tests may be busy


def open_app(browser: Any, app_url: str, height: int = 1000) -> Any:
    """A new page on the app, once the drawing canvas is there."""
    page = browser.new_page(viewport={"width": 1280, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    page.locator("#drawing canvas").first.wait_for(state="visible")
    return page


def expect(locator: Any) -> Any:
    """Playwright's `expect`, imported late: without Playwright the `browser` fixture skips (or fails)."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    return playwright_expect(locator)


def draw(page: Any, digit: int) -> None:
    """Replay the example digit's strokes (demo/make_examples.py) with the mouse, inside the canvas."""
    expect(page.get_by_text("select the draw tool")).to_be_hidden()  # the brush is already selected
    box = page.locator("#drawing canvas").first.bounding_box()
    side = 0.75 * min(box["width"], box["height"])  # well inside the 280x280 drawing area
    left, top = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    for stroke in STROKES[digit]:
        points = [(left + x * side, top + y * side) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=2)  # the canvas joins the points; each move costs a redraw
        page.mouse.up()
