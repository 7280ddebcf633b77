"""Feature-space Pareto front: optimize relu4_1 features F >= 0 directly for
sliced W2 to the style's relu4_1 + w * judge content (relu4_2 decorrelation)."""
import os, sys, torch
GRAM = os.environ.get("LOSS") == "gram"
sys.path.insert(0, "/work/shared/bench")
import judge as J, vgg16_hed
net = vgg16_hed.layers()
for _, m in net:
    for p in m.parameters(): p.requires_grad_(False)
D = "/work/shared/data/images/"
c_name, s_name = sys.argv[1], sys.argv[2]
with torch.no_grad():
    c = J.load(D + c_name, 512); s = J.load(D + s_name, 512)
    def upto(x, stop):
        x = vgg16_hed.caffe(x)
        for n, m in net:
            x = m(x)
            if n == stop: return x
    fc4 = upto(c, "relu4_1"); fs4 = upto(s, "relu4_1")
conv42 = dict(net)["conv4_2"]
cc = torch.relu(conv42(fc4))[0].flatten(1); cc = cc - cc.mean(1, keepdim=True); cc = cc / cc.norm()
def content(f4):
    o = torch.relu(conv42(f4))[0].flatten(1); o = o - o.mean(1, keepdim=True)
    return 1 - (o * cc).sum() / o.norm()
A = fc4[0].flatten(1); B = fs4[0].flatten(1)
base = J.swd(A, B, torch.Generator().manual_seed(0))
sB = None
# K=N: one fixed set of N directions for the run instead of 512 fresh ones every step
K = int(os.environ.get("K", "0")); FIXED = torch.randn(512, K, generator=torch.Generator().manual_seed(5)) if K else None
for w in [float(x) for x in sys.argv[3].split(",")]:
    g = torch.Generator().manual_seed(1)
    P = A.clone().sqrt().requires_grad_(True)  # F = P^2 >= 0
    opt = torch.optim.Adam([P], lr=0.05)
    for it in range(int(sys.argv[4]) if len(sys.argv) > 4 else 400):
        F = P * P
        if GRAM:  # LOSS=gram: the relative Gram error instead of the sliced distance
            GF = F @ F.t() / F.shape[1]; GB = B @ B.t() / B.shape[1]
            sw = (GF - GB).pow(2).sum() / GB.pow(2).sum()
        else:
            d = FIXED if FIXED is not None else torch.randn(512, 512, generator=g); d = d / d.norm(dim=0, keepdim=True)
            pa = (d.t() @ F).sort(1).values
            pb = (d.t() @ B).sort(1).values
            n = pa.shape[1]; idx = ((torch.arange(n) + 0.5) * pb.shape[1] / n).long()
            sw = (pa - pb[:, idx]).pow(2).mean() / base ** 2
        ct = content(F.reshape(fc4.shape))
        loss = sw + w * ct
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        F = P * P
        print(f"w {w:g}  content {content(F.reshape(fc4.shape)).item():.4f}  relu4_1 swd {J.swd(F, B, torch.Generator().manual_seed(0)) / base:.4f}", flush=True)
