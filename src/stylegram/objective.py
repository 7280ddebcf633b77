"""The full style-transfer objective with the quality options: several styles blended, per-region
styles over masks (guided Gram matrices), the course's Gram loss, a mean-and-covariance (W2) loss
or a sliced Wasserstein (SWD) loss.

Every style statistic is a weighted sum over positions, so the objective can be evaluated on the
whole image at once (``terms``) or tile by tile (``partial_stats`` + ``style_from_stats``, and
``content_partial``, or for the correlation content loss ``content_stats`` + ``content_from_stats``;
used by ``tiling``), with the same result. Unguided Gram terms on the whole
image use ``losses.style_layer_loss`` itself: the course's formula, unchanged. The sliced
Wasserstein loss is not a sum over positions (it sorts them all at once): in tiles, each tile's
projections (``project``) are gathered, sorted whole, and the gradient in them handed back to the
tiles (``tiling``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .config import STYLE_LOSSES, STYLE_NORMS  # noqa: F401  (with TransferConfig, torch-free; how they weigh: there)
from .errors import ConfigError, choices_error
from .losses import (ContentTerms, correlation_loss_from_sums, guided_scaled_gram, mean_cov, positions,
                     random_directions, resample_sorted, sliced_targets, sliced_w2, sliced_w2_and_grad, sqrtm_psd,
                     style_layer_loss, tv_loss, w2_from_moments)

# The W2 loss is about 250 times smaller than the course's Gram loss for the same pair of images
# (measured at the content image against the style, tubingen/starry_night and chelsea/matisse at
# 128 px: 1.1e5 vs 350-500); scaling it by this lets one --beta mean about the same for both.
W2_SCALE = 250.0
# The sliced loss is about W2^2 / nC, like the W2 loss above, so it takes the same scale.
SWD_SCALE = W2_SCALE
# Steepness of a content budget (Objective's content_slack): against style terms whose slope is
# of order 1 per unit of J_content (the 'distance' normalization), 200 holds J_content to within
# about 0.005 of its cap; much steeper and L-BFGS's line search needs several evaluations a step.
CAP_WEIGHT = 200.0


@dataclass
class StyleTerm:
    """One style term: layer, weight (beta * lambda_l, blend weights already folded into the
    target), kind 'gram' or 'w2', an optional guide (1, 1, *layer spatial) over the output, and the
    target: ``gram`` (1, C, C) scaled as ``scaled_gram``; or ``mean`` (1, C), ``cov`` and
    ``cov_sqrt`` (1, C, C); or, for 'swd', ``directions`` (C, K) and the style's sorted
    projections ``sorted`` (K, Q)."""

    layer: str
    weight: float
    kind: str = "gram"
    guide: torch.Tensor | None = None
    gram: torch.Tensor | None = None
    mean: torch.Tensor | None = None
    cov: torch.Tensor | None = None
    cov_sqrt: torch.Tensor | None = None
    directions: torch.Tensor | None = None
    sorted: torch.Tensor | None = None
    root: bool = False  # the loss is the square root of the term's loss ('distance' normalization)
    # ``sorted`` read at N mid-quantiles, per N: the same for every evaluation of a level, so it is
    # resampled once rather than in each evaluation.
    _sorted_at: dict = field(default_factory=dict, repr=False, compare=False)

    def reported(self, loss: torch.Tensor) -> torch.Tensor:
        """The term's loss as it enters J (before its weight): under 'distance' its square root."""
        return loss.clamp_min(1e-30).sqrt() if self.root else loss

    def sorted_at(self, n: int) -> torch.Tensor:
        """The style's sorted projections read at n mid-quantiles (K, n); see ``resample_sorted``."""
        if n not in self._sorted_at:
            self._sorted_at[n] = resample_sorted(self.sorted, n)
        return self._sorted_at[n]


def layer_guide(mask: torch.Tensor, spatial: Sequence[int]) -> torch.Tensor:
    """A mask (1, 1, H, W) in 0..1 averaged down to a layer's spatial size (area interpolation)."""
    return F.interpolate(mask, size=tuple(spatial), mode="area").clamp(0, 1)


def layer_moments(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(sum over positions of a (1, C), sum of a a^T (1, C, C), N) for activations (1, C, *spatial):
    the sums from which a style image's targets follow; tile sums add up to the whole's."""
    f = a.float().reshape(a.shape[0], a.shape[1], -1)
    return f.sum(-1), torch.bmm(f, f.transpose(1, 2)), f.shape[-1]


Moments = tuple[torch.Tensor, torch.Tensor, int]  # as layer_moments returns them


def add_moments(m1: Moments | None, m2: Moments) -> Moments:
    """Sum two ``layer_moments`` results (of disjoint sets of positions); m1 None: m2 as it is."""
    if m1 is None:
        return m2
    return (m1[0] + m2[0], m1[1] + m2[1], m1[2] + m2[2])


def style_targets(style_moments: Sequence[Mapping[str, tuple[torch.Tensor, torch.Tensor, int]]], blend: Sequence[float],
                  layer_weights: Mapping[str, float], *, beta: float, kind: str = "gram",
                  out_guides: Mapping[str, torch.Tensor] | None = None, norm: str = "course",
                  style_feats: Sequence[Mapping[str, torch.Tensor]] | None = None,
                  seed: int = 0, content_moments: Mapping[str, tuple[torch.Tensor, torch.Tensor, int]] | None = None,
                  content_feats: Mapping[str, torch.Tensor] | None = None) -> list[StyleTerm]:
    """Style terms for one region from one or more style images.

    style_moments: per style image {layer: layer_moments(a(S))}; blend: one weight per style image
    (non-negative, normalized to sum 1). Blending mixes the styles' feature distributions: the
    targets are the mixture's second moments (Gram) or its mean and covariance (W2). For one style
    the Gram target equals ``scaled_gram(a(S))``, G / (2 N nC). out_guides: {layer: guide over the
    output (1, 1, *spatial)} for a per-region style. norm: 'course' (weight beta * lambda_l),
    'relative' (also divided by the term's loss for an all-zero activation) or 'distance' (the
    square root of the term's loss, divided by its value for the content photo, whose
    ``content_moments`` {layer: layer_moments(a(C))} and, for 'swd', ``content_feats`` {layer:
    a(C)} it needs); see STYLE_NORMS.
    For 'swd', style_feats: per style image {layer: activation (1, C, *spatial)}, and ``seed``
    draws the nC random directions of each layer (fixed for the run: L-BFGS needs one function).
    """
    if kind not in STYLE_LOSSES:
        raise choices_error("style loss", kind, STYLE_LOSSES)
    if norm not in STYLE_NORMS:
        raise choices_error("style normalization", norm, STYLE_NORMS)
    if len(blend) != len(style_moments) or any(w < 0 for w in blend) or sum(blend) <= 0:
        raise ConfigError(f"style blend weights {list(blend)}: need one non-negative weight per style image "
                          f"({len(style_moments)}), not all zero")
    total = float(sum(blend))
    ws = [float(w) / total for w in blend]
    if kind == "swd" and (style_feats is None or len(style_feats) != len(style_moments)):
        raise ConfigError("the sliced Wasserstein loss needs the style images' activations (style_feats)")
    if norm == "distance" and (content_moments is None or (kind == "swd" and content_feats is None)):
        raise ConfigError("the 'distance' style normalization needs the content photo's statistics")
    gen = torch.Generator().manual_seed(int(seed))
    terms = []
    for layer, lam in layer_weights.items():
        g_out = out_guides.get(layer) if out_guides else None
        mean = second = 0
        for mom, w in zip(style_moments, ws):
            s1, s2, n = mom[layer]
            mean = mean + w * s1 / n
            second = second + w * s2 / n
        c = second.shape[-1]
        if kind == "gram":
            # sum a a^T / (2 N nC) = (per-position second moment) / (2 nC): the course's scaled Gram
            target = second / (2.0 * c)
            blank = float(target.pow(2).sum()) if norm == "relative" else 1.0
            term = StyleTerm(layer, beta * lam / max(blank, 1e-30), "gram", g_out, gram=target)
        elif kind == "swd":
            dirs = random_directions(c, c, gen).to(second.device)
            target = sliced_targets([f[layer] for f in style_feats], ws, dirs)
            # blank: every projection 0, so the loss is the mean square of the style's projections
            scale = {"course": SWD_SCALE, "distance": 1.0}.get(norm, 1.0 / max(float(target.pow(2).mean()), 1e-30))
            term = StyleTerm(layer, scale * beta * lam, "swd", g_out, directions=dirs, sorted=target)
        else:
            cov = second - mean[:, :, None] * mean[:, None, :]
            root = sqrtm_psd(cov)
            if norm == "relative":  # the loss of an all-zero activation: about (|mean|^2 + tr(cov)) / nC
                scale = 1.0 / max(float(w2_from_moments(torch.zeros_like(mean), torch.zeros_like(cov), mean, cov, root)),
                                  1e-30)
            else:
                scale = W2_SCALE if norm == "course" else 1.0
            term = StyleTerm(layer, scale * beta * lam, "w2", g_out, mean=mean, cov=cov, cov_sqrt=root)
        if norm == "distance":
            at_content = _term_loss_at(term, content_moments[layer], content_feats.get(layer) if content_feats else None)
            term.weight = beta * lam / max(at_content, 1e-30) ** 0.5
            term.root = True
        terms.append(term)
    return terms


def _term_loss_at(t: StyleTerm, moments: tuple[torch.Tensor, torch.Tensor, int], feats: torch.Tensor | None) -> float:
    """A style term's loss (unweighted, unguided, not square-rooted) for an image whose activations
    have ``moments`` (layer_moments) and, for 'swd', are ``feats`` (1, C, *spatial)."""
    s1, s2, n = moments
    if t.kind == "swd":  # row by row, so that no (K, N) table is cached for a print-size photo
        proj = Objective.project(t, feats).reshape(t.directions.shape[1], -1)
        return float(sliced_w2_and_grad(proj, t.sorted)[0])
    if t.kind == "gram":  # the statistics as ``partial_stats`` sums them: scaled Gram, no mean
        return float(_loss_from_stats(t, s2 / (n * 2.0 * s2.shape[-1]), None))
    return float(_loss_from_stats(t, s2 / n, s1 / n))


def _loss_from_stats(t: StyleTerm, second: torch.Tensor, first: torch.Tensor | None) -> torch.Tensor:
    """A Gram or W2 term's loss (unweighted, not square-rooted) from an image's statistics: for
    Gram its scaled Gram matrix (1, C, C); for W2 its per-position second moment and mean (1, C)."""
    if t.kind == "gram":
        return (second - t.gram).pow(2).sum()
    cov = second - first[:, :, None] * first[:, None, :]
    return w2_from_moments(first, cov, t.mean, t.cov, t.cov_sqrt)


class Objective:
    """J = alpha J_content + sum over style terms of weight * J_style + gamma TV.

    content_targets: {layer: a(C) (1, C, *spatial)} with the course's content normalization
    ``content_norm``; style_terms: list of StyleTerm. ``terms(feats, image)`` returns 'content',
    'style', 'tv' and 'total' as 0-d tensors.
    """

    def __init__(self, content_targets: Mapping[str, torch.Tensor], style_terms: Sequence[StyleTerm], *, alpha: float,
                 gamma: float = 0.0, content_norm: str = "course", content_slack: float | None = None):
        self.content = ContentTerms(content_targets, content_norm)
        self.style_terms = list(style_terms)
        self.alpha, self.gamma = float(alpha), float(gamma)
        # content_slack: J_content enters as a budget, not a price. The first evaluation (the start
        # image) sets the cap J_content(start) + slack, and only what lies above it counts, steeply:
        # the style terms then take all they can get within the budget (``content_part``); one set
        # after construction works too.
        self.content_slack = None if content_slack is None else float(content_slack)
        self.content_cap: float | None = None
        # ``_set_cap`` behind torch.compiler.disable (see there), made here rather than as a
        # decorator: the decorator imports torch._dynamo (0.8 s on two cores) when this module is
        # imported, which `stylegram --help` and `import stylegram` paid for. Here only a run with a
        # budget pays, before anything is compiled. The class's function, not the bound method: one
        # kept on the instance would be a reference cycle holding the targets until a gc pass.
        self._set_cap_untraced = None if self.content_slack is None else torch.compiler.disable(type(self)._set_cap)
        # 'correlation' is not a sum over positions of per-position terms, so tiles sum its
        # statistics instead (``content_stats``). Per layer (||c(t)||^2 / divisor^2, divisor) as
        # floats, read once rather than per evaluation; the first is 1 unless the photo is so flat
        # that the divisor's floor applies.
        self._content_constants = {l: (float(tc.double().pow(2).sum()) / float(self.content.divisors[l]) ** 2,
                                       float(self.content.divisors[l])) for l, tc in self.content.centered.items()}

    @property
    def content_targets(self) -> dict[str, torch.Tensor]:
        """{content layer: a(C)}."""
        return self.content.targets

    @property
    def content_is_global(self) -> bool:
        """True where J_content needs whole-image sums (``content_stats``), not per-tile parts."""
        return bool(self.content.centered)

    @property
    def layers(self) -> list[str]:
        seen = list(self.content_targets)
        for t in self.style_terms:
            if t.layer not in seen:
                seen.append(t.layer)
        return seen

    # -- whole image ---------------------------------------------------------------------------
    def style_term_loss(self, t: StyleTerm, a: torch.Tensor) -> torch.Tensor:
        return t.reported(self._style_term_loss(t, a))

    def _style_term_loss(self, t: StyleTerm, a: torch.Tensor) -> torch.Tensor:
        a = a.float()
        if t.kind == "gram":
            if t.guide is None:
                return style_layer_loss(a, t.gram)  # the course's J_style[l], exactly
            return (guided_scaled_gram(a, t.guide) - t.gram).pow(2).sum()
        if t.kind == "swd":
            if t.guide is not None:
                return sliced_w2(a, t.directions, t.sorted, t.guide)
            return sliced_w2(a, t.directions, t.sorted_at(positions(a)))
        mean, cov = mean_cov(a, t.guide)
        return w2_from_moments(mean, cov, t.mean, t.cov, t.cov_sqrt)

    def terms(self, feats: Mapping[str, torch.Tensor], image: torch.Tensor) -> dict[str, torch.Tensor]:
        zero = image.new_zeros((), dtype=torch.float32)
        jc = self.content.loss(feats, zero)
        js = zero
        for t in self.style_terms:
            js = js + t.weight * self.style_term_loss(t, feats[t.layer])
        tv = tv_loss(image) if self.gamma else zero
        return {"content": jc, "style": js, "tv": tv, "total": self.content_part(jc) + js + self.gamma * tv}

    def content_part(self, jc: torch.Tensor) -> torch.Tensor:
        """J_content's share of J: alpha J_content, or with a content budget (``content_slack``)
        alpha CAP_WEIGHT max(0, J_content - cap)^2, the cap set at the first call."""
        if self.content_slack is None:
            return self.alpha * jc
        if self.content_cap is None:
            if self._set_cap_untraced is None:  # a content_slack given after construction
                self._set_cap_untraced = torch.compiler.disable(type(self)._set_cap)
            self._set_cap_untraced(self, jc)
        return self.alpha * CAP_WEIGHT * torch.relu(jc - self.content_cap).pow(2)

    def _set_cap(self, jc: torch.Tensor) -> None:
        # Called outside torch.compile (--compile on|graphs), through ``_set_cap_untraced``: float()
        # of a traced tensor is a graph break that printed a dozen lines of dynamo's "Graph break
        # from `Tensor.item()`" warning under -q.
        self.content_cap = float(jc.detach()) + self.content_slack

    # -- tile by tile: the style statistics are sums over positions -----------------------------
    def partial_stats(self, crops: Mapping[str, torch.Tensor], boxes: Mapping[str, tuple[int, int, int, int]],
                      full_positions: Mapping[str, int]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Per style term, the contribution of a crop of positions to its statistics: the second
        moment sum_p w_p a_p a_p^T (and for W2 the first moment sum_p w_p a_p), weighted exactly
        as on the whole image. crops: {layer: (1, C, h, w)} activations of the crop; boxes: {layer:
        (y0, y1, x0, x1)} where the crop lies in the whole layer; full_positions: {layer: N}."""
        out = []
        for t in self.style_terms:
            if t.kind == "swd":
                out.append((None, None))  # not a sum over positions: see ``project``
                continue
            a = crops[t.layer].float()
            c = a.shape[1]
            f = a.reshape(1, c, -1)
            if t.guide is not None:
                y0, y1, x0, x1 = boxes[t.layer]
                g = t.guide[..., y0:y1, x0:x1].reshape(1, 1, -1).to(f.dtype)
                area = t.guide.sum().to(f.dtype).clamp_min(1e-6)  # as guided_scaled_gram: no 0/0
            else:
                g, area = None, full_positions[t.layer]
            if t.kind == "gram":
                # guided: sum g a a^T / (2 area nC); unguided: sum a a^T / (2 N nC)
                fg = f if g is None else f * g.clamp_min(0).sqrt()
                fg = fg * (1.0 / (2.0 * area * c)) ** 0.5
                out.append((torch.bmm(fg, fg.transpose(1, 2)), None))
            else:
                w = (1.0 / area) if g is None else g / area
                fw = f * w
                out.append((torch.bmm(fw, f.transpose(1, 2)), fw.sum(-1)))
        return out

    def style_from_stats(self, stats: Sequence[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
        """The style part of J from whole-image statistics (sums of ``partial_stats``)."""
        js = torch.zeros(())
        for t, (second, first) in zip(self.style_terms, stats):
            if t.kind == "swd":
                continue  # summed by the tiled evaluator from every position's projections
            js = js + t.weight * t.reported(_loss_from_stats(t, second, first))
        return js

    @staticmethod
    def project(t: StyleTerm, a: torch.Tensor) -> torch.Tensor:
        """A sliced term's projections of activations a (1, C, *spatial) on its K directions:
        (K, *spatial). The sliced loss sorts every position's projections at once, so tiles gather
        these (and take back their share of its gradient) instead of summing statistics."""
        return torch.tensordot(t.directions.t().float(), a[0].float(), dims=1)

    def content_stats(self, crops: Mapping[str, torch.Tensor],
                      boxes: Mapping[str, tuple[int, int, int, int]]) -> list[tuple[torch.Tensor, ...]]:
        """For the 'correlation' content loss, per content layer the crop's share of its sums:
        (sum_p a (B, C), sum a^2, sum a c(t)) in float64 (the loss subtracts nearly equal sums);
        [] for the other normalizations, whose loss is itself a sum (``content_partial``)."""
        out = []
        for l, tc in self.content.centered.items():
            y0, y1, x0, x1 = boxes[l]
            a = crops[l].double()
            t = tc[..., y0:y1, x0:x1]
            out.append((a.flatten(2).sum(2), a.pow(2).sum(), (a * t).sum()))
        return out

    def content_from_stats(self, stats: Sequence[tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """J_content ('correlation') from whole-image sums of ``content_stats``."""
        jc = torch.zeros((), dtype=torch.float64)
        for l, (s1, s2, dot) in zip(self.content.centered, stats):
            target_term, divisor = self._content_constants[l]
            jc = jc + correlation_loss_from_sums(s1, s2, dot, positions(self.content_targets[l]), target_term, divisor)
        return jc.float()

    def content_partial(self, crops: Mapping[str, torch.Tensor], boxes: Mapping[str, tuple[int, int, int, int]]) -> torch.Tensor:
        """J_content restricted to a crop of positions, normalized as on the whole image (not for
        'correlation': see ``content_stats``)."""
        if self.content_is_global:
            raise ConfigError("the correlation content loss is summed from whole-image statistics (content_stats)")
        total = None
        for l, target in self.content_targets.items():
            y0, y1, x0, x1 = boxes[l]
            a = crops[l].float()
            sq = (a - target[..., y0:y1, x0:x1]).pow(2).sum() / self.content.divisors[l]
            total = sq if total is None else total + sq
        return total if total is not None else torch.zeros(())
