"""Lower bound in feature space: relu4_1 features T (free, >= 0, no image behind them) minimizing
the sliced W2 distance to the style's relu4_1 under the judge's content figure of
relu(conv4_2(T)) <= cap. Prints the judge's relu4_1 ratio of the best T.

  python feature_bound.py CONTENT STYLE CAP [STEPS]"""
import sys, pathlib, torch
SHARED = pathlib.Path(__file__).resolve().parents[5] / "shared"  # ../shared beside the checkout
sys.path.insert(0, str(SHARED / "bench"))
import judge as J, vgg16_hed
torch.manual_seed(0)
D = str(SHARED / "data" / "images") + "/"
content, style, cap = sys.argv[1], sys.argv[2], float(sys.argv[3])
steps = int(sys.argv[4]) if len(sys.argv) > 4 else 600
net = vgg16_hed.layers()
conv42 = dict(net)["conv4_2"]
for p in conv42.parameters(): p.requires_grad_(False)
with torch.no_grad():
    c = J.load(D + content, 512)
    fc, fs = J.features(net, c), J.features(net, J.load(D + style, 512))
h, w = c.shape[2] // 8, c.shape[3] // 8
cc = fc["relu4_2"] - fc["relu4_2"].mean(1, keepdim=True)
S = fs["relu4_1"]; n, m = fc["relu4_1"].shape[1], S.shape[1]
q = ((torch.arange(n) + 0.5) * m / n - 0.5).clamp(0, m - 1)
lo = q.floor().long(); hi = (lo + 1).clamp_max(m - 1); fr = q - lo

def content_fig(T):
    x = torch.relu(conv42(T.reshape(1, 512, h, w)))[0].flatten(1)
    o = x - x.mean(1, keepdim=True)
    return 1 - (o * cc).sum() / (o.norm() * cc.norm())

def ratio(T):
    return J.swd(T.detach(), S, torch.Generator().manual_seed(0)) / J.swd(fc["relu4_1"], S, torch.Generator().manual_seed(0))

Z = fc["relu4_1"].clone().sqrt().requires_grad_(True)   # T = Z^2 >= 0
opt = torch.optim.Adam([Z], lr=0.05)
scale = float(S.pow(2).mean())
for it in range(steps):
    T = Z * Z
    d = torch.randn(512, 128); d /= d.norm(dim=0, keepdim=True)
    ps = (d.t() @ S).sort(1).values
    tq = ps[:, lo] * (1 - fr) + ps[:, hi] * fr
    sw = ((d.t() @ T).sort(1).values - tq).pow(2).mean() / scale
    cf = content_fig(T)
    loss = sw + 50 * torch.relu(cf - cap) ** 2 * 100
    opt.zero_grad(); loss.backward(); opt.step()
    if it % 100 == 0 or it == steps - 1:
        print(it, "content %.3f  relu4_1 ratio %.3f" % (float(cf), ratio(T)), flush=True)
