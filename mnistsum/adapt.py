"""Teaching the network one person's handwriting, measured: the benchmark of `Predictor.adapt`.

    adapted = predictor.adapt([drawing_a, drawing_b], [1, 7])   # a new Predictor; `predictor` is untouched

The method lives a floor down, in `mnistsum.lastlayer` (fit the digit head's last layer on
frozen features, with MNIST replay); `Predictor.adapt` runs it. This module imports both and
is imported by neither: the names below are re-exported for callers of the old place.

CLI (the benchmark): `python -m mnistsum.adapt [--writers test|val] [--k 1 2] [--json] [--out FILE]`:
for every held-out writer, k drawings per digit -> accuracy on that writer's other drawings
before and after, MNIST accuracy after, and seconds per adaptation (one thread).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .cli import exits_cleanly, publish
from .data import MnistSplit
from .lastlayer import (
    DEFAULT_SETTINGS,
    MAX_DRAWINGS,
    AdaptSettings,
    adapt_model,
    cached_features,
    check_digits,
    features,
    fit_last_layer,
    head_accuracy,
    last_layer,
    replay_set,
    views,
    with_last_layer,
)
from .model import NUM_DIGITS, DualHeadNet, image_batch
from .predictor import Predictor, prepare_all

__all__ = [  # the method's names, re-exported from `mnistsum.lastlayer` and `mnistsum.predictor`
    "MAX_DRAWINGS",
    "AdaptSettings",
    "adapt",
    "adapt_model",
    "cached_features",
    "check_digits",
    "features",
    "fit_last_layer",
    "head_accuracy",
    "last_layer",
    "prepare_all",
    "replay_set",
    "views",
    "with_last_layer",
]


def adapt(predictor: Predictor, drawings: Sequence[np.ndarray], digits: Sequence[Any], **options: Any) -> Predictor:
    """`predictor.adapt(drawings, digits, **options)`, as a function."""
    return predictor.adapt(drawings, digits, **options)


# --- the benchmark -----------------------------------------------------------------------------


def _writer_seed(writer: str, k: int, draw: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, draw, k, zlib.crc32(writer.encode())])


def choose(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of up to `k` drawings of each digit (a writer without a digit gives none of it)."""
    picks = [
        rng.choice(np.flatnonzero(labels == d), min(k, int((labels == d).sum())), replace=False)
        for d in range(NUM_DIGITS)
    ]
    return np.sort(np.concatenate(picks).astype(np.int64))


@dataclass
class Writer:
    """One writer's digits as the benchmark reads them: the strokes (drawn again for each timed
    adaptation), the 28x28 model inputs and the base model's features of them."""

    name: str
    strokes: list[Any]
    labels: np.ndarray
    features: torch.Tensor


def _logits(model: DualHeadNet, feats: torch.Tensor) -> torch.Tensor:
    head = last_layer(model)
    return F.linear(feats, head.weight, head.bias)


@torch.no_grad()
def sum_consistency(model: DualHeadNet, logits: torch.Tensor) -> float:
    """Share of (drawing, n) pairs, n = 0..9, where the sum head's answer is digit + n."""
    if len(logits) == 0:
        return float("nan")
    digit = logits.argmax(1)
    agree = [(model.sum_logits(logits, torch.full_like(digit, n)).argmax(1) == digit + n) for n in range(NUM_DIGITS)]
    return float(torch.stack(agree).float().mean())


def _same_body(base: DualHeadNet, adapted: DualHeadNet) -> bool:
    """Only the last layer may differ: the benchmark then reuses the base model's features."""
    a, b = base.state_dict(), adapted.state_dict()
    head = {name for name, p in adapted.named_parameters() if any(p is q for q in last_layer(adapted).parameters())}
    return all(torch.equal(a[k], b[k]) for k in a if k not in head)


def _set_of(writer: str) -> str:
    """The pen set a writer id names ("set/contributor/writer"); older ids carry no set name."""
    return writer.split("/")[0] if writer.count("/") >= 2 else "pen"


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def benchmark(
    predictor: Predictor,
    writers: list[Writer],
    mnist: tuple[torch.Tensor, torch.Tensor],
    ks: Sequence[int] = (1, 2),
    settings: AdaptSettings = DEFAULT_SETTINGS,
    replay: MnistSplit | None = None,
    pen: float = 22,
    draws: int = 1,
    supersample: int = 4,
) -> dict[str, Any]:
    """For each k and writer: adapt to k drawings per digit (drawn from their strokes, through
    `Predictor.adapt`: preprocessing included in the time), then read their other drawings."""
    from .pen import render

    base = predictor.model
    mnist_feats, mnist_labels = mnist
    mnist_base = float((_logits(base, mnist_feats).argmax(1) == mnist_labels).float().mean())
    cold = time.perf_counter()
    if replay is not None and settings.replay:
        cached_features(base, replay.subset(settings.replay))
    cold = time.perf_counter() - cold
    report: dict[str, Any] = {
        "settings": dataclasses.asdict(settings),
        "pen": pen,
        "draws": draws,
        "replay": 0 if replay is None else min(len(replay), settings.replay),
        "replay_features_s": cold,
        "mnist_base": mnist_base,
        "by_k": {},
    }
    for k in ks:
        rows, seconds = [], []
        for writer in writers:
            for draw in range(draws):
                taught = choose(writer.labels, k, _writer_seed(writer.name, k, draw, settings.seed))
                rest = np.setdiff1d(np.arange(len(writer.labels)), taught)
                drawings = [render(writer.strokes[i], pen=pen, supersample=supersample) for i in taught]
                start = time.perf_counter()
                adapted = predictor.adapt(drawings, writer.labels[taught].tolist(), settings=settings, replay=replay)
                seconds.append(time.perf_counter() - start)
                if not _same_body(base, adapted.model):
                    raise AssertionError("the adaptation changed more than the last layer")
                truth = torch.as_tensor(writer.labels[rest])
                before = _logits(base, writer.features[rest])
                after = _logits(adapted.model, writer.features[rest])
                mnist_after = _logits(adapted.model, mnist_feats).argmax(1) == mnist_labels
                rows.append(
                    {
                        "writer": writer.name,
                        "draw": draw,
                        "taught": len(taught),
                        "others": len(rest),
                        "before": int((before.argmax(1) == truth).sum()),
                        "after": int((after.argmax(1) == truth).sum()),
                        "sum_consistency": sum_consistency(adapted.model, after),
                        "mnist_after": float(mnist_after.float().mean()),
                    }
                )
        others = sum(r["others"] for r in rows)
        per_writer = [(r["before"] / r["others"], r["after"] / r["others"]) for r in rows if r["others"]]
        report["by_k"][str(k)] = {
            "adaptations": len(rows),
            "writers": len({r["writer"] for r in rows}),
            "others": others,
            "before": sum(r["before"] for r in rows) / max(others, 1),
            "after": sum(r["after"] for r in rows) / max(others, 1),
            "writer_mean_before": float(np.mean([b for b, _ in per_writer])),
            "writer_mean_after": float(np.mean([a for _, a in per_writer])),
            "worst_writer_after": min(a for _, a in per_writer),
            "by_set": {
                name: {
                    "writers": len({r["writer"] for r in mine}),
                    "others": sum(r["others"] for r in mine),
                    "before": sum(r["before"] for r in mine) / max(sum(r["others"] for r in mine), 1),
                    "after": sum(r["after"] for r in mine) / max(sum(r["others"] for r in mine), 1),
                }
                for name in sorted({_set_of(r["writer"]) for r in rows})
                for mine in [[r for r in rows if _set_of(r["writer"]) == name]]
            },
            "sum_consistency_after": float(np.nanmean([r["sum_consistency"] for r in rows])),
            "mnist_after_mean": float(np.mean([r["mnist_after"] for r in rows])),
            "mnist_after_min": min(r["mnist_after"] for r in rows),
            "seconds_median": _percentile(seconds, 50),
            "seconds_p95": _percentile(seconds, 95),
            "rows": rows,
        }
    return report


def load_writers(predictor: Predictor, data_dir: str, part: str, pen: float, supersample: int = 4) -> list[Writer]:
    """Every writer of the pen sets' `part` ("test" or "val"), drawn once with a `pen` px pen."""
    from .pen import load_pen_digits, render, writer_split

    digits = writer_split(load_pen_digits(data_dir), part)
    writers = []
    for name in sorted(set(digits.writers.tolist())):
        mine = digits.take(np.flatnonzero(digits.writers == name))
        inputs = np.stack([predictor.prepare(render(s, pen=pen, supersample=supersample))[0] for s in mine.strokes])
        writers.append(Writer(name, mine.strokes, mine.labels, features(predictor.model, image_batch(inputs))))
    return writers


def mnist_features(
    predictor: Predictor, data_dir: str, part: str, val_size: int = 5000
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's test images (part "test") or its validation images (the last `val_size` training ones)."""
    from .data import hold_out, load_split

    split = (
        load_split(data_dir, train=False) if part == "test" else hold_out(load_split(data_dir, train=True), val_size)[1]
    )
    return features(predictor.model, image_batch(split.images)), split.labels


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"adapting {report['weights']} to each {report['writers']} pen writer (pen {report['pen']:g} px, "
        f"{report['draws']} draw(s) per writer, replay {report['replay']} MNIST images, {report['threads']} thread(s))",
        "",
        "| k per digit | adaptations | their other drawings, before -> after | mean per writer | worst writer after | sum consistency after | MNIST "
        f"{report['mnist_part']} after (base {report['mnist_base']:.2%}): mean, worst | s per adaptation: median, p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in report["by_k"].items():
        lines.append(
            f"| {k} | {r['adaptations']} | {r['before']:.2%} -> **{r['after']:.2%}** ({r['others']:,}) | "
            f"{r['writer_mean_before']:.2%} -> {r['writer_mean_after']:.2%} | {r['worst_writer_after']:.2%} | "
            f"{r['sum_consistency_after']:.3%} | {r['mnist_after_mean']:.2%}, {r['mnist_after_min']:.2%} | "
            f"{r['seconds_median']:.3f}, {r['seconds_p95']:.3f} |"
        )
    for k, r in report["by_k"].items():
        for name, v in r["by_set"].items():
            lines.append(
                f"k={k}, {name} ({v['writers']} writers): {v['before']:.2%} -> {v['after']:.2%} ({v['others']:,} drawings)"
            )
    lines.append(f"\nthe replay features of a model, once per model: {report['replay_features_s']:.2f} s")
    return "\n".join(lines)


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    from .config import SHIPPED_WEIGHTS, default_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHIPPED_WEIGHTS), help="checkpoint to adapt")
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding MNIST/ and the pen sets")
    parser.add_argument(
        "--writers", default="test", choices=("test", "val"), help="which writers (and MNIST part: test or validation)"
    )
    parser.add_argument("--k", nargs="+", type=int, default=[1, 2], help="drawings per digit to adapt to")
    parser.add_argument("--pen", type=float, default=22, help="pen width, px on the 280 px pad")
    parser.add_argument("--draws", type=int, default=1, help="random choices of the k drawings per writer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the target is on one)")
    for f in dataclasses.fields(AdaptSettings):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default, help=f"AdaptSettings.{f.name}"
        )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON report to this file (atomically)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = AdaptSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(AdaptSettings)})
    predictor = Predictor.load(args.weights)
    replay = replay_set(args.data_dir, settings.replay)
    writers = load_writers(predictor, args.data_dir, args.writers, args.pen)
    mnist = mnist_features(predictor, args.data_dir, args.writers)
    report = benchmark(predictor, writers, mnist, args.k, settings, replay, args.pen, args.draws)
    report = {
        "weights": args.weights,
        "writers": len(writers),
        "writer_part": args.writers,
        "mnist_part": "test" if args.writers == "test" else "validation",
        "threads": args.threads,
        **report,
    }
    publish(report, format_report(report), args.out, args.json, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
