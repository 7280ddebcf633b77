"""Seeded random-weight nets: the same VGG architecture with He-initialized weights (for tests and
for texture synthesis), reproducible from the seed alone."""
from __future__ import annotations

import numbers

import torch
from torch import nn

from ..errors import ConfigError, check_seed, whole
from .features import FeatureNet, InputConvention
from .vgg import vgg_layers

MAX_WIDTH = 8.0  # of VGG's channels: wider only costs memory


def he_init_(layers: list[tuple[str, nn.Module]], seed: int) -> None:
    """He (Kaiming) normal init of every convolution from one seeded generator; biases zero."""
    gen = torch.Generator().manual_seed(check_seed(seed))
    for _, m in layers:
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                m.bias.zero_()


def random_vgg(arch: str = "vgg16", *, seed: int = 0, pooling: str = "max", width: float = 1.0,
               dims: int = 2, upto: str | None = None) -> FeatureNet:
    """A VGG with seeded He-normal weights; ``width`` scales the channel counts (1/8 for fast tests).
    Input: RGB in 0..1, centred at 0.5."""
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not 0 < width <= MAX_WIDTH:
        raise ConfigError(f"width {width!r}: must be a number above 0 and at most {MAX_WIDTH:g} (1: VGG's own channels)")
    layers = vgg_layers(arch, pooling=pooling, width=width, dims=dims, upto=upto)
    he_init_(layers, seed)
    pre = InputConvention(order=(0, 1, 2), scale=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return FeatureNet(f"random-{arch}" if width == 1.0 else f"random-{arch}-w{width:g}", layers, pre, dims=dims)


BANK_WIDTHS = {1: (3, 5, 7, 11), 2: (3, 5, 7, 11), 3: (3, 5)}
BANK_FILTERS = {1: 512, 2: 256, 3: 128}


def random_bank(dims: int = 1, *, in_channels: int = 1, widths: tuple[int, ...] | None = None,
                filters: int | None = None, seed: int = 0, scale: float = 1.0, broadband: float = 0.0) -> FeatureNet:
    """A seeded one-layer random convolution bank in ``dims`` (1, 2 or 3) dimensions: ``filters``
    filters split evenly over the kernel ``widths``, He-normal weights, zero bias, then a ReLU.

    Layers 'conv' and 'relu', output (B, filters, *spatial) ('same' padding). This is the texture
    net of Ulyanov & Lebedev (2016, audio: 1D over time with frequency bins as channels) and of
    Ustyuzhaninov et al. (2017, images: several widths in one layer). All widths live in one
    convolution of the widest kernel, narrower filters zero outside their centre, so receptive
    fields and channel counts stay plain conv arithmetic. Input: any values (no preprocessing
    besides ``scale``), shape (B, in_channels, *spatial).

    ``broadband`` > 0 adds to each filter, at each kernel tap, one random value shared by all input
    channels (std ``broadband`` times the He std). A departure from the papers, for spectrograms:
    zero-mean random weights over hundreds of frequency bins nearly cancel on a change of overall
    level, so the Gram matrices miss the loudness envelope (rain drops, onsets); measured on
    rain_texture.wav, frame-energy modulation 0.07 without it (white noise: 0.06, rain: 0.31),
    0.25 with broadband=1.
    """
    if dims not in (1, 2, 3):
        raise ConfigError(f"dims {dims}: a filter bank has 1, 2 or 3 spatial axes")
    widths = tuple(sorted(int(w) for w in (widths or BANK_WIDTHS[dims])))
    if not widths or any(w < 1 or w % 2 == 0 for w in widths):
        raise ConfigError(f"kernel widths {widths}: must be odd and positive")
    filters = BANK_FILTERS[dims] if filters is None else whole("filters", filters)  # 0 is too few, not "default"
    if filters < len(widths):
        raise ConfigError(f"filters {filters}: must be at least {len(widths)}, one per kernel width {widths}")
    k = widths[-1]
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims](in_channels, filters, k, padding=k // 2)
    gen = torch.Generator().manual_seed(check_seed(seed))
    w = torch.zeros(conv.weight.shape)
    bounds = [round(i * filters / len(widths)) for i in range(len(widths) + 1)]
    for i, width in enumerate(widths):
        lo, hi = bounds[i], bounds[i + 1]
        off = (k - width) // 2
        idx = (slice(lo, hi), slice(None)) + (slice(off, off + width),) * dims
        fan_in = in_channels * width ** dims
        std = (2.0 / fan_in) ** 0.5
        w[idx] = torch.randn(w[idx].shape, generator=gen) * std
        if broadband:
            shared = torch.randn((hi - lo, 1) + (width,) * dims, generator=gen) * std * broadband
            w[idx] += shared
    with torch.no_grad():
        conv.weight.copy_(w)
        conv.bias.zero_()
    layers = [("conv", conv), ("relu", nn.ReLU())]
    pre = InputConvention(order=tuple(range(in_channels)) if in_channels != 3 else (0, 1, 2), scale=scale,
                          mean=(0.0,) * max(in_channels, 1), std=(1.0,) * max(in_channels, 1))
    return FeatureNet(bank_name(dims, widths, filters), layers, pre, dims=dims, in_channels=in_channels)


def bank_name(dims: int, widths: tuple[int, ...] | None = None, filters: int | None = None) -> str:
    """The name ``random_bank`` gives its net, e.g. 'bank1d-3-5-7-11x512' (the default widths and
    filters for ``None``); the registry maps the default ones back to the names --net takes."""
    widths = tuple(sorted(widths or BANK_WIDTHS[dims]))
    filters = BANK_FILTERS[dims] if filters is None else filters
    return f"bank{dims}d-{'-'.join(map(str, widths))}x{filters}"


def inflate(net: FeatureNet, depth: int = 3) -> FeatureNet:
    """EXPERIMENTAL: a 3D net from a 2D one (Carreira & Zisserman's inflation): each 2D kernel
    (out, in, kh, kw) is repeated ``depth`` times along a new first axis and divided by ``depth``,
    so a volume constant along depth gives the 2D net's activations on every slice. Poolings
    become 3D (2 x 2 x 2, which also halves depth). Input (B, C, D, H, W) in the 2D net's range.
    """
    if net.dims != 2:
        raise ValueError(f"inflate needs a 2D net, got {net.dims}D {net.name!r}")
    layers: list[tuple[str, nn.Module]] = []
    for name, m in net.body.items():
        if isinstance(m, nn.Conv2d):
            if (depth, depth) != tuple(m.kernel_size):
                # the receptive-field arithmetic (crops, tiles, size checks) needs one kernel size
                # on every axis, and an even depth would shift the volume by half a slice
                raise ConfigError(f"inflate: depth {depth} must equal the 2D kernels' size "
                                  f"({' x '.join(map(str, m.kernel_size))}) of {net.name!r}")
            c = nn.Conv3d(m.in_channels, m.out_channels, (depth,) + tuple(m.kernel_size),
                          padding=(depth // 2,) + tuple(m.padding))
            with torch.no_grad():
                c.weight.copy_(m.weight.unsqueeze(2).repeat(1, 1, depth, 1, 1) / depth)
                c.bias.copy_(m.bias)
            layers.append((name, c))
        elif isinstance(m, nn.MaxPool2d):
            layers.append((name, nn.MaxPool3d(2)))
        elif isinstance(m, nn.AvgPool2d):
            layers.append((name, nn.AvgPool3d(2)))
        else:
            layers.append((name, m))
    return FeatureNet(f"{net.name}-3d", layers, net.preprocess, dims=3, in_channels=net.in_channels)
