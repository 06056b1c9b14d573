"""The README's screenshots, regenerated from the running app in headless Chromium:

    python -m tools.screenshots      # -> docs/screenshot.png (1280 wide), docs/screenshot-phone.png (390x844)

A 7 is drawn stroke by stroke with the mouse (a finger on the phone), n is set to 3 (the
phone: a 4 and n = 3), and each shot is taken once the answer is on the page.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from demo.make_examples import STROKES

from .browser import PHONE, canvas_points, launch_chromium, mouse_stroke, touch_stroke
from .browser_bench import open_page, set_n
from .http_bench import served_app

DOCS = Path(__file__).resolve().parent.parent / "docs"


def draw(page: Any, digit: int, n: int, touch: bool = False) -> None:
    """Draw `digit` on the pad with n set, and wait for the headline to read it."""
    set_n(page, n)
    canvas = page.locator("#drawing canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for stroke in STROKES[digit]:
        points = canvas_points(box, stroke)
        touch_stroke(page, points) if touch else mouse_stroke(page, points)
    page.wait_for_function(f"document.querySelector('#headline').textContent.includes('{digit} + {n} = {digit + n}')")
    page.wait_for_timeout(300)  # the charts' transitions


def main() -> int:
    from playwright.sync_api import sync_playwright

    with served_app() as (url, _), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            desktop = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = open_page(desktop, url)
            # the first-visit offer sits above the answer: answered first, as a visitor would
            page.get_by_role("button", name="No thanks").click()
            draw(page, 7, 3)
            page.screenshot(path=str(DOCS / "screenshot.png"), full_page=True)
            phone = browser.new_context(**{**PHONE, "device_scale_factor": 2})  # a 780 px wide file
            page = open_page(phone, url)
            draw(page, 4, 3, touch=True)
            page.screenshot(path=str(DOCS / "screenshot-phone.png"))
        finally:
            browser.close()
    print(f"wrote {DOCS / 'screenshot.png'} and {DOCS / 'screenshot-phone.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
