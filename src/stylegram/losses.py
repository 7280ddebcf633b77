"""The losses of neural style transfer, as pure functions over (B, C, *spatial) activations.

Exactly the course's definitions, for 1, 2 or 3 spatial axes (nH nW becomes the product N of the
spatial sizes):

    J_content(C, G)   = || a(C) - a(G) ||^2                       ("sum"; also "mean" and
                                                                    "course": 1 / (4 N nC))
    G_kk'             = sum_positions a_k a_k'                    (the style matrix, unnormalized)
    J_style[l](S, G)  = 1 / (2 N nC)^2 * sum_kk' (G(S)_kk' - G(G)_kk')^2
    J_style(S, G)     = sum_l lambda[l] J_style[l](S, G)
    J(G)              = alpha J_content + beta J_style (+ gamma TV(G))

Batched inputs are summed over the batch. ``StyleObjective`` holds the targets (computed once,
without gradients) and combines the terms with named weights.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .config import CONTENT_NORMS, parse_layer_weights  # noqa: F401  (with TransferConfig, torch-free; here as before)
from .errors import ConfigError, choices_error

CENTERED_FLOOR = 0.01  # 'centered' divides by at least this fraction of ||target||^2
# ||a - its channel means|| below this counts as this in 'correlation' (a blank output: no structure)
_NORM_EPS = 1e-12


def _check_activation(a: torch.Tensor, what: str) -> None:
    if a.dim() < 3 or a.dim() > 5:
        hint = "; one image's unrolled activations (nC, N) go in as a[None], (1, nC, N)" if a.dim() == 2 else ""
        raise ConfigError(f"{what}: expected a tensor (B, C, *spatial) with 1 to 3 spatial axes, got shape "
                          f"{tuple(a.shape)}{hint}")


def positions(a: torch.Tensor) -> int:
    """N: the number of spatial positions of (B, C, *spatial)."""
    n = 1
    for s in a.shape[2:]:
        n *= s
    return n


def gram(a: torch.Tensor) -> torch.Tensor:
    """The style matrix G_kk' = sum over positions of a_k a_k' (no mean removed, no scaling).

    a: (B, C, *spatial) -> (B, C, C). One batched matrix product.
    """
    _check_activation(a, "gram")
    f = a.reshape(a.shape[0], a.shape[1], -1)
    return torch.bmm(f, f.transpose(1, 2))


class _ScaledGram(torch.autograd.Function):
    """scale * F F^T with a one-product backward, for F as (B, C, N) or, channels-last, (B, N, C).

    dJ/dF = scale (dJ/dG + dJ/dG^T) F: one batched product, where autograd's generic rule for
    bmm(F, F^T) takes two products, a transpose and a sum of two gradients the size of F: a third
    of a 512 px evaluation on a CPU. The channels-last form reads the activations of a
    channels-last net in place and hands back a gradient of the same layout, which the gradient
    from the next convolution is then added to at full speed."""

    @staticmethod
    def forward(ctx, f: torch.Tensor, scale: float, channels_last: bool) -> torch.Tensor:
        ctx.save_for_backward(f)
        ctx.scale, ctx.channels_last = scale, channels_last
        if channels_last:
            return torch.bmm(f.transpose(1, 2), f).mul_(scale)
        return torch.bmm(f, f.transpose(1, 2)).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (f,) = ctx.saved_tensors
        sym = (grad + grad.transpose(1, 2)).mul_(ctx.scale).to(f.dtype)
        return (torch.bmm(f, sym) if ctx.channels_last else torch.bmm(sym, f)), None, None


def scaled_gram(a: torch.Tensor) -> torch.Tensor:
    """G / (2 N nC), shape (B, C, C): the Gram matrix with the course's style normalization folded
    in, so that J_style[l] = sum (scaled_gram(S) - scaled_gram(G))^2 without forming huge numbers."""
    _check_activation(a, "scaled_gram")  # an unrolled (C, N) came back as (C, N, N) of garbage
    b, c = a.shape[:2]
    scale = 1.0 / (2.0 * positions(a) * c)
    if torch.compiler.is_compiling():
        # Under torch.compile the plain product, whose backward the compiler derives and fuses
        # itself. (The hand-written backward gave zero style gradients in compiled CUDA graphs on
        # torch 2.11: bench/results/gpu_speed_h100_2026-11-26_run2.json.)
        f = a.reshape(b, c, -1)
        return torch.bmm(f, f.transpose(1, 2)) * scale
    last = a.movedim(1, -1)
    if a.dim() > 2 and last.is_contiguous() and not a.is_contiguous():
        return _ScaledGram.apply(last.reshape(b, -1, c), scale, True)
    return _ScaledGram.apply(a.reshape(b, c, -1), scale, False)


def content_loss(a: torch.Tensor, target: torch.Tensor, norm: str = "sum",
                 divisor: torch.Tensor | float | None = None) -> torch.Tensor:
    """J_content = ||a - target||^2 with normalization ``norm``: 'sum' (as defined), 'mean'
    (divided by B C N), 'course' (divided by 4 nC N, the batch summed) or 'relative' (divided by
    ||target||^2: the fraction of the content's feature energy lost, 1 for a blank activation, so
    one alpha : beta balance means the same for a busy photo and a quiet one) or 'centered'
    (divided by ||target - its per-channel mean||^2, at least CENTERED_FLOOR ||target||^2: the
    energy of the photo's structure alone, so a photo that is mostly one flat field, such as a
    night sky, keeps as much of its structure as a busy one). 'correlation': the squared
    difference after each side is centered per channel and scaled to unit norm (see
    ``correlation_loss``): 2 (1 - the correlation of the two feature maps), so only the photo's
    structure counts, not its features' contrast. a, target: (B, C, *spatial), the same shape
    (a layer's activations, channels first) -> a scalar (0-dim) tensor.
    ``divisor``: ``content_divisor(target, norm)`` computed beforehand; an objective whose target
    is fixed passes it so that every evaluation does not reduce the whole target again."""
    # (C, N), the course's unrolled activations, got the 'course' divisor 4 C * 1, as if N were 1
    _check_activation(a, "content_loss")
    if a.shape != target.shape:
        raise ConfigError(f"content_loss: activation shape {tuple(a.shape)} != target shape {tuple(target.shape)}")
    d = content_divisor(target, norm) if divisor is None else divisor
    if norm == "correlation":
        return correlation_loss(a, centered(target), d)
    return (a - target).pow(2).sum() / d


def centered(a: torch.Tensor) -> torch.Tensor:
    """a (B, C, *spatial) minus each channel's mean over positions, flattened to (B, C, N)."""
    flat = a.flatten(2)
    return flat - flat.mean(2, keepdim=True)


def correlation_loss(a: torch.Tensor, target_centered: torch.Tensor, divisor: torch.Tensor | float) -> torch.Tensor:
    """|| c(a) / ||c(a)|| - c(t) / divisor ||^2, c() centering each channel over positions.

    a: (B, C, *spatial); target_centered: ``centered(t)`` (B, C, N, or reshaped as t); divisor:
    ``content_divisor(t, 'correlation')``, which is ||c(t)|| unless the photo is nearly flat. Then
    the loss is 2 (1 - rho), rho the correlation of the two centered feature maps: 0 when the
    output has the photo's structure at any contrast, 1 for a blank output, 4 for its negative.
    Unlike ||a - t||^2 it lets the style term raise or lower the features' contrast freely."""
    ac = centered(a)
    return (ac / ac.norm().clamp_min(_NORM_EPS) - target_centered.flatten(2) / divisor).pow(2).sum()


def correlation_loss_from_sums(s1: torch.Tensor, s2: torch.Tensor, dot: torch.Tensor, n_positions: int,
                               target_term: torch.Tensor | float, divisor: torch.Tensor | float) -> torch.Tensor:
    """``correlation_loss`` from sums over positions, which tiles add up to: s1 = sum_p a (B, C),
    s2 = sum a^2, dot = sum a c(t) (0-d; equals sum c(a) c(t), c(t) having zero channel means),
    target_term = ||c(t)||^2 / divisor^2 (1 unless the photo is nearly flat)."""
    energy = (s2 - s1.pow(2).sum() / n_positions).clamp_min(0.0)
    norm = energy.sqrt().clamp_min(_NORM_EPS)
    return energy / norm.pow(2) - 2.0 * dot / (norm * divisor) + target_term


def content_divisor(target: torch.Tensor, norm: str) -> torch.Tensor | float:
    """What ``content_loss`` divides the sum of squares by, from the whole target (B, C, *spatial);
    the tiled objective divides each tile's sum by the same. For 'correlation', what the centered
    target is divided by: the square root of the 'centered' divisor."""
    if norm == "sum":
        return 1.0
    if norm == "mean":
        return float(target.numel())
    if norm == "course":
        return 4.0 * target.shape[1] * positions(target)
    if norm == "relative":
        return target.pow(2).sum().clamp_min(1e-12)
    if norm in ("centered", "correlation"):
        structure = centered(target).pow(2).sum()
        # A photo of one flat colour has next to no structure: dividing by it would blow the
        # content term up by orders of magnitude. Below 1% of the features' energy, count 1%.
        d = torch.maximum(structure, CENTERED_FLOOR * target.pow(2).sum()).clamp_min(1e-12)
        return d if norm == "centered" else d.sqrt()
    raise choices_error("content normalization", norm, CONTENT_NORMS)


def style_layer_loss(a: torch.Tensor, target_scaled_gram: torch.Tensor) -> torch.Tensor:
    """J_style[l] = 1/(2 N nC)^2 sum_kk' (G(S) - G(G))^2, given a (B, C, *spatial) and the target
    ``scaled_gram`` of S (1 or B, C, C) computed with the same N normalization of S's own size
    (not its plain ``gram``) -> a scalar (0-dim) tensor, the batch summed; N = the product of the
    spatial sizes."""
    _check_activation(a, "style_layer_loss")
    b, c = a.shape[:2]
    t = target_scaled_gram
    if t.dim() != 3 or t.shape[0] not in (1, b) or t.shape[1:] != (c, c):
        per_image = f" or ({b}, {c}, {c})" if b > 1 else ""
        raise ConfigError(f"style_layer_loss: target Gram matrix of shape {tuple(t.shape)} does not fit activations "
                          f"{tuple(a.shape)}; expected (1, {c}, {c}){per_image}")
    return (scaled_gram(a) - t).pow(2).sum()


def style_layer_loss_from_grams(gram_g: torch.Tensor, gram_s: torch.Tensor, n_positions: int,
                                n_channels: int) -> torch.Tensor:
    """The course's J_style[l] from two unnormalized Gram matrices (reference implementation)."""
    return (gram_s - gram_g).pow(2).sum() / (2.0 * n_positions * n_channels) ** 2


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: the sum over spatial axes of the mean squared difference of neighbours.
    x: (B, C, *spatial) -> scalar. Zero for a constant image."""
    total = x.new_zeros(())
    for axis in range(2, x.dim()):
        if x.shape[axis] > 1:
            d = x.narrow(axis, 1, x.shape[axis] - 1) - x.narrow(axis, 0, x.shape[axis] - 1)
            total = total + d.pow(2).mean()
    return total


class ContentTerms:
    """J_content summed over the content layers, for fixed targets {layer: a(C) (B, C, *spatial)}
    and one normalization. What depends only on the targets (each divisor, and for 'correlation'
    the centered target) is computed here once, not in every evaluation."""

    def __init__(self, targets: Mapping[str, torch.Tensor], norm: str):
        if norm not in CONTENT_NORMS:
            raise choices_error("content normalization", norm, CONTENT_NORMS)
        self.targets, self.norm = dict(targets), norm
        self.divisors = {l: content_divisor(t, norm) for l, t in self.targets.items()}
        # c(t) reshaped as t: 'correlation' compares with it (and tiles crop it)
        self.centered = {l: centered(t).reshape(t.shape) for l, t in self.targets.items()} if norm == "correlation" else {}

    def loss(self, feats: Mapping[str, torch.Tensor], zero: torch.Tensor) -> torch.Tensor:
        """The sum over layers of content_loss(feats[l], target, norm), starting from ``zero`` (0-d)."""
        jc = zero
        for l, t in self.targets.items():
            a = feats[l].float()
            if self.centered:
                jc = jc + correlation_loss(a, self.centered[l], self.divisors[l])
            else:
                jc = jc + content_loss(a, t, self.norm, self.divisors[l])
        return jc


class StyleObjective:
    """J(G) = alpha J_content + beta sum_l lambda_l J_style[l] + gamma TV, with targets held.

    ``content_targets``: {layer: a(C)}; ``style_targets``: {layer: scaled_gram(a(S))};
    ``style_weights``: {layer: lambda}. ``terms(feats, image)`` returns the named terms and 'total'
    as 0-d tensors (no host synchronization).
    """

    def __init__(self, content_targets: Mapping[str, torch.Tensor], style_targets: Mapping[str, torch.Tensor],
                 style_weights: Mapping[str, float], *, alpha: float, beta: float, gamma: float = 0.0,
                 content_norm: str = "course"):
        self.content = ContentTerms(content_targets, content_norm)
        self.style_targets = dict(style_targets)
        self.style_weights = dict(style_weights)
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)

    @property
    def layers(self) -> list[str]:
        seen = list(self.content.targets)
        return seen + [l for l in self.style_targets if l not in seen]

    def terms(self, feats: Mapping[str, torch.Tensor], image: torch.Tensor) -> dict[str, torch.Tensor]:
        zero = image.new_zeros((), dtype=torch.float32)
        jc = self.content.loss(feats, zero)
        js = zero
        for l, t in self.style_targets.items():
            js = js + self.style_weights[l] * style_layer_loss(feats[l].float(), t)
        tv = tv_loss(image) if self.gamma else zero
        total = self.alpha * jc + self.beta * js + self.gamma * tv
        return {"content": jc, "style": js, "tv": tv, "total": total}


# --- Additions for quality and control (issue 3). The functions above are the course's and stay
# untouched; these add guided (masked) Gram matrices and a mean-and-covariance style loss. ---

def guided_scaled_gram(a: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The guided style matrix of Gatys et al. 2017 with the course's normalization:
    sum_pos g a_k a_k' / (2 N_g nC), where N_g = sum_pos g is the guide's area.

    a: (B, C, *spatial); guide: (1 or B, 1, *spatial) with values in 0..1 (a region's mask at
    this layer's resolution). With a guide of ones it equals ``scaled_gram(a)``. Normalizing by
    the region's own area keeps the weights independent of how large the region is. Each
    position weighs g, as in ``mean_cov``, not g^2 (features times the guide): with g^2 a
    region's soft edge, where g is below 1, read as too weak a style, and the optimizer
    answered with oversaturated colours there (a ring along a mask's border).
    """
    b, c = a.shape[:2]
    if guide.shape[2:] != a.shape[2:]:
        raise ConfigError(f"guided_scaled_gram: guide spatial shape {tuple(guide.shape[2:])} != activation's {tuple(a.shape[2:])}")
    area = guide.reshape(guide.shape[0], -1).sum(1).clamp_min(1e-6)  # (1 or B,)
    f = (a * guide.clamp_min(0).sqrt()).reshape(b, c, -1)
    s = (1.0 / (2.0 * area * c)).sqrt().view(-1, 1, 1)
    f = f * s
    return torch.bmm(f, f.transpose(1, 2))


def mean_cov(a: torch.Tensor, guide: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean (B, C) and covariance (B, C, C) of a (B, C, *spatial) over positions,
    optionally weighted by ``guide`` (1 or B, 1, *spatial). Per position, so independent of size."""
    b, c = a.shape[:2]
    f = a.reshape(b, c, -1)
    if guide is None:
        w = f.new_full((1, 1, f.shape[-1]), 1.0 / f.shape[-1])
    else:
        g = guide.reshape(guide.shape[0], 1, -1).to(f.dtype)
        w = g / g.sum(-1, keepdim=True).clamp_min(1e-6)
    mean = (f * w).sum(-1)
    second = torch.bmm(f * w, f.transpose(1, 2))
    return mean, second - mean[:, :, None] * mean[:, None, :]


def sqrtm_psd(m: torch.Tensor, eps: float = 1e-8, inverse: bool = False) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix (..., C, C), by eigh in
    float64 (eigenvalues clipped to ``eps``: negative round-off, and a finite inverse); with
    ``inverse``, the inverse square root. Returned in ``m``'s dtype. Used for targets and colour
    maps, not differentiated."""
    vals, vecs = torch.linalg.eigh(m.double())
    vals = vals.clamp_min(eps)
    r = (vecs * (vals.rsqrt() if inverse else vals.sqrt()).unsqueeze(-2)) @ vecs.transpose(-1, -2)
    return r.to(m.dtype)


def w2_from_moments(mean: torch.Tensor, cov: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor,
                    target_cov_sqrt: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Squared 2-Wasserstein distance between the Gaussians N(mean, cov) and N(target), per channel:

        ( |m - m_s|^2 + tr(S) + tr(S_s) - 2 tr((S_s^1/2 S S_s^1/2)^1/2) ) / nC

    mean (B, C), cov (B, C, C); targets (1 or B, ...). The trace of the matrix square root is the
    sum of the square roots of the eigenvalues; only eigenvalues are differentiated, which keeps
    the gradient stable when eigenvalues repeat (eigenvectors' gradients would not be).
    """
    c = mean.shape[-1]
    r = target_cov_sqrt.double()
    m = r @ cov.double() @ r
    m = 0.5 * (m + m.transpose(-1, -2))
    root_trace = torch.linalg.eigvalsh(m).clamp_min(eps).sqrt().sum(-1)
    tr = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1).double() + torch.diagonal(target_cov, dim1=-2, dim2=-1).sum(-1).double()
    cov_term = (tr - 2.0 * root_trace).clamp_min(0.0)
    mean_term = (mean - target_mean).double().pow(2).sum(-1)
    return ((mean_term + cov_term) / c).sum().to(mean.dtype)


def w2_style_layer_loss(a: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor,
                        target_cov_sqrt: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
    """Mean-and-covariance (Wasserstein-2) style loss of activations a (B, C, *spatial) against a
    style's per-channel mean (C,), covariance and its square root (C, C); see ``w2_from_moments``.
    Unlike the Gram loss it separates the mean from the spread of the features."""
    mean, cov = mean_cov(a.float(), guide)
    return w2_from_moments(mean, cov, target_mean, target_cov, target_cov_sqrt)


# --- Sliced Wasserstein style loss (Heitz et al. 2021, "A Sliced Wasserstein Loss for Neural
# Texture Synthesis"). Gram matrices and mean-and-covariance see only the first two moments of a
# layer's feature distribution; the sliced distance compares the whole distribution, one random
# direction at a time, where 1D optimal transport is a sort. ---

# Below this many values torch.sort is as fast and numpy's thread pool would only add overhead.
_NUMPY_SORT_MIN = 65536


def sort_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, order) of x (K, N) sorted along each row, ascending, as ``x.sort(dim=1)``; values
    carry x's gradient (a gather), order is int64 (K, N).

    On the CPU the order comes from numpy's argsort, which uses SIMD sorting networks
    (x86-simd-sort, Highway) where torch.sort runs a scalar comparison sort: for the refinement
    pass's relu1_1 at 512 px (64 directions x 196,608 positions) 0.135 s against 0.459 s on two
    cores, and the sorts were two thirds of an evaluation (bench/speed_sliced.py). The values are
    the same; only the order of exactly equal values may differ. The rows are split over
    torch's thread count (numpy releases the GIL while it sorts)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.dim() != 2 or x.numel() < _NUMPY_SORT_MIN:
        return x.sort(dim=1)
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    a = x.detach().contiguous().numpy()
    order = np.empty(a.shape, dtype=np.int64)
    workers = max(1, min(torch.get_num_threads(), a.shape[0]))
    bounds = [a.shape[0] * i // workers for i in range(workers + 1)]

    def rows(i: int) -> None:
        order[bounds[i]:bounds[i + 1]] = np.argsort(a[bounds[i]:bounds[i + 1]], axis=1)

    if workers == 1:
        rows(0)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(rows, range(workers)))
    idx = torch.from_numpy(order)
    return x.gather(1, idx), idx


def random_directions(channels: int, count: int, gen: torch.Generator) -> torch.Tensor:
    """``count`` random unit vectors in R^channels as the columns of a (channels, count) matrix."""
    d = torch.randn(channels, count, generator=gen)
    return d / d.norm(dim=0, keepdim=True)


def resample_sorted(sorted_values: torch.Tensor, n: int) -> torch.Tensor:
    """The quantile function given by sorted samples (K, M), read at the n mid-quantiles
    (i + 1/2) / n, i = 0..n-1, by linear interpolation: (K, n). With n == M it is the input."""
    m = sorted_values.shape[-1]
    if n == m:
        return sorted_values
    pos = ((torch.arange(n, dtype=torch.float64, device=sorted_values.device) + 0.5) * (m / n) - 0.5).clamp(0, m - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(m - 1)
    frac = (pos - lo).to(sorted_values.dtype)
    return sorted_values[..., lo] * (1 - frac) + sorted_values[..., hi] * frac


def weighted_quantiles(sorted_values: torch.Tensor, sorted_weights: torch.Tensor) -> torch.Tensor:
    """The quantile function given by sorted samples (K, M), read at the mid-cumulative sums of
    weights (K, N) that sum to 1 along each row and are in the order of the values they weigh:
    where weighted optimal transport in 1D sends each of N weighted positions. (K, N)."""
    levels = (sorted_weights.cumsum(1) - 0.5 * sorted_weights).clamp(0, 1)
    q = sorted_values.shape[1]
    pos = (levels * q - 0.5).clamp(0, q - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(q - 1)
    frac = pos - lo
    return sorted_values.gather(1, lo) * (1 - frac) + sorted_values.gather(1, hi) * frac


def sliced_targets(activations: Sequence[torch.Tensor], blend: Sequence[float], directions: torch.Tensor,
                   quantiles: int = 65536) -> torch.Tensor:
    """The style's sorted projections (K, Q): the quantile function, at Q mid-quantiles, of the
    features of one or more style images (each (1, C, *spatial)) projected on ``directions``
    (C, K). Several images make a mixture: image i contributes a share blend[i] (normalized) of
    the Q samples. Q bounds the memory whatever the style image's size; with fewer positions than
    Q in all, the samples are kept as they are (no interpolation)."""
    total = float(sum(blend))
    q = min(int(quantiles), sum(a[0, 0].numel() for a in activations))
    parts = []
    for a, w in zip(activations, blend):
        share = round(q * float(w) / total)
        if share <= 0:
            continue
        f = a.float().reshape(a.shape[1], -1)
        proj = sort_rows(directions.t().to(f.dtype) @ f)[0]
        parts.append(resample_sorted(proj, share))
    return sort_rows(torch.cat(parts, dim=1))[0]


def sliced_w2(a: torch.Tensor, directions: torch.Tensor, target_sorted: torch.Tensor,
              guide: torch.Tensor | None = None) -> torch.Tensor:
    """Sliced Wasserstein-2 style loss: the squared distance between the distribution of the
    features a (1, C, *spatial) and the style's, averaged over the K directions (C, K):

        1/K sum_k 1/N sum_i (sort(a^T d_k)_i - q_k((i + 1/2) / N))^2

    where q_k is the style's quantile function along d_k (``sliced_targets``, (K, Q)). Per
    position, so independent of image size; about W2^2 / C for Gaussian features. With a guide
    (1, 1, *spatial) in 0..1 each position counts by its weight, and the quantile levels are the
    sorted weights' mid-cumulative sums (weighted optimal transport in 1D)."""
    if a.shape[0] != 1:  # reshape(c, -1) would mix the images' channels into one wrong number
        raise ConfigError(f"sliced_w2: features of shape {tuple(a.shape)}; give one image, (1, C, *spatial)")
    c = a.shape[1]
    f = a.float().reshape(c, -1)
    proj = directions.t().to(f.dtype) @ f  # (K, N)
    if guide is None:
        values = sort_rows(proj)[0]
        target = resample_sorted(target_sorted, values.shape[1])
        return (values - target).pow(2).mean()
    w = guide.reshape(-1).to(f.dtype)
    w = w / w.sum().clamp_min(1e-6)
    values, order = sort_rows(proj)
    ws = w[order]
    with torch.no_grad():
        target = weighted_quantiles(target_sorted, ws)
    return (ws * (values - target).pow(2)).sum() / values.shape[0]


@torch.no_grad()
def sliced_w2_and_grad(proj: torch.Tensor, target_sorted: torch.Tensor, weights: torch.Tensor | None = None,
                       rows: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """``sliced_w2`` from the projections themselves, with its gradient, for outputs evaluated tile
    by tile: proj (K, N) holds every position's projection on each of the K directions, gathered
    from the tiles. Returns (loss, dloss/dproj (K, N)); the gradient is written over ``proj``
    (which is consumed) so that a print-size layer needs one (K, N) buffer, not three. weights
    (N,): a guide's weight per position (None: every position counts alike). Sorts ``rows``
    directions at a time to bound the memory of the sort's int64 order."""
    k, n = proj.shape
    if weights is not None:
        w = weights.reshape(-1).to(proj.dtype)
        w = w / w.sum().clamp_min(1e-6)
    total = torch.zeros((), dtype=torch.float64, device=proj.device)
    for r0 in range(0, k, rows):
        values, order = sort_rows(proj[r0:r0 + rows])
        if weights is None:
            resid = values - resample_sorted(target_sorted[r0:r0 + rows], n)
            total += resid.double().pow(2).sum() / (k * n)
            grad = resid * (2.0 / (k * n))
        else:
            ws = w[order]
            resid = values - weighted_quantiles(target_sorted[r0:r0 + rows], ws)
            total += (ws * resid.pow(2)).double().sum() / k
            grad = ws * resid * (2.0 / k)
        proj[r0:r0 + rows].scatter_(1, order, grad)
    return total.float(), proj
