"""Audio texture: time, Gram-loss drop and spectral statistics of a texture from a sound file,
compared with the original, with white noise of the same loudness and with "shaped noise" (the
original's own magnitude spectrum with random phases: the same long-term spectrum and no temporal
structure, which is what a texture that failed would sound like). The transient figures tell rain
from noise without ears: drops are short bursts of energy, noise has none.

    PYTHONPATH=src python bench/audio_texture.py [STYLE.wav] [--seconds 5] [--iters 100] [--n-fft 512] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from stylegram.io.audio import (band_profile_db, load_audio, save_spectrogram_png, save_wav,  # noqa: E402
                                spectral_stats, spectrogram)
from stylegram.media import audio_texture  # noqa: E402


def transient_stats(y: np.ndarray, sr: int, frame_ms: float = 10.0, context_ms: float = 200.0) -> dict:
    """Impulsiveness of samples y (N,) at sr Hz, from the energies of 10 ms frames:
    ``events_per_s_1.8dB`` / ``_3dB`` count frames that are a local maximum at least 1.5x / 2x the
    median energy of the 200 ms around them (a drop hitting); ``envelope_kurtosis`` is the
    kurtosis of the frame RMS (3 for a Gaussian envelope, higher for bursts); ``crest_db`` the
    peak-to-RMS ratio in dB."""
    n = max(1, int(sr * frame_ms / 1000))
    frames = y[: len(y) // n * n].astype(np.float64).reshape(-1, n)
    e = (frames ** 2).mean(1) + 1e-12
    half = max(1, int(context_ms / frame_ms / 2))
    pad = np.pad(e, half, mode="reflect")
    med = np.array([np.median(pad[i:i + 2 * half + 1]) for i in range(len(e))])
    local_max = (e >= np.roll(e, 1)) & (e >= np.roll(e, -1))
    rms = np.sqrt(e)
    z = (rms - rms.mean()) / (rms.std() + 1e-12)
    seconds = len(y) / sr
    return {"events_per_s_1.8dB": round(float((local_max & (e > 1.5 * med)).sum()) / seconds, 2),
            "events_per_s_3dB": round(float((local_max & (e > 2.0 * med)).sum()) / seconds, 2),
            "envelope_kurtosis": round(float((z ** 4).mean()), 2),
            "crest_db": round(float(20 * np.log10(np.abs(y).max() / (np.sqrt((y.astype(np.float64) ** 2).mean()) + 1e-12))), 2)}


def shaped_noise(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n samples with the magnitude spectrum of y (resampled to n bins) and random phases."""
    mag = np.abs(np.fft.rfft(y.astype(np.float64)))
    m = np.interp(np.linspace(0, len(mag) - 1, n // 2 + 1), np.arange(len(mag)), mag)
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(m))
    out = np.fft.irfft(m * np.exp(1j * phase), n)
    return (out * (np.std(y) / (np.std(out) + 1e-12))).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("style", nargs="?", default=str(REPO.parent / "shared" / "data" / "audio" / "rain_texture.wav"))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--filters", type=int, default=512)
    ap.add_argument("--n-fft", type=int, default=512, help="the texture's STFT window (the statistics use 1024 for all)")
    ap.add_argument("--out", default=None, help="folder for the WAV and spectrogram PNGs")
    a = ap.parse_args()
    y, sr = load_audio(a.style)
    t0, c0 = time.perf_counter(), time.process_time()
    r = audio_texture(torch.from_numpy(y), sr, a.seconds, iters=a.iters, filters=a.filters, n_fft=a.n_fft)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(r.samples)).astype(np.float32) * float(np.std(y))
    s_style, s_res, s_noise = (spectrogram(v, sr).log_mag for v in (y, r.samples.numpy(), noise))
    p_style = band_profile_db(s_style)
    out = {"bench": "audio_texture", "style": a.style, "seconds": a.seconds, "iters": a.iters, "filters": a.filters, "n_fft": a.n_fft,
           "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "optimize_wall_s": round(r.run.seconds, 1),
           "style_loss_initial": r.run.initial["style"], "style_loss_final": r.run.final["style"],
           "style_drop": round(r.run.style_drop(), 1),
           "stats": {"original": spectral_stats(s_style), "texture": spectral_stats(s_res),
                     "texture_before_griffin_lim_own_stft": spectral_stats(r.log_mag),
                     "white_noise": spectral_stats(s_noise)},
           "transients": {"original": transient_stats(y, sr), "texture": transient_stats(r.samples.numpy(), sr),
                          "shaped_noise": transient_stats(shaped_noise(y, len(r.samples)), sr),
                          "white_noise": transient_stats(noise, sr)},
           "band_profile_mean_abs_db_vs_original": {
               "texture": round(float((band_profile_db(s_res) - p_style).abs().mean()), 2),
               "white_noise": round(float((band_profile_db(s_noise) - p_style).abs().mean()), 2)},
           "machine": platform.platform(), "cpu_threads": torch.get_num_threads(),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if a.out:
        d = Path(a.out)
        d.mkdir(parents=True, exist_ok=True)
        save_wav(r.samples, sr, d / "rain_texture_5s.wav")
        top = 20 * float(np.log10(np.expm1(float(s_style.max())) + 1e-4))
        for name, s in (("original", s_style), ("texture", s_res), ("white_noise", s_noise)):
            save_spectrogram_png(s, sr, 256, d / f"spec_{name}.png", title=name, vmax=top)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
