"""A class server in a real browser: with MNISTSUM_CLASS_CODE set, a visitor without the code still
draws and reads the answer, is refused training with how to train at home, and with the code
trains; the leaderboard shows the run the moment it lands, not on its timer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import expect, open_app
from conftest import free_port
from test_browser_train import fill_form, open_train_tab

CODE = "owl-42"


@pytest.fixture(scope="module")
def class_url(tmp_path_factory, mnist_dir) -> Iterator[str]:
    """The app with a class code and a leaderboard timer of an hour: a row that appears without a
    click on Refresh can only have come from the visitor's own run landing."""
    import demo.leaderboard_view as leaderboard_view
    from demo.app import build_app, launch
    from demo.state import AppState
    from mnistsum.jobs import TrainingPolicy

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leaderboard_view, "BOARD_POLL_S", 3600.0)
        state = AppState(policy=TrainingPolicy(workers=1, class_code=CODE), state_dir=tmp_path_factory.mktemp("class"))
        demo = build_app(data_dir=mnist_dir, state=state)
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()
    state.queue.close()


def test_without_the_code_a_visitor_draws_but_does_not_train_and_with_it_the_run_lands_at_once(
    browser: Any, class_url: str
) -> None:
    page = open_app(browser, class_url, height=1400)
    try:
        page.locator(".gallery-item").nth(7).click()  # predicting needs no code
        expect(page.locator("#headline")).to_contain_text("7 + ")

        open_train_tab(page)
        expect(page.get_by_text("Training on this server is for a class")).to_be_visible()
        fill_form(page, "ada", epochs=1, limit=500)
        message, code = (
            page.locator("#train-message"),
            page.locator("#train-class-code textarea, #train-class-code input"),
        )
        page.locator("#train-start").click()
        expect(message).to_contain_text("enter the class code your teacher gave you")
        expect(message).to_contain_text("python -m mnistsum.train --preset class")
        code.first.fill("owl-24")
        page.locator("#train-start").click()
        expect(message).to_contain_text("not this server's class code")
        expect(page.locator("#train-headline")).to_contain_text("No training run yet")

        code.first.fill(CODE.upper())
        page.locator("#train-start").click()
        expect(page.locator("#train-headline")).to_contain_text("finished", timeout=180_000)
        expect(page.locator("#leaderboard tr.mine").filter(has_text="ada")).to_be_visible()  # no Refresh clicked
    finally:
        page.context.close()
