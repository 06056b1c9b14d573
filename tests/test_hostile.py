"""What a stranger's script could do to a public server (issue 30), each as a test: memory kept
per session, decompression bombs, two servers on one state folder, disk and rows without bound,
the API beyond the page's limits, faults that lose a result or stop the app."""

from __future__ import annotations

import base64
import io
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from demo.app import PortTaken, build_app, launch
from demo.leaderboard_view import _board as _board_html
from demo.leaderboard_view import _export_csv
from demo.make_examples import example_path
from demo.predict_tab import predict
from demo.state import AppState, ModelSlot, VisitorModels, browser_secret
from demo.train_view import headline
from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.database import Database, StorageError
from mnistsum.jobs import (
    ClassCodeError,
    JobQueue,
    PolicyError,
    RunRecord,
    RunStore,
    StateFolderBusy,
    TrainingPolicy,
    leaderboard_recorder,
    save_trained,
    start_training,
)
from mnistsum.jobs import queue as queue_module
from mnistsum.jobs import store as store_module
from mnistsum.jobs.saving import SAVES_PER_VISITOR
from mnistsum.leaderboard import SCHEMA, ClearRefused, Leaderboard, public_config
from mnistsum.payload import (
    MAX_FILE_BYTES,
    MAX_SIDE,
    DrawingPayloadError,
    decode_drawing,
    read_image_file,
)
from mnistsum.race import ClassRace
from mnistsum.train import TrainResult, run

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


def test_a_session_keeps_no_copy_of_a_big_drawing() -> None:
    shown = predict(ModelSlot(), data_url(png(4096, 4096, "RGBA")), 3)
    assert shown.answer["digit"] is not None  # answered from the whole drawing
    # the drawing lives in the page (the pad's value); the server decodes it per event and keeps nothing
    assert shown._fields == ("answer", "stages")


def test_a_decompression_bomb_is_refused_from_its_header(bomb: Path) -> None:
    with pytest.raises(DrawingPayloadError, match=f"13000x13000 pixels; at most {MAX_SIDE}"):
        read_image_file(bomb)
    with pytest.raises(DrawingPayloadError, match="13000x13000"):
        decode_drawing(data_url(bomb.read_bytes()))


def test_an_oversized_image_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 5_000_001)
    with pytest.raises(DrawingPayloadError, match="5,000,001 bytes"):
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


# --- 4. disk and rows, 9. logs ----------------------------------------------------------------


@pytest.fixture(scope="module")
def result() -> TrainResult:
    tiny = TrainConfig(epochs=1, batch_size=64, device="cpu")
    return run(tiny, train_set=synthetic_split(128, seed=1), test_set=synthetic_split(50, seed=2))


def test_saves_are_bounded_per_visitor_and_in_all(tmp_path: Path, result: TrainResult, monkeypatch) -> None:
    folder = tmp_path / "checkpoints"
    for k in range(SAVES_PER_VISITOR):
        save_trained(result, f"mine-{k}", folder, owner="visitor-token-000000")
    with pytest.raises(PermissionError, match=f"you have saved {SAVES_PER_VISITOR} models here"):
        save_trained(result, "one-more", folder, owner="visitor-token-000000")
    monkeypatch.setenv("MNISTSUM_MAX_CHECKPOINTS", str(SAVES_PER_VISITOR + 2))
    for k in range(2):  # new tokens each time, as a script would
        save_trained(result, f"other-{k}", folder, owner=f"script-token-{k:08d}")
    with pytest.raises(PermissionError, match=f"already keeps {SAVES_PER_VISITOR + 2} saved models"):
        save_trained(result, "other-2", folder, owner="script-token-00000002")
    assert len(list(folder.glob("*.pt"))) == SAVES_PER_VISITOR + 2


def test_visitors_chosen_model_files_are_bounded(tmp_path: Path, result: TrainResult, monkeypatch) -> None:
    monkeypatch.setenv("MNISTSUM_MAX_CHECKPOINTS", "3")
    models = VisitorModels(ModelSlot(), tmp_path / "models", capacity=2)
    for k in range(6):
        models.use(f"visitor-token-{k:06d}", result, "a run")
    assert len(list((tmp_path / "models").glob("*.pt"))) == 3
    assert models.path_for("visitor-token-000005").exists()  # the newest stay


def test_nicknames_are_measured_as_stored(monkeypatch) -> None:
    policy = TrainingPolicy()
    assert policy.check_nickname(" " * 1_000_000 + "x") == "x"  # stored as one character, not 1 MB
    with pytest.raises(PolicyError, match="at most 32 characters, got 33"):
        policy.check_nickname("x" * 33)


def test_leaderboard_rows_are_capped_per_address_and_in_all(tmp_path: Path, result: TrainResult, monkeypatch) -> None:
    monkeypatch.setenv("MNISTSUM_MAX_ROWS_PER_ADDRESS", "3")
    monkeypatch.setenv("MNISTSUM_MAX_ROWS", "8")
    board = Leaderboard(tmp_path / "leaderboard.sqlite3")
    class_rows = [board.record(result, f"kid {k}", f"kid-token-{k:08d}", address="school") for k in range(3)]
    for k in range(20):  # a script, one address, fresh tokens
        board.record(result, "spam", f"script-token-{k:06d}", address="script")
    kept = board.rows()
    assert [r.nickname for r in kept].count("spam") == 3 and {r.id for r in kept} >= set(class_rows)
    for k in range(10):  # many addresses: the total cap, the oldest of the lower half first
        board.record(result, "bot", f"bot-token-{k:08d}", address=f"bot-{k}")
    assert board.count() == 8


def test_the_teacher_removes_one_row(tmp_path: Path, result: TrainResult, monkeypatch) -> None:
    monkeypatch.setenv("MNISTSUM_TEACHER_TOKEN", "teach-123")
    board = Leaderboard(tmp_path / "leaderboard.sqlite3")
    keep, spam = (board.record(result, name, "any-token-00000000") for name in ("ada", "spam"))
    with pytest.raises(ClearRefused, match="not changed"):
        board.remove(spam, "student")
    assert board.remove(spam, "teach-123") and not board.remove(spam, "teach-123")
    assert [r.id for r in board.rows()] == [keep]


def test_an_old_leaderboard_file_gets_the_address_column(tmp_path: Path, result: TrainResult) -> None:
    path = tmp_path / "leaderboard.sqlite3"
    old = SCHEMA.replace(", address TEXT", "")
    with sqlite3.connect(path) as conn:
        conn.executescript(old)
    Leaderboard(path).record(result, "ada", "any-token-00000000", address="school")
    assert sqlite3.connect(path).execute("SELECT address FROM runs").fetchone() == ("school",)


def test_the_csv_export_leaves_no_folder_per_call(app_state) -> None:
    before = set(Path(tempfile.gettempdir()).iterdir())
    paths = {_export_csv(app_state) for _ in range(5)}
    assert len(paths) == 1 and len(set(Path(tempfile.gettempdir()).iterdir()) - before) <= 1


def test_the_servers_data_path_is_not_in_the_csv_or_the_status(tmp_path: Path, result: TrainResult) -> None:
    board = Leaderboard(tmp_path / "leaderboard.sqlite3")
    board.record(result, "ada", "any-token-00000000")
    assert "data_dir" not in board.to_csv() and result.config.data_dir not in board.to_csv()
    assert "data_dir" not in public_config(result.config.to_dict())


def test_the_jobs_table_keeps_the_newest_ended_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "KEEP_ENDED", 5)
    store = RunStore(tmp_path / "leaderboard.sqlite3")
    for k in range(1, 21):
        store.add(RunRecord(k, "tag", None, "training", {}, "finished" if k > 1 else "queued", k, 0.0))
    with sqlite3.connect(store.path) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM jobs ORDER BY id")]
    assert ids[0] == 1 and len(ids) <= 7  # the queued one stays, and the newest ended ones


def test_an_upload_over_the_cap_is_refused(app_url: str) -> None:
    with httpx.Client(base_url=app_url + "gradio_api", timeout=60) as http:
        answer = http.post("/upload", files={"files": ("big.png", b"\0" * (MAX_FILE_BYTES + 1))})
    assert answer.status_code == 413


def test_a_refusal_is_one_line_in_the_log_and_no_input_is_echoed(app_url: str, capfd) -> None:
    capfd.readouterr()
    with httpx.Client(base_url=app_url + "gradio_api", timeout=60) as http:
        big = "x" * 200_000
        answer = http.post("/call/predict", json={"data": [big]}).json()  # one value of the two
        body = http.get(f"/call/predict/{answer['event_id']}").text
        answer = http.post("/call/predict", json={"data": ["not a drawing", 3]}).json()
        http.get(f"/call/predict/{answer['event_id']}")
    assert "event: error" in body and "values, got 1" in body, body
    logged = capfd.readouterr()
    text = logged.out + logged.err
    assert big[:1000] not in text and "Traceback" not in text


# --- 6. a full disk as a run finishes, 10. a corrupt or read-only database --------------------------


def test_a_result_that_cannot_be_written_says_so_and_is_written_later(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(queue_module, "RETRY_S", 0.2)
    board = Leaderboard(tmp_path / "leaderboard.sqlite3")
    queue = JobQueue(1, 10, store=RunStore(board.path))
    real = Database.transaction
    full = threading.Event()

    def transaction(self):
        if full.is_set():
            raise StorageError(self.path, sqlite3.OperationalError("database or disk is full"))
        return real(self)

    monkeypatch.setattr(Database, "transaction", transaction)
    tiny = TrainConfig(epochs=3, batch_size=64, device="cpu")
    data = {"train_set": synthetic_split(256, seed=1), "test_set": synthetic_split(50, seed=2)}
    owner = "visitor-token-000000"
    job = start_training(queue, owner, tiny, on_done=leaderboard_recorder(board, "ada", owner), **data)
    full.set()  # from its start to its end: the disk is full
    done = queue.wait("visitor-token-000000", job.job_id, 120)
    try:
        assert done.state == "finished" and "could not be written (the server's database cannot be used" in done.error
        assert "on the leaderboard below" not in headline(done, "shipped")
        assert str(tmp_path) not in done.error  # the visitor is not shown the server's paths
        full.clear()  # space again: the row and the job's record are written, the warning goes
        deadline = time.monotonic() + 30
        while board.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert board.count() == 1
        deadline = time.monotonic() + 10
        while queue.status("visitor-token-000000", job.job_id).error and time.monotonic() < deadline:
            time.sleep(0.1)
        assert queue.status("visitor-token-000000", job.job_id).error is None
        assert RunStore(board.path).get(job.job_id).state == "finished"  # a restart will not run it again
    finally:
        queue.close()


def test_a_corrupt_database_is_named_with_its_fix_and_predicting_goes_on(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / "leaderboard.sqlite3").write_bytes(b"this is not a database" * 100)
    state = AppState(state_dir=folder)
    try:
        assert f"the database {folder / 'leaderboard.sqlite3'} cannot be used" in state.storage_error
        assert "Fix: move it aside (mv" in state.storage_error
        assert any("cannot be used" in r.getMessage() for r in caplog.records)
        demo = build_app(state=state)  # the app starts
        assert predict(state.slot, data_url(example_path(3).read_bytes()), 1).answer["digit"] == 3
        with pytest.raises(PolicyError, match="the server's database cannot be used"):
            state.policy.check(TrainConfig())
        assert "database cannot be used" in _board_html(state, None, "all", "all")
        demo.close()
    finally:
        state.queue.close()


def test_a_read_only_database_is_named_with_its_fix(tmp_path: Path, monkeypatch) -> None:
    def read_only(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(sqlite3, "connect", read_only)  # as root, chmod would not stop this process
    state = AppState(state_dir=tmp_path / "state")
    try:
        assert "make" in state.storage_error and "writable" in state.storage_error
        assert str(tmp_path / "state" / "leaderboard.sqlite3") in state.storage_error
    finally:
        state.queue.close()


# --- 11. the browser key -------------------------------------------------------------------------


def test_the_key_file_is_not_published_and_an_empty_one_is_renewed_once(tmp_path: Path) -> None:
    (tmp_path / "browser-secret").write_text("")
    first = browser_secret(tmp_path)
    key = (tmp_path / "browser-secret").read_text().strip()
    assert len(key) >= 32 and key not in first  # what a page receives is derived, not the file
    assert browser_secret(tmp_path) == first  # the next start: the same key, visitors keep their tokens
