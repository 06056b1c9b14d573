"""A hostile visitor's probe of a server on 127.0.0.1 (issue 30), bounded and short: the server's
memory after big drawings from fresh sessions and after decompression bombs, and the disk after
CSV exports. `python -m tools.probe` starts `app.py` on a free port with a fresh state folder."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def _png(side: int) -> str:
    image = Image.new("L", (side, side), "white")
    image.paste("black", (side // 3, side // 4, side // 3 + side // 12, 3 * side // 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _call(http: httpx.Client, api: str, data: list) -> str:
    event = http.post(f"/call/{api}", json={"data": data}).json()["event_id"]
    return http.get(f"/call/{api}/{event}").text


def main(calls: int = 20) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = tempfile.mkdtemp(prefix="mnistsum-probe-")
    env = {
        **os.environ,
        "MNISTSUM_STATE_DIR": state,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
    }
    server = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/gradio_api"
        with httpx.Client(base_url=url, timeout=120) as http:
            for _ in range(240):
                try:
                    http.get("/info")
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            _call(http, "predict", [_png(280), 3])
            base = _rss_mb(server.pid)
            big = _png(4096)
            for _ in range(calls):  # each REST call is a fresh session
                _call(http, "predict", [big, 3])
            after_big = _rss_mb(server.pid)
            bomb = {"url": _png(13000), "meta": {"_type": "gradio.FileData"}}
            t0 = time.perf_counter()
            refused = sum("13000x13000" in _call(http, "predict_json", [bomb, 3]) for _ in range(4))
            bomb_s = (time.perf_counter() - t0) / 4
            after_bomb = _rss_mb(server.pid)
            second = subprocess.run([sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True)
        print(
            f"RSS at start {base:.0f} MB; after {calls} /predict of 4096x4096 from fresh sessions: "
            f"+{after_big - base:.0f} MB (probe: +1,350 MB)"
        )
        print(
            f"13000x13000 PNG on /predict_json: {refused}/4 refused, {bomb_s * 1000:.0f} ms each, "
            f"RSS +{after_bomb - after_big:.0f} MB (probe: +1,865 MB peak, 9 s)"
        )
        print(f"a second app.py on the folder: exit {second.returncode}: {second.stderr.strip()[:110]}…")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
