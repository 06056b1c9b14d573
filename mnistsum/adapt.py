"""Teach the network one person's handwriting: a few labelled drawings -> a new predictor.

    adapted = predictor.adapt([drawing_a, drawing_b], [1, 7])   # a new Predictor; `predictor` is untouched

How (chosen on validation writers; weights/MODEL_CARD.md, "Adapting to one writer"): every
layer but the digit head's last one stays frozen. The drawings (and a few shifted, turned
copies of each) go through the frozen layers once; then the last layer, 128 -> 10 for
the shipped network, is fine-tuned on those features for a fixed number of full-batch steps,
mixed with the features of MNIST training images (replay) so the rest of the world is not
forgotten. The sum head is not touched: it reads softmax(digit logits) + one_hot(n), so a
digit read right is summed right. Only a small layer learns, on features computed once, so an
adaptation takes well under a second on one CPU thread, and the replay features of a model
are computed once and kept while the model lives.

Same inputs, same result: the copies are drawn from a generator seeded by the settings, and
the steps are full-batch.

CLI (the benchmark): `python -m mnistsum.adapt [--writers test|val] [--k 1 2] [--json] [--out FILE]`:
for every held-out writer, k drawings per digit -> accuracy on that writer's other drawings
before and after, MNIST accuracy after, and seconds per adaptation (one thread).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cli import exits_cleanly, publish
from .data import MnistSplit, cached_split, has_mnist
from .model import NUM_DIGITS, DualHeadNet, image_batch

if TYPE_CHECKING:
    from .predictor import Predictor

MAX_DRAWINGS = 100  # one adaptation reads at most this many drawings (its time grows with them)


@dataclass(frozen=True)
class AdaptSettings:
    """Everything an adaptation does; the defaults are the method chosen on validation writers."""

    views: int = 6  # shifted, turned, scaled copies of each drawing, besides the drawing itself
    max_rotation_deg: float = 10.0
    max_scale: float = 0.1  # relative size change of a copy
    max_shift_px: float = 1.5  # of 28
    steps: int = 60  # full-batch steps of Adam on the last layer
    lr: float = 0.01
    replay: int = 512  # MNIST training images whose features are mixed in (0: none)
    replay_weight: float = 10.0  # the replay loss's weight; the drawings' loss has weight 1
    distill: bool = True  # replay keeps the base model's answers (soft targets), not MNIST's labels
    anchor: float = 0.0  # L2 pull of the last layer towards the base model's
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.views >= 0, "views must be >= 0"),
            (self.steps >= 0, "steps must be >= 0"),
            (self.lr > 0, "lr must be > 0"),
            (self.replay >= 0, "replay must be >= 0"),
            (self.replay_weight >= 0 and self.anchor >= 0, "replay_weight and anchor must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{message} ({self})")


def check_digits(digits: Sequence[Any], count: int) -> list[int]:
    """One whole digit 0..9 per drawing, else a ValueError that names the bad one."""
    if isinstance(digits, (str, bytes)) or not isinstance(digits, Sequence):
        raise ValueError(f"digits must be a list of whole numbers 0-9, got {type(digits).__name__}")
    if len(digits) != count:
        raise ValueError(f"one digit per drawing: got {count} drawings and {len(digits)} digits")
    out = []
    for i, d in enumerate(digits):
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or not 0 <= d < NUM_DIGITS:
            raise ValueError(f"digit #{i} must be a whole number from 0 to 9, got {d!r}")
        out.append(int(d))
    return out


def last_layer(model: DualHeadNet) -> nn.Linear:
    """The digit head's last layer: the only one an adaptation changes."""
    head = model.backbone[-1]
    if not isinstance(head, nn.Linear):
        raise ValueError(f"cannot adapt a {model.arch} network: its digit head does not end in a linear layer")
    return head


@torch.no_grad()
def features(model: DualHeadNet, images: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """What the last layer reads, for (B, 1, 28, 28) images in [0, 1], in eval mode."""
    body = model.backbone[:-1]
    chunks = [body((images[i : i + batch] - model.mean) / model.std) for i in range(0, len(images), batch)]
    return torch.cat(chunks) if chunks else torch.zeros(0, last_layer(model).in_features)


def views(images: torch.Tensor, settings: AdaptSettings) -> torch.Tensor:
    """Each image, then `settings.views` copies of each moved a little (seeded, so repeatable)."""
    if settings.views == 0:
        return images
    g = torch.Generator().manual_seed(settings.seed)
    count = len(images) * settings.views

    def uniform(bound: float) -> torch.Tensor:
        return (torch.rand(count, generator=g) * 2 - 1) * bound

    angle = uniform(math.radians(settings.max_rotation_deg))
    scale = 1 + uniform(settings.max_scale)
    shift = torch.stack([uniform(settings.max_shift_px), uniform(settings.max_shift_px)], 1) * 2 / 28
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    source = images.repeat_interleave(settings.views, 0)
    grid = F.affine_grid(theta, list(source.shape), align_corners=False)
    moved = F.grid_sample(source, grid, align_corners=False, padding_mode="zeros")
    return torch.cat([images, moved])


# --- replay: MNIST features, computed once per model -------------------------------------------

_REPLAY_LOCK = threading.Lock()
_COMPUTING = threading.Lock()
_REPLAY: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, int], torch.Tensor]] = weakref.WeakKeyDictionary()


def replay_set(data_dir: str | None = None, size: int = AdaptSettings.replay) -> MnistSplit | None:
    """The first `size` MNIST training images (never the validation images at the end), or
    None when MNIST is not in `data_dir` (the adaptation then runs without replay and says so)."""
    from .config import default_data_dir

    data_dir = data_dir or default_data_dir()
    if size == 0 or not has_mnist(data_dir):
        return None
    return cached_split(data_dir, train=True).subset(size)


def cached_features(model: DualHeadNet, images: MnistSplit) -> torch.Tensor:
    """`features` of a fixed image set (the replay, the forgetting check), kept while `model`
    lives: a served model never changes, so they are computed once per model."""
    key = (images.images.data_ptr(), len(images))  # the same images, however sliced
    with _REPLAY_LOCK:
        held = _REPLAY.setdefault(model, {}).get(key)
    if held is not None:
        return held
    with _COMPUTING:  # a second caller (a warm-up and a first lesson at once) waits for the first
        with _REPLAY_LOCK:
            held = _REPLAY[model].get(key)
        if held is not None:
            return held
        device = next(model.parameters()).device
        feats = features(model, image_batch(images.images, device))
        with _REPLAY_LOCK:
            _REPLAY[model][key] = feats
        return feats


def head_accuracy(model: DualHeadNet, base: DualHeadNet, images: MnistSplit) -> float:
    """Digit accuracy of `model` on `images`, read from `base`'s cached features: right for a
    model `adapt` made from `base` (only the last layer differs)."""
    logits = F.linear(cached_features(base, images), last_layer(model).weight, last_layer(model).bias)
    return float((logits.argmax(1).cpu() == images.labels).float().mean())


# --- the method ------------------------------------------------------------------------------


def fit_last_layer(
    model: DualHeadNet,
    user: torch.Tensor,
    labels: torch.Tensor,
    replay: tuple[torch.Tensor, torch.Tensor] | None,
    settings: AdaptSettings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The last layer's new (weight, bias), fine-tuned on `user` features and the replay's."""
    head = last_layer(model)
    w0, b0 = head.weight.detach().clone(), head.bias.detach().clone()
    weight, bias = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    # Adam written out (betas 0.9, 0.999): torch.optim's first step imports seconds of machinery
    # (torch._dynamo) that the first visitor to correct an answer would wait for.
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in (weight, bias)]
    with torch.enable_grad():
        for step in range(1, settings.steps + 1):
            loss = F.cross_entropy(F.linear(user, weight, bias), labels)
            if replay is not None and settings.replay_weight > 0:
                loss = loss + settings.replay_weight * F.cross_entropy(F.linear(replay[0], weight, bias), replay[1])
            if settings.anchor > 0:
                loss = loss + settings.anchor * ((weight - w0).square().sum() + (bias - b0).square().sum())
            grads = torch.autograd.grad(loss, (weight, bias))
            with torch.no_grad():
                for p, g, (m, v) in zip((weight, bias), grads, moments):
                    m.mul_(0.9).add_(g, alpha=0.1)
                    v.mul_(0.999).addcmul_(g, g, value=0.001)
                    denom = (v / (1 - 0.999**step)).sqrt_().add_(1e-8)
                    p.addcdiv_(m, denom, value=-settings.lr / (1 - 0.9**step))
    return weight.detach(), bias.detach()


def adapt_model(
    model: DualHeadNet,
    images: np.ndarray | torch.Tensor,
    digits: Sequence[int],
    settings: AdaptSettings = AdaptSettings(),
    replay: MnistSplit | None = None,
) -> DualHeadNet:
    """A copy of `model` whose last layer learned these (N, 28, 28) model inputs and digits."""
    device = next(model.parameters()).device
    x = image_batch(images, device)
    labels = torch.as_tensor(check_digits(list(digits), len(x)), device=device)
    x = views(x, settings)  # the drawings first, then each drawing's copies together
    labels = torch.cat([labels, labels.repeat_interleave(settings.views)])
    user = features(model, x)
    mixed = None
    if replay is not None and settings.replay > 0:
        replay = replay.subset(settings.replay)
        feats = cached_features(model, replay)
        # the base model's own answers on them (what it learned from MNIST and the pen sets), or MNIST's labels
        with torch.no_grad():
            answers = F.linear(feats, last_layer(model).weight, last_layer(model).bias).softmax(1)
        targets = answers if settings.distill else replay.labels.to(device)
        mixed = (feats, targets)
    weight, bias = fit_last_layer(model, user, labels, mixed, settings)
    return with_last_layer(model, weight, bias)


def with_last_layer(model: DualHeadNet, weight: torch.Tensor, bias: torch.Tensor) -> DualHeadNet:
    """A new network that shares every module of `model` but a new last layer: nothing is copied,
    and nothing is changed (a served model is never trained or written to)."""
    head = last_layer(model)
    new_head = nn.Linear(head.in_features, head.out_features, device=weight.device)
    with torch.no_grad():
        new_head.weight.copy_(weight)
        new_head.bias.copy_(bias)
    adapted = copy.copy(model)
    adapted._modules = {**model._modules, "backbone": nn.Sequential(*model.backbone[:-1], new_head)}
    adapted._parameters, adapted._buffers = dict(model._parameters), dict(model._buffers)
    return adapted.eval()


def prepare_all(
    predictor: Predictor, drawings: Sequence[np.ndarray], digits: Sequence[Any]
) -> tuple[np.ndarray, list[int]]:
    """Drawings as `predict` takes them, one digit each -> ((N, 28, 28) model inputs, digits).

    ValueError (BlankDrawingError for an empty one) naming the first unusable drawing or digit,
    and for no drawings or more than `MAX_DRAWINGS`."""
    from .predictor import BlankDrawingError

    if isinstance(drawings, np.ndarray) and drawings.ndim == 2:
        raise ValueError("drawings must be a list of images (got one image: wrap it in a list)")
    if not 0 < len(drawings) <= MAX_DRAWINGS:
        raise ValueError(f"adapt to 1 to {MAX_DRAWINGS} drawings, got {len(drawings)}")
    labels = check_digits(digits, len(drawings))
    inputs = []
    for i, drawing in enumerate(drawings):
        try:
            inputs.append(predictor.prepare(drawing)[0])
        except BlankDrawingError as err:
            raise BlankDrawingError(f"drawing #{i} (labelled {labels[i]}): {err}") from err
        except ValueError as err:
            raise ValueError(f"drawing #{i} (labelled {labels[i]}): {err}") from err
    return np.stack(inputs), labels


def adapt_inputs(
    predictor: Predictor,
    inputs: np.ndarray,
    digits: Sequence[int],
    settings: AdaptSettings = AdaptSettings(),
    replay: MnistSplit | None | str = "default",
) -> Predictor:
    """`adapt` on already-prepared (N, 28, 28) model inputs."""
    from .predictor import Predictor

    labels = check_digits(list(digits), len(inputs))
    if isinstance(replay, str):
        replay = replay_set(size=settings.replay)
    model = adapt_model(predictor.model, inputs, labels, settings, replay)
    head = last_layer(model)  # the base's folded network with the new last layer: nothing to fold again
    net = with_last_layer(predictor._net, head.weight.detach(), head.bias.detach())
    record = {
        "drawings": len(labels),
        "per_digit": np.bincount(labels, minlength=NUM_DIGITS).tolist(),
        "replay": 0 if replay is None else min(len(replay), settings.replay),
        "settings": dataclasses.asdict(settings),
    }
    return Predictor(model, {**predictor.meta, "adapted": record}, net=net)


def adapt(
    predictor: Predictor,
    drawings: Sequence[np.ndarray],
    digits: Sequence[Any],
    settings: AdaptSettings = AdaptSettings(),
    replay: MnistSplit | None | str = "default",
) -> Predictor:
    """`Predictor.adapt`: drawings as `predict` takes them, one digit each -> a new Predictor
    (errors: `prepare_all`). `replay` "default" reads MNIST from the data folder when it is
    there (`replay_set`); None adapts without replay (and its record says so)."""
    inputs, labels = prepare_all(predictor, drawings, digits)
    return adapt_inputs(predictor, inputs, labels, settings, replay)


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
    settings: AdaptSettings = AdaptSettings(),
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
    from .predictor import Predictor

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
