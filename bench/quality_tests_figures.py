"""The figures behind issue 3's tested "Done when" lines, printed: the tests assert bounds on them
(tests/test_quality.py), this prints the values, on the same tiny random net and inputs.

  PYTHONPATH=src:tests python bench/quality_tests_figures.py

- tiled vs untiled: relative error of the Gram matrices per layer, and of loss and gradient for
  the Gram, W2 and sliced losses (test_tiled_gram_and_gradient_equal_untiled: < 1e-4);
- colour: chroma error (|mean| + |std| of YIQ's I and Q against the content's) of a plain
  transfer and with --preserve-color luminance / histogram
  (test_color_preservation_keeps_the_content_chroma);
- tileable texture: wrap-around edge difference over interior difference, tileable and not
  (test_tileable_texture_has_no_seam).
"""
from __future__ import annotations

import json

import torch

from conftest import gradient_image
from stylegram import transfer
from stylegram.color import rgb_to_yiq
from stylegram.texture import texture
from stylegram.tiling import TiledEvaluator, image_statistics
from stylegram.nets.random import random_vgg
from test_quality import LAYERS, _coloured, _objective, _seam_ratio, rel


def main() -> None:
    torch.manual_seed(0)  # as tests/conftest.py's autouse fixture
    net = random_vgg("vgg16", seed=0, width=0.125)  # the tests' tiny_net
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 96, 120, generator=g), torch.rand(1, 3, 80, 96, generator=g)
    x = torch.rand(1, 3, 96, 120, generator=g)
    whole, _ = image_statistics(net, x, list(LAYERS), [], None)
    tiled, _ = image_statistics(net, x, list(LAYERS), [], 32)
    out = {"tiled_gram_rel_error": {l: rel(tiled[l][1], whole[l][1]) for l in LAYERS}, "tiled_loss_and_grad": {}}
    for kind in ("gram", "w2", "swd"):
        obj = _objective(net, content, style, kind, None, "course" if kind != "swd" else "relative", "correlation")
        xr = x.clone().requires_grad_(True)
        terms = obj.terms(net(xr, obj.layers), xr)
        (grad,) = torch.autograd.grad(terms["total"], xr)
        tterms, tgrad = TiledEvaluator(net, obj, x.shape, tile=32).loss_and_grad(x)
        want = float(terms["total"].detach())
        out["tiled_loss_and_grad"][kind] = {"loss_rel_error": abs(float(tterms["total"]) - want) / abs(want),
                                            "grad_rel_error": rel(tgrad, grad)}

    c, s = _coloured(48, 64, (0.9, 0.3, 0.1), 0), _coloured(64, 64, (0.1, 0.3, 0.95), 3)
    chroma = lambda im: rgb_to_yiq(im)[:, 1:].reshape(2, -1)  # noqa: E731
    cc = chroma(c)
    err = lambda a: float((a.mean(1) - cc.mean(1)).abs().sum() + (a.std(1) - cc.std(1)).abs().sum())  # noqa: E731
    out["chroma_error"] = {
        mode: err(chroma(transfer(c, s, feature_net=net, size=64, iters=15, preset="classic", beta=1e6,
                                  preserve_color=mode).image))
        for mode in ("none", "luminance", "histogram")}

    st = gradient_image(64, 64, 7)
    out["seam_ratio"] = {
        name: _seam_ratio(texture(st, size=64, tileable=flag, feature_net=net, iters=16, pyramid_start=32, seed=1).image)
        for name, flag in (("tileable", True), ("not_tileable", False))}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
