"""The one SQLite file under the state folder, shared by the leaderboard and the durable runs.

Each operation opens its own connection (threads never share one) and runs in one
transaction: committed whole when the block ends, rolled back if it raises, then closed.
WAL mode lets readers go on while one writer writes; writers wait up to `BUSY_TIMEOUT_S`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_S = 30.0


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
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        try:
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(self.schema)
                self._add_columns(conn)
                conn.executescript(self.after)
                self._ready = True
            with conn:  # one transaction: commit on success, roll back on error
                yield conn
        finally:
            conn.close()

    def _add_columns(self, conn: sqlite3.Connection) -> None:
        for name, sql in self.added.items():
            table, column = name.split(".")
            if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql}")
