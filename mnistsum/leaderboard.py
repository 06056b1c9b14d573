"""The class leaderboard: every finished run is one row in SQLite, kept across restarts.

One file, `$MNISTSUM_STATE_DIR/leaderboard.sqlite3` (default `./runs/`), created on first use,
in WAL mode so the page can read while a worker writes. A row is inserted in one transaction,
so a crash mid-run leaves nothing half-written, and two runs that finish together both land
(SQLite serializes the writers; see `mnistsum.database`). Each operation opens
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
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import environment
from .database import Database
from .train import TrainResult

FILE_NAME = "leaderboard.sqlite3"
NICKNAME_MAX = 32


class ClearRefused(PermissionError):
    """The teacher token is missing, wrong, or not configured."""


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$MNISTSUM_STATE_DIR`, else ./runs."""
    return environment.STATE_DIR.get(environ)


def owner_tag(token: str) -> str:
    """What the database keeps of a visitor's token: a short hash that marks their rows."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def visitor_seed(token: str, seeds: int = 1000) -> int:
    """A visitor's own starting seed, the same on every visit: equal settings then show the spread
    between seeds on the leaderboard, not one long tie."""
    return int(owner_tag(token), 16) % seeds


def plain_nickname(name: Any) -> str:
    """The nickname as typed, printable characters only, runs of spaces as one, trimmed: what a
    length check measures (10 MB of spaces and an "x" is one character, and stored as one)."""
    text = "".join(ch for ch in str(name or "") if unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())


def clean_nickname(name: Any) -> str:
    """The nickname as stored: `plain_nickname`, at most `NICKNAME_MAX`.
    Not escaped: that is the display's job, and the CSV should hold what was typed."""
    return plain_nickname(name)[:NICKNAME_MAX] or "anonymous"


def _column(sql: str, title: str = "", shown: str = "{}") -> Any:
    """A `Row` field that is also a column of the runs table: its SQL type, and its header and
    format on the page (no title: not shown)."""
    return field(metadata={"sql": sql, "title": title, "shown": shown})


@dataclass(frozen=True)
class Row:
    """One finished run, as the page shows it. Its fields declare the runs table (`SCHEMA`), what
    a row inserts and selects, the CSV's columns and the page's headers, in this order."""

    id: int = _column("INTEGER PRIMARY KEY AUTOINCREMENT")
    nickname: str = _column("TEXT NOT NULL", "nickname")
    mine: bool = field(metadata={"title": ""})  # the table keeps the owner's tag; compared on reading
    arch: str = _column("TEXT NOT NULL", "backbone")
    fusion: str = _column("TEXT NOT NULL", "fusion")
    epochs: int = _column("INTEGER NOT NULL", "epochs")
    images: int = _column("INTEGER NOT NULL", "images", "{:,}")
    batch_size: int = _column("INTEGER NOT NULL", "batch")
    lr: float = _column("REAL NOT NULL", "lr", "{:g}")
    augment: bool = _column("INTEGER NOT NULL", "augment")
    seed: int = _column("INTEGER NOT NULL", "seed")
    sum_accuracy: float = _column("REAL NOT NULL", "sum", "{:.2%}")
    digit_accuracy: float = _column("REAL NOT NULL", "digit", "{:.2%}")
    both_accuracy: float = _column("REAL NOT NULL", "both", "{:.2%}")
    sum_consistency: float = _column("REAL NOT NULL", "sum = digit + n", "{:.2%}")
    parameters: int = _column("INTEGER NOT NULL", "parameters", "{:,}")
    wall_s: float = _column("REAL NOT NULL", "time", "{:.1f}s")
    finished_at: str = _column("TEXT NOT NULL", "finished (UTC)")


ROW_COLUMNS = tuple(f.name for f in fields(Row) if "sql" in f.metadata)
# the owner's tag; the whole config as JSON (all but the server's folders); the client address's tag
STORED_ONLY = {"owner": "TEXT NOT NULL", "config": "TEXT NOT NULL", "address": "TEXT"}
ADDED = {"runs.address": "TEXT"}  # files from before the address was kept get the column
PRIVATE_SETTINGS = ("data_dir",)  # where the server keeps MNIST: no visitor's business
COLUMNS = (*ROW_COLUMNS, "config")  # the CSV's: all but the owner's and the address's tags
_TYPES = {f.name: f.metadata["sql"] for f in fields(Row) if "sql" in f.metadata} | STORED_ONLY
SCHEMA = f"CREATE TABLE IF NOT EXISTS runs ({', '.join(f'{name} {sql}' for name, sql in _TYPES.items())});\n"
INDEXES = (
    "CREATE INDEX IF NOT EXISTS runs_rank ON runs (sum_accuracy DESC, digit_accuracy DESC);\n"
    "CREATE INDEX IF NOT EXISTS runs_address ON runs (address);"
)
_BEST_FIRST = "ORDER BY sum_accuracy DESC, digit_accuracy DESC, id ASC"


def shown_columns() -> list[tuple[str, str, str]]:
    """(field, header, format) of each column the page shows, in order."""
    return [(f.name, f.metadata["title"], f.metadata["shown"]) for f in fields(Row) if f.metadata["title"]]


class Leaderboard:
    """The runs table in one SQLite file; cheap to create, safe to share between threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else state_dir() / FILE_NAME
        self._db = Database(self.path, SCHEMA, ADDED, INDEXES)

    def record(
        self,
        result: TrainResult,
        nickname: str,
        token: str | None,
        owner: str | None = None,
        address: str | None = None,
    ) -> int:
        """Insert a completed run in one transaction; returns its row id. `owner`: the token's tag,
        when only that is known (a run resumed after a restart); `address`: the client address's
        tag, whose rows beyond `MNISTSUM_MAX_ROWS_PER_ADDRESS` go (its worst first), and the table
        keeps at most `MNISTSUM_MAX_ROWS` (the oldest of its lower half go): one script can neither
        push out a class's rows nor make every refresh slow."""
        test = result.test_metrics
        if result.stopped or test is None:
            raise ValueError("only a completed run with test metrics goes on the leaderboard")
        cfg = result.config
        values = {
            "nickname": clean_nickname(nickname),
            "owner": owner or owner_tag(token or ""),
            "arch": cfg.arch,
            "fusion": cfg.fusion,
            "epochs": cfg.epochs,
            "images": result.history[-1].train.samples,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "augment": int(cfg.augment),
            "seed": cfg.seed,
            "sum_accuracy": test.sum_accuracy,
            "digit_accuracy": test.digit_accuracy,
            "both_accuracy": test.both_accuracy,
            "sum_consistency": test.sum_consistency,
            "parameters": sum(p.numel() for p in result.model.parameters()),
            "wall_s": round(result.seconds, 2),
            "finished_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "config": json.dumps(public_config(cfg.to_dict()), sort_keys=True),
            "address": address,
        }
        marks = ", ".join(f":{k}" for k in values)  # a column left out is refused: every one is NOT NULL
        with self._db.transaction() as conn:  # one transaction: the row is there whole or not at all
            cursor = conn.execute(f"INSERT INTO runs ({', '.join(values)}) VALUES ({marks})", values)
            _prune(conn, address)
        return int(cursor.lastrowid)

    def rows(self, token: str | None = None, arch: str | None = None, fusion: str | None = None) -> list[Row]:
        """Best first (sum accuracy, then digit accuracy, then the earlier run); `mine` marks `token`'s runs."""
        where, args = [], []
        for column, value in (("arch", arch), ("fusion", fusion)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        filtered = f" WHERE {' AND '.join(where)}" if where else ""
        query = f"SELECT owner, {', '.join(ROW_COLUMNS)} FROM runs{filtered} {_BEST_FIRST}"
        with self._db.transaction() as conn:
            found = conn.execute(query, args).fetchall()
        mine = owner_tag(token) if token else None
        return [_row(owner == mine, values) for owner, *values in found]

    def count(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def to_csv(self) -> str:
        """Every row, best first, for a spreadsheet; cells that a spreadsheet would run as a formula are defused."""
        with self._db.transaction() as conn:
            found = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM runs {_BEST_FIRST}").fetchall()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        config = COLUMNS.index("config")  # rows written before the server's folders were left out of it
        found = [(*row[:config], json.dumps(public_config(json.loads(row[config])), sort_keys=True)) for row in found]
        writer.writerows([[_defused(v) for v in row] for row in found])
        return out.getvalue()

    def clear(self, teacher_token: str | None, environ: Mapping[str, str] | None = None) -> int:
        """Delete every row if `teacher_token` matches `$MNISTSUM_TEACHER_TOKEN`; returns how many."""
        _check_teacher(teacher_token, "cleared", environ)
        with self._db.transaction() as conn:
            return conn.execute("DELETE FROM runs").rowcount

    def remove(self, row_id: int, teacher_token: str | None, environ: Mapping[str, str] | None = None) -> bool:
        """Delete the row `row_id` (the teacher's token, as for `clear`); False when there is none."""
        _check_teacher(teacher_token, "changed", environ)
        with self._db.transaction() as conn:
            return conn.execute("DELETE FROM runs WHERE id = ?", (int(row_id),)).rowcount > 0


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run's settings as the CSV and `/train_status` show them: without the server's own paths."""
    return {k: v for k, v in config.items() if k not in PRIVATE_SETTINGS}


def _check_teacher(given: str | None, what: str, environ: Mapping[str, str] | None) -> None:
    expected = environment.TEACHER_TOKEN.get(environ)
    if not expected:
        raise ClearRefused(
            f"clearing is off: the server has no teacher token ({environment.TEACHER_TOKEN.name} is not set)"
        )
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ClearRefused(f"wrong teacher token: the leaderboard was not {what}")


def _prune(conn: Any, address: str | None) -> None:
    """The row caps, in the inserting transaction."""
    if address is not None:
        conn.execute(
            f"DELETE FROM runs WHERE address = :a AND id NOT IN "
            f"(SELECT id FROM runs WHERE address = :a {_BEST_FIRST} LIMIT :keep)",
            {"a": address, "keep": environment.MAX_ROWS_PER_ADDRESS.get()},
        )
    most = environment.MAX_ROWS.get()
    over = int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]) - most
    if over > 0:
        conn.execute(
            f"DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE id NOT IN "
            f"(SELECT id FROM runs {_BEST_FIRST} LIMIT :half) ORDER BY id LIMIT :over)",
            {"half": most // 2, "over": over},
        )


def _row(mine: bool, values: list[Any]) -> Row:
    named = dict(zip(ROW_COLUMNS, values, strict=True))
    return Row(**named | {"augment": bool(named["augment"]), "mine": mine})


def _defused(value: Any) -> Any:
    """A text cell starting with = + - @ (or a tab/CR) is a formula to Excel; a leading ' keeps it text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
