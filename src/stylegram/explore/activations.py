"""The channel maps of one image at one layer, as a grid of small heatmaps."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import ConfigError, choices_error, whole

if TYPE_CHECKING:
    from PIL import Image

    from ..nets.features import FeatureNet
    from ..nets.hooked import HookedNet

NORMS = ("channel", "layer")


def activation_maps(image: torch.Tensor, net: FeatureNet | HookedNet, layer: str) -> torch.Tensor:
    """Activations of ``layer`` for ``image`` (1, 3, H, W) in 0..1 -> (C, h, w) float32 on the CPU."""
    if hasattr(net, "check_layers"):
        net.check_layers([layer])
    with torch.inference_mode():
        return net(image, [layer])[layer][0].float().cpu()


def colorize(x: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """Values in 0..1, any shape -> uint8 (..., 3) through a matplotlib colormap."""
    import matplotlib
    lut = (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    return lut[np.clip(np.nan_to_num(x) * 255, 0, 255).astype(np.int64)]


def _scaled(maps: torch.Tensor, norm: str, clip: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``activation_grid``'s scale: (maps shifted to start at 0, the shift, the value drawn in the
    top colour (C, 1, 1)); a map's colour is (map - shift) / top, clipped to 0..1."""
    c = maps.shape[0]
    # Signed maps (conv layers) are shifted to start at 0: per channel for 'channel', by the layer's
    # one minimum for 'layer', so a channel that is negative everywhere stays dark beside a strong one.
    lows = maps.amin(dim=(1, 2), keepdim=True) if norm == "channel" else maps.amin()
    signed = float(maps.min()) < 0
    m = maps - lows if signed else maps.clamp_min(0)
    # scale to a high percentile rather than the maximum: one hot pixel would darken a whole map
    flat = m.flatten(1) if norm == "channel" else m.flatten()[None]
    i = max(0, math.ceil(clip / 100 * flat.shape[1]) - 1)
    top = flat.sort(dim=1).values[:, i]
    # A sparse map (fewer than 0.5% of positions active) has a percentile of 0: scaled by it, every
    # active position, however weak, came out in the top colour. Such maps use their maximum.
    top = torch.where(top > 0, top, flat.amax(dim=1)).view(-1, 1, 1).expand(c, 1, 1)
    return m, (lows if signed else torch.zeros(())).expand(c, 1, 1), top


def activation_figure(maps: torch.Tensor, grid: np.ndarray, *, title: str, norm: str = "channel",
                      channels: Sequence[int] | None = None, cmap: str = "viridis", clip: float = 99.5) -> "Image.Image":
    """``grid`` (from ``activation_grid(maps, channels=channels, norm=norm, ...)``) under a title
    line and a colour bar that says what the colours mean: with ``norm='layer'`` the activation
    values of its ends, with 'channel' that each map has its own scale (0 to its ``clip`` percentile)."""
    from PIL import Image, ImageDraw

    from .render import _font
    if norm not in NORMS:
        raise choices_error("normalization", norm, NORMS)
    picked = maps[list(channels)] if channels is not None else maps
    _, lows, top = _scaled(picked, norm, clip)
    if norm == "layer":
        lo, hi = float(lows.flatten()[0]), float(lows.flatten()[0] + top.flatten()[0])
        ends = (f"{lo:.3g}", f"{hi:.3g} and above (the layer's {clip:g}th percentile)")
    else:
        ends = ("each map's minimum" if float(picked.min()) < 0 else "0",
                f"each map's {clip:g}th percentile (a sparse map's maximum) and above")
    pad, gap, bar_w, bar_h, head = 6, 8, 160, 10, 26
    w = max(grid.shape[1], 520) + 2 * pad
    top_y = head + bar_h + 10
    im = Image.new("RGB", (w, top_y + grid.shape[0] + pad), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.text((pad, pad), title, fill=(0, 0, 0), font=_font(13))
    ramp = colorize(np.linspace(0, 1, bar_w)[None].repeat(bar_h, 0), cmap)
    y = head
    d.text((pad, y + bar_h // 2), ends[0], fill=(40, 40, 40), font=_font(10), anchor="lm")
    x0 = pad + int(d.textlength(ends[0], font=_font(10))) + gap
    im.paste(Image.fromarray(ramp), (x0, y))
    d.text((x0 + bar_w + gap, y + bar_h // 2), ends[1], fill=(40, 40, 40), font=_font(10), anchor="lm")
    im.paste(Image.fromarray(grid), (pad, top_y))
    return im


def activation_grid(maps: torch.Tensor, *, channels: Sequence[int] | None = None, cols: int | None = None,
                    norm: str = "channel", tile: int | None = None, gap: int = 2, cmap: str = "viridis",
                    clip: float = 99.5, labels: bool = True) -> np.ndarray:
    """Tile channel maps (C, h, w) into one uint8 (H, W, 3) image, channel 0 top left, row by row.

    ``norm='channel'`` scales each map to its own 0..``clip`` percentile (shows every channel's
    pattern); ``'layer'`` uses one scale for all (shows which channels are strong). ``tile`` enlarges each
    map (nearest neighbours) to that many px; ``channels`` picks a subset in the given order.
    ``labels`` writes each map's channel index in its corner (on tiles of 32 px and more), so a
    channel seen here can be picked with ``channels``.
    """
    if norm not in NORMS:
        raise choices_error("normalization", norm, NORMS)
    if maps.dim() != 3:
        raise ConfigError(f"activation maps must be (C, h, w), got shape {tuple(maps.shape)}")
    if cols is not None and whole("cols", cols) < 1:
        raise ConfigError(f"cols {cols!r}: must be 1 or more (or not given, for a square grid)")
    if tile is not None and whole("tile", tile) < 0:
        raise ConfigError(f"tile {tile!r}: must be 0 or more px (0: each map at its own size)")
    if channels is not None:
        bad = [c for c in channels if not 0 <= c < maps.shape[0]]
        if bad:
            raise ConfigError(f"channel {bad[0]} does not exist; this layer has channels 0..{maps.shape[0] - 1}")
        maps = maps[list(channels)]
    index = list(channels) if channels is not None else list(range(maps.shape[0]))
    c, h, w = maps.shape
    m, _, top = _scaled(maps, norm, clip)
    m = (m / top.clamp_min(1e-12)).numpy()
    if tile and tile != h:
        s = max(1, round(tile / max(h, w)))
        m = m.repeat(s, axis=1).repeat(s, axis=2)
        h, w = m.shape[1:]
    cols = cols or math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, np.uint8)
    rgb = colorize(m, cmap)
    for i in range(c):
        r, q = divmod(i, cols)
        out[r * (h + gap): r * (h + gap) + h, q * (w + gap): q * (w + gap) + w] = rgb[i]
    if labels and min(h, w) >= 32:
        from PIL import Image, ImageDraw
        im = Image.fromarray(out)
        draw = ImageDraw.Draw(im)
        for i in range(c):
            r, q = divmod(i, cols)
            x, y = q * (w + gap) + 2, r * (h + gap) + 1
            draw.text((x, y), str(index[i]), fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
        out = np.asarray(im)
    return out
