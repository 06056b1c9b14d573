"""The pen set: renderer, stroke augmentation, training pool and the split by writer."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from mnistsum.config import TrainConfig
from mnistsum.data import DataFormatError, DataMissingError
from mnistsum.pen import (
    CANVAS,
    PARTS,
    PEN_SETS,
    PenDigits,
    PenSetMissingWarning,
    StrokeAugment,
    add_style,
    augment_strokes,
    load_pen_digits,
    pen_pool,
    pen_training_set,
    random_drawing,
    render,
    split_writers,
    training_digits,
    writer_split,
)
from mnistsum.preprocess import preprocess


def seven() -> list[np.ndarray]:
    """A crossed seven in tablet units (y down): bar, stem, cross stroke."""
    return [
        np.array([[0, 0], [300, 0], [120, 500]], np.float32),
        np.array([[80, 250], [260, 250]], np.float32),
    ]


def ink_rows_cols(drawing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ink = drawing < 128
    return np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))


def test_render_draws_the_digit_in_the_box_with_the_pen():
    drawing = render(seven(), pen=22)
    assert drawing.shape == (CANVAS, CANVAS) and drawing.dtype == np.uint8
    assert drawing[0].min() == 255 and drawing[:, 0].min() == 255  # white pad, ink inside
    rows, cols = ink_rows_cols(drawing)
    # the longer side spans the 200 px box plus the pen's round caps, centred on the pad
    assert 200 + 22 - 3 <= rows[-1] - rows[0] + 1 <= 200 + 22 + 1
    assert abs((rows[0] + rows[-1]) / 2 - CANVAS / 2) <= 1.5
    thin, thick = (float((render(seven(), pen=p) < 128).mean()) for p in (10, 34))
    assert thick > 2.5 * thin


def test_rendered_digit_survives_preprocessing():
    for pen in (10, 22, 34):
        prepared = preprocess(render(seven(), pen=pen))
        assert not prepared.blank
        assert prepared.image.max() == 1.0 and max(ink_rows_cols(255 - prepared.image * 255)[0].size, 0) > 0
    coarse, fine = (preprocess(render(seven(), supersample=k)).image for k in (1, 4))
    assert np.abs(coarse - fine).mean() < 0.03  # the fast training render matches the evaluation one


def test_stroke_augmentation_moves_the_trajectory_but_keeps_its_shape():
    rng = np.random.default_rng(0)
    moved = augment_strokes(seven(), rng)
    assert [s.shape for s in moved] == [s.shape for s in seven()]
    assert not np.allclose(np.concatenate(moved), np.concatenate(seven()) - [150, 250])
    still = augment_strokes(seven(), rng, StrokeAugment(max_rotation_deg=0, max_slant=0, max_aspect=0, jitter=0))
    assert np.allclose(np.concatenate(still), np.concatenate(seven()) - [150, 250])  # centred, otherwise as drawn


def test_augmented_drawings_stay_inside_the_canvas():
    rng = np.random.default_rng(1)
    wide = StrokeAugment(pen_width=(40, 60), box=(230, 270), max_rotation_deg=30, max_slant=0.6)
    for _ in range(40):
        drawing = random_drawing(seven(), rng, wide)
        assert drawing[[0, -1]].min() == 255 and drawing[:, [0, -1]].min() == 255
        assert (drawing < 128).sum() > 500


def test_pool_is_deterministic_under_a_seed():
    digits = PenDigits([seven(), seven()[:1]], np.array([7, 7]), np.array(["x", "x"]), np.array(["s/x/a", "s/x/b"]))
    a_images, a_labels = pen_pool(digits, copies=3, seed=5)
    b_images, _ = pen_pool(digits, copies=3, seed=5)
    c_images, _ = pen_pool(digits, copies=3, seed=6)
    assert a_images.shape == (6, 28, 28) and a_images.dtype == np.uint8 and list(a_labels) == [7] * 6
    assert np.array_equal(a_images, b_images) and not np.array_equal(a_images, c_images)
    assert not np.array_equal(a_images[0], a_images[1])  # copies differ
    assert all(image.max() == 255 and image[0].max() == 0 for image in a_images)  # MNIST-like, white on black


# The UNIPEN test writers from before pendigits joined: the split keeps them in test, so
# earlier numbers stay comparable (a few of them, the writers the model card names).
UNIPEN_TEST_BEFORE = ("unipen/syn/rkt-dig19", "unipen/uqb/re_3828", "unipen/apb/David_Navi", "unipen/syn/pm")


def test_writers_are_split_not_digits(pen_digits):
    parts = split_writers(pen_digits)
    assert split_writers(pen_digits) == parts  # the same split on every run
    names = [set(parts[p]) for p in PARTS]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])  # no writer in two parts
    assert set().union(*names) == set(pen_digits.writers.tolist())
    sets = set(pen_digits.sets.tolist())
    assert sets == set(PEN_SETS)  # the CI data holds every set
    for part in PARTS:  # every set in every part
        assert {w.split("/")[0] for w in parts[part]} == sets, part
    sizes = {p: len(writer_split(pen_digits, p)) for p in PARTS}
    assert sum(sizes.values()) == len(pen_digits)
    unipen = pen_digits.take(np.flatnonzero(pen_digits.sets == "unipen"))
    for part, share in (("train", 0.6), ("val", 0.2), ("test", 0.2)):  # UNIPEN: 60/20/20 of each contributor
        assert abs(len(writer_split(unipen, part)) / len(unipen) - share) < 0.05, part
    assert set(UNIPEN_TEST_BEFORE) <= set(parts["test"])
    assert len(parts["test"]) == 30 and len(parts["val"]) == 24  # 16 + 14 and 15 + 9
    # pendigits keeps its authors' 14 writer-independent test writers as its test part
    pendigits_test = {w for w in parts["test"] if w.startswith("pendigits/")}
    assert pendigits_test == {f"pendigits/uci-pendigits/tes-{i:02d}" for i in range(1, 15)}
    test = writer_split(pen_digits, "test")
    for contributor in ("aga", "apb", "gmd", "syn", "uqb", "uci-pendigits"):  # every large contributor in test
        assert contributor in set(test.contributors.tolist())
    for name in sets:
        for d in range(10):
            assert ((test.labels == d) & (test.sets == name)).sum() >= 100, (name, d)


def write_set(folder: Path, writers: dict[str, int], contributor: str = "lab", drop: str | None = None) -> Path:
    """A small pen set in the layout of unipen_dev.npz: `writers` maps writer id -> digits written,
    each digit one short stroke (or two, for every third)."""
    labels, contributors, writer_ids, points, stroke_ends, digit_ends = [], [], [], [], [], []
    for writer, count in writers.items():
        for i in range(count):
            for k in range(1 + (i % 3 == 0)):
                points += [[0, 0], [10 + k, 40], [20, 5 * k]]
                stroke_ends.append(len(points))
            digit_ends.append(len(stroke_ends))
            labels.append(i % 10)
            contributors.append(contributor)
            writer_ids.append(writer)
    arrays = {
        "labels": np.array(labels, np.int8),
        "contributor": np.array(contributors),
        "writer": np.array(writer_ids),
        "points": np.array(points, np.float32),
        "stroke_ends": np.array(stroke_ends, np.int64),
        "digit_ends": np.array(digit_ends, np.int64),
    }
    arrays.pop(drop, None)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{folder.name}.npz"
    np.savez(path, **arrays)
    return path


def test_the_loader_reads_every_set_with_its_name_in_the_writer_ids(tmp_path):
    write_set(tmp_path / "unipen", {"ann": 12, "bob": 7}, contributor="syn")
    write_set(tmp_path / "pendigits", {"tra-01": 20, "tes-01": 10}, contributor="uci")
    (tmp_path / "MNIST").mkdir()  # a folder without a set is no set
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both expected sets are there: no warning
        digits = load_pen_digits(tmp_path)
    assert len(digits) == 49 and digits.missing == ()
    assert set(digits.writers.tolist()) == {
        "unipen/syn/ann",
        "unipen/syn/bob",
        "pendigits/uci/tra-01",
        "pendigits/uci/tes-01",
    }
    assert (digits.sets == "pendigits").sum() == 30 and (digits.sets == "unipen").sum() == 19
    assert [len(s) for s in digits.strokes[:4]] == [2, 1, 1, 2]  # strokes rebuilt per digit
    assert digits.take([0, 20]).sets.tolist() == ["pendigits", "pendigits"]
    write_set(tmp_path / "later", {"w": 5})  # a later set in the same layout joins
    assert set(load_pen_digits(tmp_path).sets.tolist()) == {"unipen", "pendigits", "later"}
    assert load_pen_digits(tmp_path, sets=["unipen"]).sets.tolist() == ["unipen"] * 19


def test_a_missing_set_is_named_and_the_others_are_used(tmp_path):
    write_set(tmp_path / "unipen", {"ann": 12})
    with pytest.warns(PenSetMissingWarning, match="pendigits.*going on with unipen"):
        digits = load_pen_digits(tmp_path)
    assert len(digits) == 12 and digits.missing == ("pendigits",)
    assert writer_split(digits, "train").missing == ("pendigits",)  # the note travels with the digits
    with pytest.raises(DataMissingError, match="pen digits not found"):
        load_pen_digits(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda path: write_set(path.parent, {"a": 5}, drop="stroke_ends"), "no stroke_ends"),
        (lambda path: path.write_bytes(b"not a zip file"), "cannot be read"),
        (lambda path: np.savez(path, **{**dict(np.load(path)), "digit_ends": np.array([1, 2])}), "differ in length"),
    ],
)
def test_a_malformed_set_is_refused_naming_its_file(tmp_path, break_it, message):
    write_set(tmp_path / "unipen", {"ann": 12})
    path = write_set(tmp_path / "pendigits", {"tra-01": 5})
    break_it(path)
    with pytest.raises(DataFormatError, match=f"malformed pen set .*pendigits.npz.*{message}"):
        load_pen_digits(tmp_path)


def test_the_split_is_fixed_per_set_and_a_new_set_moves_no_writer(tmp_path):
    write_set(tmp_path / "unipen", {f"w{i:02d}": 5 + i for i in range(20)})
    write_set(tmp_path / "pendigits", {**{f"tra-{i:02d}": 10 for i in range(12)}, "tes-01": 10, "tes-02": 10})
    digits = load_pen_digits(tmp_path)
    parts = split_writers(digits)
    assert parts == split_writers(load_pen_digits(tmp_path))  # the same on every run
    assert parts != split_writers(digits, seed=14)  # and fixed by the seed
    for part in PARTS:
        assert {w.split("/")[0] for w in parts[part]} == {"unipen", "pendigits"}, part
    assert [w for w in parts["test"] if w.startswith("pendigits")] == ["pendigits/lab/tes-01", "pendigits/lab/tes-02"]
    unipen_alone = split_writers(load_pen_digits(tmp_path, sets=["unipen"]))
    for part in PARTS:
        assert unipen_alone[part] == [w for w in parts[part] if w.startswith("unipen/")]


def test_training_pool_never_holds_test_writers(pen_dir, pen_digits, tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTSUM_CACHE", str(tmp_path))
    cfg = TrainConfig(data_dir=str(pen_dir), pen_copies=1, pen_writers="train")
    pool = pen_training_set(cfg)
    train = writer_split(pen_digits, "train")
    assert len(pool) == len(train) and np.array_equal(pool.labels.numpy(), train.labels)
    cached = pen_training_set(cfg)  # second call reads the cache
    assert list(tmp_path.iterdir()) and np.array_equal(cached.images.numpy(), pool.images.numpy())
    both = training_digits(TrainConfig(data_dir=str(pen_dir), pen_writers="train+val"))
    assert len(both) == len(writer_split(pen_digits, ("train", "val")))
    assert not set(both.writers.tolist()) & set(split_writers(pen_digits)["test"])


def test_unknown_split_part_is_refused(pen_digits):
    with pytest.raises(ValueError, match="unknown writer split"):
        writer_split(pen_digits, "all")


def one() -> list[np.ndarray]:
    """A bare one drawn top to bottom, in tablet units (y down)."""
    return [np.stack([np.full(20, 100.0) + np.linspace(0, 10, 20), np.linspace(0, 500, 20)], 1).astype(np.float32)]


def zero() -> list[np.ndarray]:
    t = np.linspace(0, 2 * np.pi, 40)
    return [np.stack([150 + 120 * np.cos(t), 250 + 240 * np.sin(t)], 1).astype(np.float32)]


def nine() -> list[np.ndarray]:
    """A loop, then the stem straight down: the tail ends at the bottom."""
    t = np.linspace(0, 2 * np.pi, 30)
    loop = np.stack([150 + 100 * np.cos(t), 120 + 110 * np.sin(t)], 1)
    stem = np.stack([np.full(15, 250.0), np.linspace(120, 500, 15)], 1)
    return [np.concatenate([loop, stem]).astype(np.float32)]


def test_styles_add_what_their_names_say():
    from mnistsum.pen_eval import tail_curls

    rng = np.random.default_rng(0)
    for _ in range(20):
        zero_styled = add_style(zero(), 0, rng)
        assert len(zero_styled) == 2 and np.array_equal(zero_styled[0], zero()[0])  # a slash or a dot, ring kept
        flagged = add_style(one(), 1, rng)
        assert np.concatenate(flagged)[:, 0].min() < 100 - 0.04 * 500  # the flag reaches out left of the stem
        flag_start = flagged[0][0]
        assert flag_start[1] > 0  # starts below the top: a slanted flag, never a level bar
        assert len(add_style(seven(), 7, rng)) == 2  # already crossed: unchanged
        crossed = add_style(seven()[:1], 7, rng)
        assert len(crossed) == 2 and 150 < crossed[1][:, 1].mean() < 350  # a bar at mid-height
        curled = add_style(nine(), 9, rng)
        assert not tail_curls(nine()) and tail_curls(curled)
    assert all(np.array_equal(a, b) for a, b in zip(add_style(seven(), 3, rng), seven()))  # other digits: as drawn


def test_styled_drawings_stay_drawable_and_the_pool_uses_the_share():
    rng = np.random.default_rng(2)
    for label, strokes in ((0, zero()), (1, one()), (7, seven()[:1]), (9, nine())):
        for _ in range(10):
            drawing = random_drawing(add_style(strokes, label, rng), rng)
            assert drawing[[0, -1]].min() == 255 and drawing[:, [0, -1]].min() == 255
            assert not preprocess(drawing).blank
    digits = PenDigits([one()] * 8, np.array([1] * 8), np.array(["x"] * 8), np.array(["s/x/a"] * 8))
    plain, _ = pen_pool(digits, copies=2, seed=3)
    styled, _ = pen_pool(digits, copies=2, seed=3, cfg=StrokeAugment(style_share=1.0))
    again, _ = pen_pool(digits, copies=2, seed=3, cfg=StrokeAugment(style_share=1.0))
    assert np.array_equal(styled, again) and not np.array_equal(plain, styled)

    # flagged ones are wider: more ink columns in the 28x28 image on average
    def cols(images):
        return np.mean([(im > 64).any(0).sum() for im in images])

    assert cols(styled) > cols(plain) + 1
