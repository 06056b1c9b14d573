"""Teaching it one's handwriting, in a real browser, with two visitors side by side.

Visitor A draws a 1 with a long flag, which the shipped weights read as 7, presses "It was 1",
and then gets 1 for a similar drawing; visitor B, in another browser context (another token),
still gets the shipped answer for it; "Forget my handwriting" gives A the shipped answer back.
The time from the click to the headline answering 1 is printed (`-s`), never asserted.
"""

from __future__ import annotations

import time
from typing import Any

from browser_helpers import expect, open_app, stroke

FLAGGED_ONE = [(0.3, 0.3), (0.54, 0.18), (0.47, 0.82)]  # one stroke: the flag, then down
SIMILAR_ONE = [(0.31, 0.31), (0.54, 0.18), (0.49, 0.82)]


def correct_as_one(page: Any) -> float:
    """Press "It was 1" and wait for the headline to answer 1: milliseconds (printed, never asserted)."""
    start = time.perf_counter()
    page.get_by_role("button", name="It was 1", exact=True).click()
    expect(headline(page).locator("h2")).to_have_text("1 + 3 = 4")
    return 1000 * (time.perf_counter() - start)


def headline(page: Any) -> Any:
    return page.locator("#headline")


def clear(page: Any) -> None:
    page.locator("#drawing").get_by_role("button", name="Clear").click()
    expect(headline(page)).to_contain_text("Draw a digit")


def test_a_visitor_teaches_a_flagged_one_and_another_is_not_affected(browser: Any, app_url: str) -> None:
    a = open_app(browser, app_url, viewport={"width": 1280, "height": 1200})
    b = open_app(browser, app_url, viewport={"width": 1280, "height": 1200})
    try:
        stroke(a, FLAGGED_ONE)
        expect(headline(a)).to_contain_text("7 + 3 = 10")  # the shipped answer
        print(f"\nclick on 'It was 1' -> headline answers 1, the first lesson: {correct_as_one(a):.0f} ms")
        expect(headline(a)).to_contain_text("adapted to 1 of your drawings")
        expect(a.locator("#teach-status")).to_contain_text("Adapted to 1 of your drawings (1)")
        clear(a)
        stroke(a, SIMILAR_ONE)
        expect(headline(a).locator("h2")).to_have_text("1 + 3 = 4")  # a similar drawing: read as their 1

        stroke(b, SIMILAR_ONE)
        expect(headline(b).locator("h2")).to_have_text("7 + 3 = 10")  # the other visitor: the shipped answer
        expect(headline(b)).not_to_contain_text("adapted")

        a.get_by_text("What it learned from your handwriting").click()
        expect(a.locator("#teach-details img").first).to_be_visible()
        expect(a.locator("#teach-details")).to_contain_text("MNIST validation digits")

        a.get_by_role("button", name="Forget my handwriting").click()
        expect(headline(a).locator("h2")).to_have_text("7 + 3 = 10")  # Forget restores the shipped answer
        expect(headline(a)).not_to_contain_text("adapted")
        expect(a.locator("#teach-status")).to_contain_text("Forgot your drawings")
        print(f"the same, a later lesson (the model's replay features already computed): {correct_as_one(a):.0f} ms")
    finally:
        a.context.close()
        b.context.close()


def test_a_button_on_a_blank_pad_says_what_to_do(browser: Any, app_url: str) -> None:
    page = open_app(browser, app_url, viewport={"width": 1280, "height": 1200})
    try:
        page.get_by_role("button", name="It was 4", exact=True).click()
        expect(page.locator("#teach-status")).to_contain_text("Nothing is drawn")
        expect(headline(page)).to_contain_text("Draw a digit")
        page.get_by_role("button", name="Teach it my handwriting").click()
        expect(page.locator("#teach-prompt")).to_contain_text("Draw a 0 (1 of 20)")
        page.get_by_role("button", name="Stop the round").click()
        expect(page.locator("#teach-prompt")).to_contain_text("nothing from it was learned")
    finally:
        page.context.close()
