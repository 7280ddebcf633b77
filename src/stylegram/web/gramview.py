"""The studio's Gram view: style matrices of one image at the style layers, drawn as heatmaps.

The same pictures as `stylegram explore gram` (``explore.gram``): G / N (the mean product of two
channels over the N positions, so layers of different sizes share one scale idea), channels
seriated so that those that fire together sit side by side, the colour scale clipped at the 99.5th
percentile and square-rooted.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..io.image import write_atomic

if TYPE_CHECKING:
    from ..nets.features import FeatureNet

GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def gram_heatmaps(image: Path, out_dir: Path, *, net_name: str = "vgg16-hed", size: int = 256,
                  layers: tuple[str, ...] = GRAM_LAYERS, seed: int = 0, net: FeatureNet | None = None,
                  px: int = 256) -> list[dict]:
    """Write one ``px`` x ``px`` heatmap PNG per layer of the Gram matrix G / N of ``image``
    (longest side ``size``), channels in seriated order.

    Returns [{"layer", "channels", "file", "max", "positions"}]; files are
    ``gram_<net>_<size>_<layer>.png`` in ``out_dir``. Raises the library's errors (InputError,
    ConfigError) for bad input.
    """
    from PIL import Image

    from ..explore import gram_view, heatmap
    from ..io.image import load_image
    from ..nets import build_net

    if net is None:
        net = build_net(net_name, layers=list(layers), seed=seed)
    views = gram_view(load_image(image, size), net, list(layers), n_pairs=0)
    out = []
    for layer, v in views.items():
        im = Image.fromarray(heatmap(v.gram, v.order, px))
        name = f"gram_{net_name}_{size}_{layer}.png"
        write_atomic(out_dir / name, lambda tmp, im=im: im.save(tmp, format="PNG"))
        out.append({"layer": layer, "channels": int(v.gram.shape[0]), "file": name, "max": float(v.gram.max()),
                    "positions": int(v.act[0].numel())})
    return out
