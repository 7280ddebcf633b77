"""The Gram view: style matrices of one image at the style layers, drawn as heatmaps.

Uses only the public pieces (``nets.build_net``, ``losses.gram``); the picture is G / N (the mean
product of two channels over the N positions), so layers of different sizes share one scale idea.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.image import write_atomic

GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def gram_heatmaps(image: Path, out_dir: Path, *, net_name: str = "vgg16-hed", size: int = 256,
                  layers: tuple[str, ...] = GRAM_LAYERS, seed: int = 0, net=None) -> list[dict]:
    """Write one heatmap PNG per layer of the Gram matrix G / N of ``image`` (longest side ``size``).

    Returns [{"layer", "channels", "file", "max", "positions"}]; files are ``gram_<net>_<size>_<layer>.png`` in
    ``out_dir``. Raises the library's errors (InputError, ConfigError) for bad input.
    """
    import torch
    from matplotlib import colormaps
    from PIL import Image

    from ..io.image import load_image
    from ..losses import gram
    from ..nets import build_net

    if net is None:
        net = build_net(net_name, layers=list(layers), seed=seed)
    x = load_image(image, size)
    with torch.no_grad():
        feats = net(x, list(layers))
    cmap = colormaps["magma"]
    out = []
    for layer in layers:
        a = feats[layer]
        n = a[0, 0].numel()
        g = (gram(a)[0] / n).cpu().numpy()
        top = float(g.max()) or 1.0
        # A few entries (the diagonal, loud channels) dwarf the rest: clip the colour scale at the
        # 99.5th percentile and take the square root, so the structure of the many small ones shows.
        clip = float(np.percentile(g, 99.5)) or top
        rgb = (cmap(np.sqrt(np.clip(g / clip, 0, 1)))[..., :3] * 255).astype(np.uint8)
        im = Image.fromarray(rgb, "RGB")
        scale = max(1, 256 // g.shape[0])
        if scale > 1:
            im = im.resize((g.shape[1] * scale, g.shape[0] * scale), Image.NEAREST)
        name = f"gram_{net_name}_{size}_{layer}.png"
        write_atomic(out_dir / name, lambda tmp, im=im: im.save(tmp, format="PNG"))
        out.append({"layer": layer, "channels": int(g.shape[0]), "file": name, "max": top,
                    "positions": int(n)})
    return out
