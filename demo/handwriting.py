"""A visitor's taught handwriting, kept in their browser: the page's store and the server's side of it.

The record (`mnistsum.handwriting.Handwriting.to_record`: the fitted last layer and the 28x28
drawings it was fitted on) lives in the visitor's localStorage, written by
`demo/static/handwriting.js` whenever the server sends a new one. Each event that needs it
sends it: a prediction applies its layer (a swap of the last layer, about a millisecond), a
correction fits a new one from its drawings and the new one. The server checks it every time
and forgets it once it has answered: nothing of it is kept in memory or on disk here.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import gradio as gr

from mnistsum.handwriting import KEEP, Handwriting, OtherWeightsError, load_params, warm
from mnistsum.predictor import Predictor

from .models import ModelSlot, ServedModel, VisitorModels

STORAGE_KEY = "mnistsum-handwriting"  # the browser's localStorage key for the record
UNREAD = "unread"  # the store's value until the server has checked what the browser kept: "" then differs from it
STATIC = Path(__file__).resolve().parent / "static"


class HandwritingStore(gr.HTML):
    """The visitor's record as a page component: its value is the record's JSON text ("" for
    none), set by the server; the page keeps it in localStorage, tells the in-page reader, and
    shows "Reading with your handwriting (N drawings)" with each drawing and a remove button
    (which fires `click` with `{"remove": index}`)."""

    def __init__(self, elem_id: str = "handwriting", **kwargs: Any) -> None:
        super().__init__(
            value=UNREAD,  # until the server has checked the stored record: its first answer is always a change
            html_template=(
                f'<div class="handwriting" data-key="{STORAGE_KEY}" data-unread="{UNREAD}"><p class="hw-line" aria-live="polite"></p>'
                '<div class="hw-drawings"></div></div>'
            ),
            js_on_load=(STATIC / "handwriting.js").read_text(encoding="utf-8"),
            apply_default_css=False,
            elem_id=elem_id,
            **kwargs,
        )

    def api_info(self) -> dict[str, Any]:
        return {"type": "string", "description": "the visitor's handwriting record (JSON text), '' for none"}

    def example_payload(self) -> Any:
        return ""

    def example_value(self) -> Any:
        return ""


def record_text(held: Handwriting | None) -> str:
    """What the store holds for `held`: its record's JSON text, "" when nothing is taught."""
    record = held.to_record() if held is not None else None
    return "" if record is None else json.dumps(record, separators=(",", ":"))


class VisitorHandwriting:
    """The server's side of visitors' handwriting, on top of `models` (the model each visitor
    chose): it applies, fits and checks records sent by the page and keeps none of them.
    What it keeps is per model, not per visitor: the MNIST replay features, computed once."""

    def __init__(self, models: VisitorModels, keep: int = KEEP, data_dir: str | None = None) -> None:
        self.models = models
        self.keep = keep
        self.data_dir = data_dir  # MNIST, for the replay and the forgetting check (default: MNISTSUM_DATA)
        self._warmed: Predictor | None = None

    @property
    def default(self) -> ModelSlot:
        return self.models.default

    def held(self, token: str | None, stored: Any, relearn: bool = True) -> Handwriting | None:
        """The visitor's record read back on the model they use now (learned again on it if it was
        fitted on other weights, unless not `relearn`); None for none. ValueError (one line) if it
        fails the check."""
        served = self.models.for_visitor(token)
        if not stored or stored == UNREAD or served.predictor is None:
            return None
        return Handwriting.from_record(stored, served.predictor, relearn, keep=self.keep, data_dir=self.data_dir)

    def for_visitor(self, token: str | None, stored: Any = None) -> ServedModel:
        """The model this visitor's prediction uses: their model, with their stored layer applied
        when it was fitted on it (else the page is told which model answers, and why).

        The one function the Predict tab, the Learn tab and the answer's "Model:" line read the
        model through, so they can never disagree."""
        served = self.models.for_visitor(token)
        if not stored or stored == UNREAD or served.predictor is None:
            return served
        try:
            params = json.loads(stored)["params"] if isinstance(stored, str) else stored["params"]
            layer = load_params(params, served.predictor)
        except OtherWeightsError:
            note = "not with your handwriting: it was taught on other weights (teach one drawing to learn it again)"
            return served._replace(source=f"{served.source}; {note}")
        except (ValueError, KeyError, TypeError) as err:
            return served._replace(source=f"{served.source}; not with your handwriting ({err})")
        # the shipped numbers are not its own; the source says so in the words every tab shows
        taught = f"{served.source}, adapted to {len(layer.digits)} of your drawings"
        return served._replace(predictor=layer.apply(served.predictor), numbers=None, source=taught)

    def teach(self, token: str | None, stored: Any, drawings: list[Any], digits: list[Any]) -> Handwriting:
        """The stored record plus these labelled drawings, fitted once; ValueError (with the
        reason) for no model, an unusable drawing or digit, or a stored record that fails its check."""
        served = self.models.for_visitor(token)
        if served.predictor is None:
            raise ValueError(f"No model is loaded. {served.error}")
        held = self.held(token, stored) or Handwriting(served.predictor, keep=self.keep, data_dir=self.data_dir)
        return held.taught(drawings, digits)

    def warm_up(self) -> None:
        """Compute the default model's replay features in the background, once per model, so the
        first correction is answered as fast as the others."""
        predictor = self.models.default.predictor
        if predictor is None or predictor is self._warmed:
            return
        self._warmed = predictor
        threading.Thread(target=warm, args=(predictor, self.data_dir), daemon=True, name="warm-handwriting").start()
