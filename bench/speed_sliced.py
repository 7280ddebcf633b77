"""Seconds of the sliced Wasserstein loss (forward + backward) per style layer, with torch.sort and
with ``losses.sort_rows`` (numpy's SIMD argsort), at the shapes of a 512 px refinement pass.

  python bench/speed_sliced.py [--size 512] [--repeats 5] [--threads N] [--out FILE]

The default's --refine pass evaluates the sliced loss on relu1_1..relu4_1 with nC directions per
layer; at 512 x 384 px relu1_1 alone sorts 64 rows of 196,608 projections per evaluation. The
features are random (ReLU of Gaussian noise: exact zeros per channel, as in a real net); the
timings do not depend on their values. Projections tie only where two floats happen to be equal,
which is where the two gradients may differ (grad_max_abs_diff). Prints one JSON object (and writes it to --out).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from stylegram.losses import sliced_w2, sort_rows

# (channels, stride) of VGG16's relu1_1..relu4_1
LAYERS = {"relu1_1": (64, 1), "relu2_1": (128, 2), "relu3_1": (256, 4), "relu4_1": (512, 8)}


def sliced_w2_torch_sort(a: torch.Tensor, directions: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sliced_w2`` without a guide as it was before ``sort_rows``: torch.sort's values."""
    f = a.reshape(a.shape[1], -1)
    values = (directions.t() @ f).sort(dim=1).values
    return (values - target).pow(2).mean()


def seconds(fn, repeats: int) -> float:
    fn()  # allocator warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=512, help="output's long side (px); the short side is 3/4 of it")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    h, w = args.size * 3 // 4, args.size
    rows, total = [], {"torch.sort": 0.0, "sort_rows": 0.0}
    for name, (c, stride) in LAYERS.items():
        a = torch.relu(torch.randn(1, c, h // stride, w // stride, generator=gen)).requires_grad_()
        d = torch.randn(c, c, generator=gen)
        d /= d.norm(dim=0, keepdim=True)
        target = (d.t() @ torch.relu(torch.randn(c, a[0, 0].numel(), generator=gen))).sort(dim=1).values
        proj = (d.t() @ a.detach().reshape(c, -1)).contiguous()

        def step(loss_fn):
            def run():
                a.grad = None
                loss_fn(a, d, target).backward()
            return run
        row = {"layer": name, "directions": c, "positions": a[0, 0].numel(),
               "sort_s": {"torch.sort": round(seconds(lambda: proj.sort(dim=1), args.repeats), 4),
                          "sort_rows": round(seconds(lambda: sort_rows(proj), args.repeats), 4)},
               "loss_fwd_bwd_s": {"torch.sort": round(seconds(step(sliced_w2_torch_sort), args.repeats), 4),
                                  "sort_rows": round(seconds(step(sliced_w2), args.repeats), 4)}}
        for k in total:
            total[k] += row["loss_fwd_bwd_s"][k]
        a.grad = None
        sliced_w2(a, d, target).backward()
        g_new = a.grad.clone()
        a.grad = None
        sliced_w2_torch_sort(a, d, target).backward()
        row["same_loss"] = bool(torch.equal(sliced_w2(a, d, target), sliced_w2_torch_sort(a, d, target)))
        row["grad_max_abs_diff"] = float((g_new - a.grad).abs().max())
        rows.append(row)
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                       "torch": torch.__version__, "numpy": np.__version__,
                       "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
           "size": [w, h], "layers": rows,
           "all_layers_fwd_bwd_s": {k: round(v, 4) for k, v in total.items()},
           "speedup": round(total["torch.sort"] / total["sort_rows"], 2)}
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
