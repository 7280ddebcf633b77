"""Print sizes: --print LENGTH|A0..A6 and --dpi to pixels, the output's resolution, the one-line
errors, and the memory estimate and refusal before a print-size run."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

import stylegram
from stylegram.errors import ConfigError
from stylegram.printsize import check_dpi, describe, parse_print, print_size_px

TINY = dict(net="random-tiny", iters=1, device="cpu", preset="classic")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "stylegram", *map(str, args)], capture_output=True, text=True)


# Hand-computed: px = round(mm / 25.4 * dpi); A sizes by their longest side (ISO 216).
@pytest.mark.parametrize("size,dpi,px", [
    ("1in", 40, 40),          # 1 x 40
    ("2in", 40, 80),
    ("12in", 300, 3600),      # 12 x 300
    ("0.5in", 300, 150),
    ("2.54cm", 100, 100),     # exactly one inch
    ("30cm", 300, 3543),      # 300 / 25.4 * 300 = 3543.3
    ("300mm", 300, 3543),
    ("10mm", 254, 100),       # 10 / 25.4 * 254 = 100
    ("A3", 300, 4961),        # 420 mm: 4960.6
    ("a4", 300, 3508),        # 297 mm: 3507.9
    ("A4", 150, 1754),        # 1753.9
    ("A0", 300, 14043),       # 1189 mm: 14043.3
    ("A6", 72, 420),          # 148 mm: 419.5 -> 420 (half up)
    (" 12 IN ", 300, 3600),   # spaces and case
])
def test_print_size_to_px(size, dpi, px):
    assert print_size_px(size, dpi) == px


def test_print_size_canonical_forms_and_description():
    assert parse_print("30 CM") == ("30cm", 300.0)
    assert parse_print("a3") == ("A3", 420.0)
    assert describe("30cm", 300) == "30 cm at 300 dpi = 3543 px"
    assert describe("A3", 300) == "A3 (42 cm) at 300 dpi = 4961 px"
    assert print_size_px("30cm") == 3543  # 300 dpi by default


PARSE_ERRORS = [
    ("30ft", "print size '30ft': unknown unit 'ft'; give a length in mm, cm or in (e.g. 30cm) or a paper size "
             "A0, A1, A2, A3, A4, A5, A6"),
    ("30", "print size '30': no unit; give a length in mm, cm or in (e.g. 30cm) or a paper size A0, A1, A2, A3, A4, A5, A6"),
    ("B5", "print size 'B5': unknown paper size; give a length in mm, cm or in (e.g. 30cm) or a paper size "
           "A0, A1, A2, A3, A4, A5, A6"),
    ("0cm", "print size '0cm': must be above 0"),
    ("-3cm", "print size '-3cm': must be above 0"),
    ("nancm", "print size 'nancm': must be a finite length, e.g. 30cm"),
    ("infin", "print size 'infin': must be a finite length, e.g. 30cm"),
    ("30x40cm", "print size '30x40cm': give the longest side only, e.g. 40cm; the photo's aspect ratio gives the other side"),
    ("cm", "print size 'cm': no number; write e.g. 30cm or 12.5in"),
]


@pytest.mark.parametrize("text,message", PARSE_ERRORS)
def test_print_size_errors(text, message):
    with pytest.raises(ConfigError) as e:
        print_size_px(text, 300)
    assert str(e.value) == message


DPI_LOW = ("dpi 5: below 10 dots per inch a print is a mosaic of visible squares; give 10 to 2400 "
           "(300 is photo print quality)")
DPI_HIGH = ("dpi 5000: above 2400 dots per inch no printer or eye resolves more detail and the pixel count "
            "explodes; give 10 to 2400 (300 is photo print quality)")


def test_dpi_bounds_say_why():
    assert check_dpi(10) == 10 and check_dpi(2400) == 2400 and check_dpi(300.0) == 300
    for dpi, message in ((5, DPI_LOW), (5000, DPI_HIGH),
                         (0, DPI_LOW.replace("dpi 5:", "dpi 0:")), (-300, DPI_LOW.replace("dpi 5:", "dpi -300:")),
                         (float("nan"), "dpi nan: must be a whole number of dots per inch, 10 to 2400"),
                         (True, "dpi True: must be a whole number of dots per inch, 10 to 2400")):
        with pytest.raises(ConfigError) as e:
            check_dpi(dpi)
        assert str(e.value) == message


def test_config_sets_size_from_print_and_dpi():
    cfg = stylegram.TransferConfig(print_size="a3").validated()
    assert (cfg.size, cfg.print_size, cfg.dpi) == (4961, "A3", 300)
    assert stylegram.TransferConfig(print_size="1in", dpi=40).validated().size == 40
    plain = stylegram.TransferConfig(dpi=240).validated()  # dpi alone: only the file's resolution
    assert (plain.size, plain.print_size, plain.dpi) == (512, None, 240)
    assert stylegram.TransferConfig().validated().dpi is None
    with pytest.raises(ConfigError, match=r"^1 mm at 10 dpi = 0 px, below 16 px; give a larger --print or a higher --dpi$"):
        stylegram.TransferConfig(print_size="1mm", dpi=10).validated()


BOTH = ("size and print_size given together (--size and --print): give one; --print sets the longest side from a "
        "length and --dpi, as --size does in px")


def test_api_refuses_size_and_print_size_together(pair):
    with pytest.raises(ConfigError) as e:
        stylegram.transfer(*pair, size=64, print_size="1in", **TINY)
    assert str(e.value) == BOTH
    with pytest.raises(ConfigError) as e:
        stylegram.texture(pair[1], size=64, print_size="1in", **TINY)
    assert str(e.value) == BOTH


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp"])
def test_written_file_carries_the_dpi(tmp_path, suffix):
    import torch
    from stylegram.io.image import save_image
    out = tmp_path / f"o{suffix}"
    save_image(torch.rand(1, 3, 8, 10), out, metadata={"x": 1}, dpi=240)
    with Image.open(out) as im:
        if suffix == ".webp":  # Pillow reads no dpi from a WebP: its EXIF holds it
            exif = im.getexif()
            assert (exif[0x011A], exif[0x011B], exif[0x0128]) == (240, 240, 2)
        else:
            assert im.info["dpi"] == pytest.approx((240, 240), abs=0.02)  # PNG: pixels per metre


def test_texture_api_print_size_to_file(tmp_path, pair):
    res = stylegram.texture(pair[1], print_size="1in", dpi=40, **{**TINY, "preset": "balanced"})
    assert tuple(res.image.shape[-2:]) == (40, 40)  # 1 in at 40 dpi
    res.save(tmp_path / "t.jpg")
    with Image.open(tmp_path / "t.jpg") as im:
        assert im.info["dpi"] == (40, 40) and im.size == (40, 40)
    assert res.report()["print"] == {"dpi": 40, "width_cm": 2.54, "height_cm": 2.54, "print_size": "1in"}


def test_cli_print_run_reports_size_and_writes_dpi(tmp_path, pair):
    out, rep = tmp_path / "o.png", tmp_path / "r.json"
    p = run_cli("transfer", *pair, "-o", out, "--print", "2in", "--dpi", 40, "--net", "random-tiny", "--iters", 1,
                "--preset", "classic", "--report", rep)
    assert p.returncode == 0, p.stderr
    first = p.stderr.splitlines()[0]
    # 2 in at 40 dpi, the 48 x 64 photo's shape; the estimate of the engine's planning
    assert first.startswith("print: 2 in at 40 dpi = 80 px (80 x 60 px); memory: about 0.20 GiB in one pass, within the ")
    assert "(80 x 60 px, 5.08 x 3.81 cm at 40 dpi, " in p.stderr.splitlines()[-1]
    with Image.open(out) as im:
        assert im.size == (80, 60) and im.info["dpi"] == pytest.approx((40, 40), abs=0.02)
        meta = json.loads(im.info["stylegram"])
    assert meta["print"] == {"dpi": 40, "width_cm": 5.08, "height_cm": 3.81, "print_size": "2in"}
    assert (meta["params"]["print_size"], meta["params"]["dpi"], meta["params"]["size"]) == ("2in", 40, 80)
    assert json.loads(rep.read_text())["print"] == meta["print"]
    # --settings repeats the print; a --dpi typed beside it changes the size; a --size replaces the print
    again = tmp_path / "again.tif"
    p = run_cli("transfer", *pair, "-o", again, "--settings", out, "--dpi", 50, "-q")
    assert p.returncode == 0, p.stderr
    with Image.open(again) as im:
        assert im.size == (100, 75) and im.info["dpi"] == (50, 50)  # 2 in at 50 dpi
    sized = tmp_path / "sized.jpg"
    p = run_cli("transfer", *pair, "-o", sized, "--settings", out, "--size", 64, "-q")
    assert p.returncode == 0, p.stderr
    with Image.open(sized) as im:  # the size typed wins; the dpi stays a tag
        assert im.size == (64, 48) and im.info["dpi"] == (40, 40)


def test_cli_dpi_alone_tags_and_default_writes_none(tmp_path, pair):
    tagged, plain = tmp_path / "t.png", tmp_path / "p.png"
    for out, extra in ((tagged, ["--dpi", 240]), (plain, [])):
        p = run_cli("transfer", *pair, "-o", out, "--size", 48, "--net", "random-tiny", "--iters", 1, "--preset",
                    "classic", "-q", *extra)
        assert p.returncode == 0, p.stderr
    with Image.open(tagged) as a, Image.open(plain) as b:
        assert a.size == b.size == (48, 36) and a.info["dpi"] == pytest.approx((240, 240), abs=0.02)
        assert "dpi" not in b.info and "print" not in json.loads(b.info["stylegram"])
        assert a.tobytes() == b.tobytes()  # the tag changes no pixel


@pytest.mark.parametrize("args,message", [
    (["--print", "30ft"], PARSE_ERRORS[0][1]),
    (["--print=-3cm"], "print size '-3cm': must be above 0"),
    (["--print", "0in"], "print size '0in': must be above 0"),
    (["--print", "nancm"], "print size 'nancm': must be a finite length, e.g. 30cm"),
    (["--print", "1in", "--dpi", 5], DPI_LOW),
    (["--print", "1in", "--dpi", 5000], DPI_HIGH),
    (["--dpi", 0], DPI_LOW.replace("dpi 5:", "dpi 0:")),
    (["--print", "1in", "--size", 64], BOTH),
])
def test_cli_print_errors_one_line_exit_2(tmp_path, pair, args, message):
    p = run_cli("transfer", *pair, "-o", tmp_path / "o.png", "--net", "random-tiny", *args)
    assert p.returncode == 2 and p.stderr == f"stylegram: error: {message}\n"
    assert not (tmp_path / "o.png").exists()


def test_cli_texture_print_errors(tmp_path, pair):
    p = run_cli("texture", pair[1], "-o", tmp_path / "o.png", "--print", "A3", "--size", 64)
    assert p.returncode == 2 and p.stderr == f"stylegram: error: {BOTH}\n"


def test_cli_refusal_names_the_estimate_and_a_dpi_that_fits(tmp_path, pair):
    # A3 at 300 dpi cannot fit 0.3 GiB even in tiles: refused before the run by the engine's estimate,
    # in one line that says what the print asks for and the largest dpi that fits
    p = run_cli("transfer", *pair, "-o", tmp_path / "o.png", "--print", "A3", "--max-memory", 0.3,
                "--net", "random-tiny", "--iters", 1)
    assert p.returncode == 2
    assert p.stderr == ("stylegram: error: A3 (42 cm) at 300 dpi = 4961 px: a 4961 x 3721 px transfer (even in tiles) "
                        "needs about 15.2 GiB but --max-memory allows 0.3 GiB; use --dpi 16 or less (A3 (42 cm) at "
                        "16 dpi = 265 px), or raise --max-memory\n")


def test_estimate_memory_is_the_runs_planning(pair):
    from stylegram.errors import ResourceError
    from stylegram.transfer import TransferConfig, estimate_memory
    cfg = TransferConfig(net="random-tiny", print_size="2in", dpi=40)
    est = estimate_memory(pair[0], pair[1], config=cfg)
    assert est.shape == (60, 80) and est.tile is None and est.one_pass_bytes > 0
    big = estimate_memory(pair[0], pair[1], config=TransferConfig(net="random-tiny", print_size="A3", max_memory=6.0))
    assert big.shape == (3721, 4961) and big.tile is not None and big.one_pass_bytes > big.budget_bytes
    assert big.summary().startswith("about 15.") and big.summary().endswith(f" GiB budget: in tiles of {big.tile} px")
    with pytest.raises(ResourceError, match=r"use --dpi 16 or less"):
        estimate_memory(pair[0], pair[1], config=TransferConfig(net="random-tiny", print_size="A3", max_memory=0.3))


def test_cli_texture_print_size(tmp_path, pair):
    out = tmp_path / "t.tif"
    p = run_cli("texture", pair[1], "-o", out, "--print", "1in", "--dpi", 40, "--net", "random-tiny", "--iters", 1)
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("print: 1 in at 40 dpi = 40 px (40 x 40 px); memory: about ")
    assert "(40 x 40 px, 2.54 x 2.54 cm at 40 dpi, " in p.stderr.splitlines()[-1]
    with Image.open(out) as im:
        assert im.size == (40, 40) and im.info["dpi"] == (40, 40)


def test_too_small_for_the_net_names_print_not_size(tmp_path, pair):
    """A print too small for the net's deepest layer says --print/--dpi, as typed, not --size."""
    from stylegram.errors import InputError
    with pytest.raises(InputError) as texture_err:
        stylegram.texture(pair[1], print_size="1in", dpi=20, net="random-tiny", iters=1, device="cpu")
    wide = tmp_path / "wide.png"
    Image.new("RGB", (800, 20), (100, 50, 20)).save(wide)
    with pytest.raises(InputError) as transfer_err:
        stylegram.transfer(str(wide), pair[1], print_size="10cm", dpi=100, **TINY)
    for err in (texture_err, transfer_err):
        msg = str(err.value)
        assert "--print" in msg and "--dpi" in msg and "--size" not in msg, msg


def test_summary_line_gives_the_reports_cm():
    """The 'wrote' line's cm are the report's (2 decimals) at any size: A0 at 300 dpi is 118.9 cm, not '119'."""
    from types import SimpleNamespace
    import torch
    from stylegram.cli import printed
    a0 = SimpleNamespace(config=SimpleNamespace(dpi=300), image=torch.zeros(1, 3, 9933, 14043, dtype=torch.uint8))
    assert printed(a0) == "14043 x 9933 px, 118.9 x 84.1 cm at 300 dpi, "


def test_hint_for_a_print_too_large_at_any_dpi_is_a_length():
    """A print that fits at no dpi of 10 or more is told a --print length that fits (floored to the
    mm, so that it does), not a px count the artist cannot type as a print size."""
    from stylegram.printsize import print_size_px
    from stylegram.transfer import TransferConfig, size_hint
    hint = size_hint(TransferConfig(print_size="100000cm", dpi=300), 8128)
    assert hint == "use --print 68.8cm or less at --dpi 300"
    assert print_size_px("68.8cm", 300) <= 8128


@pytest.mark.parametrize("command,extra", [
    ("transfer", ["--preset", "classic"]),  # the single-level engine
    ("transfer", ["--refine", 1]),  # the pyramid's (balanced, with a --refine level)
    ("texture", []),
])
def test_a_print_run_builds_its_net_once(tmp_path, pair, monkeypatch, capsys, command, extra):
    # The line before a print run gives the engine's memory estimate; it came from estimate_memory,
    # which built the net and read the inputs, and then the run built it again (0.4 to 1.6 s for
    # the default net on two cores). Now the run gives the line its own estimate: one build.
    import importlib
    from stylegram.cli import main as cli_main, print_line
    from stylegram.transfer import TransferConfig, estimate_memory
    engine = importlib.import_module("stylegram.transfer")
    built = []

    def counting(name, **kwargs):
        built.append(name)
        return real(name, **kwargs)
    real = engine.build_net
    monkeypatch.setattr(engine, "build_net", counting)
    inputs = [pair[1]] if command == "texture" else list(pair)
    with pytest.raises(SystemExit) as e:
        cli_main([command, *map(str, inputs), "-o", str(tmp_path / "o.png"), "--print", "2in", "--dpi", "40",
                  "--net", "random-tiny", "--iters", "1", "--max-memory", "1", *map(str, extra)])
    assert e.value.code == 0
    assert built == ["random-tiny"]
    first = capsys.readouterr().err.splitlines()[0]
    # the figures estimate_memory gives for the same run
    options = dict(print_size="2in", dpi=40, net="random-tiny", iters=1, max_memory=1.0)
    if command == "texture":
        from stylegram.presets import TEXTURE_DEFAULTS
        est = estimate_memory(None, pair[1], config=TransferConfig(**{**TEXTURE_DEFAULTS, **options}), texture=True)
    else:
        from stylegram.presets import preset_config
        preset = extra[1] if extra[0] == "--preset" else "balanced"
        est = estimate_memory(*pair, config=preset_config(preset, **options, **({} if preset == "classic" else
                                                                                   {"refine": 1})))
    assert first == print_line("2in", 40, est)
    assert first.startswith(f"print: 2 in at 40 dpi = 80 px ({'80 x 80' if command == 'texture' else '80 x 60'} px); "
                            "memory: about 0.") and first.endswith(" GiB in one pass, within the 1.0 GiB budget")
