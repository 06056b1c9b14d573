"""Saving a finished run from the app: a named checkpoint, atomically, never over another file."""

from __future__ import annotations

import re
from pathlib import Path

from .. import environment
from ..checkpoint import save_checkpoint
from ..config import SHIPPED_WEIGHTS
from ..train import TrainResult, checkpoint_meta


def checkpoint_dir() -> Path:
    """Where the app saves checkpoints: `$MNISTSUM_CHECKPOINT_DIR`, else ./checkpoints."""
    return environment.CHECKPOINT_DIR.get()


def checkpoint_path(name: str, directory: str | Path | None = None) -> Path:
    """A file inside `directory` for a user-typed name: no separators, no dot-files, never the shipped weights."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip().removesuffix(".pt")).strip(".-")[:64]
    if not stem:
        raise ValueError("give the checkpoint a name (letters, digits, '-', '_' and '.')")
    path = Path(directory if directory is not None else checkpoint_dir()) / f"{stem}.pt"
    if path.resolve() == SHIPPED_WEIGHTS.resolve():
        raise ValueError("the shipped weights are never overwritten from the app; choose another name")
    return path


def save_trained(result: TrainResult, name: str, directory: str | Path | None = None) -> Path:
    """Save a finished run as `<name>.pt` atomically; refuses to replace an existing file."""
    path = checkpoint_path(name, directory)
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose another name")
    save_checkpoint(path, result.model, checkpoint_meta(result))
    return path
