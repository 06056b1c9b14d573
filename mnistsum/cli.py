"""How every command-line tool fails: data, checkpoint or precision problems print the message and exit 2.

A missing MNIST folder or a corrupt weights file is a situation to explain, not a bug to
dump a traceback for; the exception's message already says what is wrong and how to fix
it. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError, atomic_write_text
from .config import REPO_ROOT
from .data import DataFormatError, DataMissingError
from .precision import PrecisionError

EXPECTED_ERRORS = (DataMissingError, DataFormatError, CheckpointError, PrecisionError)

Main = Callable[[list[str] | None], int]


def exits_cleanly(main: Main) -> Main:
    """Wrap a `main(argv) -> exit code`: expected errors become `error: ...` on stderr and exit 2."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except EXPECTED_ERRORS as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130

    return wrapper


def shown_path(path: str | Path) -> str:
    """A path as a report records it: relative to the repository when it lies inside it, so a
    committed report (weights/*.json) names no folder of the machine that measured it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


def publish(report: dict[str, Any], text: str, out: str | None, as_json: bool, indent: int = 2) -> None:
    """The report of a measuring tool: written to `out` as JSON (atomically, so a model card
    never reads half a file), and printed as JSON or as the human `text`."""
    data = json.dumps(report, indent=indent)
    if out:
        atomic_write_text(out, data + "\n")
    print(data if as_json else text)
