"""Browser benchmark of the Predict tab: `python -m tools.bench --browser`.

Starts `app.py` on a free loopback port and drives the system Chromium (headless) with
Playwright the way a person does: mouse strokes on the pad, Undo and Redo, arrow keys on
the n slider, and finger strokes on a phone-sized touch screen (390x844). For each kind of
interaction it prints the median and p95 time from the input event (the stroke's pointer-up,
the click, the key press) to the moment `#headline` shows the *right* new answer (a stale
answer does not count), both read on the page's own clock, and the HTTP requests the page
sends per interaction (counted from the input until 0.3 s after the answer; the Train and
Learn tabs' status polls, which run on a timer whatever one does, are left out).
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from demo.make_examples import STROKES

from .browser import PHONE, TOP_BAR, canvas_points, launch_chromium, mouse_stroke, touch_stroke

START_N = 3
SETTLE_S = 0.3  # requests sent this long after the answer still count for the interaction
# Arms the page: the first input event after this and the first time #headline shows `expected`.
ARM_JS = """(expected) => {
  const t = window.__bench = {input: null, answer: null};
  const kinds = ["pointerup", "keydown", "touchend"];
  const onInput = () => {
    if (t.input === null) t.input = performance.now();
    kinds.forEach((k) => document.removeEventListener(k, onInput, true));
  };
  kinds.forEach((k) => document.addEventListener(k, onInput, true));
  const head = document.querySelector("#headline");
  const seen = new MutationObserver(() => {
    if (t.answer === null && t.input !== null && head.textContent.includes(expected)) {
      t.answer = performance.now();
      seen.disconnect();
    }
  });
  seen.observe(head, {subtree: true, childList: true, characterData: true});
}"""


@dataclass
class Results:
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    requests: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, ms: float, requests: int) -> None:
        self.latency_ms.setdefault(kind, []).append(ms)
        self.requests.setdefault(kind, []).append(requests)


class RequestLog:
    """Every request the page sends, with the time it was sent (this process's clock)."""

    def __init__(self, page: Any, timer_fns: set[int]) -> None:
        self.entries: list[tuple[float, str, int | None]] = []
        self.timer_fns = timer_fns
        page.on("request", self._seen)

    def _seen(self, request: Any) -> None:
        fn = None
        if request.url.split("?")[0].endswith("/queue/join") and request.post_data:  # timers are queued
            try:
                fn = json.loads(request.post_data).get("fn_index")
            except ValueError:
                fn = None
        self.entries.append((time.monotonic(), request.url, fn))

    def count(self, start: float, end: float) -> int:
        """Requests in [start, end], less two (the join and its event stream) per timer poll."""
        window = [e for e in self.entries if start <= e[0] <= end]
        polls = sum(1 for _, _, fn in window if fn in self.timer_fns)
        return max(0, len(window) - 2 * polls)


def timer_functions(url: str) -> set[int]:
    """The ids of events fired by timers (the Train and Learn tabs poll their jobs)."""
    with urllib.request.urlopen(url + "config", timeout=30) as response:
        config = json.load(response)
    return {d["id"] for d in config["dependencies"] if any(t[1] == "tick" for t in d.get("targets", []))}


def measure(page: Any, log: RequestLog, results: Results, kind: str, expected: str, act: Callable[[], None]) -> float:
    """Run `act` and record the time from its input event to `expected` in the headline."""
    page.evaluate(ARM_JS, expected)
    start = time.monotonic()
    act()
    # Polled every 100 ms, not on every animation frame (Playwright's default): a frame loop would
    # keep the page's main thread painting and slow the very answer being timed.
    page.wait_for_function("window.__bench.answer !== null", timeout=30_000, polling=100)
    time.sleep(SETTLE_S)
    t = page.evaluate("window.__bench")
    ms = t["answer"] - t["input"]
    results.add(kind, ms, log.count(start, time.monotonic()))
    return ms


def open_page(context: Any, url: str) -> Any:
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.locator("#drawing canvas").wait_for(state="visible")
    page.wait_for_function("document.querySelector('#drawing .pad')?.dataset.ready === 'true'")
    set_n(page, START_N)
    time.sleep(0.5)  # let the page finish loading before anything is timed
    return page


def set_n(page: Any, n: int) -> None:
    number = page.locator("#n-slider input[type=number]")
    number.fill(str(n))
    number.press("Enter")
    page.wait_for_function(f"document.querySelector('#n-slider input[type=range]').value === '{n}'")


def desktop(browser: Any, url: str, rounds: int, first_strokes: int, slider_steps: int, results: Results) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    timers = timer_functions(url)
    try:
        for _ in range(first_strokes):  # a fresh page each time: the very first stroke
            page = open_page(context, url)
            log = RequestLog(page, timers)
            box = page.locator("#drawing canvas").bounding_box()
            one = canvas_points(box, STROKES[1][0])
            measure(
                page,
                log,
                results,
                "first stroke (a 1)",
                f"1 + {START_N} = {1 + START_N}",
                lambda page=page, one=one: mouse_stroke(page, one),
            )
            page.close()
        page = open_page(context, url)
        log = RequestLog(page, timers)
        box = page.locator("#drawing canvas").bounding_box()
        one, bar = canvas_points(box, STROKES[1][0]), canvas_points(box, TOP_BAR)
        seven, single = f"7 + {START_N} = {7 + START_N}", f"1 + {START_N} = {1 + START_N}"
        tools = page.locator("#drawing")
        undo, redo = tools.get_by_role("button", name="Undo"), tools.get_by_role("button", name="Redo")
        measure(page, log, results, "first stroke (a 1)", single, lambda: mouse_stroke(page, one))
        for _ in range(rounds):  # 1 -> 7 -> 1 -> 7 -> 1
            measure(page, log, results, "later stroke (1 -> 7)", seven, lambda: mouse_stroke(page, bar))
            measure(page, log, results, "Undo (7 -> 1)", single, undo.click)
            measure(page, log, results, "Redo (1 -> 7)", seven, redo.click)
            measure(page, log, results, "Undo (7 -> 1)", single, undo.click)
        measure(page, log, results, "later stroke (1 -> 7)", seven, lambda: mouse_stroke(page, bar))
        page.locator("#n-slider input[type=range]").focus()
        n = START_N
        for step in range(slider_steps):  # up to 9, down to 0, up again
            direction = 1 if (step // 9) % 2 == 0 else -1
            direction = direction if 0 <= n + direction <= 9 else -direction
            n += direction
            key = "ArrowRight" if direction > 0 else "ArrowLeft"
            measure(
                page,
                log,
                results,
                "slider step (arrow key)",
                f"7 + {n} = {7 + n}",
                lambda key=key: page.keyboard.press(key),
            )
        page.close()
    finally:
        context.close()


def phone(browser: Any, url: str, rounds: int, results: Results) -> None:
    """A 390x844 touch screen: finger strokes; the page must not scroll and the answer must be in view."""
    context = browser.new_context(**PHONE)
    timers = timer_functions(url)
    try:
        page = open_page(context, url)
        log = RequestLog(page, timers)
        canvas = page.locator("#drawing canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        one, bar = canvas_points(box, STROKES[1][0]), canvas_points(box, TOP_BAR)
        single, seven = f"1 + {START_N} = {1 + START_N}", f"7 + {START_N} = {7 + START_N}"
        measure(page, log, results, "phone: first finger stroke", single, lambda: touch_stroke(page, one))
        scrolled, hidden = 0, 0
        for _ in range(rounds):
            before = page.evaluate("window.scrollY")
            measure(page, log, results, "phone: later finger stroke", seven, lambda: touch_stroke(page, bar))
            scrolled += page.evaluate("window.scrollY") != before
            hidden += not in_view(page, "#drawing .answer-pin")  # the phone shows the answer under the pad
            page.locator("#drawing").get_by_role("button", name="Undo").tap()
            page.wait_for_function(f"document.querySelector('#headline').textContent.includes('{single}')")
        results.notes.append(
            f"phone 390x844: page scrolled during {scrolled}/{rounds} finger strokes; "
            f"answer out of view after {hidden}/{rounds}"
        )
        page.close()
    finally:
        context.close()


def in_view(page: Any, selector: str) -> bool:
    return page.evaluate(
        """(s) => { const r = document.querySelector(s).getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }""",
        selector,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(results: Results) -> None:
    for kind, ms in results.latency_ms.items():
        requests = results.requests[kind]
        print(
            f"{kind:28s} n={len(ms):3d}  median {statistics.median(ms):7.1f} ms  p95 {percentile(ms, 0.95):7.1f} ms  "
            f"requests per interaction: mean {statistics.mean(requests):.1f}, max {max(requests)}"
        )
    for note in results.notes:
        print(note)


def run(url: str, rounds: int = 10, first_strokes: int = 5, slider_steps: int = 20, browser: Any = None) -> Results:
    """All interactions against the app at `url`, in `browser` (default: a fresh system Chromium)."""
    results = Results()
    if browser is not None:
        desktop(browser, url, rounds, first_strokes, slider_steps, results)
        phone(browser, url, max(2, rounds // 2), results)
        return results
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        own = launch_chromium(playwright)
        try:
            return run(url, rounds, first_strokes, slider_steps, own)
        finally:
            own.close()
