"""Uploaded images: checked by content (Pillow), stored under generated names, never by the
client's file name. Each upload gets a folder ``uploads/<32 hex>/`` holding the original bytes as
``image.<format>`` (the format Pillow detected), a display copy ``thumb.png`` and ``meta.json``."""
from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
import unicodedata
from pathlib import Path

from ..errors import InputError
from ..io.image import load_image, read_image, save_image, write_atomic

UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp",
                 "MPO": ".jpg"}
THUMB_SIDE = 384


def display_name(name: str | None) -> str:
    """A client file name made safe to show as text: last path part, no control characters, short.
    It is only ever displayed, never used as a path."""
    name = (name or "upload").replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return (name or "upload")[:80]


def too_large(size: int, limit: int, name: str | None) -> str | None:
    """The one-line refusal of an image file of ``size`` bytes named ``name`` (shown through
    ``display_name``) under an upload limit of ``limit`` bytes, or None when it is within it.
    The one check of an upload's size: an upload before its body is read, and each uploaded image
    of a job that runs again (it passed the limit of its day, which may have been larger)."""
    if size <= limit:
        return None
    return (f"{display_name(name)}: {size} bytes is above the limit of {limit} bytes ({limit / 2**20:.3g} MB); "
            "upload a smaller image")


class UploadStore:
    """Validated uploads under ``root``; keeps at most ``keep`` of them (oldest removed first)."""

    def __init__(self, root: Path, *, max_pixels: int, min_side: int, keep: int = 500):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_pixels = max_pixels
        self.min_side = min_side
        self.keep = keep
        self._lock = threading.Lock()
        # decoding is where memory goes (up to 4 bytes x max_pixels each): two at a time at most
        self._decoding = threading.BoundedSemaphore(2)

    def add(self, data: bytes, name: str | None) -> dict:
        """Check ``data`` is an image the engine can use and store it; returns its metadata.

        Raises InputError (one line naming the client's file) for anything else; then nothing is kept.
        """
        shown = display_name(name)
        if not data:
            raise InputError(f"{shown}: file is empty (0 bytes); choose a real image file")
        uid = secrets.token_hex(16)
        folder = self.root / uid
        folder.mkdir()
        raw = folder / "upload.bin"
        try:
            raw.write_bytes(data)
            with self._decoding:
                try:
                    im = read_image(raw, max_pixels=self.max_pixels)
                except InputError as e:
                    raise InputError(str(e).replace(str(raw), shown)) from None
                w, h = im.size
                del im
            if min(w, h) < self.min_side:
                raise InputError(f"{shown}: image is {w} x {h} px; the studio needs at least {self.min_side} px "
                                 "on each side; choose a larger image")
            from PIL import Image
            with Image.open(raw) as probe:
                fmt = probe.format or "PNG"
            image = folder / ("image" + FORMAT_SUFFIX.get(fmt, ".img"))
            raw.rename(image)
            with self._decoding:
                save_image(load_image(image, THUMB_SIDE if max(w, h) > THUMB_SIDE else None,
                                      max_pixels=self.max_pixels), folder / "thumb.png")
            meta = {"id": uid, "name": shown, "width": w, "height": h, "format": fmt, "bytes": len(data),
                    "file": image.name}
            text = json.dumps(meta)
            write_atomic(folder / "meta.json", lambda tmp: Path(tmp).write_text(text))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._prune()
        return meta

    def get(self, uid: str) -> dict | None:
        """Metadata of upload ``uid``, or None if the id is malformed or unknown."""
        if not UPLOAD_ID_RE.match(uid or ""):
            return None
        try:
            return json.loads((self.root / uid / "meta.json").read_text())
        except (OSError, ValueError):
            return None

    def image_path(self, uid: str) -> Path | None:
        meta = self.get(uid)
        return None if meta is None else self.root / uid / meta["file"]

    def thumb_path(self, uid: str) -> Path | None:
        return None if self.get(uid) is None else self.root / uid / "thumb.png"

    def _prune(self) -> None:
        with self._lock:
            folders = []
            for p in self.root.iterdir():
                try:
                    if p.is_dir():
                        folders.append((p.stat().st_mtime, p))
                except FileNotFoundError:  # a failed upload in another request removed its own folder
                    continue
            folders.sort()
            for _, old in folders[:max(0, len(folders) - self.keep)]:
                shutil.rmtree(old, ignore_errors=True)
