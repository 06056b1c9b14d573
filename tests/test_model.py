import pytest
import torch
import torch.nn.functional as F

from mnistsum.model import NETWORKS, DualHeadNet, folded, image_batch


@pytest.mark.parametrize(
    "arch,fusion", [("default", "concat"), ("wide", "concat"), ("exercise", "add"), ("default", "add")]
)
def test_output_shapes(arch, fusion):
    model = DualHeadNet(arch, fusion).eval()
    digit, total = model(torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 9, 5]))
    assert digit.shape == (4, 10) and total.shape == (4, 19)


def test_arch_picks_its_fusion_and_rejects_unknown():
    assert DualHeadNet("exercise").fusion == "add"
    assert DualHeadNet("default").fusion == "concat"
    assert DualHeadNet("wide").fusion == "concat"
    with pytest.raises(ValueError, match="arch must be one of"):
        DualHeadNet("resnet")


def test_old_arch_names_still_build_the_same_network():
    """Checkpoints and metadata written before the rename say "seed"."""
    old = DualHeadNet("seed")
    assert old.arch == "exercise" and old.fusion == "add"
    assert old.state_dict().keys() == DualHeadNet("exercise").state_dict().keys()


def test_image_batch_takes_any_28x28_form():
    digit = torch.randint(0, 256, (28, 28), dtype=torch.uint8)
    batch = image_batch(digit.numpy())
    assert batch.shape == (1, 1, 28, 28) and batch.dtype == torch.float32
    assert torch.equal(batch, image_batch(digit.float() / 255))  # uint8 0..255 and float 0..1 agree
    assert image_batch(torch.zeros(5, 28, 28)).shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match="28x28"):
        image_batch(torch.zeros(27, 28))


def test_concat_fusion_input_is_digit_probs_then_one_hot():
    model = DualHeadNet("default")
    logits = torch.randn(3, 10)
    n = torch.tensor([0, 4, 9])
    v = model.fusion_input(logits, n)
    assert v.shape == (3, 20)
    assert torch.allclose(v[:, :10], logits.softmax(1))
    assert torch.equal(v[:, 10:], F.one_hot(n, 10).float())


def test_add_fusion_is_the_exercises_elementwise_add():
    model = DualHeadNet("exercise")
    logits = torch.randn(2, 10)
    n = torch.tensor([1, 7])
    assert torch.allclose(model.fusion_input(logits, n), logits + F.one_hot(n, 10).float())


def test_exercise_arch_matches_the_exercise_layer_sizes():
    model = DualHeadNet("exercise")
    linears = [m for m in model.backbone if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10368, 64), (64, 10)]
    head = [m for m in model.sum_head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in head] == [(10, 20), (20, 19)]


def test_wide_arch_has_more_capacity_than_default():
    def size(arch: str) -> int:
        return sum(p.numel() for p in DualHeadNet(arch).backbone.parameters())

    assert size("default") < size("wide") < 2 * size("default")  # the shipped file stays well under 2 MB


@pytest.mark.parametrize("arch", list(NETWORKS))
def test_folded_computes_the_same_without_batchnorm_and_leaves_the_model_alone(arch):
    torch.manual_seed(0)
    model = DualHeadNet(arch)
    with torch.no_grad():  # BatchNorm statistics that are not the identity, so the folding shows
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = folded(model)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    images, n = torch.rand(8, 1, 28, 28), torch.arange(8)
    with torch.no_grad():
        for a, b in zip(model.eval()(images, n), fast(images, n)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
