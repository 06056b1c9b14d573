import dataclasses
import re
import threading

import pytest
import torch

import mnistsum.train as train_module
from mnistsum.checkpoint import load_checkpoint
from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.evaluate import evaluate
from mnistsum.metrics import EvalMetrics, TrainTotals
from mnistsum.train import BatchEnd, EpochEnd, TrainResult, exercise_log_line, report, run, train

TINY = TrainConfig(epochs=2, batch_size=32, lr=3e-3, device="cpu")


def tiny_data():
    return {"train_set": synthetic_split(192, seed=1), "test_set": synthetic_split(64, seed=2)}


def test_event_stream_and_learning():
    events = list(train(TINY.replace(epochs=3), **tiny_data()))
    batch_events = [e for e in events if isinstance(e, BatchEnd)]
    epoch_events = [e for e in events if isinstance(e, EpochEnd)]
    assert isinstance(events[-1], TrainResult) and not events[-1].stopped
    assert len(batch_events) == 3 * 6 and batch_events[-1].batch == batch_events[-1].num_batches == 6
    assert [e.epoch for e in epoch_events] == [1, 2, 3]
    assert epoch_events[-1].test.digit_accuracy > 0.9  # the synthetic bars are easy to learn
    assert epoch_events[-1].train.samples == 192 and epoch_events[-1].train.batches == 6


def test_same_seed_same_weights_other_seed_other_weights():
    a = run(TINY, **tiny_data()).model.state_dict()
    b = run(TINY, **tiny_data()).model.state_dict()
    c = run(TINY.replace(seed=1), **tiny_data()).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def _n_per_epoch(monkeypatch, cfg):
    seen = []
    real_batches = train_module.batches

    def spy(split, n, batch_size, generator):
        seen.append(n.clone())
        return real_batches(split, n, batch_size, generator)

    monkeypatch.setattr(train_module, "batches", spy)
    run(cfg.replace(epochs=3, eval_every_epoch=False), train_set=synthetic_split(500))
    return seen


def test_n_is_redrawn_every_epoch(monkeypatch):
    first, second, third = _n_per_epoch(monkeypatch, TINY)
    assert (first != second).float().mean() > 0.8 and (second != third).float().mean() > 0.8


def test_exercise_mode_keeps_one_n_per_image(monkeypatch):
    first, second, third = _n_per_epoch(monkeypatch, TINY.replace(redraw_n=False))
    assert torch.equal(first, second) and torch.equal(second, third)


def test_data_order_and_n_do_not_depend_on_the_model(monkeypatch):
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            _n_per_epoch(monkeypatch, TINY), _n_per_epoch(monkeypatch, TINY.replace(arch="exercise", fusion="add"))
        )
    )


def test_stop_mid_epoch():
    stop = threading.Event()
    events = []
    for event in train(TINY, stop=stop, **tiny_data()):
        events.append(event)
        if isinstance(event, BatchEnd) and event.batch == 2:
            stop.set()
    result = events[-1]
    assert isinstance(result, TrainResult) and result.stopped
    assert sum(isinstance(e, BatchEnd) for e in events) == 2
    assert result.history == []


def test_log_line_has_the_exercise_format():
    totals = TrainTotals(
        samples=60000,
        batches=469,
        digit_correct=53744,
        sum_correct=5750,
        digit_loss_batch_sum=470.444,
        sum_loss_batch_sum=874.68,
    )
    assert exercise_log_line(1, totals) == (
        "epoch: 1 MNIST {Correct: 53744 Accuracy: 0.896 Loss: 470.44 } RANDOM {Correct: 5750 Accuracy: 0.096 "
        "Loss: 874.68 } Total {Correct: 59494 Accuracy: 0.496 loss: 1345.12 }"
    )


def test_log_lines_of_a_run_parse():
    events = [e for e in train(TINY, **tiny_data()) if isinstance(e, EpochEnd)]
    pattern = r"epoch: \d+ MNIST \{Correct: \d+ Accuracy: [\d.]+ Loss: [\d.]+ \} RANDOM .* Total \{Correct: \d+"
    assert all(re.match(pattern, e.log_line) for e in events)
    assert all("test: digit" in e.log_line for e in events)


def test_ema_returns_the_weight_average_and_evaluates_it():
    """The returned model is the running average (it trails the raw weights), and the per-epoch
    test metrics are measured on that same model."""
    raw = run(TINY, **tiny_data())
    averaged = run(TINY.replace(ema_decay=0.5), **tiny_data())
    a, b = raw.model.state_dict(), averaged.model.state_dict()
    assert set(a) == set(b) and not all(torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
    again = evaluate(averaged.model, tiny_data()["test_set"])
    assert again.digit_accuracy == averaged.test_metrics.digit_accuracy


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1, 1.5])
def test_ema_decay_must_be_a_fraction(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=decay)


def test_validation_split_is_held_out_and_the_test_set_is_read_once_at_the_end(monkeypatch):
    """With val_size, per-epoch metrics come from the last training images (never trained on),
    and the test set is evaluated once, after the last epoch."""
    data = tiny_data()
    evaluated = []
    real_evaluate = train_module.evaluate
    monkeypatch.setattr(
        train_module,
        "evaluate",
        lambda model, split, **kw: evaluated.append(len(split)) or real_evaluate(model, split, **kw),
    )
    events = list(train(TINY.replace(epochs=3, val_size=32, limit=1000), **data))
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.val is not None for e in ends] == [True, True, False]
    assert [e.test is not None for e in ends] == [False, False, True]
    assert evaluated == [32, 32, 64]  # validation after the first epochs, the 64 test images once at the end
    assert ends[0].train.samples == 192 - 32  # the held-out images were not trained on
    assert ends[0].val.images == 32 and "validation: digit" in ends[0].log_line and "test:" not in ends[0].log_line
    assert "test: digit" in ends[-1].log_line
    with pytest.raises(ValueError, match="val_size must be >= 0"):
        TINY.replace(val_size=-1)


def test_the_cli_reports_each_epoch_and_saves_the_whole_config(tmp_path, capsys):
    result = report(train(TINY, **tiny_data()), str(tmp_path / "m.pt"), "quick")
    out, err = capsys.readouterr()
    assert [line.split(" MNIST")[0] for line in out.splitlines() if line.startswith("epoch:")] == [
        "epoch: 1",
        "epoch: 2",
    ]
    assert f"saved {tmp_path / 'm.pt'}" in out
    assert "\r" not in out + err  # output that is not a terminal gets no progress bar
    _, meta = load_checkpoint(tmp_path / "m.pt")
    assert TrainConfig.from_dict(meta["config"]) == result.config == TINY
    assert EvalMetrics.from_dict(meta["test_metrics"]) == dataclasses.replace(
        result.test_metrics, confusion=(), misclassified=()
    )


def test_pen_digits_are_mixed_in(pen_dir, tmp_path, monkeypatch):
    import numpy as np

    import mnistsum.pen as pen
    from mnistsum.pen import load_pen_digits, writer_split

    monkeypatch.setenv("MNISTSUM_CACHE", str(tmp_path))
    # the drawings themselves are tested in test_pen.py; here only how many join the run
    monkeypatch.setattr(
        pen,
        "pen_pool",
        lambda digits, copies, seed, cfg: (
            np.zeros((len(digits) * copies, 28, 28), np.uint8),
            np.repeat(digits.labels, copies),
        ),
    )
    cfg = TrainConfig(epochs=1, batch_size=1000, data_dir=str(pen_dir), pen_copies=1, eval_every_epoch=False)
    first = next(e for e in train(cfg, train_set=synthetic_split(500)) if isinstance(e, BatchEnd))
    pen_train = len(writer_split(load_pen_digits(pen_dir), "train"))
    assert first.num_batches == -(-(500 + pen_train) // 1000)


def test_cooldown_holds_the_rate_then_takes_it_to_zero():
    cfg = TINY.replace(schedule="cooldown", cooldown=0.25, lr=2.0)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    scheduler = train_module._scheduler(cfg, optimizer, 20)
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:16] == [2.0] * 16  # held for the first 75% of the steps
    assert all(a > b for a, b in zip(rates[15:], rates[16:])) and 0 < rates[-1] < 2.0 / 4  # then linearly down
    assert train_module._scheduler(TINY.replace(schedule="constant"), optimizer, 20) is None
    with pytest.raises(ValueError, match="cooldown"):
        TINY.replace(cooldown=0.0)
