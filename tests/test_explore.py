"""The explorer: receptive fields against gradient probes, streaming top-k, crops, scans, reports.

Tiny random nets and 32-64 px images throughout."""
from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from stylegram.errors import ConfigError, InputError
from stylegram.explore import (HookedNet, UnitScan, UnitTopK, choose_units, crop_box, scan_units, unit_box,
                               write_report)
from stylegram.explore.scan import inside_mask, list_images, load_view
from stylegram.nets import FeatureNet, build_net
from stylegram.nets.receptive import gradient_probe, probe_layer_info, receptive_fields
from stylegram.types import LayerInfo


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: a second OpenMP thread only spins, and on a loaded machine it costs 10-100x."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------- receptive fields vs gradient probe

@pytest.mark.parametrize("layer,size", [("relu1_1", 16), ("pool1", 24), ("relu2_1", 32), ("pool2", 40),
                                        ("relu3_1", 48), ("relu4_1", 96)])
def test_vgg_receptive_fields_match_gradient_probe(tiny_net, layer, size):
    net = tiny_net.truncated([layer])
    measured = probe_layer_info(net, layer, size)
    a = tiny_net.info[layer]
    assert (measured.jump, measured.rf_size, measured.rf_start) == (a.jump, a.rf_size, a.rf_start)


def test_vgg16_relu5_1_field_by_hand(tiny_net):
    # 3 convs per block after pool: 1 + 2*(1+1) ... written out: conv1_1 3, conv1_2 5, pool1 6,
    # conv2_x 10, 14, pool2 16, conv3_x 24, 32, 40, pool3 44, conv4_x 60, 76, 92, pool4 100, conv5_1 132
    i = tiny_net.info["relu5_1"]
    assert (i.jump, i.rf_size, i.rf_start) == (16, 132, 7.5)


def _odd_chain():
    return [("c1", nn.Conv2d(3, 4, 5, stride=2, padding=1)), ("r1", nn.ReLU()),
            ("p1", nn.MaxPool2d(3, stride=2, padding=1)),
            ("c2", nn.Conv2d(4, 4, 3, padding=2, dilation=2)), ("r2", nn.ReLU()),
            ("p2", nn.AvgPool2d(2)), ("c3", nn.Conv2d(4, 5, 3, stride=1, padding=0))]


@pytest.mark.parametrize("layer", ["c1", "p1", "c2", "p2", "c3"])
def test_strides_padding_dilation_match_probe(layer):
    torch.manual_seed(0)
    net = FeatureNet("odd", _odd_chain())
    got = probe_layer_info(net, layer, 96)
    a = net.info[layer]
    assert (got.jump, got.rf_size, got.rf_start) == (a.jump, a.rf_size, a.rf_start)


def test_hooked_net_on_user_model_matches_chain():
    torch.manual_seed(0)
    model = nn.Sequential(*[m for _, m in _odd_chain()])
    hooked = HookedNet(model, ["1", "2", "6"], name="mine", probe_size=64)
    chain = receptive_fields([(str(i), m) for i, (_, m) in enumerate(_odd_chain())])
    for l in ["2", "6"]:
        h, c = hooked.info[l], chain[l]
        assert (h.jump, h.rf_size, h.rf_start) == (c.jump, c.rf_size, c.rf_start)
    x = torch.rand(2, 3, 40, 40)
    out = hooked(x, ["2"])
    assert set(out) == {"2"} and out["2"].shape == model[:3](x).shape
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed
    with pytest.raises(ConfigError, match="valid"):
        HookedNet(model, ["nope"])
    # one field size and step serve every axis: a (1, 5) kernel or a (1, 2) stride would put the
    # crops of x in the wrong place (unit (10, 10): the probe said x 17..24, the arithmetic 9..12)
    for layer in (nn.Conv2d(3, 4, (1, 5), padding=(0, 2)), nn.Conv2d(3, 4, 3, stride=(1, 2), padding=1)):
        with pytest.raises(ValueError, match="the same kernel, stride, padding and dilation on every axis"):
            receptive_fields([("c", layer)])


def test_hooked_net_taps_a_shared_module_at_its_first_call_and_circular_copies_keep_their_own_hooks():
    class Shared(nn.Module):  # one ReLU module used twice, as torchvision's ResNet blocks do
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
            self.c3 = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.c3(self.relu(self.c2(self.relu(self.c1(x)))))

    torch.manual_seed(0)
    model = Shared()
    x = torch.rand(1, 3, 8, 8)
    out = HookedNet(model, ["relu", "c3"])(x, ["relu", "c3"])
    assert torch.equal(out["relu"], torch.relu(model.c1(x)))  # was the second call's output
    fired = []
    model.c1.register_forward_hook(lambda *a: fired.append("model"))
    twin = HookedNet(model, ["relu"]).circular()
    twin.model.c1.register_forward_hook(lambda *a: fired.append("twin"))
    model(x)
    assert fired == ["model"]  # the twin's hook shared the model's registry and fired here too
    fired.clear()
    twin(x, ["relu"])
    assert fired == ["model", "twin"]  # the model's own hooks, copied with it, still run


# ---------------------------------------------------------------- streaming top-k

def test_topk_streaming_equals_brute_force():
    g = torch.Generator().manual_seed(1)
    acts = torch.randn(23, 4, 5, 6, generator=g)
    t = UnitTopK(4, k=5, per_image=1)
    for s in range(0, 23, 7):
        t.update(acts[s:s + 7], s)
    peak, arg = acts.flatten(2).max(2)  # (N, C)
    for c in range(4):
        v, img = peak[:, c].topk(5)
        assert torch.allclose(t.values[c], v)
        assert t.image[c].tolist() == img.tolist()
        for r in range(5):
            y, x = t.pos[c, r].tolist()
            assert acts[img[r], c, y, x] == v[r]
    assert t.n == 23 and t.hist.sum(1).tolist() == [23] * 4
    assert torch.allclose(t.mean(), peak.mean(0).double())


def test_topk_per_image_allows_several_from_one_image():
    a = torch.zeros(1, 1, 3, 3)
    a[0, 0, 0, 0], a[0, 0, 2, 1] = 5.0, 4.0
    t = UnitTopK(1, k=3, per_image=2)
    t.update(a, 0)
    assert t.values[0, :2].tolist() == [5.0, 4.0] and t.pos[0, :2].tolist() == [[0, 0], [2, 1]]
    assert t.image[0].tolist() == [0, 0, -1]  # third slot still empty


def test_histogram_doubles_its_range_exactly():
    t = UnitTopK(1, k=1, bins=4)
    t.update(torch.tensor([1.0, 0.5, 0.0]).view(3, 1, 1, 1), 0)
    assert float(t.top[0]) == 2.0  # the smallest power of two above the largest peak
    assert t.hist[0].tolist() == [1, 1, 1, 0]  # bins of 0.5: 0 -> 0, 0.5 -> 1, 1 -> 2
    t.update(torch.tensor([3.0]).view(1, 1, 1, 1), 3)  # range doubles: 4.0, bins of 1.0
    assert float(t.top[0]) == 4.0
    assert t.hist[0].tolist() == [2, 1, 0, 1]  # merged: {0, 0.5} in bin 0, 1 in bin 1; 3 in bin 3
    t.update(torch.tensor([100.0]).view(1, 1, 1, 1), 4)  # five doublings at once: 128, bins of 32
    assert float(t.top[0]) == 128.0 and t.hist[0].tolist() == [4, 0, 0, 1]


def test_topk_and_histograms_do_not_depend_on_the_batch_size():
    # Many equal values (ReLU zeros, as in dead units): topk kept an arbitrary 9 of the tied images,
    # other ones at each batch size, and the histogram's range came from the first batch's peak.
    g = torch.Generator().manual_seed(0)
    acts = torch.randint(0, 3, (16, 4, 4, 4), generator=g).float()
    acts[:, 0] = 0.0  # dead unit: 16 images tie at 0
    acts[:, 1] = 0.0
    acts[5, 1, 2, 3] = 1.0  # one image fires, the other 15 tie
    acts[:, 3] *= torch.linspace(0.1, 10, 16).view(16, 1, 1)  # peaks from 0.2 to 20: the range grows
    runs = {}
    for per_image in (1, 3):
        for bs in (1, 4, 5, 16):
            t = UnitTopK(4, k=9, per_image=per_image, bins=8)
            for s in range(0, 16, bs):
                t.update(acts[s:s + bs], s)
            runs[per_image, bs] = t
        ref = runs[per_image, 16]
        for bs in (1, 4, 5):
            t = runs[per_image, bs]
            for name in ("values", "image", "pos", "hist", "top", "sum", "sumsq"):
                assert torch.equal(getattr(t, name), getattr(ref, name)), (per_image, bs, name)
    one, three = runs[1, 16], runs[3, 16]
    # ties go to the lowest image index, then the lowest position
    assert one.image[0].tolist() == list(range(9)) and one.pos[0].tolist() == [[0, 0]] * 9
    assert one.image[1].tolist() == [5, 0, 1, 2, 3, 4, 6, 7, 8]
    assert three.image[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert three.pos[0, :3].tolist() == [[0, 0], [0, 1], [0, 2]]
    assert one.top.tolist() == [0.0, 2.0, 4.0, 32.0]
    # unit 3's peaks are 2 x linspace(0.1, 10, 16) = 0.2, 1.52, ... 18.68, 20: bins of 4 hold 3 each, 20 in bin 5
    assert (acts[:, 3].amax((1, 2)) == 2 * torch.linspace(0.1, 10, 16)).all()
    assert one.hist.tolist() == [[16, 0, 0, 0, 0, 0, 0, 0], [15, 0, 0, 0, 1, 0, 0, 0],
                                 [0, 0, 0, 0, 16, 0, 0, 0], [3, 3, 3, 3, 3, 1, 0, 0]]


def test_selectivity_and_unit_rules():
    t = UnitTopK(3, k=2)
    a = torch.zeros(10, 3, 1, 1)
    a[:, 0] = 1.0  # answers every image alike
    a[0, 1] = 9.0  # fires for one image
    t.update(a, 0)  # unit 2 is dead
    s = t.selectivity()
    assert s[1] > 1 and s[0] == pytest.approx(0, abs=1e-3) and s[2] == 0
    assert choose_units(t, "selective", 1) == [1]
    assert choose_units(t, "strongest", 2) == [1, 0]
    assert choose_units(t, "random", 2, seed=3) == choose_units(t, "random", 2, seed=3)
    assert choose_units(t, "indices", indices=[2, 0]) == [2, 0]
    with pytest.raises(ConfigError, match="0..2"):
        choose_units(t, "indices", indices=[3])
    with pytest.raises(ConfigError, match="valid"):
        choose_units(t, "best", 1)


# ---------------------------------------------------------------- crops

def test_unit_box_and_padded_crop_by_hand():
    info = LayerInfo("pool1", 8, jump=2, rf_size=6, rf_start=0.5)
    assert unit_box(info, [0, 3]) == [(-2, 4), (4, 10)]
    img = torch.arange(2 * 5 * 5, dtype=torch.float32).view(2, 5, 5)
    c = crop_box(img, [(-2, 2), (3, 6)], fill=-1)
    assert c.shape == (2, 4, 3)
    assert (c[:, :2] == -1).all() and (c[:, :, 2] == -1).all()  # above and right of the image: fill
    assert torch.equal(c[:, 2:, :2], img[:, 0:2, 3:5])  # the window is not shifted


def test_inside_mask_keeps_units_whose_field_is_mostly_inside():
    info = LayerInfo("x", 1, jump=4, rf_size=24, rf_start=1.5)
    m = inside_mask(info, (8, 8), 32, 0.5)
    assert m is not None and m.shape == (8, 8) and not m[0, 0] and m[3, 3]
    assert inside_mask(info, (8, 8), 32, 0.0) is None


# ---------------------------------------------------------------- scans on synthetic images

SQUARES = {"a.png": (8, 40), "b.png": (30, 12), "sub/c.png": (44, 44), "sub/d.png": (20, 26)}
SQ = 6


def _write_squares(root: Path, size: int = 64) -> None:
    for name, (y, x) in SQUARES.items():
        arr = np.full((size, size, 3), 128, np.uint8)
        arr[y:y + SQ, x:x + SQ] = 255
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(root / name)
    Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(root / "grey.png")
    (root / "broken.jpg").write_bytes(b"not a jpeg at all")


@pytest.fixture
def squares(tmp_path):
    _write_squares(tmp_path / "imgs")
    return tmp_path / "imgs"


def test_scan_cache_is_not_reused_for_other_images_and_is_folder_independent(tiny_net, squares, tmp_path, monkeypatch):
    import os
    import shutil
    cache = tmp_path / "scan.safetensors"
    net = tiny_net.truncated(["relu1_1"])
    first = scan_units(net, squares, ["relu1_1"], size=32, cache=cache)
    assert first.root == str(squares) and first.resumed == 0  # absolute: patches draw from any working folder
    # 5 images from the cache: the 6th file, broken.jpg, is one the cache lists as unreadable
    again = scan_units(net, squares, ["relu1_1"], size=32, cache=cache)
    assert (again.resumed, again.seen, again.skipped) == (5, 5, ["broken.jpg"])
    # a picture replaced under the same name: its old activations must not come back
    Image.new("RGB", (40, 40), (250, 10, 10)).save(squares / "a.png")
    os.utime(squares / "a.png", ns=(1, 1))
    with pytest.raises(ConfigError, match="other settings or images \\(or the images have changed since; "
                                          "differs: stamps_sha256\\)"):
        scan_units(net, squares, ["relu1_1"], size=32, cache=cache)
    # the same names in another folder are other images
    other = tmp_path / "copy"
    shutil.copytree(squares, other)
    with pytest.raises(ConfigError, match="other settings or images"):
        scan_units(net, other, ["relu1_1"], size=32, cache=cache)
    # a folder of links to a shared dataset is scanned (os.walk did not follow them), each real folder once
    links = tmp_path / "links"
    links.mkdir()
    (links / "subset").symlink_to(other, target_is_directory=True)
    (links / "loop").symlink_to(links, target_is_directory=True)
    assert list_images(links) == [f"subset/{f}" for f in first.files]
    # a relative folder is stored absolute
    monkeypatch.chdir(tmp_path)
    assert scan_units(net, "copy", ["relu1_1"], size=32).root == str(other)


def test_scan_cache_is_not_reused_for_a_net_of_the_same_name_with_other_weights(squares, tmp_path):
    def mine(seed):
        torch.manual_seed(seed)
        return FeatureNet("mine", [("conv1", nn.Conv2d(3, 4, 3, padding=1)), ("relu1", nn.ReLU())])

    cache = tmp_path / "scan.safetensors"
    first = scan_units(mine(1), squares, ["relu1"], size=32, cache=cache)
    assert scan_units(mine(1), squares, ["relu1"], size=32, cache=cache).resumed == 5  # same weights: resumed (5 images and broken.jpg)
    # other weights under the same name: it resumed all 6 images and returned the first net's top-k
    with pytest.raises(ConfigError) as e:
        scan_units(mine(2), squares, ["relu1"], size=32, cache=cache)
    assert str(e.value) == (f"{cache}: this cache was made with other settings or images (or the images have changed "
                            "since; differs: weights_sha256); delete it, give another cache path, or use the same "
                            "settings")
    cache.unlink()
    second = scan_units(mine(2), squares, ["relu1"], size=32, cache=cache)
    assert second.resumed == 0 and not torch.equal(second.layers["relu1"].values, first.layers["relu1"].values)

    from stylegram.explore.scan import weights_sha256
    from stylegram.nets.features import InputConvention
    assert first.weights_sha256 == weights_sha256(mine(1)) != weights_sha256(mine(2)) == second.weights_sha256
    assert len(first.weights_sha256) == 64 and UnitScan.load(cache).weights_sha256 == second.weights_sha256
    # buffers count too: an input convention's mean is one (and not in a state dict)
    net = mine(1)
    net.preprocess = InputConvention(mean=(0.5, 0.5, 0.5))
    assert weights_sha256(net) != weights_sha256(mine(1))


def test_a_stopped_explore_units_saves_its_scan_and_draws_nothing(squares, tmp_path):
    from stylegram import explore_units
    kw = dict(net="random-tiny", layers=["relu1_1"], size=32, batch_size=2, precision="fp32")
    out = tmp_path / "out"
    scan, summary = explore_units(squares, out, cache=tmp_path / "c.safetensors", callback=lambda ev: ev.iter >= 2, **kw)
    assert (scan.done, summary) == (2, None) and not out.exists()  # stopped: saved, not drawn
    from stylegram.explore import write_report  # drawn all the same, the page says it is part of the folder
    write_report(scan, tmp_path / "part", patch_px=16)
    assert (f"<p>2 images under <code>{squares}</code> (the scan stopped after 2 of the 6 files),"
            in (tmp_path / "part" / "index.html").read_text())
    scan, summary = explore_units(squares, out, cache=tmp_path / "c.safetensors", **kw)
    whole, _ = explore_units(squares, None, **kw)
    assert scan.resumed == 2 and summary is not None and (out / "index.html").is_file()
    assert torch.equal(scan.layers["relu1_1"].values, whole.layers["relu1_1"].values)


def test_top_k_keeps_no_entry_for_positions_the_mask_leaves_out():
    # per_image above the positions a view may rank: the spare candidates are -inf and name no
    # image (they were drawn as patches, and their -inf made the selectivity -1e29)
    t = UnitTopK(2, k=4, per_image=3)
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[1, 1] = True
    t.update(torch.rand(1, 2, 3, 3, generator=torch.Generator().manual_seed(0)), 0, mask)
    assert t.image.tolist() == [[0, -1, -1, -1], [0, -1, -1, -1]] and t.pos[:, 0].tolist() == [[1, 1], [1, 1]]
    assert torch.isfinite(t.selectivity()).all()


def test_top_patch_contains_the_square_and_matches_probe(tiny_net, squares):
    layer = "relu3_1"
    net = tiny_net.truncated([layer])
    scan = scan_units(net, squares, [layer], size=64, batch_size=2, k=3)
    assert scan.files == ["a.png", "b.png", "broken.jpg", "grey.png", "sub/c.png", "sub/d.png"]
    assert scan.skipped == ["broken.jpg"]
    t = scan.layers[layer]
    active = torch.nonzero(t.values[:, 0] > 0).flatten().tolist()
    assert active  # grey is 0 after the net's centring, so only the squares excite anything
    for u in active:
        name = scan.files[int(t.image[u, 0])]
        assert name in SQUARES
        (y0, y1), (x0, x1) = unit_box(scan.info[layer], t.pos[u, 0].tolist())
        y, x = SQUARES[name]
        assert y0 < y + SQ and y < y1 and x0 < x + SQ and x < x1  # every active unit's field overlaps it
    best = int(t.values[:, 0].argmax())
    pos = t.pos[best, 0].tolist()
    box = unit_box(scan.info[layer], pos)
    name = scan.files[int(t.image[best, 0])]
    y, x = SQUARES[name]
    assert box[0][0] <= y and y + SQ <= box[0][1] and box[1][0] <= x and x + SQ <= box[1][1]
    patch = crop_box(load_view(squares / name, 64), box)
    assert patch.shape == (3, 24, 24) and (patch > 0.99).all(0).sum() == SQ * SQ  # the whole square is in it
    # the crop geometry is the gradient probe's region (clipped to the image)
    probe = gradient_probe(net, layer, (64, 64), pos)
    assert probe == [(max(a, 0), min(b, 64)) for a, b in box]
    real = gradient_probe(net, layer, (64, 64), pos, linearize=False)  # the real net sees a part of it
    assert all(pa >= ba and pb <= bb for (pa, pb), (ba, bb) in zip(real, probe))


def test_scan_resumes_from_cache_and_equals_one_pass(tiny_net, squares, tmp_path):
    net = tiny_net.truncated(["relu2_1"])
    full = scan_units(net, squares, ["relu1_1", "relu2_1"], size=32, batch_size=2)
    cache = tmp_path / "scan.safetensors"
    calls = []
    part = scan_units(net, squares, ["relu1_1", "relu2_1"], size=32, batch_size=2, cache=cache,
                      callback=lambda ev: calls.append(ev.iter) or True)
    assert calls == [2] and not part.complete and cache.is_file()
    resumed = scan_units(net, squares, ["relu1_1", "relu2_1"], size=32, batch_size=2, cache=cache)
    assert resumed.complete and resumed.skipped == ["broken.jpg"]
    for l in ("relu1_1", "relu2_1"):
        assert torch.equal(resumed.layers[l].values, full.layers[l].values)
        assert torch.equal(resumed.layers[l].image, full.layers[l].image)
        assert torch.equal(resumed.layers[l].hist, full.layers[l].hist)
    with pytest.raises(ConfigError, match="other settings"):
        scan_units(net, squares, ["relu1_1"], size=32, cache=cache)


def _integer_net(seed: int = 0, name: str = "ints") -> FeatureNet:
    """Integer weights on 0..255 pixels less 128: every activation is an integer below 2^24, exact
    in float32 whatever the kernel's summation order, so scans can be compared bit for bit."""
    from stylegram.nets.features import InputConvention
    g = torch.Generator().manual_seed(seed)
    c1, c2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1)
    for c in (c1, c2):
        c.weight.data = torch.randint(-2, 3, c.weight.shape, generator=g).float()
        c.bias.data.zero_()
    return FeatureNet(name, [("conv1", c1), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)), ("conv2", c2),
                             ("relu2", nn.ReLU())], InputConvention(scale=255, mean=(128, 128, 128)))


def test_scan_results_and_cache_do_not_depend_on_the_batch_size(squares, tmp_path):
    # grey is 0 to this net and the four squares are alike, so the peaks tie across images
    net = _integer_net()
    net.body["conv2"].weight.data[5] = -1.0  # on ReLU outputs: never above 0, a dead unit
    kw = dict(size=64, k=3, precision="fp32")
    one = scan_units(net, squares, ["relu1", "relu2"], batch_size=1, **kw)
    four = scan_units(net, squares, ["relu1", "relu2"], batch_size=4, **kw)
    cache = tmp_path / "scan.safetensors"  # stopped at batch size 2, resumed at 5: allowed and the same
    scan_units(net, squares, ["relu1", "relu2"], batch_size=2, cache=cache, callback=lambda ev: True, **kw)
    resumed = scan_units(net, squares, ["relu1", "relu2"], batch_size=5, cache=cache, **kw)
    assert resumed.resumed == 2 and resumed.complete
    for other in (four, resumed):
        for l in ("relu1", "relu2"):
            a, b = one.layers[l], other.layers[l]
            for name in ("values", "image", "pos", "hist", "top", "sum", "sumsq"):
                assert torch.equal(getattr(a, name), getattr(b, name)), (l, name)
    assert one.files == ["a.png", "b.png", "broken.jpg", "grey.png", "sub/c.png", "sub/d.png"]
    t = one.layers["relu2"]
    fires = t.values[:, 0] > 0
    assert fires.tolist() == [True] * 5 + [False]
    # equal peaks: the lowest image indices win (a, b, c of the four squares; a, b, grey for a dead unit)
    assert t.image[fires].tolist() == [[0, 1, 4]] * int(fires.sum())
    assert (t.values[fires] == t.values[fires, :1]).all()
    assert t.image[~fires].tolist() == [[0, 1, 3]] * int((~fires).sum())
    mask = inside_mask(one.info["relu2"], (32, 32), 64, 0.5)  # and the lowest position it ranks
    first = divmod(int(mask.flatten().nonzero()[0]), 32)
    assert first == (0, 1) and t.pos[~fires].tolist() == [[list(first)] * 3]
    assert t.hist[~fires].sum(1).tolist() == t.hist[~fires, 0].tolist() == [5] * int((~fires).sum())


def test_scan_errors_are_one_line(tiny_net, tmp_path):
    with pytest.raises(InputError, match="no image files"):
        list_images(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        list_images(tmp_path / "missing")
    with pytest.raises(ConfigError, match="valid"):
        scan_units(tiny_net, tmp_path, ["relu9_9"])
    (tmp_path / "x.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a stylegram scan"):
        UnitScan.load(tmp_path / "x.safetensors")


def test_report_writes_sheets_units_and_html(tiny_net, squares, tmp_path):
    scan = scan_units(tiny_net.truncated(["relu2_1"]), squares, ["relu1_1", "relu2_1"], size=32, batch_size=4)
    out = tmp_path / "rep"
    summary = write_report(scan, out, rule="strongest", n_units=4, patch_px=16)
    sheet = Image.open(summary["sheets"]["relu2_1"])
    assert sheet.size[0] > 3 * (3 * 16) and sheet.mode == "RGB"
    assert len(list((out / "units" / "relu1_1").glob("u*.jpg"))) == scan.layers["relu1_1"].channels
    page = (out / "index.html").read_text()
    assert "relu2_1" in page and "Receptive fields" in page and "sub/c.png" in page and "<svg" in page
    assert summary["skipped"] == 1 and len(summary["chosen"]["relu1_1"]) == 4
    assert "1 unreadable file, skipped</summary><ul><li><code>broken.jpg</code>" in page  # which, not only how many
    # the images the net saw, the unreadable file beside them: the page said "6 images ... (1 unreadable, skipped)"
    assert summary["images"] == 5 and f"<p>5 images under <code>{squares}</code> (1 unreadable file skipped)," in page
    # rf_start is where map position 0's field is centred; the header said "centre of unit 0"
    # (a unit is a channel: every unit of the layer has a position 0)
    assert "<th>field centre at map position 0 (px)</th>" in page and "unit 0 (px)" not in page
    # every picture has alt text (it had none: a screen reader, or a broken link, said nothing)
    imgs = re.findall(r"<img [^>]*>", page)
    assert imgs and all(' alt="' in i for i in imgs)
    assert 'alt="relu2_1: sheet of 4 units, top 9 patches each"' in page
    assert f'src="units/relu1_1/u0000.jpg" width="{3 * 16 + 4}" height="{3 * 16 + 4}" alt="relu1_1 unit 0: its top 9 patches' in page


def test_sheet_writes_each_patchs_activation_beneath_it(tiny_net, squares, tmp_path):
    # The sheets showed each unit's maximum only; each patch's own value was only in the HTML.
    scan = scan_units(tiny_net.truncated(["relu1_1"]), squares, ["relu1_1"], size=32, batch_size=4)
    t = scan.layers["relu1_1"]
    summary = write_report(scan, tmp_path / "rep", rule="strongest", n_units=3, patch_px=40)
    sheet = np.asarray(Image.open(summary["sheets"]["relu1_1"]).convert("RGB"))
    shown = 0
    for u in summary["chosen"]["relu1_1"]:
        for r in range(t.k):
            if int(t.image[u, r]) >= 0:  # 5 readable images: 5 patches a unit, 4 empty places
                v = float(t.values[u, r])
                assert 1e-4 < v < 1000  # so that .3g writes no exponent
                assert _has_text(sheet, f"{v:.3g}", 10), (u, r, v)
                shown += 1
    assert shown == 15
    assert _has_text(sheet, "under each patch: its activation, best first", 12)
    # the Gram view's pairs show a channel's top patches from a scan the same way
    from conftest import gradient_image
    from stylegram.explore import gram_figures, gram_view
    s = gradient_image(32, 40, seed=1)
    v = gram_view(s, tiny_net, ["relu1_1"], n_pairs=1)
    pairs = np.asarray(gram_figures(v, s, scan=scan, patch_px=40)["pairs_relu1_1"])
    k, k2, cos = v["relu1_1"].pairs[0]
    # G_kk' / sqrt(G_kk G_k'k') was labelled "r=", read as Pearson's r: it is a cosine (no mean
    # removed), labelled so, and the title says what it is
    assert _has_text(pairs, f"both (cos={cos:.2f})", 12) and not _has_text(pairs, f"both (r={cos:.2f})", 12)
    from stylegram.explore.gram import PAIRS_TITLE
    assert all(_has_text(pairs, line, 14, fill=(0, 0, 0)) for line in PAIRS_TITLE.format(layer="relu1_1").split("\n"))
    assert "cos = G_kk' / sqrt(G_kk G_k'k')" in PAIRS_TITLE and "not Pearson's r" in PAIRS_TITLE
    assert all(_has_text(pairs, f"{float(t.values[c, r]):.3g}", 10) for c in (k, k2) for r in range(5))
    # beneath each patch, in a strip of its own: the patches are not covered
    from stylegram.explore.render import unit_grid
    ps = [np.full((40, 40, 3), 30 * i, np.uint8) for i in range(5)]
    g = unit_grid(ps, 40, values=[1.5, 2.25, None, 0.125, 1230.0])
    assert g.shape == (2 * (40 + 13) + 2, 3 * 40 + 2 * 2, 3)
    for i, p in enumerate(ps):
        r, c = divmod(i, 3)
        assert np.array_equal(g[r * 55:r * 55 + 40, c * 42:c * 42 + 40], p)
    def strip(i):
        r, c = divmod(i, 3)
        return g[r * 55 + 40:r * 55 + 53, c * 42:c * 42 + 40]
    assert _has_text(strip(0), "1.5", 10) and _has_text(strip(3), "0.125", 10) and _has_text(strip(4), "1.23e3", 10)
    assert (strip(2) == 255).all()  # no value, no label
    small = [p[:16, :16] for p in ps]
    assert np.array_equal(unit_grid(small, 16, values=[1.0] * 5), unit_grid(small, 16))  # 16 px: no room, none drawn


def test_report_unit_image_height_is_the_images_own(tiny_net, squares, tmp_path):
    # height was always three rows of patches: --top 4 (two rows) was stretched, --top 20 squashed
    for k in (4, 20):
        scan = scan_units(tiny_net, squares, ["relu1_1"], size=32, batch_size=4, k=k)
        out = tmp_path / f"k{k}"
        write_report(scan, out, rule="strongest", n_units=2, patch_px=16)
        w, h = Image.open(out / "units" / "relu1_1" / "u0000.jpg").size
        assert f'src="units/relu1_1/u0000.jpg" width="{w}" height="{h}" ' in (out / "index.html").read_text()


def test_cli_units_stopped_counts_files_not_images(squares, tmp_path, capsys, monkeypatch):
    # the stop line said "stopped after 2 of 6 images" of 5 images and an unreadable file; the
    # report and the summary line count images as the ones the net saw
    import stylegram.cli
    from stylegram.cli import main

    class Stopped:  # a Ctrl-C at the first batch
        requested = True

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(stylegram.cli, "StopSignals", Stopped)
    with pytest.raises(SystemExit) as e:
        main(["explore", "units", "--net", "random", "--layers", "relu1_1", "--images", str(squares),
              "-o", str(tmp_path / "cli"), "--size", "32", "--batch-size", "2", "-q"])
    assert e.value.code == 130
    assert re.match(r"stylegram: stopped after 2 of 6 files: the scan so far is saved",
                    capsys.readouterr().err.strip().splitlines()[-1])


def test_cli_units_end_to_end(squares, tmp_path, capsys):
    from stylegram.cli import main
    out = tmp_path / "cli"
    with pytest.raises(SystemExit) as e:
        main(["explore", "units", "--net", "random", "--layers", "relu1_1,relu2_1", "--images", str(squares),
              "-o", str(out), "--size", "32", "--patch-px", "12", "--sheets-only", "-q"])
    assert e.value.code == 0
    assert (out / "index.html").is_file() and (out / "sheet_relu2_1.png").is_file() and (out / "scan.safetensors").is_file()
    with pytest.raises(SystemExit) as e:  # again without -q, from the scan cache: the summary names the skipped file
        main(["explore", "units", "--net", "random", "--layers", "relu1_1,relu2_1", "--images", str(squares),
              "-o", str(out), "--size", "32", "--patch-px", "12", "--sheets-only"])
    assert e.value.code == 0
    # 5 images seen, all from the cache, and the unreadable file beside them (it was "scanned 6
    # images (1 unreadable, skipped: broken.jpg, 6 of them from the cache ...)")
    assert re.fullmatch(r"scanned 5 images \(5 of them from the cache " + re.escape(str(out / "scan.safetensors"))
                        + r"; 1 unreadable file skipped: broken\.jpg\) in \d+\.\d s; wrote " + re.escape(str(out / "index.html")),
                        capsys.readouterr().err.strip().splitlines()[-1])
    with pytest.raises(SystemExit) as e:
        main(["explore", "units", "--net", "random", "--layers", "relu1_1", "--images", str(tmp_path / "none"),
              "-o", str(out), "-q"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stylegram: error:" in err[0]


# ---------------------------------------------------------------- activations, Gram view, reconstructions

def test_activation_grid_layout_and_norms(tiny_net):
    from stylegram.explore import activation_grid, activation_maps
    from conftest import gradient_image
    maps = activation_maps(gradient_image(32, 32), tiny_net, "relu1_1")
    assert maps.shape == (8, 32, 32) and maps.min() >= 0
    g = activation_grid(maps, cols=4, gap=2)
    assert g.shape == (2 * 32 + 2, 4 * 32 + 3 * 2, 3) and g.dtype == np.uint8
    # each map's channel index is written in its top left corner, and only there
    changed = (g != activation_grid(maps, cols=4, gap=2, labels=False)).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 8 * 10 and (ys % 34 < 14).all() and (xs % 34 < 14).all()
    assert {(int(y) // 34, int(x) // 34) for y, x in zip(ys, xs)} == {(r, q) for r in range(2) for q in range(4)}
    m = torch.zeros(2, 2, 2)
    m[0, 0, 0], m[1, 0, 0] = 1.0, 4.0
    per_channel = activation_grid(m, cols=2, gap=0, cmap="gray")
    per_layer = activation_grid(m, cols=2, gap=0, norm="layer", cmap="gray")
    assert per_channel[0, 0, 0] == per_channel[0, 2, 0] == 255  # each channel's max is white
    assert per_layer[0, 0, 0] == 63 and per_layer[0, 2, 0] == 255  # 1/4 of the layer's max
    # signed maps (a conv layer): a channel negative everywhere stays dark beside a strong one
    # under 'layer' (each channel was shifted by its own minimum, which made it the brightest)
    signed = torch.stack([torch.tensor([[-10.0, -9.0], [-9.5, -10.0]]), torch.tensor([[0.0, 1.0], [0.5, 0.0]])])
    g = activation_grid(signed, cols=2, gap=0, norm="layer", cmap="gray", clip=100, labels=False)
    assert g[:, :2, 0].max() < 30 and g[0, 3, 0] == 255
    with pytest.raises(ConfigError, match="0..1"):
        activation_grid(m, channels=[2])


def test_activation_grid_sparse_map_is_not_saturated():
    # A map with 3 active positions of 1600 has a 99.5th percentile of 0; every active position was
    # drawn at the top of the scale (weak ones as bright as the strongest).
    from stylegram.explore import activation_grid
    m = torch.zeros(1, 40, 40)
    m[0, 0, 0], m[0, 5, 5], m[0, 10, 10] = 0.01, 0.5, 1.0
    g = activation_grid(m, cols=1, gap=0, cmap="gray", labels=False)
    assert g[10, 10, 0] == 255 and 120 <= g[5, 5, 0] <= 135 and g[0, 0, 0] < 5


def test_cli_activations_picture_has_title_and_colour_bar(tmp_path):
    # The saved grid was bare maps: no layer, no image name, no word on what the colours mean.
    from stylegram.cli import main
    from stylegram.explore.activations import colorize
    from stylegram.io import save_image
    img = tmp_path / "photo.png"
    save_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), img)
    with pytest.raises(SystemExit) as e:
        main(["explore", "activations", str(img), "--layer", "relu1_1", "-o", str(tmp_path / "a.png"),
              "--net", "random", "--size", "32", "--tile", "32", "-q"])
    assert e.value.code in (0, None)
    a = np.asarray(Image.open(tmp_path / "a.png").convert("RGB")).astype(int)
    band = a[:20]  # the title line: dark text on white, above the maps
    assert (band == 255).all(axis=2).mean() > 0.7 and (band < 80).all(axis=2).sum() > 100
    lo, hi = colorize(np.array([0.0, 1.0]))  # a 160-px colour bar from the low to the high colour
    bar = [(y, x) for y in range(20, 50) for x in range(a.shape[1] - 159)
           if (a[y, x] == lo).all() and (a[y, x + 159] == hi).all()]
    assert bar, "no colour bar from the low to the high colour"


def test_gram_view_by_hand():
    from stylegram.explore.gram import correlation, cofire_map, seriation, top_pairs
    a = torch.zeros(1, 4, 2, 2)
    a[0, 0] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a[0, 1] = torch.tensor([[2.0, 0.0], [0.0, 2.0]])  # fires exactly with channel 0
    a[0, 2] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # never with channel 0
    g = (a.reshape(4, 4) @ a.reshape(4, 4).T) / 4
    assert g[0, 1] == pytest.approx(1.0) and g[0, 2] == 0
    r = correlation(g)
    assert r[0, 1] == pytest.approx(1.0) and r[0, 2] == 0 and r[3].abs().sum() == 0  # silent channel 3
    assert top_pairs(g, 1) == [(0, 1, pytest.approx(1.0))]
    order = seriation(r).tolist()
    assert sorted(order) == [0, 1, 2, 3] and order[-1] == 3 and abs(order.index(0) - order.index(1)) == 1
    assert torch.equal(cofire_map(a[0], 0, 1), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))


def test_gram_view_with_generated_and_figures(tiny_net, squares):
    from stylegram.explore import gram_figures, gram_view
    from conftest import gradient_image
    s, gimg = gradient_image(32, 40, seed=1), gradient_image(32, 40, seed=2)
    views = gram_view(s, tiny_net, ["relu1_1", "relu2_1"], generated=gimg, n_pairs=3)
    v = views["relu2_1"]
    assert v.gram.shape == (16, 16) and torch.allclose(v.gram, v.gram.T)
    assert len(v.pairs) == 3 and all(k < k2 and -1 <= r <= 1 + 1e-5 for k, k2, r in v.pairs)
    assert v.style_loss > 0 and v.diff.shape == (16, 16)
    same = gram_view(s, tiny_net, ["relu2_1"], generated=s)["relu2_1"]
    assert same.style_loss == pytest.approx(0, abs=1e-9) and same.diff.abs().max() == 0
    scan = scan_units(tiny_net.truncated(["relu2_1"]), squares, ["relu2_1"], size=32)
    figs = gram_figures(views, s, scan=scan, patch_px=12)
    assert set(figs) == {"gram_relu1_1", "gram_relu2_1", "pairs_relu1_1", "pairs_relu2_1"}
    assert figs["pairs_relu2_1"].size[1] > 3 * 36
    # a scan of another net: the fix names the --net that makes it (not the built net's own name)
    from stylegram.explore.api import explore_gram
    tiny_scan = scan_units(build_net("random-tiny", layers=["relu1_1"]), squares, ["relu1_1"], size=32)
    with pytest.raises(ConfigError) as e:
        explore_gram(s, net="random", layers=["relu1_1"], size=32, scan=tiny_scan)
    assert str(e.value) == "the scan was made with net 'random-vgg16-w0.125', not 'random-vgg16'; use --net random-tiny"
    # ... and of the same net with other weights (it showed that net's patches for each channel)
    from stylegram.nets.random import random_vgg
    assert explore_gram(s, net="random-tiny", layers=["relu1_1"], size=32, scan=tiny_scan)[0]
    assert explore_gram(s, net=build_net("random-tiny"), layers=["relu1_1"], size=32, scan=tiny_scan)[0]  # built whole
    other = random_vgg("vgg16", seed=1, width=0.125)
    with pytest.raises(ConfigError, match=r"^the scan was made with other weights for net 'random-vgg16-w0.125'; "):
        explore_gram(s, net=other, layers=["relu1_1"], size=32, scan=tiny_scan)


def test_gram_with_a_scan_builds_the_net_once(squares, monkeypatch):
    # the scan's weights were checked on a second net built for the scan's layers alone
    import stylegram.nets
    from conftest import gradient_image
    from stylegram.explore.api import explore_gram
    scan = scan_units(build_net("random-tiny", layers=["relu2_1"]), squares, ["relu2_1"], size=32)
    built = []
    real = stylegram.nets.build_net
    monkeypatch.setattr(stylegram.nets, "build_net", lambda *a, **kw: built.append(kw.get("layers")) or real(*a, **kw))
    views, figs = explore_gram(gradient_image(32, 40, seed=1), net="random-tiny", layers=["relu1_1"], size=32, scan=scan)
    assert built == [["relu1_1", "relu2_1"]] and list(views) == ["relu1_1"] and figs
    # other weights are still refused on that one net
    other = scan_units(build_net("random-tiny", layers=["relu2_1"], seed=1), squares, ["relu2_1"], size=32)
    with pytest.raises(ConfigError, match=r"^the scan was made with other weights for net 'random-vgg16-w0.125'; "):
        explore_gram(gradient_image(32, 40, seed=1), net="random-tiny", layers=["relu1_1"], size=32, scan=other)


def test_cli_gram_warns_when_the_scan_lacks_a_layer(squares, tmp_path, capsys):
    # --scan is given for the channels' top patches; a layer the scan does not hold got maps on the
    # style image instead, said only in the figure's labels ("ch 0 on style")
    from stylegram.cli import main
    from stylegram.io import save_image
    from conftest import gradient_image
    img = tmp_path / "style.png"
    save_image(gradient_image(32, 40, seed=1), img)
    scan_path = tmp_path / "scan.safetensors"
    scan_units(build_net("random-tiny", layers=["relu1_1"]), squares, ["relu1_1"], size=32, cache=scan_path)
    argv = ["explore", "gram", str(img), "-o", str(tmp_path / "g"), "--net", "random-tiny", "--size", "32",
            "--scan", str(scan_path), "--pairs", "2", "-q"]
    with pytest.raises(SystemExit) as e:
        main(argv + ["--layers", "relu1_1,relu2_1"])
    assert e.value.code == 0
    assert capsys.readouterr().err.strip().splitlines() == [
        f"stylegram: warning: the scan {scan_path} holds no relu2_1 (it holds relu1_1): the pairs of that layer show "
        "each channel's map on the style image, not its top patches; scan it with `stylegram explore units "
        "--layers ...` to see them"]
    assert (tmp_path / "g" / "pairs_relu2_1.png").is_file()
    with pytest.raises(SystemExit) as e:  # every layer in the scan: nothing to say
        main(argv + ["--layers", "relu1_1"])
    assert e.value.code == 0 and capsys.readouterr().err == ""


def test_reconstructions_lower_their_losses(tiny_net):
    from stylegram.explore import reconstruct, reconstruction_figure, reconstructions
    from conftest import gradient_image
    img = gradient_image(24, 24)
    rc = reconstruct(img, tiny_net, content_layer="relu2_1", iters=8)
    rs = reconstruct(img, tiny_net, style_layers=["relu1_1", "relu2_1"], iters=8)
    for r in (rc, rs):
        assert r.image.shape == img.shape and 0 <= float(r.image.min()) and float(r.image.max()) <= 1
        assert r.losses[-1] < 0.5 * r.losses[0]
    assert rc.label == "content of relu2_1" and rs.label == "style of {1_1, 2_1}"
    rows = reconstructions(img, tiny_net, blocks=2, iters=1)
    assert [r.layers for r in rows["style"]] == [("relu1_1",), ("relu1_1", "relu2_1")]
    fig = reconstruction_figure(img, rows, tile=40)
    assert fig.size == (10 + 3 * 50, 10 + 2 * (40 + 18 + 10))
    with pytest.raises(ValueError):
        reconstruct(img, tiny_net, iters=1)


def test_explore_reconstruct_takes_the_layers_of_a_users_own_net(tmp_path, capsys):
    from stylegram.cli import main
    from stylegram.explore import explore_reconstruct
    from stylegram.io import save_image
    from conftest import gradient_image
    torch.manual_seed(0)
    net = FeatureNet("mine", [("c1", nn.Conv2d(3, 4, 3, padding=1)), ("r1", nn.ReLU()), ("p1", nn.MaxPool2d(2)),
                              ("c2", nn.Conv2d(4, 4, 3, padding=1)), ("r2", nn.ReLU())])
    img = gradient_image(24, 24)
    # it built relu1_1 ... relu5_1 whatever the net: 'unknown layer for net 'mine': 'relu1_1'', no way round it
    with pytest.raises(ConfigError) as e:
        explore_reconstruct(img, net=net, size=None, iters=1)
    assert str(e.value) == ("net 'mine' has no layer relu1_1 (the default layers relu1_1 to relu5_1 are VGG's names); "
                            "name the layers to use, shallow to deep, with layers= (CLI: --layers); "
                            "this net has: c1, r1, p1, c2, r2")
    rows, fig = explore_reconstruct(img, net=net, size=None, iters=8, layers=["r1", "r2"])
    assert [r.layers for r in rows["content"]] == [("r1",), ("r2",)]
    assert [r.layers for r in rows["style"]] == [("r1",), ("r1", "r2")]
    assert [r.label for r in rows["content"] + rows["style"]] == ["content of r1", "content of r2", "style of r1",
                                                                  "style of {r1, r2}"]
    for r in rows["content"] + rows["style"]:
        assert r.image.shape == (1, 3, 24, 24) and r.losses[-1] < 0.6 * r.losses[0]  # r2 keeps 0.53: 4 pooled channels
    assert fig.size == (10 + 3 * 210, 10 + 2 * (200 + 18 + 10))
    hooked = HookedNet(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()), ["1"], name="seq", probe_size=16)
    with pytest.raises(ConfigError, match="net 'seq' has no layer conv1_1 .* this net has: 1$"):
        explore_reconstruct(img, net=hooked, size=None, kind="conv", blocks=2, iters=1)
    assert explore_reconstruct(img, net=hooked, size=None, iters=1, layers=["1"])[0]["style"][0].layers == ("1",)
    with pytest.raises(ConfigError, match="^net 'bank1d' works on 1D data; the explorer looks at images"):
        explore_reconstruct(img, net="bank1d", size=None, iters=1)  # no layer names would fix that
    # the CLI: --layers for a registry net named otherwise
    path = tmp_path / "in.png"
    save_image(gradient_image(32, 32), path)
    argv = ["explore", "reconstruct", str(path), "-o", str(tmp_path / "r.png"), "--net", "bank2d", "--size", "32",
            "--iters", "1", "-q"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and capsys.readouterr().err == (
        "stylegram: error: net 'bank2d' has no layer relu1_1 (the default layers relu1_1 to relu5_1 are VGG's names); "
        "name the layers to use, shallow to deep, with layers= (CLI: --layers); this net has: conv, relu\n")
    with pytest.raises(SystemExit) as e:
        main(argv + ["--layers", "relu"])
    assert e.value.code == 0 and Image.open(tmp_path / "r.png").size == (10 + 2 * 210, 10 + 2 * (200 + 18 + 10))


def test_a_comma_separated_layer_string_is_a_list_of_names(tiny_net, squares):
    from stylegram import explore_units
    from stylegram.explore import explore_gram
    from conftest import gradient_image
    net = tiny_net.truncated(["relu2_1"])
    x = gradient_image(16, 16)
    # it was read letter by letter: "unknown layer for net 'random-vgg16-w0.125': 'r'"
    assert net.check_layers("relu1_1, relu2_1,") == ["relu1_1", "relu2_1"] and net.check_layers(" , ") == []
    assert net.min_side("relu1_1,relu2_1") == 4
    one, both = net(x, "relu1_1"), net(x, "relu1_1,relu2_1")
    assert list(one) == ["relu1_1"] and list(both) == ["relu1_1", "relu2_1"]
    assert torch.equal(both["relu2_1"], net(x, ["relu1_1", "relu2_1"])["relu2_1"])
    with pytest.raises(ConfigError) as e:
        net(x, "relu1_1,relu9_9")
    assert str(e.value) == ("unknown layer for net 'random-vgg16-w0.125': 'relu9_9'; valid: conv1_1, relu1_1, "
                            "conv1_2, relu1_2, pool1, conv2_1, relu2_1")
    kw = dict(net="random-tiny", size=32, k=2, precision="fp32")
    scan, _ = explore_units(squares, None, layers="relu1_1,relu2_1", **kw)
    listed, _ = explore_units(squares, None, layers=["relu1_1", "relu2_1"], **kw)
    assert list(scan.layers) == ["relu1_1", "relu2_1"]
    assert torch.equal(scan.layers["relu2_1"].values, listed.layers["relu2_1"].values)
    assert list(scan_units(net, squares, "relu2_1", size=32, k=2).layers) == ["relu2_1"]
    with pytest.raises(ConfigError, match="^no layers given; name at least one, e.g. relu1_1$"):
        explore_units(squares, None, layers=" , ", **kw)
    views, _ = explore_gram(x, net="random-tiny", layers="relu1_1, relu2_1", size=None, n_pairs=1)
    assert list(views) == ["relu1_1", "relu2_1"]
    from stylegram.nets.features import split_layers
    assert split_layers(["relu1_1,relu2_1"]) == ["relu1_1,relu2_1"]  # a list is taken as it is
    hooked = HookedNet(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)), "0,2")
    assert hooked.layer_names == ["0", "2"] and list(hooked(x, "0, 2")) == ["0", "2"]
    with pytest.raises(ConfigError, match=r"^model: a function is not a torch module; HookedNet taps"):
        HookedNet(lambda t: t, ["a"])


def test_hooked_user_model_scans_like_a_featurenet(squares):
    """Any model: tap modules of a plain nn.Sequential by name and scan a folder with it."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 5, 3, padding=1), nn.ReLU())
    net = HookedNet(model, ["1", "4"], name="mine", probe_size=32)
    assert (net.info["4"].jump, net.info["4"].rf_size) == (2, 8)
    scan = scan_units(net, squares, ["1", "4"], size=32, k=2, precision="fp32")
    assert scan.layers["4"].channels == 5 and scan.net_name == "mine"
    with torch.no_grad():  # HookedNet leaves the model's parameters trainable, as it got them
        a = model[:5](load_view(squares / scan.files[int(scan.layers["4"].image[0, 0])], 32)[None])
    assert float(scan.layers["4"].values[0, 0]) == pytest.approx(float(a[0, 0].max()), rel=1e-5)


def _locate(img: np.ndarray, part: np.ndarray) -> tuple[int, int] | None:
    """(y, x) of the first place where ``part`` (h, w, 3) lies, pixel for pixel, inside ``img``."""
    h, w = part.shape[:2]
    ay, ax = np.argwhere((part != 255).any(-1))[0]  # anchor on the first non-white pixel
    hits = np.argwhere((img[ay:img.shape[0] - h + 1 + ay, ax:img.shape[1] - w + 1 + ax] == part[ay, ax]).all(-1))
    for y, x in hits:
        if np.array_equal(img[y:y + h, x:x + w], part):
            return int(y), int(x)
    return None


def _has_text(img: np.ndarray, text: str, size: int, fill: tuple = (40, 40, 40)) -> bool:
    """Whether ``text``, in the explorer's font of ``size`` px and colour ``fill`` on white, is drawn in
    ``img`` (uint8 (H, W, 3)): the ink of the text drawn alone, dark pixels for dark pixels."""
    from PIL import ImageDraw
    from stylegram.explore.render import _font
    font = _font(size)
    im = Image.new("RGB", (int(font.getlength(text)) + 20, 3 * size + 10), (255, 255, 255))
    ImageDraw.Draw(im).text((10, 5), text, fill=fill, font=font)
    ink = np.asarray(im).min(-1) < 128
    ys, xs = np.nonzero(ink)
    ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    dark = img.min(-1) < 128
    if dark.shape[0] < ink.shape[0] or dark.shape[1] < ink.shape[1]:
        return False
    win = np.lib.stride_tricks.sliding_window_view(dark, ink.shape)
    return bool((win == ink).all((-2, -1)).any())


def test_gram_heatmap_scale_is_not_swamped_by_a_few_hot_entries():
    from stylegram.explore.gram import heatmap
    m = torch.full((100, 100), 1.0)
    m[0, 0] = 1e4  # one loud entry
    img = heatmap(m, torch.arange(100), px=100)
    # the rest of the matrix is drawn at the top of the scale, not crushed to black by the one entry
    assert img.shape == (100, 100, 3) and img[50, 50].tolist() == img[0, 0].tolist() and img[50, 50].sum() > 600
    d = heatmap(torch.eye(4) - 0.5 * torch.ones(4, 4), torch.arange(4), px=4, diverging=True)
    assert d[0, 0, 0] > d[0, 0, 2] and d[0, 1, 2] > d[0, 1, 0]  # positive red, negative blue


def test_gram_figure_has_colour_bars_with_the_scale(tiny_net):
    # The Gram heatmaps had no colour bar: no values, and nothing said which sign of the
    # difference is red. Each map now has a bar beside it, ending in the map's end colours.
    from conftest import gradient_image
    from stylegram.explore import gram_figures, gram_view
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import colorbar, heat_top, heatmap
    s, gimg = gradient_image(32, 40, seed=1), gradient_image(32, 40, seed=2)
    v = gram_view(s, tiny_net, ["relu1_1"], generated=gimg, n_pairs=1)
    fig = np.asarray(gram_figures(v, s, heat_px=64)["gram_relu1_1"])
    gap = 10  # _labelled's
    y0, x0 = _locate(fig, heatmap(v["relu1_1"].gram, v["relu1_1"].order, 64))
    x_bar = x0 + 64 + 6  # right of the first heatmap, after with_colorbar's gap
    top_c, bottom_c = colorize(np.array([1.0, 0.0]), "magma")
    assert fig[y0 + 6, x_bar + 5].tolist() == top_c.tolist()  # the bar's top: the magma end colour
    assert fig[y0 + 64 - 7, x_bar + 5].tolist() == bottom_c.tolist()
    bar = colorbar(heat_top(v["relu1_1"].diff), 64, diverging=True)
    red, blue = colorize(np.array([1.0, 0.0]), "RdBu_r")
    assert bar[6, 5].tolist() == red.tolist() and bar[64 - 7, 5].tolist() == blue.tolist()
    assert (bar[:, 18:] < 128).any()  # tick labels are drawn
    assert fig.shape[1] >= 2 * (64 + 6 + bar.shape[1]) + 3 * gap


def test_gram_figure_clips_map_bar_and_title_at_one_value(tiny_net):
    # explore gram's colour bar took each map's 99.5th percentile again beside heatmap's own
    # clipping, and the title wrote 99.5 whatever heatmap used: one value, computed once, now
    # draws the map, labels its bar and is named in the title
    from conftest import gradient_image
    from stylegram.explore import gram_figures, gram_view
    from stylegram.explore.gram import colorbar, heat_top, heatmap
    s = gradient_image(32, 40, seed=1)
    v = gram_view(s, tiny_net, ["relu1_1"], n_pairs=0)["relu1_1"]
    t90 = heat_top(v.gram, 90)
    assert t90 < 0.5 * heat_top(v.gram)  # the clip matters for this matrix
    given = heatmap(v.gram, v.order, 64, top=t90)  # heatmap draws with the top it is given
    assert np.array_equal(given, heatmap(v.gram, v.order, 64, clip=90))
    assert not np.array_equal(given, heatmap(v.gram, v.order, 64))
    fig = np.asarray(gram_figures({"relu1_1": v}, s, heat_px=64, clip=90)["gram_relu1_1"])
    assert _locate(fig, given) is not None and _locate(fig, heatmap(v.gram, v.order, 64)) is None
    assert _locate(fig, colorbar(t90, 64)) is not None  # the bar: the same top, in its labels too
    assert _has_text(fig, "90th percentile", 14, (0, 0, 0)) and not _has_text(fig, "99.5th", 14, (0, 0, 0))
    with pytest.raises(ConfigError, match=r"^clip 0: must be a percentile above 0 and at most 100$"):
        gram_figures({"relu1_1": v}, s, clip=0)


def test_gram_figure_draws_a_signed_layers_negative_entries():
    # A HookedNet tapping a conv or BatchNorm output gives a signed Gram: its negative entries were
    # drawn as 0 (magma of the clamped value) under a title saying "square root of |value|".
    # Now red-blue (signed square root), with a colour bar from -top to top; ReLU layers unchanged.
    from conftest import gradient_image
    from stylegram.explore import gram_figures, gram_view
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import colorbar, heat_top, heatmap
    torch.manual_seed(0)
    net = HookedNet(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8).eval(), nn.ReLU()), ["1", "2"],
                    probe_size=16)
    s = gradient_image(24, 24, seed=1)
    views = gram_view(s, net, ["1", "2"], n_pairs=0)
    v = views["1"]
    g = v.gram[v.order][:, v.order]
    top = heat_top(v.gram)
    neg = torch.nonzero(g < -0.1 * top)  # clearly negative entries
    assert len(neg) >= 10
    heat = heatmap(v.gram, v.order, px=8 * 8)  # 8 px a cell
    zero_rd, zero_magma = colorize(np.array([0.5]), "RdBu_r")[0], colorize(np.array([0.0]), "magma")[0]
    for i, j in neg.tolist():
        c = heat[8 * i + 4, 8 * j + 4].astype(int)
        assert c[2] > c[0] + 40, (i, j, c)  # blue, not the colour of 0 (white here, black in magma)
        assert c.tolist() != zero_magma.tolist() and np.abs(c - zero_rd).sum() > 60
    pos = torch.nonzero(g > 0.1 * top)
    assert all(heat[8 * i + 4, 8 * j + 4, 0] > heat[8 * i + 4, 8 * j + 4, 2] + 40 for i, j in pos.tolist())
    fig = gram_figures({"1": v}, s, heat_px=64)["gram_1"]
    a = np.asarray(fig)
    assert _locate(a, heat) is not None and _locate(a, colorbar(top, 64, diverging=True)) is not None
    assert _has_text(a, "signed: red > 0, blue < 0", 12)
    # the ReLU after it: never negative, drawn in magma as before
    r = views["2"]
    assert not (r.gram < 0).any()
    assert np.array_equal(heatmap(r.gram, r.order, 48), heatmap(r.gram, r.order, 48, diverging=False))
    b = np.asarray(gram_figures({"2": r}, s, heat_px=48)["gram_2"])
    assert _locate(b, colorbar(heat_top(r.gram), 48)) is not None and not _has_text(b, "signed", 12)


def test_gram_figure_axes_name_the_channels_in_seriated_order(tiny_net):
    # The heatmaps' axes said nothing: which channel sat where was only in gram.json. Now each
    # axis has the channel ids at its ticks (all of them for a few channels) and says the order.
    from conftest import gradient_image
    from stylegram.explore import gram_figures, gram_view
    from stylegram.explore.gram import heat_top, heatmap
    s = gradient_image(32, 40, seed=1)
    v = gram_view(s, tiny_net, ["relu1_1"], generated=gradient_image(32, 40, seed=2), n_pairs=0)["relu1_1"]
    order = v.order.tolist()
    assert len(order) == 8 and order != sorted(order)
    fig = np.asarray(gram_figures({"relu1_1": v}, s, heat_px=128)["gram_relu1_1"])
    for m in (v.gram, v.diff):  # both maps have the axes
        y0, x0 = _locate(fig, heatmap(m, v.order, 128, top=heat_top(m)))
        for i, c in enumerate(order):  # cells of 16 px: the id of the channel at position i beside its row / column
            assert _has_text(fig[y0 + 16 * i:y0 + 16 * i + 16, x0 - 20:x0], str(c), 10), (i, c)
            assert _has_text(fig[y0 - 20:y0, x0 + 16 * i:x0 + 16 * i + 16], str(c), 10), (i, c)
    assert _has_text(fig, "channel, in seriated order", 10)
    from stylegram.explore.gram import channel_ticks
    assert [t[1] for t in channel_ticks(torch.tensor([5, 2, 7, 0]), 64)] == [5, 2, 7, 0]
    assert [t[0] for t in channel_ticks(torch.tensor([5, 2, 7, 0]), 64)] == [8, 24, 40, 56]  # cell centres
    wide = channel_ticks(torch.arange(512).flip(0), 384)  # VGG's 512: every 50th position, readable
    assert [c for _, c in wide] == [511 - 50 * i for i in range(11)] and wide[1][0] - wide[0][0] == 37


def test_gram_heatmap_with_an_inf_or_nan_entry_keeps_the_rest_of_the_map():
    # One inf entry (a float16 model's overflow) or NaN (inf - inf in a difference) made the clip
    # percentile NaN: the whole map came out one colour, under a colour bar labelled 'nan'.
    import math
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import heat_top, heatmap
    g = torch.rand(6, 6, generator=torch.Generator().manual_seed(0)) + 0.1
    order = torch.arange(6)
    for bad in (float("inf"), float("nan"), float("-inf")):
        m = g.clone()
        m[1, 2] = bad
        top = heat_top(m)
        assert math.isfinite(top) and top == pytest.approx(heat_top(torch.cat([g.flatten()[:8], g.flatten()[9:]])))
        heat = heatmap(m, order, 6, diverging=True)  # one px a cell
        assert len(np.unique(heat.reshape(-1, 3), axis=0)) > 20, bad
        end = {float("inf"): 1.0, float("-inf"): 0.0}.get(bad, 0.5)  # +-inf: the end colours; NaN: that of 0
        assert heat[1, 2].tolist() == colorize(np.array([end]), "RdBu_r")[0].tolist(), bad
    m = g.clone()
    m[1, 2] = float("inf")
    heat = heatmap(m, order, 6)  # magma (no negative entry): the inf in the top colour
    assert heat[1, 2].tolist() == colorize(np.array([1.0]), "magma")[0].tolist()
    assert len(np.unique(heat.reshape(-1, 3), axis=0)) > 20


def test_gram_figure_labels_do_not_run_into_each_other_beside_small_maps(tiny_net):
    # Each map's label was laid from its map's left edge and ran on past it: beside 64 px maps the
    # style matrix's label ran into the difference's, and neither could be read
    from conftest import gradient_image
    from stylegram.explore import gram_figures, gram_view
    s = gradient_image(32, 40, seed=1)
    v = gram_view(s, tiny_net, ["relu1_1"], generated=gradient_image(32, 40, seed=2), n_pairs=0)["relu1_1"]
    fig = np.asarray(gram_figures({"relu1_1": v}, s, heat_px=64)["gram_relu1_1"])
    assert _has_text(fig, "G/N of the style image (8 channels)", 12)
    assert _has_text(fig, f"G(S)/N - G(G)/N: red, style's larger   (J_style = {v.style_loss:.3g})", 12)


def test_gram_axes_labels_are_whole_beside_small_maps():
    # The axis label turned upright beside the map was cut to the map's height ("seriated order"
    # of "channel, in seriated order" beside a 64 px map), and the one above it to the image's
    # width. The figure grows to hold both.
    from stylegram.explore.gram import AXIS_LABEL, heat_top, heatmap, with_channel_axes, with_colorbar
    g, order = torch.rand(8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(8)
    for img in (with_colorbar(heatmap(g, order, 64), heat_top(g)), heatmap(g, order, 48)):
        out = with_channel_axes(img, order, img.shape[0])
        assert _has_text(out, AXIS_LABEL, 10), img.shape  # above the map
        assert _has_text(np.ascontiguousarray(np.rot90(out, -1)), AXIS_LABEL, 10), img.shape  # left, read upwards


def _bar_ramp(fig: np.ndarray, box: dict) -> np.ndarray:
    """The colour ramp of the colour bar beside a framed heatmap (``with_colorbar``: 6 px right of
    the map, 6 px in from its top and bottom), top to bottom -> uint8 (span, 3), at the bar's middle."""
    x, y, px = box["x"], box["y"], box["px"]
    return fig[y + 6: y + px - 6, x + px + 6 + 6]


def test_studio_gram_view_draws_the_explorers_framed_heatmaps(tmp_path):
    # The studio's Gram view is a shell over explore.gram: the same matrix, the same channel order,
    # the same colours as `stylegram explore gram`, and now its frame too: it served bare heatmaps
    # (px x px, no colour bar, no channel ids, no layer name), so a reader could tell neither the
    # values nor which channel a row is.
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import heat_top, gram_view, heatmap
    from stylegram.io import load_image, save_image
    from stylegram.web.gramview import GRAM_LAYERS, gram_heatmaps
    img = tmp_path / "in.png"
    save_image(torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(3)), img)
    got = gram_heatmaps(img, tmp_path, net_name="random-tiny", size=64, px=64)
    assert [g["layer"] for g in got] == list(GRAM_LAYERS)
    views = gram_view(load_image(img, 64), build_net("random-tiny", layers=list(GRAM_LAYERS), seed=0),
                      list(GRAM_LAYERS))
    reordered = 0
    for g in got:
        v = views[g["layer"]]
        top = heat_top(v.gram)
        assert g["channels"] == v.gram.shape[0] and g["max"] == pytest.approx(float(v.gram.max()))
        assert g["min"] == pytest.approx(float(v.gram.min())) and g["top"] == pytest.approx(top)
        assert (g["clip"], g["signed"], g["colormap"]) == (99.5, False, "magma")
        assert g["order"] == v.order.tolist() and g["positions"] == v.act.shape[1] * v.act.shape[2]
        fig = np.asarray(Image.open(tmp_path / g["file"]).convert("RGB"))
        box = g["map"]
        assert fig.shape == (g["height"], g["width"], 3) and box["px"] == 64
        # the frame: the axes above and left of the map, the layer's name above them, the bar right
        assert box["x"] >= 20 and box["y"] >= 40 and g["width"] >= box["x"] + 64 + 6 + 12 + 20
        x, y = box["x"], box["y"]
        assert np.array_equal(fig[y:y + 64, x:x + 64], heatmap(v.gram, v.order, 64))
        assert _has_text(fig[:18], f"{g['layer']}: G/N, {g['channels']} channels", 12, fill=(0, 0, 0))
        ramp = _bar_ramp(fig, box)
        assert np.array_equal(ramp, colorize(np.linspace(1, 0, 52)[:, None], "magma")[:, 0])
        # the bar reads back the map: an entry's colour is the bar's at sqrt(value / top) of its height
        m = v.gram[v.order][:, v.order]
        for i, j in [(0, 0), (1, 2), (3, 1)]:
            frac = min(float(m[i, j]) / top, 1.0) ** 0.5
            cell = fig[y + i * 64 // len(v.order), x + j * 64 // len(v.order)].astype(int)
            nearest = int(np.abs(ramp.astype(int) - cell).sum(1).argmin())
            assert abs(nearest - round((1 - frac) * 51)) <= 1, (g["layer"], i, j, frac, nearest)
        reordered += not torch.equal(v.order, torch.arange(len(v.order)))
    assert reordered >= 3  # seriated, not the channels' own order


def test_studio_gram_view_draws_a_signed_layer_red_blue_as_the_explorer(tmp_path):
    # A conv layer's Gram has negative entries: the explorer's rule draws it red-blue by sign,
    # with a bar from -top to top and white at 0, and the studio now says so in the title and JSON.
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import framed_heatmap, gram_view, heat_top
    from stylegram.io import load_image, save_image
    from stylegram.web.gramview import gram_heatmaps
    img = tmp_path / "in.png"
    save_image(torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(3)), img)
    (g,) = gram_heatmaps(img, tmp_path, net_name="random-tiny", size=64, layers=("conv2_1",), px=64)
    v = gram_view(load_image(img, 64), build_net("random-tiny", layers=["conv2_1"], seed=0), ["conv2_1"])["conv2_1"]
    assert g["min"] < 0 and (g["signed"], g["colormap"]) == (True, "RdBu_r")
    fig = np.asarray(Image.open(tmp_path / g["file"]).convert("RGB"))
    ramp = _bar_ramp(fig, g["map"])
    assert np.array_equal(ramp, colorize(np.linspace(1, 0, 52)[:, None], "RdBu_r")[:, 0])
    # dark red on top (>= top), dark blue at the bottom (<= -top), near white in the middle (0)
    assert tuple(ramp[0]) == (103, 0, 31) and tuple(ramp[-1]) == (5, 48, 97) and ramp[25:27].min() > 235
    framed, (x, y) = framed_heatmap(v.gram, v.order, 64, top=heat_top(v.gram))
    assert np.array_equal(fig[18:, :framed.shape[1]], framed) and (x, y + 18) == (g["map"]["x"], g["map"]["y"])
    assert _has_text(fig[:18], "conv2_1: G/N, 16 channels, signed: red > 0, blue < 0", 12, fill=(0, 0, 0))


def test_cli_activations_gram_reconstruct(tmp_path, capsys):
    from stylegram.cli import main
    from stylegram.io import save_image
    from conftest import gradient_image
    img = tmp_path / "in.png"
    save_image(gradient_image(32, 32), img)
    for argv in (["explore", "activations", str(img), "--layer", "relu1_2", "-o", str(tmp_path / "a.png"),
                  "--net", "random", "--size", "32", "--tile", "16"],
                 ["explore", "activations", str(img), "--layer", "relu1_2", "-o", str(tmp_path / "one.png"),
                  "--net", "random", "--size", "32", "--channels", "5"],
                 ["explore", "gram", str(img), "-o", str(tmp_path / "g"), "--net", "random", "--layers", "relu1_1",
                  "--size", "32", "--generated", str(img), "--pairs", "2"],
                 ["explore", "reconstruct", str(img), "-o", str(tmp_path / "r.png"), "--net", "random", "--size", "32",
                  "--iters", "1", "--blocks", "1"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0, argv
        said = capsys.readouterr().err.strip().splitlines()[-1]
        assert said.startswith("wrote ") and " 1 maps " not in said, argv
        if "--channels" in argv:
            assert said == f"wrote {tmp_path / 'one.png'} (1 map of 32 x 32)"
        with pytest.raises(SystemExit) as e:  # every explore command takes -q: then it prints nothing
            main(argv + ["-q"])
        assert e.value.code == 0 and capsys.readouterr().err == "", argv
    assert Image.open(tmp_path / "a.png").size[0] > 64
    g = json.loads((tmp_path / "g" / "gram.json").read_text())
    assert g["relu1_1"]["style_loss"] == pytest.approx(0, abs=1e-9) and len(g["relu1_1"]["pairs"]) == 2
    assert (tmp_path / "g" / "pairs_relu1_1.png").is_file() and (tmp_path / "r.png").is_file()
    with pytest.raises(SystemExit) as e:
        main(["explore", "activations", str(img), "--layer", "relu9", "-o", str(tmp_path / "b.png"), "--net", "random"])
    assert e.value.code == 2 and "valid" in capsys.readouterr().err
    for cmd in ("activations", "gram", "reconstruct"):  # with the progress bar on: the error is the only line
        argv = ["explore", cmd, str(tmp_path / "nope.png"), "-o", str(tmp_path / f"n_{cmd}.png"), "--net", "random"]
        with pytest.raises(SystemExit) as e:
            main(argv + (["--layer", "relu1_1"] if cmd == "activations" else []))
        err = capsys.readouterr().err
        assert e.value.code == 2 and err == f"stylegram: error: {tmp_path / 'nope.png'}: file not found; check the path\n", err


def test_bf16_scan_finds_the_same_top_images(tiny_net, squares):
    net = tiny_net.truncated(["relu2_1"])
    a = scan_units(net, squares, ["relu2_1"], size=32, precision="fp32", channels_last=False)
    b = scan_units(net, squares, ["relu2_1"], size=32, precision="bf16")
    t, u = a.layers["relu2_1"], b.layers["relu2_1"]
    live = t.values[:, 0] > 0
    assert torch.allclose(t.values[live, 0], u.values[live, 0], rtol=2e-2)
    assert (t.image[live, 0] == u.image[live, 0]).float().mean() > 0.8
    assert b.precision == "bf16" and net.body["conv1_1"].weight.is_contiguous()  # caller's net untouched


def test_explore_refuses_bad_size_and_iters(tiny_net):
    from stylegram.explore.api import explore_activations, explore_gram, explore_reconstruct
    img = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match=r"^size -1: must be a positive number of px$"):
        explore_activations(img, "relu1_1", net=tiny_net, size=-1)
    with pytest.raises(ConfigError, match=r"^size 0: must be a positive number of px$"):
        explore_gram(img, net=tiny_net, layers=["relu1_1"], size=0)
    with pytest.raises(ConfigError, match=r"^iters -1: must be 0 or more$"):
        explore_reconstruct(img, net=tiny_net, size=40, iters=-1, blocks=1)
    # more blocks than the net has: the range, not "unknown layer relu6_1" and 31 names
    for net, name in (("random-tiny", "random-tiny"), (tiny_net, "random-vgg16-w0.125")):
        with pytest.raises(ConfigError) as e:
            explore_reconstruct(img, net=net, size=40, iters=1, blocks=9)
        assert str(e.value) == f"blocks 9: net '{name}' has blocks 1 to 5 (relu1_1 to relu5_1); give at most 5"


def test_cli_index_lists_name_their_own_option(tmp_path, capsys):
    # `explore activations --channels 1,x` was told about --units.
    from stylegram.cli import main
    img = tmp_path / "in.png"
    Image.new("RGB", (32, 32), (90, 120, 200)).save(img)
    with pytest.raises(SystemExit) as e:
        main(["explore", "activations", str(img), "--layer", "relu1_1", "-o", str(tmp_path / "a.png"),
              "--net", "random-tiny", "--channels", "1,x"])
    assert e.value.code == 2
    assert capsys.readouterr().err == ("stylegram: error: --channels '1,x': give channel indices separated by commas, "
                                       "e.g. 0,5,17\n")


@pytest.mark.parametrize("argv, message", [
    (["activations", "IMG", "--layer", "relu1_1", "-o", "OUT/a.png", "--cols", "0"],
     "cols 0: must be 1 or more (or not given, for a square grid)"),
    (["activations", "IMG", "--layer", "relu1_1", "-o", "OUT/a.png", "--tile", "-5"],
     "tile -5: must be 0 or more px (0: each map at its own size)"),
    (["gram", "IMG", "-o", "OUT/g", "--pairs", "-3"], "pairs -3: must be 0 or more"),
    (["gram", "IMG", "-o", "OUT/g", "--layers", ","], "no layers given; name at least one, e.g. relu1_1"),
    (["reconstruct", "IMG", "-o", "OUT/r.png", "--blocks", "0"],
     "blocks 0: must be 1 or more (1: relu1_1 only; 5: up to relu5_1)"),
    (["units", "--images", "DIR", "-o", "OUT/u", "--layers", "relu1_1", "--patch-px", "0"],
     "patch_px 0: must be at least 8 px"),
    (["units", "--images", "DIR", "-o", "OUT/u", "--layers", "relu1_1", "--threads", "-1"],
     "threads -1: must be 1 or more (or not given, for torch's default)"),
    (["units", "--images", "DIR", "-o", "OUT/u", "--layers", "relu5_1", "--size", "16"],
     "size 16: the square view is 16 x 16 px, but layer relu5_1 needs at least 32 px on each side; raise --size"),
    (["units", "--images", "DIR", "-o", "OUT/u", "--layers", "relu1_1", "--seed", "-1"],
     "seed -1: must be a whole number from 0 to 4294967295"),  # was refused only after the scan
    (["reconstruct", "IMG", "-o", "OUT/r.png", "--seed", str(2**64)],
     f"seed {2**64}: must be a whole number from 0 to 4294967295"),  # an overflow traceback in torch
])
def test_explore_option_values_that_cannot_work_are_one_line(tmp_path, capsys, argv, message):
    # Each of these was a traceback (or, for a 16-px view of relu5_1, a report of 1 x 1 maps).
    from stylegram.cli import main
    img = tmp_path / "in.png"
    Image.new("RGB", (64, 48), (90, 120, 200)).save(img)
    subs = {"IMG": str(img), "DIR": str(tmp_path)}
    argv = ["explore"] + [subs.get(a, a.replace("OUT", str(tmp_path))) for a in argv] + ["--net", "random-tiny"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert capsys.readouterr().err == f"stylegram: error: {message}\n"
    assert not (tmp_path / "u" / "scan.safetensors").exists()  # refused before the scan


def test_hooked_net_tap_followed_by_an_inplace_op_keeps_its_own_values():
    # ReLU(inplace=True) after a tapped BatchNorm overwrote the tapped tensor: the 'bn' activations
    # came back rectified (min 0.0 instead of negative), in grad and inference mode alike.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                          nn.Conv2d(4, 4, 3, padding=1)).eval()
    x = torch.rand(1, 3, 10, 10) - 0.5
    want = model[1](model[0](x)).detach()
    assert float(want.min()) < 0
    net = HookedNet(model, ["1", "3"])
    for mode in (torch.enable_grad, torch.inference_mode):
        with mode():
            out = net(x, ["1", "3"])
        assert torch.equal(out["1"], want), mode
        assert torch.equal(out["3"], model[3](torch.relu(want)))


def test_hooked_net_takes_models_in_other_dtypes_compiled_ones_and_refuses_what_it_cannot_run():
    # A float64 (or float16) model failed in its first layer ("Input type (float) and bias type
    # (double) should be the same"); a torch.compile'd one failed in the style loss's backward
    # (donated buffers); TorchScript and two-input models failed with torch's own errors mid-run.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1))
    x = torch.rand(1, 3, 12, 12)
    want = model(x).detach()
    twin = copy.deepcopy(model).double()
    out = HookedNet(twin, ["2"])(x)["2"]
    assert out.dtype == torch.float32 and torch.allclose(out, want, atol=1e-6)
    assert next(twin.parameters()).dtype == torch.float64  # the caller's model is not converted
    assert HookedNet(twin, ["2"], probe_size=32).info["2"].rf_size == 5
    compiled = torch.compile(model)
    for names in (["_orig_mod.0", "_orig_mod.2"], ["0", "2"]):
        net = HookedNet(compiled, names)
        assert net.layer_names == ["0", "2"] and net.name == "Sequential" and net.model is model
        assert torch.equal(net(x, ["2"])["2"], want)
    with pytest.raises(ConfigError, match=r"^model: a TorchScript module \(RecursiveScriptModule\) cannot be tapped, as "
                                          r"TorchScript does not run forward hooks; give the nn.Module it was"):
        with warnings.catch_warnings():  # torch 2.13 deprecates torch.jit.script; users still have such modules
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.script(model)
        HookedNet(scripted, ["0"])

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)

        def forward(self, x, mask, scale=1.0):
            return self.c(x * mask) * scale
    with pytest.raises(ConfigError, match=r"^model: TwoInputs.forward needs 2 inputs \(x, mask\); HookedNet gives it "
                                          r"the image alone: wrap the model in a module whose forward\(x\) supplies"):
        HookedNet(TwoInputs(), ["c"])


def test_explore_api_at_the_images_own_size_says_so_when_it_is_too_small():
    # size=None (the image at its own size) gave "image: at --size None the image is ... raise --size"
    from stylegram.errors import InputError
    from stylegram.explore import explore_activations
    net = HookedNet(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                                  nn.MaxPool2d(2)), ["3"], probe_size=32)
    with pytest.raises(InputError, match=r"^image: the image is 5 x 3 px, but layer 3 needs at least 8 px on each side; "
                                         r"give a larger image, or a size to enlarge it to$"):
        explore_activations(torch.rand(1, 3, 3, 5), "3", net=net, size=None)
    with pytest.raises(InputError, match=r"^image: at --size 6 the image is 6 x 4 px, but layer 3 needs at least 8 px"):
        explore_activations(torch.rand(1, 3, 3, 5), "3", net=net, size=6)


@pytest.mark.parametrize("option, message", [
    # the scan's check answered "top-k needs k >= 1 and per_image >= 1, got k=0, per_image=1": the
    # command has no k, and it came after the folder was listed
    (["--top", "0"], "top 0: must be 1 or more activations kept per unit"),
    (["--per-image", "0"], "per_image 0: must be 1 or more patches of a unit from one image"),
])
def test_explore_units_top_and_per_image_errors_name_the_option(squares, tmp_path, option, message):
    import contextlib
    import io

    from stylegram.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        main(["explore", "units", "--images", str(squares), "-o", str(tmp_path / "u"), "--net", "random-tiny",
              "--size", "32", "-q", *option])
    assert (e.value.code, err.getvalue().strip()) == (2, f"stylegram: error: {message}")
    assert not (tmp_path / "u").exists()


def test_gram_heatmap_of_512_channels_draws_every_channel():
    # 512 channels shrunk to 384 px by nearest neighbour drew only channels 0, 2, 3, 4, 6, ... (pixel
    # i showed channel int((i + 0.5) * 4 / 3)): one channel in four (1, 5, 9, ...) never appeared. Now the map is
    # drawn at a whole number of pixels per channel: 512 px, pixel i is channel i.
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import heatmap
    m = torch.zeros(512, 512)
    m[1, 3] = m[3, 1] = 1.0  # odd channels, both skipped by the old drawing
    img = heatmap(m, torch.arange(512), 384, top=1.0)
    hot = tuple(colorize(np.ones((1, 1)), "magma")[0, 0])
    assert img.shape == (512, 512, 3)
    assert sorted(map(tuple, np.argwhere((img == hot).all(-1)).tolist())) == [(1, 3), (3, 1)]
    # in a seriated order too: the entry is drawn where the order puts channels 1 and 3
    order = torch.randperm(512, generator=torch.Generator().manual_seed(0))
    img = heatmap(m, order, 384, top=1.0)
    ys, xs = np.nonzero((img == hot).all(-1))
    assert sorted(zip(order[ys].tolist(), order[xs].tolist())) == [(1, 3), (3, 1)]
    # 256 channels at 384: 2 px each, not alternately 1 and 2
    m = torch.zeros(256, 256)
    m[5, 5] = 1.0
    img = heatmap(m, torch.arange(256), 384, top=1.0)
    assert img.shape == (512, 512, 3)
    assert np.argwhere((img == hot).all(-1)).tolist() == [[10, 10], [10, 11], [11, 10], [11, 11]]
    from stylegram.explore.gram import heat_binned, heat_side
    assert [heat_side(c, 384) for c in (64, 128, 256, 512, 1024, 1100)] == [384, 384, 512, 512, 1024, 384]
    assert [heat_side(c, 256) for c in (64, 256, 512)] == [256, 256, 512]
    assert not heat_binned(512, 384) and heat_binned(1100, 384) and not heat_binned(1100, 2048)


def test_gram_heatmap_of_more_channels_than_cells_averages_blocks():
    # Beyond MAX_CELLS channels a map smaller than C px is an area average: one hot entry still
    # shows, in its block's pixel, at the mean of the block (not dropped as nearest neighbour did).
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import heatmap
    c, px = 1100, 100  # 11 channels a pixel
    m = torch.zeros(c, c)
    m[23, 1001] = 121.0  # one of the 121 entries of the block at pixel (2, 91): its mean is 1
    img = heatmap(m, torch.arange(c), px, top=121.0)
    cold = tuple(colorize(np.zeros((1, 1)), "magma")[0, 0])
    lit = np.argwhere((img != cold).any(-1)).tolist()
    assert lit == [[2, 91]]  # row 23 // 11, column 1001 // 11
    assert tuple(img[2, 91]) == tuple(colorize(np.full((1, 1), (1 / 121) ** 0.5), "magma")[0, 0])
    # an inf entry colours its block no hotter than the end colour, not the whole map
    m[500, 500] = float("inf")
    img = heatmap(m, torch.arange(c), px, top=121.0)
    assert tuple(img[45, 45]) == tuple(colorize(np.full((1, 1), (1 / 121) ** 0.5), "magma")[0, 0])
    # the explorer's figure says that its map averages
    from stylegram.explore.gram import LayerGram, gram_figures
    m[500, 500] = 0.0
    v = LayerGram("x", m, m, torch.arange(c), [], torch.zeros(c, 2, 2))
    fig = np.asarray(gram_figures({"x": v}, torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)),
                                  heat_px=px)["gram_x"])
    assert _has_text(fig, "G/N of the style image (1100 channels, 100 px: each the mean of ~11 channels)", 12)


def _vgg512():
    """relu4_1 of a random-weight VGG16: 512 channels."""
    from stylegram.nets.random import random_vgg
    return random_vgg("vgg16", seed=0, upto="relu4_1")


def test_gram_figure_and_studio_json_show_every_channel_of_a_512_channel_layer(tmp_path):
    # The explorer's figure (384 px asked) and the studio's PNG (256 px asked) of a 512-channel
    # layer: the map is 512 px, and pixel i of it is channel order[i * C // px], the rule the
    # JSON's "map" and "order" give the page's pointer readout.
    from stylegram.explore.activations import colorize
    from stylegram.explore.gram import gram_figures, gram_view, heat_top
    from stylegram.io import load_image, save_image
    from stylegram.web.gramview import gram_heatmaps
    img = tmp_path / "in.png"
    save_image(torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(3)), img)
    net = _vgg512()
    (g,) = gram_heatmaps(img, tmp_path, net_name="r", size=64, layers=("relu4_1",), net=net, px=256)
    v = gram_view(load_image(img, 64), net, ["relu4_1"], n_pairs=0)["relu4_1"]
    assert g["channels"] == 512 and g["map"]["px"] == 512 and g["map"]["binned"] is False
    fig = np.asarray(Image.open(tmp_path / g["file"]).convert("RGB"))
    x, y, px = g["map"]["x"], g["map"]["y"], g["map"]["px"]
    # every pixel of the map, by the readout's rule, against the full matrix coloured entry by entry
    top = heat_top(v.gram)
    full = colorize((v.gram.clamp_min(0) / top).clamp_max(1).sqrt().numpy(), "magma")
    idx = [g["order"][i * 512 // px] for i in range(px)]
    assert sorted(set(idx)) == list(range(512))
    assert np.array_equal(fig[y:y + px, x:x + px], full[idx][:, idx])
    assert g["width"] >= x + 512 + 40 and g["height"] >= y + 512
    # the explorer's figure: the same 512 px map, every channel drawn
    figs = gram_figures({"relu4_1": v}, load_image(img, 64), heat_px=384)
    f = np.asarray(figs["gram_relu4_1"])
    idx = [int(v.order[i]) for i in range(512)]
    assert _locate(f, full[idx][:, idx]) is not None


def test_studio_gram_readout_names_the_channel_of_every_pixel(tmp_path):
    # The page's gramCell (studio.js) run in node on the JSON of a 512-channel layer: each of the
    # 512 channels is named for its pixel of the map, and a binned map names its block's channels.
    import shutil
    import subprocess
    from stylegram.io import save_image
    from stylegram.web.gramview import gram_heatmaps
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    import stylegram.web
    src = (Path(stylegram.web.__file__).parent / "static/studio.js").read_text()
    fn = re.search(r"^function gramCell\(l, x, y\) \{.*?^\}", src, re.S | re.M).group(0)
    img = tmp_path / "in.png"
    save_image(torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(3)), img)
    (g,) = gram_heatmaps(img, tmp_path, net_name="r", size=64, layers=("relu4_1",), net=_vgg512(), px=256)
    binned = {"order": list(range(1100)), "map": {"x": 3, "y": 5, "px": 100, "binned": True}}
    js = (fn + f"\nconst l = {json.dumps(g)}, b = {json.dumps(binned)};\n"
          "const rows = [], cols = [];\nfor (let i = 0; i < l.map.px; i++) {\n"
          "  rows.push(gramCell(l, l.map.x + 2.5, l.map.y + i + 0.5).row);\n"
          "  cols.push(gramCell(l, l.map.x + i + 0.5, l.map.y + 2.5).col);\n}\n"
          "console.log(JSON.stringify({rows, cols, off: gramCell(l, l.map.x - 1, l.map.y), "
          "end: gramCell(l, l.map.x + l.map.px, l.map.y), b: gramCell(b, 3 + 2.2, 5 + 99.9)}));\n")
    res = json.loads(subprocess.run([node, "-e", js], capture_output=True, text=True, check=True, timeout=60).stdout)
    assert res["rows"] == res["cols"] == [f"channel {c}" for c in g["order"]]
    assert res["off"] is None and res["end"] is None
    assert res["b"] == {"row": "mean of channels 1089, 1090, 1091, … (11)",
                        "col": "mean of channels 22, 23, 24, … (11)"}
