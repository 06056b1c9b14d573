"""What the app holds between requests: the services every tab shares (the models it serves,
`demo.models`; the job queue, the leaderboard, the deployment policy) and visitors' tokens.

A visitor is a random token kept in the browser (see `demo.app`): it owns that browser's runs
and its choice of model.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistsum import environment
from mnistsum.config import default_data_dir
from mnistsum.database import StorageError
from mnistsum.jobs import (
    TRAINING_JOB,
    JobQueue,
    JobRefused,
    RunStore,
    TrainingPolicy,
    client_address,
    hold_state_folder,
    preload_data,
    training_resumer,
)
from mnistsum.jobs.lock import browser_secret as browser_secret  # the browser key lives beside the lock
from mnistsum.leaderboard import FILE_NAME, Leaderboard, state_dir
from mnistsum.race import RACE_FILE, ClassRace

from .handwriting import VisitorHandwriting
from .models import ModelSlot, VisitorModels

log = logging.getLogger(__name__)

# What visitors and API callers can cause, and are told about rather than shown an error:
# bad values and wrong types (ValueError, which covers CheckpointError, PolicyError and
# BlankDrawingError: every check of a visitor's input raises it), missing data or an existing
# file (OSError), and the queue's refusals (a run already queued or running for this visitor, a
# full queue, someone else's run). Not TypeError: that is a bug, and it must surface as one.
REFUSALS = (ValueError, OSError, JobRefused)


def refusal(err: Exception) -> str:
    """A refusal as every tab's message line shows it."""
    return f"⚠️ {err}"


TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")

# --- visitors -------------------------------------------------------------------------------


def new_token() -> str:
    """A visitor token: 128 random bits, unguessable, so holding it is what proves ownership."""
    return secrets.token_urlsafe(16)


def request_address(request: Any, policy: TrainingPolicy) -> str | None:
    """The client address a Gradio request counts against (see `mnistsum.jobs.address`): the TCP
    peer, or behind `policy.proxy_hops` trusted proxies the address the outermost one saw."""
    if request is None or getattr(request, "client", None) is None:
        return None
    headers = request.headers
    values = headers.getlist("x-forwarded-for") if hasattr(headers, "getlist") else [headers.get("x-forwarded-for")]
    forwarded = ", ".join(v for v in values if v)
    return client_address(request.client.host, forwarded or None, policy.proxy_hops)


def check_token(token: Any) -> str:
    """The token if well formed, else a ValueError that says what a token is and where to get one."""
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        raise ValueError(
            "a visitor token is required: 16-128 letters, digits, '-' or '_' (the page keeps one per browser; "
            "API callers get one from /visitor_token and pass it to every /train_* call)"
        )
    return token


# --- what every tab shares ------------------------------------------------------------------


@dataclass
class AppState:
    """The services behind one app: built once by `demo.app.build_app`, handed to each tab.

    The queue keeps every run's record in the leaderboard's database and picks up what a
    restart left: queued runs start again in order, a running one is marked interrupted."""

    slot: ModelSlot = field(default_factory=ModelSlot)
    policy: TrainingPolicy = field(default_factory=TrainingPolicy.from_env)
    state_dir: Path = field(default_factory=state_dir)
    queue: JobQueue | None = None
    models: VisitorModels | None = None
    handwriting: VisitorHandwriting | None = None  # applies and fits visitors' stored handwriting; keeps none
    board: Leaderboard | None = None
    race: ClassRace | None = None  # the class's one fusion race, outside the queue
    storage_error: str | None = None  # why the run database cannot be used (path and fix), if it cannot

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        hold_state_folder(self.state_dir)  # before reading a run: one server per folder (StateFolderBusy)
        if self.board is None:
            self.board = Leaderboard(self.state_dir / FILE_NAME)
        if self.queue is None:
            try:
                store = RunStore(self.board.path)
                self.queue = JobQueue(self.policy.workers, self.policy.max_queue, store=store)
                self.queue.restore({TRAINING_JOB: training_resumer(self.board)})
            except StorageError as err:  # the Predict tab works without it; training waits for the fix
                log.error("%s. Until then training is off; drawing and predicting work.", err)
                self.storage_error = str(err)
                self.policy = dataclasses.replace(self.policy, off_reason=err.public)
                self.queue = JobQueue(self.policy.workers, self.policy.max_queue)
            if self.policy.enabled and not self.storage_error:
                preload_data(default_data_dir())  # the first run after launch does not wait for MNIST
        if self.models is None:
            self.models = VisitorModels(self.slot, self.state_dir / "models", environment.MAX_MODELS.get())
        if self.handwriting is None:
            self.handwriting = VisitorHandwriting(self.models)
        if self.race is None:
            teacher = environment.TEACHER_TOKEN.get() or None
            self.race = ClassRace(self.state_dir / RACE_FILE, teacher, self.policy)
