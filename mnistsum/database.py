"""The one SQLite file under the state folder, shared by the leaderboard and the durable runs.

Each operation opens its own connection (threads never share one) and runs in one
transaction: committed whole when the block ends, rolled back if it raises, then closed.
WAL mode lets readers go on while one writer writes; writers wait up to `BUSY_TIMEOUT_S`.
A file that cannot be used (corrupt, read-only, a full disk) raises `StorageError`, which names
the file and the fix instead of a bare `sqlite3.DatabaseError`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_S = 30.0


class StorageError(OSError):
    """The database file cannot be used: `str()` has its path and the fix (for whoever runs the
    server), `public` says the same without the server's paths (for a page)."""

    def __init__(self, path: Path, err: sqlite3.Error) -> None:
        text = str(err)
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            fix = f"move it aside (mv {path} {path}.bad) and restart: the leaderboard and run records start empty"
        elif "readonly" in text or "unable to open" in text or "permission" in text.lower():
            fix = (
                f"make {path} and its folder writable for the user the server runs as, or set "
                "MNISTSUM_STATE_DIR to a writable folder"
            )
        elif "full" in text or "I/O" in text:
            fix = f"free space on the disk that holds {path.parent}"
        else:
            fix = f"check {path}, or move it aside and restart"
        super().__init__(f"the database {path} cannot be used ({type(err).__name__}: {text}). Fix: {fix}")
        self.public = f"the server's database cannot be used ({text}); whoever runs the server finds the fix in its log"


class Database:
    """A table set (`schema`, idempotent `CREATE ... IF NOT EXISTS`) in the file at `path`,
    created on first use."""

    def __init__(self, path: str | Path, schema: str, added: dict[str, str] | None = None, after: str = "") -> None:
        """`added`: "table.column" -> SQL type, columns a later version added (given to an older file
        with ALTER TABLE); `after`: statements that need them (their indexes)."""
        self.path = Path(path)
        self.schema = schema
        self.added = added or {}
        self.after = after
        self._ready = False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as err:
            raise StorageError(self.path, err) from err
        try:
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(self.schema)
                self._add_columns(conn)
                conn.executescript(self.after)
                self._ready = True
            with conn:  # one transaction: commit on success, roll back on error
                yield conn
        except sqlite3.IntegrityError:
            raise  # the caller's mistake (a repeated id), not the file's
        except sqlite3.DatabaseError as err:
            raise StorageError(self.path, err) from err
        finally:
            conn.close()

    def _add_columns(self, conn: sqlite3.Connection) -> None:
        for name, sql in self.added.items():
            table, column = name.split(".")
            if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql}")
