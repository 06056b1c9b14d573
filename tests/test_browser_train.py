"""The Train tab in real browsers: two visitors (two browser contexts, so two localStorages,
so two tokens), each with their own run, one queue, reload, Stop, the leaderboard and the
per-visitor "Use these weights"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import expect, open_app

EPOCH_1 = re.compile(r"^epoch: 1 MNIST \{Correct: \d+", re.MULTILINE)
HOSTILE = "<img src=x onerror=alert(1)>"


def open_train_tab(page: Any) -> None:
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-start")).to_be_visible()


def set_slider(page: Any, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def fill_form(page: Any, nickname: str, epochs: int, limit: int) -> None:
    page.locator("#train-nickname textarea, #train-nickname input").first.fill(nickname)
    set_slider(page, "train-epochs", epochs)
    set_slider(page, "train-limit", limit)


@pytest.fixture
def two_pages(browser: Any, app_url: str, mnist_dir, app_state) -> Iterator[tuple[Any, Any]]:
    """Two visitors: each page has its own browser context. Whatever they leave running is stopped."""
    pages = [open_app(browser, app_url, height=1400), open_app(browser, app_url, height=1400)]
    dialogs: list[str] = []
    for page in pages:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield pages[0], pages[1]
    for page in pages:
        if page.locator("#train-stop").is_enabled():
            page.locator("#train-stop").click()
        page.context.close()
    assert dialogs == []  # nothing on the page ever ran script from a visitor's string


def test_each_visitor_sees_their_own_run_the_second_queues_stop_cancels_reload_reattaches(two_pages, app_state):
    alice, bob = two_pages
    open_train_tab(alice)
    fill_form(alice, "alice", epochs=20, limit=2000)  # far longer than the test: it ends with Stop
    alice.locator("#train-start").click()
    alice_headline = alice.locator("#train-headline")
    expect(alice_headline).to_contain_text("Training run #")
    expect(alice.locator("#train-progress progress")).to_be_visible(timeout=60_000)

    open_train_tab(bob)
    expect(bob.locator("#train-headline")).to_contain_text("No training run yet")  # Alice's run is not Bob's
    fill_form(bob, "bob", epochs=1, limit=500)
    bob.locator("#train-start").click()
    expect(bob.locator("#train-queue")).to_contain_text("place 1 in the queue")
    expect(bob.locator("#train-queue")).to_contain_text("expected to start")
    expect(bob.locator("#train-headline")).to_contain_text("is in the queue")
    bob.locator("#train-stop").click()
    expect(bob.locator("#train-headline")).to_contain_text("was cancelled")
    expect(bob.locator("#train-start")).to_be_enabled()

    expect(alice.locator("#train-log textarea")).to_have_value(EPOCH_1, timeout=180_000)
    expect(alice.locator("#train-curves polyline").first).to_be_attached(timeout=30_000)
    alice.reload()
    open_train_tab(alice)
    expect(alice_headline).to_contain_text("Training run #")  # re-attached to her own run
    expect(alice.locator("#train-log textarea")).to_have_value(EPOCH_1)
    expect(alice.locator("#train-start")).to_be_disabled()
    expect(bob.locator("#train-headline")).to_contain_text("was cancelled")  # Bob still sees only his

    alice.locator("#train-stop").click()
    expect(alice_headline).to_contain_text("stopped", timeout=60_000)
    expect(alice.locator("#train-start")).to_be_enabled()


def test_a_finished_run_lands_escaped_on_the_leaderboard_and_its_weights_serve_only_its_visitor(two_pages):
    alice, bob = two_pages
    open_train_tab(alice)
    fill_form(alice, HOSTILE, epochs=1, limit=500)
    alice.locator("#train-start").click()
    expect(alice.locator("#train-headline")).to_contain_text("finished", timeout=180_000)

    open_train_tab(bob)
    for page in (alice, bob):  # every visitor sees the row; the nickname is text, not markup
        page.locator("#board-refresh").click()
        expect(page.locator("#leaderboard td").filter(has_text=HOSTILE).first).to_be_visible()
        expect(page.locator("#leaderboard img")).to_have_count(0)
    expect(alice.locator("#leaderboard tr.mine").filter(has_text=HOSTILE).first).to_be_visible()
    expect(bob.locator("#leaderboard tr.mine").filter(has_text=HOSTILE)).to_have_count(0)

    alice.locator("#train-use").click()
    expect(alice.locator("#train-result-message")).to_contain_text("now use these weights")
    for page, model in ((alice, "your model, trained here"), (bob, "shipped weights")):
        page.get_by_role("tab", name="Predict").click()
        page.locator(".gallery-item").nth(7).click()
        expect(page.locator("#answer")).to_contain_text(model)
