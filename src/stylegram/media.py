"""The dimension-generic engine: style transfer and texture synthesis of any (1, C, *spatial)
tensor (sound spectrograms, signals, images, volumes, video frames) through one code path.

media tensor -> FeatureNet (same dims, or a net one dimension lower applied to slices along
chosen axes) -> Gram/content losses (losses.py) -> optimize.optimize -> MediaResult. The I/O
modules (io/audio.py, io/signal.py, io/volume.py, io/video.py) only turn files into tensors and
back; the library never prints or writes files.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import torch

from .errors import MAX_SEED, ConfigError, InputError, check_lr, check_seed, check_weight, whole
from .io.image import check_values
from .losses import content_loss, parse_layer_weights, scaled_gram, style_layer_loss, tv_loss
from .nets import FeatureNet
from .nets.features import adapt_channels, split_layers
from .nets.registry import check_net_dims
from .optimize import Callback, optimize
from .types import Iterate

ExtraTerms = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]
# Style layers as the image transfer takes them: {layer: weight}, a list of names (weight 1) or
# the --style-layers string 'relu1_1:0.5,relu2_1:0.5' / 'relu1_1,relu2_1'.
LayerWeights = Mapping[str, float] | Sequence[str] | str
# Content layers: names, or one string 'relu4_2' / 'relu3_2,relu4_2'.
LayerNames = Sequence[str] | str
INF = float("inf")


def layer_weights(spec: LayerWeights | None, default: Mapping[str, float],
                  names: Sequence[str] | None = None) -> dict[str, float]:
    """{layer: weight} of ``spec``, read by the image transfer's --style-layers parser
    (losses.parse_layer_weights: one ConfigError line for a bad name list or weight); ``default``
    when spec is None. An empty spec ({}, [], (), '') is refused in one line, whatever its type
    (an empty dict meant the default, an empty list was refused): no layers is no style loss, as
    the image transfer also refuses; None asks for the default."""
    if spec is None:
        return dict(default)
    if (isinstance(spec, str) and not spec.replace(",", "").strip()) or (
            isinstance(spec, (Mapping, list, tuple)) and not spec):
        # the example is the net's own (an audio net's one layer is 'relu', not relu1_1): its
        # default, or where ``names`` (the net's layers) lack it, its first layers
        pick = default if names is None or all(k in names for k in default) else dict.fromkeys(names, 1.0)
        example = ",".join(f"{k}:{w:g}" for k, w in list(pick.items())[:2])
        raise ConfigError(f"style_layers {spec!r}: no layers given; name at least one, e.g. {example!r}, "
                          "or give None for the default")
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(i, tuple) for i in spec):
        spec = dict(spec)  # ((name, weight), ...), as TransferConfig keeps them and dict() took them
    return parse_layer_weights(spec)


def layer_names(spec: LayerNames, what: str = "content_layers") -> list[str]:
    """Layer names of ``spec``: a sequence of names or a comma-separated string (a bare string
    was read letter by letter: "unknown layer 'r'")."""
    names = split_layers(spec) if isinstance(spec, (str, Sequence)) else None
    if names is None or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{what} {spec!r}: give layer names, e.g. 'relu4_2' or ['relu4_2']")
    return [n.strip() for n in names if n.strip()]


@dataclass
class MediaResult:
    """x: the result (1, C, *spatial) on the CPU; history: one dict per iteration (losses,
    evals, seconds); initial: the loss terms at the start tensor; stopped/message as in
    optimize.OptimizeResult."""

    x: torch.Tensor
    history: list[dict]
    initial: dict[str, float]
    evals: int
    seconds: float
    stopped: str | None = None
    message: str = ""
    state: dict = field(default_factory=dict, repr=False)

    @property
    def final(self) -> dict[str, float]:
        """The loss terms after the last iteration (``initial`` if none ran)."""
        # only the loss terms: not the bookkeeping a level adds to its records (level, size)
        return ({k: v for k, v in self.history[-1].items() if k not in ("iter", "evals", "seconds", "level", "size")}
                if self.history else self.initial)

    def style_drop(self) -> float:
        """initial style loss / final style loss (how many times the Gram loss fell)."""
        return self.initial.get("style", 0.0) / max(self.final.get("style", 0.0), 1e-30)


def activations(net: FeatureNet, x: torch.Tensor, taps: Sequence[str], axes: Sequence[int] = (0, 1, 2),
                picks: Mapping[int, torch.Tensor] | None = None) -> dict[str, list[torch.Tensor]]:
    """{layer: [view activations]} of media x (B=1, C, *spatial) through ``net``.

    If the net has as many spatial dims as x, one view: net(x). If it has one fewer (a 2D net on a
    volume or a video clip), one view per axis in ``axes``: x is cut into slices across that axis,
    the slices go through the net as a batch, and the view is (1, C', S, *rest) so that Gram
    matrices pool all slices' positions. ``picks`` {axis: slice indices} takes only some slices
    (stochastic slicing for big volumes).
    """
    d = x.dim() - 2
    x = adapt_channels(x, net.in_channels)
    taps = list(taps)
    if d == net.dims:
        f = net(x, taps)
        return {t: [f[t]] for t in taps}
    if d != net.dims + 1:
        lower = f" or {d - 1}D" if d > 1 else ""  # slices of 1D media would be 0D: no net reads those
        raise ConfigError(f"a {net.dims}D net cannot read {d}D media; use a {d}D{lower} net (a model of your own: "
                          f"HookedNet(..., dims={d}))")
    out: dict[str, list[torch.Tensor]] = {t: [] for t in taps}
    for ax in axes:
        s = x[0].movedim(1 + ax, 0)  # (S, C, *rest)
        if picks is not None and ax in picks:
            s = s[picks[ax]]
        f = net(s.contiguous(), taps)
        for t in taps:
            out[t].append(f[t].transpose(0, 1).unsqueeze(0))
    return out


def style_targets(net: FeatureNet, style: torch.Tensor | Sequence[torch.Tensor], layers: Sequence[str],
                  axes: Sequence[int] = (0, 1, 2)) -> dict[str, torch.Tensor]:
    """{layer: scaled Gram (1, C', C')} of one or several style exemplars, averaged over exemplars
    and views. Each exemplar is (1, C, *spatial) with the net's dims or one more (sliced)."""
    styles = [style] if isinstance(style, torch.Tensor) else list(style)
    acc: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for s in styles:
            f = activations(net, s, layers, axes)
            for l, views in f.items():
                g = sum(scaled_gram(v) for v in views) / len(views)
                acc[l] = acc.get(l, 0) + g / len(styles)
    return acc


def layout(dims: int) -> str:
    """The documented layout of media with ``dims`` spatial axes, for messages: '(1, C, N)',
    '(1, C, H, W)', '(1, C, D0, D1, D2)'."""
    return {1: "(1, C, N)", 2: "(1, C, H, W)", 3: "(1, C, D0, D1, D2)"}.get(dims, "(1, C, *spatial)")


def check_media(x: object, name: str, shape: str, ndim: int | Sequence[int], *, unit: str | None = None,
                ints: str = "") -> torch.Tensor:
    """``x`` as a tensor after the checks every media API entry makes: a tensor (or array) with
    ``ndim`` axes (the ``shape`` the caller documents, e.g. '(1, C, N)'), floating-point (an
    integer tensor's scale is unknown: int16 PCM is not -1..1; ``ints`` adds the fix to the
    message) and finite values. With ``unit`` (what the values mean, e.g. 'volumes are in 0..1
    (window the data first)') the values must lie in 0..1 give or take io.image.RANGE_SLACK: refused, not
    clamped. Raises InputError (one line) otherwise. Returned as float32, the nets' dtype (a
    float64 array from np.load, or a float16 tensor, met float32 weights in a dtype traceback)."""
    import numpy as np
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name}: cannot use a {type(x).__name__}; give a tensor {shape}")
    dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.dim() not in dims or (x.dim() > 1 and x.shape[0] != 1):
        raise InputError(f"{name}: tensor of shape {tuple(x.shape)}; expected {shape}")
    if not x.is_floating_point():
        raise InputError(f"{name}: tensor of dtype {str(x.dtype).removeprefix('torch.')}; give a floating-point "
                         f"tensor{ints}")
    check_values(x, name, unit)
    return x.float()


def synthesize(net: FeatureNet, style: torch.Tensor | Sequence[torch.Tensor] | None, *,
               content: torch.Tensor | None = None, init: torch.Tensor | None = None,
               shape: Sequence[int] | None = None, style_layers: LayerWeights | None = None,
               content_layers: LayerNames = (), alpha: float = 1.0, beta: float = 1.0, gamma: float = 0.0,
               iters: int = 100, optimizer: str = "lbfgs", lr: float | None = None,
               bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0, axes: Sequence[int] = (0, 1, 2),
               slices_per_axis: int | None = None, extra_terms: ExtraTerms | None = None,
               style_grams: Mapping[str, torch.Tensor] | None = None, noise: tuple[float, float] | None = None,
               normalize: bool = True, callback: Callback | None = None) -> MediaResult:
    """Optimize media x (1, C, *spatial) so that its Gram matrices on ``style_layers`` match the
    style's and (if ``content`` is given) its activations on ``content_layers`` match the content's.
    ``style_layers``: {layer: weight}, a list of names or a string 'a:0.5,b:0.5' / 'a,b' as the
    image transfer's --style-layers; None for the default {'relu': 1.0}; an empty one ({}, [], '')
    is refused, as by the image transfer (``layer_weights``); ``content_layers``: names or 'a,b'.

    J(x) = alpha sum J_content + beta sum_l lambda_l J_style[l] + gamma TV(x) + sum(extra_terms(x)),
    the course's losses on (B, C, *spatial) tensors (for sliced views: averaged over the axes).
    The start is ``init``, else the content, else uniform noise in ``noise`` (default ``bounds``,
    or 0..1 if unbounded) of ``shape``. ``slices_per_axis`` picks that many random slices per axis
    at every evaluation (use optimizer='adam' then: the loss is stochastic). ``style_grams`` gives
    precomputed targets instead of ``style``. ``normalize`` rescales the optimized total so that it
    starts at x.numel() (the reported terms stay raw): a loss that is a mean over N values then has
    per-value gradients of order 1, where L-BFGS's absolute curvature test (y's > 1e-10) and first
    step (|step|_1 = 1) work; raw Gram losses of wide banks, ~0.1 over 1e5 values, leave it stuck.
    Returns a MediaResult with x on the CPU.
    """
    style_layers = layer_weights(style_layers, {"relu": 1.0}, net.layer_names)
    for what, w in (("alpha", alpha), ("beta", beta), ("gamma", gamma),
                    *((f"layer weight of {l}", w) for l, w in style_layers.items())):
        check_weight(what, w)
    if whole("iters", iters) < 0:
        raise ConfigError(f"iters {iters}: must be 0 or more")
    if slices_per_axis is not None and whole("slices_per_axis", slices_per_axis) < 1:  # -1 took all but one
        raise ConfigError(f"slices_per_axis {slices_per_axis}: must be 1 or more (None: every slice)")
    content_layers = layer_names(content_layers) if content is not None else []
    net.check_layers(list(style_layers) + content_layers)
    # Checked here, not only by the typed entries (audio_texture, volume_transfer, ...): a style
    # without its batch axis reached the net as 600 "channels". Any media layout passes, so that
    # media of other dims than the net's get activations' message about the net.
    media_shape = f"{layout(net.dims)} or {layout(net.dims + 1)}"
    if style is not None:
        import numpy as np
        style = [check_media(x, "style", media_shape, (3, 4, 5))
                 for x in ([style] if isinstance(style, (torch.Tensor, np.ndarray)) else style)]
    if content is not None:
        content = check_media(content, "content", media_shape, (3, 4, 5))
    if init is not None:
        init = check_media(init, "init", media_shape, (3, 4, 5))
    if style_grams is None:
        if style is None:
            raise ConfigError("synthesize needs a style exemplar or precomputed style_grams")
        style_grams = style_targets(net, style, list(style_layers), axes)
    targets = dict(style_grams)
    gen = torch.Generator().manual_seed(check_seed(seed))
    if init is not None:
        x0 = init
    elif content is not None:
        x0 = content
    else:
        if shape is None:
            raise ConfigError("synthesize needs content, init or an output shape")
        lo, hi = noise or (bounds if all(abs(b) < INF for b in bounds) else (0.0, 1.0))
        x0 = lo + (hi - lo) * torch.rand(tuple(shape), generator=gen)
    if x0.dim() < 3 or x0.shape[0] != 1:
        raise ConfigError(f"media tensors are (1, C, *spatial); got shape {tuple(x0.shape)}")
    x0 = x0.detach().float()
    with torch.no_grad():
        content_targets = activations(net, content.float(), content_layers, axes) if content_layers else {}
    taps = list(dict.fromkeys(content_layers + list(style_layers)))
    d = x0.dim() - 2
    pick_gen = torch.Generator().manual_seed(int(seed) + 1)

    def picks() -> dict[int, torch.Tensor] | None:
        if not slices_per_axis or d != net.dims + 1:
            return None
        return {ax: torch.randperm(x0.shape[2 + ax], generator=pick_gen)[:slices_per_axis] for ax in axes}

    def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        p = picks()
        f = activations(net, x, taps, axes, p)
        zero = x.new_zeros(())
        js = zero
        for l, w in style_layers.items():
            views = f[l]
            js = js + w * sum(style_layer_loss(v.float(), targets[l]) for v in views) / len(views)
        jc = zero
        for l in content_layers:
            views, tviews = f[l], content_targets[l]
            if p is not None:
                tviews = [t.index_select(2, p[ax]) for t, ax in zip(tviews, axes)]
            jc = jc + sum(content_loss(v.float(), t, "course") for v, t in zip(views, tviews)) / len(views)
        tv = tv_loss(x) if gamma else zero
        terms = {"content": jc, "style": js, "tv": tv}
        total = alpha * jc + beta * js + gamma * tv
        if extra_terms is not None:
            for k, v in extra_terms(x).items():
                terms[k] = v
                total = total + v
        terms["total"] = total / scale
        return terms

    scale = 1.0
    with torch.no_grad():
        initial = {k: float(v) for k, v in loss_fn(x0.clamp(*bounds)).items()}
    if normalize and initial["total"] > 0:
        scale = initial["total"] / x0.numel()
    if iters == 0:
        return MediaResult(x=x0.clamp(*bounds).cpu(), history=[], initial=initial, evals=1, seconds=0.0)
    shown = callback
    if callback is not None and scale != 1.0:
        # the callback (a progress bar) sees the total as the history and report keep it: the
        # objective's, not the normalized one the optimizer minimizes (it showed 'total 110' for
        # a signal texture whose report said 0.004)
        def shown(ev: Iterate) -> bool | None:
            return callback(dataclasses.replace(ev, losses={**ev.losses, "total": ev.losses["total"] * scale}))
    with net.held():  # a caller's model frozen through the backward passes too (HookedNet.held)
        res = optimize(x0, loss_fn, optimizer=optimizer, iters=iters, lr=lr, bounds=bounds, callback=shown)
    for h in res.history:
        h["total"] *= scale
    return MediaResult(x=res.x.detach().cpu(), history=res.history, initial=initial, evals=res.evals,
                       seconds=res.seconds, stopped=res.stopped, message=res.message, state=res.state)


def texture(net: FeatureNet, style: torch.Tensor | Sequence[torch.Tensor], shape: Sequence[int],
            **kwargs) -> MediaResult:
    """Texture synthesis: ``synthesize`` from seeded noise of ``shape`` (1, C, *spatial) with style
    losses only."""
    return synthesize(net, style, shape=shape, **kwargs)


def stylize(net: FeatureNet, content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor],
            **kwargs) -> MediaResult:
    """Style transfer: ``synthesize`` starting from the content (Grinstein et al. 2018 found that
    best for sound) with content and style losses."""
    kwargs.setdefault("content_layers", ("relu",) if "relu" in net.layer_names else ("relu4_2",))
    return synthesize(net, style, content=content, **kwargs)


def check_finite(t: torch.Tensor, what: str) -> None:
    """Raise InputError if media ``t`` holds NaN or Inf values (``what`` names the file)."""
    bad = (~torch.isfinite(t)).sum().item()
    if bad:
        raise InputError(f"{what}: contains {bad} NaN/Inf value(s); fill or mask them before styling")


# ---------------------------------------------------------------------------------------------
# Sound: spectrograms (1, F, T) through a 1D bank whose channels are the frequency bins.

@dataclass
class AudioResult:
    """samples (N,) float32 at ``rate`` Hz; log_mag (1, F, T) the optimized spectrogram; run: the
    MediaResult of the optimization (history, initial/final losses)."""

    samples: torch.Tensor
    rate: int
    log_mag: torch.Tensor
    run: MediaResult


# The random bank's (random_bank, audio_net) one layer: the sound and signal paths' default.
BANK_STYLE_LAYERS = MappingProxyType({"relu": 1.0})


def _bank_layers(net: FeatureNet, layers, what: str = "style_layers"):
    """``layers`` if given, else the bank's 'relu' ({'relu': 1.0} for style, ('relu',) for content),
    which a net of the user's own may not have: then one line that names the option to give."""
    if layers is not None:
        return layers
    if "relu" not in net.layer_names:
        example = f"{{{net.layer_names[-1]!r}: 1.0}}" if what == "style_layers" else f"[{net.layer_names[-1]!r}]"
        raise ConfigError(f"net {net.name!r} has no layer 'relu' (the random bank's, taken by default); name its "
                          f"layers with {what}, e.g. {what}={example}")
    return dict(BANK_STYLE_LAYERS) if what == "style_layers" else ("relu",)


def audio_net(bins: int, *, filters: int = 512, widths: Sequence[int] = (3, 5, 7, 11), seed: int = 0,
              broadband: float = 1.0) -> FeatureNet:
    """The 1D random bank for spectrograms with ``bins`` frequency channels (with a broadband
    component per tap so that it sees the loudness envelope; see ``random_bank``)."""
    from .nets.random import random_bank
    return random_bank(1, in_channels=bins, widths=tuple(widths), filters=filters, seed=seed, broadband=broadband)


TEXTURE_N_FFT = 512


def audio_texture(style: torch.Tensor, rate: int, seconds: float, *, net: FeatureNet | None = None,
                  style_layers: LayerWeights | None = None, iters: int = 100, optimizer: str = "lbfgs",
                  seed: int = 0, gl_iters: int = 100, filters: int = 512, n_fft: int = TEXTURE_N_FFT,
                  callback: Callback | None = None) -> AudioResult:
    """A new sound of ``seconds`` s with the texture statistics (1D Gram matrices of a random
    conv bank over the log-magnitude STFT, ``n_fft`` samples per window, hop n_fft / 4) of
    ``style`` samples (N,) at ``rate`` Hz.

    Textures default to 512-sample windows (23 ms at 22.05 kHz), half the transfer's: rain's drops
    are bursts of about 10 ms, and 46 ms windows smear them (rain_texture.wav, 10 ms frames 1.8 dB
    over their surroundings: 4.4 per second with 1024, 9.2 with 512, 13.4 in the original and none
    in noise of the same spectrum; bench/audio_texture.py).

    ``net``: a 1D net over the spectrogram (1, n_fft / 2 + 1 bins as channels, frames), default
    ``audio_net``; ``style_layers`` {layer: weight} of it whose Gram matrices are matched (or
    names, or 'a:0.5,b:0.5' as ``synthesize``; default {'relu': 1.0}, the random bank's only
    layer; a net of one's own names its own)."""
    style = check_media(style, "style", "(N,) of mono samples", 1, ints=PCM_HINT)
    from .io.audio import griffin_lim, spectrogram
    _check_audio_counts(rate, gl_iters, filters)
    n_fft = whole("n_fft", n_fft)
    if not 0 < seconds < INF:
        raise ConfigError(f"seconds {seconds}: must be a positive, finite number of seconds")
    if n_fft < 64 or n_fft & (n_fft - 1):
        raise ConfigError(f"n_fft {n_fft}: must be a power of two of at least 64")
    if seconds * rate < n_fft:  # Griffin-Lim needs one whole window
        raise ConfigError(f"seconds {seconds:g}: at {rate} Hz that is fewer samples than one {n_fft}-sample window "
                          f"({n_fft / rate:.3f} s); ask for a longer sound")
    if style.shape[-1] < n_fft:  # its statistics would come from the padding around it
        raise InputError(f"style: {style.shape[-1]} samples at {rate} Hz, fewer than one {n_fft}-sample window "
                         f"({n_fft / rate:.3f} s); give a longer sound or raise --max-seconds, or lower --n-fft")
    s = spectrogram(style, rate, n_fft)
    frames = int(round(seconds * rate / s.hop)) + 1
    net = net or audio_net(s.log_mag.shape[1], filters=filters, seed=seed)
    # Start from noise with the style's mean and spread per frequency bin: the long-term spectrum
    # is right from the start and the Gram loss works on the structure over time. (From noise
    # far quieter than the style, the Gram loss is concave along the gradient and L-BFGS crawls.)
    m, sd = s.log_mag.mean(2, keepdim=True), s.log_mag.std(2, keepdim=True)
    gen = torch.Generator().manual_seed(check_seed(seed))
    init = (m + sd * torch.randn((1, s.log_mag.shape[1], frames), generator=gen)).clamp_min(0)
    run = synthesize(net, s.log_mag, init=init, style_layers=_bank_layers(net, style_layers),
                     iters=iters, optimizer=optimizer, bounds=(0.0, INF), seed=seed, callback=callback)
    # rounded: int() of 2.01 * 8000 = 16079.999... wrote 16079 samples, one short of 2.01 s
    y = griffin_lim(run.x, s.n_fft, s.hop, iters=gl_iters, seed=seed, length=round(seconds * rate))
    return AudioResult(y, rate, run.x, run)


PCM_HINT = " of samples in -1..1 (16-bit PCM: divide by 32768)"


def _check_audio_counts(rate: int, gl_iters: int, filters: int) -> None:
    """One line for a sample rate, Griffin-Lim iteration count or filter count that is not a
    usable whole number (they reached torch.stft and the bank as they were)."""
    if whole("rate", rate) < 1:
        raise ConfigError(f"rate {rate}: must be a positive sample rate in Hz, e.g. 22050")
    if whole("gl_iters", gl_iters) < 0:
        raise ConfigError(f"gl_iters {gl_iters}: must be 0 or more")
    whole("filters", filters)


def audio_transfer(content: torch.Tensor, style: torch.Tensor, rate: int, *, net: FeatureNet | None = None,
                   style_layers: LayerWeights | None = None, content_layers: LayerNames | None = None,
                   alpha: float = 1.0, beta: float = 1e3, iters: int = 100, optimizer: str = "lbfgs",
                   seed: int = 0, gl_iters: int = 100, filters: int = 512,
                   callback: Callback | None = None) -> AudioResult:
    """Style transfer of sound: the content's spectrogram is optimized (starting from itself) to
    keep its bank activations and take the style's Gram matrices. Samples (N,) at ``rate`` Hz.

    ``net``: a 1D net over the spectrogram (1, 513 bins as channels, frames), default ``audio_net``;
    ``style_layers`` {layer: weight} of it for the Gram terms (or names, or 'a:0.5,b:0.5' as
    ``synthesize``; default {'relu': 1.0}) and ``content_layers`` for the content term (names or
    'a,b'; default ('relu',)): the random bank's only layer, so a net of one's own names its own."""
    content = check_media(content, "content", "(N,) of mono samples", 1, ints=PCM_HINT)
    style = check_media(style, "style", "(N,) of mono samples", 1, ints=PCM_HINT)
    from .io.audio import N_FFT, griffin_lim, spectrogram
    _check_audio_counts(rate, gl_iters, filters)
    for name, x in (("content", content), ("style", style)):
        if x.shape[-1] < N_FFT:  # Griffin-Lim needs one whole window; a style's would be padding
            raise InputError(f"{name}: {x.shape[-1]} samples at {rate} Hz, fewer than the {N_FFT} of one analysis "
                             f"window ({N_FFT / rate:.3f} s); give a longer sound")
    c, s = spectrogram(content, rate), spectrogram(style, rate)
    net = net or audio_net(c.log_mag.shape[1], filters=filters, seed=seed)
    run = stylize(net, c.log_mag, s.log_mag, style_layers=_bank_layers(net, style_layers),
                  content_layers=_bank_layers(net, content_layers, "content_layers"), alpha=alpha, beta=beta,
                  iters=iters, optimizer=optimizer, bounds=(0.0, INF), seed=seed, callback=callback)
    y = griffin_lim(run.x, c.n_fft, c.hop, iters=gl_iters, seed=seed, length=len(content))
    return AudioResult(y, rate, run.x, run)


# ---------------------------------------------------------------------------------------------
# Video: frame by frame with a 2D net, each frame starting from the previous result.

@dataclass
class VideoResult:
    """frames: the stylized frames (1, 3, H, W) in 0..1; flicker: mean |O_t - O_t-1| divided by
    the input's mean |I_t - I_t-1| (1 = as much change as the input, lower = steadier; None for a one-frame clip);
    runs: one MediaResult per frame computed in this call (resumed frames have none)."""

    frames: list[torch.Tensor]
    flicker: float | None
    runs: dict[int, MediaResult]


def flicker(outputs: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor]) -> float | None:
    """The flicker figure of frames (1, 3, H, W) in 0..1: mean over t of |O_t - O_t-1| divided by
    the same for the input frames (1: the output changes as much as the input). None for fewer
    than two frames: a still image has no change to measure (0 would read as perfectly stable)."""
    if len(outputs) < 2:
        return None
    num = sum(float((b - a).abs().mean()) for a, b in zip(outputs[:-1], outputs[1:]))
    den = sum(float((b - a).abs().mean()) for a, b in zip(inputs[:-1], inputs[1:]))
    return num / max(den, 1e-12)


def temporal_mask(frame: torch.Tensor, prev_frame: torch.Tensor, sigma: float = 0.05) -> torch.Tensor:
    """(1, 1, H, W) weights: 1 where the input did not change between frames, falling to 0 where
    it did (there the output must be free to follow the motion: no optical flow here)."""
    return torch.exp(-(frame - prev_frame).abs().mean(1, keepdim=True) / sigma)


VIDEO_STYLE_LAYERS = MappingProxyType({"relu1_1": 0.2, "relu2_1": 0.2, "relu3_1": 0.2, "relu4_1": 0.2, "relu5_1": 0.2})
VIDEO_CONTENT_LAYERS = ("relu4_2",)


def video_transfer(frames: Sequence[torch.Tensor], style: torch.Tensor, net: FeatureNet, *,
                   temporal: float = 1e3, independent: bool = False, done: Mapping[int, torch.Tensor] | None = None,
                   on_frame: Callable[[int, torch.Tensor], None] | None = None, iters: int = 50,
                   first_iters: int | None = None, style_layers: LayerWeights | None = None,
                   content_layers: LayerNames = VIDEO_CONTENT_LAYERS, alpha: float = 1.0, beta: float = 1e4,
                   optimizer: str = "lbfgs", seed: int = 0, callback: Callback | None = None) -> VideoResult:
    """Stylize frames (1, 3, H, W) in 0..1 one by one with a 2D net.

    Frame t starts from the previous result plus the input's change (I_t - I_t-1) and pays a
    temporal loss ``temporal`` * L0 * mean(mask * (x - O_t-1)^2) / mean(mask), where mask is
    ``temporal_mask`` and L0 the frame's loss at its start (so a masked mean squared change of
    1 / ``temporal`` costs as much as the whole start loss).
    ``independent`` stylizes every frame from its own content without the temporal loss (the
    baseline flicker is measured against). ``done`` {index: frame} are finished frames to reuse
    (resume); ``on_frame(i, frame)`` is called as each new frame is finished. The first frame runs
    ``first_iters`` (default 2 x iters) iterations.
    """
    if not frames:
        raise InputError("no frames given; give a list of frames (1, 3, H, W)")
    rgb = "frames and styles are RGB in 0..1 (divide 0..255 data by 255)"
    frames = [check_media(f, f"frame {i}", "(1, 3, H, W)", 4, unit=rgb) for i, f in enumerate(frames)]
    style = check_media(style, "style", "(1, 3, H, W)", 4, unit=rgb)
    style_layers = layer_weights(style_layers, VIDEO_STYLE_LAYERS)
    content_layers = layer_names(content_layers)
    check_weight("temporal", temporal)
    first_n = 2 * whole("iters", iters) if first_iters is None else whole("first_iters", first_iters)  # 0 is 0
    net.check_layers(list(style_layers) + list(content_layers))
    grams = style_targets(net, style, list(style_layers))
    done = dict(done or {})
    out: list[torch.Tensor] = []
    runs: dict[int, MediaResult] = {}
    for i, f in enumerate(frames):
        if i in done:
            out.append(done[i])
            continue
        first = i == 0 or independent
        extra = None
        init = f
        if not first:
            prev_out, prev_in = out[-1], frames[i - 1]
            init = (prev_out + (f - prev_in)).clamp(0, 1)
            mask = temporal_mask(f, prev_in)
            norm = float(mask.mean()) + 1e-6
            probe = synthesize(net, None, content=f, init=init, style_grams=grams, style_layers=style_layers,
                               content_layers=content_layers, alpha=alpha, beta=beta, iters=0)
            # In units of the frame's start loss, so the weight means the same at any resolution
            # and for any style weights.
            unit = probe.initial["total"]

            def extra(x: torch.Tensor, prev_out=prev_out, mask=mask, norm=norm, unit=unit) -> dict[str, torch.Tensor]:
                return {"temporal": temporal * unit * (mask * (x - prev_out).pow(2)).mean() / norm}
        res = synthesize(net, None, content=f, init=init, style_grams=grams, style_layers=style_layers,
                         content_layers=content_layers, alpha=alpha, beta=beta, extra_terms=extra,
                         iters=first_n if i == 0 else iters, optimizer=optimizer, seed=seed,
                         callback=callback)
        frame = res.x.clamp(0, 1)
        out.append(frame)
        runs[i] = res
        if on_frame is not None:
            on_frame(i, frame)
    return VideoResult(out, flicker(out, list(frames)), runs)


# ---------------------------------------------------------------------------------------------
# Volumes: a 2D net on slices along all three axes (or a 3D net on the whole volume).

# Up to relu3_1 (receptive field 24 px): relu4_1 would double the cost of every slice on a CPU.
SOLID_STYLE_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0}


def solid_texture(exemplar: torch.Tensor, size: int, net: FeatureNet, *, channels: int | None = None,
                  style_layers: LayerWeights | None = None, iters: int = 100,
                  slices_per_axis: int | None = 4, optimizer: str = "adam", lr: float | None = 0.03,
                  levels: int = 2, coarse_iters: int = 100, full_slices_up_to: int = 64, tv: float = 0.5,
                  seed: int = 0, callback: Callback | None = None, name: str = "the exemplar") -> MediaResult:
    """A solid texture (1, C, size, size, size) in 0..1 whose slices along all three axes have the
    Gram statistics of the 2D ``exemplar`` (1, C, H, W) in 0..1 (Kopf et al.'s solid textures by way of
    Gatys' Gram matrices).

    Coarse to fine over ``levels`` cube sizes (size / 2^k, exemplar scaled alike): cubes up to
    ``full_slices_up_to`` voxels use every slice and L-BFGS for ``coarse_iters`` iterations
    (``iters`` at the last level); bigger cubes see ``slices_per_axis`` random slices per axis per
    step (stochastic: Adam, ``lr``) for ``iters`` iterations, which keeps a 128^3 cube affordable
    on a CPU but leaves a speckle that every-slice L-BFGS does not (measured on brick.png at 64^3).
    A grey exemplar (no pixel's channels differ by more than 1/255) gives a grey cube: one channel
    is optimized and repeated, so no colour speckle can appear. ``initial`` of the result is the
    loss at the last level's start (the cube at its full size), ``final`` at its end, so
    ``style_drop`` is the fall at the full size (across levels of other sizes it compared unlike sums).
    """
    exemplar = check_media(exemplar, name, "(1, C, H, W)", 4, unit="exemplars are in 0..1 (divide 0..255 data by 255)")
    check_weight("tv", tv)
    check_lr(lr)  # before the first level, not when the first stochastic level starts
    size, levels, coarse_iters = whole("size", size), whole("levels", levels), whole("coarse_iters", coarse_iters)
    if levels < 1:  # 0 and -3 ran one level without a word
        raise ConfigError(f"levels {levels}: must be 1 or more (1: the cube at its size only)")
    if coarse_iters < 0:  # the first level's check said "iters -1", naming the last level's option
        raise ConfigError(f"coarse_iters {coarse_iters}: must be 0 or more")
    # the cube's slices are matched to the 2D exemplar: a 3D net cannot read the exemplar, and a 1D
    # one sliced it along a third axis it does not have (IndexError)
    check_net_dims(net, (2,), "a solid texture's slices are matched to the 2D exemplar by a 2D net (e.g. "
                               "vgg16-hed, random)")
    grey = channels is None and exemplar.shape[1] == 3 and is_grey(exemplar)
    if grey:
        exemplar = exemplar.mean(1, keepdim=True)
    c = channels or exemplar.shape[1]
    layers = layer_weights(style_layers, volume_style_layers(net))
    net.check_input_size((size, size), layers, f"size {size}: each slice of the cube", "raise --size")
    sizes = [max(8, size >> k) for k in reversed(range(max(1, levels)))]
    sizes = sorted(set(sizes[:-1])) + [size]
    # The coarsest level sees the exemplar scaled by sizes[0] / size: it must still fill the layers.
    f0 = sizes[0] / size
    net.check_input_size([max(0, int(d * f0)) for d in exemplar.shape[2:]], layers,
                         f"{name}: scaled for the {sizes[0]}^3 level, the exemplar",
                         "crop it to a less extreme aspect ratio, or raise --style-size or lower --levels")
    seed = check_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = None
    first: MediaResult | None = None
    history: list[dict] = []
    evals, seconds = 0, 0.0
    for lvl, s in enumerate(sizes):
        ex = exemplar
        if s != size:
            f = s / size
            ex = torch.nn.functional.interpolate(exemplar, scale_factor=f, mode="bilinear", antialias=True,
                                                 align_corners=False).clamp(0, 1)
        if x is None:
            # Gaussian noise with the exemplar's per-channel mean and std: the colours are right
            # from the start and the optimizer spends its steps on structure.
            flat = ex.reshape(ex.shape[1], -1)
            mean, std = flat.mean(1), flat.std(1)
            if mean.numel() != c:
                mean, std = mean.mean().expand(c), std.mean().expand(c)
            view = (1, c, 1, 1, 1)
            # One noise field for all channels: luminance noise, not colour speckle (which the
            # optimizer would first have to remove).
            x = (mean.view(view) + std.view(view) * torch.randn((1, 1, s, s, s), generator=gen)).clamp(0, 1)
        else:
            x = torch.nn.functional.interpolate(x, size=(s, s, s), mode="trilinear", align_corners=False)
        full = s <= full_slices_up_to
        n = coarse_iters if full and s != size else iters

        def cb(done: int, lvl: int = lvl, n: int = n) -> Callback | None:
            """The callback for a run of this level that starts after ``done`` of its ``n``
            iterations: a level run in two halves counts 1..n, as asked, not 1..n/2 twice."""
            if callback is None:
                return None
            return lambda ev: callback(dataclasses.replace(ev, iter=done + ev.iter, iters=n, level=lvl,
                                                           levels=len(sizes)))
        # Each run's own seed, derived from the user's: kept within the 32 bits seeds have
        # (the same as seed + lvl, seed + lvl + 100 for all but the top 101 seeds).
        seeds = [(seed + lvl + off) % (MAX_SEED + 1) for off in (0, 100)]
        if full or tv <= 0:
            runs = [synthesize(net, ex, init=x, style_layers=layers, iters=n, optimizer="lbfgs" if full else optimizer,
                               lr=None if full else lr, slices_per_axis=None if full else slices_per_axis,
                               seed=seeds[0], callback=cb(0))]
        else:
            # First half without TV, then TV weighted against the speckle that half left (calibrated
            # at the start of the second half: weighting it against the smooth upsampled cube gives
            # a TV weight so large that it blurs the bricks away, as measured).
            runs = [synthesize(net, ex, init=x, style_layers=layers, iters=n // 2, optimizer=optimizer, lr=lr,
                               slices_per_axis=slices_per_axis, seed=seeds[0], callback=cb(0))]
            if not runs[0].stopped:
                gamma = tv * runs[0].final["style"] / max(float(tv_loss(runs[0].x)), 1e-12)
                runs.append(synthesize(net, ex, init=runs[0].x, style_layers=layers, iters=n - n // 2,
                                       optimizer=optimizer, lr=None if lr is None else lr * 2 / 3, gamma=gamma,
                                       slices_per_axis=slices_per_axis, seed=seeds[1], callback=cb(n // 2)))
        for run, done in zip(runs, (0, n // 2)):  # the history counts a level's iterations as the callback does
            history += [{**h, "iter": done + h["iter"], "level": lvl, "size": s} for h in run.history]
            evals += run.evals
            seconds += run.seconds
        first = runs[0]  # of this level: the last level's start is the result's initial
        r = runs[-1]
        x = r.x
        if r.stopped == "cancelled":  # as run_pyramid: a stop request ends the whole texture
            break
    if grey:
        x = x.expand(1, 3, *x.shape[2:]).contiguous()
    return MediaResult(x=x, history=history, initial=first.initial, evals=evals, seconds=seconds,
                       stopped=r.stopped, message=r.message)


def is_grey(image: torch.Tensor, tol: float = 1 / 255) -> bool:
    """True if image (1, 3, *spatial) in 0..1 has no colour: every pixel's channels within ``tol``."""
    return bool((image.amax(1) - image.amin(1)).max() <= tol + 1e-6)


def volume_style_layers(net: FeatureNet) -> dict[str, float]:
    """The style layers (with weights) that volume styling uses on ``net`` by default."""
    return {l: w for l, w in SOLID_STYLE_LAYERS.items() if l in net.layer_names} or {"relu": 1.0}


def volume_content_layers(net: FeatureNet) -> list[str]:
    """The content layer that volume styling uses on ``net`` by default (relu4_2, else relu3_2, else
    a bank's relu)."""
    return [l for l in ("relu4_2", "relu3_2", "relu") if l in net.layer_names][:1]


def _elements(net: FeatureNet, layers: Sequence[str], spatial: Sequence[int]) -> int:
    """Float elements of one input of ``spatial`` size through ``net`` up to the deepest of
    ``layers`` (every layer's output on the way, as the forward pass holds them for the backward)."""
    deepest = max(net.layer_names.index(l) for l in layers)
    return sum(net.info[name].elements(spatial) for name in net.layer_names[:deepest + 1])


def estimate_volume_bytes(net: FeatureNet, shape: Sequence[int], *, style_layers: Sequence[str],
                          content_layers: Sequence[str], slices_per_axis: int | None) -> int:
    """Peak bytes (an estimate) of ``volume_transfer`` on a volume of ``shape`` (1, C, D0, D1, D2)
    with Adam: the net's passes over the slices one evaluation takes (``slices_per_axis`` per axis,
    None: every slice) or over the whole volume (a 3D net), held for the backward pass with about as
    much again in transient gradients (transfer.activation_bytes' factor 2.5); the content targets,
    kept for the whole run (every slice of every axis); Adam's copies of the volume; and what every
    run holds (transfer.BASE_BYTES). Bytes, float32."""
    from .transfer import BASE_BYTES
    spatial = [int(v) for v in shape[2:]]
    numel = int(shape[1]) * spatial[0] * spatial[1] * spatial[2]
    taps = list(style_layers) + list(content_layers)
    if net.dims == len(spatial):
        graph = _elements(net, taps, spatial)
        targets = _elements(net, content_layers, spatial) if content_layers else 0
    else:
        graph = targets = 0
        for ax, n in enumerate(spatial):
            rest = spatial[:ax] + spatial[ax + 1:]
            picked = n if slices_per_axis is None else min(n, slices_per_axis)
            graph += picked * _elements(net, taps, rest)
            if content_layers:
                targets += n * sum(net.info[l].elements(rest) for l in content_layers)
    return int(graph * 4 * 2.5) + targets * 4 + 5 * numel * 4 + BASE_BYTES


def volume_transfer(content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor], net: FeatureNet, *,
                    style_layers: LayerWeights | None = None, content_layers: LayerNames | None = None,
                    alpha: float = 1.0, beta: float = 1e4, iters: int = 150, slices_per_axis: int | None = 8,
                    optimizer: str = "adam", lr: float | None = 0.02, seed: int = 0,
                    callback: Callback | None = None) -> MediaResult:
    """Style transfer of a volume (1, C, D0, D1, D2) in 0..1, starting from it: content loss on
    ``content_layers`` and Gram losses on ``style_layers``, both on slices along the three axes
    for a 2D net (style a 2D image or a 3D exemplar), or on the whole volume for a 3D net."""
    content = check_media(content, "content", "(1, C, D0, D1, D2)", 5,
                          unit="volumes are in 0..1 (window the data first: io.volume.window)")
    styles = [check_media(x, "style", "(1, C, H, W) or (1, C, D0, D1, D2)", (4, 5),
                          unit="styles are in 0..1 (divide 0..255 images by 255, window volumes)")
              for x in (style if isinstance(style, (list, tuple)) else [style])]
    # a 1D net would slice the 2D style along a third axis it does not have (IndexError)
    check_net_dims(net, (2, 3), "a volume is styled by a 2D net, which reads its slices (e.g. vgg16-hed), or by "
                                 "a 3D one (vgg16-hed-3d, bank3d)")
    if net.dims == 3 and any(x.dim() == 4 for x in styles):
        # the engine would say "a 3D net cannot read 2D media; use a 2D net": true, but the
        # volume's user more likely means a style volume
        from .nets import default_registry
        name = default_registry().name_of(net.name) or net.name  # what --net calls it
        raise InputError(f"style: a 2D image, but the net {name!r} reads volumes; give a style volume (1, C, D0, "
                         "D1, D2), or a 2D net, which reads the volume's slices (e.g. vgg16-hed)")
    style = styles if isinstance(style, (list, tuple)) else styles[0]
    layers = layer_weights(style_layers, volume_style_layers(net))
    if content_layers is None:
        content_layers = volume_content_layers(net)
    return stylize(net, content, style, style_layers=layers, content_layers=content_layers, alpha=alpha,
                   beta=beta, iters=iters, optimizer=optimizer, lr=lr, slices_per_axis=slices_per_axis,
                   seed=seed, callback=callback)


# ---------------------------------------------------------------------------------------------
# Other 1D signals: channels x samples, standardized per channel.

def signal_texture(signal: torch.Tensor, length: int, *, net: FeatureNet | None = None,
                   style_layers: LayerWeights | None = None, iters: int = 150,
                   filters: int = 256, widths: Sequence[int] = (3, 7, 15, 31), optimizer: str = "lbfgs",
                   seed: int = 0, callback: Callback | None = None) -> tuple[torch.Tensor, MediaResult]:
    """A new signal (1, C, length) with the texture statistics of ``signal`` (1, C, N): each
    channel is standardized (zero mean, unit std), a 1D random bank over all channels gives the
    Gram matrices, the result is mapped back to the signal's units. Returns (signal, run).

    ``net``: a 1D net with C input channels instead of the bank; ``style_layers`` {layer: weight}
    of it whose Gram matrices are matched (or names, or 'a:0.5,b:0.5' as ``synthesize``; default
    {'relu': 1.0}, the bank's only layer)."""
    signal = check_media(signal, "signal", "(1, C, N)", 3)
    from .nets.random import random_bank
    if whole("length", length) < 2:
        raise ConfigError(f"length {length}: must be at least 2 samples")
    mean = signal.mean(-1, keepdim=True)
    std = signal.std(-1, keepdim=True).clamp_min(1e-8)
    z = (signal - mean) / std
    net = net or random_bank(1, in_channels=signal.shape[1], widths=tuple(widths), filters=filters, seed=seed)
    lo, hi = float(z.min()), float(z.max())
    # Bounded by the exemplar's range (with a margin): spikes like ECG R waves stay plausible.
    margin = 0.1 * (hi - lo)
    gen = torch.Generator().manual_seed(check_seed(seed))
    init = torch.randn((1, signal.shape[1], length), generator=gen).clamp(lo, hi)
    run = synthesize(net, z, init=init, style_layers=_bank_layers(net, style_layers), iters=iters,
                     optimizer=optimizer, bounds=(lo - margin, hi + margin), seed=seed, callback=callback)
    return run.x * std + mean, run
