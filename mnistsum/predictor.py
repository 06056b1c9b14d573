"""Inference for people's drawings: what the app, notebooks and outside checks call.

    p = Predictor.load()            # the shipped weights
    r = p.predict(image, n=3)       # any-size uint8 drawing, n in 0..9
    r.digit, r.sum, r.digit_probs, r.sum_probs, r.model_input
    r.verdict.kind                  # "digit", "two_digits" or "not_a_digit" (r.verdict.reason says why)
    mine = p.adapt([image_a, image_b], [1, 7])   # a new Predictor that learned these (mnistsum.adapt)

A `Predictor` never changes after it is built, so the app can swap in a new one while
requests in flight finish on the old one, and many threads can share one. Adapting is
fitting the digit head's last layer (`mnistsum.lastlayer`, a floor below); the benchmark of
it is `mnistsum.adapt`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .config import SHIPPED_WEIGHTS
from .data import MnistSplit
from .lastlayer import (
    DEFAULT_SETTINGS,
    MAX_DRAWINGS,
    AdaptSettings,
    adapt_model,
    check_digits,
    last_layer,
    replay_set,
    with_last_layer,
)
from .model import NUM_DIGITS, NUM_SUMS, DualHeadNet, check_n, folded, image_batch
from .preprocess import preprocess
from .verdict import DIGIT, Verdict, verdict


class BlankDrawingError(ValueError):
    """Nothing was drawn (no ink, or only noise): we say so instead of guessing a digit."""


@dataclass(frozen=True)
class Prediction:
    n: int
    digit_logits: np.ndarray  # (10,), what the sum head is computed from
    digit_probs: np.ndarray  # (10,), sums to 1
    sum_probs: np.ndarray  # (19,), the learned sum head
    analytic_sum_probs: np.ndarray  # (19,), p(sum = s) = p_digit(s - n), for comparison
    model_input: np.ndarray  # (28, 28) float in [0, 1]: what the network saw
    stages: dict[str, np.ndarray]  # preprocessing stages, raw -> 28x28
    verdict: Verdict = DIGIT  # one digit, two digits or not a digit (`mnistsum.verdict`)

    @property
    def digit(self) -> int:
        return int(self.digit_probs.argmax())

    @property
    def sum(self) -> int:
        return int(self.sum_probs.argmax())

    @property
    def consistent(self) -> bool:
        """Does the sum head agree with digit + n?"""
        return self.sum == self.digit + self.n


def analytic_sum(digit_probs: np.ndarray, n: int) -> np.ndarray:
    """p(sum = s) = p(digit = s - n): the sum distribution implied by the digit head alone."""
    out = np.zeros(NUM_SUMS, dtype=digit_probs.dtype)
    out[n : n + NUM_DIGITS] = digit_probs
    return out


class Predictor:
    def __init__(self, model: DualHeadNet, meta: dict[str, Any] | None = None, net: DualHeadNet | None = None) -> None:
        self.model = model.eval()
        # what predictions run: BatchNorm folded into the convolutions (`net`: already folded, e.g. by `adapt`)
        self._net = net if net is not None else folded(model)
        self.meta = meta or {}
        self.device = next(model.parameters()).device

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "cpu") -> Predictor:
        """The shipped weights by default; raises `CheckpointError` (a ValueError) if unusable."""
        model, meta = load_checkpoint(path or SHIPPED_WEIGHTS, device=device)
        return cls(model, meta)

    def prepare(self, image: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Drawing -> (28x28 model input, preprocessing stages); `BlankDrawingError` if empty."""
        if not isinstance(image, np.ndarray):
            raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
        prepared = preprocess(image)
        if prepared.blank:
            raise BlankDrawingError("nothing drawn: the image has no ink")
        return prepared.image, prepared.stages

    @torch.inference_mode()
    def probabilities(self, images28: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batch path on already-preprocessed (B, 28, 28) inputs in [0, 1] -> (digit, sum) probs."""
        ns = torch.as_tensor(n, dtype=torch.long, device=self.device)
        digit_logits, sum_logits = self._net(image_batch(images28, self.device), ns)
        return digit_logits.softmax(1).cpu().numpy(), sum_logits.softmax(1).cpu().numpy()

    @torch.inference_mode()
    def predict(self, image: np.ndarray, n: int) -> Prediction:
        """One drawing (uint8, HxW or HxWxC, any size, either polarity) and n -> a `Prediction`."""
        n = check_n(n)
        model_input, stages = self.prepare(image)
        digit_logits, sum_logits = self._net(
            image_batch(model_input, self.device), torch.tensor([n], device=self.device)
        )
        digit_probs = digit_logits.softmax(1)[0].cpu().numpy()
        return Prediction(
            n=n,
            digit_logits=digit_logits[0].cpu().numpy(),
            digit_probs=digit_probs,
            sum_probs=sum_logits.softmax(1)[0].cpu().numpy(),
            analytic_sum_probs=analytic_sum(digit_probs, n),
            model_input=model_input,
            stages=stages,
            verdict=verdict(stages["ink"], digit_probs),
        )

    def adapt(
        self,
        drawings: Sequence[np.ndarray],
        digits: Sequence[Any],
        settings: AdaptSettings = DEFAULT_SETTINGS,
        replay: MnistSplit | None | str = "default",
    ) -> Predictor:
        """A new predictor adapted to these labelled drawings (any images `predict` takes, one
        digit 0..9 each; errors: `prepare_all`); this one is untouched. `replay` "default" reads
        MNIST from the data folder when it is there (`lastlayer.replay_set`); None adapts without
        replay (and its record says so)."""
        inputs, labels = prepare_all(self, drawings, digits)
        return self.adapt_inputs(inputs, labels, settings, replay)

    def adapt_inputs(
        self,
        inputs: np.ndarray,
        digits: Sequence[int],
        settings: AdaptSettings = DEFAULT_SETTINGS,
        replay: MnistSplit | None | str = "default",
    ) -> Predictor:
        """`adapt` on already-prepared (N, 28, 28) model inputs."""
        labels = check_digits(list(digits), len(inputs))
        if isinstance(replay, str):
            replay = replay_set(size=settings.replay)
        head = last_layer(adapt_model(self.model, inputs, labels, settings, replay))
        record = {
            "drawings": len(labels),
            "per_digit": np.bincount(labels, minlength=NUM_DIGITS).tolist(),
            "replay": 0 if replay is None else min(len(replay), settings.replay),
            "settings": dataclasses.asdict(settings),
        }
        return self.with_last_layer(head.weight.detach(), head.bias.detach(), {"adapted": record})

    def with_last_layer(self, weight: torch.Tensor, bias: torch.Tensor, meta: dict[str, Any]) -> Predictor:
        """This predictor with the digit head's last layer replaced (stored parameters applied):
        the rest is shared, not copied, so it costs one small layer. `meta` is added to its own."""
        head = last_layer(self.model)
        if tuple(weight.shape) != tuple(head.weight.shape) or tuple(bias.shape) != tuple(head.bias.shape):
            raise ValueError(
                f"a last layer of shape {tuple(weight.shape)} + {tuple(bias.shape)} does not fit this network's "
                f"{tuple(head.weight.shape)} + {tuple(head.bias.shape)}"
            )
        weight, bias = weight.to(self.device, head.weight.dtype), bias.to(self.device, head.bias.dtype)
        model = with_last_layer(self.model, weight, bias)
        net = with_last_layer(self._net, weight, bias)  # the folded network's last layer is the same layer
        return Predictor(model, {**self.meta, "base_sha256": self.weights_sha256, **meta}, net=net)

    @functools.cached_property
    def weights_sha256(self) -> str:
        """sha256 of every parameter and buffer (names, shapes, bytes): names these exact weights,
        wherever they came from (a file, a training run), so stored handwriting can say what it
        was fitted on."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            data = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
            digest.update(data.numpy().tobytes() if data.dtype != torch.bfloat16 else data.float().numpy().tobytes())
        return digest.hexdigest()

    @torch.inference_mode()
    def sum_table(self, source: Prediction | np.ndarray) -> np.ndarray:
        """(10, 19): the learned sum distribution for every n, for one drawing -- a `Prediction`
        (reuses its digit logits: only the small sum head runs) or a 28x28 model input.

        A working sum head shows a diagonal band shifted by one column per row.
        """
        if isinstance(source, Prediction):
            digit_logits = torch.as_tensor(source.digit_logits, device=self.device)[None]
        else:
            digit_logits = self._net.digit_logits(image_batch(source, self.device))
        ns = torch.arange(NUM_DIGITS, device=self.device)
        return self._net.sum_logits(digit_logits.expand(NUM_DIGITS, -1), ns).softmax(1).cpu().numpy()


def prepare_all(
    predictor: Predictor, drawings: Sequence[np.ndarray], digits: Sequence[Any]
) -> tuple[np.ndarray, list[int]]:
    """Drawings as `predict` takes them, one digit each -> ((N, 28, 28) model inputs, digits).

    ValueError (BlankDrawingError for an empty one) naming the first unusable drawing or digit,
    and for no drawings or more than `MAX_DRAWINGS`."""
    if isinstance(drawings, np.ndarray) and drawings.ndim == 2:
        raise ValueError("drawings must be a list of images (got one image: wrap it in a list)")
    if not 0 < len(drawings) <= MAX_DRAWINGS:
        raise ValueError(f"adapt to 1 to {MAX_DRAWINGS} drawings, got {len(drawings)}")
    labels = check_digits(digits, len(drawings))
    inputs = []
    for i, drawing in enumerate(drawings):
        try:
            inputs.append(predictor.prepare(drawing)[0])
        except BlankDrawingError as err:
            raise BlankDrawingError(f"drawing #{i} (labelled {labels[i]}): {err}") from err
        except ValueError as err:
            raise ValueError(f"drawing #{i} (labelled {labels[i]}): {err}") from err
    return np.stack(inputs), labels
