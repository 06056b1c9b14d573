"""One person's handwriting, taught: their labelled drawings, the layer fitted to them, and the
plain JSON both travel in (what the visitor's browser keeps; the server keeps none of it).

    held = Handwriting(base).taught([drawing], [1])     # fit the digit head's last layer
    record = held.to_record()                           # {"params": {...}, "drawings": [PNG data URLs]}
    again = Handwriting.from_record(record, base)       # checked; ValueError with a one-line reason
    params = export_params(held.adapted, held.digits)   # the layer alone: `load_params` reads it back

`Handwriting` is immutable: teaching returns a new one. It keeps the latest `keep` drawings as
28x28 model inputs rounded to 8 bits (exactly what a stored PNG holds, so a fit made again from
the stored drawings is the same fit), and learns them again when the model under it changes (a
visitor who trains and uses their own model keeps what they taught).

A stored layer names the weights it was fitted on (`Predictor.weights_sha256`) and carries a
sha256 of its own canonical JSON: a corrupted or edited one, one of another shape or one fitted
on other weights is refused. The checksum catches accidents and casual edits, not a forger (the
page could recompute it); the worst a forged layer can do is mislead its own visitor's page.

What adapting cost is measured, not assumed: `forgetting` reads a fixed set of MNIST validation
images with the model before and after.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .config import default_data_dir
from .data import MnistSplit, cached_split, has_mnist, hold_out
from .lastlayer import MAX_DRAWINGS, cached_features, head_accuracy, last_layer, replay_set
from .model import NUM_DIGITS
from .payload import DrawingPayloadError, decode_drawing, png_data_url
from .predictor import Predictor, prepare_all

KEEP = 40  # drawings kept per person: two guided rounds; the oldest go first
FORGETTING_IMAGES = 1000  # MNIST validation images read before and after
VAL_SIZE = 5000  # MNIST's validation images: the last ones of the training set (`data.hold_out`)
FORMAT = "mnistsum-handwriting-layer"
VERSION = 1
SIGNIFICANT = 7  # digits kept of each weight: float32 holds about 7
MAX_WEIGHT = 1000.0  # no fitted weight comes near this; a larger one is not a fit
MAX_JSON_CHARS = 400_000  # a record of KEEP drawings is ~40 KB


class OtherWeightsError(ValueError):
    """A stored layer that is sound but was fitted on other weights: its drawings can be learned again."""


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _round(values: torch.Tensor) -> list[Any]:
    return np.vectorize(lambda x: float(f"{x:.{SIGNIFICANT}g}"), otypes=[float])(values.cpu().numpy()).tolist()


def export_params(adapted: Predictor, digits: Sequence[int], drawings_sha256: str | None = None) -> dict[str, Any]:
    """The adapted last layer as plain JSON: format, version, the sha256 of the weights it was
    fitted on, shapes, weight (nested rows), bias, how many drawings of which digits, and a
    sha256 of all that (its "sha256" field)."""
    head = last_layer(adapted.model)
    if "base_sha256" not in adapted.meta:
        raise ValueError("this predictor was not adapted: it has no last layer of its own to export")
    body = {
        "format": FORMAT,
        "version": VERSION,
        "fitted_on_sha256": adapted.meta["base_sha256"],
        "layer": "the digit head's last layer (Linear)",
        "shape": {"weight": list(head.weight.shape), "bias": list(head.bias.shape)},
        "weight": _round(head.weight.detach()),
        "bias": _round(head.bias.detach()),
        "drawings": len(digits),
        "digits": [int(d) for d in digits],
        "drawings_sha256": drawings_sha256,
    }
    return {**body, "sha256": hashlib.sha256(_canonical(body)).hexdigest()}


@dataclass(frozen=True)
class StoredLayer:
    """A checked stored layer: what `load_params` returns."""

    weight: torch.Tensor
    bias: torch.Tensor
    digits: tuple[int, ...]
    fitted_on_sha256: str
    drawings_sha256: str | None

    def apply(self, base: Predictor) -> Predictor:
        """`base` reading with this layer (its last layer swapped: cheap)."""
        per_digit = np.bincount(np.asarray(self.digits, dtype=np.int64), minlength=NUM_DIGITS).tolist()
        return base.with_last_layer(
            self.weight, self.bias, {"adapted": {"drawings": len(self.digits), "per_digit": per_digit}}
        )


def _parsed(params: Any) -> dict[str, Any]:
    if isinstance(params, (str, bytes)):
        if len(params) > MAX_JSON_CHARS:
            raise ValueError(
                f"stored handwriting is too large ({len(params):,} characters, at most {MAX_JSON_CHARS:,})"
            )
        try:
            params = json.loads(params)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(
                f"stored handwriting is not valid JSON ({err.msg if hasattr(err, 'msg') else err})"
            ) from None
    if not isinstance(params, dict):
        raise ValueError(f"stored handwriting must be a JSON object, got {type(params).__name__}")
    return params


def _numbers(values: Any, shape: tuple[int, ...], name: str) -> torch.Tensor:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"stored {name} holds something that is not a number") from None
    if array.size != math.prod(shape):
        raise ValueError(f"stored {name} has {array.size} numbers, this network's needs {math.prod(shape)} {shape}")
    if not np.isfinite(array).all() or np.abs(array).max(initial=0) > MAX_WEIGHT:
        raise ValueError(f"stored {name} holds values that are not finite or beyond ±{MAX_WEIGHT:g}")
    return torch.as_tensor(array.reshape(shape), dtype=torch.float32)


def load_params(params: Any, base: Predictor) -> StoredLayer:
    """A stored layer (the JSON text or its parsed object), checked against `base`: ValueError with
    a one-line reason if it is corrupt, tampered with, of another shape or version, or
    `OtherWeightsError` if it was fitted on other weights than `base`'s."""
    body = dict(_parsed(params))
    if body.get("format") != FORMAT:
        raise ValueError(f"stored handwriting is not a {FORMAT} (format {str(body.get('format'))[:40]!r})")
    if body.get("version") != VERSION:
        raise ValueError(f"stored handwriting is version {str(body.get('version'))[:20]}, this server reads {VERSION}")
    claimed = body.pop("sha256", None)
    try:
        actual = hashlib.sha256(_canonical(body)).hexdigest()
    except (TypeError, ValueError):
        raise ValueError("stored handwriting holds values JSON cannot hold") from None
    if claimed != actual:
        raise ValueError("stored handwriting was changed or corrupted: its sha256 does not match its content")
    head = last_layer(base.model)
    weight = _numbers(body.get("weight"), tuple(head.weight.shape), "weight")
    bias = _numbers(body.get("bias"), tuple(head.bias.shape), "bias")
    digits = body.get("digits")
    if (
        not isinstance(digits, list)
        or not 0 < len(digits) <= MAX_DRAWINGS
        or body.get("drawings") != len(digits)
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < NUM_DIGITS for d in digits)
    ):
        raise ValueError(f"stored handwriting must list 1 to {MAX_DRAWINGS} digits 0-9, one per drawing")
    fitted_on = str(body.get("fitted_on_sha256"))
    if fitted_on != base.weights_sha256:
        raise OtherWeightsError(
            f"stored handwriting was fitted on other weights ({fitted_on[:12]}), not these ({base.weights_sha256[:12]})"
        )
    return StoredLayer(weight, bias, tuple(digits), fitted_on, body.get("drawings_sha256"))


def _drawings_sha256(pngs: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(pngs).encode()).hexdigest()


@dataclass(frozen=True)
class Handwriting:
    """The latest `keep` labelled drawings of one person, and `adapted`: `base` adapted to them."""

    base: Predictor
    inputs: tuple[np.ndarray, ...] = ()  # (28, 28) model inputs in [0, 1], in steps of 1/255
    digits: tuple[int, ...] = ()
    adapted: Predictor | None = None
    let_go: int = 0  # older drawings dropped to keep `keep`
    keep: int = KEEP
    seconds: float = 0.0  # the last adaptation's time
    data_dir: str | None = None  # where MNIST's replay images are read (default: `default_data_dir()`)

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= MAX_DRAWINGS:
            raise ValueError(f"keep must be 1 to {MAX_DRAWINGS}, got {self.keep}")

    def __len__(self) -> int:
        return len(self.digits)

    @property
    def model(self) -> Predictor:
        """What answers: the adapted model, or the base one before any lesson."""
        return self.adapted or self.base

    def taught(self, drawings: Sequence[np.ndarray], digits: Sequence[Any]) -> Handwriting:
        """These labelled drawings added (any images `predict` takes) and the model adapted
        once to all that are kept. A drawing already kept that is labelled again keeps only
        its new digit (two clicks on one drawing are one example). Errors: `prepare_all`."""
        new_inputs, new_digits = prepare_all(self.base, drawings, digits)
        inputs, labels = list(self.inputs), list(self.digits)
        for image, digit in zip(np.round(new_inputs * 255) / 255, new_digits):
            same = [i for i, kept in enumerate(inputs) if np.array_equal(kept, image)]
            for i in reversed(same):
                del inputs[i], labels[i]
            inputs.append(image.astype(np.float32))
            labels.append(digit)
        drop = max(0, len(labels) - self.keep)
        return self._adapt(tuple(inputs[drop:]), tuple(labels[drop:]), self.let_go + drop, self.base)

    def without(self, index: int) -> Handwriting:
        """The same handwriting with drawing `index` removed (and the model adapted to the rest)."""
        if not 0 <= index < len(self):
            raise ValueError(f"there is no taught drawing #{index} (there are {len(self)})")
        inputs, digits = self.inputs[:index] + self.inputs[index + 1 :], self.digits[:index] + self.digits[index + 1 :]
        if not digits:
            return replace(self, inputs=(), digits=(), adapted=None, seconds=0.0)
        return self._adapt(inputs, digits, self.let_go, self.base)

    def on(self, base: Predictor) -> Handwriting:
        """The same drawings learned again on top of another model (the visitor changed theirs)."""
        if base is self.base:
            return self
        if not self.digits:
            return replace(self, base=base, adapted=None)
        return self._adapt(self.inputs, self.digits, self.let_go, base)

    def _adapt(self, inputs: tuple, digits: tuple, let_go: int, base: Predictor) -> Handwriting:
        start = time.perf_counter()
        fitted = base.adapt_inputs(np.stack(inputs), digits, replay=replay_set(self.data_dir))
        held = replace(self, base=base, inputs=inputs, digits=digits, let_go=let_go)
        # what answers is the layer as stored (rounded), so the server and the page read the same one
        stored = load_params(export_params(fitted, digits, _drawings_sha256(held.pngs())), base)
        return replace(held, adapted=stored.apply(base), seconds=time.perf_counter() - start)

    def pngs(self) -> list[str]:
        """The kept drawings as 28x28 PNG data URLs (what the page stores)."""
        return [png_data_url(np.round(image * 255).astype(np.uint8)) for image in self.inputs]

    def to_record(self) -> dict[str, Any] | None:
        """What the visitor's browser keeps: {"params": `export_params`, "drawings": PNG data URLs};
        None before any lesson."""
        if self.adapted is None:
            return None
        pngs = self.pngs()
        return {"params": export_params(self.adapted, self.digits, _drawings_sha256(pngs)), "drawings": pngs}

    @classmethod
    def from_record(cls, record: Any, base: Predictor, relearn: bool = True, **fields: Any) -> Handwriting:
        """A stored record read back and checked (`load_params`, and its drawings against the
        hash the layer names). Fitted on other weights: its drawings are learned again on `base`
        (or, with `relearn=False`, kept unadapted: `adapted` is None)."""
        record = _parsed(record)
        pngs = record.get("drawings")
        if not isinstance(pngs, list) or not all(isinstance(p, str) for p in pngs):
            raise ValueError("stored handwriting must hold its drawings as a list of PNG data URLs")
        try:
            layer, other = load_params(record.get("params"), base), False
        except OtherWeightsError:
            layer, other = None, True
        claimed = _parsed(record.get("params")).get("drawings_sha256")
        if claimed != _drawings_sha256(pngs):
            raise ValueError("stored handwriting's drawings were changed: they do not match its layer")
        inputs = tuple(_input(png, i) for i, png in enumerate(pngs))
        digits = tuple(_parsed(record["params"])["digits"])
        if len(digits) != len(inputs):
            raise ValueError(f"stored handwriting has {len(inputs)} drawings for {len(digits)} digits")
        held = cls(base, inputs, digits, **fields)
        if other:
            return held._adapt(inputs, digits, 0, base) if relearn else held
        return replace(held, adapted=layer.apply(base))

    def summary(self) -> str:
        """One line for people: how many drawings, of which digits, and what was let go."""
        if not self.digits:
            return "Not adapted: no drawings taught yet."
        counts = np.bincount(self.digits, minlength=10)
        digits = ", ".join(f"{d}×{c}" if c > 1 else str(d) for d, c in enumerate(counts) if c)
        kept = f" The latest {self.keep} are kept: {self.let_go} older one(s) were let go." if self.let_go else ""
        return f"Adapted to {len(self)} of your drawings ({digits}) in {self.seconds:.2f} s.{kept}"


def _input(png: str, index: int) -> np.ndarray:
    try:
        image = decode_drawing(png)
    except DrawingPayloadError as err:
        raise ValueError(f"stored drawing #{index} is not an image ({err})") from None
    if image is None or image.shape[:2] != (28, 28):
        raise ValueError(f"stored drawing #{index} is not a 28x28 model input")
    plane = image if image.ndim == 2 else image[..., 0]
    return (plane.astype(np.float32) / 255).astype(np.float32)


def forgetting_set(data_dir: str | None = None, size: int = FORGETTING_IMAGES) -> MnistSplit | None:
    """The last `size` MNIST validation images, or None when MNIST is not in `data_dir`."""
    data_dir = data_dir or default_data_dir()
    if not has_mnist(data_dir):
        return None
    _, val = hold_out(cached_split(data_dir, train=True), VAL_SIZE)
    return MnistSplit(val.images[-size:], val.labels[-size:])


def forgetting(handwriting: Handwriting, images: MnistSplit | None) -> tuple[float, float] | None:
    """MNIST digit accuracy on `images` (validation digits) before and after adapting; None
    when there is nothing to compare."""
    if images is None or handwriting.adapted is None:
        return None
    base = handwriting.base.model
    return head_accuracy(base, base, images), head_accuracy(handwriting.adapted.model, base, images)


def warm(predictor: Predictor, data_dir: str | None = None) -> None:
    """Compute `predictor`'s replay and forgetting features now (seconds, once per model), so
    the first person who corrects an answer does not wait for them."""
    for images in (replay_set(data_dir), forgetting_set(data_dir)):
        if images is not None:
            cached_features(predictor.model, images)
