"""The shape of demo/: short files and tab builders that read like Gradio's demos (issue 21)."""

from __future__ import annotations

import ast
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "demo"
MAX_FILE_LINES = 300
MAX_BUILD_LINES = 60


def _files() -> list[Path]:
    return sorted(DEMO.glob("*.py"))


def test_no_demo_file_is_over_the_line_limit():
    long = {p.name: n for p in _files() if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert not long, f"over {MAX_FILE_LINES} lines: {long}"


def test_every_build_function_fits_on_a_screen():
    builders = {
        f"{p.name}:{node.name}": node.end_lineno - node.lineno + 1
        for p in _files()
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("build_")
    }
    assert "train_tab.py:build_train_tab" in builders and "app.py:build_app" in builders
    long = {name: n for name, n in builders.items() if n > MAX_BUILD_LINES}
    assert not long, f"build_* functions over {MAX_BUILD_LINES} lines: {long}"
