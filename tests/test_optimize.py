"""The optimization loop: losses fall for every optimizer, pixels stay in range, faults recover."""
import math

import pytest
import torch

from stylegram.errors import ConfigError
from stylegram.optimize import optimize

TARGET = torch.linspace(0.1, 0.9, 48).reshape(1, 3, 4, 4)


def quadratic(x):
    d = ((x - TARGET) ** 2).sum() * 10
    return {"content": d, "style": d * 0, "total": d}


@pytest.mark.parametrize("name,iters", [("lbfgs", 15), ("adam", 200), ("gd", 200)])
def test_each_optimizer_reduces_loss(name, iters):
    lr = {"gd": 0.02}.get(name)
    res = optimize(torch.zeros(1, 3, 4, 4), quadratic, optimizer=name, iters=iters, lr=lr)
    first, last = res.history[0]["total"], res.history[-1]["total"]
    assert last < 1e-2 * first
    assert res.x.min() >= 0 and res.x.max() <= 1
    assert len(res.history) == iters and res.history[-1]["iter"] == iters
    assert res.evals >= iters + 1


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e7])
def test_gd_default_step_suits_any_loss_scale(scale):
    # gd's lr multiplies the gradient, whose scale is the loss's: a fixed default (2e-4) diverged
    # on the classic preset's J ~1e7 and did not move explore reconstruct's J ~1. Without lr, the
    # first step moves the largest pixel by 0.05 (optimize.GD_FIRST_MOVE) and that lr is kept.
    loss = lambda x: {"total": quadratic(x)["total"] * scale}
    x0 = torch.zeros(1, 3, 4, 4)
    steps = []
    res = optimize(x0, loss, optimizer="gd", iters=100, callback=lambda ev: steps.append(ev.image.clone()) and None)
    assert float((steps[0] - x0).abs().max()) == pytest.approx(0.05, rel=1e-5)
    totals = [h["total"] for h in res.history]
    assert all(b < a for a, b in zip(totals, totals[1:]))
    assert totals[-1] < 1e-3 * totals[0]
    assert res.state["optimizer"]["lr"] == pytest.approx(0.05 / (2 * 10 * scale * 0.9), rel=1e-5)
    # a given lr is the course's constant step, as it was: x1 = x0 - lr dJ/dG
    one = optimize(x0, quadratic, optimizer="gd", iters=1, lr=0.01)
    assert torch.allclose(one.x, (x0 - 0.01 * 2 * 10 * (x0 - TARGET)).clamp(0, 1))


def test_bounds_are_projected():
    far = lambda x: {"total": ((x - 5.0) ** 2).sum()}
    res = optimize(torch.full((1, 3, 2, 2), 0.5), far, optimizer="lbfgs", iters=5)
    assert torch.allclose(res.x, torch.ones_like(res.x))


def test_unknown_optimizer():
    with pytest.raises(ConfigError, match="valid: lbfgs, adam, gd"):
        optimize(torch.zeros(1, 3, 2, 2), quadratic, optimizer="sgd")


def test_callback_cancels():
    seen = []
    res = optimize(torch.zeros(1, 3, 4, 4), quadratic, optimizer="adam", iters=50,
                   callback=lambda ev: seen.append(ev.iter) or ev.iter == 7)
    assert res.stopped == "cancelled" and seen == list(range(1, 8)) and len(res.history) == 7


@pytest.mark.parametrize("name", ["adam", "gd", "lbfgs"])
def test_nan_fault_steps_back_and_recovers(name):
    calls = {"n": 0}

    def faulty(x):
        calls["n"] += 1
        t = quadratic(x)
        if calls["n"] in (6, 7):  # two injected faults
            t = {k: v * float("nan") for k, v in t.items()}
        return t

    res = optimize(torch.zeros(1, 3, 4, 4), faulty, optimizer=name, iters=30, lr={"gd": 0.02}.get(name))
    assert res.stopped is None and len(res.history) == 30
    assert all(math.isfinite(h["total"]) for h in res.history)
    assert torch.isfinite(res.x).all()


def test_persistent_nan_gives_up_with_last_good_image():
    calls = {"n": 0}

    def broken(x):
        calls["n"] += 1
        t = quadratic(x)
        return {k: v * float("nan") for k, v in t.items()} if calls["n"] > 4 else t

    res = optimize(torch.zeros(1, 3, 4, 4), broken, optimizer="adam", iters=30, max_recoveries=2)
    assert res.stopped == "nan" and "NaN" in res.message
    assert len(res.history) == 3 and torch.isfinite(res.x).all()


def test_resume_gives_the_same_result():
    full = optimize(torch.zeros(1, 3, 4, 4), quadratic, optimizer="lbfgs", iters=12)
    half = optimize(torch.zeros(1, 3, 4, 4), quadratic, optimizer="lbfgs", iters=6)
    rest = optimize(half.x, quadratic, optimizer="lbfgs", iters=12, start_iter=6, state=half.state)
    assert torch.allclose(rest.x, full.x, atol=1e-6)


def test_sparse_checks_give_the_same_result_and_fewer_records():
    every = optimize(torch.zeros(1, 3, 4, 4), quadratic, optimizer="adam", iters=40)
    sparse = optimize(torch.zeros(1, 3, 4, 4), quadratic, optimizer="adam", iters=40, check_every=15)
    assert torch.equal(every.x, sparse.x) and sparse.evals == every.evals == 41
    assert [h["iter"] for h in sparse.history] == [15, 30, 40]  # every 15th and the last


def test_sparse_checks_roll_back_to_the_last_check_on_nan():
    calls = {"n": 0}

    def faulty(x):
        calls["n"] += 1
        t = quadratic(x)
        return {k: v * float("nan") for k, v in t.items()} if calls["n"] == 13 else t

    res = optimize(torch.zeros(1, 3, 4, 4), faulty, optimizer="adam", iters=30, check_every=5)
    assert res.stopped is None and [h["iter"] for h in res.history] == [5, 10, 15, 20, 25, 30]
    assert all(math.isfinite(h["total"]) for h in res.history) and torch.isfinite(res.x).all()
    assert res.evals == 31 + 5  # the fault (iteration 12) shows at the check of 15: 11..15 run twice


def test_compiled_step_matches_eager():
    # torch.compile of the evaluation step (--compile on) on the CPU: needs a C++ compiler
    import shutil
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C++ compiler for torch.compile's CPU backend")
    from stylegram.transfer import compiled
    eager = optimize(torch.zeros(1, 3, 4, 4), quadratic, optimizer="adam", iters=5)
    comp = optimize(torch.zeros(1, 3, 4, 4), compiled(quadratic, "on"), optimizer="adam", iters=5)
    assert torch.allclose(eager.x, comp.x, atol=1e-5)


def test_lbfgs_preconditioner_is_its_starting_inverse_hessian():
    from stylegram.optimize import LBFGS
    scale = torch.logspace(0, 3, 48).reshape(1, 3, 4, 4)  # curvatures 1 to 1000: badly conditioned

    def stiff(x):
        d = (scale * (x - TARGET) ** 2).sum()
        return {"content": d, "style": d * 0, "total": d}

    def run(precondition, iters):
        opt, x = LBFGS(1.0, (0.0, 1.0), precondition=precondition), torch.full_like(TARGET, 0.5)
        x.requires_grad_(True)
        f = stiff(x)
        g, = torch.autograd.grad(f["total"], x)
        x, f = x.detach(), {k: v.detach() for k, v in f.items()}

        def evaluate(y):
            y = y.detach().requires_grad_(True)
            t = stiff(y)
            return {k: v.detach() for k, v in t.items()}, torch.autograd.grad(t["total"], y)[0]
        for _ in range(iters):
            x, f, g = opt.step(x, f, g, evaluate)
        return x, float(f["total"])

    x_none, f_none = run(None, 6)
    x_id, f_id = run(lambda v: v, 6)
    assert torch.equal(x_none, x_id) and f_none == f_id  # the identity changes nothing, bit for bit
    # P = the exact inverse Hessian (1 / (2 scale)): the first line search lands on the minimum
    _, f_exact = run(lambda v: v / scale, 2)
    assert f_exact < 1e-9 < f_none

