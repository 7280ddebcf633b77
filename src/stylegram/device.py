"""Choosing a device and estimating memory before work starts."""
from __future__ import annotations

import os

import torch

from .config import PRECISIONS  # noqa: F401  (with TransferConfig, torch-free)
from .errors import ConfigError, ResourceError, choices_error

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; an unavailable device is a ConfigError."""
    name = str(name)
    base = name.split(":")[0]
    if base not in DEVICES:
        raise choices_error("device", name, DEVICES)
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but no CUDA GPU is available; use --device cpu or auto")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' asked for, but Apple MPS is not available; use --device cpu or auto")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where the hardware computes bfloat16 natively (CUDA with bf16, or a CPU
    with AVX512-BF16 / AMX), else 'fp32'. Elsewhere bf16 is emulated and slower than fp32; where it
    is native the convolutions run about twice as fast, and the default transfer 1.46x, with its
    content figure slightly worse (docs/speed.md, bench/results/quality/precision_bf16)."""
    if precision not in PRECISIONS:
        raise choices_error("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo") as f:
                flags = next((l for l in f if l.startswith("flags")), "")
        except OSError:
            flags = ""
        if " avx512_bf16" in flags or " amx_bf16" in flags:
            return "bf16"
    return "fp32"


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: CUDA's free memory, else the system's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def check_fits(needed: int, device: torch.device, what: str, hint: str) -> None:
    """Raise ResourceError (with the estimate) if ``needed`` bytes exceed what ``device`` has free."""
    have = available_bytes(device)
    if needed > have:
        raise ResourceError(f"{what} needs about {needed / 2**30:.1f} GiB but {device.type} has "
                            f"{have / 2**30:.1f} GiB free; {hint}")
