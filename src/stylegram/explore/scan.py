"""One streaming pass of a feature net over a folder of images, keeping every unit's top activations.

Images are read in sorted order, shown to the net as it will be shown again for cropping (short
side resized to ``size``, centre-cropped to a square), batched, and folded into one ``UnitTopK`` per
layer. The scan can checkpoint itself to a cache file and resume from it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..device import resolve_precision
from ..errors import ConfigError, InputError, whole
from ..io.image import IMAGE_SUFFIXES
from ..nets.features import split_layers
from ..types import Iterate, LayerInfo
from .topk import UnitTopK

if TYPE_CHECKING:
    from ..nets.features import FeatureNet
    from ..nets.hooked import HookedNet

CACHE_VERSION = 4  # 2: the key holds the images' folder and each file's size and time; 3: histogram
# ranges are powers of two (a version-2 range would merge its bins wrongly); 4: the net's weights


def list_images(root: str | os.PathLike) -> list[str]:
    """Image files under ``root`` (recursively, by suffix), as sorted paths relative to ``root``."""
    r = Path(root)
    if not r.is_dir():
        raise InputError(f"{root}: not a folder of images; give a folder (searched recursively)")
    out, seen = [], set()
    # Linked folders are followed (a subset of a shared dataset is often a folder of links), each
    # real folder once, so a link to a parent cannot loop.
    for dirpath, dirnames, filenames in os.walk(r, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."):
                out.append(os.path.relpath(os.path.join(dirpath, f), r))
    out.sort()
    if not out:
        raise InputError(f"{root}: no image files found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return out


def load_view(path: str | os.PathLike, size: int) -> torch.Tensor:
    """The image as the explorer's net sees it: RGB (3, size, size) in 0..1, short side resized to
    ``size`` px (antialiased) and the centre square cut out. Raises InputError for unreadable files."""
    from PIL import Image

    from ..io.image import _ArrayImage, pil_to_tensor, read_image

    im = read_image(path)
    w, h = im.size
    s = size / min(w, h)
    nw, nh = max(size, round(w * s)), max(size, round(h * s))
    if isinstance(im, _ArrayImage):
        t = pil_to_tensor(im)
        t = torch.nn.functional.interpolate(t, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    else:
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
        t = pil_to_tensor(im)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return t[:, top:top + size, left:left + size].clamp(0, 1).contiguous()


def weights_sha256(net: object, layers: Sequence[str] | None = None) -> str:
    """sha256 (hex) of a net's parameters and buffers: each one's name, dtype, shape and bytes, in
    the module's registration order; "" for a net that is no torch module (nothing to hash). With
    ``layers``, a chain (FeatureNet) counts only up to the deepest of them: a net built whole and
    one cut after those layers then hash the same, as they compute the same activations."""
    if not isinstance(net, torch.nn.Module):
        return ""
    if layers is not None and hasattr(net, "truncated"):
        net = net.truncated(layers)
    h = hashlib.sha256()
    # buffers too: non-persistent ones (an input convention's mean and std) change the activations
    for name, t in [*net.named_parameters(), *net.named_buffers()]:
        t = t.detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class UnitScan:
    """The result of a scan: per layer a ``UnitTopK``, the layers' receptive fields, the images.

    ``files`` are paths relative to ``root`` (absolute, so the scan's patches can be drawn from any
    working folder); ``UnitTopK.image`` indexes into them. ``stamps`` is each file's (size, mtime)
    when scanned, part of the cache key with the folder. ``skipped``
    lists the files that could not be read. ``size`` is the side of the square view the net saw.
    ``weights_sha256`` fingerprints the net's weights (``weights_sha256()``), also in the key:
    nets share names ('mine', a HookedNet's model class) and one scan must not stand for another.
    """

    net_name: str
    root: str
    files: list[str]
    size: int
    layers: dict[str, UnitTopK]
    info: dict[str, LayerInfo]
    done: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    precision: str = "fp32"
    min_inside: float = 0.0
    stamps: list = field(default_factory=list)
    weights_sha256: str = ""
    # images a scan_units call took from its cache (seen by the net: the unreadable files the cache
    # lists are in ``skipped``, not here)
    resumed: int = field(default=0, compare=False)

    @property
    def complete(self) -> bool:
        return self.done >= len(self.files)

    @property
    def seen(self) -> int:
        """Images the net has seen: the files scanned so far (``done``) less the unreadable ones."""
        return self.done - len(self.skipped)

    def image_path(self, index: int) -> Path:
        return Path(self.root) / self.files[index]

    def config_key(self) -> dict:
        """What must match for a cache to be resumed."""
        # Not the batch size: UnitTopK's result does not depend on how images are grouped, so a
        # scan stopped at one batch size resumes at another. What remains is the net's own
        # rounding: a convolution kernel may be chosen by batch shape (at batch size 1 on CPU,
        # values moved by ~2e-7 relative), as by thread count or device, which are not in the key
        # either; it can only swap values that are equal to within that rounding.
        t = next(iter(self.layers.values()))
        return {"version": CACHE_VERSION, "min_inside": self.min_inside, "net": self.net_name, "layers": list(self.layers), "size": self.size,
                "k": t.k, "per_image": t.per_image, "bins": t.bins, "precision": self.precision, "root": self.root,
                "files_sha256": hashlib.sha256("\n".join(self.files).encode()).hexdigest(),
                "stamps_sha256": hashlib.sha256(json.dumps(self.stamps).encode()).hexdigest(),
                "weights_sha256": self.weights_sha256}

    def save(self, path: str | os.PathLike) -> None:
        """Write the scan (tensors and metadata) atomically as one safetensors file."""
        from safetensors.torch import save_file

        from ..io.image import write_atomic

        tensors: dict[str, torch.Tensor] = {}
        for name, t in self.layers.items():
            tensors.update({k: v.contiguous() for k, v in t.state_dict(f"{name}/").items()})
        meta = {**self.config_key(), "files": self.files, "stamps": self.stamps, "done": self.done,
                "skipped": self.skipped, "seconds": self.seconds,
                "info": {k: vars(v) for k, v in self.info.items()}}
        write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata={"stylegram_scan": json.dumps(meta)}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "UnitScan":
        """Read a scan written by ``save``; InputError if it is not one."""
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads(f.metadata()["stylegram_scan"])
                state = {k: f.get_tensor(k) for k in f.keys()}
        except FileNotFoundError:
            raise InputError(f"{path}: scan file not found; run `stylegram explore units` first") from None
        except Exception as e:
            raise InputError(f"{path}: not a stylegram scan file ({type(e).__name__}); delete it and rescan") from None
        if meta.get("version") != CACHE_VERSION:
            raise InputError(f"{path}: a scan file of an older stylegram (version {meta.get('version')}); delete it "
                             "and rescan")
        layers = {l: UnitTopK.from_state_dict(state, f"{l}/") for l in meta["layers"]}
        info = {k: LayerInfo(**v) for k, v in meta["info"].items()}
        return cls(net_name=meta["net"], root=meta["root"], files=list(meta["files"]), size=int(meta["size"]),
                   layers=layers, info=info, done=int(meta["done"]), skipped=list(meta["skipped"]),
                   seconds=float(meta["seconds"]), precision=meta["precision"],
                   min_inside=float(meta["min_inside"]), stamps=list(meta["stamps"]),
                   weights_sha256=meta["weights_sha256"])


def inside_mask(info: LayerInfo, shape: Sequence[int], size: int, min_inside: float) -> torch.Tensor | None:
    """(*shape) bool: units whose receptive field lies at least ``min_inside`` (area fraction)
    inside a ``size``-px view; None if that is every unit. If none qualifies, the most inside ones."""
    from .patches import unit_box

    if min_inside <= 0:
        return None
    frac = torch.ones(tuple(shape), dtype=torch.float64)
    for axis, n in enumerate(shape):
        f = []
        for i in range(n):
            (lo, hi), = unit_box(info, [i])
            f.append(max(0, min(hi, size) - max(lo, 0)) / info.rf_size)
        view = [1] * len(shape)
        view[axis] = n
        frac = frac * torch.tensor(f, dtype=torch.float64).view(view)
    mask = frac >= min_inside - 1e-9
    if not bool(mask.any()):
        mask = frac >= frac.max() - 1e-9
    return None if bool(mask.all()) else mask


def scan_units(net: FeatureNet | HookedNet, images: str | os.PathLike | Sequence[str], layers: str | Sequence[str], *,
               size: int = 224,
               batch_size: int = 16, k: int = 9, per_image: int = 1, bins: int = 32, precision: str = "auto",
               device: str | torch.device = "cpu", cache: str | os.PathLike | None = None,
               checkpoint_every: int = 256, min_inside: float = 0.5, channels_last: bool = True,
               callback: Callable[[Iterate], "bool | None"] | None = None,
               root: str | os.PathLike | None = None) -> UnitScan:
    """Scan images with ``net`` and keep, for every unit of each layer, its top ``k`` activations.
    Each image is seen as its centre ``size`` x ``size`` px square (``load_view``).

    ``net``: a FeatureNet, a HookedNet, or anything called as ``net(x, layers) -> {layer: (B, C, H, W)}``
    with ``x`` (B, 3, size, size) RGB in 0..1 and an ``info`` dict of LayerInfo. ``layers``: a list of
    names or one comma-separated string. ``images``: a folder
    (searched recursively) or a list of paths (relative to ``root`` if given). Unreadable files are
    skipped and listed in ``UnitScan.skipped``. At most ``per_image`` of a unit's top ``k`` come from
    one image. Only map positions whose field lies at least ``min_inside`` (area fraction) inside
    the view are ranked: near the border of a deep layer's map the field sees mostly padding.
    ``batch_size`` changes the speed, not the result: equal activations rank by image index, then
    position.

    ``precision``: 'fp32', 'bf16' (bfloat16 autocast: about twice as fast on CPUs with bf16 units;
    activations carry ~3 significant digits, so near-ties may rank differently) or 'auto' (bf16
    where the hardware has it natively). ``channels_last`` runs a channels-last copy of the net
    (faster with oneDNN; the caller's net is untouched). With ``cache``, the scan is saved there
    every ``checkpoint_every`` images and at the end, and a matching cache is resumed.
    ``callback`` gets an Iterate per batch (iter = images done, iters = total) and stops the scan
    by returning True (the partial scan is returned, and saved when caching).
    """
    size, batch_size, k, per_image, bins, checkpoint_every = (whole(n, v) for n, v in (
        ("size", size), ("batch_size", batch_size), ("k", k), ("per_image", per_image), ("bins", bins),
        ("checkpoint_every", checkpoint_every)))
    if size < 8:
        raise ConfigError(f"size {size}: must be at least 8 px")
    if checkpoint_every < 1:
        raise ConfigError(f"checkpoint_every {checkpoint_every}: must be 1 or more images")
    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size}: must be at least 1")
    layers = split_layers(layers)
    if not layers:
        raise ConfigError("no layers given; name at least one, e.g. relu1_1")
    if hasattr(net, "check_layers"):
        net.check_layers(layers)
    check = getattr(net, "check_input_size", None)  # every image is seen as a size x size square
    if check is not None:
        check((size, size), layers, f"size {size}: the square view", "raise --size")
    if isinstance(images, (str, os.PathLike)):
        root_s, files = os.path.abspath(images), list_images(images)
    else:
        root_s = os.path.abspath(root) if root else ""
        files = [str(p) if root_s else os.path.abspath(p) for p in images]
        if not files:
            raise InputError("no images given")
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    info = {l: net.info[l] for l in layers}
    if cache is not None:  # a folder that cannot take it is refused now, not after the scan
        from ..io.image import check_writable
        check_writable(cache)
    if not 0 <= min_inside <= 1:
        raise ConfigError(f"min_inside {min_inside}: must be between 0 and 1")
    # channel counts from one tiny forward: LayerInfo of hooked nets may not know them
    with torch.inference_mode():
        probe = net(torch.full((1, 3, size, size), 0.5, device=device), layers)
    scan = UnitScan(net_name=getattr(net, "name", type(net).__name__), root=root_s, files=files, size=size,
                    layers={l: UnitTopK(probe[l].shape[1], k, per_image, bins, probe[l].dim() - 2) for l in layers},
                    info=info, precision=precision, min_inside=min_inside,
                    stamps=[_stamp(os.path.join(root_s, f) if root_s else f) for f in files],
                    weights_sha256=weights_sha256(net, layers))
    masks = {l: inside_mask(info[l], probe[l].shape[2:], size, min_inside) for l in layers}
    del probe
    if cache is not None and Path(cache).is_file():
        old = UnitScan.load(cache)
        if old.config_key() != scan.config_key():
            # named, since a net's weights or a file's time differ where every option looks the same
            changed = [k for k, v in scan.config_key().items() if old.config_key().get(k) != v]
            raise ConfigError(f"{cache}: this cache was made with other settings or images (or the images have "
                              f"changed since; differs: {', '.join(changed)}); delete it, give another cache path, "
                              "or use the same settings")
        scan = old
        scan.info = info
        scan.resumed = old.seen

    if channels_last and getattr(net, "dims", 2) == 2:
        import copy
        net = copy.deepcopy(net).to(memory_format=torch.channels_last)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    t0 = time.perf_counter() - scan.seconds
    since_save = 0
    stop = False

    def load_batch(start: int) -> tuple[list[int], list[torch.Tensor], list[str]]:
        idx, views, bad = [], [], []
        for i in range(start, min(start + batch_size, len(files))):
            try:
                views.append(load_view(os.path.join(root_s, files[i]) if root_s else files[i], size))
                idx.append(i)
            except InputError:
                bad.append(files[i])
        return idx, views, bad

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    with ThreadPoolExecutor(max_workers=1) as pool:  # decode the next batch while the net runs
        pending = pool.submit(load_batch, scan.done) if scan.done < len(files) else None
        while pending is not None:
            idx, views, bad = pending.result()
            start = scan.done
            nxt = start + batch_size
            pending = pool.submit(load_batch, nxt) if nxt < len(files) else None
            scan.skipped.extend(bad)
            if views:
                x = torch.stack(views).to(device).contiguous(memory_format=fmt)
                with torch.inference_mode(), autocast:
                    feats = net(x, layers)
                    for l in layers:
                        scan.layers[l].update(feats[l], torch.tensor(idx), masks[l])
                del feats, x
            scan.done = min(nxt, len(files))
            scan.seconds = time.perf_counter() - t0
            since_save += len(idx) + len(bad)
            if cache is not None and since_save >= checkpoint_every and not scan.complete:
                scan.save(cache)
                since_save = 0
            if callback is not None:
                ev = Iterate(iter=scan.done, iters=len(files), evals=scan.seen,
                             seconds=scan.seconds, losses={}, note=f"{len(scan.skipped)} skipped")
                if callback(ev):
                    stop = True
            if stop:
                if pending is not None:
                    pending.cancel()
                break
    if scan.complete and scan.skipped and len(scan.skipped) == len(files):  # before saving: nothing to resume
        raise InputError(f"{root_s or 'the image list'}: none of its {len(files)} image file(s) could be read "
                         f"(first: {scan.skipped[0]}); "
                         "check the files or point --images at another folder")
    if cache is not None:
        scan.save(cache)
    return scan


def _stamp(path: str) -> list[int]:
    """[size, mtime in ns] of a file, [-1, -1] if it cannot be read: a changed or replaced image
    no longer matches the cache that holds its old activations."""
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]
