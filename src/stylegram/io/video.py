"""Video in and out through imageio-ffmpeg's bundled ffmpeg binary, and the folder of finished
frames that lets a stopped run resume.

Frames are tensors (1, 3, H, W) in 0..1; a clip is a list of them plus its frame rate.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, InputError
from .image import IMAGE_SUFFIXES, existing_file, load_image, other_media_hint, write_atomic

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".gif")
WRITE_SUFFIXES = (".mp4", ".mkv", ".mov")


@contextlib.contextmanager
def _quiet_rotation_notice():
    """imageio-ffmpeg logs a warning for every video whose frames are rotated by its metadata (a
    phone held upright): ffmpeg already turned the frames, so it is noise on the user's terminal.
    Only that logger, only while the file is read."""
    log = logging.getLogger("imageio_ffmpeg")
    was = log.disabled
    log.disabled = True
    try:
        yield
    finally:
        log.disabled = was


def read_video(path: str | os.PathLike, *, size: int | None = None, max_frames: int | None = None,
               every: int = 1) -> tuple[list[torch.Tensor], float]:
    """Decode a video into frames (1, 3, H, W) in 0..1, longest side ``size`` px (even sides, as
    H.264 needs), keeping every ``every``-th of the first ``max_frames`` frames. Returns
    (frames, fps); a still image is one frame at 25 fps. Raises InputError for missing, empty or
    undecodable files."""
    import imageio_ffmpeg

    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames {max_frames}: must be 1 or more (or not given, for every frame)")
    if every < 1:
        raise ConfigError(f"every {every}: must be 1 or more")
    p = existing_file(path, "a video file (MP4, WebM, GIF, ...)")
    frames: list[torch.Tensor] = []
    if p.suffix.lower() == ".gif":
        return _read_gif(p, size, max_frames, every)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        # A still image is a one-frame clip, read by the image reader: ffmpeg would decode a
        # truncated JPEG without a word, and it ignores EXIF orientation, 16-bit and CMYK rules
        # that every other command applies to the same file.
        frame = load_image(p)
        return _finish([frame], path, size, frame.shape[-2], frame.shape[-1], 25.0, 1)
    try:
        gen = imageio_ffmpeg.read_frames(str(p), pix_fmt="rgb24")
        with _quiet_rotation_notice():
            meta = next(gen)
        w, h = meta["size"]
        fps = float(meta.get("fps") or 25.0)
        for i, buf in enumerate(gen):
            if max_frames is not None and i >= max_frames:
                break
            if i % every:
                continue
            a = np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
            frames.append(torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255.0)
        gen.close()
    except (OSError, RuntimeError, StopIteration, KeyError) as e:
        first = str(e).strip().splitlines()[0][:100] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a video ffmpeg can decode ({first}){other_media_hint(p, 'video')}") from None
    return _finish(frames, path, size, h, w, fps, every)


def _read_gif(p: Path, size: int | None, max_frames: int | None, every: int) -> tuple[list[torch.Tensor], float]:
    import imageio.v3 as iio

    try:
        arr = iio.imread(p, index=None)
        meta = iio.immeta(p)
    except Exception as e:  # imageio wraps Pillow's many error kinds
        raise InputError(f"{p}: not a GIF imageio can decode ({type(e).__name__})") from None
    if arr.ndim == 3:
        arr = arr[None]
    arr = arr[: max_frames or len(arr): every, ..., :3]
    frames = [torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255.0 for a in arr]
    fps = 1000.0 / float(meta.get("duration") or 100)
    return _finish(frames, p, size, arr.shape[1], arr.shape[2], fps, every)


def _finish(frames: list[torch.Tensor], path, size: int | None, h: int, w: int, fps: float,
            every: int) -> tuple[list[torch.Tensor], float]:
    if not frames:
        raise InputError(f"{path}: video has no frames")
    if size is not None:
        s = size / max(h, w)
        # even sides (H.264's 4:2:0), rounded down: --size is the most the longest side gets (63 gave 64)
        nh, nw = max(2, round(h * s) // 2 * 2), max(2, round(w * s) // 2 * 2)
        frames = [torch.nn.functional.interpolate(f, size=(nh, nw), mode="bilinear", align_corners=False,
                                                  antialias=s < 1).clamp(0, 1) for f in frames]
    else:
        frames = [f[..., : f.shape[-2] // 2 * 2, : f.shape[-1] // 2 * 2] for f in frames]
    return frames, fps / every


def write_video(frames: list[torch.Tensor], path: str | os.PathLike, fps: float, *, quality: int = 18) -> None:
    """Encode frames (1, 3, H, W) in 0..1 (even sides) as H.264 (yuv420p), atomically."""
    import imageio_ffmpeg

    if Path(path).suffix.lower() not in WRITE_SUFFIXES:
        raise ConfigError(f"{path}: unknown video output type; use one of {', '.join(WRITE_SUFFIXES)}")
    if not frames:
        raise ConfigError(f"{path}: no frames to write")
    h, w = frames[0].shape[-2:]

    def write(tmp: Path) -> None:
        wr = imageio_ffmpeg.write_frames(str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                         macro_block_size=2, quality=None,
                                         output_params=["-crf", str(quality), "-f", Path(path).suffix.lstrip(".").replace("mkv", "matroska")],
                                         ffmpeg_log_level="error")
        wr.send(None)
        for f in frames:
            a = (f.detach().cpu().clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
            wr.send(np.ascontiguousarray(a))
        wr.close()
    write_atomic(path, write)


class FrameStore:
    """The finished frames of a run, in a folder beside the output, plus the settings they were
    made with (the input's sha256 and frame size among them): a stopped run resumes from them, a
    run with other settings or another clip refuses to mix. Frames are kept as float32 .npy, not
    8-bit pictures, so the resumed run's warm start and temporal target are exactly those of an
    uninterrupted run."""

    def __init__(self, folder: str | os.PathLike, settings: dict):
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(settings, default=str))
        meta = self.folder / "settings.json"
        if meta.is_file():
            old = json.loads(meta.read_text())
            if old != self.settings:
                changed = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
                raise ConfigError(f"{self.folder}: holds frames made with other settings ({', '.join(changed)}); "
                                  "delete the folder or pass --restart")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self.settings, indent=1)
            write_atomic(meta, lambda tmp: Path(tmp).write_text(text))

    def path(self, i: int) -> Path:
        return self.folder / f"frame_{i:05d}.npy"

    def done(self) -> dict[int, torch.Tensor]:
        """{index: frame (1, 3, H, W)} for each finished frame on disk, consecutive from 0."""
        out: dict[int, torch.Tensor] = {}
        i = 0
        while self.path(i).is_file():
            try:
                out[i] = torch.from_numpy(np.load(self.path(i), allow_pickle=False))
            except (OSError, ValueError):  # cut short by a kill: that frame is made again
                break
            i += 1
        return out

    def save(self, i: int, frame: torch.Tensor) -> None:
        array = frame.detach().cpu().float().numpy()
        write_atomic(self.path(i), lambda tmp: np.save(tmp, array))
