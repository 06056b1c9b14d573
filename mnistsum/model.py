"""The dual-head network: image -> digit logits, (digit evidence, n) -> sum logits.

Two backbones and two fusions, combined freely:

- backbone "default": a small BatchNorm CNN, fast on a laptop CPU;
- backbone "wide": the same design, wider, with 2.4x the compute: the shipped weights;
- backbone "seed": the course exercise's network, reproduced as it was;
- fusion "concat": the sum head sees [softmax(digit logits), one_hot(n)] (20 numbers)
  through a hidden ReLU layer, so it can compute p(sum = s) = p(digit = s - n);
- fusion "add": the exercise's sum head, which sees digit logits + one_hot(n)
  (10 numbers) -- adding mixes "which digit" and "which n" into the same slots, so
  different (digit, n) pairs collide and the sum cannot be read back reliably.

The model takes images in [0, 1] and integer n; normalization and one-hot encoding
happen inside, so every caller (training, evaluation, the app) feeds it the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import MNIST_MEAN, MNIST_STD, NUM_DIGITS, NUM_SUMS

ARCH_FUSION = {"default": "concat", "wide": "concat", "seed": "add"}


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
    """28x28 -> 10 logits; ~0.25M parameters, ~5.7M multiply-adds per image."""
    return _pooled_cnn([[16], [32], [64, 128]])


def wide_backbone() -> nn.Sequential:
    """The shipped model's backbone: `default` made wider, with a second conv at 14x14.

    ~0.34M parameters, ~13.9M multiply-adds per image (2.4x `default`): more capacity where
    strokes are still a few pixels wide. Too slow for the one-epoch quick path on a laptop,
    so it is used for the shipped weights.
    """
    return _pooled_cnn([[24], [48, 48], [96, 128]])


def seed_backbone() -> nn.Sequential:
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


def sum_head(fusion: str) -> nn.Sequential:
    if fusion == "concat":
        return nn.Sequential(nn.Linear(NUM_DIGITS * 2, 128), nn.ReLU(inplace=True), nn.Linear(128, NUM_SUMS))
    if fusion == "add":
        return nn.Sequential(nn.Linear(NUM_DIGITS, 20), nn.ReLU(), nn.Linear(20, NUM_SUMS))
    raise ValueError(f"unknown fusion {fusion!r}; choose 'concat' or 'add'")


class DualHeadNet(nn.Module):
    def __init__(self, arch: str = "default", fusion: str | None = None) -> None:
        super().__init__()
        backbones = {"default": default_backbone, "wide": wide_backbone, "seed": seed_backbone}
        if arch not in backbones:
            raise ValueError(f"unknown arch {arch!r}; choose from {sorted(backbones)}")
        self.arch = arch
        self.fusion = fusion or ARCH_FUSION[arch]
        self.backbone = backbones[arch]()
        self.sum_head = sum_head(self.fusion)
        self.register_buffer("mean", torch.tensor(MNIST_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(MNIST_STD), persistent=False)

    def digit_logits(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 1, 28, 28) floats in [0, 1], white ink on black, as MNIST."""
        return self.backbone((images - self.mean) / self.std)

    def fusion_input(self, digit_logits: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """The vector the sum head receives for digit logits and integer n."""
        one_hot = F.one_hot(n, NUM_DIGITS).to(digit_logits.dtype)
        if self.fusion == "concat":
            return torch.cat([digit_logits.softmax(dim=1), one_hot], dim=1)
        return digit_logits + one_hot

    def sum_logits(self, digit_logits: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        return self.sum_head(self.fusion_input(digit_logits, n))

    def forward(self, images: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        digit = self.digit_logits(images)
        return digit, self.sum_logits(digit, n)
