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
