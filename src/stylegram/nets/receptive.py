"""Receptive-field arithmetic for chains of convolutions and poolings.

For each layer: ``jump`` (input pixels between neighbouring units), ``rf_size`` (side of the input
region a unit sees) and ``rf_start`` (input coordinate of the centre of unit 0's field), from the
standard recurrences
    rf_size_out  = rf_size_in + (k_eff - 1) * jump_in,    k_eff = dilation * (k - 1) + 1
    jump_out     = jump_in * stride
    rf_start_out = rf_start_in + ((k_eff - 1) / 2 - padding) * jump_in
Unit i of a layer is centred at ``rf_start + i * jump`` along each axis. Padding means fields near
the border reach outside the image; crops pad there instead of shifting the window.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..types import LayerInfo


def _first(v: int | Sequence[int]) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def layer_geometry(module: nn.Module) -> tuple[int, int, int, int] | None:
    """(kernel, stride, padding, dilation) along the first spatial axis, or None for pointwise layers."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        if isinstance(module.padding, str):
            raise ValueError(f"string padding {module.padding!r} is not supported by receptive-field arithmetic")
        return (_first(module.kernel_size), _first(module.stride), _first(module.padding), _first(module.dilation))
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        stride = module.stride if module.stride is not None else module.kernel_size
        return (_first(module.kernel_size), _first(stride), _first(module.padding), _first(module.dilation))
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        stride = module.stride if module.stride is not None else module.kernel_size
        return (_first(module.kernel_size), _first(stride), _first(module.padding), 1)
    return None


def receptive_fields(layers: Sequence[tuple[str, nn.Module]], in_channels: int = 3) -> dict[str, LayerInfo]:
    """LayerInfo for every named layer of a sequential chain, in order."""
    rf, jump, start, ch = 1, 1, 0.0, in_channels
    out: dict[str, LayerInfo] = {}
    for name, m in layers:
        geo = layer_geometry(m)
        if geo is not None:
            k, s, p, d = geo
            k_eff = d * (k - 1) + 1
            rf = rf + (k_eff - 1) * jump
            start = start + ((k_eff - 1) / 2 - p) * jump
            jump = jump * s
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            ch = m.out_channels
        out[name] = LayerInfo(name=name, channels=ch, jump=jump, rf_size=rf, rf_start=start)
    return out
