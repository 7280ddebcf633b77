"""Named, frozen settings for ``stylegram transfer --preset``.

A preset fills in the options a user did not give; options given explicitly always win. Every
preset's weights are resolution-independent: the content loss uses the course's 1/(4 N nC)
normalization and the Gram targets G/(2 N nC), both per position, and the pyramid decides the
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

# Measured on the pairs in ../shared/data/images with ../shared/bench/judge.py (see
# bench/quality.py and bench/results/quality/): the three differ in the style weight only, so they
# trade content against style along one axis.
_COMMON = {"pyramid_start": 128, "iters": 400, "alpha": 1.0, "optimizer": "lbfgs", "init": "content"}
PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "subtle": MappingProxyType({**_COMMON, "beta": 1e4}),
    "balanced": MappingProxyType({**_COMMON, "beta": 1e5}),
    "strong": MappingProxyType({**_COMMON, "beta": 1e6}),
    "classic": MappingProxyType({"pyramid_start": 0}),
})


def preset_options(name: str) -> dict[str, Any]:
    """The option values preset ``name`` sets (a copy); raises ConfigError listing the presets."""
    if name not in PRESETS:
        raise choices_error("preset", name, PRESETS)
    return dict(PRESETS[name])


def preset_config(name: str = DEFAULT_PRESET, base: Any = None, **explicit: Any):
    """A TransferConfig: ``base`` (default TransferConfig()) overlaid with the preset, then with the
    options given explicitly."""
    from .transfer import TransferConfig
    base = base if base is not None else TransferConfig()
    return dataclasses.replace(base, **{**preset_options(name), **explicit, "preset": name})
