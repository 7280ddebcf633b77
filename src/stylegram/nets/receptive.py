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

from collections.abc import Callable, Sequence

from torch import nn

from ..types import LayerInfo


def _first(v: int | Sequence[int], module: nn.Module | None = None) -> int:
    """The value on every spatial axis; ValueError if the axes differ (a (1, 5) kernel): the crops
    are cut from one field size and step for all axes, which such a layer would make wrong."""
    if isinstance(v, (tuple, list)):
        if len(set(v)) > 1:
            raise ValueError(f"{type(module).__name__ if module is not None else 'layer'} with {tuple(v)}: "
                             "receptive-field arithmetic here needs the same kernel, stride, padding and "
                             "dilation on every axis")
        return int(v[0])
    return int(v)


def layer_geometry(module: nn.Module) -> tuple[int, int, int, int] | None:
    """(kernel, stride, padding, dilation), the same on every spatial axis, or None for pointwise layers."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        if isinstance(module.padding, str):  # 'same' / 'valid': measured by probes instead
            raise UnknownGeometry(f"string padding {module.padding!r}: its field is measured by gradient probes")
        return tuple(_first(v, module) for v in (module.kernel_size, module.stride, module.padding, module.dilation))
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        stride = module.stride if module.stride is not None else module.kernel_size
        return tuple(_first(v, module) for v in (module.kernel_size, stride, module.padding, module.dilation))
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        stride = module.stride if module.stride is not None else module.kernel_size
        return (*(_first(v, module) for v in (module.kernel_size, stride, module.padding)), 1)
    return None


# Modules that act on each position alone (or on each channel's whole map, as instance norms do):
# they leave a unit's field and step as they are.
POINTWISE = (nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
             nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
             nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
             nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm1d, nn.InstanceNorm2d,
             nn.InstanceNorm3d, nn.GroupNorm, nn.LocalResponseNorm)


class UnknownGeometry(ValueError):
    """A module whose effect on receptive fields the arithmetic cannot know (a residual block, an
    upsampling, any module of the user's): measure the fields with gradient probes instead."""


def _chain(layers: Sequence[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """The named layers with each nn.Sequential opened into its children (named 'name.i'), so
    a chain written in blocks is still a chain."""
    out = []
    for name, m in layers:
        if type(m) is nn.Sequential:
            out += _chain([(f"{name}.{k}", c) for k, c in m.named_children()])
        else:
            out.append((name, m))
    return out


def chain_prefix_fields(layers: Sequence[tuple[str, nn.Module]], in_channels: int = 3) -> dict[str, LayerInfo]:
    """``receptive_fields`` of the chain's layers up to the first one the arithmetic cannot follow
    (all of them when it follows every one); the rest are left to gradient probes."""
    out: dict[str, LayerInfo] = {}
    try:
        receptive_fields(layers, in_channels, into=out)
    except UnknownGeometry:
        pass  # ``out`` holds the layers before it
    return out


def receptive_fields(layers: Sequence[tuple[str, nn.Module]], in_channels: int = 3, *,
                     into: dict[str, LayerInfo] | None = None) -> dict[str, LayerInfo]:
    """LayerInfo for every named layer of a sequential chain, in order (an nn.Sequential layer as
    the last of its children). UnknownGeometry for a module that is not a convolution, a pooling,
    a pointwise module (``POINTWISE``) or an nn.Sequential of those: a residual block or an
    upsampling would silently get the wrong field. ``into``: the dict to fill (it keeps the
    layers worked out before an UnknownGeometry)."""
    rf, jump, start, ch = 1, 1, 0.0, in_channels
    out: dict[str, LayerInfo] = {} if into is None else into
    for name, m in layers:
        for part_name, part in _chain([(name, m)]):
            geo = layer_geometry(part)
            if geo is not None:
                k, s, p, d = geo
                k_eff = d * (k - 1) + 1
                rf = rf + (k_eff - 1) * jump
                start = start + ((k_eff - 1) / 2 - p) * jump
                jump = jump * s
            elif not isinstance(part, POINTWISE):
                raise UnknownGeometry(f"layer {part_name!r} ({type(part).__name__}): its receptive field cannot be "
                                      "worked out from a chain; it is measured by gradient probes")
            if isinstance(part, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                ch = part.out_channels
        out[name] = LayerInfo(name=name, channels=ch, jump=jump, rf_size=rf, rf_start=start)
    return out


def probe_growing(net: nn.Module, layer: str, first: int, *, in_channels: int, dims: int, tries: int = 4) -> LayerInfo:
    """``probe_layer_info`` at ``first`` px, doubled up to ``tries`` times until the layer's field
    fits; ConfigError (one line) when it never does: a global pooling or a head has no field."""
    from ..errors import ConfigError
    size = int(first)
    for i in range(tries):
        try:
            return probe_layer_info(net, layer, size, in_channels=in_channels, dims=dims)
        except ValueError as e:  # the field reached the probe's border, or too few units
            if i + 1 == tries:
                raise ConfigError(f"layer {layer!r}: its receptive field could not be measured up to {size} px "
                                  f"({e}); tap a layer with a spatial map, or end the net before this one") from None
            size *= 2
    raise AssertionError("unreachable")


class LazyInfo(dict):
    """{layer: LayerInfo} that measures a layer it does not hold yet, by gradient probes
    (``probe_growing``), the first time it is asked for: a FeatureNet's layers after a module the
    arithmetic cannot follow, or a HookedNet's taps. Iterating gives only the layers known so
    far, so a head the taps never reach (a global pooling, a classifier) costs nothing."""

    def __init__(self, known: dict[str, LayerInfo], layers: Sequence[str], probe: "Callable[[str], LayerInfo]"):
        super().__init__(known)
        self._layers, self._probe = set(layers), probe

    def __missing__(self, layer: str) -> LayerInfo:
        if layer not in self._layers:
            raise KeyError(layer)
        self[layer] = info = self._probe(layer)
        return info

    def get(self, layer, default=None):
        try:
            return self[layer]
        except KeyError:
            return default


_MAX_TO_AVG = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d,
               nn.AdaptiveMaxPool1d: nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool2d: nn.AdaptiveAvgPool2d,
               nn.AdaptiveMaxPool3d: nn.AdaptiveAvgPool3d}


# Norms whose statistics are taken over a channel's whole map (per sample, in eval mode too).
_WHOLE_MAP_NORMS = (nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)


def _linearized(net: nn.Module) -> nn.Module:
    """A float64 copy of ``net`` in which every path from input to output carries a positive weight.

    Convolutions get constant weights 1/fan_in and zero bias, batch norms become identities and max
    poolings become average poolings of the same geometry: on a positive input every activation is
    then positive, every ReLU passes its gradient, and a unit's input gradient is non-zero exactly on
    its receptive field. (With the real weights, ReLUs and max pooling zero parts of the field.)
    Group and instance norms become identities too: their statistics span the whole map, so every
    input pixel had a gradient and no field fitted any probe; the chain arithmetic (``POINTWISE``)
    likewise counts them as acting on each position alone.
    """
    import copy

    import torch

    # On the CPU whatever device the net is on: the probes' inputs are made there, and float64
    # is not on every accelerator (MPS).
    probe = copy.deepcopy(net).to(device="cpu", dtype=torch.float64)
    if hasattr(probe, "preprocess"):
        probe.preprocess = nn.Identity()
    for parent in list(probe.modules()):
        for key, m in list(parent._modules.items()):
            if m is None:
                continue
            t = type(m)
            if t in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d):
                if _first(m.dilation) != 1:
                    raise ValueError("the gradient probe cannot linearize a dilated max pooling")
                stride = m.stride if m.stride is not None else m.kernel_size
                setattr(parent, key, _MAX_TO_AVG[t](m.kernel_size, stride, m.padding, ceil_mode=m.ceil_mode,
                                                    count_include_pad=True))
            elif t in _MAX_TO_AVG:
                setattr(parent, key, _MAX_TO_AVG[t](m.output_size))
            elif isinstance(m, _WHOLE_MAP_NORMS):
                setattr(parent, key, nn.Identity())
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.running_mean is not None:
                    m.running_mean.zero_()
                    m.running_var.fill_(1.0 - m.eps)
                if m.affine:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
    # Every module, a HookedNet's model included (its own eval() leaves the caller's model be): a
    # checkpointed block recomputes in the probe's backward, after the forward's restore.
    for m in probe.modules():
        m.training = False
    return probe.requires_grad_(False)


def gradient_probe(net: nn.Module, layer: str, shape: Sequence[int], unit: Sequence[int] | None = None,
                   *, in_channels: int = 3, linearize: bool = True) -> list[tuple[int, int]]:
    """The input region that unit ``unit`` of ``layer`` depends on, found by backpropagation.

    ``net`` is called as ``net(x, [layer])`` and returns {layer: (1, C, *spatial)} (a FeatureNet or
    a HookedNet); ``shape`` is the input's spatial shape, ``unit`` the unit's spatial index (default:
    the centre of the layer's map). Returns one half-open ``(start, stop)`` per spatial axis: the
    bounding box of the input pixels with non-zero gradient, clipped to the input. With
    ``linearize`` (default) the probe runs on a linearized copy (see ``_linearized``) and so measures
    the full receptive field; without it, the real net's active part of it.
    """
    probe = _linearized(net) if linearize else net
    return _probe_boxes(probe, layer, shape, [unit], in_channels, linearize)[0]


def _probe_boxes(probe: nn.Module, layer: str, shape: Sequence[int], units: list, in_channels: int,
                 float64: bool = True) -> list[list[tuple[int, int]]]:
    import torch

    # float64: the gradient at the far corners of a deep field is a product of many small weights.
    dtype = torch.float64 if float64 else torch.float32
    device = next(probe.parameters(), torch.empty(0)).device
    x = torch.ones((1, in_channels, *shape), dtype=dtype, device=device, requires_grad=True)
    boxes = []
    with torch.enable_grad():
        out = probe(x, [layer])[layer]
        for i, unit in enumerate(units):
            if unit is None:
                unit = [s // 2 for s in out.shape[2:]]
            (g,) = torch.autograd.grad(out[(0, slice(None), *unit)].sum(), x, retain_graph=i + 1 < len(units))
            mask = g.abs().sum(dim=(0, 1)) > 0
            box = []
            for axis in range(mask.dim()):
                other = tuple(a for a in range(mask.dim()) if a != axis)
                hit = mask.any(dim=other) if other else mask
                idx = torch.nonzero(hit).flatten()
                if idx.numel() == 0:
                    raise ValueError(f"unit {tuple(unit)} of layer {layer!r} has zero gradient everywhere")
                box.append((int(idx[0]), int(idx[-1]) + 1))
            boxes.append(box)
    return boxes


def probe_layer_info(net: nn.Module, layer: str, size: int = 224, *, in_channels: int = 3,
                     dims: int = 2) -> LayerInfo:
    """LayerInfo of ``layer`` measured by two gradient probes, for nets whose geometry cannot be read
    from a chain of modules (branches, functional pooling, hooks on any model).

    Probes two neighbouring units near the middle of a ``size``-px input; raises ValueError if the
    field does not fit inside the input (give a larger ``size``).
    """
    import torch

    probe = _linearized(net)
    from ..errors import ConfigError
    with torch.no_grad():
        feats = probe(torch.ones((1, in_channels) + (size,) * dims, dtype=torch.float64), [layer])
    if layer not in feats:
        raise ConfigError(f"layer {layer!r} did not run in the model's forward; tap a module that forward calls")
    out = feats[layer]
    if not isinstance(out, torch.Tensor) or out.dim() != 2 + dims:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"layer {layer!r} gives {shape}, not a map (batch, channels, {dims} spatial "
                          f"ax{'is' if dims == 1 else 'es'}); tap a convolutional layer")
    n = out.shape[2]
    if n < 3:
        raise ValueError(f"layer {layer!r} has a {n}-unit map at {size} px; probe with a larger size")
    u = max(1, n // 2 - 1)
    # units u and u + 1 give the field and the step; u - 1 checks the step is even where it fits
    c, a, b = (bx[0] for bx in _probe_boxes(probe, layer, (size,) * dims, [[u + i] * dims for i in (-1, 0, 1)],
                                            in_channels))
    # A field cut by the border shows as a box that touches it (either unit's, either side: a
    # dilated field's taps are sparse, so a cut one can end anywhere) or is smaller than its
    # neighbour's.
    if min(a[0], b[0]) == 0 or max(a[1], b[1]) == size or a[1] - a[0] != b[1] - b[0]:
        raise ValueError(f"the receptive field of layer {layer!r} reaches the border of a {size}-px probe; "
                         "probe with a larger size")
    jump = b[0] - a[0]
    if jump < 1 or (c[0] > 0 and c[1] < size and c[1] - c[0] == a[1] - a[0] and a[0] - c[0] != jump):
        raise ConfigError(f"layer {layer!r}: neighbouring units are not evenly spaced over the input (an "
                          "upsampling before it?); receptive fields, crops and tiles need a net that only keeps "
                          "or reduces the size; tap (or end a FeatureNet at) a layer before the upsampling")
    rf = a[1] - a[0]
    centre = a[0] + (rf - 1) / 2
    return LayerInfo(name=layer, channels=int(out.shape[1]), jump=jump, rf_size=rf, rf_start=centre - u * jump)
