"""Seconds per evaluation (one forward + backward pass) of stylegram and of the plain reference
(../shared/bench/reference_gatys.py), measured in the same run on the same machine.

  python bench/speed.py [--sizes 256,512] [--evals 10] [--device cpu] [--variants fp32,bf16]
                        [--reference-optimizers adam] [--out FILE] [--images DIR]

Variants of stylegram: fp32, bf16 (autocast), and either with "+compile" (torch.compile of the
evaluation step) or "+graphs" (torch.compile with CUDA graphs). stylegram runs the foundation's
single-level engine (preset classic) with Adam, so that each iteration is exactly one evaluation,
and runs ``--warmup`` iterations before the timed ``--evals`` (compilation, cuDNN's algorithm
search and the allocator's first allocations happen there): the figure is the time of the
``--evals`` evaluations after the warm-up, read from the run's history, and the whole run's time is
printed beside it. On a GPU the losses are read back every 25 iterations, the last included, and
the history times are taken at those reads, so they count all queued GPU work.

The reference is timed as it times itself: all its evaluations, with one synchronization before
and after. ``--images DIR`` keeps every output image (name: impl_variant_size.png) for
../shared/bench/judge.py. ``--weights FILE`` runs both on another copy of the vgg16-hed weights
(stylegram's safetensors layout); layers the runs never reach (beyond relu5_1) may be missing
and are filled with zeros. Prints one JSON object, and writes it to ``--out`` after every row.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import stylegram

REPO = Path(__file__).resolve().parents[1]
CONTENT = REPO / "examples" / "tubingen.jpg"
STYLE = REPO / "examples" / "starry_night.jpg"
# conv names of VGG16 and their torchvision indices ('features.N'), for the reference's .pth loader
_CONVS = ["1_1", "1_2", "2_1", "2_2", "3_1", "3_2", "3_3", "4_1", "4_2", "4_3", "5_1", "5_2", "5_3"]
_TV_INDEX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def complete_weights(path: Path, workdir: Path) -> tuple[Path, Path]:
    """(full safetensors for stylegram, torchvision-layout .pth for the reference) from a
    possibly truncated safetensors file; missing convs (never evaluated) become zeros."""
    from safetensors.torch import load_file, save_file
    state = load_file(str(path))
    shapes = {"5_2": (512, 512, 3, 3), "5_3": (512, 512, 3, 3)}
    for n, shp in shapes.items():
        state.setdefault(f"conv{n}.weight", torch.zeros(shp))
        state.setdefault(f"conv{n}.bias", torch.zeros(shp[0]))
    full, pth = workdir / "vgg16-hed-full.safetensors", workdir / "vgg16-hed-tv.pth"
    save_file({k: v.contiguous() for k, v in state.items()}, str(full))
    torch.save({f"features.{i}.{kind}": state[f"conv{n}.{kind}"] for n, i in zip(_CONVS, _TV_INDEX)
                for kind in ("weight", "bias")}, str(pth))
    return full, pth


def reference(shared: Path, size: int, evals: int, device: str, optimizer: str, weights: Path | None,
              keep: Path | None) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ref.png")
        cmd = [sys.executable, str(shared / "reference_gatys.py"), str(CONTENT), str(STYLE), str(size), str(evals),
               out, optimizer, device]
        if weights is not None:
            cmd.append(f"--weights={weights}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"reference failed:\n{proc.stderr[-2000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        if keep is not None:
            shutil.copy(out, keep / f"reference_{optimizer}_{size}.png")
    return row


def ours(size: int, evals: int, warmup: int, device: str, variant: str, weights: Path | None,
         keep: Path | None) -> dict:
    precision, _, comp = variant.partition("+")
    compile_mode = {"": "off", "compile": "on", "graphs": "graphs"}[comp]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    r = stylegram.transfer(CONTENT, STYLE, preset="classic", size=size, iters=warmup + evals, optimizer="adam",
                           device=device, precision=precision, compile=compile_mode,
                           weights=str(weights) if weights else None)
    wall = time.perf_counter() - t0
    hist = r.history
    # The first history entry at or after the warm-up, and the last one.
    start = next(h for h in hist if h["iter"] >= warmup) if warmup else {"evals": 1, "seconds": 0.0}
    end = hist[-1]
    n = end["evals"] - start["evals"]
    spe = (end["seconds"] - start["seconds"]) / max(n, 1)
    row = {"impl": "stylegram", "variant": variant, "size": size, "evals_timed": n,
           "s_per_eval": round(spe, 5), f"seconds_per_{evals}_evals": round(spe * evals, 3),
           "seconds_run_total": round(wall, 3), "evals_total": r.evals, "warmup_iters": warmup,
           "final_losses": {k: v for k, v in end.items() if k in ("content", "style", "total")},
           # A fast run that does not optimize is no result: the style loss must fall.
           "style_drop": round(hist[0]["style"] / max(end["style"], 1e-30), 1)}
    if device == "cuda":
        row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    if keep is not None:
        stylegram.save_image(r.image, keep / f"stylegram_{variant.replace('+', '-')}_{size}.png")
    return row


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--evals", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=None, help="untimed iterations first (default: 2 on CPU, 25 on GPU)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", "--precision", default="fp32,bf16")
    ap.add_argument("--reference-optimizers", default="adam")
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "bench"),
                    help="folder with reference_gatys.py and vgg16_hed.py")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--images", default=None, help="keep the output images here")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    a = ap.parse_args()
    warmup = a.warmup if a.warmup is not None else (2 if a.device == "cpu" else 25)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = True  # static shapes: let cuDNN pick its fastest kernels once
    keep = Path(a.images) if a.images else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    w_ours = w_ref = None
    if a.weights:
        w_ours, w_ref = complete_weights(Path(a.weights), tmp)
    result = {"machine": machine(), "device": a.device, "results": []}
    rows = result["results"]

    def emit(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if a.out:
            Path(a.out).write_text(json.dumps(result, indent=2) + "\n")

    for size in (int(s) for s in a.sizes.split(",")):
        refs = {}
        for opt in filter(None, a.reference_optimizers.split(",")):
            refs[opt] = reference(Path(a.shared), size, a.evals, a.device, opt, w_ref, keep)
            emit(refs[opt])
        base = refs.get("adam") or next(iter(refs.values()), None)
        for variant in a.variants.split(","):
            try:
                o = ours(size, a.evals, warmup, a.device, variant, w_ours, keep)
            except Exception as e:  # a variant that does not run here (e.g. no compiler) is reported, not fatal
                o = {"impl": "stylegram", "variant": variant, "size": size, "error": f"{type(e).__name__}: {e}"[:500]}
            else:
                if base is not None:
                    o["speedup_vs_reference_" + base["optimizer"]] = round(base["s_per_eval"] / o["s_per_eval"], 2)
            emit(o)
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
