"""Feasibility check, not a method: minimize the judge's own swd figure (its exact directions and
subsampling) in image space while holding its content figure at or below a cap. If even this cannot
beat a score, no style loss can. python oracle.py CONTENT STYLE START.png OUT.png CAP ITERS"""
import sys, json, torch, numpy as np
from PIL import Image
sys.path.insert(0, "/work/shared/bench")
import judge as J, vgg16_hed
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4] / "src"))
from stylegram.losses import resample_sorted
net = vgg16_hed.layers()
for _, m in net:
    for p in m.parameters(): p.requires_grad_(False)
D = "/work/shared/data/images/"
cn, sn, start, out, cap, iters = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
with torch.no_grad():
    c = J.load(D + cn, 512); fc = J.features(net, c); fs = J.features(net, J.load(D + sn, 512))
im = Image.open(start).convert("RGB").resize((c.shape[3], c.shape[2]), Image.LANCZOS)
x0 = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255
L = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
cc = fc["relu4_2"] - fc["relu4_2"].mean(1, keepdim=True); cc = cc / cc.norm()
def judge_setup(a_n, b):
    gen = torch.Generator().manual_seed(0)
    d = torch.randn(b.shape[0], 256, generator=gen); d /= d.norm(dim=0, keepdim=True)
    ia = torch.randperm(a_n, generator=gen)[:16384] if a_n > 16384 else None
    if b.shape[1] > 16384:
        b = b[:, torch.randperm(b.shape[1], generator=gen)[:16384]]
    pb = (b.t() @ d).sort(0).values
    return d, ia, pb
n_o = {l: fc[l].shape[1] for l in L}
setup = {l: judge_setup(n_o[l], fs[l]) for l in L}
base = {l: J.swd(fc[l], fs[l], torch.Generator().manual_seed(0)) for l in L}
def feats(x):
    x = vgg16_hed.caffe(x); out = {}
    for name, m in net:
        x = m(x)
        if name in L or name == "relu4_2":
            out[name] = x[0].flatten(1)
            if name == "relu4_2": break
    return out
import os
K = int(os.environ.get("K", "256")); FAIR = os.environ.get("FAIR", "1") == "1"
fair_gen = torch.Generator().manual_seed(12345)
def draw():
    out = {}
    for l in L:
        b = fs[l]
        d = torch.randn(b.shape[0], K, generator=fair_gen); d /= d.norm(dim=0, keepdim=True)
        out[l] = (d, None, (b.t() @ d).sort(0).values)
    return out
def content_figure(f):
    """The judge's content figure: 1 - correlation of the centered relu4_2 maps."""
    o = f["relu4_2"] - f["relu4_2"].mean(1, keepdim=True)
    return 1 - (o * cc).sum() / o.norm()
def figures_fair(x, st):
    f = feats(x)
    r = []
    for l in L:
        d, _, pb = st[l]
        pa = (f[l].t() @ d).sort(0).values
        tb = resample_sorted(pb.t(), pa.shape[0]).t()  # style quantiles at the output's mid-quantiles
        r.append((pa - tb).pow(2).mean().sqrt() / base[l])
    return content_figure(f), torch.stack(r)
def figures(x):
    f = feats(x)
    r = []
    for l in L:
        d, ia, pb = setup[l]
        a = f[l] if ia is None else f[l][:, ia]
        pa = (a.t() @ d).sort(0).values
        n = min(pa.shape[0], pb.shape[0]); q = torch.linspace(0, 1, n)
        i1, i2 = (q * (pa.shape[0] - 1)).long(), (q * (pb.shape[0] - 1)).long()
        r.append((pa[i1] - pb[i2]).pow(2).mean().sqrt() / base[l])
    return content_figure(f), torch.stack(r)
y = torch.logit(x0.clamp(0.002, 0.998)).contiguous().requires_grad_(True)  # x = sigmoid(y) stays in 0..1
opt = torch.optim.LBFGS([y], lr=1, max_iter=20, history_size=50, line_search_fn="strong_wolfe")
log = []
with torch.no_grad():
    c0, r0 = figures(torch.sigmoid(y))
print(json.dumps({"iter": 0, "content": round(float(c0), 4), "swd": round(float(r0.mean()), 4)}), flush=True)
# FIXED=1: one set of fair directions for the whole run (a test of whether redrawing matters)
st0 = draw() if FAIR and os.environ.get("FIXED") == "1" else None
for k in range(iters // 20):
    st = st0 if st0 is not None else draw()
    def closure():
        opt.zero_grad()
        content, r = figures_fair(torch.sigmoid(y), st) if FAIR else figures(torch.sigmoid(y))
        loss = r.mean() + 200 * torch.relu(content - cap) ** 2
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        content, r = figures(torch.sigmoid(y))
    rec = {"iter": (k + 1) * 20, "content": round(float(content), 4), "swd": round(float(r.mean()), 4), "by_layer": [round(float(v), 3) for v in r]}
    print(json.dumps(rec), flush=True)
    Image.fromarray((torch.sigmoid(y)[0].permute(1, 2, 0).detach().numpy() * 255).round().astype(np.uint8)).save(out)
