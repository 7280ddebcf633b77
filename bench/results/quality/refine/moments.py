"""Where in relu4_1's distribution is the default's gap to the painting? Feature-space checks on
an image's relu4_1 (no image behind the changed features): its scale against the painting's, the
judge's relu4_1 ratio after scaling, after matching each channel's mean, mean and spread (AdaIN), or
whole histogram to the painting's, and the judge's content figure of relu(conv4_2(them)).
Answer (README.md, fourteenth session): the default's scale already equals the painting's (rms
10.95 against 11.16 on tubingen x Matisse; 0.8x or 1.2x nearly doubles the ratio), and even exact
per-channel histograms reach only 0.236 at content 0.168 (classic: 0.144): what is missing lies
in how the channels go together, which only painting-like image structure gives.

  python moments.py CONTENT STYLE IMAGE   (from the checkout's root)"""
import sys, torch
sys.path.insert(0, "bench/results/quality/refine")
from feature_bound import J, vgg16_hed, content_figure, pair_features
content, style, init = sys.argv[1], sys.argv[2], sys.argv[3]
net = vgg16_hed.layers(); conv42 = dict(net)["conv4_2"]
c, fc, fs, f0, cc, ratio = pair_features(net, content, style, init)
with torch.no_grad():
    hs, ws = c.shape[2] // 8, c.shape[3] // 8
    L = "relu4_1"
    r = lambda f: ratio(f, L)
    cf = lambda T: float(content_figure(torch.relu(conv42(T.view(1, 512, hs, ws)))[0].flatten(1), cc))
    F, S = f0[L], fs[L]
    print("norms: ours %.3f photo %.3f painting %.3f (rms)" % (F.pow(2).mean().sqrt(), fc[L].pow(2).mean().sqrt(), S.pow(2).mean().sqrt()))
    print("mean act: ours %.3f photo %.3f painting %.3f; frac zero ours %.3f painting %.3f" % (F.mean(), fc[L].mean(), S.mean(), (F == 0).float().mean(), (S == 0).float().mean()))
    print("base   ratio %.4f content %.4f" % (r(F), cf(F)))
    for k in (0.8, 1.2, 1.5):
        print("scale %.1f ratio %.4f content %.4f" % (k, r(k * F), cf(k * F)))
    mu, sd = F.mean(1, keepdim=True), F.std(1, keepdim=True) + 1e-6
    A = ((F - mu) / sd * S.std(1, keepdim=True) + S.mean(1, keepdim=True)).clamp_min(0)
    print("adain  ratio %.4f content %.4f" % (r(A), cf(A)))
    A2 = F - mu + S.mean(1, keepdim=True)
    print("mean-only ratio %.4f content %.4f" % (r(A2.clamp_min(0)), cf(A2.clamp_min(0))))
    # per-channel sorted-marginal matching (histogram matching each channel)
    Fs, idx = F.sort(1); Ss = S.sort(1).values
    q = torch.linspace(0, Ss.shape[1] - 1, F.shape[1]).round().long()
    H = torch.empty_like(F); H.scatter_(1, idx, Ss[:, q])
    print("hist-per-channel ratio %.4f content %.4f" % (r(H), cf(H)))
    for a in (0.25, 0.5):
        print("  blend %.2f ratio %.4f content %.4f" % (a, r((1 - a) * F + a * H), cf((1 - a) * F + a * H)))
