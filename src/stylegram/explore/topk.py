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
    image indices (-1 if empty); ``pos`` (C, k, D) int64 spatial index of the unit in the layer's map
    (0 if empty). Equal values rank by lower image index, then lower position (row-major order).
    ``hist`` (C, bins) int64 counts of each image's peak response over bins [0, ``top``) of width
    ``top / bins``; ``top`` (C,) float64 is the smallest power of two above every peak seen (0 while
    none was positive), so it doubles, merging bin pairs exactly, when a larger peak arrives; peaks
    of 0 or below count in bin 0. ``n`` images seen, ``sum``/``sumsq`` of peaks per channel.

    Every field depends on the images' activations and indices only, not on how the images were
    grouped into ``update`` calls: a scan gives the same result at any batch size.
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
            v, idx = flat.max(dim=2, keepdim=True)  # documented: the first (lowest) of equal maxima
        else:
            v, idx = _top_first(flat, m)
        v = v.float().cpu()  # (B, C, m)
        idx = idx.cpu()
        self._update_stats(v[:, :, 0])
        # candidates per channel: the k kept plus B*m new
        cand_v = torch.cat([self.values, v.permute(1, 0, 2).reshape(c, b * m)], dim=1)
        cand_img = torch.cat([self.image, image_index.view(1, b, 1).expand(c, b, m).reshape(c, b * m)], dim=1)
        new_pos = _unravel(idx.permute(1, 0, 2).reshape(c, b * m), spatial)  # (C, B*m, D)
        cand_pos = torch.cat([self.pos, new_pos], dim=1)
        # topk leaves the order of equal values to its kernel, and the kept set of units whose
        # peak is 0 in more than k images changed with the batch size. Rank by (value descending,
        # image, position): sort by an (image, position) key, then stably by value.
        key = cand_img * math.prod(spatial) + _ravel(cand_pos, spatial)  # int64, unique per entry
        by_key = key.argsort(dim=1)
        by_value = cand_v.gather(1, by_key).sort(dim=1, descending=True, stable=True).indices[:, :self.k]
        order = by_key.gather(1, by_value)
        top_v = cand_v.gather(1, order)
        self.values = top_v
        # -inf: a masked-out position (per_image above the positions a view can rank): no entry
        empty = torch.isneginf(top_v)
        self.image = cand_img.gather(1, order).masked_fill(empty, -1)
        self.pos = cand_pos.gather(1, order.unsqueeze(-1).expand(-1, -1, self.dims)).masked_fill(empty.unsqueeze(-1), 0)

    def _update_stats(self, peak: torch.Tensor) -> None:
        """peak: (B, C) float32, each image's largest activation per channel."""
        p = peak.to(torch.float64)
        self.n += p.shape[0]
        for row in p:  # image by image: a whole batch's sum rounds differently at each batch size
            self.sum += row
            self.sumsq += row * row
        # A power of two above the largest peak depends on that peak alone, and so every bin edge:
        # a range set from the first batch's largest peak depended on which images shared it.
        mx = p.max(0).values
        _, e = torch.frexp(mx)  # mx = f * 2^e, 0.5 <= f < 1: 2^e is the power of two just above
        top = torch.where(mx > 0, torch.ldexp(torch.ones_like(mx), e), torch.zeros_like(mx))
        grow = top > self.top
        if bool(grow.any()):
            # d doublings move bin i to i >> d: floor(x / 2^d) == floor(x) >> d, and widths that
            # differ by powers of two divide exactly, so the merged counts equal a direct binning
            old = self.top[grow]
            # no range yet: every peak so far is <= 0, in bin 0, which stays put
            d = torch.where(old > 0, torch.frexp(top[grow]).exponent - torch.frexp(old).exponent, 0)
            to = torch.arange(self.bins).view(1, -1) >> d.clamp(max=62).to(torch.int64).view(-1, 1)
            self.hist[grow] = torch.zeros_like(self.hist[grow]).scatter_add_(1, to, self.hist[grow])
            self.top[grow] = top[grow]
        # bin from p / top (exact: top is a power of two) times bins: never rounds up to bins, as
        # p / (top / bins) could for a bin count that is not a power of two
        frac = p / torch.where(self.top > 0, self.top, torch.ones_like(self.top))
        b = (frac * self.bins).floor().clamp(0, self.bins - 1).to(torch.int64)  # (B, C)
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


def _top_first(flat: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``m`` largest of ``flat`` (R..., N) along the last axis and their indices (R..., m),
    descending, equal values by lower index (NaN above all, as in topk)."""
    n = flat.shape[-1]
    v, idx = flat.topk(min(m + 1, n), dim=-1)
    rows = flat.reshape(-1, n)
    v, idx = v.reshape(rows.shape[0], -1), idx.reshape(rows.shape[0], -1)
    if v.shape[1] > m:
        # topk keeps every value above its m-th one, but which of the positions equal to the m-th
        # it keeps is up to its kernel: redo the rows where the (m+1)-th value ties with it
        nxt, cut = v[:, m], v[:, m - 1]
        v, idx = v[:, :m].clone(), idx[:, :m].clone()
        redo = ((nxt == cut) | (nxt.isnan() & cut.isnan())).nonzero().flatten()
        if len(redo):
            sub, c = rows[redo], cut[redo].unsqueeze(1)
            above, tied = (sub > c) | sub.isnan(), sub == c
            tied |= sub.isnan() & c.isnan()  # a NaN cut: every NaN ties with it and none is above
            above &= ~tied
            need = m - above.sum(1, keepdim=True)
            take = above | (tied & (tied.cumsum(1) <= need))  # exactly m per row, in index order
            idx[redo] = take.nonzero()[:, 1].view(-1, m)
            v[redo] = sub.gather(1, idx[redo])
    # within the m: by value, equal values by index
    by_index = idx.argsort(dim=1)
    order = by_index.gather(1, v.gather(1, by_index).sort(dim=1, descending=True, stable=True).indices)
    shape = (*flat.shape[:-1], m)
    return v.gather(1, order).view(shape), idx.gather(1, order).view(shape)


def _ravel(multi: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """(..., D) multi-indices into a map of ``shape`` -> (...,) flat (row-major) indices."""
    flat = torch.zeros(multi.shape[:-1], dtype=torch.int64)
    for axis, s in enumerate(shape):
        flat = flat * s + multi[..., axis]
    return flat


def _unravel(flat_idx: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Flat indices (...,) into a map of ``shape`` -> (..., D) multi-indices."""
    out = []
    rest = flat_idx
    for s in reversed(shape):
        out.append(rest % s)
        rest = rest // s
    return torch.stack(out[::-1], dim=-1)
