"""The launched app through `gradio_client` and plain HTTP: `/predict` (what the page calls)
and `/predict_json` (for programs), with bad input and many callers at once."""

from __future__ import annotations

import base64
import concurrent.futures
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from demo.make_examples import draw_digit, example_path
from mnistsum.payload import decode_drawing


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def data_url(path: Path) -> str:
    """What the pad sends: the picture as a PNG data URL."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def test_the_two_endpoints_and_their_parameters(client: Client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/predict"]["parameters"]] == ["drawing", "n"]
    assert [p["parameter_name"] for p in endpoints["/predict_json"]["parameters"]] == ["image", "n"]
    assert len(endpoints["/predict_json"]["returns"]) == 1


@pytest.mark.parametrize(("digit", "n"), [(7, 3), (0, 9), (4, 5)])
def test_predict_returns_the_digit_the_sum_and_the_sum_for_every_n(client: Client, digit: int, n: int) -> None:
    shown, stages = client.predict(data_url(example_path(digit)), n, api_name="/predict")
    assert (shown["digit"], shown["n"], shown["sum"], shown["heads_agree"]) == (digit, n, digit + n, True)
    assert int(np.argmax(shown["sum_probs"])) == int(np.argmax(shown["analytic_sum_probs"])) == digit + n
    assert [int(np.argmax(row)) for row in shown["sum_table"]] == [digit + k for k in range(10)]
    seen = decode_drawing(shown["model_input"])
    assert seen.shape == (28, 28) and seen.max() == 255  # the network's input itself, white ink on black
    assert stages is None  # only the page's open panel asks for them


def test_predict_json_takes_a_plain_image_file(client: Client) -> None:
    out = client.predict(handle_file(str(example_path(7))), 3, api_name="/predict_json")
    assert (out["digit"], out["sum"], out["n"], out["heads_agree"], out["blank"]) == (7, 10, 3, True, False)
    assert len(out["digit_probs"]) == 10 and len(out["sum_probs"]) == len(out["analytic_sum_probs"]) == 19
    assert out["digit_probs"][7] > 0.9


def test_a_photo_like_jpeg_works_too(client: Client, tmp_path: Path) -> None:
    """An RGB JPEG with grey paper: what a phone picture of a drawn digit looks like."""
    grey_paper = (draw_digit(3).astype(np.float32) * 0.7 + 40).astype(np.uint8)
    path = tmp_path / "three.jpg"
    Image.fromarray(grey_paper).convert("RGB").save(path, quality=80)
    assert client.predict(handle_file(str(path)), 6, api_name="/predict_json")["sum"] == 9


def test_empty_drawings_are_answered_without_a_guess(client: Client, tmp_path: Path) -> None:
    shown, _ = client.predict("", 3, api_name="/predict")
    assert shown["blank"] is True and shown["digit"] is None
    white = tmp_path / "white.png"
    Image.new("L", (280, 280), 255).save(white)
    out = client.predict(handle_file(str(white)), 3, api_name="/predict_json")
    assert out["blank"] is True and out["digit"] is None and out["sum"] is None


@pytest.mark.parametrize(
    ("n", "message"),
    [
        (12, "greater than maximum value 9"),
        (-1, "less than minimum value 0"),
        (3.5, "n must be a whole number from 0 to 9, got 3.5"),
        ("x", "slider"),
        (None, "slider"),
    ],
)
def test_bad_n_is_a_clear_error(client: Client, n: object, message: str) -> None:
    with pytest.raises(AppError, match=message):
        client.predict(data_url(example_path(7)), n, api_name="/predict")
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(example_path(7))), n, api_name="/predict_json")


def test_bad_drawings_are_clear_errors_and_the_app_keeps_serving(client: Client, tmp_path: Path) -> None:
    with pytest.raises(AppError, match="Cannot read this drawing: the drawing must be an image data URL"):
        client.predict("not a drawing", 3, api_name="/predict")
    with pytest.raises(AppError, match="the drawing is too large"):
        client.predict("data:image/png;base64," + "A" * 2_000_100, 3, api_name="/predict")
    not_an_image = tmp_path / "digit.png"
    not_an_image.write_text("this is not a PNG")
    with pytest.raises(AppError, match="UnidentifiedImageError|cannot identify"):
        client.predict(handle_file(str(not_an_image)), 3, api_name="/predict_json")
    assert client.predict(data_url(example_path(1)), 1, api_name="/predict")[0]["sum"] == 2


def _call(http: httpx.Client, api: str, data: list[Any]) -> Any:
    """Gradio's REST API: start the call, then read its result from the event stream."""
    event = http.post(f"/call/{api}", json={"data": data}).raise_for_status().json()["event_id"]
    kind = None
    with http.stream("GET", f"/call/{api}/{event}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                return kind, json.loads(line.removeprefix("data:"))
    raise AssertionError("the event stream ended without a result")


def test_plain_http_without_a_client_library(app_url: str) -> None:
    with httpx.Client(base_url=app_url + "gradio_api", timeout=60) as http:
        with example_path(4).open("rb") as image:
            [path] = http.post("/upload", files={"files": image}).raise_for_status().json()
        kind, [out] = _call(http, "predict_json", [{"path": path, "meta": {"_type": "gradio.FileData"}}, 5])
        assert kind == "complete" and (out["digit"], out["sum"]) == (4, 9)
        kind, [shown, *_] = _call(http, "predict", [data_url(example_path(2)), 0])  # then the stages (None)
        assert kind == "complete" and shown["sum"] == 2
        kind, _ = _call(http, "predict_json", [{"path": path, "meta": {"_type": "gradio.FileData"}}, 11])
        assert kind == "error"


@pytest.mark.parametrize("same", [True, False], ids=["same-drawing", "different-drawings"])
@pytest.mark.parametrize("api", ["/predict", "/predict_json"])
def test_ten_callers_ten_calls_each_lose_nothing(app_url: str, api: str, same: bool) -> None:
    """A class clicking the same example at once: identical requests must not share anything
    that one response can break for another (the 28x28 picture used to be one cached file)."""
    callers = 10

    def caller(i: int) -> list[str]:
        # Ten clients connect at once: a generous timeout, since losing nothing is the point, not speed.
        client = Client(app_url, verbose=False, httpx_kwargs={"timeout": 180})
        digit = 7 if same else i
        problems = []
        for call in range(10):
            n = (i + call) % 10
            try:
                if api == "/predict":
                    shown, _ = client.predict(data_url(example_path(digit)), n, api_name=api)
                    decode_drawing(shown["model_input"])  # the picture arrived whole
                else:
                    shown = client.predict(handle_file(str(example_path(digit))), n, api_name=api)
                if shown["sum"] != digit + n:
                    problems.append(f"caller {i} call {call}: sum {shown['sum']} for {digit} + {n}")
            except Exception as err:  # every failure is collected and reported
                problems.append(f"caller {i} call {call}: {type(err).__name__}: {err}")
        return problems

    with concurrent.futures.ThreadPoolExecutor(callers) as pool:
        problems = [p for found in pool.map(caller, range(callers)) for p in found]
    assert problems == []
