"""The one training loop, shared by the CLI, the Train tab, the fusion race and the tests.

`train(cfg)` is a generator: it yields a `BatchEnd` after every batch (for progress bars),
an `EpochEnd` after every epoch (the exercise's log line plus test metrics), and finally a
`TrainResult` holding the model. Callers drive it at their own pace and stop it through a
`threading.Event`, which is checked between batches.

`train_step` is the fast path itself -- one optimisation step under the run's precision
(`mnistsum.precision`), returning its numbers as one tensor so the loop reads the device once
per batch -- for anything else that trains a `DualHeadNet` (adapting to a visitor's drawings).

CLI: `python -m mnistsum.train --preset shipped --out weights/mnistsum.pt`; every field of
`TrainConfig` is a flag (`--help` lists them), on top of the preset.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from .augment import augment_batch
from .checkpoint import save_checkpoint
from .cli import exits_cleanly
from .config import PRESETS, TrainConfig, add_arguments, config_from_args
from .data import MnistSplit, batches, draw_n, ensure_splits, hold_out
from .evaluate import evaluate
from .metrics import EvalMetrics, TrainTotals
from .model import DualHeadNet
from .pen import pen_training_set
from .precision import autocast, precision_name, resolve_precision


@dataclass(frozen=True)
class BatchEnd:
    epoch: int
    batch: int  # 1-based, within the epoch
    num_batches: int
    samples_per_s: float
    eta_s: float  # until the end of this epoch
    loss: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    train: TrainTotals  # on the training batches: the exercise's numbers
    test: EvalMetrics | None  # `evaluate()` on the test set (with `val_size`, after the last epoch only)
    log_line: str
    seconds: float
    val: EvalMetrics | None = None  # `evaluate()` on the held-out training images, when `val_size` > 0


@dataclass
class TrainResult:
    model: DualHeadNet
    config: TrainConfig
    history: list[EpochEnd] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0
    precision: str = "fp32"  # what the run computed in: the config's setting resolved on its hardware

    @property
    def test_metrics(self) -> EvalMetrics | None:
        return self.history[-1].test if self.history else None


TrainEvent = BatchEnd | EpochEnd | TrainResult


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def exercise_log_line(epoch: int, t: TrainTotals) -> str:
    """The course exercise's per-epoch line, number for number (its "Loss" sums the batch means)."""
    return (
        f"epoch: {epoch} MNIST {{Correct: {t.digit_correct} Accuracy: {t.digit_accuracy:.3f} "
        f"Loss: {t.digit_loss_batch_sum:.2f} }} RANDOM {{Correct: {t.sum_correct} Accuracy: {t.sum_accuracy:.3f} "
        f"Loss: {t.sum_loss_batch_sum:.2f} }} Total {{Correct: {t.digit_correct + t.sum_correct} "
        f"Accuracy: {(t.digit_accuracy + t.sum_accuracy) / 2:.3f} loss: {t.digit_loss_batch_sum + t.sum_loss_batch_sum:.2f} }}"
    )


def test_log_line(m: EvalMetrics, split: str = "test") -> str:
    return (
        f"{split:>13}: digit {m.digit_accuracy:.4f}  sum {m.sum_accuracy:.4f} "
        f"(all {m.pairs:,} pairs)  both {m.both_accuracy:.4f}  consistency {m.sum_consistency:.4f}"
    )


def _loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "softmax_cross_entropy":  # the exercise's double softmax, kept as an exhibit
        return F.cross_entropy(logits.float().softmax(dim=1), target)
    return F.cross_entropy(logits.float(), target)


# The columns of `train_step`'s result, summed over an epoch into `TrainTotals`.
DIGIT_LOSS, SUM_LOSS, DIGIT_CORRECT, SUM_CORRECT = range(4)


def train_step(
    model: DualHeadNet,
    optimizer: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    loss: str = "cross_entropy",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """One step on (images, n, digits, sums): forward under `autocast` in `dtype` (None: fp32),
    both losses in fp32, backward, optimizer. Returns (digit loss, sum loss, digits right,
    sums right) as one detached fp32 tensor on the model's device, so a caller that sums
    steps waits for the device once, when it reads the sum."""
    images, ns, digits, sums = batch
    with autocast(images.device, dtype):
        digit_logits, sum_logits = model(images, ns)
    digit_loss = _loss(digit_logits, digits, loss)
    sum_loss = _loss(sum_logits, sums, loss)
    optimizer.zero_grad(set_to_none=True)
    (digit_loss + sum_loss).backward()
    optimizer.step()
    with torch.no_grad():
        return torch.stack(
            [
                digit_loss.detach(),
                sum_loss.detach(),
                (digit_logits.argmax(1) == digits).sum().float(),
                (sum_logits.argmax(1) == sums).sum().float(),
            ]
        )


def _optimizer(cfg: TrainConfig, model: DualHeadNet) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
    """The learning-rate schedule, stepped once per batch (None: the rate stays `cfg.lr`)."""
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total_steps)
    if cfg.schedule == "cooldown":
        # Hold the rate (the averaged high-rate iterates explore), then anneal it to zero over
        # the last `cooldown` share of the steps, which settles the weights into a minimum.
        hold = round(total_steps * (1.0 - cfg.cooldown))
        span = max(1, total_steps - hold)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, max(0.0, (total_steps - step) / span))
        )
    return None


def train(
    cfg: TrainConfig,
    train_set: MnistSplit | None = None,
    test_set: MnistSplit | None = None,
    stop: threading.Event | None = None,
) -> Iterator[TrainEvent]:
    """Train a model from scratch as `cfg` says; see the module docstring for the events."""
    device = pick_device(cfg.device)
    dtype = resolve_precision(cfg.precision, device)  # before any data is loaded: a refusal costs nothing
    train_set, test_set = ensure_splits(cfg.data_dir, cfg.download, train_set, test_set, cfg.eval_every_epoch)
    val_set = None
    if cfg.val_size:
        train_set, val_set = hold_out(train_set, cfg.val_size)
    train_set = train_set.subset(cfg.limit)
    if cfg.pen_copies:
        train_set = train_set.concat(pen_training_set(cfg))
    train_set = train_set.to(device)

    torch.manual_seed(cfg.seed)
    # channels_last lets oneDNN/cuDNN pick their fastest convolutions (`python -m mnistsum.speed` measures the loop).
    model = DualHeadNet(cfg.arch, cfg.fusion).to(device, memory_format=torch.channels_last)
    optimizer = _optimizer(cfg, model)
    num_batches = -(-len(train_set) // cfg.batch_size)
    scheduler = _scheduler(cfg, optimizer, cfg.epochs * num_batches)
    # Separate generators: the data order and n draws depend on the seed alone, not on the
    # model or augmentation, so two runs with one seed see exactly the same (image, n) stream.
    data_gen = torch.Generator().manual_seed(cfg.seed)
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1)
    n = draw_n(len(train_set), data_gen)
    # The weight average (buffers included, so BatchNorm statistics match) is what gets
    # evaluated and returned: it smooths out the last steps' noise at no cost per step.
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        if cfg.ema_decay is not None
        else None
    )
    final = ema.module if ema is not None else model
    result = TrainResult(final, cfg, precision=precision_name(dtype))
    run_start = time.perf_counter()

    for epoch in range(1, cfg.epochs + 1):
        if cfg.redraw_n and epoch > 1:
            n = draw_n(len(train_set), data_gen)
        model.train()
        epoch_start = time.perf_counter()
        seen = 0
        running = torch.zeros(4, device=device)  # train_step's columns, summed on the device
        for batch, (images, ns, digits, targets) in enumerate(batches(train_set, n, cfg.batch_size, data_gen), 1):
            if stop is not None and stop.is_set():
                result.stopped = True
                result.seconds = time.perf_counter() - run_start
                yield result
                return
            if cfg.augment:
                images = augment_batch(images, aug_gen, cfg)
            stats = train_step(model, optimizer, (images, ns, digits, targets), cfg.loss, dtype)
            if scheduler is not None:
                scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            running += stats
            seen += len(digits)
            loss = float(stats[DIGIT_LOSS] + stats[SUM_LOSS])  # the one read of the device per batch
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss} at epoch {epoch}, batch {batch}; try a lower learning rate"
                )
            rate = seen / (time.perf_counter() - epoch_start)
            yield BatchEnd(epoch, batch, num_batches, rate, (len(train_set) - seen) / rate, loss)

        digit_loss_sum, sum_loss_sum, digit_correct, sum_correct = running.tolist()
        totals = TrainTotals(seen, num_batches, int(digit_correct), int(sum_correct), digit_loss_sum, sum_loss_sum)
        # With a validation split: validation after each epoch but the last, the test set once after the last.
        last = epoch == cfg.epochs
        use_val = val_set is not None and cfg.eval_every_epoch and not (last and test_set is not None)
        val_metrics = evaluate(final, val_set, dtype=dtype) if use_val else None
        test_metrics = (
            evaluate(final, test_set, dtype=dtype) if test_set is not None and (val_set is None or last) else None
        )
        log_line = exercise_log_line(epoch, totals)
        if val_metrics is not None:
            log_line += "\n" + test_log_line(val_metrics, "validation")
        if test_metrics is not None:
            log_line += "\n" + test_log_line(test_metrics)
        end = EpochEnd(epoch, totals, test_metrics, log_line, time.perf_counter() - epoch_start, val_metrics)
        result.history.append(end)
        yield end

    final.eval()
    result.seconds = time.perf_counter() - run_start
    yield result


def run(cfg: TrainConfig, stop: threading.Event | None = None, **data: MnistSplit) -> TrainResult:
    """Drive `train` to the end, ignoring progress events (for scripts and tests)."""
    for event in train(cfg, stop=stop, **data):
        if isinstance(event, TrainResult):
            return event
    raise RuntimeError("train() ended without a result")  # unreachable: train always yields one


def checkpoint_meta(result: TrainResult, preset: str | None = None) -> dict[str, Any]:
    """What a checkpoint records about how it was made: the whole config, and the test numbers."""
    test = result.test_metrics
    return {
        "preset": preset,
        "config": result.config.to_dict(),
        "epochs_completed": len(result.history),
        "train_seconds": round(result.seconds, 1),
        "precision": result.precision,
        "test_metrics": test.summary() if test is not None else {},
    }


def report(events: Iterable[TrainEvent], out: str, preset: str, quiet: bool = False) -> TrainResult:
    """Drive a run for a terminal: a tqdm bar per epoch (none when quiet or not a terminal),
    the log line after each epoch, and the checkpoint saved at the end."""
    bar = None
    for event in events:
        if isinstance(event, BatchEnd):
            if bar is None:
                bar = tqdm(
                    total=event.num_batches,
                    desc=f"epoch {event.epoch}",
                    unit="batch",
                    leave=False,
                    disable=True if quiet else None,
                )  # None: off when stderr is not a terminal
            bar.set_postfix(loss=f"{event.loss:.3f}", refresh=False)
            bar.update()
        elif isinstance(event, EpochEnd):
            if bar is not None:
                bar.close()
                bar = None
            print(f"{event.log_line}  [{event.seconds:.1f}s]", flush=True)
        elif isinstance(event, TrainResult):
            if bar is not None:
                bar.close()
            meta = save_checkpoint(out, event.model, checkpoint_meta(event, preset))
            print(f"saved {out} after {meta['train_seconds']}s of training")
            return event
    raise RuntimeError("train() ended without a result")  # unreachable: train always yields one


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the dual-head MNIST + n network.")
    parser.add_argument("--preset", default="quick", choices=list(PRESETS), help="named recipe (config.py)")
    parser.add_argument("--out", default="checkpoints/mnistsum.pt", help="where to write the checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args, args.preset)
        device = pick_device(cfg.device)
        dtype = resolve_precision(cfg.precision, device)
    except ValueError as err:  # PrecisionError included: bf16 forced where it is not native
        parser.error(str(err))
    print(f"training {cfg.arch}/{cfg.fusion} on {device} in {precision_name(dtype)}: {cfg}", flush=True)
    report(train(cfg), args.out, args.preset, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
