"""Every transfer and texture option on a GPU, beside the same run on the CPU.

    PYTHONPATH=src python bench/gpu_check.py [--device cuda] [--out bench/results/gpu/check.json]

CI has no GPU, so this is the check a session with an accelerator runs: each case (pyramid and
refinement, tiles, masks, per-region styles, colour, the W2 and sliced losses, EMA, blends,
detail levels, tileable textures) runs once on ``--device`` and once on the CPU with the same seed,
on the random tiny net at 64-192 px (no weights needed), and the script prints per case the
wall seconds on each and the largest pixel difference between the two images (0..1). A device
bug shows as an error with its traceback; float arithmetic that differs in order shows as a small
difference. Exit status 1 if any case failed on either device.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "src" / "stylegram" / "web" / "static" / "examples"


def cases(tmp: Path) -> dict[str, tuple[str, dict]]:
    """name -> (api: 'transfer' | 'texture', options)."""
    from PIL import Image
    left = Image.new("L", (64, 48), 0)
    left.paste(255, (0, 0, 32, 48))
    left.save(tmp / "left.png")
    Image.eval(left, lambda v: 255 - v).save(tmp / "right.png")
    starry, tub = str(EXAMPLES / "starry_night.jpg"), str(EXAMPLES / "tubingen.jpg")
    base = dict(net="random-tiny", seed=0)
    return {
        "balanced (pyramid + refine)": ("transfer", dict(base, size=128, iters=30, refine=10)),
        "classic": ("transfer", dict(base, size=96, iters=20, preset="classic")),
        "tiled gram": ("transfer", dict(base, size=192, iters=10, tile=96, refine=0, pyramid_start=0)),
        "tiled + refine (sliced)": ("transfer", dict(base, size=192, iters=6, tile=96, refine=4, pyramid_start=0)),
        "mask": ("transfer", dict(base, size=96, iters=15, mask=str(tmp / "left.png"))),
        "regions": ("transfer", dict(base, size=96, iters=15, refine=0, regions=(f"{tmp / 'right.png'}={tub}",))),
        "preserve luminance": ("transfer", dict(base, size=96, iters=15, preserve_color="luminance")),
        "preserve histogram": ("transfer", dict(base, size=96, iters=15, preserve_color="histogram", color_strength=0.5)),
        "w2 loss": ("transfer", dict(base, size=96, iters=15, style_loss="w2", refine=0)),
        "sliced preset": ("transfer", dict(base, size=96, iters=15, preset="sliced")),
        "ema": ("transfer", dict(base, size=96, iters=15, ema=0.9, refine=0)),
        "blend of two styles": ("transfer", dict(base, size=96, iters=15, style=[starry, tub], style_blend=(0.7, 0.3))),
        "detail levels (pyramid_keep)": ("transfer", dict(base, size=192, iters=20, pyramid_start=64, pyramid_keep=96,
                                                          refine=5)),
        "tileable texture": ("texture", dict(base, size=64, iters=20, tileable=True)),
    }


def run(api: str, opts: dict, device: str) -> tuple[torch.Tensor, float]:
    import stylegram
    opts = dict(opts, device=device)
    style = opts.pop("style", str(EXAMPLES / "starry_night.jpg"))
    t = time.perf_counter()
    if api == "texture":
        r = stylegram.texture(style, **opts)
    else:
        r = stylegram.transfer(str(EXAMPLES / "tubingen.jpg"), style, **opts)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return r.image.detach().float().cpu(), time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default=None, help="also write the results here as JSON")
    a = ap.parse_args()
    info = {"device": a.device, "torch": torch.__version__,
            "name": torch.cuda.get_device_name() if a.device.startswith("cuda") and torch.cuda.is_available() else None}
    print(json.dumps(info), flush=True)
    rows, failed = [], 0
    with tempfile.TemporaryDirectory() as d:
        for name, (api, opts) in cases(Path(d)).items():
            row: dict = {"case": name}
            try:
                x, row["device_s"] = run(api, opts, a.device)
                y, row["cpu_s"] = run(api, opts, "cpu")
                row["max_abs_diff"] = round(float((x - y).abs().max()), 5)
                row["mean_abs_diff"] = round(float((x - y).abs().mean()), 6)
                row["device_s"], row["cpu_s"] = round(row["device_s"], 2), round(row["cpu_s"], 2)
            except Exception:  # noqa: BLE001 - a check reports every failure, then goes on
                row["error"] = traceback.format_exc()[-2000:]
                failed += 1
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({**info, "cases": rows}, indent=1) + "\n")
    print(f"{len(rows) - failed} of {len(rows)} cases ran on {a.device} and on the CPU", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
