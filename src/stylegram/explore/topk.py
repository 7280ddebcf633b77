"""Streaming statistics of every unit (channel) of a layer over a stream of images.

For each unit: the top-k activations with image index and spatial position (at most ``per_image``
of them from any one image), a histogram of the unit's peak response per image, and running sums
for its mean and spread. State is a few (C, k) and (C, bins) tensors: memory does not grow with the
number of images.
"""
from __future__ import annotations

import math

import torch

from ..errors import ConfigError


class UnitTopK:
    """Top-k activations of every channel of one layer, updated batch by batch.

    ``values`` (C, k) float32, descending (``-inf`` where fewer than k seen); ``image`` (C, k) int64
    image indices (-1 if empty); ``pos`` (C, k, D) int64 spatial index of the unit in the layer's map.
    ``hist`` (C, bins) int64 counts of each image's peak response over bins [0, ``top``) of width
    ``top / bins`` (``top`` doubles, merging bin pairs, when a larger peak arrives; peaks below 0
    count in bin 0). ``n`` images seen, ``sum``/``sumsq`` of peaks per channel.
    """

    def __init__(self, channels: int, k: int = 9, per_image: int = 1, bins: int = 32, dims: int = 2):
        if k < 1 or per_image < 1:
            raise ConfigError(f"top-k needs k >= 1 and per_image >= 1, got k={k}, per_image={per_image}")
        if bins < 2 or bins % 2:
            raise ConfigError(f"histogram bins must be an even number >= 2, got {bins}")
        self.k, self.per_image, self.bins, self.dims = k, per_image, bins, dims
        self.values = torch.full((channels, k), -math.inf)
        self.image = torch.full((channels, k), -1, dtype=torch.int64)
        self.pos = torch.zeros((channels, k, dims), dtype=torch.int64)
        self.hist = torch.zeros((channels, bins), dtype=torch.int64)
        self.top = torch.zeros(channels, dtype=torch.float64)
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.sumsq = torch.zeros(channels, dtype=torch.float64)
        self.n = 0

    @property
    def channels(self) -> int:
        return self.values.shape[0]

    def update(self, act: torch.Tensor, image_index: torch.Tensor | int, mask: torch.Tensor | None = None) -> None:
        """Fold in activations ``act`` (B, C, *spatial) of images ``image_index`` (B,) (or the index
        of the first, the rest following). Only positions where ``mask`` (*spatial, bool) is True
        can enter the top-k and the per-image peaks."""
        act = act.detach()
        if mask is not None:
            act = act.masked_fill(~mask.to(act.device), -math.inf)
        b, c = act.shape[:2]
        if c != self.channels or act.dim() - 2 != self.dims:
            raise ConfigError(f"activation of shape {tuple(act.shape)} does not fit a top-k of "
                              f"{self.channels} channels and {self.dims} spatial axes")
        if isinstance(image_index, int):
            image_index = torch.arange(image_index, image_index + b)
        image_index = image_index.to(torch.int64).cpu()
        spatial = act.shape[2:]
        flat = act.reshape(b, c, -1)
        m = min(self.per_image, flat.shape[2])
        if m == 1:
            v, idx = flat.max(dim=2, keepdim=True)
        else:
            v, idx = flat.topk(m, dim=2)
        v = v.float().cpu()  # (B, C, m)
        idx = idx.cpu()
        self._update_stats(v[:, :, 0])
        # candidates per channel: the k kept plus B*m new
        cand_v = torch.cat([self.values, v.permute(1, 0, 2).reshape(c, b * m)], dim=1)
        cand_img = torch.cat([self.image, image_index.view(1, b, 1).expand(c, b, m).reshape(c, b * m)], dim=1)
        new_pos = _unravel(idx.permute(1, 0, 2).reshape(c, b * m), spatial)  # (C, B*m, D)
        cand_pos = torch.cat([self.pos, new_pos], dim=1)
        top_v, order = cand_v.topk(self.k, dim=1)
        self.values = top_v
        # -inf: a masked-out position (per_image above the positions a view can rank): no entry
        self.image = cand_img.gather(1, order).masked_fill(torch.isneginf(top_v), -1)
        self.pos = cand_pos.gather(1, order.unsqueeze(-1).expand(-1, -1, self.dims))

    def _update_stats(self, peak: torch.Tensor) -> None:
        """peak: (B, C) float32, each image's largest activation per channel."""
        p = peak.to(torch.float64)
        self.n += p.shape[0]
        self.sum += p.sum(0)
        self.sumsq += (p * p).sum(0)
        mx = p.max(0).values
        # First positive peak sets the range; a larger one doubles it (bin pairs merge exactly).
        fresh = (self.top <= 0) & (mx > 0)
        self.top[fresh] = mx[fresh] * 1.0001
        while True:
            grow = mx >= self.top
            grow &= self.top > 0
            if not bool(grow.any()):
                break
            h = self.hist[grow]
            merged = h.view(h.shape[0], self.bins // 2, 2).sum(-1)
            self.hist[grow] = torch.cat([merged, torch.zeros_like(merged)], dim=1)
            self.top[grow] *= 2
        width = torch.where(self.top > 0, self.top / self.bins, torch.ones_like(self.top))
        b = (p / width).floor().clamp(0, self.bins - 1).to(torch.int64)  # (B, C)
        c = self.channels
        flat = (b + torch.arange(c).view(1, c) * self.bins).flatten()
        self.hist += torch.bincount(flat, minlength=c * self.bins).view(c, self.bins)

    def mean(self) -> torch.Tensor:
        """(C,) mean peak response per image."""
        return self.sum / max(self.n, 1)

    def std(self) -> torch.Tensor:
        """(C,) standard deviation of the peak response per image."""
        m = self.mean()
        return (self.sumsq / max(self.n, 1) - m * m).clamp_min(0).sqrt()

    def selectivity(self) -> torch.Tensor:
        """(C,) how far the unit's top-k stand out: (mean of top-k - mean peak) / std of peaks.

        A unit that answers every image alike scores near 0, one that fires for a few images only
        scores high; dead units (never positive) score 0."""
        top = self.values.clamp_min(-1e30).to(torch.float64)
        filled = self.image >= 0
        topmean = (top * filled).sum(1) / filled.sum(1).clamp_min(1)
        s = (topmean - self.mean()) / (self.std() + 1e-12)
        return torch.where(self.values[:, 0] > 0, s, torch.zeros_like(s)).float()

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        return {f"{prefix}values": self.values, f"{prefix}image": self.image, f"{prefix}pos": self.pos,
                f"{prefix}hist": self.hist, f"{prefix}top": self.top, f"{prefix}sum": self.sum,
                f"{prefix}sumsq": self.sumsq, f"{prefix}n": torch.tensor([self.n], dtype=torch.int64),
                f"{prefix}config": torch.tensor([self.k, self.per_image, self.bins, self.dims], dtype=torch.int64)}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], prefix: str = "") -> "UnitTopK":
        k, per_image, bins, dims = (int(v) for v in state[f"{prefix}config"])
        t = cls(state[f"{prefix}values"].shape[0], k, per_image, bins, dims)
        for name in ("values", "image", "pos", "hist", "top", "sum", "sumsq"):
            setattr(t, name, state[f"{prefix}{name}"].clone())
        t.n = int(state[f"{prefix}n"][0])
        return t


def _unravel(flat_idx: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Flat indices (...,) into a map of ``shape`` -> (..., D) multi-indices."""
    out = []
    rest = flat_idx
    for s in reversed(shape):
        out.append(rest % s)
        rest = rest // s
    return torch.stack(out[::-1], dim=-1)
