"""The page's reader: a checkpoint exported as one JSON file the browser runs itself.

    python -m mnistsum.export                      # weights/mnistsum.pt -> weights/reader.json
    python -m mnistsum.export --check              # exit 1 if weights/reader.json is stale

The page (`demo/static/reader*.js`) preprocesses a drawing and runs the network in plain
JavaScript, so a stroke costs the server nothing. What it needs travels here, each fact read
from its one home: the layers with BatchNorm folded into the convolutions (`model.folded`),
the sum head, MNIST's normalisation, and every constant of `mnistsum.preprocess` and
`mnistsum.verdict` (the one-digit rule). Tensors are
little-endian float16 in base64 (half the bytes of float32; the parity test shows the answers
do not move), each with a checksum, and the file names the SHA-256 of the checkpoint it came
from, so a stale or damaged file is refused instead of read.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import preprocess, verdict
from .checkpoint import atomic_write_text, load_checkpoint
from .cli import exits_cleanly
from .config import SHIPPED_WEIGHTS
from .model import MNIST_MEAN, MNIST_STD, DualHeadNet, folded

FORMAT = "mnistsum-reader/1"
READER = SHIPPED_WEIGHTS.with_name("reader.json")
DTYPES = ("float16", "float32")
# The preprocessing constants the page's port reads (names as in mnistsum/preprocess.py).
PREPROCESS_NAMES = (
    "BOX",
    "FRAME",
    "CENTRE",
    "MAX_SIDE",
    "LUMA",
    "MIN_CONTRAST",
    "NOISE_MARGIN",
    "MAX_MIDTONES",
    "MIN_LEVEL_SHARE",
    "STRAY_SHARE",
    "STRAY_GAP",
    "THIN_STROKE",
    "THICK_STROKE",
    "MIN_SPAN",
)


def checksum(data: bytes) -> int:
    """Adler-32 (zlib's): cheap to check in the page without WebCrypto, which plain-http LAN pages lack."""
    return zlib.adler32(data)


def tensor_entry(values: torch.Tensor | np.ndarray, dtype: str = "float16") -> dict[str, Any]:
    """A tensor as {shape, dtype, data (base64, little-endian), adler32}."""
    array = np.ascontiguousarray(np.asarray(values, dtype=np.float32).astype("<f2" if dtype == "float16" else "<f4"))
    raw = array.tobytes()
    return {
        "shape": list(array.shape),
        "dtype": dtype,
        "data": base64.b64encode(raw).decode("ascii"),
        "adler32": checksum(raw),
    }


def _layers(sequence: nn.Sequential, dtype: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for layer in sequence:
        if isinstance(layer, nn.Conv2d):
            if layer.groups != 1 or layer.stride != (1, 1) or layer.dilation != (1, 1):
                raise ValueError(f"the page's reader runs plain 3x3-style convolutions, not {layer}")
            bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_channels)
            out.append(
                {
                    "type": "conv",
                    "padding": int(layer.padding[0]),
                    "weight": tensor_entry(layer.weight.detach(), dtype),
                    "bias": tensor_entry(bias.detach(), dtype),
                }
            )
        elif isinstance(layer, nn.Linear):
            out.append(
                {
                    "type": "linear",
                    "weight": tensor_entry(layer.weight.detach(), dtype),
                    "bias": tensor_entry(layer.bias.detach(), dtype),
                }
            )
        elif isinstance(layer, nn.ReLU):
            out.append({"type": "relu"})
        elif isinstance(layer, nn.MaxPool2d):
            out.append(
                {
                    "type": "maxpool",
                    "size": int(layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]),
                }
            )
        elif isinstance(layer, (nn.Identity, nn.Dropout, nn.Flatten)):
            continue  # inference: nothing to do (the page's tensors are flat already)
        else:
            raise ValueError(f"the page's reader has no port of {type(layer).__name__}")
    return out


def preprocess_constants() -> dict[str, Any]:
    """The numbers `mnistsum.preprocess` uses, as JSON (LUMA as three floats)."""
    return {name: np.asarray(getattr(preprocess, name)).tolist() for name in PREPROCESS_NAMES}


def state_digest(model: DualHeadNet) -> str:
    """SHA-256 over a model's tensors: names a model held only in memory (a visitor's run)."""
    digest = hashlib.sha256()
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def reader(model: DualHeadNet, source: str, dtype: str = "float16") -> dict[str, Any]:
    """The artefact the page's reader loads: `model` folded, its sum head and the preprocessing
    constants; `source` names what it came from (the checkpoint's SHA-256, or `state_digest`)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    net = folded(model)
    return {
        "format": FORMAT,
        "source_sha256": source,
        "arch": model.arch,
        "fusion": model.fusion,
        "normalize": {"mean": MNIST_MEAN, "std": MNIST_STD},
        "preprocess": preprocess_constants(),
        "verdict": verdict.constants(),
        "digit": _layers(net.backbone, dtype),
        "sum_head": _layers(net.sum_head, dtype),
    }


def to_json(artefact: dict[str, Any]) -> str:
    """Deterministic text: the same checkpoint always gives the same bytes (the test compares them)."""
    return json.dumps(artefact, separators=(",", ":"), sort_keys=True) + "\n"


def export(checkpoint: str | Path = SHIPPED_WEIGHTS, out: str | Path = READER, dtype: str = "float16") -> str:
    """Write the reader for `checkpoint` to `out` (atomically); returns the text written."""
    model, _ = load_checkpoint(checkpoint)
    text = to_json(reader(model, file_digest(checkpoint), dtype))
    atomic_write_text(out, text)
    return text


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnistsum.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED_WEIGHTS))
    parser.add_argument("--out", default=str(READER))
    parser.add_argument("--dtype", choices=DTYPES, default="float16")
    parser.add_argument("--check", action="store_true", help="exit 1 if --out does not match the checkpoint")
    args = parser.parse_args(argv)
    if args.check:
        model, _ = load_checkpoint(args.checkpoint)
        expected = to_json(reader(model, file_digest(args.checkpoint), args.dtype))
        current = Path(args.out).read_text(encoding="utf-8") if Path(args.out).is_file() else ""
        if current != expected:
            print(f"{args.out} does not match {args.checkpoint}: run `python -m mnistsum.export`")
            return 1
        print(f"{args.out} matches {args.checkpoint}")
        return 0
    text = export(args.checkpoint, args.out, args.dtype)
    print(f"wrote {args.out} ({len(text.encode()):,} bytes, {args.dtype}) from {args.checkpoint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
