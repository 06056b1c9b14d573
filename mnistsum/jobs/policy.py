"""What a deployment lets visitors train, read once from the environment at startup.

A public Space or a classroom server is shared: caps on epochs, images and batch size bound
what one run costs, the number of workers bounds how many run at once (predictions keep the
remaining cores), and the queue cap bounds how many may wait. A malformed value stops the
app at startup with a message rather than half-working mid-lesson.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config import TrainConfig
from .queue import default_workers

TRAINING_ENV = "MNISTSUM_TRAINING"
MAX_EPOCHS_ENV = "MNISTSUM_MAX_EPOCHS"
MAX_LIMIT_ENV = "MNISTSUM_MAX_LIMIT"
MAX_BATCH_SIZE_ENV = "MNISTSUM_MAX_BATCH_SIZE"
WORKERS_ENV = "MNISTSUM_TRAIN_WORKERS"
MAX_QUEUE_ENV = "MNISTSUM_MAX_QUEUE"
DEFAULT_MAX_QUEUE = 60  # two classes of thirty
_ON, _OFF = {"1", "on", "true", "yes"}, {"0", "off", "false", "no"}


class PolicyError(ValueError):
    """The request is outside what this deployment allows; the message says which limit."""


@dataclass(frozen=True)
class TrainingPolicy:
    """What this deployment lets visitors train; unlimited unless the environment says otherwise."""

    enabled: bool = True
    max_epochs: int | None = None
    max_limit: int | None = None  # most training images per run
    max_batch_size: int | None = None
    workers: int = field(default_factory=default_workers)  # runs at once; the rest wait in the queue
    max_queue: int = DEFAULT_MAX_QUEUE  # most runs waiting

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrainingPolicy:
        """Read the MNISTSUM_* variables; a malformed value raises ValueError at startup, not mid-demo."""
        env = os.environ if environ is None else environ
        switch = env.get(TRAINING_ENV, "on").strip().lower()
        if switch not in _ON | _OFF:
            raise ValueError(f"{TRAINING_ENV} must be 'on' or 'off', got {env[TRAINING_ENV]!r}")
        return cls(
            enabled=switch in _ON,
            max_epochs=_positive_int(env, MAX_EPOCHS_ENV),
            max_limit=_positive_int(env, MAX_LIMIT_ENV),
            max_batch_size=_positive_int(env, MAX_BATCH_SIZE_ENV),
            workers=_positive_int(env, WORKERS_ENV) or default_workers(),
            max_queue=_positive_int(env, MAX_QUEUE_ENV) or DEFAULT_MAX_QUEUE,
        )

    def check(self, cfg: TrainConfig) -> None:
        """Raise `PolicyError` if `cfg` asks for more than this deployment allows."""
        if not self.enabled:
            raise PolicyError(
                f"training is switched off on this deployment ({TRAINING_ENV}=off), to keep it responsive "
                "for everyone; train on your own machine with `python -m mnistsum.train --preset class`"
            )
        caps = (
            ("epochs", cfg.epochs, self.max_epochs, MAX_EPOCHS_ENV),
            ("training subset size", cfg.limit, self.max_limit, MAX_LIMIT_ENV),
            ("batch size", cfg.batch_size, self.max_batch_size, MAX_BATCH_SIZE_ENV),
        )
        for what, value, cap, env in caps:
            if cap is not None and (value is None or value > cap):
                shown = "the full training set" if value is None else f"{value:,}"
                raise PolicyError(f"{what} {shown} is above this deployment's cap of {cap:,} ({env})")

    def describe(self) -> str:
        """One line for the UI; empty when nothing is limited."""
        if not self.enabled:
            return f"Training is switched off on this deployment ({TRAINING_ENV}=off)."
        caps = [
            f"{label} {cap:,}"
            for label, cap in (
                ("epochs", self.max_epochs),
                ("training images", self.max_limit),
                ("batch size", self.max_batch_size),
            )
            if cap is not None
        ]
        return f"This deployment caps training at: {', '.join(caps)}." if caps else ""


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)
