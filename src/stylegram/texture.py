"""Texture synthesis (Gatys, Ecker & Bethge 2015): an image with the style's statistics and no
content, grown coarse-to-fine from noise. ``tileable`` uses circular padding throughout (the
net's convolutions and the pyramid's upsampling), so the texture wraps around without a seam."""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import click
import torch

from .nets import FeatureNet
from .optimize import Callback
from .transfer import TransferConfig, TransferResult, _as_list, _stylize

TEXTURE_DEFAULTS = {"init": "noise", "pyramid_start": 128, "iters": 200, "beta": 1.0, "alpha": 0.0}


def texture(style: Any, *, size: int = 512, tileable: bool = False, config: TransferConfig | None = None,
            callback: Callback | None = None, feature_net: FeatureNet | None = None, **options: Any) -> TransferResult:
    """Synthesize a size x size texture from ``style`` (path, PIL image or tensor in 0..1; or a
    list of them, blended by ``style_blend``). ``options`` are TransferConfig fields; the style
    ones apply (style_layers, style_loss, style_scale, iters, optimizer, seed, ...). With
    ``tileable`` the sides are rounded to a multiple of the net's deepest stride (16 px for VGG).
    Returns a TransferResult with the image (1, 3, H, W) in 0..1."""
    t0 = time.perf_counter()
    base = config or TransferConfig(**TEXTURE_DEFAULTS)
    cfg = dataclasses.replace(base, size=int(size), **options).validated()
    blank = torch.full((1, 3, cfg.size, cfg.size), 0.5)
    return _stylize(blank, _as_list(style), cfg, callback=callback, net=feature_net, t_start=t0, content_weight=False,
                    circular=tileable)


@click.command("texture")
@click.argument("style", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output image (.png, .jpg, ...)")
@click.option("--size", type=int, default=512, show_default=True, help="side of the square texture, px")
@click.option("--tileable", is_flag=True, help="wrap around seamlessly (circular padding); sides become multiples of 16 px")
@click.option("--iters", type=int, default=TEXTURE_DEFAULTS["iters"], show_default=True,
              help="iterations at the first (128 px) level; larger levels get fewer")
@click.option("--style-loss", type=click.Choice(["gram", "w2", "swd"]), default="gram", show_default=True,
              help="gram (the course's), w2 (mean and covariance) or swd (sliced Wasserstein)")
@click.option("--style-blend", default="", help="blend weights of several style images, e.g. 0.7,0.3")
@click.option("--style-scale", type=float, default=1.0, show_default=True,
              help="style image size relative to the output (above 1: larger, coarser strokes; below 1: finer)")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed of the start noise")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps")
@click.option("--net", "net_name", default="vgg16-hed", show_default=True, help="feature net (see `stylegram nets`)")
@click.option("--max-memory", type=float, default=8.0, show_default=True, help="memory budget, GiB")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar and no summary line (errors and warnings still print)")
def texture_cmd(style: tuple[str, ...], output: str, size: int, tileable: bool, iters: int, style_loss: str,
                style_blend: str, style_scale: float, seed: int, device: str, net_name: str, max_memory: float,
                quiet: bool) -> None:
    """Synthesize a texture with the style of STYLE (one or more images) from noise."""
    from .cli import ProgressBar, exit_if_stopped
    from .io.image import check_output_path

    out = check_output_path(output, list(style))
    with ProgressBar(iters, "texture", quiet, stoppable=True) as bar:
        result = texture(list(style), size=size, tileable=tileable, callback=bar.update,
                         config=TransferConfig(**{**TEXTURE_DEFAULTS, "net": net_name}), iters=iters,
                         style_loss=style_loss, style_blend=style_blend, style_scale=style_scale, seed=seed,
                         device=device, max_memory=max_memory)
    result.save(out)
    if not quiet:
        h, w = result.image.shape[-2:]
        click.echo(f"wrote {out} ({w} x {h} px, {result.evals} evaluations, {result.seconds_optimize:.1f} s)", err=True)
    exit_if_stopped(bar, str(out))
