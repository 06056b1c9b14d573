"""The model the app serves, shared by every tab and every visitor."""

from __future__ import annotations

from pathlib import Path

from mnistsum.checkpoint import CheckpointError
from mnistsum.config import REPO_ROOT, SHIPPED_WEIGHTS
from mnistsum.jobs import JobBusyError
from mnistsum.predictor import Predictor

# What visitors and API callers can cause, and are told about rather than shown an error:
# bad values (ValueError, which covers CheckpointError, PolicyError and BlankDrawingError),
# wrong types, missing data or an existing file (OSError), a job already running.
REFUSALS = (TypeError, ValueError, OSError, JobBusyError)


def refusal(err: Exception) -> str:
    """A refusal as every tab's message line shows it."""
    return f"⚠️ {err}"


RETRAIN = "python -m mnistsum.train --preset shipped --out weights/mnistsum.pt"


def _shown(path: Path) -> str:
    """The path relative to the repo when it is inside it: shorter, and the same on every machine."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


class ModelSlot:
    """The predictor the app serves; the Train tab swaps it atomically (requests in flight finish on the old one).

    The three fields live in one tuple replaced in a single assignment, so a swap is never
    seen half done; a `Predictor` is immutable, so the old one stays valid for whoever
    still holds it.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        weights = Path(path) if path is not None else SHIPPED_WEIGHTS
        label = "shipped weights" if path is None else "weights"
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

    def swap(self, predictor: Predictor, source: str) -> None:
        self._state = (predictor, None, source)
