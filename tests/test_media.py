"""The dimension-generic engine and the media paths (sound, signals, volumes, video) on tiny
inputs: hand-computed losses in 1D/3D, nets per dimension, losses that fall, files in and out,
and one-line errors for the broken files in ../shared/data/bad."""
from __future__ import annotations

import json
import logging
import math
import re

import numpy as np
import pytest
import torch

from stylegram.errors import ConfigError, InputError
from stylegram.losses import gram, scaled_gram, style_layer_loss, style_layer_loss_from_grams, tv_loss
from stylegram.media import activations, flicker, synthesize, texture, video_transfer
from stylegram.nets.random import inflate, random_bank, random_vgg


def run_cli(args):
    """Run `stylegram ARGS`; returns (exit code, stderr text)."""
    import contextlib
    import io

    from stylegram.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(list(args) + ["-q"] if args and args[0] != "--help" else list(args))
            code = 0
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


@pytest.fixture(scope="module")
def tiny2d():
    return random_vgg(seed=0, width=0.125, upto="relu2_1")


# ------------------------------------------------------------------------ losses in 1D/2D/3D

def test_gram_1d_and_3d_match_hand_sums():
    a1 = torch.arange(12.0).reshape(1, 2, 6)
    f = a1[0]
    want = torch.tensor([[float((f[0] * f[0]).sum()), float((f[0] * f[1]).sum())],
                         [float((f[1] * f[0]).sum()), float((f[1] * f[1]).sum())]])
    assert torch.equal(gram(a1)[0], want)
    a3 = torch.arange(16.0).reshape(1, 2, 2, 2, 2) / 10
    v = a3[0].reshape(2, -1)
    assert torch.allclose(gram(a3)[0], v @ v.T)
    # J_style = 1/(2 N nC)^2 sum (G(S) - G(G))^2 with N the product of spatial sizes (8), nC = 2.
    b3 = a3.flip(-1) * 0.5
    hand = ((gram(a3) - gram(b3)) ** 2).sum() / (2 * 8 * 2) ** 2
    assert torch.allclose(style_layer_loss(b3, scaled_gram(a3)), hand, rtol=1e-5)
    assert torch.allclose(style_layer_loss_from_grams(gram(b3), gram(a3), 8, 2), hand, rtol=1e-5)


def test_tv_1d_3d_hand_and_2d_unchanged():
    x1 = torch.tensor([[[0.0, 1.0, 3.0]]])
    assert float(tv_loss(x1)) == pytest.approx((1 + 4) / 2)
    x3 = torch.zeros(1, 1, 2, 2, 2)
    x3[0, 0, 1] = 1.0  # a step along the first axis only: 4 differences of 1 among 4
    assert float(tv_loss(x3)) == pytest.approx(1.0)
    x2 = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(1))
    dh = (x2[..., 1:, :] - x2[..., :-1, :]).pow(2).mean()
    dw = (x2[..., :, 1:] - x2[..., :, :-1]).pow(2).mean()
    assert float(tv_loss(x2)) == pytest.approx(float(dh + dw), rel=1e-6)
    s2 = torch.rand(1, 4, 6, 5, generator=torch.Generator().manual_seed(2))
    g2 = torch.rand(1, 4, 6, 5, generator=torch.Generator().manual_seed(3))
    f_s, f_g = s2.reshape(4, -1), g2.reshape(4, -1)
    hand = ((f_s @ f_s.T - f_g @ f_g.T) ** 2).sum() / (2 * 30 * 4) ** 2
    assert float(style_layer_loss(g2, scaled_gram(s2))) == pytest.approx(float(hand), rel=1e-5)


# ------------------------------------------------------------------------------- nets per dim

@pytest.mark.parametrize("dims", [1, 2, 3])
def test_random_bank_shapes_seed_and_widths(dims):
    net = random_bank(dims, in_channels=2, widths=(1, 3), filters=4, seed=5)
    x = torch.rand((1, 2) + (6,) * dims)
    y = net(x)["relu"]
    assert y.shape == (1, 4) + (6,) * dims and (y >= 0).all()
    assert torch.equal(net.body.conv.weight, random_bank(dims, in_channels=2, widths=(1, 3), filters=4, seed=5).body.conv.weight)
    w = net.body.conv.weight
    # The first half of the filters is 1 wide: zero everywhere but the centre tap.
    centre = (slice(0, 2), slice(None)) + (1,) * dims
    assert float(w.abs().sum()) > float(w[centre].abs().sum()) > 0
    assert float(w[:2].abs().sum()) == pytest.approx(float(w[centre].abs().sum()))
    assert net.info["relu"].rf_size == 3 and net.info["relu"].channels == 4 and net.dims == dims


def test_registry_has_banks_and_inflated_vgg(tiny2d):
    from stylegram.nets import build_net, list_nets
    assert {"bank1d", "bank2d", "bank3d", "vgg16-hed-3d"} <= set(list_nets())
    net = build_net("bank1d", in_channels=5, filters=8, seed=1)
    assert net.dims == 1 and net(torch.rand(1, 5, 20))["relu"].shape == (1, 8, 20)
    with pytest.raises(ConfigError, match="valid: conv, relu"):
        build_net("bank3d", layers=["relu1_1"])
    net3 = inflate(tiny2d)
    x = torch.rand(1, 3, 12, 12)
    want = tiny2d(x)["relu1_1"]
    got = net3(x[:, :, None].repeat(1, 1, 5, 1, 1))["relu1_1"]
    assert net3.dims == 3 and torch.allclose(got[:, :, 2], want, atol=1e-5)


def test_2d_net_on_volume_slices(tiny2d):
    v = torch.rand(1, 1, 4, 6, 8)
    f = activations(tiny2d, v, ["relu1_1"])
    # One view per axis, slices pooled into the first spatial axis; grey repeated to RGB.
    assert [t.shape for t in f["relu1_1"]] == [(1, 8, 4, 6, 8), (1, 8, 6, 4, 8), (1, 8, 8, 4, 6)]
    direct = tiny2d(v[:, :, 1].expand(1, 3, 6, 8))["relu1_1"]
    assert torch.allclose(f["relu1_1"][0][:, :, 1], direct, atol=1e-6)
    with pytest.raises(ConfigError, match="cannot read 1D media"):
        activations(tiny2d, torch.rand(1, 3, 10), ["relu1_1"])


# -------------------------------------------------------------------------------- the engine

def test_texture_1d_loss_falls_and_is_seeded():
    net = random_bank(1, in_channels=3, filters=32, seed=0)
    style = torch.sin(torch.linspace(0, 20, 64))[None, None].repeat(1, 3, 1) * 0.5 + 0.5
    r1 = texture(net, style, (1, 3, 48), iters=30)
    r2 = texture(net, style, (1, 3, 48), iters=30)
    assert r1.style_drop() > 10 and torch.equal(r1.x, r2.x)
    assert r1.x.shape == (1, 3, 48) and r1.x.min() >= 0 and r1.x.max() <= 1


def test_progress_sees_the_iterations_asked_for_and_the_reported_total(tiny2d):
    # A progress bar showed the normalized total the optimizer minimizes ('total 110' beside a
    # report's 0.004), and a solid texture's level run in two halves as '2/2' twice for iters=4.
    net = random_bank(1, in_channels=3, filters=16, seed=0)
    style = torch.sin(torch.linspace(0, 20, 64))[None, None].repeat(1, 3, 1) * 0.5 + 0.5
    seen = []
    r = texture(net, style, (1, 3, 48), iters=5, callback=lambda ev: seen.append((ev.iter, ev.iters, ev.losses["total"])))
    assert [(i, n) for i, n, _ in seen] == [(k, 5) for k in range(1, 6)]
    assert [t for *_, t in seen] == [h["total"] for h in r.history]
    from stylegram.media import solid_texture
    ex = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    seen.clear()
    r = solid_texture(ex, 16, tiny2d, levels=1, full_slices_up_to=8, iters=4, style_layers={"relu1_1": 1.0},
                      callback=lambda ev: seen.append((ev.iter, ev.iters, ev.level)))
    assert seen == [(1, 4, 0), (2, 4, 0), (3, 4, 0), (4, 4, 0)] and r.final["tv"] > 0  # two halves: the second has TV
    assert [h["iter"] for h in r.history] == [1, 2, 3, 4]


def test_stylize_3d_with_content_and_stochastic_slices(tiny2d):
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 1, 16, 16, 16, generator=g)
    stripes = (torch.sin(torch.arange(32.0) / 2)[None, :] * 0.5 + 0.5).expand(32, 32)
    style = torch.stack([stripes, stripes.T, 0.5 * stripes])[None]
    kw = dict(style_layers={"relu1_1": 1, "relu2_1": 1}, content_layers=["relu2_1"], beta=1e3)
    r = synthesize(tiny2d, style, content=content, iters=10, optimizer="adam", lr=0.02, slices_per_axis=4, **kw)
    assert r.x.shape == (1, 1, 16, 16, 16)
    # Judge by the full loss over every slice, not the last random pick.
    start = synthesize(tiny2d, style, content=content, iters=0, **kw).initial
    end = synthesize(tiny2d, style, content=content, init=r.x, iters=0, **kw).initial
    assert end["style"] < start["style"] / 2 and end["total"] < start["total"] / 2


# ------------------------------------------------------------------------------------ sound

def _write_wav(path, seconds=1.0, rate=8000, channels=1, seed=0):
    import soundfile as sf
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    y = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2 + 0.05 * rng.standard_normal(t.size)
    sf.write(str(path), np.repeat(y[:, None], channels, 1).astype(np.float32), rate, subtype="PCM_16")
    return y


def test_audio_roundtrip_resample_and_griffin_lim(tmp_path):
    from stylegram.io.audio import griffin_lim, load_audio, save_wav, spectrogram
    _write_wav(tmp_path / "a.wav", 1.0, 8000, channels=2)
    y, sr = load_audio(tmp_path / "a.wav", 4000)
    assert sr == 4000 and y.shape == (4000,) and y.dtype == np.float32
    s = spectrogram(y, sr)
    assert s.log_mag.shape == (1, 513, 4000 // 256 + 1) and float(s.log_mag.min()) >= 0
    back = griffin_lim(s.log_mag, iters=30, length=len(y))
    # Phase recovered well enough that the magnitudes match far better than noise would.
    err = (spectrogram(back.numpy(), sr).log_mag - s.log_mag).abs().mean() / s.log_mag.mean()
    assert float(err) < 0.2
    save_wav(back, sr, tmp_path / "b.wav")
    import soundfile as sf
    info = sf.info(str(tmp_path / "b.wav"))
    assert info.subtype == "PCM_16" and info.frames == 4000 and info.samplerate == 4000


def test_audio_texture_and_transfer_cli(tmp_path):
    _write_wav(tmp_path / "style.wav", 1.0, 8000, seed=1)
    _write_wav(tmp_path / "content.wav", 1.0, 8000, seed=2)
    out = tmp_path / "tex.wav"
    code, err = run_cli(["audio-texture", str(tmp_path / "style.wav"), "-o", str(out), "--seconds", "1",
                         "--rate", "8000", "--filters", "32", "--iters", "15", "--report", str(tmp_path / "r.json")])
    assert code == 0, err
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["style_drop"] > 10
    import soundfile as sf
    assert sf.info(str(out)).frames == 8000
    assert (tmp_path / "tex.style.png").stat().st_size > 1000 and (tmp_path / "tex.result.png").is_file()
    assert rep["n_fft"] == 512  # textures: shorter windows than the transfer's 1024 keep drops sharp
    # the report says what ran: every option (defaults too), the input by name and sha256, versions
    import hashlib
    assert {k: rep["params"][k] for k in ("seconds", "rate", "filters", "n_fft", "iters", "seed", "max_seconds")} == {
        "seconds": 1.0, "rate": 8000, "filters": 32, "n_fft": 512, "iters": 15, "seed": 0, "max_seconds": 30.0}
    assert rep["inputs"] == [{"file": "style.wav", "sha256": hashlib.sha256((tmp_path / "style.wav").read_bytes()).hexdigest()}]
    assert rep["versions"]["torch"] == torch.__version__ and "output" not in rep["params"]
    # an upper-case suffix: the side files are TEX.style.png, not TEX.WAV.style.png
    code, err = run_cli(["audio-texture", str(tmp_path / "style.wav"), "-o", str(tmp_path / "TEX.WAV"), "--seconds", "1",
                         "--rate", "8000", "--filters", "16", "--iters", "1"])
    assert code == 0 and (tmp_path / "TEX.style.png").is_file() and (tmp_path / "TEX.result.png").is_file(), err
    code, err = run_cli(["audio-texture", str(tmp_path / "style.wav"), "-o", str(out), "--n-fft", "300"])
    assert code == 2 and "n_fft 300: must be a power of two" in err and "\n" not in err.strip()
    code, err = run_cli(["audio-texture", str(tmp_path / "style.wav"), "-o", str(out), "--rate", "8000", "--n-fft",
                         "4096", "--max-seconds", "0.3"])  # 2400 samples: not one window of the style
    assert code == 2 and err == (f"stylegram: error: {tmp_path / 'style.wav'}: 2400 samples at 8000 Hz, fewer than the "
                                 "4096 of one analysis window (0.512 s); raise --max-seconds or --rate, or lower --n-fft\n"), err
    code, err = run_cli(["audio", str(tmp_path / "content.wav"), str(tmp_path / "style.wav"), "-o",
                         str(tmp_path / "st.wav"), "--rate", "8000", "--filters", "32", "--iters", "10",
                         "--report", str(tmp_path / "r2.json")])
    assert code == 0, err
    rep = json.loads((tmp_path / "r2.json").read_text())
    assert rep["final"]["total"] < rep["initial"]["total"]
    assert (tmp_path / "st.content.png").is_file()



def test_audio_texture_of_a_short_sound_needs_one_n_fft_window_not_1024(tmp_path):
    """A 600-sample style (27 ms at 22.05 kHz, one drop or click) was refused as 'fewer than the 1024
    of one analysis window' at any --n-fft, though the texture reads it through --n-fft windows
    (512 by default, 256 asked for) and the help offers shorter windows for short sounds; and the
    message told the user to raise --max-seconds, which cut nothing."""
    import soundfile as sf
    _write_wav(tmp_path / "click.wav", 600 / 22050, 22050, seed=3)
    assert sf.info(str(tmp_path / "click.wav")).frames == 600
    for n_fft in ("512", "256"):
        out = tmp_path / f"t{n_fft}.wav"
        code, err = run_cli(["audio-texture", str(tmp_path / "click.wav"), "-o", str(out), "--seconds", "0.5",
                             "--n-fft", n_fft, "--filters", "16", "--iters", "2", "-q"])
        assert code == 0, err
        assert sf.info(str(out)).frames == 11025 and sf.info(str(out)).samplerate == 22050
    code, err = run_cli(["audio-texture", str(tmp_path / "click.wav"), "-o", str(tmp_path / "t.wav"), "--n-fft", "1024"])
    assert code == 2 and err == (f"stylegram: error: {tmp_path / 'click.wav'}: 600 samples at 22050 Hz, fewer than the "
                                 "1024 of one analysis window (0.046 s); give a longer sound or raise --rate, "
                                 "or lower --n-fft\n"), err


def test_audio_transfer_says_when_max_seconds_cuts_the_content(tmp_path):
    """A 35 s content came back as 30 s (--max-seconds 30) with only 'wrote OUT'; a cut is now a
    warning (with -q too) and the report gives both lengths."""
    import soundfile as sf
    _write_wav(tmp_path / "c.wav", 1.5, 8000, seed=1)
    _write_wav(tmp_path / "s.wav", 1.0, 8000, seed=2)
    args = ["audio", str(tmp_path / "c.wav"), str(tmp_path / "s.wav"), "--rate", "8000", "--filters", "16",
            "--iters", "1", "-q"]
    code, err = run_cli(args + ["-o", str(tmp_path / "o.wav"), "--max-seconds", "1", "--report", str(tmp_path / "r.json")])
    assert code == 0 and err == (f"stylegram: warning: {tmp_path / 'c.wav'} is 1.5 s; only its first 1 s were styled "
                                 f"(--max-seconds 1), so {tmp_path / 'o.wav'} is 1 s; raise --max-seconds for "
                                 "all of it\n"), err
    assert sf.info(str(tmp_path / "o.wav")).frames == 8000
    rep = json.loads((tmp_path / "r.json").read_text())
    assert (rep["seconds"], rep["content_seconds"]) == (1.0, 1.5)
    code, err = run_cli(args + ["-o", str(tmp_path / "o2.wav"), "--max-seconds", "2"])
    assert code == 0 and err == "" and sf.info(str(tmp_path / "o2.wav")).frames == 12000
    code, err = run_cli(args + ["-o", str(tmp_path / "o3.wav"), "--max-seconds", "1", "--alpha", "nan"])
    assert code == 2 and err == "stylegram: error: alpha nan: must be a finite number, 0 or more\n", err

@pytest.mark.parametrize("command", ["audio", "audio-texture"])
def test_audio_help_says_the_output_is_written_at_rate(command):
    """A 96 kHz style gave a 22.05 kHz file while the help said only 'sample rate to work at'."""
    from click.testing import CliRunner

    from stylegram.cli import cli
    res = CliRunner().invoke(cli, [command, "--help"])
    out = " ".join(res.output.split())
    assert res.exit_code == 0 and "output .wav (16-bit, mono, at --rate)" in out
    assert "sample rate to work at and of OUTPUT, Hz (inputs at other rates are resampled" in out

def test_audio_texture_is_as_many_samples_as_seconds_times_rate():
    """--seconds 2.01 at 8000 Hz gave 16079 samples: int(2.01 * 8000) truncated 16079.999..."""
    from stylegram.media import audio_texture
    style = torch.from_numpy(np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1)
    for seconds, n in ((2.01, 16080), (4.06, 32480)):
        res = audio_texture(style, 8000, seconds, filters=16, iters=0, gl_iters=1)
        assert res.samples.shape == (n,)

def test_mp3_and_aiff_are_read_as_sound_and_named_as_sound_elsewhere(tmp_path, shared):
    """soundfile reads MP3 and AIFF (audio-texture took them), but `volume` or `signal-texture` given
    one did not say 'it looks like a sound' as they do for .wav/.flac/.ogg."""
    import soundfile as sf
    from stylegram.io.audio import load_audio
    y = _write_wav(tmp_path / "a.wav", 0.5, 8000)
    for sfx, fmt in ((".mp3", "MP3"), (".aiff", "AIFF")):
        sf.write(str(tmp_path / f"a{sfx}"), y.astype(np.float32), 8000, format=fmt)
        z, rate = load_audio(tmp_path / f"a{sfx}", 8000)
        assert rate == 8000 and abs(len(z) - 4000) < 1200  # an MP3 decoder pads its frames
        for args in (["volume", str(tmp_path / f"a{sfx}"), str(shared / "data" / "images" / "brick.png"),
                      "-o", str(tmp_path / "o.nii")], ["signal-texture", str(tmp_path / f"a{sfx}"), "-o",
                                                        str(tmp_path / "o.npy")]):
            code, err = run_cli(args)
            assert code == 2 and err.strip().endswith("; it looks like a sound: use `stylegram audio` or `audio-texture`"), err

def test_audio_summary_lines_give_the_sound_s_length_and_rate(tmp_path):
    """'wrote OUT (11 evaluations, 1.0 s)' of a 2 s file: the seconds were the optimizer's, read as
    the sound's. The line now gives the sound's length and rate."""
    from click.testing import CliRunner

    from stylegram.cli import cli
    _write_wav(tmp_path / "c.wav", 0.75, 8000, seed=1)
    _write_wav(tmp_path / "s.wav", 1.0, 8000, seed=2)
    common = ["--rate", "8000", "--filters", "16", "--iters", "1"]
    for args, start in ((["audio", str(tmp_path / "c.wav"), str(tmp_path / "s.wav"), "-o", str(tmp_path / "a.wav")],
                         f"wrote {tmp_path / 'a.wav'} (0.75 s of sound at 8000 Hz; "),
                        (["audio-texture", str(tmp_path / "s.wav"), "-o", str(tmp_path / "t.wav"), "--seconds", "1.5"],
                         f"wrote {tmp_path / 't.wav'} (1.50 s of sound at 8000 Hz): Gram loss fell ")):
        res = CliRunner().invoke(cli, args + common)
        assert res.exit_code == 0, res.output
        assert res.output.splitlines()[-1].startswith(start), res.output

def test_audio_says_when_the_result_was_turned_down_so_as_not_to_clip(tmp_path):
    """A loud result (an organ drone's texture peaked at 1.12) was scaled to peak 0.97, -1.2 dB,
    without a word: the level a sound designer hears changed silently. The gain is now in the
    summary line and the report (0.0 where nothing was scaled)."""
    import soundfile as sf
    from click.testing import CliRunner

    from stylegram.cli import cli
    from stylegram.io.audio import save_wav
    assert save_wav(np.array([0.5, -1.94, 0.2], np.float32), 8000, tmp_path / "a.wav") == -6.02
    assert np.abs(sf.read(str(tmp_path / "a.wav"))[0]).max() == pytest.approx(0.97, abs=1e-4)
    assert save_wav(np.array([0.5, -0.9], np.float32), 8000, tmp_path / "b.wav") == 0.0
    t = np.arange(8000) / 8000
    loud = np.clip(3 * np.sin(2 * np.pi * 110 * t) * (1 + np.sin(2 * np.pi * 2 * t)), -1, 1)  # full-scale, clipped
    sf.write(str(tmp_path / "loud.wav"), loud.astype(np.float32), 8000, subtype="PCM_16")
    res = CliRunner().invoke(cli, ["audio-texture", str(tmp_path / "loud.wav"), "-o", str(tmp_path / "t.wav"),
                                   "--rate", "8000", "--filters", "16", "--iters", "2", "--seconds", "1",
                                   "--report", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    gain = json.loads((tmp_path / "r.json").read_text())["gain_db"]
    assert gain < 0 and f"(1.00 s of sound at 8000 Hz, scaled by {gain:.1f} dB so as not to clip)" in res.output

def test_a_gain_below_a_tenth_of_a_db_is_not_shown_as_zero(tmp_path):
    """A peak of 0.975, turned down to 0.97 (-0.04 dB), read 'scaled by -0.0 dB so as not to clip'."""
    import stylegram.cli  # noqa: F401  (media_cli is imported through the CLI)
    from stylegram.io.audio import save_wav
    from stylegram.media_cli import _gain_note
    gain = save_wav(np.array([0.5, -0.975, 0.1], np.float32), 8000, tmp_path / "g.wav")
    assert gain == -0.04 and _gain_note(gain) == ", scaled by -0.04 dB so as not to clip"
    assert _gain_note(-1.24) == ", scaled by -1.2 dB so as not to clip" and _gain_note(0.0) == ""


def test_stereo_whose_channels_cancel_is_not_called_silent(tmp_path):
    """Left = -right (a polarity-flipped channel) mixes to zeros: the error said the file 'is silent
    (peak 0.0e+00)', of a file with sound at 0.42 in each channel."""
    import soundfile as sf
    from stylegram.io.audio import load_audio
    y = _write_wav(tmp_path / "mono.wav", 0.5, 8000)
    sf.write(str(tmp_path / "flip.wav"), np.stack([y, -y], 1).astype(np.float32), 8000, subtype="FLOAT")
    want = f"its 2 channels cancel out in the mono mix (peak 0.0e+00, {np.abs(y).max():.2f} in the channels"
    with pytest.raises(InputError, match=re.escape(want)):
        load_audio(tmp_path / "flip.wav", 8000, allow_silent=True)
    for args in (["audio-texture", str(tmp_path / "flip.wav")],
                 ["audio", str(tmp_path / "flip.wav"), str(tmp_path / "mono.wav")]):
        code, err = run_cli(args + ["-o", str(tmp_path / "o.wav"), "--rate", "8000"])
        assert code == 2 and err.count("\n") == 1 and want in err and "silent" not in err, err
        assert not list(tmp_path.glob("o.*"))

def test_a_quiet_channel_beside_a_silent_one_is_silent_not_cancelled(tmp_path):
    """One channel at 1.5e-4 beside a silent one mixes to 7.5e-5: nothing cancels, the mix is just
    below the silence floor. It was refused as 'its 2 channels cancel out in the mono mix (...,
    0.00 in the channels: one is the other inverted)'."""
    import soundfile as sf
    from stylegram.io.audio import load_audio
    y = 1.5e-4 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    sf.write(str(tmp_path / "q.wav"), np.stack([y, 0 * y], 1).astype(np.float32), 8000, subtype="FLOAT")
    with pytest.raises(InputError, match=r"q\.wav: is silent \(peak 7\.5e-05\)") as e:
        load_audio(tmp_path / "q.wav", 8000)
    assert "cancel" not in str(e.value)


@pytest.mark.parametrize("name,message", [
    ("empty.wav", "contains no samples"),
    ("not_audio.wav", "not an audio file soundfile can read"),
    ("silence.wav", "is silent"),
])
def test_bad_audio_one_line_errors(shared, tmp_path, name, message):
    from stylegram.io.audio import load_audio
    with pytest.raises(InputError, match=message):
        load_audio(shared / "data" / "bad" / name)
    code, err = run_cli(["audio-texture", str(shared / "data" / "bad" / name), "-o", str(tmp_path / "o.wav")])
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err
    # as the content of a transfer too: a silent one gave a silent result and "wrote ..." (every
    # gradient is zero on a spectrogram of zeros)
    rain = shared / "data" / "audio" / "rain_texture.wav"
    code, err = run_cli(["audio", str(shared / "data" / "bad" / name), str(rain), "-o", str(tmp_path / "o.wav"),
                         "--max-seconds", "1", "--filters", "16", "--iters", "1"])
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_bad_audio_that_is_fine(shared):
    from stylegram.io.audio import load_audio
    y, sr = load_audio(shared / "data" / "bad" / "stereo_48k.wav")  # mixed to mono, resampled
    assert sr == 22050 and y.ndim == 1 and len(y) == 2 * 22050
    y, _ = load_audio(shared / "data" / "bad" / "silence.wav", allow_silent=True)  # read, for the caller to judge
    assert len(y) == 3 * 22050 and np.abs(y).max() < 1e-4


# ---------------------------------------------------------------------------------- signals

def test_signal_texture_csv_and_ecg(tmp_path):
    import pydicom.data

    from stylegram.io.signal import ecg_from_dicom, load_signal
    t = np.arange(300)
    rows = np.stack([np.sin(t / 5.0), np.sign(np.sin(t / 11.0))], 1)  # samples x channels, as CSVs are
    np.savetxt(tmp_path / "s.csv", rows, delimiter=",")
    x = load_signal(tmp_path / "s.csv")
    assert x.shape == (1, 2, 300)
    # a header row naming the columns (as spreadsheets write them) is skipped, not refused
    (tmp_path / "h.csv").write_text("lead1,lead2\n" + (tmp_path / "s.csv").read_text())
    assert torch.equal(load_signal(tmp_path / "h.csv"), x)
    # written back with every float32 digit (%.6g kept 3 values of a 101325 +- 0.3 Pa channel)
    from stylegram.io.signal import save_signal
    baro = torch.tensor([[101325.1, 101324.9, 101325.3]])
    save_signal(baro, tmp_path / "b.csv")
    assert torch.equal(load_signal(tmp_path / "b.csv")[0], baro)
    code, err = run_cli(["signal-texture", str(tmp_path / "s.csv"), "-o", str(tmp_path / "o.npy"), "--length", "200",
                         "--filters", "32", "--iters", "20", "--plot", str(tmp_path / "p.png"),
                         "--report", str(tmp_path / "r.json")])
    assert code == 0, err
    assert np.load(tmp_path / "o.npy").shape == (2, 200) and (tmp_path / "p.png").is_file()
    assert json.loads((tmp_path / "r.json").read_text())["style_drop"] > 10
    # --report is an output: not over an input (it wrote JSON over the signal), and checked before the run
    code, err = run_cli(["signal-texture", str(tmp_path / "s.csv"), "-o", str(tmp_path / "o2.npy"), "--report",
                         str(tmp_path / "s.csv")])
    assert code == 2 and "unknown output type '.csv'; use one of .json" in err
    np.save(tmp_path / "in.npy", rows.T)
    code, err = run_cli(["signal-texture", str(tmp_path / "in.npy"), "-o", str(tmp_path / "o2.npy"), "--report",
                         str(tmp_path / "in.json"), "--iters", "1", "--filters", "16"])
    assert code == 0 and json.loads((tmp_path / "in.json").read_text())["task"] == {"command": "signal-texture"}
    # a media report is not a transfer's settings: said so, not "an option from another version"
    from stylegram import TransferConfig
    with pytest.raises(ConfigError, match="holds the settings of a signal-texture, not of a transfer; it is the "
                                          "report of `stylegram signal-texture`"):
        TransferConfig.from_run(tmp_path / "in.json")
    # --iters 0 is no iterations (the start, measured), not the command's default of 150
    code, err = run_cli(["signal-texture", str(tmp_path / "s.csv"), "-o", str(tmp_path / "o.npy"), "--length", "200",
                         "--filters", "32", "--iters", "0", "--report", str(tmp_path / "r0.json")])
    assert code == 0, err
    r0 = json.loads((tmp_path / "r0.json").read_text())
    assert r0["evals"] <= 1 and r0["params"]["length"] == 200 and r0["params"]["iters"] == 0
    ecg, rate = ecg_from_dicom(pydicom.data.get_testdata_file("waveform_ecg.dcm"))
    assert ecg.shape == (1, 12, 10000) and rate == 1000
    np.save(tmp_path / "bad.npy", np.array([[1.0, np.nan, 2.0]]))
    with pytest.raises(InputError, match="NaN"):
        load_signal(tmp_path / "bad.npy")



@pytest.mark.parametrize("shape", [(300, 3), (3, 300), (300,)])
def test_signal_texture_npy_comes_back_in_its_own_layout(tmp_path, shape):
    """A (300, 3) samples x channels .npy (numpy's usual layout for a recording) came back (3, 300),
    and a flat (300,) one as (1, 300)."""
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "s.npy", a)
    code, err = run_cli(["signal-texture", str(tmp_path / "s.npy"), "-o", str(tmp_path / "o.npy"), "--filters", "16",
                         "--iters", "1", "--length", "200"])
    assert code == 0, err
    want = {(300, 3): (200, 3), (3, 300): (3, 200), (300,): (200,)}[shape]
    assert np.load(tmp_path / "o.npy").shape == want


def test_signal_texture_help_says_the_npy_layout():
    """--help said the .npy output was C x N; it is laid out as an .npy input was (above)."""
    from click.testing import CliRunner

    from stylegram.media_cli import signal_texture_cmd
    out = " ".join(CliRunner().invoke(signal_texture_cmd, ["--help"]).output.split())
    assert ("output .npy (laid out as an .npy input: (C, N), (N, C) or (N,); else (C, N)) or .csv (a column per "
            "channel)") in out

@pytest.mark.parametrize("header", ["lead_I,pressure_Pa", '"I, limb",pressure'])
def test_signal_texture_csv_keeps_the_column_names(tmp_path, header):
    """The header line of a .csv signal (its channel names) was dropped from the .csv written; a
    quoted name holding a comma ("I, limb") was split at it, 3 names for 2 columns, and dropped too."""
    t = np.arange(400)
    a = np.stack([np.sin(t / 5), np.cos(t / 9) + 0.1 * np.sin(t)], 1)
    np.savetxt(tmp_path / "s.csv", a, delimiter=",", header=header, comments="")
    code, err = run_cli(["signal-texture", str(tmp_path / "s.csv"), "-o", str(tmp_path / "o.csv"), "--filters", "16",
                         "--iters", "1"])
    assert code == 0, err
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == header and len(lines) == 401 and len(lines[1].split(",")) == 2
    code, err = run_cli(["signal-texture", str(tmp_path / "o.csv"), "-o", str(tmp_path / "o2.csv"), "--filters", "16",
                         "--iters", "1"])  # read back as 2 x 400, the names carried again
    assert code == 0 and (tmp_path / "o2.csv").read_text().splitlines()[0] == header, err


@pytest.mark.parametrize("text, only", [("lead1,lead2\n", "its header line"),
                                        ("# exported 2026-11-30\n\n", "comments and blank lines")])
def test_signal_csv_without_numbers_is_one_line(tmp_path, text, only):
    """A .csv with a header line and no rows (or only comments) gave numpy's UserWarning and its source
    line, then 'signal has no samples (0, 1)': three lines."""
    (tmp_path / "s.csv").write_text(text)
    code, err = run_cli(["signal-texture", str(tmp_path / "s.csv"), "-o", str(tmp_path / "o.npy")])
    assert code == 2 and err == (f"stylegram: error: {tmp_path / 's.csv'}: no rows of numbers, only {only}; a .csv "
                                 "signal has a row per sample and a column per channel\n"), err


def test_signal_square_csv_reading_is_said_and_can_be_forced(tmp_path):
    """A 3 x 3 CSV was read as 3 channels in rows without a word, though a .csv has a column per
    channel (and stylegram's own 3-channel, 3-sample .csv came back transposed); a CSV whose header
    names more columns than it has rows was read by rows too, its names then dropped."""
    from stylegram.io.signal import ambiguous_layout, load_signal, save_signal
    (tmp_path / "sq.csv").write_text("1,2,3\n4,5,6\n7,8,10\n")
    cols = torch.tensor([[[1.0, 4, 7], [2, 5, 8], [3, 6, 10]]])
    x = load_signal(tmp_path / "sq.csv")
    assert torch.equal(x, cols) and torch.equal(load_signal(tmp_path / "sq.csv", "rows"), cols.transpose(1, 2))
    assert ambiguous_layout(tmp_path / "sq.csv", x, "rows") is None
    save_signal(cols, tmp_path / "own.csv")
    assert torch.equal(load_signal(tmp_path / "own.csv"), cols)  # its own output, read back as written
    code, err = run_cli(["signal-texture", str(tmp_path / "sq.csv"), "-o", str(tmp_path / "o.csv"), "--filters", "8",
                         "--iters", "1"])
    assert code == 0 and err == (f"stylegram: warning: {tmp_path / 'sq.csv'} is 3 x 3, so which axis holds the channels "
                                 "is ambiguous: read as 3 channels in columns (3 samples each, as stylegram writes a "
                                 ".csv); if its rows are the channels, give --channels-in rows\n"), err
    code, err = run_cli(["signal-texture", str(tmp_path / "sq.csv"), "-o", str(tmp_path / "o.csv"), "--filters", "8",
                         "--iters", "1", "--channels-in", "rows"])
    assert code == 0 and err == "", err
    np.save(tmp_path / "sq.npy", cols[0].numpy())  # a .npy is (C, N) as stylegram writes it: rows
    assert torch.equal(load_signal(tmp_path / "sq.npy"), cols)
    assert ambiguous_layout(tmp_path / "sq.npy", cols) == (
        f"{tmp_path / 'sq.npy'} is 3 x 3, so which axis holds the channels is ambiguous: read as 3 channels in rows "
        "(3 samples each, as stylegram writes a .npy); if its columns are the channels, give --channels-in columns")
    # a header line names the columns: they are the channels, however few the rows
    (tmp_path / "h.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    assert load_signal(tmp_path / "h.csv").shape == (1, 3, 2)
    assert ambiguous_layout(tmp_path / "h.csv", load_signal(tmp_path / "h.csv")) is None
    # forced on a wide .npy: 6 channels of 4 samples, written back as it came (N, C)
    np.save(tmp_path / "w.npy", np.arange(24, dtype=np.float32).reshape(4, 6))
    assert load_signal(tmp_path / "w.npy").shape == (1, 4, 6)
    assert load_signal(tmp_path / "w.npy", "columns").shape == (1, 6, 4)
    code, err = run_cli(["signal-texture", str(tmp_path / "w.npy"), "-o", str(tmp_path / "w_o.npy"), "--filters", "8",
                         "--iters", "1", "--channels-in", "columns", "--length", "5"])
    assert code == 0 and np.load(tmp_path / "w_o.npy").shape == (5, 6), err
    with pytest.raises(ConfigError, match=r"^channels_in 'cols': use 'auto', 'rows' or 'columns'$"):
        load_signal(tmp_path / "w.npy", "cols")
    import pydicom.data
    ecg = pydicom.data.get_testdata_file("waveform_ecg.dcm")
    code, err = run_cli(["signal-texture", ecg, "-o", str(tmp_path / "e.npy"), "--channels-in", "rows"])
    assert code == 2 and err == (f"stylegram: error: --channels-in rows: only for .npy and .csv signals; {ecg} is a "
                                 "DICOM waveform, whose leads the file names\n"), err


# ---------------------------------------------------------------------------------- volumes

def test_volume_io_nifti_npy_dicom(tmp_path):
    import nibabel as nib
    import pydicom
    import pydicom.data

    from stylegram.io.volume import load_volume, resize_volume, save_volume, unwindow, window
    a = np.random.default_rng(0).normal(100, 20, (16, 16, 16)).astype(np.float32)
    aff = np.diag([2.0, 1.5, 3.0, 1.0])
    aff[:3, 3] = [10, 20, 30]
    nib.save(nib.Nifti1Image(a, aff), str(tmp_path / "v.nii.gz"))
    vol = load_volume(tmp_path / "v.nii.gz")
    assert np.allclose(vol.affine, aff) and vol.spacing == (2.0, 1.5, 3.0)
    x, lo_hi = window(vol, 100, 80)
    assert x.shape == (1, 1, 16, 16, 16) and float(x.min()) == 0 and float(x.max()) == 1
    assert np.allclose(unwindow(window(vol, 100, 1000)[0], (-400, 600)), a, atol=1e-3)
    with pytest.raises(ConfigError, match=r"^size 0: must be 1 or more voxels"):
        resize_volume(x, 0, vol.affine)
    y, aff2 = resize_volume(x, 8, vol.affine)
    assert y.shape == (1, 1, 8, 8, 8) and np.allclose(np.diag(aff2)[:3], [4.0, 3.0, 6.0])
    # voxel 0 of the half-size grid is centred between old voxels 0 and 1: the field of view stays put
    assert np.allclose(aff2[:3, 3], aff[:3, 3] + np.array([2.0, 1.5, 3.0]) / 2)
    cube = torch.zeros(1, 1, 64, 64, 64)
    cube[..., 38:46, 38:46, 38:46] = 1  # centred on voxel 41.5 (world 41.5 mm with an identity affine)
    small, a16 = resize_volume(cube, 16, np.eye(4))
    centre = torch.nonzero(small[0, 0] > 0.5).double().mean(0).numpy()
    assert np.allclose(a16[:3, :3] @ centre + a16[:3, 3], 41.5)  # was 40.0: a 1.5 mm shift
    save_volume(a, tmp_path / "o.nii", aff2)
    out = nib.load(str(tmp_path / "o.nii"))
    assert np.allclose(out.affine, aff2) and np.allclose(out.get_qform(), aff2)  # the qform too (its code was 0)
    assert (int(out.header["qform_code"]), int(out.header["sform_code"])) == (1, 1)
    src = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    folder = tmp_path / "series"
    folder.mkdir()
    for k in (2, 0, 1):  # written out of order: the reader sorts by position
        src.ImagePositionPatient = [-100.0, -80.0, 5.0 * k]
        src.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]  # axial
        src.InstanceNumber = k + 1
        src.save_as(str(folder / f"s{k}.dcm"))
    ser = load_volume(folder)
    assert ser.data.shape == (3, 128, 128) and ser.spacing[0] == pytest.approx(5.0)
    assert ser.spacing[1] == pytest.approx(0.661468)
    # the NIfTI world is RAS and DICOM's LPS: slices run to the head (S), rows to the back (P), columns
    # to the patient's left (L), and the first voxel lies at LPS (-100, -80, 0) = RAS (100, 80, 0)
    # (it was written as x = slice axis, no sign flip, IOP ignored)
    assert nib.aff2axcodes(ser.affine) == ("S", "P", "L") and np.allclose(ser.affine[:3, 3], [100, 80, 0])


@pytest.mark.parametrize("name,message", [("volume_2d_not_3d.npy", "array is 2D \\(32 x 32\\), a volume needs 3 axes"),
                                          ("volume_with_nan.npy", "contains 1 NaN/Inf voxel")])
def test_bad_volumes_one_line_errors(shared, tmp_path, name, message):
    from stylegram.io.volume import load_volume
    with pytest.raises(InputError, match=message):
        load_volume(shared / "data" / "bad" / name)
    code, err = run_cli(["volume", str(shared / "data" / "bad" / name), str(shared / "data" / "images" / "brick.png"),
                         "-o", str(tmp_path / "o.npy")])
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_volume_and_solid_texture_cli(tmp_path, shared):
    import nibabel as nib
    g = np.random.default_rng(1)
    a = (g.random((16, 16, 16)) * 1000).astype(np.float32)
    aff = np.diag([0.5, 0.5, 2.0, 1.0])
    nib.save(nib.Nifti1Image(a, aff), str(tmp_path / "c.nii"))
    style = shared / "data" / "images" / "brick.png"
    code, err = run_cli(["volume", str(tmp_path / "c.nii"), str(style), "-o", str(tmp_path / "o.nii.gz"),
                         "--size", "16", "--net", "random", "--width", "0.125", "--iters", "6",
                         "--report", str(tmp_path / "r.json")])
    assert code == 0, err
    out = nib.load(str(tmp_path / "o.nii.gz"))
    assert out.shape == (16, 16, 16) and np.allclose(out.affine, aff)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["final"]["style"] < rep["initial"]["style"]
    assert all((tmp_path / f"o.axis{i}.png").is_file() for i in range(3))
    code, err = run_cli(["solid-texture", str(style), "-o", str(tmp_path / "s.npy"), "--size", "16",
                         "--style-size", "32", "--net", "random", "--width", "0.125", "--iters", "10", "--levels", "1",
                         "--coarse-iters", "5",
                         "--report", str(tmp_path / "r2.json")])
    assert code == 0, err
    assert np.load(tmp_path / "s.npy").shape == (16, 16, 16, 3)
    rep = json.loads((tmp_path / "r2.json").read_text())
    assert rep["final"]["style"] < rep["initial"]["style"] / 2



def test_volume_cli_keeps_the_nifti_unit_codes_and_description(tmp_path, shared):
    """A microscope volume in microns came back labelled mm (a field of view 1000 times too big),
    its aligned sform (code 2) as scanner (1) and without its description."""
    import nibabel as nib
    a = (np.random.default_rng(2).random((16, 16, 12)) * 4000).astype(np.uint16)
    aff = np.diag([0.2, 0.2, 0.5, 1.0])
    img = nib.Nifti1Image(a, aff)
    img.header.set_xyzt_units("micron")
    img.set_sform(aff, code=2)
    img.set_qform(None, code=0)
    img.header["descrip"] = b"confocal stack"
    nib.save(img, str(tmp_path / "m.nii"))
    code, err = run_cli(["volume", str(tmp_path / "m.nii"), str(shared / "data" / "images" / "brick.png"),
                         "-o", str(tmp_path / "o.nii.gz"), "--size", "16", "--net", "random", "--width", "0.125",
                         "--iters", "1", "--report", str(tmp_path / "r.json")])
    assert code == 0, err
    out = nib.load(str(tmp_path / "o.nii.gz"))
    assert out.header.get_xyzt_units()[0] == "micron"
    assert int(out.header["sform_code"]) == 2
    assert out.header["descrip"].item() == b"confocal stack"
    assert np.allclose(out.affine, aff) and json.loads((tmp_path / "r.json").read_text())["units"] == "micron"


def test_volume_qform_code_goes_with_the_matrix_written_in_it(tmp_path):
    """A scanner qform (code 1) beside a template-aligned sform (code 2, another matrix): both forms
    of the output hold the sform's matrix, and the qform kept code 1, so that readers taking the
    qform read the template's coordinates as the scanner's. Equal matrices keep both codes."""
    import nibabel as nib
    from stylegram.io.volume import load_volume, save_volume
    a = np.random.default_rng(0).random((8, 8, 6)).astype(np.float32)
    q = np.diag([1.0, 1.0, 2.0, 1.0])
    q[:3, 3] = [-4, -4, -6]
    s = np.array([[0, -1.0, 0, 10], [1.0, 0, 0, -3], [0, 0, 2.0, 5], [0, 0, 0, 1]])
    for sform, codes in ((s, (2, 2)), (q, (1, 2))):
        img = nib.Nifti1Image(a, None)
        img.set_qform(q, code=1)
        img.set_sform(sform, code=2)
        nib.save(img, str(tmp_path / "in.nii"))
        v = load_volume(tmp_path / "in.nii")
        save_volume(v.data, tmp_path / "o.nii", v.affine, v.header)
        out = nib.load(str(tmp_path / "o.nii"))
        assert (int(out.header["qform_code"]), int(out.header["sform_code"])) == codes
        assert np.allclose(out.get_qform(), sform, atol=1e-6) and np.allclose(out.affine, sform)


def test_volume_analyze_style_nifti_gets_no_invented_orientation(tmp_path, shared):
    """A NIfTI with qform_code and sform_code 0 (only pixdim means anything) was written back with
    codes 1: nibabel's guess from pixdim (x flipped, origin at the centre) claimed as the scanner's."""
    import nibabel as nib
    from stylegram.io.volume import load_volume, save_volume
    a = np.random.default_rng(5).random((32, 24, 16)).astype(np.float32)
    img = nib.Nifti1Image(a, None)
    img.header.set_zooms((0.8, 0.8, 0.9))
    img.set_qform(None, code=0)
    img.set_sform(None, code=0)
    nib.save(img, str(tmp_path / "ana.nii"))
    v = load_volume(tmp_path / "ana.nii")
    assert (v.header["qform_code"], v.header["sform_code"]) == (0, 0)
    save_volume(v.data, tmp_path / "o.nii", v.affine, v.header)
    out = nib.load(str(tmp_path / "o.nii"))
    assert (int(out.header["qform_code"]), int(out.header["sform_code"])) == (0, 0)
    assert np.allclose(out.header.get_zooms(), (0.8, 0.8, 0.9)) and np.allclose(out.affine, img.affine)
    code, err = run_cli(["volume", str(tmp_path / "ana.nii"), str(shared / "data" / "images" / "brick.png"),
                         "-o", str(tmp_path / "o.nii.gz"), "--size", "16", "--net", "random", "--width", "0.125",
                         "--iters", "1"])
    assert code == 0, err
    out = nib.load(str(tmp_path / "o.nii.gz"))
    assert (int(out.header["qform_code"]), int(out.header["sform_code"])) == (0, 0) and out.shape == (16, 12, 8)
    assert np.allclose(out.header.get_zooms(), (1.6, 1.6, 1.8))
    # the same guess for the output's grid: its field of view is the input's, centred alike
    assert np.allclose(out.affine, [[-1.6, 0, 0, 12.0], [0, 1.6, 0, -8.8], [0, 0, 1.8, -6.3], [0, 0, 0, 1]])


def test_volume_with_anisotropic_voxels_is_styled_on_cubic_ones(tmp_path, shared, monkeypatch):
    """Voxels of 1 x 1 x 3 mm were styled on their grid: the style's features came out 3x longer along
    the third axis in the world. They are styled on cubic voxels of the finest spacing and resampled
    back; the output keeps the grid, affine and header the run gave before."""
    import nibabel as nib

    import stylegram.media as media
    a = (np.random.default_rng(6).random((32, 32, 12)) * 1000).astype(np.float32)
    aff = np.diag([1.0, 1.0, 3.0, 1.0])
    aff[:3, 3] = [-10, 5, 2]
    img = nib.Nifti1Image(a, aff)
    img.header.set_xyzt_units("mm")
    img.set_sform(aff, code=2)
    img.header["descrip"] = b"1 x 1 x 3 mm"
    nib.save(img, str(tmp_path / "an.nii.gz"))
    seen, real = [], media.volume_transfer
    monkeypatch.setattr(media, "volume_transfer", lambda x, *a, **k: seen.append(tuple(x.shape)) or real(x, *a, **k))
    args = ["volume", str(tmp_path / "an.nii.gz"), str(shared / "data" / "images" / "brick.png"), "-o",
            str(tmp_path / "o.nii.gz"), "--size", "16", "--net", "random", "--width", "0.125", "--iters", "2",
            "--report", str(tmp_path / "r.json")]
    code, err = run_cli(args)
    assert code == 0 and err == "", err
    assert seen == [(1, 1, 16, 16, 18)]  # 2 mm cubes over the 32 x 32 x 36 mm field of view
    out = nib.load(str(tmp_path / "o.nii.gz"))
    want = np.diag([2.0, 2.0, 6.0, 1.0])
    want[:3, 3] = [-9.5, 5.5, 3.5]  # the field of view unmoved, as without resampling
    assert out.shape == (16, 16, 6) and np.allclose(out.affine, want)
    assert (int(out.header["sform_code"]), out.header["descrip"].item()) == (2, b"1 x 1 x 3 mm")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert (rep["shape"], rep["styled_shape"], rep["spacing"], rep["styled_spacing"], rep["resampled_to_cubic_voxels"]) \
        == ([1, 1, 16, 16, 6], [1, 1, 16, 16, 18], [2.0, 2.0, 6.0], [2.0, 2.0, 2.0], True)
    # on its own grid the third axis (6 voxels) is too thin for the style layers
    code, err = run_cli(args + ["--keep-voxel-grid"])
    assert code == 2 and err.endswith("is 16 x 16 x 6 voxels, but layer relu3_1 needs at least 8 voxels on each side; "
                                      "raise --size\n"), err
    # the summary line says what was done
    from click.testing import CliRunner

    from stylegram.cli import cli
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0 and (f"wrote {tmp_path / 'o.nii.gz'} (styled on 16 x 16 x 18 cubic voxels of 2 mm and "
                                   "resampled back to its 16 x 16 x 6 voxels of 2 x 2 x 6 mm; --keep-voxel-grid: styled "
                                   "on those); previews ") in res.output, res.output
    # the grid it is resampled to must fit in memory: refused with both estimates otherwise
    a = (np.random.default_rng(7).random((64, 64, 8)) * 1000).astype(np.float32)
    nib.save(nib.Nifti1Image(a, np.diag([1.0, 1.0, 8.0, 1.0])), str(tmp_path / "thick.nii"))
    monkeypatch.setattr("stylegram.device.available_bytes", lambda device: int(0.24 * 2**30))
    args = ["volume", str(tmp_path / "thick.nii"), str(shared / "data" / "images" / "brick.png"), "-o",
            str(tmp_path / "t.nii"), "--size", "64", "--net", "random", "--width", "0.125", "--iters", "1"]
    code, err = run_cli(args)
    assert code == 2 and err == (f"stylegram: error: {tmp_path / 'thick.nii'}: styled on cubic voxels (64 x 64 x 64), "
                                 "the volume needs about 0.3 GiB but cpu has 0.2 GiB free; give --keep-voxel-grid (its "
                                 "64 x 64 x 8 grid, about 0.2 GiB), a lower --size or --slices\n"), err
    assert not (tmp_path / "t.nii").exists()
    code, err = run_cli(args + ["--keep-voxel-grid"])
    assert code == 0 and nib.load(str(tmp_path / "t.nii")).shape == (64, 64, 8), err


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.0, 1.0, 1.15)])
def test_volume_with_near_cubic_voxels_is_styled_as_before(tmp_path, shared, spacing):
    """Up to 1.2 times longer one way the voxels are styled on their own grid: byte for byte what the
    command wrote before resampling existed (window, resize to --size, volume_transfer, save)."""
    import nibabel as nib

    from stylegram.io.image import load_image
    from stylegram.io.volume import load_volume, resize_volume, save_volume, unwindow, window
    from stylegram.media import volume_transfer
    a = (np.random.default_rng(8).random((20, 20, 15)) * 1000).astype(np.float32)
    nib.save(nib.Nifti1Image(a, np.diag([*spacing, 1.0])), str(tmp_path / "c.nii"))
    brick = shared / "data" / "images" / "brick.png"
    code, err = run_cli(["volume", str(tmp_path / "c.nii"), str(brick), "-o", str(tmp_path / "o.nii"), "--size", "16",
                         "--net", "random", "--width", "0.125", "--iters", "2"])
    assert code == 0, err
    vol = load_volume(tmp_path / "c.nii")
    x, lo_hi = window(vol)
    x, aff = resize_volume(x, 16, vol.affine)
    run = volume_transfer(x, load_image(brick, 64).mean(1, keepdim=True), random_vgg(seed=0, width=0.125, upto="relu4_2"),
                          iters=2, slices_per_axis=8, seed=0)
    save_volume(unwindow(run.x, lo_hi), tmp_path / "before.nii", aff, vol.header)
    assert (tmp_path / "o.nii").read_bytes() == (tmp_path / "before.nii").read_bytes()
    assert nib.load(str(tmp_path / "o.nii")).shape == (16, 16, 12)


def test_volume_cli_says_a_4d_series_was_cut_to_its_first_volume(tmp_path, shared):
    """A 16 x 16 x 16 x 5 series (fMRI) was styled as its first volume with only 'wrote OUT'."""
    import nibabel as nib
    a = np.random.default_rng(3).random((16, 16, 16, 5)).astype(np.float32)
    nib.save(nib.Nifti1Image(a, np.eye(4)), str(tmp_path / "f.nii.gz"))
    code, err = run_cli(["volume", str(tmp_path / "f.nii.gz"), str(shared / "data" / "images" / "brick.png"),
                         "-o", str(tmp_path / "o.nii.gz"), "--size", "16", "--net", "random", "--width", "0.125",
                         "--iters", "1", "--report", str(tmp_path / "r.json")])
    assert code == 0 and err == (f"stylegram: warning: {tmp_path / 'f.nii.gz'} holds 5 volumes (4D, the last axis); only "
                                 f"the first was styled, so {tmp_path / 'o.nii.gz'} is one volume; write out the volume "
                                 "you want as its own file\n"), err
    assert nib.load(str(tmp_path / "o.nii.gz")).shape == (16, 16, 16)
    assert json.loads((tmp_path / "r.json").read_text())["volumes_in_content"] == 5

def test_volume_cli_says_a_colour_volume_was_styled_as_its_red_channel(tmp_path, shared):
    """solid-texture's own (S, S, S, 3) output given to `volume` was said to hold '3 volumes', of
    which the first was styled: it is the red channel of a colour volume."""
    a = np.random.default_rng(4).random((16, 16, 16, 3)).astype(np.float32)
    np.save(tmp_path / "cube.npy", a)
    code, err = run_cli(["volume", str(tmp_path / "cube.npy"), str(shared / "data" / "images" / "brick.png"),
                         "-o", str(tmp_path / "o.npy"), "--size", "16", "--net", "random", "--width", "0.125",
                         "--iters", "1"])
    assert code == 0 and err == (f"stylegram: warning: {tmp_path / 'cube.npy'} holds 3 volumes (4D, the last axis; "
                                 "colour channels, if it is a colour volume (as solid-texture writes): the red one); "
                                 f"only the first was styled, so {tmp_path / 'o.npy'} is one volume; write out the "
                                 "volume you want as its own file\n"), err


# ------------------------------------------------------------------------------------ video

def _moving_frames(n=8, size=64):
    g = torch.Generator().manual_seed(0)
    big = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 32, generator=g), size=(size, size * 2), mode="bilinear")
    return [big[..., 2 * t: 2 * t + size].contiguous() for t in range(n)]


def test_flicker_figure_by_hand():
    a, b, c = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    assert flicker([a, b * 0.5, c], [a, b, c]) == pytest.approx(0.5)
    assert flicker([a], [a]) is None  # one frame: nothing to compare, not "perfectly steady"


def test_video_temporal_loss_and_resume(tmp_path, tiny2d):
    from stylegram.io.video import read_video, write_video
    frames = _moving_frames()
    write_video(frames, tmp_path / "in.mp4", 8)
    back, fps = read_video(tmp_path / "in.mp4")
    assert len(back) == 8 and back[0].shape == (1, 3, 64, 64) and fps == pytest.approx(8)
    assert read_video(tmp_path / "in.mp4", size=63)[0][0].shape == (1, 3, 62, 62)  # even, and not above --size
    assert float((back[3] - frames[3]).abs().mean()) < 0.05
    style = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    layers = {"relu1_1": 1.0, "relu2_1": 1.0}
    r = video_transfer(frames[:2], style, tiny2d, style_layers=layers, content_layers=["relu2_1"], iters=4, beta=1e3)
    assert "temporal" in r.runs[1].final and all(v.final["style"] < v.initial["style"] for v in r.runs.values())
    stem = tmp_path / "out"
    args = ["video", str(tmp_path / "in.mp4"), str(tmp_path / "style.png"), "-o", f"{stem}.mp4", "--size", "64",
            "--net", "random", "--width", "0.125", "--iters", "2"]
    from stylegram.io.image import save_image
    save_image(style, tmp_path / "style.png")
    code, err = run_cli(args + ["--max-frames", "4"])
    assert code == 0, err
    assert len(list((tmp_path / "out.frames").glob("frame_*.npy"))) == 4  # float32: resumed exactly
    code, err = run_cli(args + ["--report", str(tmp_path / "r.json")])
    assert code == 0, err
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["frames"] == 8 and rep["resumed_frames"] == 4 and math.isfinite(rep["flicker"])
    assert sorted(rep["per_frame"]) == ["4", "5", "6", "7"]
    assert all(v["final"]["total"] < v["initial"]["total"] for v in rep["per_frame"].values())
    assert len(read_video(f"{stem}.mp4")[0]) == 8
    code, err = run_cli(args + ["--temporal", "5"])  # other settings: refuses to mix frames
    assert code == 2 and "other settings (temporal)" in err
    # the same for a video ended early: frames 4..7 of the resumed run equal an uninterrupted run's
    import numpy as np
    full = ["video", str(tmp_path / "in.mp4"), str(tmp_path / "style.png"), "-o", str(tmp_path / "full.mp4"),
            "--size", "64", "--net", "random", "--width", "0.125", "--iters", "2"]
    assert run_cli(full)[0] == 0
    for i in range(8):
        a, b = (np.load(tmp_path / f"{name}.frames" / f"frame_{i:05d}.npy") for name in ("out", "full"))
        assert np.array_equal(a, b), i
    # another clip under the same name (re-rendered): its frames were reused, or a size clash was a traceback
    write_video([f.flip(-1) for f in frames], tmp_path / "in.mp4", 8)
    code, err = run_cli(args)
    assert code == 2 and "other settings (video_sha256)" in err


def test_video_run_hashes_each_input_once(tmp_path, monkeypatch):
    # The resume key and the report's inputs each hashed the clip: two reads of a file that may be
    # gigabytes. Now one digest serves both (and the report names the bytes the run read).
    import stylegram.io.image as image_io
    from stylegram.io.image import save_image
    from stylegram.io.video import write_video
    write_video(_moving_frames(3, 32), tmp_path / "in.mp4", 8)
    save_image(_moving_frames(1, 32)[0], tmp_path / "style.png")
    hashed, sha256 = [], image_io.file_sha256
    monkeypatch.setattr(image_io, "file_sha256", lambda p: hashed.append(str(p)) or sha256(p))
    code, err = run_cli(["video", str(tmp_path / "in.mp4"), str(tmp_path / "style.png"), "-o", str(tmp_path / "o.mp4"),
                         "--size", "32", "--net", "random-tiny", "--iters", "0", "--report", str(tmp_path / "r.json")])
    assert code == 0, err
    assert sorted(hashed) == sorted([str(tmp_path / "in.mp4"), str(tmp_path / "style.png")])
    key = json.loads((tmp_path / "o.frames" / "settings.json").read_text())
    inputs = {i["file"]: i["sha256"] for i in json.loads((tmp_path / "r.json").read_text())["inputs"]}
    assert inputs == {"in.mp4": key["video_sha256"], "style.png": key["style_sha256"]}
    assert inputs["in.mp4"] == sha256(tmp_path / "in.mp4")


def _gif(path, delays, colours=((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))):
    from PIL import Image
    frames = [Image.new("RGB", (32, 32), colours[i % len(colours)]) for i in range(len(delays))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=list(delays), loop=0)


def test_gif_frames_keep_their_own_times(tmp_path):
    # A GIF's frames were all timed by the first one's delay: 100, 300 and 200 ms played as
    # 3 x 100 ms (0.3 s of a 0.6 s animation). Now each distinct frame is stylized once and shown
    # for its own time at a constant rate: 10 fps, red once, green three times, blue twice.
    from stylegram.io.image import save_image
    from stylegram.io.video import read_video
    _gif(tmp_path / "in.gif", [100, 300, 200])
    save_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), tmp_path / "style.png")
    code, err = run_cli(["video", str(tmp_path / "in.gif"), str(tmp_path / "style.png"), "-o", str(tmp_path / "o.mp4"),
                         "--size", "32", "--net", "random-tiny", "--iters", "0", "--report", str(tmp_path / "r.json")])
    assert code == 0, err
    out, fps = read_video(tmp_path / "o.mp4")
    assert fps == pytest.approx(10) and len(out) == 6  # 0.6 s, as the GIF plays
    assert [int(f.mean((0, 2, 3)).argmax()) for f in out] == [0, 1, 1, 1, 2, 2]  # --iters 0: the input's colours
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["frames"] == 3 and rep["seconds"] == pytest.approx(0.6)  # three frames stylized, not six
    # read_video's one rate is the mean: the distinct frames written at it keep the total
    assert read_video(tmp_path / "in.gif")[1] == pytest.approx(5.0)
    from stylegram.io.video import read_clip
    # every other frame: a kept frame also holds the time of the one skipped after it
    half = read_clip(tmp_path / "in.gif", every=2)
    assert (half.fps, half.repeats, half.seconds) == (5.0, [2, 1], pytest.approx(0.6))
    # delays with no common frame time down to 20 ms: 50 fps, each frame ending within 10 ms of its time
    _gif(tmp_path / "odd.gif", [40, 50, 60, 30])
    odd = read_clip(tmp_path / "odd.gif")
    assert (odd.fps, odd.repeats, odd.seconds) == (50.0, [2, 3, 3, 1], pytest.approx(0.18))
    # equal delays: one showing each, at the rate they give (as before)
    _gif(tmp_path / "even.gif", [50, 50, 50])
    even = read_clip(tmp_path / "even.gif")
    assert (even.fps, even.repeats) == (20.0, None)


def test_gif_is_decoded_once_and_one_with_a_transparent_colour_reads(tmp_path, monkeypatch):
    # A GIF was decoded twice: by imageio for the frames (every frame, whatever max_frames asked
    # for), then by Pillow again for the delays (each seek decodes the frame). And imageio stacked
    # Pillow's frames in one array: a GIF with a transparent colour (the first frame as RGB, the
    # next as RGBA) was "not a GIF imageio can decode (ValueError)". One pass of Pillow now.
    from PIL import GifImagePlugin, Image, ImageDraw
    from stylegram.io.video import read_clip
    frames = []
    for t in range(12):
        im = Image.new("P", (32, 24), 0)
        im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 253 * 3)
        ImageDraw.Draw(im).rectangle([2 * t, 4, 2 * t + 5, 9], fill=1 + t % 2)
        frames.append(im)
    # colour 0 transparent, each frame's area restored to it before the next (disposal 2)
    frames[0].save(tmp_path / "t.gif", save_all=True, append_images=frames[1:], duration=[40, 60] * 6, loop=0,
                   transparency=0, disposal=2)
    decoded = []
    load_end = GifImagePlugin.GifImageFile.load_end
    monkeypatch.setattr(GifImagePlugin.GifImageFile, "load_end", lambda im: decoded.append(1) or load_end(im))
    clip = read_clip(tmp_path / "t.gif")
    assert len(decoded) == 12 and len(clip.frames) == 12
    assert (clip.fps, clip.repeats) == (50.0, [2, 3] * 6)
    for t, f in enumerate(clip.frames):  # the rectangle alone, in its colour; the last one's place cleared
        want = torch.zeros(3, 24, 32)
        want[t % 2, 4:10, 2 * t: 2 * t + 6] = 1
        assert torch.equal(f[0], want), t
    decoded.clear()
    assert len(read_clip(tmp_path / "t.gif", max_frames=4).frames) == 4 and len(decoded) == 4


def _ffmpeg(*args):
    import subprocess

    import imageio_ffmpeg
    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
                           *map(str, args)], capture_output=True)


def _sound(path, rate=22050):
    """The first soundtrack of a file decoded by ffmpeg (mono float at ``rate``), None if it has none."""
    r = _ffmpeg("-i", path, "-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar", rate, "-")
    return np.frombuffer(r.stdout, np.float32) if r.returncode == 0 else None


def test_video_keeps_its_sound_cut_to_the_frames_stylized(tmp_path, monkeypatch):
    # The soundtrack was dropped. A 1 s clip at 8 fps whose sound is silent for 0.25 s, then a
    # 440 Hz tone: the first 4 frames (0.5 s) come back with 0.5 s of that sound, the tone still
    # starting at 0.25 s (picture and sound in step).
    from stylegram.io.image import save_image
    tone = "aevalsrc=if(gte(t\\,0.25)\\,0.5*sin(2*PI*440*t)\\,0):s=22050:d=1"
    for name, codec in (("in.mp4", "aac"), ("in.mkv", "libvorbis")):
        r = _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=8:duration=1", "-f", "lavfi", "-i", tone,
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", codec, tmp_path / name)
        assert r.returncode == 0, r.stderr
    save_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), tmp_path / "style.png")

    def stylize(src, out, *extra, frames=("--max-frames", "4")):
        code, err = run_cli(["video", str(tmp_path / src), str(tmp_path / "style.png"), "-o", str(tmp_path / out),
                             "--size", "48", "--net", "random-tiny", "--iters", "0", *frames,
                             "--report", str(tmp_path / "r.json"), *extra])
        assert code == 0, err
        return json.loads((tmp_path / "r.json").read_text()).get("audio"), _sound(tmp_path / out)

    def onset(y, rate=22050):
        return int(np.argmax(np.abs(y) > 0.25)) / rate

    how, y = stylize("in.mp4", "o.mp4")
    # copied AAC ends with the packet that spans 0.5 s (1024 samples: at most 46 ms more)
    assert y is not None and 0.5 <= len(y) / 22050 < 0.5 + 1024 / 22050 and how == "copy"
    assert onset(_sound(tmp_path / "in.mp4")) == pytest.approx(0.25, abs=0.005)
    assert onset(y) == pytest.approx(0.25, abs=0.005)
    from stylegram.io.video import audio_codec, read_clip, write_video
    # Vorbis in an MP4 is a file most players refuse: re-encoded to AAC, cut to the sample
    how, y = stylize("in.mkv", "v.mp4")
    assert how == "aac" and len(y) / 22050 == pytest.approx(0.5, abs=0.001)
    assert onset(y) == pytest.approx(0.25, abs=0.005)
    # ... and copied into Matroska, which takes it
    assert stylize("in.mkv", "v.mkv")[0] == "copy" and audio_codec(tmp_path / "v.mkv") == "vorbis"
    assert stylize("in.mp4", "quiet.mp4", "--no-audio") == (None, None)
    # a clip without sound stays without
    write_video(_moving_frames(4, 32), tmp_path / "silent.mp4", 8)
    assert audio_codec(tmp_path / "silent.mp4") is None and stylize("silent.mp4", "s.mp4") == (None, None)
    # a picture that starts 0.5 s after its sound: ffmpeg shows the first frame from 0 s (12 frames
    # for 1.5 s), so picture and sound keep the file's clock and the tone its 0.25 s
    r = _ffmpeg("-itsoffset", "0.5", "-i", tmp_path / "in.mp4", "-i", tmp_path / "in.mp4", "-map", "0:v", "-map", "1:a",
                "-c", "copy", tmp_path / "late.mp4")
    assert r.returncode == 0, r.stderr
    how, y = stylize("late.mp4", "late_out.mp4", frames=())
    assert len(read_clip(tmp_path / "late_out.mp4").frames) == 12 and onset(y) == pytest.approx(0.25, abs=0.005)
    # frame skipping: every 2nd of the first 5 frames is 3 frames at 4 fps, 0.75 s of picture and sound
    clip = read_clip(tmp_path / "in.mp4", size=48, max_frames=5, every=2)
    assert (len(clip.frames), clip.fps, clip.seconds, clip.audio) == (3, 4.0, 0.75, "aac")
    assert write_video(clip.frames, tmp_path / "skip.mp4", clip.fps, audio=tmp_path / "in.mp4") == "copy"
    assert 0.75 <= len(_sound(tmp_path / "skip.mp4")) / 22050 < 0.75 + 1024 / 22050
    # a soundtrack ffmpeg can neither copy nor re-encode (here: one the caller said the file holds
    # and it lacks) is one line naming the way out, and leaves neither an output nor a temporary file
    before = sorted(tmp_path.iterdir())
    with pytest.raises(InputError, match=r"silent.mp4: its soundtrack cannot be carried over \(.+\); --no-audio writes"):
        write_video(clip.frames, tmp_path / "bad.mp4", clip.fps, audio=tmp_path / "silent.mp4", audio_codecs=("aac",))
    assert sorted(tmp_path.iterdir()) == before


def test_video_whose_soundtrack_has_no_samples_says_it_has_no_sound(tmp_path):
    # A clip with an audio stream but no samples in it: ffmpeg writes an MP4 or MOV without a
    # soundtrack, and write_video said "aac" / "copy" all the same (the report's audio, and the
    # CLI's "with its sound re-encoded as AAC"). What went in is read off the file written.
    from stylegram.io.video import audio_codec, read_clip, write_video
    r = _ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=8:duration=0.5", "-f", "lavfi", "-i",
                "anullsrc=r=22050,atrim=end_sample=0", "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
                "-c:a", "pcm_s16le", tmp_path / "in.mkv")
    assert r.returncode == 0, r.stderr
    clip = read_clip(tmp_path / "in.mkv")
    assert clip.audio == "pcm_s16le" and len(clip.frames) == 4  # the stream is there, empty
    for out in ("o.mp4", "o.mov"):  # AAC re-encoded into MP4, PCM copied into MOV: neither has any
        assert write_video(clip.frames, tmp_path / out, clip.fps, audio=tmp_path / "in.mkv") is None, out
        assert audio_codec(tmp_path / out) is None and _sound(tmp_path / out) is None
        assert len(read_clip(tmp_path / out).frames) == 4


def test_video_names_with_a_colon_are_read_and_written(tmp_path, monkeypatch):
    # ffmpeg reads "take:1.mp4" as the protocol "take": the clip was "not a video ffmpeg can
    # decode", and an output "take:2.mp4" (its temporary ".take:2.mp4....part.mp4") was written
    # as 0 bytes without an error, or, with sound, refused as a soundtrack that "cannot be carried
    # over", whose way out (--no-audio) wrote the 0-byte file. The sound's own calls already gave
    # ffmpeg "file:" paths; reading and encoding now do too.
    from stylegram.io.video import audio_codec, read_clip, write_video
    monkeypatch.chdir(tmp_path)
    r = _ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=8:duration=0.5", "-f", "lavfi", "-i",
                "sine=f=440:sample_rate=22050:duration=0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                f"file:{tmp_path / 'take:1.mp4'}")  # ffmpeg itself needs "file:" before such a name
    assert r.returncode == 0, r.stderr
    clip = read_clip("take:1.mp4")
    assert len(clip.frames) == 4 and clip.audio == "aac"
    assert write_video(clip.frames, "take:2.mp4", clip.fps) is None
    assert write_video(clip.frames, "take:3.mp4", clip.fps, audio="take:1.mp4") == "copy"
    for out in ("take:2.mp4", "take:3.mp4"):
        assert len(read_clip(out).frames) == 4, out
    assert audio_codec("take:2.mp4") is None and audio_codec("take:3.mp4") == "aac"


def _ffmpeg_that_fails(tmp_path, monkeypatch, match, last):
    """IMAGEIO_FFMPEG_EXE -> a script running the real ffmpeg, except that in the calls whose
    arguments contain ``match`` the last argument (the output) is replaced by ``last`` (sh words;
    "$a" is the output): a full disk is the output "file:/dev/full", whose writes fail with ENOSPC."""
    import imageio_ffmpeg
    script = tmp_path / "ffmpeg.sh"
    script.write_text(f"""#!/bin/sh
FF='{imageio_ffmpeg.get_ffmpeg_exe()}'
case "$*" in *'{match}'*) ;; *) exec "$FF" "$@";; esac
n=$#; i=0
for a in "$@"; do i=$((i+1)); if [ $i -eq $n ]; then set -- "$@" {last}; else set -- "$@" "$a"; fi; done
shift $n
exec "$FF" "$@"
""")
    script.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(script))


@pytest.mark.parametrize("sound, match, last, error, message", [
    # the disk full while the frames are encoded, without and with a soundtrack
    (False, "rawvideo", "file:/dev/full", "ResourceError",
     r"o\.mp4: encoding the frames failed: no space left on device; free some space or write it elsewhere$"),
    (True, "rawvideo", "file:/dev/full", "ResourceError", r"o\.mp4: encoding the frames failed: no space left"),
    # ffmpeg exits 0 with 2 of the 4 frames written: the count read back from the file says so
    (False, "rawvideo", '-frames:v 2 "$a"', "InputError",
     r"o\.mp4: encoding the frames failed: the file written holds 2 of the 4 frames$"),
    # ffmpeg refuses the frames (here libx264 odd sides): its first line, not its command and log
    (False, "rawvideo", '-vf scale=31:31 "$a"', "InputError",
     r"o\.mp4: encoding the frames failed \(.*width not divisible by 2.*\)$"),
    # the disk full while the picture and sound are put together: not the soundtrack's fault
    (True, "-map 1:a", "file:/dev/full", "ResourceError",
     r"o\.mp4: writing the video with its sound failed: no space left on device; free some space"),
    # the output cannot be written by the pass that adds the sound, nor without the sound
    (True, "-c:v copy", "file:/nonexistent/o.mp4", "InputError", r"o\.mp4: writing the video failed \(.+\)$"),
])
def test_a_failed_encode_is_one_line_and_replaces_nothing(tmp_path, monkeypatch, sound, match, last, error, message):
    # imageio's write_frames never read ffmpeg's exit status: an encode that failed (here a full
    # disk, or ffmpeg stopping early) left an empty or cut-short file, renamed into place as the
    # output, and write_video returned as if all went well; with sound, the pass adding it then
    # failed on that file and blamed the soundtrack ("cannot be carried over; --no-audio ...").
    from stylegram.errors import StylegramError
    from stylegram.io.video import read_clip, write_video
    (tmp_path / "o.mp4").write_bytes(b"the previous output")
    src = tmp_path / "in.mp4"
    r = _ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=8:duration=0.5", "-f", "lavfi", "-i",
                "sine=f=440:sample_rate=22050:duration=0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", src)
    assert r.returncode == 0, r.stderr
    frames = read_clip(src).frames
    _ffmpeg_that_fails(tmp_path, monkeypatch, match, last)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(StylegramError, match=message) as e:
        write_video(frames, tmp_path / "o.mp4", 8, audio=src if sound else None)
    assert type(e.value).__name__ == error and "\n" not in str(e.value) and ".part" not in str(e.value)
    assert sorted(tmp_path.iterdir()) == before and (tmp_path / "o.mp4").read_bytes() == b"the previous output"
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")  # the same call with a working ffmpeg writes the video
    assert write_video(frames, tmp_path / "o.mp4", 8, audio=src if sound else None) == ("copy" if sound else None)
    assert len(read_clip(tmp_path / "o.mp4").frames) == 4


def test_write_video_refuses_a_sound_file_that_is_not_there(tmp_path):
    # audio= naming a file that is not there (a typo) was read as "a file without sound": the video
    # came without its soundtrack and no word said why
    from stylegram.io.video import write_video
    with pytest.raises(InputError, match=r"/nope\.mp4: file not found; check the path$"):
        write_video(_moving_frames(2, 32), tmp_path / "o.mp4", 8, audio=tmp_path / "nope.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_solid_texture_of_a_grey_exemplar_is_grey(tiny2d):
    from stylegram.media import is_grey, solid_texture
    g = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    ex = g.expand(1, 3, 32, 32)
    assert is_grey(ex) and not is_grey(torch.cat([g, g, g * 0.9], 1))
    r = solid_texture(ex, 8, tiny2d, levels=1, iters=3, style_layers={"relu1_1": 1.0})
    # One channel optimized and repeated: exactly equal channels, no colour speckle.
    assert r.x.shape == (1, 3, 8, 8, 8)
    assert torch.equal(r.x[:, 0], r.x[:, 1]) and torch.equal(r.x[:, 1], r.x[:, 2])
    assert r.final["style"] < r.initial["style"]


def test_solid_texture_coarse_to_fine_with_tv(tiny2d):
    from stylegram.media import solid_texture
    ex = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    r = solid_texture(ex, 16, tiny2d, levels=2, full_slices_up_to=8, coarse_iters=4, iters=4,
                      style_layers={"relu1_1": 1.0, "relu2_1": 1.0})
    assert r.x.shape == (1, 3, 16, 16, 16) and 0 <= float(r.x.min()) and float(r.x.max()) <= 1
    assert [h["size"] for h in r.history] == [8] * 4 + [16] * 4
    level1 = [h["style"] for h in r.history if h["level"] == 1]
    assert r.final["tv"] > 0 and "size" not in r.final  # the fine level's second half has TV
    # initial: the full-size cube's start, so style_drop is that level's fall (it compared the 8^3
    # level's start with the 16^3 level's end: "Gram loss fell 0.1x")
    assert level1[-1] == r.final["style"] < r.initial["style"] and r.style_drop() > 1
    # a stop request ends the texture at once, in the half it came in (as the 2D pyramid does)
    seen = []
    stopped = solid_texture(ex, 16, tiny2d, levels=2, full_slices_up_to=8, coarse_iters=4, iters=4,
                            style_layers={"relu1_1": 1.0}, callback=lambda ev: seen.append(ev.level) or ev.iter == 2)
    assert seen == [0, 0] and stopped.stopped == "cancelled" and stopped.x.shape == (1, 3, 8, 8, 8)
    seen.clear()
    stopped = solid_texture(ex, 16, tiny2d, levels=2, full_slices_up_to=8, coarse_iters=4, iters=4,
                            style_layers={"relu1_1": 1.0}, callback=lambda ev: seen.append(ev.level) or ev.level == 1)
    assert seen == [0] * 4 + [1] and stopped.stopped == "cancelled" and len(stopped.history) == 5
    # every seed up to 2^32 - 1 runs, though each level and half draws its own from it
    top = solid_texture(ex, 16, tiny2d, levels=2, full_slices_up_to=8, coarse_iters=2, iters=2,
                        style_layers={"relu1_1": 1.0}, seed=2**32 - 1)
    assert top.x.shape == (1, 3, 16, 16, 16)


def test_rotated_video_reads_without_a_notice(tmp_path, caplog):
    # ffmpeg turns frames by their rotation metadata (a phone held upright); imageio-ffmpeg would
    # log that on the user's terminal. The clip: 48 x 32 px frames marked as turned by 90 degrees.
    import subprocess

    import imageio_ffmpeg

    from stylegram.io.video import read_video, write_video
    write_video([torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(i)) for i in range(3)],
                tmp_path / "flat.mp4", 10)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation", "90",
                    "-i", str(tmp_path / "flat.mp4"), "-c", "copy", str(tmp_path / "turned.mp4")], check=True)
    with caplog.at_level(logging.DEBUG):
        frames, _ = read_video(tmp_path / "turned.mp4")
    assert len(frames) == 3 and frames[0].shape[-2:] == (48, 32)  # upright, as the metadata says
    assert not [r for r in caplog.records if r.name.startswith("imageio")]
    assert not logging.getLogger("imageio_ffmpeg").disabled


@pytest.mark.parametrize("name, hint", [("silence.wav", "it looks like a sound: use `stylegram audio`"),
                                        ("volume_with_nan.npy", "it looks like an array: use `stylegram volume`"),
                                        ("not_a_video.mp4", None)])
def test_undecodable_video_is_one_line_with_the_right_command(shared, tmp_path, name, hint):
    f = shared / "data" / "bad" / name
    if not f.exists():  # a broken .mp4 of our own: ../shared has none
        f = tmp_path / name
        f.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    code, err = run_cli(["video", str(f), str(shared / "data" / "images" / "brick.png"), "-o", str(tmp_path / "o.mp4")])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{f}: not a video ffmpeg can decode (" in err
    assert (hint in err) if hint else "looks like" not in err


@pytest.mark.parametrize("name, message", [
    ("truncated.jpg", "image is truncated or corrupt"),
    ("not_an_image.png", "not an image file Pillow can read"),
    ("decompression_bomb.png", "could be a decompression bomb")])
def test_still_image_given_as_video_is_checked_like_any_image(shared, tmp_path, name, message):
    # ffmpeg decodes a truncated JPEG as a one-frame clip without a word; `stylegram transfer`
    # refuses the same file. A still image is one frame read by the image reader, so both agree.
    f = shared / "data" / "bad" / name
    code, err = run_cli(["video", str(f), str(shared / "data" / "images" / "brick.png"), "-o", str(tmp_path / "o.mp4")])
    assert code == 2 and err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"stylegram: error: {f}: ") and message in err


def test_still_image_video_says_one_frame_and_has_no_flicker(shared, tmp_path):
    # A one-frame clip has no consecutive frames: no flicker figure (it printed 0.000, and
    # "1 frames, 0 resumed"), and the summary points to the command that writes a picture.
    import contextlib
    import io

    from stylegram.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main(["video", str(shared / "data" / "images" / "brick.png"), str(shared / "data" / "images" / "brick.png"),
              "-o", str(tmp_path / "o.mp4"), "--size", "64", "--iters", "1", "--net", "random-tiny",
              "--report", str(tmp_path / "r.json")])
    assert done.value.code == 0
    assert err.getvalue().strip().splitlines()[-1] == (
        f"wrote {tmp_path / 'o.mp4'} (1 frame; for a still image, `stylegram transfer` writes a picture)")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["frames"] == 1 and rep["flicker"] is None


def test_still_image_is_a_one_frame_clip(shared):
    from stylegram.io.image import load_image
    from stylegram.io.video import read_video
    frames, fps = read_video(shared / "data" / "images" / "brick.png", size=64)
    assert len(frames) == 1 and fps == 25.0
    assert frames[0].shape[-1] == 64 and frames[0].shape[-2] % 2 == 0  # even sides, as H.264 needs
    full, _ = read_video(shared / "data" / "bad" / "cmyk.jpg")
    ref = load_image(shared / "data" / "bad" / "cmyk.jpg")
    h, w = full[0].shape[-2:]
    assert torch.equal(full[0], ref[..., :h, :w])  # the image reader's colours (CMYK converted), cropped to even


def test_poisoned_weights_are_refused_before_any_work(tiny2d, tmp_path):
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for kw, msg in (({"beta": float("nan")}, "^beta nan: must be a finite number, 0 or more$"),
                    ({"alpha": -1.0}, "^alpha -1: must be a finite number"),
                    ({"style_layers": {"relu1_1": float("inf")}}, "^layer weight of relu1_1 inf: must be"),
                    ({"iters": -1}, "^iters -1: must be 0 or more$")):
        with pytest.raises(ConfigError, match=msg):
            synthesize(tiny2d, x, content=x, content_layers=["relu2_1"], **{"style_layers": {"relu1_1": 1.0}, **kw})
    with pytest.raises(ConfigError, match="^filters -5: must be at least 4, one per kernel width"):
        random_bank(1, filters=-5)
    # a refused video run leaves no frame folder whose settings the corrected run would refuse
    frames = _moving_frames(2, 32)
    from stylegram.io.video import write_video
    from stylegram.io.image import save_image
    write_video(frames, tmp_path / "in.mp4", 8)
    save_image(frames[0], tmp_path / "style.png")
    code, err = run_cli(["video", str(tmp_path / "in.mp4"), str(tmp_path / "style.png"), "-o", str(tmp_path / "o.mp4"),
                         "--temporal", "nan"])
    assert code == 2 and err.strip() == "stylegram: error: temporal nan: must be a finite number, 0 or more"
    assert not (tmp_path / "o.frames").exists()


def test_impossible_sound_and_volume_sizes_are_one_line(shared, tmp_path):
    # each of these was a torch traceback (a padding or pooling size) before it was checked
    from stylegram.io.audio import load_audio
    from stylegram.media import audio_texture
    rain = shared / "data" / "audio" / "rain_texture.wav"
    with pytest.raises(ConfigError, match=r"^rate 0: must be a positive sample rate"):
        load_audio(rain, 0)
    with pytest.raises(InputError, match=r"rain_texture.wav: 220 samples at 22050 Hz, fewer than the 1024 of one"):
        load_audio(rain, seconds=0.01)
    y, rate = load_audio(rain, 8000, seconds=1)
    with pytest.raises(ConfigError, match=r"^seconds 0.01: at 8000 Hz that is fewer samples than one 512-sample"):
        audio_texture(torch.from_numpy(y), rate, 0.01, filters=16, iters=1)
    np.save(tmp_path / "vol.npy", np.random.default_rng(0).random((16, 16, 16), dtype=np.float32))
    code, err = run_cli(["volume", str(tmp_path / "vol.npy"), str(shared / "data" / "images" / "brick.png"),
                         "-o", str(tmp_path / "o.npy"), "--size", "4", "--iters", "1"])
    assert code == 2 and err.strip() == (f"stylegram: error: {tmp_path / 'vol.npy'}: at --size 4 the volume is 4 x 4 x 4 voxels, "
                                         "but layer relu3_1 needs at least 8 voxels on each side; raise --size")
    # a thin scan, 20 x 48 x 40, is 7 x 16 x 13 at --size 16: said in the array's order (it read 13 x 16 x 7 px)
    np.save(tmp_path / "thin.npy", np.random.default_rng(0).random((20, 48, 40), dtype=np.float32))
    code, err = run_cli(["volume", str(tmp_path / "thin.npy"), str(shared / "data" / "images" / "brick.png"),
                         "-o", str(tmp_path / "o.npy"), "--size", "16", "--iters", "1"])
    assert code == 2 and err.strip() == (f"stylegram: error: {tmp_path / 'thin.npy'}: at --size 16 the volume is 7 x 16 x 13 "
                                         "voxels, but layer relu3_1 needs at least 8 voxels on each side; raise --size")
    for opt, msg in (("--lr", "lr nan: must be a positive number"), ("--tv", "tv nan: must be a finite number")):
        code, err = run_cli(["solid-texture", str(shared / "data" / "images" / "brick.png"), "-o",
                             str(tmp_path / "s.npy"), "--size", "16", "--iters", "1", opt, "nan"])
        assert code == 2 and err.strip().startswith(f"stylegram: error: {msg}")


def test_a_signal_too_long_for_memory_is_one_line(tmp_path):
    # 10^12 samples: terabytes, more than any machine has (10^8 was a traceback here, a 95 GiB block).
    import re
    np.save(tmp_path / "sig.npy", np.random.default_rng(0).standard_normal((2, 400)).astype("float32"))
    code, err = run_cli(["signal-texture", str(tmp_path / "sig.npy"), "-o", str(tmp_path / "s.npy"), "--iters", "1",
                         "--length", str(10**12)])
    assert code == 2 and re.fullmatch(r"stylegram: error: out of memory \(a block of \d+\.\d GiB\); ask for less "
                                      r"\(a smaller --size, --length or --seconds\) or close other programs\n", err), err


def test_out_of_memory_message_only_for_allocation_failures():
    from stylegram.errors import ResourceError, out_of_memory
    e = out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                                   "allocate memory: you tried to allocate 3221225472 bytes. Error code 12"))
    assert isinstance(e, ResourceError) and str(e).startswith("out of memory (a block of 3.0 GiB); ")
    assert str(out_of_memory(MemoryError())).startswith("out of memory; ")
    assert out_of_memory(RuntimeError("shape mismatch")) is None and out_of_memory(ValueError("x")) is None


def test_seeds_outside_32_bits_are_one_line(tmp_path):
    # 2^64 was torch's "Overflow when unpacking long long" traceback; -1 ran as an unrelated seed
    np.save(tmp_path / "sig.npy", np.random.default_rng(0).standard_normal((2, 400)).astype("float32"))
    for seed in ("-1", str(2**64)):
        code, err = run_cli(["signal-texture", str(tmp_path / "sig.npy"), "-o", str(tmp_path / "s.npy"), "--iters", "1",
                             "--seed", seed])
        assert code == 2 and err == f"stylegram: error: seed {seed}: must be a whole number from 0 to 4294967295\n"


def test_solid_texture_too_small_a_cube_is_one_line(shared, tmp_path):
    code, err = run_cli(["solid-texture", str(shared / "data" / "images" / "brick.png"), "-o", str(tmp_path / "s.npy"),
                         "--size", "0", "--iters", "1"])
    assert code == 2 and err == ("stylegram: error: size 0: each slice of the cube is 0 x 0 px, but layer relu3_1 "
                                 "needs at least 8 px on each side; raise --size\n")


def test_media_api_checks_tensor_shapes_and_values(tiny2d):
    # The Python API of the 1D/3D engine: a wrong layout or NaN was an IndexError, a ValueError
    # from deep inside, or a silent NaN result; now one line naming the argument and the shape.
    from stylegram.errors import InputError
    from stylegram.media import audio_texture, signal_texture, solid_texture, video_transfer, volume_transfer
    nan = torch.full((1, 2, 400), float("nan"))
    for call, message in [
        (lambda: audio_texture(torch.rand(2, 22050), 22050, 1.0, iters=1, filters=16),
         r"^style: tensor of shape \(2, 22050\); expected \(N,\) of mono samples$"),
        (lambda: audio_texture(torch.full((22050,), float("nan")), 22050, 1.0, iters=1, filters=16),
         r"^style: tensor contains NaN or Inf$"),
        (lambda: signal_texture(torch.rand(400), 100, iters=1), r"^signal: tensor of shape \(400,\); expected \(1, C, N\)$"),
        (lambda: signal_texture(nan, 100, iters=1), r"^signal: tensor contains NaN or Inf$"),
        (lambda: solid_texture(torch.rand(3, 32, 32), 16, tiny2d, iters=1),
         r"^the exemplar: tensor of shape \(3, 32, 32\); expected \(1, C, H, W\)$"),
        (lambda: volume_transfer(torch.rand(1, 1, 16, 16), torch.rand(1, 3, 16, 16), tiny2d, iters=1),
         r"^content: tensor of shape \(1, 1, 16, 16\); expected \(1, C, D0, D1, D2\)$"),
        (lambda: volume_transfer(torch.rand(1, 1, 16, 16, 16), [torch.rand(3, 16, 16)], tiny2d, iters=1),
         r"^style: tensor of shape \(3, 16, 16\); expected \(1, C, H, W\) or \(1, C, D0, D1, D2\)$"),
        (lambda: video_transfer([], torch.rand(1, 3, 32, 32), tiny2d, iters=1), r"^no frames given; "),
        (lambda: video_transfer([torch.rand(3, 32, 32)], torch.rand(1, 3, 32, 32), tiny2d, iters=1),
         r"^frame 0: tensor of shape \(3, 32, 32\); expected \(1, 3, H, W\)$"),
    ]:
        with pytest.raises(InputError, match=message):
            call()


# ------------------------------------------------------------------ one source of defaults

def test_cli_and_api_default_iterations_give_the_same_sound(tmp_path):
    # The CLI ran 100 iterations where audio_texture's default was 200: the same request gave
    # another sound (max sample difference 0.25 here, 111 against 223 evaluations).
    import inspect

    import soundfile as sf

    from stylegram.io.audio import load_audio, save_wav
    from stylegram.media import audio_texture
    _write_wav(tmp_path / "s.wav", 0.5, 8000, seed=1)
    code, err = run_cli(["audio-texture", str(tmp_path / "s.wav"), "-o", str(tmp_path / "cli.wav"), "--seconds", "0.5",
                         "--rate", "8000", "--filters", "16", "--report", str(tmp_path / "r.json")])
    assert code == 0, err
    s, _ = load_audio(tmp_path / "s.wav", 8000)
    api = audio_texture(torch.from_numpy(s), 8000, 0.5, filters=16)
    save_wav(api.samples, 8000, tmp_path / "api.wav")
    a, b = (sf.read(str(tmp_path / f"{n}.wav"), dtype="int16")[0] for n in ("cli", "api"))
    assert a.shape == b.shape == (4000,) and np.array_equal(a, b)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["evals"] == api.run.evals and rep["params"]["iters"] == 100
    assert inspect.signature(audio_texture).parameters["iters"].default == 100


def test_media_cli_passes_no_iterations_unless_given(tmp_path, monkeypatch):
    # Every media command leaves the default to the API (and reports the API's number); a given
    # --iters is passed on as it is.
    import functools
    import inspect

    from stylegram import media
    from stylegram.io.image import save_image
    from stylegram.io.video import write_video
    _write_wav(tmp_path / "s.wav", 0.5, 8000, seed=1)
    np.save(tmp_path / "sig.npy", np.random.default_rng(0).standard_normal((2, 400)).astype("float32"))
    np.save(tmp_path / "vol.npy", np.random.default_rng(0).random((16, 16, 16)).astype("float32"))
    save_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), tmp_path / "ex.png")
    write_video(_moving_frames(2, 32), tmp_path / "v.mp4", 8)
    w, o = str(tmp_path / "s.wav"), str(tmp_path / "out")
    rnd = ["--net", "random", "--width", "0.125"]
    commands = {
        "audio_transfer": ["audio", w, w, "-o", o + ".wav", "--rate", "8000", "--filters", "16"],
        "audio_texture": ["audio-texture", w, "-o", o + ".wav", "--seconds", "0.5", "--rate", "8000", "--filters", "16"],
        "signal_texture": ["signal-texture", str(tmp_path / "sig.npy"), "-o", o + ".npy"],
        "volume_transfer": ["volume", str(tmp_path / "vol.npy"), str(tmp_path / "ex.png"), "-o", o + ".npy",
                            "--size", "16", *rnd],
        "solid_texture": ["solid-texture", str(tmp_path / "ex.png"), "-o", o + ".npy", "--size", "16", *rnd],
        "video_transfer": ["video", str(tmp_path / "v.mp4"), str(tmp_path / "ex.png"), "-o", o + ".mp4",
                           "--size", "32", "--restart", *rnd],
    }
    defaults = {"audio_transfer": 100, "audio_texture": 100, "signal_texture": 150, "volume_transfer": 150,
                "solid_texture": 100, "video_transfer": 50}
    for fn, args in commands.items():
        assert inspect.signature(getattr(media, fn)).parameters["iters"].default == defaults[fn], fn
        for extra, want in (([], {}), (["--iters", "3"], {"iters": 3})):
            seen = {}

            @functools.wraps(getattr(media, fn))  # the CLI reads the default from the signature
            def spy(*a, **kw):
                seen.update(kw)
                raise InputError("spy: stop")
            monkeypatch.setattr(media, fn, spy)
            code, err = run_cli(args + extra)
            assert (code, err) == (2, "stylegram: error: spy: stop\n"), (fn, err)
            assert {k: v for k, v in seen.items() if k == "iters"} == want, fn


def test_media_api_refuses_out_of_range_short_integer_and_unbatched_inputs(tiny2d):
    # Each ran (a volume * 100 and a style * 255 were clamped into white), or failed deep in torch
    # ("Padding size should be less than the corresponding input dimension"), or read int16 PCM as
    # samples 32768 times too loud, or took a style without its batch axis for 600 channels.
    from stylegram.media import audio_texture, audio_transfer, solid_texture, volume_transfer
    g = torch.Generator().manual_seed(0)
    vol, img = torch.linspace(0, 1, 512).reshape(1, 1, 8, 8, 8), torch.linspace(0, 1, 768).reshape(1, 3, 16, 16)
    pcm = (torch.rand(8000, generator=g) * 2000).to(torch.int16)
    one = {"relu1_1": 1.0}
    bank = random_bank(1, in_channels=2, widths=(3,), filters=4, seed=0)
    for call, message in [
        (lambda: volume_transfer(vol * 100, img, tiny2d, style_layers=one, iters=1),
         "content: tensor values reach 100; volumes are in 0..1 (window the data first: io.volume.window)"),
        (lambda: volume_transfer((vol - 0.5) * 8, img, tiny2d, style_layers=one, iters=1),
         "content: tensor values go down to -4; volumes are in 0..1 (window the data first: io.volume.window)"),
        (lambda: volume_transfer(vol, img * 255, tiny2d, style_layers=one, iters=1),
         "style: tensor values reach 255; styles are in 0..1 (divide 0..255 images by 255, window volumes)"),
        (lambda: video_transfer([img * 255], img, tiny2d, style_layers=one, iters=1),
         "frame 0: tensor values reach 255; frames and styles are RGB in 0..1 (divide 0..255 data by 255)"),
        (lambda: solid_texture(img * 255, 8, tiny2d, style_layers=one, levels=1, iters=1),
         "the exemplar: tensor values reach 255; exemplars are in 0..1 (divide 0..255 data by 255)"),
        (lambda: audio_transfer(torch.rand(100, generator=g) - 0.5, torch.rand(8000, generator=g), 8000, iters=1,
                                filters=16),
         "content: 100 samples at 8000 Hz, fewer than the 1024 of one analysis window (0.128 s); give a longer sound"),
        (lambda: audio_transfer(torch.rand(8000, generator=g), torch.rand(500, generator=g), 8000, iters=1, filters=16),
         "style: 500 samples at 8000 Hz, fewer than the 1024 of one analysis window (0.128 s); give a longer sound"),
        (lambda: audio_texture(pcm, 8000, 0.5, iters=1, filters=16),
         "style: tensor of dtype int16; give a floating-point tensor of samples in -1..1 (16-bit PCM: divide by 32768)"),
        (lambda: audio_transfer(pcm.numpy(), torch.rand(8000, generator=g), 8000, iters=1, filters=16),
         "content: tensor of dtype int16; give a floating-point tensor of samples in -1..1 (16-bit PCM: divide by 32768)"),
        (lambda: texture(bank, torch.rand(2, 600, generator=g), (1, 2, 600), iters=1),
         "style: tensor of shape (2, 600); expected (1, C, N) or (1, C, H, W)"),
        (lambda: texture(bank, [torch.rand(1, 2, 600, generator=g), torch.rand(2, 600, generator=g)], (1, 2, 600),
                         iters=1),
         "style: tensor of shape (2, 600); expected (1, C, N) or (1, C, H, W)"),
    ]:
        with pytest.raises(InputError) as e:
            call()
        assert str(e.value) == message
    # a 3D net with a 2D style image: said "a 3D net cannot read 2D media; use a 2D or 1D net"
    from stylegram.nets import build_net
    cube = build_net("bank3d", seed=0)
    # named as --net takes it, not by its built name ('bank3d-3-5x128')
    with pytest.raises(InputError, match=r"^style: a 2D image, but the net 'bank3d' reads volumes; give a "
                                         r"style volume \(1, C, D0, D1, D2\), or a 2D net"):
        volume_transfer(vol, img, cube, iters=1)
    # small overshoots (resampling) are still taken, as load_image takes them
    r = volume_transfer(vol * 1.2, img, tiny2d, style_layers=one, iters=0)
    assert r.x.shape == (1, 1, 8, 8, 8) and float(r.x.max()) <= 1
    # other floating-point types are taken as float32 (np.load gives float64: a dtype traceback)
    r = volume_transfer(vol.double().numpy(), img.half(), tiny2d, style_layers=one, iters=1)
    assert r.x.dtype == torch.float32 and r.x.shape == (1, 1, 8, 8, 8)


def test_hooked_net_of_a_1d_model_makes_1d_textures():
    # HookedNet was always 2D: the probe of a Conv1d model was a conv1d shape error and the engine
    # said "a 2D net cannot read 1D media; use a 1D or 0D net".
    from torch import nn

    from stylegram.nets.hooked import HookedNet
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 16, 5), nn.ReLU(), nn.Conv1d(16, 16, 5, stride=2), nn.ReLU())
    net = HookedNet(model, ["1", "3"], in_channels=2, dims=1)
    assert net.dims == 1 and net.circular().dims == 1
    # by hand: k5 -> field 5, centre 2; then k5 stride 2 -> field 5 + 4 = 9, step 2, centre 2 + 2 = 4
    assert [(i.channels, i.jump, i.rf_size, i.rf_start) for i in net.info.values()] == [(16, 1, 5, 2.0), (16, 2, 9, 4.0)]
    style = torch.rand(1, 2, 300, generator=torch.Generator().manual_seed(1))
    layers = {"1": 1.0, "3": 1.0}
    r = texture(net, style, (1, 2, 200), style_layers=layers, iters=10)
    assert r.x.shape == (1, 2, 200) and r.final["style"] < r.initial["style"] / 10
    r = synthesize(net, style, content=torch.rand(1, 2, 200, generator=torch.Generator().manual_seed(2)),
                   content_layers=["3"], style_layers=layers, iters=10)
    assert r.final["total"] < r.initial["total"] and r.final["style"] < 0.6 * r.initial["style"]
    with pytest.raises(ConfigError) as e:
        texture(net, torch.rand(1, 2, 8, 8, 8), (1, 2, 8, 8, 8), style_layers=layers, iters=1)
    assert str(e.value) == "a 1D net cannot read 3D media; use a 3D or 2D net (a model of your own: HookedNet(..., dims=3))"
    with pytest.raises(ConfigError) as e:
        texture(HookedNet(nn.Sequential(nn.Conv2d(2, 4, 3)), ["0"], in_channels=2), style, (1, 2, 200), style_layers={"0": 1})
    assert str(e.value) == "a 2D net cannot read 1D media; use a 1D net (a model of your own: HookedNet(..., dims=1))"
    with pytest.raises(ConfigError) as e:
        HookedNet(model, ["1"], in_channels=2, dims=4)
    assert str(e.value) == ("dims 4: must be 1, 2 or 3 (the spatial axes the model reads: 1 for signals, 2 for images, "
                            "3 for volumes)")


def test_sound_and_signal_paths_take_the_layers_of_a_net_of_ones_own():
    # They took net= but always asked it for the bank's layer 'relu': "unknown layer for net
    # 'my1d': 'relu'; valid: c1, act".
    from torch import nn

    from stylegram.media import audio_texture, audio_transfer, signal_texture
    from stylegram.nets import FeatureNet

    def my1d(channels):
        torch.manual_seed(0)
        return FeatureNet("my1d", [("c1", nn.Conv1d(channels, 16, 5, padding=2)), ("act", nn.ReLU())], dims=1,
                          in_channels=channels)
    g = torch.Generator().manual_seed(0)
    sig = torch.rand(1, 2, 300, generator=g)
    y, run = signal_texture(sig, 200, net=my1d(2), style_layers={"act": 1.0}, iters=10)
    assert y.shape == (1, 2, 200) and run.final["style"] < run.initial["style"] / 10
    sound = 0.5 * torch.sin(torch.arange(4000) * 0.3) * torch.rand(4000, generator=g)
    r = audio_texture(sound, 8000, 0.25, net=my1d(33), n_fft=64, style_layers={"act": 1.0}, iters=10, gl_iters=2)
    assert r.samples.shape == (2000,) and r.run.final["style"] < r.run.initial["style"] / 10
    r = audio_transfer(sound, sound.flip(0), 8000, net=my1d(513), style_layers={"act": 1.0}, content_layers=["c1"],
                       iters=10, gl_iters=2)
    assert r.samples.shape == (4000,) and r.run.final["total"] < r.run.initial["total"]
    assert r.run.final["content"] > 0  # the content term is on c1
    for call, message in [
        (lambda: signal_texture(sig, 200, net=my1d(2), iters=1), "style_layers, e.g. style_layers={'act': 1.0}"),
        (lambda: audio_transfer(sound, sound, 8000, net=my1d(513), style_layers={"act": 1.0}, iters=1),
         "content_layers, e.g. content_layers=['act']"),
    ]:
        with pytest.raises(ConfigError) as e:
            call()
        assert str(e.value) == ("net 'my1d' has no layer 'relu' (the random bank's, taken by default); name its "
                                f"layers with {message}")


def test_empty_style_layers_are_refused_alike_and_none_is_the_default(tiny2d):
    # style_layers={} meant the default while [] was refused: one empty selection, two meanings
    from stylegram.media import audio_texture, solid_texture
    s = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    for empty in ({}, [], (), "", " , "):
        # the example names the net's own layers: its default where it has them (an audio net's
        # 'relu'), else its first layers (the generic texture's default 'relu' is no layer of a VGG)
        for run, example in ((lambda: texture(tiny2d, s, (1, 3, 32, 32), style_layers=empty, iters=1), "conv1_1:1,relu1_1:1"),
                             (lambda: solid_texture(s, 8, tiny2d, style_layers=empty, levels=1, iters=1), "relu1_1:1,relu2_1:1"),
                             (lambda: audio_texture(torch.rand(4000) - 0.5, 8000, 0.5, style_layers=empty, iters=1,
                                                    filters=8), "relu:1")):
            with pytest.raises(ConfigError) as e:
                run()
            assert str(e.value) == (f"style_layers {empty!r}: no layers given; name at least one, e.g. "
                                    f"'{example}', or give None for the default")
    a = solid_texture(s, 8, tiny2d, style_layers=None, levels=1, iters=1)
    b = solid_texture(s, 8, tiny2d, style_layers={"relu1_1": 1.0, "relu2_1": 1.0}, levels=1, iters=1)
    assert torch.equal(a.x, b.x)  # None: the default layers (the net's, here relu1_1 and relu2_1)


def test_media_layers_read_as_the_image_transfer_reads_them(tiny2d):
    # A string was a raw "ValueError: dictionary update sequence element #0 has length 1; 2 is
    # required" (style_layers) or read letter by letter: "unknown layer ...: 'r'" (content_layers).
    from stylegram.media import solid_texture, stylize, volume_transfer
    g = torch.Generator().manual_seed(5)
    s, c = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    a = texture(tiny2d, s, (1, 3, 32, 32), style_layers="relu1_1:0.5, relu2_1:0.5", iters=3)
    b = texture(tiny2d, s, (1, 3, 32, 32), style_layers={"relu1_1": 0.5, "relu2_1": 0.5}, iters=3)
    assert torch.equal(a.x, b.x) and a.final["style"] == b.final["style"] < a.initial["style"]
    a = texture(tiny2d, s, (1, 3, 32, 32), style_layers="relu1_1,relu2_1", iters=2)
    b = texture(tiny2d, s, (1, 3, 32, 32), style_layers=["relu1_1", "relu2_1"], iters=2)
    assert torch.equal(a.x, b.x) and a.initial["style"] > 0
    a = stylize(tiny2d, c, s, style_layers="relu1_1", content_layers="relu1_2,relu2_1", iters=2)
    b = stylize(tiny2d, c, s, style_layers={"relu1_1": 1.0}, content_layers=["relu1_2", "relu2_1"], iters=2)
    assert torch.equal(a.x, b.x) and a.final["content"] > 0
    a = solid_texture(s, 8, tiny2d, style_layers="relu1_1", levels=1, iters=1)
    assert a.x.shape == (1, 3, 8, 8, 8)
    a = volume_transfer(torch.rand(1, 1, 8, 8, 8, generator=g), s, tiny2d, style_layers="relu1_1",
                        content_layers="relu2_1", iters=1)
    assert a.x.shape == (1, 1, 8, 8, 8)
    for kwargs, message in [
        ({"style_layers": "relu1_1:x"}, "layer weight 'relu1_1:x': 'x' is not a number; write layer:weight, e.g. relu1_1:0.2"),
        ({"style_layers": "relu1_1,relu1_1"}, "layer 'relu1_1' is given twice in 'relu1_1,relu1_1'; give each layer once"),
        ({"style_layers": "relu1_1:-1"}, "layer weight of relu1_1 -1: must be a finite number, 0 or more"),
        ({"style_layers": "relu9_9"}, "unknown layer for net 'random-vgg16-w0.125': 'relu9_9'"),
    ]:
        with pytest.raises(ConfigError) as e:
            texture(tiny2d, s, (1, 3, 32, 32), iters=1, **kwargs)
        assert str(e.value).startswith(message), str(e.value)
    with pytest.raises(ConfigError) as e:
        stylize(tiny2d, c, s, content_layers=[4], iters=1)
    assert str(e.value) == "content_layers [4]: give layer names, e.g. 'relu4_2' or ['relu4_2']"


IMAGE_NETS = "vgg16-hed, vgg16, vgg19, random, random-tiny"
# bank2d reads images but has none of VGG's layer names, the defaults: listed bare, it failed next
TRANSFER_NETS = (f"{IMAGE_NETS}, or bank2d naming its own layers: style_layers='relu', content_layers='relu' (CLI: "
                 "--style-layers relu --content-layers relu)")
TEXTURE_NETS = (f"{IMAGE_NETS}, or bank2d naming its own layers: style_layers='relu' (in the API; the texture "
                "command has no --style-layers)")


@pytest.mark.parametrize("command, net, message", [
    # each of these was a torch traceback: a 1D bank sliced the 2D style (or exemplar) along an axis
    # it does not have (IndexError), a 3D net met a (1, 3, H, W) picture (channels_last RuntimeError)
    # (the banks were named as built, 'bank1d-3-5-7-11x512', which --net does not take)
    ("volume", "bank1d", "net 'bank1d' works on 1D data; a volume is styled by a 2D net, which reads "
                         "its slices (e.g. vgg16-hed), or by a 3D one (vgg16-hed-3d, bank3d)"),
    ("solid-texture", "bank1d", "net 'bank1d' works on 1D data; a solid texture's slices are matched "
                                "to the 2D exemplar by a 2D net (e.g. vgg16-hed, random)"),
    # it said "a 3D net cannot read 2D media; use a 2D or 1D net", and a 1D net was the traceback above
    ("solid-texture", "bank3d", "net 'bank3d' works on 3D data; a solid texture's slices are matched to "
                                "the 2D exemplar by a 2D net (e.g. vgg16-hed, random)"),
    ("transfer", "vgg16-hed-3d", f"net 'vgg16-hed-3d' works on 3D data; transfer makes images: use {TRANSFER_NETS}"),
    ("texture", "vgg16-hed-3d", f"net 'vgg16-hed-3d' works on 3D data; texture makes images: use {TEXTURE_NETS}"),
    ("transfer", "bank1d", f"net 'bank1d' works on 1D data; transfer makes images: use {TRANSFER_NETS}"),
    ("texture", "bank3d", f"net 'bank3d' works on 3D data; texture makes images: use {TEXTURE_NETS}"),
])
def test_a_net_of_the_wrong_dimension_is_one_line(tmp_path, command, net, message):
    from stylegram.io.image import save_image
    img = tmp_path / "s.png"
    save_image(torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0)), img)
    np.save(tmp_path / "vol.npy", np.random.default_rng(0).random((16, 16, 16)).astype(np.float32))
    args = {"volume": [str(tmp_path / "vol.npy"), str(img), "-o", str(tmp_path / "v.npy"), "--size", "16"],
            "solid-texture": [str(img), "-o", str(tmp_path / "v.npy"), "--size", "16", "--coarse-iters", "1"],
            "transfer": [str(img), str(img), "-o", str(tmp_path / "o.png"), "--size", "32", "--content-layers", "relu",
                         "--style-layers", "relu"],
            "texture": [str(img), "-o", str(tmp_path / "o.png"), "--size", "32"]}[command]
    code, err = run_cli([command, *args, "--iters", "1", "--net", net])
    assert (code, err.strip()) == (2, f"stylegram: error: {message}")


def test_bank2d_runs_as_the_wrong_dimension_error_says():
    # the error listed bank2d beside the VGG nets, and the run it suggested failed at once
    import stylegram
    from stylegram.transfer import _image_nets_hint
    assert "bank2d naming its own layers: style_layers='relu', content_layers='relu'" in _image_nets_hint(False)
    img = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match=r"^unknown layer for net 'bank2d': 'relu4_2'"):
        stylegram.transfer(img, img, net="bank2d", size=32, iters=1)
    out = stylegram.transfer(img, img, net="bank2d", style_layers="relu", content_layers="relu", size=32, iters=1,
                             refine=0, pyramid_start=0)
    assert out.image.shape == (1, 3, 32, 32)
    assert stylegram.texture(img, size=32, iters=1, net="bank2d", style_layers="relu").image.shape == (1, 3, 32, 32)


def test_transfer_refuses_a_3d_model_of_ones_own():
    from stylegram import HookedNet, transfer
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, padding=1), torch.nn.ReLU())
    net = HookedNet(model, ["1"], dims=3, name="mine3d")
    img = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match=r"^net 'mine3d' works on 3D data; transfer makes images: use "):
        transfer(img, img, feature_net=net, content_layers="1", style_layers="1", size=32, iters=1)


@pytest.mark.parametrize("command, option, message", [
    # solid-texture took -1 without a word where its levels were too small to use random slices
    ("solid-texture", ["--slices", "-1"], "slices -1: must be 0 (every slice) or a number of slices per axis"),
    # the engine said "slices_per_axis -1: must be 1 or more (None: every slice)": not what --slices takes
    ("volume", ["--slices", "-1"], "slices -1: must be 0 (every slice) or a number of slices per axis"),
    # it said "size 0: ...", --size being another option of this command
    ("solid-texture", ["--style-size", "0"], "style_size 0: must be a positive number of px"),
    # it said "iters -1: must be 0 or more", --iters being the last level's
    ("solid-texture", ["--coarse-iters", "-1"], "coarse_iters -1: must be 0 or more"),
    # it offered "(or None: the image's own size)", which --size cannot be
    ("video", ["--size", "0"], "size 0: must be a positive number of px"),
    # the plot's time axis was drawn with -5 and nan
    ("signal-texture", ["--rate", "-5"], "rate -5: must be a positive sample rate in Hz, e.g. 500"),
    ("signal-texture", ["--rate", "nan"], "rate nan: must be a positive sample rate in Hz, e.g. 500"),
])
def test_media_option_errors_name_the_option_typed(tmp_path, command, option, message):
    from stylegram.io.image import save_image
    from stylegram.io.video import write_video
    img = tmp_path / "s.png"
    save_image(torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0)), img)
    np.save(tmp_path / "vol.npy", np.random.default_rng(0).random((16, 16, 16)).astype(np.float32))
    np.save(tmp_path / "sig.npy", np.random.default_rng(0).standard_normal((2, 300)).astype(np.float32))
    write_video(_moving_frames(2, 32), tmp_path / "in.mp4", 8)
    tiny = ["--net", "random", "--width", "0.125"]
    args = {"volume": [str(tmp_path / "vol.npy"), str(img), "-o", str(tmp_path / "v.npy"), "--size", "16", *tiny],
            "solid-texture": [str(img), "-o", str(tmp_path / "v.npy"), "--size", "16", "--style-size", "32", *tiny],
            "video": [str(tmp_path / "in.mp4"), str(img), "-o", str(tmp_path / "o.mp4"), *tiny],
            "signal-texture": [str(tmp_path / "sig.npy"), "-o", str(tmp_path / "o.npy"), "--filters", "8",
                               "--plot", str(tmp_path / "p.png")]}[command]
    code, err = run_cli([command, *args, "--iters", "1", *option])
    assert (code, err.strip()) == (2, f"stylegram: error: {message}")
    assert not (tmp_path / "o.npy").exists() and not (tmp_path / "v.npy").exists()


def test_signal_plot_labels_channels_and_says_when_some_are_left_out(tmp_path):
    # Rows had no channel names, and channels past max_channels were dropped without a word.
    import matplotlib
    from stylegram.io.signal import plot_signals
    x = torch.randn(1, 14, 200, generator=torch.Generator().manual_seed(0))
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        plot_signals({"input": x, "texture": x[:, :3]}, tmp_path / "p.svg", rate=100.0)
    svg = (tmp_path / "p.svg").read_text()
    assert ">ch 0<" in svg and ">ch 11<" in svg and ">ch 12<" not in svg
    assert "input (first 12 of 14 channels)" in svg and ">texture<" in svg  # its 3 channels are all shown


def test_solid_texture_help_offers_no_3d_net():
    # --help offered "a 3D net (vgg16-hed-3d, experimental)", which solid-texture refuses in one line
    from click.testing import CliRunner
    from stylegram.media_cli import solid_texture_cmd, volume_cmd
    solid = " ".join(CliRunner().invoke(solid_texture_cmd, ["--help"]).output.split())
    assert "2D net applied to the cube's slices" in solid and "3D net" not in solid and "vgg16-hed-3d" not in solid
    assert "or a 3D net (vgg16-hed-3d" in " ".join(CliRunner().invoke(volume_cmd, ["--help"]).output.split())


def _tone_at(y, f, rate=22050):
    """The amplitude of the ``f`` Hz component of ``y`` (a pure tone of amplitude a gives about a)."""
    t = np.arange(len(y)) / rate
    return float(2 * np.abs(np.mean(y * np.exp(-2j * np.pi * f * t))))


def test_video_keeps_every_soundtrack(tmp_path):
    # Only the first soundtrack went into the styled video (-map 1:a:0), without a word: a second
    # language or a commentary was lost. Every one goes now, in its order with its tags, copied
    # where the container takes every codec, else all re-encoded to AAC.
    from stylegram.io.video import _ffmpeg as video_ffmpeg
    from stylegram.io.video import read_clip, write_video
    for name, codecs in (("in.mp4", ("aac", "aac")), ("in.mkv", ("aac", "pcm_s16le"))):
        r = _ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=8:duration=1", "-f", "lavfi", "-i",
                    "sine=f=440:sample_rate=22050:duration=1", "-f", "lavfi", "-i", "sine=f=880:sample_rate=22050:duration=1",
                    "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a:0", "aac", "-c:a:1", codecs[1], "-metadata:s:a:1", "language=fra", tmp_path / name)
        assert r.returncode == 0, r.stderr
    for src, out, how in (("in.mp4", "o.mp4", "copy"), ("in.mkv", "o.mkv", "copy"), ("in.mkv", "o.mp4", "aac")):
        clip = read_clip(tmp_path / src, max_frames=4)
        assert write_video(clip.frames, tmp_path / out, clip.fps, audio=tmp_path / src) == how, (src, out)
        header = video_ffmpeg("-i", f"file:{tmp_path / out}").stderr  # the header, which -loglevel error hides
        codecs = re.findall(r"Stream #0:\d\S*: Audio: (\w+)", header)
        assert codecs == (["aac", "aac"] if how == "aac" or src == "in.mp4" else ["aac", "pcm_s16le"]), header
        assert re.search(r"Stream #0:2\S*\(fra\): Audio", header), header
        r = _ffmpeg("-i", tmp_path / out, "-map", "0:a:1", "-f", "f32le", "-ac", "1", "-ar", 22050, "-")
        second = np.frombuffer(r.stdout, np.float32)
        # the 880 Hz track, cut to the 4 frames (0.5 s; a copy ends with the packet spanning it)
        assert _tone_at(second, 880) > 0.1 and _tone_at(second, 440) < 0.01 and 0.49 < len(second) / 22050 < 0.56
    # the clip read says what it holds: write_video takes that instead of probing the file again
    clip = read_clip(tmp_path / "in.mkv")
    assert (clip.audio, clip.soundtracks) == ("aac", ("aac", "pcm_s16le"))


def test_write_video_takes_the_codecs_it_was_given(tmp_path, monkeypatch):
    # read_clip probes the clip's header (its soundtracks, its frame rates); write_video probed the
    # same file again for its sound (some 30 ms an ffmpeg run). Given Clip.soundtracks it does not.
    import os

    import stylegram.io.video as video
    r = _ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=8:duration=1", "-f", "lavfi", "-i",
                "sine=f=440:sample_rate=22050:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                tmp_path / "in.mp4")
    assert r.returncode == 0, r.stderr
    clip = video.read_clip(tmp_path / "in.mp4")
    probed, real = [], video.probe
    monkeypatch.setattr(video, "probe", lambda p: probed.append(os.path.basename(p)) or real(p))
    assert video.write_video(clip.frames, tmp_path / "o.mp4", clip.fps, audio=tmp_path / "in.mp4",
                             audio_codecs=clip.soundtracks) == "copy"
    assert len(probed) == 1 and probed[0].startswith(".o.mp4.")  # only the file written, for what it holds
    probed.clear()  # without them: the clip is probed, as before
    assert video.write_video(clip.frames, tmp_path / "o.mp4", clip.fps, audio=tmp_path / "in.mp4") == "copy"
    assert probed[0] == "in.mp4" and len(probed) == 2


def test_variable_frame_rate_video_keeps_its_times_and_its_sound_in_step(tmp_path):
    # A clip of 4 frames a second for 1 s, then 12 a second for 1 s, its tone starting at 1 s.
    # ffmpeg handed its frames over at 12 fps (its guess of the timestamps' rate), each of the
    # first four three times, while the rate read was the header's mean, 6.86 fps: 26 frames
    # written at 6.86 fps, a 3.79 s video whose picture ran ever later than its 2 s of sound (the
    # change of pace at 1.75 s, not 1 s). Each frame is now read once, with its time, and laid on
    # 12 fps: the first four shown three times, the video 2 s, the change in step with the tone.
    from stylegram.io.video import read_clip, write_video
    tone = "aevalsrc=if(gte(t\\,1)\\,0.5*sin(2*PI*440*t)\\,0):s=22050:d=2"
    # every frame its own grey (10, 22, 34, 46, then 60 ... 225): each tells which it is
    grey = "nullsrc=size=32x32:rate={}:duration=1,format=yuv420p,geq=lum={}+N*{}:cb=128:cr=128"
    r = _ffmpeg("-f", "lavfi", "-i", grey.format(4, 10, 12), "-f", "lavfi", "-i", grey.format(12, 60, 15),
                "-f", "lavfi", "-i", tone,
                "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-map", "2:a",
                "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", tmp_path / "vfr.mp4")
    assert r.returncode == 0, r.stderr
    clip = read_clip(tmp_path / "vfr.mp4")
    assert (len(clip.frames), clip.fps, clip.repeats, clip.seconds) == (16, 12.0, [3] * 4 + [1] * 12, 2.0)
    short = read_clip(tmp_path / "vfr.mp4", max_frames=6)  # the sixth frame lasts 1/12 s
    assert (short.repeats, short.seconds) == ([3, 3, 3, 3, 1, 1], 14 / 12)
    every = read_clip(tmp_path / "vfr.mp4", every=2)  # a kept frame lasts until the next kept one starts
    assert (every.fps, every.repeats) == (12.0, [6, 6, 2, 2, 2, 2, 2, 2])
    assert write_video(clip.frames, tmp_path / "o.mp4", clip.fps, repeats=clip.repeats,
                       audio=tmp_path / "vfr.mp4") == "copy"
    # what a player shows at 12 fps, frame by frame: the grey the input shows at that time (its
    # luma in video range, 16..235, as RGB)
    raw = _ffmpeg("-i", tmp_path / "o.mp4", "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").stdout
    got = np.frombuffer(raw, np.uint8).reshape(-1, 32 * 32 * 3).mean(1)
    luma = [10 + 12 * (k // 3) if k < 12 else 60 + 15 * (k - 12) for k in range(24)]
    want = np.clip((np.array(luma) - 16) * 255 / 219, 0, 255)
    assert len(got) == 24 and np.abs(got - want).max() < 3, np.round(got)
    sound = _sound(tmp_path / "o.mp4")
    assert abs(len(sound) / 22050 - 2.0) < 1 / 12  # as long as the picture, within a frame
    onset = int(np.argmax(np.abs(sound) > 0.25)) / 22050
    assert abs(onset - 1.0) < 1 / 12, onset
