"""The Train tab's form, declared once: each field is the form's component *and* a parameter of
the `/train_start` endpoint (same name, same default), so the page and the API cannot drift.

A field is a `TrainConfig` setting (checked by `apply_values` and `TrainConfig`), except the
nickname, which only names the run on the leaderboard, and the class code, which a deployment
with `MNISTSUM_CLASS_CODE` asks for (the box is shown only there). The limits the form offers
are the library's (`mnistsum.jobs.PAGE_LIMITS`, tightened by the policy), and the same policy
checks every run, so an API call gets no more than the page.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from mnistsum.config import TrainConfig, apply_values
from mnistsum.jobs import PAGE_LIMITS, JobStatus, TrainingPolicy, submit_run
from mnistsum.model import FUSIONS, NETWORKS
from mnistsum.precision import PRECISIONS, precision_name, resolve_precision
from mnistsum.train import pick_device

from .state import AppState, request_address

NOT_CONFIG = ("nickname", "class_code")  # fields that are not training settings


@dataclass(frozen=True)
class Caps:
    """What the form offers on this deployment: the page's limits within the policy's."""

    epochs: int
    images: int
    batch_sizes: list[int]
    needs_code: bool = False

    @classmethod
    def of(cls, policy: TrainingPolicy) -> Caps:
        return cls(
            epochs=policy.max_epochs,
            images=policy.max_limit,
            batch_sizes=[b for b in PAGE_LIMITS.batch_sizes if b <= policy.max_batch_size],
            needs_code=policy.needs_class_code,
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
    low, step = PAGE_LIMITS.min_images, PAGE_LIMITS.images_step
    return gr.Slider(
        low, caps.images, value=min(value, caps.images), step=step, label="Training images", elem_id="train-limit"
    )


def _precision(value: str, caps: Caps) -> gr.Radio:
    here = precision_name(resolve_precision("auto", pick_device()))
    return gr.Radio(
        list(PRECISIONS),
        value=value,
        label="Number format",
        info=f"auto: bf16 where the server computes it natively (faster), else fp32; on this server auto is {here}",
    )


FIELDS = (
    Field(
        "nickname",
        str,
        lambda base: "",
        lambda value, caps: gr.Textbox(
            value,
            label="Your nickname (shown on the class leaderboard)",
            max_length=PAGE_LIMITS.nickname_max,
            elem_id="train-nickname",
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
        lambda value, caps: gr.Number(
            value, label="Learning rate", minimum=PAGE_LIMITS.min_lr, maximum=PAGE_LIMITS.max_lr, step=1e-3
        ),
    ),
    Field(
        "seed",
        int,
        lambda base: base.seed,
        lambda value, caps: gr.Number(
            value,
            label="Seed",
            precision=0,
            minimum=0,
            info="yours; same settings, other seeds: the spread",
            elem_id="train-seed",
        ),
    ),
    Field(
        "augment",
        bool,
        lambda base: base.augment,
        lambda value, caps: gr.Checkbox(value, label="Augment (shifts, rotations, stroke width)"),
    ),
    Field("limit", int, lambda base: base.limit or PAGE_LIMITS.max_images, _limit),
    Field(
        "download",
        bool,
        lambda base: False,
        lambda value, caps: gr.Checkbox(value, label="Download MNIST if missing (needs internet)"),
    ),
    Field(  # last: API callers who pass the fields by position keep their order
        "class_code",
        str,
        lambda base: "",
        lambda value, caps: gr.Textbox(
            value,
            label="Class code (from your teacher)",
            max_length=128,
            visible=caps.needs_code,
            elem_id="train-class-code",
        ),
    ),
    Field("precision", str, lambda base: base.precision, _precision),  # after class_code, for the same reason
)
NAMES = tuple(field.name for field in FIELDS)
ROWS = (
    ("class_code", "nickname", "arch", "fusion"),
    ("epochs", "batch_size", "lr", "seed"),
    ("limit", "precision", ("augment", "download")),
)


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
    """`(request, token, nickname, arch, ...)`: the parameters `/train_start` takes, with the form's defaults.
    Gradio fills `request` (the caller's address) itself; API callers never see it."""
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    request = inspect.Parameter("request", keyword, annotation=gr.Request)
    token = inspect.Parameter("token", keyword, annotation=str)
    fields = [inspect.Parameter(f.name, keyword, default=f.default(base), annotation=f.type) for f in FIELDS]
    return inspect.Signature([request, token, *fields], return_annotation=dict)


def submit(app: AppState, base: TrainConfig, request: Any, token: str, *values: Any) -> JobStatus:
    """Queue the form's run (values in `FIELDS` order) for this visitor, counted against the client
    address of `request`: the class code, the nickname and the settings checked against the policy,
    stored to survive a restart, and a leaderboard row under its nickname once it completes."""
    settings = dict(zip(NAMES, values, strict=True))
    nickname, code = (settings.pop(name) for name in NOT_CONFIG)
    cfg = apply_values(base, settings)  # the types here, the ranges in TrainConfig and the policy
    address = request_address(request, app.policy)
    return submit_run(app.queue, app.board, token, cfg, nickname, app.policy, class_code=code, address=address)
