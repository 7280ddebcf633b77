"""The Gram view: style matrices as heatmaps, the channel pairs whose maps are most alike (the
highest cosine G_kk' / sqrt(G_kk G_k'k')), and where in the style image each pair fires together. The link between units and style transfer: the style loss
compares exactly these matrices."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import ConfigError, whole
from ..losses import gram, scaled_gram, style_layer_loss

if TYPE_CHECKING:  # Pillow is imported where pictures are made
    from PIL import Image

    from ..nets.features import FeatureNet
    from ..nets.hooked import HookedNet
    from .scan import UnitScan


@dataclass
class LayerGram:
    """One layer's style matrix for one image.

    ``gram`` (C, C): G / N, the mean over positions of a_k a_k' (comparable across image sizes);
    ``corr`` (C, C): G_kk' / sqrt(G_kk G_k'k') (0 for silent channels); ``order`` (C,): a channel
    permutation that puts channels of alike maps next to each other; ``pairs``: the pairs of the
    highest cosine, (k, k', corr); ``act`` (C, h, w): the activations, for co-firing maps. With a generated
    image: ``diff`` (C, C) = G(S)/N_S - G(G)/N_G and ``style_loss`` = J_style[l] of the course.
    """

    layer: str
    gram: torch.Tensor
    corr: torch.Tensor
    order: torch.Tensor
    pairs: list[tuple[int, int, float]]
    act: torch.Tensor
    diff: torch.Tensor | None = None
    style_loss: float | None = None
    extra: dict = field(default_factory=dict)


def correlation(g: torch.Tensor) -> torch.Tensor:
    """G_kk' / sqrt(G_kk G_k'k') of a Gram matrix (C, C): the cosine of channels k and k''s maps
    (no mean removed, so not Pearson's r; never negative for a ReLU layer's maps); rows and columns
    of silent channels are 0."""
    d = g.diagonal().clamp_min(0).sqrt()
    live = d > 0
    r = g / (d[:, None] * d[None, :]).clamp_min(1e-30)
    return r * (live[:, None] & live[None, :])


def seriation(corr: torch.Tensor) -> torch.Tensor:
    """A channel order (C,) that places correlated channels side by side: channels sorted by the
    Fiedler vector (2nd eigenvector of the graph Laplacian) of the positive correlations; silent
    channels last. Deterministic (the vector's sign is fixed)."""
    c = corr.shape[0]
    live = corr.diagonal() > 0
    idx = torch.nonzero(live).flatten()
    if idx.numel() < 3:
        return torch.cat([idx, torch.nonzero(~live).flatten()])
    w = corr[idx][:, idx].double().clamp_min(0)
    w.fill_diagonal_(0)
    lap = torch.diag(w.sum(1)) - w
    _, vecs = torch.linalg.eigh(lap)
    f = vecs[:, 1]
    if f[f.abs().argmax()] < 0:
        f = -f
    order = idx[torch.argsort(f, stable=True)]
    return torch.cat([order, torch.nonzero(~live).flatten()]).to(torch.int64) if c else order


def top_pairs(g: torch.Tensor, n: int = 6, min_energy: float = 0.05) -> list[tuple[int, int, float]]:
    """The ``n`` channel pairs of the highest cosine (k < k', corr) among channels whose energy G_kk is at
    least ``min_energy`` of the largest (near-silent channels correlate perfectly by accident)."""
    corr = correlation(g)
    d = g.diagonal()
    ok = d >= min_energy * float(d.max().clamp_min(1e-30))
    mask = torch.triu(ok[:, None] & ok[None, :], diagonal=1)
    vals = torch.where(mask, corr, torch.full_like(corr, -2.0)).flatten()
    k = min(n, int(mask.sum()))
    if k == 0:
        return []
    v, i = vals.topk(k)
    c = g.shape[0]
    return [(int(j) // c, int(j) % c, float(x)) for x, j in zip(v, i)]


def cofire_map(act: torch.Tensor, k: int, k2: int) -> torch.Tensor:
    """Where channels k and k' fire together: a_k * a_k' at each position (h, w), clipped at 0 and
    divided by its maximum, so 0..1: where, not how much. (Before the clipping and the division,
    its sum over positions would be G_kk', N times the G/N of the heatmaps; the clipping changes
    nothing for a ReLU layer, whose maps are never negative.)"""
    m = (act[k] * act[k2]).clamp_min(0)
    return m / m.max().clamp_min(1e-30)


def gram_view(style: torch.Tensor, net: FeatureNet | HookedNet, layers: list[str], *, generated: torch.Tensor | None = None,
              n_pairs: int = 6) -> dict[str, LayerGram]:
    """Style matrices of ``style`` (1, 3, H, W) in 0..1 at ``layers`` of ``net`` (a FeatureNet or
    HookedNet); with ``generated`` (1, 3, H', W'), also their difference and the style loss per layer.
    Returns {layer: LayerGram}."""
    if whole("pairs", n_pairs) < 0:
        raise ConfigError(f"pairs {n_pairs!r}: must be 0 or more")
    if hasattr(net, "check_layers"):
        net.check_layers(layers)
    with torch.inference_mode():
        fs = net(style, layers)
        fg = net(generated, layers) if generated is not None else None
    out: dict[str, LayerGram] = {}
    for l in layers:
        a = fs[l].float()
        if a.dim() != 4:
            raise ConfigError(f"layer {l}: the Gram view needs 2D maps (1, C, h, w), got {tuple(a.shape)}")
        n = a.shape[2] * a.shape[3]
        g = gram(a)[0] / n
        corr = correlation(g)
        lg = LayerGram(layer=l, gram=g, corr=corr, order=seriation(corr), pairs=top_pairs(g, n_pairs), act=a[0])
        if fg is not None:
            b = fg[l].float()
            lg.diff = g - gram(b)[0] / (b.shape[2] * b.shape[3])
            lg.style_loss = float(style_layer_loss(b, scaled_gram(a)))
        out[l] = lg
    return out


# The pairs figure's title: what its "cos" is, and that it is not a correlation coefficient.
PAIRS_TITLE = ("{layer}: the channel pairs whose maps are most alike, by\n"
               "cos = G_kk' / sqrt(G_kk G_k'k'), the cosine of the two maps\n"
               "(no mean removed: not Pearson's r)")

HEAT_CLIP = 99.5
"""The percentile of |value| at the top of the Gram heatmaps' colour scale (``heat_top``)."""


MAX_CELLS = 1024
"""Up to this many channels a heatmap gives each channel a whole number of pixels (``heat_side``);
beyond it, a map drawn smaller than C pixels averages blocks of entries (``heat_binned``)."""


def heat_side(c: int, px: int) -> int:
    """The side, px, at which ``heatmap`` draws a C x C matrix asked for at ``px``: ``px`` rounded
    up to a multiple of C (every channel the same whole number of pixels) when 0 < C <= MAX_CELLS,
    else ``px``. Nearest-neighbour shrinking of 512 channels to 384 px drew only every second one."""
    return -(-px // c) * c if 0 < c <= MAX_CELLS else px


def heat_binned(c: int, px: int) -> bool:
    """Whether ``heatmap`` draws a C x C matrix asked for at ``px`` with fewer pixels than channels,
    each pixel the mean of a block of entries (an area average), so that no channel is left out."""
    return heat_side(c, px) < c


def heatmap(m: torch.Tensor, order: torch.Tensor, px: int = 384, diverging: bool | None = None,
            clip: float = HEAT_CLIP, top: float | None = None) -> np.ndarray:
    """A (C, C) matrix in the given channel order as a uint8 (s, s, 3) image of s px a side, s =
    ``heat_side(C, px)``: each channel ``s // C`` whole pixels (``px`` itself where C divides it), or, beyond
    MAX_CELLS channels and ``px``, each pixel the mean of a block of entries (``heat_binned``); magma of the
    square-rooted magnitude (``diverging=False``), or a red-blue map of the signed square root, red
    positive, blue negative, white 0 (``True``: differences); None (default): red-blue where ``m``
    has a negative entry (the Gram of a signed layer, a conv or BatchNorm output; magma drew its
    negative entries as 0), magma otherwise (a ReLU layer's). The scale tops out at ``top``, by
    default ``heat_top(m, clip)``, the ``clip`` percentile of the magnitudes: a few hot entries (the
    diagonal, one loud channel) would otherwise leave the rest of the matrix black. A caller that
    draws a colour bar computes ``top`` once and gives it to both."""
    from PIL import Image

    from .activations import colorize
    m = m[order][:, order].float()
    if top is None:
        top = heat_top(m, clip)
    if diverging is None:
        diverging = is_signed(m)
    side = heat_side(m.shape[0], px)
    if heat_binned(m.shape[0], px):
        # an area average: every entry counts towards a pixel (nearest-neighbour kept one in
        # C / side). Clipped at +-top first, so that one inf or hot entry colours its block no more
        # than the end colour; NaN counts as 0
        m = torch.nn.functional.adaptive_avg_pool2d(m.nan_to_num(0.0).clamp(-top, top)[None, None], side)[0, 0]
    # an entry that is NaN (inf - inf in a difference) is drawn as 0; +-inf in the end colours
    if diverging:
        x = (m.sign() * (m.abs() / top).clamp_max(1).sqrt() + 1) / 2
        rgb = colorize(x.nan_to_num(0.5).numpy(), "RdBu_r")
    else:
        x = (m.clamp_min(0) / top).clamp_max(1).sqrt()
        rgb = colorize(x.nan_to_num(0.0).numpy(), "magma")
    return np.asarray(Image.fromarray(rgb).resize((side, side), Image.Resampling.NEAREST))


def is_signed(m: torch.Tensor) -> bool:
    """Whether ``m`` has a negative entry: ``heatmap`` then draws it red-blue, not in magma."""
    return bool((m < 0).any())


def heat_top(m: torch.Tensor, clip: float = HEAT_CLIP) -> float:
    """The value at the top of ``heatmap``'s colour scale: the ``clip`` percentile of |m| over its
    finite entries (1.0 where there is none). One inf or NaN entry (a float16 model's overflow)
    made the percentile NaN, and the whole map one colour under a colour bar labelled 'nan'."""
    a = m.abs().flatten().float()
    a = a[torch.isfinite(a)]
    return float(torch.quantile(a, clip / 100).clamp_min(1e-30)) if a.numel() else 1.0


def colorbar(top: float, height: int, diverging: bool = False, bar: int = 12) -> np.ndarray:
    """A vertical colour bar for ``heatmap`` -> uint8 (height, w, 3): the bar and its value ticks
    (0, top / 4, top; for a difference also -top / 4, -top). The heatmap's colour is the square
    root of |value| / top, so these ticks sit at a quarter, half and the end of the bar; ``top``
    is labelled '>=': entries above the clip percentile are drawn in the end colour."""
    from PIL import Image, ImageDraw

    from .activations import colorize
    from .render import _font
    font = _font(10)
    ticks = [(0.0, 0.0), (0.25, 0.5), (1.0, 1.0)]  # (value / top, position along the bar)
    if diverging:
        ticks = [(-1.0, 0.0), (-0.25, 0.25), (0.0, 0.5), (0.25, 0.75), (1.0, 1.0)]

    def label(f: float) -> str:
        v = f * top
        return ("<= " if f == -1 else ">= " if f == 1 else "") + ("0" if f == 0 else f"{v:.3g}")
    pad = 6  # half a label's height above the top and below the bottom tick
    h = max(height, 2 * pad + 2)
    w = bar + 6 + max(int(font.getlength(label(f))) for f, _ in ticks) + 2
    im = Image.new("RGB", (w, h), (255, 255, 255))
    span = h - 2 * pad
    ramp = colorize(np.linspace(1, 0, span)[:, None].repeat(bar, 1), "RdBu_r" if diverging else "magma")
    im.paste(Image.fromarray(ramp), (0, pad))
    d = ImageDraw.Draw(im)
    for f, x in ticks:
        y = pad + round((1 - x) * (span - 1))
        d.line([(bar, y), (bar + 3, y)], fill=(0, 0, 0))
        d.text((bar + 6, y), label(f), fill=(40, 40, 40), font=font, anchor="lm")
    return np.asarray(im)


def with_colorbar(heat: np.ndarray, top: float, diverging: bool = False, gap: int = 6) -> np.ndarray:
    """``heat`` (a ``heatmap``) with its ``colorbar`` to the right -> uint8 (h, w + gap + bar, 3)."""
    cb = colorbar(top, heat.shape[0], diverging)
    out = np.full((max(heat.shape[0], cb.shape[0]), heat.shape[1] + gap + cb.shape[1], 3), 255, np.uint8)
    out[:heat.shape[0], :heat.shape[1]] = heat
    out[:cb.shape[0], heat.shape[1] + gap:] = cb
    return out


AXIS_LABEL = "channel, in seriated order"


def channel_ticks(order: torch.Tensor | Sequence[int], px: int, min_gap: float | None = None,
                  font_size: int = 10) -> list[tuple[int, int]]:
    """Where to name the channels along a ``px``-long axis of a heatmap drawn in ``order`` (C,):
    [(pixel at the centre of position i, channel id order[i])] for every ``step``-th position from
    0, ``step`` the least of 1, 2, 5, 10, 20, 50, ... that leaves ``min_gap`` px between ticks
    (default: the widest id in the ``font_size`` px font and 6 px): every channel where they fit."""
    from .render import _font
    ids = [int(c) for c in order]
    c = len(ids)
    if c == 0:
        return []
    if min_gap is None:
        min_gap = max(_font(font_size).getlength(str(i)) for i in ids) + 6
    cell = px / c
    step = next((m * 10 ** e for e in range(len(str(c))) for m in (1, 2, 5) if m * 10 ** e * cell >= min_gap), c)
    return [(int((i + 0.5) * cell), ids[i]) for i in range(0, c, step)]


def with_channel_axes(img: np.ndarray, order: torch.Tensor | Sequence[int], px: int | None = None,
                      label: str = AXIS_LABEL, font_size: int = 10) -> np.ndarray:
    """``img`` (uint8 (h, w, 3)) whose top-left ``px`` x ``px`` (default: its height) is a heatmap
    of channels in ``order``, with axes: the channel ids at ``channel_ticks`` to its left and above
    it, and ``label`` naming the axes -> uint8 (top + max(h, label), left + max(w, label), 3): the
    figure is as tall and as wide as ``label`` needs beside a small map."""
    return _with_channel_axes(img, order, px, label, font_size)[0]


def _with_channel_axes(img: np.ndarray, order: torch.Tensor | Sequence[int], px: int | None, label: str,
                       font_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``with_channel_axes``, and where ``img``'s top-left corner lies in it: (left, top), px."""
    from PIL import Image, ImageDraw

    from .render import _font
    px = img.shape[0] if px is None else px
    font = _font(font_size)
    ticks = channel_ticks(order, px, font_size=font_size)
    tick, line = 3, font_size + 4  # tick length; height of a line of text
    widest = max((font.getlength(str(c)) for _, c in ticks), default=0)
    left = line + int(widest) + tick + 4  # the turned axis label, the ids, the ticks
    top = 2 * line + tick  # the axis label, the ids, the ticks
    h, w = img.shape[:2]
    # the label runs along each axis from the map's corner: beside a map shorter than the label
    # (64 px maps) it was cut off at the image's edge
    span = int(font.getlength(label)) + 2
    im = Image.new("RGB", (left + max(w, span), top + max(h, span)), (255, 255, 255))
    im.paste(Image.fromarray(img), (left, top))
    d = ImageDraw.Draw(im)
    for pos, c in ticks:
        x, y = left + pos, top + pos
        d.line([(x, top - tick), (x, top - 1)], fill=(0, 0, 0))
        d.text((x, top - tick - 1), str(c), fill=(40, 40, 40), font=font, anchor="mb")
        d.line([(left - tick, y), (left - 1, y)], fill=(0, 0, 0))
        d.text((left - tick - 2, y), str(c), fill=(40, 40, 40), font=font, anchor="rm")
    d.text((left, 1), label, fill=(40, 40, 40), font=font)
    # the same label turned to read upwards beside the ids on the left
    turned = Image.new("RGB", (span, line), (255, 255, 255))
    ImageDraw.Draw(turned).text((1, 1), label, fill=(40, 40, 40), font=font)
    turned = turned.rotate(90, expand=True)
    im.paste(turned, (0, top + max(0, (px - turned.size[1]) // 2)))
    return np.asarray(im), (left, top)


def framed_heatmap(m: torch.Tensor, order: torch.Tensor, px: int = 384, diverging: bool | None = None,
                   clip: float = HEAT_CLIP, top: float | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """``heatmap(m, order, px, diverging, clip, top)`` with its ``colorbar`` to the right and
    ``with_channel_axes`` (the channel ids in ``order`` along both sides) -> (uint8 (H, W, 3), the
    map's top-left corner (x, y) in it, px). The map's side is s = ``heat_side(C, px)``: the row at
    y + i shows channel ``order[i * C // s]`` (s // C rows each), or, where ``heat_binned``, the
    mean of the channels ``order[i * C // s : -(-(i + 1) * C // s)]``.
    ``top`` defaults to ``heat_top(m, clip)``; ``diverging`` None: red-blue where ``m`` has a
    negative entry (``is_signed``), as in ``heatmap``."""
    # Each map with its colour bar: without one a reader could not tell the values, that the
    # colours are square-rooted and clipped, nor which sign of the difference is red. The bar's
    # top is the heatmap's own, computed once here. Axes name the channels (the ids at sensible
    # intervals, all of them for a few channels): the seriated order was only in gram.json.
    if top is None:
        top = heat_top(m, clip)
    if diverging is None:
        diverging = is_signed(m)
    heat = heatmap(m, order, px, diverging, top=top)
    return _with_channel_axes(with_colorbar(heat, top, diverging), order, heat.shape[0], AXIS_LABEL, 10)


def overlay(image: torch.Tensor, heat: torch.Tensor, alpha: float = 0.85) -> np.ndarray:
    """Blend a (h, w) map in 0..1, upsampled to ``image`` (1, 3, H, W), over the image -> uint8."""
    from .activations import colorize
    hh = torch.nn.functional.interpolate(heat[None, None], size=image.shape[-2:], mode="bilinear",
                                         align_corners=False)[0, 0].clamp(0, 1)
    base = image[0].permute(1, 2, 0).numpy() * 0.4
    col = colorize(hh.numpy(), "inferno").astype(np.float32) / 255
    w = (alpha * hh.sqrt().numpy())[..., None]  # sqrt: weak co-firing stays visible
    return ((base * (1 - w) + col * w).clip(0, 1) * 255 + 0.5).astype(np.uint8)


def _labelled(tiles: list[tuple[str, np.ndarray]], gap: int = 10, title: str = "") -> "Image.Image":
    """One row of images, each under its label (all padded to the tallest; each in a slot as wide
    as its label), under ``title`` (lines split at "\\n")."""
    from PIL import Image, ImageDraw

    from .render import _font
    lines = title.split("\n") if title else []
    lab, head = 18, (4 + 20 * len(lines) if lines else 0)
    h = max((t.shape[0] for _, t in tiles), default=0)
    # each image in a slot as wide as its label: beside small maps (heat_px 64) a label ran into
    # the next one
    slots = [max(t.shape[1], int(_font(12).getlength(text)) + 2) for text, t in tiles]
    # as wide as the title too: beside small maps it was cut off after 420 px
    w = max(sum(slots) + gap * (len(tiles) + 1), max((int(_font(14).getlength(t)) + 2 * gap for t in lines), default=0))
    if not tiles:
        lab = 0
    im = Image.new("RGB", (w, h + lab + head + 2 * gap), (255, 255, 255))
    d = ImageDraw.Draw(im)
    for i, line in enumerate(lines):
        d.text((gap, 6 + 20 * i), line, fill=(0, 0, 0), font=_font(14))
    x = gap
    for (text, t), slot in zip(tiles, slots):
        d.text((x, head + gap), text, fill=(40, 40, 40), font=_font(12))
        im.paste(Image.fromarray(t), (x, head + gap + lab))
        x += slot + gap
    return im


def _stack(rows: list["Image.Image"]) -> "Image.Image":
    from PIL import Image
    w = max(r.size[0] for r in rows)
    out = Image.new("RGB", (w, sum(r.size[1] for r in rows)), (255, 255, 255))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.size[1]
    return out


def gram_figures(views: dict[str, LayerGram], style: torch.Tensor, *, scan: UnitScan | None = None, patch_px: int = 40,
                 heat_px: int = 384, clip: float = HEAT_CLIP) -> dict[str, "Image.Image"]:
    """Pictures of a gram_view of ``style`` (1, 3, H, W) in 0..1, the image the views were made
    from: ``gram_<layer>`` (the style matrix in seriated channel order, and
    with a generated image its difference) and ``pairs_<layer>`` (for each top pair: each channel's
    top patches from ``scan`` if it holds the layer, else its map on the style image, and where the
    pair fires together). Each heatmap's colour scale tops out at the ``clip`` percentile of its
    |values| (``heat_top``), the value its colour bar and the title give. ``heat_px``: a heatmap's
    side, px, rounded up to a multiple of its channels (``heat_side``: 512 channels at 384 get
    512), ``patch_px``: a patch's side, px. Returns {name: PIL image}."""
    from .patches import gather_patches, scan_loader
    from .render import patch_values, unit_grid

    if not (isinstance(clip, (int, float)) and 0 < clip <= 100):  # torch.quantile's own error named q, not clip
        raise ConfigError(f"clip {clip!r}: must be a percentile above 0 and at most 100")
    figs: dict[str, "Image.Image"] = {}
    for l, v in views.items():
        def framed(m: torch.Tensor, diverging: bool) -> np.ndarray:
            return framed_heatmap(m, v.order, heat_px, diverging, clip)[0]

        # a signed layer's Gram (a conv or BatchNorm tap of a HookedNet) has negative entries,
        # which magma drew as 0: it is drawn red-blue, as the difference is
        signed = is_signed(v.gram)
        c = v.gram.shape[0]
        # beyond MAX_CELLS channels a map smaller than C px averages blocks: the label says so
        binned = (f", {heat_side(c, heat_px)} px: each the mean of ~{c / heat_px:.3g} channels"
                  if heat_binned(c, heat_px) else "")
        tiles = [(f"G/N of the style image ({c} channels{binned})"
                  + (", signed: red > 0, blue < 0" if signed else ""), framed(v.gram, signed))]
        if v.diff is not None:
            tiles.append((f"G(S)/N - G(G)/N: red, style's larger   (J_style = {v.style_loss:.3g})",
                          framed(v.diff, True)))
        colour = ("square root of |value|, red-blue by sign" if signed or v.diff is not None
                  else "square root of the value")
        figs[f"gram_{l}"] = _labelled(tiles, title=f"{l}: style matrix, channels seriated (colour: {colour}, "
                                                    f"clipped at the {clip:g}th percentile of |value|)")
        use_scan = scan is not None and l in scan.layers
        patches = {}
        if use_scan:
            t = scan.layers[l]
            if t.channels != v.gram.shape[0]:
                raise ConfigError(f"the scan's {l} has {t.channels} units but the net's has {v.gram.shape[0]}; "
                                  "use a scan made with the same net")
            chans = sorted({c for k, k2, _ in v.pairs for c in (k, k2)})
            reqs = [(int(t.image[c, r]), l, c, r, t.pos[c, r].tolist()) for c in chans for r in range(t.k)]
            patches = gather_patches(reqs, scan.info, scan_loader(scan), patch_px)
        blank = np.full((patch_px, patch_px, 3), 255, np.uint8)
        side = 3 * patch_px + 4
        rows = []
        for k, k2, r in v.pairs:
            tiles = []
            for c in (k, k2):
                if use_scan:
                    t = scan.layers[l]  # each patch with its activation beneath, as on the sheets
                    tiles.append((f"ch {c}: top {t.k}", unit_grid([patches.get((l, c, i), blank) for i in range(t.k)],
                                                                  patch_px, values=patch_values(t, c))))
                else:
                    m = v.act[c].clamp_min(0)
                    tiles.append((f"ch {c} on style", _fit(overlay(style, m / m.max().clamp_min(1e-30)), side)))
            # cos, not r: G_kk' / sqrt(G_kk G_k'k') removes no mean, and "r=" read as Pearson's
            tiles.append((f"both (cos={r:.2f})", _fit(overlay(style, cofire_map(v.act, k, k2)), side)))
            rows.append(_labelled(tiles))
        if rows:
            figs[f"pairs_{l}"] = _stack([_labelled([], title=PAIRS_TITLE.format(layer=l))] + rows)
    return figs


def _fit(img: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image
    h, w = img.shape[:2]
    s = side / max(h, w)
    return np.asarray(Image.fromarray(img).resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR))
