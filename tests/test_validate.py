"""Validation scores (`python -m mnistsum.validate`): validation data only, and never for a
checkpoint that learned from it."""

import json

from mnistsum.checkpoint import save_checkpoint
from mnistsum.config import SHIPPED_WEIGHTS, TrainConfig
from mnistsum.train import checkpoint_meta, run
from mnistsum.validate import main, trained_on_validation


def meta(**changes) -> dict:
    return {"config": TrainConfig(pen_copies=6, pen_writers="train", val_size=5000).replace(**changes).to_dict()}


def test_a_checkpoint_that_learned_from_validation_data_is_refused():
    assert trained_on_validation(meta(), 5000) is None
    assert "validation writers" in trained_on_validation(meta(pen_writers="train+val"), 5000)
    assert trained_on_validation(meta(pen_writers="train+val", pen_copies=0), 5000) is None  # no pen digits at all
    assert "last 5000 training images" in trained_on_validation(meta(val_size=0), 5000)
    assert "last 5000 training images" in trained_on_validation(meta(val_size=1000), 5000)
    assert "does not record" in trained_on_validation({}, 5000)


def test_the_shipped_weights_are_refused_with_a_reason(capsys):
    assert main(["--weights", str(SHIPPED_WEIGHTS)]) == 2
    err = capsys.readouterr().err
    assert "cannot be validated" in err and "--pen-writers train" in err and "Traceback" not in err


def test_a_quick_validation_of_a_small_run(mnist_dir, pen_dir, tmp_path, capsys):
    cfg = TrainConfig(data_dir=str(mnist_dir), limit=2000, val_size=5000, eval_every_epoch=False, augment=True)
    result = run(cfg)
    weights = tmp_path / "small.pt"
    save_checkpoint(weights, result.model, checkpoint_meta(result))
    out = tmp_path / "val.json"
    assert (
        main(["--weights", str(weights), "--data-dir", str(pen_dir), "--limit", "60", "--json", "--out", str(out)]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text())
    assert report["mnist_val_images"] == 5000 and report["stress_images"] == 60
    assert 55 <= report["pen_val_digits"] <= 60 and report["pen_val_writers"] >= 5
    assert report["mnist_val_digit_accuracy"] > 0.5  # 2,000 images, one epoch: far above chance (10%)
    assert set(report["pen_val_by_pen"]) == {"10", "22", "34"}
    assert set(report["pen_val_by_set"]) == {"unipen", "pendigits"} and report["pen_val_missing_sets"] == []
    for s in report["pen_val_by_set"].values():
        assert set(s["by_pen"]) == {"10", "22", "34"} and 0 <= s["digit_accuracy"] <= 1
    assert 0 <= report["mnist_val_sevens"] <= 1 and report["mnist_val_ones_read_as_7"] >= 0
    for value in (report["pen_val_accuracy"], *report["stress"].values(), report["pen_val_weakest_digit"]):
        assert 0 <= value <= 1
