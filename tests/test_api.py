"""The launched app through `gradio_client`, the way API users reach `/predict`."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from demo.make_examples import draw_digit, example_path


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def sketch(path: Path | None) -> dict:
    """A Sketchpad value as an API caller sends it: the image goes in `composite`."""
    return {"background": None, "layers": [], "composite": handle_file(str(path)) if path else None}


def test_predict_is_a_named_endpoint(client: Client) -> None:
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/predict"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["drawing", "n"]
    assert len(endpoint["returns"]) == 7
    stages = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/stages"]
    assert [p["parameter_name"] for p in stages["parameters"]] == ["drawing"]


@pytest.mark.parametrize(("digit", "n"), [(7, 3), (0, 9), (4, 5)])
def test_drawing_returns_the_digit_and_the_sum(client: Client, digit: int, n: int) -> None:
    headline, label, agreement, learned, analytic, model_input, table = client.predict(
        sketch(example_path(digit)), n, api_name="/predict"
    )
    assert headline.startswith(f"## {digit} + {n} = {digit + n}\n")
    assert label["label"] == str(digit)
    assert agreement.startswith("✓")
    for frame in (learned, analytic):
        probabilities = [row[1] for row in frame["data"]]
        assert len(probabilities) == 19 and int(np.argmax(probabilities)) == digit + n
    seen = np.asarray(Image.open(model_input))
    assert seen.shape == (28, 28) and seen.max() == 255  # the network's input itself, white ink on black
    assert table.count("<tr") == 11 and table.count("<td") == 190  # a header row, 10 rows of 19 sums
    assert table.count('class="highlight"') == 1 and f"<th>n={n}</th>" in table.split('class="highlight"')[1][:40]


def test_stages_endpoint_shows_the_preprocessing(client: Client) -> None:
    picture = Image.open(client.predict(sketch(example_path(2)), api_name="/stages"))
    assert picture.size[0] > 4 * picture.size[1]  # five stages side by side
    assert client.predict(sketch(None), api_name="/stages") is None


def test_a_photo_like_jpeg_works_too(client: Client, tmp_path: Path) -> None:
    """An RGB JPEG with grey paper: what a phone picture of a drawn digit looks like."""
    grey_paper = (draw_digit(3).astype(np.float32) * 0.7 + 40).astype(np.uint8)
    path = tmp_path / "three.jpg"
    Image.fromarray(grey_paper).convert("RGB").save(path, quality=80)
    assert client.predict(sketch(path), 6, api_name="/predict")[0].startswith("## 3 + 6 = 9")


def test_empty_canvas_clears_everything(client: Client) -> None:
    headline, label, agreement, learned, analytic, model_input, table = client.predict(
        sketch(None), 3, api_name="/predict"
    )
    assert headline.startswith("### Draw a digit")
    assert not label.get("label") and not agreement
    assert learned is None and analytic is None
    assert model_input is None and not table


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
        client.predict(sketch(example_path(7)), n, api_name="/predict")


def test_unreadable_image_is_a_clear_error(client: Client, tmp_path: Path) -> None:
    not_an_image = tmp_path / "digit.png"
    not_an_image.write_text("this is not a PNG")
    with pytest.raises(AppError, match="UnidentifiedImageError"):
        client.predict(sketch(not_an_image), 3, api_name="/predict")


def test_app_survives_bad_requests(client: Client) -> None:
    """After every kind of bad input above, the next good request is answered normally."""
    with pytest.raises(AppError):
        client.predict("not a sketchpad value", 3, api_name="/predict")
    assert client.predict(sketch(example_path(1)), 1, api_name="/predict")[0].startswith("## 1 + 1 = 2")


def test_visitors_are_served_concurrently(app_url: str) -> None:
    """Several clients at once all get their own right answer (no cross-talk between requests)."""
    clients = [Client(app_url, verbose=False, download_files=False) for _ in range(4)]

    def ask(i: int) -> tuple[int, str]:
        n = i % 10
        return n, clients[i % len(clients)].predict(sketch(example_path(8)), n, api_name="/predict")[0]

    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(ask, range(12)))
    for n, headline in answers:
        assert headline.startswith(f"## 8 + {n} = {8 + n}\n")
