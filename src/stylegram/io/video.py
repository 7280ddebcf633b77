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
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, InputError, ResourceError, StylegramError
from .image import IMAGE_SUFFIXES, existing_file, load_image, make_folder, other_media_hint, write_atomic

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".gif")
WRITE_SUFFIXES = (".mp4", ".mkv", ".mov")
# The highest constant rate a GIF's unequal frame times are laid on. Its delays come in 10 ms steps,
# but 100 fps would write 2-10x the frames of a usual 10-25 fps animation for nothing a player
# shows; at 50 fps every frame still ends within 10 ms of its time in the GIF.
GIF_MAX_FPS = 50.0
# The highest rate a video's unequal frame times are laid on, unless its frames come faster than
# that most of the time (then their usual rate): a few frames a millisecond apart (a glitch in the
# timestamps) must not make a 1000 fps file.
VIDEO_MAX_FPS = 60.0


@dataclass
class Clip:
    """A decoded clip: ``frames`` (1, 3, H, W) in 0..1, played at ``fps`` frames per second with
    frame i shown ``repeats[i]`` times (None: once each; a GIF or a variable-frame-rate video whose
    frame times differ is laid on a constant rate this way), ``audio``, the codec of its first
    soundtrack (None: it has none), and ``soundtracks``, the codecs of all of them (for
    ``write_video``'s ``audio_codecs``, which then need not probe the file again)."""

    frames: list[torch.Tensor]
    fps: float
    repeats: list[int] | None = None
    audio: str | None = None
    soundtracks: tuple[str, ...] = ()

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
    and the ``every`` - 1 skipped after it. A GIF's span is then that of the frames read; a video's
    kept frames share one rate, fps / ``every``, so where the frames read do not divide by
    ``every`` its last kept frame still lasts ``every`` frame times, up to ``every`` - 1 frames
    past them (5 frames read every 2nd: 3 frames of 2, a span of 6)."""
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames {max_frames}: must be 1 or more (or not given, for every frame)")
    if every < 1:
        raise ConfigError(f"every {every}: must be 1 or more")
    p = existing_file(path, "a video file (MP4, WebM, GIF, ...)")
    if p.suffix.lower() == ".gif":
        return _read_gif(p, size, max_frames, every)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        # A still image is a one-frame clip, read by the image reader: ffmpeg would decode a
        # truncated JPEG without a word, and it ignores EXIF orientation, 16-bit and CMYK rules
        # that every other command applies to the same file.
        frame = load_image(p)
        return Clip(_finish([frame], path, size, frame.shape[-2], frame.shape[-1]), 25.0)
    info = probe(p)
    # ffmpeg hands the frames over at one rate, its guess of the rate the timestamps are on (tbr),
    # repeating or dropping frames to keep their times; the rate its header calls the video's
    # (fps) is their mean. Where the two differ the frame rate varies (or is not said), and frames
    # written at either rate drift from the sound: such a clip is read as its frames are, each
    # once, with the time it shows (read off a decoding pass), and laid on a constant rate.
    times = None if info.fps is not None and info.tbr is not None and abs(info.fps - info.tbr) <= 1e-3 * info.tbr \
        else _frame_times(p, max_frames)
    try:
        frames, meta, h, w = _decode(p, max_frames, every, ["-fps_mode", "passthrough"] if times else [])
        if times and len(frames) != -(-len(times[0]) // every):  # ceil(frames read / every)
            times = None  # the passes disagree on the frames: read at ffmpeg's rate, as every clip once was
            frames, meta, h, w = _decode(p, max_frames, every, [])
    except (OSError, RuntimeError, StopIteration, KeyError) as e:
        first = str(e).strip().splitlines()[0][:100] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a video ffmpeg can decode ({first}){other_media_hint(p, 'video')}") from None
    audio = info.audio[0] if info.audio else None
    if times:
        fps, repeats = _lay_on_rate(*times, every)
        return Clip(_finish(frames, path, size, h, w), fps, repeats, audio=audio, soundtracks=info.audio)
    fps = float(meta.get("fps") or 25.0)
    return Clip(_finish(frames, path, size, h, w), fps / every, audio=audio, soundtracks=info.audio)


def _decode(p: Path, max_frames: int | None, every: int, output: list[str]) -> tuple[list[torch.Tensor], dict, int, int]:
    """(frames (1, 3, h, w) in 0..1, imageio-ffmpeg's meta, h, w): every ``every``-th of the first
    ``max_frames`` frames ffmpeg hands over with the ``output`` options."""
    import imageio_ffmpeg

    frames: list[torch.Tensor] = []
    gen = imageio_ffmpeg.read_frames(_file_url(p), pix_fmt="rgb24", output_params=output)
    with _quiet_rotation_notice():
        meta = next(gen)
    w, h = meta["size"]
    for i, buf in enumerate(gen):
        if max_frames is not None and i >= max_frames:
            break
        if i % every:
            continue
        a = np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
        frames.append(torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255.0)
    gen.close()
    return frames, meta, h, w


def _frame_times(p: Path, max_frames: int | None) -> tuple[list[float], float] | None:
    """(the time each of the first ``max_frames`` decoded frames shows from, s, on the file's clock;
    how long the last one lasts, s), as ffmpeg's showinfo filter sees them in a decoding pass
    that keeps every frame once; None where a frame has no time (or ffmpeg decodes none)."""
    limit = [] if max_frames is None else ["-frames:v", str(max_frames)]
    r = _ffmpeg("-i", _file_url(p), "-map", "0:v:0", "-vf", "showinfo", "-fps_mode", "passthrough", *limit,
                "-f", "null", "-")
    rows = re.findall(r"\bn:\s*\d+\s+pts:\s*\S+\s+pts_time:(\S+).*?\bduration_time:(\S+)", r.stderr)
    try:
        starts = [float(t) for t, _ in rows]
        last = float(rows[-1][1]) if rows else 0.0
    except ValueError:  # "NOPTS"
        return None
    if not starts or any(b <= a for a, b in zip(starts, starts[1:])):
        return None
    if max_frames is not None and len(starts) > max_frames:  # the filter saw the next frame before ffmpeg stopped
        last = starts[max_frames] - starts[max_frames - 1]
        del starts[max_frames:]
    gaps = np.diff(starts)
    if last <= 0 or not math.isfinite(last):
        last = float(np.median(gaps)) if len(gaps) else 1 / 25
    return starts, last


def _lay_on_rate(starts: list[float], last: float, every: int) -> tuple[float, list[int] | None]:
    """(fps, repeats) for the frames kept of those read (every ``every``-th; frame i shows from
    ``starts[i]``, s, the last for ``last`` s): a constant rate fast enough for the shortest frame
    (at most VIDEO_MAX_FPS, or the frames' usual rate where that is higher), each kept frame
    shown until the next kept one starts, its end rounded to that rate (at least one showing), so
    every frame starts within half a frame time of its time in the file. The first frame shows
    from 0, where the file's clock starts (its sound may begin before the picture), as ffmpeg's
    constant-rate reading holds it."""
    gaps = np.diff(starts) if len(starts) > 1 else np.array([last])
    fastest = 1 / float(min(gaps.min(), last))
    cap = max(VIDEO_MAX_FPS, 1 / float(np.median(gaps)))
    fps = float(Fraction(min(fastest, cap)).limit_denominator(1001))
    ends = [starts[k] for k in range(every, len(starts), every)] + [starts[-1] + last]
    repeats, end = [], 0
    for t in ends:
        e = max(math.floor(t * fps + 0.5), end + 1)
        repeats.append(e - end)
        end = e
    return fps, (None if all(r == 1 for r in repeats) else repeats)


def _read_gif(p: Path, size: int | None, max_frames: int | None, every: int) -> Clip:
    """A GIF's first ``max_frames`` frames, every ``every``-th kept, and their delays, in one pass
    of Pillow (imageio, which read the frames before, is Pillow underneath; the delays then took a
    second pass, decoding every frame again).

    A frame is the whole picture as the GIF shows it then (Pillow lays each frame over the one
    before as its disposal says), as RGB: a transparent pixel has its palette colour, the colour
    imageio's frames had once their alpha was dropped. ffmpeg's decoder gives the same opaque
    pixels (white where transparent)."""
    from PIL import Image, ImageSequence

    arrays, delays = [], []
    try:
        with Image.open(p) as im:
            for i, frame in enumerate(ImageSequence.Iterator(im)):
                if max_frames is not None and i >= max_frames:
                    break
                # 0 and 10 ms are played as 100 ms, as browsers do (such GIFs were made for them)
                d = int(round(float(frame.info.get("duration") or 0)))
                delays.append(d if d > 10 else 100)
                if i % every == 0:
                    # RGB whatever the frame's mode: Pillow gives the first frame as P and the next as
                    # RGB, or RGBA once one has a transparent colour, which imageio's one array of all
                    # frames could not hold ("not a GIF imageio can decode (ValueError)")
                    arrays.append(np.array(frame.convert("RGB")))
    except Exception as e:  # Pillow raises many error kinds
        raise InputError(f"{p}: not a GIF Pillow can decode ({type(e).__name__})") from None
    frames = [torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0 for a in arrays]
    frames = _finish(frames, p, size, *(arrays[0].shape[:2] if arrays else (0, 0)))
    # Each kept frame holds the screen for its own delay and those of the frames skipped after it.
    n = len(delays)
    fps, repeats = _steady_rate([sum(delays[k: k + every]) for k in range(0, n, every)])
    return Clip(frames, fps, repeats)


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


# The soundtrack codecs each output container takes as they are (stream copy); any other is
# re-encoded to AAC. ffmpeg would copy more (Vorbis or mu-law PCM into MP4), but players other
# than ffmpeg's own refuse those files. Matroska takes every codec ffmpeg can put in it.
_COPY_AUDIO = {
    ".mp4": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}),
    ".mov": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be",
                       "pcm_f32le", "pcm_f32be"}),
}


def _file_url(path: str | os.PathLike) -> str:
    """A path as ffmpeg must be given it, for every call (reading, encoding, the sound's): "file:"
    first, else a name with a colon in it ("take:2.mp4", or the temporary ".take:2.mp4....part.mp4"
    beside it) reads as a protocol: not decodable, or written as 0 bytes without an error."""
    return f"file:{os.path.abspath(path)}"


def _ffmpeg(*args: str) -> subprocess.CompletedProcess:
    """Run the bundled ffmpeg with ``args`` (no banner, no reading of the terminal), its stdout and
    stderr captured as text: the probes, the mux and the frame count go through here."""
    import imageio_ffmpeg

    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *args],
                          capture_output=True, text=True, errors="replace")


@dataclass(frozen=True)
class Probe:
    """What ffmpeg reads off a media file's header: ``audio``, the codec of each audio stream in
    order, as ffmpeg names it ("aac", "pcm_s16le", ...); ``fps``, the mean frame rate of its
    first video stream, and ``tbr``, the rate ffmpeg takes its timestamps to be on and hands its
    frames over at (None where the header says none, or there is no video)."""

    audio: tuple[str, ...] = ()
    fps: float | None = None
    tbr: float | None = None


def probe(path: str | os.PathLike) -> Probe:
    """Describe a media file (see ``Probe``) from its header; an empty Probe where ffmpeg cannot
    read it. One ffmpeg run, some 30 ms."""
    # `ffmpeg -i FILE` with no output describes the file on stderr and exits 1: that is the probe
    # (imageio-ffmpeg bundles no ffprobe).
    r = _ffmpeg("-i", _file_url(path))
    audio = tuple(re.findall(r"^\s*Stream #\d+:\d+\S*: Audio: (\w+)", r.stderr, re.MULTILINE))
    video = [line for line in re.findall(r"^\s*Stream #\d+:\d+\S*: Video: .*$", r.stderr, re.MULTILINE)
             if "(attached pic)" not in line]  # a cover picture is no clip

    def rate(unit: str) -> float | None:
        m = re.search(rf"\s([\d.]+)(k?) {unit}\b", video[0]) if video else None
        return float(m[1]) * (1000 if m[2] else 1) if m else None
    return Probe(audio, rate("fps"), rate("tbr"))


def audio_codec(path: str | os.PathLike) -> str | None:
    """The codec of the first audio stream of a media file, as ffmpeg names it ("aac",
    "pcm_s16le", ...), or None when it has none (or ffmpeg cannot read it). Reads the header only."""
    codecs = probe(path).audio
    return codecs[0] if codecs else None


def write_video(frames: list[torch.Tensor], path: str | os.PathLike, fps: float, *, repeats: list[int] | None = None,
                audio: str | os.PathLike | None = None, audio_codecs: Sequence[str] | None = None,
                quality: int = 18) -> str | None:
    """Encode frames (1, 3, H, W) in 0..1 (even sides) as H.264 (yuv420p) at ``fps``, atomically;
    frame i ``repeats[i]`` times (``Clip.repeats``; None: once each).

    ``audio``: a media file (the clip the frames came from) whose soundtracks (all of them, in
    their order: a second language, a commentary) go under the frames, from its start and cut to
    their span (frames are taken from the clip's start, so picture and sound stay in step whatever
    --max-frames or frame skipping left out). They are copied as they are where the container
    takes every one's codec (the cut then ends at the audio packet that spans the last frame's
    end, a few ms later), else all re-encoded to AAC (cut to the sample). ``audio_codecs``: their
    codecs where already known (``Clip.soundtracks`` of the clip read from ``audio``), which saves
    probing the file again; None: probed here.
    A file without sound gives a video without sound, and so does, in MP4 and MOV, a soundtrack
    without samples (Matroska keeps the empty track). Returns how the sound went in: "copy",
    "aac", or None (the file written has no soundtrack). Raises InputError when ffmpeg can neither
    copy nor re-encode it, or when ``audio`` names no file (missing, a folder, empty).

    ffmpeg's exit status is checked and the file written is counted (its video packets, one a
    frame) before it replaces ``path``: a failed write raises ResourceError when the disk is full
    (or a size limit or quota is reached), else InputError naming the step that failed (encoding
    the frames, or writing the video with its sound), and leaves no file behind."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ConfigError(f"{path}: unknown video output type; use one of {', '.join(WRITE_SUFFIXES)}")
    if not frames:
        raise ConfigError(f"{path}: no frames to write")
    if repeats is not None and (len(repeats) != len(frames) or min(repeats) < 1):
        raise ConfigError(f"repeats: {len(repeats)} counts of 1 or more for {len(frames)} frames; give one per frame")
    fmt = suffix.lstrip(".").replace("mkv", "matroska")
    codecs: Sequence[str] = ()
    if audio is not None:
        # a path that names no file is a mistake, not a clip without sound (the probe says () for both)
        existing_file(audio, "a media file with the soundtrack")
        codecs = probe(audio).audio if audio_codecs is None else audio_codecs
    # None: no sound; else what is tried first (Matroska, absent from the table, copies any codec)
    how = [None if not codecs else
           ("copy" if all(c in _COPY_AUDIO.get(suffix, {c}) for c in codecs) else "aac")]
    shown = len(frames) if repeats is None else sum(repeats)
    seconds = shown / fps

    def encode(dst: Path) -> None:
        _encode(frames, repeats, dst, path, fps, fmt, quality)

    def write(tmp: Path) -> None:
        if how[0] is None:
            encode(tmp)
            return
        # The picture first, then one more ffmpeg pass that copies it and lays the sound under it:
        # a failed copy can then be re-encoded without encoding the frames again.
        picture = tmp.with_name(f"{tmp.stem}.picture{tmp.suffix}")
        try:
            encode(picture)
            how[0] = _mux(picture, audio, tmp, fmt, seconds, how[0], path, shown)
        finally:
            picture.unlink(missing_ok=True)

    write_atomic(path, write)
    return how[0]


def _mux(picture: Path, source, dst: Path, fmt: str, seconds: float, how: str, path, shown: int) -> str | None:
    """Copy the picture stream of ``picture`` and lay every soundtrack of ``source`` under it,
    cut to ``seconds``, into ``dst``: sound copied (``how`` "copy") or re-encoded ("aac").
    Returns what was done: a copy the muxer refuses is re-encoded; None when ``dst`` has no
    soundtrack after all (a stream without samples, which MP4 and MOV leave out). ``path`` (the
    output the user named) and ``shown`` (the frames ``dst`` must hold) are for the checks."""
    def run(*streams: str) -> subprocess.CompletedProcess:
        return _ffmpeg("-y", "-loglevel", "error", "-i", _file_url(picture), *streams, "-t", f"{seconds:.6f}",
                       "-f", fmt, _file_url(dst))

    def with_sound(codec: str) -> subprocess.CompletedProcess:
        return run("-i", _file_url(source), "-map", "0:v:0", "-map", "1:a", "-c:v", "copy", "-c:a", codec)

    r = with_sound(how)
    if r.returncode and how == "copy" and not _FULL_DISK.search(r.stderr):  # a stream the muxer refuses after all
        how, r = "aac", with_sound("aac")
    if r.returncode:
        failed = _write_failed(path, r.stderr, "writing the video with its sound", dst)
        if isinstance(failed, ResourceError):
            raise failed
        # The soundtrack is to blame only when the picture alone goes through the same pass (not
        # when the output cannot be written, or the picture cannot be read back).
        alone = run("-map", "0:v:0", "-c:v", "copy")
        if alone.returncode:
            raise _write_failed(path, alone.stderr, "writing the video", dst)
        raise InputError(f"{source}: its soundtrack cannot be carried over ({_ffmpeg_why(r.stderr, dst, path)}); "
                         "--no-audio writes the picture only")
    _check_frames(dst, shown, path, "writing the video with its sound")
    # read off the file written: the probe of ``source`` sees a stream's header, not its samples
    return how if probe(dst).audio else None


# What ffmpeg says when the output's file system refuses to grow (ENOSPC, EDQUOT, EFBIG).
_FULL_DISK = re.compile(r"No space left on device|Disk quota exceeded|File too large")


def _ffmpeg_why(stderr: str, tmp: Path, path) -> str:
    """ffmpeg's first error line (its last says only "Conversion failed!" or "Error opening
    output files"), without the "[mp4 @ 0x...]" source tag, naming the output the user gave
    rather than its temporary file; at most 100 characters."""
    line = (stderr.strip().splitlines() or ["ffmpeg failed without a message"])[0]
    line = re.sub(r"^\[[^\]]*\]\s*", "", line.replace(_file_url(tmp), str(path)).replace(str(tmp), str(path)))
    return line[:100]


def _write_failed(path, stderr: str, step: str, tmp: Path) -> StylegramError:
    """The one-line error for an ffmpeg run that failed at ``step`` while writing ``tmp`` (which
    becomes ``path``): ResourceError for a full disk, InputError otherwise."""
    full = _FULL_DISK.search(stderr)
    if full:
        return ResourceError(f"{path}: {step} failed: {full[0].lower()}; free some space or write it elsewhere")
    return InputError(f"{path}: {step} failed ({_ffmpeg_why(stderr, tmp, path)})")


def _encode(frames: list[torch.Tensor], repeats: list[int] | None, dst: Path, path, fps: float, fmt: str,
            quality: int) -> None:
    """Encode the frames as H.264 (yuv420p, crf ``quality``) into ``dst``, frame i ``repeats[i]``
    times, through ffmpeg's stdin; raise (``_write_failed``) unless ffmpeg exits 0 and ``dst``
    holds every frame.

    The command is the one imageio_ffmpeg.write_frames built (the same file, byte for byte), run
    here because write_frames never reads ffmpeg's exit status: a full disk or frames ffmpeg
    refused left an empty or cut-short file that was renamed into place as the output, and
    ffmpeg's messages went to the terminal."""
    import imageio_ffmpeg

    h, w = frames[0].shape[-2:]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{w}x{h}",
           "-pix_fmt", "rgb24", "-r", str(Fraction(fps).limit_denominator()), "-i", "-", "-an",
           "-vcodec", "libx264", "-pix_fmt", "yuv420p"]
    if h % 2 or w % 2:  # as write_frames(macro_block_size=2) did: stretched to even sides, which 4:2:0 needs
        cmd += ["-vf", f"scale={w + w % 2}:{h + h % 2}"]
    cmd += ["-v", "error", "-crf", str(quality), "-f", fmt, _file_url(dst)]
    with tempfile.TemporaryFile() as log:
        # its own process group, as write_frames did: Ctrl-C reaches Python, which stops ffmpeg
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                             start_new_session=True)
        try:
            try:
                for f, k in zip(frames, repeats or [1] * len(frames)):
                    a = (f.detach().cpu().clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
                    a = np.ascontiguousarray(a)
                    for _ in range(k):
                        p.stdin.write(a)
                p.stdin.close()
            except BrokenPipeError:  # ffmpeg stopped reading: its exit status and message say why
                pass
            p.wait()
        except BaseException:
            p.kill()
            p.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                p.stdin.close()
        log.seek(0)
        stderr = log.read().decode("utf-8", "replace")
    if p.returncode:
        raise _write_failed(path, stderr, "encoding the frames", dst)
    _check_frames(dst, sum(repeats) if repeats else len(frames), path, "encoding the frames")


def _check_frames(written: Path, expected: int, path, step: str) -> None:
    """Raise unless the video stream of ``written`` holds ``expected`` frames: its packets counted
    by a stream copy to nowhere (no decoding; some 40 ms), as a file cut short by a write error
    ffmpeg did not report would not."""
    r = _ffmpeg("-loglevel", "error", "-i", _file_url(written), "-map", "0:v:0", "-c", "copy", "-f", "null",
                "-progress", "pipe:1", "-")
    counts = re.findall(r"^frame=(\d+)$", r.stdout, re.MULTILINE)
    if r.returncode or not counts:
        if _FULL_DISK.search(r.stderr):
            raise _write_failed(path, r.stderr, step, written)
        raise InputError(f"{path}: {step} failed: the file written cannot be read back "
                         f"({_ffmpeg_why(r.stderr, written, path)})")
    if int(counts[-1]) != expected:
        raise InputError(f"{path}: {step} failed: the file written holds {counts[-1]} of the {expected} frames")


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
            make_folder(self.folder)  # one line where it cannot be (OUT.frames a file, no permission)
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
