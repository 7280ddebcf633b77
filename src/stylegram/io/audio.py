"""Sound in and out: WAV/FLAC/OGG through soundfile, mono mix, band-limited resampling, the
log-magnitude STFT that the 1D engine optimizes, Griffin-Lim phase recovery (torch.stft/istft),
16-bit WAV output and spectrogram pictures.

A spectrogram tensor is (1, F, T): channels are the F = n_fft/2 + 1 frequency bins, the one
spatial axis is the T frames (Ulyanov & Lebedev 2016), values log(1 + |STFT|) >= 0.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, InputError
from .image import existing_file, other_media_hint, write_atomic

DEFAULT_RATE = 22050
N_FFT = 1024
HOP = 256
# what soundfile (libsndfile 1.1+) reads: an .mp3 given to `volume` or `transfer` was not called a sound
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
# Peak below this (about -80 dBFS) counts as silence: nothing for a Gram matrix to describe.
SILENCE_PEAK = 1e-4


@dataclass(frozen=True)
class Spectrogram:
    """A log-magnitude spectrogram (1, F, T) and how it was made (rate in Hz, n_fft, hop)."""

    log_mag: torch.Tensor
    rate: int
    n_fft: int = N_FFT
    hop: int = HOP

    @property
    def seconds(self) -> float:
        return (self.log_mag.shape[-1] - 1) * self.hop / self.rate


def resample(y: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling of mono float samples by zero-padding/truncating the spectrum
    (what scipy.signal.resample does), so no aliasing when going down in rate."""
    if rate_in == rate_out or len(y) == 0:
        return y.astype(np.float32)
    n_out = max(1, int(round(len(y) * rate_out / rate_in)))
    spec = np.fft.rfft(y.astype(np.float64))
    k = n_out // 2 + 1
    out_spec = np.zeros(k, dtype=np.complex128)
    m = min(k, len(spec))
    out_spec[:m] = spec[:m]
    return (np.fft.irfft(out_spec, n_out) * (n_out / len(y))).astype(np.float32)


@contextlib.contextmanager
def _native_stderr_silenced():
    """Silence file descriptor 2 while native decoders probe a file: libmpg123 prints warnings
    about non-MP3 bytes straight to it, which would break the one-line error promise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_audio(path: str | os.PathLike, rate: int = DEFAULT_RATE, *, seconds: float | None = None,
               allow_silent: bool = False, window: int = N_FFT, hint: str = "") -> tuple[np.ndarray, int]:
    """Read a WAV/FLAC/OGG file as mono float32 samples (N,) in -1..1 at ``rate`` Hz.

    Channels are averaged; at most ``seconds`` are read. Raises InputError (one line) for a missing,
    unreadable, empty, (unless ``allow_silent``) silent file, or one shorter than ``window`` samples
    (the caller's analysis window; ``hint`` ends that message, e.g. ", or lower --n-fft").
    """
    import soundfile as sf

    if not 0 < rate < math.inf:
        raise ConfigError(f"rate {rate}: must be a positive sample rate in Hz, e.g. 22050")
    if seconds is not None and not 0 < seconds < math.inf:
        raise ConfigError(f"max seconds {seconds}: must be a positive number of seconds")
    p = existing_file(path, "a WAV, FLAC or OGG file")
    try:
        with _native_stderr_silenced():
            info = sf.info(str(p))
            # --max-seconds 1: 1 s, not 1 s and a sample; at least one, so a tiny value says "too short"
            frames = -1 if seconds is None else max(1, round(seconds * info.samplerate))
            data, sr = sf.read(str(p), frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        reason = " ".join(str(e).split()).split(":")[-1].strip() or type(e).__name__
        # libsndfile says "File does not exist or is not a regular file" of files it cannot parse.
        reason = "" if "does not exist" in reason else f" ({reason})"
        raise InputError(f"{path}: not an audio file soundfile can read{reason}; use WAV, FLAC or OGG"
                         f"{other_media_hint(p, 'audio')}") from None
    if data.shape[0] == 0:
        raise InputError(f"{path}: contains no samples (0 s of sound); give a file with sound in it")
    y = data.mean(axis=1)
    if not np.isfinite(y).all():
        raise InputError(f"{path}: contains NaN/Inf samples; re-export it")
    mix_peak = float(np.abs(y).max())
    if mix_peak < SILENCE_PEAK:  # the channels are looked at only for a quiet mix (two passes over them)
        # The mix's peak had no channel cancelled another: the mean of the channels' magnitudes.
        # Only where that is audible is a quiet mix the channels' doing; a file whose one channel
        # peaks at 1.5e-4 beside a silent one mixes to 7.5e-5 with nothing cancelled, and is silent.
        if float(np.abs(data).mean(axis=1).max()) >= SILENCE_PEAK:  # not "is silent (peak 0.0e+00)"
            raise InputError(f"{path}: its {data.shape[1]} channels cancel out in the mono mix (peak {mix_peak:.1e}, "
                             f"{float(np.abs(data).max()):.2f} in the channels: one is the other inverted); export "
                             "one channel, or invert one, and give that file")
        if not allow_silent:
            raise InputError(f"{path}: is silent (peak {mix_peak:.1e}); a style or texture needs audible sound")
    # Band-limited resampling rings past full scale on hard edges; the samples promise -1..1.
    y = np.clip(resample(y, int(sr), int(rate)), -1.0, 1.0)
    if len(y) < window:  # the spectrogram and Griffin-Lim need one whole analysis window
        # "raise --max-seconds" only where it cut the file: a 600-sample file is short at any --max-seconds
        cut = frames != -1 and info.frames > frames
        fix = "raise --max-seconds or --rate" if cut else "give a longer sound or raise --rate"
        raise InputError(f"{path}: {len(y)} samples at {int(rate)} Hz, fewer than the {window} of one analysis "
                         f"window ({window / rate:.3f} s); {fix}{hint}")
    return y, int(rate)


def audio_seconds(path: str | os.PathLike) -> float:
    """The length of a sound file that ``load_audio`` has read, in seconds (its header's count)."""
    import soundfile as sf
    with _native_stderr_silenced():
        info = sf.info(str(path))
    return info.frames / info.samplerate


def _window(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft, dtype=torch.float32)


def spectrogram(y: np.ndarray | torch.Tensor, rate: int, n_fft: int = N_FFT, hop: int | None = None) -> Spectrogram:
    """Samples (N,) -> Spectrogram with log_mag (1, n_fft/2 + 1, frames) = log(1 + |STFT|); hop
    defaults to n_fft / 4 (HOP for the default window)."""
    hop = hop or n_fft // 4
    t = torch.as_tensor(np.asarray(y, dtype=np.float32))
    if t.numel() < n_fft:
        t = torch.nn.functional.pad(t, (0, n_fft - t.numel()))
    X = torch.stft(t, n_fft, hop, window=_window(n_fft), center=True, return_complex=True)
    return Spectrogram(torch.log1p(X.abs())[None], rate, n_fft, hop)


def griffin_lim(log_mag: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP, iters: int = 100,
                momentum: float = 0.99, seed: int = 0, length: int | None = None) -> torch.Tensor:
    """Phase recovery: samples (N,) whose |STFT| approximates exp(log_mag) - 1, log_mag (1|_, F, T).

    The fast Griffin-Lim of Perraudin et al. (2013): alternate projections with momentum, from a
    seeded random phase.
    """
    mag = torch.expm1(log_mag.detach().float().reshape(-1, log_mag.shape[-1])).clamp_min(0)
    win = _window(n_fft)
    gen = torch.Generator().manual_seed(int(seed))
    angles = torch.exp(2j * torch.pi * torch.rand(mag.shape, generator=gen))
    prev = torch.zeros_like(angles)
    for _ in range(iters):
        y = torch.istft(mag * angles, n_fft, hop, window=win, center=True, length=length)
        X = torch.stft(y, n_fft, hop, window=win, center=True, return_complex=True)
        X = X[:, : mag.shape[1]]
        if X.shape[1] < mag.shape[1]:
            X = torch.nn.functional.pad(X, (0, mag.shape[1] - X.shape[1]))
        acc = X - (momentum / (1 + momentum)) * prev if momentum else X
        prev = X
        angles = acc / acc.abs().clamp_min(1e-8)
    return torch.istft(mag * angles, n_fft, hop, window=win, center=True, length=length)


def save_wav(y: np.ndarray | torch.Tensor, rate: int, path: str | os.PathLike, *, peak: float = 0.97) -> float:
    """Write mono samples as a 16-bit PCM WAV, atomically, scaled down to ``peak`` if they clip.
    Returns the gain applied in dB: 0.0, or negative where the sound was scaled down."""
    import soundfile as sf

    if Path(path).suffix.lower() != ".wav":
        raise ConfigError(f"{path}: sound is written as 16-bit WAV; name the output .wav")
    a = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float32).reshape(-1)
    top = float(np.abs(a).max()) if a.size else 0.0
    gain = peak / top if top > peak else 1.0
    a = a * gain
    # Encoded in memory, then written by Python: libsndfile writing the file itself turns a full
    # disk into "Error opening ...: System error." (a RuntimeError, without the errno), which
    # write_atomic cannot tell from a bug; the bytes are the same.
    buf = io.BytesIO()
    sf.write(buf, a, int(rate), subtype="PCM_16", format="WAV")
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()))
    return round(20 * math.log10(gain), 2)


def save_spectrogram_png(log_mag: torch.Tensor, rate: int, hop: int, path: str | os.PathLike, *,
                         title: str = "", vmax: float | None = None) -> None:
    """A picture of a log-magnitude spectrogram (1, F, T): time across, frequency up, in dB."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    m = log_mag.detach().float().reshape(-1, log_mag.shape[-1]).cpu().numpy()
    db = 20 * np.log10(np.expm1(m) + 1e-4)
    fig = Figure(figsize=(7, 3), dpi=100)
    ax = fig.subplots()
    dur = m.shape[1] * hop / rate
    top = db.max() if vmax is None else vmax
    im = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                   extent=(0, dur, 0, rate / 2 / 1000))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, label="dB")
    fig.tight_layout()
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=suffix))


def spectral_stats(log_mag: torch.Tensor) -> dict[str, float]:
    """Numbers to compare sounds by ear-free means, from a log-magnitude spectrogram (1, F, T):
    spectral flatness (1 = white noise, near 0 = tonal), mean spectral centroid in bins, and the
    temporal modulation (std over time of the frame energy / its mean: bursts vs steady)."""
    mag = torch.expm1(log_mag.detach().float().reshape(-1, log_mag.shape[-1])).clamp_min(0)
    p = mag.pow(2) + 1e-12
    flat = (p.log().mean(0).exp() / p.mean(0)).mean()
    bins = torch.arange(p.shape[0], dtype=torch.float32)[:, None]
    centroid = ((p * bins).sum(0) / p.sum(0)).mean()
    energy = p.sum(0)
    modulation = energy.std() / energy.mean()
    return {"flatness": float(flat), "centroid_bins": float(centroid), "modulation": float(modulation)}


def band_profile_db(log_mag: torch.Tensor, bands: int = 32) -> torch.Tensor:
    """The long-term spectrum: mean power in ``bands`` equal-width frequency bands, in dB, shape
    (bands,). Comparing two sounds' profiles says whether they have the same colour."""
    mag = torch.expm1(log_mag.detach().float().reshape(-1, log_mag.shape[-1])).clamp_min(0)
    p = mag.pow(2).mean(1)
    chunks = torch.tensor_split(p, bands)
    return torch.stack([10 * torch.log10(c.mean() + 1e-12) for c in chunks])
