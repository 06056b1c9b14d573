"""The whole app: a header, a banner when no model is loaded, and the Predict, Train and Learn tabs."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from typing import Any

import gradio as gr

from mnistsum import environment
from mnistsum.jobs import note_port
from mnistsum.payload import MAX_FILE_BYTES
from mnistsum.predictor import check_n

from .learn_tab import build_learn_tab
from .pad import css as pad_css
from .page_reader import reader_value, static_paths
from .predict_tab import build_predict_tab
from .refusals import check_input_count
from .state import AppState, ModelSlot, browser_secret, check_token, new_token
from .teach_round import build_round_link
from .train_tab import NICKNAME_KEY, build_train_tab

INTRO = """# mnistsum
One small network, two inputs, two answers: draw a digit, pick **n**, and it reads the digit
*and* computes digit + n with a second head. **Predict** shows what it answers and why,
**Train** trains your own model, **Learn** looks inside.
"""
STATIC = Path(__file__).resolve().parent / "static"
CSS = pad_css() + "".join(
    (STATIC / name).read_text(encoding="utf-8") for name in ("app.css", "handwriting.css", "teach_round.css")
)
HEAD = f"<script>{(STATIC / 'page.js').read_text(encoding='utf-8')}</script>"  # the n box, taps, the board's hint
LAUNCH_DEFAULTS: dict[str, Any] = {
    "theme": gr.themes.Soft(),
    "css": CSS,
    "head": HEAD,
    "max_file_size": MAX_FILE_BYTES,  # a drawing is a few KB; this stops oversized uploads at the door
    "show_error": True,  # API callers sending a non-image or a non-number learn why, not just "Error"
    # Gradio's run history keeps every event's inputs (each drawing) in the visitor's localStorage
    # and rewrites it whole on every event: each stroke gets slower than the last, and the quota
    # fills (docs/benchmarks.md, "HTTP").
    "run_history": False,
}


# Gradio's queue rebuilds a pandas DataFrame of its last 10,000 events after *every* event, to
# keep the API page's latency percentiles fresh: a cost per prediction that grows with the
# server's age (docs/benchmarks.md, "HTTP"). Refreshing them every 200 events costs nothing a
# visitor notices. A deployment's own value wins.
QUEUE_ENV_DEFAULTS = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "200"}


DEFAULT_PORT = 7860


class PortTaken(OSError):
    """The port asked for is in use; the message names it and the fix."""


# Uploads and served files are deleted from Gradio's cache after this long (checked as often): a
# script's uploads then hold at most ten minutes' worth of the upload route's traffic.
UPLOADS_KEPT_S = (600, 600)
VISITOR_KEY = "mnistsum-visitor"  # the browser's localStorage key for the visitor token
N_KEY = "mnistsum-n"  # ... and for n, so a reload keeps it (the drawing goes; n need not)


def kept_n(stored: Any) -> Any:
    """The n this browser kept, if it is one (else n stays as it is)."""
    try:
        return check_n(stored)
    except ValueError:
        return gr.skip()


def quiet(demo: gr.Blocks) -> None:
    """No Gradio progress overlay on any event: each tab reports its own state in words, and the
    overlay's "processing | 0.1/0.1s" timer and its untranslated "common.complete" screen-reader
    announcement are noise to a visitor."""
    for fn in demo.fns.values():
        fn.show_progress = "hidden"


def model_banner(slot: ModelSlot) -> dict[str, Any]:
    """Shown above the tabs while no model is loaded, with the reason and the fix; checked
    at every page load, so it goes away once the Train tab has swapped a model in."""
    return gr.update(value=f"### ⚠ No model is loaded\n{slot.error}", visible=slot.error is not None)


def visitor_token(stored: Any) -> tuple[str, str]:
    """The token this browser keeps, or a new one on its first visit (or if the stored one is unusable)."""
    try:
        token = check_token(stored)
    except ValueError:
        token = new_token()
    return token, token


def build_app(
    slot: ModelSlot | None = None, data_dir: str | Path | None = None, state: AppState | None = None
) -> gr.Blocks:
    """Build (not launch) the UI around one `AppState`: the shipped weights, the job queue, the
    leaderboard under MNISTSUM_STATE_DIR, and the limits from the environment, by default.

    Each browser gets a visitor token, kept in its localStorage (`gr.BrowserState`, so a reload
    keeps it) and copied at page load into a per-page `gr.State`, which is what every event
    reads: a `gr.State` is not part of any endpoint's API, so `/predict` still takes just
    (drawing, n)."""
    environment.check()  # every MNISTSUM_* variable, so a bad one stops the app here with all that is wrong
    app = state or AppState(slot=slot or ModelSlot())
    if data_dir is not None:
        app.handwriting.data_dir = str(data_dir)
    for name, value in QUEUE_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)  # read when the Blocks create their queue, just below
    gr.set_static_paths(static_paths())  # the shipped reader file, fetched (and cached) by the page
    with gr.Blocks(title="mnistsum: a digit and digit + n", delete_cache=UPLOADS_KEPT_S) as demo:
        stored = gr.BrowserState(None, storage_key=VISITOR_KEY, secret=browser_secret(app.state_dir))
        visitor = gr.State()
        # Kept here, outside the tabs: a BrowserState inside a tab not yet shown is read as its default.
        nickname = gr.BrowserState("", storage_key=NICKNAME_KEY, secret=browser_secret(app.state_dir))
        stored_n = gr.BrowserState(None, storage_key=N_KEY)
        gr.Markdown(INTRO, elem_id="intro")
        banner = gr.Markdown(visible=False, elem_id="model-banner")
        with gr.Tabs() as tabs:
            with gr.Tab("Predict", id="predict") as predict:
                drawing, n, reader, handwriting = build_predict_tab(app.handwriting, visitor, data_dir)
            with gr.Tab("Train", id="train"):
                build_train_tab(app, visitor, data_dir, nickname)
            with gr.Tab("Learn", id="learn") as learn:
                build_learn_tab(learn, drawing, n, app, visitor, handwriting, data_dir)
                build_round_link(tabs)  # the lesson's fine-tuning step: the round on the Predict tab
        # The page's reader runs this visitor's model: their own (a finished run they chose in
        # Train), adapted to their handwriting; refreshed at load and whenever they come back here.
        page_reader = {"fn": functools.partial(reader_value, app.handwriting), "inputs": visitor, "outputs": reader}
        demo.load(fn=visitor_token, inputs=stored, outputs=[stored, visitor], api_visibility="private").then(
            **page_reader, api_visibility="private", show_progress="hidden"
        )
        predict.select(**page_reader, api_visibility="private", show_progress="hidden")
        demo.load(fn=lambda: model_banner(app.slot), outputs=banner, api_visibility="private")
        demo.load(fn=app.handwriting.warm_up, api_visibility="private")  # once: the first correction is quick
        demo.load(fn=kept_n, inputs=stored_n, outputs=n, api_visibility="private")
        n.change(fn=None, js="(n) => n", inputs=n, outputs=stored_n)  # in the page: no request per move
    quiet(demo)
    check_input_count(demo)  # a call with too few values is told so, and its values are not echoed
    demo.app_state = app  # for tests and scripts that drive the same services
    return demo


def launch(demo: gr.Blocks, **overrides: Any) -> tuple[Any, str, str | None]:
    """Queue and launch with the app's theme, CSS and limits; `overrides` are passed to
    `Blocks.launch` (tests pick the host and port; a Space sets them through GRADIO_SERVER_*).

    uvicorn believes X-Forwarded-For from loopback peers by default, so any local client could
    claim another address; here it believes no one (unless the deployment sets FORWARDED_ALLOW_IPS
    itself), and `MNISTSUM_PROXY_HOPS` decides which header entry a run counts against."""
    os.environ.setdefault("FORWARDED_ALLOW_IPS", "")
    settings = {**LAUNCH_DEFAULTS, **overrides}
    # One port, the one asked for: Gradio would quietly move a server whose port is taken to the next one.
    if settings.get("server_port") is None:
        settings["server_port"] = int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT)
    check_port(
        settings.get("server_name") or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1", settings["server_port"]
    )
    note_port(demo.app_state.state_dir, settings["server_port"])
    demo.app_state.handwriting.warm_up()  # now, not at the first page load: the first lesson is quick too
    return demo.queue().launch(**settings)


def check_port(host: str, port: int) -> None:
    """`PortTaken` unless `port` is free on `host`: a second server is an error, not a silent move."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Gradio binds: a port in TIME_WAIT is free
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as err:
            raise PortTaken(
                f"port {port} on {host} is taken ({err.strerror}): is another server running there? Stop it, or "
                "choose another port (GRADIO_SERVER_PORT)"
            ) from None
