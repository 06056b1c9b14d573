"""The dual-head network: image -> digit logits, (digit evidence, n) -> sum logits.

`NETWORKS` is the one list of backbones and `FUSIONS` the one list of ways the sum head
meets n; the config's validation, the command line, the Train tab and the Learn tab all
read them, so a new network is one entry here. Backbones and fusions combine freely:

- fusion "concat": the sum head sees [softmax(digit logits), one_hot(n)] (20 numbers)
  through a hidden ReLU layer, so it can compute p(sum = s) = p(digit = s - n);
- fusion "add": the exercise's sum head, which sees digit logits + one_hot(n)
  (10 numbers) -- adding mixes "which digit" and "which n" into the same slots, so
  different (digit, n) pairs collide and the sum cannot be read back reliably.

The model takes images in [0, 1] and integer n; normalization and one-hot encoding
happen inside, so every caller (training, evaluation, the app) feeds it the same way.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
NUM_DIGITS = 10
NUM_SUMS = 19  # digit + n ranges over 0..18
IMAGE_SIZE = 28


def image_batch(images: Any, device: torch.device | str | None = None) -> torch.Tensor:
    """One 28x28 image or a stack of them -- numpy or torch, uint8 0..255 or float 0..1 --
    as the (B, 1, 28, 28) float32 batch in [0, 1] the model takes: the one conversion
    shared by training, evaluation, the predictor and the explainer."""
    x = torch.as_tensor(images, device=device)
    if x.ndim < 2 or tuple(x.shape[-2:]) != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected {IMAGE_SIZE}x{IMAGE_SIZE} images, got shape {tuple(x.shape)}")
    x = x.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
    return x.float().div_(255) if x.dtype == torch.uint8 else x.to(torch.float32)


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _pooled_cnn(stages: list[list[int]]) -> nn.Sequential:
    """Conv-BN-ReLU layers in three stages, each ending in a 2x2 max-pool (28 -> 14 -> 7 -> 3),
    then fc -> 128 -> dropout -> 10 digit logits. `stages` lists each stage's channel widths."""
    layers: list[nn.Module] = []
    c_in = 1
    for stage in stages:
        for c_out in stage:
            layers += _conv_bn(c_in, c_out)
            c_in = c_out
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(c_in * 3 * 3, 128),
        nn.ReLU(inplace=True),
        nn.Dropout(0.2),
        nn.Linear(128, NUM_DIGITS),
    )


def default_backbone() -> nn.Sequential:
    return _pooled_cnn([[16], [32], [64, 128]])


def wide_backbone() -> nn.Sequential:
    """`default` made wider, with a second conv at 14x14: more capacity where strokes are
    still a few pixels wide, at more compute per image than the one-epoch quick path wants."""
    return _pooled_cnn([[24], [48, 48], [96, 128]])


def wider_backbone() -> nn.Sequential:
    """`wide` with more channels at 28x28 and 14x14 and two full-width convs at 7x7: about
    1.6x its compute, a capacity step measured for the shipped weights (weights/MODEL_CARD.md)."""
    return _pooled_cnn([[32], [64, 64], [128, 128]])


def exercise_backbone() -> nn.Sequential:
    """The exercise's network: conv 1->16->32->64 (3x3, no padding), max-pool, conv 64->128, fc 10368->64->10."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3),  # 26x26
        nn.ReLU(),
        nn.Conv2d(16, 32, 3),  # 24x24
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),  # 22x22
        nn.ReLU(),
        nn.MaxPool2d(2),  # 11x11
        nn.Conv2d(64, 128, 3),  # 9x9
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * 9 * 9, 64),  # 10368 -> 64
        nn.ReLU(),
        nn.Linear(64, NUM_DIGITS),
    )


@dataclass(frozen=True)
class Network:
    """A backbone people can pick: how to build it, the fusion it comes with, and how the UI names it."""

    build: Callable[[], nn.Sequential]
    fusion: str
    title: str
    description: str


NETWORKS: dict[str, Network] = {
    "default": Network(default_backbone, "concat", "ours", "a small BatchNorm CNN, fast on a laptop CPU"),
    "wide": Network(wide_backbone, "concat", "ours, wider (the shipped weights)", "`default` with more channels"),
    "wider": Network(wider_backbone, "concat", "ours, wider still", "`wide` with more channels (1.6x its compute)"),
    "exercise": Network(exercise_backbone, "add", "the exercise's network", "the course exercise's CNN, as it was"),
}
# Names used before; checkpoints and metadata that carry them still load.
ARCH_ALIASES = {"seed": "exercise"}


@dataclass(frozen=True)
class Fusion:
    """How the sum head meets n: the vector it is given, and the head that reads it."""

    combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (digit logits, one-hot n) -> head input
    head: Callable[[], nn.Sequential]
    description: str


FUSIONS: dict[str, Fusion] = {
    "concat": Fusion(
        lambda logits, one_hot: torch.cat([logits.softmax(dim=1), one_hot], dim=1),
        lambda: nn.Sequential(nn.Linear(NUM_DIGITS * 2, 128), nn.ReLU(inplace=True), nn.Linear(128, NUM_SUMS)),
        "softmax(logits) ++ one_hot(n)",
    ),
    "add": Fusion(
        lambda logits, one_hot: logits + one_hot,
        lambda: nn.Sequential(nn.Linear(NUM_DIGITS, 20), nn.ReLU(), nn.Linear(20, NUM_SUMS)),
        "logits + one_hot(n)",
    ),
}


def _registered(kind: str, name: str, registry: dict[str, Any]) -> str:
    if name not in registry:
        raise ValueError(f"{kind} must be one of {', '.join(registry)}; got {name!r}")
    return name


def canonical_arch(name: str) -> str:
    """The registry name for `name` (old names map to new ones); ValueError for an unknown one."""
    return _registered("arch", ARCH_ALIASES.get(name, name), NETWORKS)


def check_n(n: Any) -> int:
    """n must be a whole number 0..9 (3 and 3.0 are fine; 3.5, True and '3' are not)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Real):
        raise ValueError(f"n must be a whole number from 0 to 9, got {n!r} ({type(n).__name__})")
    if not float(n).is_integer() or not 0 <= n < NUM_DIGITS:
        raise ValueError(f"n must be a whole number from 0 to 9, got {n!r}")
    return int(n)


class DualHeadNet(nn.Module):
    def __init__(self, arch: str = "default", fusion: str | None = None) -> None:
        super().__init__()
        self.arch = canonical_arch(arch)
        self.fusion = _registered("fusion", fusion or NETWORKS[self.arch].fusion, FUSIONS)
        self.backbone = NETWORKS[self.arch].build()
        self.sum_head = FUSIONS[self.fusion].head()
        self.register_buffer("mean", torch.tensor(MNIST_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(MNIST_STD), persistent=False)

    def digit_logits(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 1, 28, 28) floats in [0, 1], white ink on black, as MNIST."""
        return self.backbone((images - self.mean) / self.std)

    def fusion_input(self, digit_logits: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """The vector the sum head receives for digit logits and integer n."""
        return FUSIONS[self.fusion].combine(digit_logits, F.one_hot(n, NUM_DIGITS).to(digit_logits.dtype))

    def sum_logits(self, digit_logits: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        # In fp32 even under bf16 autocast: the head costs next to nothing, and bf16's three
        # significant digits blur the probabilities it reads (measured: sums lost on validation).
        with torch.autocast(digit_logits.device.type, enabled=False):
            return self.sum_head(self.fusion_input(digit_logits.float(), n))

    def forward(self, images: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        digit = self.digit_logits(images)
        return digit, self.sum_logits(digit, n)


def folded(model: DualHeadNet) -> DualHeadNet:
    """An eval-mode copy for inference with each BatchNorm folded into the convolution before it:
    the same function up to rounding, measured about a quarter less CPU per image. The caller's
    model is left as it was (training flag included), so this is safe on a model in use."""
    copied = copy.deepcopy(model).eval().requires_grad_(False)
    layers = list(copied.backbone)
    for i, (conv, bn) in enumerate(zip(layers, layers[1:])):
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            layers[i], layers[i + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    copied.backbone = nn.Sequential(*layers)
    return copied
