"""The MNISTSUM_* variables: one home, one parser per kind, one clear error, and a docs table that cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mnistsum import environment
from mnistsum.environment import EnvironmentValueError

REPO = Path(__file__).resolve().parent.parent
NAME = re.compile(r"MNISTSUM_[A-Z_]+[A-Z]")


def _sources() -> list[Path]:
    return [p for folder in ("mnistsum", "demo", "tools", "tests") for p in (REPO / folder).rglob("*.py")] + [
        REPO / "app.py"
    ]


def test_the_docs_table_is_the_modules():
    page = environment.DOCS.read_text()
    assert environment.with_table(page) == page, "run: python -m mnistsum.environment --write-docs"
    assert "## Environment variables" in page


def test_every_variable_the_code_names_is_declared_once():
    declared = {v.name for v in environment.VARIABLES}
    named = {name for path in _sources() for name in NAME.findall(path.read_text())}
    assert named - declared == set()
    assert len(declared) == len(environment.VARIABLES)  # no name declared twice


def test_only_the_environment_module_reads_mnistsum_variables():
    raw_read = re.compile(r"environ(?:\.get\(|\[)\s*[\"']MNISTSUM_")
    readers = [p.relative_to(REPO) for p in _sources() if raw_read.search(p.read_text())]
    assert readers == []


def test_unset_or_blank_means_the_default():
    assert environment.MAX_QUEUE.get({}) == environment.MAX_QUEUE.get({"MNISTSUM_MAX_QUEUE": "  "}) == 60
    assert environment.MAX_EPOCHS.get({}) is None and environment.TRAINING.get({}) is True
    assert environment.STATE_DIR.get({"MNISTSUM_STATE_DIR": "/srv/state"}) == Path("/srv/state")


@pytest.mark.parametrize("raw", ["0", "-3", "2.5", "ten", "1e3"])
def test_integers_must_be_positive_whole_numbers(raw):
    with pytest.raises(
        EnvironmentValueError, match=f"MNISTSUM_MAX_EPOCHS must be a positive whole number, got '{raw}'"
    ):
        environment.MAX_EPOCHS.get({"MNISTSUM_MAX_EPOCHS": raw})


@pytest.mark.parametrize(("raw", "value"), [("off", False), ("ON", True), ("0", False), ("yes", True)])
def test_switches_take_on_and_off(raw, value):
    assert environment.TRAINING.get({"MNISTSUM_TRAINING": raw}) is value


def test_one_error_names_every_bad_value_and_a_good_environment_passes():
    bad = {"MNISTSUM_TRAINING": "maybe", "MNISTSUM_MAX_QUEUE": "0", "MNISTSUM_MAX_EPOCHS": "3"}
    with pytest.raises(EnvironmentValueError) as caught:
        environment.check(bad)
    message = str(caught.value)
    assert "MNISTSUM_TRAINING must be 'on' or 'off', got 'maybe'" in message
    assert "MNISTSUM_MAX_QUEUE must be a positive whole number, got '0'" in message
    assert "MNISTSUM_MAX_EPOCHS" not in message
    assert environment.check({"MNISTSUM_MAX_EPOCHS": "3", "MNISTSUM_TRAINING": "off"}) is None
