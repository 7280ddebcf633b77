"""Seconds per evaluation (one forward + backward pass) of stylegram and of the plain reference
(../shared/bench/reference_gatys.py), measured in the same run on the same machine.

  python bench/speed.py [--sizes 256,512] [--evals 10] [--device cpu] [--precision fp32,bf16] [--out FILE]

Both use Adam so that every iteration is exactly one evaluation. Prints one JSON object.
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

import torch

import stylegram

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONTENT = REPO / "examples" / "tubingen.jpg"
STYLE = REPO / "examples" / "starry_night.jpg"


def reference(size: int, evals: int, device: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, str(SHARED / "bench" / "reference_gatys.py"), str(CONTENT), str(STYLE),
                              str(size), str(evals), os.path.join(d, "ref.png"), "adam", device],
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ours(size: int, evals: int, device: str, precision: str) -> dict:
    stylegram.transfer(CONTENT, STYLE, size=size, iters=1, optimizer="adam", device=device, precision=precision)  # warm-up
    r = stylegram.transfer(CONTENT, STYLE, size=size, iters=evals - 1, optimizer="adam", device=device,
                           precision=precision)
    return {"impl": "stylegram", "precision": precision, "size": size, "evals": r.evals,
            "seconds": round(r.seconds_optimize, 3), "s_per_eval": round(r.s_per_eval, 4)}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d")}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--evals", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32,bf16")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    a = ap.parse_args()
    rows = []
    for size in (int(s) for s in a.sizes.split(",")):
        ref = reference(size, a.evals, a.device)
        rows.append(ref)
        for prec in a.precision.split(","):
            o = ours(size, a.evals, a.device, prec)
            o["speedup_vs_reference"] = round(ref["s_per_eval"] / o["s_per_eval"], 2)
            rows.append(o)
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    result = {"machine": machine(), "device": a.device, "results": rows}
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
