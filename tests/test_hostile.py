"""What a stranger's script could do to a public server (issue 30), each as a test: memory kept
per session, decompression bombs, two servers on one state folder, disk and rows without bound,
the API beyond the page's limits, faults that lose a result or stop the app."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from demo.app import PortTaken, build_app, launch
from demo.make_examples import example_path
from demo.predict_tab import predict
from demo.state import AppState, ModelSlot
from mnistsum.data import synthetic_split
from mnistsum.jobs import ClassCodeError, StateFolderBusy, TrainingPolicy
from mnistsum.payload import KEPT_SIDE, MAX_SIDE, DrawingPayloadError, decode_drawing, kept_drawing, read_image_file
from mnistsum.race import ClassRace

REPO = Path(__file__).resolve().parent.parent


def png(width: int, height: int, mode: str = "L", ink: bool = True) -> bytes:
    """A white picture with a black bar: a few KB of PNG, however large it decodes."""
    image = Image.new(mode, (width, height), "white")
    if ink:
        image.paste("black", (width // 3, height // 4, width // 3 + max(2, width // 12), 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """13000x13000 grayscale in a few hundred KB: 169 MB decoded (the probe's was 1.9 GB at peak)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(png(13000, 13000, ink=False))
    return path


# --- 1. memory kept per session, 2. decompression ------------------------------------------------


def test_a_session_keeps_at_most_a_small_copy_of_a_big_drawing() -> None:
    shown = predict(ModelSlot(), data_url(png(4096, 4096, "RGBA")), 3)
    assert shown.answer["digit"] is not None  # answered from the whole drawing
    assert max(shown.received.shape[:2]) <= KEPT_SIDE
    assert shown.received.nbytes <= KEPT_SIDE * KEPT_SIDE * 4  # was 64 MB per session at 4096 px


def test_the_kept_copy_is_the_drawing_itself_at_the_page_size_and_box_averaged_above() -> None:
    small = np.full((280, 280), 255, np.uint8)
    assert kept_drawing(small) is small
    big = np.full((4000, 1000), 255, np.uint8)
    big[1000:3000, 400:600] = 0
    kept = kept_drawing(big)
    assert kept.shape == (500, 125)
    assert abs(float(kept.mean()) - float(big.mean())) < 1  # the ink's mass is kept


def test_a_decompression_bomb_is_refused_from_its_header(bomb: Path) -> None:
    with pytest.raises(DrawingPayloadError, match=f"13000x13000 pixels; at most {MAX_SIDE}"):
        read_image_file(bomb)
    with pytest.raises(DrawingPayloadError, match="13000x13000"):
        decode_drawing(data_url(bomb.read_bytes()))


def test_an_oversized_image_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 10_000_001)
    with pytest.raises(DrawingPayloadError, match="10,000,001 bytes"):
        read_image_file(big)


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def test_predict_json_refuses_a_bomb_by_file_and_by_data_url(client: Client, app_url: str, bomb: Path) -> None:
    with pytest.raises(AppError, match="13000x13000 pixels"):
        client.predict(handle_file(str(bomb)), 3, api_name="/predict_json")
    with httpx.Client(base_url=app_url + "gradio_api", timeout=60) as http:  # a FileData data URL skips the upload cap
        url = {"url": data_url(bomb.read_bytes()), "meta": {"_type": "gradio.FileData"}}
        event = http.post("/call/predict_json", json={"data": [url, 3]}).raise_for_status().json()["event_id"]
        body = http.get(f"/call/predict_json/{event}").text
    assert "event: error" in body and "13000x13000 pixels" in body
    with pytest.raises(AppError, match="13000x13000 pixels"):
        client.predict(data_url(bomb.read_bytes()), 3, api_name="/predict")
    assert client.predict(handle_file(str(example_path(4))), 5, api_name="/predict_json")["sum"] == 9


def test_image_work_has_slots_of_its_own_so_it_cannot_hold_a_strokes() -> None:
    demo = build_app()
    slots = {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values()}
    assert slots["predict_json"][0] != slots["predict"][0]
    assert slots["predict_json"][1] < slots["predict"][1]
    demo.app_state.queue.close()


# --- 3. one server per state folder -------------------------------------------------------------

HOLD = (
    "import sys, time\n"
    "from mnistsum.jobs.lock import hold_state_folder, note_port\n"
    "hold_state_folder(sys.argv[1]); note_port(sys.argv[1], 7999)\n"
    "print('held', flush=True); time.sleep(120)\n"
)


def _holder(folder: Path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_server_on_a_folder_in_use_refuses_to_start_and_a_killed_one_leaves_no_lock(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    child = _holder(folder)
    try:
        with pytest.raises(
            StateFolderBusy, match=rf"{folder}.* in use by another running server \(pid {child.pid}, port 7999"
        ):
            AppState(state_dir=folder)
        assert not (folder / "leaderboard.sqlite3").exists()  # refused before it read or restored anything
    finally:
        child.kill()  # SIGKILL: no handler runs, the kernel drops the lock
        child.wait(timeout=30)
    state = AppState(state_dir=folder)
    state.queue.close()


def test_python_app_py_on_a_folder_in_use_exits_with_a_message(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    child = _holder(folder)
    try:
        env = {**os.environ, "MNISTSUM_STATE_DIR": str(folder), "GRADIO_SERVER_NAME": "127.0.0.1"}
        second = subprocess.run(
            [sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        child.kill()
        child.wait(timeout=30)
    assert second.returncode != 0
    assert f"mnistsum did not start: the state folder {folder.resolve()} is in use" in second.stderr
    assert f"pid {child.pid}" in second.stderr and "Traceback" not in second.stderr


def test_a_taken_port_is_an_error_not_a_move(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo = build_app()
        try:
            with pytest.raises(PortTaken, match=f"port {port} on 127.0.0.1 is taken"):
                launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        finally:
            demo.app_state.queue.close()


# --- 5. the race, 7. the API keeps the page's limits, 11. 10**400 --------------------------------


def test_stopping_the_race_takes_the_class_code_that_starting_it_took(tmp_path: Path) -> None:
    race = ClassRace(tmp_path / "race.json", None, TrainingPolicy(class_code="abcd"))
    race.start(class_code="abcd", train_set=synthetic_split(64), test_set=synthetic_split(20, 1), epochs=30)
    try:
        for code in (None, "wrong"):
            with pytest.raises(ClassCodeError):
                race.stop(class_code=code)
        assert race.latest().state == "running"
        assert race.stop(class_code="ABCD ").state == "stopping"  # as typed from the board
    finally:
        race.close()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": 1}, "batch size 1 is not one the Train tab offers"),
        ({"batch_size": 100}, "batch size 100 is not one"),
        ({"limit": 1}, "training images 1 is not one the Train tab offers"),
        ({"limit": 499}, "training images 499"),
        ({"limit": 501}, "training images 501"),
        ({"seed": -1}, "seed must be between 0 and 4,294,967,295, got -1"),
        ({"seed": 10**400}, "seed must be between 0 and 4,294,967,295, got a number of 401 digits"),
        ({"epochs": 10**400}, "epochs a number of 401 digits is above the limit of 30"),
    ],
)
def test_the_api_keeps_the_pages_limits_on_every_field(client: Client, values: dict, message: str) -> None:
    token = client.predict(api_name="/visitor_token")
    with pytest.raises(AppError, match=message):
        client.predict(token, "probe", **values, api_name="/train_start")
    assert client.predict(token, api_name="/train_status")["state"] == "idle"  # nothing was queued


@pytest.mark.parametrize("run_id", [10**400, -1, 2**63])
def test_a_huge_run_id_is_a_refusal_not_an_overflow(client: Client, run_id: int) -> None:
    token = client.predict(api_name="/visitor_token")
    for api in ("/train_status", "/train_stop"):
        with pytest.raises(AppError, match="run_id must be a whole number .*; ids run from 0 to"):
            client.predict(token, run_id, api_name=api)
