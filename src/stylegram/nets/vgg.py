"""VGG16 and VGG19 as chains of named layers: conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...

Dimension-generic (1D, 2D, 3D convolutions) so the same architecture serves images, slices and
inflated volume nets. Layers are named, never indexed; ``torchvision_index`` maps the names to
torchvision's ``features.N`` keys for loading its checkpoints.
"""
from __future__ import annotations

from torch import nn

from ..errors import choices_error

BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)
POOLINGS = ("max", "avg")


def conv_names(arch: str) -> list[str]:
    """['1_1', '1_2', '2_1', ...] for the architecture's convolutions, in order."""
    if arch not in BLOCKS:
        raise choices_error("architecture", arch, BLOCKS)
    return [f"{b + 1}_{i + 1}" for b, n in enumerate(BLOCKS[arch]) for i in range(n)]


def layer_names(arch: str) -> list[str]:
    """Every named layer of the architecture, in forward order."""
    names: list[str] = []
    for b, n in enumerate(BLOCKS[arch]):
        for i in range(n):
            names += [f"conv{b + 1}_{i + 1}", f"relu{b + 1}_{i + 1}"]
        names.append(f"pool{b + 1}")
    return names


def torchvision_index(arch: str) -> dict[str, int]:
    """conv name ('1_1') -> index N of torchvision's ``features.N`` for that convolution."""
    idx, out = 0, {}
    for b, n in enumerate(BLOCKS[arch]):
        for i in range(n):
            out[f"{b + 1}_{i + 1}"] = idx
            idx += 2  # conv, relu
        idx += 1  # pool
    return out


def _conv(dims: int):
    return {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]


def _pool(dims: int, pooling: str):
    if pooling not in POOLINGS:
        raise choices_error("pooling", pooling, POOLINGS)
    if pooling == "max":
        return {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[dims](2)
    return {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[dims](2)


def vgg_layers(arch: str = "vgg16", *, pooling: str = "max", width: float = 1.0, dims: int = 2,
               in_channels: int = 3, upto: str | None = None) -> list[tuple[str, nn.Module]]:
    """The named layers of a VGG, with fresh (untrained) weights, stopping after ``upto``.

    ``width`` scales every channel count (tiny test nets use 1/8).
    """
    names = layer_names(arch)
    if upto is not None and upto not in names:
        raise choices_error("layer", upto, names)
    conv = _conv(dims)
    out: list[tuple[str, nn.Module]] = []
    c_in = in_channels
    for b, n in enumerate(BLOCKS[arch]):
        c_out = max(1, round(WIDTHS[b] * width))
        for i in range(n):
            out.append((f"conv{b + 1}_{i + 1}", conv(c_in, c_out, 3, padding=1)))
            out.append((f"relu{b + 1}_{i + 1}", nn.ReLU(inplace=False)))
            c_in = c_out
        out.append((f"pool{b + 1}", _pool(dims, pooling)))
    if upto is not None:
        out = out[: names.index(upto) + 1]
    return out
