"""Run reports and loss-curve plots: the files the shells write beside an output."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from .io.image import write_atomic


def write_json(data: dict, path: str | os.PathLike) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, default=str)
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def history_segments(history: Sequence[dict]) -> list[tuple[int, list[int], list[dict]]]:
    """Split a run's history into its levels, laid end to end: [(level, xs, points)], xs running on
    from where the last level ended (a pyramid's iterations restart at 1 on every level)."""
    groups: dict[int, list[dict]] = {}
    for h in history:
        groups.setdefault(int(h.get("level", 0)), []).append(h)
    segments, offset = [], 0
    for k in sorted(groups):
        xs = [offset + int(h["iter"]) for h in groups[k]]
        segments.append((k, xs, groups[k]))
        offset = max(xs)
    return segments


def level_labels(levels: Sequence[dict]) -> list[str]:
    """Names for ``plot_history``'s levels from a transfer's per-level records (``state['levels']``:
    level, shape (h, w), pass): e.g. ['transfer 256 x 171 px', 'transfer 362 x 241 px', 'refine 362 x 241 px']."""
    names = {int(lv["level"]): f"{lv.get('pass', 'level')} {lv['shape'][1]} x {lv['shape'][0]} px" for lv in levels}
    return [names.get(k, f"level {k + 1}") for k in range(max(names) + 1)] if names else []


# Legend names: the history's content, style and tv are the terms before alpha, beta and gamma, and
# 'total' is their weighted sum, so a style term far above the total is no error; the plot says so.
TERM_LABELS = {"content": "J_content", "style": "J_style", "tv": "TV",
               "total": "total J = alpha J_content + beta J_style + gamma TV (minimized)"}
# The --refine level minimizes another total: its J_content is a budget (only what lies above the
# cap counts) and its J_style the sliced one at beta 1, so there the total follows J_style alone.
REFINE_TOTAL = "\non the refine level: J_style + gamma TV, J_content kept under a budget"


def plot_history(history: Sequence[dict], path: str | os.PathLike, *, title: str = "stylegram: loss per iteration",
                 terms: Sequence[str] = ("content", "style", "tv", "total"),
                 levels: Sequence[str] | None = None) -> None:
    """Plot each loss term of ``history`` (log scale) against the iteration, as PNG/SVG/PDF.

    A pyramid's levels come one after another, each its own stretch of line: their losses differ in
    scale (and the refinement pass's in kind), so no line joins two levels. A dotted line and
    ``levels[k]`` (default "level k+1") mark where level k starts."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.subplots()
    segments = history_segments(history)
    colours: dict[str, str] = {}
    refined = any(str(n).startswith("refine") for n in levels or [])
    for k, xs, points in segments:
        if len(segments) > 1:
            ax.axvline(xs[0], color="0.6", linestyle=":", linewidth=1)
            name = levels[k] if levels is not None and k < len(levels) else f"level {k + 1}"
            ax.text(xs[0], 0.98, name, transform=ax.get_xaxis_transform(), fontsize=7, color="0.3", rotation=90,
                    ha="left", va="top", bbox={"facecolor": "white", "alpha": 0.6, "edgecolor": "none", "pad": 1})
        for t in terms:
            ys = [h.get(t, 0.0) for h in points]
            if any(y > 0 for y in ys):
                (line,) = ax.plot(xs, ys, color=colours.get(t), label=None if t in colours else
                                    TERM_LABELS.get(t, t) + (REFINE_TOTAL if t == "total" and refined else ""))
                colours.setdefault(t, line.get_color())
    ax.set_yscale("log")
    ax.set_xlabel("iteration" if len(segments) < 2 else "iteration, levels one after another")
    ax.set_ylabel("loss (terms before their weights)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    # below the axes: inside, the legend covered the pyramid levels' names and the curves' starts
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=suffix))
