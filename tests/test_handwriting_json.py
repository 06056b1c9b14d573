"""The adapted layer as plain JSON (what the visitor's browser keeps): export, load, and every refusal."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from test_adapt import flagged_one

from mnistsum import Predictor
from mnistsum.handwriting import FORMAT, Handwriting, OtherWeightsError, export_params, load_params


@pytest.fixture(scope="module")
def base() -> Predictor:
    return Predictor.load()


@pytest.fixture(scope="module")
def held(base: Predictor) -> Handwriting:
    return Handwriting(base).taught([flagged_one()], [1])


def test_the_layer_round_trips_through_json_and_reads_the_same(base: Predictor, held: Handwriting) -> None:
    params = json.loads(json.dumps(export_params(held.adapted, held.digits)))
    assert params["format"] == FORMAT and params["version"] == 1 and params["fitted_on_sha256"] == base.weights_sha256
    assert (
        params["shape"] == {"weight": [10, 128], "bias": [10]} and params["drawings"] == 1 and params["digits"] == [1]
    )
    again = load_params(params, base).apply(base)
    similar = flagged_one((0.31, 0.31), 0.49)
    assert again.predict(similar, 0).digit == held.adapted.predict(similar, 0).digit == 1
    assert base.predict(similar, 0).digit == 7  # the base is untouched
    record = Handwriting.from_record(json.dumps(held.to_record()), base)
    assert record.digits == (1,) and record.adapted.predict(similar, 0).digit == 1


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda p: p["weight"][0].__setitem__(0, 0.5), "sha256 does not match"),
        (lambda p: p.__setitem__("format", "other"), "is not a mnistsum-handwriting-layer"),
        (lambda p: p.__setitem__("version", 9), "version 9"),
        (lambda p: p.pop("sha256"), "sha256 does not match"),
    ],
)
def test_a_corrupt_or_tampered_layer_is_refused_in_one_line(base: Predictor, held: Handwriting, edit, reason) -> None:
    params = copy.deepcopy(export_params(held.adapted, held.digits))
    edit(params)
    with pytest.raises(ValueError, match=reason) as err:
        load_params(params, base)
    assert "\n" not in str(err.value)


def test_wrong_shape_bad_numbers_and_other_weights_are_refused(base: Predictor, held: Handwriting) -> None:
    import hashlib

    from mnistsum.handwriting import _canonical

    def resealed(**changes):
        body = {k: v for k, v in export_params(held.adapted, held.digits).items() if k != "sha256"} | changes
        return {**body, "sha256": hashlib.sha256(_canonical(body)).hexdigest()}

    with pytest.raises(ValueError, match="has 1270 numbers"):
        load_params(resealed(weight=[[0.0] * 127] * 10), base)
    with pytest.raises(ValueError, match="not finite or beyond"):
        load_params(resealed(bias=[1e9] * 10), base)
    with pytest.raises(ValueError, match="digits 0-9"):
        load_params(resealed(digits=[11]), base)
    with pytest.raises(ValueError, match="not valid JSON"):
        load_params("{not json", base)
    other = copy.deepcopy(base.model)
    with torch.no_grad():
        other.backbone[0].weight.mul_(1.01)
    with pytest.raises(OtherWeightsError, match="fitted on other weights"):
        load_params(export_params(held.adapted, held.digits), Predictor(other))
    assert load_params(
        resealed(weight=sum(export_params(held.adapted, held.digits)["weight"], [])), base
    )  # flat is fine
