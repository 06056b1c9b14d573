"""The one place where a training run is described.

`TrainConfig` is shared by the CLI (`python -m mnistsum.train`), the Train tab, the
benchmark and the tests, so a run started from any of them means the same thing.
Named presets are complete recipes: `TrainConfig.preset("shipped")` reproduces the
weights in `weights/`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
NUM_DIGITS = 10
NUM_SUMS = 19  # digit + n ranges over 0..18

ARCHS = ("default", "wide", "seed")
FUSIONS = ("concat", "add")
LOSSES = ("cross_entropy", "softmax_cross_entropy")
SCHEDULES = ("onecycle", "constant")
OPTIMIZERS = ("adamw", "adam")

DATA_ENV = "MNISTSUM_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_WEIGHTS = REPO_ROOT / "weights" / "mnistsum.pt"


def default_data_dir() -> str:
    """`$MNISTSUM_DATA` if set, else `./data` (torchvision's layout below it)."""
    return os.environ.get(DATA_ENV) or "data"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; frozen so a run cannot drift."""

    arch: str = "default"  # backbone: "default" (ours), "wide" (ours, 2.4x compute) or "seed" (the exercise's)
    fusion: str = "concat"  # how the sum head meets n: "concat" (ours) or "add" (the exercise's)
    epochs: int = 1
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    schedule: str = "onecycle"
    loss: str = "cross_entropy"  # "softmax_cross_entropy" is the exercise's double softmax
    redraw_n: bool = True  # False: one n per image for the whole run, as the exercise did
    augment: bool = False
    ema_decay: float | None = None  # keep an exponential moving average of the weights; evaluate and return it
    limit: int | None = None  # train on the first `limit` images only
    seed: int = 0
    data_dir: str = dataclasses.field(default_factory=default_data_dir)
    download: bool = False
    device: str = "auto"  # "auto" picks cuda, then mps, then cpu
    eval_every_epoch: bool = True
    # > 0: metrics after each epoch but the last on the last `val_size` training images (held
    # out, never trained on), and the test set read once, after the last epoch; 0: the test set
    # after every epoch.
    val_size: int = 0

    def __post_init__(self) -> None:
        choices = {
            "arch": ARCHS,
            "fusion": FUSIONS,
            "loss": LOSSES,
            "schedule": SCHEDULES,
            "optimizer": OPTIMIZERS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be between 0 and 1 (exclusive) or None, got {self.ema_decay}")
        if self.val_size < 0:
            raise ValueError(f"val_size must be >= 0, got {self.val_size}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 or None, got {self.limit}")

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a (possibly older) dict, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "TrainConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


PRESETS: dict[str, dict[str, Any]] = {
    # One epoch on the full training set: the quick path to >= 99% digit accuracy.
    "quick": {},
    # The recipe behind weights/mnistsum.pt: augmentation that covers what drawings do, the
    # wider backbone, and a running average of the weights taken at a constant learning rate
    # (averaging the noisy high-rate iterates generalizes better than annealing them to a point).
    "shipped": {"arch": "wide", "epochs": 20, "augment": True, "lr": 4e-3, "schedule": "constant", "ema_decay": 0.999},
    # The course exercise as it was: its network, add-fusion, double softmax, fixed n, Adam.
    "exercise": {
        "arch": "seed",
        "fusion": "add",
        "loss": "softmax_cross_entropy",
        "redraw_n": False,
        "optimizer": "adam",
        "schedule": "constant",
        "lr": 1e-3,
        "weight_decay": 0.0,
    },
    # A classroom run: 5,000 images, a few seconds an epoch on one core. The curves come from
    # 500 held-out training images; the 10,000 test images are read once, for the final numbers.
    "class": {"epochs": 3, "limit": 5000, "batch_size": 64, "val_size": 500},
}
