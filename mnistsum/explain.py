"""Look inside a DualHeadNet: per-layer shapes, receptive fields, parameters and MACs,
feature maps, saliency, and the vector the sum head is actually given.

Everything is measured on the model passed in, never from a table, so the numbers stay
true when an architecture changes. The one exception is `exercise_receptive_fields`,
which quotes the exercise's own hand-written receptive fields as an exhibit to check against
(see EXERCISE_RF_SOURCE).

Inspection never touches the caller's model: each function works on a private eval-mode
copy with frozen parameters, so it is safe to call from web handlers in parallel and
while the same model is being served or trained.
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import load_checkpoint
from .cli import exits_cleanly
from .config import SETTINGS, TrainConfig
from .model import ARCH_ALIASES, FUSIONS, IMAGE_SIZE, NETWORKS, NUM_DIGITS, DualHeadNet, check_n, image_batch

SMOOTHGRAD_SAMPLES = 32
SMOOTHGRAD_NOISE = 0.2  # std of the noise added to [0, 1] pixels
SMOOTHGRAD_SEED = 0

_SHORT_NAMES = {
    nn.Conv2d: "conv",
    nn.BatchNorm2d: "bn",
    nn.ReLU: "relu",
    nn.MaxPool2d: "pool",
    nn.Flatten: "flatten",
    nn.Linear: "fc",
    nn.Dropout: "dropout",
}


@dataclass(frozen=True)
class LayerInfo:
    """One row of the layer table; `part` says which head of the network it belongs to."""

    part: str  # "backbone", "fusion" or "sum_head"
    name: str  # conv1, bn1, pool1, fc1, ... numbered per kind within the part
    detail: str  # e.g. "Conv2d 1->16 3x3 pad 1"
    output_shape: tuple[int, ...]  # for one image, without the batch dimension
    receptive_field: int  # side of the input square one output value can see
    jump: int  # input pixels between neighbouring output positions (meaningless once flat)
    covers_image: bool  # True once every output value can see the whole 28x28 input
    params: int
    macs: int  # multiply-accumulates of conv/linear layers for one image


@dataclass(frozen=True)
class ExerciseRF:
    """A hand-calculated receptive field next to the computed one."""

    layer: str
    claimed: int
    computed: int
    wrong: bool
    note: str


@dataclass(frozen=True)
class FusionView:
    """What the sum head receives for one drawing and one n, labelled slot by slot."""

    fusion: str
    digit_probs: np.ndarray  # (10,)
    one_hot_n: np.ndarray  # (10,)
    sum_head_input: np.ndarray  # (20,) for concat, (10,) for add
    labels: list[str]  # one per entry of sum_head_input
    groups: list[str]  # what each entry carries: digit evidence, n, or both mixed


def _inspection_copy(model: DualHeadNet) -> DualHeadNet:
    """An eval-mode copy with frozen parameters: BatchNorm statistics, dropout, `.grad`
    and the training flag of the caller's model all stay exactly as they were."""
    clone = copy.deepcopy(model).eval()
    clone.requires_grad_(False)
    return clone


def _as_batch(image28: np.ndarray | torch.Tensor, model: DualHeadNet) -> torch.Tensor:
    """One 28x28 image (see `image_batch`) -> (1, 1, 28, 28) on the model's device."""
    batch = image_batch(image28, next(model.parameters()).device)
    if len(batch) != 1:
        raise ValueError(f"expected one 28x28 image, got {len(batch)}")
    return batch


def _pair(value: int | tuple[int, ...]) -> int:
    """Square kernels/strides only: the networks here use nothing else."""
    return value if isinstance(value, int) else value[0]


def _detail(layer: nn.Module) -> str:
    if isinstance(layer, nn.Conv2d):
        k, pad = _pair(layer.kernel_size), _pair(layer.padding)
        return f"Conv2d {layer.in_channels}->{layer.out_channels} {k}x{k}" + (f" pad {pad}" if pad else "")
    if isinstance(layer, nn.MaxPool2d):
        k = _pair(layer.kernel_size)
        return f"MaxPool2d {k}x{k} stride {_pair(layer.stride)}"
    if isinstance(layer, nn.Linear):
        return f"Linear {layer.in_features}->{layer.out_features}"
    if isinstance(layer, nn.BatchNorm2d):
        return f"BatchNorm2d {layer.num_features}"
    if isinstance(layer, nn.Dropout):
        return f"Dropout p={layer.p}"
    return type(layer).__name__


def _macs(layer: nn.Module, output_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates for one image; normalization, activations and pooling count as 0."""
    if isinstance(layer, nn.Conv2d):
        k = _pair(layer.kernel_size)
        return int(np.prod(output_shape)) * (layer.in_channels // layer.groups) * k * k
    if isinstance(layer, nn.Linear):
        return layer.in_features * layer.out_features
    return 0


class _ReceptiveField:
    """The standard recurrence r_out = r_in + (k - 1) * j_in, j_out = j_in * s, walked layer by layer.

    A Linear layer on a flattened H x W map acts like a kernel covering the whole map
    (k = H), so after it every value sees everything the map saw."""

    def __init__(self) -> None:
        self.r, self.j = 1, 1
        self.map_size = IMAGE_SIZE  # spatial side of the latest feature map
        self.flat_side = 0  # side of the map a Flatten just unrolled, until a Linear consumes it

    def step(self, layer: nn.Module, output_shape: tuple[int, ...]) -> None:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k, s = _pair(layer.kernel_size), _pair(layer.stride)
            self.r += (k - 1) * self.j
            self.j *= s
        elif isinstance(layer, nn.Flatten):
            self.flat_side = self.map_size
        elif isinstance(layer, nn.Linear) and self.flat_side:
            self.r += (self.flat_side - 1) * self.j
            self.flat_side = 0
        if len(output_shape) == 3:
            self.map_size = output_shape[-1]


def _numbered(layers: nn.Sequential) -> list[tuple[str, nn.Module]]:
    """conv1, bn1, relu1, pool1, conv2, ...: the names people use when they talk about a net."""
    counts: dict[str, int] = {}
    named = []
    for layer in layers:
        short = _SHORT_NAMES.get(type(layer), type(layer).__name__.lower())
        counts[short] = counts.get(short, 0) + 1
        named.append((f"{short}{counts[short]}" if short != "flatten" else short, layer))
    return named


def layer_table(model: DualHeadNet) -> list[LayerInfo]:
    """Per layer of the backbone, then the fusion step, then the sum head, for one 28x28 image."""
    net = _inspection_copy(model)
    device = next(net.parameters()).device
    rows: list[LayerInfo] = []
    rf = _ReceptiveField()
    with torch.no_grad():
        x = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE, device=device)
        activations: list[torch.Tensor] = []
        hooks = [layer.register_forward_hook(lambda _m, _i, out: activations.append(out)) for layer in net.backbone]
        digit_logits = net.digit_logits(x)
        for handle in hooks:
            handle.remove()
        for (name, layer), out in zip(_numbered(net.backbone), activations):
            shape = tuple(out.shape[1:])
            rf.step(layer, shape)
            rows.append(_row("backbone", name, _detail(layer), shape, rf, layer, _macs(layer, shape)))

        fused = net.fusion_input(digit_logits, torch.zeros(1, dtype=torch.long, device=device))
        rows.append(_row("fusion", net.fusion, FUSIONS[net.fusion].description, tuple(fused.shape[1:]), rf, None, 0))

        h = fused
        for name, layer in _numbered(net.sum_head):
            h = layer(h)
            shape = tuple(h.shape[1:])
            rows.append(_row("sum_head", name, _detail(layer), shape, rf, layer, _macs(layer, shape)))
    return rows


def _row(
    part: str, name: str, detail: str, shape: tuple[int, ...], rf: _ReceptiveField, layer: nn.Module | None, macs: int
) -> LayerInfo:
    params = sum(p.numel() for p in layer.parameters()) if layer is not None else 0
    return LayerInfo(part, name, detail, shape, rf.r, rf.j, rf.r >= IMAGE_SIZE, params, macs)


TABLE_COLUMNS = ("part", "layer", "type", "output", "RF", "jump", "params", "MACs")


def display_rows(rows: list[LayerInfo]) -> list[dict[str, str]]:
    """Layer rows as the strings people read, keyed by TABLE_COLUMNS: shared by `summary` and the app."""
    return [
        dict(
            zip(
                TABLE_COLUMNS,
                (
                    r.part,
                    r.name,
                    r.detail,
                    "x".join(map(str, r.output_shape)),
                    f"{r.receptive_field} (all)" if r.covers_image else str(r.receptive_field),
                    str(r.jump) if len(r.output_shape) == 3 else "-",
                    f"{r.params:,}",
                    f"{r.macs:,}",
                ),
            )
        )
        for r in rows
    ]


def summary(model: DualHeadNet) -> str:
    """A printable, aligned layer table with totals per part and overall."""
    rows = layer_table(model)
    lines = [tuple(row.values()) for row in display_rows(rows)]
    for label, part_rows in (
        ("backbone", [r for r in rows if r.part == "backbone"]),
        ("sum_head", [r for r in rows if r.part == "sum_head"]),
        ("model", rows),
    ):
        params, macs = sum(r.params for r in part_rows), sum(r.macs for r in part_rows)
        lines.append(("total", label, "", "", "", "", f"{params:,}", f"{macs:,}"))
    widths = [max(len(row[i]) for row in [TABLE_COLUMNS, *lines]) for i in range(len(TABLE_COLUMNS))]
    numeric = {4, 5, 6, 7}

    def fmt(row: tuple[str, ...]) -> str:
        cells = (cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(tuple("-" * w for w in widths)))
    title = f"DualHeadNet(arch={model.arch!r}, fusion={model.fusion!r}), one {IMAGE_SIZE}x{IMAGE_SIZE} image"
    body = [fmt(r) for r in lines]
    return "\n".join([title, fmt(TABLE_COLUMNS), rule, *body[: len(rows)], rule, *body[len(rows) :]])


# The exercise's own comments, quoted from the EVA8 "Session 2.5 PyTorch 101" write-up whose
# training log issue #2 cites ("epoch: 1 MNIST {Correct: 53744 ..."), e.g.
#   "#3x3: SIZE { in = 26 , out= 24}, recptive field = 35, CHANNEL { in = 16, out= 32 }".
# Its sizes are all right; three of its five receptive fields are not. It stops at conv4.
EXERCISE_RF_SOURCE = (
    "'claimed' is quoted from the exercise's own layer comments (EVA8 Session 2.5 'PyTorch 101' "
    "write-up); 'computed' comes from the model itself."
)
_EXERCISE_HAND_RF: dict[str, tuple[int, str]] = {
    "conv1": (3, "1 + (3-1)*1 = 3"),
    "conv2": (35, "3 + (3-1)*1 = 5; '35' looks like a slip of the pen"),
    "conv3": (7, "5 + (3-1)*1 = 7"),
    "pool1": (14, "the pool doubles the jump, not the field: 7 + (2-1)*1 = 8"),
    "conv4": (17, "14 + 3 carries the error on; with the jump now 2: 8 + (3-1)*2 = 12"),
}


def exercise_receptive_fields() -> list[ExerciseRF]:
    """The exercise network's receptive fields: its hand-written values against the computed ones."""
    computed = {r.name: r.receptive_field for r in layer_table(DualHeadNet(arch="exercise")) if r.part == "backbone"}
    return [
        ExerciseRF(name, claimed, computed[name], claimed != computed[name], note)
        for name, (claimed, note) in _EXERCISE_HAND_RF.items()
    ]


def feature_maps(model: DualHeadNet, image28: np.ndarray | torch.Tensor, layers: int = 2) -> list[np.ndarray]:
    """Activations after the ReLU of each of the first `layers` conv layers, each (channels, H, W)."""
    net = _inspection_copy(model)
    conv_relus = []
    seen_conv = False
    for layer in net.backbone:
        seen_conv = seen_conv or isinstance(layer, nn.Conv2d)
        if isinstance(layer, nn.ReLU) and seen_conv:
            conv_relus.append(layer)
            seen_conv = False
        if isinstance(layer, nn.Flatten):
            break
    if not 1 <= layers <= len(conv_relus):
        raise ValueError(f"layers must be between 1 and {len(conv_relus)} for arch {model.arch!r}, got {layers}")
    maps: list[np.ndarray] = []
    hooks = [
        relu.register_forward_hook(lambda _m, _i, out: maps.append(out[0].cpu().numpy().copy()))
        for relu in conv_relus[:layers]
    ]
    with torch.no_grad():
        net.digit_logits(_as_batch(image28, net))
    for handle in hooks:
        handle.remove()
    return maps


def saliency(model: DualHeadNet, image28: np.ndarray | torch.Tensor, target: int | None = None) -> np.ndarray:
    """SmoothGrad: |d logit_target / d pixel| averaged over noisy copies of the image, lightly
    blurred and scaled to [0, 1]; `target` defaults to the predicted digit.

    A plain input gradient of a small CNN is speckled noise to the eye. Averaging over a
    fixed-seed batch of noisy copies keeps what matters for every nearby image, and a 3x3
    blur removes the pixel-to-pixel alternation the pooling leaves behind (a stroke is 2-3
    pixels wide anyway). Occlusion maps (cover a patch, watch the score) read well too, but
    need a forward pass per patch position: too slow to redraw on every stroke."""
    net = _inspection_copy(model)
    image = _as_batch(image28, net)
    with torch.no_grad():
        predicted = int(net.digit_logits(image).argmax(dim=1))
    target = predicted if target is None else target
    if not 0 <= target < NUM_DIGITS:
        raise ValueError(f"target must be a digit 0..9, got {target}")
    generator = torch.Generator().manual_seed(SMOOTHGRAD_SEED)
    noise = torch.randn((SMOOTHGRAD_SAMPLES, 1, IMAGE_SIZE, IMAGE_SIZE), generator=generator).to(image.device)
    noisy = (image + SMOOTHGRAD_NOISE * noise).requires_grad_(True)
    with torch.enable_grad():
        logits = net.digit_logits(noisy)
        (grad,) = torch.autograd.grad(logits[:, target].sum(), noisy)
    binomial = torch.tensor([1.0, 2.0, 1.0], device=image.device)
    kernel = (binomial[:, None] * binomial[None, :] / 16).reshape(1, 1, 3, 3)
    heat = F.conv2d(grad.abs().mean(dim=0, keepdim=True), kernel, padding=1)[0, 0].cpu().numpy()
    peak = heat.max()
    return (heat / peak if peak > 0 else heat).astype(np.float32)


def fusion_view(
    model: DualHeadNet, image28: np.ndarray | torch.Tensor, n: int, fusion: str | None = None
) -> FusionView:
    """The sum head's input for this image and n, with a label and a group for every slot.

    `fusion` (default: the model's own) can name the other fusion, to show what it would
    hand over from the very same digit logits. With "add" each slot mixes a digit logit with
    the one-hot n, so the +1 that marks n drowns in logits that vary by several units from
    one drawing to the next; with "concat" both halves stay readable."""
    n = check_n(n)
    net = _inspection_copy(model)
    if fusion is not None:
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        net.fusion = fusion  # a private copy: DualHeadNet.fusion_input then builds that fusion's vector
    image = _as_batch(image28, net)
    with torch.no_grad():
        logits = net.digit_logits(image)
        fused = net.fusion_input(logits, torch.tensor([n], device=image.device))[0].cpu().numpy()
    if net.fusion == "concat":
        labels = [f"p({d})" for d in range(NUM_DIGITS)] + [f"n={k}" for k in range(NUM_DIGITS)]
        groups = ["digit probability"] * NUM_DIGITS + ["one-hot n"] * NUM_DIGITS
    else:
        labels = [f"logit {d}" + (" +1" if d == n else "") for d in range(NUM_DIGITS)]
        groups = ["digit logit + one-hot n"] * NUM_DIGITS
    one_hot = np.eye(NUM_DIGITS, dtype=np.float32)[n]
    return FusionView(net.fusion, logits.softmax(dim=1)[0].cpu().numpy(), one_hot, fused, labels, groups)


def _format_exercise_table(rows: list[ExerciseRF]) -> str:
    lines = [EXERCISE_RF_SOURCE, f"{'layer':6}  {'claimed':>7}  {'computed':>8}  wrong  note"]
    lines += [f"{r.layer:6}  {r.claimed:>7}  {r.computed:>8}  {'WRONG' if r.wrong else 'ok':5}  {r.note}" for r in rows]
    return "\n".join(lines)


def format_recipe(meta: dict[str, Any]) -> str:
    """How a checkpoint was trained, field by field, from its metadata. Fields the file does
    not record (it predates them) show the value runs used back then."""
    if "config" not in meta:
        return "recipe: not recorded in this checkpoint"
    recorded = meta["config"]
    cfg = TrainConfig.from_dict(recorded)
    lines = [f"recipe (preset {meta.get('preset')!r}):"]
    for s in SETTINGS:
        if s.recipe:
            note = "" if s.name in recorded else "   (not recorded; the value used before it was)"
            lines.append(f"  {s.name:<18} {getattr(cfg, s.name)!r}{note}")
    return "\n".join(lines)


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Per-layer output shape, receptive field, parameters and MACs; with --weights, also how they were trained."
    )
    parser.add_argument(
        "--arch", choices=list(NETWORKS), default="default", type=lambda name: ARCH_ALIASES.get(name, name)
    )
    parser.add_argument("--fusion", choices=list(FUSIONS), default=None, help="default: the arch's own fusion")
    parser.add_argument("--weights", help="a checkpoint: print its recorded recipe and its own layer table")
    parser.add_argument("--exercise-rf", action="store_true", help="also print the exercise's receptive-field check")
    args = parser.parse_args(argv)
    if args.weights:
        model, meta = load_checkpoint(args.weights)
        print(format_recipe(meta) + "\n")
    else:
        model = DualHeadNet(arch=args.arch, fusion=args.fusion)
    print(summary(model))
    if args.exercise_rf:
        print()
        print(_format_exercise_table(exercise_receptive_fields()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
