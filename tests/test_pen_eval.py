"""The drawn evaluation: pen digits of held-out writers through `Predictor.predict`."""

import json

import numpy as np
import pytest

from mnistsum.config import REPO_ROOT
from mnistsum.pen import EVAL_PEN_WIDTHS, writer_split
from mnistsum.pen_eval import (
    BLANK,
    CROSSED_SEVENS,
    FLAGGED_ONES,
    PLAIN_ONES,
    PLAIN_SEVENS,
    SIZES,
    evaluate_pens,
    format_report,
    main,
    styles,
)

PUBLISHED = REPO_ROOT / "weights" / "drawn_metrics.json"


@pytest.fixture(scope="module")
def test_writers(pen_digits):
    return writer_split(pen_digits, "test")


@pytest.fixture(scope="module")
def small(test_writers):
    """A fixed small subset: every 40th digit of the test writers (every set, digit and contributor)."""
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
        assert {c.split("/")[1] for c in m["per_contributor"]} == set(small.contributors.tolist())
        assert set(m["per_set"]) == {"unipen", "pendigits"}
        assert sum(v["digits"] for v in m["per_set"].values()) == len(small)
        assert sum(np.array(v["confusion"]).sum() for v in m["per_set"].values()) == len(small)
        assert len(m["worst_writers"]) == min(5, len(m["per_writer"]))
        accuracies = [w["accuracy"] for w in m["worst_writers"]]
        assert accuracies == sorted(accuracies)
    assert report["digit_accuracy"] == pytest.approx(np.mean([m["digit_accuracy"] for m in report["by_pen"].values()]))
    assert set(report["sets"]) == {"unipen", "pendigits"} and report["missing_sets"] == []
    text = format_report(report)
    assert "pen 10" in text and "digit 0" in text and "worst writers" in text
    assert "unipen:" in text and "pendigits:" in text and "ones read as 7 / sevens read as 1" in text


def test_style_rows_on_a_small_fixed_subset(test_writers):
    """The style rows split their digit in two, per set, with counts fixed by the data
    (every 10th test digit): flagged ones and crossed sevens are common in pendigits."""
    small = test_writers.take(np.arange(0, len(test_writers), 10))
    masks = styles(small)
    counts = {}
    for name in ("unipen", "pendigits"):
        in_set = small.sets == name
        for digit, (a, b) in {1: (FLAGGED_ONES, PLAIN_ONES), 7: (CROSSED_SEVENS, PLAIN_SEVENS)}.items():
            assert not (masks[a] & masks[b]).any()
            assert ((masks[a] | masks[b]) == (small.labels == digit))[in_set].all()
            counts[name, a], counts[name, b] = int((masks[a] & in_set).sum()), int((masks[b] & in_set).sum())
    assert counts["pendigits", FLAGGED_ONES] > counts["pendigits", PLAIN_ONES]
    assert counts["pendigits", CROSSED_SEVENS] > counts["pendigits", PLAIN_SEVENS]
    assert counts == {
        ("unipen", FLAGGED_ONES): 6,
        ("unipen", PLAIN_ONES): 12,
        ("unipen", CROSSED_SEVENS): 4,
        ("unipen", PLAIN_SEVENS): 11,
        ("pendigits", FLAGGED_ONES): 28,
        ("pendigits", PLAIN_ONES): 11,
        ("pendigits", CROSSED_SEVENS): 25,
        ("pendigits", PLAIN_SEVENS): 8,
    }


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


# CI floors per set, just under what the shipped weights measure (weights/drawn_metrics.json):
# digit accuracy at every pen, the weakest digit, and flagged ones (mean of the pens).
FLOORS = {
    "unipen": {"accuracy": 0.970, "weakest_digit": 0.87, "flagged_ones": 0.89},
    "pendigits": {"accuracy": 0.981, "weakest_digit": 0.92, "flagged_ones": 0.98},
}


def test_shipped_weights_read_held_out_writers(shipped, test_writers):
    """CI floors on each set's held-out writers at every evaluation pen (the issue's targets,
    99.0% per set, every digit 97.5%, flagged ones 97%: weights/MODEL_CARD.md says where they stand)."""
    report = evaluate_pens(shipped, test_writers, EVAL_PEN_WIDTHS)
    published = json.loads(PUBLISHED.read_text())
    for pen, m in report["by_pen"].items():
        assert m["sum_consistency"] >= 0.998, pen
        assert m["digit_accuracy"] == pytest.approx(published["by_pen"][pen]["digit_accuracy"], abs=1e-9)
        for name, floors in FLOORS.items():
            s = m["per_set"][name]
            assert s["digit_accuracy"] >= floors["accuracy"], (name, pen)
            assert min(s["per_digit"].values()) >= floors["weakest_digit"], (name, pen)
    for name, floors in FLOORS.items():
        flagged = np.mean(
            [m["per_set"][name]["per_style"][FLAGGED_ONES]["accuracy"] for m in report["by_pen"].values()]
        )
        assert flagged >= floors["flagged_ones"], name


def test_cli_exits_2_with_a_message_when_data_or_weights_are_missing(tmp_path, pen_dir, capsys):
    assert main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pen digits not found" in err and "Traceback" not in err
    assert main(["--data-dir", str(pen_dir), "--weights", str(tmp_path / "none.pt")]) == 2
    assert "error:" in capsys.readouterr().err


def test_cli_json_on_a_few_digits(pen_dir, capsys):
    assert main(["--data-dir", str(pen_dir), "--limit", "12", "--pens", "22", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 6 <= report["digits"] <= 12 and report["writer_split"] == ["test"] and list(report["by_pen"]) == ["22"]
    assert set(report["sets"]) == {"unipen", "pendigits"}  # every k-th digit: every set in a quick look


def test_sizes_report_digits_drawn_small_with_the_pads_pen(pen_dir, capsys):
    assert main(["--data-dir", str(pen_dir), "--limit", "30", "--sizes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["sizes"]) == list(SIZES) and 15 <= report["digits"] <= 30
    for name, m in report["sizes"].items():
        assert m["pen"] == SIZES[name][0] and m["box"] == SIZES[name][1]
        assert set(m["per_set"]) == {"unipen", "pendigits"} and 0 <= m["digit_accuracy"] <= 1
    assert report["sizes"]["200 px, centred (as usual)"]["digit_accuracy"] >= 0.85


def test_cli_goes_on_without_a_missing_set_and_says_so(pen_dir, tmp_path, capsys):
    (tmp_path / "unipen").symlink_to(pen_dir / "unipen")
    with pytest.warns(UserWarning, match="pendigits"):
        assert main(["--data-dir", str(tmp_path), "--limit", "10", "--pens", "22", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["missing_sets"] == ["pendigits"] and list(report["sets"]) == ["unipen"]
    assert "missing pen set(s), not measured: pendigits" in format_report(report)


def test_cli_names_a_malformed_set(tmp_path, capsys):
    (tmp_path / "unipen").mkdir()
    (tmp_path / "unipen" / "unipen_dev.npz").write_bytes(b"garbage")
    assert main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "malformed pen set" in err and "unipen_dev.npz" in err and "Traceback" not in err


def test_every_nine_has_one_tail_style(test_writers):
    """The two 9 rows split the nines: each 9 either curls back up after its lowest point or ends there."""
    masks = styles(test_writers)
    curls, ends = masks["9 whose tail curls back up"], masks["9 whose tail ends at the bottom"]
    assert not (curls & ends).any() and ((curls | ends) == (test_writers.labels == 9)).all()
    for name in ("unipen", "pendigits"):  # both styles are there to be measured in each set
        in_set = test_writers.sets == name
        assert (curls & in_set).sum() >= 20 and (ends & in_set).sum() >= 20, name
