"""Property-based tests (hypothesis): the image, audio and volume readers never fail except with a
one-line InputError (a bounded fuzz of each), valid files read back in range, and the
receptive-field arithmetic agrees with a gradient probe on random conv/pool chains."""
import io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from stylegram.errors import InputError
from stylegram.io.image import load_image
from stylegram.nets.receptive import receptive_fields

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

HEADERS = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00", b"BM"]


@FUZZ
@given(header=st.sampled_from(HEADERS), body=st.binary(max_size=2048))
def test_reader_fuzz_only_input_errors(tmp_path_factory, header, body):
    p = tmp_path_factory.mktemp("fuzz") / "f.img"
    p.write_bytes(header + body)
    try:
        t = load_image(p, 32)
    except InputError as e:
        assert "\n" not in str(e) and str(p) in str(e)
    else:
        assert t.shape[:2] == (1, 3) and torch.isfinite(t).all() and 0 <= t.min() <= t.max() <= 1


def _good_png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


@FUZZ
@given(data=st.data(), cut=st.floats(0.05, 0.95))
def test_truncated_real_images_are_input_errors(tmp_path_factory, data, cut):
    h, w = data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24))
    arr = np.frombuffer(data.draw(st.binary(min_size=h * w * 3, max_size=h * w * 3)), np.uint8).reshape(h, w, 3)
    raw = _good_png(arr)
    p = tmp_path_factory.mktemp("trunc") / "t.png"
    p.write_bytes(raw[: max(1, int(len(raw) * cut))])
    try:
        load_image(p)
    except InputError:
        pass


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_png_roundtrip_exact(data):
    h, w = data.draw(st.integers(1, 16)), data.draw(st.integers(1, 16))
    arr = np.frombuffer(data.draw(st.binary(min_size=h * w * 3, max_size=h * w * 3)), np.uint8).reshape(h, w, 3)
    t = load_image(Image.open(io.BytesIO(_good_png(arr))))
    assert torch.allclose(t[0].permute(1, 2, 0), torch.from_numpy(arr.copy()).float() / 255, atol=1e-6)


layer = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 5), st.integers(1, 2), st.integers(0, 2), st.integers(1, 2)),
    st.tuples(st.just("pool"), st.integers(2, 3), st.integers(1, 3), st.just(0), st.just(1)),
)


@settings(max_examples=60, deadline=None)
@given(spec=st.lists(layer, min_size=1, max_size=6))
def test_receptive_field_matches_gradient_probe(spec):
    layers = []
    for i, (kind, k, s, p, d) in enumerate(spec):
        if kind == "conv":
            m = nn.Conv1d(1, 1, k, stride=s, padding=min(p, (d * (k - 1)) // 2 + 0), dilation=d, bias=False)
            nn.init.ones_(m.weight)  # positive weights: no gradient cancels out
        else:
            m = nn.AvgPool1d(k, stride=s)
        layers.append((f"l{i}", m))
    info = receptive_fields(layers, in_channels=1)[f"l{len(spec) - 1}"]
    n_in = 4 * info.rf_size + 8 * info.jump + 16
    x = torch.ones(1, 1, n_in, requires_grad=True)
    y = x
    for _, m in layers:
        y = m(y)
    if y.shape[-1] < 3:
        return
    u = y.shape[-1] // 2
    (g,) = torch.autograd.grad(y[0, 0, u], x)
    nz = torch.nonzero(g[0, 0]).flatten()
    lo, hi = info.rf_start + u * info.jump - (info.rf_size - 1) / 2, info.rf_start + u * info.jump + (info.rf_size - 1) / 2
    # The analytic field is the extent; inside the image the probe reaches both of its ends.
    assert nz.min().item() >= lo - 1e-6 and nz.max().item() <= hi + 1e-6
    if lo >= 0 and hi <= n_in - 1:
        assert nz.min().item() == pytest.approx(lo) and nz.max().item() == pytest.approx(hi)


AUDIO_HEADERS = [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS\x00\x02", b"ID3\x03\x00", b"\xff\xfb\x90\x00"]


@FUZZ
@given(header=st.sampled_from(AUDIO_HEADERS), body=st.binary(max_size=2048), suffix=st.sampled_from([".wav", ".flac", ".ogg"]))
def test_audio_reader_fuzz_only_input_errors(tmp_path_factory, header, body, suffix):
    from stylegram.io.audio import load_audio
    p = tmp_path_factory.mktemp("afuzz") / f"f{suffix}"
    p.write_bytes(header + body)
    try:
        y, sr = load_audio(p, 8000, allow_silent=True)
    except InputError as e:
        assert "\n" not in str(e) and str(p) in str(e)
    else:
        assert y.ndim == 1 and sr == 8000 and np.isfinite(y).all()


@FUZZ
@given(data=st.data())
def test_audio_reader_reads_any_valid_wav(tmp_path_factory, data):
    import soundfile as sf
    from stylegram.io.audio import load_audio
    rate = data.draw(st.sampled_from([4000, 8000, 11025, 16000, 22050, 44100]))
    n, ch = data.draw(st.integers(1, 3000)), data.draw(st.integers(1, 3))
    # Samples from a drawn seed: Hypothesis refuses lists over 8192 values (n * ch reaches 9000).
    y = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).uniform(-1, 1, n * ch).astype(np.float32)
    p = tmp_path_factory.mktemp("awav") / "a.wav"
    sf.write(str(p), y.reshape(n, ch), rate, subtype="PCM_16")
    try:
        out, sr = load_audio(p, 8000, allow_silent=True)
    except InputError as e:  # only for empty-after-resampling sound
        assert "\n" not in str(e)
    else:
        assert sr == 8000 and out.ndim == 1 and np.isfinite(out).all() and np.abs(out).max() <= 1.01
        assert abs(out.size - round(n * 8000 / rate)) <= 2


@FUZZ
@given(data=st.data())
def test_volume_reader_fuzz_only_input_errors(tmp_path_factory, data):
    from stylegram.io.volume import load_volume
    d = tmp_path_factory.mktemp("vfuzz")
    if data.draw(st.booleans()):  # raw bytes under a volume suffix
        p = d / data.draw(st.sampled_from(["v.npy", "v.nii", "v.nii.gz", "v.dcm"]))
        p.write_bytes(data.draw(st.binary(max_size=1024)))
    else:  # a well-formed .npy of any rank, dtype and contents (NaN, Inf, huge values)
        shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=0, max_size=5)))
        dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.bool_, np.complex64]))
        vals = data.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32),
                                  min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        with np.errstate(all="ignore"):
            arr = np.asarray(vals, np.float64).reshape(shape).astype(dtype)
        p = d / "v.npy"
        np.save(p, arr)
    try:
        vol = load_volume(p)
    except InputError as e:
        assert "\n" not in str(e) and str(p) in str(e)
    else:
        assert vol.data.ndim == 3 and np.isfinite(vol.data).all()
