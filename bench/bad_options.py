"""Impossible option values through every command: a table of outcomes.

  python bench/bad_options.py [--out docs/bad_options.md]

Each row is one command line with one value a user could mistype (NaN, a negative count, a rate
of 0, a size too small for the net, a misspelt option). Outcome as in bench/bad_table.py: 'error:
<the one line>' (exit code 2), 'ok' (the value has a meaning and a result was written) or 'FAIL'
(a traceback, another exit code, several lines). Exits 1 if any row is FAIL.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bad_table import AUDIO, IMG, REPO, VIDEO, classify  # noqa: E402

TINY = ["--net", "random-tiny", "--size", "64", "--iters", "2", "-q"]


def cases(tmp: Path) -> list[list[str]]:
    """argv lists (after `stylegram`), one impossible value each."""
    import numpy as np
    sig, vol = tmp / "sig.npy", tmp / "vol.npy"
    np.save(sig, np.random.default_rng(0).standard_normal((2, 500)).astype("float32"))
    np.save(vol, np.random.default_rng(0).random((16, 16, 16)).astype("float32"))
    out = str(tmp / "o.png")
    transfer = [["transfer", str(IMG), str(IMG), "-o", out, *TINY, *o] for o in (
        ["--size", "0"], ["--beta", "nan"], ["--beta", "-1"], ["--alpha", "inf"], ["--gamma", "-1"], ["--lr", "nan"],
        ["--iters", "-1"], ["--style-layers", "relu1_1:-1"], ["--style-layers", "relu1_1:x"],
        ["--content-layers", "relu9_9"], ["--style-scale", "0"], ["--color-strength", "2"], ["--init", "/nope.png"],
        ["--content-layers", ","],
        ["--regions", "foo"], ["--mask", "/nope.png"], ["--device", "tpu"], ["--net", "nope"],
        ["--style-blend", "a,b"], ["--style-blend", "1,2"], ["--max-memory", "0"], ["--refine", "-2"],
        ["--refine-slack", "nan"], ["--ema", "1.5"], ["--init-noise", "2"], ["--save-every", "-1"],
        ["--optimizer", "sgd"], ["--no-such-option"], ["--resume", "/nope.ckpt"], ["--seed", "-1"],
        ["--seed", str(2**64)], ["--weights", str(IMG)], ["--dpi", "0"], ["--dpi", "5000"], ["--print", "A3"])]
    # --print replaces --size (TINY's): these run without it
    transfer += [["transfer", str(IMG), str(IMG), "-o", out, "--net", "random-tiny", "--iters", "2", "-q", *o] for o in (
        ["--print", "30ft"], ["--print", "30x40cm"], ["--print=-3cm"], ["--print", "nancm"], ["--print", "1mm"],
        ["--print", "A3", "--max-memory", "0.3"])]
    a = str(AUDIO)
    media = [
        ["texture", str(IMG), "-o", out, "--net", "random-tiny", "-q", "--size", "20", "--iters", "1"],
        ["texture", str(IMG), "-o", out, "--net", "random-tiny", "-q", "--size", "64", "--iters", "1", "--style-scale", "nan"],
        ["audio", a, a, "-o", str(tmp / "o.wav"), "-q", "--iters", "1", "--filters", "16", "--rate", "0"],
        ["audio", a, a, "-o", str(tmp / "o.wav"), "-q", "--iters", "1", "--filters", "16", "--beta", "nan"],
        ["audio", a, a, "-o", str(tmp / "o.wav"), "-q", "--iters", "1", "--filters", "16", "--max-seconds", "0.01"],
        ["audio-texture", a, "-o", str(tmp / "o.wav"), "-q", "--iters", "1", "--filters", "-5"],
        ["audio-texture", a, "-o", str(tmp / "o.wav"), "-q", "--iters", "1", "--filters", "16", "--seconds", "0.01"],
        ["audio-texture", a, "-o", str(tmp / "o.wav"), "-q", "--iters", "1", "--filters", "16", "--n-fft", "3"],
        ["signal-texture", str(sig), "-o", str(tmp / "s.npy"), "-q", "--iters", "1", "--length", "-1"],
        ["signal-texture", str(sig), "-o", str(tmp / "s.npy"), "-q", "--iters", "1", "--length", str(10**12)],
        ["signal-texture", str(sig), "-o", str(tmp / "s.npy"), "-q", "--iters", "1", "--seed", str(2**64)],
        ["volume", str(vol), str(IMG), "-o", str(tmp / "v.npy"), "-q", "--iters", "1", "--size", "4"],
        ["volume", str(vol), str(IMG), "-o", str(tmp / "v.npy"), "-q", "--iters", "1", "--beta", "-1"],
        ["volume", str(vol), str(IMG), "-o", str(tmp / "v.npy"), "-q", "--iters", "1", "--window", "1,-5"],
        ["volume", str(vol), str(IMG), "-o", str(tmp / "v.npy"), "-q", "--iters", "1", "--net", "random", "--width", "nan"],
        ["solid-texture", str(IMG), "-o", str(tmp / "s.npy"), "-q", "--size", "16", "--iters", "1", "--net", "random",
         "--width", "0"],
        ["solid-texture", str(IMG), "-o", str(tmp / "s.npy"), "-q", "--size", "0", "--iters", "1"],
        ["solid-texture", str(IMG), "-o", str(tmp / "s.npy"), "-q", "--size", "16", "--iters", "1", "--lr", "nan"],
        ["solid-texture", str(IMG), "-o", str(tmp / "s.npy"), "-q", "--size", "16", "--iters", "1", "--tv", "nan"],
        ["video", str(VIDEO), str(IMG), "-o", str(tmp / "o.mp4"), "-q", "--temporal", "nan"],
        ["video", str(VIDEO), str(IMG), "-o", str(tmp / "o.mp4"), "-q", "--max-frames", "-1"],
        ["explore", "activations", str(IMG), "--layer", "relu1_1", "-o", out, "--net", "random-tiny", "--size", "-1"],
        ["explore", "activations", str(IMG), "--layer", "relu1_1", "-o", out, "--net", "random-tiny", "--channels", "1,x"],
        ["explore", "activations", str(IMG), "--layer", "relu1_1", "-o", out, "--net", "random-tiny", "--channels", "9999"],
        ["explore", "activations", str(IMG), "--layer", "relu1_1", "-o", out, "--net", "random-tiny", "--cols", "0"],
        ["explore", "activations", str(IMG), "--layer", "relu1_1", "-o", out, "--net", "random-tiny", "--channels", " , "],
        ["explore", "activations", str(IMG), "--layer", "relu", "-o", out, "--net", "bank1d"],
        ["explore", "units", "--images", str(IMG.parent), "-o", str(tmp / "u"), "--net", "random-tiny", "--n-units", "0", "-q"],
        ["explore", "activations", str(IMG), "--layer", "relu1_1", "-o", out, "--net", "random-tiny", "--tile", "-5"],
        ["explore", "gram", str(IMG), "-o", str(tmp / "g"), "--net", "random-tiny", "--size", "0"],
        ["explore", "gram", str(IMG), "-o", str(tmp / "g"), "--net", "random-tiny", "--pairs", "-3"],
        ["explore", "gram", str(IMG), "-o", str(tmp / "g"), "--net", "random-tiny", "--layers", ","],
        ["explore", "reconstruct", str(IMG), "-o", out, "--net", "random-tiny", "--blocks", "0", "-q"],
        ["explore", "reconstruct", str(IMG), "-o", out, "--net", "random-tiny", "--blocks", "9", "-q"],
        ["explore", "reconstruct", str(IMG), "-o", out, "--net", "random-tiny", "--seed", "-1", "-q"],
        ["explore", "units", "--images", str(IMG.parent), "-o", str(tmp / "u"), "--net", "random-tiny", "--patch-px", "0", "-q"],
        ["explore", "units", "--images", str(IMG.parent), "-o", str(tmp / "u"), "--net", "random-tiny", "--threads", "-1", "-q"],
        ["explore", "units", "--images", str(IMG.parent), "-o", str(tmp / "u"), "--net", "random-tiny", "--layers", "relu5_1",
         "--size", "16", "-q"],
        ["explore", "reconstruct", str(IMG), "-o", out, "--net", "random-tiny", "--size", "64", "--iters", "-1", "-q"],
        ["explore", "units", "--images", str(IMG.parent), "-o", str(tmp / "u"), "--net", "random-tiny", "--top", "0", "-q"],
        ["explore", "units", "--images", str(IMG.parent), "-o", str(tmp / "u"), "--net", "random-tiny", "--batch-size", "0", "-q"],
        ["serve", "--port", "99999"],
        ["serve", "--max-upload-mb", "nan"],
        ["serve", "--data-dir", "/proc/stylegram-cannot-be-here"],
        ["serve", "--explore-dir", str(tmp / "no-such-folder")],
        ["nope"],
    ]
    return transfer + media


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for argv in cases(tmp):
            proc = subprocess.run([sys.executable, "-m", "stylegram", *argv], capture_output=True, text=True,
                                  timeout=600, cwd=REPO)
            def short(text: str) -> str:
                return text.replace(f"{tmp}/", "TMP/").replace(f"{REPO}/", "").replace(f"{REPO.parent}/", "../")
            shown = short(" ".join(argv))
            rows.append((shown, short(classify(proc, []))))
            print(f"{rows[-1][1][:120]:120s} <- {shown}", file=sys.stderr, flush=True)
    lines = ["| command | outcome |", "| --- | --- |"] + [f"| `{c}` | {o} |" for c, o in rows]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    sys.exit(1 if any(o.startswith("FAIL") for _, o in rows) else 0)


if __name__ == "__main__":
    main()
