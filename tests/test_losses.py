"""The course's formulas, checked against hand computations on tiny arrays."""
import math

import pytest
import torch

from stylegram.errors import ConfigError
from stylegram.losses import (StyleObjective, content_loss, gram, parse_layer_weights, scaled_gram,
                              style_layer_loss, style_layer_loss_from_grams, tv_loss)


def test_gram_by_hand():
    # one image, 2 channels, 2 x 2 positions: a_k = [1, 2, 3, 4], a_k' = [0, 1, 0, 1]
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    g = gram(a)
    assert g.shape == (1, 2, 2)
    assert g[0].tolist() == [[1 + 4 + 9 + 16, 0 + 2 + 0 + 4], [6, 0 + 1 + 0 + 1]]


def test_gram_is_loop_definition():
    a = torch.randn(1, 3, 4, 5, dtype=torch.float64)
    g = gram(a)
    for k in range(3):
        for kk in range(3):
            want = sum(a[0, k, i, j] * a[0, kk, i, j] for i in range(4) for j in range(5))
            assert g[0, k, kk].item() == pytest.approx(want.item(), rel=1e-12)


def test_content_loss_norms_by_hand():
    a = torch.tensor([[[[1.0, 2.0]], [[3.0, 5.0]]]])  # B=1, C=2, H=1, W=2
    t = torch.zeros_like(a)
    assert content_loss(a, t, "sum").item() == 1 + 4 + 9 + 25
    assert content_loss(a, t, "mean").item() == pytest.approx(39 / 4)
    assert content_loss(a, t, "course").item() == pytest.approx(39 / (4 * 1 * 2 * 2))
    # relative: ||a - t||^2 / ||t||^2; a blank activation against the target loses all of it
    target = torch.tensor([[[[1.0, 1.0]], [[2.0, 4.0]]]])  # ||t||^2 = 22
    assert content_loss(a, target, "relative").item() == pytest.approx((0 + 1 + 1 + 1) / 22)
    assert content_loss(torch.zeros_like(a), target, "relative").item() == pytest.approx(1.0)
    assert content_loss(10 * a, 10 * target, "relative").item() == pytest.approx(3 / 22)
    # centered: divided by the target's energy about its per-channel means (1 and 3):
    # channel 0 is flat (0), channel 1 deviates by -1 and +1 (2)
    assert content_loss(a, target, "centered").item() == pytest.approx(3 / 2)
    # adding a constant to a channel of both changes nothing: only structure counts
    assert content_loss(a + 1, target + 1, "centered").item() == pytest.approx(3 / 2)
    # a flat target (no structure) divides by 1% of its energy, not by ~0
    flat = torch.full((1, 2, 3, 3), 2.0)
    assert content_loss(flat + 1, flat, "centered").item() == pytest.approx(18 / (0.01 * 72))
    # correlation: 2 (1 - rho) of the centered maps: a's are (-.5, .5), (-1, 1), energy 2.5;
    # the target's (0, 0), (-1, 1), energy 2; their product 2, so rho = 2 / sqrt(5)
    want = 2 * (1 - 2 / 5 ** 0.5)
    assert content_loss(a, target, "correlation").item() == pytest.approx(want)
    # any contrast and any channel offsets of the output: the same structure, the same loss
    assert content_loss(3 * a + 7, target, "correlation").item() == pytest.approx(want)
    assert content_loss(target, target, "correlation").item() == pytest.approx(0.0, abs=1e-6)
    assert content_loss(torch.zeros_like(a), target, "correlation").item() == pytest.approx(1.0)
    assert content_loss(-target, target, "correlation").item() == pytest.approx(4.0)
    # a flat target: nothing to correlate with, and no division by ~0
    assert content_loss(flat + 1, flat, "correlation").item() == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="valid: sum, mean, course, relative, centered, correlation"):
        content_loss(a, t, "max")


def test_style_layer_loss_matches_course_formula():
    g = torch.Generator().manual_seed(1)
    s = torch.rand(1, 4, 3, 5, generator=g, dtype=torch.float64)
    x = torch.rand(1, 4, 3, 5, generator=g, dtype=torch.float64)
    n_h, n_w, n_c = 3, 5, 4
    gs, gg = gram(s)[0], gram(x)[0]
    by_hand = sum((gs[k, kk] - gg[k, kk]) ** 2 for k in range(4) for kk in range(4)) / (2 * n_h * n_w * n_c) ** 2
    assert style_layer_loss(x, scaled_gram(s)).item() == pytest.approx(by_hand.item(), rel=1e-10)
    assert style_layer_loss_from_grams(gram(x), gram(s), n_h * n_w, n_c).item() == pytest.approx(by_hand.item(), rel=1e-10)
    # a target from another layer (other channels), or activations without a batch axis: one line
    with pytest.raises(ConfigError, match=r"^style_layer_loss: target Gram matrix of shape \(1, 5, 5\) does not fit "
                                          r"activations \(1, 4, 3, 5\); expected \(1, 4, 4\)$"):
        style_layer_loss(x, scaled_gram(torch.rand(1, 5, 3, 5, dtype=torch.float64)))
    with pytest.raises(ConfigError, match=r"^style_layer_loss: expected a tensor \(B, C, \*spatial\)"):
        style_layer_loss(x[0, :, 0], scaled_gram(s))  # (4, 5): was taken as B=4, C=5


def test_unrolled_activations_are_refused_by_content_loss_and_scaled_gram():
    # the course unrolls a[l] to (nC, nH nW): read as (B, C), 'course' divided (4, 6) by 4 * 6 * 1 = 24
    # (no positions) instead of 4 nC N = 96, and scaled_gram returned a (4, 6, 6) matrix; both now
    # say what to pass
    a = torch.rand(4, 6, dtype=torch.float64)
    t = torch.rand(4, 6, dtype=torch.float64)
    msg = r"expected a tensor \(B, C, \*spatial\) .* got shape \(4, 6\); one image's unrolled activations \(nC, N\) go in as a\[None\], \(1, nC, N\)$"
    with pytest.raises(ConfigError, match="^content_loss: " + msg):
        content_loss(a, t, "course")
    with pytest.raises(ConfigError, match="^scaled_gram: " + msg):
        scaled_gram(a)
    # as the message says: (1, nC, N) gives the course's numbers
    assert content_loss(a[None], t[None], "course").item() == pytest.approx(((a - t) ** 2).sum().item() / (4 * 4 * 6))
    want = ((a @ a.T - t @ t.T) ** 2).sum() / (2 * 6 * 4) ** 2
    assert style_layer_loss(a[None], scaled_gram(t[None])).item() == pytest.approx(want.item(), rel=1e-10)


@pytest.mark.parametrize("spatial", [(7,), (3, 5), (2, 3, 4)])
def test_losses_are_dimension_generic(spatial):
    a = torch.rand(1, 3, *spatial, dtype=torch.float64)
    b = torch.rand(1, 3, *spatial, dtype=torch.float64)
    n = math.prod(spatial)
    fa, fb = a.reshape(3, n), b.reshape(3, n)
    assert torch.allclose(gram(a)[0], fa @ fa.T)
    want = ((fa @ fa.T - fb @ fb.T) ** 2).sum() / (2 * n * 3) ** 2
    assert style_layer_loss(a, scaled_gram(b)).item() == pytest.approx(want.item(), rel=1e-10)
    assert content_loss(a, b, "course").item() == pytest.approx(((a - b) ** 2).sum().item() / (4 * 3 * n))


def test_tv_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])  # vertical diffs 2, 3; horizontal 1, 2
    assert tv_loss(x).item() == pytest.approx((4 + 9) / 2 + (1 + 4) / 2)
    assert tv_loss(torch.ones(1, 3, 5, 5)).item() == 0


def test_objective_combines_weights():
    a = torch.rand(1, 2, 4, 4)
    obj = StyleObjective({"c": torch.zeros_like(a)}, {"s": torch.zeros(1, 2, 2)}, {"s": 0.5},
                         alpha=2.0, beta=3.0, gamma=0.0, content_norm="sum")
    t = obj.terms({"c": a, "s": a}, torch.rand(1, 3, 8, 8))
    assert t["content"].item() == pytest.approx((a ** 2).sum().item())
    assert t["style"].item() == pytest.approx(0.5 * (scaled_gram(a) ** 2).sum().item())
    assert t["total"].item() == pytest.approx(2 * t["content"].item() + 3 * t["style"].item())


def test_parse_layer_weights():
    assert parse_layer_weights("relu1_1:0.2, relu2_1") == {"relu1_1": 0.2, "relu2_1": 1.0}
    with pytest.raises(ConfigError, match="not a number"):
        parse_layer_weights("relu1_1:heavy")


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 4, 3, 5), (2, 3, 2, 3, 4)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_scaled_gram_value_and_gradient_match_the_plain_formula(shape, channels_last):
    # scaled_gram has its own backward (one product); check it against autograd's on G / (2 N nC).
    torch.manual_seed(0)
    a = torch.randn(shape, dtype=torch.float64)
    if channels_last and len(shape) >= 4:
        a = a.contiguous(memory_format=torch.channels_last if len(shape) == 4 else torch.channels_last_3d)
    a.requires_grad_(True)
    w = torch.randn(shape[0], shape[1], shape[1], dtype=torch.float64)
    n = math.prod(shape[2:])
    f = a.reshape(shape[0], shape[1], -1)
    plain = torch.bmm(f, f.transpose(1, 2)) / (2 * n * shape[1])
    (g_plain,) = torch.autograd.grad((plain * w).sum(), a)
    ours = scaled_gram(a)
    (g_ours,) = torch.autograd.grad((ours * w).sum(), a)
    assert torch.allclose(ours, plain, rtol=1e-12) and torch.allclose(g_ours, g_plain, rtol=1e-10)
    assert torch.autograd.gradcheck(lambda t: scaled_gram(t), (a,))
