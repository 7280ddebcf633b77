"""Style transfer of images (Gatys et al.): the engine behind ``stylegram transfer``.

media -> tensors (io) -> feature net (nets) -> losses -> optimize -> TransferResult. The library
never prints or writes files; progress goes to the callback and the result holds everything.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from . import __version__
from .device import available_bytes, check_fits, resolve_device
from .errors import ConfigError, InputError, choices_error
from .io.image import load_image, resize_longest, resized_shape, save_image
from .losses import CONTENT_NORMS, StyleObjective, parse_layer_weights, scaled_gram
from .nets import FeatureNet, build_net
from .optimize import OPTIMIZERS, Callback, OptimizeResult, lbfgs_history, optimize

INITS = ("content", "noise", "blend")
PRECISIONS = ("fp32", "bf16")
DEFAULT_STYLE_LAYERS = (("relu1_1", 0.2), ("relu2_1", 0.2), ("relu3_1", 0.2), ("relu4_1", 0.2), ("relu5_1", 0.2))


def _opt(default: Any, help: str, **kw) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class TransferConfig:
    """Every option of a style transfer, with its default and its help text. The CLI and the
    studio build their options from these fields; ``transfer(**options)`` takes them too."""

    size: int = _opt(512, "longest side of the output, px")
    iters: int = _opt(200, "optimizer iterations")
    optimizer: str = _opt("lbfgs", "gd (the course's plain gradient descent), adam or lbfgs", choices=OPTIMIZERS)
    lr: float | None = _opt(None, "step size; default per optimizer (lbfgs 1, adam 0.02, gd 2e-4)")
    alpha: float = _opt(1.0, "content weight")
    beta: float = _opt(100.0, "style weight")
    gamma: float = _opt(0.0, "total-variation weight (smoothness)")
    content_layers: tuple[str, ...] = _opt(("relu4_2",), "content layer(s), comma-separated")
    style_layers: tuple[tuple[str, float], ...] = _opt(DEFAULT_STYLE_LAYERS, "style layers with lambda weights, e.g. relu1_1:0.2,relu2_1:0.2")
    content_norm: str = _opt("course", "content loss normalization: sum, mean or course (1/(4 nH nW nC))", choices=CONTENT_NORMS)
    pooling: str = _opt("max", "pooling in the feature net: max or avg", choices=("max", "avg"))
    init: str = _opt("content", "start image: content, noise, blend, or a path to an image")
    init_noise: float = _opt(0.5, "for init=blend: fraction of noise mixed into the content")
    seed: int = _opt(0, "random seed (noise init, random nets); CPU runs are reproducible")
    device: str = _opt("auto", "auto, cpu, cuda or mps")
    net: str = _opt("vgg16-hed", "feature net (see `stylegram nets`)")
    weights: str | None = _opt(None, "weights file for the net (.safetensors, .pth, .h5) instead of the default")
    max_pixels: int = _opt(100_000_000, "refuse input images larger than this many pixels")
    precision: str = _opt("fp32", "fp32, or bf16 (autocast: faster on CPUs with AVX512-BF16/AMX and on GPUs)",
                          choices=PRECISIONS)

    def validated(self) -> "TransferConfig":
        """Normalize list-like fields and check every value; raises ConfigError."""
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
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"lr {self.lr}: must be positive")
        for k in ("alpha", "beta", "gamma"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{k} {getattr(self, k)}: must be 0 or more")
        if self.init not in INITS and not os.path.exists(str(self.init)):
            raise ConfigError(f"init {self.init!r}: not one of {', '.join(INITS)} and not an existing image file")
        if not 0 <= self.init_noise <= 1:
            raise ConfigError(f"init_noise {self.init_noise}: must be between 0 and 1")
        content = tuple(self.content_layers.split(",")) if isinstance(self.content_layers, str) else tuple(self.content_layers)
        content = tuple(c.strip() for c in content if c.strip())
        sl = self.style_layers
        style = parse_layer_weights(dict(sl) if isinstance(sl, tuple) and sl and isinstance(sl[0], tuple) else sl)
        return dataclasses.replace(self, content_layers=content, style_layers=tuple(style.items()))

    @property
    def style_weights(self) -> dict[str, float]:
        """{style layer: lambda}."""
        return dict(self.style_layers)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["style_layers"] = self.style_weights
        d["content_layers"] = list(self.content_layers)
        return d


@dataclass
class TransferResult:
    """The outcome of ``transfer``: image (1, 3, H, W) in 0..1 on the CPU, the per-iteration
    history, timings, and the configuration and environment that produced it."""

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
    x: torch.Tensor | None = field(default=None, repr=False)  # the unclamped optimizer iterate

    def checkpoint(self) -> dict:
        """Everything needed to resume this run: a dict of tensors and plain values that
        ``torch.save`` writes and ``torch.load(weights_only=True)`` reads back safely."""
        return {"kind": "stylegram-transfer", "params": self.config.to_dict(),
                "x": self.x if self.x is not None else self.image, "state": self.state,
                "iter": self.state.get("iter", len(self.history)), "history": self.history}

    @property
    def s_per_eval(self) -> float:
        return self.seconds_optimize / max(self.evals, 1)

    def metadata(self) -> dict:
        """Parameters, versions and device: what a report or a PNG's metadata records."""
        return {"stylegram": __version__, "params": self.config.to_dict(), "device": self.device,
                "versions": versions()}

    def report(self) -> dict:
        """The JSON-able run report: parameters, versions, device, timings and history."""
        return {**self.metadata(), "evals": self.evals, "seconds_optimize": round(self.seconds_optimize, 4),
                "seconds_total": round(self.seconds_total, 4), "s_per_eval": round(self.s_per_eval, 5),
                "stopped": self.stopped, "message": self.message,
                "size": list(self.image.shape[-2:]), "history": self.history}

    def to_pil(self):
        from .io.image import tensor_to_pil
        return tensor_to_pil(self.image)

    def save(self, path: str | os.PathLike) -> None:
        """Write the image atomically; PNGs carry ``metadata()`` in a text chunk."""
        save_image(self.image, path, metadata=self.metadata())


def versions() -> dict:
    import numpy
    import PIL
    return {"stylegram": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "pillow": PIL.__version__, "python": platform.python_version()}


def activation_bytes(net: FeatureNet, shape: tuple[int, ...]) -> int:
    """Estimated bytes of one forward + backward pass of ``net`` on media of ``shape`` (B, C, *sp):
    every layer's float32 output is kept for the backward pass, plus about as much again in
    transient gradients."""
    spatial = list(shape[2:])
    total = 0
    for name, info in net.info.items():
        n = info.channels
        for s in spatial:
            n *= max(1, s // info.jump)
        total += n
    return int(total * 4 * 2.5)


def estimate_transfer_bytes(net: FeatureNet, shape: tuple[int, ...], optimizer: str) -> int:
    """Peak bytes of a transfer of media ``shape``: the net's passes plus the optimizer's memory."""
    numel = 1
    for s in shape:
        numel *= s
    extra = {"lbfgs": 2 * lbfgs_history(numel) + 4, "adam": 4, "gd": 2}[optimizer] * numel * 4
    return activation_bytes(net, shape) + extra + 200 * 2**20


def largest_fitting_size(net: FeatureNet, hw: tuple[int, int], optimizer: str, budget: int) -> int:
    """The largest --size (longest side, px) whose estimated transfer fits ``budget`` bytes, or 0."""
    lo, hi = 0, 1 << 16
    while hi - lo > 8:
        mid = (lo + hi) // 2
        shape = (1, 3, *resized_shape(int(hw[0]), int(hw[1]), mid))
        if estimate_transfer_bytes(net, shape, optimizer) <= budget:
            lo = mid
        else:
            hi = mid
    return lo // 8 * 8


def _init_image(cfg: TransferConfig, content: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if cfg.init == "content":
        return content.clone()
    noise = torch.rand(content.shape, generator=gen).to(content.device)
    if cfg.init == "noise":
        return noise
    if cfg.init == "blend":
        return (1 - cfg.init_noise) * content + cfg.init_noise * noise
    img = load_image(cfg.init, max_pixels=cfg.max_pixels).to(content.device)
    return torch.nn.functional.interpolate(img, size=content.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)


def fast_forward(net: FeatureNet, device: torch.device, precision: str = "fp32"):
    """``net``'s forward arranged for speed: channels-last memory (oneDNN/cuDNN's preferred
    layout for 3 x 3 convolutions) and, for ``precision='bf16'``, autocast. Activations come back
    in the compute dtype; the losses upcast to float32 before their sums. (Weights stored
    channels-last save a conversion per call; ``transfer`` does that for the nets it builds.)"""
    use_bf16 = precision == "bf16"

    def forward(x: torch.Tensor, taps):
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            return net(x, taps)
    return forward


def _min_side(net: FeatureNet, layers: list[str]) -> int:
    return max(net.info[l].jump for l in layers) * 2


def transfer(content: Any, style: Any, *, config: TransferConfig | None = None, callback: Callback | None = None,
             feature_net: FeatureNet | None = None, checkpoint: dict | None = None,
             **options: Any) -> TransferResult:
    """Stylize ``content`` with ``style`` by optimizing the pixels of G (Gatys et al.).

    content, style: paths, PIL images or tensors (3, H, W) / (1, 3, H, W) in 0..1. ``options`` are
    TransferConfig fields (e.g. ``size=256, iters=100, optimizer='adam'``) and override ``config``.
    ``feature_net`` lets a caller reuse a built FeatureNet (or bring their own). ``callback(Iterate)``
    sees every iteration and stops the run by returning True. ``checkpoint`` (from
    ``TransferResult.checkpoint()`` of a stopped run with the same inputs and options) resumes it:
    on the CPU with the same seed the result equals that of an uninterrupted run.
    Returns a TransferResult with the image (1, 3, H, W) in 0..1.
    """
    t_start = time.perf_counter()
    cfg = config or TransferConfig()
    unknown = set(options) - {f.name for f in dataclasses.fields(TransferConfig)}
    if unknown:
        raise choices_error("option", sorted(unknown)[0], [f.name for f in dataclasses.fields(TransferConfig)])
    cfg = dataclasses.replace(cfg, **options).validated()
    device = resolve_device(cfg.device)
    content_layers = list(cfg.content_layers)
    style_weights = cfg.style_weights
    layers = content_layers + [l for l in style_weights if l not in content_layers]

    if feature_net is None:
        net = build_net(cfg.net, layers=layers, pooling=cfg.pooling, weights=cfg.weights, seed=cfg.seed)
        net.to(memory_format=torch.channels_last)
    else:
        net = feature_net
        net.check_layers(layers)
    net = net.to(device)

    c = load_image(content, None, max_pixels=cfg.max_pixels, name="content")
    s = load_image(style, None, max_pixels=cfg.max_pixels, name="style")
    out_shape = (1, 3, *resized_shape(*c.shape[-2:], cfg.size))
    # Refuse before allocating anything at the output size, naming a size that would fit.
    need_bytes = estimate_transfer_bytes(net, out_shape, cfg.optimizer)
    if need_bytes > available_bytes(device):
        fits = largest_fitting_size(net, c.shape[-2:], cfg.optimizer, available_bytes(device))
        check_fits(need_bytes, device, f"a {out_shape[-1]} x {out_shape[-2]} px transfer",
                   f"use --size {fits} or less" if fits else "free some memory")
    c, s = resize_longest(c, cfg.size), resize_longest(s, cfg.size)
    need = _min_side(net, layers)
    for what, src, t in (("content", content, c), ("style", style, s)):
        if min(t.shape[-2:]) < need:
            label = src if isinstance(src, (str, os.PathLike)) else what
            raise InputError(f"{label}: at --size {cfg.size} the {what} image is {t.shape[-1]} x {t.shape[-2]} px, but "
                             f"layer {max(layers, key=lambda l: net.info[l].jump)} needs at least {need} px on each side; "
                             "crop it to a less extreme aspect ratio or raise --size")
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

    previous: list[dict] = []
    if checkpoint is not None:
        x0, state, start, previous = _check_checkpoint(checkpoint, cfg, c)
        x0 = x0.to(device)
    else:
        x0, state, start = _init_image(cfg, c, torch.Generator().manual_seed(cfg.seed)), None, 0
    res: OptimizeResult = optimize(x0, loss_fn, optimizer=cfg.optimizer, iters=cfg.iters, lr=cfg.lr,
                                   callback=callback, start_iter=start, state=state)
    return TransferResult(image=res.x.detach().clamp(0, 1).cpu(), history=previous + res.history,
                          evals=res.evals, seconds_optimize=res.seconds,
                          seconds_total=time.perf_counter() - t_start, config=cfg, device=str(device),
                          stopped=res.stopped, message=res.message, state=res.state, x=res.x.detach())


# Options that may differ between a stopped run and its resumption.
_RESUMABLE = {"iters", "device"}


def _check_checkpoint(ckpt: dict, cfg: TransferConfig, content: torch.Tensor):
    try:
        params, x, state, it = ckpt["params"], ckpt["x"], ckpt["state"], int(ckpt["iter"])
    except (KeyError, TypeError, ValueError):
        raise InputError("checkpoint: not a stylegram transfer checkpoint") from None
    now = cfg.to_dict()
    for k, v in params.items():
        if k not in _RESUMABLE and now.get(k) != v:
            raise ConfigError(f"checkpoint: option {k} was {v!r} in the stopped run, now {now.get(k)!r}; "
                              "resume with the same options")
    if tuple(x.shape) != tuple(content.shape):
        raise ConfigError(f"checkpoint: image is {tuple(x.shape)}, this run's is {tuple(content.shape)}; same inputs and --size needed")
    return x, state, it, list(ckpt.get("history", []))
