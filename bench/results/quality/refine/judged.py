"""The judge's figures and its swd per layer for one image: shared by the refinement experiments.

  from judged import judge_with_layers
  figures, per_layer = judge_with_layers(CONTENT, STYLE, IMAGE)   # paths; judged at 512 px
"""
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SHARED = Path(__file__).resolve().parents[5] / "shared"
LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]


def judge_with_layers(content: Path, style: Path, image: Path) -> tuple[dict, list[float]]:
    """(../shared/bench/judge.py's content / gram / swd, its swd ratio per layer relu1_1..relu4_1)."""
    sys.path.insert(0, str(SHARED / "bench"))
    import judge as J, vgg16_hed  # noqa: E401
    net = vgg16_hed.layers()
    fc, fs = J.features(net, J.load(content, 512)), J.features(net, J.load(style, 512))
    x = torch.from_numpy(np.asarray(Image.open(image).convert("RGB")).copy()).permute(2, 0, 1)[None].float() / 255
    fo = J.features(net, x)
    per = [round(J.swd(fo[l], fs[l], torch.Generator().manual_seed(0))
                 / J.swd(fc[l], fs[l], torch.Generator().manual_seed(0)), 3) for l in LAYERS]
    return J.judge(net, fc, fs, fo), per


def refine_and_judge(tag: str, content: str, style: str, init: str, iters: int, kw: dict, out_dir: str) -> None:
    """The refinement pass alone (``iters`` iterations at 512 px from the image ``init``) as the
    engine is patched by the calling script, its image saved as OUT_DIR/TAG.png and judged; prints
    one JSON line for runs.jsonl (``kw`` says what the script changed)."""
    import json
    import time

    from stylegram import transfer

    images = SHARED / "data" / "images"
    out = Path(out_dir)
    out.mkdir(exist_ok=True)
    t = time.perf_counter()
    r = transfer(str(images / content), str(images / style), size=512, init=init, iters=0, pyramid_start=0,
                 refine=int(iters))
    name = out / f"{tag}.png"
    r.save(name)
    figures, per = judge_with_layers(images / content, images / style, name)
    print(json.dumps({"out": str(name), "start": init, "iters": int(iters), "kw": kw, "judge": figures,
                      "per_layer": per, "secs": round(time.perf_counter() - t), "evals": r.evals,
                      "date": time.strftime("%Y-%m-%d")}), flush=True)
