"""Every `MNISTSUM_*` environment variable in one place: its name, what it accepts, its default.

The app checks them all at startup (`check`), so a typo in a deployment's settings stops it
with one message naming every bad value, rather than failing mid-lesson; the modules that use a
value read it through its `Variable` (`STATE_DIR.get()`), with the same parser. docs/deploy.md's
table of variables is written from `VARIABLES` (`python -m mnistsum.environment`), and a test
keeps the two equal.

To add a variable: one `_declare(...)` line below (name, parser, default, what it does), then
run `python -m mnistsum.environment --write-docs`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
_ON, _OFF = ("1", "on", "true", "yes"), ("0", "off", "false", "no")


class EnvironmentValueError(ValueError):
    """A variable holds a value its parser refuses; the message names the variable and the value."""


def positive_int(text: str) -> int:
    """A whole number >= 1 (the one integer parser for every variable)."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError("must be a positive whole number")
    return int(text)


def switch(text: str) -> bool:
    """on/off (also 1/0, true/false, yes/no), any case."""
    word = text.lower()
    if word not in _ON + _OFF:
        raise ValueError("must be 'on' or 'off'")
    return word in _ON


def plain(value: str) -> str:
    """Any text, as given."""
    return value


def code(text: str) -> str:
    """A class code: text of at least 4 characters (a shorter one is guessed at once)."""
    if len(text) < 4:
        raise ValueError("must be at least 4 characters")
    return text


@dataclass(frozen=True)
class Variable:
    """One environment variable. Unset or blank means `default`."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    default_text: str = ""  # the default as the docs say it, when `default` alone does not

    def get(self, environ: Mapping[str, str] | None = None) -> Any:
        """The parsed value from `environ` (default: the process's environment)."""
        raw = (os.environ if environ is None else environ).get(self.name, "").strip()
        if not raw:
            return self.default
        try:
            return self.parse(raw)
        except ValueError as err:
            raise EnvironmentValueError(f"{self.name} {err}, got {raw!r}") from None


VARIABLES: list[Variable] = []


def _declare(name: str, parse: Callable[[str], Any], default: Any, help: str, default_text: str = "") -> Variable:
    variable = Variable(name, parse, default, help, default_text)
    VARIABLES.append(variable)
    return variable


# fmt: off
TRAINING = _declare("MNISTSUM_TRAINING", switch, True,
                    "`off` removes the form; the tab explains why, and `/train_start` is refused", "on")
MAX_EPOCHS = _declare("MNISTSUM_MAX_EPOCHS", positive_int, None,
                      "most epochs per run, for the page and the API alike (the slider stops there); "
                      "it can only lower the Train tab's own limit", "the Train tab's 30")
MAX_LIMIT = _declare("MNISTSUM_MAX_LIMIT", positive_int, None, "most training images per run (can only lower it)",
                     "the Train tab's 60,000")
MAX_BATCH_SIZE = _declare("MNISTSUM_MAX_BATCH_SIZE", positive_int, None,
                          "largest batch size, which bounds memory per step (can only lower it)", "the Train tab's 1,024")
TRAIN_WORKERS = _declare("MNISTSUM_TRAIN_WORKERS", positive_int, None,
                         "runs trained at once; the others wait in the queue", "cores ÷ 2, at least 1")
MAX_QUEUE = _declare("MNISTSUM_MAX_QUEUE", positive_int, 60, "most runs waiting; the next Start is refused with the reason")
CLASS_CODE = _declare("MNISTSUM_CLASS_CODE", code, "",
                      "when set, training, the leaderboard and `/train_start` need this code; everyone still draws "
                      "and predicts", "unset")
RUNS_PER_ADDRESS = _declare("MNISTSUM_RUNS_PER_ADDRESS", positive_int, 3,
                            "most runs one client address may hold queued or running")
RUNS_PER_ADDRESS_WITH_CODE = _declare("MNISTSUM_RUNS_PER_ADDRESS_WITH_CODE", positive_int, 40,
                                      "the same, for callers with the class code (a class behind one school address)")
PROXY_HOPS = _declare("MNISTSUM_PROXY_HOPS", positive_int, None,
                      "trusted reverse proxies in front; unset, `X-Forwarded-For` is never read "
                      "([behind a proxy](#behind-a-proxy))", "unset (none)")
MAX_MODELS = _declare("MNISTSUM_MAX_MODELS", positive_int, 16,
                      "trained models held in memory for visitors' **Use these weights** (least recently used dropped)")
STATE_DIR = _declare("MNISTSUM_STATE_DIR", Path, Path("runs"),
                     "the leaderboard and run database (runs survive a restart), visitors' chosen models and the "
                     "browser secret")
TEACHER_TOKEN = _declare("MNISTSUM_TEACHER_TOKEN", plain, "",
                         "the token that clears the leaderboard (unset, nobody can) and starts or stops the class's "
                         "race (unset, anyone can, with the class code if one is set)", "unset")
MAX_CHECKPOINTS = _declare("MNISTSUM_MAX_CHECKPOINTS", positive_int, 100,
                          "most models **Save** keeps in the checkpoint folder (each ~1 MB; 5 per visitor)")
MAX_ROWS_PER_ADDRESS = _declare("MNISTSUM_MAX_ROWS_PER_ADDRESS", positive_int, 200,
                                "most leaderboard rows from one client address (its worst dropped first)")
MAX_ROWS = _declare("MNISTSUM_MAX_ROWS", positive_int, 5000,
                    "most leaderboard rows in all (the oldest of the lower half dropped first)")
CHECKPOINT_DIR = _declare("MNISTSUM_CHECKPOINT_DIR", Path, Path("checkpoints"), "where **Save** writes checkpoints")
DATA = _declare("MNISTSUM_DATA", Path, Path("data"),
                "where MNIST is looked for (torchvision's `MNIST/raw/` layout below it), and the pen sets")
CACHE = _declare("MNISTSUM_CACHE", Path, Path.home() / ".cache" / "mnistsum",
                 "where rendered pen sets are kept between runs", "`~/.cache/mnistsum`")
REQUIRE_DATA = _declare("MNISTSUM_REQUIRE_DATA", switch, False,
                        "tests: fail (not skip) when MNIST or the pen data is missing (CI sets it)", "off")
REQUIRE_BROWSER = _declare("MNISTSUM_REQUIRE_BROWSER", switch, False,
                           "tests: fail (not skip) when Chromium is missing (CI sets it)", "off")
# fmt: on


def check(environ: Mapping[str, str] | None = None) -> None:
    """Parse every variable; one `EnvironmentValueError` lists every bad value. Call at startup."""
    problems = []
    for variable in VARIABLES:
        try:
            variable.get(environ)
        except EnvironmentValueError as err:
            problems.append(str(err))
    if problems:
        raise EnvironmentValueError("bad environment: " + "; ".join(problems))


def docs_table() -> str:
    """The Markdown table of every variable, as docs/deploy.md shows it."""
    kinds = {
        plain: "text",
        code: "text, 4 characters or more",
        Path: "a folder",
        switch: "on / off",
        positive_int: "a whole number >= 1",
    }
    lines = ["| variable | takes | default | what it sets |", "|---|---|---|---|"]
    for v in VARIABLES:
        default = v.default_text or f"`{v.default}`"
        lines.append(f"| `{v.name}` | {kinds[v.parse]} | {default} | {v.help} |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- environment table: python -m mnistsum.environment --write-docs -->", "<!-- end of table -->"


def with_table(page: str) -> str:
    """`page` with the text between the table's markers replaced by `docs_table()`."""
    head, found, rest = page.partition(BEGIN)
    if not found or END not in rest:
        raise ValueError(f"the page has no environment table markers ({BEGIN} ... {END})")
    return f"{head}{BEGIN}\n{docs_table()}{END}{rest.partition(END)[2]}"


def main() -> None:
    parser = argparse.ArgumentParser(description="The MNISTSUM_* environment variables: check them or list them.")
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite the table in {DOCS.name}")
    args = parser.parse_args()
    if args.write_docs:
        temp = DOCS.with_suffix(".md.tmp")
        temp.write_text(with_table(DOCS.read_text()))
        temp.replace(DOCS)  # atomic: the page is old or new, never half written
        print(f"wrote the table in {DOCS}")
        return
    check()
    print(docs_table(), end="")


if __name__ == "__main__":
    main()
