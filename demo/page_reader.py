"""The page's reader as a component: which model the visitor's page runs, and the scripts that run it.

The network and the preprocessing run in the page (`demo/static/reader*.js`, weights exported by
`mnistsum.export`), so a stroke, Undo, Redo, Clear or slider step sends nothing to the server.
This component's value tells the page which model to run: the shipped reader file (a static
URL the browser caches), or a visitor's own trained model (exported into the value, for that
visitor only), plus the hash of those weights (the visitor's stored handwriting layer, kept in their browser,
applies only to the weights it was fitted on) and the lines the answer shows about it.
Where the page cannot run it, the pad falls back to the server's `/predict` and says so.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import gradio as gr

from mnistsum.config import SHIPPED_WEIGHTS
from mnistsum.export import READER, file_digest, reader, state_digest
from mnistsum.predictor import Predictor

from .handwriting import VisitorHandwriting
from .pad import STATIC

SCRIPTS = ("reader_preprocess.js", "reader_verdict.js", "reader_net.js", "reader.js", "reader_view.js")
OFFLINE_NOTE = (
    "The server cannot be reached: drawing still answers here; Train, the leaderboard, the race and Learn wait for it."
)


@functools.lru_cache(maxsize=1)
def shipped_reader() -> tuple[str, str] | None:
    """(path, checkpoint SHA-256) of weights/reader.json when it is the export of the shipped
    weights; None when it is missing or stale (the page then gets the export in its value)."""
    try:
        source = json.loads(READER.read_text(encoding="utf-8"))["source_sha256"]
        digest = file_digest(SHIPPED_WEIGHTS)
    except (OSError, ValueError, KeyError):
        return None
    return (str(READER), digest) if source == digest else None


@functools.lru_cache(maxsize=16)
def _exported(predictor: Predictor) -> dict[str, Any]:
    """A model held in memory (a visitor's run), exported for their page; kept while it is in use."""
    return reader(predictor.model, state_digest(predictor.model))


def reader_value(handwriting: VisitorHandwriting, token: str | None) -> dict[str, Any]:
    """What the page runs for this visitor: {file | artefact, id, weights_sha256, model, model_numbers, ping}."""
    served = handwriting.models.for_visitor(token)  # their model; their handwriting is in their browser
    base = served.predictor
    ping = str(READER)  # what the page HEADs to learn whether the server is there
    if base is None:
        return {"error": served.error or "no model is loaded", "model": served.source, "ping": ping}
    shipped = shipped_reader()
    out: dict[str, Any] = {"model": served.source, "model_numbers": served.numbers, "ping": ping}
    if shipped is not None and base is handwriting.default.predictor and handwriting.default.numbers is not None:
        out["file"], out["id"] = shipped
    else:
        artefact = _exported(base)
        out["artefact"], out["id"] = artefact, artefact["source_sha256"]
    # The visitor's handwriting layer is kept in their browser (demo/static/handwriting.js): the
    # page applies it when it was fitted on exactly these weights.
    out["weights_sha256"] = base.weights_sha256
    return out


def _template() -> str:
    # data-state: "loading", then "page" (the page reads the drawings) or "server" (the fallback)
    return '<div class="page-reader" data-state="loading"><div class="reader-note" hidden role="status"></div></div>'


class PageReader(gr.HTML):
    """Runs the visitor's model in the page; shows one line when it cannot (the server answers then)
    or when the server cannot be reached. Its value is `reader_value`'s dict."""

    def __init__(self, value: dict[str, Any] | None, elem_id: str = "reader", **kwargs: Any) -> None:
        script = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in SCRIPTS)
        super().__init__(
            value=value,
            html_template=_template(),
            js_on_load=script.replace("__OFFLINE_NOTE__", json.dumps(OFFLINE_NOTE)),
            apply_default_css=False,
            elem_id=elem_id,
            **kwargs,
        )

    def postprocess(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value

    def api_info(self) -> dict[str, Any]:
        return {"type": "object", "description": "the model the page runs (not part of any API)"}

    def example_payload(self) -> Any:
        return None

    def example_value(self) -> Any:
        return None


def static_paths() -> list[Path]:
    """What the page fetches directly: the shipped reader file."""
    return [READER]
