"""Quality and control (issue 3): tiling, pyramid, presets, style options, colour, masks, textures.

Tiny random-weight nets and images of 32-96 px, so the whole file runs in well under a minute."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torch import nn

from conftest import gradient_image
from stylegram import ConfigError, InputError, ResourceError, transfer
from stylegram.color import (finish, luminance, match_color_histogram, match_luminance, prepare, rgb_to_yiq,
                             yiq_to_rgb)
from stylegram.losses import (guided_scaled_gram, mean_cov, random_directions, resample_sorted, scaled_gram,
                              sliced_targets, sliced_w2, sort_rows, sqrtm_psd, style_layer_loss,
                              w2_style_layer_loss)
from stylegram.objective import Objective, layer_guide, layer_moments, style_targets
from stylegram.presets import PRESETS, preset_config
from stylegram.pyramid import level_iters, pyramid_sizes
from stylegram.resample import lanczos_matrix, resize, resize_image
from stylegram.texture import texture
from stylegram.tiling import TiledEvaluator, image_statistics, make_tiles, tile_geometry
from stylegram.transfer import TransferConfig, plan_tile

LAYERS = {"relu1_1": 0.2, "relu2_1": 0.2, "relu3_1": 0.2, "relu4_1": 0.2, "relu5_1": 0.2}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _objective(net, content, style, kind="gram", guide=None, norm="course", content_norm=None):
    fc = net(content, ["relu4_2", *LAYERS])
    fs = net(style, list(LAYERS))
    guides = {l: layer_guide(guide, fc[l].shape[2:]) for l in LAYERS} if guide is not None else None
    terms = style_targets([{l: layer_moments(fs[l]) for l in LAYERS}], [1.0], LAYERS, beta=1e3, kind=kind,
                          out_guides=guides, norm=norm, style_feats=[fs],
                          content_moments={l: layer_moments(fc[l]) for l in LAYERS}, content_feats=fc)
    return Objective({"relu4_2": fc["relu4_2"]}, terms, alpha=1.0, gamma=0.5, content_norm=content_norm or norm)


# --- tiling -------------------------------------------------------------------------------------

def test_tiled_gram_and_gradient_equal_untiled(tiny_net):
    net = tiny_net
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 96, 120, generator=g)
    style = torch.rand(1, 3, 80, 96, generator=g)
    x = torch.rand(1, 3, 96, 120, generator=g)
    # The Gram matrices themselves, summed over tiles
    whole, _ = image_statistics(net, x, list(LAYERS), [], None)
    tiled, _ = image_statistics(net, x, list(LAYERS), [], 32)
    for l in LAYERS:
        assert rel(tiled[l][1], whole[l][1]) < 1e-4
        assert tiled[l][2] == whole[l][2]
        assert rel(tiled[l][1] / (2 * tiled[l][2] * tiled[l][1].shape[-1]), scaled_gram(net(x, [l])[l])) < 1e-4
    # ... and the loss and its gradient, for the course's Gram loss, guided Grams and W2, with the
    # course's normalizations and the relative ones, and the correlation content loss (summed
    # from whole-image statistics, like the Gram matrices)
    mask = torch.zeros(1, 1, 96, 120)
    mask[..., :, :70] = 1
    for kind, guide, norm, cnorm in (("gram", None, "course", None), ("gram", mask, "course", None),
                                     ("w2", None, "course", None), ("gram", mask, "relative", None),
                                     ("w2", None, "relative", None), ("gram", None, "course", "correlation"),
                                     ("gram", mask, "relative", "correlation"), ("gram", None, "distance", "correlation"),
                                     ("gram", mask, "distance", "course"), ("swd", None, "relative", "correlation"),
                                     ("swd", mask, "distance", "correlation")):
        obj = _objective(net, content, style, kind, guide, norm, cnorm)
        xr = x.clone().requires_grad_(True)
        terms = obj.terms(net(xr, obj.layers), xr)
        (grad,) = torch.autograd.grad(terms["total"], xr)
        ev = TiledEvaluator(net, obj, x.shape, tile=32)
        assert len(ev.tiles) == 12
        tterms, tgrad = ev.loss_and_grad(x)
        for k in ("content", "style", "tv", "total"):
            want = float(terms[k].detach())
            assert abs(float(tterms[k]) - want) <= 1e-4 * abs(want), (kind, cnorm, k)
        assert rel(tgrad, grad) < 1e-4, (kind, cnorm)
    # the correlation content loss alone, so that its gradient is not hidden under the style's
    fc = net(content, ["relu4_2"])
    obj = Objective(fc, [], alpha=1.0, content_norm="correlation")
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(obj.terms(net(xr, obj.layers), xr)["content"], xr)
    tterms, tgrad = TiledEvaluator(net, obj, x.shape, tile=32).loss_and_grad(x)
    assert float(tterms["content"]) == pytest.approx(float(obj.terms(net(x, obj.layers), x)["content"]), rel=1e-4)
    assert rel(tgrad, grad) < 1e-4
    # at alpha 0 the content loss is still reported, as on the whole image, and adds no gradient
    for cnorm in ("course", "correlation"):
        obj = Objective(fc, [], alpha=0.0, content_norm=cnorm)
        tterms, tgrad = TiledEvaluator(net, obj, x.shape, tile=32).loss_and_grad(x)
        want = float(obj.terms(net(x, obj.layers), x)["content"])
        assert want > 0 and float(tterms["content"]) == pytest.approx(want, rel=1e-4), cnorm
        assert float(tterms["total"]) == 0 and float(tgrad.abs().max()) == 0


@pytest.mark.parametrize("padding", [1, 0], ids=["strided-padded", "unpadded"])
def test_tiles_of_any_models_geometry_equal_the_whole_image(padding):
    # A ResNet-like stem (stride-2 convolutions padded by one) gives ceil(n / 2) positions, which
    # tiles once counted as floor(n / 2): the last row and column were dropped (style 2.77e-07
    # tiled against 2.51e-07 whole). Unpadded convolutions' fields lie off their units, past the
    # margin that half a field gives.
    from stylegram.nets import HookedNet
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=padding), nn.ReLU(),
                          nn.Conv2d(8, 8, 5, padding=2 * padding), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, stride=2, padding=padding), nn.ReLU())
    net = HookedNet(model, ["1", "3", "5"], probe_size=64)
    g = torch.Generator().manual_seed(1)
    x, style = torch.rand(1, 3, 45, 38, generator=g), torch.rand(1, 3, 40, 40, generator=g)
    with torch.no_grad():
        real = {l: tuple(a.shape[2:]) for l, a in net(x, ["1", "3", "5"]).items()}
    assert net.layer_shapes(["1", "3", "5"], (45, 38)) == real
    sf = net(style, ["1", "3", "5"])
    mask = torch.zeros(1, 1, 45, 38)
    mask[..., :, :20] = 1
    for guide in (None, mask):
        guides = None if guide is None else {l: layer_guide(guide, real[l]) for l in ("1", "5")}
        terms = style_targets([{l: layer_moments(sf[l]) for l in ("1", "5")}], [1.0], {"1": 1.0, "5": 1.0},
                              beta=1.0, out_guides=guides)
        obj = Objective(net(x, ["3"]), terms, alpha=0.0, content_norm="correlation")
        xr = x.clone().requires_grad_(True)
        whole = obj.terms(net(xr, obj.layers), xr)
        (grad,) = torch.autograd.grad(whole["total"], xr)
        ev = TiledEvaluator(net, obj, x.shape, tile=16)
        assert len(ev.tiles) > 4
        tiled, tgrad = ev.loss_and_grad(x)
        assert float(tiled["style"]) == pytest.approx(float(whole["style"].detach()), rel=1e-4)
        assert rel(tgrad, grad) < 1e-4


def test_content_budget_by_hand_and_in_tiles(tiny_net):
    # J_content as a budget: the first evaluation sets the cap J_content(start) + slack, and only
    # the excess counts, as alpha CAP_WEIGHT (J_content - cap)^2
    from stylegram.objective import CAP_WEIGHT
    obj = Objective({}, [], alpha=2.0, content_slack=0.1)
    assert float(obj.content_part(torch.tensor(0.5))) == 0 and obj.content_cap == pytest.approx(0.6)
    assert float(obj.content_part(torch.tensor(0.55))) == 0
    assert float(obj.content_part(torch.tensor(0.7))) == pytest.approx(2.0 * CAP_WEIGHT * 0.1 ** 2)
    assert float(Objective({}, [], alpha=2.0).content_part(torch.tensor(0.7))) == pytest.approx(1.4)
    # a budget given after construction sets its cap at the first call too (1ca7fe4 made it a
    # TypeError: the untraced setter was only made in __init__)
    late = Objective({}, [], alpha=2.0)
    late.content_slack = 0.1
    assert float(late.content_part(torch.tensor(0.5))) == 0 and late.content_cap == pytest.approx(0.6)
    # tiled and whole agree, above the cap (the hinge's gradient flows through the tiles' sums)
    net, g = tiny_net, torch.Generator().manual_seed(4)
    content, style = torch.rand(1, 3, 96, 120, generator=g), torch.rand(1, 3, 80, 96, generator=g)
    x = torch.rand(1, 3, 96, 120, generator=g)
    for obj in (_objective(net, content, style, "swd", None, "distance", "correlation"),):
        obj.content_slack, obj.content_cap = 0.0, 0.5 * float(obj.terms(net(x, obj.layers), x)["content"])
        xr = x.clone().requires_grad_(True)
        terms = obj.terms(net(xr, obj.layers), xr)
        assert float(terms["total"].detach()) > float(terms["style"].detach())
        (grad,) = torch.autograd.grad(terms["total"], xr)
        tterms, tgrad = TiledEvaluator(net, obj, x.shape, tile=32).loss_and_grad(x)
        for k in ("content", "style", "total"):
            assert float(tterms[k]) == pytest.approx(float(terms[k].detach()), rel=1e-4), k
        assert rel(tgrad, grad) < 1e-4
    # a sum-of-positions content loss cannot be capped tile by tile: one-line error
    obj = _objective(net, content, style, "gram", None, "course", "course")
    obj.content_slack = 0.0
    with pytest.raises(ConfigError, match="content-norm correlation"):
        TiledEvaluator(net, obj, x.shape, tile=32).loss_and_grad(x)


def test_pyramid_skips_levels_where_a_style_image_would_be_too_small(tiny_net):
    """A wide painting at the small levels (or a small --style-scale) is below what the net needs
    there, though it is fine at the output size: those levels are skipped, not refused."""
    wide = gradient_image(20, 400, seed=3)  # 20:1
    need = tiny_net.min_side(["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2"])
    r = transfer(gradient_image(64, 64), wide, feature_net=tiny_net, size=1024, iters=2, pyramid_start=256,
                 refine=0, pyramid_keep=0)
    shapes = [lv["shape"] for lv in r.state["levels"]]
    # the 256, 362 and 512 px levels would scale the painting to 256 x 13, 362 x 18 and 512 x 26 px
    assert need == 32 and [max(sh) for sh in shapes] == [724, 1024] and r.image.shape[-1] == 1024
    with pytest.raises(InputError, match=r"the style image is 128 x 6 px, but .*needs at least 32 px"):
        transfer(gradient_image(64, 64), wide, feature_net=tiny_net, size=128, iters=1, pyramid_start=0, refine=0)


def test_refine_adds_a_level_that_keeps_the_content_and_lowers_the_sliced_loss(tiny_net):
    c, s = gradient_image(48, 64), gradient_image(64, 64, seed=3)
    kw = dict(feature_net=tiny_net, size=64, iters=6, pyramid_start=32, pyramid_keep=0)
    r = transfer(c, s, refine=5, **kw)
    levels = r.state["levels"]
    assert [lv["shape"] for lv in levels][-2:] == [[48, 64], [48, 64]] and levels[-1]["iters"] == 5
    last = [h for h in r.history if h["level"] == len(levels) - 1]
    # the content loss stays within its budget (start + slack, plus the hinge's give) ...
    assert last[-1]["content"] <= last[0]["content"] + 0.02 + 0.01
    # ... and the pass lowers its own style loss
    assert last[-1]["style"] < last[0]["style"]
    # with detail levels above --pyramid-keep the pass runs at that size, before them
    r = transfer(c, s, refine=3, **{**kw, "pyramid_keep": 45, "size": 64})
    sizes = [max(lv["shape"]) for lv in r.state["levels"]]
    assert sizes[-3:] == [45, 45, 64]


def test_tiles_cover_the_image_once_and_align():
    tiles = make_tiles(150, 170, 48, 16, 96)
    cover = torch.zeros(150, 170)
    for t in tiles:
        y0, y1, x0, x1 = t.interior
        assert y0 % 16 == 0 and x0 % 16 == 0 and t.padded[0] % 16 == 0 and t.padded[2] % 16 == 0
        cover[y0:y1, x0:x1] += 1
    assert torch.equal(cover, torch.ones(150, 170))


def test_tile_geometry_covers_receptive_field(tiny_net):
    align, margin = tile_geometry(tiny_net, list(LAYERS))
    assert align == 16 and margin % 16 == 0 and margin >= tiny_net.info["relu5_1"].rf_size / 2


def test_plan_tile_untiled_when_it_fits_tiles_or_refuses(tiny_net):
    layers = ["relu4_2", *LAYERS]
    assert plan_tile(tiny_net, layers, (1, 3, 64, 64), "lbfgs", 2**34) is None
    t = plan_tile(tiny_net, layers, (1, 3, 2048, 2048), "adam", int(0.7 * 2**30))
    assert t is not None and t % 16 == 0 and 64 <= t < 2048
    with pytest.raises(ResourceError, match=r"GiB.*--max-memory"):
        plan_tile(tiny_net, layers, (1, 3, 2048, 2048), "lbfgs", 2**20)


def test_a_style_image_larger_than_its_level_is_measured_in_tiles_within_the_budget(tiny_net, monkeypatch):
    # --style-scale 8: the 96 px level fits in one pass, its 768 px style image does not, and was
    # measured untiled anyway (1.45 GiB peak under --max-memory 0.6 at 512 px)
    import stylegram.tiling
    seen = []
    real = stylegram.tiling.image_statistics
    monkeypatch.setattr(stylegram.tiling, "image_statistics",
                        lambda net, x, m, k, tile: seen.append((tuple(x.shape[-2:]), tile)) or real(net, x, m, k, tile))
    c, s = gradient_image(72, 96), gradient_image(600, 800, seed=3)
    kw = dict(feature_net=tiny_net, size=96, iters=2, refine=0, pyramid_start=0, device="cpu")
    tiled = transfer(c, s, style_scale=8, max_memory=0.25, **kw)
    assert tiled.state["tiles"] == [None] and seen == [((72, 96), None), ((576, 768), 80)]
    seen.clear()
    assert torch.allclose(tiled.image, transfer(c, s, style_scale=8, **kw).image, atol=1e-4)  # the same statistics
    assert seen == [((72, 96), None), ((576, 768), None)]


def test_transfer_refuses_what_cannot_fit(tiny_net):
    # the user's budget, not the machine's free memory ("cpu has 0.0 GiB free; free some memory")
    with pytest.raises(ResourceError, match=r"GiB but --max-memory allows 0.001 GiB; raise --max-memory$"):
        transfer(gradient_image(48, 64), gradient_image(48, 64, 1), feature_net=tiny_net, size=64, iters=1, max_memory=0.001)
    # a refine pass that would need tiles and a content loss tiles cannot sum: refused before the
    # pyramid's levels run, not after
    seen = []
    with pytest.raises(ConfigError, match=r"^a content budget \(--refine\) in tiles needs --content-norm correlation"):
        transfer(gradient_image(48, 64), gradient_image(48, 64, 1), feature_net=tiny_net, size=64, iters=4,
                 pyramid_start=32, refine=2, tile=32, content_norm="centered", callback=seen.append)
    assert seen == []


def test_tiled_transfer_matches_untiled(tiny_net):
    c, s = gradient_image(48, 64), gradient_image(64, 64, seed=3)
    a = transfer(c, s, feature_net=tiny_net, size=64, iters=3, preset="classic")
    b = transfer(c, s, feature_net=tiny_net, size=64, iters=3, preset="classic", tile=32)
    assert b.state["tiles"] == [32]
    assert (a.image - b.image).abs().max() < 2e-3
    # A pyramid whose top level is pinned to the level below and tiled: gradients flow through
    # the pin into the tiled loss.
    kw = dict(feature_net=tiny_net, size=64, iters=4, pyramid_start=32, pyramid_keep=32, refine=0)
    a, b = transfer(c, s, **kw), transfer(c, s, tile=32, **kw)
    assert b.state["tiles"][-1] == 32 and "pin" in b.state
    assert (a.image - b.image).abs().max() < 2e-3
    # ... and with a --refine level (content budget, sliced loss) below the pinned one. Its
    # gradient jumps where two projections swap places in the sort and where the content loss
    # crosses its cap, so rounding differences of 1e-7 can move a few pixels by 1e-3 even in two
    # iterations (0.0023 at most on an AVX512 EPYC, 3% of pixels beyond 1e-4). A tiling error
    # shows as a band along the tile borders, which the mean catches.
    a, b = transfer(c, s, **{**kw, "refine": 2}), transfer(c, s, tile=32, **{**kw, "refine": 2})
    assert b.state["tiles"][-2:] == [32, 32] and len(b.state["levels"]) == 3
    diff = (a.image - b.image).abs()
    assert diff.mean() < 1e-4 and diff.max() < 1e-2
    # the sliced loss, whose projections the tiles gather, with the distance normalization
    kw = dict(feature_net=tiny_net, size=64, iters=1, preset="classic", style_loss="swd", style_norm="distance", beta=1.0)
    a, b = transfer(c, s, **kw), transfer(c, s, tile=32, **kw)
    assert b.state["tiles"] == [32]
    assert (a.image - b.image).abs().max() < 2e-3


# --- losses added for quality ------------------------------------------------------------------

def test_guided_gram_with_ones_is_the_course_gram():
    a = torch.rand(2, 5, 6, 7)
    assert torch.allclose(guided_scaled_gram(a, torch.ones(1, 1, 6, 7)), scaled_gram(a), atol=1e-6)
    # a half mask: the Gram of the kept half, normalized by its own area
    g = torch.zeros(1, 1, 6, 7)
    g[..., :3, :] = 1
    assert torch.allclose(guided_scaled_gram(a, g), scaled_gram(a[..., :3, :]), atol=1e-6)
    # a soft edge weighs each position by g: a uniform guide of 0.25 reads the same style as one
    # of 1 (with g^2 it read a quarter of it, and the optimizer saturated the colours there)
    assert torch.allclose(guided_scaled_gram(a, torch.full((1, 1, 6, 7), 0.25)), scaled_gram(a), atol=1e-6)
    w = torch.rand(1, 1, 6, 7)
    f = a.reshape(2, 5, -1)
    by_hand = torch.einsum("p,bkp,blp->bkl", w.flatten(), f, f) / (2 * w.sum() * 5)
    assert torch.allclose(guided_scaled_gram(a, w), by_hand, atol=1e-6)


def test_complementary_region_masks_leave_the_main_style_nothing(tmp_path, monkeypatch):
    # Masks drawn as each other's inverse: the main style (STYLE) got the product of (1 - mask),
    # a quarter along their shared edge once resampled to a level, and painted a saturated ring
    # there. Now it gets 1 - their sum: nothing, so it has no term at any level.
    import numpy as np
    from PIL import Image
    import stylegram.objective as objective
    m = np.zeros((48, 64), np.uint8)
    m[10:38, 16:48] = 255
    Image.fromarray(m).save(tmp_path / "in.png")
    Image.fromarray(255 - m).save(tmp_path / "out.png")
    g = torch.Generator().manual_seed(0)
    c, s1, s2, r = (torch.rand(1, 3, 48, 64, generator=g) for _ in range(4))
    Image.fromarray((r[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "r.png")
    styles_per_call = []
    real = objective.style_targets
    monkeypatch.setattr(objective, "style_targets", lambda moments, *a, **kw: styles_per_call.append(len(moments))
                        or real(moments, *a, **kw))
    transfer(c, [s1, s2], net="random-tiny", size=64, iters=2, refine=0, pyramid_start=32,
             regions=(f"{tmp_path / 'in.png'}={tmp_path / 'r.png'}", f"{tmp_path / 'out.png'}={tmp_path / 'r.png'}"))
    assert styles_per_call == [1, 1, 1, 1]  # two levels, two regions each; the main (two styles) none


def test_gram_per_position_is_resolution_independent():
    a = torch.rand(1, 4, 5, 6)
    assert torch.allclose(scaled_gram(a.repeat(1, 1, 2, 2)), scaled_gram(a), atol=1e-6)
    m, c = mean_cov(a.repeat(1, 1, 3, 2))
    m1, c1 = mean_cov(a)
    assert torch.allclose(m, m1, atol=1e-6) and torch.allclose(c, c1, atol=1e-6)


def test_mean_cov_by_hand():
    a = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]])  # (1, 2, 1, 2)
    m, c = mean_cov(a)
    assert torch.allclose(m, torch.tensor([[2.0, 2.0]]))
    assert torch.allclose(c, torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]))


def test_w2_zero_at_target_positive_elsewhere_and_differentiable():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(1, 6, 8, 8, generator=g)
    ms, cs = mean_cov(s)
    root = sqrtm_psd(cs)
    assert torch.allclose(root @ root, cs, atol=1e-5)
    assert float(w2_style_layer_loss(s, ms, cs, root)) < 1e-3
    x = torch.rand(1, 6, 8, 8, generator=g).mul(2).requires_grad_(True)
    loss = w2_style_layer_loss(x, ms, cs, root)
    assert loss.item() > 0.05
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # a few gradient steps lower it
    y = x.detach().clone()
    for _ in range(30):
        y.requires_grad_(True)
        (gy,) = torch.autograd.grad(w2_style_layer_loss(y, ms, cs, root), y)
        y = (y - 20.0 * gy).detach()
    assert float(w2_style_layer_loss(y, ms, cs, root)) < 0.5 * loss.item()


def test_w2_mean_shift_by_hand():
    # Same covariance, means differing by d in every channel: W2^2 = |d|^2, divided by nC.
    a = torch.randn(1, 3, 10, 10)
    m, c = mean_cov(a)
    loss = w2_style_layer_loss(a + 0.5, m, c, sqrtm_psd(c))
    assert abs(float(loss) - 0.25) < 2e-3


def test_sliced_w2_by_hand():
    # One channel: the only directions are +1 and -1, and 1D optimal transport pairs sorted values.
    a = torch.tensor([3.0, 0.0, 2.0, 1.0]).view(1, 1, 2, 2)
    d = random_directions(1, 1, torch.Generator().manual_seed(0))
    assert abs(float(d)) == 1.0
    same_size = sliced_targets([torch.tensor([1.0, 3.0, 1.0, 3.0]).view(1, 1, 2, 2)], [1.0], d, quantiles=4)
    assert float(sliced_w2(a, d, same_size)) == pytest.approx(0.5)  # sorted 0 1 2 3 vs 1 1 3 3
    # a 2-position style read at 4 mid-quantiles: 1, 1.5, 2.5, 3 (linear between its samples)
    assert torch.allclose(resample_sorted(torch.tensor([[1.0, 3.0]]), 4), torch.tensor([[1.0, 1.5, 2.5, 3.0]]))
    two = sliced_targets([torch.tensor([1.0, 3.0]).view(1, 1, 1, 2)], [1.0], d, quantiles=2)
    assert float(sliced_w2(a, d, two)) == pytest.approx((1 + 0.25 + 0.25 + 0) / 4)
    # a batch of two mixed both images' channels into one number (0.13 for per-image 0.14, 0.21)
    with pytest.raises(ConfigError, match=r"^sliced_w2: features of shape \(2, 1, 2, 2\); give one image"):
        sliced_w2(torch.cat([a, a]), d, same_size)
    # the tiles' projections of a 1D and a 3D map, as of a 2D one
    from stylegram.objective import Objective, StyleTerm
    term = StyleTerm("l", 1.0, "swd", directions=torch.eye(3)[:, :2])
    for shape in ((1, 3, 5), (1, 3, 4, 5), (1, 3, 2, 3, 4)):
        x = torch.rand(shape)
        assert torch.equal(Objective.project(term, x), x[0, :2])


def test_sliced_w2_mean_shift_guides_and_blends():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(1, 4, 6, 8, generator=g)
    d = random_directions(4, 16, g)
    t = sliced_targets([s], [1.0], d, quantiles=48)
    assert float(sliced_w2(s, d, t)) < 1e-10
    # a shift m moves every projection on d_k by d_k . m: the loss is the mean of (d_k . m)^2
    m = torch.tensor([0.5, -1.0, 0.0, 2.0])
    want = float((d.t() @ m).pow(2).mean())
    assert float(sliced_w2(s + m.view(1, 4, 1, 1), d, t)) == pytest.approx(want, rel=1e-5)
    # a guide of ones is no guide; a half guide is the loss of that half alone
    x = torch.randn(1, 4, 6, 8, generator=g)
    assert float(sliced_w2(x, d, t, torch.ones(1, 1, 6, 8))) == pytest.approx(float(sliced_w2(x, d, t)), rel=1e-5)
    half = torch.zeros(1, 1, 6, 8)
    half[..., :3, :] = 1
    assert float(sliced_w2(x, d, t, half)) == pytest.approx(float(sliced_w2(x[..., :3, :], d, t)), rel=1e-5)
    # a blend of two styles 1:1 is the distribution of their positions pooled
    s2 = torch.randn(1, 4, 6, 8, generator=g) * 3
    pooled = sliced_targets([torch.cat([s, s2], dim=3)], [1.0], d, quantiles=96)
    assert torch.allclose(sliced_targets([s, s2], [1.0, 1.0], d, quantiles=96), pooled, atol=1e-6)
    # differentiable, and a gradient step lowers it
    y = x.clone().requires_grad_(True)
    loss = sliced_w2(y, d, t)
    (gy,) = torch.autograd.grad(loss, y)
    assert float(sliced_w2(x - 0.5 * gy / gy.norm() * x.norm() * 0.1, d, t)) < loss.item()


def test_sliced_w2_and_grad_equal_autograd():
    from stylegram.losses import sliced_w2_and_grad
    g = torch.Generator().manual_seed(2)
    s, x = torch.randn(1, 6, 7, 9, generator=g), torch.randn(1, 6, 5, 8, generator=g)
    d = random_directions(6, 20, g)
    t = sliced_targets([s], [1.0], d, quantiles=63)
    guide = torch.rand(1, 1, 5, 8, generator=g)
    for gd in (None, guide):
        y = x.clone().requires_grad_(True)
        loss = sliced_w2(y, d, t, gd)
        (want,) = torch.autograd.grad(loss, y)
        proj = d.t() @ x.reshape(6, -1)
        value, dproj = sliced_w2_and_grad(proj.clone(), t, None if gd is None else gd.reshape(-1), rows=7)
        assert float(value) == pytest.approx(float(loss.detach()), rel=1e-5)
        assert rel((d @ dproj).reshape(x.shape), want) < 1e-5  # chain rule through proj = d^T a


def test_sort_rows_sorts_like_torch_and_carries_the_gradient():
    """Big enough (>= 65536 values) for numpy's argsort, split over threads; with ties."""
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(7, 20000, generator=g) * 50).round() / 50  # ~1% of the values tie
    values, order = sort_rows(x)
    assert order.dtype == torch.int64 and order.shape == x.shape
    assert torch.equal(values, x.sort(dim=1).values)
    assert torch.equal(order.sort(dim=1).values, torch.arange(20000).expand(7, -1))  # a permutation per row
    assert torch.equal(x.gather(1, order), values)
    assert torch.equal(sort_rows(x.double())[0], x.double().sort(dim=1).values)
    # the loss through it is the loss through torch.sort, and so is its gradient but where two
    # projections are equal (random floats tie a few times here) and the sorts pair them the other way
    a = torch.randn(1, 8, 100, 120, generator=g)
    d = random_directions(8, 8, g)
    t = sliced_targets([torch.randn(1, 8, 90, 100, generator=g)], [1.0], d, quantiles=12000)
    ya, yb = a.clone().requires_grad_(True), a.clone().requires_grad_(True)
    la = sliced_w2(ya, d, t)
    pb = (d.t() @ yb.reshape(8, -1)).sort(dim=1).values
    lb = (pb - resample_sorted(t, pb.shape[1])).pow(2).mean()
    (ga,), (gb,) = torch.autograd.grad(la, ya), torch.autograd.grad(lb, yb)
    assert float(la.detach()) == float(lb.detach())
    differ = (ga - gb).abs()
    assert differ.max() < 1e-3 * ga.abs().max() and (differ > 0).float().mean() < 1e-3


def test_sliced_loss_and_resampling_stay_on_their_inputs_device():
    """PyTorch's 'meta' device holds no data but refuses any CPU tensor mixed in, as CUDA does: a
    CPU index built in resample_sorted broke every --refine run on a GPU (bench/gpu_check.py)."""
    from stylegram.losses import sliced_w2_and_grad
    m = torch.device("meta")
    a, d, t = torch.randn(1, 8, 5, 5, device=m), torch.randn(8, 8, device=m), torch.randn(8, 40, device=m)
    assert resample_sorted(t, 25).device == m
    assert sort_rows(torch.randn(4, 40000, device=m))[1].device == m  # numpy only for CPU tensors
    assert sliced_w2(a, d, t).device == m
    assert sliced_w2(a, d, t, torch.rand(1, 1, 5, 5, device=m)).device == m
    assert sliced_w2_and_grad(torch.randn(8, 25, device=m), t)[1].device == m
    assert resize_image(torch.rand(1, 3, 40, 30, device=m), (20, 15)).device == m


def test_style_blend_mixes_second_moments(tiny_net):
    s1, s2 = gradient_image(32, 32, 1), gradient_image(32, 32, 2).flip(1)
    m1 = {l: layer_moments(a) for l, a in tiny_net(s1, list(LAYERS)).items()}
    m2 = {l: layer_moments(a) for l, a in tiny_net(s2, list(LAYERS)).items()}
    t = style_targets([m1, m2], [3, 1], LAYERS, beta=1.0)
    a1, a2 = tiny_net(s1, ["relu2_1"])["relu2_1"], tiny_net(s2, ["relu2_1"])["relu2_1"]
    want = 0.75 * scaled_gram(a1) + 0.25 * scaled_gram(a2)
    assert torch.allclose(t[1].gram, want, rtol=1e-5, atol=1e-7)
    with pytest.raises(ConfigError, match="one non-negative weight per style image"):
        style_targets([m1, m2], [1.0], LAYERS, beta=1.0)


def test_single_style_gram_target_is_the_course_target(tiny_net):
    s = gradient_image(40, 48, 5)
    f = tiny_net(s, list(LAYERS))
    t = style_targets([{l: layer_moments(a) for l, a in f.items()}], [1.0], LAYERS, beta=2.0)
    for term in t:
        assert torch.allclose(term.gram, scaled_gram(f[term.layer]), rtol=1e-5, atol=1e-8)
        assert term.weight == pytest.approx(2.0 * LAYERS[term.layer])
    obj = Objective({}, t, alpha=0.0)
    x = gradient_image(40, 48, 6)
    fx = tiny_net(x, list(LAYERS))
    course = sum(2.0 * lam * style_layer_loss(fx[l], scaled_gram(f[l])) for l, lam in LAYERS.items())
    assert float(obj.terms(fx, x)["style"]) == pytest.approx(float(course), rel=1e-5)


def test_distance_style_norm_is_one_per_layer_at_the_photo(tiny_net):
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 64, 80, generator=g), torch.rand(1, 3, 72, 72, generator=g) ** 3
    for kind in ("gram", "w2", "swd"):
        obj = _objective(tiny_net, content, style, kind, norm="distance", content_norm="correlation")
        assert all(t.root for t in obj.style_terms)
        fc = tiny_net(content, obj.layers)
        # each layer: lambda (LAYERS' weights) times its distance over the photo's own distance = 1
        want = 1e3 * sum(LAYERS.values())
        assert float(obj.terms(fc, content)["style"]) == pytest.approx(want, rel=1e-3), kind
        # halfway to the style's statistics is about half the distance (Gram: exactly, in Gram space)
        fs = tiny_net(style, obj.layers)
        if kind == "gram":
            half = sum(t.weight * float(((scaled_gram(fc[t.layer]) + scaled_gram(fs[t.layer])) / 2 - t.gram).pow(2).sum()) ** 0.5
                       for t in obj.style_terms)
            assert half == pytest.approx(want / 2, rel=1e-4)
    with pytest.raises(ConfigError, match="'distance' style normalization needs"):
        style_targets([{l: layer_moments(tiny_net(style, [l])[l]) for l in LAYERS}], [1.0], LAYERS, beta=1.0,
                      norm="distance")


def test_relative_style_norm_gives_each_layer_its_share(tiny_net):
    """norm='relative': a blank (all-zero) output costs exactly beta * lambda_l per layer, for Gram,
    W2 and the sliced loss, and the loss does not change when style and output features are scaled together."""
    s = gradient_image(40, 48, 5)
    f = tiny_net(s, list(LAYERS))
    moms = [{l: layer_moments(a) for l, a in f.items()}]
    zeros = {l: torch.zeros_like(a) for l, a in f.items()}
    blank = torch.zeros(1, 3, 40, 48)
    for kind in ("gram", "w2", "swd"):
        t = style_targets(moms, [1.0], LAYERS, beta=3.0, kind=kind, norm="relative", style_feats=[f])
        obj = Objective({}, t, alpha=0.0)
        tol = 1e-4
        for term in t:
            alone = Objective({}, [term], alpha=0.0)
            assert float(alone.terms(zeros, blank)["style"]) == pytest.approx(3.0 * LAYERS[term.layer], rel=tol)
        assert float(obj.terms(zeros, blank)["style"]) == pytest.approx(3.0, rel=tol)
    # Gram, by hand: weight = beta * lambda / |G(S)/(2 N nC)|^2
    t = style_targets(moms, [1.0], LAYERS, beta=3.0, norm="relative")
    for term in t:
        assert term.weight == pytest.approx(3.0 * LAYERS[term.layer] / float(scaled_gram(f[term.layer]).pow(2).sum()),
                                            rel=1e-5)
    # scale-free: features 10x brighter in style and output give the same relative loss
    x = gradient_image(40, 48, 6)
    fx = tiny_net(x, list(LAYERS))
    t10 = style_targets([{l: layer_moments(10 * a) for l, a in f.items()}], [1.0], LAYERS, beta=3.0, norm="relative")
    one = float(Objective({}, t, alpha=0.0).terms(fx, x)["style"])
    ten = float(Objective({}, t10, alpha=0.0).terms({l: 10 * a for l, a in fx.items()}, x)["style"])
    assert ten == pytest.approx(one, rel=1e-4)
    with pytest.raises(ConfigError, match="style normalization"):
        style_targets(moms, [1.0], LAYERS, beta=1.0, norm="loud")


# --- pyramid and presets ------------------------------------------------------------------------

def test_pyramid_sizes_and_iterations():
    assert pyramid_sizes(512) == [128, 181, 256, 362, 512]
    assert pyramid_sizes(1024) == [128, 181, 256, 362, 512, 724, 1024]
    assert pyramid_sizes(100) == [100] and pyramid_sizes(512, 0) == [512]
    # within step^(1/2) of start: one level, not one far below start ([212, 300] before)
    assert pyramid_sizes(300, 256) == [300] and pyramid_sizes(150, 128) == [150]
    assert pyramid_sizes(310, 256) == [219, 310] and pyramid_sizes(362, 256) == [256, 362]
    it = level_iters(pyramid_sizes(512), 400)
    assert it == [400, 200, 100, 50, 25]
    # equal pixel cost per level: a 1024 px run is the 512 px run plus two levels of the same cost
    it2 = level_iters(pyramid_sizes(1024), 400)
    assert it2[:5] == it and it2[5:] == [round(400 * (128 / 724) ** 2), 8]
    assert level_iters([512], 300) == [300]


def test_resize_circular_has_no_seam():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 16, 16, generator=g)
    y = resize(x, (32, 32), circular=True)
    # upsampling a periodic image equals upsampling the tiled image, cropped
    big = resize(x.repeat(1, 1, 3, 3), (96, 96))
    assert (y - big[..., 32:64, 32:64]).abs().max() < 1e-5
    # ... and shrinking, by any factor: a 4 px wrap was too little beyond 2x (0.08 off at 8x; a
    # tileable texture's first level is its size shrunk 4x) and the crop was rounded (100 -> 13)
    x = torch.rand(1, 3, 100, 64, generator=g)
    for hw in ((50, 32), (25, 16), (13, 8), (13, 5), (40, 3)):
        ref = resize(x.repeat(1, 1, 3, 3), (3 * hw[0], 3 * hw[1]))[..., hw[0]:2 * hw[0], hw[1]:2 * hw[1]]
        assert (resize(x, hw, circular=True) - ref).abs().max() < 1e-5, hw


def test_resize_image_shrinks_as_pil_lanczos():
    import numpy as np
    from PIL import Image
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 37, 53, generator=g)
    y = resize_image(x, (12, 20))
    # PIL in float mode ("F") has no 8-bit clipping between its two passes: the same sums
    for ch in range(3):
        pil = Image.fromarray(x[0, ch].numpy(), mode="F").resize((20, 12), Image.LANCZOS)
        assert (y[0, ch] - torch.from_numpy(np.array(pil))).abs().max() < 1e-5
    assert torch.allclose(lanczos_matrix(53, 20).sum(1), torch.ones(20))
    # enlarging, the same size and circular images take resize's path
    assert torch.equal(resize_image(x, (74, 106)), resize(x, (74, 106)))
    assert torch.equal(resize_image(x, (37, 53)), x)
    assert torch.equal(resize_image(x, (12, 20), circular=True), resize(x, (12, 20), circular=True))


def test_presets_fill_in_and_explicit_options_win():
    assert TransferConfig().preset == "balanced"
    bal = preset_config("balanced")
    assert bal.pyramid_start == 256 and bal.beta == PRESETS["balanced"]["beta"]
    assert preset_config("strong").beta > bal.beta > preset_config("subtle").beta
    assert preset_config("balanced", beta=7.0).beta == 7.0
    classic = preset_config("classic")
    assert classic.pyramid_start == 0 and classic.beta == TransferConfig().beta
    sliced = preset_config("sliced")
    assert (sliced.style_loss, sliced.style_norm, sliced.pyramid_start) == ("swd", "distance", 256)
    assert preset_config("sliced", style_loss="gram").style_loss == "gram"
    with pytest.raises(ConfigError, match="unknown preset 'loud'; valid: subtle, balanced, strong, sliced, classic"):
        preset_config("loud")


def test_transfer_uses_preset_and_pyramid_levels(tiny_net):
    seen = []
    r = transfer(gradient_image(48, 64), gradient_image(64, 64, 3), feature_net=tiny_net, size=64, iters=12,
                 pyramid_start=32, callback=lambda ev: seen.append((ev.level, ev.levels, ev.note)))
    assert r.config.preset == "balanced" and r.config.beta == PRESETS["balanced"]["beta"]
    # the presets keep the photo's structure (correlation of the centered maps) and start from the
    # photo half mixed with noise; classic keeps the course's loss and starts from the photo
    assert r.config.content_norm == "correlation" and preset_config("classic").content_norm == "course"
    assert (r.config.init, r.config.init_noise) == ("blend", 0.5) and preset_config("classic").init == "content"
    # 24 x 32 is below relu5_1's need; the last level is the --refine pass at the output size
    assert r.config.refine == PRESETS["balanced"]["refine"] > 0
    assert [lv["shape"] for lv in r.state["levels"]] == [[34, 45], [48, 64], [48, 64]]
    assert [lv["pass"] for lv in r.state["levels"]] == ["transfer", "transfer", "refine"]
    assert {s[1] for s in seen} == {3} and seen[-1][0] == 2
    assert {(s[0], s[2]) for s in seen} == {(0, ""), (1, ""), (2, "refine")}  # what progress displays show
    assert r.image.shape == (1, 3, 48, 64) and 0 <= float(r.image.min()) and float(r.image.max()) <= 1


def test_style_loss_w2_and_ema_lower_the_style_loss(tiny_net):
    c, s = gradient_image(48, 64), gradient_image(64, 64, 3).flip(2)
    r = transfer(c, s, feature_net=tiny_net, size=64, iters=15, style_loss="w2", ema=0.5, preset="classic")
    assert r.history[-1]["style"] < 0.7 * r.history[0]["style"]


def test_style_loss_swd_lowers_the_style_loss(tiny_net, tmp_path):
    from stylegram.io.image import save_image
    c, s = gradient_image(48, 64), gradient_image(64, 64, 3).flip(2)
    r = transfer(c, s, feature_net=tiny_net, size=64, iters=15, style_loss="swd", preset="classic", beta=1.0)
    assert r.history[-1]["style"] < 0.7 * r.history[0]["style"]
    # the same seed draws the same directions: reproducible
    again = transfer(c, s, feature_net=tiny_net, size=64, iters=15, style_loss="swd", preset="classic", beta=1.0)
    assert torch.equal(r.image, again.image)
    # a per-region style (guided sliced loss) runs too
    m = torch.zeros(1, 3, 48, 64)
    m[..., :, 32:] = 1
    save_image(m, tmp_path / "keep.png")
    g = transfer(c, s, feature_net=tiny_net, size=64, iters=3, style_loss="swd", preset="classic",
                 mask=str(tmp_path / "keep.png"))
    assert g.image.shape == (1, 3, 48, 64)


def test_bad_quality_options_are_one_line_errors(tiny_net):
    c, s = gradient_image(48, 64), gradient_image(64, 64, 3)
    for opts, msg in (({"style_blend": "1,x"}, "style_blend"), ({"color_strength": 1.5}, "between 0 and 1"),
                      ({"regions": "nomask"}, "MASK=STYLE"), ({"ema": 1.0}, "ema"), ({"style_loss": "l1"}, "style loss"),
                      ({"preserve_color": "sepia"}, "preserve-color")):
        with pytest.raises(ConfigError, match=msg):
            transfer(c, s, feature_net=tiny_net, size=64, iters=1, **opts)
    with pytest.raises(ConfigError, match="style normalization 'loud'"):
        transfer(c, s, feature_net=tiny_net, size=64, iters=1, style_norm="loud")
    with pytest.raises(ConfigError, match=r"^style_blend \(--style-blend\) has 2 weights for 1 style image; give one per"):
        transfer(c, s, feature_net=tiny_net, size=64, iters=1, style_blend=(1, 2))
    with pytest.raises(InputError, match="style-scale"):
        transfer(c, s, feature_net=tiny_net, size=64, iters=1, style_scale=0.1)
    # --ema averages the iterates it is shown: every 5th with --check-every 5 (31/255 from the
    # same run checking each one), every 25th by default on a GPU
    with pytest.raises(ConfigError, match=r"^check_every 5 with ema 0.5: the average takes every iterate, "):
        transfer(c, s, feature_net=tiny_net, size=64, iters=1, ema=0.5, check_every=5)
    from stylegram.transfer import check_interval
    assert check_interval(TransferConfig(ema=0.5), torch.device("cuda")) == 1
    assert check_interval(TransferConfig(), torch.device("cuda")) == 25


# --- colour ---------------------------------------------------------------------------------------

def _coloured(h, w, rgb, seed):
    base = gradient_image(h, w, seed)
    return (0.5 * base + 0.5 * torch.tensor(rgb).view(1, 3, 1, 1)).clamp(0, 1)


def test_yiq_round_trip_and_histogram_matching_by_hand():
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-5)
    c, s = _coloured(32, 32, (0.9, 0.2, 0.1), 0), _coloured(32, 32, (0.1, 0.3, 0.9), 1)
    m = match_color_histogram(s, c)
    fc, fm = c.reshape(3, -1), m.reshape(3, -1)
    assert torch.allclose(fm.mean(1), fc.mean(1), atol=2e-3)
    assert torch.allclose(torch.cov(fm), torch.cov(fc), atol=2e-3)
    ml = match_luminance(s, c)
    assert float(ml.mean()) == pytest.approx(float(luminance(c).mean()), abs=1e-3)
    assert float(ml.std()) == pytest.approx(float(luminance(c).std()), abs=2e-3)
    # a one-pixel image has no spread to match, not a NaN one (and no LinAlgError traceback)
    one = torch.full((1, 3, 1, 1), 0.4)
    assert torch.isfinite(match_luminance(one, c)).all() and torch.isfinite(match_luminance(c, one)).all()
    assert torch.allclose(match_color_histogram(one, c).flatten(), c.mean((0, 2, 3)), atol=1e-4)
    # strength 0 changes nothing
    c0, (s0,) = prepare("luminance", 0.0, c, [s])
    assert c0 is c and s0 is s and finish("luminance", 0.0, s, c) is s


def test_color_preservation_keeps_the_content_chroma(tiny_net):
    c, s = _coloured(48, 64, (0.9, 0.3, 0.1), 0), _coloured(64, 64, (0.1, 0.3, 0.95), 3)
    chroma = lambda x: rgb_to_yiq(x)[:, 1:].reshape(2, -1)
    cc = chroma(c)
    plain = chroma(transfer(c, s, feature_net=tiny_net, size=64, iters=15, preset="classic", beta=1e6).image)
    lum = chroma(transfer(c, s, feature_net=tiny_net, size=64, iters=15, preset="classic", beta=1e6,
                          preserve_color="luminance").image)
    hist = chroma(transfer(c, s, feature_net=tiny_net, size=64, iters=15, preset="classic", beta=1e6,
                           preserve_color="histogram").image)
    err = lambda a: float((a.mean(1) - cc.mean(1)).abs().sum() + (a.std(1) - cc.std(1)).abs().sum())
    # luminance mode: the output's I and Q are the content's (up to clamping to 0..1)
    assert err(lum) < 0.02
    assert err(hist) < 0.5 * err(plain)
    assert err(plain) > 0.1  # the plain transfer did take the style's blue
    half = chroma(transfer(c, s, feature_net=tiny_net, size=64, iters=15, preset="classic", beta=1e6,
                           preserve_color="luminance", color_strength=0.5).image)
    assert err(lum) < err(half) < err(plain)


# --- masks and regions ------------------------------------------------------------------------------

def test_mask_keeps_content_and_regions_take_their_styles(tiny_net, tmp_path, monkeypatch):
    from stylegram.io.image import save_image
    c, s = gradient_image(48, 64), gradient_image(64, 64, 3).flip(1)
    keep = torch.zeros(1, 3, 48, 64)
    keep[..., :, :24] = 1
    save_image(keep, tmp_path / "keep.png")
    r = transfer(c, s, feature_net=tiny_net, size=64, iters=8, preset="classic", beta=1e6, init="noise",
                 mask=str(tmp_path / "keep.png"))
    assert (r.image[..., :, :20] - c[..., :, :20]).abs().max() < 0.01  # kept (8-bit mask round trip)
    assert (r.image[..., :, 40:] - c[..., :, 40:]).abs().mean() > 0.05  # stylized
    # white strokes on a transparent layer (as paint programs save them) mark only the strokes:
    # transparency was laid over white, which kept the whole photo
    from PIL import Image
    rgba = Image.new("RGBA", (64, 48), (255, 255, 255, 0))
    rgba.paste((255, 255, 255, 255), (0, 0, 24, 48))
    rgba.save(tmp_path / "strokes.png")
    r3 = transfer(c, s, feature_net=tiny_net, size=64, iters=8, preset="classic", beta=1e6, init="noise",
                  mask=str(tmp_path / "strokes.png"))
    assert torch.equal(r3.image, r.image)  # the same as the opaque black-and-white mask
    save_image(1 - keep, tmp_path / "right.png")
    save_image(_coloured(64, 64, (0.1, 0.9, 0.1), 4), tmp_path / "green.png")
    r2 = transfer(c, s, feature_net=tiny_net, size=64, iters=8, preset="classic",
                  regions=f"{tmp_path / 'right.png'}={tmp_path / 'green.png'}")
    assert r2.image.shape == (1, 3, 48, 64) and r2.history[-1]["style"] < r2.history[0]["style"]
    # a region that covers nothing (or only kept pixels) is left out: in tiles its 0/0 area was a
    # traceback with W2 and a NaN start that skipped the level with the Gram loss
    save_image(torch.zeros(1, 3, 48, 64), tmp_path / "none.png")
    for loss in ("w2", "gram"):
        kw = dict(feature_net=tiny_net, size=64, iters=4, pyramid_start=0, refine=0, tile=32, style_loss=loss)
        empty = transfer(c, s, regions=f"{tmp_path / 'none.png'}={tmp_path / 'green.png'}", **kw)
        assert empty.stopped is None and torch.equal(empty.image, transfer(c, s, **kw).image), loss
    # ... but a small one counts: a 2 px region (0.07 % of the picture) was dropped as "empty"
    import stylegram.objective
    calls, real = [], stylegram.objective.style_targets
    monkeypatch.setattr(stylegram.objective, "style_targets", lambda *a, **k: calls.append(1) or real(*a, **k))
    dot = torch.zeros(1, 3, 48, 64)
    dot[..., 20, 30:32] = 1
    save_image(dot, tmp_path / "dot.png")
    transfer(c, s, feature_net=tiny_net, size=64, iters=1, pyramid_start=0, refine=0,
             regions=f"{tmp_path / 'dot.png'}={tmp_path / 'green.png'}")
    assert len(calls) == 2  # the main style and the region's


# --- textures -----------------------------------------------------------------------------------------

def _seam_ratio(x: torch.Tensor) -> float:
    """Wrap-around edge difference over the mean difference of neighbouring interior columns/rows."""
    wrap = ((x[..., :, 0] - x[..., :, -1]).abs().mean() + (x[..., 0, :] - x[..., -1, :]).abs().mean()) / 2
    inner = ((x[..., :, 1:] - x[..., :, :-1]).abs().mean() + (x[..., 1:, :] - x[..., :-1, :]).abs().mean()) / 2
    return float(wrap / inner)


def test_tileable_texture_has_no_seam(tiny_net):
    style = gradient_image(64, 64, 7)
    tile = texture(style, size=64, tileable=True, feature_net=tiny_net, iters=16, pyramid_start=32, seed=1)
    free = texture(style, size=64, tileable=False, feature_net=tiny_net, iters=16, pyramid_start=32, seed=1)
    assert tile.image.shape == (1, 3, 64, 64)
    assert _seam_ratio(tile.image) < 1.5
    assert _seam_ratio(free.image) > 1.5 * _seam_ratio(tile.image)
    assert tile.history[-1]["content"] == 0.0


def test_cli_texture_and_preset(tmp_path):
    from stylegram.cli import main
    from stylegram.io.image import save_image
    style = tmp_path / "style.png"
    save_image(gradient_image(48, 48, 9), style)
    out = tmp_path / "tex.png"
    with pytest.raises(SystemExit) as e:
        main(["texture", str(style), "-o", str(out), "--size", "44", "--tileable", "--iters", "3", "--net", "random", "-q"])
    assert e.value.code == 0 and out.exists()
    from PIL import Image
    assert Image.open(out).size == (48, 48)  # rounded to a multiple of 16 px
    with pytest.raises(SystemExit) as e:
        main(["transfer", str(style), str(style), "-o", str(tmp_path / "o.png"), "--preset", "loud", "-q"])
    assert e.value.code == 2


def test_a_texture_comes_back_from_its_png_with_its_tiling(tmp_path):
    import contextlib
    import io
    from PIL import Image
    from stylegram.cli import main
    from stylegram.io.image import save_image
    from stylegram.texture import texture_settings
    style = tmp_path / "style.png"
    save_image(gradient_image(48, 48, 9), style)

    def cli(*args: str) -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
            main([*map(str, args), "-q"])
        return e.value.code, err.getvalue()

    assert cli("texture", style, "-o", tmp_path / "a.png", "--size", "40", "--tileable", "--iters", "3",
               "--net", "random-tiny", "--seed", "5") == (0, "")
    meta = json.loads(Image.open(tmp_path / "a.png").text["stylegram"])
    assert meta["task"] == {"command": "texture", "tileable": True}
    cfg, tileable = texture_settings(tmp_path / "a.png")
    assert tileable is True and (cfg.size, cfg.iters, cfg.seed, cfg.net, cfg.alpha) == (40, 3, 5, "random-tiny", 0.0)
    # the same texture larger: every option and the tiling from the PNG, the size typed beside it
    assert cli("texture", style, "-o", tmp_path / "b.png", "--settings", tmp_path / "a.png", "--size", "64") == (0, "")
    b = json.loads(Image.open(tmp_path / "b.png").text["stylegram"])
    assert b["task"] == meta["task"] and Image.open(tmp_path / "b.png").size == (64, 64)
    assert {k: (meta["params"][k], b["params"][k]) for k in b["params"] if b["params"][k] != meta["params"][k]} == {"size": (40, 64)}
    # the report holds the same: --settings takes it too
    assert cli("texture", style, "-o", tmp_path / "r.png", "--size", "32", "--iters", "2", "--net", "random-tiny",
               "--tileable", "--report", tmp_path / "r.json") == (0, "")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["task"] == {"command": "texture", "tileable": True} and len(rep["history"]) == rep["params"]["iters"]
    assert texture_settings(tmp_path / "r.json")[1] is True
    # an earlier texture of two blended styles, now given one: the settings file is named
    assert cli("texture", style, style, "-o", tmp_path / "two.png", "--style-blend", "0.7,0.3", "--size", "32",
               "--iters", "1", "--net", "random-tiny") == (0, "")
    assert cli("texture", style, "-o", tmp_path / "one.png", "--settings", tmp_path / "two.png") == (
        2, f"stylegram: error: --settings {tmp_path / 'two.png'}: its blend of 2 style images does not fit the 1 "
           "given here; give 2, or --style-blend with 1 weight ('' for equal ones)\n")
    assert cli("texture", style, "-o", tmp_path / "one.png", "--settings", tmp_path / "two.png", "--style-blend", "") == (0, "")
    assert cli("texture", style, "-o", tmp_path / "c.png", "--settings", tmp_path / "a.png", "--no-tileable") == (0, "")
    assert json.loads(Image.open(tmp_path / "c.png").text["stylegram"])["task"]["tileable"] is False
    assert Image.open(tmp_path / "c.png").size == (40, 40)  # not rounded to 16 px: it does not tile
    # a transfer's settings are not a texture's, nor the other way round
    assert cli("transfer", style, style, "-o", tmp_path / "d.png", "--net", "random-tiny", "--size", "40", "--iters", "1",
               "--refine", "0") == (0, "")
    # the settings file is read, so not written over (-o or --report on it)
    assert cli("texture", style, "-o", tmp_path / "a.png", "--settings", tmp_path / "a.png") == (
        2, f"stylegram: error: {tmp_path / 'a.png'}: output path is also an input; choose another name\n")
    for command, args, made_by in (("texture", [style], "transfer"), ("transfer", [style, style], "texture")):
        earlier = tmp_path / ("d.png" if made_by == "transfer" else "a.png")
        assert cli(command, *args, "-o", tmp_path / "e.png", "--settings", earlier) == (
            2, f"stylegram: error: {earlier}: holds the settings of a {made_by}, not of a {command}; "
               f"repeat it with `stylegram {made_by} --settings`\n")


def test_an_ema_run_stopped_and_resumed_equals_uninterrupted(tiny_net):
    # The checkpoint keeps the optimizer's iterate and the running average: it kept only the
    # average, and the resumed run optimized on from it (0.04 to 0.14 max pixel difference).
    c, s = gradient_image(48, 64), gradient_image(64, 64, seed=3)
    for extra in ({}, {"pyramid_start": 32, "pyramid_keep": 32}):  # one level; the last level pinned
        kw = dict(feature_net=tiny_net, size=64, iters=6, refine=0, ema=0.9, device="cpu", **extra)
        full = transfer(c, s, **kw)
        stopped = transfer(c, s, callback=lambda ev: ev.iter == 3 and ev.level == ev.levels - 1, **kw)
        assert stopped.stopped == "cancelled" and "ema" in stopped.state
        resumed = transfer(c, s, checkpoint=stopped.checkpoint(), **kw)
        assert torch.equal(resumed.image, full.image), extra


def test_a_masked_run_stopped_and_resumed_equals_uninterrupted(tiny_net, tmp_path):
    # The checkpoint held the level's picture with the kept area pasted back, and the resumed
    # optimizer went on from that instead of its own variable (up to 44/255 from the
    # uninterrupted run where the mask is soft).
    c, s = gradient_image(48, 64), gradient_image(64, 64, seed=3)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 64), indexing="ij")
    soft = ((1.5 - 2 * (xx ** 2 + yy ** 2)).clamp(0, 1) * 255).to(torch.uint8).numpy()  # grey edges, white core
    Image.fromarray(soft).save(tmp_path / "keep.png")
    kw = dict(feature_net=tiny_net, size=64, iters=6, refine=0, pyramid_start=32, mask=str(tmp_path / "keep.png"),
              device="cpu")
    full = transfer(c, s, **kw)
    # what a callback sees (previews, --save-every) has the kept area put back, as the result does;
    # it was the optimizer's variable, still the noisy start image there
    seen = []
    transfer(c, s, callback=lambda ev: seen.append(ev.image.clone()), **{**kw, "init": "noise"})
    keep = resize(torch.from_numpy(soft).float()[None, None] / 255, seen[-1].shape[-2:]).clamp(0, 1)
    photo = resize_image(c, seen[-1].shape[-2:])
    assert float(((seen[-1] - photo).abs() * (keep > 0.999)).max()) < 1e-6  # 0.016 before
    for level in (0, 1):
        stopped = transfer(c, s, callback=lambda ev: ev.iter == 3 and ev.level == level, **kw)
        assert stopped.stopped == "cancelled" and stopped.state["level"] == level
        resumed = transfer(c, s, checkpoint=stopped.checkpoint(), **kw)
        assert torch.equal(resumed.image, full.image), level


def test_a_classic_run_too_large_for_one_pass_resumes_in_tiles(tiny_net):
    # The single-level engine hands a run beyond --max-memory to the tiled one; a checkpoint of
    # that run was resumed untiled (above the budget, and not the same picture: 1.4e-2 max difference).
    c, s = gradient_image(288, 384), gradient_image(128, 128, seed=3)
    kw = dict(feature_net=tiny_net, size=384, iters=4, preset="classic", optimizer="adam", max_memory=0.25, device="cpu")
    full = transfer(c, s, **kw)
    stopped = transfer(c, s, callback=lambda ev: ev.iter == 2, **kw)
    assert full.state["tiles"] == stopped.state["tiles"] == [80] and stopped.stopped == "cancelled"
    resumed = transfer(c, s, checkpoint=stopped.checkpoint(), **kw)
    assert resumed.state["tiles"] == [80] and torch.equal(resumed.image, full.image)
    assert [lv["tile"] for lv in full.report()["levels"]] == [80]  # the report says the level was tiled


def test_pyramid_run_stopped_and_resumed_equals_uninterrupted(tiny_net):
    c, s = gradient_image(48, 64), gradient_image(64, 64, seed=3)
    kw = dict(feature_net=tiny_net, size=64, iters=12, pyramid_start=32, device="cpu")
    full = transfer(c, s, **kw)
    stopped = transfer(c, s, callback=lambda ev: ev.level == 1 and ev.iter == 3, **kw)
    assert stopped.stopped == "cancelled" and stopped.state["level"] == 1
    resumed = transfer(c, s, checkpoint=stopped.checkpoint(), **kw)
    assert resumed.stopped is None and len(resumed.history) == len(full.history)
    assert (resumed.image - full.image).abs().max() < 1e-5


def test_pyramid_restore_adjusts_each_upsampled_start():
    from stylegram.pyramid import Level, run_pyramid
    made, starts = [], []

    def make_level(k):
        made.append(k)
        shape = [(4, 6), (8, 12)][k]

        def loss(x):
            starts.append(x.detach().clone()) if len(starts) == k else None
            d = (x * 0).sum()
            return {"total": d, "style": d, "content": d}
        return Level(loss, shape, 0)

    def restore(start):
        assert made == [0, 1]  # called after its level was made (its content is known)
        return start + 0.25

    x0 = torch.full((1, 3, 4, 6), 0.5)
    res = run_pyramid(make_level, 2, lambda shape: x0, restore=restore)
    assert torch.allclose(starts[1], torch.full((1, 3, 8, 12), 0.75)) and torch.allclose(res.x, starts[1])


def test_transfer_with_and_without_pyramid_detail(tiny_net):
    c, s = gradient_image(48, 64, seed=1), gradient_image(48, 64, seed=2)
    on = transfer(c, s, feature_net=tiny_net, size=64, pyramid_start=32, iters=4, seed=0)
    off = transfer(c, s, feature_net=tiny_net, size=64, pyramid_start=32, iters=4, seed=0, pyramid_detail=False)
    assert on.image.shape == off.image.shape == (1, 3, 48, 64) and not torch.equal(on.image, off.image)


def test_detail_levels_get_half_the_iterations():
    sizes = pyramid_sizes(1024, 256)
    assert sizes == [256, 362, 512, 724, 1024]
    assert level_iters(sizes, 200) == [200, 100, 50, 25, 12]
    assert level_iters(sizes, 200, pin_from=3) == [200, 100, 50, 13, 8]


def test_pinned_keeps_the_low_band_and_is_linear():
    from stylegram.pyramid import pinned, pinned_in_range
    from stylegram.resample import resize_image
    g = torch.Generator().manual_seed(0)
    y, prev = torch.rand(1, 3, 32, 48, generator=g), torch.rand(1, 3, 16, 24, generator=g)
    before = (resize_image(y, (16, 24)) - prev).abs().mean()
    # Shrunk as viewers shrink (Lanczos-3), the pinned image is the previous level's picture: white
    # noise is the worst case for the resampling kernels, back-projection fixes most of it.
    one = (resize_image(pinned(y, prev, rounds=1), (16, 24)) - prev).abs().mean()
    three = (resize_image(pinned(y, prev), (16, 24)) - prev).abs().mean()
    assert three < 0.5 * one and three < 0.2 * before
    y2 = torch.rand(1, 3, 32, 48, generator=g)
    zero = torch.zeros_like(prev)
    assert torch.allclose(pinned(y + y2, prev), pinned(y, prev) + pinned(y2, zero), atol=1e-6)
    # Detail that overshoots [0, 1]: a plain clamp moves the low band again, the alternating
    # projections keep both the range and the pin.
    loud = 3 * (y - 0.5)
    clamped = pinned(loud, prev).clamp(0, 1)
    both = pinned_in_range(loud, prev)
    assert both.min() >= 0 and both.max() <= 1
    off_clamped = (resize_image(clamped, (16, 24)) - prev).abs().mean()
    off_both = (resize_image(both, (16, 24)) - prev).abs().mean()
    assert off_both < 0.5 * off_clamped, (off_both, off_clamped)


def test_pyramid_keep_pins_the_levels_above_it(tiny_net):
    c, s = gradient_image(48, 64, seed=1), gradient_image(48, 64, seed=2)
    kw = dict(feature_net=tiny_net, size=64, pyramid_start=32, iters=6, seed=0, beta=10.0)
    free = transfer(c, s, pyramid_keep=0, **kw)
    kept = transfer(c, s, pyramid_keep=32, **kw)
    assert kept.state["pin"].shape == (1, 3, 34, 45) and "pin" not in free.state
    # The last level's picture, downsampled to the level below, stays close to that level's
    # result (the pinned 'pin'); unpinned it drifts further.
    def drift(r):
        return float((resize(r.x, (34, 45)) - kept.state["pin"]).abs().mean())
    assert drift(kept) < 0.5 * drift(free)
    assert kept.history[-1]["style"] < kept.history[len(kept.history) // 2]["style"] * 1.01
    with pytest.raises(ConfigError, match="pyramid_keep"):
        transfer(c, s, pyramid_keep=-1, **kw)


def test_pinned_level_stopped_and_resumed_equals_uninterrupted(tiny_net):
    c, s = gradient_image(48, 64), gradient_image(64, 64, seed=3)
    kw = dict(feature_net=tiny_net, size=64, iters=12, pyramid_start=32, pyramid_keep=32, device="cpu")
    full = transfer(c, s, **kw)
    # level 1 is the --refine pass at 32 px (its content budget resumes with it), level 2 pinned to it
    for level in (1, 2):
        stopped = transfer(c, s, callback=lambda ev: ev.level == level and ev.iter == 3, **kw)
        assert stopped.stopped == "cancelled" and stopped.state["level"] == level
        assert ("iterate" in stopped.state) == (level == 2) and ("level_state" in stopped.state) == (level == 1)
        resumed = transfer(c, s, checkpoint=stopped.checkpoint(), **kw)
        assert (resumed.image - full.image).abs().max() < 1e-5, level
    # stopped at the first of two pinned levels: the resumed run pins the second as well
    kw["size"] = 96
    full = transfer(c, s, **kw)
    assert [lv["pass"] for lv in full.state["levels"]] == ["transfer", "refine", "detail", "detail"]
    stopped = transfer(c, s, callback=lambda ev: ev.level == 2 and ev.iter == 2, **kw)
    resumed = transfer(c, s, checkpoint=stopped.checkpoint(), **kw)
    assert (resumed.image - full.image).abs().max() < 1e-5


def test_cli_boolean_options_turn_off_and_on(tmp_path):
    """--pyramid-detail defaults to on: --no-pyramid-detail must reach the config (a plain flag could not)."""
    from stylegram.cli import main
    from stylegram.io.image import save_image
    img = tmp_path / "in.png"
    save_image(gradient_image(48, 48, 5), img)
    for flag, want in (("--no-pyramid-detail", False), ("--pyramid-detail", True)):
        rep = tmp_path / f"r{want}.json"
        with pytest.raises(SystemExit) as e:
            main(["transfer", str(img), str(img), "-o", str(tmp_path / f"o{want}.png"), "--net", "random-tiny",
                  "--size", "48", "--iters", "2", "--pyramid-start", "32", flag, "--report", str(rep), "-q"])
        assert e.value.code == 0
        assert json.loads(rep.read_text())["params"]["pyramid_detail"] is want


def test_flat_photo_runs_with_the_default_preset(tiny_net):
    """A photo of one colour has no structure for the correlation content loss to normalize (its
    floors: 1% of the features' energy, 1e-12 for the output's): the run stays finite and its loss falls."""
    c, s = torch.full((1, 3, 48, 64), 0.5), gradient_image(64, 64, 3)
    # balanced starts from the photo mixed with noise; subtle from the flat photo itself, whose
    # features have next to no structure for the correlation to normalize
    for preset in ("balanced", "subtle"):
        r = transfer(c, s, feature_net=tiny_net, size=64, iters=6, pyramid_start=32, preset=preset)
        assert r.config.content_norm == "correlation"
        assert torch.isfinite(r.image).all() and all(torch.isfinite(torch.tensor(h["total"])) for h in r.history)
        first = [h["total"] for h in r.history if h["level"] == 0]
        assert first[-1] < first[0], preset


def test_too_small_texture_speaks_of_the_texture(tiny_net):
    # a texture has no content image; the refusal must not speak of one
    with pytest.raises(InputError, match=r"^texture: at --size 20 the texture is 20 x 20 px, but layer relu\d_\d needs "
                                         r"at least \d+ px on each side; raise --size$"):
        texture(gradient_image(64, 64, 7), size=20, net="vgg16-hed", iters=1)
