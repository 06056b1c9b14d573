"""What a deployment lets visitors train, read once from the environment at startup.

A public Space or a classroom server is shared, and every way in -- the Train tab and the
API -- must keep the same limits. So the Train tab's own limits (`PAGE_LIMITS`: epochs,
training images, batch size, a finite learning rate in range, nickname length) are the
default for everyone, and a deployment's caps can only tighten them. The number of workers
bounds how many runs go at once (predictions keep the remaining cores), the queue cap how
many may wait, and the per-address bound how many one client address may hold.

A class code (`MNISTSUM_CLASS_CODE`, set by the teacher) makes training a class's privilege:
without it visitors still draw and predict, and are told how to train on their own machine.
The code also tells a class of thirty behind one school address from a script with thirty
tokens, which the address alone cannot: with the code, an address may hold
`runs_per_address_with_code` runs instead of `runs_per_address`.

A malformed value stops the app at startup with a message rather than half-working mid-lesson.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import environment
from ..config import TrainConfig
from ..leaderboard import NICKNAME_MAX, plain_nickname
from .queue import default_workers

TRAIN_LOCALLY = "`pip install -r requirements.txt`, then `python -m mnistsum.train --preset class` (or `python app.py`)"
_ON, _OFF = {"1", "on", "true", "yes"}, {"0", "off", "false", "no"}


@dataclass(frozen=True)
class PageLimits:
    """The Train tab's limits: what the form offers, and what every API call is held to."""

    max_epochs: int = 30
    max_images: int = 60_000  # the whole MNIST training set
    min_images: int = 500
    images_step: int = 500
    batch_sizes: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    min_lr: float = 1e-5
    max_lr: float = 1.0
    max_seed: int = 2**32 - 1  # what numpy and torch seed with; the page's box starts at 0
    nickname_max: int = NICKNAME_MAX


PAGE_LIMITS = PageLimits()


class PolicyError(ValueError):
    """The request is outside what this deployment allows; the message says which limit."""


class ClassCodeError(PolicyError):
    """Training here needs the class code, and it was missing or wrong."""


@dataclass(frozen=True)
class TrainingPolicy:
    """What this deployment lets visitors train: the page's limits unless the environment tightens them."""

    enabled: bool = True
    max_epochs: int = PAGE_LIMITS.max_epochs
    max_limit: int = PAGE_LIMITS.max_images  # most training images per run
    max_batch_size: int = PAGE_LIMITS.batch_sizes[-1]
    workers: int = field(default_factory=default_workers)  # runs at once; the rest wait in the queue
    max_queue: int = environment.MAX_QUEUE.default  # most runs waiting
    class_code: str | None = field(default=None, repr=False)  # never printed in a log
    runs_per_address: int = environment.RUNS_PER_ADDRESS.default  # queued or running, from one client address
    runs_per_address_with_code: int = environment.RUNS_PER_ADDRESS_WITH_CODE.default
    proxy_hops: int = 0  # trusted reverse proxies in front: X-Forwarded-For is read only when > 0
    off_reason: str | None = None  # training is off for this reason (e.g. the run database cannot be used)

    def __post_init__(self) -> None:
        for name, cap, page in (
            ("max_epochs", self.max_epochs, PAGE_LIMITS.max_epochs),
            ("max_limit", self.max_limit, PAGE_LIMITS.max_images),
            ("max_batch_size", self.max_batch_size, PAGE_LIMITS.batch_sizes[-1]),
        ):
            if not 1 <= cap <= page:
                raise ValueError(f"{name} must be between 1 and the page's limit of {page:,}, got {cap:,}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrainingPolicy:
        """Read the MNISTSUM_* variables (`mnistsum.environment`); a malformed value, or a cap above the
        page's own limit, raises ValueError at startup, not mid-demo."""
        return cls(
            enabled=environment.TRAINING.get(environ),
            max_epochs=_cap(environment.MAX_EPOCHS, PAGE_LIMITS.max_epochs, environ),
            max_limit=_cap(environment.MAX_LIMIT, PAGE_LIMITS.max_images, environ),
            max_batch_size=_cap(environment.MAX_BATCH_SIZE, PAGE_LIMITS.batch_sizes[-1], environ),
            workers=environment.TRAIN_WORKERS.get(environ) or default_workers(),
            max_queue=environment.MAX_QUEUE.get(environ),
            class_code=environment.CLASS_CODE.get(environ) or None,
            runs_per_address=environment.RUNS_PER_ADDRESS.get(environ),
            runs_per_address_with_code=environment.RUNS_PER_ADDRESS_WITH_CODE.get(environ),
            proxy_hops=environment.PROXY_HOPS.get(environ) or 0,
        )

    def check(self, cfg: TrainConfig) -> None:
        """Raise `PolicyError` if `cfg` asks for more than this deployment (or the page) allows."""
        if self.off_reason:
            raise PolicyError(self.off_reason)
        if not self.enabled:
            raise PolicyError(
                f"training is switched off on this deployment ({environment.TRAINING.name}=off), to keep it responsive "
                f"for everyone; train on your own machine: {TRAIN_LOCALLY}"
            )
        caps = (
            ("epochs", cfg.epochs, self.max_epochs, PAGE_LIMITS.max_epochs, environment.MAX_EPOCHS.name),
            ("training subset size", cfg.limit, self.max_limit, PAGE_LIMITS.max_images, environment.MAX_LIMIT.name),
            (
                "batch size",
                cfg.batch_size,
                self.max_batch_size,
                PAGE_LIMITS.batch_sizes[-1],
                environment.MAX_BATCH_SIZE.name,
            ),
        )
        for what, value, cap, page, env in caps:
            if value is None and cap >= PAGE_LIMITS.max_images:
                continue  # the full training set is what the page's largest subset is
            if value is None or value > cap:
                shown = "the full training set" if value is None else _short(value)
                raise PolicyError(f"{what} {shown} is above {_whose(cap, page, env)}")
        self._check_page_choices(cfg)
        lr = cfg.lr
        if not (math.isfinite(lr) and PAGE_LIMITS.min_lr <= lr <= PAGE_LIMITS.max_lr):
            raise PolicyError(
                f"learning rate {lr!r} is outside the range this server trains with "
                f"({PAGE_LIMITS.min_lr:g} to {PAGE_LIMITS.max_lr:g})"
            )

    def _check_page_choices(self, cfg: TrainConfig) -> None:
        """What the form offers and an API call could otherwise step outside: the batch sizes of its
        dropdown, the training images in its slider's steps, a seed in range, at least one epoch."""
        if cfg.batch_size not in PAGE_LIMITS.batch_sizes:
            raise PolicyError(
                f"batch size {cfg.batch_size:,} is not one the Train tab offers "
                f"({', '.join(map(str, PAGE_LIMITS.batch_sizes))})"
            )
        low, step = PAGE_LIMITS.min_images, PAGE_LIMITS.images_step
        if cfg.limit is not None and (cfg.limit < low or cfg.limit % step):
            raise PolicyError(
                f"training images {cfg.limit:,} is not one the Train tab offers ({low:,} to "
                f"{self.max_limit:,} in steps of {step:,})"
            )
        if not 0 <= cfg.seed <= PAGE_LIMITS.max_seed:
            raise PolicyError(f"seed must be between 0 and {PAGE_LIMITS.max_seed:,}, got {_short(cfg.seed)}")
        if cfg.epochs < 1:
            raise PolicyError(f"epochs must be at least 1, got {cfg.epochs}")

    def check_nickname(self, nickname: Any) -> str:
        """The nickname as it is stored (`plain_nickname`), or a `PolicyError` when that is longer than
        the page's box takes: what is measured is what is kept, in the runs table and the jobs table."""
        text = plain_nickname(nickname)
        if len(text) > PAGE_LIMITS.nickname_max:
            raise PolicyError(f"a nickname is at most {PAGE_LIMITS.nickname_max} characters, got {len(text):,}")
        return text

    @property
    def needs_class_code(self) -> bool:
        return bool(self.class_code)

    def check_class_code(self, given: Any) -> bool:
        """Whether `given` is this server's class code; `ClassCodeError` (saying how to train
        elsewhere) when a code is set and `given` is missing or wrong. Case and surrounding
        spaces do not matter: students type it from the board."""
        if not self.class_code:
            return False
        typed = "" if given is None else str(given).strip()
        if not typed:
            raise ClassCodeError(
                "training on this server is for a class: enter the class code your teacher gave you. "
                f"Without it you can still draw and predict here, and train on your own machine: {TRAIN_LOCALLY}"
            )
        if not hmac.compare_digest(typed.casefold().encode(), self.class_code.strip().casefold().encode()):
            raise ClassCodeError(
                "that is not this server's class code: check it with your teacher. You can still draw and "
                f"predict here, and train on your own machine: {TRAIN_LOCALLY}"
            )
        return True

    def address_limit(self, with_code: bool) -> int:
        """How many queued or running runs one client address may hold: more with the class code,
        which is what a class behind one school address has and a stranger's script does not."""
        return self.runs_per_address_with_code if with_code else self.runs_per_address

    def describe(self) -> str:
        """One line for the UI on what this deployment tightens; empty when it keeps the page's limits."""
        if self.off_reason:
            return f"Training is off: {self.off_reason}."
        if not self.enabled:
            return f"Training is switched off on this deployment ({environment.TRAINING.name}=off)."
        caps = [
            f"{label} {cap:,}"
            for label, cap, page in (
                ("epochs", self.max_epochs, PAGE_LIMITS.max_epochs),
                ("training images", self.max_limit, PAGE_LIMITS.max_images),
                ("batch size", self.max_batch_size, PAGE_LIMITS.batch_sizes[-1]),
            )
            if cap < page
        ]
        return f"This deployment caps training at: {', '.join(caps)}." if caps else ""


def _short(value: int) -> str:
    """A number as a message shows it: 10**400 is not 400 digits in a log line."""
    text = f"{value:,}"
    return text if len(text) <= 26 else f"a number of {len(str(abs(value)))} digits"


def _whose(cap: int, page: int, env: str) -> str:
    if cap < page:
        return f"this deployment's cap of {cap:,} ({env})"
    return f"the limit of {cap:,} that the Train tab and the API share"


def _cap(variable: environment.Variable, page: int, environ: Mapping[str, str] | None) -> int:
    """A deployment cap: at most the page's own limit (caps only tighten)."""
    value = variable.get(environ)
    if value is None:
        return page
    if value > page:
        raise ValueError(
            f"{variable.name}={value} is above the page's own limit of {page:,}: a cap can only tighten it"
        )
    return value
