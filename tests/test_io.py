"""Image I/O: every file of the hostile corpus ends in a clear error or a correct result."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from stylegram.errors import ConfigError, InputError
from stylegram.io.image import check_output_path, load_image, save_image, tensor_to_pil, write_atomic

CORRECT = {  # file -> (check on the loaded (1, 3, H, W) tensor)
    "animated.gif": None, "cmyk.jpg": None, "exif_rotated.jpg": "portrait", "gray16.png": "gray",
    "jpeg_named.png": None, "palette_alpha.png": None, "rgba_half_transparent.png": None, "tiny_1x1.png": "flat",
}
ERRORS = {
    "decompression_bomb.png": "decompression bomb", "not_an_image.png": "not an image file",
    "truncated.jpg": "truncated or corrupt", "zero_bytes.jpg": "file is empty",
    # other media where an image belongs: the error names the command that takes them
    "silence.wav": "a sound: use `stylegram audio`", "volume_with_nan.npy": "an array: use `stylegram volume` (3D)",
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_bad_corpus_converted(shared, name, monkeypatch):
    import stylegram.io.image as image_io
    opened, real_open = [], Image.open
    monkeypatch.setattr(image_io.Image, "open", lambda *a, **k: opened.append(real_open(*a, **k)) or opened[-1])
    t = load_image(shared / "data" / "bad" / name, 64)
    # the file is closed once read (an animated GIF's stayed open: Pillow keeps it in _fp for seeking)
    import io
    assert opened and not any(isinstance(getattr(im, "_fp", None), io.IOBase) and not im._fp.closed for im in opened)
    assert t.shape[:2] == (1, 3) and max(t.shape[-2:]) == 64
    assert 0 <= t.min() and t.max() <= 1 and torch.isfinite(t).all()
    kind = CORRECT[name]
    if kind == "portrait":  # EXIF orientation applied: the stored landscape pixels come out upright
        assert t.shape[-2] > t.shape[-1]
    if kind == "gray":  # 16-bit grey keeps its full range and stays grey
        assert t.max() > 0.9 and torch.allclose(t[0, 0], t[0, 1])
    if kind == "flat":
        assert t.flatten(2).std(dim=2).max() < 1e-3  # one colour everywhere


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_corpus_errors(shared, name):
    with pytest.raises(InputError) as e:
        load_image(shared / "data" / "bad" / name, 64)
    msg = str(e.value)
    assert ERRORS[name] in msg and name in msg and "\n" not in msg


def test_missing_and_folder(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)


@pytest.mark.parametrize("reader", ["image", "audio", "video", "volume", "signal"])
def test_every_media_reader_says_missing_folder_and_empty_in_one_line(tmp_path, reader):
    from stylegram.io.audio import load_audio
    from stylegram.io.signal import load_signal
    from stylegram.io.video import read_video
    from stylegram.io.volume import load_volume
    read = {"image": load_image, "audio": load_audio, "video": read_video, "volume": load_volume,
            "signal": load_signal}[reader]
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    folder = tmp_path / "folder"
    (folder / "inside").mkdir(parents=True)  # not empty: an empty folder is a DICOM question for volumes
    for path, words in ((tmp_path / "nope.bin", "file not found; check the path"),
                        (empty, "file is empty (0 bytes); give a"), (folder, "is a folder, not a")):
        if reader == "volume" and path == folder:
            continue  # a folder is a DICOM series there (tests/test_media.py)
        with pytest.raises(InputError) as e:
            read(path)
        msg = str(e.value)
        assert msg.startswith(str(path) + ": ") and words in msg and "\n" not in msg, msg


@pytest.mark.parametrize("reader, name, hint", [
    ("audio", "cmyk.jpg", "; it looks like an image: use `stylegram transfer` or `texture`"),
    ("audio", "animated.gif", "; it looks like an image or an animation: use `stylegram transfer` or `video`"),
    ("audio", "not_audio.wav", None),  # a sound that is not one: no other command would read it
    ("image", "evil_weights.pth", "; it looks like network weights: give them to `--weights`"),
    ("image", "silence.wav", "; it looks like a sound: use `stylegram audio` or `audio-texture`"),
    ("volume", "cmyk.jpg", "; it looks like an image: use `stylegram transfer` or `texture`"),
    ("signal", "silence.wav", "; it looks like a sound: use `stylegram audio` or `audio-texture`"),
    ("video", "not_audio.wav", "; it looks like a sound: use `stylegram audio` or `audio-texture`"),
])
def test_a_file_given_to_the_wrong_reader_names_the_command_that_reads_it(shared, reader, name, hint):
    from stylegram.io.audio import load_audio
    from stylegram.io.signal import load_signal
    from stylegram.io.video import read_video
    from stylegram.io.volume import load_volume
    read = {"image": load_image, "audio": load_audio, "video": read_video, "volume": load_volume,
            "signal": load_signal}[reader]
    with pytest.raises(InputError) as e:
        read(shared / "data" / "bad" / name)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.endswith(hint) if hint else "looks like" not in msg, msg


@pytest.mark.parametrize("reader", ["volume", "signal"])
def test_a_npy_that_is_not_one_is_said_without_numpys_pickle_advice(tmp_path, reader):
    """A file named .npy without NumPy's header (a PNG renamed, random bytes) was 'not a readable .npy
    array (This file contains pickled (object) data. If you trust the file you can load it unsafely
    using the `': numpy's advice to unpickle it, cut off mid-sentence; a truncated array's reason
    was cut at 'could only read 18 element'."""
    from stylegram.io.signal import load_signal
    from stylegram.io.volume import load_volume
    read = {"volume": load_volume, "signal": load_signal}[reader]
    (tmp_path / "png.npy").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
    with pytest.raises(InputError) as e:
        read(tmp_path / "png.npy")
    assert str(e.value) == f"{tmp_path / 'png.npy'}: not a .npy file (no NumPy header); save the array with numpy.save"
    np.save(tmp_path / "whole.npy", np.zeros((16, 16, 16), np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "whole.npy").read_bytes()[:200])
    with pytest.raises(InputError) as e:
        read(tmp_path / "cut.npy")
    assert str(e.value) == (f"{tmp_path / 'cut.npy'}: not a readable .npy array (Failed to read all data for array. "
                            "Expected (16, 16, 16) = 4096 elements, could only read 18 elements. (file seems not fully written?))")


def test_a_broken_video_is_not_sent_to_the_video_command(tmp_path):
    from stylegram.io.video import read_video
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"not a video at all")
    with pytest.raises(InputError) as e:
        read_video(bogus)
    assert "not a video ffmpeg can decode" in str(e.value) and "looks like" not in str(e.value)


def test_sixteen_bit_scale(tmp_path):
    arr = np.array([[0, 32768], [65535, 16384]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    t = load_image(tmp_path / "g16.png")
    assert t[0, 0].flatten().tolist() == pytest.approx([0, 32768 / 65535, 1.0, 16384 / 65535], abs=1e-6)


def test_dark_high_bit_images_stay_dark(tmp_path):
    # The scale comes from the file's mode, not from its brightest pixel: a dark 16-bit picture
    # (every value under 256 of 65535) once came out 257 times too bright, a float TIFF 255 too dark.
    dark = np.full((4, 4), 250, np.uint16)
    Image.fromarray(dark).save(tmp_path / "dark16.png")
    (tmp_path / "dark.pgm").write_bytes(b"P5\n4 4\n65535\n" + dark.astype(">u2").tobytes())
    Image.fromarray(dark.astype(np.int32), "I").save(tmp_path / "dark_i32.tif")
    for name in ("dark16.png", "dark.pgm", "dark_i32.tif"):
        assert load_image(tmp_path / name).max().item() == pytest.approx(250 / 65535, abs=1e-7), name
    twelve = np.full((4, 4), 4000, np.uint16)  # a 12-bit PGM: Pillow puts it on the 16-bit scale
    (tmp_path / "b12.pgm").write_bytes(b"P5\n4 4\n4095\n" + twelve.astype(">u2").tobytes())
    assert load_image(tmp_path / "b12.pgm").max().item() == pytest.approx(4000 / 4095, abs=1e-4)
    Image.fromarray(np.full((4, 4), 0.8, np.float32), "F").save(tmp_path / "f.tif")
    assert load_image(tmp_path / "f.tif").mean().item() == pytest.approx(0.8, abs=1e-6)


def test_alpha_over_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png").min().item() == 1.0
    # Colour-key transparency (a PNG tRNS chunk on a grey or RGB image) counts as transparency too.
    Image.new("L", (4, 4), 0).save(tmp_path / "key_l.png", transparency=0)
    Image.new("RGB", (4, 4), (0, 0, 0)).save(tmp_path / "key_rgb.png", transparency=(0, 0, 0))
    for name in ("key_l.png", "key_rgb.png"):
        assert load_image(tmp_path / name).min().item() == 1.0, name


def test_resize_longest_side():
    t = load_image(torch.rand(3, 30, 60), 20)
    assert t.shape == (1, 3, 10, 20)


def test_load_image_shrinks_as_pil_lanczos(tmp_path):
    # Every entry point that loads at a size (explorer, textures, the single-level transfer) shrinks
    # as the judge and PIL do. PIL in float mode ("F"): its 8-bit mode rounds and clips between
    # the two passes, up to 4/255 apart on noise.
    import numpy as np
    from PIL import Image
    arr = (torch.rand(45, 67, 3, generator=torch.Generator().manual_seed(1)) * 255).round().to(torch.uint8)
    Image.fromarray(arr.numpy()).save(tmp_path / "p.png")
    t = load_image(tmp_path / "p.png", 30)
    ref = torch.from_numpy(np.stack([
        np.array(Image.fromarray(arr[..., ch].numpy().astype(np.float32), mode="F").resize((30, 20), Image.LANCZOS))
        for ch in range(3)]))[None] / 255
    assert t.shape == (1, 3, 20, 30)
    assert (t - ref.clamp(0, 1)).abs().max() < 1e-5
    assert t.min() >= 0 and t.max() <= 1
    # enlarging stays bicubic and in range
    big = load_image(tmp_path / "p.png", 134)
    assert big.shape == (1, 3, 90, 134) and big.min() >= 0 and big.max() <= 1


def test_tensor_with_nan_refused():
    x = torch.rand(3, 8, 8)
    x[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        load_image(x)


def test_tensor_in_another_value_convention_is_refused_not_clamped():
    # A 0..255 tensor (or an ImageNet-normalized one) clamped to 0..1 was a white (or black) picture
    # without a word; small overshoots, as resampling makes, are still clamped.
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match=r"^content: tensor values reach 2\d\d\.?\d*; images are RGB in 0\.\.1 "
                                         r"\(divide 0\.\.255 data by 255\)$"):
        load_image(x * 255, name="content")
    with pytest.raises(InputError, match=r"^style: tensor values go down to -2\.\d+; .*mean/std normalization"):
        load_image((x - 0.485) / 0.229, name="style")
    y = load_image(x * 1.05 - 0.02)
    assert float(y.min()) == 0 and float(y.max()) == 1


def test_tensors_without_usable_pixels_are_one_line_input_errors():
    # A 'meta' tensor failed in Tensor.item(), an empty one in max(), and a complex one lost its
    # imaginary part with only a warning.
    cases = [(torch.empty(1, 3, 8, 8, device="meta"), r"^content: tensor on the 'meta' device holds no values; give one "
                                                      r"with data \(e\.g\. on 'cpu'\)$"),
             (torch.rand(1, 3, 0, 8), r"^content: tensor of shape \(1, 3, 0, 8\) has no pixels; give an image of at "
                                      r"least 1 x 1 px$"),
             (torch.rand(3, 8, 8, dtype=torch.complex64), r"^content: tensor of complex dtype torch\.complex64; images "
                                                          r"are real RGB in 0\.\.1 \(take \.real or \.abs\(\) first\)$")]
    for t, msg in cases:
        with pytest.raises(InputError, match=msg):
            load_image(t, 8, name="content")
    # the other dtypes and layouts are read as they are, and the caller's tensor is left alone
    x = torch.rand(1, 3, 8, 6, generator=torch.Generator().manual_seed(0))
    for t in (x.double(), x.contiguous(memory_format=torch.channels_last), x.clone().requires_grad_(True),
              x.transpose(2, 3).contiguous().transpose(2, 3)):
        before = t.detach().clone()
        y = load_image(t)
        assert y.dtype == torch.float32 and y.shape == (1, 3, 8, 6) and torch.allclose(y, x) and torch.equal(t, before)


def test_save_png_metadata_roundtrip(tmp_path):
    p = tmp_path / "o.png"
    save_image(torch.rand(1, 3, 8, 8), p, metadata={"alpha": 1.0})
    im = Image.open(p)
    assert json.loads(im.text["stylegram"]) == {"alpha": 1.0}
    assert [f for f in os.listdir(tmp_path)] == ["o.png"]  # no temp file left


def test_jpeg_keeps_full_colour_resolution_and_webp_is_lossless(tmp_path):
    # Coloured one-pixel strokes, as a painting's: Pillow's default 4:2:0 subsampling smeared them
    # (PSNR 19 dB against 36 dB at 4:4:4 on a stylized picture), and WebP was lossy at quality 80.
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32, generator=g)
    save_image(x, tmp_path / "o.jpg")
    with Image.open(tmp_path / "o.jpg") as im:
        from PIL import JpegImagePlugin
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
    # a PIL image with transparency (the API takes PIL images): over white, not "could not write"
    save_image(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), tmp_path / "clear.jpg")
    assert np.asarray(Image.open(tmp_path / "clear.jpg")).min() >= 250
    for mode, value in (("I;16", 32768), ("I", 32768), ("F", 0.5)):  # an AttributeError on _ArrayImage
        save_image(Image.new(mode, (4, 4), value), tmp_path / "grey.jpg")
        assert abs(int(np.asarray(Image.open(tmp_path / "grey.jpg")).mean()) - 128) <= 1, mode
    save_image(x, tmp_path / "o.webp")
    want = np.asarray(tensor_to_pil(x))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.webp").convert("RGB")), want)


def test_write_atomic_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "o.txt"
    p.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(p, fail)
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["o.txt"]
    # a new file gets the permissions a plain open() gives (0666 less the umask), and the umask is
    # never touched on the way (the studio writes from several threads)
    umask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "n.txt", lambda tmp: tmp.write_text("new"))
        assert (tmp_path / "n.txt").stat().st_mode & 0o777 == 0o640 and os.umask(0o027) == 0o027
    finally:
        os.umask(umask)


def test_a_full_disk_or_quota_is_one_line_and_leaves_nothing(tmp_path):
    # ENOSPC from a writer (or the fsync) came out as the raw OSError, a traceback on the CLI
    import errno

    from stylegram.errors import NoSpaceError, ResourceError
    p = tmp_path / "o.wav"
    p.write_bytes(b"previous")
    for code, what, todo in ((errno.ENOSPC, "no space left on device", "free some space or choose another folder"),
                             (errno.EDQUOT, "disk quota exceeded", "free some space or choose another folder"),
                             (errno.EFBIG, "file too large", "choose another folder (a file system that takes "
                                                             "larger files)")):
        def fail(tmp):
            tmp.write_bytes(b"half")
            raise OSError(code, os.strerror(code), str(tmp))

        with pytest.raises(ResourceError) as e:
            write_atomic(p, fail)
        assert str(e.value) == f"{p}: could not be written: {what}; {todo}"
        # an OSError too, with its errno: the studio's job records catch their failed writes as such
        assert isinstance(e.value, (NoSpaceError, OSError)) and e.value.errno == code
        assert p.read_bytes() == b"previous" and os.listdir(tmp_path) == ["o.wav"]
    with pytest.raises(OSError) as e:  # any other error: as it was (a folder that refuses it: below)
        write_atomic(p, lambda tmp: (_ for _ in ()).throw(OSError(errno.EIO, "Input/output error")))
    assert type(e.value) is OSError and e.value.errno == errno.EIO
    assert p.read_bytes() == b"previous" and os.listdir(tmp_path) == ["o.wav"]


def _full_disk(monkeypatch):
    """From now on each temporary file write_atomic makes is a link to /dev/full, whose writes fail
    with ENOSPC: a full disk for whichever library writes the file. The link is replaced or removed,
    never /dev/full itself (a library that replaces its target by a rename replaces the link)."""
    import re
    import stat
    if not (os.path.exists("/dev/full") and stat.S_ISCHR(os.stat("/dev/full").st_mode)):
        pytest.skip("no /dev/full here")
    real_open = os.open

    def open_(path, flags, mode=0o777, *, dir_fd=None):
        if flags & os.O_EXCL and re.fullmatch(r"\..+\.[0-9a-f]{12}\.part.*", os.path.basename(path)):
            os.symlink("/dev/full", path)
            return real_open(path, os.O_WRONLY)
        return real_open(path, flags, mode, dir_fd=dir_fd)
    monkeypatch.setattr(os, "open", open_)


def _writers():
    """(output name, write(path)) for each kind of file the commands write through write_atomic."""
    from stylegram.cli import save_checkpoint
    from stylegram.io.audio import save_spectrogram_png, save_wav
    from stylegram.io.signal import save_signal
    from stylegram.io.video import FrameStore
    from stylegram.io.volume import save_volume
    from stylegram.report import write_json
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return {
        "o.png": lambda p: save_image(x, p), "o.jpg": lambda p: save_image(x, p),
        # soundfile said "Error opening ...: System error." (a RuntimeError); torch.save "basic_ios::clear"
        "o.wav": lambda p: save_wav(np.zeros(800, np.float32), 8000, p),
        "o.ckpt": lambda p: save_checkpoint({"x": x}, p),
        "o.npy": lambda p: save_volume(np.zeros((4, 4, 4), np.float32), p),
        "o.csv": lambda p: save_signal(x[:, :, 0], p),
        "o.json": lambda p: write_json({"a": 1}, p),
        "spec.png": lambda p: save_spectrogram_png(torch.rand(1, 8, 8), 8000, 64, p),
        "frames/frame_00000.npy": lambda p: FrameStore(p.parent, {"a": 1}).save(0, x),
    }


@pytest.mark.parametrize("name", ["o.png", "o.jpg", "o.wav", "o.ckpt", "o.npy", "o.csv", "o.json", "spec.png",
                                  "frames/frame_00000.npy"])
def test_every_output_on_a_full_disk_is_one_line_and_replaces_nothing(tmp_path, monkeypatch, name):
    import stat

    from stylegram.errors import ResourceError
    write = _writers()[name]
    p = tmp_path / name
    p.parent.mkdir(exist_ok=True)
    write(p)  # a previous output, and the settings of the frame folder
    before = {q: q.read_bytes() for q in tmp_path.rglob("*")if q.is_file()}
    _full_disk(monkeypatch)
    with pytest.raises(ResourceError) as e:
        write(p)
    assert str(e.value) == f"{p}: could not be written: no space left on device; free some space or choose another folder"
    assert {q: q.read_bytes() for q in tmp_path.rglob("*") if q.is_file()} == before
    assert not [q for q in tmp_path.rglob("*") if q.is_symlink()]
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_nifti_cut_short_leaves_no_half_file(tmp_path, monkeypatch):
    # nibabel writes NIfTI under a name of its own beside the temporary file (it picks gzip from the
    # name); a write that failed there left that half file behind
    import errno

    import nibabel as nib

    from stylegram.errors import ResourceError
    from stylegram.io.volume import save_volume

    def half(img, name):
        with open(name, "wb") as f:
            f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(nib, "save", half)
    for name in ("o.nii.gz", "o.nii"):
        with pytest.raises(ResourceError, match=rf"{name}: could not be written: no space left on device; free "):
            save_volume(np.zeros((4, 4, 4), np.float32), tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_cli_on_a_full_disk_says_one_line_and_exits_2(tmp_path, monkeypatch):
    import contextlib
    import io
    import wave

    from stylegram.cli import main
    with wave.open(str(tmp_path / "style.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes((np.random.default_rng(0).standard_normal(4000) * 3000).astype("<i2").tobytes())
    runs = {"o.wav": ["audio-texture", str(tmp_path / "style.wav"), "--seconds", "0.25", "--rate", "8000",
                      "--filters", "8", "--iters", "1"],
            "o.png": ["texture", str(tmp_path / "style.png"), "--size", "32", "--iters", "1", "--net", "random"]}
    save_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), tmp_path / "style.png")
    _full_disk(monkeypatch)
    for out, args in runs.items():
        err = io.StringIO()
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
            main([*args, "-o", str(tmp_path / out), "-q"])
        assert e.value.code == 2 and err.getvalue() == (
            f"stylegram: error: {tmp_path / out}: could not be written: no space left on device; free some space or "
            "choose another folder\n"), out
    assert sorted(os.listdir(tmp_path)) == ["style.png", "style.wav"]


def test_a_folder_that_refuses_the_file_is_one_line_and_leaves_nothing(tmp_path):
    # EACCES, EPERM and EROFS came out as the raw PermissionError / OSError: a traceback on the
    # CLI (only save_image said something, "could not write the image (Permission denied)")
    import errno

    from stylegram.errors import NotWritableError
    p = tmp_path / "o.npy"
    p.write_bytes(b"previous")
    for code, what in ((errno.EACCES, "permission denied"), (errno.EPERM, "operation not permitted"),
                       (errno.EROFS, "read-only file system")):
        for name in (None, "tmp"):  # an error naming no file (a library's), or the temporary file
            def fail(tmp):
                tmp.write_bytes(b"half")
                raise OSError(code, os.strerror(code), *([str(tmp)] if name else []))

            with pytest.raises(InputError) as e:
                write_atomic(p, fail)
            assert str(e.value) == f"{p}: cannot write here ({what}); choose another folder"
            assert isinstance(e.value, (NotWritableError, OSError)) and e.value.errno == code
            assert p.read_bytes() == b"previous" and os.listdir(tmp_path) == ["o.npy"]
    # a writer's error about some other file (a font, a library's own cache) is not the output's
    for err in (PermissionError(errno.EACCES, "Permission denied", "/etc/elsewhere/font.ttf"),
                FileNotFoundError(errno.ENOENT, "No such file or directory", str(tmp_path / "gone.wav"))):
        with pytest.raises(type(err)) as e:
            write_atomic(p, lambda tmp: (_ for _ in ()).throw(err))
        assert e.value is err
    assert p.read_bytes() == b"previous" and os.listdir(tmp_path) == ["o.npy"]


def _deny(monkeypatch, folder, code=None):
    """From now on no file or folder can be made in ``folder``: os.open with O_CREAT and os.mkdir
    there raise PermissionError (EACCES; or OSError ``code``), as in a folder without write
    permission or on a read-only file system. The tests may run as root, whom chmod does not stop."""
    import errno
    code = errno.EACCES if code is None else code
    where = os.path.abspath(folder)
    real_open, real_mkdir = os.open, os.mkdir

    def refuse(path):
        if os.path.dirname(os.path.abspath(path)) == where:
            raise OSError(code, os.strerror(code), os.fspath(path))  # PermissionError for EACCES

    def open_(path, flags, mode=0o777, *, dir_fd=None):
        if flags & os.O_CREAT:
            refuse(path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def mkdir_(path, mode=0o777, *, dir_fd=None):
        refuse(path)
        return real_mkdir(path, mode, dir_fd=dir_fd)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir_)


def _more_writers():
    """_writers() and the outputs written by the explorer, plots and NIfTI."""
    from stylegram.explore.render import _save_image
    from stylegram.io.signal import plot_signals
    from stylegram.io.volume import save_volume
    from stylegram.report import plot_history
    x = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return {**_writers(),
            "o.nii.gz": lambda p: save_volume(np.zeros((4, 4, 4), np.float32), p),
            "loss.png": lambda p: plot_history([{"iter": 1, "total": 1.0}, {"iter": 2, "total": 0.5}], p, terms=["total"]),
            "sig.png": lambda p: plot_signals({"a": torch.zeros(1, 1, 16)}, p),
            # the explorer's sheet, and its unit images, written without the fsync
            "sheet.png": lambda p: _save_image(x, p), "u0000.jpg": lambda p: _save_image(x, p, durable=False)}


_WRITERS = ["o.png", "o.jpg", "o.wav", "o.ckpt", "o.npy", "o.csv", "o.json", "spec.png", "frames/frame_00000.npy",
            "o.nii.gz", "loss.png", "sig.png", "sheet.png", "u0000.jpg"]


def test_explorer_unit_images_on_a_full_disk_are_one_line_and_leave_no_part_file(tmp_path, monkeypatch):
    # the report's unit images (written without the fsync) went around write_atomic: a full disk
    # left .u0000.jpg.part beside them and raised the raw OSError
    import errno

    from stylegram.errors import NoSpaceError
    from stylegram.explore.render import _save_image

    def half(self, fp, format=None, **kw):
        with open(fp, "wb") as f:
            f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", half)
    for durable in (False, True):
        with pytest.raises(NoSpaceError) as e:
            _save_image(np.zeros((8, 8, 3), np.uint8), tmp_path / "u0000.jpg", durable=durable)
        assert str(e.value) == (f"{tmp_path / 'u0000.jpg'}: could not be written: no space left on device; free some "
                                "space or choose another folder")
        assert os.listdir(tmp_path) == []


def _files(root):
    return {q: q.read_bytes() for q in root.rglob("*") if q.is_file()}


@pytest.mark.parametrize("case", ["denied", "read-only", "a folder", "under a file", "no folder"])
@pytest.mark.parametrize("name", _WRITERS)
def test_every_output_where_it_cannot_be_written_is_one_line_and_replaces_nothing(tmp_path, monkeypatch, name, case):
    # Each writer's failure came out as its library's: a PermissionError or IsADirectoryError
    # traceback, soundfile's "Error opening ...: System error.", the video frames' FileExistsError
    import errno

    from stylegram.errors import NotWritableError
    write = _more_writers()[name]
    frames = name.startswith("frames/")  # FrameStore(OUT.frames): its folder is made on the way
    if case in ("denied", "read-only", "a folder"):
        p = tmp_path / name
        p.parent.mkdir(exist_ok=True)
        write(p)  # a previous output (and the settings of the frame folder)
        if case == "a folder":  # the target is a folder: rename refuses it (EISDIR)
            p.unlink()
            p.mkdir()
            (p / "inside.txt").write_text("kept")
        before = _files(tmp_path)
        if case != "a folder":
            _deny(monkeypatch, p.parent, errno.EROFS if case == "read-only" else errno.EACCES)
        want = {"denied": f"{p}: cannot write here (permission denied); choose another folder",
                "read-only": f"{p}: cannot write here (read-only file system); choose another folder",
                "a folder": f"{p}: is a folder; give a file name"}[case]
    else:
        if case == "under a file":
            (tmp_path / "afile").write_text("kept")
        p = tmp_path / "afile" / name
        before = _files(tmp_path)
        who = p.parent if frames else p  # the frame folder cannot be made
        want = (f"{who}: {tmp_path / 'afile'} is a file, not a folder; choose another folder" if case == "under a file"
                else f"{who}: folder {who.parent} does not exist; create it first")
    with pytest.raises(NotWritableError) as e:
        write(p)
    assert str(e.value) == want
    # an InputError as save_image's was, and an OSError as the library's was (the studio catches those)
    assert isinstance(e.value, InputError) and isinstance(e.value, OSError)
    if case in ("denied", "read-only", "a folder"):
        assert e.value.errno == {"denied": errno.EACCES, "read-only": errno.EROFS, "a folder": errno.EISDIR}[case]
    monkeypatch.undo()
    assert _files(tmp_path) == before  # an earlier file untouched, no partial or temporary file
    assert not (tmp_path / "afile").is_dir()  # no folder made on the way


def test_output_checks_try_the_folder_before_the_work(tmp_path, monkeypatch):
    # check_output_path refused a missing folder and a folder, but not one where no file can be
    # made, and took a file above it for a missing folder
    from stylegram.errors import NotWritableError
    from stylegram.io.image import check_writable, make_folder
    (tmp_path / "afile").write_text("kept")
    with pytest.raises(ConfigError) as e:
        check_output_path(tmp_path / "afile" / "o.png")
    assert str(e.value) == f"{tmp_path / 'afile' / 'o.png'}: {tmp_path / 'afile'} is a file, not a folder; choose another folder"
    with pytest.raises(ConfigError) as e:
        check_output_path(tmp_path / "afile" / "deeper" / "o.png")
    assert str(e.value).endswith(f": {tmp_path / 'afile'} is a file, not a folder; choose another folder")
    assert check_output_path(tmp_path / "o.png") == tmp_path / "o.png"
    assert os.listdir(tmp_path) == ["afile"]  # the trial file is gone
    ro = tmp_path / "ro"
    ro.mkdir()
    _deny(monkeypatch, ro)
    with pytest.raises(NotWritableError) as e:
        check_output_path(ro / "o.png")
    assert str(e.value) == f"{ro / 'o.png'}: cannot write here (permission denied); choose another folder"
    with pytest.raises(NotWritableError) as e:
        check_writable(ro / "scan.safetensors")
    assert str(e.value) == f"{ro / 'scan.safetensors'}: cannot write here (permission denied); choose another folder"
    # an output folder the API makes later (explore_units, after its scan): tried where it will be made
    with pytest.raises(NotWritableError) as e:
        check_writable(ro / "a" / "units", folder=True, parents=True)
    assert str(e.value) == f"{ro / 'a' / 'units'}: cannot write here (permission denied); choose another folder"
    # an output folder: made (its parent is not), and tried
    with pytest.raises(NotWritableError) as e:
        make_folder(ro / "units")
    assert str(e.value) == f"{ro / 'units'}: cannot write here (permission denied); choose another folder"
    monkeypatch.undo()
    assert os.listdir(ro) == []
    (ro / "units").mkdir()
    _deny(monkeypatch, ro / "units")
    with pytest.raises(NotWritableError) as e:  # it is there, but takes no file
        make_folder(ro / "units")
    assert str(e.value) == f"{ro / 'units'}: cannot write here (permission denied); choose another folder"
    monkeypatch.undo()
    for bad, want in ((tmp_path / "afile", "exists and is not a folder; give a folder for the output"),
                      (tmp_path / "afile" / "u", f"{tmp_path / 'afile'} is a file, not a folder; choose another folder"),
                      (tmp_path / "no" / "u", f"folder {tmp_path / 'no'} does not exist; create it first")):
        with pytest.raises(NotWritableError) as e:
            make_folder(bad)
        assert str(e.value) == f"{bad}: {want}"
    assert check_writable(ro / "a" / "b", folder=True, parents=True) == ro / "a" / "b" and os.listdir(ro) == ["units"]
    assert make_folder(ro / "units") == ro / "units" and os.listdir(ro / "units") == []
    assert make_folder(tmp_path / "a" / "b", parents=True).is_dir()  # the API's explore_units makes them
    # a folder that cannot even be searched (mode 000 for someone else): Path.exists raised PermissionError
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat = os.stat

    def stat_(path, *a, **k):
        if os.path.dirname(os.path.abspath(path)) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *a, **k)
    monkeypatch.setattr(os, "stat", stat_)
    _deny(monkeypatch, locked)
    with pytest.raises(NotWritableError) as e:
        check_output_path(locked / "o.png", [tmp_path / "in.png"])
    assert str(e.value) == f"{locked / 'o.png'}: cannot write here (permission denied); choose another folder"


def _cli(args):
    """(exit code, stderr) of the stylegram command."""
    import contextlib
    import io

    from stylegram.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        main([*args, "-q"])
    return e.value.code, err.getvalue()


def test_cli_refuses_an_output_it_cannot_write_before_the_work(tmp_path, monkeypatch):
    # a transfer into a read-only folder ran to its end, then said "could not write the image
    # (Permission denied)"; audio-texture ended in a traceback; explore units scanned every image,
    # then lost the scan to a PermissionError for its cache; video's OUT.frames a file: FileExistsError
    import importlib
    import wave

    def never(*a, **k):
        raise AssertionError("the work started")
    # (stylegram.transfer, as an attribute, is the function: the module is taken by its name)
    for mod, fn in (("stylegram.transfer", "transfer"), ("stylegram.media", "audio_texture"),
                    ("stylegram.explore.scan", "UnitScan")):
        monkeypatch.setattr(importlib.import_module(mod), fn, never)
    img = tmp_path / "in" / "s.png"
    img.parent.mkdir()
    save_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), img)
    with wave.open(str(tmp_path / "in" / "s.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes((np.random.default_rng(0).standard_normal(4000) * 3000).astype("<i2").tobytes())
    ro, afile = tmp_path / "ro", tmp_path / "afile"
    ro.mkdir()
    afile.write_text("kept")
    denied = "cannot write here (permission denied); choose another folder"
    runs = [(["transfer", str(img), str(img), "-o", str(ro / "o.png"), "--net", "random"], f"{ro / 'o.png'}: {denied}"),
            (["transfer", str(img), str(img), "-o", str(tmp_path / "o.png"), "--report", str(ro / "r.json"),
              "--net", "random"], f"{ro / 'r.json'}: {denied}"),
            (["transfer", str(img), str(img), "-o", str(afile / "o.png"), "--net", "random"],
             f"{afile / 'o.png'}: {afile} is a file, not a folder; choose another folder"),
            (["audio-texture", str(tmp_path / "in" / "s.wav"), "-o", str(ro / "o.wav"), "--rate", "8000"],
             f"{ro / 'o.wav'}: {denied}"),
            (["explore", "units", "--images", str(img.parent), "--net", "random", "-o", str(tmp_path / "units"),
              "--cache", str(ro / "scan.safetensors")], f"{ro / 'scan.safetensors'}: {denied}"),
            (["explore", "units", "--images", str(img.parent), "--net", "random", "-o", str(ro / "units")],
             f"{ro / 'units'}: {denied}"),
            (["explore", "gram", str(img), "--net", "random", "-o", str(afile)],
             f"{afile}: exists and is not a folder; give a folder for the output")]
    _deny(monkeypatch, ro)
    for args, want in runs:
        assert _cli(args) == (2, f"stylegram: error: {want}\n"), args
    monkeypatch.undo()
    assert os.listdir(ro) == [] and afile.read_text() == "kept"


def test_video_frames_folder_that_is_a_file_is_one_line(tmp_path):
    # `OUT.frames` a file: FileExistsError from its mkdir, a traceback, once the clip was read
    from stylegram.io.video import FrameStore
    (tmp_path / "o.frames").write_text("kept")
    from stylegram.errors import NotWritableError
    with pytest.raises(NotWritableError) as e:
        FrameStore(tmp_path / "o.frames", {"a": 1})
    assert str(e.value) == f"{tmp_path / 'o.frames'}: exists and is not a folder; give a folder for the output"
    assert (tmp_path / "o.frames").read_text() == "kept"


def test_output_path_checks(tmp_path):
    src = tmp_path / "in.png"
    Image.new("RGB", (4, 4)).save(src)
    with pytest.raises(ConfigError, match="also an input"):
        check_output_path(src, [src])
    with pytest.raises(ConfigError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "o.png")
    with pytest.raises(ConfigError, match="unknown output type"):
        check_output_path(tmp_path / "o.gifx")
    assert check_output_path(tmp_path / "o.png", [src]) == tmp_path / "o.png"
    with pytest.raises(ConfigError, match=r"o.png: output path is also another output; choose another name$"):
        check_output_path(tmp_path / "o.png", [src], outputs=[tmp_path / "o.png"])  # --plot o.png -o o.png
    with pytest.raises(ConfigError, match=r"^the output path is empty; give a file name, e.g. out.png$"):
        check_output_path("", [src])


def test_max_pixels_is_the_limit_below_pillows_hard_one(tmp_path):
    # A PNG header claiming 95 Mpx: Pillow only warns (its hard error is at 179 Mpx), so with a
    # 300 Mpx limit the file is read, and refused only for what it is (no pixel data). The
    # warning used to be turned into "decompression bomb (limit 300 Mpx)".
    import struct, zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path = tmp_path / "big.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10000, 9500, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(path, max_pixels=300_000_000)
    with pytest.raises(InputError, match=r"10000 x 9500 px \(95 Mpx\), above the limit of 90 Mpx"):
        load_image(path, max_pixels=90_000_000)
