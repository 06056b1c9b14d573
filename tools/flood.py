"""Try the class server the way a public one gets tried: a flood, a crash, a full class.

    python -m tools.flood --part flood     # one client, 100 tokens: how many runs it holds
    python -m tools.flood --part crash     # 10 queued runs, SIGKILL during the first, restart
    python -m tools.flood --part class     # 30 visitors train while 10 others draw: /predict p95

- flood: `app.py` with one worker and a fresh state folder; one client takes `--tokens` fresh
  tokens from `/visitor_token` and queues a long run with each through `/train_start`; prints
  how many it held (queued or running), and why the rest were refused. Four servers: no class
  code set; a class code set, flooded without it, and with it; and the per-address bound
  lifted (MNISTSUM_RUNS_PER_ADDRESS=1000), which is what the queue cap alone allowed before.
- crash: one worker, `--visitors` visitors queue a class-preset run each (with the class code);
  SIGKILL the server while the first trains, start it again on the same state folder and wait:
  every run must end finished or interrupted, every finished one be a leaderboard row, and
  SQLite's `PRAGMA integrity_check` say ok.
- class: `--students` visitors queue a class-preset run each while `--drawers` clients call
  `/predict` with a drawing (tools.http_bench's clients) until the last run ends; prints /predict
  median and p95 before any training and while the class trains, and whether every run finished.

Loopback only, every loop bounded by a deadline. Numbers depend on the machine and on what else
runs on it (the load average is printed); there are no pass/fail targets here.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from gradio_client import Client

from .http_bench import concurrent, percentile, served_app, shared_tls_context

CODE = "flood-test-code"
LONG = {"epochs": 30, "limit": 60000}  # holds the worker for the whole flood
ENDED = ("finished", "stopped", "cancelled", "failed", "interrupted")
DB = "leaderboard.sqlite3"


def load() -> str:
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""


def client(url: str, tries: int = 10) -> Client:
    """A client of the app; a server that has just started (and resumed its queue) may be slow to
    send its config on a busy machine, so a timeout is tried again, `tries` times at most."""
    for attempt in range(tries):
        try:
            return Client(url, verbose=False, ssl_verify=shared_tls_context())
        except httpx.TimeoutException:
            if attempt == tries - 1:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def statuses(api: Client, tokens: list[str]) -> list[dict[str, Any]]:
    """Each token's run; a status call that times out on a saturated machine reads as "unknown"."""
    found = []
    for token in tokens:
        try:
            found.append(api.predict(token, api_name="/train_status"))
        except Exception as err:  # a timeout under load is a measurement, not the end of the run
            found.append({"state": "unknown", "error": f"{type(err).__name__}: {err}"})
    return found


def wait_all_ended(api: Client, tokens: list[str], deadline_s: float, poll_s: float = 2.0) -> list[dict[str, Any]]:
    """Poll until every token's run has ended, or the deadline passes (then the last statuses)."""
    deadline = time.monotonic() + deadline_s
    while True:
        now = statuses(api, tokens)
        if all(s["state"] in ENDED for s in now) or time.monotonic() > deadline:
            return now
        time.sleep(poll_s)


# --- flood -------------------------------------------------------------------------------------


def flood_once(label: str, env: dict[str, str], code: str | None, tokens: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mnistsum-flood-") as state:
        with served_app(env={"MNISTSUM_STATE_DIR": state, "MNISTSUM_TRAIN_WORKERS": "1", **env}) as (url, _):
            api = client(url)
            mine = [api.predict(api_name="/visitor_token") for _ in range(tokens)]
            refused: collections.Counter[str] = collections.Counter()
            start = time.perf_counter()
            for k, token in enumerate(mine):
                try:
                    api.predict(token, f"flood {k}", **LONG, class_code=code or "", api_name="/train_start")
                except Exception as err:  # every refusal is counted by its reason
                    refused[_reason(str(err))] += 1
            wall = time.perf_counter() - start
            held = [s for s in statuses(api, mine) if s["state"] in ("queued", "running", "stopping")]
            print(f"{label}: {len(held)} of {tokens} runs held ({wall:.0f} s for {tokens} calls; {load()})")
            for reason, count in refused.most_common():
                print(f"    refused {count:3d}x: {reason}")
            for token in mine:
                api.predict(token, api_name="/train_stop")


def _reason(message: str) -> str:
    return message.strip().strip("'\"").splitlines()[0][:100]


def flood(tokens: int) -> None:
    flood_once("no class code set              ", {}, None, tokens)
    flood_once("class code set, flood without  ", {"MNISTSUM_CLASS_CODE": CODE}, None, tokens)
    flood_once("class code set, flood with it  ", {"MNISTSUM_CLASS_CODE": CODE}, CODE, tokens)
    flood_once("per-address bound lifted (1000)", {"MNISTSUM_RUNS_PER_ADDRESS": "1000"}, None, tokens)


# --- crash -------------------------------------------------------------------------------------


def crash(visitors: int, deadline_s: float) -> None:
    env_of = lambda state: {  # noqa: E731
        "MNISTSUM_STATE_DIR": state,
        "MNISTSUM_TRAIN_WORKERS": "1",
        "MNISTSUM_CLASS_CODE": CODE,
    }
    with tempfile.TemporaryDirectory(prefix="mnistsum-crash-") as state:
        with served_app(env=env_of(state)) as (url, pid):
            api = client(url)
            tokens = [api.predict(api_name="/visitor_token") for _ in range(visitors)]
            for k, token in enumerate(tokens):
                api.predict(token, f"kid {k:02d}", class_code=CODE, api_name="/train_start")
            deadline = time.monotonic() + 300
            while api.predict(tokens[0], api_name="/train_status").get("progress", {}).get("batch", 0) == 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("the first run did not start within 300 s")
                time.sleep(0.2)
            os.kill(pid, signal.SIGKILL)
            killed = time.perf_counter()
        before = _states(Path(state) / DB)
        print(f"crash: {visitors} class-preset runs, 1 worker, SIGKILL during the first ({load()})")
        print(f"  in the database after the kill: {dict(before)}")
        with served_app(env=env_of(state)) as (url, _):
            restarted = time.perf_counter()
            api = client(url)
            ends = wait_all_ended(api, tokens, deadline_s)
            last = time.perf_counter()
            rows = list(csv.DictReader(io.StringIO(api.predict(api_name="/leaderboard_csv"))))
        states = collections.Counter(s["state"] for s in ends)
        finished = {f"kid {k:02d}" for k, s in enumerate(ends) if s["state"] == "finished"}
        names = {row["nickname"] for row in rows}
        conn = sqlite3.connect(Path(state) / DB)
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
        print(
            f"  after the restart ({restarted - killed:.0f} s to serve again; last run ended {last - restarted:.0f} s "
            f"later): {dict(states)}; first run: {ends[0]['state']} ({ends[0]['error']})"
        )
        print(
            f"  leaderboard rows {len(rows)} for {len(finished)} finished runs; finished without a row: "
            f"{sorted(finished - names) or 'none'}; rows of no finished run: {sorted(names - finished) or 'none'}; "
            f"PRAGMA integrity_check: {integrity}"
        )


def _states(path: Path) -> collections.Counter[str]:
    conn = sqlite3.connect(path)
    try:
        return collections.Counter(row[0] for row in conn.execute("SELECT state FROM jobs"))
    finally:
        conn.close()


# --- a class ----------------------------------------------------------------------------------


def a_class(students: int, drawers: int, per_round: int, deadline_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="mnistsum-class-") as state:
        env = {"MNISTSUM_STATE_DIR": state, "MNISTSUM_CLASS_CODE": CODE}
        with served_app(env=env) as (url, _):
            api = client(url)
            idle, errors, _ = concurrent(url, drawers, per_round)
            print(f"a class: {students} students train the class preset while {drawers} others draw ({load()})")
            print(f"  /predict, nobody training: {_ms(idle)}, errors {len(errors)}")
            tokens = [api.predict(api_name="/visitor_token") for _ in range(students)]
            start = time.perf_counter()
            for k, token in enumerate(tokens):
                api.predict(token, f"student {k:02d}", class_code=CODE, api_name="/train_start")
            done = threading.Event()
            busy: list[float] = []
            busy_errors: list[str] = []

            def draw() -> None:  # rounds of drawers until the last run ends (bounded by the deadline)
                deadline = time.monotonic() + deadline_s
                while not done.is_set() and time.monotonic() < deadline:
                    try:
                        latencies, errs, _ = concurrent(url, drawers, per_round)
                    except Exception as err:  # a client that cannot even connect counts as errors
                        latencies, errs = [], [f"{type(err).__name__}: {err}"] * drawers * per_round
                    busy.extend(latencies)
                    busy_errors.extend(errs)

            drawing = threading.Thread(target=draw)
            drawing.start()
            ends = wait_all_ended(api, tokens, deadline_s, poll_s=5.0)
            total = time.perf_counter() - start
            done.set()
            drawing.join()
            states = collections.Counter(s["state"] for s in ends)
            print(f"  /predict, while the class trains: {_ms(busy)}, errors {len(busy_errors)} ({load()})")
            try:
                rows: list | str = list(csv.DictReader(io.StringIO(api.predict(api_name="/leaderboard_csv"))))
            except Exception as err:  # said, rather than losing the numbers above
                rows = f"unread ({type(err).__name__})"
            print(
                f"  runs: {dict(states)} of {students}; leaderboard rows {rows if isinstance(rows, str) else len(rows)}; "
                f"last run ended (or the deadline came) after "
                f"{total:.0f} s ({total / 60:.1f} min)"
            )


def _ms(seconds: list[float]) -> str:
    if not seconds:
        return "no calls"
    ms = [s * 1000 for s in seconds]
    return f"n={len(ms)} median {statistics.median(ms):.0f} ms p95 {percentile(ms, 0.95):.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Flood, crash and fill the class server (loopback only).")
    parser.add_argument("--part", choices=("flood", "crash", "class", "all"), default="all")
    parser.add_argument("--tokens", type=int, default=100, help="flood: tokens one client takes")
    parser.add_argument("--visitors", type=int, default=10, help="crash: queued runs")
    parser.add_argument("--students", type=int, default=30, help="class: visitors who train")
    parser.add_argument("--drawers", type=int, default=10, help="class: visitors who draw meanwhile")
    parser.add_argument("--per-round", type=int, default=10, help="class: /predict calls per drawer per round")
    parser.add_argument("--deadline", type=float, default=3600, help="seconds to wait for runs to end")
    args = parser.parse_args(argv)
    if args.part in ("flood", "all"):
        flood(args.tokens)
    if args.part in ("crash", "all"):
        crash(args.visitors, args.deadline)
    if args.part in ("class", "all"):
        a_class(args.students, args.drawers, args.per_round, args.deadline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
