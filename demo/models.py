"""The models the app serves: the shipped one (`ModelSlot`) and each visitor's own (`VisitorModels`).

One floor below `demo.state` (the services every tab shares) and `demo.handwriting` (a
visitor's taught handwriting on top of these): both import it, it imports neither.

A visitor is a random token kept in the browser (see `demo.app`). "Use these weights" changes
the model for that token only; everyone else keeps the shipped one (or their own). Trained
models are held in memory up to a bound, least recently used dropped first; a dropped visitor
is told, and the model's file (written when they chose it) loads it back.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import NamedTuple

from mnistsum import environment
from mnistsum.card import shipped_numbers
from mnistsum.checkpoint import CheckpointError, save_checkpoint
from mnistsum.config import SHIPPED_WEIGHTS
from mnistsum.jobs import prune_oldest
from mnistsum.leaderboard import owner_tag
from mnistsum.predictor import Predictor
from mnistsum.train import TrainResult, checkpoint_meta

RETRAIN = "python -m mnistsum.train --preset shipped --out weights/mnistsum.pt"


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
        # Plain words for visitors: which model, never the server's file names.
        label = "the shipped weights" if path is None else "the weights this server was started with"
        self.numbers = shipped_numbers() if path is None else None  # measured on the shipped file only
        self._state: tuple[Predictor | None, str | None, str]
        try:
            self._state = (Predictor.load(weights), None, label)
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
        source = predictor.meta.get("source") or "your trained model"
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
