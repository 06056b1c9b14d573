"""One server per state folder: a lock file that the running server holds for its whole life.

Two servers on one folder both restore its runs: the second marks the first's running run
interrupted, runs its queued runs again (each lands twice on the leaderboard) and collides on
run ids. So a server takes `fcntl.flock` on `<state folder>/server.lock` before it reads
anything, and a second one is refused with the folder, the holder's pid and port. The kernel
drops the lock when the process ends, however it ends (SIGKILL included), so a crashed server
never leaves it stuck. Within one process the lock is taken once per folder (tests rebuild an
app on the same folder to play a restart).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import IO

LOCK_NAME = "server.lock"
_held: dict[Path, IO[str]] = {}  # folder -> the open lock file, for this process's life
_guard = threading.Lock()


class StateFolderBusy(RuntimeError):
    """Another running server holds this state folder; the message names it and how to proceed."""


def hold_state_folder(folder: str | Path) -> Path:
    """Take the folder's lock for this process (again: nothing to do); `StateFolderBusy` if another
    live process holds it. Returns the lock file's path."""
    folder = Path(folder).resolve()
    path = folder / LOCK_NAME
    with _guard:
        if folder in _held:
            return path
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open until the process ends)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "{}"
            handle.close()
            raise StateFolderBusy(_busy_message(folder, holder)) from None
        _held[folder] = handle
        _write(
            handle, {"pid": os.getpid(), "port": None, "since": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        )
    return path


def note_port(folder: str | Path, port: int | None) -> None:
    """Write the port this server serves on into its lock file, for a second server's message."""
    with _guard:
        handle = _held.get(Path(folder).resolve())
        if handle is not None:
            handle.seek(0)
            info = json.loads(handle.read() or "{}")
            _write(handle, {**info, "port": port})


def _write(handle: IO[str], info: dict) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(info))
    handle.flush()


def _busy_message(folder: Path, holder: str) -> str:
    try:
        info = json.loads(holder)
    except ValueError:
        info = {}
    who = f"pid {info.get('pid', '?')}"
    if info.get("port"):
        who += f", port {info['port']}"
    if info.get("since"):
        who += f", since {info['since']}"
    return (
        f"the state folder {folder} is in use by another running server ({who}): two servers on one folder "
        "would run its queued runs twice. Stop that server first, or give this one its own folder "
        "(MNISTSUM_STATE_DIR=another/folder)."
    )


def browser_secret(directory: Path) -> str:
    """The key that encrypts visitor tokens in browsers, derived from a key file kept in the state
    folder: a restarted server still reads the tokens it handed out, so visitors keep their starred
    leaderboard rows and their saved models. `gr.BrowserState` sends its key to every page (it
    encrypts in the browser), so what is sent is an HMAC of the file's key, never the file's
    content. A missing, empty or short file gets a new key (once: the next start reads it)."""
    path = Path(directory) / "browser-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if len(key) < 32:
        try:  # O_EXCL: of two processes starting at once, one writes it and both read the same
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if key or path.stat().st_size:
                raise ValueError(f"{path} holds a key too short to use; delete the file to get a new one") from None
            path.unlink()  # empty: a new key, written once
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        key = path.read_text().strip()
    return hmac.new(key.encode(), b"gradio BrowserState", hashlib.sha256).hexdigest()[:32]
