"""`stylegram explore ...`: argument parsing -> explore API -> files. No maths here."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import ConfigError

_LAYERS = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"


def _split(s: str) -> list[str]:
    return [p.strip() for p in s.split(",") if p.strip()]


def _indices(s: str | None, option: str = "--units", what: str = "unit") -> list[int] | None:
    if not s:
        return None
    try:
        picked = [int(v) for v in _split(s)]
    except ValueError:
        picked = []
    if not picked:  # " , " split to nothing, and an empty list reached torch as min() of nothing
        raise ConfigError(f"{option} {s!r}: give {what} indices separated by commas, e.g. 0,5,17")
    return picked


def _out_dir(path: str) -> Path:
    """The output folder, made here (not the folders above it) and checked to take files, before
    any work: one line if it cannot be (a file of that name, no permission, read-only)."""
    from ..io.image import make_folder
    return make_folder(path)


class _Bar:
    """A rich progress bar for stages with a known total. Started on the first event, so that an
    error raised while loading inputs prints as its one line, with no empty bar before it."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.progress = None
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        return self

    def __call__(self, stage: str, done: int, total: int, note: str = "") -> None:
        if self.quiet:
            return
        if self.progress is None:
            from ..cli import rich_progress  # here: stylegram.cli imports this module
            self.progress = rich_progress("note")
            self.progress.__enter__()
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total, note=note)
        self.progress.update(self.tasks[stage], completed=done, total=total, note=note)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)


def _net_option(f):
    """--net and --weights (a weights file for vgg16 / vgg19 where they cannot be downloaded)."""
    f = click.option("--weights", default=None, type=click.Path(dir_okay=False),
                     help="weights file for --net vgg16 or vgg19 (.pth, .safetensors, .h5) instead of the download")(f)
    return click.option("--net", default="vgg16-hed", show_default=True, help="feature net (see `stylegram nets`)")(f)


def _net(net: str, weights: str | None):
    """The --net name, or with --weights the net built from that file (the explorer takes either)."""
    if weights is None:
        return net
    from ..nets import build_net
    return build_net(net, weights=weights)
_quiet_option = click.option("-q", "--quiet", is_flag=True,
                             help="no progress bar and no summary line (errors and warnings still print)")


@click.group("explore")
def explore() -> None:
    """See what the units and layers of a ConvNet respond to."""


@explore.command("units")
@_net_option
@click.option("--layers", default=_LAYERS, show_default=True, help="layers to scan, comma-separated")
@click.option("--images", required=True, type=click.Path(file_okay=False), help="folder of images (searched recursively)")
@click.option("-o", "--output", required=True, type=click.Path(), help="output folder (sheets, units/, index.html, scan cache)")
@click.option("--size", default=224, show_default=True, help="each image is seen as its centre SIZE x SIZE px square")
@click.option("--batch-size", default=16, show_default=True, help="images per forward pass")
@click.option("--top", "k", default=9, show_default=True, help="top activations kept per unit")
@click.option("--per-image", default=1, show_default=True, help="at most this many of a unit's top patches from one image")
@click.option("--min-inside", default=0.5, show_default=True,
              help="rank only map positions whose field lies at least this fraction (area) inside the image "
                   "(the same positions for every unit)")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="bf16 autocast is about twice as fast on CPUs with bf16 units; auto uses it where native")
@click.option("--rule", type=click.Choice(["selective", "strongest", "random"]), default="selective", show_default=True,
              help="which units the sheets show (ignored with --units)")
@click.option("--units", default=None, help="unit indices for the sheets, comma-separated (same for every layer)")
@click.option("--n-units", default=9, show_default=True, help="units per sheet")
@click.option("--seed", default=0, show_default=True, help="seed for --rule random, 0 to 2^32-1")
@click.option("--patch-px", default=64, show_default=True, help="side of each patch in the sheets and report")
@click.option("--sheets-only", is_flag=True, help="HTML shows only the sheets' units, not every unit")
@click.option("--cache", default=None, type=click.Path(dir_okay=False),
              help="scan cache to resume from and save to [default: OUTPUT/scan.safetensors]")
@click.option("--threads", default=None, type=int, help="CPU threads for torch")
@_quiet_option
def units_cmd(net: str, weights: str | None, layers: str, images: str, output: str, size: int, batch_size: int, k: int, per_image: int, min_inside: float,
              precision: str, rule: str, units: str | None, n_units: int, seed: int, patch_px: int,
              sheets_only: bool, cache: str | None, threads: int | None, quiet: bool) -> None:
    """Top image patches of every unit of LAYERS over a folder of images, as sheets and an HTML report."""
    from .api import explore_units

    from ..cli import StopSignals

    # the scan's own check said "top-k needs k >= 1 and per_image >= 1, got k=0, ...": no --k here
    if k < 1:
        raise ConfigError(f"top {k}: must be 1 or more activations kept per unit")
    if per_image < 1:
        raise ConfigError(f"per_image {per_image}: must be 1 or more patches of a unit from one image")
    out = _out_dir(output)
    layer_list = _split(layers)
    idx = _indices(units)
    cache_path = Path(cache) if cache else out / "scan.safetensors"
    # The first Ctrl-C (or SIGTERM) ends the scan cleanly: what it has is saved to the cache, which
    # the same command resumes; a second Ctrl-C aborts at once.
    with StopSignals() as stop, _Bar(quiet) as bar:
        def cb(ev):
            bar("scanning", ev.iter, ev.iters, ev.note)
            return stop.requested
        scan, summary = explore_units(images, out, net=_net(net, weights), layers=layer_list, size=size, batch_size=batch_size, k=k,
                                      per_image=per_image, min_inside=min_inside, precision=precision, rule="indices" if idx else rule,
                                      n_units=n_units, seed=seed, indices={l: idx for l in layer_list} if idx else None,
                                      patch_px=patch_px, all_units=not sheets_only,
                                      cache=cache_path, threads=threads, callback=cb,
                                      progress=lambda s, d, n: bar(s, d, n))
    from ..cli import counted
    if not scan.complete:
        # files, not images: the unreadable ones are among them (as the report's "stopped after 2 of the 6 files")
        click.echo(f"stylegram: stopped after {scan.done} of {counted(len(scan.files), 'file')}: the scan so far is "
                   f"saved in {cache_path}; the same command continues it", err=True)
        sys.exit(130)
    if not quiet:
        # the images the net saw, and beside them the unreadable files (they were counted among the
        # images: "scanned 11 images (1 unreadable, skipped)" for 10)
        names = ", ".join(scan.skipped[:3]) + (f" and {len(scan.skipped) - 3} more" if len(scan.skipped) > 3 else "")
        notes = [f"{scan.resumed} of them from the cache {cache_path}"] if scan.resumed else []
        notes.append(f"{counted(len(scan.skipped), 'unreadable file')} skipped: {names}" if scan.skipped
                     else "no file skipped")
        click.echo(f"scanned {counted(scan.seen, 'image')} ({'; '.join(notes)}) in {scan.seconds:.1f} s; "
                   f"wrote {summary['html']}", err=True)


def _save_png(img, path: Path) -> None:
    from PIL import Image

    from ..io.image import save_image
    save_image(img if isinstance(img, Image.Image) else Image.fromarray(img), path)


@explore.command("activations")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--layer", required=True, help="layer whose channel maps to show, e.g. relu2_1")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output image (.png, ...)")
@_net_option
@click.option("--size", default=256, show_default=True, help="longest side of the image, px")
@click.option("--channels", default=None, help="channel indices to show, comma-separated (default: all)")
@click.option("--cols", default=None, type=int, help="maps per row (default: a square grid)")
@click.option("--norm", type=click.Choice(["channel", "layer"]), default="channel", show_default=True,
              help="scale each map to its own maximum, or all to the layer's")
@click.option("--tile", default=48, show_default=True, help="enlarge each map to about this many px")
@_quiet_option
def activations_cmd(image: str, layer: str, output: str, net: str, weights: str | None, size: int, channels: str | None, cols: int | None,
                    norm: str, tile: int, quiet: bool) -> None:
    """The channel maps of one IMAGE at one layer, as a grid."""
    from ..io.image import check_output_path
    from .api import explore_activations
    out = check_output_path(output, [image])
    picked = _indices(channels, "--channels", "channel")
    from .activations import activation_figure
    maps, grid = explore_activations(image, layer, net=_net(net, weights), size=size, channels=picked, cols=cols,
                                     norm=norm, tile=tile)
    # the saved picture names the layer and the image and says what the colours mean
    shown = len(picked) if picked is not None else maps.shape[0]
    title = f"{layer} of {Path(image).name}: {shown} channel maps of {maps.shape[2]} x {maps.shape[1]}, channel index top left"
    _save_png(activation_figure(maps, grid, title=title, norm=norm, channels=picked), out)
    if not quiet:
        from ..cli import counted
        click.echo(f"wrote {out} ({counted(shown, 'map')} of {maps.shape[2]} x {maps.shape[1]})", err=True)  # w x h


@explore.command("gram")
@click.argument("style", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(), help="output folder")
@_net_option
@click.option("--layers", default=_LAYERS, show_default=True, help="style layers, comma-separated")
@click.option("--size", default=256, show_default=True, help="longest side of the images, px")
@click.option("--generated", default=None, type=click.Path(dir_okay=False), help="a generated image: also show the difference")
@click.option("--scan", default=None, type=click.Path(dir_okay=False),
              help="scan.safetensors from `explore units` with the same net: shows each channel's top patches")
@click.option("--pairs", default=6, show_default=True, help="most correlated channel pairs to show per layer")
@_quiet_option
def gram_cmd(style: str, output: str, net: str, weights: str | None, layers: str, size: int, generated: str | None, scan: str | None,
             pairs: int, quiet: bool) -> None:
    """Style matrices of STYLE as heatmaps, their most correlated channel pairs and where they fire."""
    from ..report import write_json
    from .api import explore_gram
    from .scan import UnitScan
    out = _out_dir(output)
    layer_list = _split(layers)
    scan_obj = UnitScan.load(scan) if scan is not None else None
    views, figs = explore_gram(style, net=_net(net, weights), layers=layer_list, size=size, generated=generated,
                               scan=scan_obj, n_pairs=pairs)
    missing = [l for l in layer_list if scan_obj is not None and l not in scan_obj.layers]
    if missing and pairs > 0:
        # the pairs of a layer the scan lacks show each channel's map on the style image instead of
        # its top patches, which --scan was given for; the figures said so only in their labels
        click.echo(f"stylegram: warning: the scan {scan} holds no {', '.join(missing)} (it holds "
                   f"{', '.join(scan_obj.layers)}): the pairs of {'that layer' if len(missing) == 1 else 'those layers'} "
                   f"show each channel's map on the style image, not its top patches; scan "
                   f"{'it' if len(missing) == 1 else 'them'} with `stylegram explore units --layers ...` to see them",
                   err=True)
    for name, fig in figs.items():
        _save_png(fig, out / f"{name}.png")
    write_json({l: {"pairs": v.pairs, "order": v.order.tolist(), "style_loss": v.style_loss}
                for l, v in views.items()}, out / "gram.json")
    if not quiet:
        from ..cli import counted
        click.echo(f"wrote {counted(len(figs), 'figure')} and gram.json to {out}", err=True)


@explore.command("reconstruct")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output figure (.png, ...)")
@_net_option
@click.option("--size", default=128, show_default=True, help="longest side of the reconstructions, px")
@click.option("--iters", default=200, show_default=True, help="optimizer iterations per reconstruction")
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam", "gd"]), default="lbfgs", show_default=True)
@click.option("--kind", type=click.Choice(["relu", "conv"]), default="relu", show_default=True,
              help="match reluN_1 (Gatys's Caffe conv blobs are rectified in place) or the pre-ReLU convN_1")
@click.option("--blocks", default=5, show_default=True, help="how many layers per row (1_1 .. N_1)")
@click.option("--layers", default=None,
              help="layers to reconstruct from, comma-separated, shallow to deep, for a net not named like VGG "
                   "[default: KIND1_1 .. KINDBLOCKS_1]")
@click.option("--seed", default=0, show_default=True, help="seed of the starting noise, 0 to 2^32-1")
@_quiet_option
def reconstruct_cmd(image: str, output: str, net: str, weights: str | None, size: int, iters: int, optimizer: str, kind: str, blocks: int,
                    layers: str | None, seed: int, quiet: bool) -> None:
    """Gatys et al.'s Figure 1: reconstruct IMAGE from noise by matching only the content of one
    layer (top row) or only the style of growing sets of layers (bottom row)."""
    from ..cli import StopSignals
    from ..io.image import check_output_path
    from .api import explore_reconstruct
    out = check_output_path(output, [image])
    with StopSignals() as stop, _Bar(quiet) as bar:
        def progress(label: str, ev) -> bool:
            bar(label, ev.iter, ev.iters)
            return stop.requested  # Ctrl-C / SIGTERM: finish every panel at once, keep the figure
        _, fig = explore_reconstruct(image, net=_net(net, weights), size=size, kind=kind, blocks=blocks,
                                     layers=None if layers is None else _split(layers), iters=iters,
                                     optimizer=optimizer, seed=seed, callback=progress)
    _save_png(fig, out)
    if stop.requested:
        click.echo(f"stylegram: stopped early: wrote the figure so far to {out}", err=True)
        sys.exit(130)
    if not quiet:
        click.echo(f"wrote {out}", err=True)
