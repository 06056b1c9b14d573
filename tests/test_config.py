"""The config is the whole recipe: every field is a flag, recorded in checkpoints, read back as it was."""

import argparse
import dataclasses

import pytest

from mnistsum.config import PRESETS, SETTINGS, TrainConfig, add_arguments, apply_values, config_from_args
from mnistsum.model import FUSIONS, NETWORKS


def parse(*argv: str, preset: str = "quick") -> TrainConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)), preset)


def test_every_field_is_a_setting_with_help():
    assert [s.name for s in SETTINGS] == [f.name for f in dataclasses.fields(TrainConfig)]
    assert all(s.help for s in SETTINGS)
    by_name = {s.name: s for s in SETTINGS}
    assert by_name["arch"].choices == tuple(NETWORKS) and by_name["fusion"].choices == tuple(FUSIONS)
    assert (by_name["limit"].type, by_name["limit"].optional) == (int, True)
    assert not by_name["data_dir"].recipe and by_name["aug_thickness_max"].recipe
    assert by_name["precision"].choices == ("auto", "fp32", "bf16") and not by_name["precision"].recipe


def test_every_field_can_be_set_from_the_command_line():
    """Each flag changes exactly its own field, on top of the preset."""
    base = TrainConfig.preset("quick")
    given = {
        "arch": "wide",
        "fusion": "add",
        "optimizer": "adam",
        "schedule": "constant",
        "loss": "softmax_cross_entropy",
        "data_dir": "/elsewhere",
        "device": "cpu",
        "ema_decay": "0.5",
        "cooldown": "0.5",
        "aug_scale_min": "0.9",
        "aug_scale_max": "1.2",
        "aug_thickness_min": "-0.5",
        "aug_thickness_max": "1.5",
        "pen_writers": "train+val",
        "pen_styles": "0.5",
        "precision": "fp32",
    }
    for s in SETTINGS:
        if s.type is bool:
            argv, expected = [f"--no-{s.flag[2:]}" if getattr(base, s.name) else s.flag], not getattr(base, s.name)
        else:
            text = given[s.name] if s.name in given else str((getattr(base, s.name) or 1) + 1)
            argv, expected = [s.flag, text], s.type(text)
        cfg = parse(*argv)
        assert getattr(cfg, s.name) == expected != getattr(base, s.name), s.name
        assert cfg.replace(**{s.name: getattr(base, s.name)}) == base, s.name


def test_flags_left_out_keep_the_preset_and_none_clears_an_optional_one():
    assert parse(preset="shipped") == TrainConfig.preset("shipped")
    assert parse("--ema-decay", "none", preset="shipped").ema_decay is None
    assert parse("--limit", "None", preset="class").limit is None


def test_old_arch_name_reads_as_the_new_one():
    assert TrainConfig(arch="seed").arch == "exercise"
    assert parse("--arch", "seed").arch == "exercise"
    assert PRESETS["exercise"]["arch"] == "exercise"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"arch": "resnet"}, "arch must be one of"),
        ({"loss": "mse"}, "loss must be one of"),
        ({"epochs": 0}, "epochs"),
        ({"aug_scale_min": 1.2}, "aug_scale_min"),
        ({"aug_thickness_min": -2}, "aug_thickness_min"),
        ({"ema_decay": 1.0}, "ema_decay"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_recorded_config_round_trips_and_older_records_read_as_they_were_made():
    cfg = TrainConfig.preset("shipped", aug_thickness_max=1.0)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    # A checkpoint written before augmentation was recorded trained with the settings of its day,
    # not with whatever the defaults are now.
    legacy = {f.name: f.metadata["legacy"] for f in dataclasses.fields(TrainConfig) if "legacy" in f.metadata}
    old = {k: v for k, v in cfg.to_dict().items() if k not in legacy} | {"arch": "seed", "from_the_future": 1}
    read = TrainConfig.from_dict(old)
    assert legacy and all(getattr(read, name) == value for name, value in legacy.items())
    assert read.aug_thickness_max == 2.0 and read.arch == "exercise"


def test_recipe_leaves_out_where_the_run_executes():
    a = TrainConfig(data_dir="/a", device="cpu", download=True)
    b = TrainConfig(data_dir="/b", device="auto")
    assert a.recipe() == b.recipe()
    assert a.recipe() != a.replace(aug_shear=0.1).recipe()


def test_form_values_are_checked_against_each_field_type():
    base = TrainConfig.preset("class")
    cfg = apply_values(base, {"epochs": 2.0, "lr": 1, "augment": True, "limit": None, "arch": "wide"})
    assert (cfg.epochs, cfg.lr, cfg.augment, cfg.limit, cfg.arch) == (2, 1.0, True, None, "wide")
    assert isinstance(cfg.epochs, int) and isinstance(cfg.lr, float)
    for bad, message in [
        ({"epochs": 2.5}, "epochs must be an int"),
        ({"augment": "yes"}, "augment must be a bool"),
        ({"seed": None}, "seed must be an int"),
        ({"colour": "red"}, "unknown setting"),
    ]:
        with pytest.raises(ValueError, match=message):
            apply_values(base, bad)
