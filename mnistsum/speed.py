"""Benchmark: our training pipeline against the exercise's, time to 99%, the class preset, an
epoch of the shipped recipe, and predict latency.

Everything is measured in one run on one machine, so the ratio is fair even where the
absolute numbers move with the machine's load. The training step is also put in GFLOP/s
(from the multiply-adds `mnistsum.explain` counts) beside an estimate of the machine's peak,
and the bare step (one batch again and again) beside the loop, so what the loop costs shows.

    python -m mnistsum.speed            # a table
    python -m mnistsum.speed --json     # one JSON object
    python -m mnistsum.speed --out weights/speed.json   # the file the README's headline table reads
    python -m mnistsum.speed --skip shipped class       # leave out the long parts
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import atomic_write_text
from .cli import exits_cleanly
from .config import SHIPPED_WEIGHTS, TrainConfig, default_data_dir
from .data import MnistSplit, batches, draw_n, load_split
from .explain import layer_table
from .model import MNIST_MEAN, MNIST_STD, DualHeadNet
from .precision import CPU_BF16_FLAGS, cpu_flags, hardware_note, precision_name, resolve_precision
from .predictor import Predictor
from .render import CANVAS, as_drawing
from .train import BatchEnd, EpochEnd, TrainResult, train, train_step

PARTS = ("train", "time_to_99", "class", "shipped", "predict")


def _throughput(steps: Iterator[int], warmup: int, measured: int) -> float:
    """Samples per second over `measured` steps after `warmup` steps; each step yields its batch size."""
    for _ in range(warmup):
        next(steps)
    start, samples = time.perf_counter(), 0
    for _ in range(measured):
        samples += next(steps)
    return samples / (time.perf_counter() - start)


def ours_steps(train_set: MnistSplit, cfg: TrainConfig, steps: int) -> Iterator[int]:
    """Our pipeline, measured through the real training loop: in-memory tensors, batches by
    indexing, the default network, AdamW with one-cycle."""
    cfg = cfg.replace(limit=steps * cfg.batch_size, eval_every_epoch=False)
    for event in train(cfg, train_set=train_set):
        if isinstance(event, BatchEnd):
            yield cfg.batch_size


def bare_steps(train_set: MnistSplit, cfg: TrainConfig) -> Iterator[int]:
    """The training step alone, on one batch again and again: no data, augmentation or
    bookkeeping. The loop can at best match it."""
    torch.manual_seed(cfg.seed)
    model = DualHeadNet(cfg.arch, cfg.fusion).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    batch = next(batches(train_set, draw_n(len(train_set), generator), cfg.batch_size, generator))
    dtype = resolve_precision(cfg.precision, "cpu")
    while True:
        train_step(model, optimizer, batch, cfg.loss, dtype)
        yield cfg.batch_size


def exercise_steps(data_dir: str, batch_size: int) -> Iterator[int]:
    """The exercise's pipeline: a torchvision Dataset with per-sample PIL transforms, a
    DataLoader, a random n drawn once per image, the exercise network, softmax before cross-entropy."""
    from torchvision import datasets, transforms

    mnist = datasets.MNIST(
        data_dir,
        train=True,
        transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]),
    )
    fixed_n = torch.randint(0, 10, (len(mnist),), generator=torch.Generator().manual_seed(0))

    class ExerciseDataset(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(mnist)

        def __getitem__(self, i: int) -> tuple:
            image, digit = mnist[i]
            # DualHeadNet normalizes inside, so undo the transform's normalization to feed it [0, 1]
            return image * MNIST_STD + MNIST_MEAN, fixed_n[i], digit, digit + fixed_n[i]

    loader = torch.utils.data.DataLoader(ExerciseDataset(), batch_size=batch_size, shuffle=True)
    torch.manual_seed(0)
    model = DualHeadNet("exercise", "add").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    while True:
        for images, n, digits, sums in loader:
            digit_logits, sum_logits = model(images, n)
            loss = F.cross_entropy(digit_logits.softmax(1), digits) + F.cross_entropy(sum_logits.softmax(1), sums)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            yield len(digits)


def time_to_accuracy(cfg: TrainConfig, target: float, **data: MnistSplit) -> dict[str, Any]:
    """Wall time to a test digit accuracy >= target, checked after every epoch: from nothing
    loaded, unless `train_set`/`test_set` are given (tests pass small ones)."""
    start = time.perf_counter()
    test_acc = None
    for event in train(cfg, **data):
        if isinstance(event, EpochEnd) and event.test is not None:  # (a val_size config tests only at the end)
            test_acc = event.test.digit_accuracy
            if test_acc >= target:
                return {"seconds": time.perf_counter() - start, "epochs": event.epoch, "digit_accuracy": test_acc}
    return {"seconds": None, "epochs": cfg.epochs, "digit_accuracy": test_acc}


def train_flop_per_sample(cfg: TrainConfig) -> int:
    """FLOP of one trained sample: 2 per multiply-add, forward plus backward (about twice the forward)."""
    return 2 * 3 * sum(row.macs for row in layer_table(DualHeadNet(cfg.arch, cfg.fusion)))


def cpu_mhz() -> float | None:
    """The clock /proc/cpuinfo reports (Linux), None elsewhere."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("cpu MHz"):
                return float(line.partition(":")[2])
    except (OSError, ValueError):
        pass
    return None


def peak_gflops(threads: int, bf16: bool, mhz: float | None = None) -> dict[str, Any]:
    """A rough peak for `threads` cores: clock x FLOP per cycle of the widest units torch uses
    (two FMA ports: AVX-512 64 fp32 FLOP/cycle, AVX2 32; AMX 1,024 bf16, AVX512-BF16 128)."""
    mhz = cpu_mhz() if mhz is None else mhz
    capability = torch.backends.cpu.get_cpu_capability()
    per_cycle, units = {"AVX512": (64, "AVX-512 fp32"), "AVX2": (32, "AVX2 fp32")}.get(capability, (8, "SSE fp32"))
    flags = cpu_flags() & set(CPU_BF16_FLAGS)
    if bf16 and "amx_bf16" in flags:
        per_cycle, units = 1024, "AMX bf16"
    elif bf16 and "avx512_bf16" in flags:
        per_cycle, units = 128, "AVX512-BF16"
    if mhz is None:
        return {"gflops": None, "basis": "clock unknown"}
    return {
        "gflops": threads * mhz / 1000 * per_cycle,
        "basis": f"{threads} core(s) x {mhz / 1000:.2f} GHz x {per_cycle} FLOP/cycle ({units})",
    }


def class_preset_run(data_dir: str, train_set: MnistSplit, test_set: MnistSplit) -> dict[str, Any]:
    """The class preset on one thread with MNIST in memory, as a worker in the app runs it: wall seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        result = next(
            e
            for e in train(TrainConfig.preset("class", data_dir=data_dir), train_set, test_set)
            if isinstance(e, TrainResult)
        )
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return {"seconds": seconds, "digit_accuracy": result.test_metrics.digit_accuracy}


def shipped_epoch(data_dir: str, train_set: MnistSplit, batches_measured: int = 60) -> dict[str, Any]:
    """The shipped recipe's loop (pen drawings mixed in, augmentation, the weight average) timed over
    `batches_measured` batches, extrapolated to an epoch and to the whole recipe: its setup (drawing
    the pen digits; cached after a first run) once, then every epoch at this rate (its learning
    rate is constant, so every epoch costs the same)."""
    cfg = TrainConfig.preset("shipped", data_dir=data_dir, device="cpu")
    start = time.perf_counter()
    events = (e for e in train(cfg.replace(epochs=1), train_set) if isinstance(e, BatchEnd))
    first = next(events)
    setup = time.perf_counter() - start
    rate = _throughput((cfg.batch_size for _ in events), 5, batches_measured)
    events.close()
    samples = first.num_batches * cfg.batch_size
    return {
        "samples_per_s": rate,
        "epoch_samples": samples,
        "epoch_seconds": samples / rate,
        "setup_seconds": setup,
        "epochs": cfg.epochs,
        "recipe_minutes": (setup + cfg.epochs * samples / rate) / 60,
    }


def predict_latency(predictor: Predictor, image: np.ndarray, repeats: int) -> dict[str, float]:
    for _ in range(10):
        predictor.predict(image, 3)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        predictor.predict(image, i % 10)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}


def run_benchmark(
    data_dir: str, batches_measured: int = 60, latency_repeats: int = 300, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    cfg = TrainConfig.preset("quick", data_dir=data_dir, device="cpu")
    train_set, test_set = load_split(data_dir, train=True), load_split(data_dir, train=False)
    dtype = resolve_precision(cfg.precision, "cpu")
    result: dict[str, Any] = {
        "torch_threads": torch.get_num_threads(),
        "precision": precision_name(dtype),
        "hardware": hardware_note("cpu"),
    }
    if "train" not in skip:
        ours = _throughput(ours_steps(train_set, cfg, 5 + batches_measured), 5, batches_measured)
        step = _throughput(bare_steps(train_set, cfg), 5, batches_measured)
        exercise = _throughput(exercise_steps(data_dir, cfg.batch_size), 5, batches_measured)
        flop = train_flop_per_sample(cfg)
        result["train_samples_per_s"] = {"ours": ours, "exercise": exercise, "ratio": ours / exercise, "step": step}
        result["train_gflops"] = {
            "flop_per_sample": flop,
            "loop": ours * flop / 1e9,
            "step": step * flop / 1e9,
            "peak": peak_gflops(result["torch_threads"], dtype is not None),
        }
    if "time_to_99" not in skip:
        result["time_to_99"] = time_to_accuracy(cfg, 0.99)
    if "class" not in skip:
        result["class_preset"] = class_preset_run(data_dir, train_set, test_set)
    if "shipped" not in skip:
        result["shipped_epoch"] = shipped_epoch(data_dir, train_set, batches_measured)
    if "predict" not in skip and SHIPPED_WEIGHTS.exists():
        predictor = Predictor.load()
        result["predict_latency"] = {
            f"drawing_{CANVAS}x{CANVAS}": predict_latency(
                predictor, as_drawing(test_set.images[0].numpy()), latency_repeats
            ),
            "mnist_28x28": predict_latency(predictor, test_set.images[0].numpy(), latency_repeats),
        }
    return result


def format_table(r: dict[str, Any]) -> str:
    lines = [
        f"torch threads                       {r['torch_threads']}",
        f"precision                           {r['precision']} ({r['hardware']})",
    ]
    if "train_samples_per_s" in r:
        t, g = r["train_samples_per_s"], r["train_gflops"]
        peak = g["peak"]
        lines += [
            f"train throughput, ours              {t['ours']:10,.0f} samples/s  ({g['loop']:.1f} GFLOP/s)",
            f"train throughput, the step alone    {t['step']:10,.0f} samples/s  ({g['step']:.1f} GFLOP/s)",
            f"train throughput, exercise pipeline {t['exercise']:10,.0f} samples/s",
            f"ratio ours / exercise               {t['ratio']:10.1f}x",
            "peak estimate                       "
            + (f"{peak['gflops']:10.1f} GFLOP/s ({peak['basis']})" if peak["gflops"] else peak["basis"]),
        ]
    if "time_to_99" in r:
        reach = r["time_to_99"]
        lines.append(
            "time to 99.0% digit test accuracy   "
            + (
                f"{reach['seconds']:10.1f} s ({reach['epochs']} epoch(s), {reach['digit_accuracy']:.2%})"
                if reach["seconds"] is not None
                else f"not reached (best {reach['digit_accuracy']:.2%})"
            )
        )
    if "class_preset" in r:
        c = r["class_preset"]
        lines.append(
            f"class preset, one thread            {c['seconds']:10.1f} s (test digit {c['digit_accuracy']:.2%})"
        )
    if "shipped_epoch" in r:
        e = r["shipped_epoch"]
        lines.append(
            f"shipped recipe, one epoch           {e['epoch_seconds']:10.1f} s ({e['epoch_samples']:,} samples at "
            f"{e['samples_per_s']:,.0f}/s; {e['epochs']} epochs and setup: ~{e['recipe_minutes']:.1f} min)"
        )
    for name, lat in r.get("predict_latency", {}).items():
        lines.append(f"predict latency, {name:<18} median {lat['median_ms']:.2f} ms, p95 {lat['p95_ms']:.2f} ms")
    return "\n".join(lines)


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--batches", type=int, default=60, help="batches timed per pipeline")
    parser.add_argument("--repeats", type=int, default=300, help="predict calls timed")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip", nargs="+", default=[], choices=PARTS, help="parts to leave out")
    parser.add_argument("--out", type=Path, help="also write the JSON object to this file")
    args = parser.parse_args(argv)
    result = run_benchmark(args.data_dir, args.batches, args.repeats, tuple(args.skip))
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
