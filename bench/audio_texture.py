"""Audio texture: time, Gram-loss drop and spectral statistics of a texture from a sound file,
compared with the original and with white noise of the same loudness.

    PYTHONPATH=src python bench/audio_texture.py [STYLE.wav] [--seconds 5] [--iters 100] [--out DIR]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("style", nargs="?", default=str(REPO.parent / "shared" / "data" / "audio" / "rain_texture.wav"))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--filters", type=int, default=512)
    ap.add_argument("--out", default=None, help="folder for the WAV and spectrogram PNGs")
    a = ap.parse_args()
    y, sr = load_audio(a.style)
    t0, c0 = time.perf_counter(), time.process_time()
    r = audio_texture(torch.from_numpy(y), sr, a.seconds, iters=a.iters, filters=a.filters)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(r.samples)).astype(np.float32) * float(np.std(y))
    s_style, s_res, s_noise = (spectrogram(v, sr).log_mag for v in (y, r.samples.numpy(), noise))
    p_style = band_profile_db(s_style)
    out = {"bench": "audio_texture", "style": a.style, "seconds": a.seconds, "iters": a.iters, "filters": a.filters,
           "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "optimize_wall_s": round(r.run.seconds, 1),
           "style_loss_initial": r.run.initial["style"], "style_loss_final": r.run.final["style"],
           "style_drop": round(r.run.style_drop(), 1),
           "stats": {"original": spectral_stats(s_style), "texture": spectral_stats(s_res),
                     "texture_before_griffin_lim": spectral_stats(r.log_mag),
                     "white_noise": spectral_stats(s_noise)},
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
