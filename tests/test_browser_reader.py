"""The page's reader in the served app: it answers with the server gone, says so in one line and
recovers when the server is back; a damaged reader file is refused and the server answers instead;
a visitor's own model is exported for their page and reads there as it does on the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from browser_helpers import draw, expect, open_app, stroke
from conftest import free_port
from test_reader import load_reader

from demo.app import build_app, launch
from demo.handwriting import VisitorHandwriting
from demo.make_examples import draw_digit
from demo.page_reader import OFFLINE_NOTE, reader_value
from demo.state import AppState, ModelSlot, VisitorModels
from mnistsum.export import READER
from mnistsum.model import DualHeadNet
from mnistsum.predictor import Predictor
from tools.browser import PHONE, TOP_BAR


def _serve(state_dir: Path, port: int) -> tuple[Any, AppState]:
    state = AppState(state_dir=state_dir)
    demo = build_app(state=state)
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return demo, state


def test_drawing_answers_with_the_server_gone_and_the_page_says_so(browser: Any, tmp_path: Path) -> None:
    port = free_port()
    demo, state = _serve(tmp_path / "a", port)
    page = open_app(browser, f"http://127.0.0.1:{port}/")
    note = page.locator("#server-gone")
    try:
        expect(page.locator("#reader .page-reader")).to_have_attribute("data-state", "page")
        draw(page, 1)
        expect(page.locator("#headline")).to_contain_text("1 + 3 = 4")
        demo.close()
        state.queue.close()
        page.evaluate("window.dispatchEvent(new Event('offline'))")  # check now rather than at the next poll
        expect(note).to_have_text(OFFLINE_NOTE)
        stroke(page, TOP_BAR)  # the server is gone: the page still reads the drawing
        expect(page.locator("#headline")).to_contain_text("7 + 3 = 10")
        page.get_by_role("tab", name="Train").click()
        expect(note).to_be_visible()  # one line, on every tab: training needs the server
        expect(note).to_have_text(OFFLINE_NOTE)
        demo, state = _serve(tmp_path / "b", port)  # back: the page notices by itself
        expect(note).to_be_hidden()
    finally:
        page.close()
        demo.close()
        state.queue.close()


def test_a_damaged_reader_file_is_refused_and_the_server_answers(browser: Any, app_url: str) -> None:
    artefact = json.loads(READER.read_text())
    weight = artefact["sum_head"][0]["weight"]
    weight["data"] = weight["data"][:-8] + ("AAAAAAA=" if not weight["data"].endswith("AAAAAAA=") else "BBBBBBB=")
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.route("**/gradio_api/file=**reader.json", lambda route: route.fulfill(body=json.dumps(artefact)))
    sent: list[str] = []
    context.on("request", lambda r: sent.append(r.url) if "/queue/join" in r.url else None)
    try:
        page = context.new_page()
        page.goto(app_url)
        expect(page.locator("#reader .page-reader")).to_have_attribute("data-state", "server")
        expect(page.locator("#reader .reader-note")).to_contain_text(
            "The page could not run the model (sum head layer 0 (linear) weight fails its checksum"
        )
        expect(page.locator("#reader .reader-note")).to_contain_text("the server reads each drawing instead")
        draw(page, 7)
        expect(page.locator("#headline")).to_contain_text("7 + 3 = 10")  # the fallback: /predict
        assert sent, "the fallback must ask the server"
    finally:
        context.close()


def test_a_visitors_own_model_runs_in_their_page(browser: Any, tmp_path: Path) -> None:
    """A finished run the visitor chose (here: an untrained `default` net, which reads differently
    from the shipped one) is exported into their page's value, and the page reads with it what
    `Predictor.predict` reads; their adapted layer travels the same way."""
    torch.manual_seed(0)
    own = Predictor(DualHeadNet("default").eval())
    models = VisitorModels(ModelSlot(), tmp_path)
    models._hold("visitor", models.default.served()._replace(predictor=own, source="your run"))
    value = reader_value(VisitorHandwriting(models), "visitor")
    assert "artefact" in value and "file" not in value and value["model"] == "your run"
    assert reader_value(VisitorHandwriting(models), "someone else")["file"] == str(READER)
    drawings = [draw_digit(d) for d in range(10)]
    page = browser.new_page()
    try:
        load_reader(page)
        probs = page.evaluate(
            """([artefact, drawings]) => {
              const r = window.mnistsumReader;
              r.setModel(artefact);
              return drawings.map((gray) => {
                const data = new Uint8ClampedArray(gray.length * 4);
                gray.forEach((v, i) => data.set([v, v, v, 255], 4 * i));
                return r.predict({ width: 280, height: 280, data }, 2).digit_probs;
              });
            }""",
            [value["artefact"], [d.ravel().tolist() for d in drawings]],
        )
    finally:
        page.close()
    for drawing, page_probs in zip(drawings, probs):
        expected = own.predict(drawing, 2).digit_probs
        assert max(abs(a - b) for a, b in zip(page_probs, expected)) < 2e-3


FIRST_VIEW = ["#drawing canvas", "#drawing .pad-tools", "#n-slider", "#headline"]


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1920, 1080)])
def test_the_pad_the_slider_and_the_headline_are_in_the_first_view(
    browser: Any, app_url: str, width: int, height: int
) -> None:
    page = open_app(browser, app_url, viewport={"width": width, "height": height})
    try:
        boxes = {name: page.locator(name).bounding_box() for name in FIRST_VIEW}
        assert page.evaluate("window.scrollY") == 0
        for name, box in boxes.items():
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, (name, box)
    finally:
        page.context.close()


def test_on_a_phone_the_slider_is_in_the_first_view(browser: Any, app_url: str) -> None:
    page = open_app(browser, app_url, **PHONE)
    try:
        box = page.locator("#n-slider input[type=range]").bounding_box()
        assert box["y"] + box["height"] <= PHONE["viewport"]["height"]
    finally:
        page.context.close()
