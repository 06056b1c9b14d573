"""The Predict tab in a real browser: mouse strokes on the canvas, the slider, Clear.

The strokes are the ones `demo/make_examples.py` draws the examples with, replayed with
the mouse, so what is drawn here is a digit the model is known to read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from browser_helpers import draw, expect, open_app

START_N = 3


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    """A fresh page per test: no canvas state or pending event carries over between tests."""
    page = open_app(browser, app_url)
    set_n(page, START_N)
    yield page
    page.close()


def clear(page: Any) -> None:
    page.locator('#drawing button[aria-label="Clear canvas"]').click()
    expect(page.locator("#headline")).to_contain_text("Draw a digit")


def set_n(page: Any, n: int) -> None:
    """Type n into the slider's number box: one change event, so the test does not depend
    on how a burst of slider events is collapsed."""
    number = page.locator("#n-slider input[type=number]")
    number.fill(str(n))
    number.press("Enter")
    expect(page.locator("#n-slider input[type=range]")).to_have_value(str(n))


@pytest.mark.parametrize("digit", [1, 7, 0, 4])
def test_drawn_digit_gets_its_digit_and_sum(page: Any, digit: int) -> None:
    draw(page, digit)
    expect(page.locator("#headline")).to_contain_text(f"{digit} + {START_N} = {digit + START_N}")
    expect(page.locator("#digit-probs")).to_contain_text(str(digit))
    expect(page.locator("#agreement")).to_contain_text("agree")
    expect(page.locator("#model-input img")).to_be_visible()
    expect(page.locator("#sum-table tr.highlight")).to_contain_text(f"n={START_N}")


def test_an_example_is_one_click_away(page: Any) -> None:
    page.locator(".gallery-item").nth(9).click()  # the examples are the digits 0..9 in order
    expect(page.locator("#headline")).to_contain_text(f"9 + {START_N} = {9 + START_N}")
    set_n(page, 5)  # the slider then works on the example, as on a drawing
    expect(page.locator("#headline")).to_contain_text("9 + 5 = 14")


def test_random_mnist_digit_is_loaded_and_read(page: Any, mnist_dir: Path) -> None:
    page.get_by_role("button", name="Random MNIST test digit").click()
    expect(page.locator("#mnist-caption")).to_contain_text("MNIST test image #")
    expect(page.locator("#headline")).to_contain_text(f" + {START_N} ")


def test_moving_the_slider_changes_the_sum(page: Any) -> None:
    draw(page, 7)
    expect(page.locator("#headline")).to_contain_text(f"7 + {START_N} = {7 + START_N}")
    set_n(page, 8)
    expect(page.locator("#headline")).to_contain_text("7 + 8 = 15")
    set_n(page, 0)
    expect(page.locator("#headline")).to_contain_text("7 + 0 = 7")


def test_clearing_clears_the_outputs_and_keeps_the_brush(page: Any) -> None:
    draw(page, 1)
    expect(page.locator("#headline")).to_contain_text("1 + 3 = 4")
    clear(page)
    expect(page.locator("#digit-probs")).not_to_contain_text("1")
    expect(page.locator("#agreement")).to_have_text("")
    expect(page.locator("#model-input img")).to_have_count(0)
    expect(page.locator("#sum-table table")).to_have_count(0)
    draw(page, 7)  # no "select the draw tool" step after clearing either
    expect(page.locator("#headline")).to_contain_text("7 + 3 = 10")


def test_stages_panel_shows_the_stages_of_the_drawing(page: Any) -> None:
    draw(page, 2)
    expect(page.locator("#headline")).to_contain_text(f"2 + {START_N} = {2 + START_N}")
    page.get_by_text("How your drawing became 28x28").click()  # opening it asks /stages for this drawing
    expect(page.locator("#stages img")).to_be_visible()
    clear(page)
    expect(page.locator("#stages img")).to_have_count(0)  # it follows the pad while open
