"""Video flicker: temporal loss + warm start vs stylizing each frame independently.

A synthetic clip (a 64 px window panning across tubingen.jpg, 2 px per frame) is stylized with
starry_night.jpg twice, and the flicker figure (mean |O_t - O_t-1| / mean |I_t - I_t-1|) of
each run is printed as JSON. Done when: temporal / independent <= 0.5.

    PYTHONPATH=src python bench/flicker.py [--net vgg16-hed|random] [--frames 8] [--iters 10]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from stylegram.io.image import load_image  # noqa: E402
from stylegram.media import video_transfer  # noqa: E402
from stylegram.nets import build_net  # noqa: E402
from stylegram.nets.random import random_vgg  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", default="vgg16-hed")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--temporal", type=float, default=1e3)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "images"))
    a = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = Path(a.data)
    big = load_image(data / "tubingen.jpg", 2 * a.size)
    top = (big.shape[-2] - a.size) // 2
    frames = [big[..., top:top + a.size, 2 * t:2 * t + a.size].contiguous() for t in range(a.frames)]
    style = load_image(data / "starry_night.jpg", a.size * 2)
    net = random_vgg(width=0.25) if a.net == "random" else build_net(a.net)
    out = {"bench": "flicker", "net": a.net, "frames": a.frames, "size": a.size, "iters": a.iters,
           "temporal": a.temporal, "machine": platform.platform(), "cpu_threads": torch.get_num_threads(),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for name, kw in (("independent", dict(independent=True, temporal=0.0)),
                     ("temporal", dict(independent=False, temporal=a.temporal))):
        t0, c0 = time.perf_counter(), time.process_time()
        r = video_transfer(frames, style, net, iters=a.iters, first_iters=a.iters, **kw)
        out[name] = {"flicker": round(r.flicker, 4), "wall_s": round(time.perf_counter() - t0, 1),
                     "cpu_s": round(time.process_time() - c0, 1),
                     "style_final_mean": sum(v.final["style"] for v in r.runs.values()) / len(r.runs),
                     "content_final_mean": sum(v.final["content"] for v in r.runs.values()) / len(r.runs)}
    out["ratio"] = round(out["temporal"]["flicker"] / out["independent"]["flicker"], 4)
    out["pass"] = out["ratio"] <= 0.5
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
