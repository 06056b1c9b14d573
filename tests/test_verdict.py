"""The one-digit rule (mnistsum/verdict.py): what is not one digit is told so, real digits are not.

Bounds, not today's numbers: the weights are retrained, and `python -m mnistsum.verdict_eval`
re-measures the rule on them (the model card has its numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from verdict_drawings import NOT_ONE, on_pad

from demo.make_examples import STROKES
from mnistsum import Predictor, verdict
from mnistsum.export import READER
from mnistsum.payload import answer, blank_answer
from mnistsum.pen import render, writer_split
from mnistsum.preprocess import preprocess
from mnistsum.render import as_drawing
from mnistsum.verdict_eval import format_report, measure, negatives


@pytest.mark.parametrize("name", list(NOT_ONE))
def test_each_kind_of_junk_a_visitor_draws_is_told_so(shipped: Predictor, name: str) -> None:
    expected, strokes = NOT_ONE[name]
    result = shipped.predict(on_pad(strokes), 3)
    assert result.verdict.kind == expected, (name, result.verdict, result.digit)
    assert answer(result)["verdict"] == expected and answer(result)["reason"] in verdict.REASONS


@pytest.mark.parametrize("digit", range(10))
def test_the_example_digits_are_digits(shipped: Predictor, digit: int) -> None:
    result = shipped.predict(on_pad(STROKES[digit]), 3)
    assert result.verdict == verdict.DIGIT and result.digit == digit
    assert answer(result)["verdict"] == "digit" and answer(result)["reason"] is None


def test_thin_ones_and_small_digits_are_digits(shipped: Predictor) -> None:
    thin_one = on_pad([[(0.5, 0.15), (0.5, 0.85)]], pen=4)
    assert shipped.predict(thin_one, 0).verdict.is_digit
    small = render([np.array(s) for s in STROKES[2]], pen=22, box=45, centre=(245, 35))  # in a corner, the pad's pen
    assert shipped.predict(small, 0).verdict.is_digit
    assert shipped.predict(as_drawing(np.pad(np.full((20, 3), 255, np.uint8), 4)), 0).verdict.is_digit  # a bare bar


def test_the_shape_of_a_pair_and_of_a_tap() -> None:
    pair = verdict.shape(preprocess(on_pad(NOT_ONE["1 2 side by side"][1])).stages["ink"])
    assert pair is not None and pair.tall_pieces == 2
    tap = verdict.shape(preprocess(on_pad(NOT_ONE["a tap"][1])).stages["ink"])
    assert tap is not None and tap.extent < verdict.TAP_EXTENT
    assert verdict.judge(None) == verdict.Verdict("not_a_digit", "tap")  # nothing usable
    confident, spread = np.eye(10)[7], np.full(10, 0.1)
    one = preprocess(on_pad(STROKES[1])).stages["ink"]
    assert verdict.verdict(one, confident).is_digit and verdict.verdict(one).is_digit
    assert verdict.verdict(one, spread) == verdict.Verdict("not_a_digit", "unsure")


def test_a_blank_answer_has_no_verdict() -> None:
    assert blank_answer(3)["verdict"] is None and blank_answer(3)["reason"] is None


def test_the_page_gets_the_rules_constants_from_the_export() -> None:
    assert json.loads(READER.read_text())["verdict"] == verdict.constants()
    assert set(verdict.constants()) == set(verdict.CONSTANT_NAMES)


@pytest.mark.slow
def test_false_rejects_are_rare_and_negatives_are_caught(shipped: Predictor, mnist_dir: Path, pen_dir: Path) -> None:
    report = measure(shipped, str(mnist_dir), part="test", count=40, limit=400)
    print("\n" + format_report(report))
    rejects, detected = report["false_rejects"], report["detected"]
    assert rejects["mnist"]["rate"] <= 0.005
    assert rejects["pen 22 px"]["rate"] <= 0.01
    assert all(m["rate"] <= 0.03 for m in rejects.values())  # small digits in a corner too
    assert detected["taps"]["rate"] >= 0.95 and detected["mnist_pairs"]["rate"] >= 0.9
    assert detected["pairs"]["rate"] >= 0.5
    assert detected["letters"]["rate"] >= 0.3 and detected["scribbles"]["rate"] >= 0.2


def test_the_negatives_are_fixed_by_their_seed(pen_digits, mnist_test) -> None:
    digits = writer_split(pen_digits, "val")
    images = mnist_test.images.numpy()[:100]
    a, b = negatives(digits, images, 3), negatives(digits, images, 3)
    assert list(a) == ["pairs", "mnist_pairs", "taps", "scribbles", "letters"]
    assert all(np.array_equal(x[1], y[1]) for kind in a for x, y in zip(a[kind], b[kind]))
