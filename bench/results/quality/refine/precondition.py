"""The refinement pass with a low-frequency preconditioned L-BFGS, as it ran on 2026-11-28.

Question: is the pass's relu4_1 gap a matter of the optimizer's path? L-BFGS's starting inverse
Hessian (a scalar) is replaced by h * P, P a symmetric positive filter whose spectrum is
1 + sum_k gain_k exp(-2 pi^2 sigma_k^2 |f|^2) (sigma in pixels): coarse changes of the picture
get larger steps, as STROTSS's Laplacian-pyramid parametrization gives them. The curvature
scale is h = s.y / y.P.y (optimize.LBFGS's `precondition`; the script as it first ran carried a
copy of LBFGS.step with those three lines changed). Answer (docs/quality.md): a mild P gains
0.002 to 0.007 of swd in 100 iterations, a strong one loses up to 0.01; not adopted.

  PYTHONPATH=src python bench/results/quality/refine/precondition.py TAG CONTENT STYLE INIT ITERS SIGMAS GAINS
  e.g. tw tubingen.jpg woman-with-hat-matisse.jpg bench/results/quality/pyramid_tubingen_woman.png 100 "[2,4,8,16,32]" "[1,2,4,8,16]"
"""
import functools
import json
import math
import sys
import time
from pathlib import Path
import torch
torch.set_num_threads(1)
import stylegram.optimize as OP
from stylegram import transfer
tag, content, style, init, iters = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
sigmas = json.loads(sys.argv[6]); gains = json.loads(sys.argv[7])


@functools.cache
def spectrum(h: int, w: int, device: torch.device) -> torch.Tensor:
    """P's gain at each frequency of rfft2 on an h x w image."""
    fy = torch.fft.fftfreq(h, device=device)[:, None]
    fx = torch.fft.rfftfreq(w, device=device)[None, :]
    f2 = fy ** 2 + fx ** 2
    s = torch.ones_like(f2)
    for sg, a in zip(sigmas, gains):
        s = s + a * torch.exp(-2 * math.pi ** 2 * sg ** 2 * f2)
    return s


def P(q: torch.Tensor) -> torch.Tensor:
    return torch.fft.irfft2(torch.fft.rfft2(q) * spectrum(*q.shape[-2:], q.device), s=q.shape[-2:])


class PLBFGS(OP.LBFGS):
    """The engine's L-BFGS with P as its starting inverse Hessian (make_optimizer builds this)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, precondition=P, **kwargs)


OP.LBFGS = PLBFGS
D = Path(__file__).resolve().parents[5] / "shared" / "data" / "images"
out_dir = Path("/tmp/precondition")
out_dir.mkdir(exist_ok=True)
t = time.perf_counter()
r = transfer(str(D / content), str(D / style), size=512, init=init, iters=0, pyramid_start=0, refine=iters)
name = out_dir / (f"{tag}_{'-'.join(map(str,sigmas))}_{'-'.join(map(str,gains))}_r{iters}.png")
r.save(name)
print(json.dumps({"out": str(name), "evals": r.evals, "wall": time.perf_counter() - t}), flush=True)
