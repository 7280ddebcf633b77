"""Video in and out through imageio-ffmpeg's bundled ffmpeg binary, and the folder of finished
frames that lets a stopped run resume.

Frames are tensors (1, 3, H, W) in 0..1; a clip is a list of them plus its frame rate.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, InputError
from .image import IMAGE_SUFFIXES, existing_file, load_image, other_media_hint, write_atomic

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".gif")
WRITE_SUFFIXES = (".mp4", ".mkv", ".mov")
# The highest constant rate a GIF's unequal frame times are laid on. Its delays come in 10 ms steps,
# but 100 fps would write 2-10x the frames of a usual 10-25 fps animation for nothing a player
# shows; at 50 fps every frame still ends within 10 ms of its time in the GIF.
GIF_MAX_FPS = 50.0


@dataclass
class Clip:
    """A decoded clip: ``frames`` (1, 3, H, W) in 0..1, played at ``fps`` frames per second with
    frame i shown ``repeats[i]`` times (None: once each; a GIF whose frame times differ is laid on
    a constant rate this way), and ``audio``, the codec of its soundtrack (None: it has none)."""

    frames: list[torch.Tensor]
    fps: float
    repeats: list[int] | None = None
    audio: str | None = None

    @property
    def seconds(self) -> float:
        """How long the clip plays, s."""
        return (len(self.frames) if self.repeats is None else sum(self.repeats)) / self.fps

    @property
    def mean_fps(self) -> float:
        """Frames per second of the distinct frames: writing them at this rate keeps ``seconds``."""
        return self.fps if self.repeats is None else len(self.frames) / self.seconds


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
    (frames, fps), fps the mean rate (a GIF's frame times may differ: ``read_clip`` keeps them);
    a still image is one frame at 25 fps. Raises InputError for missing, empty or undecodable files."""
    clip = read_clip(path, size=size, max_frames=max_frames, every=every)
    return clip.frames, clip.mean_fps


def read_clip(path: str | os.PathLike, *, size: int | None = None, max_frames: int | None = None,
              every: int = 1) -> Clip:
    """Decode a video as ``read_video`` does, with how long each frame shows and whether it has
    a soundtrack (see ``Clip``). A kept frame lasts as long as the frames it stands for: itself
    and the ``every`` - 1 skipped after it, so the clip's span is that of the frames read."""
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
        return Clip(_finish([frame], path, size, frame.shape[-2], frame.shape[-1]), 25.0)
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
    return Clip(_finish(frames, path, size, h, w), fps / every, audio=meta.get("audio_codec") or None)


def _read_gif(p: Path, size: int | None, max_frames: int | None, every: int) -> Clip:
    import imageio.v3 as iio

    try:
        arr = iio.imread(p, index=None)
        if arr.ndim == 3:
            arr = arr[None]
        n = len(arr) if max_frames is None else min(len(arr), max_frames)
        delays = _gif_delays(p, n)
    except Exception as e:  # imageio and Pillow raise many error kinds
        raise InputError(f"{p}: not a GIF imageio can decode ({type(e).__name__})") from None
    arr = arr[:n:every, ..., :3]
    frames = [torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255.0 for a in arr]
    frames = _finish(frames, p, size, arr.shape[1], arr.shape[2])
    # Each kept frame holds the screen for its own delay and those of the frames skipped after it.
    fps, repeats = _steady_rate([sum(delays[k: k + every]) for k in range(0, n, every)])
    return Clip(frames, fps, repeats)


def _gif_delays(p: Path, n: int) -> list[int]:
    """The first n frames' delays, ms. 0 and 10 ms are played as 100 ms, as browsers do (such
    GIFs were made for them); the clip was timed by its first frame's delay alone."""
    from PIL import Image

    out = []
    with Image.open(p) as im:
        for i in range(n):
            im.seek(i)
            d = int(round(float(im.info.get("duration") or 0)))
            out.append(d if d > 10 else 100)
    return out


def _steady_rate(durations_ms: list[int]) -> tuple[float, list[int] | None]:
    """(fps, repeats): a constant frame rate and how many times to show each frame so that frames
    of the given durations (ms) keep their times: the rate whose frame time divides every duration
    (at most GIF_MAX_FPS), each frame ending at its own end time rounded to that rate, so the
    total and every frame's start stay within half a frame time. repeats is None when each frame
    is shown once (equal durations: the rate alone times them).

    Repeating frames, rather than writing the distinct frames at their mean rate, keeps a long
    pause a pause (an animation resting on its last frame), and the stylization still runs once
    per distinct frame."""
    step = reduce(math.gcd, durations_ms)
    fps = min(1000.0 / step, GIF_MAX_FPS)
    repeats, end, t = [], 0, 0
    for d in durations_ms:
        t += d
        # at least one showing: a frame shorter than half a frame time is not dropped
        e = max(math.floor(t * fps / 1000 + 0.5), end + 1)
        repeats.append(e - end)
        end = e
    return fps, (None if all(r == 1 for r in repeats) else repeats)


def _finish(frames: list[torch.Tensor], path, size: int | None, h: int, w: int) -> list[torch.Tensor]:
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
    return frames


def write_video(frames: list[torch.Tensor], path: str | os.PathLike, fps: float, *, repeats: list[int] | None = None,
                quality: int = 18) -> None:
    """Encode frames (1, 3, H, W) in 0..1 (even sides) as H.264 (yuv420p) at ``fps``, atomically;
    frame i ``repeats[i]`` times (``Clip.repeats``; None: once each)."""
    import imageio_ffmpeg

    if Path(path).suffix.lower() not in WRITE_SUFFIXES:
        raise ConfigError(f"{path}: unknown video output type; use one of {', '.join(WRITE_SUFFIXES)}")
    if not frames:
        raise ConfigError(f"{path}: no frames to write")
    if repeats is not None and (len(repeats) != len(frames) or min(repeats) < 1):
        raise ConfigError(f"repeats: {len(repeats)} counts of 1 or more for {len(frames)} frames; give one per frame")
    h, w = frames[0].shape[-2:]

    def write(tmp: Path) -> None:
        wr = imageio_ffmpeg.write_frames(str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                         macro_block_size=2, quality=None,
                                         output_params=["-crf", str(quality), "-f", Path(path).suffix.lstrip(".").replace("mkv", "matroska")],
                                         ffmpeg_log_level="error")
        wr.send(None)
        for f, k in zip(frames, repeats or [1] * len(frames)):
            a = np.ascontiguousarray((f.detach().cpu().clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy())
            for _ in range(k):
                wr.send(a)
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
