"""The Predict tab in a real browser: strokes, Undo/Redo, the slider, Clear, the eraser,
examples, the random digit, the stages panel, and a phone's touch screen.

The strokes are the ones `demo/make_examples.py` draws the examples with, replayed with the
mouse (or a finger), so what is drawn here is a digit the model is known to read. One page
serves the whole module (opening one costs seconds); each test starts from a cleared pad.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import draw, expect, open_app, stroke

from demo.make_examples import STROKES
from tools.browser import PHONE, TOP_BAR, canvas_points, touch_stroke

START_N = 3


class Requests:
    """The requests the page sends: how many /predict calls, uploads and other server events."""

    def __init__(self, page: Any, app_url: str) -> None:
        with urllib.request.urlopen(app_url + "config") as response:
            dependencies = json.load(response)["dependencies"]
        self.predict_fn = next(d["id"] for d in dependencies if d.get("api_name") == "predict")
        self.timer_fns = {d["id"] for d in dependencies if any(t[1] == "tick" for t in d.get("targets", []))}
        self.events: list[int] = []
        self.api: list[str] = []  # every /gradio_api request but the page's health check (a HEAD)
        self.uploads = 0
        page.on("request", self._seen)

    def _seen(self, request: Any) -> None:
        if "/gradio_api" in request.url and request.method != "HEAD":
            self.api.append(request.url)
        if "/upload" in request.url:
            self.uploads += 1
        path = request.url.split("?")[0]
        if (path.endswith("/queue/join") or "/run/" in path) and request.post_data:  # queued or not
            fn = json.loads(request.post_data).get("fn_index")
            if fn not in self.timer_fns:
                self.events.append(fn)

    def reset(self) -> None:
        self.events.clear()
        self.api.clear()
        self.uploads = 0


@pytest.fixture(scope="module")
def shared(browser: Any, app_url: str) -> Iterator[tuple[Any, Requests]]:
    page = open_app(browser, app_url)
    yield page, Requests(page, app_url)
    page.close()


@pytest.fixture
def page(shared: tuple[Any, Requests]) -> Any:
    """The module's page with a cleared pad, n = START_N and the stages panel closed."""
    page, requests = shared
    clear = pad_button(page, "Clear")
    if clear.is_enabled():
        clear.click()
    expect(headline(page)).to_contain_text("Draw a digit")
    set_n(page, START_N)
    pad_button(page, "Brush").click()
    requests.reset()
    return page


def pad_button(page: Any, name: str) -> Any:
    return page.locator("#drawing").get_by_role("button", name=name)


def headline(page: Any) -> Any:
    return page.locator("#headline")


def set_n(page: Any, n: int) -> None:
    """Type n into the slider's number box (one change)."""
    number = page.locator("#n-slider input[type=number]")
    number.fill(str(n))
    number.press("Enter")
    expect(page.locator("#n-slider input[type=range]")).to_have_value(str(n))


def test_strokes_undo_and_redo_are_read_in_the_page(page: Any, shared: tuple[Any, Requests]) -> None:
    requests = shared[1]
    draw(page, 1)
    expect(headline(page)).to_contain_text("1 + 3 = 4")
    expect(page.locator("#digit-probs li").first).to_contain_text("1")
    expect(page.locator("#agreement")).to_contain_text("The heads agree")
    expect(page.locator("#model-input img")).to_be_visible()
    expect(page.locator("#sum-table tr.highlight")).to_contain_text(f"n={START_N}")
    stroke(page, TOP_BAR)  # a bar across the top makes the 1 a 7
    expect(headline(page)).to_contain_text("7 + 3 = 10")
    undo, redo = pad_button(page, "Undo"), pad_button(page, "Redo")
    undo.click()
    expect(headline(page)).to_contain_text("1 + 3 = 4")
    redo.click()
    expect(headline(page)).to_contain_text("7 + 3 = 10")
    page.locator("#drawing .pad").focus()
    page.keyboard.press("Control+z")
    expect(headline(page)).to_contain_text("1 + 3 = 4")
    page.keyboard.press("Control+Shift+z")
    expect(headline(page)).to_contain_text("7 + 3 = 10")
    expect(redo).to_be_disabled()
    # two strokes, two undos, two redos: all read in the page, not one request to the server
    assert requests.api == [] and requests.events == [] and requests.uploads == 0
    expect(page.locator("#reader .page-reader")).to_have_attribute("data-state", "page")
    # and nothing piles up in the visitor's browser: Gradio's run history would keep every
    # drawing in localStorage, rewritten whole on each event (slower with every stroke)
    stored = page.evaluate("Object.keys(localStorage)")
    assert not [key for key in stored if "run-history" in key], stored


# A 1 with a long flag, in one stroke (flag up to the top, then the stem), the way much of
# Europe and Asia writes it: close to a plain 7, so the answer must show both readings.
FLAGGED_ONE = [[(0.4, 0.32), (0.54, 0.18), (0.47, 0.82)]]


def test_a_flagged_one_shows_1_and_7_in_the_top_3(page: Any) -> None:
    stroke(page, *FLAGGED_ONE)
    expect(headline(page)).to_contain_text(f"+ {START_N} =")
    names = page.locator("#digit-probs li .name")
    expect(names).to_have_count(3)
    top = names.all_inner_texts()
    assert {"1", "7"} <= set(top), top


def test_a_burst_of_slider_steps_is_answered_in_the_page(page: Any, shared: tuple[Any, Requests]) -> None:
    requests = shared[1]
    draw(page, 7)
    expect(headline(page)).to_contain_text("7 + 3 = 10")
    requests.reset()
    page.locator("#n-slider input[type=range]").focus()
    for key in ["ArrowLeft"] * 3 + ["ArrowRight"] * 7:  # ten quick steps: 3 -> 0 -> 7
        page.keyboard.press(key)
    expect(page.locator("#n-slider input[type=range]")).to_have_value("7")
    expect(headline(page)).to_contain_text("7 + 7 = 14")
    expect(page.locator("#agreement")).to_contain_text("both say 14")
    expect(page.locator("#learned-sum .bar.top em")).to_have_text("14")
    expect(page.locator("#analytic-sum .bar.top em")).to_have_text("14")
    expect(page.locator("#sum-table tr.highlight th")).to_have_text("n=7")
    assert requests.events == [] and requests.api == []  # no server call for any of the ten steps
    stroke(page, [(0.3, 0.5), (0.6, 0.5)])  # a stroke after the burst is answered for the current n
    expect(headline(page)).to_contain_text("7 + 7 = 14")


def test_clear_and_the_eraser_empty_the_answer_and_keep_drawing_possible(page: Any) -> None:
    draw(page, 1)
    expect(headline(page)).to_contain_text("1 + 3 = 4")
    pad_button(page, "Clear").click()
    expect(headline(page)).to_contain_text("Draw a digit")
    expect(page.locator("#digit-probs li")).to_have_count(0)
    expect(page.locator("#agreement")).to_have_text("")
    expect(page.locator("#model-input img")).to_have_count(0)
    expect(page.locator("#sum-table table")).to_have_count(0)
    expect(pad_button(page, "Brush")).to_have_attribute("aria-pressed", "true")
    draw(page, 1)  # straight after clearing, with the brush still selected
    expect(headline(page)).to_contain_text("1 + 3 = 4")
    pad_button(page, "Eraser").click()
    expect(pad_button(page, "Eraser")).to_have_attribute("aria-pressed", "true")
    stroke(page, *STROKES[1])  # erase the 1 along its own path: nothing left to read
    expect(headline(page)).to_contain_text("Draw a digit")


def test_an_example_is_one_click_away(page: Any) -> None:
    page.locator(".gallery-item").nth(9).click()  # the examples are the digits 0..9 in order
    expect(headline(page)).to_contain_text(f"9 + {START_N} = {9 + START_N}")
    set_n(page, 5)  # the slider then works on the example, as on a drawing
    expect(headline(page)).to_contain_text("9 + 5 = 14")
    pad_button(page, "Undo").click()  # loading it was a step of the pad's history
    expect(headline(page)).to_contain_text("Draw a digit")


def test_random_mnist_digit_is_loaded_and_read(page: Any, mnist_dir: Path) -> None:
    page.get_by_role("button", name="Random MNIST test digit").click()
    expect(page.locator("#mnist-caption")).to_contain_text("MNIST test image #")
    expect(headline(page)).to_contain_text(f" + {START_N} ")
    stroke(page, [(0.1, 0.1), (0.15, 0.1)])  # drawing on it makes it the visitor's drawing
    expect(page.locator("#mnist-caption")).to_have_text("")


def test_stages_panel_follows_the_received_drawing(page: Any) -> None:
    draw(page, 2)
    expect(headline(page)).to_contain_text(f"2 + {START_N} = {2 + START_N}")
    panel = page.get_by_text("How your drawing became 28x28")
    panel.click()  # opening it shows the stages of the drawing the server already has
    expect(page.locator("#stages img")).to_be_visible()
    first = page.locator("#stages img").get_attribute("src")
    stroke(page, [(0.1, 0.9), (0.3, 0.9)])
    expect(page.locator("#stages img")).not_to_have_attribute("src", first)  # it follows each stroke while open
    pad_button(page, "Clear").click()
    expect(page.locator("#stages img")).to_have_count(0)
    panel.click()


def test_a_finger_draws_on_a_phone_and_the_answer_stays_in_view(browser: Any, app_url: str) -> None:
    page = open_app(browser, app_url, **PHONE)
    try:
        canvas = page.locator("#drawing canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box["width"] <= 390 - 2 * 16 and box["width"] >= 250  # the pad fits the narrow screen
        before = page.evaluate("window.scrollY")
        touch_stroke(page, canvas_points(box, STROKES[1][0]))
        expect(headline(page)).to_contain_text("1 + 3 = 4")
        touch_stroke(page, canvas_points(box, TOP_BAR))
        expect(headline(page)).to_contain_text("7 + 3 = 10")
        assert page.evaluate("window.scrollY") == before  # drawing did not scroll the page
        pin = page.locator("#drawing .answer-pin")  # the answer, repeated under the pad's tools
        expect(pin).to_contain_text("7 + 3 = 10")
        shown = pin.bounding_box()
        assert shown["y"] >= 0 and shown["y"] + shown["height"] <= 844  # visible while drawing
        pad_button(page, "Undo").tap()
        expect(headline(page)).to_contain_text("1 + 3 = 4")
        pad_button(page, "Redo").click()  # a mouse click acts, right after a tap
        expect(headline(page)).to_contain_text("7 + 3 = 10")
        # A tap acts on pointer-up and its click, when Chromium sends one, is skipped: one Undo, not
        # two (Chromium dropped the tap's click above, so the pair is sent here).
        undo = pad_button(page, "Undo")
        undo.dispatch_event("pointerup", {"pointerType": "touch", "bubbles": True})
        undo.dispatch_event("click", {"pointerType": "touch", "bubbles": True})
        expect(headline(page)).to_contain_text("1 + 3 = 4")
    finally:
        page.context.close()


def test_the_browser_benchmark_measures_every_interaction(browser: Any, app_url: str) -> None:
    """`python -m tools.bench --browser` in miniature: every kind is timed, and the page sends
    one /predict per stroke (a join and its event stream) and nothing for a slider step. Speed is not asserted."""
    from tools.browser_bench import run

    start = time.perf_counter()
    results = run(app_url, rounds=1, first_strokes=1, slider_steps=3, browser=browser)
    total_ms = (time.perf_counter() - start) * 1000
    kinds = [
        "first stroke (a 1)",
        "later stroke (1 -> 7)",
        "Undo (7 -> 1)",
        "Redo (1 -> 7)",
        "slider step (arrow key)",
        "phone: first finger stroke",
        "phone: later finger stroke",
    ]
    assert list(results.latency_ms) == kinds
    assert {k: len(v) for k, v in results.latency_ms.items()} == {k: len(v) for k, v in results.requests.items()}
    assert all(0 < ms < total_ms for values in results.latency_ms.values() for ms in values)  # timed, within the run
    assert results.requests["slider step (arrow key)"] == [0, 0, 0]
    assert max(results.requests["later stroke (1 -> 7)"] + results.requests["Undo (7 -> 1)"]) <= 2
    assert "scrolled during 0/2" in results.notes[0] and "out of view after 0/2" in results.notes[0]


def test_a_server_error_reaches_the_visitor_as_a_message(browser: Any, tmp_path: Path) -> None:
    """Without a model a stroke cannot be read: the page says why (Gradio's error toast), and
    clearing the pad still works."""
    import socket

    from demo.app import build_app, launch
    from demo.state import ModelSlot

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_app(ModelSlot(tmp_path / "missing.pt"), data_dir=tmp_path)
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    page = open_app(browser, url)
    try:
        # The banner arrives after the page loads and pushes the pad down: draw once it is there,
        # or the strokes land where the pad was.
        expect(page.locator("#model-banner")).to_contain_text("No model is loaded")
        draw(page, 7)
        expect(page.get_by_test_id("toast-body").first).to_contain_text("No model is loaded")
        pad_button(page, "Clear").click()
        expect(headline(page)).to_contain_text("Draw a digit")
    finally:
        page.close()
        demo.close()
