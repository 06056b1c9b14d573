"""Checkpoints: written atomically, read without executing pickled code.

A checkpoint is `torch.save` of a plain dict -- a format tag, the state dict (tensors only)
and the metadata as a JSON string -- so `torch.load(weights_only=True)` can read it and
nothing in the file can run code on load. Writes go to a temporary file in the target's
folder and are renamed over it, so an interrupted save never leaves a half-written file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from .model import DualHeadNet

FORMAT = "mnistsum-checkpoint/1"


class CheckpointError(ValueError):
    """The file is missing, corrupt, or not an mnistsum checkpoint; the message says which."""


def _atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def library_versions() -> dict[str, str]:
    import torchvision

    from . import __version__

    return {
        "mnistsum": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
    }


def save_checkpoint(path: str | Path, model: DualHeadNet, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write weights + metadata atomically; returns the metadata as stored."""
    full_meta = {
        "arch": model.arch,
        "fusion": model.fusion,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": library_versions(),
        **(meta or {}),
    }
    state = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "meta": json.dumps(full_meta), "state_dict": state}
    _atomic_write(path, lambda f: torch.save(payload, f))
    return full_meta


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[DualHeadNet, dict[str, Any]]:
    """Load a checkpoint into a fresh model in eval mode; `CheckpointError` if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"weights file not found: {path}. Train one with `python -m mnistsum.train --preset shipped --out {path}`."
        )
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mnistsum checkpoint (expected format {FORMAT!r}).")
    try:
        meta = json.loads(payload["meta"])
        model = DualHeadNet(meta["arch"], meta["fusion"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} has a damaged or incompatible model: {err}") from err
    return model.to(device).eval(), meta
