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


def plot_history(history: Sequence[dict], path: str | os.PathLike, *, title: str = "stylegram: loss per iteration",
                 terms: Sequence[str] = ("content", "style", "tv", "total")) -> None:
    """Plot each loss term of ``history`` (log scale) against the iteration, as PNG/SVG/PDF."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.subplots()
    xs = [h["iter"] for h in history]
    for t in terms:
        ys = [h.get(t, 0.0) for h in history]
        if any(y > 0 for y in ys):
            ax.plot(xs, ys, label=t)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (weighted terms unweighted)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=suffix))
