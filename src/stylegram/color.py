"""Colour control (Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017, "Controlling Perceptual
Factors in Neural Style Transfer", section 5).

- luminance: the transfer runs on luminance only; the style's luminance is first matched to the
  content's mean and spread; the output's luminance is then joined with the content's chroma (YIQ).
- histogram: the style image's colours are matched to the content's (mean and covariance of RGB,
  the paper's linear map with symmetric matrix square roots) before an ordinary transfer.

``strength`` s in 0..1 interpolates: s = 0 is a plain transfer, s = 1 the paper's method. For
luminance, the net sees images desaturated by s and the output keeps s of the content's chroma
and 1 - s of its own. All functions take and return (1, 3, H, W) RGB in 0..1 and never modify
their inputs.
"""
from __future__ import annotations

import torch

from .config import PRESERVE_COLOR, check_strength  # noqa: F401  (with TransferConfig, torch-free)
from .losses import sqrtm_psd

# NTSC YIQ, as in the paper.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> YIQ (Y in 0..1, I and Q roughly -0.6..0.6)."""
    m = _RGB2YIQ.to(x.dtype).to(x.device)
    return torch.einsum("ij,bjhw->bihw", m, x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB (not clamped)."""
    m = torch.linalg.inv(_RGB2YIQ.double()).to(x.dtype).to(x.device)
    return torch.einsum("ij,bjhw->bihw", m, x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of (B, 3, H, W) RGB, shape (B, 1, H, W)."""
    return rgb_to_yiq(x)[:, :1]


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance (B, 1, H, W) mapped linearly to the content's mean and standard
    deviation: L' = (L_s - mu_s) sigma_c / sigma_s + mu_c."""
    ls, lc = luminance(style), luminance(content)

    def spread(t: torch.Tensor) -> torch.Tensor:  # a single pixel's spread is 0, not NaN
        return t.std(correction=1 if t.numel() > 1 else 0)
    return ((ls - ls.mean()) * (spread(lc) / spread(ls).clamp_min(1e-6)) + lc.mean()).clamp(0, 1)


def match_color_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style image's RGB values mapped by x' = A x + b so that their mean and covariance equal
    the content's, A = Cov_c^1/2 Cov_s^-1/2 (symmetric square roots). Returns (1, 3, H, W) in 0..1."""
    fs = style.reshape(3, -1).double()
    fc = content.reshape(3, -1).double()
    ms, mc = fs.mean(1, keepdim=True), fc.mean(1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64, device=fs.device)
    # one pixel has no sample covariance (0/0: NaN, then a LinAlgError): count it as zero spread
    corr = 1 if min(fs.shape[1], fc.shape[1]) > 1 else 0
    cs = torch.cov(fs, correction=corr) + 1e-5 * eye
    cc = torch.cov(fc, correction=corr) + 1e-5 * eye
    a = sqrtm_psd(cc) @ sqrtm_psd(cs, inverse=True)
    out = a @ (fs - ms) + mc
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)


def _desaturate(x: torch.Tensor, s: float, y: torch.Tensor | None = None) -> torch.Tensor:
    """Blend RGB towards grey luminance by s (y: the luminance to use; default x's own)."""
    y = luminance(x) if y is None else y
    return ((1 - s) * x + s * y.expand_as(x)).clamp(0, 1)


def prepare(mode: str, strength: float, content: torch.Tensor, styles: list[torch.Tensor]
            ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The images the net should see, (content, styles), for colour mode ``mode`` at ``strength``."""
    check_strength(mode, strength)
    s = float(strength)
    if mode == "none" or s == 0:
        return content, styles
    if mode == "histogram":
        return content, [((1 - s) * st + s * match_color_histogram(st, content)).clamp(0, 1) for st in styles]
    # luminance: the style's luminance matched to the content's first
    return (_desaturate(content, s),
            [_desaturate(st, s, (1 - s) * luminance(st) + s * match_luminance(st, content)) for st in styles])


def finish(mode: str, strength: float, output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The final colours: for luminance, the output's Y joined with s of the content's chroma (I, Q)
    and 1 - s of its own. ``content`` is the original content at the output's size."""
    check_strength(mode, strength)
    s = float(strength)
    if mode != "luminance" or s == 0:
        return output
    yo, yc = rgb_to_yiq(output), rgb_to_yiq(content)
    iq = s * yc[:, 1:] + (1 - s) * yo[:, 1:]
    return yiq_to_rgb(torch.cat([yo[:, :1], iq], 1)).clamp(0, 1)
