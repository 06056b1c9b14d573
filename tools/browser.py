"""The system Chromium, driven by Playwright: shared by the browser benchmark and the tests.

Debian's `/usr/bin/chromium` is used as installed (`playwright install` is never run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 3}


def launch_chromium(playwright: Any) -> Any:
    """Headless system Chromium (raises if it is missing)."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)


def touch_stroke(page: Any, points: list[tuple[float, float]], steps: int = 3) -> None:
    """One finger stroke through `points` (page coordinates), as real touch events (CDP):
    Chromium turns them into pointer events of type "touch", as on a phone."""
    cdp = page.context.new_cdp_session(page)
    try:
        x, y = points[0]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            for i in range(1, steps + 1):
                x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


# A bar across the top of a drawn "1" (demo.make_examples.STROKES[1]) makes it a 7.
TOP_BAR = [(0.27, 0.2), (0.56, 0.18)]


def canvas_points(box: dict[str, float], stroke: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A stroke in unit coordinates (x right, y down) as page coordinates on the canvas `box`."""
    return [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]


def mouse_stroke(page: Any, points: list[tuple[float, float]], steps: int = 4) -> None:
    """Press, move through `points`, release: one stroke with the mouse."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=steps)
    page.mouse.up()
