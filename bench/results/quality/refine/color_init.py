"""The default run started from the photo recoloured towards the painting, as it ran on 2026-11-29.

Question: the default starts its first level from the photo half mixed with noise. The four pairs
it loses to classic lose on relu4_1, but the pass's content budget is shared by all four layers:
if the start already has the painting's colours (the photo's RGB mapped by x' = A x + b so that
its mean and covariance equal the painting's, color.match_color_histogram the other way round),
relu1_1/relu2_1 need less of the budget and more may go to relu4_1. This wraps
transfer._init_image so the blend's photo part is the recoloured photo; everything else is the
default (pyramid, detail band from the original photo, the refinement pass).

  PYTHONPATH=src python bench/results/quality/refine/color_init.py TAG CONTENT STYLE [THREADS]
  e.g. ts tubingen.jpg starry_night.jpg 1
"""
import json
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
import importlib

from stylegram import transfer
from stylegram.color import match_color_histogram
from stylegram.io.image import load_image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judged import SHARED, judge_with_layers  # noqa: E402

T = importlib.import_module("stylegram.transfer")  # the module, which the package's transfer() shadows

tag, content, style = sys.argv[1:4]
D = SHARED / "data" / "images"
painting = load_image(str(D / style), size=256)
_init_image = T._init_image


def init_image(cfg, c, gen):
    if cfg.init == "blend":
        c = match_color_histogram(c, painting)  # the photo given the painting's colour statistics
    return _init_image(cfg, c, gen)


T._init_image = init_image
out = Path("/tmp/color_init")
out.mkdir(exist_ok=True)
t = time.perf_counter()
r = transfer(str(D / content), str(D / style), size=512)
name = out / f"{tag}.png"
r.save(name)
figures, per = judge_with_layers(D / content, D / style, name)
print(json.dumps({"out": str(name), "kw": {"init": "blend of the recoloured photo", "script": "color_init.py"},
                  "judge": figures, "per_layer": per, "secs": round(time.perf_counter() - t),
                  "evals": r.evals, "date": time.strftime("%Y-%m-%d")}), flush=True)
