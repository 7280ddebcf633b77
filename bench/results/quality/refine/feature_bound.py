"""Lower bound in feature space: relu4_1 features T (free, >= 0, no image behind them) minimizing
the sliced W2 distance to the style's relu4_1 under the judge's content figure of
relu(conv4_2(T)) <= cap. Prints the judge's relu4_1 ratio of the best T. feature_target.py uses
its pieces (free_features) as its first stage.

  python feature_bound.py CONTENT STYLE CAP [STEPS]"""
import sys, pathlib, torch
SHARED = pathlib.Path(__file__).resolve().parents[5] / "shared"  # ../shared beside the checkout
sys.path.insert(0, str(SHARED / "bench"))
import judge as J, vgg16_hed
D = str(SHARED / "data" / "images") + "/"
CAP_WEIGHT = 5000.0  # steep enough that the figure stays within about 0.001 of the cap


@torch.no_grad()
def pair_features(net, content, style, image):
    """The judge's features at 512 px of the photo, the painting and an image (a path, resized to
    the photo's shape with Lanczos): (photo tensor, fc, fs, f_image, centred relu4_2 of the photo,
    relu4_1 ratio function of (features, layer))."""
    import numpy as np
    from PIL import Image
    c = J.load(D + content, 512)
    fc, fs = J.features(net, c), J.features(net, J.load(D + style, 512))
    x = Image.open(image).convert("RGB").resize((c.shape[3], c.shape[2]), Image.LANCZOS)
    fi = J.features(net, torch.from_numpy(np.asarray(x).copy()).permute(2, 0, 1)[None].float() / 255)
    cc = fc["relu4_2"] - fc["relu4_2"].mean(1, keepdim=True)
    ratio = lambda f, l: J.swd(f, fs[l], torch.Generator().manual_seed(0)) / J.swd(fc[l], fs[l], torch.Generator().manual_seed(0))
    return c, fc, fs, fi, cc, ratio


def quantile_index(n, m):
    """Where n mid-quantiles fall in m sorted samples: (lo, hi, frac) for linear interpolation."""
    q = ((torch.arange(n) + 0.5) * m / n - 0.5).clamp(0, m - 1)
    lo = q.floor().long()
    return lo, (lo + 1).clamp_max(m - 1), q - lo


def content_figure(x42, cc):
    """The judge's content figure of relu4_2 features x42 (C, N) against the photo's, centred (cc)."""
    o = x42 - x42.mean(1, keepdim=True)
    return 1 - (o * cc).sum() / (o.norm() * cc.norm())


def free_features(start, S, conv42, cc, hw, cap, steps, log=None):
    """relu4_1 features (512, N) from ``start`` by Adam on Z (T = Z^2 >= 0): sliced W2 to the
    style's S (512, M) along 128 fresh random directions a step, plus a steep penalty on the
    content figure of relu(conv4_2(T)) above ``cap``. log(step, T, figure) every 100 steps and
    at the last. Returns (T, its content figure)."""
    lo, hi, fr = quantile_index(start.shape[1], S.shape[1])
    Z = start.clone().clamp_min(0).sqrt().requires_grad_(True)
    opt = torch.optim.Adam([Z], lr=0.05)
    scale = float(S.pow(2).mean())
    cf = torch.tensor(float("nan"))
    for it in range(steps):
        T = Z * Z
        d = torch.randn(512, 128); d /= d.norm(dim=0, keepdim=True)
        ps = (d.t() @ S).sort(1).values
        sw = ((d.t() @ T).sort(1).values - (ps[:, lo] * (1 - fr) + ps[:, hi] * fr)).pow(2).mean() / scale
        cf = content_figure(torch.relu(conv42(T.reshape(1, 512, *hw)))[0].flatten(1), cc)
        loss = sw + CAP_WEIGHT * torch.relu(cf - cap) ** 2
        opt.zero_grad(); loss.backward(); opt.step()
        if log and (it % 100 == 0 or it == steps - 1):
            log(it, T.detach(), float(cf))
    return (Z * Z).detach(), float(cf)


if __name__ == "__main__":
    torch.manual_seed(0)
    content, style, cap = sys.argv[1], sys.argv[2], float(sys.argv[3])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 600
    net = vgg16_hed.layers()
    conv42 = dict(net)["conv4_2"]
    for p in conv42.parameters(): p.requires_grad_(False)
    with torch.no_grad():
        c = J.load(D + content, 512)
        fc, fs = J.features(net, c), J.features(net, J.load(D + style, 512))
    cc = fc["relu4_2"] - fc["relu4_2"].mean(1, keepdim=True)
    S = fs["relu4_1"]
    base = J.swd(fc["relu4_1"], S, torch.Generator().manual_seed(0))
    free_features(fc["relu4_1"], S, conv42, cc, (c.shape[2] // 8, c.shape[3] // 8), cap, steps,
                  log=lambda it, T, cf: print(it, "content %.3f  relu4_1 ratio %.3f"
                                              % (cf, J.swd(T, S, torch.Generator().manual_seed(0)) / base), flush=True))
