import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistsum.data import MnistSplit
from mnistsum.preprocess import STAGES, preprocess


def draw_digit(
    size: int = 280,
    box: tuple[float, float, float, float] = (0.3, 0.15, 0.7, 0.85),
    width: float = 0.07,
    canvas: tuple[int, int] | None = None,
) -> np.ndarray:
    """A '9'-like glyph, black on white: a loop and a tail. `box` (x0, y0, x1, y1) and the
    stroke `width` are fractions of `size`; `canvas` (h, w) defaults to size x size."""
    h, w = canvas or (size, size)
    im = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = (v * size for v in box)
    pen = max(1, round(width * size))
    draw.ellipse((x0, y0, x1, (y0 + y1) / 2), outline=0, width=pen)
    draw.line((x1 - pen / 2, (y0 + y1) / 2 - pen, x0 + pen, y1), fill=0, width=pen)
    return np.array(im)


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference, forgiving a 1 px shift (rounding the centre of mass can flip)."""
    return min(np.abs(np.roll(a, (dy, dx), (0, 1)) - b).mean() for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    mass = image.sum()
    return image.sum(axis=1) @ np.arange(28) / mass, image.sum(axis=0) @ np.arange(28) / mass


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return preprocess(draw_digit()).image


def test_output_is_an_mnist_style_digit(reference):
    assert reference.shape == (28, 28) and reference.dtype == np.float32
    assert reference.min() == 0 and reference.max() == 1
    assert max(ink_box(reference)) == 20
    cy, cx = centre_of_mass(reference)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert reference[0].sum() == 0 and reference[:, 0].sum() == 0 and reference.mean() < 0.2  # white on black


def test_stages_are_ordered_with_sensible_shapes():
    result = preprocess(draw_digit())
    assert not result.blank
    assert tuple(result.stages) == STAGES
    assert all(stage.dtype == np.float32 for stage in result.stages.values())
    raw, ink, crop, boxed, out = result.stages.values()
    assert raw.shape == ink.shape == (280, 280)
    assert raw.min() == 0 and raw.max() == 1 and raw[0, 0] == 1  # grayscale as drawn: white paper
    assert ink[0, 0] == 0 and ink.max() == 1  # ink map: 1 = ink
    assert 190 <= crop.shape[0] <= 215 and 100 <= crop.shape[1] <= 125  # the glyph plus its pen
    assert boxed.shape == (20, 20) and out is result.image


def test_shift_does_not_matter(reference):
    shifted = np.full((280, 280), 255, np.uint8)
    shifted[30:, :-50] = draw_digit()[:-30, 50:]
    assert np.array_equal(preprocess(shifted).image, reference)


@pytest.mark.parametrize("scale", [0.15, 0.5, 2.5])
def test_scale_does_not_matter(reference, scale):
    got = preprocess(draw_digit(round(280 * scale))).image
    assert max(ink_box(got)) == 20
    assert distance(got, reference) < 0.035


def test_polarity_and_channel_layouts_give_the_same_digit(reference):
    gray = draw_digit()
    rgba_strokes = np.zeros((280, 280, 4), np.uint8)
    rgba_strokes[..., 3] = 255 - gray  # transparent layer, stroke only in alpha, colour irrelevant
    variants = {
        "inverted": 255 - gray,
        "HxWx1": gray[..., None],
        "rgb": np.stack([gray] * 3, axis=-1),
        "rgba opaque": np.dstack([gray, gray, gray, np.full_like(gray, 255)]),
        "rgba alpha": rgba_strokes,
        "float": gray / 255.0,
        "bool": gray > 127,
        "int64": gray.astype(np.int64),
    }
    for name, image in variants.items():
        np.testing.assert_allclose(preprocess(image).image, reference, atol=0.02, err_msg=name)


def test_huge_and_elongated_inputs_are_reduced_early(reference):
    huge = preprocess(draw_digit(6000))
    assert huge.image.shape == (28, 28)
    assert max(huge.stages["raw"].shape) <= 512
    assert distance(huge.image, reference) < 0.01
    strip = preprocess(draw_digit(30, box=(0.2, 0.1, 0.8, 0.9), canvas=(30, 1000)))
    assert not strip.blank and max(ink_box(strip.image)) == 20


def test_background_noise_is_ignored(reference):
    clean = draw_digit()
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    assert np.abs(preprocess(noisy).image - reference).mean() < 0.002


def test_jpeg_ringing_grows_the_box_by_at_most_a_block(reference):
    buffer = io.BytesIO()
    Image.fromarray(draw_digit()).save(buffer, "JPEG", quality=30)
    result = preprocess(np.asarray(Image.open(buffer)))
    clean_crop = preprocess(draw_digit()).stages["crop"].shape
    assert all(0 <= got - want <= 8 for got, want in zip(result.stages["crop"].shape, clean_crop))
    assert distance(result.image, reference) < 0.04


def test_stray_dot_far_from_the_digit_is_ignored(reference):
    dotted = draw_digit(box=(0.5, 0.15, 0.9, 0.85))
    dotted[250:262, 10:22] = 0  # a brush tap in the bottom-left corner, far left of the digit
    assert np.array_equal(preprocess(dotted).image, reference)


def test_thin_strokes_are_thickened_to_mnist_weight(reference):
    thin = preprocess(draw_digit(width=0.004)).image
    assert max(ink_box(thin)) == 20
    assert thin.sum() > 0.6 * reference.sum()  # a bare 1 px hairline would be ~1/3
    assert distance(thin, reference) < 0.08


def test_tiny_digit_in_a_corner_fills_the_box():
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[4:32, 246:274] = draw_digit(28)
    result = preprocess(canvas)
    assert not result.blank and max(ink_box(result.image)) == 20


def test_small_digits_drawn_with_the_pads_pen_are_thinned_towards_the_large_drawing(pen_digits, monkeypatch):
    """The pad's pen does not shrink with the digit: a digit drawn 40 px tall in a corner with
    the 22 px pen is a blob at 20 px unless its strokes are eroded back towards MNIST's weight."""
    import mnistsum.preprocess as module
    from mnistsum.pen import render

    strokes = pen_digits.strokes[::300]
    large = [preprocess(render(s, pen=22, box=200)).image for s in strokes]
    small = [render(s, pen=22, box=40, centre=(250, 30)) for s in strokes]
    thinned = [preprocess(d) for d in small]
    monkeypatch.setattr(module, "THICK_STROKE", float("inf"))
    blobs = [preprocess(d) for d in small]
    gained = [distance(b.image, big) - distance(t.image, big) for t, b, big in zip(thinned, blobs, large)]
    assert np.mean(gained) > 0.01 and np.mean(np.array(gained) > 0) >= 0.75
    widths = [module._stroke_width(r.stages["20x20"]) for r in thinned]
    blob_widths = [module._stroke_width(r.stages["20x20"]) for r in blobs]
    assert np.mean(widths) < np.mean(blob_widths) - 0.5
    assert all(max(ink_box(r.image)) == 20 for r in thinned)


def test_thinning_leaves_digits_drawn_large_alone(reference):
    for width in (0.04, 0.07, 0.12):  # 11, 20 and 34 px pens on the 280 px pad, digit 200 px tall
        drawing = draw_digit(width=width)
        ink = preprocess(drawing).stages["ink"]
        crop = preprocess(drawing).stages["crop"]
        assert crop.shape == ink[np.ix_(ink.any(axis=1), ink.any(axis=0))].shape  # nothing eroded


@pytest.mark.parametrize("name", ["white", "black", "faint noise", "specks", "mid grey"])
def test_blank_drawings_are_flagged(name):
    rng = np.random.default_rng(0)
    specks = np.full((280, 280), 255, np.uint8)
    for y, x in [(30, 40), (200, 100), (120, 250)]:
        specks[y : y + 4, x : x + 4] = 0  # 4 px: bigger than a stray pixel, far smaller than a digit
    image = {
        "white": np.full((280, 280), 255, np.uint8),
        "black": np.zeros((280, 280), np.uint8),
        "faint noise": np.clip(rng.normal(245, 4, (280, 280)), 0, 255).astype(np.uint8),
        "specks": specks,
        "mid grey": np.full((100, 60, 3), 0.5),
    }[name]
    result = preprocess(image)
    assert result.blank
    assert tuple(result.stages) == STAGES
    assert result.image.shape == (28, 28) and not result.image.any()


@pytest.mark.parametrize(
    "image, message",
    [
        ([[0, 255]], "numpy array"),
        (np.zeros((0, 28), np.uint8), "empty"),
        (np.zeros(28, np.uint8), "shape"),
        (np.zeros((2, 28, 28, 1), np.uint8), "shape"),
        (np.zeros((28, 28, 2), np.uint8), "shape"),
        (np.full((28, 28), np.nan), "NaN"),
        (np.full((28, 28), 2.0), r"\[0, 1\]"),
        (np.full((28, 28), 300), r"\[0, 255\]"),
        (np.full((28, 28), None, object), "dtype"),
        (np.full((28, 28), "a"), "dtype"),
    ],
)
def test_unusable_input_is_rejected_clearly(image, message):
    with pytest.raises(ValueError, match=message):
        preprocess(image)


def test_real_mnist_digits_come_back_unchanged(mnist_test: MnistSplit):
    digits = mnist_test.images[:1000].numpy()
    out = np.stack([preprocess(d).image for d in digits])
    diff = np.abs(out - digits / np.float32(255))
    assert diff.mean() < 2e-4
    assert (diff.max(axis=(1, 2)) > 1.5 / 255).mean() <= 0.002  # MNIST's own few with a 19 px box


# A digit cropped tight to its ink (a scan's 32x32 cell, a crop tool) has ink on much of its
# border, where the background is normally measured. It must be read, not called blank.


def crop_to_ink(image: np.ndarray, ink_is_dark: bool, margin: int = 0) -> np.ndarray:
    ink = image < 255 if ink_is_dark else image > 0  # every trace of ink stays inside
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    tight = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return np.pad(tight, margin, constant_values=255 if ink_is_dark else 0)


@pytest.mark.parametrize("margin", [0, 1])
@pytest.mark.parametrize("ink_is_dark", [True, False])
def test_digit_cropped_to_its_ink_is_read(reference, margin, ink_is_dark):
    drawing = draw_digit() if ink_is_dark else 255 - draw_digit()
    result = preprocess(crop_to_ink(drawing, ink_is_dark, margin))
    assert not result.blank
    assert distance(result.image, reference) < 0.01


@pytest.mark.parametrize("ink_is_dark", [True, False])
def test_binary_32x32_rendering_is_read(reference, ink_is_dark):
    tight = crop_to_ink(draw_digit(), ink_is_dark=True)  # 202 x 113: 32 x 18 in a 32 x 32 cell
    cell = np.pad(
        np.asarray(Image.fromarray(tight).resize((18, 32), Image.BILINEAR)) >= 128,
        ((0, 0), (7, 7)),
        constant_values=True,
    )
    image = np.where(cell, 255, 0).astype(np.uint8) if ink_is_dark else np.where(cell, 0, 255).astype(np.uint8)
    assert (image[0] != image[0, 0]).any() or (image[:, 0] != image[0, 0]).any()  # ink touches the border
    result = preprocess(image)
    assert not result.blank
    assert distance(result.image, reference) < 0.08


@pytest.mark.parametrize("ink_is_dark", [True, False])
def test_mnist_digits_cropped_to_their_ink_are_read_as_themselves(mnist_train: MnistSplit, ink_is_dark):
    """Validation images (the end of the training set) cropped to every inked pixel, in either
    polarity: with a 1 px margin the digit comes back exactly; without one the border is
    mostly ink, so the faintest anti-aliased pixels may be taken for paper, never the digit."""
    digits = mnist_train.images[-300:].numpy()
    tight = []
    for digit in digits:
        image = 255 - digit if ink_is_dark else digit
        as_made = preprocess(digit).image
        assert distance(preprocess(crop_to_ink(image, ink_is_dark, margin=1)).image, as_made) < 1e-4
        result = preprocess(crop_to_ink(image, ink_is_dark, margin=0))
        assert not result.blank
        tight.append(distance(result.image, as_made))
    assert np.mean(np.array(tight) < 0.01) >= 0.9 and max(tight) < 0.1


def test_pen_drawings_cropped_to_their_ink_are_read(pen_digits):
    from mnistsum.pen import render

    for strokes in pen_digits.strokes[::450]:
        for pen in (10, 34):
            drawing = render(strokes, pen=pen)
            as_drawn = preprocess(drawing).image
            for ink_is_dark in (True, False):
                image = drawing if ink_is_dark else 255 - drawing
                for margin in (0, 1):
                    result = preprocess(crop_to_ink(image, ink_is_dark, margin))
                    assert not result.blank
                    assert distance(result.image, as_drawn) < 0.03


@pytest.mark.parametrize("level", [0, 1, 77, 128, 254, 255])
@pytest.mark.parametrize("size", [(32, 32), (280, 280), (5, 40)])
def test_uniform_images_stay_blank(level, size):
    assert preprocess(np.full(size, level, np.uint8)).blank


@pytest.mark.parametrize("size", [(32, 32), (280, 280)])
def test_noise_alone_stays_blank(size):
    rng = np.random.default_rng(0)
    assert preprocess(rng.integers(0, 256, size).astype(np.uint8)).blank
    assert preprocess(np.clip(rng.normal(200, 15, size), 0, 255).astype(np.uint8)).blank
    assert preprocess(np.clip(rng.normal(250, 15, size), 0, 255).astype(np.uint8)).blank  # clipped at white
