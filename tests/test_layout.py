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


def _imports(package: Path) -> dict[str, set[str]]:
    """Each module of `package` -> the modules of the same package it imports (at the top, lazily
    inside functions, or only for type checking: every arrow counts)."""
    name = package.name
    modules = {
        p.relative_to(package.parent).with_suffix("").as_posix().replace("/", "."): p for p in package.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        here = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                candidates = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            found |= {c.removesuffix(".__init__") for c in candidates if c in modules or f"{c}.__init__" in modules}
        graph[module.removesuffix(".__init__")] = {m for m in found if m.startswith(name) and m != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append(path[path.index(node) :] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            if not (nxt in graph.get(node, ()) and node.startswith(nxt + ".")):  # a module reading its own package
                visit(nxt, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return cycles


def test_no_import_cycles_in_the_library_or_the_demo():
    """Arrows point down only (../shared/notes/layout.md): no two modules import each other, even lazily."""
    for package in (DEMO, DEMO.parent / "mnistsum"):
        assert not _cycles(_imports(package)), _cycles(_imports(package))
