"""Seeded random-weight nets: the same VGG architecture with He-initialized weights (for tests and
for texture synthesis), reproducible from the seed alone."""
from __future__ import annotations

import torch
from torch import nn

from .features import FeatureNet, InputConvention
from .vgg import vgg_layers


def he_init_(layers: list[tuple[str, nn.Module]], seed: int) -> None:
    """He (Kaiming) normal init of every convolution from one seeded generator; biases zero."""
    gen = torch.Generator().manual_seed(int(seed))
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
    layers = vgg_layers(arch, pooling=pooling, width=width, dims=dims, upto=upto)
    he_init_(layers, seed)
    pre = InputConvention(order=(0, 1, 2), scale=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return FeatureNet(f"random-{arch}" if width == 1.0 else f"random-{arch}-w{width:g}", layers, pre, dims=dims)
