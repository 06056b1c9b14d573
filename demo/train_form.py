"""The Train tab's form, declared once: each field is the form's component *and* a parameter of
the `/train_start` endpoint (same name, same default), so the page and the API cannot drift.

A field is a `TrainConfig` setting (checked by `apply_values` and `TrainConfig`), except the
nickname, which only names the run on the leaderboard.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from mnistsum.config import TrainConfig, apply_values
from mnistsum.jobs import JobStatus, TrainingPolicy, leaderboard_recorder, start_training
from mnistsum.model import FUSIONS, NETWORKS

from .state import AppState

TRAIN_IMAGES = 60_000
UI_MAX_EPOCHS = 30
BATCH_SIZES = [32, 64, 128, 256, 512, 1024]


@dataclass(frozen=True)
class Caps:
    """What the form offers on this deployment: the page's limits within the policy's."""

    epochs: int
    images: int
    batch_sizes: list[int]

    @classmethod
    def of(cls, policy: TrainingPolicy) -> Caps:
        cap = policy.max_batch_size
        return cls(
            epochs=min(UI_MAX_EPOCHS, policy.max_epochs or UI_MAX_EPOCHS),
            images=min(TRAIN_IMAGES, policy.max_limit or TRAIN_IMAGES),
            batch_sizes=[b for b in BATCH_SIZES if cap is None or b <= cap],
        )


@dataclass(frozen=True)
class Field:
    """One form field: its API type, its default (from the preset) and its component."""

    name: str
    type: type
    default: Callable[[TrainConfig], Any]
    component: Callable[[Any, Caps], gr.components.Component]


def _backbone(value: str, caps: Caps) -> gr.Dropdown:
    return gr.Dropdown(
        [(f"{name}: {network.title}", name) for name, network in NETWORKS.items()],
        value=value,
        label="Backbone",
        info=" · ".join(f"{name}: {network.description}" for name, network in NETWORKS.items()),
    )


def _limit(value: int, caps: Caps) -> gr.Slider:
    return gr.Slider(
        500, caps.images, value=min(value, caps.images), step=500, label="Training images", elem_id="train-limit"
    )


FIELDS = (
    Field(
        "nickname",
        str,
        lambda base: "",
        lambda value, caps: gr.Textbox(
            value, label="Your nickname (shown on the class leaderboard)", max_length=32, elem_id="train-nickname"
        ),
    ),
    Field("arch", str, lambda base: base.arch, _backbone),
    Field(
        "fusion",
        str,
        lambda base: base.fusion,
        lambda value, caps: gr.Dropdown(
            list(FUSIONS), value=value, label="Fusion", info="how the sum head meets n (the exercise used add)"
        ),
    ),
    Field(
        "epochs",
        int,
        lambda base: base.epochs,
        lambda value, caps: gr.Slider(
            1, caps.epochs, value=min(value, caps.epochs), step=1, label="Epochs", elem_id="train-epochs"
        ),
    ),
    Field(
        "batch_size",
        int,
        lambda base: base.batch_size,
        lambda value, caps: gr.Dropdown(caps.batch_sizes, value=value, label="Batch size"),
    ),
    Field(
        "lr",
        float,
        lambda base: base.lr,
        lambda value, caps: gr.Number(value, label="Learning rate", minimum=0, step=1e-3),
    ),
    Field(
        "seed", int, lambda base: base.seed, lambda value, caps: gr.Number(value, label="Seed", precision=0, minimum=0)
    ),
    Field(
        "augment",
        bool,
        lambda base: base.augment,
        lambda value, caps: gr.Checkbox(value, label="Augment (shifts, rotations, stroke width)"),
    ),
    Field("limit", int, lambda base: base.limit or TRAIN_IMAGES, _limit),
    Field(
        "download",
        bool,
        lambda base: False,
        lambda value, caps: gr.Checkbox(value, label="Download MNIST if missing (needs internet)"),
    ),
)
NAMES = tuple(field.name for field in FIELDS)
ROWS = (("nickname", "arch", "fusion"), ("epochs", "batch_size", "lr", "seed"), ("limit", ("augment", "download")))


def build_form(base: TrainConfig, policy: TrainingPolicy) -> list[gr.components.Component]:
    """Lay out the fields in `ROWS` (a nested tuple is a column); returns them in `FIELDS` order."""
    caps, fields = Caps.of(policy), {field.name: field for field in FIELDS}
    made: dict[str, gr.components.Component] = {}
    for row in ROWS:
        with gr.Row():
            for item in row:
                names = item if isinstance(item, tuple) else (item,)
                with gr.Column(min_width=160) if isinstance(item, tuple) else contextlib.nullcontext():
                    for name in names:
                        made[name] = fields[name].component(fields[name].default(base), caps)
    return [made[name] for name in NAMES]


def api_signature(base: TrainConfig) -> inspect.Signature:
    """`(token, nickname, arch, ...)`: the parameters `/train_start` takes, with the form's defaults."""
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    token = inspect.Parameter("token", keyword, annotation=str)
    fields = [inspect.Parameter(f.name, keyword, default=f.default(base), annotation=f.type) for f in FIELDS]
    return inspect.Signature([token, *fields], return_annotation=dict)


def submit(app: AppState, base: TrainConfig, token: str, *values: Any) -> JobStatus:
    """Queue the form's run (values in `FIELDS` order) for this visitor; a finished run becomes a
    leaderboard row under its nickname. `apply_values` checks the types, `TrainConfig` the range."""
    settings = dict(zip(NAMES, values, strict=True))
    record = leaderboard_recorder(app.board, settings.pop("nickname"), token)
    return start_training(app.queue, token, apply_values(base, settings), app.policy, on_done=record)
