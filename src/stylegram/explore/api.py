"""The explorer's high-level API: one call per question a user asks of a net."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import ConfigError, check_seed, whole
from ..nets.features import split_layers
from ..types import Iterate
from .render import write_report
from .scan import UnitScan, scan_units

if TYPE_CHECKING:  # Pillow is imported where pictures are made
    from PIL import Image

    from ..nets.features import FeatureNet
    from .gram import LayerGram
    from ..nets.hooked import HookedNet
    from .reconstruct import Reconstruction

    Net = str | FeatureNet | HookedNet  # a registry name or a net object
    ImageSource = str | os.PathLike | Image.Image | torch.Tensor

DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def resolve_net(net: Net, layers: str | Sequence[str], *, pooling: str = "max", weights: str | None = None,
                seed: int = 0) -> FeatureNet | HookedNet:
    """A FeatureNet from a registry name (truncated after the deepest of ``layers``, a list or a
    comma-separated string), or ``net`` itself (a FeatureNet / HookedNet) after checking ``layers``."""
    layers = split_layers(layers)
    if not layers:
        raise ConfigError("no layers given; name at least one, e.g. relu1_1")
    if isinstance(net, str):
        from ..nets import build_net
        from ..nets.registry import default_registry
        reg = default_registry()
        if reg.get(net).dims != 2:  # a sound bank or a 3D net would fail deep in torch on a picture
            image_nets = [n for n in reg.names() if reg.get(n).dims == 2 and reg.get(n).layers]
            raise ConfigError(f"net {net!r} works on {reg.get(net).dims}D data; the explorer looks at images: use "
                              f"{', '.join(image_nets)}")
        return build_net(net, layers=list(layers), pooling=pooling, weights=weights, seed=seed)
    if getattr(net, "dims", 2) != 2:
        raise ConfigError(f"net {getattr(net, 'name', type(net).__name__)!r} works on {net.dims}D data; the "
                          "explorer looks at images (a 2D net)")
    if not hasattr(net, "info"):
        raise ConfigError(f"net of type {type(net).__name__}: give a net name, a FeatureNet, or wrap a model "
                          "with stylegram.explore.HookedNet(model, layers)")
    if hasattr(net, "check_layers"):
        net.check_layers(layers)
    return net


def explore_units(images: str | os.PathLike | Sequence[str], out_dir: str | os.PathLike | None = None, *,
                  net: Net = "vgg16-hed", layers: str | Sequence[str] = DEFAULT_LAYERS, size: int = 224, batch_size: int = 16,
                  k: int = 9, per_image: int = 1, min_inside: float = 0.5, precision: str = "auto", rule: str = "selective",
                  n_units: int = 9, seed: int = 0, indices: dict[str, Sequence[int]] | None = None,
                  patch_px: int = 64, all_units: bool = True, cache: str | os.PathLike | None = None,
                  threads: int | None = None, root: str | os.PathLike | None = None,
                  callback: Callable[[Iterate], "bool | None"] | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> tuple[UnitScan, dict | None]:
    """Scan ``images`` (a folder, searched recursively, or a list of paths) with ``net`` (a name, a
    FeatureNet or a HookedNet) and, if ``out_dir`` is given, write the sheets and HTML report there.

    ``layers``: a list of names or one comma-separated string ('relu1_1,relu2_1').
    Each image is seen as a centre ``size`` x ``size`` px square, RGB in 0..1. See ``scan_units`` for the scan's
    options and ``write_report`` for the rendering ones. Returns (scan, report summary or None:
    no ``out_dir``, or a scan the callback stopped, which ``cache`` resumes).
    """
    # these before the scan, which may take long
    size, batch_size, k, per_image, n_units, patch_px = (whole(n, v) for n, v in (
        ("size", size), ("batch_size", batch_size), ("k", k), ("per_image", per_image), ("n_units", n_units),
        ("patch_px", patch_px)))
    if n_units < 1:  # a sheet of no units failed after the whole scan
        raise ConfigError(f"n_units {n_units}: must be 1 or more units per sheet")
    check_seed(seed)
    if out_dir is not None:
        from ..io.image import check_writable
        from .render import check_patch_px
        check_patch_px(patch_px)
        # one that cannot take the report is refused now, not after the scan (and not made: a
        # stopped scan draws nothing)
        check_writable(out_dir, folder=True, parents=True)
    if threads is not None and (whole("threads", threads) < 1):
        raise ConfigError(f"threads {threads!r}: must be 1 or more (or not given, for torch's default)")
    # ``seed`` picks units (rule 'random'), not weights: a random net is seed 0's here, as every other
    # explore command builds it, so a scan and `explore gram --scan` see the same net
    layers = split_layers(layers)
    fnet = resolve_net(net, layers)
    for layer, picked in (indices or {}).items():  # before the scan, which may take an hour
        n = fnet.info[layer].channels if layer in fnet.info else None
        bad = [i for i in picked if n is not None and not 0 <= i < n]
        if bad:
            raise ConfigError(f"unit {bad[0]} does not exist; layer {layer} has units 0..{n - 1}")
    before = torch.get_num_threads()
    try:
        if threads is not None:  # torch's thread count is the process's: set for the scan only
            torch.set_num_threads(int(threads))
        scan = scan_units(fnet, images, layers, size=size, batch_size=batch_size, k=k, per_image=per_image,
                          min_inside=min_inside, precision=precision, cache=cache, callback=callback, root=root)
    finally:
        torch.set_num_threads(before)
    summary = None
    if out_dir is not None and scan.complete:  # a stopped scan is resumed from its cache, not drawn
        summary = write_report(scan, out_dir, rule=rule, n_units=n_units, seed=seed, indices=indices,
                               patch_px=patch_px, all_units=all_units, progress=progress)
    return scan, summary


def _load(src: ImageSource, size: int | None, name: str, net: object, layers: Sequence[str],
          device: str | torch.device = "cpu") -> torch.Tensor:
    """Load an image for ``net``, refusing (one line) one too small for ``layers``."""
    from ..io.image import load_image
    if size is not None and whole("size", size) < 1:
        raise ConfigError(f"size {size!r}: must be a positive number of px")
    x = load_image(src, size, name=name)
    label = src if isinstance(src, (str, os.PathLike)) else name
    check = getattr(net, "check_input_size", None)  # FeatureNet and HookedNet have it (TapChecks)
    if check is not None:
        if size is None:  # its own size: no --size to raise (the line said "at --size None")
            check(x.shape[-2:], layers, f"{label}: the {name}", "give a larger image, or a size to enlarge it to")
        else:
            check(x.shape[-2:], layers, f"{label}: at --size {size} the {name}",
                  "crop it to a less extreme aspect ratio or raise --size")
    return x.to(device)


def explore_activations(image: ImageSource, layer: str, *, net: Net = "vgg16-hed", size: int | None = 256,
                        channels: Sequence[int] | None = None, cols: int | None = None, norm: str = "channel",
                        tile: int | None = 48) -> tuple[torch.Tensor, np.ndarray]:
    """Channel maps of one ``image`` (path, PIL image or tensor (3, H, W) / (1, 3, H, W) in 0..1;
    longest side ``size`` px, None: its own size) at ``layer``.
    Returns (maps (C, h, w) float32, the layer's activations; grid uint8 (H, W, 3), the maps tiled
    about ``tile`` px each, see ``activation_grid``)."""
    from .activations import activation_grid, activation_maps
    fnet = resolve_net(net, [layer])
    maps = activation_maps(_load(image, size, "image", fnet, [layer]), fnet, layer)
    return maps, activation_grid(maps, channels=channels, cols=cols, norm=norm, tile=tile)


def explore_gram(style: ImageSource, *, net: Net = "vgg16-hed", layers: str | Sequence[str] = DEFAULT_LAYERS,
                 size: int | None = 256, generated: ImageSource | None = None,
                 scan: UnitScan | str | os.PathLike | None = None,
                 n_pairs: int = 6, patch_px: int = 40) -> tuple[dict[str, LayerGram], dict[str, Image.Image]]:
    """The Gram view of a style image (path, PIL image or tensor (3, H, W) / (1, 3, H, W) in 0..1;
    ``generated`` likewise; longest side ``size`` px, None: its own size; see
    ``gram.gram_view``) and its figures at ``layers`` (a list or a comma-separated string). ``scan``: a UnitScan
    (or its cache file) of the same net whose top patches illustrate each channel of a pair.
    Returns ({layer: LayerGram}, {figure name: PIL image})."""
    from .gram import gram_figures, gram_view
    from ..nets.registry import default_registry
    layers = split_layers(layers)  # a comma-separated string too
    if isinstance(scan, (str, os.PathLike)):
        scan = UnitScan.load(scan)
    built = layers
    if scan is not None and isinstance(net, str) and default_registry().name_of(scan.net_name) == net:
        # a scan of this net: build it once, as deep as the scan's layers too, whose weights are
        # checked below (a net cut after the gram's layers alone was built again for them)
        built = [*layers, *(l for l in scan.layers if l not in layers)]
    fnet = resolve_net(net, built)
    s = _load(style, size, "style", fnet, layers)
    g = _load(generated, size, "generated", fnet, layers) if generated is not None else None
    if scan is not None and scan.net_name != getattr(fnet, "name", scan.net_name):
        made_with = default_registry().name_of(scan.net_name)
        fix = f"use --net {made_with}" if made_with else "give the net it was made with"
        raise ConfigError(f"the scan was made with net {scan.net_name!r}, not {fnet.name!r}; {fix}")
    if scan is not None and scan.weights_sha256:
        # the same name with other weights (--weights, a retrained model) would show another
        # net's top patches for each channel: the net as the scan cut it must hash the same
        from .scan import weights_sha256
        if weights_sha256(resolve_net(fnet, list(scan.layers)), list(scan.layers)) != scan.weights_sha256:
            raise ConfigError(f"the scan was made with other weights for net {scan.net_name!r}; give the weights it "
                              "was made with (--weights), or scan again")
    views = gram_view(s, fnet, list(layers), generated=g, n_pairs=n_pairs)
    return views, gram_figures(views, s, scan=scan, patch_px=patch_px)


def explore_reconstruct(image: ImageSource, *, net: Net = "vgg16-hed", size: int | None = 128, kind: str = "relu",
                        blocks: int = 5, layers: str | Sequence[str] | None = None, iters: int = 200,
                        optimizer: str = "lbfgs", seed: int = 0, tile: int = 200,
                        callback: Callable[[str, Iterate], "bool | None"] | None = None,
                        ) -> tuple[dict[str, list[Reconstruction]], Image.Image]:
    """Gatys et al.'s Figure 1 for ``image`` (path, PIL image or tensor (1, 3, H, W) in 0..1;
    longest side ``size`` px, None: its own size; ``tile``: each picture's longest side in the
    figure, px): content reconstructions from each of ``layers`` and style reconstructions from
    {layers[0]}, {layers[0], layers[1]}, ...

    ``layers``: shallow to deep (a list or a comma-separated string), any of the net's layer names
    (a HookedNet's taps, the layers of a FeatureNet of your own); default: kind1_1 ...
    kind{blocks}_1, VGG's names (``kind`` and ``blocks`` only choose this default). Returns ({'content': [...], 'style': [...]}, each a list
    of Reconstruction with images (1, 3, h, w), and the figure as a PIL image)."""
    from .reconstruct import figure_layers, reconstruction_figure, reconstructions
    blocks, iters, tile = (whole(n, v) for n, v in (("blocks", blocks), ("iters", iters), ("tile", tile)))
    size = None if size is None else whole("size", size)  # None: the image at its own size
    if iters < 0:
        raise ConfigError(f"iters {iters}: must be 0 or more")
    check_seed(seed)
    if layers is None:
        content, _ = figure_layers(kind, blocks)
        _check_blocks(net, kind, blocks)
    else:
        content = split_layers(layers)
        if not content:
            raise ConfigError("no layers given; name at least one of the net's layers, shallow to deep")
    fnet = resolve_net(net, content)
    x = _load(image, size, "image", fnet, content)
    rows = reconstructions(x, fnet, layers=content, iters=iters, optimizer=optimizer, seed=seed, callback=callback)
    return rows, reconstruction_figure(x, rows, tile=tile)


def _check_blocks(net: Net, kind: str, blocks: int) -> None:
    """ConfigError, naming the range, when ``net`` has fewer than ``blocks`` blocks (kind1_1 to
    kind{blocks}_1), or none (its layers are named otherwise: a HookedNet, a user's FeatureNet),
    checked before the net is built."""
    if isinstance(net, str):
        from ..nets.registry import default_registry
        spec = default_registry().get(net)
        valid, name, dims = spec.layers or (), net, spec.dims
    else:
        valid, dims = getattr(net, "layer_names", ()), getattr(net, "dims", 2)
        name = getattr(net, "name", type(net).__name__)
    if dims != 2:  # resolve_net's line says the explorer wants an image net, which no layer names would fix
        return
    deepest = max((b for b in range(1, 100) if f"{kind}{b}_1" in valid), default=0)
    if deepest == 0 and valid:
        # an unknown-layer line here listed the net's names but not that the default was the
        # problem, nor the option that replaces it
        shown = ", ".join(list(valid)[:40]) + (", ..." if len(valid) > 40 else "")
        raise ConfigError(f"net {name!r} has no layer {kind}1_1 (the default layers {kind}1_1 to {kind}{blocks}_1 are "
                          f"VGG's names); name the layers to use, shallow to deep, with layers= (CLI: --layers); "
                          f"this net has: {shown}")
    if 0 < deepest < blocks:
        raise ConfigError(f"blocks {blocks}: net {name!r} has blocks 1 to {deepest} ({kind}1_1 to {kind}{deepest}_1); "
                          f"give at most {deepest}")
