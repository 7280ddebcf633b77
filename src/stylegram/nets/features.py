"""FeatureNet: a frozen chain of named layers that returns the activations asked for.

It owns the network's input convention (``preprocess`` maps media in 0..1 to what the weights
expect), stops at the deepest requested layer, and carries each layer's metadata (channels,
receptive field) beside it.
"""
from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from ..errors import ConfigError, choices_error
from ..types import LayerInfo
from .receptive import LazyInfo, chain_prefix_fields, probe_growing


class InputConvention(nn.Module):
    """Maps RGB in 0..1, shape (B, 3, *spatial), to a net's input: channel order, scale, mean, std.

    Caffe VGG: ``order=(2, 1, 0), scale=255, mean=(103.939, 116.779, 123.68), std=(1, 1, 1)``.
    torchvision: ``order=(0, 1, 2), scale=1, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)``.
    Inputs with another channel count than ``len(mean)`` pass through with scale only (1D/3D banks).
    """

    def __init__(self, order: Sequence[int] = (0, 1, 2), scale: float = 1.0,
                 mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0)):
        super().__init__()
        self.order = tuple(order)
        self.scale = float(scale)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != len(self.order):
            return x * self.scale
        if self.order != tuple(range(len(self.order))):
            x = x[:, list(self.order)]
        view = (1, -1) + (1,) * (x.dim() - 2)
        return (x * self.scale - self.mean.view(view).to(x.dtype)) / self.std.view(view).to(x.dtype)

    def extra_repr(self) -> str:
        return f"order={self.order}, scale={self.scale}"


def circular_padding(module: nn.Module) -> nn.Module:
    """A copy of ``module``'s tree whose convolutions pad circularly (the parameters are shared,
    not copied): the input is treated as wrapping around, so features see no border (tileable
    textures)."""
    import copy
    m = copy.copy(module)  # shallow: parameters and buffers stay the same tensors
    for key, value in vars(module).items():
        # Hook registries of its own: a hook put on the copy (HookedNet.circular taps it) must not
        # fire on the user's model, nor one put on the model later on the copy.
        if key.endswith(("hooks", "hooks_with_kwargs", "hooks_always_called")) and isinstance(value, dict):
            setattr(m, key, type(value)(value))
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        m.padding_mode = "circular"
    m._modules = {k: circular_padding(c) if c is not None else None for k, c in module._modules.items()}
    return m


def adapt_channels(x: torch.Tensor, want: int) -> torch.Tensor:
    """x (B, C, *spatial) as a net reading ``want`` channels takes it: 1-channel media repeated
    for a 3-channel net, 3-channel media averaged for a 1-channel net; anything else must match
    (ConfigError, one line)."""
    c = x.shape[1]
    if c == want:
        return x
    if c == 1:
        return x.expand(x.shape[0], want, *x.shape[2:])
    if want == 1:
        return x.mean(1, keepdim=True)
    raise ConfigError(f"the net takes {want} channels but the media has {c}; use a net built for {c} channels")


def split_layers(names: str | Iterable[str]) -> list[str]:
    """Layer names as a list: a string is a comma-separated list ('relu1_1, relu2_1'; blanks and
    empty items dropped), anything else is listed as it is."""
    # list('relu1_1') is its letters: a string in place of a list failed as "unknown layer 'r'"
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return list(names)


class TapChecks:
    """Layer-name and size checks shared by every feature net (FeatureNet, nets.HookedNet): they
    need only the net's ``name``, ``layer_names`` and ``info`` (each layer's LayerInfo)."""

    def held(self) -> contextlib.AbstractContextManager:
        """A context that keeps the net as the engines need it (eval mode, frozen) for a whole
        optimization, backward passes included. A FeatureNet is always so: nothing to do; a
        HookedNet holds the caller's model there and gives it back after."""
        return contextlib.nullcontext()

    def check_layers(self, names: str | Iterable[str]) -> list[str]:
        """Return ``names`` as a list (a string: comma-separated names, see ``split_layers``), or
        raise ConfigError listing this net's valid layer names."""
        names = split_layers(names)
        valid = self.layer_names
        for n in names:
            if n not in valid:
                raise choices_error(f"layer for net {self.name!r}:", n, valid)
        return names

    def min_side(self, layers: Iterable[str]) -> int:
        """The smallest input side (px) for which every pooling before the deepest of ``layers``
        still has an output: twice the deepest layer's cumulative stride."""
        return 2 * max(self.info[l].jump for l in self.check_layers(layers))

    def layer_shapes(self, layers: Iterable[str], spatial: Sequence[int]) -> dict[str, tuple[int, ...]]:
        """{layer: spatial shape of its activation} for input of spatial shape ``spatial`` (px).

        Measured by running the net on shape-only ("meta") tensors, so it costs no memory and is
        exact for any geometry: a strided convolution padded by one gives ceil(n / 2), not the
        floor(n / stride) of VGG's chain, and tiles that assumed the floor dropped the last row
        of such a layer. A net that cannot run on meta tensors falls back to floor(n / jump).
        """
        import copy
        import itertools

        import torch

        layers = self.check_layers(layers)
        spatial = tuple(int(s) for s in spatial)
        try:
            memo: dict[int, object] = {}
            for t in itertools.chain(self.parameters(), self.buffers()):  # no weight is copied
                m = t.detach().to("meta")
                memo[id(t)] = nn.Parameter(m, requires_grad=False) if isinstance(t, nn.Parameter) else m
            shadow = copy.deepcopy(self, memo)
            with torch.no_grad():
                feats = shadow(torch.empty((1, self.in_channels, *spatial), device="meta"), layers)
            return {l: tuple(int(d) for d in feats[l].shape[2:]) for l in layers}
        except Exception:  # an op without a meta kernel, or a model that reads values
            return {l: tuple(s // self.info[l].jump for s in spatial) for l in layers}

    def check_input_size(self, spatial: Sequence[int], layers: str | Iterable[str], label: str, hint: str) -> None:
        """Raise InputError (one line: ``label``, the size, the need, ``hint``) when media of
        spatial size ``spatial`` is too small along some axis for ``layers``."""
        layers = self.check_layers(layers)
        need = self.min_side(layers)
        if min(spatial) < need:
            from ..errors import InputError
            deepest = max(layers, key=lambda l: self.info[l].jump)
            dims = [int(d) for d in spatial]
            # an image as its width x height, as image tools say it; a volume in its array's order, in
            # voxels (reversed, the (7, 16, 13) volume of a 20 x 48 x 40 scan read "13 x 16 x 7 px")
            unit = "px" if len(dims) == 2 else "voxels" if len(dims) == 3 else "samples"
            size = " x ".join(map(str, reversed(dims) if len(dims) == 2 else dims))
            raise InputError(f"{label} is {size} {unit}, but layer {deepest} needs at least {need} {unit} on each "
                             f"side; {hint}")


class FeatureNet(TapChecks, nn.Module):
    """A frozen, eval-mode chain of named layers.

    ``forward(x, taps)`` takes media (B, C, *spatial) in 0..1 and returns {name: activation} for
    the requested layers, running only as deep as the deepest of them.
    """

    def __init__(self, name: str, layers: Sequence[tuple[str, nn.Module]],
                 preprocess: nn.Module | None = None, *, dims: int = 2, in_channels: int = 3):
        super().__init__()
        self.name = name
        self.dims = dims
        self.in_channels = in_channels
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        self.body = nn.ModuleDict(list(layers))
        # The chain's arithmetic up to the first module it cannot follow (a residual block, a
        # head); the layers from there on are measured by gradient probes when first asked for.
        first = 32 if dims == 3 else 224
        self.info: dict[str, LayerInfo] = LazyInfo(
            chain_prefix_fields(list(layers), in_channels), self.body.keys(),
            lambda l: probe_growing(self, l, first, in_channels=self.in_channels, dims=self.dims))
        self.eval().requires_grad_(False)

    @property
    def layer_names(self) -> list[str]:
        """Every layer's name, input to output."""
        return list(self.body.keys())

    def truncated(self, taps: Iterable[str]) -> "FeatureNet":
        """A view of this net that stops after the deepest of ``taps`` (modules are shared)."""
        taps = self.check_layers(taps)
        order = self.layer_names
        last = max(order.index(t) for t in taps)
        kept = [(n, self.body[n]) for n in order[: last + 1]]
        return self._with_my_fields(FeatureNet(self.name, kept, self.preprocess, dims=self.dims,
                                               in_channels=self.in_channels))

    def circular(self) -> "FeatureNet":
        """The same net (weights shared) with circular padding in every convolution."""
        return self._with_my_fields(FeatureNet(self.name, [(n, circular_padding(m)) for n, m in self.body.items()],
                                               self.preprocess, dims=self.dims, in_channels=self.in_channels))

    def _with_my_fields(self, view: "FeatureNet") -> "FeatureNet":
        """``view`` (a truncation or circular copy of this net) taking its layers' receptive fields
        from this net's ``info``: a layer keeps its field when later layers are cut off, and
        circular padding changes what the border pixels are, not which pixels a unit sees. Fields
        measured here already are copied; one not measured yet is measured once for both nets
        (by this net's probe, while this net lives), where each view's own gradient probes
        measured it again."""
        known = dict(self.info)  # what is known now; a dict copy does not probe the rest
        # This net by weak reference: a closure over it kept the whole net, with the layers a
        # truncation cut off, alive as long as the view. Once it is gone, the view probes itself.
        source, own = weakref.ref(self), view.info

        def probe(layer: str) -> LayerInfo:
            net = source()
            return net.info[layer] if net is not None else own[layer]
        view.info = LazyInfo({l: known[l] for l in view.layer_names if l in known}, view.layer_names, probe)
        return view

    def train(self, mode: bool = True) -> "FeatureNet":
        # Always eval: dropout or batch-norm statistics must never change during style transfer.
        return super().train(False)

    def forward(self, x: torch.Tensor, taps: str | Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """The activations of ``taps`` (default: every layer; a string: comma-separated names) for
        x (N, C, *spatial) in 0..1: {layer: (N, C_l, *spatial_l)}, the net run only as deep as the
        deepest tap. ConfigError, naming the valid layers, for a tap this net does not have."""
        if isinstance(taps, str):
            taps = self.check_layers(taps)
        want = set(self.body.keys() if taps is None else taps)
        if not want <= self.body.keys():
            self.check_layers(taps or ())  # an unknown name would come back as a missing key, far away
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(x)
        for name, layer in self.body.items():
            x = layer(x)
            if name in want:
                out[name] = x
                if len(out) == len(want):
                    break
        return out
