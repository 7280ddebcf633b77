"""Feature nets: named layers, truncation, real weight loaders, hashes, receptive fields."""
import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from stylegram.errors import ConfigError, WeightsError
from stylegram.nets import NetRegistry, NetSpec, build_net, default_registry
from stylegram.nets import vgg
from stylegram.nets.weights import (HED_VGG16, TV_VGG16, download_torchvision, hed_h5_path, load_hed,
                                    read_hed_h5, read_state_file, tensors_sha256)


def test_layer_names_and_truncation(tiny_net):
    names = vgg.layer_names("vgg16")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert "relu5_4" in vgg.layer_names("vgg19") and "relu5_4" not in names
    t = tiny_net.truncated(["relu2_1", "relu1_1"])
    assert t.layer_names[-1] == "relu2_1"
    out = t(torch.rand(1, 3, 32, 32), ["relu1_1", "relu2_1"])
    assert out["relu1_1"].shape == (1, 8, 32, 32) and out["relu2_1"].shape == (1, 16, 16, 16)


def test_frozen_and_eval(tiny_net):
    assert not any(p.requires_grad for p in tiny_net.parameters())
    tiny_net.train()
    assert not tiny_net.training


def test_unknown_layer_lists_valid_ones(tiny_net):
    with pytest.raises(ConfigError, match="unknown layer .*'relu9_1'.*valid: conv1_1, relu1_1"):
        build_net("random", layers=["relu9_1"])
    # asked of a built net too, instead of an empty dict and a KeyError later
    with pytest.raises(ConfigError, match="unknown layer .*'relu9_9'.*valid: conv1_1, relu1_1"):
        tiny_net(torch.rand(1, 3, 32, 32), ["relu1_1", "relu9_9"])


def test_build_net_takes_a_comma_separated_string_of_layers():
    # as forward(), explore_units and transfer take them; it was iterated letter by letter
    net = build_net("random-tiny", layers="relu1_1, relu2_1")
    assert net.layer_names[-1] == "relu2_1"
    out = net(torch.rand(1, 3, 32, 32), "relu1_1,relu2_1")
    assert out["relu2_1"].shape == (1, 16, 16, 16)
    with pytest.raises(ConfigError, match="unknown layer .*'relu9_1'.*valid: conv1_1"):
        build_net("random-tiny", layers="relu1_1,relu9_1")


def test_registry_refuses_duplicates_and_unknown():
    r = default_registry()
    with pytest.raises(ConfigError, match="already registered"):
        r.register(NetSpec("random", "again", lambda **k: None))
    with pytest.raises(ConfigError, match="unknown net 'alexnet'; valid: vgg16-hed, vgg16, vgg19, random, random-tiny"):
        r.get("alexnet")
    assert NetRegistry().names() == []


def test_pooling_choice():
    net = build_net("random", layers=["pool1"], pooling="avg", width=0.125)
    assert isinstance(net.body["pool1"], torch.nn.AvgPool2d)
    with pytest.raises(ConfigError, match="pooling"):
        build_net("random", layers=["pool1"], pooling="median")


def test_random_net_is_seeded():
    a = build_net("random", layers=["conv1_1"], seed=3, width=0.125)
    b = build_net("random", layers=["conv1_1"], seed=3, width=0.125)
    c = build_net("random", layers=["conv1_1"], seed=4, width=0.125)
    assert torch.equal(a.body["conv1_1"].weight, b.body["conv1_1"].weight)
    assert not torch.equal(a.body["conv1_1"].weight, c.body["conv1_1"].weight)


def test_hed_h5_from_installed_wheel(tmp_path):
    """The real loader on the real file: Keras layout -> (out, in, 3, 3), pinned digests hold."""
    path = hed_h5_path()
    state = read_hed_h5(path)
    assert state["conv1_1.weight"].shape == (64, 3, 3, 3) and state["conv5_3.bias"].shape == (512,)
    with h5py.File(path, "r") as f:  # kernel H x W x in x out -> out x in x H x W
        k = np.asarray(f["block3/layers/conv2d_2/vars/0"])
    assert torch.equal(state["conv3_3.weight"][7, 5], torch.from_numpy(k[:, :, 5, 7]))
    assert tensors_sha256(state) == HED_VGG16.tensors_sha256
    cached = load_hed(tmp_path)  # converts and caches
    assert list(tmp_path.glob("*.safetensors")) and tensors_sha256(cached) == HED_VGG16.tensors_sha256
    assert tensors_sha256(load_hed(tmp_path)) == HED_VGG16.tensors_sha256  # from the cache


def test_hed_cache_corruption_is_rebuilt(tmp_path):
    load_hed(tmp_path)
    (f,) = tmp_path.glob("*.safetensors")
    f.write_bytes(b"garbage")
    assert tensors_sha256(load_hed(tmp_path)) == HED_VGG16.tensors_sha256


def test_hed_hash_mismatch(tmp_path):
    fake = tmp_path / "fake.h5"
    with h5py.File(fake, "w") as f:
        f["block1/layers/conv2d/vars/0"] = np.zeros((3, 3, 3, 64), np.float32)
    with pytest.raises(WeightsError, match="does not match the pinned"):
        load_hed(tmp_path / "cache", h5_path=fake)


def _torchvision_state(arch: str) -> dict:
    """A random state dict in torchvision's exact key layout (features.N.weight/bias + classifier)."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    c_in = 3
    idx = vgg.torchvision_index(arch)
    for n in vgg.conv_names(arch):
        c_out = vgg.WIDTHS[int(n[0]) - 1]
        sd[f"features.{idx[n]}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=g)
        sd[f"features.{idx[n]}.bias"] = torch.randn(c_out, generator=g)
        c_in = c_out
    sd["classifier.0.weight"] = torch.zeros(4, 4)
    return sd


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_torchvision_layout_loader(tmp_path, arch, fmt):
    sd = _torchvision_state(arch)
    p = tmp_path / f"w.{fmt}"
    torch.save(sd, p) if fmt == "pth" else save_file(sd, str(p))
    last = "relu5_4" if arch == "vgg19" else "relu5_3"
    net = build_net(arch, weights=p, layers=[last])
    i = vgg.torchvision_index(arch)["5_1"]
    assert torch.equal(net.body["conv5_1"].weight, sd[f"features.{i}.weight"])
    x = torch.rand(1, 3, 32, 32)
    # torchvision's input convention: ImageNet mean/std on RGB in 0..1
    pre = net.preprocess(x)
    want = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(pre, want, atol=1e-6)


def test_torchvision_missing_key(tmp_path):
    sd = _torchvision_state("vgg16")
    del sd["features.28.bias"]
    torch.save(sd, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match="no weights for conv5_3"):
        build_net("vgg16", weights=tmp_path / "w.pth")


def test_download_hash_mismatch_without_network(tmp_path):
    (tmp_path / "vgg16-397923af.pth").write_bytes(b"not the real file")
    with pytest.raises(WeightsError, match="does not match vgg16's 397923af"):
        download_torchvision(TV_VGG16, tmp_path)


def test_evil_pickle_never_executes(shared):
    import os
    marker = "/tmp/stylegram_pickle_executed"
    if os.path.exists(marker):
        os.remove(marker)
    with pytest.raises(WeightsError, match="refused"):
        read_state_file(shared / "data" / "bad" / "evil_weights.pth")
    with pytest.raises(WeightsError, match="refused"):
        build_net("vgg16", weights=shared / "data" / "bad" / "evil_weights.pth")
    assert not os.path.exists(marker)


def test_random_bytes_safetensors(shared):
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        read_state_file(shared / "data" / "bad" / "random_bytes.safetensors")


def test_caffe_input_convention(hed_net):
    x = torch.rand(1, 3, 4, 4)
    want = x[:, [2, 1, 0]] * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    assert torch.allclose(hed_net.preprocess(x), want, atol=1e-4)


def test_layer_info_matches_output_shapes(tiny_net):
    x = torch.rand(1, 3, 64, 64)
    out = tiny_net(x)
    for name, a in out.items():
        info = tiny_net.info[name]
        assert a.shape[1] == info.channels
        assert a.shape[-1] == 64 // info.jump
    assert tiny_net.info["relu1_1"].rf_size == 3 and tiny_net.info["relu5_1"].rf_size == 132


def test_weights_with_nan_are_refused_and_dataparallel_keys_read(tmp_path):
    sd = _torchvision_state("vgg16")
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "dp.pth")  # saved from DataParallel
    net = build_net("vgg16", weights=tmp_path / "dp.pth", layers=["relu1_1"])
    assert torch.equal(net.body["conv1_1"].weight, sd["features.0.weight"])
    sd["features.2.weight"][0, 0, 0, 0] = float("nan")
    torch.save(sd, tmp_path / "nan.pth")
    with pytest.raises(WeightsError, match=r"nan.pth: features.2.weight holds NaN or Inf values; the file is damaged"):
        build_net("vgg16", weights=tmp_path / "nan.pth")


def test_building_a_net_leaves_the_callers_random_stream_alone():
    # nn.Conv2d's default initialization drew from the global generator before the weights were
    # loaded over it, so a user's torch.manual_seed(0); transfer(...); torch.rand(3) changed.
    torch.manual_seed(0)
    want = torch.rand(3)
    for name in ("vgg16-hed", "random-tiny"):
        torch.manual_seed(0)
        build_net(name, layers=["relu1_1"])
        assert torch.equal(torch.rand(3), want), name


def test_receptive_fields_of_blocks_the_arithmetic_cannot_follow_are_probed():
    # A residual block (or any module of the user's) was taken for a pointwise layer: its 3x3
    # convolution added nothing to the field (3 px instead of 5), so explorer crops were too small.
    from torch import nn
    from stylegram import ConfigError, FeatureNet, HookedNet

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            return x + self.conv(x)

    net = FeatureNet("mine", [("c1", nn.Conv2d(3, 8, 3, padding=1)), ("res", Residual()), ("relu", nn.ReLU()),
                              ("down", nn.Conv2d(8, 4, 3, stride=2, padding=1))])
    assert [(net.info[l].rf_size, net.info[l].jump) for l in net.layer_names] == [(3, 1), (5, 1), (5, 1), (7, 2)]
    # an nn.Sequential block is still a chain: worked out, not probed
    block = FeatureNet("blocks", [("c1", nn.Conv2d(3, 8, 3, padding=1)),
                                  ("b", nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)))])
    assert "b" in dict(block.info) and (block.info["b"].rf_size, block.info["b"].jump) == (6, 2)
    # 'same' padding (a ValueError from the arithmetic before) is measured too
    same = FeatureNet("same", [("c", nn.Conv2d(3, 4, 5, padding="same")), ("r", nn.ReLU())])
    assert (same.info["r"].rf_size, same.info["r"].rf_start) == (5, 0.0)
    # a head after the maps (what torchvision's children end with) costs nothing until tapped
    head = FeatureNet("head", [("c1", nn.Conv2d(3, 8, 3, padding=1)), ("relu", nn.ReLU()),
                               ("gap", nn.AdaptiveAvgPool2d(1)), ("flat", nn.Flatten()), ("fc", nn.Linear(8, 2))])
    assert list(dict(head.info)) == ["c1", "relu"] and head.info["relu"].rf_size == 3
    head.check_input_size((64, 64), ["relu"], "x", "")
    with pytest.raises(ConfigError, match=r"^layer 'gap': its receptive field could not be measured up to 1792 px"):
        head.info["gap"]
    # what has no field to speak of is one line, not an IndexError or a made-up field
    up = FeatureNet("up", [("c1", nn.Conv2d(3, 8, 3, padding=1)), ("up", nn.Upsample(scale_factor=2))])
    with pytest.raises(ConfigError, match=r"^layer 'up': neighbouring units are not evenly spaced over the input"):
        up.info["up"]
    head = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ConfigError, match=r"^layer '3' gives \(1, 2\), not a map \(batch, channels, 2 spatial axes\); "):
        HookedNet(head, ["3"]).info

    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3)

        def forward(self, x):
            return self.a(x)
    with pytest.raises(ConfigError, match=r"^layer 'b' did not run in the model's forward; "):
        HookedNet(Skips(), ["b"]).info


def test_inflate_refuses_a_depth_other_than_the_kernels_size():
    # depth 5 made (5, 3, 3) kernels that the receptive-field arithmetic refuses with a ValueError
    from stylegram import ConfigError
    from stylegram.nets.random import inflate
    net = build_net("random-tiny", layers=["relu1_1"])
    assert inflate(net).body["conv1_1"].kernel_size == (3, 3, 3)
    with pytest.raises(ConfigError, match=r"^inflate: depth 5 must equal the 2D kernels' size \(3 x 3\)"):
        inflate(net, 5)


def test_explore_and_volume_commands_take_weights_files(tmp_path):
    # --weights was only on `transfer`: offline, `explore` and the volume commands could not use
    # vgg16 or vgg19, while the download error told the user to "pass --weights PATH".
    from click.testing import CliRunner
    from PIL import Image
    from stylegram.cli import cli
    # He-scaled, so that 13 layers of them stay finite (randn weights overflow to NaN by relu5_1)
    state = {k: v * (2 / v[0].numel()) ** 0.5 if k.endswith("weight") and v.dim() == 4 else v
             for k, v in _torchvision_state("vgg16").items()}
    torch.save(state, tmp_path / "w.pth")
    Image.new("RGB", (40, 32), (200, 120, 40)).save(tmp_path / "c.png")
    run = CliRunner().invoke
    r = run(cli, ["explore", "activations", str(tmp_path / "c.png"), "--layer", "relu1_1", "-o", str(tmp_path / "a.png"),
                   "--net", "vgg16", "--weights", str(tmp_path / "w.pth"), "--size", "32", "-q"])
    assert r.exit_code == 0 and (tmp_path / "a.png").exists(), r.output
    r = run(cli, ["solid-texture", str(tmp_path / "c.png"), "-o", str(tmp_path / "v.npy"), "--size", "16",
                   "--style-size", "32", "--levels", "1", "--iters", "1", "--net", "vgg16", "--weights",
                   str(tmp_path / "w.pth"), "-q"])
    assert r.exit_code == 0 and (tmp_path / "v.npy").exists(), r.output
    r = run(cli, ["texture", str(tmp_path / "c.png"), "-o", str(tmp_path / "t.png"), "--size", "48", "--iters", "1",
                  "--net", "vgg16", "--weights", str(tmp_path / "w.pth"), "--report", str(tmp_path / "t.json"), "-q"])
    assert r.exit_code == 0, r.output
    import hashlib
    import json
    rep = json.loads((tmp_path / "t.json").read_text())
    assert rep["params"]["weights"] == str(tmp_path / "w.pth")
    assert rep["inputs"]["options"]["weights"]["sha256"] == hashlib.sha256((tmp_path / "w.pth").read_bytes()).hexdigest()


def test_hooked_3d_taps_wider_than_the_default_probe_are_measured():
    # dims=3 probes at 64 px; a field of 65 px reached the probe's border: a bare ValueError
    from torch import nn
    from stylegram import HookedNet
    model = nn.Sequential(nn.Conv3d(1, 2, 3, padding=16, dilation=16), nn.ReLU(),
                          nn.Conv3d(2, 2, 3, padding=16, dilation=16))
    info = HookedNet(model, ["2"], dims=3, in_channels=1).info["2"]
    assert (info.rf_size, info.jump) == (65, 1)


def test_group_and_instance_norms_keep_the_probed_field():
    # Their statistics span the whole map, so the probe's gradient reached every input pixel: a
    # residual block with a GroupNorm had "no field" up to 1792 px (a ConfigError after seconds
    # of probes), though the chain arithmetic counts these norms as pointwise.
    from torch import nn
    from stylegram import HookedNet

    class Block(nn.Module):
        def __init__(self, norm: nn.Module):
            super().__init__()
            self.conv, self.norm = nn.Conv2d(4, 4, 3, padding=1), norm

        def forward(self, x):
            return torch.relu(x + self.norm(self.conv(x)))

    for norm in (nn.GroupNorm(2, 4), nn.InstanceNorm2d(4, affine=True), nn.Identity()):
        model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), Block(norm), nn.AvgPool2d(2), Block(norm))
        info = HookedNet(model, ["1", "3"], probe_size=64).info
        assert [(i.rf_size, i.jump, i.rf_start) for i in info.values()] == [(7, 2, 0.0), (17, 4, 1.0)], norm


class _Interleaved:
    """Two threads' calls of models holding ``gate`` (a module) made to overlap deterministically:
    the first call's forward enters the gate and waits, the second's enters too, the first is let
    through and ends, then the second. ``seen``: the modes and ``requires_grad`` of ``root`` as the
    second call's forward found them after the first had ended."""

    def __init__(self):
        import threading
        from torch import nn
        self.entered = {n: threading.Event() for n in ("first", "second")}
        self.go = {n: threading.Event() for n in ("first", "second")}
        self.root, self.seen = None, {}
        outer = self

        class Gate(nn.Module):
            # a forward long enough for another thread's whole call to happen inside it
            def forward(self, x):
                name = threading.current_thread().name
                if name in outer.entered:
                    outer.entered[name].set()
                    assert outer.go[name].wait(10), "the threads did not interleave"
                    if name == "second":
                        outer.seen = {"training": [m.training for m in outer.root.modules()],
                                      "requires_grad": [p.requires_grad for p in outer.root.parameters()]}
                return x
        self.gate = Gate()

    def run(self, first, second):
        import threading
        errors = []

        def call(fn):
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported below, in the test's thread
                errors.append(e)
        threads = {n: threading.Thread(target=call, args=(fn,), name=n) for n, fn in (("first", first),
                                                                                     ("second", second))}
        threads["first"].start()
        assert self.entered["first"].wait(10)
        threads["second"].start()
        assert self.entered["second"].wait(10)
        self.go["first"].set()
        threads["first"].join(10)
        self.go["second"].set()
        threads["second"].join(10)
        assert not errors, errors
        return self.seen


@pytest.mark.parametrize("second_net", ["same", "another", "circular"])
def test_hooked_net_calls_from_two_threads_keep_the_model_frozen_and_give_it_back(second_net):
    # One HookedNet called from two threads: the second call found the first one's hold and ran
    # without its own, so when the first ended (giving back the caller's train mode and
    # requires_grad) the second went on in train mode, its batch norm updating the caller's
    # statistics. Two nets on one model (or a net and its circular() copy, which shares the
    # parameters) did worse: the second saved the first one's frozen state as the original and,
    # ending last, restored that: the model stayed in eval mode or frozen for good.
    from torch import nn
    from stylegram import HookedNet
    torch.manual_seed(0)
    threads = _Interleaved()
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), threads.gate, nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3)).train()
    net = HookedNet(model, ["2", "3"], probe_size=16)
    other = {"same": net, "another": HookedNet(model, ["3"], probe_size=16), "circular": net.circular()}[second_net]
    threads.root = other.model  # the circular copy has modules of its own (and the same parameters)
    x = torch.rand(1, 3, 8, 8)
    seen = threads.run(lambda: net(x, ["3"]), lambda: other(x, ["3"]))
    assert seen == {"training": [False] * 5, "requires_grad": [False] * 6}
    for m in (model, other.model):
        assert [mod.training for mod in m.modules()] == [True] * 5
        assert [p.requires_grad for p in m.parameters()] == [True] * 6
    assert int(model[2].num_batches_tracked) == 0 and float(model[2].running_mean.abs().max()) == 0


class _Residual(torch.nn.Module):
    """x + conv(x) on 4 channels: the chain arithmetic stops here, so this layer's field and the
    later ones are measured by gradient probes."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


def test_circular_and_truncated_nets_take_the_measured_fields(monkeypatch):
    # FeatureNet.circular() and truncated() made nets that measured, by gradient probes, the fields
    # the net had measured already (HookedNet.circular() too, when made before the first measure):
    # the tileable texture engine and build_net's truncation paid for each probe twice.
    from torch import nn
    from stylegram import FeatureNet, HookedNet
    import stylegram.nets.features as features
    import stylegram.nets.receptive as receptive
    probed = []
    real = receptive.probe_growing

    def counted(net, layer, *args, **kwargs):
        probed.append(layer)
        return real(net, layer, *args, **kwargs)
    monkeypatch.setattr(features, "probe_growing", counted)  # FeatureNet's lazy fields
    monkeypatch.setattr(receptive, "probe_growing", counted)  # HookedNet's

    def layers():
        torch.manual_seed(0)
        return [("c1", nn.Conv2d(3, 4, 3, padding=1)), ("res", _Residual()), ("relu", nn.ReLU()),
                ("down", nn.Conv2d(4, 4, 3, stride=2, padding=1)), ("res2", _Residual())]
    net = FeatureNet("mine", layers())
    fields = {l: net.info[l] for l in net.layer_names}
    assert probed == ["res", "relu", "down", "res2"]
    assert [(f.rf_size, f.jump) for f in fields.values()] == [(3, 1), (5, 1), (5, 1), (7, 2), (11, 2)]
    circ, cut = net.circular(), net.truncated(["down"])
    assert {l: circ.info[l] for l in circ.layer_names} == fields
    assert {l: cut.info[l] for l in cut.layer_names} == {l: fields[l] for l in ("c1", "res", "relu", "down")}
    assert probed == ["res", "relu", "down", "res2"]  # none again
    # the carried fields are what the copies' own probes find
    assert real(circ, "res2", 64, in_channels=3, dims=2) == fields["res2"]
    assert real(cut, "down", 64, in_channels=3, dims=2) == fields["down"]
    # views made before any probe: each field is measured once, for the net and its views
    probed.clear()
    net = FeatureNet("mine", layers())
    circ, cut = net.circular(), net.truncated(["relu"])
    assert circ.info["res2"] == fields["res2"] and cut.info["relu"] == fields["relu"]
    assert net.info["res2"] == fields["res2"] and net.circular().info["relu"] == fields["relu"]
    assert probed == ["res2", "relu"]
    # a HookedNet's circular copy made before its fields were measured
    probed.clear()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), _Residual(), nn.Conv2d(4, 4, 3, stride=2, padding=1))
    hooked = HookedNet(model, ["1", "2"], probe_size=32)
    copy = hooked.circular()
    assert copy.info == hooked.info and [(f.rf_size, f.jump) for f in copy.info.values()] == [(5, 1), (7, 2)]
    assert probed == ["1", "2"]


def test_hooked_net_calls_from_two_threads_each_get_their_own_activations():
    # Each call hooks the shared model's modules, and a hook fired for whichever thread ran the
    # module: thread A's call waiting inside the model while thread B's ran through the tap, A's
    # hook (registered first) took B's activation and stopped B's forward, so B got {} and A got
    # B's activation. A call's hooks now take only its own thread's forward.
    import threading
    from torch import nn
    from stylegram import HookedNet
    entered, go = threading.Event(), threading.Event()

    class Gate(nn.Module):  # thread A waits here, its hooks registered, until B's call has ended
        def forward(self, x):
            if threading.current_thread().name == "A":
                entered.set()
                assert go.wait(10), "the threads did not interleave"
            return x
    torch.manual_seed(0)
    net = HookedNet(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Gate(), nn.Conv2d(4, 4, 3)), ["2"], probe_size=16)
    xa, xb = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    want = {"A": net(xa)["2"], "B": net(xb)["2"]}
    got = {}

    def call(name, x):
        try:
            got[name] = net(x)
        except BaseException as e:  # noqa: BLE001 - checked below, in the test's thread
            got[name] = e
    a = threading.Thread(target=call, args=("A", xa), name="A")
    a.start()
    assert entered.wait(10)
    b = threading.Thread(target=call, args=("B", xb), name="B")
    b.start()
    b.join(10)
    go.set()
    a.join(10)
    for name in ("A", "B"):
        assert isinstance(got[name], dict) and list(got[name]) == ["2"], (name, got[name])
        assert torch.equal(got[name]["2"], want[name]), name


def test_a_truncated_net_does_not_keep_the_whole_net_alive():
    # The truncated (and circular) views took their unmeasured fields from the net they were cut
    # from through a closure over it: the view kept the whole net, the layers cut off included,
    # alive (build_net's truncation of a registered net held its tail in memory for the run).
    import gc
    import weakref
    from torch import nn
    from stylegram import FeatureNet

    def whole():
        torch.manual_seed(0)
        return FeatureNet("mine", [("c1", nn.Conv2d(3, 4, 3, padding=1)), ("res", _Residual()), ("relu", nn.ReLU()),
                                   ("tail", nn.Conv2d(4, 64, 3, padding=1))])
    ref = whole()
    fields = {l: ref.info[l] for l in ("c1", "res", "relu")}
    for view in ("truncated", "circular"):
        for measured in (False, True):  # views made before and after the net measured its fields
            net = whole()
            if measured:
                _ = net.info["relu"]
            gone, tail = weakref.ref(net), weakref.ref(net.body["tail"])
            v = net.truncated(["relu"]) if view == "truncated" else net.circular()
            del net
            gc.collect()
            assert gone() is None, (view, measured)
            if view == "truncated":
                assert tail() is None
            # the fields are still there (copied), or measured on the view itself
            assert {l: v.info[l] for l in ("c1", "res", "relu")} == fields, (view, measured)


def test_hooked_net_taps_a_model_that_runs_its_layers_in_worker_threads():
    # nn.DataParallel over several GPUs runs the replicas' forwards in threads of its own (and a
    # model may use a pool): a call's hooks took only its own thread's forward, so such a model's
    # taps never fired ("layer 'body.1' did not run in the model's forward" from the probes, or
    # missing taps). A thread that is no call's own is taken while no other call taps the model.
    import concurrent.futures as cf
    from torch import nn
    from stylegram import HookedNet
    pool = cf.ThreadPoolExecutor(1)

    class Threaded(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3))

        def forward(self, x):
            return pool.submit(self.body, x).result()
    torch.manual_seed(0)
    model = Threaded()
    try:
        net = HookedNet(model, ["body.1", "body.2"], probe_size=16)
        assert [(f.rf_size, f.jump) for f in net.info.values()] == [(3, 1), (5, 1)]
        x = torch.rand(1, 3, 8, 8)
        got = net(x)
    finally:
        pool.shutdown()
    with torch.no_grad():
        a = model.body[1](model.body[0](x))
        assert torch.equal(got["body.1"], a) and torch.equal(got["body.2"], model.body[2](a))
