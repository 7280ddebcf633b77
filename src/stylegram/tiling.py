"""Tile-by-tile evaluation of the objective and its gradient, for outputs too large for one pass.

The style statistics (Gram matrices, moments) are sums over positions and the content loss is a
sum over positions (or, for the correlation content loss, a function of three such sums), so they
are accumulated tile by tile. Each tile is run through the net with a
margin of the deepest layer's receptive field around it, and only the activations whose receptive
fields lie inside the padded tile (or are cut by the image border exactly as on the whole image)
are kept, so the sums are exact: there is nothing to blend and no seam. Tile corners sit on
multiples of the deepest layer's stride so that pooling windows line up with the whole image's.

The gradient takes two passes per evaluation: the first (no autograd) sums the statistics S, from
which dJ/dS follows; the second runs each tile with autograd and back-propagates
<dJ/dS, S_tile> + alpha J_content(tile) (or alpha <dJ_content/dS_c, S_c,tile> for the content's
statistics S_c), whose gradients add up to dJ/dx. Memory is that of one
padded tile, whatever the output size.

The sliced Wasserstein loss sorts every position's projection on each of its directions, so it
is not a sum of tile statistics; its "statistic" is the table of all projections P (K directions
x N positions), which the first pass fills tile by tile. dJ/dP follows from one sort of P
(``losses.sliced_w2_and_grad``) and the second pass adds <dJ/dP, P_tile> like the others. That
table (4 bytes per direction and position) is the one part of the memory that grows with the
output.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .errors import ConfigError
from .losses import sliced_w2_and_grad, tv_loss
from .nets import FeatureNet
from .objective import Objective


@dataclass(frozen=True)
class Tile:
    """interior (y0, y1, x0, x1): the output pixels this tile owns; padded: the region run through
    the net (interior plus the margin, clipped to the image)."""

    interior: tuple[int, int, int, int]
    padded: tuple[int, int, int, int]


def tile_geometry(net: FeatureNet, layers: Sequence[str]) -> tuple[int, int]:
    """(align, margin) in pixels for ``layers``: align is the deepest stride; margin covers half the
    largest receptive field plus one stride (a field centred on its unit, as in VGG's padded
    chain), or more where a field lies off its unit (unpadded convolutions: a unit's field starts
    at it and reaches rf - 1 px on), rounded up to a multiple of align."""
    def reach(info) -> float:
        half = (info.rf_size - 1) / 2
        # From a tile's first owned pixel back to its unit's field start, and from its last
        # owned unit's field end on, beyond the owned pixels.
        return max(info.rf_size / 2 + info.jump, half - info.rf_start + 1, info.rf_start + half - info.jump + 1)

    align = max(net.info[l].jump for l in layers)
    return align, int(math.ceil(max(reach(net.info[l]) for l in layers) / align) * align)


def make_tiles(h: int, w: int, tile: int, align: int, margin: int) -> list[Tile]:
    """Cover an h x w image with interiors of about ``tile`` px (multiples of ``align``)."""
    step = max(align, (int(tile) // align) * align)

    def cuts(n: int) -> list[tuple[int, int]]:
        edges = list(range(0, n, step))
        spans = [(a, min(a + step, n)) for a in edges]
        if len(spans) > 1 and spans[-1][1] - spans[-1][0] < align:  # a sliver: merge it
            spans[-2] = (spans[-2][0], n)
            spans.pop()
        return spans

    out = []
    for y0, y1 in cuts(h):
        for x0, x1 in cuts(w):
            out.append(Tile((y0, y1, x0, x1), (max(0, y0 - margin), min(h, y1 + margin),
                                               max(0, x0 - margin), min(w, x1 + margin))))
    return out


def _crops(feats: dict[str, torch.Tensor], tile: Tile, net: FeatureNet, image_hw: tuple[int, int],
           full_shape: dict[str, tuple[int, int]]):
    """Crop each layer's activations of a padded tile to the positions the tile owns.
    Returns ({layer: crop}, {layer: (y0, y1, x0, x1) in the whole layer})."""
    y0, y1, x0, x1 = tile.interior
    py0, _, px0, _ = tile.padded
    crops, boxes = {}, {}
    for l, a in feats.items():
        j = net.info[l].jump
        H, W = full_shape[l]
        # A tile at the bottom or right border also owns the positions of the floor-divided remainder.
        gy0, gx0 = y0 // j, x0 // j
        gy1 = H if y1 >= image_hw[0] else y1 // j
        gx1 = W if x1 >= image_hw[1] else x1 // j
        ly0, lx0 = gy0 - py0 // j, gx0 - px0 // j
        crops[l] = a[..., ly0:ly0 + (gy1 - gy0), lx0:lx0 + (gx1 - gx0)]
        boxes[l] = (gy0, gy1, gx0, gx1)
    return crops, boxes


def layer_shapes(net: FeatureNet, layers: Sequence[str], h: int, w: int) -> dict[str, tuple[int, int]]:
    """Spatial shape (rows, columns) of each layer's activation for an h x w input, as the net
    gives it (``net.layer_shapes``: VGG's floor-halving pools and a ResNet's ceil-halving strided
    convolutions alike)."""
    return net.layer_shapes(layers, (h, w))


class TiledEvaluator:
    """Evaluates an Objective and its gradient on an image (1, 3, H, W) tile by tile."""

    def __init__(self, net: FeatureNet, objective: Objective, shape: Sequence[int], tile: int):
        self.net, self.objective = net, objective
        self.layers = objective.layers
        h, w = shape[-2:]
        self.align, self.margin = tile_geometry(net, self.layers)
        self.tiles = make_tiles(h, w, tile, self.align, self.margin)
        self.image_hw = (h, w)
        self.full_shape = layer_shapes(net, self.layers, h, w)
        self.full_positions = {l: s[0] * s[1] for l, s in self.full_shape.items()}

    def _run(self, x: torch.Tensor, tile: Tile):
        py0, py1, px0, px1 = tile.padded
        feats = self.net(x[..., py0:py1, px0:px1], self.layers)
        return _crops(feats, tile, self.net, self.image_hw, self.full_shape)

    @torch.no_grad()
    def stats(self, x: torch.Tensor) -> tuple[list[tuple], list[tuple], dict[int, torch.Tensor]]:
        """The whole image's statistics, summed tile by tile: the style terms' (``partial_stats``),
        for a content loss that needs them the content layers' (``content_stats``), and for each
        sliced term (by index) every position's projections (K, H, W), gathered tile by tile."""
        style, content = None, None
        sliced = {i: x.new_zeros((t.directions.shape[1], *self.full_shape[t.layer]), dtype=torch.float32)
                  for i, t in enumerate(self.objective.style_terms) if t.kind == "swd"}
        for tile in self.tiles:
            crops, boxes = self._run(x, tile)
            style = _add(style, self.objective.partial_stats(crops, boxes, self.full_positions))
            content = _add(content, self.objective.content_stats(crops, boxes))
            for i, buf in sliced.items():
                t = self.objective.style_terms[i]
                y0, y1, x0, x1 = boxes[t.layer]
                buf[:, y0:y1, x0:x1] = self.objective.project(t, crops[t.layer])
        return style or [], content or [], sliced

    def _sliced_value_and_grad(self, sliced: dict[int, torch.Tensor]) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Each sliced term's weighted loss, summed, and its gradient in the projections (K, H, W)
        (computed over the projections' own buffers)."""
        total = torch.zeros(())
        grads = {}
        for i, proj in sliced.items():
            t = self.objective.style_terms[i]
            k = proj.shape[0]
            w = None if t.guide is None else t.guide.reshape(-1)
            loss, g = sliced_w2_and_grad(proj.reshape(k, -1), t.sorted, w)
            value = t.reported(loss)
            if t.root:
                g.mul_(0.5 / float(value))  # d sqrt(L) = dL / (2 sqrt(L))
            total = total + t.weight * value
            grads[i] = g.mul_(t.weight).reshape(proj.shape)
        return total, grads

    def loss_and_grad(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(terms, dJ/dx) at x; terms as Objective.terms: 'content', 'style', 'tv', 'total'."""
        obj = self.objective
        x = x.detach()
        stats, cstats, sliced = self.stats(x)
        js, dstats = _value_and_grad(obj.style_from_stats, stats)
        if sliced:
            jsw, dsliced = self._sliced_value_and_grad(sliced)
            js = js + jsw
        else:
            dsliced = {}
        # J_content is reported even at alpha 0 (as on the whole image); only its gradient is skipped.
        global_content = obj.content_is_global and bool(obj.content_targets)
        if global_content:
            jc, dcstats = _value_and_grad(obj.content_from_stats, cstats)
            # d(content_part)/dJ_content: alpha, or the budget's slope above its cap
            with torch.enable_grad():
                jc_var = jc.detach().requires_grad_(True)
                jc_part = obj.content_part(jc_var)
                c_scale = float(torch.autograd.grad(jc_part, jc_var)[0])
        elif obj.content_slack is not None and obj.content_targets:
            raise ConfigError("a content budget (--refine) in tiles needs --content-norm correlation, whose loss "
                              "tiles sum as statistics; use it, or a --size that fits one pass")
        else:
            jc, dcstats, c_scale = x.new_zeros(()), [], obj.alpha
        grad = torch.zeros_like(x)
        for tile in self.tiles:
            py0, py1, px0, px1 = tile.padded
            xt = x[..., py0:py1, px0:px1].clone().requires_grad_(True)
            with torch.enable_grad():
                feats = self.net(xt, self.layers)
                crops, boxes = _crops(feats, tile, self.net, self.image_hw, self.full_shape)
                surrogate = xt.new_zeros(())
                if obj.style_terms:
                    surrogate = surrogate + _dot(dstats, obj.partial_stats(crops, boxes, self.full_positions))
                for i, g in dsliced.items():
                    # <dJ/dP, P_tile>: the tile's positions' share of the sliced loss's gradient
                    t = obj.style_terms[i]
                    y0, y1, x0, x1 = boxes[t.layer]
                    surrogate = surrogate + (g[:, y0:y1, x0:x1] * obj.project(t, crops[t.layer])).sum()
                if global_content and c_scale:
                    # <dJc/dS, S_tile>: the content loss's statistics, like the style's
                    surrogate = surrogate + c_scale * _dot(dcstats, obj.content_stats(crops, boxes))
                elif obj.content_targets and not global_content:
                    c = obj.content_partial(crops, boxes)
                    if obj.alpha:
                        surrogate = surrogate + obj.alpha * c
                    jc = jc + c.detach()
                if surrogate.requires_grad:
                    (g,) = torch.autograd.grad(surrogate, xt)
                    grad[..., py0:py1, px0:px1] += g
        tv = x.new_zeros(())
        if obj.gamma:
            with torch.enable_grad():
                xg = x.clone().requires_grad_(True)
                tv_t = tv_loss(xg)
                (g,) = torch.autograd.grad(obj.gamma * tv_t, xg)
            grad += g
            tv = tv_t.detach()
        js = js.detach().float()
        total = (jc_part.detach() if global_content else obj.alpha * jc) + js + obj.gamma * tv
        return {"content": jc, "style": js, "tv": tv, "total": total}, grad


def _add(total: list[tuple] | None, part: list[tuple]) -> list[tuple]:
    """Element-wise sum of two lists of statistics tuples (entries may be None)."""
    if total is None:
        return part
    return [tuple(None if a is None else a + b for a, b in zip(t, p)) for t, p in zip(total, part)]


def _flat(stats: list[tuple]) -> list[torch.Tensor]:
    return [t for group in stats for t in group if t is not None]


def _value_and_grad(fn, stats: list[tuple]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """fn(stats) and its gradient with respect to every statistic (zeros where unused)."""
    leaves = [tuple(None if t is None else t.clone().requires_grad_(True) for t in group) for group in stats]
    flat = _flat(leaves)
    with torch.enable_grad():
        value = fn(leaves)
        grads = torch.autograd.grad(value, flat, allow_unused=True) if flat and value.requires_grad else [None] * len(flat)
    return value.detach().float(), [torch.zeros_like(t) if g is None else g for t, g in zip(flat, grads)]


def _dot(grads: list[torch.Tensor], part: list[tuple]) -> torch.Tensor:
    """sum over statistics of <dJ/dS, S_tile>: its gradient in the tile's pixels is the tile's share of dJ/dx."""
    return sum(((g * p).sum() for g, p in zip(grads, _flat(part))), torch.zeros(()))


class _TiledLoss(torch.autograd.Function):
    """Makes a TiledEvaluator look like an ordinary differentiable loss to the optimizer loop."""

    @staticmethod
    def forward(ctx, x, evaluator, box):
        terms, grad = evaluator.loss_and_grad(x)
        ctx.save_for_backward(grad)
        box["terms"] = terms
        return terms["total"].clone()

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad_out * grad, None, None


def tiled_loss_fn(evaluator: TiledEvaluator) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """loss_fn(x) -> terms for ``optimize``: 'total' carries the tiled gradient through autograd."""
    def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        box: dict = {}
        total = _TiledLoss.apply(x, evaluator, box)
        return {**{k: v for k, v in box["terms"].items() if k != "total"}, "total": total}
    return loss_fn


@torch.no_grad()
def image_statistics(net: FeatureNet, x: torch.Tensor, moment_layers: Sequence[str], keep_layers: Sequence[str],
                     tile: int | None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Without autograd: ({layer: layer_moments} for ``moment_layers``, {layer: whole activation}
    for ``keep_layers``) of x (1, 3, H, W), tile by tile when ``tile`` is given (exactly equal)."""
    from .objective import add_moments, layer_moments
    layers = list(dict.fromkeys(list(moment_layers) + list(keep_layers)))
    if not layers:
        return {}, {}
    h, w = x.shape[-2:]
    if not tile:
        feats = net(x, layers)
        return ({l: layer_moments(feats[l]) for l in moment_layers}, {l: feats[l] for l in keep_layers})
    align, margin = tile_geometry(net, layers)
    shapes = layer_shapes(net, layers, h, w)
    moments: dict = {l: None for l in moment_layers}
    kept: dict[str, torch.Tensor] = {}
    for t in make_tiles(h, w, tile, align, margin):
        py0, py1, px0, px1 = t.padded
        crops, boxes = _crops(net(x[..., py0:py1, px0:px1], layers), t, net, (h, w), shapes)
        for l in moment_layers:
            moments[l] = add_moments(moments[l], layer_moments(crops[l]))
        for l in keep_layers:
            if l not in kept:
                kept[l] = x.new_zeros((1, crops[l].shape[1], *shapes[l]))
            y0, y1, x0, x1 = boxes[l]
            kept[l][..., y0:y1, x0:x1] = crops[l]
    return moments, kept
