"""The optimization loop over the pixels of G: gradient descent, Adam and L-BFGS.

All three are written here (not torch.optim) so that they share one loop with one NaN guard, keep
pixels in range by projection, count evaluations (forward + backward passes) exactly, and expose
their state for checkpoints and resumption. Progress goes to a callback as ``Iterate`` records;
the library itself never prints.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .config import OPTIMIZERS  # noqa: F401  (with TransferConfig, torch-free)
from .errors import NumericalError, check_lr, choices_error
from .types import Iterate

# Step sizes in units of the loss landscape each optimizer sees: L-BFGS scales its own steps;
# Adam's lr is roughly the per-step pixel change (pixels in 0..1). Plain gradient descent's lr
# multiplies the gradient itself, whose scale depends on the weights, the layers and the image
# size (per pixel ~1/N): no one number suits them. A fixed 2e-4 sent the classic preset's run
# (J ~1e7) from 1.3e7 to 2.3e10 in six steps at 64 to 256 px and left explore reconstruct's
# (J ~1) where it started. Without --lr, gd takes the lr that moves the largest pixel by
# GD_FIRST_MOVE in its first step and keeps it: the course's update with a constant step.
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02, "gd": None}
GD_FIRST_MOVE = 0.05

LossFn = Callable[[torch.Tensor], dict[str, torch.Tensor]]
Callback = Callable[[Iterate], "bool | None"]
Terms = dict[str, torch.Tensor]
# x -> (its loss terms, detached; the gradient of terms['total'] with respect to x, x's shape)
Evaluate = Callable[[torch.Tensor], tuple[Terms, torch.Tensor]]


@dataclass
class OptimizeResult:
    """x: the final (or last good) estimate, same shape as x0; history: one dict per iteration
    with 'iter', 'evals', 'seconds' and each loss term; stopped: None (ran all iterations),
    'cancelled' (callback asked) or 'nan' (gave up after NaN/Inf)."""

    x: torch.Tensor
    history: list[dict] = field(default_factory=list)
    evals: int = 0
    seconds: float = 0.0
    stopped: str | None = None
    message: str = ""
    state: dict = field(default_factory=dict)


class _Evaluator:
    """Runs loss_fn with autograd and counts evaluations."""

    def __init__(self, loss_fn: LossFn):
        self.loss_fn = loss_fn
        self.count = 0

    def __call__(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        x = x.detach().requires_grad_(True)
        terms = self.loss_fn(x)
        (g,) = torch.autograd.grad(terms["total"], x)
        self.count += 1
        return {k: v.detach() for k, v in terms.items()}, g


class GradientDescent:
    """The course's update G := G - lr dJ/dG, projected onto the pixel range.

    ``lr`` None: chosen at the first step with a non-zero gradient as GD_FIRST_MOVE / max |dJ/dG|
    (the largest pixel moves by 0.05 of the 0..1 range), then kept for the rest of the run."""

    def __init__(self, lr: float | None, bounds: tuple[float, float]):
        self.lr, self.bounds = lr, bounds

    def step(self, x: torch.Tensor, f: Terms, g: torch.Tensor,
             evaluate: Evaluate) -> tuple[torch.Tensor, Terms, torch.Tensor]:
        """One update from x (g: the gradient there, x's shape): the new (x, terms, gradient)."""
        if self.lr is None:
            top = float(g.abs().max())
            if top == 0:  # nothing to descend (yet): no step, and no lr from a zero gradient
                return x, f, g
            self.lr = GD_FIRST_MOVE / top
        x = (x - self.lr * g).clamp_(*self.bounds)
        terms, g = evaluate(x)
        return x, terms, g

    def state_dict(self) -> dict:
        return {"lr": self.lr}

    def load_state_dict(self, s: dict) -> None:
        self.lr = s["lr"]


class Adam:
    """Adam (Kingma & Ba) on pixels, projected onto the pixel range after each step."""

    def __init__(self, lr: float, bounds: tuple[float, float], betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.bounds, self.betas, self.eps = lr, bounds, betas, eps
        self.m = self.v = None
        self.t = 0

    def step(self, x: torch.Tensor, f: Terms, g: torch.Tensor,
             evaluate: Evaluate) -> tuple[torch.Tensor, Terms, torch.Tensor]:
        """One bias-corrected Adam update from x (g: the gradient there): the new (x, terms, gradient)."""
        b1, b2 = self.betas
        if self.m is None:
            self.m, self.v = torch.zeros_like(x), torch.zeros_like(x)
        self.t += 1
        self.m.mul_(b1).add_(g, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        mhat = self.m / (1 - b1 ** self.t)
        vhat = self.v / (1 - b2 ** self.t)
        x = (x - self.lr * mhat / (vhat.sqrt() + self.eps)).clamp_(*self.bounds)
        terms, g = evaluate(x)
        return x, terms, g

    def state_dict(self) -> dict:
        return {"lr": self.lr, "t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, s: dict) -> None:
        self.lr, self.t, self.m, self.v = s["lr"], s["t"], s["m"], s["v"]


class LBFGS:
    """Limited-memory BFGS with a projected backtracking (Armijo) line search.

    Most iterations accept the full quasi-Newton step, costing one evaluation; a rejected step is
    halved (up to ``max_ls`` times). The step actually taken after projection onto the pixel range
    is what enters the curvature memory, so clamping does not corrupt it.

    ``precondition``: a symmetric positive definite operator P on x's shape (None: the identity)
    that is the starting inverse Hessian, up to the scale L-BFGS learns: the first step goes along
    -P g and the two-loop recursion starts from h P q, h = s.y / y.P.y. A low-pass P, for one,
    favours coarse changes of the picture (bench/results/quality/refine/precondition.py).
    """

    def __init__(self, lr: float, bounds: tuple[float, float], history: int = 50, c1: float = 1e-4, max_ls: int = 8,
                 first_move: float = 0.02, precondition: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.lr, self.bounds, self.history, self.c1, self.max_ls = lr, bounds, history, c1, max_ls
        self.first_move = first_move
        self.precondition = precondition
        self.s: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []
        self.h_diag = 1.0

    def _h0(self, v: torch.Tensor) -> torch.Tensor:
        return v if self.precondition is None else self.precondition(v)

    def _first_step(self, d: torch.Tensor) -> float:
        """Step length along d (-P g) before any curvature is known: the largest pixel moves by
        ``first_move`` (torch.optim.LBFGS's 1/|g|_1 rule shrinks with the image size, and on a
        512 px image takes hundreds of iterations to start)."""
        return self.lr * self.first_move / max(float(d.abs().max()), 1e-12)

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        q = -g
        alphas = []
        rhos = [1.0 / float((y * s).sum()) for s, y in zip(self.s, self.y)]
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(rhos)):
            a = rho * (s * q).sum()
            alphas.append(a)
            q = q - a * y
        r = self._h0(q) * self.h_diag
        for (s, y, rho), a in zip(zip(self.s, self.y, rhos), reversed(alphas)):
            b = rho * (y * r).sum()
            r = r + s * (a - b)
        return r

    def step(self, x: torch.Tensor, f: Terms, g: torch.Tensor,
             evaluate: Evaluate) -> tuple[torch.Tensor, Terms, torch.Tensor]:
        """One iteration from x (f: its loss terms, g: its gradient, both as ``evaluate`` gives
        them): the quasi-Newton direction, a backtracking line search, and the new (x, terms, g).
        When the line search fails, its smallest step is taken and the curvature memory restarts."""
        if not self.s:
            d = -self._h0(g)
            t = self._first_step(d)
        else:
            d = self._direction(g)
            t = self.lr
        gtd = float((g * d).sum())
        if not gtd < 0:  # not a descent direction: forget the curvature and restart
            self.s.clear(), self.y.clear()
            d = -self._h0(g)
            t = self._first_step(d)
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
                return x_new, terms, g_new  # let the loop's guard handle it
            # Every halving failed: take the smallest trial step anyway, with a fresh memory that
            # its (s, y) pair starts. It may raise the loss a little; staying at x instead was
            # measured worse (classic preset, 96 px, 60 iterations: 1.75e4 against 1.58e4 on
            # tubingen x starry_night, 3.37e4 against 3.29e4 on chelsea x woman-with-hat).
        s, y = x_new - x, g_new - g
        ys = float((y * s).sum())
        # Curvature pairs are kept when s.y is positive relative to their sizes: an absolute
        # threshold would reject every pair of the small steps of large images.
        if ys > 1e-10 * float(s.norm() * y.norm()) and ys > 0:
            if len(self.s) >= self.history:
                self.s.pop(0), self.y.pop(0)
            self.s.append(s)
            self.y.append(y)
            self.h_diag = ys / float((y * self._h0(y)).sum())
        return x_new, terms, g_new

    def state_dict(self) -> dict:
        return {"lr": self.lr, "s": list(self.s), "y": list(self.y), "h_diag": self.h_diag}

    def load_state_dict(self, st: dict) -> None:
        self.lr, self.s, self.y, self.h_diag = st["lr"], list(st["s"]), list(st["y"]), st["h_diag"]


def lbfgs_history(numel: int, budget_bytes: float = 1.5e9, most: int = 50) -> int:
    """How many (s, y) pairs fit ``budget_bytes`` for an image of ``numel`` float32 values."""
    return int(max(5, min(most, budget_bytes // (8 * max(numel, 1)))))


def make_optimizer(name: str, lr: float | None, bounds: tuple[float, float],
                   numel: int) -> GradientDescent | Adam | LBFGS:
    """The optimizer ``name`` (lbfgs, adam or gd) over ``numel`` pixels kept within ``bounds``; lr
    None: the optimizer's default step size."""
    if name not in OPTIMIZERS:
        raise choices_error("optimizer", name, OPTIMIZERS)
    lr = DEFAULT_LR[name] if lr is None else check_lr(lr)  # every entry point's lr passes here (gd: None, see GD_FIRST_MOVE)
    if name == "lbfgs":
        return LBFGS(lr, bounds, history=lbfgs_history(numel))
    if name == "adam":
        return Adam(lr, bounds)
    return GradientDescent(lr, bounds)


def optimize(x0: torch.Tensor, loss_fn: LossFn, *, optimizer: str = "lbfgs", iters: int = 100,
             lr: float | None = None, bounds: tuple[float, float] = (0.0, 1.0),
             callback: Callback | None = None, max_recoveries: int = 3, start_iter: int = 0,
             state: dict | None = None, level: int = 0, levels: int = 1, check_every: int = 1) -> OptimizeResult:
    """Minimize ``loss_fn(x)['total']`` over x, starting from x0 (not modified).

    x0: (1, C, *spatial) in ``bounds``. Each iteration calls ``callback(Iterate)``; a True return
    stops the run ('cancelled'). A NaN or Inf loss or gradient rolls back to the last good x and
    halves the step size, up to ``max_recoveries`` times, then stops ('nan') with that last good x;
    NaN or Inf at x0 itself raises NumericalError (one line: there is no good x to keep).
    ``state``/``start_iter`` resume a run from ``OptimizeResult.state``.

    ``check_every`` N > 1 reads the losses back (the NaN check, history and callback) only every
    N iterations and at the last one: on a GPU each read waits for the device to finish, and
    reading every step leaves it idle while Python queues the next step. A fault then rolls back
    to the last check.
    """
    evaluate = _Evaluator(loss_fn)
    opt = make_optimizer(optimizer, lr, bounds, x0.numel())
    if state:
        opt.load_state_dict(state["optimizer"])
    x = x0.detach().clone().clamp_(*bounds)
    history: list[dict] = []
    t0 = time.perf_counter()
    terms, g = evaluate(x)
    good = (x.clone(), terms, g)
    recoveries = 0
    stopped, message = None, ""
    if not _finite(terms, g):  # nothing to keep: no image has been made yet (at this level)
        where = f" of level {level + 1}/{levels}" if levels > 1 else ""
        raise NumericalError(f"the loss is NaN or Inf at the start image{where}, before any step; check the input "
                             "files and the net's weights (--weights) for NaN or Inf values")
    check_every = max(1, int(check_every))
    it = good_it = start_iter
    while it < iters:
        x_new, terms_new, g_new = opt.step(x, terms, g, evaluate)
        check = (it + 1) % check_every == 0 or it + 1 == iters
        if check and not _finite(terms_new, g_new):
            recoveries += 1
            if recoveries > max_recoveries:
                stopped = "nan"
                message = (f"loss became NaN/Inf at iteration {it + 1}, still after {max_recoveries} step-size "
                           "reductions; kept the last good image (lower --lr or the loss weights)")
                break
            x, terms, g = good[0].clone(), good[1], good[2]
            it = good_it
            opt = make_optimizer(optimizer, opt.lr * 0.5, bounds, x0.numel())
            continue
        x, terms, g = x_new, terms_new, g_new
        it += 1
        if not check:
            continue
        good, good_it = (x, terms, g), it
        losses = {k: float(v) for k, v in terms.items()}
        history.append({"iter": it, "evals": evaluate.count, "seconds": round(time.perf_counter() - t0, 4), **losses})
        if callback is not None:
            ev = Iterate(iter=it, iters=iters, evals=evaluate.count, seconds=time.perf_counter() - t0,
                         losses=losses, image=x, level=level, levels=levels,
                         note=f"recovered from NaN {recoveries}x" if recoveries else "")
            if callback(ev):
                stopped = "cancelled"
                break
    if stopped == "nan":
        x = good[0]
    _sync(x)
    seconds = time.perf_counter() - t0
    return OptimizeResult(x=x.detach(), history=history, evals=evaluate.count, seconds=seconds,
                          stopped=stopped, message=message,
                          state={"optimizer": opt.state_dict(), "iter": it, "optimizer_name": optimizer})


def _sync(x: torch.Tensor) -> None:
    """Wait for queued GPU work, so that timings count it."""
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def _finite(terms: dict[str, torch.Tensor], g: torch.Tensor) -> bool:
    return bool(torch.isfinite(terms["total"]) & torch.isfinite(g).all())
