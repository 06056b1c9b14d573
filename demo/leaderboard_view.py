"""The class leaderboard under the Train tab: the table (filtered, polled), CSV export, and
clearing with the teacher token. Wiring only: `mnistsum.leaderboard` keeps the rows."""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

import gradio as gr

from mnistsum.checkpoint import atomic_write_text
from mnistsum.database import StorageError
from mnistsum.leaderboard import ClearRefused, Row, shown_columns
from mnistsum.model import FUSIONS, NETWORKS

from .refusals import refused
from .state import AppState, refusal

BOARD_POLL_S = 10.0  # other students' runs land on the leaderboard while you watch (Refresh: at once)
BOARD_ROWS = 100
ALL = "all"


def _cell(row: Row, name: str, shown: str) -> str:
    value = getattr(row, name)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return shown.format(value) + (" ★ you" if name == "nickname" and row.mine else "")


def leaderboard_html(rows: list[Row]) -> str:
    """The leaderboard as an HTML table, its columns as `Row` declares them. Every string a visitor
    could have typed is escaped, and so is every other one: nothing in a row is ever read as markup."""
    if not rows:
        return '<p id="leaderboard-empty">No finished runs yet: the first one lands here.</p>'
    columns = shown_columns()
    head = "".join(f"<th>{html.escape(title)}</th>" for title in ["#", *(title for _, title, _ in columns)])
    body = []
    for rank, r in enumerate(rows, 1):
        cells = [str(rank), *(_cell(r, name, shown) for name, _, shown in columns)]
        row_class = ' class="mine"' if r.mine else ""
        body.append(f"<tr{row_class}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f'<table id="leaderboard-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _board(app: AppState, token: str | None, arch: str, fusion: str) -> str:
    try:
        rows = app.board.rows(token, None if arch == ALL else arch, None if fusion == ALL else fusion)
    except StorageError as err:  # said in the table's place, not raised at every refresh
        return f"<p>⚠️ {html.escape(err.public)}</p>"
    return leaderboard_html(rows[:BOARD_ROWS])


def _export_csv(app: AppState) -> str:
    """One file per server, replaced atomically by each export (a folder per call was never deleted);
    Gradio serves a copy from its cache, which it empties itself."""
    folder = Path(tempfile.gettempdir()) / f"mnistsum-leaderboard-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    path = folder / "leaderboard.csv"
    try:
        atomic_write_text(path, app.board.to_csv())
    except StorageError as err:
        raise refused(err.public) from err
    return str(path)


def _clear(app: AppState, teacher_token: str) -> str:
    try:
        removed = app.board.clear(teacher_token)
    except ClearRefused as err:
        return refusal(err)
    return f"✅ Cleared {removed} runs."


def build_leaderboard(app: AppState, visitor: gr.State, landed: gr.State | None = None) -> None:
    """The table, its filters and the teacher's accordion, wired for the visitor whose token `visitor` holds;
    a change of `landed` (the visitor's own run just finished) refreshes the table at once."""
    gr.Markdown(
        "## Class leaderboard\nEvery finished run, best sum accuracy first (all 100,000 test pairs); ★ marks yours."
    )
    with gr.Row():
        arch = gr.Dropdown([ALL, *NETWORKS], value=ALL, label="Backbone", elem_id="board-arch")
        fusion = gr.Dropdown([ALL, *FUSIONS], value=ALL, label="Fusion", elem_id="board-fusion")
        refresh = gr.Button("↻ Refresh", size="sm", elem_id="board-refresh")
    table = gr.HTML(lambda: _board(app, None, ALL, ALL), elem_id="leaderboard")  # there when the page opens
    with gr.Accordion("For the teacher: export or clear", open=False):
        with gr.Row():
            export = gr.Button("⬇ Export CSV", size="sm", elem_id="board-export")
            csv_file = gr.File(label="leaderboard.csv", interactive=False, elem_id="board-csv")
        with gr.Row():
            teacher = gr.Textbox(label="Teacher token", type="password", elem_id="board-teacher-token")
            clear = gr.Button("Clear the leaderboard", variant="stop", size="sm", elem_id="board-clear")
        clear_message = gr.Markdown(elem_id="board-clear-message")
    timer = gr.Timer(BOARD_POLL_S)
    show = {
        "fn": lambda token, a, f: _board(app, token, a, f),
        "inputs": [visitor, arch, fusion],
        "outputs": table,
        "api_visibility": "private",
        "show_progress": "hidden",
    }
    # The visitor's token arrives at page load: the first render marks their runs (★) at once.
    triggers = [visitor.change, refresh.click, arch.change, fusion.change, timer.tick]
    triggers += [landed.change] if landed else []
    gr.on(triggers, **show, concurrency_limit=None)
    export.click(lambda: _export_csv(app), None, csv_file, api_visibility="private")
    clear.click(lambda t: _clear(app, t), teacher, clear_message, api_visibility="private").then(**show)
