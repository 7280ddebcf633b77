"""Style transfer of images (Gatys et al.): the engine behind ``stylegram transfer``.

media -> tensors (io) -> feature net (nets) -> losses -> optimize -> TransferResult. The library
never prints or writes files; progress goes to the callback and the result holds everything.
"""
from __future__ import annotations

import dataclasses
import math
import os
import platform
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from PIL import Image

from . import __version__
# The options live in a module of their own, without torch (the CLI's help is built from them);
# here as before: stylegram.transfer.TransferConfig is that class.
from .config import COMPILE_MODES, DEFAULT_STYLE_LAYERS, INITS, PRESET_NAMES, TransferConfig, check_blend  # noqa: F401
from .device import available_bytes, check_fits, resolve_device, resolve_precision
from .errors import ConfigError, InputError, choices_error
from .io.image import load_image, resize_longest, save_image
from .resample import resized_shape
from .losses import StyleObjective, scaled_gram
from .nets import FeatureNet, HookedNet, build_net
from .optimize import Callback, OptimizeResult, lbfgs_history, optimize

def _on_device(state: Any, device: torch.device) -> Any:
    """A checkpoint's state with every tensor on ``device`` (checkpoints load on the CPU; the pin,
    the iterate and an --ema average join the GPU's computation)."""
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {k: _on_device(v, device) for k, v in state.items()}
    if isinstance(state, list):
        return [_on_device(v, device) for v in state]
    return state


def size_hint(cfg: "TransferConfig", px: int) -> str:
    """What to ask for instead of a size that does not fit, ``px`` (longest side) being the largest
    that does: 'use --size 1024 or less', or for a print size 'use --dpi 180 or less (A3 at 180 dpi
    = 2976 px)', or where no dpi of 10 or more fits, the length that does at the dpi asked for, in
    the unit --print takes ('use --print 68.8cm or less at --dpi 300'), floored to the mm so it fits."""
    from .printsize import MIN_DPI, MM_PER_INCH, describe, largest_dpi
    if cfg.print_size is None:
        return f"use --size {px} or less"
    dpi = largest_dpi(cfg.print_size, px)
    if dpi < MIN_DPI:
        cm = math.floor(px * MM_PER_INCH / cfg.dpi) / 10
        if cm >= 1:
            return f"use --print {cm:g}cm or less at --dpi {cfg.dpi}"
        return f"use a smaller --print and a lower --dpi (at most {px} px)"  # not a length under 1 cm
    return f"use --dpi {dpi} or less ({describe(cfg.print_size, dpi)})"


def size_words(cfg: "TransferConfig") -> tuple[str, str]:
    """How a message names the size the artist asked for, and which option raises it:
    ('--size 512', '--size'), or for a print ('--print 1in at --dpi 20 (20 px)', '--print or --dpi'),
    so that an error says the option typed, not the px a print size became."""
    if cfg.print_size is None:
        return f"--size {cfg.size}", "--size"
    return f"--print {cfg.print_size} at --dpi {cfg.dpi} ({cfg.size} px)", "--print or --dpi"


@dataclass
class TransferResult:
    """The outcome of ``transfer``: image (1, 3, H, W) in 0..1 on the CPU, the per-iteration
    history, timings, and the configuration and environment that produced it.

    ``stopped`` is None for a run that did all its iterations, 'cancelled' when the callback
    asked to stop (the image so far; ``checkpoint()`` resumes it) and 'nan' when the loss became
    NaN or Inf mid-run and step-size cuts did not cure it (the last good image; ``message`` says
    where). A NaN at the very start raises NumericalError instead.
    """

    image: torch.Tensor
    history: list[dict]
    evals: int
    seconds_optimize: float
    seconds_total: float
    config: TransferConfig
    device: str
    stopped: str | None = None
    message: str = ""
    state: dict = field(default_factory=dict, repr=False)
    inputs: dict = field(default_factory=dict)  # {'content': ..., 'styles': [...]}: io.image.describe_sources
    # what ran, for repeating it from the output: {'command': 'transfer'} or {'command': 'texture', 'tileable': ...}
    task: dict = field(default_factory=lambda: {"command": "transfer"})
    x: torch.Tensor | None = field(default=None, repr=False)  # the unclamped optimizer iterate

    def checkpoint(self) -> dict:
        """Everything needed to resume this run: a dict of tensors and plain values that
        ``torch.save`` writes and ``torch.load(weights_only=True)`` reads back safely."""
        return {"kind": "stylegram-transfer", "params": self.config.to_dict(), "inputs": self.inputs,
                "x": self.x if self.x is not None else self.image, "state": self.state,
                "iter": self.state.get("iter", len(self.history)), "history": self.history}

    @property
    def s_per_eval(self) -> float:
        """Seconds of optimization per loss evaluation (level set-up included), the speed figure."""
        return self.seconds_optimize / max(self.evals, 1)

    def metadata(self) -> dict:
        """Parameters, what ran, inputs (files and their sha256), versions and device: what a
        report or a PNG's metadata records. ``TransferConfig.from_run`` reads the parameters back."""
        record = run_record(self.task, self.config.to_dict(), self.inputs, self.device)
        if self.config.dpi is not None:
            from .printsize import print_record
            h, w = self.image.shape[-2:]
            record["print"] = print_record(w, h, self.config.dpi, self.config.print_size)
        return record

    def report(self) -> dict:
        """The JSON-able run report: parameters, versions, device, timings and history."""
        return {**self.metadata(), "evals": self.evals, "seconds_optimize": round(self.seconds_optimize, 4),
                "seconds_total": round(self.seconds_total, 4), "s_per_eval": round(self.s_per_eval, 5),
                "stopped": self.stopped, "message": self.message,
                "size": list(self.image.shape[-2:]), "levels": self.state.get("levels", []), "history": self.history}

    def to_pil(self) -> "Image.Image":
        """The image as an 8-bit RGB PIL image."""
        from .io.image import tensor_to_pil
        return tensor_to_pil(self.image)

    def save(self, path: str | os.PathLike) -> None:
        """Write the image atomically; PNGs carry ``metadata()`` in a text chunk, JPEGs in their
        comment (``TransferConfig.from_run`` reads either back), and with a ``dpi``
        the file records it as its resolution (PNG pHYs, JPEG JFIF, TIFF and WebP tags)."""
        save_image(self.image, path, metadata=self.metadata(), dpi=self.config.dpi)


def run_record(task: dict, params: dict, inputs: dict, device: str) -> dict:
    """What a run's report and its pictures' metadata record besides timings: the stylegram
    version, the task ({'command': ...}), the parameters, the inputs (``run_inputs``), the device
    and the versions of what ran. ``TransferResult.metadata`` at the end of a run, and the CLI's
    --save-every snapshots before it ends."""
    return {"stylegram": __version__, "task": task, "params": params, "inputs": inputs, "device": device,
            "versions": versions()}


def versions() -> dict:
    import numpy
    import PIL
    return {"stylegram": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "pillow": PIL.__version__, "python": platform.python_version()}


def activation_bytes(net: FeatureNet, shape: tuple[int, ...]) -> int:
    """Estimated bytes of one forward + backward pass of ``net`` on media of ``shape`` (B, C, *sp):
    every layer's float32 output is kept for the backward pass, plus about as much again in
    transient gradients."""
    total = sum(info.elements(shape[2:]) for info in net.info.values())
    return int(total * 4 * 2.5)


# What a run holds besides the activations and the optimizer's state (the net's weights, torch's
# own buffers), in every memory estimate.
BASE_BYTES = 200 * 2**20


def estimate_transfer_bytes(net: FeatureNet, shape: tuple[int, ...], optimizer: str) -> int:
    """Peak bytes of a transfer of media ``shape``: the net's passes plus the optimizer's memory."""
    numel = 1
    for s in shape:
        numel *= s
    extra = {"lbfgs": 2 * lbfgs_history(numel) + 4, "adam": 4, "gd": 2}[optimizer] * numel * 4
    return activation_bytes(net, shape) + extra + BASE_BYTES


def sliced_loss_bytes(net: FeatureNet, style_layers: Sequence[str], shape: tuple[int, ...]) -> int:
    """Extra bytes the sliced Wasserstein loss takes on media ``shape``: per style layer and
    direction (nC of them) and position, the projection, its sorted values and int64 order, the
    style's quantiles read at each position and the gradients (about 32 bytes)."""
    # nC directions per layer, one projection each per position: the layer's own element count
    return sum(net.info[l].elements(shape[2:]) for l in style_layers) * 32


def largest_side(fits: Callable[[int], bool], hi: int) -> int:
    """Bisection for the largest longest side (px, within 8 of it, below ``hi``) for which
    ``fits(side)`` holds, assuming it holds for every smaller side; 0 if none."""
    lo = 0
    while hi - lo > 8:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def largest_fitting_size(net: FeatureNet, hw: tuple[int, int], optimizer: str, budget: int) -> int:
    """The largest --size (longest side, px) whose estimated transfer fits ``budget`` bytes, or 0."""
    def fits(side: int) -> bool:
        return estimate_transfer_bytes(net, (1, 3, *resized_shape(int(hw[0]), int(hw[1]), side)), optimizer) <= budget
    return largest_side(fits, 1 << 16) // 8 * 8


def _read_init(cfg: TransferConfig) -> torch.Tensor | None:
    """The --init image (1, 3, h, w) at its own resolution, in 0..1; None for content, noise or blend.
    Decoded with the other inputs, before the net is built: a bad file is refused at once."""
    return None if cfg.init in INITS else load_image(cfg.init, max_pixels=cfg.max_pixels)


def _init_image(cfg: TransferConfig, content: torch.Tensor, gen: torch.Generator,
                init: torch.Tensor | None) -> torch.Tensor:
    """The start image (1, 3, h, w) of a run on ``content`` (1, 3, h, w): cfg.init's choice;
    ``init``: the --init image as ``_read_init`` decoded it, resized here to the content's shape."""
    if cfg.init == "content":
        return content.clone()
    noise = torch.rand(content.shape, generator=gen).to(content.device)
    if cfg.init == "noise":
        return noise
    if cfg.init == "blend":
        return (1 - cfg.init_noise) * content + cfg.init_noise * noise
    img = init.to(content.device)
    return torch.nn.functional.interpolate(img, size=content.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)


def check_interval(cfg: "TransferConfig", device: torch.device) -> int:
    """Iterations between reads of the loss (see ``optimize``'s check_every). Always 1 with --ema,
    which averages the checked iterates: a GPU's automatic 25 would average other pictures than
    the CPU's 1, and the same settings would not give the same result."""
    return 1 if cfg.ema else cfg.check_every or (1 if device.type == "cpu" else 25)


def compiled(loss_fn: Callable, mode: str) -> Callable:
    """``loss_fn`` through torch.compile (``mode`` 'on') or also captured in CUDA graphs ('graphs').
    Shapes are static within a level, so each pyramid level compiles once."""
    if mode == "off":
        return loss_fn
    return torch.compile(loss_fn, mode="reduce-overhead" if mode == "graphs" else None, dynamic=False)


def fast_forward(net: FeatureNet, device: torch.device, precision: str = "fp32",
                 ) -> Callable[[torch.Tensor, Sequence[str]], dict[str, torch.Tensor]]:
    """``net``'s forward arranged for speed: channels-last memory (oneDNN/cuDNN's preferred
    layout for 3 x 3 convolutions) and, for ``precision='bf16'``, autocast. Activations come back
    in the compute dtype; the losses upcast to float32 before their sums. (Weights stored
    channels-last save a conversion per call; ``transfer`` does that for the nets it builds.)"""
    use_bf16 = precision == "bf16"

    def forward(x: torch.Tensor, taps: Sequence[str]) -> dict[str, torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            return net(x, taps)
    return forward


def run_inputs(cfg: TransferConfig, styles: Sequence[Any], content: Any = None) -> dict:
    """What a run's report and metadata record of its inputs: {'content': ..., 'styles': [...],
    'options': {role: ...}} (``io.image.describe_sources``: each file's name and sha256), the
    options' files being the mask, start image, regions' files and weights (``option_sources``);
    no 'content' for a texture (``content`` None), no 'options' where there are none."""
    from .io.image import describe_sources
    inputs = {} if content is None else {"content": describe_sources([content])[0]}
    inputs["styles"] = describe_sources(styles)
    others = cfg.option_sources()  # a rerun must find the same bytes there too
    if others:
        inputs["options"] = dict(zip(others, describe_sources(others.values())))
    return inputs


def with_feature_net(cfg: TransferConfig, net: Any) -> TransferConfig:
    """``cfg`` as it records a run on the caller's ``net`` (``feature_net=``): its name (the
    registry's, e.g. 'random-tiny', or the net's own) instead of cfg.net, no weights file, so the
    report, the metadata and a checkpoint say which net ran. ConfigError, one line, for what is
    not a feature net (a name, a plain torch module: wrap it in HookedNet)."""
    if net is None:
        return cfg
    from .nets.features import TapChecks
    if isinstance(net, str):
        raise ConfigError(f"feature_net {net!r}: give a built net (stylegram.build_net({net!r})), or net={net!r}")
    if not isinstance(net, TapChecks):
        if isinstance(net, torch.nn.Module):
            raise ConfigError(f"feature_net: a plain {type(net).__name__} does not say which layers to tap; wrap it: "
                              "HookedNet(model, ['layer name', ...])")
        raise ConfigError(f"feature_net: a {type(net).__name__} is not a feature net; give a FeatureNet or a HookedNet")
    from .nets import default_registry
    return dataclasses.replace(cfg, net=default_registry().name_of(net.name) or net.name, weights=None)


def _image_nets_hint(texture: bool) -> str:
    """The built-in image nets for a wrong-dimension error: those with VGG's layer names (the
    default layers), then any other (bank2d) with the layers to name, as the API and the CLI take
    them. Listed bare, bank2d then failed on the default layers ("unknown layer 'relu4_2'"), and
    the texture command has no option to name others."""
    from .nets.registry import default_registry, image_nets
    reg = default_registry()
    default = TransferConfig()
    wanted = {*default.content_layers, *default.style_weights}
    plain = [n for n in image_nets() if wanted <= set(reg.get(n).layers)]
    own = [n for n in image_nets() if n not in plain]
    hint = ", ".join(plain)
    for n in own:
        last = reg.get(n).layers[-1]
        if texture:
            hint += (f", or {n} naming its own layers: style_layers={last!r} (in the API; the texture command "
                     "has no --style-layers)")
        else:
            hint += (f", or {n} naming its own layers: style_layers={last!r}, content_layers={last!r} (CLI: "
                     f"--style-layers {last} --content-layers {last})")
    return hint


def _check_net(cfg: TransferConfig, layers: list[str], net: FeatureNet | None, *, texture: bool = False) -> None:
    """``_ready_net``'s checks, which build nothing: ConfigError (one line) for a net that does not
    read images (a 3D net failed deep in torch on the (1, 3, H, W) picture, a 1D bank in its
    convolutions), an unknown net or layer, a weights file for a random net. A run makes them
    before it decodes its inputs, and builds the net after: a wrong option is the error it reports
    first, as before, and a bad file is refused without waiting for the build (about a second).
    ``texture``: the error is about a texture."""
    from .nets.registry import check_net_dims, check_net_options
    check_net_dims(cfg.net if net is None else net, (2,),
                   f"{'texture' if texture else 'transfer'} makes images: use {_image_nets_hint(texture)}")
    if net is None:
        check_net_options(cfg.net, layers=layers, weights=cfg.weights)
    else:
        net.check_layers(layers)


def _ready_net(cfg: TransferConfig, layers: list[str], net: FeatureNet | None, device: torch.device, *,
               texture: bool = False) -> FeatureNet:
    """The feature net on ``device``: ``net`` if given (checked to have ``layers``), else cfg.net built
    with only the layers needed (channels-last: faster convolutions on CPUs); ``_check_net``'s
    errors first. ``texture``: the error is about a texture."""
    _check_net(cfg, layers, net, texture=texture)
    if net is None:
        net = build_net(cfg.net, layers=layers, pooling=cfg.pooling, weights=cfg.weights, seed=cfg.seed)
        net.to(memory_format=torch.channels_last)
    return net.to(device)


def _transfer_single(content: Any, style: Any, *, config: TransferConfig | None = None, callback: Callback | None = None,
                     feature_net: FeatureNet | None = None, checkpoint: dict | None = None,
                     on_estimate: Callable[["MemoryEstimate"], None] | None = None, **options: Any) -> TransferResult:
    """Stylize ``content`` with ``style`` by optimizing the pixels of G (Gatys et al.).

    content, style: paths, PIL images or tensors (3, H, W) / (1, 3, H, W) in 0..1. ``options`` are
    TransferConfig fields (e.g. ``size=256, iters=100, optimizer='adam'``) and override ``config``.
    ``feature_net`` lets a caller reuse a built FeatureNet (or bring their own). ``callback(Iterate)``
    sees every iteration and stops the run by returning True. ``checkpoint`` (from
    ``TransferResult.checkpoint()`` of a stopped run with the same inputs and options) resumes it:
    on the CPU with the same seed the result equals that of an uninterrupted run. ``on_estimate``:
    as ``transfer``'s. Returns a TransferResult with the image (1, 3, H, W) in 0..1.
    """
    t_start = time.perf_counter()
    cfg = config or TransferConfig()
    check_option_names(options)
    cfg = dataclasses.replace(cfg, **options).validated()
    device = resolve_device(cfg.device)
    cfg = dataclasses.replace(cfg, precision=resolve_precision(cfg.precision, device))  # the report says which
    content_layers = list(cfg.content_layers)
    style_weights = cfg.style_weights
    layers = content_layers + [l for l in style_weights if l not in content_layers]
    _check_net(cfg, layers, feature_net)
    # The inputs before the net (about a second to build): a missing or broken file is refused at once.
    c = load_image(content, None, max_pixels=cfg.max_pixels, name="content")
    s = load_image(style, None, max_pixels=cfg.max_pixels, name="style")
    init = _read_init(cfg)
    net = _ready_net(cfg, layers, feature_net, device)
    out_shape = (1, 3, *resized_shape(*c.shape[-2:], cfg.size))
    # Refuse before allocating anything at the output size, naming a size that would fit.
    need_bytes = estimate_transfer_bytes(net, out_shape, cfg.optimizer)
    # A checkpoint of the tiled engine has a pyramid 'level' in its state; one of this engine has not.
    tiled_checkpoint = checkpoint is not None and "level" in (checkpoint.get("state") or {})
    budget = min(available_bytes(device), cfg.max_memory * 2**30)
    if need_bytes > budget and (checkpoint is None or tiled_checkpoint):
        # Too large for one pass: the tiled engine (_stylize, below) computes it exactly, tile by tile,
        # and resumes its own stopped runs.
        return _stylize(content, [style], cfg, callback=callback, net=net, t_start=t_start, checkpoint=checkpoint,
                        on_estimate=on_estimate)
    if on_estimate is not None:  # estimate_memory's figures for one level in one pass
        on_estimate(MemoryEstimate(shape=tuple(out_shape[-2:]), one_pass_bytes=need_bytes, budget_bytes=int(budget),
                                   tile=None))
    if need_bytes > available_bytes(device):
        fits = largest_fitting_size(net, c.shape[-2:], cfg.optimizer, available_bytes(device))
        check_fits(need_bytes, device, f"a {out_shape[-1]} x {out_shape[-2]} px transfer",
                   size_hint(cfg, fits) if fits else "free some memory")
    c, s = resize_longest(c, cfg.size), resize_longest(s, cfg.size)
    asked, option = size_words(cfg)
    for what, src, t in (("content", content, c), ("style", style, s)):
        label = src if isinstance(src, (str, os.PathLike)) else what
        net.check_input_size(t.shape[-2:], layers, f"{label}: at {asked} the {what} image",
                             f"crop it to a less extreme aspect ratio or raise {option}")
    c, s = c.to(device), s.to(device)

    with torch.no_grad():
        # Targets always in float32: they are computed once and anchor every evaluation.
        fc = net(c, content_layers)
        fs = net(s, list(style_weights))
        objective = StyleObjective({l: fc[l] for l in content_layers},
                                   {l: scaled_gram(fs[l]) for l in style_weights}, style_weights,
                                   alpha=cfg.alpha, beta=cfg.beta, gamma=cfg.gamma, content_norm=cfg.content_norm)
        del fc, fs

    run_net = fast_forward(net, device, cfg.precision)

    def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return objective.terms(run_net(x, objective.layers), x)
    loss_fn = compiled(loss_fn, cfg.compile)

    previous: list[dict] = []
    if checkpoint is not None:
        x0, state, start, previous = _check_checkpoint(checkpoint, cfg, c)
        x0 = x0.to(device)
    else:
        x0, state, start = _init_image(cfg, c, torch.Generator().manual_seed(cfg.seed), init), None, 0
    with net.held():  # a caller's model frozen through the backward passes too (HookedNet.held)
        res: OptimizeResult = optimize(x0, loss_fn, optimizer=cfg.optimizer, iters=cfg.iters, lr=cfg.lr,
                                       callback=callback, start_iter=start, state=state,
                                       check_every=check_interval(cfg, device))
    from .pyramid import level_record
    # 'level' 0 in every record, as the pyramid's records have their level
    return TransferResult(image=res.x.detach().clamp(0, 1).cpu(), history=previous + [{**h, "level": 0} for h in res.history],
                          evals=res.evals, seconds_optimize=res.seconds,
                          seconds_total=time.perf_counter() - t_start, config=cfg, device=str(device),
                          stopped=res.stopped, message=res.message, x=res.x.detach(),
                          state={**res.state, "levels": [{**level_record(0, res.x.shape[-2:], cfg.iters, res),
                                                          "pass": "transfer", "tile": None}]})


# Options that may differ between a stopped run and its resumption. The dpi is only the output
# file's tag where the size stays the same: a --print whose dpi changes its px is refused by the size.
_RESUMABLE = {"iters", "device", "check_every", "compile", "dpi"}


def _check_checkpoint_inputs(ckpt: dict, inputs: dict) -> None:
    """ConfigError unless the files of this run are those of the stopped one (by sha256; inputs
    given as tensors, and checkpoints from before inputs were recorded, cannot be compared)."""
    was = ckpt.get("inputs") if isinstance(ckpt, dict) else None
    if not isinstance(was, dict) or not isinstance(was.get("styles"), list):
        return
    then = [("content", was.get("content"))] + [("style", s) for s in was["styles"]]
    now = [("content", inputs["content"])] + [("style", s) for s in inputs["styles"]]
    if len(then) != len(now):
        n_then, n_now = len(then) - 1, len(now) - 1
        raise ConfigError(f"checkpoint: the stopped run had {n_then} style image{'s' * (n_then != 1)}, this one "
                          f"{n_now}; resume with the same inputs")

    def name(d: dict) -> str:
        return f"{d['file']} (sha256 {str(d.get('sha256'))[:12]})"
    was_opts, now_opts = was.get("options") or {}, inputs.get("options") or {}
    if isinstance(was_opts, dict):
        then += [(role, was_opts[role]) for role in now_opts if role in was_opts]
        now += [(role, now_opts[role]) for role in now_opts if role in was_opts]
    for (role, a), (_, b) in zip(then, now):
        if isinstance(a, dict) and isinstance(b, dict) and a.get("sha256") and b.get("sha256") \
                and a["sha256"] != b["sha256"]:
            raise ConfigError(f"checkpoint: the {role} of the stopped run was {name(a)}, now {name(b)}; "
                              "resume with the same inputs")


def _check_checkpoint(ckpt: dict, cfg: TransferConfig, content: torch.Tensor):
    try:
        params, x, state, it = ckpt["params"], ckpt["x"], ckpt["state"], int(ckpt["iter"])
    except (KeyError, TypeError, ValueError):
        raise InputError("checkpoint: not a stylegram transfer checkpoint") from None
    now = cfg.to_dict()
    for k, v in params.items():
        if k == "size" and now.get(k) != v and now.get("print_size") is not None \
                and params.get("print_size") == now["print_size"] and params.get("dpi") != now.get("dpi"):
            # the size the user did not type: name the option that changed it
            raise ConfigError(f"checkpoint: --print {now['print_size']} at --dpi {now['dpi']} is {now[k]} px, the stopped "
                              f"run's {v} px (at --dpi {params.get('dpi')}); resume with --dpi {params.get('dpi')}")
        if k not in _RESUMABLE and now.get(k) != v:
            raise ConfigError(f"checkpoint: option {k} was {v!r} in the stopped run, now {now.get(k)!r}; "
                              "resume with the same options")
    if content is not None and tuple(x.shape) != tuple(content.shape):
        raise ConfigError(f"checkpoint: image is {tuple(x.shape)}, this run's is {tuple(content.shape)}; same inputs and --size needed")
    return x, state, it, list(ckpt.get("history", []))


def one_pass_bytes(net: FeatureNet, shape: tuple[int, ...], optimizer: str, sliced_layers: Sequence[str] = ()) -> int:
    """Peak bytes of an untiled run on media ``shape``: ``estimate_transfer_bytes`` plus the sorts
    of a sliced Wasserstein loss on ``sliced_layers``."""
    return estimate_transfer_bytes(net, shape, optimizer) + sliced_loss_bytes(net, sliced_layers, shape)


def statistics_tile(net: FeatureNet, layers: Sequence[str], hw: tuple[int, int], budget: int) -> int | None:
    """None when measuring an image of ``hw`` on ``layers`` (no autograd, no optimizer) fits
    ``budget`` bytes in one pass, else the largest tile side (px, a multiple of the deepest stride)
    whose padded tiles fit; the smallest such tile if none does (the measurement is exact either way)."""
    from .tiling import tile_geometry
    if activation_bytes(net, (1, 3, *hw)) + BASE_BYTES <= budget:
        return None
    align, margin = tile_geometry(net, list(layers))
    side = (max(hw) // align) * align
    while side > align and activation_bytes(net, (1, 3, side + 2 * margin, side + 2 * margin)) + BASE_BYTES > budget:
        side -= align
    return max(align, side)


def plan_tile(net: FeatureNet, layers: list[str], shape: tuple[int, ...], optimizer: str, budget: int,
              tile: int = 0, sliced_layers: Sequence[str] = ()) -> int | None:
    """None when a run on ``shape`` (1, 3, H, W) fits ``budget`` bytes in one pass, else the tile
    side (px) to use: ``tile`` if given, otherwise the largest that fits. ``sliced_layers``: the
    style layers of a sliced Wasserstein loss, whose sorts (one pass) or gathered projections
    (tiles) add to the estimate. Raises ResourceError, with the estimate, when not even a small
    tile fits."""
    from .errors import ResourceError
    from .tiling import tile_geometry
    if tile:
        return int(tile)
    need = one_pass_bytes(net, shape, optimizer, sliced_layers)
    if need <= budget:
        return None
    h, w = shape[-2:]
    align, margin = tile_geometry(net, layers)
    # In tiles the sliced loss keeps every position's projections (4 bytes each), and while a level
    # is built the photo's and the painting's activations of those layers (8 more).
    fixed = (estimate_transfer_bytes(net, shape, optimizer) - activation_bytes(net, shape)
             + sliced_loss_bytes(net, sliced_layers, shape) * 12 // 32)
    t = (max(h, w) // align) * align
    while t >= 4 * align:
        padded = (1, 3, min(h, t + 2 * margin), min(w, t + 2 * margin))
        if fixed + activation_bytes(net, padded) <= budget:
            return t
        t -= align
    small = fixed + activation_bytes(net, (1, 3, min(h, 4 * align + 2 * margin), min(w, 4 * align + 2 * margin)))
    raise ResourceError(f"a {w} x {h} px transfer needs about {need / 2**30:.1f} GiB in one pass and about "
                        f"{small / 2**30:.1f} GiB even in the smallest tiles, above the budget of "
                        f"{budget / 2**30:.1f} GiB; lower --size or raise --max-memory")


def check_option_names(options: dict) -> None:
    """ConfigError, listing the valid names, for a keyword that is no TransferConfig option (a
    TypeError from the dataclass otherwise)."""
    names = [f.name for f in dataclasses.fields(TransferConfig)]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise choices_error("option", unknown[0], names)


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def transfer(content: Any, style: Any, *, config: TransferConfig | None = None, callback: Callback | None = None,
             feature_net: FeatureNet | HookedNet | None = None, checkpoint: dict | None = None,
             on_estimate: Callable[["MemoryEstimate"], None] | None = None, **options: Any) -> TransferResult:
    """Stylize ``content`` with ``style`` by optimizing the pixels of G (Gatys et al.).

    content: a path, PIL image or tensor (3, H, W) / (1, 3, H, W) in 0..1; style: one such, or a
    list of them (blended by ``style_blend``). ``options`` are TransferConfig fields (e.g.
    ``size=256, preset='strong', preserve_color='luminance'``) and override ``config``; without
    ``config`` the preset (default 'balanced') fills in the options not given. ``feature_net`` lets
    a caller reuse a built FeatureNet, or bring any PyTorch model as ``HookedNet(model, layers)``
    (then name its modules in content_layers and style_layers); like ``nn.Module.to``, the run moves
    that net to ``device`` in place and leaves it there, so one net serves many runs without a copy
    each time. ``callback(Iterate)`` sees every
    iteration (``level``/``levels``: the pyramid level) and stops the run by returning True.
    ``checkpoint`` (from ``TransferResult.checkpoint()`` of a stopped run with the same inputs and
    options) resumes it. For a print, give ``print_size`` (the longest side as printed: '30cm',
    '300mm', '12in' or a paper size 'A0'..'A6') and ``dpi`` (dots per inch, default 300) instead of
    ``size`` (px): the longest side becomes length x dpi (``printsize.print_size_px``), and ``save``
    writes the dpi into the file; ``dpi`` alone only tags the file. ``estimate_memory`` gives the
    run's memory estimate beforehand; ``on_estimate(MemoryEstimate)`` is called with the same
    figures by the run itself, once it has planned its levels and before any work at the output
    size (what the CLI prints for a print size: the net is built once, not for an estimate and
    again for the run). Returns a TransferResult with the image (1, 3, H, W) in 0..1.
    """
    from .presets import preset_config
    from .pyramid import pyramid_sizes
    from .printsize import size_options
    t_start = time.perf_counter()
    check_option_names(options)
    options = size_options(options)
    if config is None:
        cfg = preset_config(options.get("preset", TransferConfig.preset), **options).validated()
    else:
        cfg = dataclasses.replace(config, **options).validated()
    cfg = with_feature_net(cfg, feature_net)
    styles = _as_list(style)
    check_blend(cfg.style_blend, len(styles))
    # hashed before the run, as read: a painting edited during a long render is not the one used
    inputs = run_inputs(cfg, styles, content)
    if checkpoint is not None:
        _check_checkpoint_inputs(checkpoint, inputs)
    simple = (len(pyramid_sizes(cfg.size, cfg.pyramid_start)) == 1 and cfg.style_loss == "gram"
              and cfg.style_norm == "course" and len(styles) == 1
              and cfg.style_scale == 1.0 and cfg.preserve_color == "none" and not cfg.mask and not cfg.regions
              and not cfg.ema and not cfg.tile and not cfg.refine)
    if simple:
        # One level with the course's loss: the foundation's engine (which hands over to the tiled
        # one when the output is too large for one pass).
        result = _transfer_single(content, styles[0], config=cfg, callback=callback, feature_net=feature_net,
                                  checkpoint=checkpoint, on_estimate=on_estimate)
    else:
        result = _stylize(content, styles, cfg, callback=callback, net=feature_net, t_start=t_start,
                          checkpoint=checkpoint, on_estimate=on_estimate)
    result.inputs = inputs
    return result


def _read_mask(src: Any, cfg: TransferConfig, what: str) -> torch.Tensor:
    """A mask (1, 1, h, w) at its own resolution: the image's grey level, transparent pixels 0
    (white strokes on a transparent layer mark only the strokes). ``_fit_mask`` sizes it."""
    return load_image(src, max_pixels=cfg.max_pixels, name=what, background=0).mean(1, keepdim=True)


def _fit_mask(m: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Mask ``m`` (1, 1, h, w) resized to ``hw``, in 0..1."""
    return torch.nn.functional.interpolate(m, size=hw, mode="area" if m.shape[-1] > hw[1] else "bilinear").clamp(0, 1)


@dataclass
class _LevelPlan:
    """What each level of a run is: its longest side, shape (h, w), iterations and tile side (None:
    one pass); which level is the --refine pass (``refine_k``) and the style weights it uses; and
    from which level on the levels only add detail to the picture below them (``pin_from``); the
    memory ``budget`` (bytes) the tiles were planned in and each level's ``sliced`` layers (those
    whose sliced loss its memory estimate counts), so that ``estimate_memory`` reads the plan's own
    figures instead of working them out again."""

    sizes: list[int]
    shapes: list[tuple[int, int]]
    iters: list[int]
    tiles: list[int | None]
    refine_k: int | None
    refine_weights: dict[str, float]
    pin_from: int | None
    budget: int
    sliced: list[list[str]]

    def pass_of(self, k: int) -> str:
        """What level k does: 'refine' (the --refine pass), 'detail' (above --pyramid-keep) or 'transfer'."""
        return "refine" if k == self.refine_k else "detail" if self.pin_from is not None and k >= self.pin_from else "transfer"


def _plan_levels(cfg: TransferConfig, net: FeatureNet, layers: list[str], content_layers: list[str],
                 hw: tuple[int, int], s_full: list[torch.Tensor], *, circular: bool, content_weight: bool,
                 device: torch.device) -> _LevelPlan:
    """The levels of a run with output shape ``hw`` (h, w): the pyramid's sizes and iterations,
    levels too small for the net or the style left out, the --refine level put in, and each level's
    tiling within the memory budget. Raises ResourceError (with the largest size that fits) when
    even tiles cannot fit."""
    from .errors import ResourceError
    from .pyramid import level_iters, level_shape, pyramid_sizes

    style_weights = cfg.style_weights
    sizes = pyramid_sizes(cfg.size, cfg.pyramid_start)
    # Levels above --pyramid-keep only add detail to the picture decided at that size (pyramid.py).
    detail = [bool(cfg.pyramid_keep) and k > 0 and s > cfg.pyramid_keep for k, s in enumerate(sizes)]
    iters = level_iters(sizes, cfg.iters, pin_from=detail.index(True) if any(detail) else None)
    shapes = [level_shape(hw, s) for s in sizes]
    shapes[-1] = hw
    if circular:
        # Every pooling window must tile the wrapped image exactly: sides are multiples of the stride.
        align = max(net.info[l].jump for l in layers)
        shapes = [tuple(max(align, round(d / align) * align) for d in sh) for sh in shapes]
    need = net.min_side(layers)
    # Levels too small for the deepest layer are skipped: where the content is, or where a style
    # image scaled to the level is (a wide painting, a small --style-scale). The last level is
    # kept either way; a style too small there is refused when the level is built.

    def style_fits(sh: tuple[int, int]) -> bool:
        side = max(1, round(max(sh) * cfg.style_scale))
        return all(min(level_shape(s.shape[-2:], side)) >= need for s in s_full)

    ok = [i for i, sh in enumerate(shapes) if min(sh) >= need and (i == len(shapes) - 1 or style_fits(sh))]
    sizes, iters, shapes = [sizes[i] for i in ok], [iters[i] for i in ok], [shapes[i] for i in ok]
    pin_from = next((k for k, i in enumerate(ok) if detail[i] and k > 0), None)
    # --refine: one more level at the size whose picture the detail levels above keep (the last,
    # without them), with the sliced loss on the style layers no deeper than the content layers:
    # deeper ones (relu5_1) would only pull the photo's structure apart (bench/results/quality).
    refine_k, refine_weights = None, {}
    if cfg.refine and content_layers:
        deepest = max(net.info[l].jump for l in content_layers)
        chosen = [l for l in style_weights if net.info[l].jump <= deepest] or list(style_weights)
        refine_weights = dict.fromkeys(chosen, 1.0 / len(chosen))
        refine_k = pin_from if pin_from is not None else len(shapes)
        sizes.insert(refine_k, sizes[refine_k - 1])
        shapes.insert(refine_k, shapes[refine_k - 1])
        iters.insert(refine_k, cfg.refine)
        if pin_from is not None:
            pin_from += 1  # the detail levels now keep the refined picture
    budget = int(min(cfg.max_memory * 2**30, available_bytes(device)))
    sliced = list(style_weights) if cfg.style_loss == "swd" else []
    level_sliced = [list(refine_weights) if k == refine_k else sliced for k in range(len(shapes))]
    try:
        tiles = [plan_tile(net, layers, (1, 3, *sh), cfg.optimizer, budget, cfg.tile, level_sliced[k])
                 for k, sh in enumerate(shapes)]
        if circular and tiles[-1] is not None:
            raise ResourceError("tileable textures are not tiled")
    except ResourceError:
        def fits(side: int) -> bool:
            sh = resized_shape(*hw, side)
            if one_pass_bytes(net, (1, 3, *sh), cfg.optimizer, sliced) <= budget:
                return True
            try:
                return not circular and plan_tile(net, layers, (1, 3, *sh), cfg.optimizer, budget, 0, sliced) is not None
            except ResourceError:
                return False
        lo = largest_side(fits, max(hw))
        # Say which limit it met: the --max-memory budget, or what the device has free.
        limited_by_option = cfg.max_memory * 2**30 <= available_bytes(device)
        have = (f"--max-memory allows {cfg.max_memory:g} GiB" if limited_by_option
                else f"{device.type} has {budget / 2**30:.1f} GiB free")
        more = "raise --max-memory" if limited_by_option else "free some memory"
        from .printsize import describe
        asked = f"{describe(cfg.print_size, cfg.dpi)}: " if cfg.print_size is not None else ""
        raise ResourceError(f"{asked}a {hw[1]} x {hw[0]} px {'texture' if not content_weight else 'transfer'} "
                            f"({'untiled' if circular else 'even in tiles'}) needs about "
                            f"{one_pass_bytes(net, (1, 3, *hw), cfg.optimizer, sliced) / 2**30:.1f} GiB but {have}; "
                            + (f"{size_hint(cfg, lo // 8 * 8)}, or {more}" if lo >= need else more)) from None
    if refine_k is not None and tiles[refine_k] is not None and cfg.content_norm != "correlation" and content_layers:
        # said now, not after the pyramid's levels have run (the tiled evaluator says it too)
        raise ConfigError("a content budget (--refine) in tiles needs --content-norm correlation, whose loss "
                          "tiles sum as statistics; use it, or a --size that fits one pass")
    return _LevelPlan(sizes, shapes, iters, tiles, refine_k, refine_weights, pin_from, budget, level_sliced)


class _Levels:
    """Builds each level of a run (``pyramid.Level``: its loss function over the image) from the
    inputs at full resolution: the photo and the paintings resized to the level, colour control,
    the mask and per-region styles, the style targets, tiling. Also what ``run_pyramid`` asks
    between levels: the start image (``x0``), the content's detail band (``restore``), and the kept
    areas put back (``post``)."""

    def __init__(self, cfg: TransferConfig, net: FeatureNet, run_net: Callable, plan: _LevelPlan, *,
                 c_full: torch.Tensor, s_full: list[torch.Tensor], blend: Sequence[float], style_labels: list,
                 regions: list, keep: torch.Tensor | None, init: torch.Tensor | None, content_layers: list[str],
                 layers: list[str], content_weight: bool, circular: bool, device: torch.device):
        self.cfg, self.net, self.run_net, self.plan, self.init = cfg, net, run_net, plan, init
        self.c_full, self.s_full, self.style_labels, self.regions, self.keep = c_full, s_full, style_labels, regions, keep
        self.content_layers, self.layers = content_layers, layers
        self.content_weight, self.circular, self.device = content_weight, circular, device
        self.need = net.min_side(layers)
        self.blend = blend
        self.gen = torch.Generator().manual_seed(cfg.seed)
        # The level being built and the one before: the photo as the net sees it (after colour
        # control), as it is, and the mask of kept areas at the level's size.
        self.c_in: torch.Tensor | None = None
        self.c_prev: torch.Tensor | None = None
        self.c: torch.Tensor | None = None
        self.keep_mask: torch.Tensor | None = None

    def style_image(self, s: torch.Tensor, shape: tuple[int, int], label: Any) -> torch.Tensor:
        """Painting ``s`` resized for a level of ``shape``: --style-scale times the level's longest side."""
        from .pyramid import level_shape
        from .resample import resize_image
        cfg = self.cfg
        side = max(1, round(max(shape) * cfg.style_scale))
        t = resize_image(s, level_shape(s.shape[-2:], side)).clamp(0, 1)
        if min(t.shape[-2:]) < self.need:
            asked, option = size_words(cfg)
            raise InputError(f"{label}: at {asked} and --style-scale {cfg.style_scale} the style image is "
                             f"{t.shape[-1]} x {t.shape[-2]} px, but the net needs at least {self.need} px on each side; "
                             f"raise --style-scale or {option}, or crop the style image")
        return t

    def __call__(self, k: int):  # -> pyramid.Level
        """Level k of the plan: its loss function over x (1, 3, h, w) on the device, shape and iterations."""
        from . import color
        from .objective import Objective, layer_guide, style_targets
        from .pyramid import Level
        from .resample import resize, resize_image
        from .tiling import TiledEvaluator, image_statistics, tiled_loss_fn
        cfg, net, plan, device, keep = self.cfg, self.net, self.plan, self.device, self.keep
        shape, tile = plan.shapes[k], plan.tiles[k]
        c = resize_image(self.c_full, shape, circular=self.circular).clamp(0, 1)
        ss = [self.style_image(s, shape, label) for s, label in zip(self.s_full, self.style_labels)]
        c_in, ss_in = color.prepare(cfg.preserve_color, cfg.color_strength, c, ss)
        c_in = c_in.to(device)
        self.c_prev = self.c_in
        guides_base = torch.ones(1, 1, *shape)
        if keep is not None:
            guides_base = guides_base * (1 - resize(keep, shape, ).clamp(0, 1))
        region_masks = [resize(m, shape).clamp(0, 1) for m, _, _ in self.regions]
        # The main style has what the regions leave: 1 - their sum, so that masks drawn as
        # complements leave nothing (a product of (1 - m) left a quarter along their shared,
        # resampled edge, and the main style was painted into that strip at full strength).
        main_area = guides_base * (1 - sum(region_masks, torch.zeros_like(guides_base))).clamp(0, 1)
        refining = k == plan.refine_k
        lw = plan.refine_weights if refining else cfg.style_weights
        kind, norm = ("swd", "distance") if refining else (cfg.style_loss, cfg.style_norm)
        beta = 1.0 if refining else cfg.beta  # under a content budget the style's scale does not matter
        moments_layers = list(lw)
        # The 'distance' style normalization divides by the photo's own distance to the painting.
        distance = norm == "distance"
        c_feat_layers = list(dict.fromkeys(self.content_layers + (list(lw) if distance and kind == "swd" else [])))
        c_moments, c_feats = image_statistics(net, c_in, list(lw) if distance else [], c_feat_layers, tile)
        kept = {l: c_feats[l] for l in self.content_layers}
        lshape = net.layer_shapes(self.layers, shape)

        def guides(mask: torch.Tensor | None):
            if mask is None:
                return None
            return {l: layer_guide(mask, lshape[l]).to(device) for l in lw}

        everywhere = keep is None and not self.regions
        # The sliced loss needs the style's activations themselves, the others only their moments.
        feat_layers = moments_layers if kind == "swd" else []
        def stat_tile(img: torch.Tensor) -> int | None:
            # A style image larger than the level (--style-scale above 1) is measured in tiles of
            # its own when one pass would not fit the budget, even where the level itself does.
            if tile is not None or max(img.shape[-2:]) <= max(shape):
                return tile
            return statistics_tile(net, moments_layers, tuple(img.shape[-2:]),
                                   int(min(cfg.max_memory * 2**30, available_bytes(device))))

        stats = [image_statistics(net, s.to(device), moments_layers, feat_layers, stat_tile(s)) for s in ss_in]
        region_stats = []
        for m, (_, rs, rlabel) in zip(region_masks, self.regions):
            rs_in = color.prepare(cfg.preserve_color, cfg.color_strength, c, [self.style_image(rs, shape, rlabel)])[1][0]
            region_stats.append((m, image_statistics(net, rs_in.to(device), moments_layers, feat_layers, stat_tile(rs_in))))

        # One set of random directions per level (seeded), the same for every region's style.
        seed = cfg.seed * 1_000_003 + k
        terms = []
        if everywhere or float(main_area.sum()) >= 0.5:  # at least half a pixel left to the main style
            terms += style_targets([m for m, _ in stats], self.blend, lw, beta=beta, kind=kind,
                                   out_guides=None if everywhere else guides(main_area), norm=norm,
                                   style_feats=[f for _, f in stats], seed=seed, content_moments=c_moments,
                                   content_feats=c_feats)
        for m, (mom, feats) in region_stats:
            if float((m * guides_base).sum()) < 0.5:  # a region this level cannot see (empty, or kept)
                continue
            terms += style_targets([mom], [1.0], lw, beta=beta, kind=kind,
                                   out_guides=guides(m * guides_base), norm=norm,
                                   style_feats=[feats], seed=seed, content_moments=c_moments,
                                   content_feats=c_feats)
        objective = Objective(kept, terms, alpha=cfg.alpha if self.content_weight else 0.0, gamma=cfg.gamma,
                              content_norm=cfg.content_norm, content_slack=cfg.refine_slack if refining else None)
        if tile is None:
            run_net = self.run_net

            def inner(x: torch.Tensor) -> dict[str, torch.Tensor]:
                return objective.terms(run_net(x, objective.layers), x)
            inner = compiled(inner, cfg.compile)
        else:
            inner = tiled_loss_fn(TiledEvaluator(net, objective, (1, 3, *shape), tile))
        if beta not in (0.0, 1.0):
            # The style terms carry beta in their weights; the reported 'style' is J_style itself,
            # as the single-level engine reports it (total = alpha J_content + beta J_style + ...).
            weighted = inner

            def inner(x: torch.Tensor) -> dict[str, torch.Tensor]:
                terms = weighted(x)
                return {**terms, "style": terms["style"] / beta}

        self.c_in, self.c = c_in, c
        # a stopped --refine level resumes with the content budget its start image set
        budget_state = dict(get_state=lambda: {"content_cap": objective.content_cap},
                            set_state=lambda st: setattr(objective, "content_cap", st.get("content_cap"))) if refining else {}
        pass_kind = plan.pass_of(k)
        name = "" if pass_kind == "transfer" else pass_kind  # progress displays name only the levels that differ
        if keep is None:
            return Level(inner, shape, plan.iters[k], name=name, **budget_state)
        km = resize(keep, shape).clamp(0, 1).to(device)
        self.keep_mask = km

        def composite(y: torch.Tensor) -> dict[str, torch.Tensor]:
            # Kept areas are not free variables: x = m c + (1 - m) y, optimized over y.
            return inner(km * c_in + (1 - km) * y)
        return Level(composite, shape, plan.iters[k], name=name, **budget_state)

    def post(self, x: torch.Tensor) -> torch.Tensor:
        """A level's result with the kept areas (--mask) put back."""
        if self.keep is None:
            return x
        return self.keep_mask * self.c_in + (1 - self.keep_mask) * x

    def x0(self, shape: tuple[int, int]) -> torch.Tensor:
        """The first level's start image (--init)."""
        return _init_image(self.cfg, self.c_in, self.gen, self.init)

    def restore(self, start: torch.Tensor) -> torch.Tensor:
        """The last level's result, upsampled, is as blurry as the content would be: add the detail
        (Laplacian band) the content has at this level and lacked at the last one. The optimizer
        then restyles those edges instead of having to recreate them from the content loss."""
        from .resample import resize
        prev, now = self.c_prev, self.c_in
        if prev is None or prev.shape[1] != start.shape[1]:
            return start
        return start + (now - resize(prev, now.shape[-2:]))


@dataclass(frozen=True)
class _Prepared:
    """What ``_prepare`` sets up for a run, by name (the fields were a 10-tuple unpacked by position)."""

    device: torch.device
    cfg: TransferConfig  # with its precision resolved for the device
    content_layers: list[str]  # [] for a texture
    layers: list[str]  # the content layers, then the style layers not among them
    net: FeatureNet | HookedNet  # on the device (circular for a tileable texture)
    blend: tuple[float, ...]  # one weight per style image
    c_native: torch.Tensor  # (1, 3, h0, w0): the content at its own resolution, in 0..1
    s_full: list[torch.Tensor]  # each style image (1, 3, hi, wi) at its own resolution
    keep: torch.Tensor | None  # the --mask (1, 1, hm, wm) at its own resolution (_read_mask)
    regions: list[tuple[torch.Tensor, torch.Tensor, str]]  # each region's mask and style, natively, and its style file
    init: torch.Tensor | None  # the --init image at its own resolution (_read_init)
    hw: tuple[int, int]  # the output's (h, w), px
    plan: _LevelPlan


def _prepare(content: Any, styles: list, cfg: TransferConfig, net: FeatureNet | None, *, content_weight: bool,
             circular: bool, on_estimate: Callable[["MemoryEstimate"], None] | None = None) -> _Prepared:
    """What a run sets up before any work at the output size (``_Prepared``): the device, the config
    with its precision resolved, the content and all layers, the net, the blend, the inputs at their
    own resolution, the output shape (h, w), and the plan of its levels, whose memory estimate
    refuses (ResourceError) what cannot fit. ``_stylize`` and ``estimate_memory`` both start here;
    ``on_estimate`` gets that estimate (``_estimate``) once the plan is made."""
    device = resolve_device(cfg.device)
    cfg = dataclasses.replace(cfg, precision=resolve_precision(cfg.precision, device))  # the report says which
    content_layers = list(cfg.content_layers) if content_weight else []
    layers = content_layers + [l for l in cfg.style_weights if l not in content_layers]
    _check_net(cfg, layers, net, texture=not content_weight)
    if not styles:
        raise ConfigError("no style image given")
    blend = cfg.style_blend or tuple(1.0 for _ in styles)
    check_blend(blend, len(styles))
    # Inputs are decoded at their own resolution (bounded by max_pixels) and resized per level, after
    # the memory check: nothing is allocated at the output size before it is known to fit. All of
    # them before the net is built (about a second): a missing or broken file is refused at once.
    c_native = load_image(content, None, max_pixels=cfg.max_pixels, name="content")
    s_full = [load_image(s, max_pixels=cfg.max_pixels, name="style") for s in styles]
    regions = []
    for r in cfg.regions:
        mpath, _, spath = r.partition("=")
        regions.append((_read_mask(mpath, cfg, "region mask"), load_image(spath, max_pixels=cfg.max_pixels, name="style"),
                        spath))
    keep = _read_mask(cfg.mask, cfg, "mask") if cfg.mask else None
    init = _read_init(cfg)
    net = _ready_net(cfg, layers, net, device, texture=not content_weight)
    if circular:
        net = net.circular()
    hw = resized_shape(*c_native.shape[-2:], cfg.size)
    asked, option = size_words(cfg)
    if content_weight:
        label = content if isinstance(content, (str, os.PathLike)) else "content"
        net.check_input_size(hw, layers, f"{label}: at {asked} the content image",
                             f"crop it to a less extreme aspect ratio or raise {option}")
    else:  # a texture: the "content" is only the shape of the canvas
        net.check_input_size(hw, layers, f"texture: at {asked} the texture", f"raise {option}")
    plan = _plan_levels(cfg, net, layers, content_layers, hw, s_full, circular=circular,
                        content_weight=content_weight, device=device)
    prepared = _Prepared(device=device, cfg=cfg, content_layers=content_layers, layers=layers, net=net, blend=blend,
                         c_native=c_native, s_full=s_full, keep=keep, regions=regions, init=init, hw=tuple(hw), plan=plan)
    if on_estimate is not None:
        on_estimate(_estimate(prepared))
    return prepared


@dataclass(frozen=True)
class MemoryEstimate:
    """A run's memory before it starts: the output ``shape`` (h, w) in px, the estimated peak
    ``one_pass_bytes`` of its largest level computed in one pass, the ``budget_bytes``
    (--max-memory, or the free memory if less) and the ``tile`` side (px) that level is computed
    in, None for one pass."""

    shape: tuple[int, int]
    one_pass_bytes: int
    budget_bytes: int
    tile: int | None

    def summary(self) -> str:
        """'about 14.6 GiB in one pass, above the 8.0 GiB budget: in tiles of 928 px' (or 'within the
        8.0 GiB budget')."""
        budget = f"the {self.budget_bytes / 2**30:.1f} GiB budget"
        how = f"within {budget}" if self.tile is None else f"above {budget}: in tiles of {self.tile} px"
        return f"about {self.one_pass_bytes / 2**30:.2f} GiB in one pass, {how}"


def estimate_memory(content: Any, style: Any, *, config: TransferConfig, texture: bool = False,
                    tileable: bool = False, feature_net: FeatureNet | HookedNet | None = None) -> MemoryEstimate:
    """The memory estimate of the run ``transfer(content, style, config=config)`` (or, with
    ``texture``, of ``texture(style, config=config, tileable=tileable)``; ``content`` is then
    ignored) before it starts, by the engine's own planning (``_prepare``): it raises the run's
    ResourceError, one line with the estimate and a size (or --dpi) that fits, when the run would
    be refused. Builds the net and reads the inputs, as the run will again; a run's
    ``on_estimate`` gets the same figures from its own planning, without that second build."""
    cfg = config.validated()
    if texture:
        content = torch.full((1, 3, cfg.size, cfg.size), 0.5)
    net = feature_net
    return _estimate(_prepare(content, _as_list(style), cfg, net, content_weight=not texture,
                              circular=texture and tileable))


def _estimate(p: _Prepared) -> MemoryEstimate:
    """The memory estimate of a prepared run: its largest level, as _plan_levels planned it in its budget."""
    need = [one_pass_bytes(p.net, (1, 3, *sh), p.cfg.optimizer, p.plan.sliced[k]) for k, sh in enumerate(p.plan.shapes)]
    big = max(range(len(need)), key=need.__getitem__)
    return MemoryEstimate(shape=p.hw, one_pass_bytes=need[big], tile=p.plan.tiles[big], budget_bytes=p.plan.budget)


def _stylize(content: Any, styles: list, cfg: TransferConfig, *, callback: Callback | None, net: FeatureNet | None,
             t_start: float, content_weight: bool = True, circular: bool = False,
             checkpoint: dict | None = None, on_estimate: Callable[[MemoryEstimate], None] | None = None
             ) -> TransferResult:
    """The engine: pyramid levels of single-level optimizations (see pyramid.py), tiled where a
    level is too large for one pass. Without ``content_weight`` the content only gives the shape and
    start image (texture synthesis); ``circular`` makes the output wrap around (tileable).
    ``on_estimate``: see ``_prepare``."""
    from . import color
    from .pyramid import run_pyramid
    from .resample import resize_image

    p = _prepare(content, styles, cfg, net, content_weight=content_weight, circular=circular, on_estimate=on_estimate)
    device, cfg, content_layers, layers, net, plan = p.device, p.cfg, p.content_layers, p.layers, p.net, p.plan
    blend, s_full, hw, init = p.blend, p.s_full, p.hw, p.init
    c_full = resize_image(p.c_native, hw).clamp(0, 1)
    regions = [(_fit_mask(m, hw), s, spath) for m, s, spath in p.regions]
    keep = _fit_mask(p.keep, hw) if p.keep is not None else None
    del p  # with it the inputs at their own resolution (the content up to max_pixels), no longer needed
    levels = _Levels(cfg, net, fast_forward(net, device, cfg.precision), plan, c_full=c_full, s_full=s_full,
                     blend=blend, style_labels=[s if isinstance(s, (str, os.PathLike)) else "style" for s in styles],
                     regions=regions, keep=keep, init=init, content_layers=content_layers, layers=layers,
                     content_weight=content_weight, circular=circular, device=device)

    resume, previous = None, []
    if checkpoint is not None:
        x_ck, st_ck, it_ck, previous = _check_checkpoint(checkpoint, cfg, None)
        level_ck = int(st_ck.get("level", len(plan.shapes) - 1)) if isinstance(st_ck, dict) else len(plan.shapes) - 1
        if not 0 <= level_ck < len(plan.shapes) or tuple(x_ck.shape[-2:]) != tuple(plan.shapes[level_ck]):
            raise ConfigError("checkpoint: its image does not match this run's levels; same inputs and --size needed")
        resume = {"level": level_ck, "x": x_ck.to(device), "state": _on_device(st_ck, device), "iter": it_ck}

    use_detail = cfg.pyramid_detail and content_weight and not circular
    with net.held():  # a caller's model frozen through the backward passes too (HookedNet.held)
        res = run_pyramid(levels, len(plan.shapes), levels.x0, optimizer=cfg.optimizer, lr=cfg.lr, callback=callback,
                          ema=cfg.ema, post=levels.post, circular=circular, resume=resume,
                          check_every=check_interval(cfg, device), restore=levels.restore if use_detail else None,
                          pin_from=plan.pin_from, schedule=[(n, max(sh)) for n, sh in zip(plan.iters, plan.shapes)])
    out = res.x.detach().clamp(0, 1).cpu()
    out = color.finish(cfg.preserve_color, cfg.color_strength, out, levels.c.cpu())
    if keep is not None:
        k = levels.keep_mask.cpu()
        out = k * levels.c.cpu() + (1 - k) * out
    for lv in res.per_level:  # what each level did, for reports and the loss plot's labels
        lv["pass"] = plan.pass_of(lv["level"])
        # tiles follow --max-memory and the free memory: a report says where they were used
        lv["tile"] = plan.tiles[lv["level"]]
    return TransferResult(image=out.clamp(0, 1), history=previous + res.history, evals=res.evals,
                          seconds_optimize=res.seconds, seconds_total=time.perf_counter() - t_start,
                          config=cfg, device=str(device), stopped=res.stopped, message=res.message,
                          state={**res.state, "levels": res.per_level, "tiles": plan.tiles}, x=res.x.detach())
