"""The options of a style transfer: ``TransferConfig`` (every option, its default and its help
text) and the tables of names its options take, with their checks. Free of torch: the CLI builds
`stylegram transfer --help` from these fields (0.07 s, where importing the engine took over a
second), and ``stylegram.transfer`` re-exports ``TransferConfig``, so ``stylegram.TransferConfig``,
``stylegram.transfer.TransferConfig`` and this one are the same class. The engine modules take
their tables from here (``optimize.OPTIMIZERS``, ``losses.CONTENT_NORMS``, ...): one list each.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .errors import ConfigError, check_lr, check_seed, check_weight, choices_error
from .presets import PRESETS as _PRESETS
from .printsize import DPI_HELP, PRINT_HELP, PRINT_METAVAR

# The names each option takes (the engine's modules import them from here).
OPTIMIZERS = ("lbfgs", "adam", "gd")
CONTENT_NORMS = ("sum", "mean", "course", "relative", "centered", "correlation")
PRECISIONS = ("auto", "fp32", "bf16")
PRESERVE_COLOR = ("none", "luminance", "histogram")
STYLE_LOSSES = ("gram", "w2", "swd")
# How a style layer's loss is weighted. course: beta * lambda_l times the course's J_style[l], whose
# 1/(2 nH nW nC)^2 leaves the layers' losses orders of magnitude apart (tubingen against Starry
# Night at 256 px, at the content image: relu1_1 1e5, relu2_1 6e5, relu3_1 2e4, relu4_1 1e3,
# relu5_1 50), so with equal lambdas the deep layers, which carry the painting's larger strokes,
# hardly count. relative: each layer's loss is divided by its loss for a blank (all-zero)
# activation - |target|^2 for Gram, about (|mean|^2 + tr(cov)) / nC for W2 - so lambda_l is the
# layer's true share, and beta does not depend on the style image's contrast.
# distance: each layer's loss is the square root of its loss (a distance, not its square), divided
# by that distance for the content photo, so lambda_l weighs the share of the way from the photo
# to the painting that the layer still has to go; the square root keeps pulling a layer that is
# nearly matched, where a squared loss leaves it to the layers that are still far.
STYLE_NORMS = ("course", "relative", "distance")
PRESET_NAMES = tuple(_PRESETS)

INITS = ("content", "noise", "blend")
COMPILE_MODES = ("off", "on", "graphs")
DEFAULT_STYLE_LAYERS = (("relu1_1", 0.2), ("relu2_1", 0.2), ("relu3_1", 0.2), ("relu4_1", 0.2), ("relu5_1", 0.2))


def _opt(default: Any, help: str, **kw) -> Any:
    return field(default=default, metadata={"help": help, **kw})


# What a scalar field takes from the Python API (numpy scalars and paths included), what it is
# stored as, and how the error names it. Layer lists, blends and regions parse their own forms.
_SCALARS = {"int": (numbers.Integral, int, "a whole number"), "float": (numbers.Real, float, "a number"),
            "str": ((str, os.PathLike), str, "a string"), "bool": (bool, bool, "True or False")}


def parse_layer_weights(spec: str | Sequence[str] | Mapping[str, float]) -> dict[str, float]:
    """'relu1_1:0.2,relu2_1' or ['relu1_1', ...] or {name: w} -> {name: weight} (default weight 1)."""
    if isinstance(spec, Mapping):
        try:
            out = {str(k): float(v) for k, v in spec.items()}
        except (TypeError, ValueError):
            raise ConfigError(f"layer weights {dict(spec)!r}: each weight must be a number") from None
    else:
        items = spec.split(",") if isinstance(spec, str) else list(spec) if isinstance(spec, Sequence) else None
        if items is None or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"layers {spec!r}: give names with weights, e.g. 'relu1_1:0.2,relu2_1:0.2', "
                              "a list of names or a dict {name: weight}")
        out = {}
        for item in items:
            item = item.strip()
            if not item:
                continue
            name, _, w = item.partition(":")
            if name.strip() in out:  # a dict would keep the last silently: which did the user mean?
                raise ConfigError(f"layer {name.strip()!r} is given twice in {spec!r}; give each layer once")
            try:
                out[name.strip()] = float(w) if w else 1.0
            except ValueError:
                raise ConfigError(f"layer weight {item!r}: {w!r} is not a number; write layer:weight, e.g. relu1_1:0.2") from None
    if not out:
        raise ConfigError("no layers given; write e.g. relu1_1:0.2,relu2_1:0.2")
    for name, w in out.items():
        check_weight(f"layer weight of {name}", w)
    return out


def check_strength(mode: str, strength: float) -> None:
    """ConfigError (one line) unless ``mode`` is a --preserve-color mode and 0 <= strength <= 1."""
    if mode not in PRESERVE_COLOR:
        raise choices_error("--preserve-color mode", mode, PRESERVE_COLOR)
    if not 0.0 <= float(strength) <= 1.0:
        raise ConfigError(f"colour strength {strength}: must be between 0 and 1")


def check_blend(blend: Sequence[float], n_styles: int, settings: str | os.PathLike | None = None) -> None:
    """ConfigError (one line) unless ``blend`` is empty (equal weights) or has one weight per style
    image. ``settings``: the --settings file the blend came from, not typed on this command line;
    the message then names that file and the fix, where the blend's own would speak of an option
    nobody typed."""
    if not blend or len(blend) == n_styles:
        return
    weights = f"{n_styles} weight{'s' * (n_styles != 1)}"
    if settings is not None:
        raise ConfigError(f"--settings {settings}: its blend of {len(blend)} style images does not fit the "
                          f"{n_styles} given here; give {len(blend)}, or --style-blend with {weights} ('' for equal ones)")
    raise ConfigError(f"style_blend (--style-blend) has {len(blend)} weight{'s' * (len(blend) != 1)} for "
                      f"{n_styles} style image{'s' * (n_styles != 1)}; give one per style image")


def _short(value: object) -> str:
    """A value for a one-line message: its repr, or for a tensor or array (a mask given as pixels)
    its type and shape instead of hundreds of numbers."""
    if getattr(value, "ndim", 0) > 0 and not isinstance(value, (str, bytes)):  # numpy scalars: their value
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _resolve_print(cfg: "TransferConfig") -> "TransferConfig":
    """``cfg`` with ``size`` set from ``print_size`` and ``dpi`` (DEFAULT_DPI where none is given),
    the print size in its canonical form ('a3' -> 'A3'); ``cfg`` itself when that changes nothing.
    ConfigError, one line, for a print size, dpi or resulting size that cannot be used."""
    from .printsize import DEFAULT_DPI, check_dpi, describe, parse_print, px_of
    if cfg.print_size is None and cfg.dpi is None:
        return cfg
    dpi = check_dpi(cfg.dpi) if cfg.dpi is not None else DEFAULT_DPI
    if cfg.print_size is None:
        return cfg if dpi == cfg.dpi else dataclasses.replace(cfg, dpi=dpi)
    label, mm = parse_print(cfg.print_size)
    size = px_of(mm, dpi)
    if size < 16:
        raise ConfigError(f"{describe(label, dpi)}, below 16 px; give a larger --print or a higher --dpi")
    if (label, dpi, size) == (cfg.print_size, cfg.dpi, cfg.size):
        return cfg
    return dataclasses.replace(cfg, print_size=label, dpi=dpi, size=size)


def _typed(cfg: "TransferConfig") -> "TransferConfig":
    """``cfg`` with each scalar field of its annotated type (int, float, str, bool; None where the
    annotation allows it), numpy scalars and paths converted; ConfigError for anything else. Without
    it a string or None reached a comparison deep inside ('<' not supported...), 2.5 iterations ran
    as 2, and pyramid_detail='no' meant on."""
    changes = {}
    for f in dataclasses.fields(cfg):
        value, kinds = getattr(cfg, f.name), [k.strip() for k in str(f.type).split("|")]
        scalar = [k for k in kinds if k in _SCALARS]
        if not scalar or (value is None and "None" in kinds):
            continue  # a container, parsed where it is used; or an allowed None
        accepts, stored, what = _SCALARS[scalar[0]]
        if isinstance(value, bool) != (scalar[0] == "bool") or not isinstance(value, accepts):
            raise ConfigError(f"{f.name} {_short(value)}: must be {what}" + (" or None" if "None" in kinds else ""))
        if type(value) is not stored:
            changes[f.name] = os.fspath(value) if stored is str else stored(value)
    return dataclasses.replace(cfg, **changes) if changes else cfg


@dataclass(frozen=True)
class TransferConfig:
    """Every option of a style transfer, with its default and its help text. The CLI and the
    studio build their options from these fields; ``transfer(**options)`` takes them too."""

    size: int = _opt(512, "longest side of the output, px (or --print with --dpi)")
    # A print size sets ``size`` (validated() computes it from the length and the dpi): the
    # artist's unit, recorded so that --settings repeats the print, not only its pixels.
    print_size: str | None = _opt(None, PRINT_HELP, flag="--print", metavar=PRINT_METAVAR)
    dpi: int | None = _opt(None, DPI_HELP)
    iters: int = _opt(200, "optimizer iterations (with a pyramid, the first planned level's, fewer above it; "
                           "a level too small for the net is left out; the --refine pass counts its own)")
    optimizer: str = _opt("lbfgs", "gd (the course's plain gradient descent), adam or lbfgs", choices=OPTIMIZERS)
    lr: float | None = _opt(None, "step size; default per optimizer (lbfgs 1, adam 0.02; gd: the lr that moves the largest "
                                   "pixel by 0.05 in the first step, kept after)")
    alpha: float = _opt(1.0, "content weight")
    beta: float = _opt(100.0, "style weight")
    gamma: float = _opt(0.0, "total-variation weight (smoothness)")
    content_layers: tuple[str, ...] = _opt(("relu4_2",), "content layer(s), comma-separated")
    style_layers: tuple[tuple[str, float], ...] = _opt(DEFAULT_STYLE_LAYERS, "style layers with lambda weights, e.g. relu1_1:0.2,relu2_1:0.2")
    content_norm: str = _opt("course", "content loss normalization: sum, mean, course (1/(4 nH nW nC)), relative (1/||a(C)||^2: "
                                         "the fraction of the photo's features lost), centered (1/||a(C) - its channel means||^2: "
                                         "the fraction of the photo's structure lost) or correlation (2 (1 - the correlation of "
                                         "a(G) and a(C), each centered): the photo's structure at any contrast)", choices=CONTENT_NORMS)
    pooling: str = _opt("max", "pooling in the feature net: max or avg", choices=("max", "avg"))
    init: str = _opt("content", "start image: content, noise, blend, or a path to an image")
    init_noise: float = _opt(0.5, "for init=blend: fraction of noise mixed into the content")
    seed: int = _opt(0, "random seed, 0 to 2^32-1 (noise init, random nets); CPU runs are reproducible")
    device: str = _opt("auto", "auto, cpu, cuda or mps")
    net: str = _opt("vgg16-hed", "feature net (see `stylegram nets`)")
    weights: str | None = _opt(None, "weights file for the net (.safetensors, .pth, .h5) instead of the default")
    max_pixels: int = _opt(100_000_000, "refuse input images larger than this many pixels")
    precision: str = _opt("fp32", "fp32; bf16 (autocast of the net, the losses stay float32: about 1.4x faster on CPUs "
                                  "with AVX512-BF16/AMX and on GPUs); or auto (bf16 where the hardware has it natively, "
                                  "else fp32)", choices=PRECISIONS)
    check_every: int = _opt(0, "read the losses back every N iterations (0: automatic, every one on the CPU and with --ema, every 25 on a GPU)")
    compile: str = _opt("off", "torch.compile the evaluation step: off, on, or graphs (also CUDA graphs; GPU, static sizes). "
                               "The first iterations compile (tens of seconds)", choices=("off", "on", "graphs"))
    # Quality and control (issue 3). ``preset`` fills in what the user did not give (see presets.py).
    preset: str = _opt("balanced", "named settings filling in the options not given: subtle, balanced and strong "
                              "(pyramid from 256 px, --iters 200 at the first level, --content-norm correlation, --beta 0.0004 / 0.0012 / 0.012; "
                              "balanced and strong start from --init blend and end with --refine 100), "
                              "sliced (balanced without --refine, with --style-loss swd --style-norm distance --beta 1.2 throughout: closer to the painting, "
                              "about 1.8x the time) or classic (one level: the course's settings; where the two differ, the defaults below show both)",
                              choices=PRESET_NAMES)
    pyramid_start: int = _opt(0, "coarse-to-fine: longest side of the first level, px (0: one level at --size); "
                                 "with a pyramid, --iters counts the first level's iterations")
    style_loss: str = _opt("gram", "style loss: gram (the course's), w2 (mean and covariance, Wasserstein-2) or swd "
                                     "(sliced Wasserstein: the whole feature distribution)", choices=STYLE_LOSSES)
    style_norm: str = _opt("course", "style layer weighting: course (beta * lambda times the course's J_style, "
                                     "in which the deep layers hardly count), relative (each layer's loss divided by its "
                                     "loss for a blank image, so lambda is its share) or distance (the square root of each layer's loss, divided by "
                                     "the photo's: lambda weighs the share of the way from photo to painting still to go)",
                        choices=STYLE_NORMS)
    style_blend: tuple[float, ...] = _opt((), "blend weights of several style images, e.g. 0.7,0.3 (default: equal)")
    style_scale: float = _opt(1.0, "size of the style image relative to the output (above 1: larger, coarser strokes; below 1: smaller, finer ones)")
    preserve_color: str = _opt("none", "keep the content's colours: none, luminance (transfer on luminance only) or histogram (the style image recoloured to the content's colours first)", choices=PRESERVE_COLOR)
    color_strength: float = _opt(1.0, "strength of --preserve-color, 0..1")
    mask: str | None = _opt(None, "image whose white areas keep the content unchanged (grey: partly)")
    regions: tuple[str, ...] = _opt((), "per-region styles: MASK=STYLE pairs, comma-separated; each mask's white area takes that style")
    ema: float = _opt(0.0, "average the iterates with this decay (0: off; e.g. 0.9 smooths optimizer noise)")
    pyramid_detail: bool = _opt(True, "at each pyramid level, add back the content's fine detail that upsampling "
                                      "the last level's result cannot have (off: plain upsampling)")
    pyramid_keep: int = _opt(512, "pyramid levels above this size (px) only add detail: each keeps the level below as its "
                                  "downsampled picture, so a large render looks like its preview at this size (0: off)")
    refine: int = _opt(0, "iterations of a last pass at the output size (or at --pyramid-keep's, below the detail levels) "
                          "that brings the features' whole distribution closer to the painting's (sliced Wasserstein, "
                          "style layers no deeper than the content layer), losing at most --refine-slack of the content "
                          "loss (0: off)")
    refine_slack: float = _opt(0.018, "how far the --refine pass may raise the content loss above the pyramid's result "
                                     "(with --content-norm correlation, 0.018 lowers the photo's structure correlation by 0.009)")
    tile: int = _opt(0, "tile side in px for outputs too large for one pass (0: automatic, only when needed)")
    max_memory: float = _opt(8.0, "memory budget in GiB; larger work is tiled, or refused with the estimate")

    def validated(self) -> "TransferConfig":
        """Normalize list-like fields and check every value; raises ConfigError."""
        typed = _typed(self)
        if typed is not self:  # numpy scalars or paths converted: check the plain values
            return typed.validated()
        printed = _resolve_print(self)
        if printed is not self:  # the print size's canonical form, its dpi and the size they give
            return printed.validated()
        check_seed(self.seed)
        if self.optimizer not in OPTIMIZERS:
            raise choices_error("optimizer", self.optimizer, OPTIMIZERS)
        if self.content_norm not in CONTENT_NORMS:
            raise choices_error("content normalization", self.content_norm, CONTENT_NORMS)
        if self.pooling not in ("max", "avg"):
            raise choices_error("pooling", self.pooling, ("max", "avg"))
        if not isinstance(self.size, int) or self.size < 16:
            raise ConfigError(f"size {self.size!r}: must be an integer of at least 16 px")
        if self.iters < 0:
            raise ConfigError(f"iters {self.iters}: must be 0 or more")
        check_lr(self.lr)
        for k in ("alpha", "beta", "gamma"):
            check_weight(k, getattr(self, k))
        if self.alpha == 0 and self.beta == 0:
            raise ConfigError("alpha and beta are both 0: nothing to optimize; give the content (alpha) or the "
                              "style (beta) a weight above 0")
        if self.max_pixels < 1:
            raise ConfigError(f"max_pixels {self.max_pixels}: must be 1 or more (the largest input image allowed, px)")
        if self.compile not in COMPILE_MODES:
            raise choices_error("compile mode", self.compile, COMPILE_MODES)
        if not isinstance(self.check_every, int) or self.check_every < 0:
            raise ConfigError(f"check_every {self.check_every!r}: must be 0 (automatic) or a number of iterations")
        if self.init not in INITS and not os.path.exists(str(self.init)):
            raise ConfigError(f"init {self.init!r}: not one of {', '.join(INITS)} and not an existing image file")
        if not 0 <= self.init_noise <= 1:
            raise ConfigError(f"init_noise {self.init_noise}: must be between 0 and 1")
        cl = self.content_layers
        content = tuple(cl.split(",")) if isinstance(cl, str) else tuple(cl) if isinstance(cl, Sequence) else None
        if content is None or not all(isinstance(c, str) for c in content):
            raise ConfigError(f"content_layers {cl!r}: give layer names, e.g. 'relu4_2' or ['relu4_2']")
        content = tuple(c.strip() for c in content if c.strip())
        if not content:  # an empty --content-layers would quietly turn the transfer into a texture
            raise ConfigError("no content layer given; name one, e.g. relu4_2 (for no content term, --alpha 0)")
        sl = self.style_layers
        style = parse_layer_weights(dict(sl) if isinstance(sl, tuple) and sl and isinstance(sl[0], tuple) else sl)
        return dataclasses.replace(self, content_layers=content, style_layers=tuple(style.items()), **_validate_quality(self))

    @classmethod
    def from_run(cls, path: str | os.PathLike, command: str = "transfer") -> "TransferConfig":
        """The options of an earlier run, read from its output PNG or JPEG or its ``--report`` JSON:
        the same look again, e.g. ``transfer(c, s, config=TransferConfig.from_run('preview.png'),
        size=2048)`` (options given beside ``config`` win). The device is not taken: the look does
        not depend on it, and a studio render made on a GPU must run on a laptop. ``command`` is
        what the options are for, 'transfer' or 'texture' (``texture.texture_settings`` also gives
        back whether it tiles). Raises InputError for a file without options, and ConfigError for
        one written by the other command or with an option this version of stylegram does not know."""
        return cls.from_run_with_task(path, command)[0]

    @classmethod
    def from_run_with_task(cls, path: str | os.PathLike, command: str = "transfer") -> tuple["TransferConfig", dict]:
        """``from_run``'s options and what ran ({'command': ..., 'tileable': ...}), from one read
        of the file."""
        from .io.image import read_run_settings
        params, task = read_run_settings(path)
        made_by = task.get("command", command)  # files from before the task was recorded: take them
        if made_by != command:
            again = (f"repeat it with `stylegram {made_by} --settings`" if made_by in ("transfer", "texture")
                     else f"it is the report of `stylegram {made_by}`, which takes its options as typed")
            raise ConfigError(f"{path}: holds the settings of a {made_by}, not of a {command}; {again}")
        params.pop("device", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"{path}: option {unknown[0]!r} is unknown to this stylegram ({__version__}); "
                              "the file comes from another version")
        try:
            return cls(**params).validated(), task
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def check_net_known(self, settings: str | os.PathLike) -> None:
        """ConfigError (one line) when the net recorded in ``settings`` and kept here is a model
        that was given through the Python API (``feature_net=``): the command line cannot build it.
        A --net typed beside --settings replaces it; in Python, feature_net= does."""
        from .nets import default_registry
        if self.net not in default_registry().names():
            raise ConfigError(f"{settings}: was made with the net {self.net!r}, a model given through the Python API, "
                              "not one of stylegram's; give --net (with layers it has) or rerun it from Python")

    def option_sources(self) -> dict[str, str]:
        """{role: path} of the files these options read besides the content and styles: 'mask',
        'init', 'region 1 mask', 'region 1 style', ..., 'weights' (the roles a report names)."""
        files = {"mask": self.mask} if self.mask else {}
        if self.init not in INITS:
            files["init"] = self.init
        for i, region in enumerate(self.regions, 1):
            m, _, st = region.partition("=")
            files.update({f"region {i} mask": m, f"region {i} style": st})
        if self.weights:
            files["weights"] = self.weights
        return {role: str(p) for role, p in files.items() if p}

    def input_files(self) -> list[str]:
        """The paths of ``option_sources``: the files these options read besides the content and
        style images (--mask, an --init image, each region's mask and style, --weights), so an
        output path can be checked against them. One list with what the report hashes: a file
        the run reads is one the run must not write over."""
        return list(self.option_sources().values())

    @property
    def style_weights(self) -> dict[str, float]:
        """{style layer: lambda}."""
        return dict(self.style_layers)

    def to_dict(self) -> dict:
        """The options as plain JSON values ({layer: lambda} for style_layers): what reports and
        an image's metadata record, and ``from_run`` reads back."""
        d = dataclasses.asdict(self)
        d["style_layers"] = self.style_weights
        d["content_layers"] = list(self.content_layers)
        return d


def _validate_quality(cfg: TransferConfig) -> dict:
    """Check and normalize the quality options; returns the normalized fields."""
    if cfg.preset not in _PRESETS:
        raise choices_error("preset", cfg.preset, _PRESETS)
    if cfg.style_loss not in STYLE_LOSSES:
        raise choices_error("style loss", cfg.style_loss, STYLE_LOSSES)
    if cfg.style_norm not in STYLE_NORMS:
        raise choices_error("style normalization", cfg.style_norm, STYLE_NORMS)
    check_strength(cfg.preserve_color, cfg.color_strength)
    if not isinstance(cfg.pyramid_start, int) or cfg.pyramid_start < 0:
        raise ConfigError(f"pyramid_start {cfg.pyramid_start!r}: must be 0 (off) or a size in px")
    if 0 < cfg.pyramid_start < 16:
        raise ConfigError(f"pyramid_start {cfg.pyramid_start}: must be 0 (off) or at least 16 px")
    if not isinstance(cfg.pyramid_keep, int) or cfg.pyramid_keep < 0:
        raise ConfigError(f"pyramid_keep {cfg.pyramid_keep!r}: must be 0 (off) or a size in px")
    if not 0.05 <= cfg.style_scale <= 8:
        raise ConfigError(f"style_scale {cfg.style_scale}: must be between 0.05 and 8")
    if not 0 <= cfg.ema < 1:
        raise ConfigError(f"ema {cfg.ema}: must be 0 (off) or a decay below 1, e.g. 0.9")
    if cfg.ema and cfg.check_every > 1:
        raise ConfigError(f"check_every {cfg.check_every} with ema {cfg.ema}: the average takes every iterate, "
                          "so the losses are read at each one; leave --check-every at 0 or 1")
    if cfg.tile < 0:
        raise ConfigError(f"tile {cfg.tile}: must be 0 (automatic) or a size in px")
    if not isinstance(cfg.refine, int) or cfg.refine < 0:
        raise ConfigError(f"refine {cfg.refine!r}: must be 0 (off) or a number of iterations")
    if not cfg.refine_slack >= 0:
        raise ConfigError(f"refine_slack {cfg.refine_slack}: must be 0 or more (a content-loss budget)")
    if not cfg.max_memory > 0:
        raise ConfigError(f"max_memory {cfg.max_memory}: must be a positive number of GiB")
    blend = cfg.style_blend
    if isinstance(blend, str):
        try:
            blend = tuple(float(b) for b in blend.split(",") if b.strip())
        except ValueError:
            raise ConfigError(f"style_blend {cfg.style_blend!r}: write numbers separated by commas, e.g. 0.7,0.3") from None
    blend = tuple(float(b) for b in blend)
    if any(not 0 <= b < math.inf for b in blend) or (blend and sum(blend) <= 0):
        raise ConfigError(f"style_blend {cfg.style_blend!r}: weights must be finite, non-negative and not all zero")
    regions = cfg.regions
    if isinstance(regions, str):
        regions = tuple(r.strip() for r in regions.split(",") if r.strip())
    for r in regions:
        m, eq, st = str(r).partition("=")
        if not eq or not m or not st:
            raise ConfigError(f"region {r!r}: write MASK=STYLE, e.g. sky.png=starry_night.jpg")
    return {"style_blend": blend, "regions": tuple(regions)}
