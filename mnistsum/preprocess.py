"""Turn any drawing into what an MNIST digit looks like, by the procedure MNIST itself used.

MNIST digits were cropped to their ink, scaled (anti-aliased, aspect kept) so the longer
side is 20 px, and pasted into 28x28 with their centre of mass on pixel (14, 14), moved by
whole pixels. On the test set every digit's centre of mass lies in [13.5, 14.5) on both
axes, which is exactly what rounding to pixel 14 produces. Doing the same to a drawing
makes it look like the training data; doing it to an MNIST digit gives the digit back.

Every stage is kept so the UI can show the user what the model was given and why.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

BOX = 20  # MNIST scales the ink's longer side to this many pixels
FRAME = 28
CENTRE = 14  # pixel index MNIST puts the centre of mass on (see module docstring)
MAX_SIDE = 512  # larger inputs are box-averaged down first: 20 px out never needs more
LUMA = (np.float32(0.299), np.float32(0.587), np.float32(0.114))
MIN_CONTRAST = 0.15  # ink must differ from the background by this much, else blank
NOISE_MARGIN = 6.0  # pixels within this many times the border's typical deviation are background
MAX_MIDTONES = 0.4  # an image with more pixels in the middle half of its range is no ink on paper
MIN_LEVEL_SHARE = 0.05  # ... and so is one whose darkest or lightest quarter holds fewer than this
STRAY_SHARE = 0.1  # a separate end piece with less ink than this share ...
STRAY_GAP = 0.25  # ... and at least this share of the image away is a stray mark, not digit
THIN_STROKE = 0.8  # strokes thinner than this at 20 px scale get thickened (MNIST test min: 0.9)
THICK_STROKE = 5.0  # strokes thicker than this at 20 px scale are thinned to it (MNIST test: 99.9% are under)
MIN_SPAN = 0.02  # ink whose every piece spans less than this share of the image is specks

STAGES = ("raw", "ink", "crop", "20x20", "28x28")


@dataclass(frozen=True)
class Preprocessed:
    """The model input and how it was made.

    `image` is (28, 28) float32 in [0, 1], white ink on black; all zeros when `blank`.
    `stages` maps the names in `STAGES`, in order, to float32 arrays: "raw" the grayscale
    input (box-averaged if larger than `MAX_SIDE`), "ink" 0..1 with 1 = ink, "crop" the
    ink's bounding box (a view into "ink"), "20x20" the scaled ink in MNIST's 20 px box,
    "28x28" the same array as `image`. When blank, "crop" is the whole ink map and the
    last two are zeros, so a UI can show every stage either way.
    """

    image: np.ndarray
    blank: bool
    stages: dict[str, np.ndarray]


def preprocess(image: np.ndarray) -> Preprocessed:
    """Make `image` look like an MNIST digit; `blank` when it holds no usable ink.

    Accepts (H, W), (H, W, 1), RGB or RGBA arrays of uint8 (or other integers in 0..255),
    or bool / float in [0, 1], drawn either dark-on-light or light-on-dark. RGBA that is
    not fully opaque is read from its alpha channel (the strokes of a transparent layer).
    Raises ValueError for anything else.
    """
    raw = _grayscale(image)
    ink = _ink(raw)
    box = _ink_box(ink)
    if box is None:
        empty = np.zeros((FRAME, FRAME), np.float32)
        boxed = np.zeros((BOX, BOX), np.float32)
        return Preprocessed(empty, True, {"raw": raw, "ink": ink, "crop": ink, "20x20": boxed, "28x28": empty})
    crop = _thin(ink[box])
    scaled = _scale(crop)
    out = _centre(scaled)
    stages = {"raw": raw, "ink": ink, "crop": crop, "20x20": _boxed(scaled), "28x28": out}
    return Preprocessed(out, False, stages)


def _grayscale(image: np.ndarray) -> np.ndarray:
    """One float32 plane in [0, 1], box-averaged below `MAX_SIDE` before any float work
    so an 8000x8000 RGBA costs one uint8 plane at a time, not gigabytes of floats."""
    full = _full_scale(image)
    if image.ndim == 3 and image.shape[2] == 4 and image[..., 3].min() < full:
        planes, weights = [image[..., 3]], (np.float32(1),)
    elif image.ndim == 3 and image.shape[2] >= 3:
        planes, weights = [image[..., c] for c in range(3)], LUMA
    else:
        planes, weights = [image.reshape(image.shape[:2])], (np.float32(1),)
    factor = math.ceil(max(image.shape[:2]) / MAX_SIDE)
    gray = sum(w * _shrink(p, factor) for p, w in zip(planes, weights))
    gray *= np.float32(1 / full)
    return gray


def _full_scale(image: np.ndarray) -> float:
    """The value meaning "full intensity" (255 or 1); rejects what has no sensible reading."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"image must be (H, W) or (H, W, C) with C in 1, 3, 4; got shape {image.shape}")
    kind = image.dtype.kind
    if kind not in "buif":
        raise ValueError(f"image dtype must be bool, integer or float, got {image.dtype}")
    if image.dtype in (np.uint8, np.bool_):
        return 255.0 if kind == "u" else 1.0
    full = 1.0 if kind == "f" else 255.0
    lo, hi = image.min(), image.max()
    if not (0 <= lo and hi <= full):  # NaN fails this too
        raise ValueError(f"{image.dtype} image values must be in [0, {full:g}] (no NaN), got [{lo}, {hi}]")
    return full


def _shrink(plane: np.ndarray, factor: int) -> np.ndarray:
    """Box-average by `factor` in C (partial boxes at the edge included), as float32."""
    if factor == 1:
        return plane if plane.dtype == np.uint8 else plane.astype(np.float32)
    if plane.dtype != np.uint8:
        plane = plane.astype(np.float32)
    reduced = Image.fromarray(np.ascontiguousarray(plane)).reduce(factor)
    return np.asarray(reduced, dtype=np.float32)


def _ink(raw: np.ndarray) -> np.ndarray:
    """Ink strength 0..1 (1 = strongest ink), zero wherever it is indistinguishable from
    the background. Ink is whichever extreme lies farther from the background, so both
    polarities work; MNIST itself (black border, no noise) passes unchanged."""
    for background, noise in _backgrounds(raw):
        dark, light = background - raw.min(), raw.max() - background
        contrast = max(dark, light)
        if contrast < max(MIN_CONTRAST, noise):
            continue
        ink = (background - raw) if dark >= light else (raw - background)
        ink *= np.float32(1 / contrast)
        ink *= ink > noise / contrast
        return ink
    return np.zeros_like(raw)


def _backgrounds(raw: np.ndarray) -> Iterator[tuple[np.float32, float]]:
    """Estimates of the background level and of how far from it noise reaches, in order.

    First the image border: its median is the level, its 90th-percentile deviation the
    noise (robust to strokes crossing the border, and to noise clipped at white). A digit
    cropped tight to its ink has ink on much of its border, which makes that noise estimate
    swallow the ink. So when it finds nothing, an image of two levels (ink and paper, each a
    real share of the pixels, few in between: not noise, not blank paper) is read a second
    way: the side of the mid-level holding more of the border and the image together is the
    background (a digit's ink rarely covers most of both), with the noise taken from the
    lower quartile of its pixels' deviations, which anti-aliased stroke edges cannot inflate.
    """
    border = np.sort(np.concatenate([raw[0], raw[-1], raw[1:-1, 0], raw[1:-1, -1]]))
    background = border[border.size // 2]
    yield background, NOISE_MARGIN * float(np.sort(np.abs(border - background))[border.size * 9 // 10])
    lo, hi = float(raw.min()), float(raw.max())
    mid = (lo + hi) / 2
    quarter = (hi - lo) / 4
    near_lo, near_hi = float((raw < lo + quarter).mean()), float((raw > hi - quarter).mean())
    if 1 - near_lo - near_hi > MAX_MIDTONES or min(near_lo, near_hi) < MIN_LEVEL_SHARE:
        return
    dark = raw < mid
    background_is_dark = float((border < mid).mean()) + float(dark.mean()) > 1
    side = raw[dark == background_is_dark]
    background = np.float32(np.median(side))
    yield background, NOISE_MARGIN * float(np.percentile(np.abs(side - background), 25))


def _ink_box(ink: np.ndarray) -> tuple[slice, slice] | None:
    """Rows and columns holding the digit, or None when there is no digit.

    Each axis is measured again within the other's range, so a dot that is stray along
    one axis only (beside the digit, far to its right) is dropped from both.
    """
    rows, _ = _extent(ink.sum(axis=1))
    cols, _ = _extent(ink.sum(axis=0))
    rows, row_span = _extent(ink[:, cols].sum(axis=1))
    cols, col_span = _extent(ink[rows].sum(axis=0))
    if max(row_span, col_span) < max(3, MIN_SPAN * max(ink.shape)):
        return None
    return rows, cols


def _extent(profile: np.ndarray) -> tuple[slice, int]:
    """The range of inked positions along one axis, and the longest unbroken run in it.

    A stray dot far from the digit is its own run at an end of the profile: one carrying
    under `STRAY_SHARE` of the ink, at least `STRAY_GAP` of the image away, is dropped so
    it cannot stretch the box. Nearer small pieces stay: MNIST keeps them (its test set has
    end pieces up to 6 px = 0.21 of the image away), and so must we to reproduce it.
    """
    edges = np.flatnonzero(np.diff(np.concatenate(([0], profile > 0, [0])).astype(np.int8)))
    if edges.size == 0:
        return slice(0, 0), 0
    starts, ends = edges[::2], edges[1::2]
    stray = np.add.reduceat(profile, starts) < STRAY_SHARE * profile.sum()
    far = STRAY_GAP * profile.size
    first, last = 0, starts.size - 1
    while first < last and stray[first] and starts[first + 1] - ends[first] >= far:
        first += 1
    while last > first and stray[last] and starts[last] - ends[last - 1] >= far:
        last -= 1
    return slice(starts[first], ends[last]), int((ends - starts)[first : last + 1].max())


def _scale(crop: np.ndarray) -> np.ndarray:
    """Longer side to `BOX` px, aspect kept, peak renormalised to 1 like every MNIST digit.

    A pen much thinner than MNIST's (a 1-7 px brush on a 280 px canvas) would shrink to a
    faint hairline the model has never seen: such strokes are scaled to `BOX` - 2 and
    grown by one pixel all round instead, which reads such drawings markedly better
    (`python -m mnistsum.stress` has a thin-pen set); no MNIST test digit is that thin.
    """
    thin = _stroke_width(crop) * BOX / max(crop.shape) < THIN_STROKE
    scaled = _resize(crop, BOX - 2 if thin else BOX)
    return _thicken(scaled) if thin else scaled


def _thin(crop: np.ndarray) -> np.ndarray:
    """A digit whose strokes are thicker than `THICK_STROKE` at 20 px scale, eroded to it.

    The pad's pen has one width, so a digit drawn small (or with a thick pen) becomes a blob
    once scaled to 20 px, a shape MNIST never has. Eroding by r px all round takes 2r off a
    stroke of width w (`_stroke_width`) and off the ink box's longer side S, so
    r = round((w - k S) / (2 (1 - k))) with k = `THICK_STROKE` / `BOX` leaves the stroke k
    times the new box. Each step is a 3x3 min filter (outside the crop counts as no ink),
    square on even steps and plus-shaped on odd ones (together an octagon: diagonal strokes
    lose about what straight ones do); the result is cropped to the pixels still above zero
    (all eroded away: the crop as it was). The one constant was chosen on the validation
    writers drawn small (the model card has the numbers); a thinner target reads worse,
    since a loop the pen has filled cannot be reopened. MNIST digits (all but about 1 in
    1,000 under the threshold) pass unchanged.
    """
    side = max(crop.shape)
    width = _stroke_width(crop)
    if width * BOX / side <= THICK_STROKE:
        return crop
    k = THICK_STROKE / BOX
    steps = round((width - k * side) / (2 * (1 - k)))
    out = crop
    for step in range(steps):
        out = _erode(out, square=step % 2 == 0)
        if not out.any():  # all eroded away; more steps change nothing (a flat block has w ~ 1e9 px)
            break
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    if rows.size == 0:
        return crop
    return out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _erode(ink: np.ndarray, square: bool) -> np.ndarray:
    """One 3x3 min filter (outside the array counts as no ink): square, or plus-shaped."""
    padded = np.pad(ink, 1)
    if square:
        rows = np.minimum(np.minimum(padded[:-2], padded[1:-1]), padded[2:])
        return np.minimum(np.minimum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    centre = padded[1:-1, 1:-1]
    vertical = np.minimum(np.minimum(padded[:-2, 1:-1], centre), padded[2:, 1:-1])
    return np.minimum(np.minimum(vertical, padded[1:-1, :-2]), padded[1:-1, 2:])


def _stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: a stroke of width w and length L has ink mass w*L and
    about 2*L of edge, which the summed absolute gradient measures."""
    edge = np.abs(np.diff(ink, axis=0)).sum() + np.abs(np.diff(ink, axis=1)).sum()
    return 2 * float(ink.sum()) / max(float(edge), 1e-6)


def _resize(crop: np.ndarray, side: int) -> np.ndarray:
    """Longer side to `side`: area-averaged when shrinking (what anti-aliasing a pen stroke
    means), bilinear when enlarging; peak renormalised to 1."""
    h, w = crop.shape
    factor = side / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    resample = Image.Resampling.BOX if factor < 1 else Image.Resampling.BILINEAR
    scaled = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(size, resample), dtype=np.float32)
    return scaled * np.float32(1 / scaled.max())


def _thicken(scaled: np.ndarray) -> np.ndarray:
    """Grow the ink by one pixel up, down, left and right (a cross-shaped max filter)."""
    padded = np.pad(scaled, 1)
    out = padded.copy()
    np.maximum(out[1:], padded[:-1], out=out[1:])
    np.maximum(out[:-1], padded[1:], out=out[:-1])
    np.maximum(out[:, 1:], padded[:, :-1], out=out[:, 1:])
    np.maximum(out[:, :-1], padded[:, 1:], out=out[:, :-1])
    return out


def _centre(scaled: np.ndarray) -> np.ndarray:
    """Paste into 28x28 moving by whole pixels so the centre of mass lands on pixel
    `CENTRE` (MNIST's convention; no interpolation blur), kept inside the frame."""
    h, w = scaled.shape
    mass = scaled.sum()
    cy = scaled.sum(axis=1) @ np.arange(h) / mass
    cx = scaled.sum(axis=0) @ np.arange(w) / mass
    top = min(max(math.floor(CENTRE - cy + 0.5), 0), FRAME - h)
    left = min(max(math.floor(CENTRE - cx + 0.5), 0), FRAME - w)
    out = np.zeros((FRAME, FRAME), np.float32)
    out[top : top + h, left : left + w] = scaled
    return out


def _boxed(scaled: np.ndarray) -> np.ndarray:
    """The scaled ink centred in MNIST's 20x20 box, for display."""
    h, w = scaled.shape
    box = np.zeros((BOX, BOX), np.float32)
    box[(BOX - h) // 2 : (BOX - h) // 2 + h, (BOX - w) // 2 : (BOX - w) // 2 + w] = scaled
    return box
