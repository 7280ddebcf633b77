"""Time of the studio's Gram view (``web.gramview.gram_heatmaps``) at its default size: vgg16-hed,
the image's longest side 256 px, maps of 256 px, the net built beforehand (the server keeps it).

Prints one JSON object: the median CPU seconds (process time, which other programs on a shared
machine barely change) and wall seconds of ``--runs`` calls after a warm-up, on ``--threads``
torch threads.

    PYTHONPATH=src python bench/studio_gram.py [--image FILE] [--runs 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "starry_night.jpg"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from stylegram.nets import build_net
    from stylegram.web.gramview import GRAM_LAYERS, gram_heatmaps
    net = build_net("vgg16-hed", layers=list(GRAM_LAYERS))
    cpu, wall = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.runs + 1):  # the first is a warm-up
            c, w = time.process_time(), time.perf_counter()
            out = gram_heatmaps(args.image, Path(d), net_name="vgg16-hed", size=256, net=net)
            if i:
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - w)
    print(json.dumps({"image": str(args.image), "threads": args.threads, "runs": args.runs,
                      "cpu_s": round(statistics.median(cpu), 3), "wall_s": round(statistics.median(wall), 3),
                      "png": [[o["width"], o["height"]] if "width" in o else None for o in out]}))


if __name__ == "__main__":
    main()
