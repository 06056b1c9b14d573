"""Durable run records: every job the queue accepts is a row in the leaderboard's SQLite file.

A server restart (a Space rebuild, a laptop lid) must not drop a class's runs without a
word. So each change of a job -- queued, running, stopping, and how it ended -- is written
in one transaction to a `jobs` table beside the leaderboard's `runs` table (same file, WAL,
one connection per operation, like `mnistsum.leaderboard`). At start-up `JobQueue.restore`
reads it back: queued runs start again in their order, a run that was running is marked
`interrupted`, and each visitor's latest ended run is shown to them again.

A row keeps what rebuilds the job (its settings, as JSON) and what the visitor is told
(state, times, error, a JSON result summary); the owner and the client address are stored
only as hashes, enough to find "your run" again and no use to anyone who reads the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..database import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    address TEXT,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    state TEXT NOT NULL,
    queue_order INTEGER NOT NULL,
    submitted REAL NOT NULL,
    started REAL,
    ended REAL,
    error TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, queue_order);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, name, id);
"""
UPDATABLE = ("state", "started", "ended", "error", "result")
KEEP_ENDED = 5000  # ended jobs kept (the newest): a visitor's last run is found again, and the table stays small


@dataclass(frozen=True)
class RunRecord:
    """One job as stored: `owner` and `address` are hashes, `settings` and `result` decoded JSON."""

    id: int
    owner: str
    address: str | None
    name: str
    settings: dict[str, Any]
    state: str
    queue_order: int
    submitted: float
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None


class RunStore:
    """The `jobs` table in one SQLite file; safe to share between threads (a connection per call)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = Database(self.path, _SCHEMA)

    def add(self, record: RunRecord) -> None:
        """Insert a new job (its id chosen by the queue, so ids never repeat across restarts)."""
        row = {
            "id": record.id,
            "owner": record.owner,
            "address": record.address,
            "name": record.name,
            "settings": json.dumps(record.settings, sort_keys=True),
            "state": record.state,
            "queue_order": record.queue_order,
            "submitted": record.submitted,
            "started": record.started,
            "ended": record.ended,
            "error": record.error,
            "result": None if record.result is None else json.dumps(record.result, sort_keys=True),
        }
        with self._db.transaction() as conn:
            conn.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})", row)
            conn.execute(  # by the primary key: cheap on every insert
                "DELETE FROM jobs WHERE state NOT IN ('queued', 'running', 'stopping') AND id <= "
                "(SELECT id FROM jobs ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (KEEP_ENDED,),
            )

    def update(self, job_id: int, **changes: Any) -> None:
        """Change some of `UPDATABLE` for one job, in one transaction."""
        unknown = set(changes) - set(UPDATABLE)
        if unknown:
            raise ValueError(f"cannot update {', '.join(sorted(unknown))}")
        if "result" in changes and changes["result"] is not None:
            changes["result"] = json.dumps(changes["result"], sort_keys=True)
        assignments = ", ".join(f"{k} = :{k}" for k in changes)
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE jobs SET {assignments} WHERE id = :id", {**changes, "id": job_id})

    def get(self, job_id: int) -> RunRecord | None:
        found = self._select("WHERE id = ?", (job_id,))
        return found[0] if found else None

    def active(self) -> list[RunRecord]:
        """Jobs that were queued, running or stopping, in queue order."""
        return self._select("WHERE state IN ('queued', 'running', 'stopping') ORDER BY queue_order, id")

    def latest_ended(self, limit: int) -> list[RunRecord]:
        """Each owner's newest ended job of each name (at most `limit`, newest first): what a visitor
        saw last before a restart."""
        return self._select(
            "WHERE id IN (SELECT MAX(id) FROM jobs GROUP BY owner, name) "
            "AND state NOT IN ('queued', 'running', 'stopping') ORDER BY id DESC LIMIT ?",
            (limit,),
        )

    def max_id(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0])

    def _select(self, where: str, args: tuple = ()) -> list[RunRecord]:
        columns = "id, owner, address, name, settings, state, queue_order, submitted, started, ended, error, result"
        with self._db.transaction() as conn:
            rows = conn.execute(f"SELECT {columns} FROM jobs {where}", args).fetchall()
        return [
            RunRecord(*row[:4], json.loads(row[4]), *row[5:11], None if row[11] is None else json.loads(row[11]))
            for row in rows
        ]
