"""Small frozen records passed between the layers of stylegram."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class LayerInfo:
    """Metadata of one named layer of a feature net.

    ``jump`` is the distance in input pixels between neighbouring map positions (the cumulative
    stride), ``rf_size`` the side of a position's receptive field in input pixels, and ``rf_start``
    the input coordinate of the centre of map position 0's receptive field (may be negative:
    padding); the same along every spatial axis and for every channel (unit) of the layer.
    """

    name: str
    channels: int
    jump: int
    rf_size: int
    rf_start: float

    def elements(self, spatial: "Sequence[int]") -> int:
        """Values in this layer's output for one input of ``spatial`` px (its channels times each
        side over ``jump``, at least 1): what a memory estimate counts per layer."""
        n = self.channels
        for s in spatial:
            n *= max(1, int(s) // self.jump)
        return n


@dataclass(frozen=True)
class Iterate:
    """One step of an optimization, as reported to callbacks (progress bars, previews, the studio).

    Loss values are Python floats. ``image`` is the current estimate, shape (1, C, *spatial), values
    in the media's range; it is the live tensor, so a callback that keeps it must clone it.
    ``schedule``: where the engine knows them, (iterations, longest side in px) of every level of
    the run, so a progress bar can give the whole run's time left; () where it does not.
    """

    iter: int
    iters: int
    evals: int
    seconds: float
    losses: dict[str, float]
    image: torch.Tensor | None = field(default=None, repr=False)
    level: int = 0
    levels: int = 1
    note: str = ""
    schedule: tuple[tuple[int, int], ...] = ()
