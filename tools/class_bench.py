"""Benchmark of class mode: what a teacher with thirty students needs to know.

    python -m tools.class_bench                      # all three parts
    python -m tools.class_bench --part preset        # the class preset on one core, in-process
    python -m tools.class_bench --part class --workers 1 2 --students 30
    python -m tools.class_bench --part predict       # /predict with one training worker busy

- preset: one run of the class preset (the Train tab's defaults) with torch on one thread,
  MNIST already in memory as it is in the app after the first run: wall time and the CPU
  time of the training thread (on a busy machine the wall time measures the neighbours too).
- class: `app.py` in a child process with MNISTSUM_TRAIN_WORKERS=W, a class code and a fresh state folder;
  `students` API visitors, each with its own token, submit the class preset through
  `/train_start` at once and poll `/train_status` until it ends. Prints the time from the
  first submission to the last run's end, and checks that every run finished and that every
  one is a row on the leaderboard (`/leaderboard_csv`): none lost.
- predict: `clients` concurrent clients call `/predict` with a drawing (tools.http_bench's
  clients), first with nothing training, then while one visitor trains a long run (one worker
  busy): errors, median, p95 for each.

Loopback only; numbers depend on the machine and on what else runs on it (the load average
is printed); there are no pass/fail targets here.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from gradio_client import Client

from mnistsum.config import default_data_dir

from .http_bench import concurrent, report, served_app, shared_tls_context

ENDED = ("finished", "stopped", "cancelled", "failed", "interrupted")
CLASS_CODE = "class-bench"


def load() -> str:
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""


def preset_run(data_dir: str, repeats: int) -> None:
    """The class preset on one thread, MNIST in memory: wall and thread CPU seconds."""
    import torch

    from mnistsum.config import TrainConfig
    from mnistsum.data import cached_split
    from mnistsum.train import EpochEnd, TrainResult, train

    torch.set_num_threads(1)
    train_set, test_set = cached_split(data_dir, True), cached_split(data_dir, False)
    cfg = TrainConfig.preset("class", data_dir=data_dir)
    print(f"class preset ({cfg.epochs} epochs on {cfg.limit:,} images, batch {cfg.batch_size}), one thread ({load()})")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.thread_time()
        epochs = []
        for event in train(cfg, train_set, test_set):
            if isinstance(event, EpochEnd):
                epochs.append(f"{event.seconds:.1f}")
            elif isinstance(event, TrainResult):
                test = event.test_metrics
        print(
            f"  wall {time.perf_counter() - wall:.1f} s  CPU {time.thread_time() - cpu:.1f} s  "
            f"(epochs {', '.join(epochs)} s)  test digit {test.digit_accuracy:.2%} sum {test.sum_accuracy:.2%}"
        )


def class_run(workers: int, students: int, poll_s: float = 1.0) -> None:
    """`students` API visitors submit the class preset at once to an app with `workers` workers."""
    with tempfile.TemporaryDirectory(prefix="mnistsum-class-") as state:
        env = {
            "MNISTSUM_TRAIN_WORKERS": str(workers),
            "MNISTSUM_STATE_DIR": state,
            "MNISTSUM_MAX_QUEUE": str(students),
            "MNISTSUM_CLASS_CODE": CLASS_CODE,  # a class behind one address (here 127.0.0.1) passes with it
        }
        with served_app(env=env) as (url, _):
            client = Client(url, verbose=False, ssl_verify=shared_tls_context())
            tokens = [client.predict(api_name="/visitor_token") for _ in range(students)]
            print(f"{students} class runs, {workers} worker{'s' * (workers > 1)} ({load()})")
            start = time.perf_counter()
            for k, token in enumerate(tokens):
                client.predict(token, f"student {k:02d}", class_code=CLASS_CODE, api_name="/train_start")
            submitted = time.perf_counter() - start
            pending = dict(enumerate(tokens))
            ended: dict[int, dict[str, Any]] = {}
            while pending:
                time.sleep(poll_s)
                for k, token in list(pending.items()):
                    status = client.predict(token, api_name="/train_status")
                    if status["state"] in ENDED:
                        ended[k] = {**status, "at": time.perf_counter() - start}
                        del pending[k]
            total = max(s["at"] for s in ended.values())
            states = [s["state"] for s in ended.values()]
            runs = [s["elapsed_s"] for s in ended.values()]
            rows = list(csv.DictReader(io.StringIO(client.predict(api_name="/leaderboard_csv"))))
            names = {row["nickname"] for row in rows}
            lost = [k for k in range(students) if f"student {k:02d}" not in names]
            print(
                f"  all submitted in {submitted:.1f} s; last run ended after {total:.0f} s ({total / 60:.1f} min); "
                f"{states.count('finished')}/{students} finished, {len(rows)} leaderboard rows, lost: {lost or 'none'}"
            )
            print(
                f"  one run: median {statistics.median(runs):.1f} s, max {max(runs):.1f} s; "
                f"per run of the class: {total / students:.1f} s"
            )


def predict_while_training(clients: int, per_client: int) -> None:
    """/predict from `clients` concurrent clients with no training, then while one training worker is busy."""
    with tempfile.TemporaryDirectory(prefix="mnistsum-class-") as state:
        env = {"MNISTSUM_TRAIN_WORKERS": "1", "MNISTSUM_STATE_DIR": state}
        with served_app(env=env) as (url, _):
            client = Client(url, verbose=False, ssl_verify=shared_tls_context())
            print(f"/predict, {clients} clients x {per_client} calls, no training ({load()})")
            latencies, errors, wall = concurrent(url, clients, per_client)
            report("  drawing", latencies)
            print(f"  errors {len(errors)}/{clients * per_client}  throughput {len(latencies) / wall:.1f} req/s")

            token = client.predict(api_name="/visitor_token")
            client.predict(token, epochs=30, limit=60000, api_name="/train_start")
            while client.predict(token, api_name="/train_status").get("progress", {}).get("batch", 0) == 0:
                time.sleep(0.5)
            print(f"/predict, {clients} clients x {per_client} calls, one training worker busy ({load()})")
            latencies, errors, wall = concurrent(url, clients, per_client)
            still = client.predict(token, api_name="/train_status")
            report("  drawing", latencies)
            print(
                f"  errors {len(errors)}/{clients * per_client}  throughput {len(latencies) / wall:.1f} req/s  "
                f"training still {still['state']} at {still['progress']['samples_per_s']:.0f} images/s"
            )
            client.predict(token, api_name="/train_stop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark class mode (loopback only).")
    parser.add_argument("--part", choices=("preset", "class", "predict", "all"), default="all")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2, help="class preset runs")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--per-client", type=int, default=20)
    parser.add_argument("--data-dir", default=default_data_dir())
    args = parser.parse_args(argv)
    if args.part in ("preset", "all"):
        preset_run(args.data_dir, args.repeats)
    if args.part in ("class", "all"):
        for workers in args.workers:
            class_run(workers, args.students)
    if args.part in ("predict", "all"):
        predict_while_training(args.clients, args.per_client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
