"""Reconstructions from noise: the two rows of Figure 1 of Gatys, Ecker & Bethge (2016).

Content row: an image whose activations match the photo's at one layer only (conv1_1 ... conv5_1):
shallow layers give back the pixels, deep layers keep the arrangement of objects but lose the exact
pixel values. Style row: an image whose style matrices match at {1_1}, {1_1, 2_1}, ... {1_1 .. 5_1}:
the matched texture grows in scale and complexity as layers are added, and the arrangement is lost.
Both use stylegram's losses and its one optimization loop.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError, check_seed, whole
from ..losses import content_loss, scaled_gram, style_layer_loss
from ..optimize import optimize
from ..types import Iterate

if TYPE_CHECKING:  # Pillow is imported where pictures are made
    from PIL import Image

    from ..nets.features import FeatureNet
    from ..nets.hooked import HookedNet


@dataclass
class Reconstruction:
    """One reconstruction: ``kind`` 'content' or 'style', the ``layers`` matched, the image
    (1, 3, H, W) in 0..1, and the loss per iteration."""

    kind: str
    layers: tuple[str, ...]
    image: torch.Tensor
    losses: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.kind == "content":
            return f"content of {self.layers[0]}"
        if len(self.layers) == 1:
            return f"style of {self.layers[0]}"
        # VGG's names shortened to their block (relu2_1 -> 2_1); other nets' names would be cut to nonsense
        blocks = [re.search(r"\d+_\d+$", l) for l in self.layers]
        names = [m.group() for m in blocks] if all(blocks) else list(self.layers)
        return "style of {" + ", ".join(names) + "}"


def figure_layers(kind: str = "relu", blocks: int = 5) -> tuple[list[str], list[list[str]]]:
    """The figure's layers: content [X1_1, X2_1, ...] and style [[X1_1], [X1_1, X2_1], ...], X = kind.

    Gatys et al. name them conv1_1 ...; their Caffe net applies ReLU in place, so the blob they
    match is the rectified one, which is relu1_1 here. kind='conv' matches the pre-ReLU outputs."""
    if whole("blocks", blocks) < 1:
        raise ConfigError(f"blocks {blocks!r}: must be 1 or more (1: {kind}1_1 only; 5: up to {kind}5_1)")
    names = [f"{kind}{b}_1" for b in range(1, blocks + 1)]
    return names, [names[: i + 1] for i in range(len(names))]


def reconstruct(image: torch.Tensor, net: FeatureNet | HookedNet, *, content_layer: str | None = None, style_layers: Sequence[str] = (),
                iters: int = 200, optimizer: str = "lbfgs", seed: int = 0,
                callback: Callable[[Iterate], "bool | None"] | None = None) -> Reconstruction:
    """From uniform noise (seeded), optimize an image that matches ``image`` (1, 3, H, W) in 0..1
    either in the activations of ``content_layer`` (mean squared error) or in the style matrices of
    ``style_layers`` (the course's J_style, each layer scaled to 1 at the start noise). Exactly one of the two must be given."""
    if (content_layer is None) == (not style_layers):
        raise ValueError("give either content_layer or style_layers")
    layers = [content_layer] if content_layer else list(style_layers)
    if hasattr(net, "check_layers"):
        net.check_layers(layers)
    with torch.no_grad():
        feats = net(image, layers)
        if content_layer:
            target = {content_layer: feats[content_layer].detach()}
        else:
            target = {l: scaled_gram(feats[l]).detach() for l in layers}
    del feats

    def terms(x: torch.Tensor) -> list[torch.Tensor]:
        f = net(x, layers)
        if content_layer:
            return [content_loss(f[content_layer], target[content_layer], "mean")]
        return [style_layer_loss(f[l], target[l]) for l in layers]

    gen = torch.Generator().manual_seed(check_seed(seed))
    x0 = torch.rand(image.shape, generator=gen).to(image.device)
    # Departure from the paper: each style layer's loss is divided by its value at the start noise,
    # so every layer of a set counts alike (raw J_style of shallow layers is orders of magnitude
    # larger and would hide what the deeper layers add).
    with torch.no_grad():
        scale = [1.0 / max(float(t), 1e-30) for t in terms(x0)]

    def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"total": sum(w * t for w, t in zip(scale, terms(x)))}

    with getattr(net, "held", contextlib.nullcontext)():  # a caller's model frozen through the backward passes too (HookedNet.held)
        res = optimize(x0, loss_fn, optimizer=optimizer, iters=iters, callback=callback)
    return Reconstruction("content" if content_layer else "style", tuple(layers), res.x.detach().clamp(0, 1).cpu(),
                          [h["total"] for h in res.history])


def reconstructions(image: torch.Tensor, net: FeatureNet | HookedNet, *, kind: str = "relu", blocks: int = 5,
                    layers: Sequence[str] | None = None, iters: int = 200, optimizer: str = "lbfgs", seed: int = 0,
                    callback: Callable[[str, Iterate], "bool | None"] | None = None) -> dict[str, list[Reconstruction]]:
    """Both rows of the figure for ``image`` (1, 3, H, W) in 0..1: {'content': [...], 'style': [...]},
    one reconstruction per layer each: content of each of ``layers`` (shallow to deep), style of
    their growing prefixes. ``layers`` default: kind1_1 ... kind{blocks}_1 (``figure_layers``).
    ``callback(label, Iterate)`` follows every run."""
    if layers is None:
        content, style = figure_layers(kind, blocks)
    else:
        content = list(layers)
        style = [content[: i + 1] for i in range(len(content))]
    out: dict[str, list[Reconstruction]] = {"content": [], "style": []}
    for l in content:
        cb = (lambda ev, l=l: callback(f"content {l}", ev)) if callback else None
        out["content"].append(reconstruct(image, net, content_layer=l, iters=iters, optimizer=optimizer, seed=seed, callback=cb))
    for ls in style:
        cb = (lambda ev, ls=ls: callback(f"style {ls[-1]}", ev)) if callback else None
        out["style"].append(reconstruct(image, net, style_layers=ls, iters=iters, optimizer=optimizer, seed=seed, callback=cb))
    return out


def reconstruction_figure(image: torch.Tensor, rows: dict[str, list[Reconstruction]], tile: int = 200) -> "Image.Image":
    """The figure: the original ``image`` (1, 3, H, W) in 0..1 on the left, the content row on top
    and the style row below (``rows`` as ``reconstructions`` gives them), each picture's longest
    side scaled to ``tile`` px and labelled with the layers it matches."""
    from PIL import Image, ImageDraw

    from ..io.image import tensor_to_pil
    from .render import _font

    gap, lab = 10, 18
    n = max(len(r) for r in rows.values())
    h0, w0 = image.shape[-2:]
    s = tile / max(h0, w0)
    th, tw = max(1, round(h0 * s)), max(1, round(w0 * s))
    W = gap + (n + 1) * (tw + gap)
    H = gap + len(rows) * (th + lab + gap)
    fig = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(fig)
    orig = tensor_to_pil(image).resize((tw, th), Image.Resampling.LANCZOS)
    for ri, (name, recs) in enumerate(rows.items()):
        y = gap + ri * (th + lab + gap)
        d.text((gap, y), "original" if ri == 0 else f"{name} row", fill=(0, 0, 0), font=_font(12))
        if ri == 0:
            fig.paste(orig, (gap, y + lab))
        for ci, r in enumerate(recs):
            x = gap + (ci + 1) * (tw + gap)
            d.text((x, y), r.label, fill=(0, 0, 0), font=_font(12))
            fig.paste(tensor_to_pil(r.image).resize((tw, th), Image.Resampling.LANCZOS), (x, y + lab))
    return fig
