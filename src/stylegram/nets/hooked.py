"""Any PyTorch model as a feature net: tap named submodules with forward hooks.

``HookedNet(model, layers)`` behaves like a FeatureNet for the explorer and for style transfer
(``transfer(..., feature_net=HookedNet(...))``): ``net(x, taps)`` returns
{name: activation}, stopping the model's forward as soon as the last requested tap has fired, and
``net.info`` holds each layer's receptive field, measured once by gradient probes (the model need
not be a chain, so the arithmetic of ``nets.receptive`` does not apply). Hooks live only for the
duration of one call.
"""
from __future__ import annotations

import collections
import contextlib
import itertools
import re
import threading
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from ..errors import ConfigError, choices_error
from ..types import LayerInfo
from .features import TapChecks, adapt_channels, circular_padding, split_layers


class _Stop(Exception):
    pass


class HookedNet(TapChecks, nn.Module):
    """Taps the outputs of named submodules of ``model`` (names as in ``model.named_modules()``).

    ``preprocess`` maps RGB in 0..1 to the model's input (e.g. ``nets.InputConvention`` with the
    ImageNet mean/std). ``dims`` is the number of spatial axes the model reads: 2 for images
    (N, C, H, W), 1 for signals and spectrograms (N, C, L), 3 for volumes (N, C, D, H, W); the
    media engine (``stylegram.media``) feeds it media of that many axes, or slices of media with
    one more. Receptive fields are probed on first use of ``info``, on an input ``probe_size``
    long along every axis (default 224, 64 for 3D models: a 224^3 float64 probe is 90 MB per
    channel before the first layer), on a copy whose max-pooling modules average (max pooling written as ``F.max_pool2d`` in
    ``forward`` cannot be swapped, and passes each gradient to one input: its fields come out too
    small, so use ``nn.MaxPool2d`` modules).
    The model is left as the caller gave it (train or eval mode, ``requires_grad``): each forward
    runs it in eval mode with its parameters frozen and restores both after, so batch-norm
    statistics never change and a model wrapped between training steps still trains. Calls may
    overlap (threads sharing a net, several nets or a ``circular()`` copy on one model): the model
    stays frozen while any of them runs and is given back when the last one ends; each call takes
    its own thread's forward, and one that a model runs in threads of its own (nn.DataParallel over
    several GPUs) while no other call taps the model. A model with
    activation checkpointing (``torch.utils.checkpoint``, timm's ``set_grad_checkpointing``)
    recomputes parts of its forward in the backward pass, after that restore, in its own mode
    (torch's CheckpointError): so the engines (transfer, texture, the media engine,
    reconstructions) hold the model frozen for their whole run with ``held()``, and a caller who
    runs a backward through the taps should too (``with net.held(): ...``). Reentrant
    checkpointing does not work with ``torch.autograd.grad``, which the engines use (torch says
    so): use ``use_reentrant=False``. Tap modules that run once per forward: a module
    used several times (torchvision's shared ``relu`` in a ResNet block) is tapped at its first
    call; tap the block, or a module of its own, instead. Memory estimates (``max_memory``, tiled
    renders) count the tapped layers' activations only, so leave room for the rest of the model.
    ``in_channels``: the channels the model reads; images (RGB) reach a 1-channel model as their
    channel mean, and grey media a 3-channel one repeated, as in the media engine.
    A model in another floating dtype (float64, float16) is fed x in its dtype, and its taps come
    back in x's. A ``torch.compile`` d model is tapped (and run) as the module it wraps, names with
    or without its ``_orig_mod.`` prefix; TorchScript modules cannot be hooked and are refused, as
    is a model whose forward needs more than one input (wrap it in a module that supplies the rest).
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], preprocess: nn.Module | None = None, *,
                 name: str | None = None, probe_size: int | None = None, in_channels: int = 3, dims: int = 2):
        super().__init__()
        if dims not in (1, 2, 3) or isinstance(dims, bool):
            raise ConfigError(f"dims {dims!r}: must be 1, 2 or 3 (the spatial axes the model reads: 1 for "
                              "signals, 2 for images, 3 for volumes)")
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model: a {type(model).__name__} is not a torch module; HookedNet taps the named "
                              "submodules of an nn.Module")
        if isinstance(model, torch.jit.ScriptModule):
            raise ConfigError(f"model: a TorchScript module ({type(model).__name__}) cannot be tapped, as TorchScript "
                              "does not run forward hooks; give the nn.Module it was scripted or traced from")
        compiled = getattr(model, "_orig_mod", None)
        if isinstance(compiled, nn.Module):
            # torch.compile's wrapper: its graph would be broken by the hooks and the early stop
            # (the style loss's backward then failed on donated buffers); run the module itself
            model = compiled
            layers = [l.removeprefix("_orig_mod.") for l in split_layers(layers)]
        _check_single_input(model)
        self.model = model  # not frozen here: the caller's model keeps its mode (see ``_frozen``)
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        self.name = name or type(model).__name__
        self.probe_size = probe_size if probe_size is not None else 64 if dims == 3 else 224
        self.in_channels = in_channels
        self.dims = dims
        modules = dict(model.named_modules())
        layers = split_layers(layers)  # 'a,b' names two layers, as everywhere else
        if not layers:
            raise ConfigError("no layers given; name the submodules to tap, e.g. HookedNet(model, ['layer1', 'layer2'])")
        for l in layers:
            if l not in modules or l == "":
                raise choices_error(f"layer of {self.name}:", l, [n for n in modules if n])
        self._layers = list(layers)
        self._info: dict[str, LayerInfo] | None = None
        self._info_of: Callable[[], dict[str, LayerInfo]] | None = None  # circular(): the original's fields

    @property
    def layer_names(self) -> list[str]:
        """The module names given as layers, in the order given."""
        return list(self._layers)

    @property
    def info(self) -> dict[str, LayerInfo]:
        """{layer: LayerInfo}: channels, stride and receptive field, probed once on first use (at
        ``probe_size``, doubled until the deepest field fits: a 3D model's default 64 px is too
        small for a VGG-deep tap)."""
        if self._info is None and self._info_of is not None:
            self._info = self._info_of()
        if self._info is None:
            from .receptive import probe_growing
            self._info = {l: probe_growing(self, l, self.probe_size, in_channels=self.in_channels, dims=self.dims)
                          for l in self._layers}
        return self._info

    def circular(self) -> "HookedNet":
        """The same model (weights shared) with circular padding in every convolution, and the same
        receptive fields (circular padding changes what the border pixels are, not which pixels a
        unit sees): this net's, measured once for both."""
        net = HookedNet(circular_padding(self.model), self._layers, self.preprocess, name=self.name,
                        probe_size=self.probe_size, in_channels=self.in_channels, dims=self.dims)
        net._info = self._info
        net._info_of = lambda: self.info  # not measured yet: the copy's probes measured them again
        return net

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The caller's model in eval mode with frozen parameters until the block ends, backward
        passes included (a checkpointed model recomputes its forward there), then given back as
        it was. Holds nest and overlap (in several threads, or through several nets on one
        model): the model is given back when the last of them ends."""
        with _frozen(self.model):
            yield

    def train(self, mode: bool = True) -> "HookedNet":
        # Always eval, without reaching into the caller's model: forward runs it in eval mode anyway.
        self.training = False
        self.preprocess.train(False)
        return self

    def forward(self, x: torch.Tensor, taps: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """The outputs of the modules ``taps`` (default: every layer) for the model's input x,
        (N, C, *spatial) with ``dims`` spatial axes, e.g. (N, 3, H, W): {name: tensor as the module
        returns it, copied so that a later in-place op of the model cannot change it}; the model
        stops after the last tap."""
        want = self.check_layers(self._layers if taps is None else taps)  # a list; 'a,b' is split
        out: dict[str, torch.Tensor] = {}
        modules = dict(self.model.named_modules())
        handles = []
        dtype = _float_dtype(self.model)
        # Hooks sit on the caller's modules, which other threads' calls (of this net, another net
        # or a circular() copy on the same model) run too: a hook that fired for any thread took
        # another call's activation and stopped that call's forward, which then came back without
        # its taps. So a call takes its own thread's forward, and a thread that is no call's own
        # (a model running its layers in worker threads, as nn.DataParallel does over several
        # GPUs) only while no other call taps the module: whose forward that is cannot be told.
        caller = threading.get_ident()

        def hook_for(name: str):
            def hook(m, _inp, output):
                if threading.get_ident() != caller and not _tapped_alone(m, caller):
                    return
                if name in out:  # a module run several times is tapped at its first call
                    return
                # A copy: the model may go on to change this very tensor in place (a BatchNorm or a
                # convolution followed by ReLU(inplace=True)), and the tap would silently hold the
                # values after that op. (Inference tensors carry no version counter to tell.)
                out[name] = output.clone() if isinstance(output, torch.Tensor) else output
                if len(out) == len(want):
                    raise _Stop  # nothing after the last tap is needed
            return hook

        tapped = [modules[n] for n in want]
        try:
            _tap_start(tapped, caller)
            for n in want:
                handles.append(modules[n].register_forward_hook(hook_for(n)))
            if {x.shape[1], self.in_channels} == {1, 3}:
                # as the media engine feeds media to a net: RGB images to a grey model as their
                # channel mean, grey ones to an RGB model repeated (other mismatches: see below)
                x = adapt_channels(x, self.in_channels)
            x_in = self.preprocess(x)
            if dtype is not None and x_in.is_floating_point() and x_in.dtype != dtype:
                x_in = x_in.to(dtype)  # a float64 or float16 model: a dtype error from its first layer
            with self.held():
                try:
                    self.model(x_in)
                except _Stop:
                    pass
                except RuntimeError as e:
                    if re.search(r"expected input\[.*\] to have \d+ channels, but got \d+ channels", str(e)):
                        # in_channels is what the probes and the engines feed: a grey model left at
                        # the default 3 failed in torch on its first convolution
                        raise ConfigError(f"model {self.name}: {str(e).splitlines()[0]}; give HookedNet(..., "
                                          "in_channels=N) with the channels the model reads") from None
                    raise
        finally:
            for h in handles:
                h.remove()
            _tap_end(tapped, caller)
        if dtype is not None and x.is_floating_point() and dtype != x.dtype:
            # back in the caller's dtype (the engine's targets and losses are float32); an autocast
            # output (bfloat16) is not the model's dtype and stays as it is
            out = {n: t.to(x.dtype) if isinstance(t, torch.Tensor) and t.dtype == dtype else t for n, t in out.items()}
        return out


# The calls tapping each module now, by thread: {id of the module's hook table: Counter of the
# callers' thread ids}. Keyed by the hook table, not the module: a circular() copy's modules and
# nn.DataParallel's replicas are other objects that share their original's table, so a hook
# registered on one fires for all of them. Entries live only while a call is in flight.
_TAP_LOCK = threading.Lock()
_TAPPING: dict[int, collections.Counter] = {}


def _tap_start(modules: list[nn.Module], caller: int) -> None:
    with _TAP_LOCK:
        for m in modules:
            _TAPPING.setdefault(id(m._forward_hooks), collections.Counter())[caller] += 1


def _tap_end(modules: list[nn.Module], caller: int) -> None:
    with _TAP_LOCK:
        for m in modules:
            key = id(m._forward_hooks)
            callers = _TAPPING.get(key)
            if callers is None or not callers[caller]:  # _tap_start failed part-way
                continue
            callers[caller] -= 1
            if not callers[caller]:
                del callers[caller]
            if not callers:
                del _TAPPING[key]


def _tapped_alone(module: nn.Module, caller: int) -> bool:
    """Whether the call of thread ``caller`` is the only one tapping ``module`` now: the hook of
    that call may then take a forward run in another thread (the model's own worker)."""
    with _TAP_LOCK:
        callers = _TAPPING.get(id(module._forward_hooks))
        return callers is not None and set(callers) == {caller}


def _float_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of ``model``'s first floating parameter or buffer; None if it has none."""
    for t in itertools.chain(model.parameters(), model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def _check_single_input(model: nn.Module) -> None:
    """ConfigError when ``model.forward`` needs more than one argument: HookedNet calls it with the
    image alone, and the TypeError came from deep inside a run."""
    import inspect
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):  # a builtin or C++ forward: nothing to read
        return
    needed = [p.name for p in params if p.default is inspect.Parameter.empty
              and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if len(needed) > 1:
        raise ConfigError(f"model: {type(model).__name__}.forward needs {len(needed)} inputs ({', '.join(needed)}); "
                          "HookedNet gives it the image alone: wrap the model in a module whose forward(x) supplies "
                          "the others")


# What every hold in this process has saved: {id: [holds, object, value before the first hold]},
# for modules (``training``) and parameters (``requires_grad``). One registry for all HookedNets,
# not a flag per net: two threads calling one net, two nets on one model, and a net and its
# circular() copy (other modules, the same parameters) all hold the same objects. Saving per call
# took the first call's frozen state for the original (and, ending last, put that back for good).
_HOLD_LOCK = threading.RLock()
_HELD_MODES: dict[int, list] = {}
_HELD_GRADS: dict[int, list] = {}


def _hold(table: dict[int, list], objs: list, value: Callable[[object], bool]) -> None:
    for o in objs:
        entry = table.get(id(o))
        if entry is None:
            table[id(o)] = [1, o, value(o)]  # the first hold saves; it keeps ``o`` alive, so its id stays its own
        else:
            entry[0] += 1


def _release(table: dict[int, list], objs: list, restore: Callable[[object, bool], None]) -> None:
    for o in objs:
        entry = table[id(o)]
        entry[0] -= 1
        if entry[0] == 0:  # the last hold out gives back what the first one found
            del table[id(o)]
            restore(o, entry[2])


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Run ``model`` in eval mode with its parameters frozen, then give back each module's mode and
    each parameter's ``requires_grad`` as they were: batch norms in train mode would use (and
    update) the batch's statistics, and parameters that require grad would collect gradients of
    the style loss. Autograd records ``requires_grad`` when an op runs, so restoring it afterwards
    leaves the returned activations' graph without the parameters.

    Holds count, across threads and nets: the first hold of a module or parameter saves its state,
    and only the last one to end restores it, so the model stays frozen while any call runs and
    comes back as the caller left it."""
    modules, params = list(model.modules()), list(model.parameters())
    with _HOLD_LOCK:  # saving and freezing as one step: another thread's restore cannot fall between
        _hold(_HELD_MODES, modules, lambda m: m.training)
        _hold(_HELD_GRADS, params, lambda p: p.requires_grad)
        try:
            model.eval()
            for p in params:
                p.requires_grad_(False)
        except BaseException:
            _release(_HELD_MODES, modules, _set_mode)
            _release(_HELD_GRADS, params, _set_grad)
            raise
    try:
        yield
    finally:
        with _HOLD_LOCK:
            _release(_HELD_MODES, modules, _set_mode)
            _release(_HELD_GRADS, params, _set_grad)


def _set_mode(m: nn.Module, mode: bool) -> None:
    m.training = mode  # this module's own flag: its children are given back one by one


def _set_grad(p: torch.Tensor, flag: bool) -> None:
    p.requires_grad_(flag)
