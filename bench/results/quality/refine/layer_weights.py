"""The refinement pass with other weights per layer, as it ran on 2026-11-28 (ninth session).

Question: the default's relu1_1..relu3_1 are 2 to 3 times better than classic's and relu4_1 2.7
times worse (tubingen x woman-with-hat 0.108 0.114 0.154 0.393 against 0.191 0.139 0.111 0.144).
The judge averages the four, so could the first three layers carry the pair instead? The pass
weighs its layers equally (transfer.py's refine_weights); this wraps objective.style_targets so the
sliced terms of the pass get WEIGHTS (normalized to sum 1) instead. Answer (docs/quality.md): no,
the first layers are stiff: weights 4,4,2,1 moved them 0.108 0.114 to 0.092 0.103 and relu4_1 went
from 0.393 to 0.434 (swd 0.195 against 0.192).

  PYTHONPATH=src python bench/results/quality/refine/layer_weights.py TAG CONTENT STYLE INIT ITERS WEIGHTS
  e.g. tw_4421 tubingen.jpg woman-with-hat-matisse.jpg bench/results/quality/pyramid_tubingen_woman.png 100 "[4,4,2,1]"
"""
import json
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
import stylegram.objective as OB

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judged import refine_and_judge  # noqa: E402

tag, content, style, init, iters = sys.argv[1:6]
weights = json.loads(sys.argv[6])
_style_targets = OB.style_targets


def style_targets(style_moments, blend, layer_weights, **kw):
    if kw.get("kind") == "swd" and kw.get("norm") == "distance":  # the refinement pass's terms
        layer_weights = {l: w / sum(weights) for l, w in zip(layer_weights, weights, strict=True)}
    return _style_targets(style_moments, blend, layer_weights, **kw)


OB.style_targets = style_targets
refine_and_judge(tag, content, style, init, int(iters), {"refine_weights": weights, "script": "layer_weights.py"}, "/tmp/layer_weights")
