"""The class leaderboard: every finished run is one row in SQLite, kept across restarts.

One file, `$MNISTSUM_STATE_DIR/leaderboard.sqlite3` (default `./runs/`), created on first use,
in WAL mode so the page can read while a worker writes. A row is inserted in one transaction,
so a crash mid-run leaves nothing half-written, and two runs that finish together both land
(SQLite serializes the writers; each waits up to `BUSY_TIMEOUT_S`). Each operation opens
its own connection: the app's threads never share one.

Rows hold the nickname a student typed (plain text: whoever shows it must escape it), the
whole training config as JSON, the test-set metrics, parameters, wall time and when. The
owner is stored only as a hash of the visitor's token, enough to mark "your runs" and no
use to anyone who reads the file. Clearing needs `MNISTSUM_TEACHER_TOKEN`; unset, nobody can.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import sqlite3
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import environment
from .train import TrainResult

FILE_NAME = "leaderboard.sqlite3"
BUSY_TIMEOUT_S = 30.0
NICKNAME_MAX = 32
COLUMNS = (
    "id",
    "nickname",
    "arch",
    "fusion",
    "epochs",
    "images",
    "batch_size",
    "lr",
    "augment",
    "seed",
    "digit_accuracy",
    "sum_accuracy",
    "both_accuracy",
    "sum_consistency",
    "parameters",
    "wall_s",
    "finished_at",
    "config",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nickname TEXT NOT NULL,
    owner TEXT NOT NULL,
    arch TEXT NOT NULL,
    fusion TEXT NOT NULL,
    epochs INTEGER NOT NULL,
    images INTEGER NOT NULL,
    batch_size INTEGER NOT NULL,
    lr REAL NOT NULL,
    augment INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    digit_accuracy REAL NOT NULL,
    sum_accuracy REAL NOT NULL,
    both_accuracy REAL NOT NULL,
    sum_consistency REAL NOT NULL,
    parameters INTEGER NOT NULL,
    wall_s REAL NOT NULL,
    finished_at TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_rank ON runs (sum_accuracy DESC, digit_accuracy DESC);
"""


class ClearRefused(PermissionError):
    """The teacher token is missing, wrong, or not configured."""


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$MNISTSUM_STATE_DIR`, else ./runs."""
    return environment.STATE_DIR.get(environ)


def owner_tag(token: str) -> str:
    """What the database keeps of a visitor's token: a short hash that marks their rows."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def clean_nickname(name: Any) -> str:
    """The nickname as stored: printable characters only, trimmed, at most `NICKNAME_MAX`.
    Not escaped: that is the display's job, and the CSV should hold what was typed."""
    text = "".join(ch for ch in str(name or "") if unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())[:NICKNAME_MAX] or "anonymous"


@dataclass(frozen=True)
class Row:
    """One finished run, as the page shows it."""

    id: int
    nickname: str
    mine: bool
    arch: str
    fusion: str
    epochs: int
    images: int
    batch_size: int
    lr: float
    augment: bool
    seed: int
    digit_accuracy: float
    sum_accuracy: float
    both_accuracy: float
    sum_consistency: float
    parameters: int
    wall_s: float
    finished_at: str


class Leaderboard:
    """The runs table in one SQLite file; cheap to create, safe to share between threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else state_dir() / FILE_NAME
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        if not self._ready:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            self._ready = True
        return conn

    def record(self, result: TrainResult, nickname: str, token: str) -> int:
        """Insert a completed run in one transaction; returns its row id."""
        test = result.test_metrics
        if result.stopped or test is None:
            raise ValueError("only a completed run with test metrics goes on the leaderboard")
        cfg = result.config
        values = {
            "nickname": clean_nickname(nickname),
            "owner": owner_tag(token),
            "arch": cfg.arch,
            "fusion": cfg.fusion,
            "epochs": cfg.epochs,
            "images": result.history[-1].train.samples,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "augment": int(cfg.augment),
            "seed": cfg.seed,
            "digit_accuracy": test.digit_accuracy,
            "sum_accuracy": test.sum_accuracy,
            "both_accuracy": test.both_accuracy,
            "sum_consistency": test.sum_consistency,
            "parameters": sum(p.numel() for p in result.model.parameters()),
            "wall_s": round(result.seconds, 2),
            "finished_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "config": json.dumps(cfg.to_dict(), sort_keys=True),
        }
        names = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        conn = self._connect()
        try:
            with conn:  # one transaction: the row is there whole or not at all
                cursor = conn.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", values)
            return int(cursor.lastrowid)
        finally:
            conn.close()

    def rows(self, token: str | None = None, arch: str | None = None, fusion: str | None = None) -> list[Row]:
        """Best first (sum accuracy, then digit accuracy, then the earlier run); `mine` marks `token`'s runs."""
        where, args = [], []
        for column, value in (("arch", arch), ("fusion", fusion)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        query = (
            "SELECT id, nickname, owner, arch, fusion, epochs, images, batch_size, lr, augment, seed, digit_accuracy, "
            "sum_accuracy, both_accuracy, sum_consistency, parameters, wall_s, finished_at FROM runs"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY sum_accuracy DESC, digit_accuracy DESC, id ASC"
        )
        mine = owner_tag(token) if token else None
        conn = self._connect()
        try:
            found = conn.execute(query, args).fetchall()
        finally:
            conn.close()
        return [Row(r[0], r[1], r[2] == mine, *r[3:9], bool(r[9]), *r[10:]) for r in found]

    def count(self) -> int:
        conn = self._connect()
        try:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        finally:
            conn.close()

    def to_csv(self) -> str:
        """Every row, best first, for a spreadsheet; cells that a spreadsheet would run as a formula are defused."""
        conn = self._connect()
        try:
            found = conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM runs ORDER BY sum_accuracy DESC, digit_accuracy DESC, id ASC"
            ).fetchall()
        finally:
            conn.close()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows([[_defused(v) for v in row] for row in found])
        return out.getvalue()

    def clear(self, teacher_token: str | None, environ: Mapping[str, str] | None = None) -> int:
        """Delete every row if `teacher_token` matches `$MNISTSUM_TEACHER_TOKEN`; returns how many."""
        expected = environment.TEACHER_TOKEN.get(environ)
        if not expected:
            raise ClearRefused(
                f"clearing is off: the server has no teacher token ({environment.TEACHER_TOKEN.name} is not set)"
            )
        if not teacher_token or not hmac.compare_digest(teacher_token.encode(), expected.encode()):
            raise ClearRefused("wrong teacher token: the leaderboard was not cleared")
        conn = self._connect()
        try:
            with conn:
                return conn.execute("DELETE FROM runs").rowcount
        finally:
            conn.close()


def _defused(value: Any) -> Any:
    """A text cell starting with = + - @ (or a tab/CR) is a formula to Excel; a leading ' keeps it text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
