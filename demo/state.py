"""What the app holds between requests: the shipped model, each visitor's own model, and the
services every tab shares (the job queue, the leaderboard, the deployment policy).

A visitor is a random token kept in the browser (see `demo.app`): it owns that browser's runs
and its choice of model. "Use these weights" changes the model for that token only; everyone
else keeps the shipped one (or their own). Trained models are held in memory up to a bound,
least recently used dropped first; a dropped visitor is told, and the model's file (written
when they chose it) loads it back.
"""

from __future__ import annotations

import collections
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from mnistsum import environment
from mnistsum.card import shipped_numbers
from mnistsum.checkpoint import CheckpointError, save_checkpoint
from mnistsum.config import REPO_ROOT, SHIPPED_WEIGHTS, default_data_dir
from mnistsum.jobs import (
    TRAINING_JOB,
    JobQueue,
    JobRefused,
    RunStore,
    TrainingPolicy,
    client_address,
    hold_state_folder,
    preload_data,
    prune_oldest,
    training_resumer,
)
from mnistsum.leaderboard import FILE_NAME, Leaderboard, owner_tag, state_dir
from mnistsum.predictor import Predictor
from mnistsum.race import RACE_FILE, ClassRace
from mnistsum.train import TrainResult, checkpoint_meta

if TYPE_CHECKING:
    from .handwriting import VisitorHandwriting

# What visitors and API callers can cause, and are told about rather than shown an error:
# bad values and wrong types (ValueError, which covers CheckpointError, PolicyError and
# BlankDrawingError: every check of a visitor's input raises it), missing data or an existing
# file (OSError), and the queue's refusals (a run already queued or running for this visitor, a
# full queue, someone else's run). Not TypeError: that is a bug, and it must surface as one.
REFUSALS = (ValueError, OSError, JobRefused)


def refusal(err: Exception) -> str:
    """A refusal as every tab's message line shows it."""
    return f"⚠️ {err}"


RETRAIN = "python -m mnistsum.train --preset shipped --out weights/mnistsum.pt"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")


def _shown(path: Path) -> str:
    """The path relative to the repo when it is inside it: shorter, and the same on every machine."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


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


def browser_secret(directory: Path) -> str:
    """The key that encrypts visitor tokens in browsers, kept in the state folder: a restarted
    server still reads the tokens it handed out, so visitors keep their starred leaderboard rows
    and their saved models. Created once, readable by this user only."""
    path = Path(directory) / "browser-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: of two processes starting at once, one writes it and both read the same
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


# --- models ---------------------------------------------------------------------------------


class ServedModel(NamedTuple):
    """The model one visitor's Predict and Learn tabs use, and what to tell them about it."""

    predictor: Predictor | None
    error: str | None  # why there is no predictor, with the fix
    source: str  # where the model came from, for the page to say
    notice: str | None = None  # e.g. their own model was dropped from memory
    numbers: str | None = None  # the shipped model's measured accuracy, for the page to show beside it


class ModelSlot:
    """The shipped model (or the weights at `path`), loaded once; what every visitor starts with.

    The three fields live in one tuple replaced in a single assignment, so a swap is never
    seen half done; a `Predictor` is immutable, so the old one stays valid for whoever
    still holds it.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        weights = Path(path) if path is not None else SHIPPED_WEIGHTS
        label = "shipped weights" if path is None else "weights"
        self.numbers = shipped_numbers() if path is None else None  # measured on the shipped file only
        self._state: tuple[Predictor | None, str | None, str]
        try:
            self._state = (Predictor.load(weights), None, f"{label} ({_shown(weights)})")
        except CheckpointError as err:
            fix = f"Fix: restore the file, train new weights with `{RETRAIN}`, or train a model in the Train tab."
            self._state = (None, f"{err}\n\n{fix}", "no model loaded")

    @property
    def predictor(self) -> Predictor | None:
        return self._state[0]

    @property
    def error(self) -> str | None:
        """What is wrong and how to fix it, while there is no predictor."""
        return self._state[1]

    @property
    def source(self) -> str:
        """Where the served model came from, for the UI to say."""
        return self._state[2]

    def served(self) -> ServedModel:
        predictor, error, source = self._state
        return ServedModel(predictor, error, source, numbers=self.numbers)

    def swap(self, predictor: Predictor, source: str) -> None:
        self.numbers = None
        self._state = (predictor, None, source)


class VisitorModels:
    """Each visitor's chosen model, at most `capacity` in memory, least recently used dropped first.

    A chosen model is also written to `directory/<owner tag>.pt` (atomically, one file per
    visitor, replaced by their next choice), so a dropped one can be loaded back.
    """

    def __init__(
        self, default: ModelSlot, directory: str | Path, capacity: int = environment.MAX_MODELS.default
    ) -> None:
        self.default = default
        self.directory = Path(directory)
        self.capacity = capacity
        self._lock = threading.Lock()
        self._held: collections.OrderedDict[str, ServedModel] = collections.OrderedDict()
        self._dropped: dict[str, str] = {}  # token -> the source line of the model that was dropped

    def for_visitor(self, token: str | None) -> ServedModel:
        """The model this visitor's predictions use: their own if they chose one and it is held, else the default."""
        with self._lock:
            if token and token in self._held:
                self._held.move_to_end(token)
                return self._held[token]
            dropped = self._dropped.get(token) if token else None
        served = self.default.served()
        if dropped is None:
            return served
        notice = (
            f"your model ({dropped}) was dropped from memory: this server holds {self.capacity} trained models "
            "at a time. Press **Reload my model** in the Train tab to load it back from its file"
        )
        return served._replace(source=f"{served.source}; {notice}", notice=notice)

    def use(self, token: str, result: TrainResult, source: str) -> Path:
        """Make a finished run this visitor's model: saved to its file, then held in memory."""
        path = self.path_for(token)
        save_checkpoint(path, result.model, {**checkpoint_meta(result), "source": source})
        prune_oldest(self.directory, environment.MAX_CHECKPOINTS.get())  # one file per visitor, and a bound
        self._hold(token, ServedModel(Predictor(result.model, checkpoint_meta(result)), None, source))
        return path

    def reload(self, token: str) -> ServedModel:
        """Load this visitor's model back from its file (after it was dropped); CheckpointError if there is none."""
        path = self.path_for(token)
        predictor = Predictor.load(path)
        source = predictor.meta.get("source") or f"your trained model ({path.name})"
        served = ServedModel(predictor, None, source)
        self._hold(token, served)
        return served

    def has_own(self, token: str | None) -> bool:
        """Whether this visitor chose a model of their own here (held, or in its file)."""
        with self._lock:
            held = bool(token) and token in self._held
        return held or (bool(token) and self.path_for(token).exists())

    def reset(self, token: str) -> None:
        """Back to the default model for this visitor (the file stays)."""
        with self._lock:
            self._held.pop(token, None)
            self._dropped.pop(token, None)

    def path_for(self, token: str) -> Path:
        return self.directory / f"{owner_tag(token)}.pt"

    def _hold(self, token: str, served: ServedModel) -> None:
        with self._lock:
            self._held[token] = served
            self._held.move_to_end(token)
            self._dropped.pop(token, None)
            while len(self._held) > self.capacity:
                gone, old = self._held.popitem(last=False)
                self._dropped[gone] = old.source


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
    handwriting: VisitorHandwriting | None = None  # each visitor's taught handwriting, on top of `models`
    board: Leaderboard | None = None
    race: ClassRace | None = None  # the class's one fusion race, outside the queue

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        hold_state_folder(self.state_dir)  # before reading a run: one server per folder (StateFolderBusy)
        if self.board is None:
            self.board = Leaderboard(self.state_dir / FILE_NAME)
        if self.queue is None:
            store = RunStore(self.board.path)
            self.queue = JobQueue(self.policy.workers, self.policy.max_queue, store=store)
            self.queue.restore({TRAINING_JOB: training_resumer(self.board)})
            if self.policy.enabled:
                preload_data(default_data_dir())  # the first run after launch does not wait for MNIST
        if self.models is None:
            self.models = VisitorModels(self.slot, self.state_dir / "models", environment.MAX_MODELS.get())
        if self.handwriting is None:
            from .handwriting import VisitorHandwriting  # it builds on VisitorModels, above

            self.handwriting = VisitorHandwriting(self.models, self.models.capacity)
        if self.race is None:
            teacher = environment.TEACHER_TOKEN.get() or None
            self.race = ClassRace(self.state_dir / RACE_FILE, teacher, self.policy)
