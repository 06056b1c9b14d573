"""How a handler refuses a request: a `gr.Error` the caller reads, and one short line in the log.

Gradio prints a whole traceback (~3 KB) for every error a handler raises, and its check of an
event's inputs echoes every value it got: three 5 MB calls were 15 MB of log. A refusal is the
caller's mistake, not the server's: it gets one line here, at most `LOG_CHARS` of the message.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

log = logging.getLogger("mnistsum.refused")
LOG_CHARS = 200


def refused(message: str) -> gr.Error:
    """The error to raise for a refused request, logged as one line (never the request's values)."""
    log.info("refused: %s", message if len(message) <= LOG_CHARS else message[:LOG_CHARS] + "…")
    return gr.Error(message, print_exception=False)


def check_input_count(blocks: gr.Blocks) -> None:
    """Replace Gradio's check of an event's input count, whose message holds every value received,
    with one that says how many were expected and got."""

    def validate_inputs(block_fn: Any, inputs: list[Any]) -> None:
        if len(inputs) < len(block_fn.inputs):
            name = f" ({block_fn.api_name})" if block_fn.api_name else ""
            raise refused(f"the endpoint{name} takes {len(block_fn.inputs)} values, got {len(inputs)}")

    blocks.validate_inputs = validate_inputs  # an instance attribute: Blocks calls self.validate_inputs
