"""The refinement pass with fresh random directions every CHUNK iterations (2026-11-29).

Question: the pass draws one set of nC directions per layer and keeps it, so that L-BFGS sees one
function. Along those directions relu4_1 matches better than along others (0.266 against 0.28 to
0.29 on tubingen x starry_night): the pass fits a few hundred marginals, not the distribution.
Heitz et al. draw new directions at every step. Here the pass runs in chunks of CHUNK iterations,
each chunk a new draw (a new --seed) and a fresh L-BFGS, all chunks under the first chunk's
content cap (the pyramid image's content loss + --refine-slack), so that the total budget is the
default's.

  PYTHONPATH=src python bench/results/quality/refine/resample.py TAG CONTENT STYLE INIT ITERS CHUNK
  e.g. tw_r20 tubingen.jpg woman-with-hat-matisse.jpg bench/results/quality/pyramid_tubingen_woman.png 100 20
"""
import json
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(1)
import stylegram.objective as OB
from stylegram import transfer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judged import SHARED, judge_with_layers  # noqa: E402

tag, content, style, init, iters, chunk = sys.argv[1:7]
iters, chunk = int(iters), int(chunk)
D = SHARED / "data" / "images"
CAP: dict = {}
_part = OB.Objective.content_part


def content_part(self, jc):
    if self.content_slack is not None:
        if "cap" in CAP and self.content_cap is None:
            self.content_cap = CAP["cap"]  # later chunks keep the first chunk's budget
        out = _part(self, jc)
        CAP.setdefault("cap", self.content_cap)
        return out
    return _part(self, jc)


OB.Objective.content_part = content_part
out = Path("/tmp/rs")
out.mkdir(exist_ok=True)
t, evals, start = time.perf_counter(), 0, init
for i in range(0, iters, chunk):
    r = transfer(str(D / content), str(D / style), size=512, init=start, iters=0, pyramid_start=0,
                 refine=min(chunk, iters - i), seed=i // chunk)
    start = out / f"{tag}_{i}.png"
    r.save(start)
    evals += r.evals
name = out / f"{tag}.png"
r.save(name)
figures, per = judge_with_layers(D / content, D / style, name)
print(json.dumps({"out": str(name), "start": init, "iters": iters, "kw": {"chunk": chunk, "cap": CAP.get("cap"), "script": "resample.py"},
                  "judge": figures, "per_layer": per, "secs": round(time.perf_counter() - t),
                  "evals": evals, "date": "2026-11-29"}), flush=True)
