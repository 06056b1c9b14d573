"""The served app's benchmarks, one entry point:

    python -m tools.bench --browser             # the Predict tab in headless Chromium (tools/browser_bench.py)
    python -m tools.bench [--url URL] ...       # /predict over HTTP (tools/http_bench.py, its options)

Both start `app.py` on a free loopback port unless `--url` names a running app (loopback only).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from .http_bench import is_loopback, served_app
from .http_bench import main as http_main


def browser_main(url: str | None, rounds: int) -> int:
    from .browser_bench import report, run

    with contextlib.nullcontext((url, None)) if url else served_app() as (served, _):
        load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
        print(f"browser benchmark of {served} in headless Chromium ({os.cpu_count()} CPUs{load})")
        report(run(served, rounds=rounds))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks of the served app (loopback only).", add_help=False)
    parser.add_argument("--browser", action="store_true", help="time the Predict tab in Chromium")
    parser.add_argument("--rounds", type=int, default=10, help="--browser: rounds of stroke, Undo, Redo, Undo")
    parser.add_argument("--url", help="a running app (default: start app.py on a free loopback port)")
    args, rest = parser.parse_known_args(argv)
    if not args.browser and {"-h", "--help"} & set(rest):
        print(__doc__)
    if not args.browser:
        return http_main(sys.argv[1:] if argv is None else argv)
    if args.url and not is_loopback(args.url):
        parser.error(f"{args.url} is not a loopback address; the benchmark only targets this machine")
    return browser_main(args.url, args.rounds)


if __name__ == "__main__":
    sys.exit(main())
