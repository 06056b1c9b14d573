"""Saving a finished run from the app: a named checkpoint, atomically, never over another file.

Saves are bounded, so a script cannot fill the server's disk one name at a time (a model is
~1 MB): at most `SAVES_PER_VISITOR` per visitor and `MNISTSUM_MAX_CHECKPOINTS` in the folder.
Who saved which file is kept in `saved-by.json` beside them (the owner's tag, never the token).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .. import environment
from ..checkpoint import atomic_write_text, save_checkpoint
from ..config import SHIPPED_WEIGHTS
from ..leaderboard import owner_tag
from ..train import TrainResult, checkpoint_meta

SAVES_PER_VISITOR = 5
OWNERS_FILE = "saved-by.json"


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


def save_trained(result: TrainResult, name: str, directory: str | Path | None = None, owner: str | None = None) -> Path:
    """Save a finished run as `<name>.pt` atomically; refuses to replace an existing file, and a
    save beyond the folder's cap or (for `owner`, a visitor token) the visitor's."""
    path = checkpoint_path(name, directory)
    if path.exists():
        raise FileExistsError(f"{path.name} already exists; choose another name")
    kept = sorted(path.parent.glob("*.pt"))
    total = environment.MAX_CHECKPOINTS.get()
    if len(kept) >= total:
        raise PermissionError(
            f"this server already keeps {len(kept)} saved models, the most it allows "
            f"({environment.MAX_CHECKPOINTS.name}); ask whoever runs it to make room"
        )
    owners = _owners(path.parent)
    if owner is not None:
        tag = owner_tag(owner)
        mine = [n for n, t in owners.items() if t == tag and (path.parent / n).exists()]
        if len(mine) >= SAVES_PER_VISITOR:
            raise PermissionError(
                f"you have saved {len(mine)} models here, the most one visitor may ({', '.join(sorted(mine))})"
            )
        owners[path.name] = tag
    save_checkpoint(path, result.model, checkpoint_meta(result))
    if owner is not None:
        atomic_write_text(path.parent / OWNERS_FILE, json.dumps(owners, sort_keys=True))
    return path


def prune_oldest(directory: str | Path, most: int) -> list[Path]:
    """Delete the oldest `*.pt` files in `directory` beyond `most` (visitors' chosen models, which a
    visitor loads back after a restart: bounded like the saves); returns what was deleted."""
    files = sorted(Path(directory).glob("*.pt"), key=lambda p: p.stat().st_mtime)
    gone = files[: max(0, len(files) - most)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def _owners(directory: Path) -> dict[str, str]:
    """File name -> its saver's tag, for the files still there."""
    try:
        found = json.loads((directory / OWNERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {n: t for n, t in found.items() if (directory / n).exists()} if isinstance(found, dict) else {}
