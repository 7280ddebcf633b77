"""Is a style swap at relu4_1 a better target than free features (feature_bound.py)? Each 1x1 or
3x3 patch of an image's relu4_1 replaced by the painting's patch of highest normalized
cross-correlation (Chen & Schmidt 2016; overlapping 3x3 patches averaged), blended with the
image's own features by a; prints the judge's content figure of relu(conv4_2(T)) and its relu4_1
swd ratio. Answer (README.md, fourteenth session): no: the swapped features use about 1,200 of the
painting's 3,008 positions, and even the full swap of the default's features (content 0.38) only
reaches a ratio of 0.29, against free features' 0.168 at content 0.126.

  python style_swap.py CONTENT STYLE INIT   (from the checkout's root)"""
import sys, torch, torch.nn.functional as F
sys.path.insert(0, "bench/results/quality/refine")
from feature_bound import D, J, vgg16_hed, content_figure, pair_features
content, style, init = sys.argv[1], sys.argv[2], sys.argv[3]
net = vgg16_hed.layers()
conv42 = dict(net)["conv4_2"]
c, fc, fs, f0, cc, ratio = pair_features(net, content, style, init)
with torch.no_grad():
    r = lambda f: ratio(f, "relu4_1")
    hs, ws = c.shape[2] // 8, c.shape[3] // 8
    s = J.load(D + style, 512); Hs, Ws = s.shape[2] // 8, s.shape[3] // 8
    S = fs["relu4_1"].view(1, 512, Hs, Ws)
    def swap(f, k):
        X = f.view(1, 512, hs, ws)
        P = F.unfold(S, k, padding=k // 2)  # 1, 512k², Ns
        Pn = P / (P.norm(dim=1, keepdim=True) + 1e-8)
        Q = F.unfold(X, k, padding=k // 2)
        sim = Pn[0].t() @ Q[0]  # Ns x N
        idx = sim.argmax(0)
        out = P[0][:, idx]  # 512k² x N
        # average overlapping patches
        fold = F.fold(out[None], (hs, ws), k, padding=k // 2)
        cnt = F.fold(torch.ones_like(out)[None], (hs, ws), k, padding=k // 2)
        return (fold / cnt).view(512, -1), idx
    def cf(T):
        y = torch.relu(conv42(T.view(1, 512, hs, ws)))[0].flatten(1)
        return float(content_figure(y, cc))
    print("start   content %.4f ratio %.4f" % (cf(f0["relu4_1"]), r(f0["relu4_1"])))
    print("photo   content %.4f ratio %.4f" % (cf(fc["relu4_1"]), r(fc["relu4_1"])))
    for src, name in ((f0["relu4_1"], "start"), (fc["relu4_1"], "photo")):
        for k in (1, 3):
            T, idx = swap(src, k)
            print(name, "k", k, "unique", int(idx.unique().numel()), "of", S.shape[2]*S.shape[3])
            for a in (0.25, 0.5, 0.75, 1.0):
                Ta = (1 - a) * src + a * T
                print("   a %.2f content %.4f ratio %.4f" % (a, cf(Ta), r(Ta)))
