"""The transfer API and the `stylegram transfer` command, on tiny images and random nets."""
import json
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from PIL import Image

import stylegram
from stylegram.errors import ConfigError, InputError


def tiny(**kw):
    return {**dict(net="random-tiny", size=48, iters=12, device="cpu"), **kw}


def test_transfer_accepts_paths_pil_and_tensors(pair):
    c, s = pair
    a = stylegram.transfer(c, s, **tiny())
    b = stylegram.transfer(Image.open(c), Image.open(s), **tiny())
    t = stylegram.transfer(stylegram.load_image(c), stylegram.load_image(s)[0], **tiny())
    assert a.image.shape == (1, 3, 36, 48) and 0 <= a.image.min() and a.image.max() <= 1
    assert torch.allclose(a.image, b.image, atol=1e-5) and torch.allclose(a.image, t.image, atol=1e-5)


def test_style_loss_falls_and_history_complete(pair):
    res = stylegram.transfer(*pair, **tiny(iters=30, preset="classic"))  # the single-level course run
    h = res.history
    assert len(h) == 30 and [e["iter"] for e in h] == list(range(1, 31))
    assert set(h[0]) >= {"iter", "content", "style", "tv", "total"}
    assert h[-1]["style"] < h[0]["style"] / 10
    assert res.evals >= 30 and res.seconds_optimize > 0 and res.s_per_eval > 0


def test_the_style_figure_is_j_style_in_both_engines(pair):
    # One level at 48 px, once through the single-level engine (pyramid start above the size) and
    # once through the pyramid's: the same picture and the same history (the pyramid's 'style'
    # was beta * J_style, the other's J_style).
    kw = tiny(iters=3, refine=0, beta=0.004)
    one, pyr = (stylegram.transfer(*pair, pyramid_start=start, **kw) for start in (200, 40))
    assert one.history[-1]["level"] == 0 and pyr.history[-1]["level"] == 0  # the single engine had none
    assert torch.allclose(one.image, pyr.image, atol=1e-5)
    for a, b in zip(one.history, pyr.history):
        assert a["style"] == pytest.approx(b["style"], rel=1e-4) and a["total"] == pytest.approx(b["total"], rel=1e-4)
        assert b["total"] == pytest.approx(b["content"] + 0.004 * b["style"], rel=1e-5)  # alpha 1


@pytest.mark.parametrize("init", ["noise", "blend", "content"])
def test_seeded_runs_reproduce(pair, init):
    a = stylegram.transfer(*pair, **tiny(init=init, seed=5, optimizer="adam"))
    b = stylegram.transfer(*pair, **tiny(init=init, seed=5, optimizer="adam"))
    assert torch.equal(a.image, b.image)


def test_precision_fp32_by_default_auto_resolves_by_hardware_and_the_report_says_which(pair):
    from stylegram.device import resolve_precision
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l for l in f if l.startswith("flags")), "")
    except OSError:  # not Linux: 'auto' knows no native bf16 there
        flags = ""
    native = " avx512_bf16" in flags or " amx_bf16" in flags
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    assert resolve_precision("auto", torch.device("meta")) == "fp32"  # nothing native known there
    assert [resolve_precision(p, torch.device("meta")) for p in ("fp32", "bf16")] == ["fp32", "bf16"]
    with pytest.raises(ConfigError, match="^unknown precision 'fp16'; valid: auto, fp32, bf16$"):
        stylegram.transfer(*pair, **tiny(precision="fp16"))
    assert stylegram.transfer(*pair, **tiny(iters=1)).config.precision == "fp32"  # the default
    auto = stylegram.transfer(*pair, **tiny(iters=5, precision="auto"))
    assert auto.config.precision == ("bf16" if native else "fp32") and auto.report()["params"]["precision"] != "auto"
    # bf16 autocast runs anywhere (emulated where not native), close to float32's result: one
    # iteration (later ones amplify the rounding on a random net) of the single-level run
    half = stylegram.transfer(*pair, **tiny(iters=1, preset="classic", precision="bf16"))
    full = stylegram.transfer(*pair, **tiny(iters=1, preset="classic", precision="fp32"))
    assert half.config.precision == "bf16" and full.config.precision == "fp32"
    assert 0 < (half.image - full.image).abs().mean() < 5e-3  # 4.7e-4 measured
    assert half.history[0]["style"] == pytest.approx(full.history[0]["style"], rel=0.02)  # 0.3% measured


def test_bad_options(pair):
    with pytest.raises(ConfigError, match="unknown option 'iterations'"):
        stylegram.transfer(*pair, iterations=3)
    with pytest.raises(ConfigError, match="valid: lbfgs, adam, gd"):
        stylegram.transfer(*pair, **tiny(optimizer="sgd"))
    with pytest.raises(ConfigError, match="unknown layer"):
        stylegram.transfer(*pair, **tiny(content_layers="relu4_9"))
    with pytest.raises(ConfigError, match="^beta nan: must be a finite number, 0 or more$"):
        stylegram.transfer(*pair, **tiny(beta=float("nan")))
    with pytest.raises(ConfigError, match="^alpha inf: must be a finite number"):
        stylegram.transfer(*pair, **tiny(alpha=float("inf")))
    with pytest.raises(ConfigError, match="^layer weight of relu1_1 -1: must be a finite number, 0 or more$"):
        stylegram.transfer(*pair, **tiny(style_layers="relu1_1:-1,relu2_1"))
    with pytest.raises(ConfigError, match="^alpha and beta are both 0: nothing to optimize; "):  # ran 'total 0'
        stylegram.transfer(*pair, **tiny(alpha=0, beta=0))


@pytest.mark.parametrize("option, value, message", [
    # each was a TypeError or ValueError from deep inside, or silently ran as something else
    ("iters", "x", "iters 'x': must be a whole number"),
    ("iters", 2.5, "iters 2.5: must be a whole number"),  # ran 2 iterations
    ("beta", None, "beta None: must be a number"),
    ("lr", "x", "lr 'x': must be a number or None"),
    ("pyramid_detail", "no", "pyramid_detail 'no': must be True or False"),  # 'no' meant on
    ("size", True, "size True: must be a whole number"),
    ("seed", -1, "seed -1: must be a whole number from 0 to 4294967295"),
    ("seed", 2**70, f"seed {2**70}: must be a whole number from 0 to 4294967295"),  # overflow in torch
    ("seed", 1.5, "seed 1.5: must be a whole number"),
    ("content_layers", 5, "content_layers 5: give layer names, e.g. 'relu4_2' or ['relu4_2']"),
    ("style_layers", 7, "layers 7: give names with weights, e.g. 'relu1_1:0.2,relu2_1:0.2', a list of names "
                        "or a dict {name: weight}"),
    ("style_layers", {"relu1_1": "x"}, "layer weights {'relu1_1': 'x'}: each weight must be a number"),
    ("style_blend", (float("nan"),), "style_blend (nan,): weights must be finite, non-negative and not all zero"),
    ("max_pixels", 0, "max_pixels 0: must be 1 or more (the largest input image allowed, px)"),  # blamed the image
    ("mask", torch.zeros(1, 1, 40, 40), "mask Tensor of shape (1, 1, 40, 40): must be a string or None"),  # 444 chars
    ("style_layers", "relu1_1:0.5,relu1_1:0.2", "layer 'relu1_1' is given twice in 'relu1_1:0.5,relu1_1:0.2'; give "
                                                "each layer once"),  # the last weight was kept without a word
    ("weights", "w.h5", "weights 'w.h5': the net 'random-tiny' has seeded random weights and loads none; drop "
                        "the weights file or use a net that loads one (vgg16-hed, vgg16, vgg19, vgg16-hed-3d)"),
])
def test_api_values_of_the_wrong_kind_are_one_line(pair, option, value, message):
    with pytest.raises(ConfigError) as err:
        stylegram.transfer(*pair, **tiny(**{option: value}))
    assert str(err.value) == message


def test_api_numbers_from_numpy_and_paths_are_taken_as_plain_values(pair, tmp_path):
    import numpy as np
    res = stylegram.transfer(*pair, **tiny(iters=np.int64(2), beta=np.float32(100), seed=np.uint8(3),
                                           init=pair[0] if isinstance(pair[0], str) else str(pair[0])))
    cfg = res.config
    assert (type(cfg.iters), type(cfg.beta), type(cfg.seed)) == (int, float, int) and cfg.seed == 3
    json.dumps(res.report()["params"])  # plain values: the report and the PNG metadata stay JSON
    from pathlib import Path
    assert stylegram.transfer(*pair, **tiny(iters=1, init=Path(pair[0]))).config.init == str(pair[0])


def test_cli_usage_errors_are_one_line(pair):
    # click's own form is four lines; every error a user can cause is one, with where to look
    for args, msg in ((["--optimizer", "sgd"], "Invalid value for '--optimizer': 'sgd' is not one of"),
                      (["--save-every", "-1"], "Invalid value for '--save-every': -1 is not in the range x>=0"),
                      (["--no-such-option"], "No such option")):
        p = run_cli("transfer", *pair, "-o", "o.png", *args)
        assert p.returncode == 2 and p.stderr.startswith(f"stylegram: error: {msg}"), p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.strip().endswith("see `stylegram transfer --help`")
    p = run_cli("transfer")
    assert p.returncode == 2 and p.stderr.strip() == ("stylegram: error: Missing argument 'CONTENT'; "
                                                      "see `stylegram transfer --help`")


def test_too_flat_image_is_refused(tmp_path, pair):
    flat = tmp_path / "flat.png"
    Image.new("RGB", (400, 2)).save(flat)
    with pytest.raises(InputError, match="needs at least 32 px"):
        stylegram.transfer(flat, pair[1], **tiny())
    # as a style (in the pyramid, alone and as a region's), the message names the file
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 64), 255).save(mask)
    for kw in ({}, {"regions": f"{mask}={flat}"}):
        style = pair[1] if kw else flat
        with pytest.raises(InputError, match=rf"^{flat}: at --size 64 and --style-scale 1.0 the style image is 64 x 1 px"):
            stylegram.transfer(pair[0], style, net="random-tiny", size=64, iters=2, device="cpu", **kw)


def test_oversized_run_refused_before_allocating(pair):
    from stylegram.errors import ResourceError
    # the limit it meets: the 8 GiB default of --max-memory, or on a smaller machine the free memory
    with pytest.raises(ResourceError, match=r"GiB but (cpu has .* GiB free; use --size \d+ or less, or free some "
                                            r"memory|--max-memory allows 8 GiB; use --size \d+ or less, or raise --max-memory)$"):
        stylegram.transfer(*pair, net="random-tiny", size=200_000, iters=1, device="cpu")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "stylegram", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_loss_plot_lays_pyramid_levels_end_to_end_and_names_them(tmp_path):
    from stylegram.report import history_segments, level_labels, plot_history
    # a pyramid's iterations restart on every level; a resumed level starts past 1
    hist = [{"iter": i, "level": 0, "total": 10.0 / i} for i in (1, 2, 3)] + \
           [{"iter": i, "level": 1, "total": 1.0 / i} for i in (1, 2)] + [{"iter": i, "level": 2, "total": 0.1} for i in (3, 4)]
    segs = history_segments(hist)
    assert [(k, xs) for k, xs, _ in segs] == [(0, [1, 2, 3]), (1, [4, 5]), (2, [8, 9])]
    assert history_segments([{"iter": 1}, {"iter": 2}]) == [(0, [1, 2], [{"iter": 1}, {"iter": 2}])]
    levels = [{"level": 0, "shape": [24, 32], "pass": "transfer"}, {"level": 2, "shape": [48, 64], "pass": "refine"}]
    assert level_labels(levels) == ["transfer 32 x 24 px", "level 2", "refine 64 x 48 px"] and level_labels([]) == []
    plot_history(hist, tmp_path / "p.png", levels=level_labels(levels))
    assert Image.open(tmp_path / "p.png").size == (770, 440)


def test_loss_plot_says_the_terms_are_unweighted_and_total_is_their_weighted_sum(tmp_path):
    # J_style (before beta) sat 1000x above the 'total' it is part of, under a y label "loss term"
    # and a legend "style", "total": the plot now names the terms and what the total is.
    import matplotlib
    from stylegram.report import plot_history
    hist = [{"iter": i, "content": 1.0 / i, "style": 1e5 / i, "tv": 0.0, "total": 1e2 / i} for i in (1, 2, 3)]
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        plot_history(hist, tmp_path / "p.svg")
    svg = (tmp_path / "p.svg").read_text()
    assert "loss (terms before their weights)" in svg and "J_style" in svg and "J_content" in svg
    assert "total J = alpha J_content + beta J_style + gamma TV" in svg and ">TV<" not in svg  # tv all 0: no line


def test_loss_plot_says_what_the_refine_levels_total_is(tmp_path):
    # On the --refine level the total is J_style (sliced, beta 1) + gamma TV with J_content under a
    # budget, not alpha J_content + beta J_style: the legend said the latter for every level.
    import matplotlib
    from stylegram.report import level_labels, plot_history
    hist = [{"iter": 1, "level": 0, "content": 1.0, "style": 10.0, "total": 1.01},
            {"iter": 1, "level": 1, "content": 1.5, "style": 0.7, "total": 0.7}]
    levels = [{"level": 0, "shape": [32, 32], "pass": "transfer"}, {"level": 1, "shape": [32, 32], "pass": "refine"}]
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        plot_history(hist, tmp_path / "r.svg", levels=level_labels(levels))
        plot_history(hist[:1], tmp_path / "t.svg", levels=level_labels(levels[:1]))
    assert "on the refine level: J_style + gamma TV, J_content kept under a budget" in (tmp_path / "r.svg").read_text()
    assert "refine level" not in (tmp_path / "t.svg").read_text()


def test_cli_transfer_report_and_metadata(pair, tmp_path):
    out, rep, plot = tmp_path / "o.png", tmp_path / "r.json", tmp_path / "loss.png"
    p = run_cli("transfer", *pair, "-o", out, "--net", "random-tiny", "--size", 48, "--iters", 6, "--report", rep,
                "--plot", plot, "--save-every", 3, "--device", "cpu", "--refine", 0)
    assert p.returncode == 0, p.stderr
    # stderr is a pipe here, as in a log file: the bar is printed once, whole (not cut at 80 columns)
    bar = next(line for line in p.stderr.splitlines() if line.startswith("stylizing"))
    assert "6/6" in bar and "eta" in bar and "…" not in bar
    r = json.loads(rep.read_text())
    for key in ("params", "versions", "device", "evals", "seconds_optimize", "s_per_eval", "history"):
        assert key in r
    assert r["params"]["iters"] == 6 and r["params"]["net"] == "random-tiny"
    assert [h["iter"] for h in r["history"]] == list(range(1, 7))
    assert [(lv["level"], lv["shape"], lv["iters"], lv["pass"]) for lv in r["levels"]] == [(0, [36, 48], 6, "transfer")]
    assert all(set(h) >= {"iter", "content", "style", "tv", "total"} for h in r["history"])
    meta = json.loads(Image.open(out).text["stylegram"])
    assert meta["params"]["size"] == 48
    assert (tmp_path / "o.iter0003.png").exists() and (tmp_path / "o.iter0006.png").exists()
    assert Image.open(plot).size[0] > 100


@pytest.mark.parametrize("case,needle", [
    ("missing", "file not found"), ("zero", "file is empty"), ("notimage", "not an image file"),
    ("same", "also an input"), ("nofolder", "does not exist"), ("layer", "unknown layer"),
    # the files options name are inputs too: -o over the mask, start image or a region's style was written over
    ("mask", "also an input"), ("init", "also an input"), ("region", "also an input"),
])
def test_cli_user_errors_are_one_line_exit_2(pair, tmp_path, case, needle):
    c, s = pair
    out = tmp_path / "o.png"
    extra = []
    if case == "missing":
        c = tmp_path / "nope.jpg"
    elif case == "zero":
        c = tmp_path / "zero.jpg"
        c.write_bytes(b"")
    elif case == "notimage":
        c = tmp_path / "text.png"
        c.write_text("hello")
    elif case == "same":
        out = c
    elif case == "nofolder":
        out = tmp_path / "missing" / "o.png"
    elif case == "layer":
        extra = ["--style-layers", "relu1_1:1,relu7_1:1"]
    elif case in ("mask", "init", "region"):
        shutil.copy(s, out)
        extra = {"mask": ["--mask", out], "init": ["--init", out], "region": ["--regions", f"{s}={out}"]}[case]
    p = run_cli("transfer", c, s, "-o", out, "--net", "random-tiny", "--size", 48, "--iters", 2, "-q", *extra)
    assert p.returncode == 2
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr
    if case in ("mask", "init", "region"):
        assert out.read_bytes() == s.read_bytes()  # untouched
    elif case != "same":
        assert not out.exists()


def test_cli_nets():
    p = run_cli("nets")
    assert p.returncode == 0 and "vgg16-hed" in p.stdout and "random" in p.stdout


@pytest.mark.slow
def test_real_weights_end_to_end(tmp_path, examples):
    """The default net and defaults at a small size: the style loss falls at least 10x."""
    res = stylegram.transfer(examples / "tubingen.jpg", examples / "starry_night.jpg", size=96, iters=40, device="cpu")
    assert res.history[-1]["style"] < res.history[0]["style"] / 10
    assert res.image.shape[-1] == 96


def test_help_shows_the_default_presets_values():
    # A run without --beta uses the default preset's beta, so that is the default --help must show.
    from stylegram.presets import DEFAULT_PRESET, PRESETS
    p = run_cli("transfer", "--help")
    text = " ".join(p.stdout.split())
    assert p.returncode == 0 and DEFAULT_PRESET == "balanced"
    assert f"[default: (balanced: {PRESETS['balanced']['beta']:g}; classic: 100)]" in text
    assert "[default: (balanced: blend; classic: content)]" in text
    assert "[default: (balanced: 100; classic: 0)]" in text  # --refine
    assert "[default: 512]" in text  # --size: no preset sets it


def test_help_says_what_the_sliced_preset_leaves_out():
    # --help said "sliced (balanced with --style-loss swd ...)" and the README "the same with the
    # sliced loss"; the preset has no --refine pass, which balanced ends with
    import dataclasses

    from stylegram.presets import preset_config
    from stylegram.transfer import TransferConfig
    assert (preset_config("balanced").refine, preset_config("sliced").refine) == (100, 0)
    helptext = " ".join(next(f for f in dataclasses.fields(TransferConfig) if f.name == "preset").metadata["help"].split())
    assert ("sliced (balanced without --refine, with --style-loss swd --style-norm distance --beta 1.2 throughout: "
            "closer to the painting, about 1.8x the time)") in helptext


def test_help_defaults_are_written_as_typed():
    from stylegram.cli import _format_default
    assert [_format_default(v) for v in (0.0012, 100.0, 256, "blend", True, False)] == \
        ["0.0012", "100", "256", "blend", "on", "off"]
    assert _format_default((("relu1_1", 0.5), ("relu2_1", 0.5))) == "relu1_1:0.5,relu2_1:0.5"
    assert _format_default(("relu4_2",)) == "relu4_2"


class _ResidualNet(torch.nn.Module):
    """A small model that is not a chain (a skip connection): what a researcher brings."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU())
        self.pool = torch.nn.MaxPool2d(2)
        self.conv = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.out = torch.nn.ReLU()
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g) * (2.0 / max(1, p[0].numel())) ** 0.5

    def forward(self, x):
        h = self.pool(self.stem(x))
        return self.out(h + self.conv(h))


def test_transfer_and_texture_take_any_pytorch_model_through_hooked_net():
    # Researchers' own models: the engine needs only named taps, receptive fields and size checks,
    # which HookedNet gives any nn.Module (it used to fail with an AttributeError on min_side).
    from stylegram import HookedNet, texture, transfer
    model = _ResidualNet()
    net = HookedNet(model, ["stem.1", "out"], probe_size=64)
    g = torch.Generator().manual_seed(1)
    c, s = torch.rand(1, 3, 48, 48, generator=g), torch.rand(1, 3, 48, 48, generator=g)
    r = transfer(c, s, feature_net=net, size=48, iters=20, refine=0, pyramid_start=0, content_layers="out",
                 style_layers="stem.1,out")
    style = [h["style"] for h in r.history]
    assert r.image.shape == (1, 3, 48, 48) and style[-1] < style[0] / 2
    t = texture(s, size=32, feature_net=net, style_layers="stem.1,out", iters=10, tileable=True)
    assert t.image.shape == (1, 3, 32, 32) and t.history[-1]["style"] < t.history[0]["style"]
    assert model.stem[0].padding_mode == "zeros"  # the tileable run padded a copy, not the user's model
    with pytest.raises(InputError, match=r"^content: at --size 16 the content image is 16 x 1 px, but layer out needs at least 4 px on each side; "):
        transfer(c[..., :3, :], s, feature_net=net, size=16, iters=1, refine=0, pyramid_start=0,
                 content_layers="out", style_layers="stem.1,out")


def test_a_run_on_the_callers_net_records_that_net(pair, tmp_path):
    # The report and metadata said 'vgg16-hed' (the option's default) whatever net ran, and
    # --settings on such a picture failed on "unknown layer for net 'vgg16-hed': 'head'".
    from stylegram import HookedNet, TransferConfig
    from stylegram.nets import build_net
    tiny = build_net("random-tiny")
    r = stylegram.transfer(*pair, feature_net=tiny, size=48, iters=2, refine=0, pyramid_start=0)
    assert r.report()["params"]["net"] == "random-tiny" and r.report()["params"]["weights"] is None
    own = HookedNet(_ResidualNet(), ["stem.1", "out"], name="mine", probe_size=64)
    r = stylegram.transfer(*pair, feature_net=own, size=48, iters=2, refine=0, pyramid_start=0, content_layers="out",
                           style_layers="stem.1,out")
    assert r.report()["params"]["net"] == "mine"
    r.save(tmp_path / "mine.png")
    with pytest.raises(ConfigError, match=r"mine.png: was made with the net 'mine', a model given through the Python "
                                          r"API, not one of stylegram's; give --net"):
        TransferConfig.from_run(tmp_path / "mine.png").check_net_known(tmp_path / "mine.png")
    # ... which is what the command line says; a --net typed beside --settings, or feature_net= in
    # Python, replaces it (both were refused too)
    from stylegram.cli import main as cli_main
    base = ["transfer", *map(str, pair), "--settings", str(tmp_path / "mine.png"), "-q"]
    with pytest.raises(SystemExit) as e:
        cli_main([*base, "-o", str(tmp_path / "a.png")])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        cli_main([*base, "-o", str(tmp_path / "b.png"), "--net", "random-tiny", "--content-layers", "relu2_1",
                  "--style-layers", "relu1_1,relu2_1"])
    assert e.value.code == 0 and (tmp_path / "b.png").exists()
    again = stylegram.transfer(*pair, config=TransferConfig.from_run(tmp_path / "mine.png"), feature_net=own)
    assert again.report()["params"]["net"] == "mine"
    # ... and what is not a feature net is named in one line
    for net, msg in (("random-tiny", r"^feature_net 'random-tiny': give a built net \(stylegram.build_net\('random-tiny'\)\), or net='random-tiny'$"),
                     (_ResidualNet(), r"^feature_net: a plain _ResidualNet does not say which layers to tap; wrap it: HookedNet\(model, \['layer name', ...\]\)$"),
                     (lambda x: x, r"^feature_net: a function is not a feature net; give a FeatureNet or a HookedNet$")):
        with pytest.raises(ConfigError, match=msg):
            stylegram.transfer(*pair, feature_net=net, size=48, iters=1)
        with pytest.raises(ConfigError, match=msg):
            stylegram.texture(pair[1], feature_net=net, size=32, iters=1)


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_empty_content_layers_are_refused(value):
    # They were dropped to none, and the transfer quietly became a texture of the painting.
    from stylegram.transfer import TransferConfig
    with pytest.raises(ConfigError, match=r"^no content layer given; name one, e.g. relu4_2 \(for no content term, "
                                          r"--alpha 0\)$"):
        TransferConfig(content_layers=value).validated()


def test_an_earlier_runs_settings_come_back_from_its_png_and_report(pair, tmp_path):
    import dataclasses
    import hashlib
    from stylegram import TransferConfig
    from stylegram.report import write_json
    res = stylegram.transfer(*pair, **tiny(iters=3, refine=2, beta=0.003, seed=7, style_scale=0.9,
                                           preserve_color="histogram", pyramid_start=32))
    res.save(tmp_path / "a.png")
    write_json(res.report(), tmp_path / "a.json")
    res.save(tmp_path / "a.jpg")  # a JPEG carries them in its comment
    for f in ("a.png", "a.json", "a.jpg"):  # every option but the device (below)
        assert TransferConfig.from_run(tmp_path / f) == dataclasses.replace(res.config, device="auto")
    # the inputs are named with the sha256 of their bytes, so a result traces back to its files
    assert res.inputs == {"content": {"file": "c.png", "sha256": hashlib.sha256(pair[0].read_bytes()).hexdigest()},
                          "styles": [{"file": "s.png", "sha256": hashlib.sha256(pair[1].read_bytes()).hexdigest()}]}
    assert stylegram.transfer(stylegram.load_image(pair[0]), *pair[1:], **tiny(iters=1)).inputs["content"] == {"kind": "Tensor"}
    # the device is the machine's, not the look's: a GPU run's settings run anywhere
    report = json.loads((tmp_path / "a.json").read_text())
    report["params"]["device"] = "cuda:7"
    (tmp_path / "gpu.json").write_text(json.dumps(report))
    assert TransferConfig.from_run(tmp_path / "gpu.json").device == "auto"
    # the same look at another size: every other option as before
    again = stylegram.transfer(*pair, config=TransferConfig.from_run(tmp_path / "a.png"), size=56, device="cpu")
    assert dataclasses_diff(again.config, res.config) == {"size": (56, 48)}


def dataclasses_diff(a, b) -> dict:
    import dataclasses
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
            if getattr(a, f.name) != getattr(b, f.name)}


def test_cli_settings_from_an_earlier_run(pair, tmp_path):
    c, s = pair
    p = run_cli("transfer", c, s, "-o", tmp_path / "a.png", "--net", "random-tiny", "--size", "48", "--iters", "2",
                "--refine", "1", "--beta", "0.003", "--seed", "7", "-q")
    assert p.returncode == 0, p.stderr
    p = run_cli("transfer", c, s, "-o", tmp_path / "b.png", "--settings", tmp_path / "a.png", "--size", "56", "-q")
    assert p.returncode == 0, p.stderr
    params = [json.loads(Image.open(tmp_path / f).text["stylegram"])["params"] for f in ("a.png", "b.png")]
    assert {k: (params[0][k], params[1][k]) for k in params[0] if params[0][k] != params[1][k]} == {"size": (48, 56)}
    stylegram.save_image(torch.rand(1, 3, 8, 8), tmp_path / "x.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "camera.jpg", comment=b"[1, 2]")  # JSON, but not ours
    (tmp_path / "deep.json").write_text("[" * 50000 + "]" * 50000)  # a RecursionError in json
    (tmp_path / "future.json").write_text(json.dumps({"params": {**params[0], "hue": 3}}))
    for args, message in (
            (["--settings", tmp_path / "x.jpg"], f"{tmp_path / 'x.jpg'}: holds no stylegram settings; give a PNG or "
                                                 "JPEG that stylegram wrote (other formats carry none) or the JSON of "
                                                 "--report"),
            (["--settings", tmp_path / "camera.jpg"], f"{tmp_path / 'camera.jpg'}: holds no stylegram settings; give a "
                                                      "PNG or JPEG that stylegram wrote (other formats carry none) or "
                                                      "the JSON of --report"),
            (["--settings", tmp_path / "deep.json"], f"{tmp_path / 'deep.json'}: holds no stylegram settings; give a "
                                                     "PNG or JPEG that stylegram wrote (other formats carry none) or "
                                                     "the JSON of --report"),
            (["--settings", tmp_path / "future.json"], f"{tmp_path / 'future.json'}: option 'hue' is unknown to this "
                                                       f"stylegram ({stylegram.__version__}); the file comes from another version"),
            (["--settings", tmp_path / "a.png", "--preset", "strong"],
             f"--settings {tmp_path / 'a.png'} holds every option already; give --preset or --settings, not both")):
        p = run_cli("transfer", c, s, "-o", tmp_path / "out.png", *args)
        assert p.returncode == 2 and p.stderr == f"stylegram: error: {message}\n", p.stderr


def test_a_nan_at_the_start_is_an_error_not_a_result(pair):
    # It returned the unoptimized start image as the result, and the CLI exited 0 after a warning.
    from stylegram import NumericalError
    from stylegram.nets import build_net
    net = build_net("random-tiny")
    with torch.no_grad():
        next(net.parameters())[0].fill_(float("nan"))
    with pytest.raises(NumericalError, match=r"^the loss is NaN or Inf at the start image, before any step; "
                                             r"check the input files and the net's weights \(--weights\)"):
        stylegram.transfer(*pair, feature_net=net, size=48, iters=3, refine=0, pyramid_start=0)


def test_cli_snapshots_name_their_level_and_carry_the_settings(pair, tmp_path):
    # --save-every named snapshots by the iteration alone, which restarts on every pyramid level:
    # level 2's iteration 2 replaced level 1's. And they carried no settings.
    from stylegram.transfer import TransferConfig
    out = tmp_path / "o.png"
    Image.new("L", (32, 24), 0).save(tmp_path / "keep.png")  # its sha256 is in the output's metadata too
    p = run_cli("transfer", *pair, "-o", out, "--net", "random-tiny", "--size", 128, "--pyramid-start", 64, "--iters", 4,
                "--refine", 2, "--save-every", 2, "--device", "cpu", "--mask", tmp_path / "keep.png", "-q")
    assert p.returncode == 0, p.stderr
    snaps = sorted(f.name for f in tmp_path.glob("o.*.png"))
    assert snaps == ["o.L1.iter0002.png", "o.L1.iter0004.png", "o.L2.iter0002.png", "o.L2.iter0004.png",
                     "o.L3.iter0002.png", "o.L3.iter0004.png", "o.L4.iter0002.png"]
    assert [Image.open(tmp_path / n).size for n in snaps] == [(64, 48)] * 2 + [(91, 68)] * 2 + [(128, 96)] * 3
    meta = json.loads(Image.open(out).text["stylegram"])
    for name in snaps:
        m = json.loads(Image.open(tmp_path / name).text["stylegram"])
        assert m.pop("snapshot") == {"level": int(name[3]), "levels": 4, "iter": int(name[9:13])}
        assert m == meta  # the output's settings, inputs (with sha256), device and versions
    assert list(meta["inputs"]["options"]) == ["mask"]
    assert TransferConfig.from_run(tmp_path / "o.L2.iter0004.png") == TransferConfig.from_run(out)


def _iterate(i, n, level=0, levels=1, note="", **losses):
    from stylegram.types import Iterate
    return Iterate(iter=i, iters=n, evals=i, seconds=0.0, losses=losses or {"content": 1.0, "style": 2.0, "total": 3.0},
                   level=level, levels=levels, note=note)


def test_progress_bar_keeps_its_numbers_whole_in_80_columns_and_counts_down_the_whole_run():
    # At 80 columns rich shrank every column: '0:… eta -:-…', '1/…'. And its eta was the running
    # level's, restarting on each. Now the bar narrows, the losses drop whole terms, and the eta
    # is the whole run's: the iterations to come, weighed by their pixels, at the pace so far.
    import io

    from rich.console import Console

    from stylegram.cli import ProgressBar
    t = [0.0]
    shown = []

    def frame(bar):
        out = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
        out.print(bar.progress.make_tasks_table(bar.progress.tasks))
        return out.file.getvalue().rstrip()

    con = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    plan = ((20, 64), (10, 91), (5, 128), (4, 128))  # (iterations, side) of each level
    with ProgressBar(20, "stylizing", console=con, clock=lambda: t[0]) as bar:
        for i in range(1, 13):  # one second each, from 3 s: 11 s for 11 x 64^2 px-iterations
            t[0] = 2.0 + i
            bar.update(replace(_iterate(i, 20, 0, 4, content=0.15, style=0.0155, total=0.151), schedule=plan))
        shown.append(frame(bar))
        t[0] = 20.0  # the eta counts down between records
        shown.append(frame(bar))
        for i in range(1, 5):
            t[0] = 40.0 + i
            bar.update(replace(_iterate(i, 4, 3, 4, "refine", content=0.0552, style=0.763, total=0.77), schedule=plan))
        shown.append(frame(bar))
    left = 11 / (11 * 64**2) * (20 * 64**2 + 10 * 91**2 + 5 * 128**2 + 4 * 128**2 - 12 * 64**2)
    assert round(left) == 64
    assert shown == ["stylizing 1/4 ━━━━╸    12/20 0:00:14 eta 0:01:04 content 0.15  style 0.0155",
                     "stylizing 1/4 ━━━━╸    12/20 0:00:20 eta 0:00:58 content 0.15  style 0.0155",
                     "stylizing 4/4 refine ━━━━━━━━ 4/4 0:00:44 eta 0:00:00 content 0.0552"]


def test_progress_in_a_log_is_a_line_per_level_and_every_30_s(capsys):
    # With stderr a file or a pipe, rich printed the bar once, when the run ended: a log of a long
    # run stayed empty. Now: a plain line per finished level, one at least every 30 s, no escapes.
    import io

    from rich.console import Console

    from stylegram.cli import ProgressBar
    t = [0.0]
    log = Console(file=io.StringIO(), force_terminal=False)

    def at(s, ev):
        t[0] = s
        bar.update(ev)

    plan = ((4, 10), (2, 20))
    with ProgressBar(4, "stylizing", console=log, clock=lambda: t[0]) as bar:
        for i in range(1, 5):
            at(1.0 + i, replace(_iterate(i, 4, 0, 2), schedule=plan))
        at(45.0, replace(_iterate(1, 2, 1, 2, "refine"), schedule=plan))  # 40 s after the last line
        at(46.0, replace(_iterate(2, 2, 1, 2, "refine"), schedule=plan))
    # media commands give no plan: each level's own time left; a level may end early (converged)
    t[0] = 100.0
    with ProgressBar(4, "solid texture", console=log, clock=lambda: t[0]) as bar:
        for i in range(1, 4):
            at(100.0 + i, _iterate(i, 4, 0, 2, content=0.0, style=5.0))
        at(110.0, _iterate(1, 2, 1, 2))
        at(112.0, _iterate(2, 2, 1, 2))
    # stopped mid-level: where it got to
    t[0] = 200.0
    with ProgressBar(10, "texture", console=log, clock=lambda: t[0]) as bar:
        for i in range(1, 4):
            at(200.0 + 2 * i, _iterate(i, 10))
    assert capsys.readouterr().err.splitlines() == [
        "stylizing level 1/2: 4/4, 0:00:05 elapsed, eta 0:00:08; content 1  style 2  total 3",
        "stylizing level 2/2 (refine): 1/2, 0:00:45 elapsed, eta 0:00:25; content 1  style 2  total 3",
        "stylizing level 2/2 (refine): 2/2, 0:00:46 elapsed, eta 0:00:00; content 1  style 2  total 3",
        "solid texture level 1/2: 3/4, 0:00:03 elapsed, level eta 0:00:01; content 0  style 5",
        "solid texture level 2/2: 2/2, 0:00:12 elapsed, level eta 0:00:00; content 1  style 2  total 3",
        "texture: 3/10, 0:00:06 elapsed, eta 0:00:14; content 1  style 2  total 3"]
    assert log.file.getvalue() == ""


def test_progress_plans_the_levels_the_run_has(pair):
    # the whole run's eta needs each level's iterations before they run: the engine passes its
    # plan in every record (the CLI once made it again from the options, a copy that could drift)
    from stylegram.presets import preset_config
    for kw in (dict(size=128, pyramid_start=64, iters=40, refine=3),  # three levels, then refine
               dict(size=128, pyramid_start=64, pyramid_keep=91, iters=40, refine=2),  # refine below a detail level
               dict(size=128, pyramid_start=32, iters=30, refine=0)):  # the 32 px level is too small: left out
        cfg = preset_config("balanced", net="random-tiny", device="cpu", **kw).validated()
        seen = set()
        levels = stylegram.transfer(*pair, config=cfg, callback=lambda ev: seen.add(ev.schedule)).report()["levels"]
        assert seen == {tuple((lv["iters"], max(lv["shape"])) for lv in levels)}, kw


def test_hooked_net_leaves_the_callers_model_as_it_was():
    # HookedNet froze the caller's model and put it in eval mode for good: a model wrapped between
    # training steps had requires_grad False everywhere, and its optimizer silently stopped training it.
    from torch import nn
    from stylegram import HookedNet, transfer
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    with torch.no_grad():
        model[1].running_mean.fill_(0.25)
    model.train()
    model[3].weight.requires_grad_(False)  # the caller's own choice, kept too
    net = HookedNet(model, ["2", "3"], probe_size=32)
    net.eval()
    assert model.training and model[1].training
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, True, False, True]
    x = torch.rand(2, 3, 12, 12)
    out = net(x, ["3"])["3"]
    assert torch.equal(out, model.eval()(x))  # computed in eval mode: the running statistics
    assert not out.requires_grad  # no graph through the parameters
    model.train()
    g = torch.Generator().manual_seed(1)
    c, s = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    transfer(c, s, feature_net=net, size=32, iters=2, refine=0, pyramid_start=0, content_layers="3",
             style_layers="2,3")
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, True, False, True]
    assert all(p.grad is None for p in model.parameters())  # the style loss's gradient reached only the image
    assert float(model[1].running_mean[0]) == 0.25 and int(model[1].num_batches_tracked) == 0


def test_a_checkpointed_model_stays_frozen_through_the_backward():
    # Activation checkpointing recomputes the forward during the backward, which ran after the
    # per-forward restore: in the model's own train mode (torch's CheckpointError: "Recomputed
    # values ... have different metadata"), in the receptive-field probe too. The engines hold the
    # model frozen for the whole run (HookedNet.held). (Reentrant checkpointing cannot work with
    # torch.autograd.grad, which the engines use: torch says so and to set use_reentrant=False.)
    from torch import nn
    from torch.utils.checkpoint import checkpoint
    from stylegram import HookedNet, transfer
    from stylegram.explore.reconstruct import reconstruct
    from stylegram.media import texture as media_texture

    class Checkpointed(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, padding=1)
            self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
            self.head = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.head(checkpoint(self.block, self.stem(x), use_reentrant=False))
    torch.manual_seed(0)
    model = Checkpointed().train()
    net = HookedNet(model, ["stem", "head"], probe_size=32)
    g = torch.Generator().manual_seed(1)
    c, s = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    transfer(c, s, feature_net=net, size=32, iters=2, refine=0, pyramid_start=0, content_layers="head",
             style_layers="stem,head")
    transfer(c, s, feature_net=net, size=32, iters=2, refine=0, pyramid_start=16, content_layers="head",
             style_layers="stem,head")
    media_texture(net, s, (1, 3, 32, 32), style_layers="stem,head", iters=2)
    reconstruct(c, net, content_layer="head", iters=2)
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())
    assert int(model.block[1].num_batches_tracked) == 0 and float(model.block[1].running_mean.abs().max()) == 0


def test_a_grey_model_reads_rgb_images_as_their_channel_mean():
    # HookedNet(..., in_channels=1) on a grey model (an MNIST-like or medical net): the probes
    # worked, but transfer and the explorer fed it RGB and failed in torch's first convolution;
    # left at the default in_channels=3 it failed there too, with no word about in_channels.
    from torch import nn
    from stylegram import HookedNet, transfer
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1))
    net = HookedNet(model, ["1", "2"], probe_size=32, in_channels=1)
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(net(x, ["2"])["2"], model(x.mean(1, keepdim=True)))
    g = torch.Generator().manual_seed(1)
    c, s = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    r = transfer(c, s, feature_net=net, size=32, iters=3, refine=0, pyramid_start=0, content_layers="2",
                 style_layers="1,2")
    assert r.image.shape == (1, 3, 32, 32) and r.history[-1]["style"] < r.history[0]["style"]
    with pytest.raises(ConfigError, match=r"^model Sequential: Given groups=1, weight of size \[4, 1, 3, 3\], expected "
                                          r"input\[1, 3, 32, 32\] to have 1 channels, but got 3 channels instead; give "
                                          r"HookedNet\(\.\.\., in_channels=N\) with the channels the model reads$"):
        HookedNet(model, ["2"], probe_size=32).info


def test_compiled_refine_pass_prints_nothing_under_quiet(pair, tmp_path):
    # The --refine pass sets its content budget from its first evaluation; inside torch.compile
    # that float() was a graph break, and dynamo printed a dozen lines of warnings under -q.
    import shutil
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C++ compiler for torch.compile's CPU backend")
    p = run_cli("transfer", *pair, "-o", tmp_path / "o.png", "--net", "random-tiny", "--size", "64", "--iters", "2",
                "--refine", "2", "--compile", "on", "-q")
    assert (p.returncode, p.stderr) == (0, "") and (tmp_path / "o.png").exists()


def _bad_inputs(shared, tmp_path):
    """{kind: (path, the one line it is refused with)} for files of ../shared/data/bad and a missing one."""
    bad = shared / "data" / "bad"
    return {
        "missing": (tmp_path / "nope.jpg", f"{tmp_path / 'nope.jpg'}: file not found; check the path"),
        "not an image": (bad / "not_an_image.png", f"{bad / 'not_an_image.png'}: not an image file Pillow can read "
                                                   "(PNG, JPEG, WebP, TIFF, ...)"),
        "empty": (bad / "zero_bytes.jpg", f"{bad / 'zero_bytes.jpg'}: file is empty (0 bytes); give an image file"),
        "truncated": (bad / "truncated.jpg", f"{bad / 'truncated.jpg'}: image is truncated or corrupt (image file is "
                                             "truncated (8 bytes not processed)); re-export it"),
        "bomb": (bad / "decompression_bomb.png", f"{bad / 'decompression_bomb.png'}: refused: an image of 1600 Mpx "
                                                 "could be a decompression bomb (limit 100 Mpx); downscale it first"),
    }


@pytest.mark.parametrize("preset", ["classic", "balanced"])  # the single-level engine, the pyramid's
def test_a_bad_input_file_is_refused_before_the_net_is_built(shared, pair, tmp_path, monkeypatch, capsys, preset):
    # Building the default net takes about a second (1.1 to 1.6 s on two cores): every input is
    # decoded before it, so a bad file costs no such wait. The net options are still checked first
    # (a wrong layer is the error a run with two faults reports, as before).
    import importlib
    from stylegram.cli import main as cli_main
    engine = importlib.import_module("stylegram.transfer")

    def no_build(*args, **kwargs):
        raise AssertionError("the net was built before the inputs were checked")
    monkeypatch.setattr(engine, "build_net", no_build)
    c, s = map(str, pair)
    bad = _bad_inputs(shared, tmp_path)
    cases = [(["transfer", str(path), s], line) for path, line in bad.values()]
    path, line = bad["not an image"]
    path = str(path)
    cases += [(["transfer", c, path], line), (["transfer", c, s, "--init", path], line),
              (["texture", path], line)]
    if preset != "classic":  # a mask or regions run the pyramid's engine whatever the preset
        cases += [(["transfer", c, s, "--mask", path], line), (["transfer", c, s, "--regions", f"{path}={s}"], line),
                  (["transfer", c, s, "--regions", f"{c}={path}"], line)]
    for args, line in cases:
        preset_args = ["--preset", preset] if args[0] == "transfer" else []
        with pytest.raises(SystemExit) as e:
            cli_main([*args, "-o", str(tmp_path / "o.png"), "--size", "64", "-q", *preset_args])
        assert (e.value.code, capsys.readouterr().err) == (2, f"stylegram: error: {line}\n"), args
    # a wrong layer beside a bad file: the layer, as before
    with pytest.raises(SystemExit):
        cli_main(["transfer", path, s, "-o", str(tmp_path / "o.png"), "--style-layers", "relu9_1", "--preset", preset])
    assert "unknown layer for net 'vgg16-hed': 'relu9_1'" in capsys.readouterr().err
