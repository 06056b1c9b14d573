"""The one place where a training run is described.

`TrainConfig` holds the whole recipe -- network, optimisation, augmentation -- and is saved
in every checkpoint, so a file says exactly how it was made. The CLI (`python -m
mnistsum.train`), the Train tab, the benchmark and the tests all build one, so a run
started from any of them means the same thing. Named presets are complete recipes:
`TrainConfig.preset("shipped")` reproduces the weights in `weights/`.

A new setting is one field below: its metadata carries the help text, the allowed
choices, whether it belongs to the recipe, and (for settings added after checkpoints
were first written) the value runs used before it was recorded. `SETTINGS` lists the
fields for command lines and forms: `add_arguments`/`config_from_args` are the CLI,
`apply_values` takes a form's or an API call's values.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import environment
from .model import FUSIONS, NETWORKS, canonical_arch
from .precision import PRECISIONS

LOSSES = ("cross_entropy", "softmax_cross_entropy")
SCHEDULES = ("onecycle", "constant", "cooldown")
OPTIMIZERS = ("adamw", "adam")
PEN_WRITERS = ("train", "train+val")  # which writers of the pen set's split a run may learn from

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_WEIGHTS = REPO_ROOT / "weights" / "mnistsum.pt"


def default_data_dir() -> str:
    """`$MNISTSUM_DATA` if set, else `./data` (torchvision's layout below it)."""
    return str(environment.DATA.get())


_NOT_GIVEN = object()


def setting(
    default: Any = _NOT_GIVEN,
    help: str = "",
    *,
    choices: tuple[str, ...] | None = None,
    recipe: bool = True,
    legacy: Any = _NOT_GIVEN,
    default_factory: Any = _NOT_GIVEN,
) -> Any:
    """A `TrainConfig` field with what a command line or a form needs to know about it.

    recipe=False marks where and how a run executes (data folder, device), not what it
    learns. `legacy` is the value runs used before this field was recorded in checkpoints,
    so older metadata reads back as the recipe it really was."""
    metadata = {"help": help, "choices": choices, "recipe": recipe}
    if legacy is not _NOT_GIVEN:
        metadata["legacy"] = legacy
    if default_factory is not _NOT_GIVEN:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; frozen so a run cannot drift."""

    arch: str = setting("default", "backbone", choices=tuple(NETWORKS))
    fusion: str = setting("concat", "how the sum head meets n", choices=tuple(FUSIONS))
    epochs: int = setting(1, "passes over the training images")
    batch_size: int = setting(128, "images per step")
    lr: float = setting(3e-3, "learning rate (the peak rate for onecycle)")
    weight_decay: float = setting(1e-4, "weight decay")
    optimizer: str = setting("adamw", "optimizer", choices=OPTIMIZERS)
    schedule: str = setting(
        "onecycle",
        "learning-rate schedule; constant is none; cooldown holds lr, then takes it linearly to zero",
        choices=SCHEDULES,
    )
    cooldown: float = setting(
        0.3, "share of the last steps over which the cooldown schedule takes lr to zero", legacy=0.3
    )
    loss: str = setting("cross_entropy", "softmax_cross_entropy is the exercise's double softmax", choices=LOSSES)
    redraw_n: bool = setting(True, "draw a fresh n for every image every epoch (off: one n per image, as the exercise)")
    ema_decay: float | None = setting(
        None, "keep an exponential moving average of the weights (e.g. 0.999); evaluate and return it"
    )
    limit: int | None = setting(None, "train on the first LIMIT training images only")
    val_size: int = setting(
        0,
        "hold out the last VAL_SIZE training images: metrics on them after each epoch but the last, "
        "and the test set read once, after the last (0: the test set after every epoch)",
        legacy=0,
    )
    seed: int = setting(0, "random seed for the weights, the data order, n and augmentation")
    # Augmentation: every batch, on the training device (mnistsum/augment.py). The legacy
    # values are the ones checkpoints used before these settings were recorded.
    augment: bool = setting(False, "augment every batch with the aug_* settings below")
    aug_rotation_deg: float = setting(15.0, "largest rotation, degrees either way", legacy=15.0)
    aug_scale_min: float = setting(0.85, "smallest size factor", legacy=0.85)
    aug_scale_max: float = setting(1.15, "largest size factor", legacy=1.15)
    aug_aspect: float = setting(0.15, "largest relative x/y stretch", legacy=0.15)
    aug_shear: float = setting(0.3, "largest shear", legacy=0.3)
    aug_shift_px: float = setting(2.5, "largest shift, pixels either way", legacy=2.5)
    aug_thickness_min: float = setting(-0.6, "stroke thickness change, thinnest (-1: a 3x3 erosion)", legacy=-0.6)
    aug_thickness_max: float = setting(
        2.0, "stroke thickness change, thickest (+1, +2: one, two 3x3 dilations)", legacy=2.0
    )
    aug_thickness_refit: bool = setting(
        False,
        "shrink a thickened digit back into MNIST's 20 px box, as preprocessing does to a thick pen's drawing",
        legacy=False,
    )
    # Pen digits (mnistsum/pen.py) mixed into MNIST's training images: drawn on the 280 px pad
    # with the pen_* settings, `pen_copies` times each, by the `pen_writers` writers (never the test ones).
    pen_copies: int = setting(0, "augmented drawings of every pen digit mixed into training (0: MNIST only)", legacy=0)
    pen_writers: str = setting("train", "pen writers drawn for training", choices=PEN_WRITERS, legacy="train")
    pen_width_min: float = setting(6.0, "thinnest pen, px on the 280 px pad", legacy=6.0)
    pen_width_max: float = setting(40.0, "thickest pen, px on the 280 px pad", legacy=40.0)
    pen_box_min: float = setting(120.0, "smallest digit (its longer side), px on the pad", legacy=120.0)
    pen_box_max: float = setting(240.0, "largest digit (its longer side), px on the pad", legacy=240.0)
    pen_rotation_deg: float = setting(12.0, "largest rotation of the pen trajectory, degrees either way", legacy=12.0)
    pen_slant: float = setting(0.3, "largest slant of the trajectory (x shift per unit of height)", legacy=0.3)
    pen_aspect: float = setting(0.15, "largest relative x/y stretch of the trajectory", legacy=0.15)
    pen_jitter: float = setting(
        0.006, "a shaky hand: smooth wobble along the strokes, share of the digit's size", legacy=0.006
    )
    pen_styles: float = setting(
        0.0,
        "share of drawings of 0, 1, 7 and 9 rewritten in a style MNIST rarely has (slashed or dotted 0, "
        "flagged 1, crossed 7, curly-tailed 9; mnistsum.pen.add_style)",
        legacy=0.0,
    )
    # How the run executes, not what it learns.
    data_dir: str = setting(
        help=f"folder holding MNIST/raw/ (default: ${environment.DATA.name} or ./data)",
        recipe=False,
        default_factory=default_data_dir,
    )
    download: bool = setting(False, "download MNIST with torchvision if it is missing", recipe=False)
    device: str = setting("auto", "auto picks cuda, then mps, then cpu", recipe=False)
    precision: str = setting(
        "auto",
        "number format of the step: bf16 autocast where the hardware computes bf16 natively "
        "(auto: there only, else fp32; bf16 elsewhere is refused)",
        choices=PRECISIONS,
        recipe=False,
        legacy="fp32",
    )
    eval_every_epoch: bool = setting(True, "evaluate on the test set after every epoch", recipe=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", canonical_arch(self.arch))  # old names, e.g. "seed", read as today's
        for f in dataclasses.fields(self):
            choices = f.metadata["choices"]
            if choices is not None and getattr(self, f.name) not in choices:
                raise ValueError(f"{f.name} must be one of {', '.join(choices)}; got {getattr(self, f.name)!r}")
        checks = (
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 < self.cooldown <= 1, f"cooldown must be in (0, 1], got {self.cooldown}"),
            (
                self.ema_decay is None or 0 < self.ema_decay < 1,
                f"ema_decay must be between 0 and 1 (exclusive) or none, got {self.ema_decay}",
            ),
            (self.limit is None or self.limit >= 1, f"limit must be >= 1 or none, got {self.limit}"),
            (self.val_size >= 0, f"val_size must be >= 0, got {self.val_size}"),
            (
                0 < self.aug_scale_min <= self.aug_scale_max,
                f"need 0 < aug_scale_min <= aug_scale_max, got {self.aug_scale_min} and {self.aug_scale_max}",
            ),
            (
                -1 <= self.aug_thickness_min <= self.aug_thickness_max,
                f"need -1 <= aug_thickness_min <= aug_thickness_max, got {self.aug_thickness_min} and {self.aug_thickness_max}",
            ),
            (
                min(self.aug_rotation_deg, self.aug_aspect, self.aug_shear, self.aug_shift_px) >= 0,
                "aug_rotation_deg, aug_aspect, aug_shear and aug_shift_px must be >= 0",
            ),
            (self.pen_copies >= 0, f"pen_copies must be >= 0, got {self.pen_copies}"),
            (0 <= self.pen_styles <= 1, f"pen_styles must be between 0 and 1, got {self.pen_styles}"),
            (
                0 < self.pen_width_min <= self.pen_width_max and 0 < self.pen_box_min <= self.pen_box_max,
                "pen widths and boxes must be ranges of positive numbers (min <= max)",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def recipe(self) -> dict[str, Any]:
        """The fields that decide what a run learns (not where it runs): what two checkpoints
        must share to be the same recipe."""
        return {s.name: getattr(self, s.name) for s in SETTINGS if s.recipe}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Read a config a checkpoint recorded, possibly by an older version: a field it did
        not record takes its legacy value, keys this version does not know are ignored."""
        fields = dataclasses.fields(cls)
        legacy = {f.name: f.metadata["legacy"] for f in fields if "legacy" in f.metadata}
        known = {f.name for f in fields}
        return cls(**{**legacy, **{k: v for k, v in values.items() if k in known}})

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TrainConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


PRESETS: dict[str, dict[str, Any]] = {
    # One epoch on the full training set: the quick path to a model worth trying.
    "quick": {},
    # The recipe behind weights/mnistsum.pt: augmentation that covers what drawings do, pen
    # digits of every pen set's training and validation writers drawn `pen_copies` ways each (the
    # test writers are never drawn), the wider backbone, and a running average of the weights taken at a
    # constant learning rate that cools down to zero over the last 30% of the steps. All 60,000
    # MNIST training images: the choices were made on validation runs (weights/MODEL_CARD.md),
    # so no test curves are computed.
    "shipped": {
        "arch": "wide",
        "epochs": 20,
        "augment": True,
        "lr": 4e-3,
        "schedule": "cooldown",
        "cooldown": 0.3,
        "ema_decay": 0.999,
        "pen_copies": 6,
        "pen_writers": "train+val",
        "eval_every_epoch": False,
    },
    # The course exercise as it was: its network, add-fusion, double softmax, fixed n, Adam.
    "exercise": {
        "arch": "exercise",
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


# --- the fields as command lines and forms see them -------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One `TrainConfig` field, described for a command line or a form."""

    name: str
    type: type  # int, float, bool or str
    optional: bool  # None is allowed ("none" on the command line)
    default: Any
    help: str
    choices: tuple[str, ...] | None
    recipe: bool

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def coerce(self, value: Any) -> Any:
        """A form's or an API caller's value as this field's type: 3.0 is a fine int, 3.5 is not."""
        if value is None and self.optional:
            return None
        if self.type is bool and isinstance(value, bool):
            return value
        if self.type is int and not isinstance(value, bool):
            # an int as it is (float(10**400) overflows); a float only when whole
            if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
                return int(value)
        if self.type is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if self.type is str and isinstance(value, str):
            return value
        raise ValueError(f"{self.name} must be {'an' if self.type is int else 'a'} {self.type.__name__}, got {value!r}")

    def parse(self, text: str) -> Any:
        """A command-line string as this field's type ("none" for an optional field)."""
        if self.optional and text.lower() == "none":
            return None
        try:
            return self.type(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an' if self.type is int else 'a'} {self.type.__name__}"
            ) from None


def _settings() -> tuple[Setting, ...]:
    hints = typing.get_type_hints(TrainConfig)
    out = []
    for f in dataclasses.fields(TrainConfig):
        args = typing.get_args(hints[f.name])
        optional = type(None) in args
        kind = next(a for a in args if a is not type(None)) if args else hints[f.name]
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        out.append(
            Setting(f.name, kind, optional, default, f.metadata["help"], f.metadata["choices"], f.metadata["recipe"])
        )
    return tuple(out)


SETTINGS: tuple[Setting, ...] = _settings()


def apply_values(base: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """`base` with the given fields replaced by a form's or an API call's values (see `Setting.coerce`);
    ValueError names an unknown field or a bad value."""
    settings = {s.name: s for s in SETTINGS}
    unknown = sorted(set(values) - set(settings))
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    return base.replace(**{name: settings[name].coerce(value) for name, value in values.items()})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per `TrainConfig` field (`--batch-size`, `--augment/--no-augment`, ...);
    a flag left out is left out of the namespace too, so it keeps the preset's value."""
    group = parser.add_argument_group("training settings (override the preset)")
    for s in SETTINGS:
        text = s.help + (" ('none' for none)" if s.optional else "")
        if s.type is bool:
            group.add_argument(
                s.flag, dest=s.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text
            )
        else:
            metavar = s.name.upper() if s.choices is None else "{" + ",".join(s.choices) + "}"
            group.add_argument(s.flag, dest=s.name, type=s.parse, default=argparse.SUPPRESS, metavar=metavar, help=text)


def config_from_args(args: argparse.Namespace, preset: str) -> TrainConfig:
    """The preset with every flag that was given on top; ValueError names a bad value."""
    overrides = {s.name: getattr(args, s.name) for s in SETTINGS if hasattr(args, s.name)}
    return TrainConfig.preset(preset, **overrides)
