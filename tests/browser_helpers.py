"""What the browser tests share: opening the app, Playwright's `expect`, drawing on the pad."""

from __future__ import annotations

from typing import Any

from demo.make_examples import STROKES
from tools.browser import canvas_points, mouse_stroke

TIMEOUT_MS = 30_000  # generous: the machine running the tests may be busy


def open_app(browser: Any, app_url: str, height: int = 1000, **context: Any) -> Any:
    """A new page on the app, once the drawing pad is ready (its brush selected).
    `context` options (a phone's viewport and touch screen) give the page its own context."""
    if context:
        owner = browser.new_context(**context)
        page = owner.new_page()
    else:
        page = browser.new_page(viewport={"width": 1280, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    page.locator("#drawing canvas").first.wait_for(state="visible")
    expect(page.locator("#drawing .pad")).to_have_attribute("data-ready", "true")
    expect(page.locator("#reader .page-reader")).not_to_have_attribute("data-state", "loading")  # page or server
    return page


def expect(locator: Any) -> Any:
    """Playwright's `expect`, imported late: without Playwright the `browser` fixture skips (or fails)."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    return playwright_expect(locator)


def draw(page: Any, digit: int) -> None:
    """Replay the example digit's strokes (demo/make_examples.py) with the mouse on the canvas."""
    expect(page.locator("#drawing").get_by_role("button", name="Brush")).to_have_attribute(
        "aria-pressed", "true"
    )  # ready to draw
    stroke(page, *STROKES[digit])


def stroke(page: Any, *strokes: list[tuple[float, float]]) -> None:
    """Mouse strokes given in unit coordinates of the canvas (x right, y down)."""
    box = page.locator("#drawing canvas").first.bounding_box()
    for points in strokes:
        mouse_stroke(page, canvas_points(box, points), steps=2)  # the pad joins the points
