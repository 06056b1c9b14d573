"""HTTP benchmark of `/predict`, the way API users and the browser reach it.

    python -m tools.http_bench                       # starts `app.py` on a free loopback port
    python -m tools.http_bench --url http://127.0.0.1:7860/

Prints the latency of sequential calls, with the CPU each side spends per call:
through `gradio_client` as it comes, for an empty pad (the floor: HTTP, queue and
client, no decoding or model) and a drawing (a PNG data URL, as the page sends it); the same two with one TLS context shared by
the client's requests; and a drawing through Gradio's REST API (`/gradio_api/call/predict`)
over one keep-alive connection, which is what the server itself takes. Then many
concurrent clients: errors, p50, p95, throughput.

gradio_client 2.x checks for the server's answer every 50 ms (a `time.sleep(0.05)` loop in
`gradio_client.utils.stream_sse_v1plus`), so no call through it returns in under ~50 ms
plus the request itself, however fast the server is.
Only loopback addresses are accepted: this is a load generator, not to be aimed at others.
Numbers depend on the machine and on what else runs on it; there are no pass/fail targets.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ipaddress
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import certifi
import httpx
from gradio_client import Client

from demo.make_examples import example_path

REPO = Path(__file__).resolve().parent.parent
DIGIT = 7


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_app(timeout_s: float = 180, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """`python app.py` in a child process on a free loopback port (with `env` added to its
    environment), stopped on exit; yields its URL and process id."""
    port = free_port()
    env = {**os.environ, **(env or {}), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    child = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not start on {url} (exit code {child.poll()})")
            time.sleep(0.25)
        yield url, child.pid
    finally:
        child.terminate()
        child.wait(timeout=30)


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time used so far by process `pid` (Linux /proc), or None where unavailable.

    On a busy machine wall-clock latency mostly measures the neighbours; CPU time per
    request is what the app itself costs."""
    stat = Path(f"/proc/{pid}/stat")
    if pid is None or not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shared_tls_context() -> ssl.SSLContext:
    """The certificate checks httpx makes by default (certifi's CA bundle), built once.

    gradio_client passes `ssl_verify` to a new httpx request each time, and with `True`
    httpx loads the CA bundle again for every request: about 40 ms of CPU, even for a plain
    http:// URL. Handing it a ready context removes that cost and verifies the same way.
    """
    return ssl.create_default_context(cafile=certifi.where())


def drawing(drawn: bool = True) -> str:
    """What the pad sends: the example digit as a PNG data URL, or "" for an empty pad."""
    if not drawn:
        return ""
    return "data:image/png;base64," + base64.b64encode(example_path(DIGIT).read_bytes()).decode("ascii")


class RestClient:
    """Gradio's REST API over one keep-alive connection -- `POST /gradio_api/call/<api>`, then
    read that event's stream -- the way a curl or JavaScript caller reaches the app.
    Mirrors `Client.predict` so `call` can drive either."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/") + "/gradio_api", timeout=60)

    def predict(self, *data: Any, api_name: str) -> list[Any]:
        event_id = self.http.post(f"/call{api_name}", json={"data": list(data)}).raise_for_status().json()["event_id"]
        with self.http.stream("GET", f"/call{api_name}/{event_id}") as stream:
            event = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    if event == "error":
                        raise RuntimeError(f"{api_name} failed: {line.removeprefix('data:').strip()}")
                    return json.loads(line.removeprefix("data:"))
        raise RuntimeError(f"{api_name}: the event stream ended without a result")


def call(client: Client | RestClient, n: int, drawn: bool = True) -> float:
    """One `/predict` round trip in seconds; raises if the answer is not the expected one.

    An empty pad costs an HTTP round trip and no decoding or model: the floor that
    `gradio_client` and the queue put under every request on this machine.
    """
    start = time.perf_counter()
    shown = client.predict(drawing(drawn), n, api_name="/predict")[0]
    elapsed = time.perf_counter() - start
    expected = (DIGIT + n) if drawn else None
    if shown.get("sum") != expected:
        raise AssertionError(f"expected sum {expected} for n={n}, got {shown!r:.200}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(
        f"{name}: n={len(ms)}  median {statistics.median(ms):.1f} ms  p95 {percentile(ms, 0.95):.1f} ms  "
        f"min {min(ms):.1f} ms  max {max(ms):.1f} ms"
    )


def sequential(
    session: Client | RestClient, name: str, requests: int, server_pid: int | None, drawn: bool = True
) -> None:
    """`requests` calls one after another; prints latency and the CPU each side spent per call."""
    for n in range(5):  # warm-up: first-call costs are not what a visitor sees
        call(session, n, drawn)
    server_start, client_start = cpu_seconds(server_pid), time.process_time()
    seconds = [call(session, i % 10, drawn) for i in range(requests)]
    server_end, client_cpu = cpu_seconds(server_pid), time.process_time() - client_start
    report(name, seconds)
    cost = f"  CPU per request: client {client_cpu / requests * 1000:.1f} ms"
    if server_start is not None and server_end is not None:
        cost += f", server {(server_end - server_start) / requests * 1000:.1f} ms"
    print(cost)


def concurrent(url: str, clients: int, per_client: int) -> tuple[list[float], list[str], float]:
    """`clients` threads, each with its own client, each making `per_client` calls at once.

    The clients share one TLS context: they run on the server's own cores, and per-request
    CPU spent in the client would otherwise be measured as server slowness."""
    tls = shared_tls_context()
    pool = [Client(url, verbose=False, download_files=False, ssl_verify=tls) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_line = threading.Barrier(clients)

    def run(client: Client) -> None:
        start_line.wait()
        for i in range(per_client):
            try:
                seconds = call(client, i % 10)
            except Exception as err:  # every failure is counted and reported, not raised
                with lock:
                    errors.append(f"{type(err).__name__}: {err}")
            else:
                with lock:
                    latencies.append(seconds)

    threads = [threading.Thread(target=run, args=(c,)) for c in pool]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark /predict over HTTP (loopback only).")
    parser.add_argument("--url", help="a running app (default: start app.py on a free loopback port)")
    parser.add_argument("--requests", type=int, default=100, help="sequential calls per measurement")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--per-client", type=int, default=25, help="calls per concurrent client")
    args = parser.parse_args(argv)
    if args.url and not is_loopback(args.url):
        parser.error(f"{args.url} is not a loopback address; the benchmark only targets this machine")
    with contextlib.nullcontext((args.url, None)) if args.url else served_app() as (url, server_pid):
        load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
        print(f"benchmarking {url}predict with a drawn {DIGIT} ({os.cpu_count()} CPUs{load})")
        plain = Client(url, verbose=False, download_files=False)
        tls = Client(url, verbose=False, download_files=False, ssl_verify=shared_tls_context())
        sequential(plain, "gradio_client, empty pad      ", args.requests, server_pid, drawn=False)
        sequential(plain, "gradio_client, drawing        ", args.requests, server_pid)
        sequential(tls, "+ shared TLS, empty pad       ", args.requests, server_pid, drawn=False)
        sequential(tls, "+ shared TLS, drawing         ", args.requests, server_pid)
        sequential(RestClient(url), "REST API (httpx), drawing     ", args.requests, server_pid)
        latencies, errors, wall = concurrent(url, args.clients, args.per_client)
        total = args.clients * args.per_client
        report(f"{args.clients} clients x {args.per_client} calls       ", latencies)
        print(f"  errors {len(errors)}/{total}  throughput {len(latencies) / wall:.1f} req/s  wall {wall:.1f} s")
        for error in sorted(set(errors))[:5]:
            print(f"  {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
