"""The lesson of docs/teaching.md, as a class runs it: a teacher on a projector (1920 px) and two
students, one on a tablet (768 px) and one on a phone (390 px), each a browser context of its own.

One race for the class, refused to a student when the server has a teacher token; the Learn tab
shows the n set on the Predict tab; nothing on the Predict and Train tabs runs past the right edge;
on the phone a tap at the slider's centre reaches the slider; the training curves end in the test
points, also after a reload. One app with a teacher token and a short race serves the module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import draw, expect, open_app
from conftest import _data_root, free_port

from tools.browser import PHONE

TEACHER_TOKEN = "teach-the-class-42"
SHORT_RACE = {"epochs": 2, "limit": 1000}
# Visible elements whose right edge passes the viewport's, unless a box that scrolls sideways
# (and itself fits) holds them: what a visitor could not see or scroll to.
PAST_THE_EDGE_JS = """() => {
  const width = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || box.right <= width + 1 || !el.checkVisibility()) continue;
    let scroller = el.parentElement;
    while (scroller && !/(auto|scroll)/.test(getComputedStyle(scroller).overflowX)) scroller = scroller.parentElement;
    if (scroller && scroller.getBoundingClientRect().right <= width + 1) continue;
    out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} right=${Math.round(box.right)}`);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def lesson(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from demo.app import build_app, launch
    from demo.state import AppState
    from mnistsum.jobs import TrainingPolicy
    from mnistsum.race import ClassRace

    folder = tmp_path_factory.mktemp("lesson")
    policy = TrainingPolicy(workers=1)
    race = ClassRace(folder / "race.json", TEACHER_TOKEN, policy, SHORT_RACE)
    state = AppState(policy=policy, state_dir=folder, race=race)
    demo = build_app(data_dir=_data_root(), state=state)
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url, state
    demo.close()
    state.queue.close()
    race.close()


@pytest.fixture
def classroom(browser: Any, lesson: tuple[str, Any], mnist_dir) -> Iterator[dict[str, Any]]:
    lesson_url, state = lesson
    pages = {
        "teacher": open_app(browser, lesson_url, viewport={"width": 1920, "height": 1080}),
        "tablet": open_app(browser, lesson_url, viewport={"width": 768, "height": 1024}, has_touch=True),
        "phone": open_app(browser, lesson_url, **PHONE),
    }
    yield {**pages, "state": state}
    for page in pages.values():
        page.context.close()


def tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def set_n(page: Any, n: int) -> None:
    number = page.locator("#n-slider input[type=number]")
    number.fill(str(n))
    number.press("Enter")
    expect(page.locator("#n-slider input[type=range]")).to_have_value(str(n))


def nothing_past_the_edge(page: Any, where: str) -> None:
    past = page.evaluate(PAST_THE_EDGE_JS)
    assert past == [], f"{where} at {page.viewport_size['width']} px: {past[:5]}"


def test_the_lesson_with_a_teacher_and_two_students(classroom: dict[str, Any]) -> None:
    teacher, tablet, phone = classroom["teacher"], classroom["tablet"], classroom["phone"]

    # Steps 1-2: each draws on Predict; Learn shows what the network was given, for the n on Predict.
    for page, n in ((teacher, 4), (tablet, 7), (phone, 2)):
        set_n(page, n)
        draw(page, 3)
        expect(page.locator("#headline")).to_contain_text(f"3 + {n} = {3 + n}")
        nothing_past_the_edge(page, "Predict")
    tab(tablet, "Learn")
    expect(tablet.locator("#learn-given")).to_contain_text("with n = 7")
    expect(tablet.locator("#learn-given")).to_contain_text("n = 7, one-hot")
    tab(tablet, "Predict")
    set_n(tablet, 2)
    tab(tablet, "Learn")
    expect(tablet.locator("#learn-given")).to_contain_text("with n = 2")  # never the n of the last visit
    expect(tablet.locator("#learn-given")).not_to_contain_text("n = 7")
    answer = tablet.get_by_text("the pool doubles the jump")  # step 6's question, answered only on demand
    expect(answer).to_be_hidden()
    tablet.get_by_text("The working (the answer)").click()
    expect(answer).to_be_visible()
    expect(teacher.locator("#headline .numbers")).to_contain_text("MNIST test: digit")  # step 4: shipped numbers

    # The phone: the answer sits under the pad, so a tap at the slider's centre reaches the slider.
    slider = phone.locator("#n-slider input[type=range]")
    expect(phone.locator("#drawing .answer-pin")).to_contain_text("3 + 2 = 5")
    for bottom_gap in (0, 60):  # the slider at the bottom of the screen, then a little above it
        phone.evaluate(
            "([gap]) => { const r = document.querySelector('#n-slider input[type=range]').getBoundingClientRect();"
            " window.scrollBy(0, r.bottom - window.innerHeight + gap); }",
            [bottom_gap],
        )
        box = slider.bounding_box()
        hit = phone.evaluate(
            "([x, y]) => document.elementFromPoint(x, y)?.closest('#n-slider') !== null",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit, f"a tap at the slider's centre lands elsewhere (gap {bottom_gap})"
    phone.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(slider).not_to_have_value("2")  # the tap moved n

    # Step 3: the race. Students see the teacher's controls refuse them; the teacher starts it; all watch one race.
    tab(phone, "Learn")
    phone.get_by_text("For the teacher: start the race").click()
    phone.locator("#race-start").click()
    expect(phone.locator("#race-message")).to_contain_text("only the teacher")
    expect(phone.locator("#race-headline")).to_contain_text("No race yet")
    tab(teacher, "Learn")
    teacher.get_by_text("For the teacher: start the race").click()
    teacher.locator("#race-token input").fill(TEACHER_TOKEN)
    teacher.locator("#race-start").click()
    expect(teacher.locator("#race-headline")).to_contain_text("Race #1")
    assert classroom["state"].queue.counts()["running"] == 0  # the race is not in the students' queue

    # Step 5 while it runs: a student's run starts at once (the race is not in the students' queue).
    tab(phone, "Train")
    expect(phone.locator("#leaderboard")).to_contain_text("No finished runs yet")  # there when the tab opens
    expect(phone.locator("#train-reload-model")).to_be_hidden()  # no model of their own yet
    seed = phone.locator("#train-seed input").input_value()
    assert seed.isdigit()  # the visitor's own seed, shown
    phone.locator("#train-nickname input, #train-nickname textarea").first.fill("phone")
    phone.locator("#train-start").click()  # the default form, as step 5 says
    expect(phone.locator("#train-headline")).to_contain_text("finished", timeout=180_000)
    with sqlite3.connect(classroom["state"].board.path) as db:  # the seed was the visitor's own, and is the row's
        owner, used = db.execute("SELECT owner, seed FROM runs").fetchone()
    assert int(seed) == used == int(owner, 16) % 1000

    for page in (teacher, tablet, phone):  # one race, seen by all, with its curves
        tab(page, "Learn")
        expect(page.locator("#race-headline")).to_contain_text("Race #1", timeout=180_000)
        expect(page.locator("#race-headline")).to_contain_text("finished", timeout=180_000)
        expect(page.locator("#race-curves polyline")).to_have_count(4)

    # The curves end in the test points, in the legend too, also after a reload; nothing cut off.
    tab(phone, "Train")
    for attempt in ("live", "reloaded"):
        curves = phone.locator("#train-curves")
        expect(curves.locator(".legend .dot")).to_have_count(2 * 2)  # digit and sum test, in accuracy and loss
        expect(curves.locator("circle title").filter(has_text="sum test, epoch 3")).to_have_count(2)
        expect(phone.locator("#leaderboard tr.mine")).to_have_count(1)
        expect(phone.locator("#leaderboard tr.mine td").nth(9)).to_have_text(seed)  # the seed column
        rank = phone.locator("#leaderboard tr.mine td").first
        assert rank.bounding_box()["x"] >= 0 and rank.is_visible()  # the ranking column is on screen
        nothing_past_the_edge(phone, f"Train ({attempt})")
        if attempt == "live":
            expect(phone.locator("#train-reload-model")).to_be_hidden()  # still no model of their own
            phone.reload()
            phone.locator("#drawing .pad[data-ready=true]").wait_for()
            tab(phone, "Train")
            expect(phone.locator("#train-nickname input, #train-nickname textarea").first).to_have_value("phone")
    for page in (teacher, tablet):
        tab(page, "Train")
        expect(page.locator("#leaderboard tr")).to_have_count(2)
        nothing_past_the_edge(page, "Train")
