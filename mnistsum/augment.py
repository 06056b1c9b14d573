"""Batch augmentation that covers what people's drawings do to a digit.

Preprocessing already normalises size and position (20 px box, centre of mass), so the
geometric jitter stays mild; what drawings vary most is stroke thickness and slant. Everything
runs on whole batches on the training device; random numbers come from a CPU generator so a
seed gives the same augmentation on every device. How much of each is the recipe's call:
the `aug_*` settings of `TrainConfig`, recorded in every checkpoint.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import TrainConfig


def _uniform(size: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.empty(size).uniform_(low, high, generator=generator)


def change_thickness(images: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Thicken (amount > 0) or thin (amount < 0) strokes by blending with 3x3 dilations / an erosion.

    Each whole unit above 1 is one more dilation (2 = two full 3x3 dilations), which covers
    the broad brushes people draw with, loops filled in included. Thinned strokes are
    brightened back to full ink: a thin pen is thin, not faint, and preprocessing rescales
    a drawing's ink to full intensity anyway.
    """
    amount = amount.view(-1, 1, 1, 1)
    eroded = -F.max_pool2d(-images, 3, stride=1, padding=1)
    out = images + (-amount).clamp(0, 1) * (eroded - images)
    for step in range(math.ceil(float(amount.max().clamp_min(0)))):
        share = (amount - step).clamp(0, 1)
        out = out + share * (F.max_pool2d(out, 3, stride=1, padding=1) - out)
    return out / out.amax(dim=(1, 2, 3), keepdim=True).clamp_min(0.2)


def random_affine(
    size: int, cfg: TrainConfig, generator: torch.Generator, fit: torch.Tensor | None = None
) -> torch.Tensor:
    """(size, 2, 3) affine matrices in `affine_grid`'s normalized coordinates; `fit` (size,)
    scales each digit on top of the random scale."""
    angle = _uniform(size, -1, 1, generator) * math.radians(cfg.aug_rotation_deg)
    scale = _uniform(size, cfg.aug_scale_min, cfg.aug_scale_max, generator)
    if fit is not None:
        scale = scale * fit
    aspect = 1 + _uniform(size, -cfg.aug_aspect, cfg.aug_aspect, generator)
    shear = _uniform(size, -cfg.aug_shear, cfg.aug_shear, generator)
    shift = _uniform(2 * size, -1, 1, generator).view(size, 2) * (cfg.aug_shift_px / 14)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # The grid maps output -> input coordinates, so a scale s > 1 here shrinks the digit; invert it.
    sx, sy = 1 / (scale * aspect), aspect / scale
    theta = torch.zeros(size, 2, 3)
    theta[:, 0, 0] = sx * cos
    theta[:, 0, 1] = sx * (-sin + shear * cos)
    theta[:, 1, 0] = sy * sin
    theta[:, 1, 1] = sy * (cos + shear * sin)
    theta[:, :, 2] = shift
    return theta


def augment_batch(images: torch.Tensor, generator: torch.Generator, cfg: TrainConfig) -> torch.Tensor:
    """images: (B, 1, 28, 28) in [0, 1] on any device -> augmented batch, same shape and device."""
    size = images.shape[0]
    thickness = _uniform(size, cfg.aug_thickness_min, cfg.aug_thickness_max, generator)  # on the CPU
    images = change_thickness(images, thickness.to(images.device))
    # Preprocessing fits a thick pen's drawing, ink and all, into MNIST's 20 px box; each
    # dilation grows the box by 2 px, so shrink the thickened digit back by as much.
    fit = 20 / (20 + 2 * thickness.clamp_min(0)) if cfg.aug_thickness_refit else None
    theta = random_affine(size, cfg, generator, fit).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
