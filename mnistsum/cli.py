"""How every command-line tool fails: data or checkpoint problems print the message and exit 2.

A missing MNIST folder or a corrupt weights file is a situation to explain, not a bug to
dump a traceback for; the exception's message already says what is wrong and how to fix
it. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

from .checkpoint import CheckpointError
from .data import DataMissingError

EXPECTED_ERRORS = (DataMissingError, CheckpointError)

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
