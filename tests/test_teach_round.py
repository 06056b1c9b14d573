"""The guided round's end and "Did you mean 1 or 7?", called directly: the rule, the checks on
what the page sends, one fit for the whole round, before and after, and the one-tap correction."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_adapt import flagged_one
from test_teach_panel import A, Event

from demo.handwriting import VisitorHandwriting
from demo.make_examples import draw_digit
from demo.predict_tab import page_answer
from demo.state import ModelSlot
from demo.teach_panel import meant_by_click
from demo.teach_round import finish_round
from mnistsum.payload import png_data_url
from mnistsum.teaching import CLOSE_SHARE, PAIR_SHARES, RoundResult, UnusableDrawing, close_pair, read_round


def probs(**mass: float) -> list[float]:
    """Ten probabilities: the named digits ("d7": 0.6) get their mass, the others a trace each."""
    values = np.full(10, 1e-5)
    for name, p in mass.items():
        values[int(name[1:])] = p
    return values.tolist()


def test_close_pair_asks_when_the_top_two_are_close_and_sooner_for_1_against_7() -> None:
    assert close_pair(probs(d3=0.99)) is None  # a clear answer is not questioned
    assert close_pair(probs(d3=0.55, d5=0.4)) == (3, 5)  # smaller first
    assert close_pair(probs(d5=0.7, d3=0.7 * CLOSE_SHARE * 0.9)) is None  # just under the share
    assert close_pair(probs(d5=0.7, d3=0.7 * CLOSE_SHARE * 1.1)) == (3, 5)
    share = PAIR_SHARES[frozenset({1, 7})]
    assert share < CLOSE_SHARE
    assert close_pair(probs(d7=0.9, d1=0.9 * share * 1.1)) == (1, 7)  # 1 against 7: asked at a lower bar
    assert close_pair(probs(d7=0.9, d2=0.9 * share * 1.1)) is None  # the same numbers for 7 against 2: not
    with pytest.raises(ValueError, match="10 finite probabilities"):
        close_pair([0.5, float("nan")] + [0.05] * 8)


def test_the_servers_answer_carries_the_rules_question(slot: ModelSlot) -> None:
    """The server fallback asks what the rule says for its own probabilities (whatever the weights)."""
    asked = []
    for image in [flagged_one(), flagged_one((0.36, 0.29), 0.48), *(draw_digit(d) for d in range(10))]:
        shown = page_answer(slot.served(), image, 3)
        assert shown["did_you_mean"] == close_pair(shown["digit_probs"])
        asked.append(shown["did_you_mean"])
    assert asked[1] == (1, 7)  # a 1 with a short flag: 1 and 7 share the mass
    assert asked.count(None) >= 8  # the neat examples are not questioned


def test_read_round_checks_what_the_page_sends() -> None:
    one = png_data_url(draw_digit(1))
    images, digits = read_round({"drawings": [one], "digits": [1]})
    assert digits == [1] and images[0].shape[:2] == (280, 280)
    for bad, reason in [
        (None, "drawings and their digits"),
        ({"drawings": [one], "digits": [1, 2]}, "one digit per drawing"),
        ({"drawings": [], "digits": []}, "1 to 10 drawings"),
        ({"drawings": [one] * 11, "digits": list(range(10)) + [1]}, "1 to 10 drawings"),
        ({"drawings": [one], "digits": [True]}, "whole numbers 0-9"),
        ({"drawings": [one], "digits": [10]}, "whole numbers 0-9"),
        ({"drawings": [one, one], "digits": [1, 1]}, "each digit once"),
    ]:
        with pytest.raises(ValueError, match=reason):
            read_round(bad)
    with pytest.raises(UnusableDrawing, match="your 4: the drawing must be an image data URL") as err:
        read_round({"drawings": [one, "<script>"], "digits": [1, 4]})
    assert err.value.digit == 4  # the page asks for that digit again
    with pytest.raises(UnusableDrawing, match="your 2: nothing is drawn"):
        read_round({"drawings": [""], "digits": [2]})


def test_a_round_is_one_fit_into_the_visitors_record_with_before_and_after(
    handwriting: VisitorHandwriting, monkeypatch
) -> None:
    lessons = []
    teach = handwriting.teach
    monkeypatch.setattr(handwriting, "teach", lambda *a: lessons.append(list(a[3])) or teach(*a))
    drawings = {d: draw_digit(d) for d in range(10)}
    drawings[1] = flagged_one()  # read 7 before the round
    sent = {"digits": list(range(10)), "drawings": [png_data_url(drawings[d]) for d in range(10)]}
    answer, status, stored, undo, told = finish_round(handwriting, page_answer, flagged_one(), 3, A, "", sent)
    assert lessons == [list(range(10))]  # one fit, for the whole round
    done = told["done"]
    assert done["digits"] == list(range(10)) and done["before"][1] == 7 and [1, 7] in map(list, done["misread"])
    assert done["right_after"] == 10 and done["right_before"] == 10 - len(done["misread"])
    assert done["summary"] == f"before: {done['right_before']} of 10 read right, after: 10 of 10"
    assert status == "" and undo["visible"] is False  # "Round done" is told once: in the round's own line
    assert json.loads(stored)["params"]["digits"] == list(range(10))  # the same record "It was N" writes
    assert answer["digit"] == 1  # the drawing on the pad, answered with the new layer
    # a second round adds to the same record
    again = {"digits": [7], "drawings": [png_data_url(draw_digit(7, pen=30))]}  # another 7
    *_, stored2, _, told2 = finish_round(handwriting, page_answer, None, 3, A, stored, again)
    assert json.loads(stored2)["params"]["digits"] == [*range(10), 7] and told2["done"]["taught"] == 11


def test_a_round_with_an_erased_drawing_asks_for_that_digit_again(handwriting: VisitorHandwriting) -> None:
    erased = png_data_url(np.full((280, 280), 255, np.uint8))
    sent = {"digits": [3, 5], "drawings": [png_data_url(draw_digit(3)), erased]}
    answer, status, stored, undo, told = finish_round(handwriting, page_answer, None, 0, A, "", sent)
    assert told["redo"] == 5 and "your 5" in told["message"] and "draw it again" in told["message"]
    assert all(isinstance(x, dict) and x.get("__type__") == "update" for x in (answer, status, stored, undo))
    *_, told = finish_round(handwriting, page_answer, None, 0, A, "", {"digits": "all"})
    assert "redo" not in told and told["message"].startswith("⚠️")


def test_round_result_counts() -> None:
    result = RoundResult((0, 1, 7), (0, 7, 7), (0, 1, 7))
    assert (result.right_before, result.right_after, result.misread()) == (2, 3, [(1, 7)])


def test_did_you_mean_teaches_like_it_was_n_with_its_undo(handwriting: VisitorHandwriting) -> None:
    shown, status, stored, undo = meant_by_click(handwriting, page_answer, flagged_one(), 3, A, "", Event(meant=1))
    assert shown["digit"] == 1 and "Taught this drawing as a **1** (it read 7" in status
    assert undo["value"] == "Undo: that was not a 1" and json.loads(stored)["params"]["digits"] == [1]
    for data in ({}, {"meant": "1"}, {"meant": 10}, {"meant": True}):
        assert "not said" in meant_by_click(handwriting, page_answer, flagged_one(), 3, A, "", Event(**data))[1]
