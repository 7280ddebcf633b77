"""The refinement pass from classic's image instead of the pyramid's, as it ran on 2026-11-28.

Question: does a start nearer the painting (classic: content 0.65, swd 0.107-0.146) let the pass
keep classic's relu4_1 strokes while it pulls the content figure back under the reference's?
The pass's content budget is normally relative (the start's content loss + --refine-slack); here it
is absolute: `cap`, in the correlation loss's units (2 x the judge's content figure), set by
patching Objective.content_part. Answer (docs/quality.md): no, it ends where the pyramid's start does.

  PYTHONPATH=src python bench/results/quality/refine/from_classic.py TAG CONTENT STYLE INIT CAP ITERS
  e.g. tw tubingen.jpg woman-with-hat-matisse.jpg bench/results/quality/classic_tubingen_woman.png 0.242 200
"""
import json
import resource
import sys
import time
from pathlib import Path

import stylegram.objective as O
from stylegram import transfer

tag, content, style, init, cap, iters = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
out_dir = Path("/tmp/from_classic")
out_dir.mkdir(exist_ok=True)
orig = O.Objective.content_part


def capped(self, jc):
    if self.content_slack is not None and self.content_cap is None:
        self.content_cap = cap  # absolute, instead of the start's loss + slack
    return orig(self, jc)


O.Objective.content_part = capped
images = Path(__file__).resolve().parents[5] / "shared" / "data" / "images"
t = time.perf_counter()
r = transfer(str(images / content), str(images / style), size=512, init=init, iters=0, pyramid_start=0, refine=iters)
name = out_dir / f"{tag}_{Path(init).stem}_cap{cap}_r{iters}.png"
r.save(name)
print(json.dumps({"out": str(name), "evals": r.evals, "wall": time.perf_counter() - t,
                  "cpu": resource.getrusage(resource.RUSAGE_SELF).ru_utime}), flush=True)
