"""Texture synthesis (Gatys, Ecker & Bethge 2015): an image with the style's statistics and no
content, grown coarse-to-fine from noise. ``tileable`` uses circular padding throughout (the
net's convolutions and the pyramid's upsampling), so the texture wraps around without a seam."""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

import torch

from .errors import ConfigError
from .nets import FeatureNet, HookedNet
from .optimize import Callback
from .presets import TEXTURE_DEFAULTS
from .printsize import size_options
from .transfer import (MemoryEstimate, TransferConfig, TransferResult, _as_list, _stylize, check_option_names,
                       run_inputs, with_feature_net)


def texture(style: Any, *, size: int | None = None, tileable: bool = False, config: TransferConfig | None = None,
            callback: Callback | None = None, feature_net: FeatureNet | HookedNet | None = None,
            on_estimate: Callable[[MemoryEstimate], None] | None = None, **options: Any) -> TransferResult:
    """Synthesize a ``size`` x ``size`` px texture from ``style`` (path, PIL image or tensor
    (3, H, W) / (1, 3, H, W) in 0..1; or a
    list of them, blended by ``style_blend``). ``options`` are TransferConfig fields; the style
    ones apply (style_layers, style_loss, style_scale, iters, optimizer, seed, ...). With
    ``tileable`` the sides are rounded to a multiple of the net's deepest stride (16 px for VGG).
    ``size`` defaults to the config's (512 px without one); or give ``print_size`` (e.g. '30cm',
    '12in', 'A3': the side as printed) and ``dpi`` (dots per inch, default 300), which set it and
    the output file's resolution (``dpi`` alone only tags the file). ``on_estimate``: as ``transfer``'s
    (the run's memory estimate, before any work at its size). Returns a TransferResult with the image (1, 3, H, W) in 0..1."""
    t0 = time.perf_counter()
    base = config or TransferConfig(**TEXTURE_DEFAULTS)
    if not isinstance(tileable, bool):
        raise ConfigError(f"tileable {tileable!r}: must be True or False")
    check_option_names(options)
    options = size_options({**options, **({"size": size} if size is not None else {})})
    cfg = dataclasses.replace(base, **options).validated()
    cfg = with_feature_net(cfg, feature_net)
    blank = torch.full((1, 3, cfg.size, cfg.size), 0.5)
    styles = _as_list(style)
    inputs = run_inputs(cfg, styles)  # hashed as read, before a long run
    result = _stylize(blank, styles, cfg, callback=callback, net=feature_net, t_start=t0, content_weight=False,
                      circular=tileable, on_estimate=on_estimate)
    result.inputs = inputs
    result.task = {"command": "texture", "tileable": tileable}
    return result


def texture_settings(path: str | os.PathLike) -> tuple[TransferConfig, bool]:
    """The options of an earlier texture and whether it tiled, from its output PNG or JPEG or its
    report JSON: ``cfg, tileable = texture_settings('tex.png')``, then
    ``texture(style, config=cfg, tileable=tileable, size=2048)`` makes the same texture larger.
    One-line errors as ``TransferConfig.from_run``; a file from before tiling was recorded
    counts as not tileable."""
    config, task = TransferConfig.from_run_with_task(path, command="texture")
    return config, task.get("tileable", False) is True
