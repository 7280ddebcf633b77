"""What the studio's transfer form may ask for, and how it becomes ``transfer(**options)``.

The form has a handful of fields (preset, size, iterations, refinement, style strength, colour,
seed, net);
everything else comes from ``TransferConfig``'s defaults, so the studio and the CLI agree.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import MAX_SEED, ConfigError, choices_error
from ..printsize import MAX_DPI, MIN_DPI, check_dpi

# Named starting points for the form. Each only overrides TransferConfig fields; the form's own
# size/iters fields win over the preset's.
PRESETS: dict[str, dict[str, Any]] = {
    "draft": {"optimizer": "adam", "iters": 150, "size": 256},
    "balanced": {"optimizer": "lbfgs", "iters": 300, "size": 512},
    "fine": {"optimizer": "lbfgs", "iters": 500, "size": 768},
}
DEFAULT_PRESET = "balanced"
SOURCE_RE = re.compile(r"^(upload:[0-9a-f]{32}|example:[a-z0-9_]{1,40})$")


@dataclass(frozen=True)
class Limits:
    """What one studio request may ask for: bounds keep a shared machine responsive."""

    max_size: int = 2048
    max_iters: int = 5000
    min_size: int = 32


def engine_option(name: str) -> dataclasses.Field | None:
    """TransferConfig's field ``name``, or None where this engine has no such option: the form
    offers a field only when the engine behind it takes it."""
    from ..transfer import TransferConfig
    return next((f for f in dataclasses.fields(TransferConfig) if f.name == name), None)


def presets() -> tuple[dict[str, dict[str, Any]], str]:
    """(presets, default name). The engine's own presets where TransferConfig has a ``preset``
    field with choices (each then only fills the form's size and iterations and is passed on by
    name); otherwise the studio's PRESETS."""
    from ..transfer import TransferConfig
    fld = engine_option("preset")
    choices = tuple(fld.metadata.get("choices", ())) if fld is not None else ()
    if choices:
        from ..presets import preset_options
        return ({name: {"preset": name, "size": TransferConfig.size, "iters": TransferConfig.iters,
                        "refine": int(preset_options(name).get("refine", 0))}
                 for name in choices}, fld.default if fld.default in choices else choices[0])
    return PRESETS, DEFAULT_PRESET


def offline_nets() -> list[str]:
    """Nets the studio offers: 2D nets with the transfer's layers (not the 1D and 3D ones, nor the
    one-layer banks) that need no download (the studio never fetches weights)."""
    from ..nets.registry import default_registry
    from ..transfer import TransferConfig
    reg = default_registry()
    need = {*TransferConfig.content_layers, *dict(TransferConfig.style_layers)}
    return [n for n in reg.names() if reg.get(n).offline and reg.get(n).dims == 2 and need <= set(reg.get(n).layers)]


def form_schema(limits: Limits) -> dict:
    """The form's fields with defaults and bounds, for the page to render."""
    from ..transfer import TransferConfig
    table, default = presets()
    return {
        "presets": {k: {"size": v["size"], "iters": v["iters"], "refine": v.get("refine", 0)} for k, v in table.items()},
        "preset": default,
        "nets": offline_nets(),
        "net": TransferConfig.net,
        "size": {"min": limits.min_size, "max": limits.max_size, "default": table[default]["size"]},
        "iters": {"min": 1, "max": limits.max_iters, "default": table[default]["iters"]},
        # the last --refine pass's iterations; null where the engine has none (the page hides it)
        "refine": ({"min": 0, "max": limits.max_iters, "default": table[default].get("refine", 0)}
                   if engine_option("refine") is not None else None),
        "style_strength": {"min": 0.01, "max": 100.0, "default": 1.0},
        "seed": TransferConfig.seed,
        # the result's resolution (dots per inch), written into its PNG; null: none. The studio's
        # sizes stop at limits.max_size px, so it offers no print size: a dpi tags the file.
        "dpi": ({"min": MIN_DPI, "max": MAX_DPI, "default": None} if engine_option("dpi") is not None else None),
    }


def _bound(x: float) -> str:
    """A limit as the user would type it: whole numbers in full (the seed's 4294967295, which
    ``:g`` wrote as 4.29497e+09, a number one cannot type back), others as ``:g``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _num(params: dict, key: str, kind: type, lo: float, hi: float, default: Any) -> Any:
    v = params.get(key, default)
    # not math.isfinite on a 400-digit int: it overflows converting to float; lo <= v <= hi cannot
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v))
            or (kind is int and int(v) != v)):
        raise ConfigError(f"{key} {v!r}: must be {'an integer' if kind is int else 'a number'} between {_bound(lo)} and {_bound(hi)}")
    if not lo <= v <= hi:
        raise ConfigError(f"{key} {v!r}: must be between {_bound(lo)} and {_bound(hi)}")
    return kind(v)


def parse_job_request(params: Any, limits: Limits) -> tuple[dict, dict]:
    """Check a job request (decoded JSON) and return (form values, transfer options).

    Raises ConfigError (one line) for unknown keys, wrong types and out-of-range values.
    """
    from ..transfer import TransferConfig
    if not isinstance(params, dict):
        raise ConfigError("the request body must be a JSON object")
    allowed = {"content", "style", "preset", "size", "iters", "refine", "style_strength", "preserve_color", "seed", "net",
               "dpi"}
    extra = sorted(set(params) - allowed)
    if extra:
        raise choices_error("field", extra[0], sorted(allowed))
    for role in ("content", "style"):
        src = params.get(role)
        if not isinstance(src, str) or not SOURCE_RE.match(src):
            raise ConfigError(f"{role}: choose an example or upload an image first")
    table, default = presets()
    preset = params.get("preset", default)
    if not isinstance(preset, str) or preset not in table:
        raise choices_error("preset", preset, table)
    base = table[preset]
    form = {
        "content": params["content"], "style": params["style"], "preset": preset,
        "size": _num(params, "size", int, limits.min_size, limits.max_size, base["size"]),
        "iters": _num(params, "iters", int, 1, limits.max_iters, base["iters"]),
        "style_strength": _num(params, "style_strength", float, 0.01, 100.0, 1.0),
        "seed": _num(params, "seed", int, 0, MAX_SEED, 0),
        "preserve_color": params.get("preserve_color", False),
        "net": params.get("net", TransferConfig.net),
    }
    if not isinstance(form["preserve_color"], bool):
        raise ConfigError("preserve_color: must be true or false")
    nets = offline_nets()
    if form["net"] not in nets:
        raise choices_error("net", form["net"], nets)
    options = {k: v for k, v in base.items() if k not in ("size", "iters")}
    base_beta = TransferConfig.beta
    if "preset" in base:  # the engine's preset sets the style weight that the strength scales
        from ..presets import preset_options
        base_beta = preset_options(base["preset"]).get("beta", TransferConfig.beta)
    options.update(size=form["size"], iters=form["iters"], seed=form["seed"], net=form["net"],
                   beta=base_beta * form["style_strength"])
    if "refine" in params:  # the engine's last --refine pass (the presets' own count otherwise)
        if engine_option("refine") is None:
            raise ConfigError("refine: this engine has no refinement pass")
        options["refine"] = form["refine"] = _num(params, "refine", int, 0, limits.max_iters, 0)
    if params.get("dpi") is not None:  # the CLI's check and message (10 to 2400, saying why)
        if engine_option("dpi") is None:
            raise ConfigError("dpi: this engine writes no resolution")
        options["dpi"] = form["dpi"] = check_dpi(params["dpi"])
    color = engine_option("preserve_color")
    if form["preserve_color"] and color is not None:
        # The engine's own colour preservation, where it has one (issue 3).
        choices = color.metadata.get("choices", ())
        options["preserve_color"] = "luminance" if "luminance" in choices else True
    return form, options


def engine_preserves_color() -> bool:
    """True when TransferConfig has its own colour preservation option."""
    return engine_option("preserve_color") is not None
