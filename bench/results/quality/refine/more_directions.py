"""The refinement pass with more random directions on the deep layers, as it ran on 2026-11-29.

Question: the pass matches the painting along one fixed set of nC random directions per layer.
With the judge's own 256 directions the same loss reaches the target (sixth session), with
directions of its own it stops near 0.19 on tubingen x woman-with-hat: the pass may be fitting
its own directions' marginals while the other directions lag. relu4_1 (512 channels, 3072
positions at 512 px) is where the four lost pairs lose. This wraps objective.random_directions so
layers of at least MIN_C channels get MULT x nC directions (the style target's quantiles follow),
and runs the pass from the default's pyramid image.

  PYTHONPATH=src python bench/results/quality/refine/more_directions.py TAG CONTENT STYLE INIT ITERS MULT MIN_C [THREADS]
  e.g. tw_m8 tubingen.jpg woman-with-hat-matisse.jpg bench/results/quality/pyramid_tubingen_woman.png 100 8 256 1
"""
import sys
from pathlib import Path

import torch

torch.set_num_threads(int(sys.argv[8]) if len(sys.argv) > 8 else 2)
import stylegram.objective as OB

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judged import refine_and_judge  # noqa: E402

tag, content, style, init, iters, mult, min_c = sys.argv[1:8]
mult, min_c = int(mult), int(min_c)
_random_directions = OB.random_directions


def random_directions(channels, count, gen):
    return _random_directions(channels, count * (mult if channels >= min_c else 1), gen)


OB.random_directions = random_directions
refine_and_judge(tag, content, style, init, int(iters), {"directions": f"{mult} x nC on layers of >= {min_c} channels", "script": "more_directions.py"}, "/tmp/more_directions")
