"""Choosing a device and estimating memory before work starts."""
from __future__ import annotations

import os

import torch

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
