"""The precision setting: detected, resolved, refused where bf16 is not native, saved and read back,
and both formats learn. The detector is monkeypatched, so every case runs on any machine (bf16
autocast works everywhere; it is only slow where it is emulated)."""

import pytest
import torch
import torch.nn.functional as F

import mnistsum.precision as precision
from mnistsum.checkpoint import load_checkpoint, save_checkpoint
from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.evaluate import evaluate
from mnistsum.model import NUM_DIGITS, DualHeadNet, image_batch
from mnistsum.precision import PrecisionError, native_bf16, resolve_precision
from mnistsum.train import checkpoint_meta, main, run, train, train_step

TINY = TrainConfig(epochs=3, batch_size=32, lr=3e-3, device="cpu")


def tiny_data():
    return {"train_set": synthetic_split(192, seed=1), "test_set": synthetic_split(64, seed=2)}


@pytest.fixture
def bf16_here(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)


@pytest.fixture
def no_bf16_here(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)


@pytest.mark.parametrize(
    "flags, native",
    [({"avx2", "fma"}, False), ({"avx512f", "avx512_bf16"}, True), ({"amx_tile", "amx_bf16"}, True)],
)
def test_cpu_bf16_is_read_from_the_cpu_flags(monkeypatch, flags, native):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert native_bf16("cpu") is native
    assert native_bf16("mps") is False  # elsewhere: fp32


def test_auto_takes_bf16_only_where_it_is_native(bf16_here):
    assert resolve_precision("auto", "cpu") is torch.bfloat16
    assert resolve_precision("bf16", "cpu") is torch.bfloat16
    assert resolve_precision("fp32", "cpu") is None


def test_auto_falls_back_to_fp32_and_forced_bf16_is_refused(no_bf16_here):
    assert resolve_precision("auto", "cpu") is None
    with pytest.raises(PrecisionError, match="bf16 needs native bf16.*use --precision auto or fp32"):
        resolve_precision("bf16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16"):
        resolve_precision("fp16", "cpu")


def test_the_setting_is_checked_saved_and_read_back(tmp_path, no_bf16_here):
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="fp16")
    result = run(TINY.replace(epochs=1, precision="auto"), **tiny_data())
    assert result.precision == "fp32"  # auto fell back
    save_checkpoint(tmp_path / "m.pt", result.model, checkpoint_meta(result))
    _, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta["precision"] == "fp32" and TrainConfig.from_dict(meta["config"]).precision == "auto"
    older = {k: v for k, v in meta["config"].items() if k != "precision"}
    assert TrainConfig.from_dict(older).precision == "fp32"  # checkpoints from before the setting


def test_forcing_bf16_without_it_fails_before_any_work(no_bf16_here, capsys):
    with pytest.raises(PrecisionError):
        next(train(TINY.replace(precision="bf16"), **tiny_data()))
    with pytest.raises(SystemExit) as exit_:
        main(["--precision", "bf16", "--limit", "10"])
    assert exit_.value.code == 2 and "bf16 needs native bf16" in capsys.readouterr().err


@pytest.mark.parametrize("setting, used", [("fp32", "fp32"), ("bf16", "bf16")])
def test_fp32_and_bf16_runs_both_learn(bf16_here, setting, used):
    result = run(TINY.replace(precision=setting), **tiny_data())
    assert result.precision == used and checkpoint_meta(result)["precision"] == used
    first, last = result.history[0].train, result.history[-1].train
    assert result.test_metrics.digit_accuracy > 0.9  # the synthetic bars are easy to learn
    assert last.sum_loss_batch_sum < first.sum_loss_batch_sum and last.digit_correct > first.digit_correct
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # autocast leaves the weights fp32


def test_train_step_returns_losses_and_counts():
    torch.manual_seed(0)
    model = DualHeadNet("default")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # no change: the numbers can be checked again
    split = synthetic_split(16)
    images, digits = image_batch(split.images), split.labels
    ns = torch.arange(16) % NUM_DIGITS
    model.eval()  # dropout and BatchNorm statistics stay put
    stats = train_step(model, optimizer, (images, ns, digits, digits + ns))
    digit_logits, sum_logits = model(images, ns)
    assert stats.tolist() == pytest.approx(
        [
            F.cross_entropy(digit_logits, digits).item(),
            F.cross_entropy(sum_logits, digits + ns).item(),
            (digit_logits.argmax(1) == digits).sum().item(),
            (sum_logits.argmax(1) == digits + ns).sum().item(),
        ],
        rel=1e-5,
    )


def test_evaluate_counts_every_pair_as_one_pair_at_a_time_would():
    result = run(TINY.replace(epochs=1), **tiny_data())
    test_set = tiny_data()["test_set"]
    m = evaluate(result.model, test_set, batch_size=24)  # batches of unequal size
    model = result.model.eval()
    with torch.no_grad():
        digit_logits = model.digit_logits(image_batch(test_set.images))
        right = both = consistent = 0
        for n in range(NUM_DIGITS):
            sum_pred = model.sum_logits(digit_logits, torch.full((64,), n)).argmax(1)
            ok = sum_pred == test_set.labels + n
            right += int(ok.sum())
            both += int((ok & (digit_logits.argmax(1) == test_set.labels)).sum())
            consistent += int((sum_pred == digit_logits.argmax(1) + n).sum())
    assert m.pairs == 640 and m.sum_accuracy == right / 640
    assert m.both_accuracy == both / 640 and m.sum_consistency == consistent / 640
    assert m.digit_accuracy == (digit_logits.argmax(1) == test_set.labels).float().mean().item()


def test_under_bf16_autocast_the_backbone_is_bf16_and_the_sum_head_fp32():
    model = DualHeadNet("default").eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        digit_logits, sum_logits = model(torch.rand(4, 1, 28, 28), torch.arange(4))
    assert digit_logits.dtype == torch.bfloat16 and sum_logits.dtype == torch.float32
