"""The refinement pass with a low-frequency preconditioned L-BFGS, as it ran on 2026-11-28.

Question: is the pass's relu4_1 gap a matter of the optimizer's path? L-BFGS's starting inverse
Hessian (a scalar) is replaced by h * P, P a symmetric positive filter whose spectrum is
1 + sum_k gain_k exp(-2 pi^2 sigma_k^2 |f|^2) (sigma in pixels): coarse changes of the picture
get larger steps, as STROTSS's Laplacian-pyramid parametrization gives them. The curvature
scale is h = s.y / y.P.y. Answer (docs/quality.md): a mild P gains 0.002 to 0.007 of swd in 100
iterations, a strong one loses up to 0.01; not adopted.

  PYTHONPATH=src python bench/results/quality/refine/precondition.py TAG CONTENT STYLE INIT ITERS SIGMAS GAINS
  e.g. tw tubingen.jpg woman-with-hat-matisse.jpg bench/results/quality/pyramid_tubingen_woman.png 100 "[2,4,8,16,32]" "[1,2,4,8,16]"
"""
import sys, json, time, math
from pathlib import Path
import torch
torch.set_num_threads(1)
import stylegram.optimize as OP
from stylegram import transfer
tag, content, style, init, iters = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
sigmas = json.loads(sys.argv[6]); gains = json.loads(sys.argv[7])
_cache = {}
def spectrum(shape, device):
    key = (tuple(shape), str(device))
    if key not in _cache:
        h, w = shape[-2:]
        fy = torch.fft.fftfreq(h, device=device)[:, None]
        fx = torch.fft.rfftfreq(w, device=device)[None, :]
        f2 = fy ** 2 + fx ** 2
        s = torch.ones_like(f2)
        for sg, a in zip(sigmas, gains):
            s = s + a * torch.exp(-2 * math.pi ** 2 * sg ** 2 * f2)
        _cache[key] = s
    return _cache[key]
def P(q):
    return torch.fft.irfft2(torch.fft.rfft2(q) * spectrum(q.shape, q.device), s=q.shape[-2:])
class PLBFGS(OP.LBFGS):
    def _first_step(self, g):
        return self.lr * self.first_move / max(float(P(g).abs().max()), 1e-12)
    def _direction(self, g):
        q = -g
        alphas = []
        rhos = [1.0 / float((y * s).sum()) for s, y in zip(self.s, self.y)]
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(rhos)):
            a = rho * (s * q).sum(); alphas.append(a); q = q - a * y
        r = P(q) * self.h_diag
        for (s, y, rho), a in zip(zip(self.s, self.y, rhos), reversed(alphas)):
            b = rho * (y * r).sum(); r = r + s * (a - b)
        return r
    def step(self, x, f, g, evaluate):
        if not self.s:
            d, t = -P(g), self._first_step(g)
        else:
            d = self._direction(g); t = self.lr
        gtd = float((g * d).sum())
        if not gtd < 0:
            self.s.clear(), self.y.clear(); d, t = -P(g), self._first_step(g)
        f0 = float(f["total"])
        for _ in range(self.max_ls):
            x_new = (x + t * d).clamp_(*self.bounds)
            terms, g_new = evaluate(x_new)
            f_new = float(terms["total"])
            if math.isfinite(f_new) and f_new <= f0 + self.c1 * float((g * (x_new - x)).sum()):
                break
            t *= 0.5
        else:
            self.s.clear(), self.y.clear()
            if not math.isfinite(f_new):
                return x_new, terms, g_new
        s, y = x_new - x, g_new - g
        ys = float((y * s).sum())
        if ys > 1e-10 * float(s.norm() * y.norm()) and ys > 0:
            if len(self.s) >= self.history:
                self.s.pop(0), self.y.pop(0)
            self.s.append(s); self.y.append(y)
            self.h_diag = ys / float((y * P(y)).sum())
        return x_new, terms, g_new
OP.LBFGS = PLBFGS
D = Path(__file__).resolve().parents[5] / "shared" / "data" / "images"
out_dir = Path("/tmp/precondition")
out_dir.mkdir(exist_ok=True)
t = time.perf_counter()
r = transfer(str(D / content), str(D / style), size=512, init=init, iters=0, pyramid_start=0, refine=iters)
name = out_dir / (f"{tag}_{'-'.join(map(str,sigmas))}_{'-'.join(map(str,gains))}_r{iters}.png")
r.save(name)
print(json.dumps({"out": str(name), "evals": r.evals, "wall": time.perf_counter() - t}), flush=True)
