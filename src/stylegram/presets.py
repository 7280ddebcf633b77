"""Named, frozen settings for ``stylegram transfer --preset``.

A preset fills in the options a user did not give; options given explicitly always win. Every
preset's weights are resolution-independent: the content loss is a correlation (a ratio of sums
over the same positions) and the Gram targets are G/(2 N nC), per position, and the pyramid decides the
layout at the same small sizes whatever the output size, so one preset gives the same look at
256 px and at 2048 px. ``classic`` is the foundation's single-level run (TransferConfig's own
defaults), kept for comparison.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .errors import choices_error

DEFAULT_PRESET = "balanced"

# Calibrated with ../shared/bench/judge.py at 512 px (bench/quality.py; figures in
# bench/results/quality/README.md). With the course's normalizations the style term at the content
# image is ~1e5 x beta and the content term at most ~30, so the single-level default (beta 100)
# keeps the content only through its start image and few iterations. In the pyramid beta truly
# sets the balance, and it starts at 256 px: from 128 px the final level gets too few iterations
# to bring back the detail lost at the small levels (judge's content 0.38 instead of 0.14).
# The content loss compares the photo's relu4_2 structure only: 2 (1 - the correlation of the
# output's and the photo's feature maps, each centered per channel) (--content-norm correlation).
# Centered, one beta stylizes a busy photo and a quiet one alike: with the course's content loss
# beta 0.01 judged content 0.141 on tubingen but 0.085 on astronaut, and with the uncentered
# energy (relative) the night sky of hubble_deep_field, 63% of whose energy is the channels'
# means, lost more of its structure than tubingen (0.289 against 0.160). Scale-free, it lets the
# style term change the features' contrast, which ||a(G) - a(C)||^2 / ||a(C) - means||^2
# (centered) held to the photo's: at the same content figure on tubingen x starry_night (0.163)
# the judge's swd fell from 0.237 to 0.210.
# balanced and strong start from the photo half mixed with uniform noise (init blend 0.5): the
# noise gives the optimizer texture to shape into the painting's strokes, where the photo's flat
# areas would stay flat. On astronaut x starry_night that took the judge's swd from 0.303 to 0.243
# at about the same content figure (0.101 -> 0.105). subtle starts from the photo itself.
# Figures of balanced against the plain reference on every pair: bench/results/quality/README.md.
# balanced and strong end with 100 iterations of --refine at 512 px (or the output size below it):
# the sliced Wasserstein loss on relu1_1..relu4_1 pulls the whole distribution of the features
# towards the painting's, which the Gram loss (second moments only) leaves apart, while the content
# loss may rise by at most 0.018 (--refine-slack; 0.009 of correlation). On tubingen x starry_night
# that took the judge's swd from 0.201 to 0.120 at content 0.152 -> 0.162, and on hubble_deep_field
# x starry_night from 0.166 to 0.091 (0.248 -> 0.257). The slack is the largest that keeps the
# latter within the plain reference's content figure (0.258), the tightest of the twelve pairs.
# It costs about as much as the pyramid before it (114 s against 109 s at 512 px on two cores in
# float32, 84 s against 64 s in bf16); --refine 0 gives the pyramid's result alone.
# The presets run in float32 (TransferConfig's precision): with the net in bf16 the whole run is
# about 1.4x faster, but the content figure rises on ten of twelve pairs and hubble_deep_field x
# starry_night's passes the reference's (bench/results/quality/precision_bf16/README.md).
_PYRAMID = {"pyramid_start": 256, "iters": 200, "alpha": 1.0, "optimizer": "lbfgs"}
_NOISY = {**_PYRAMID, "init": "blend", "init_noise": 0.5, "content_norm": "correlation"}
_REFINED = {**_NOISY, "refine": 100, "refine_slack": 0.018}
PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "subtle": MappingProxyType({**_PYRAMID, "init": "content", "content_norm": "correlation", "beta": 0.0004}),
    "balanced": MappingProxyType({**_REFINED, "beta": 0.0012}),
    "strong": MappingProxyType({**_REFINED, "beta": 0.012}),
    # The sliced Wasserstein style loss (losses.sliced_w2) matches the whole distribution of each
    # layer's features, not only its Gram matrix, and with --style-norm distance each layer pulls
    # by its share of the way from the photo to the painting: on tubingen x starry_night 0.136 /
    # 0.056 / 0.190 against balanced's 0.153 / 0.166 / 0.220 (figures on every pair:
    # bench/results/quality/README.md). Not the default: about 1.8x the time, and the issue keeps
    # the course's Gram loss as the default loss.
    "sliced": MappingProxyType({**_NOISY, "beta": 1.2, "style_loss": "swd", "style_norm": "distance"}),
    "classic": MappingProxyType({"pyramid_start": 0}),
})

# What a texture starts from (``texture``), here with the other settings rather than beside the
# engine: `stylegram texture --help` shows its iterations without importing torch.
TEXTURE_DEFAULTS = {"init": "noise", "pyramid_start": 128, "iters": 200, "beta": 1.0, "alpha": 0.0}


def preset_options(name: str) -> dict[str, Any]:
    """The option values preset ``name`` sets (a copy); raises ConfigError listing the presets."""
    if name not in PRESETS:
        raise choices_error("preset", name, PRESETS)
    return dict(PRESETS[name])


def preset_config(name: str = DEFAULT_PRESET, base: Any = None, **explicit: Any) -> Any:
    """A TransferConfig: ``base`` (default TransferConfig()) overlaid with the preset, then with the
    options given explicitly."""
    from .config import TransferConfig
    base = base if base is not None else TransferConfig()
    return dataclasses.replace(base, **{**preset_options(name), **explicit, "preset": name})
