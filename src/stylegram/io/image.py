"""Images in and out.

Reading turns whatever Pillow can decode into an RGB float tensor in 0..1: EXIF orientation is
applied, CMYK and palette images are converted, 16-bit grey images keep their full range, transparent
pixels are composited over white, and animated files give their first frame. (Pillow reads 16-bit
colour images as 8-bit RGB; 16-bit grey and float TIFFs keep their precision.) Decompression bombs
are refused before any pixel is decoded. Writing is atomic (a temporary file, then a rename), so
an interrupted save never leaves a half-written output.
"""
from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from ..errors import ConfigError, InputError, NoSpaceError, NotWritableError, StylegramError, whole
from ..resample import resize_image, resized_shape

# 100 Mpx is ten 4K frames: far above any sensible style-transfer input, far below a bomb.
DEFAULT_MAX_PIXELS = 100_000_000
# Files read as images where a folder is searched for them (the explorer's scans) and named as
# images in the hints for other readers; Pillow reads more, by content rather than by name.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")
WRITABLE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}

ImageSource = "str | os.PathLike | Image.Image | torch.Tensor"


def _name(path: str | os.PathLike) -> str:
    return str(path)


def existing_file(path: str | os.PathLike, kind: str) -> Path:
    """``path`` as a Path once it names a non-empty file; else InputError, one line naming the file.
    ``kind`` says what the file should be, e.g. "a WAV, FLAC or OGG file"."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{_name(path)}: is a folder, not {kind}")
    if not p.is_file():
        raise InputError(f"{_name(path)}: file not found; check the path")
    if p.stat().st_size == 0:
        raise InputError(f"{_name(path)}: file is empty (0 bytes); give {kind}")
    return p


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """A .npy file's array, never unpickled. InputError (one line) for a file that is not one: a
    file without NumPy's header was 'not a readable .npy array (This file contains pickled (object)
    data. If you trust the file you can load it unsafely using the `', numpy's advice cut off, and
    the wrong one for a file that was never a pickle."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        raise InputError(f"{_name(path)}: not a .npy file (no NumPy header); save the array with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise InputError(f"{_name(path)}: not a readable .npy array ({why})") from None


def save_npy(path: str | os.PathLike, arr: np.ndarray) -> None:
    """Write ``arr`` (any shape, as laid out in memory) to the .npy file ``path`` through
    ``write_atomic``: no partial file, a full or unwritable folder one line."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # closed here: an error of its last flush is raised, not ignored
            np.save(f, arr)
    write_atomic(path, write)


def read_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS, background: int = 255) -> Image.Image:
    """Read an image file as an upright 8- or 16-bit-faithful RGB PIL image (transparent pixels
    over grey level ``background``, white by default).

    Raises InputError (one line, naming the file) for missing, empty, truncated, non-image and
    oversized files.
    """
    p = existing_file(path, "an image file")
    try:
        with warnings.catch_warnings():
            # Pillow's chatter about corrupt EXIF and the like; its bomb warning too, since the
            # max_pixels check below reads only the header as well (Pillow's own hard limit,
            # twice its warning's, still refuses larger images before any check of ours).
            warnings.simplefilter("ignore")
            with Image.open(p) as im:  # closed on every path: an animated GIF keeps its file open
                w, h = im.size
                if w * h > max_pixels:
                    raise InputError(f"{_name(path)}: image is {w} x {h} px ({w * h / 1e6:.0f} Mpx), above the "
                                     f"limit of {max_pixels / 1e6:.0f} Mpx; downscale it first")
                im.seek(0)  # animated images: the first frame
                im.load()
                rgb = _to_rgb(im, background)  # a copy: it outlives the file
    except InputError:
        raise
    except Image.DecompressionBombError as e:
        m = re.search(r"\((\d+) pixels\)", str(e))
        size = f" of {int(m.group(1)) / 1e6:.0f} Mpx" if m else ""
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0) or max_pixels)
        raise InputError(f"{_name(path)}: refused: an image{size} could be a decompression bomb (limit "
                         f"{limit / 1e6:.0f} Mpx); downscale it first") from None
    except UnidentifiedImageError:
        raise InputError(f"{_name(path)}: not an image file Pillow can read (PNG, JPEG, WebP, TIFF, ...)"
                         f"{other_media_hint(p)}") from None
    except PermissionError:
        raise InputError(f"{_name(path)}: permission denied; check the file's permissions") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{_name(path)}: image is truncated or corrupt ({e}); re-export it") from None
    return rgb


# Weights files as nets.weights reads them, less .bin (too generic a name to guess from).
_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".h5", ".hdf5", ".ckpt")


def other_media_hint(p: Path, reader: str = "image") -> str:
    """'; it looks like a sound: use ...' when p's suffix is one that another command than
    ``reader``'s reads (reader: image, audio, video, volume or signal), else ''."""
    # Imported here: those readers import this module, and this runs only on the error path.
    from .audio import AUDIO_SUFFIXES
    from .signal import SIGNAL_SUFFIXES
    from .video import VIDEO_SUFFIXES
    from .volume import VOLUME_SUFFIXES, suffix_of
    # What the file looks like, by its suffix, and which readers take it (the video reader takes
    # still images and GIFs too: one frame, read by this module, or a short clip). First match wins.
    kinds = [((".gif",), "an image or an animation: use `stylegram transfer` or `video`", {"image", "video"}),
             (set(VOLUME_SUFFIXES) & set(SIGNAL_SUFFIXES), "an array: use `stylegram volume` (3D) or "
              "`signal-texture` (1D)", {"volume", "signal"}),
             (AUDIO_SUFFIXES, "a sound: use `stylegram audio` or `audio-texture`", {"audio"}),
             (VOLUME_SUFFIXES, "a volume: use `stylegram volume` or `solid-texture`", {"volume"}),
             (SIGNAL_SUFFIXES, "a signal: use `stylegram signal-texture`", {"signal"}),
             (VIDEO_SUFFIXES, "a video: use `stylegram video`", {"video"}),
             (IMAGE_SUFFIXES, "an image: use `stylegram transfer` or `texture`", {"image", "video"}),
             (_WEIGHT_SUFFIXES, "network weights: give them to `--weights`", set())]
    sfx = suffix_of(p)
    for suffixes, what, readers in kinds:
        if sfx in suffixes:
            return "" if reader in readers else f"; it looks like {what}"
    return ""


def _to_rgb(im: Image.Image, background: int = 255) -> Image.Image:
    """Upright RGB (mode 'RGB', or float 'F'-based RGB for 16-bit data kept as an array); transparent
    pixels over grey level ``background`` (white: a picture on a page; black for masks, where a
    transparent pixel covers nothing)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = ImageOps.exif_transpose(im)
    except Exception:  # broken EXIF must not cost the picture
        pass
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        # The range comes from the mode, never from the pixels: a dark 16-bit picture must stay
        # dark. Pillow reads 16-bit PNG, PGM and TIFF data as 'I;16' or 'I' on the 0..65535
        # scale (a 12-bit PGM is rescaled to it); only values beyond that mean a 32-bit image.
        # 'F' (float TIFF) holds 0..1 by convention.
        if im.mode == "F":
            top = 1.0
        else:
            top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) <= 65535 else 4294967295.0
        arr = np.clip(np.nan_to_num(arr / top), 0, 1)
        rgb = np.repeat(arr[..., None], 3, axis=2)
        return _ArrayImage.from_array(rgb)
    if im.mode == "P" or (im.mode in ("L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")  # palette or colour-key (tRNS) transparency becomes an alpha channel
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        under = Image.new("RGBA", im.size, (background, background, background, 255))
        im = Image.alpha_composite(under, im)
    return im.convert("RGB")


class _ArrayImage:
    """High-bit-depth pixels kept as float32 (H, W, 3) in 0..1 instead of an 8-bit PIL image."""

    def __init__(self, arr: np.ndarray):
        self.arr = arr.astype(np.float32)

    @classmethod
    def from_array(cls, arr: np.ndarray) -> "_ArrayImage":
        return cls(arr)

    @property
    def size(self) -> tuple[int, int]:
        return self.arr.shape[1], self.arr.shape[0]


def resize_longest(t: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize (1, C, H, W) in 0..1 so that max(H, W) == size, keeping the aspect ratio: Lanczos-3
    when shrinking (as PIL's LANCZOS; a painting keeps its finest strokes), bicubic when enlarging,
    clamped to 0..1 (both kernels overshoot at hard edges)."""
    h, w = t.shape[-2:]
    nh, nw = resized_shape(h, w, size)
    if (nh, nw) == (h, w):
        return t
    return resize_image(t, (nh, nw)).clamp(0, 1)


def pil_to_tensor(im: "Image.Image | _ArrayImage") -> torch.Tensor:
    """PIL RGB image -> float32 tensor (1, 3, H, W) in 0..1."""
    if isinstance(im, _ArrayImage):
        arr = im.arr
    else:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].contiguous()


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    """Tensor (1, 3, H, W) or (3, H, W) in 0..1 -> 8-bit RGB PIL image (values clamped)."""
    if t.dim() == 4:
        t = t[0]
    arr = (t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    if arr.shape[2] == 1:
        return Image.fromarray(arr[..., 0], "L")
    return Image.fromarray(arr, "RGB")


# How far outside 0..1 a tensor's values may reach before they count as another convention
# (0..255 data, Hounsfield units, a mean/std normalization), not a resampling overshoot: clamping them would give a
# white or black result. Images (load_image) and media (media.check_media) refuse alike.
RANGE_SLACK = 0.5


def check_values(t: torch.Tensor, name: str, low: str | None = None, high: str | None = None) -> None:
    """InputError (one line, naming the tensor ``name``) for NaN or Inf in ``t`` (any shape) and,
    where ``low`` is given, for values below -RANGE_SLACK or above 1 + RANGE_SLACK: ``low`` and
    ``high`` (default ``low``) say what the values should be and the fix. Refused, not clamped."""
    if not torch.isfinite(t).all():
        raise InputError(f"{name}: tensor contains NaN or Inf")
    if low is None or not t.numel():
        return
    lo, hi = float(t.min()), float(t.max())
    if lo < -RANGE_SLACK:  # first: normalized data also reaches above 1 + slack
        raise InputError(f"{name}: tensor values go down to {lo:.4g}; {low}")
    if hi > 1 + RANGE_SLACK:
        raise InputError(f"{name}: tensor values reach {hi:.4g}; {high or low}")


def load_image(src: "str | os.PathLike | Image.Image | torch.Tensor", size: int | None = None, *,
               max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "image", background: int = 255) -> torch.Tensor:
    """Load an image as a float32 tensor (1, 3, H, W), RGB in 0..1, longest side ``size`` px.

    ``src`` may be a path, a PIL image, or a tensor (3, H, W) / (1, 3, H, W) in 0..1. ``name``
    labels tensors and PIL images in error messages. Transparent pixels lie over grey level
    ``background`` (0..255; white by default, black for masks).
    """
    if size is not None and whole("size", size) < 1:  # 0, -5 and True gave a 1 x 1 px image
        raise ConfigError(f"size {size}: must be a positive number of px (or None: the image's own size)")
    if isinstance(src, torch.Tensor):
        # These three failed inside torch (Tensor.item() on 'meta', max() of an empty tensor) or
        # dropped the imaginary part with only a warning.
        if src.is_complex():
            raise InputError(f"{name}: tensor of complex dtype {src.dtype}; images are real RGB in 0..1 "
                             "(take .real or .abs() first)")
        if src.device.type == "meta":
            raise InputError(f"{name}: tensor on the 'meta' device holds no values; give one with data "
                             "(e.g. on 'cpu')")
        t = src.detach().float()
        if t.dim() == 3:
            t = t[None]
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3):
            raise InputError(f"{name}: tensor of shape {tuple(src.shape)}; expected (3, H, W) or (1, 3, H, W)")
        if t.numel() == 0:
            raise InputError(f"{name}: tensor of shape {tuple(src.shape)} has no pixels; give an image of at "
                             "least 1 x 1 px")
        # Small overshoots (a resampled image) are clamped below
        check_values(t, name, "images are RGB in 0..1 (undo a mean/std normalization first)",
                     "images are RGB in 0..1 (divide 0..255 data by 255)")
        if t.shape[1] == 1:
            t = t.expand(-1, 3, -1, -1)
        t = t.clamp(0, 1).cpu().contiguous()
    elif isinstance(src, Image.Image):
        t = pil_to_tensor(_to_rgb(src, background))
    elif isinstance(src, (str, os.PathLike)):
        t = pil_to_tensor(read_image(src, max_pixels=max_pixels, background=background))
    else:
        raise InputError(f"{name}: cannot use a {type(src).__name__}; give a path, a PIL image or a tensor")
    return resize_longest(t, size)


def check_output_path(out: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                      suffixes: Iterable[str] = WRITABLE_SUFFIXES, *,
                      outputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Validate an output path before any work starts; returns it as a Path.

    Refuses an empty path, a path that names one of the ``inputs`` or of the command's other
    ``outputs`` (a --plot on top of -o), a missing folder (it is not created: a mistyped folder
    would be), a folder above it that is a file, a folder, an unknown suffix (ConfigError), and a
    folder where no file can be made (NotWritableError: no permission, read-only, full), so that
    minutes of work do not end in a file that cannot be written.
    """
    if not str(out).strip():
        raise ConfigError("the output path is empty; give a file name, e.g. out.png")
    p = Path(out)
    suffixes = list(suffixes)
    if p.suffix.lower() not in suffixes:
        raise ConfigError(f"{out}: unknown output type {p.suffix or '(none)'!r}; use one of {', '.join(suffixes)}")
    problem = _place_problem(out)
    if problem is not None:
        raise ConfigError(problem)
    for others, what in ((inputs, "an input"), (outputs, "another output")):
        if any(_same_file(p, o) for o in others if isinstance(o, (str, os.PathLike))):
            raise ConfigError(f"{out}: output path is also {what}; choose another name")
    check_writable(out)
    return p


def _same_file(a: Path, b: str | os.PathLike) -> bool:
    """True when a and b name one file: the same absolute path, or (both existing) the same file
    through a link."""
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return a.exists() and Path(b).exists() and a.resolve() == Path(b).resolve()
    except OSError:  # a folder on the way that cannot be searched: check_writable says so, in one line
        return False


# The errnos of a file system that refuses to grow, and what the user can do about each.
_NO_ROOM = {errno.ENOSPC: "free some space or choose another folder",
            errno.EDQUOT: "free some space or choose another folder",
            errno.EFBIG: "choose another folder (a file system that takes larger files)"}
# The errnos of a place where no file can be made: the folder's permissions or file system, and
# what the path names (a folder above it missing or a file, the target a folder).
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}
_NOT_HERE = _DENIED | {errno.ENOENT, errno.ENOTDIR, errno.EISDIR}


def _kind(p: Path) -> str:
    """'folder', 'file', 'none' (nothing there, or a file above it), or 'unknown' (a folder above
    it cannot be searched). Path.is_dir raised PermissionError for the last."""
    try:
        st = os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        return "none"
    except OSError:
        return "unknown"
    return "folder" if stat.S_ISDIR(st.st_mode) else "file"


def _place_problem(path: str | os.PathLike, *, folder: bool = False, parents: bool = False) -> str | None:
    """Why nothing can be written at ``path`` (a file, or with ``folder`` a folder), as the file
    system stands: the one-line message, naming ``path`` as given, or None where it looks possible
    (whether the folder takes a new file is known only by trying: check_writable). ``parents``:
    missing folders above it will be made, so are no problem."""
    kind = _kind(Path(path))
    if kind == "folder" and not folder:
        return f"{path}: is a folder; give a file name"
    if kind == "file" and folder:
        return f"{path}: exists and is not a folder; give a folder for the output"
    if kind != "none":
        return None
    parent = Path(path).parent  # Path("o.png").parent is Path("."): the working folder
    if _kind(parent) in ("folder", "unknown"):
        return None
    for up in (parent, *parent.parents):
        kind = _kind(up)
        if kind == "file":
            return f"{path}: {up} is a file, not a folder; choose another folder"
        if kind != "none":
            break
    return None if parents else f"{path}: folder {parent} does not exist; create it first"


def _is_beside(path: str | os.PathLike, e: OSError, folder: bool) -> bool:
    """True when ``e`` names no file, or one in the folder ``path`` goes into (its temporary file,
    a library's own file beside it) or, with ``folder``, that folder, one above it (being made) or
    a file in one of them (a trial file): not an error of some other file a writer touched."""
    names = [os.path.abspath(os.fsdecode(n)) for n in (e.filename, e.filename2)
             if isinstance(n, (str, bytes, os.PathLike))]
    where = os.path.abspath(path if folder else Path(path).parent)
    if folder:
        return not names or any(Path(where).is_relative_to(n) or Path(where).is_relative_to(os.path.dirname(n))
                                for n in names)
    return not names or any(os.path.dirname(n) == where for n in names)


def _write_error(path: str | os.PathLike, e: BaseException, *, folder: bool = False,
                 parents: bool = False) -> StylegramError | None:
    """The one-line error, naming ``path`` and what to do, for an OSError met writing it (or, with
    ``folder``, making the folder, with ``parents`` those above it too, or a file in it); None for
    any other error, raised as it is."""
    if not isinstance(e, OSError) or isinstance(e, StylegramError):
        return None
    err: StylegramError
    if e.errno in _NO_ROOM:
        err = NoSpaceError(f"{path}: could not be written: {os.strerror(e.errno).lower()}; {_NO_ROOM[e.errno]}")
    elif e.errno in _NOT_HERE:
        why = _place_problem(path, folder=folder, parents=parents)
        if why is None and e.errno in _DENIED and _is_beside(path, e, folder):
            why = f"{path}: cannot write here ({os.strerror(e.errno).lower()}); choose another folder"
        if why is None:
            return None
        err = NotWritableError(why)
    else:
        return None
    err.errno = e.errno  # type: ignore[attr-defined]  (both are OSErrors: callers may test it)
    return err


def _temp_beside(path: Path) -> Path:
    """Create an empty temporary file beside ``path`` under a name of its own and return it."""
    # Created with mode 0666, so the kernel applies the umask and the file gets the permissions a
    # plain open() would give (mkstemp's 0600 had to be widened by reading the umask, which only
    # os.umask can, by setting it: a race with the studio's other threads).
    for _ in range(100):
        name = path.parent / f".{path.name}.{secrets.token_hex(6)}.part{path.suffix}"
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return name
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free temporary name beside it")


def check_writable(path: str | os.PathLike, *, folder: bool = False, parents: bool = False) -> Path:
    """Make and remove a temporary file beside ``path``, as ``write_atomic`` does first; returns
    ``path`` as a Path. With ``folder``, ``path`` is an output folder: the file is tried in it, or
    where it is to be made (its parent; with ``parents``, the nearest folder above it that exists),
    and nothing is created. Where no file can be made (no permission, a read-only file system, a
    full disk, a missing folder, a folder above it that is a file, ``path`` a folder) it raises
    what ``write_atomic`` would, the one line, but before the work whose result was to go there."""
    p = Path(path)
    problem = _place_problem(path, folder=folder, parents=parents)
    if problem is not None:
        raise NotWritableError(problem)
    try:
        if folder:
            where = p
            while _kind(where) == "none" and where != where.parent:
                where = where.parent
            _temp_beside(where / "probe").unlink()
        else:
            _temp_beside(p).unlink()
    except OSError as e:
        err = _write_error(path, e, folder=folder, parents=parents)
        if err is None:
            raise
        raise err from None
    return p


def make_folder(path: str | os.PathLike, *, parents: bool = False) -> Path:
    """Create the output folder ``path`` unless it is there, and check that it takes a new file;
    returns it as a Path. Its parent is created only with ``parents`` (the command line never
    does, as it never does an output file's folder: a mistyped path would be). NotWritableError,
    one line, where it cannot be (a file of that name or above it, a missing folder above it, no
    permission, a read-only file system)."""
    p = Path(path)
    problem = _place_problem(path, folder=True, parents=parents)
    if problem is not None:
        raise NotWritableError(problem)
    try:
        p.mkdir(parents=parents, exist_ok=True)
    except OSError as e:
        err = _write_error(path, e, folder=True, parents=parents)
        if err is None:
            raise
        raise err from None
    return check_writable(path, folder=True)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None], *, durable: bool = True) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename it into place.

    A crash or a full disk leaves the previous file (if any) untouched and no partial file. A full
    disk, a quota or a file-size limit (ENOSPC, EDQUOT, EFBIG, from ``write``, the fsync or the
    rename) raises NoSpaceError; a folder that refuses the file (EACCES, EPERM, EROFS: "OUT:
    cannot write here (permission denied); choose another folder"), a missing folder, a folder
    above ``path`` that is a file, or ``path`` a folder raise NotWritableError: each one line
    naming ``path`` and what to do, and an OSError with the errno as well. Every other error is
    raised as it is. ``durable=False`` skips the fsync (the rename is still atomic, but a power
    cut may leave an empty file): for the explorer's thousands of small unit images.
    """
    path = Path(path)
    tmp_p: Path | None = None
    try:
        tmp_p = _temp_beside(path)
        write(tmp_p)
        if durable:
            with open(tmp_p, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp_p, path)
    except BaseException as e:
        if tmp_p is not None:
            tmp_p.unlink(missing_ok=True)
        # the library's own words are the raw errno text, often with the temporary file's name
        # and a traceback through its writer: the user needs the output's name and the remedy
        err = _write_error(path, e)
        if err is not None:
            raise err from None
        raise


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256 as hex, read 1 MiB at a time (weights files are hundreds of MB)."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_image(image: "torch.Tensor | Image.Image", path: str | os.PathLike, *,
               metadata: dict | None = None, dpi: int | None = None) -> None:
    """Write an image atomically. PNG files carry ``metadata`` as JSON in a 'stylegram' text chunk,
    JPEG files in their comment (COM) segment; ``read_run_settings`` reads either back. JPEG is
    written at quality 95 without chroma subsampling, WebP lossless, PNG and TIFF exactly.
    ``dpi`` (dots per inch) is written as the file's resolution: PNG pHYs (pixels per metre, so
    Pillow reads 300 back as 299.9994), JPEG JFIF density, TIFF XResolution/YResolution, WebP
    EXIF XResolution/YResolution (Pillow writes no other resolution into a WebP); None: none.

    ``image``: tensor (1, 3, H, W) / (3, H, W) in 0..1, or a PIL image.
    """
    im = image if isinstance(image, Image.Image) else tensor_to_pil(image)
    fmt = WRITABLE_SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: unknown output type; use one of {', '.join(WRITABLE_SUFFIXES)}")
    if fmt == "JPEG" and im.mode not in ("RGB", "L"):  # JPEG has no alpha: Pillow refused an RGBA image
        im = _to_rgb(im)
        if isinstance(im, _ArrayImage):  # 16-bit or float pixels: JPEG holds 8 bits
            im = tensor_to_pil(torch.from_numpy(im.arr).permute(2, 0, 1))

    def write(tmp: Path) -> None:
        kw: dict = {}
        if dpi is not None and fmt == "WEBP":
            exif = Image.Exif()
            exif[0x011A] = exif[0x011B] = float(dpi)  # XResolution, YResolution
            exif[0x0128] = 2  # ResolutionUnit: inches
            kw["exif"] = exif.tobytes()
        elif dpi is not None:
            kw["dpi"] = (dpi, dpi)
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_text("Software", "stylegram")
            if metadata:
                info.add_text("stylegram", json.dumps(metadata, default=str))
            kw["pnginfo"] = info
        elif fmt == "JPEG":
            # full-resolution colour (4:4:4): Pillow's default 4:2:0 halves the chroma and smears a
            # painting's coloured strokes (a default 512 px result re-encoded: 28.0 dB PSNR, 36.5 dB here)
            kw["quality"], kw["subsampling"] = 95, 0
            if metadata:
                # one COM segment holds 65533 bytes; the metadata is a few kB (no loss history)
                text = json.dumps({"stylegram": metadata}, default=str).encode()
                if len(text) <= 65533:
                    kw["comment"] = text
        elif fmt == "WEBP":
            kw["lossless"] = True  # Pillow's default is lossy at quality 80 (18 dB on a stylized picture)
        im.save(tmp, format=fmt, **kw)

    try:
        write_atomic(path, write)
    except StylegramError:  # a full disk, a folder that refuses it: its own message says so, and what to do
        raise
    except OSError as e:
        raise InputError(f"{path}: could not write the image ({e.strerror or e}); check the folder and free disk space") from None


def read_run_settings(path: str | os.PathLike) -> tuple[dict, dict]:
    """The options of an earlier run, {option name: value as JSON holds it}, and what ran
    ({'command': 'texture', 'tileable': True}; {} for files written before it was recorded), from
    its output PNG or JPEG (the 'stylegram' text chunk or the comment that ``save_image`` writes)
    or its ``--report`` JSON. InputError, one line, for a file that holds none (a picture from
    another program, a WebP or TIFF output)."""
    p = existing_file(path, "a PNG or JPEG written by stylegram, or a --report JSON")
    none = (f"{_name(path)}: holds no stylegram settings; give a PNG or JPEG that stylegram wrote (other formats "
            "carry none) or the JSON of --report")
    try:
        if p.suffix.lower() == ".json":
            if p.stat().st_size > 64 * 2**20:  # a report with a long history is a few MB
                raise InputError(none)
            record = json.loads(p.read_text(encoding="utf-8"))
        else:
            # save_image writes the chunk or comment before the pixels: read without decoding them
            with Image.open(p) as im:
                text, comment = im.info.get("stylegram"), im.info.get("comment")
            if isinstance(text, str):
                record = json.loads(text)
            elif isinstance(comment, bytes):  # a JPEG's comment: {"stylegram": metadata}
                record = json.loads(comment.decode("utf-8"))
                record = record.get("stylegram") if isinstance(record, dict) else None
            else:
                raise InputError(none)
    except InputError:
        raise
    except (OSError, ValueError, RecursionError, UnidentifiedImageError, Image.DecompressionBombError):
        raise InputError(none) from None  # RecursionError: JSON nested thousands deep
    params = record.get("params") if isinstance(record, dict) else None
    if not isinstance(params, dict):
        raise InputError(none)
    task = record.get("task")
    if not isinstance(task, dict):  # media reports of this version's first days named the command alone
        task = {"command": record["command"]} if isinstance(record.get("command"), str) else {}
    return params, task


def describe_sources(sources: Iterable[object], known: Mapping[str, str] | None = None) -> list[dict]:
    """What each input of a run was, for its report and PNG metadata: a file as
    {'file': its name, 'sha256': of its bytes}, a folder (a DICOM series) as {'folder': its name},
    anything else as {'kind': its type}, so a result
    can be traced back to the exact photo and painting. The name only, not the folders: a picture
    shared online should not tell where its maker keeps their files.

    ``known``: {path as given in ``sources``: its sha256} that the run has already computed (the
    video command's resume key), so that a file of gigabytes is not read a second time, and the
    report names the bytes the run read rather than the file as it is when the run ends."""
    out = []
    known = {str(k): v for k, v in (known or {}).items()}
    for src in sources:
        if isinstance(src, (str, os.PathLike)) and str(src) in known:
            out.append({"file": Path(src).name, "sha256": known[str(src)]})
        elif isinstance(src, (str, os.PathLike)) and Path(src).is_file():
            try:
                digest: str | None = file_sha256(src)
            except OSError:  # unreadable: loading it says so, in one line, with what to do
                digest = None
            out.append({"file": Path(src).name, "sha256": digest})
        elif isinstance(src, (str, os.PathLike)) and Path(src).is_dir():  # a DICOM series
            out.append({"folder": Path(src).name})
        else:
            out.append({"kind": type(src).__name__})
    return out

