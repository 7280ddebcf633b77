"""The explorer's high-level API: one call per question a user asks of a net."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch

from ..errors import ConfigError
from ..types import Iterate
from .render import write_report
from .scan import UnitScan, scan_units

DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def resolve_net(net, layers: Sequence[str], *, pooling: str = "max", weights: str | None = None, seed: int = 0):
    """A FeatureNet from a registry name (truncated after the deepest of ``layers``), or ``net``
    itself (a FeatureNet / HookedNet) after checking ``layers``."""
    if isinstance(net, str):
        from ..nets import build_net
        return build_net(net, layers=list(layers), pooling=pooling, weights=weights, seed=seed)
    if not hasattr(net, "info"):
        raise ConfigError(f"net of type {type(net).__name__}: give a net name, a FeatureNet, or wrap a model "
                          "with stylegram.explore.HookedNet(model, layers)")
    if hasattr(net, "check_layers"):
        net.check_layers(layers)
    return net


def explore_units(images: str | os.PathLike | Sequence[str], out_dir: str | os.PathLike | None = None, *,
                  net="vgg16-hed", layers: Sequence[str] = DEFAULT_LAYERS, size: int = 224, batch_size: int = 16,
                  k: int = 9, per_image: int = 1, min_inside: float = 0.5, precision: str = "fp32", rule: str = "selective",
                  n_units: int = 9, seed: int = 0, indices: dict[str, Sequence[int]] | None = None,
                  patch_px: int = 64, all_units: bool = True, cache: str | os.PathLike | None = None,
                  threads: int | None = None, root: str | os.PathLike | None = None,
                  callback: Callable[[Iterate], "bool | None"] | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> tuple[UnitScan, dict | None]:
    """Scan ``images`` (a folder, searched recursively, or a list of paths) with ``net`` (a name, a
    FeatureNet or a HookedNet) and, if ``out_dir`` is given, write the sheets and HTML report there.

    Each image is seen as a centre ``size`` x ``size`` square. See ``scan_units`` for the scan's
    options and ``write_report`` for the rendering ones. Returns (scan, report summary or None).
    """
    if threads:
        torch.set_num_threads(int(threads))
    fnet = resolve_net(net, layers, seed=seed)
    scan = scan_units(fnet, images, layers, size=size, batch_size=batch_size, k=k, per_image=per_image, min_inside=min_inside,
                      precision=precision, cache=cache, callback=callback, root=root)
    summary = None
    if out_dir is not None:
        summary = write_report(scan, out_dir, rule=rule, n_units=n_units, seed=seed, indices=indices,
                               patch_px=patch_px, all_units=all_units, progress=progress)
    return scan, summary
