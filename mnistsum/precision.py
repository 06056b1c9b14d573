"""Which number format training and evaluation compute in: bf16 where the hardware has it, fp32 elsewhere.

bf16 autocast runs convolutions and matrix products in bfloat16 (weights, optimizer state and
losses stay fp32), which is 1.5-2x the step on CPUs with native bf16 (AVX512-BF16, AMX) and on
recent GPUs. Where bf16 is only emulated it is slower than fp32, so `auto` takes it only where
it is native, detected at run time, never assumed:

    dtype = resolve_precision("auto", device)   # torch.bfloat16 or None (fp32)
    with autocast(device, dtype): ...

Forcing "bf16" where it is not native raises `PrecisionError` with what was found.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic


class PrecisionError(ValueError):
    """bf16 was asked for on hardware that lacks it; the message says what the hardware has."""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def native_bf16(device: torch.device | str) -> bool:
    """Does `device` compute in bf16 natively (fast), not by emulation?"""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(cpu_flags() & set(CPU_BF16_FLAGS)) and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return False  # mps and others: fp32


def hardware_note(device: torch.device | str) -> str:
    """What the hardware offers, for messages and the benchmark."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}: native bf16 {'yes' if native_bf16(device) else 'no'}"
    if device.type == "cpu":
        found = sorted(cpu_flags() & set(CPU_BF16_FLAGS))
        return f"CPU {torch.backends.cpu.get_cpu_capability()}, bf16 flags: {', '.join(found) or 'none'}"
    return f"{device.type}: bf16 not used"


def resolve_precision(name: str, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for a precision setting on `device` (None: plain fp32).

    "auto" is bf16 where it is native and fp32 elsewhere; "bf16" where it is not native is a
    `PrecisionError` (it would be slower than fp32, not faster)."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {name!r}")
    if name == "fp32":
        return None
    if native_bf16(device):
        return torch.bfloat16
    if name == "bf16":
        raise PrecisionError(
            f"precision bf16 needs native bf16 arithmetic, which {torch.device(device).type} here lacks "
            f"({hardware_note(device)}); use --precision auto or fp32"
        )
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    """The setting's name for what `resolve_precision` chose: "bf16" or "fp32"."""
    return "bf16" if dtype == torch.bfloat16 else "fp32"


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision on `device` in `dtype`, or nothing at all for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
