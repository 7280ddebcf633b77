"""Peak RSS of `stylegram volume` against the estimate it refuses runs by (media.estimate_volume_bytes).

  PYTHONPATH=src python bench/volume_memory.py [--style STYLE.jpg] [--out results.json]

Each case writes a random volume (shape, voxel spacing in mm), runs the command in a child process
with vgg16-hed at --size = its longest axis, 2 iterations, and reads the child's peak RSS
(os.wait4). The estimate should lie above the peak, not far above it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = [((64, 64, 64), 8, (1.0, 1.0, 1.0)), ((48, 48, 48), 0, (1.0, 1.0, 1.0)), ((96, 96, 32), 8, (1.0, 1.0, 3.0))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default=str(REPO / "examples" / "starry_night.jpg"))
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    import nibabel as nib
    import numpy as np

    from stylegram.media import estimate_volume_bytes, volume_content_layers, volume_style_layers
    from stylegram.nets import build_net
    net = build_net("vgg16-hed", layers=["relu4_2"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape, slices, spacing in CASES:
            vol, rep = Path(tmp) / "v.nii.gz", Path(tmp) / "r.json"
            a = (np.random.default_rng(0).random(shape) * 1000).astype("float32")
            nib.save(nib.Nifti1Image(a, np.diag([*spacing, 1.0])), str(vol))
            child = subprocess.Popen([sys.executable, "-m", "stylegram", "volume", str(vol), args.style, "-o",
                                      str(Path(tmp) / "o.nii.gz"), "--size", str(max(shape)), "--iters", "2",
                                      "--slices", str(slices), "-q", "--report", str(rep)])
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not the largest so far
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode:
                sys.exit(f"case {shape} failed: exit code {child.returncode}")
            peak = usage.ru_maxrss * 1024
            r = json.loads(rep.read_text())
            est = estimate_volume_bytes(net, r["styled_shape"], style_layers=list(volume_style_layers(net)),
                                        content_layers=volume_content_layers(net), slices_per_axis=slices or None)
            row = {"shape": list(shape), "spacing_mm": list(spacing), "slices": slices,
                   "styled_shape": r["styled_shape"][2:], "peak_rss_gib": round(peak / 2**30, 2),
                   "estimate_gib": round(est / 2**30, 2), "ratio": round(est / peak, 2)}
            rows.append(row)
            print(row, flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
