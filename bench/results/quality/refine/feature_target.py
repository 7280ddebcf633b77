"""Two-stage refinement prototype: (1) the relu4_1 features T* that a free optimization finds
(sliced W2 to the style under the content cap, see feature_bound.py); (2) the image pulled toward T*
at relu4_1 (a feature inversion) while relu1_1..relu3_1 follow the style's distributions
(sliced, distance-normalized) and the content figure stays under the cap. L-BFGS on pixels.
Answer (docs/quality.md): the image's relu4_1 barely moves towards T*; not adopted.

  python feature_target.py CONTENT STYLE INIT CAP ITERS OUT [W4 [FEATURE_STEPS [WLOW]]]"""
import os, sys, tempfile, time, json, torch
import numpy as np
from PIL import Image
from feature_bound import J, vgg16_hed, content_figure, free_features, pair_features, quantile_index
torch.manual_seed(0)
content, style, init, cap, iters, out = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
w4 = float(sys.argv[7]) if len(sys.argv) > 7 else 1.0
bsteps = int(sys.argv[8]) if len(sys.argv) > 8 else 800
wlow = float(sys.argv[9]) if len(sys.argv) > 9 else 1.0  # weight of the sliced terms below relu4_1
net = vgg16_hed.layers()
for _, m in net:
    for p in m.parameters(): p.requires_grad_(False)
seq = []
for name, m in net:
    seq.append((name, m))
    if name == "relu4_2": break
conv42 = dict(net)["conv4_2"]
L = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
c, fc, fs, f0, cc, r = pair_features(net, content, style, init)
x0 = Image.open(init).convert("RGB").resize((c.shape[3], c.shape[2]), Image.LANCZOS)
x0 = torch.from_numpy(np.asarray(x0).copy()).permute(2, 0, 1)[None].float() / 255

# stage 1: T*, from the start image's own relu4_1; kept in the temp folder for the next run
t0 = time.time()
cache = os.path.join(tempfile.gettempdir(), "T_%s_%s_%s_%s.pt" % (content, style, cap, bsteps))
if os.path.exists(cache):
    Tstar, cf = torch.load(cache), float("nan")
else:
    Tstar, cf = free_features(f0["relu4_1"], fs["relu4_1"], conv42, cc, (c.shape[2] // 8, c.shape[3] // 8), cap, bsteps)
    torch.save(Tstar, cache)
print(json.dumps({"stage1_s": round(time.time() - t0), "T_content": round(cf, 4), "T_ratio": round(r(Tstar, "relu4_1"), 4)}), flush=True)

# stage 2: the image
g = torch.Generator().manual_seed(1)
dirs, tq, base = {}, {}, {}
for l in L[:3]:
    C_ = fs[l].shape[0]
    d = torch.randn(C_, 128, generator=g); d /= d.norm(dim=0, keepdim=True)
    dirs[l] = d
    ps = (d.t() @ fs[l]).sort(1).values
    lo_, hi_, fr_ = quantile_index(fc[l].shape[1], ps.shape[1])
    tq[l] = ps[:, lo_] * (1 - fr_) + ps[:, hi_] * fr_
    base[l] = ((d.t() @ fc[l]).sort(1).values - tq[l]).pow(2).mean().sqrt()
tnorm = (Tstar - fc["relu4_1"]).pow(2).mean()
x = x0.clone().contiguous().requires_grad_(True)
opt = torch.optim.LBFGS([x], lr=1, max_iter=iters, history_size=20, line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0)
ev = [0]
def closure():
    opt.zero_grad()
    f, y = {}, vgg16_hed.caffe(x)
    for name, mod in seq:
        y = mod(y)
        if name in L or name == "relu4_2": f[name] = y[0].flatten(1)
    loss = 0
    for l in L[:3]:
        loss = loss + wlow * ((dirs[l].t() @ f[l]).sort(1).values - tq[l]).pow(2).mean().sqrt() / base[l] / 4
    loss = loss + w4 * (f["relu4_1"] - Tstar).pow(2).mean() / tnorm / 4
    cf = content_figure(f["relu4_2"], cc)
    loss = loss + 200 * torch.relu(cf - cap) ** 2 * 100
    # keep pixels in range
    loss = loss + 100 * (torch.relu(x - 1) ** 2 + torch.relu(-x) ** 2).sum()
    loss.backward(); ev[0] += 1
    if ev[0] % 20 == 1:
        print(ev[0], 'relu4_1 ratio %.3f  mse/|T-C| %.3f  content %.3f' % (r(f['relu4_1'].detach(), 'relu4_1'), float((f['relu4_1'] - Tstar).pow(2).mean() / tnorm), float(cf)), flush=True)
    return loss
t0 = time.time()
opt.step(closure)
img = (x.detach().clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
Image.fromarray(img).save(out)
with torch.no_grad():
    xx = torch.from_numpy(np.asarray(Image.open(out)).copy()).permute(2, 0, 1)[None].float() / 255
    fo = J.features(net, xx)
print(json.dumps({"out": out, "evals": ev[0], "stage2_s": round(time.time() - t0), **J.judge(net, fc, fs, fo),
                  "per_layer": [round(r(fo[l], l), 3) for l in L]}), flush=True)
