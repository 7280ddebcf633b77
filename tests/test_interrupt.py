"""Interruptions lose nothing: SIGINT/SIGTERM save the image so far and a checkpoint that resumes to
the same result; kill -9 never leaves a half-written output."""
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

import stylegram

ARGS = ["--net", "random-tiny", "--size", "48", "--iters", "40", "--device", "cpu", "--seed", "3", "-q"]


def cli(*args):
    return [sys.executable, "-m", "stylegram", *map(str, args)]


def wait_for(path, proc, timeout=120.0):
    t0 = time.time()
    try:
        while not path.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "process ended early"
            assert time.time() - t0 < timeout, f"{path} never appeared"
            time.sleep(0.05)
    except AssertionError:
        proc.kill()  # a failed wait must not leave the run going: it slowed every later test
        raise


def pixels(p):
    return np.asarray(Image.open(p).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_and_resume_matches_uninterrupted(pair, tmp_path, sig):
    full = tmp_path / "full.png"
    assert subprocess.run(cli("transfer", *pair, "-o", full, *ARGS), capture_output=True).returncode == 0

    out = tmp_path / "o.png"
    proc = subprocess.Popen(cli("transfer", *pair, "-o", out, *ARGS, "--save-every", 5),
                            stderr=subprocess.PIPE, text=True)
    wait_for(tmp_path / "o.L1.iter0010.png", proc)  # level 1 of 2 (then the refine pass)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    ckpt, partial = tmp_path / "o.png.ckpt", tmp_path / "o.partial.png"
    # the image so far goes beside the output, never over it
    assert partial.exists() and ckpt.exists() and not out.exists() and "--resume" in err
    where = err.split("stopped at iteration ")[1].split(":")[0]  # "12 of level 1/2": then the refine pass
    stopped_at = int(where.split()[0])
    assert 10 <= stopped_at < 40 and where.endswith(" of level 1/2"), where

    p = subprocess.run(cli("transfer", *pair, "-o", out, *ARGS, "--resume", ckpt), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert np.abs(pixels(out) - pixels(full)).max() <= 2  # 8-bit rounding of a float-identical run
    assert not ckpt.exists() and not partial.exists()


def test_resume_refuses_changed_options(pair, tmp_path):
    res = stylegram.transfer(*pair, net="random-tiny", size=48, iters=3, device="cpu")
    ckpt = res.checkpoint()
    with pytest.raises(stylegram.ConfigError, match="option beta was"):
        stylegram.transfer(*pair, net="random-tiny", size=48, iters=6, device="cpu", beta=1.0, checkpoint=ckpt)
    # ... and other inputs: the checkpoint names its files by sha256 (the resumed picture would
    # otherwise be the old painting's, its metadata naming the new one)
    import hashlib
    other = tmp_path / "other.png"
    stylegram.save_image(torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1)), other)
    sha = [hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in (pair[1], other)]
    with pytest.raises(stylegram.ConfigError) as e:
        stylegram.transfer(pair[0], other, net="random-tiny", size=48, iters=6, device="cpu", checkpoint=ckpt)
    assert str(e.value) == (f"checkpoint: the style of the stopped run was s.png (sha256 {sha[0]}), now other.png "
                            f"(sha256 {sha[1]}); resume with the same inputs")
    with pytest.raises(stylegram.ConfigError, match="^checkpoint: the stopped run had 1 style image, this one 2; "):
        stylegram.transfer(pair[0], [pair[1], other], net="random-tiny", size=48, iters=6, device="cpu",
                           style_blend=[1, 1], checkpoint=ckpt)
    renamed = tmp_path / "same.png"  # the same bytes under another name resume
    renamed.write_bytes(pair[1].read_bytes())
    assert stylegram.transfer(pair[0], renamed, net="random-tiny", size=48, iters=6, device="cpu",
                              checkpoint=ckpt).stopped is None


def test_files_named_by_options_are_recorded_and_checked_on_resume(pair, tmp_path):
    # --mask, --init IMAGE, region masks and styles and --weights were recorded by path only: a
    # resume (or a rerun) silently took whatever file had that name now.
    import hashlib
    from PIL import Image
    mask = tmp_path / "keep.png"
    Image.new("L", (40, 40), 0).save(mask)
    kw = dict(net="random-tiny", size=48, iters=3, refine=0, pyramid_start=0, device="cpu", mask=str(mask))
    res = stylegram.transfer(*pair, **kw)
    sha = hashlib.sha256(mask.read_bytes()).hexdigest()
    assert res.report()["inputs"]["options"] == {"mask": {"file": "keep.png", "sha256": sha}}
    ckpt = res.checkpoint()
    Image.new("L", (40, 40), 255).save(mask)  # the same name, another mask
    new = hashlib.sha256(mask.read_bytes()).hexdigest()
    with pytest.raises(stylegram.ConfigError) as e:
        stylegram.transfer(*pair, **{**kw, "iters": 6}, checkpoint=ckpt)
    assert str(e.value) == (f"checkpoint: the mask of the stopped run was keep.png (sha256 {sha[:12]}), now "
                            f"keep.png (sha256 {new[:12]}); resume with the same inputs")


def test_resume_refuses_foreign_file(pair, tmp_path):
    bad = tmp_path / "x.ckpt"
    torch.save({"a": torch.zeros(1)}, bad)
    p = subprocess.run(cli("transfer", *pair, "-o", tmp_path / "o.png", *ARGS, "--resume", bad),
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.endswith(f"{bad}: not a stylegram transfer checkpoint; give the OUTPUT.ckpt "
                                                   "that a stopped run wrote (its stop message names it)\n")
    text = tmp_path / "notes.txt"  # not a checkpoint at all: its message was the reader's IndexError
    text.write_text("hello")
    p = subprocess.run(cli("transfer", *pair, "-o", tmp_path / "o.png", *ARGS, "--resume", text),
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.endswith(f"{text}: not a readable stylegram checkpoint; give the "
                                                   "OUTPUT.ckpt that a stopped run wrote (its stop message names it)\n")


def test_kill9_never_leaves_a_half_written_output(pair, tmp_path):
    out = tmp_path / "o.png"
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen(cli("transfer", *pair, "-o", out, *ARGS, "--save-every", 1), stderr=subprocess.DEVNULL)
        wait_for(tmp_path / "o.L1.iter0002.png", proc)
        time.sleep(float(rng.uniform(0, 0.5)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for f in tmp_path.iterdir():
            if f.name.startswith("o") and f.suffix == ".png":
                Image.open(f).load()  # every file that carries an output name is complete
        for f in tmp_path.glob("o.*iter*.png"):
            f.unlink()


def wait_for_handler(proc, signum=signal.SIGTERM, timeout=120.0):
    """Wait until the process catches ``signum`` (its handler is installed once the run starts):
    Linux's /proc/PID/status lists caught signals as a bit mask."""
    t0 = time.time()
    while True:
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() - t0 < timeout, "the run never installed its stop handler"
        try:
            for line in open(f"/proc/{proc.pid}/status"):
                if line.startswith("SigCgt:") and int(line.split()[1], 16) >> (signum - 1) & 1:
                    return
        except OSError:
            pass
        time.sleep(0.05)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("command", ["texture", "audio-texture", "signal-texture", "explore reconstruct"])
def test_signal_stops_media_and_texture_runs_with_the_result_so_far(command, tmp_path):
    if command in ("texture", "explore reconstruct"):
        src = tmp_path / "s.png"
        Image.fromarray((np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)).save(src)
        out, extra = tmp_path / "o.png", ["--size", "48", "--net", "random-tiny"]
        extra += ["--device", "cpu"] if command == "texture" else ["--blocks", "2"]
    elif command == "audio-texture":
        import soundfile as sf
        src = tmp_path / "s.wav"
        sf.write(str(src), (0.3 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 8000)
        out, extra = tmp_path / "o.wav", ["--seconds", "1", "--rate", "8000", "--filters", "16"]
    else:
        src = tmp_path / "s.npy"
        np.save(src, np.random.default_rng(0).standard_normal((2, 400)).astype(np.float32))
        out, extra = tmp_path / "o.npy", ["--filters", "16"]
    proc = subprocess.Popen(cli(*command.split(), src, "-o", out, "--iters", 100000, "-q", *extra),
                            stderr=subprocess.PIPE, text=True)
    wait_for_handler(proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    if command == "texture":  # beside the output, as a stopped transfer (test_stop_never_writes_over_the_output)
        partial = tmp_path / "o.partial.png"
        assert partial.exists() and not out.exists()
        # iteration 1, or a few more on a loaded machine (see test_stop_never_writes_over_the_output)
        assert re.fullmatch(rf"stylegram: stopped at iteration \d+: wrote the texture so far to {re.escape(str(partial))}\n",
                            err), err
    else:
        assert out.exists() and "stopped early: wrote the" in err


def test_ctrl_c_in_a_video_says_which_frames_are_kept(tmp_path):
    from stylegram.io.video import write_video
    g = torch.Generator().manual_seed(0)
    write_video([torch.rand(1, 3, 48, 64, generator=g) for _ in range(8)], tmp_path / "in.mp4", 8)
    Image.fromarray((np.random.default_rng(1).random((48, 48, 3)) * 255).astype(np.uint8)).save(tmp_path / "s.png")
    proc = subprocess.Popen(cli("video", tmp_path / "in.mp4", tmp_path / "s.png", "-o", tmp_path / "o.mp4", "--size",
                                64, "--net", "random", "--width", 0.125, "--iters", 400, "-q"),
                            stderr=subprocess.PIPE, text=True)
    wait_for(tmp_path / "o.frames" / "frame_00000.npy", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    kept = len(list((tmp_path / "o.frames").glob("frame_*.npy")))
    assert err.strip().splitlines()[-1] == (f"stylegram: stopped: {kept} finished frame{'s' * (kept != 1)} of 8 kept "
                                            f"in {tmp_path / 'o.frames'}; the same command continues")


def test_hostile_pickle_is_one_line_as_weights_and_as_checkpoint(pair, shared, tmp_path):
    # torch.load(weights_only=True) warns about the pickle protocol before it refuses; the user
    # must see only stylegram's verdict.
    evil = shared / "data" / "bad" / "evil_weights.pth"
    for extra in (["--net", "vgg16", "--weights", evil], [*ARGS, "--resume", evil]):
        p = subprocess.run(cli("transfer", *pair, "-o", tmp_path / "o.png", *extra), capture_output=True, text=True)
        assert p.returncode == 2, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert p.stderr.startswith(f"stylegram: error: {evil}: ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("command", ["transfer", "texture"])
def test_stop_never_writes_over_the_output(pair, tmp_path, command):
    # A stop wrote the image so far over OUT: a finished picture there became a small, rough one
    # of the first pyramid level. Now it goes to OUT-stem.partial.png, and the message says how small it is.
    out, partial, ckpt = tmp_path / "o.png", tmp_path / "o.partial.png", tmp_path / "o.png.ckpt"
    finished = np.full((96, 128, 3), 77, np.uint8)
    Image.fromarray(finished).save(out)
    before = out.read_bytes()
    if command == "transfer":  # levels 64, 91 and 128 px, then the refine pass
        args = ["transfer", *pair, "--size", 128, "--pyramid-start", 64, "--iters", 40, "--refine", 5, "--seed", 3]
    else:  # levels 128, 181 and 256 px
        args = ["texture", pair[1], "--size", 256]
    proc = subprocess.Popen(cli(*args, "-o", out, "--net", "random-tiny", "--device", "cpu", "-q"),
                            stderr=subprocess.PIPE, text=True)
    wait_for_handler(proc)  # the stop handler is in place before the run starts: it stops at iteration 1
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert out.read_bytes() == before
    # Usually iteration 1; on a loaded machine a few iterations run between the handler's
    # installation and the poll above seeing it (the full suite beside other jobs saw 5).
    at = re.match(r"stylegram: stopped at iteration (\d+) of ", err)
    assert at and 1 <= int(at[1]) <= 40, err
    err = err.replace(f"iteration {at[1]} of", "iteration N of", 1)
    if command == "transfer":
        assert err == (f"stylegram: stopped at iteration N of level 1/4: wrote the image so far (64 x 48 px, smaller "
                       f"than the final one) to {partial} and a checkpoint to {ckpt}; continue with the same command "
                       f"plus --resume {ckpt}\n")
        assert Image.open(partial).size == (64, 48)
    else:
        assert err == (f"stylegram: stopped at iteration N of level 1/3: wrote the texture so far (128 x 128 px, "
                       f"smaller than the final one) to {partial}\n")
        assert Image.open(partial).size == (128, 128) and not ckpt.exists()


def test_a_stopped_runs_picture_can_start_the_next_run(pair, tmp_path):
    # `--init o.partial.png -o o.png` was refused: "o.partial.png: output path is also an input",
    # a path the user never gave as an output. The stop's picture then goes to o.partial2.png.
    from stylegram.cli import main, partial_path
    out = tmp_path / "o.png"
    assert partial_path(out) == tmp_path / "o.partial.png"
    assert partial_path(out, [str(tmp_path / "o.partial.png")]) == tmp_path / "o.partial2.png"
    Image.new("RGB", (64, 48), (90, 120, 150)).save(tmp_path / "o.partial.png")
    with pytest.raises(SystemExit) as e:
        main(["transfer", *map(str, pair), "-o", str(out), "--init", str(tmp_path / "o.partial.png"), *map(str, ARGS),
              "--iters", "2", "--refine", "0"])
    assert e.value.code == 0 and out.exists()


def test_resume_takes_another_dpi_where_it_only_tags_the_file(pair):
    # --dpi beside --size only tags the output file: a resume that changes it alone was refused
    # ("option dpi was 300 in the stopped run, now 150"), though the picture is the same.
    tiny = dict(net="random-tiny", device="cpu", preset="classic")
    ckpt = stylegram.transfer(*pair, iters=3, size=48, dpi=300, **tiny).checkpoint()
    same = stylegram.transfer(*pair, iters=6, size=48, dpi=300, checkpoint=ckpt, **tiny)
    other = stylegram.transfer(*pair, iters=6, size=48, dpi=150, checkpoint=ckpt, **tiny)
    untagged = stylegram.transfer(*pair, iters=6, size=48, checkpoint=ckpt, **tiny)
    assert torch.equal(other.image, same.image) and torch.equal(untagged.image, same.image)
    assert other.metadata()["print"] == {"dpi": 150, "width_cm": 0.81, "height_cm": 0.61, "print_size": None}
    assert (other.config.dpi, untagged.config.dpi, "print" in untagged.metadata()) == (150, None, False)
    # With --print the dpi sets the size: another one is refused, naming it (not the size, untyped)
    ckpt = stylegram.transfer(*pair, iters=3, print_size="1in", dpi=48, **tiny).checkpoint()
    with pytest.raises(stylegram.ConfigError) as e:
        stylegram.transfer(*pair, iters=6, print_size="1in", dpi=64, checkpoint=ckpt, **tiny)
    assert str(e.value) == ("checkpoint: --print 1in at --dpi 64 is 64 px, the stopped run's 48 px (at --dpi 48); "
                            "resume with --dpi 48")
