"""The studio's Gram view: style matrices of one image at the style layers, drawn as the explorer
draws them.

The same pictures as `stylegram explore gram` (``explore.gram``): G / N (the mean product of two
channels over the N positions, so layers of different sizes share one scale idea), channels
seriated so that those that fire together sit side by side, the colour scale clipped at the 99.5th
percentile and square-rooted, magma (red-blue by sign where an entry is negative), each map with
its colour bar and the channel ids along both axes (``explore.gram.framed_heatmap``), under the
layer's name.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..io.image import write_atomic

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..nets.features import FeatureNet

GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
TITLE_H = 18
"""The strip above each framed map that names the layer, px."""


def gram_figure(layer: str, m: torch.Tensor, order: torch.Tensor, px: int, top: float,
                signed: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """One layer's picture: its name above ``explore.gram.framed_heatmap(m, order, px, signed,
    top=top)`` (the heatmap of ``m`` (C, C) in ``order`` (C,), ``heat_side(C, px)`` px square, its
    colour bar up to ``top`` and the channel axes) -> (uint8 (H, W, 3), the heatmap's top-left
    corner (x, y) in it, px)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from ..explore.gram import framed_heatmap
    from ..explore.render import _font
    fig, (x, y) = framed_heatmap(m, order, px, signed, top=top)
    title = f"{layer}: G/N, {m.shape[0]} channels" + (", signed: red > 0, blue < 0" if signed else "")
    font = _font(12)
    w = max(fig.shape[1], int(font.getlength(title)) + 4)
    im = Image.new("RGB", (w, TITLE_H + fig.shape[0]), (255, 255, 255))
    ImageDraw.Draw(im).text((2, 2), title, fill=(0, 0, 0), font=font)
    im.paste(Image.fromarray(fig), (0, TITLE_H))
    return np.asarray(im), (x, TITLE_H + y)


def gram_heatmaps(image: Path, out_dir: Path, *, net_name: str = "vgg16-hed", size: int = 256,
                  layers: tuple[str, ...] = GRAM_LAYERS, seed: int = 0, net: FeatureNet | None = None,
                  px: int = 256) -> list[dict]:
    """Write one PNG per layer of the Gram matrix G / N of ``image`` (longest side ``size``): a
    heatmap of side ``px`` rounded up to a multiple of the layer's C channels
    (``explore.gram.heat_side``: 512 channels at 256 get 512 px, each channel 1 px), channels in
    seriated order, framed as ``gram_figure`` frames it.

    Returns one dict per layer: "layer", "channels", "file" (``gram_<net>_<size>_<layer>.png`` in
    ``out_dir``), "positions" (N), "min" and "max" (of G / N), "top" (the value at the end of the
    colour scale, the ``clip`` percentile of |G / N|; larger entries share its colour), "clip",
    "colormap" ("magma", or "RdBu_r" where an entry is negative: "signed"), "order" (the channels
    in the map's order, top to bottom and left to right), "width" and "height" (of the PNG) and
    "map" ({"x", "y", "px", "binned"}: the heatmap's top-left corner and side in the PNG, px; its
    row i shows channel order[i * C // px]; "binned" true where a layer of more than
    ``explore.gram.MAX_CELLS`` channels is drawn in fewer pixels than channels, each pixel the mean
    of the channels order[i * C // px] up to, not including, order[ceil((i + 1) * C / px)]). Raises the
    library's errors (InputError, ConfigError) for bad input.
    """
    from PIL import Image

    from ..explore import gram_view
    from ..explore.gram import HEAT_CLIP, heat_binned, heat_side, heat_top, is_signed
    from ..io.image import load_image
    from ..nets import build_net

    if net is None:
        net = build_net(net_name, layers=list(layers), seed=seed)
    views = gram_view(load_image(image, size), net, list(layers), n_pairs=0)
    out = []
    for layer, v in views.items():
        top, signed = heat_top(v.gram, HEAT_CLIP), is_signed(v.gram)
        fig, (x, y) = gram_figure(layer, v.gram, v.order, px, top, signed)
        im = Image.fromarray(fig)
        name = f"gram_{net_name}_{size}_{layer}.png"
        write_atomic(out_dir / name, lambda tmp, im=im: im.save(tmp, format="PNG"))
        out.append({"layer": layer, "channels": int(v.gram.shape[0]), "file": name, "positions": int(v.act[0].numel()),
                    "min": float(v.gram.min()), "max": float(v.gram.max()), "top": top, "clip": HEAT_CLIP,
                    "signed": signed, "colormap": "RdBu_r" if signed else "magma", "order": v.order.tolist(),
                    "width": im.size[0], "height": im.size[1],
                    "map": {"x": x, "y": y, "px": heat_side(len(v.order), px), "binned": heat_binned(len(v.order), px)}})
    return out
