"""explain.py against numbers worked out by hand, and the promise not to disturb the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnistsum.explain import (
    exercise_receptive_fields,
    feature_maps,
    fusion_view,
    layer_table,
    main,
    saliency,
    summary,
)
from mnistsum.model import DualHeadNet


@pytest.fixture
def seed_rows():
    torch.manual_seed(0)
    return {r.name: r for r in layer_table(DualHeadNet(arch="exercise")) if r.part == "backbone"}


@pytest.fixture
def digit() -> np.ndarray:
    """A crude '7': a top bar and a diagonal, white on black in [0, 1]."""
    image = np.zeros((28, 28), dtype=np.float32)
    image[6:9, 7:21] = 1.0
    for row in range(9, 23):
        col = 20 - (row - 9) // 2
        image[row, col - 1 : col + 2] = 1.0
    return image


def test_seed_receptive_fields_match_hand_recurrence(seed_rows):
    # r_out = r_in + (k-1)*j_in, j_out = j_in*s, starting from r=1, j=1 at the input pixel.
    # conv1 3x3: 1 + 2*1 = 3          conv2: 3 + 2*1 = 5          conv3: 5 + 2*1 = 7
    # pool 2x2 s2: 7 + 1*1 = 8, and the jump doubles to 2
    # conv4 3x3: 8 + 2*2 = 12 (not 10: after the pool one step moves 2 input pixels)
    # fc1 over the 9x9 map: 12 + (9-1)*2 = 28 = the whole image
    expected = {"conv1": 3, "conv2": 5, "conv3": 7, "pool1": 8, "conv4": 12, "fc1": 28, "fc2": 28}
    assert {name: seed_rows[name].receptive_field for name in expected} == expected
    assert [seed_rows[name].jump for name in ("conv3", "pool1", "conv4")] == [1, 2, 2]
    assert not seed_rows["conv4"].covers_image and seed_rows["fc1"].covers_image


def test_seed_parameters_shapes_and_macs_match_hand_arithmetic(seed_rows):
    # params = out * (in * 3 * 3) + out (bias)
    # conv1 16*9+16 = 160; conv2 32*16*9+32 = 4,640; conv3 64*32*9+64 = 18,496; conv4 128*64*9+128 = 73,856
    # fc1 10368*64+64 = 663,616; fc2 64*10+10 = 650
    params = {"conv1": 160, "conv2": 4_640, "conv3": 18_496, "conv4": 73_856, "fc1": 663_616, "fc2": 650}
    assert {name: seed_rows[name].params for name in params} == params
    # 28 -> 26 -> 24 -> 22 -> pool 11 -> 9; 128*9*9 = 10,368
    assert seed_rows["conv3"].output_shape == (64, 22, 22)
    assert seed_rows["pool1"].output_shape == (64, 11, 11)
    assert seed_rows["flatten"].output_shape == (10_368,)
    # conv2 MACs: 24*24 positions * 32 filters * (16 channels * 3*3) = 576 * 32 * 144 = 2,654,208
    assert seed_rows["conv2"].macs == 2_654_208
    # fc1 MACs: 10,368 * 64 = 663,552 (the bias is an add, not a multiply-accumulate)
    assert seed_rows["fc1"].macs == 663_552
    assert seed_rows["pool1"].macs == 0 and seed_rows["relu1"].params == 0


def test_default_totals_agree_with_pytorch():
    model = DualHeadNet(arch="default")
    rows = layer_table(model)
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in rows if r.part == "sum_head") == sum(p.numel() for p in model.sum_head.parameters())
    conv1 = next(r for r in rows if r.name == "conv1")
    # padding 1 keeps 28x28: 28*28 * 16 * (1 * 3*3) = 112,896; no bias before BatchNorm: 16*9 = 144 params
    assert (conv1.output_shape, conv1.macs, conv1.params) == ((16, 28, 28), 112_896, 144)
    fusion = next(r for r in rows if r.part == "fusion")
    assert fusion.output_shape == (20,)  # 10 digit probabilities next to 10 one-hot slots
    assert rows[-1].output_shape == (19,)


def test_summary_prints_every_layer_and_the_true_total():
    model = DualHeadNet(arch="exercise")
    text = summary(model)
    assert f"{sum(p.numel() for p in model.parameters()):,}" in text
    assert "Linear 10368->64" in text and "28 (all)" in text
    assert len(text.splitlines()) == len(layer_table(model)) + 7  # title, header, 2 rules, 3 totals


def test_cli_prints_the_table(capsys):
    main(["--arch", "exercise", "--exercise-rf"])
    out = capsys.readouterr().out
    assert "MaxPool2d 2x2 stride 2" in out and "WRONG" in out


def test_exercise_table_marks_the_exercises_wrong_receptive_fields():
    rows = exercise_receptive_fields()
    assert [r.layer for r in rows] == ["conv1", "conv2", "conv3", "pool1", "conv4"]
    assert {r.layer: r.claimed for r in rows} == {"conv1": 3, "conv2": 35, "conv3": 7, "pool1": 14, "conv4": 17}
    # Worked out by hand: r_out = r_in + (k - 1) * jump; the stride-2 pool doubles the jump to 2.
    assert {r.layer: r.computed for r in rows} == {"conv1": 3, "conv2": 5, "conv3": 7, "pool1": 8, "conv4": 12}
    assert [r.layer for r in rows if r.wrong] == ["conv2", "pool1", "conv4"]


@pytest.mark.parametrize(
    ("arch", "shapes"),
    [("default", [(16, 28, 28), (32, 14, 14)]), ("seed", [(16, 26, 26), (32, 24, 24)])],
)
def test_feature_maps_shapes(arch, shapes, digit):
    maps = feature_maps(DualHeadNet(arch=arch), digit, layers=2)
    assert [m.shape for m in maps] == shapes
    assert all((m >= 0).all() for m in maps)  # taken after the ReLU


def test_feature_maps_rejects_too_many_layers(digit):
    with pytest.raises(ValueError, match="layers"):
        feature_maps(DualHeadNet(arch="exercise"), digit, layers=5)


def test_saliency_is_a_normalized_map_and_leaves_the_model_alone(digit):
    torch.manual_seed(0)
    model = DualHeadNet(arch="default").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    heat = saliency(model, digit)
    assert heat.shape == (28, 28)
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    assert heat.std() > 0.01
    assert all(p.grad is None for p in model.parameters())
    assert model.training  # still in the mode the caller left it in
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm stats untouched
    np.testing.assert_array_equal(heat, saliency(model, digit))  # fixed seed: same picture every call


def test_saliency_accepts_uint8_and_rejects_bad_input(digit):
    model = DualHeadNet(arch="exercise")
    assert saliency(model, (digit * 255).astype(np.uint8), target=3).shape == (28, 28)
    with pytest.raises(ValueError, match="target"):
        saliency(model, digit, target=10)
    with pytest.raises(ValueError, match="28x28"):
        saliency(model, np.zeros((14, 14), dtype=np.float32))


def test_fusion_view_shows_what_each_fusion_hands_the_sum_head(digit):
    torch.manual_seed(0)
    model = DualHeadNet(arch="default")
    concat = fusion_view(model, digit, n=4)
    assert concat.fusion == "concat" and concat.sum_head_input.shape == (20,) and len(concat.labels) == 20
    np.testing.assert_allclose(concat.sum_head_input[:10], concat.digit_probs, atol=1e-6)
    assert concat.sum_head_input[10:].tolist() == concat.one_hot_n.tolist() == np.eye(10)[4].tolist()

    # The same model's logits as the exercise's add-fusion would hand them over.
    add = fusion_view(model, digit, n=4, fusion="add")
    logits = model.eval().digit_logits(torch.as_tensor(digit).reshape(1, 1, 28, 28)).detach()[0].numpy()
    np.testing.assert_allclose(add.sum_head_input, logits + np.eye(10)[4], atol=1e-5)
    assert add.labels[4] == "logit 4 +1" and len(set(add.groups)) == 1
    assert model.fusion == "concat"  # only the private copy was switched
    with pytest.raises(ValueError, match="fusion"):
        fusion_view(model, digit, n=4, fusion="multiply")
