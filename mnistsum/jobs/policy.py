"""What a deployment lets visitors train, read once from the environment at startup.

A public Space or a classroom server is shared: caps on epochs, images and batch size bound
what one run costs, the number of workers bounds how many run at once (predictions keep the
remaining cores), and the queue cap bounds how many may wait. A malformed value stops the
app at startup with a message rather than half-working mid-lesson.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import environment
from ..config import TrainConfig
from .queue import default_workers


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
    max_queue: int = environment.MAX_QUEUE.default  # most runs waiting

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrainingPolicy:
        """Read the MNISTSUM_* variables; a malformed value raises ValueError at startup, not mid-demo."""
        return cls(
            enabled=environment.TRAINING.get(environ),
            max_epochs=environment.MAX_EPOCHS.get(environ),
            max_limit=environment.MAX_LIMIT.get(environ),
            max_batch_size=environment.MAX_BATCH_SIZE.get(environ),
            workers=environment.TRAIN_WORKERS.get(environ) or default_workers(),
            max_queue=environment.MAX_QUEUE.get(environ),
        )

    def check(self, cfg: TrainConfig) -> None:
        """Raise `PolicyError` if `cfg` asks for more than this deployment allows."""
        if not self.enabled:
            raise PolicyError(
                f"training is switched off on this deployment ({environment.TRAINING.name}=off), to keep it responsive "
                "for everyone; train on your own machine with `python -m mnistsum.train --preset class`"
            )
        caps = (
            ("epochs", cfg.epochs, self.max_epochs, environment.MAX_EPOCHS.name),
            ("training subset size", cfg.limit, self.max_limit, environment.MAX_LIMIT.name),
            ("batch size", cfg.batch_size, self.max_batch_size, environment.MAX_BATCH_SIZE.name),
        )
        for what, value, cap, env in caps:
            if cap is not None and (value is None or value > cap):
                shown = "the full training set" if value is None else f"{value:,}"
                raise PolicyError(f"{what} {shown} is above this deployment's cap of {cap:,} ({env})")

    def describe(self) -> str:
        """One line for the UI; empty when nothing is limited."""
        if not self.enabled:
            return f"Training is switched off on this deployment ({environment.TRAINING.name}=off)."
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
