import pytest
import torch
import torch.nn.functional as F

from mnistsum.model import DualHeadNet


@pytest.mark.parametrize("arch,fusion", [("default", "concat"), ("wide", "concat"), ("seed", "add"), ("default", "add")])
def test_output_shapes(arch, fusion):
    model = DualHeadNet(arch, fusion).eval()
    digit, total = model(torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 9, 5]))
    assert digit.shape == (4, 10) and total.shape == (4, 19)


def test_arch_picks_its_fusion_and_rejects_unknown():
    assert DualHeadNet("seed").fusion == "add"
    assert DualHeadNet("default").fusion == "concat"
    assert DualHeadNet("wide").fusion == "concat"
    with pytest.raises(ValueError, match="unknown arch"):
        DualHeadNet("resnet")


def test_concat_fusion_input_is_digit_probs_then_one_hot():
    model = DualHeadNet("default")
    logits = torch.randn(3, 10)
    n = torch.tensor([0, 4, 9])
    v = model.fusion_input(logits, n)
    assert v.shape == (3, 20)
    assert torch.allclose(v[:, :10], logits.softmax(1))
    assert torch.equal(v[:, 10:], F.one_hot(n, 10).float())


def test_add_fusion_is_the_exercises_elementwise_add():
    model = DualHeadNet("seed")
    logits = torch.randn(2, 10)
    n = torch.tensor([1, 7])
    assert torch.allclose(model.fusion_input(logits, n), logits + F.one_hot(n, 10).float())


def test_seed_arch_matches_the_exercise_layer_sizes():
    model = DualHeadNet("seed")
    linears = [m for m in model.backbone if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10368, 64), (64, 10)]
    head = [m for m in model.sum_head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in head] == [(10, 20), (20, 19)]


def test_wide_arch_has_more_capacity_than_default():
    def size(arch: str) -> int:
        return sum(p.numel() for p in DualHeadNet(arch).backbone.parameters())

    assert size("default") < size("wide") < 2 * size("default")  # the shipped file stays well under 2 MB
