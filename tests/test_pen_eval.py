"""The drawn evaluation: pen digits of held-out writers through `Predictor.predict`."""

import json

import numpy as np
import pytest

from mnistsum.config import REPO_ROOT
from mnistsum.pen import EVAL_PEN_WIDTHS, writer_split
from mnistsum.pen_eval import BLANK, evaluate_pens, format_report, main, styles

PUBLISHED = REPO_ROOT / "weights" / "drawn_metrics.json"


@pytest.fixture(scope="module")
def test_writers(pen_digits):
    return writer_split(pen_digits, "test")


@pytest.fixture(scope="module")
def small(test_writers):
    """A fixed small subset: every 40th digit of the test writers (all digits and contributors)."""
    return test_writers.take(np.arange(0, len(test_writers), 40))


def test_report_on_a_small_fixed_subset(shipped, small):
    report = evaluate_pens(shipped, small, pens=(10, 34), supersample=1)
    assert report["digits"] == len(small) and report["pen_widths"] == [10, 34]
    for m in report["by_pen"].values():
        correct = len(small) - len(m["misclassified"])
        assert m["digit_accuracy"] == pytest.approx(correct / len(small))
        assert m["digit_accuracy"] >= 0.85
        assert np.array(m["confusion"]).sum() == len(small)
        assert np.trace(np.array(m["confusion"])[:, :10]) == correct
        assert m["pairs"] == 10 * len(small) and m["sum_consistency"] >= 0.95
        assert sum(v["digits"] for v in m["per_writer"].values()) == len(small)
        assert set(m["per_contributor"]) == set(small.contributors.tolist())
        assert len(m["worst_writers"]) == min(5, len(m["per_writer"]))
        accuracies = [w["accuracy"] for w in m["worst_writers"]]
        assert accuracies == sorted(accuracies)
    assert report["digit_accuracy"] == pytest.approx(np.mean([m["digit_accuracy"] for m in report["by_pen"].values()]))
    text = format_report(report)
    assert "pen 10" in text and "digit 0" in text and "worst writers" in text


def test_wrong_labels_score_low(shipped, small):
    """The evaluation can fail: the same drawings with every label shifted by one."""
    shifted = small.take(np.arange(len(small)))
    shifted.labels[:] = (shifted.labels + 1) % 10
    report = evaluate_pens(shipped, shifted, pens=(22,), supersample=1)
    assert report["digit_accuracy"] < 0.1 and report["by_pen"]["22"]["sum_accuracy"] < 0.1


def test_blank_drawings_count_as_wrong(shipped, small):
    one = small.take([0])
    dot = [np.zeros((1, 2), np.float32)]  # a single tap: a dot, not a digit
    one.strokes[0] = dot
    report = evaluate_pens(shipped, one, pens=(1,), supersample=1)
    m = report["by_pen"]["1"]
    assert m["blank"] == 1 and m["digit_accuracy"] == 0 and m["misclassified"][0]["predicted"] == BLANK


def test_shipped_weights_read_held_out_writers(shipped, test_writers):
    """CI floor on the held-out pen writers at every evaluation pen, just under what the
    shipped weights measure (weights/drawn_metrics.json; the issue's target, 99.3% overall
    and 98.5% for every digit, is not reached: see weights/MODEL_CARD.md)."""
    report = evaluate_pens(shipped, test_writers, EVAL_PEN_WIDTHS)
    published = json.loads(PUBLISHED.read_text())
    for pen, m in report["by_pen"].items():
        assert m["digit_accuracy"] >= 0.973, pen
        assert min(m["per_digit"].values()) >= 0.85, pen
        assert m["sum_consistency"] >= 0.998, pen
        assert m["digit_accuracy"] == pytest.approx(published["by_pen"][pen]["digit_accuracy"], abs=1e-9)


def test_cli_exits_2_with_a_message_when_data_or_weights_are_missing(tmp_path, pen_dir, capsys):
    assert main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pen digits not found" in err and "Traceback" not in err
    assert main(["--data-dir", str(pen_dir), "--weights", str(tmp_path / "none.pt")]) == 2
    assert "error:" in capsys.readouterr().err


def test_cli_json_on_a_few_digits(pen_dir, capsys):
    assert main(["--data-dir", str(pen_dir), "--limit", "12", "--pens", "22", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["digits"] == 12 and report["writer_split"] == ["test"] and list(report["by_pen"]) == ["22"]


def test_every_nine_has_one_tail_style(test_writers):
    """The two 9 rows split the nines: each 9 either curls back up after its lowest point or ends there."""
    masks = styles(test_writers)
    curls, ends = masks["9 whose tail curls back up"], masks["9 whose tail ends at the bottom"]
    assert not (curls & ends).any() and ((curls | ends) == (test_writers.labels == 9)).all()
    assert curls.sum() >= 20 and ends.sum() >= 20  # both styles are there to be measured
