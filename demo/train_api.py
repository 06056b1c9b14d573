"""The Train tab's named endpoints for API callers: `/visitor_token`, `/train_start`,
`/train_stop`, `/train_status` and `/leaderboard_csv`.

Each /train_* call takes the caller's visitor token and acts on that visitor's runs only; a bad
token, or a run id that is someone else's, is refused with an error that says why.
`/train_start` takes the form's fields (`demo.train_form.FIELDS`), with the form's defaults.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from mnistsum.config import TrainConfig
from mnistsum.database import StorageError
from mnistsum.jobs import TRAINING_JOB, JobStatus, status_dict

from .refusals import refused
from .state import REFUSALS, AppState, check_token, new_token
from .train_form import FIELDS, api_signature, submit

MAX_RUN_ID = 2**63 - 1  # SQLite's largest integer: a bigger id is no run's


def _run_id(value: Any) -> int | None:
    """An API caller's run id: None, or a whole number up to `MAX_RUN_ID` (a ValueError otherwise,
    never a TypeError or an OverflowError)."""
    if value is None:
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not 0 <= value <= MAX_RUN_ID:
        shown = repr(value) if len(repr(value)) <= 30 else f"a number of {len(repr(value))} digits"
        raise ValueError(f"run_id must be a whole number (a run's job_id), got {shown}; ids run from 0 to {MAX_RUN_ID}")
    return int(value)


def latest_run(app: AppState, token: str | None) -> JobStatus | None:
    """This visitor's latest training run, if any."""
    return app.queue.latest(token, TRAINING_JOB) if token else None


def register_train_api(app: AppState, base: TrainConfig) -> None:
    """Add the endpoints to the Blocks being built; `base` is the preset the form starts from."""

    def visitor_token() -> str:
        """A new visitor token: pass it to /train_start, /train_stop and /train_status."""
        return new_token()

    def train_start(request: gr.Request, token: str, *values: Any) -> dict:
        """Queue a training run for this token and return at once (state "queued" or "running"); refused
        (an error saying why) for a bad token or value, beyond the Train tab's limits or this deployment's
        caps, without the class code where the server has one, when the token or its network address
        already holds its runs, or when the queue is full."""
        defaults = [field.default(base) for field in FIELDS]
        try:
            status = submit(app, base, request, check_token(token), *values, *defaults[len(values) :])
        except REFUSALS as err:
            raise refused(str(err)) from err
        return status_dict(status)

    signature = api_signature(base)  # what Gradio reads for the endpoint's parameters and their types
    train_start.__signature__ = signature
    train_start.__annotations__ = {name: p.annotation for name, p in signature.parameters.items()} | {"return": dict}

    def train_stop(token: str, run_id: int | None = None) -> dict:
        """Cancel this token's queued run or stop its running one at the next batch (`run_id`: that run, if yours)."""
        try:
            status = app.queue.stop(check_token(token), _run_id(run_id))
        except REFUSALS as err:
            raise refused(str(err)) from err
        return status_dict(status if status is not None else latest_run(app, token))

    def train_status(token: str, run_id: int | None = None) -> dict:
        """This token's latest run (or `run_id`, if yours): state (idle, queued, running, stopping, finished,
        stopped, cancelled, failed, interrupted: stopped by a server restart), queue place and estimated
        start, error, progress, log, metrics, and `result` (what is kept of how it ended)."""
        try:
            check_token(token)
            run = _run_id(run_id)
            status = latest_run(app, token) if run is None else app.queue.status(token, run)
        except REFUSALS as err:
            raise refused(str(err)) from err
        return status_dict(status)

    def leaderboard_csv() -> str:
        """The class leaderboard as CSV text, best first."""
        try:
            return app.board.to_csv()
        except StorageError as err:
            raise refused(err.public) from err

    def leaderboard_remove(teacher_token: str, row_id: int) -> int:
        """Remove one leaderboard row (its `id` in the CSV) with the teacher token; returns the rows left."""
        try:
            if not app.board.remove(_run_id(row_id) or 0, teacher_token):
                raise ValueError(f"there is no leaderboard row {row_id}")
            return app.board.count()
        except REFUSALS as err:
            raise refused(str(err)) from err

    for endpoint in (visitor_token, train_start, train_stop, train_status, leaderboard_csv, leaderboard_remove):
        gr.api(endpoint, api_name=endpoint.__name__, concurrency_limit=None)
