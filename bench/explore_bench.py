"""Time and peak memory of the five-layer unit report (`stylegram explore units`) on CPU.

Runs the whole job (build the net, scan, crop, render sheets + HTML) in a fresh subprocess for the
first N images of a folder, for each N given, and prints one JSON object: wall seconds, scan and
report seconds, seconds per image, and the child's peak RSS (ru_maxrss). Peak RSS must not grow
with N: the scan keeps only (C, k) tensors per layer.

    PYTHONPATH=src python bench/explore_bench.py [--images DIR] [--counts 250,1000] [--precision fp32]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# ../shared beside the checkout (worktrees sit one level deeper, so look further up too)
DEFAULT_IMAGES = next((p / "shared" / "data" / "imagenet-sample" for p in HERE.parents
                       if (p / "shared" / "data" / "imagenet-sample").is_dir()),
                      HERE.parents[1] / "shared" / "data" / "imagenet-sample")
LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def child(args: argparse.Namespace) -> None:
    import resource

    import torch

    from stylegram.explore import explore_units, list_images

    t0 = time.perf_counter()
    files = list_images(args.images)[: args.n]
    stamps: dict[str, float] = {}

    def cb(ev):
        stamps.setdefault("scan_first_batch", time.perf_counter() - t0)
        stamps["scan_end"] = time.perf_counter() - t0
        stamps["rss_scan_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    scan, summary = explore_units(files, args.out, layers=LAYERS, size=args.size, batch_size=args.batch_size,
                                  precision=args.precision, callback=cb, threads=args.threads, root=args.images,
                                  cache=os.path.join(args.out, "scan.safetensors"))
    total = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"images": len(files), "skipped": len(scan.skipped), "seconds_total": round(total, 2),
                      "seconds_scan": round(scan.seconds, 2), "seconds_report": round(total - stamps["scan_end"], 2),
                      "seconds_setup": round(stamps["scan_end"] - scan.seconds, 2),
                      "s_per_image_scan": round(scan.seconds / max(len(files), 1), 4), "precision": scan.precision,
                      "cpu_seconds": round(time.process_time(), 1),
                      "peak_rss_mb": round(peak_kb / 1024, 1),
                      "peak_rss_scan_mb": round(stamps["rss_scan_kb"] / 1024, 1), "threads": torch.get_num_threads(),
                      "sheets": summary["sheets"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=str(DEFAULT_IMAGES))
    ap.add_argument("--counts", default="250,1000")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--keep", default=None, help="keep the last report in this folder")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    runs = []
    for n in [int(c) for c in args.counts.split(",")]:
        with tempfile.TemporaryDirectory(prefix="explore_bench.") as tmp:
            out = args.keep if (args.keep and n == int(args.counts.split(",")[-1])) else tmp
            os.makedirs(out, exist_ok=True)
            cmd = [sys.executable, __file__, "--child", "--n", str(n), "--out", out, "--images", args.images,
                   "--size", str(args.size), "--batch-size", str(args.batch_size), "--precision", args.precision]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            if os.path.exists(os.path.join(out, "scan.safetensors")):
                os.remove(os.path.join(out, "scan.safetensors"))  # time a full scan, not a resume
            t = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"child run failed:\n{res.stderr[-3000:]}")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            r["seconds_process"] = round(time.perf_counter() - t, 2)
            runs.append(r)
    load = os.getloadavg()
    print(json.dumps({"bench": "explore_units five-layer report", "net": "vgg16-hed", "layers": LAYERS,
                      "images": args.images, "size": args.size, "batch_size": args.batch_size,
                      "precision": args.precision, "machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "loadavg_after": [round(v, 2) for v in load],
                      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
