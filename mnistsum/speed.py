"""Benchmark: our training pipeline against the exercise's, time to 99%, predict latency.

Everything is measured in one run on one machine, so the ratio is fair even where the
absolute numbers move with the machine's load.

    python -m mnistsum.speed            # a table
    python -m mnistsum.speed --json     # one JSON object
    python -m mnistsum.speed --out weights/speed.json   # the file the README's headline table reads
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
from .data import MnistSplit, load_split
from .model import MNIST_MEAN, MNIST_STD, DualHeadNet
from .predictor import Predictor
from .render import CANVAS, as_drawing
from .train import BatchEnd, EpochEnd, train


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


def run_benchmark(data_dir: str, batches_measured: int = 60, latency_repeats: int = 300) -> dict[str, Any]:
    cfg = TrainConfig.preset("quick", data_dir=data_dir, device="cpu")
    train_set, test_set = load_split(data_dir, train=True), load_split(data_dir, train=False)
    ours = _throughput(ours_steps(train_set, cfg, 5 + batches_measured), 5, batches_measured)
    exercise = _throughput(exercise_steps(data_dir, cfg.batch_size), 5, batches_measured)
    result: dict[str, Any] = {
        "torch_threads": torch.get_num_threads(),
        "train_samples_per_s": {"ours": ours, "exercise": exercise, "ratio": ours / exercise},
        "time_to_99": time_to_accuracy(cfg, 0.99),
    }
    if SHIPPED_WEIGHTS.exists():
        predictor = Predictor.load()
        result["predict_latency"] = {
            f"drawing_{CANVAS}x{CANVAS}": predict_latency(
                predictor, as_drawing(test_set.images[0].numpy()), latency_repeats
            ),
            "mnist_28x28": predict_latency(predictor, test_set.images[0].numpy(), latency_repeats),
        }
    return result


def format_table(r: dict[str, Any]) -> str:
    t = r["train_samples_per_s"]
    reach = r["time_to_99"]
    lines = [
        f"torch threads                       {r['torch_threads']}",
        f"train throughput, ours              {t['ours']:10,.0f} samples/s",
        f"train throughput, exercise pipeline {t['exercise']:10,.0f} samples/s",
        f"ratio ours / exercise               {t['ratio']:10.1f}x",
        "time to 99.0% digit test accuracy   "
        + (
            f"{reach['seconds']:10.1f} s ({reach['epochs']} epoch(s), {reach['digit_accuracy']:.2%})"
            if reach["seconds"] is not None
            else f"not reached (best {reach['digit_accuracy']:.2%})"
        ),
    ]
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
    parser.add_argument("--out", type=Path, help="also write the JSON object to this file")
    args = parser.parse_args(argv)
    result = run_benchmark(args.data_dir, args.batches, args.repeats)
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
