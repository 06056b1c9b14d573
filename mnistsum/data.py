"""MNIST as tensors in memory, and the (image, n) pairing the network trains on.

The whole split is a single uint8 tensor (47 MB for the training set). Batches are built
by indexing it on the training device, which is what makes training fast: there is no
per-sample PIL path, no DataLoader worker and no host-to-device copy per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from .model import NUM_DIGITS, image_batch

RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataMissingError(FileNotFoundError):
    """MNIST is not where we looked; the message says where, the layout, and how to get it."""


class DataFormatError(ValueError):
    """A data file is there but not in the layout expected; the message names the file and what is wrong."""


@dataclass(frozen=True)
class MnistSplit:
    images: torch.Tensor  # (N, 28, 28) uint8, white ink on black
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, limit: int | None) -> MnistSplit:
        if limit is None or limit >= len(self):
            return self
        return MnistSplit(self.images[:limit], self.labels[:limit])

    def to(self, device: torch.device | str) -> MnistSplit:
        return MnistSplit(self.images.to(device), self.labels.to(device))

    def concat(self, other: MnistSplit) -> MnistSplit:
        return MnistSplit(torch.cat([self.images, other.images]), torch.cat([self.labels, other.labels]))


def _missing_message(root: Path) -> str:
    raw = root / "MNIST" / "raw"
    files = "\n".join(f"  {raw / name}(.gz)" for name in RAW_FILES)
    return (
        f"MNIST not found under data directory {root.resolve()}.\n"
        f"Expected torchvision's layout:\n{files}\n"
        "Fix: pass --download (or tick 'download' in the app) where there is internet, "
        "or point --data-dir / the MNISTSUM_DATA environment variable at a folder that holds MNIST/raw/."
    )


def has_mnist(data_dir: str | Path) -> bool:
    raw = Path(data_dir) / "MNIST" / "raw"
    return all((raw / name).exists() or (raw / f"{name}.gz").exists() for name in RAW_FILES)


def data_status(data_dir: str | Path) -> str:
    """One human line for the UI: that the data is there (never where: a visitor has no use for
    the server's paths), or what is missing and how to fix it."""
    root = Path(data_dir)
    if has_mnist(root):
        return "MNIST is on this server (60,000 training and 10,000 test images)."
    return _missing_message(root)


def load_split(data_dir: str | Path, train: bool, download: bool = False) -> MnistSplit:
    """Load one MNIST split through torchvision; raise `DataMissingError` if it is not there."""
    from torchvision.datasets import MNIST

    root = Path(data_dir)
    if not download and not has_mnist(root):
        raise DataMissingError(_missing_message(root))
    try:
        ds = MNIST(root=str(root), train=train, download=download)
    except RuntimeError as err:  # torchvision's "Dataset not found" or a failed download
        raise DataMissingError(f"{_missing_message(root)}\n(torchvision said: {err})") from err
    return MnistSplit(ds.data.clone(), ds.targets.clone().long())


def hold_out(split: MnistSplit, size: int) -> tuple[MnistSplit, MnistSplit]:
    """(the rest, the last `size` images): MNIST's validation images are the training set's
    last ones, the same in every run and in `mnistsum.validate`."""
    if not 0 < size < len(split):
        raise ValueError(f"val_size {size} leaves no training images out of {len(split)}")
    rest = len(split) - size
    return split.subset(rest), MnistSplit(split.images[rest:], split.labels[rest:])


def ensure_splits(
    data_dir: str | Path,
    download: bool,
    train_set: MnistSplit | None = None,
    test_set: MnistSplit | None = None,
    with_test: bool = True,
) -> tuple[MnistSplit, MnistSplit | None]:
    """The splits a caller passed in, loading whichever is missing from `data_dir`; the test
    split only when `with_test` (else None)."""
    train_set = train_set if train_set is not None else load_split(data_dir, train=True, download=download)
    if not with_test:
        return train_set, None
    test_set = test_set if test_set is not None else load_split(data_dir, train=False, download=download)
    return train_set, test_set


def synthetic_split(size: int, seed: int = 0) -> MnistSplit:
    """Tiny learnable stand-in for MNIST, for unit tests: class k is a bar at row 2k+4."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_DIGITS, (size,), generator=g)
    images = torch.randint(0, 40, (size, 28, 28), generator=g, dtype=torch.uint8)
    for k in range(NUM_DIGITS):
        images[labels == k, 2 * k + 4 : 2 * k + 6, 4:24] = 255
    return MnistSplit(images, labels)


def draw_n(size: int, generator: torch.Generator) -> torch.Tensor:
    """The random number paired with each image, 0..9, uniform."""
    return torch.randint(0, NUM_DIGITS, (size,), generator=generator)


def batches(
    split: MnistSplit, n: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Shuffled batches of (images in [0,1] (B,1,28,28), n, digit targets, sum targets).

    The permutation comes from `generator`, which lives on the CPU so that the order is the
    same on every device; only the indices move to the data's device.
    """
    order = torch.randperm(len(split), generator=generator).to(split.images.device)
    n = n.to(split.images.device)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        images = image_batch(split.images[idx])
        digits = split.labels[idx]
        ns = n[idx]
        yield images, ns, digits, digits + ns


_SPLITS_LOCK = threading.Lock()
_SPLITS: dict[tuple[str, bool], MnistSplit] = {}


def cached_split(data_dir: str | Path, train: bool, download: bool = False) -> MnistSplit:
    """`load_split`, kept in memory per folder: a class of thirty runs loads MNIST once, not thirty times.
    The tensors are never written to (training indexes them), so sharing them is safe."""
    key = (str(Path(data_dir).resolve()), train)
    with _SPLITS_LOCK:
        if key not in _SPLITS:
            _SPLITS[key] = load_split(data_dir, train, download)
        return _SPLITS[key]
