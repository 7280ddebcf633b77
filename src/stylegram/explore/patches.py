"""Receptive-field crops: the piece of the image (as the net saw it) that one unit looks at.

The activation at map index ``i`` (along each spatial axis) of a layer with LayerInfo (jump,
rf_size, rf_start), of any of its units (channels), is centred at input coordinate
``rf_start + i * jump`` and sees ``rf_size`` pixels; the crop window is
``[centre - (rf_size - 1) / 2, ... + rf_size)`` along each axis. Near the border the window reaches
outside the image; it is padded with a neutral grey there, never shifted, so a unit's patch always
shows the unit's own field at the same place in the patch.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import InputError
from ..types import LayerInfo

if TYPE_CHECKING:
    from .scan import UnitScan

NEUTRAL = 0.5


def unit_box(info: LayerInfo, pos: Sequence[int]) -> list[tuple[int, int]]:
    """Half-open input window ``(start, stop)`` per spatial axis seen at map position ``pos`` (one
    index per spatial axis, rows first; the same for every channel of the layer). May start below
    0 or stop beyond the image: padding."""
    out = []
    for i in pos:
        centre = info.rf_start + int(i) * info.jump
        lo = int(round(centre - (info.rf_size - 1) / 2))
        out.append((lo, lo + info.rf_size))
    return out


def crop_box(image: torch.Tensor, box: Sequence[tuple[int, int]], fill: float = NEUTRAL) -> torch.Tensor:
    """Crop ``image`` (C, *spatial) to ``box`` (one (start, stop) per spatial axis), padding the
    parts outside the image with ``fill``. Returns (C, *box sizes)."""
    spatial = image.shape[1:]
    out = torch.full((image.shape[0], *(b - a for a, b in box)), fill, dtype=image.dtype)
    src, dst = [slice(None)], [slice(None)]
    for (a, b), n in zip(box, spatial):
        lo, hi = max(a, 0), min(b, n)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - a, hi - a))
    out[tuple(dst)] = image[tuple(src)]
    return out


def resize_patch(patch: "torch.Tensor | np.ndarray", px: int) -> np.ndarray:
    """A patch (3, h, w) float in 0..1, or uint8 (h, w, 3), -> uint8 (px, px, 3). Small fields are
    enlarged with nearest neighbours (the pixels stay honest), large ones reduced with a box filter."""
    from PIL import Image

    if isinstance(patch, torch.Tensor):
        patch = (patch.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    im = Image.fromarray(np.ascontiguousarray(patch))
    if im.size != (px, px):
        im = im.resize((px, px), Image.Resampling.NEAREST if im.size[0] < px else Image.Resampling.BOX)
    return np.asarray(im)


def _crop_uint8(view: np.ndarray, box: Sequence[tuple[int, int]], fill: int) -> np.ndarray:
    """``crop_box`` for a uint8 (H, W, 3) image."""
    (y0, y1), (x0, x1) = box
    out = np.full((y1 - y0, x1 - x0, view.shape[2]), fill, np.uint8)
    h, w = view.shape[:2]
    ya, yb, xa, xb = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if yb > ya and xb > xa:
        out[ya - y0:yb - y0, xa - x0:xb - x0] = view[ya:yb, xa:xb]
    return out


def gather_patches(requests: Iterable[tuple[int, str, int, int, Sequence[int]]], info: dict[str, LayerInfo],
                   load: Callable[[int], torch.Tensor], px: int,
                   progress: Callable[[int, int], None] | None = None) -> dict[tuple[str, int, int], np.ndarray]:
    """Crop many unit patches of 2D layers, reading each image once.

    ``requests``: (image index, layer, unit, rank, position) tuples; ``load(index)`` returns the
    image as the net saw it (3, H, W) in 0..1. Returns {(layer, unit, rank): uint8 (px, px, 3)};
    patches of images that can no longer be read are grey.
    """
    by_image: dict[int, list] = {}
    for img, layer, unit, rank, pos in requests:
        if img >= 0:
            by_image.setdefault(int(img), []).append((layer, int(unit), int(rank), pos))
    out: dict[tuple[str, int, int], np.ndarray] = {}
    grey = int(NEUTRAL * 255 + 0.5)
    n = len(by_image)
    for j, (img, reqs) in enumerate(sorted(by_image.items())):
        try:
            view = (load(img).clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        except InputError:
            view = None
        for layer, unit, rank, pos in reqs:
            if view is None:
                out[(layer, unit, rank)] = np.full((px, px, 3), grey, np.uint8)
            else:
                out[(layer, unit, rank)] = resize_patch(_crop_uint8(view, unit_box(info[layer], pos), grey), px)
        if progress is not None:
            progress(j + 1, n)
    return out


def scan_loader(scan: UnitScan) -> Callable[[int], torch.Tensor]:
    """``load(index)`` for a UnitScan: the image as the scan's net saw it."""
    from .scan import load_view

    def load(i: int) -> torch.Tensor:
        return load_view(os.path.join(scan.root, scan.files[i]) if scan.root else scan.files[i], scan.size)
    return load
