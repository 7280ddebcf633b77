"""Quality benchmarks of issue 3; each subcommand prints JSON lines and writes images under --out.

  python bench/quality.py pairs  [--pairs tubingen.jpg:starry_night.jpg,...|all] [--size 512] [--skip-classic] [--presets sliced]
      default preset vs the foundation's defaults (--preset classic) vs ../shared/bench/reference_gatys.py
      at 500 evaluations (its output is reused when already under --out), all judged by
      ../shared/bench/judge.py --size 512; writes side-by-side images.
  python bench/quality.py refine [--pairs all] [--iters 100] [--slack 0.018] [--import-dir DIR]
      the default's --refine pass on each pair's pyramid image (pyramid_<tag>.png, the default with
      --refine 0) into ours_<tag>.png, judged beside its start.
  python bench/quality.py scale  [--pair tubingen.jpg:starry_night.jpg] [--pyramid-keep N]
      the default preset at 512 px and at 1024 px: wall and CPU seconds, evaluations, judged at 512 px.
  Runs whose image and .json already exist under --out are reused (--force in pairs reruns them).
  python bench/quality.py beta   [--pair tubingen.jpg:starry_night.jpg] [--betas 1.0,...]
      the default pyramid at other style weights (--content-norm, --style-norm: course or relative), judged at 512 px.
  python bench/quality.py front  [--pair tubingen.jpg:starry_night.jpg] [--betas 0.003,0.01,...]
      the trade-off curve (content vs swd) over those betas, with the reference and classic on it:
      front_<tag>.json and front_<tag>.png (runs already under --out are reused).
  python bench/quality.py sheet  [--pairs tubingen.jpg:starry_night.jpg,...|all]
      sheet_<tag>.jpg: content, style, reference, classic, the pyramid alone, the default and sliced side by
      side (existing images only).
  python bench/quality.py rejudge  [--pairs all]
      judges each pair's saved images again (after images were rerun outside `pairs`), for `table`.
  python bench/quality.py table  [--pairs all]
      the issue's verdict from the saved `pairs` runs (each image's latest line in pairs_<tag>.jsonl): a
      markdown table of the judge's figures and whether each preset beats the reference and classic.
  python bench/quality.py memory [--size 2048] [--iters 2] [--pyramid-start 128] [--preset balanced]
      one run at --size in a child process; its peak RSS (ru_maxrss).
  python bench/quality.py layers --pair astronaut.png:starry_night.jpg IMAGE [IMAGE ...]
      the judge's figures of existing images and its swd split by layer (relu1_1..relu4_1, each
      the ratio to the content photo's): which layers' statistics a setting fails to match.

Run from the repository root: PYTHONPATH=src .venv/bin/python bench/quality.py ...
Timings on a 2-core machine are only comparable when nothing else runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STYLEGRAM_SHARED", REPO.parent / "shared"))
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
IMAGES = SHARED / "data" / "images"
PY = sys.executable
# The pairs: every content photo in ../shared/data/images with each painting.
ALL_PAIRS = ",".join(f"{c}:{s}" for s in ("starry_night.jpg", "woman-with-hat-matisse.jpg")
                     for c in ("tubingen.jpg", "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                               "hubble_deep_field.jpg"))


def pair_list(arg: str) -> list[str]:
    """--pairs: comma-separated CONTENT:STYLE pairs, or 'all' (ALL_PAIRS)."""
    return (ALL_PAIRS if arg == "all" else arg).split(",")


def emit(d: dict) -> None:
    print(json.dumps(d), flush=True)


def record_pair(out: Path, tag: str, info: dict) -> None:
    """Print a pair's figures and add them to pairs_<tag>.jsonl, the history `table` reads (each
    image's latest line wins)."""
    emit(info)
    with open(out / f"pairs_{tag}.jsonl", "a") as f:
        f.write(json.dumps(info) + "\n")


def machine() -> dict:
    return {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")}


def judge(content: Path, style: Path, outputs: list[Path], size: int = 512) -> dict[str, dict]:
    r = subprocess.run([PY, str(SHARED / "bench" / "judge.py"), str(content), str(style), *map(str, outputs),
                        "--size", str(size), "--json"], capture_output=True, text=True, check=True)
    rows = (json.loads(l) for l in r.stdout.splitlines() if l.startswith("{"))
    return {d.pop("output"): d for d in rows}  # output path -> its figures


def run_ours(content: Path, style: Path, out: Path, **options) -> dict:
    """One stylegram run in this process; wall and CPU seconds (CPU time is the fairer measure on a
    shared machine), evaluations, per-level breakdown. Also written beside the image as .json."""
    from stylegram import transfer
    t, ru0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    r = transfer(str(content), str(style), **options)
    secs, ru = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
    r.save(out)
    if r.state.get("pin") is not None:
        # the picture the detail levels kept (the run's own result at --pyramid-keep's size)
        from stylegram.io.image import save_image
        save_image(r.state["pin"].clamp(0, 1).cpu(), out.with_name(out.stem + "_kept.png"))
    info = {"size": r.config.size, "wall_seconds": round(secs, 1),
            "cpu_seconds": round(ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime, 1), "evals": r.evals,
            "preset": r.config.preset, "beta": r.config.beta, "peak_rss_gib": round(ru.ru_maxrss / 2**20, 3),
            "levels": r.state.get("levels"), "tiles": r.state.get("tiles"), "config": r.config.to_dict()}
    out.with_suffix(".json").write_text(json.dumps(info))
    return info


def cached(out: Path, **options) -> dict | None:
    """The run saved at ``out`` if it was made with the settings ``options`` resolve to now (a
    preset whose weights changed since makes it stale); else None. Runs saved before the full
    settings were recorded are checked on their preset and beta."""
    j = out.with_suffix(".json")
    if not (out.exists() and j.exists() and j.read_text().strip()):
        return None
    info = json.loads(j.read_text().splitlines()[-1])
    from stylegram.presets import DEFAULT_PRESET, preset_config
    want = preset_config(options.pop("preset", DEFAULT_PRESET), **options).validated().to_dict()
    # runs record the precision 'auto' resolved to on their machine
    from stylegram.device import resolve_device, resolve_precision
    want["precision"] = resolve_precision(want["precision"], resolve_device(want["device"]))
    saved = info.get("config") or {k: info.get(k) for k in ("preset", "beta")}
    same = all(json.dumps(want.get(k)) == json.dumps(v) for k, v in saved.items())
    return info if same else None


def side_by_side(paths: list[Path], labels: list[str], out: Path, height: int = 256) -> None:
    from PIL import Image, ImageDraw
    ims = [Image.open(p).convert("RGB") for p in paths]
    ims = [im.resize((round(im.width * height / im.height), height), Image.LANCZOS) for im in ims]
    sheet = Image.new("RGB", (sum(im.width for im in ims) + 4 * (len(ims) - 1), height + 18), "white")
    x = 0
    draw = ImageDraw.Draw(sheet)
    for im, label in zip(ims, labels):
        sheet.paste(im, (x, 18))
        draw.text((x + 4, 3), label, fill="black")
        x += im.width + 4
    sheet.save(out, quality=88)


def cmd_pairs(a) -> None:
    out = Path(a.out)
    rows = []
    for pair in pair_list(a.pairs):
        cname, sname = pair.split(":")
        c, s = IMAGES / cname, IMAGES / sname
        tag = tag_of(pair)
        ours, classic, ref = out / f"ours_{tag}.png", out / f"classic_{tag}.png", out / f"ref_{tag}.png"
        info = {"pair": pair, "machine": machine()}
        if not ref.exists() and not a.no_reference:
            t = time.perf_counter()
            r = subprocess.run([PY, str(SHARED / "bench" / "reference_gatys.py"), str(c), str(s), str(a.size), "500",
                                str(ref), "lbfgs", "cpu"], capture_output=True, text=True, check=True)
            info["reference"] = {**json.loads(r.stdout.splitlines()[-1]), "wall": round(time.perf_counter() - t, 1)}
        info["ours"] = (not a.force and cached(ours, size=a.size)) or run_ours(c, s, ours, size=a.size)
        if not a.skip_classic:
            info["classic"] = ((not (a.force or a.rerun_classic) and cached(classic, size=a.size, preset="classic"))
                               or run_ours(c, s, classic, size=a.size, preset="classic"))
        extra = {name: out / f"{name}_{tag}.png" for name in a.presets.split(",") if name}
        for name, p in extra.items():
            info[name] = (not a.force and cached(p, size=a.size, preset=name)) or run_ours(c, s, p, size=a.size, preset=name)
        outputs = [p for p in (ref, classic, ours, *extra.values()) if p.exists()]
        scores = judge(c, s, outputs, 512)
        info["judge"] = {p.stem.split("_")[0]: scores[str(p)] for p in outputs}
        side_by_side([c, s, *outputs], ["content", "style", *[p.stem.split("_")[0] for p in outputs]],
                     out / f"side_{tag}.jpg")
        info["side_by_side"] = str(out / f"side_{tag}.jpg")
        record_pair(out, tag, info)
        rows.append(info)


def cmd_scale(a) -> None:
    out = Path(a.out)
    cname, sname = a.pair.split(":")
    c, s = IMAGES / cname, IMAGES / sname
    res = {"pair": a.pair, "machine": machine()}
    paths = []
    extra = {} if a.pyramid_keep is None else {"pyramid_keep": a.pyramid_keep}
    for size in (512, 1024):
        keep = "" if a.pyramid_keep is None else f"keep{a.pyramid_keep}_"
        p = out / (f"ours_{a.tag}.png" if size == 512 else f"scale_{size}_{keep}{a.tag}.png")
        opts = {"size": size, **(extra if size > 512 else {})}
        res[str(size)] = cached(p, **opts) or run_ours(c, s, p, **opts)
        paths.append(p)
    res["options_1024"] = extra
    res["ratio_cpu_seconds"] = round(res["1024"]["cpu_seconds"] / res["512"]["cpu_seconds"], 3)
    res["ratio_wall_seconds"] = round(res["1024"]["wall_seconds"] / res["512"]["wall_seconds"], 3)
    kept = paths[1].with_name(paths[1].stem + "_kept.png")
    scores = judge(c, s, paths + ([kept] if kept.exists() else []), 512)
    # the 1024 px run's own 512 px picture too: runs differ a little (floating-point order), and
    # what the detail levels must keep is their own run's picture
    res["judge_at_512"] = {Path(p).stem: v for p, v in scores.items()}
    if a.pyramid_keep is None:
        side_by_side([paths[0], paths[1]], ["512 px", "1024 px"], out / f"side_scale_{a.tag}.jpg", height=384)
    emit(res)


def cmd_beta(a) -> None:
    """The default pyramid at other style weights, judged: where the trade-off curve passes."""
    out = Path(a.out)
    cname, sname = a.pair.split(":")
    c, s = IMAGES / cname, IMAGES / sname
    opts, norm = norms(a)
    for beta in (float(b) for b in a.betas.split(",")):
        p = out / f"beta{beta:g}_{norm}_{a.tag}.png"
        info = run_ours(c, s, p, size=a.size, beta=beta, **opts)
        scores = judge(c, s, [p], 512)[str(p)]
        emit({"beta": beta, "run": info, "judge": scores})


def norms(a) -> tuple[dict, str]:
    """The content and style normalizations, style loss and start image asked for (default: the
    default preset's), as options and as a file label such as 'centered-course-blend' (content
    norm, style norm, then the loss unless gram and the start unless the photo itself)."""
    from stylegram.presets import DEFAULT_PRESET, PRESETS
    preset = PRESETS[DEFAULT_PRESET]
    opts = {"content_norm": a.content_norm or preset.get("content_norm", "course"),
            "style_norm": a.style_norm or preset.get("style_norm", "course"),
            "style_loss": a.style_loss or preset.get("style_loss", "gram"),
            "init": a.init or preset.get("init", "content")}
    label = f"{opts['content_norm']}-{opts['style_norm']}"
    label += "" if opts["style_loss"] == "gram" else f"-{opts['style_loss']}"
    return opts, label + ("" if opts["init"] == "content" else f"-{opts['init']}")


def default_beta(opts: dict) -> float | None:
    """The default preset's beta where these are its normalizations (else None)."""
    from stylegram.presets import DEFAULT_PRESET, PRESETS
    preset = PRESETS[DEFAULT_PRESET]
    fallback = {"style_loss": "gram", "init": "content"}
    same = all(preset.get(k, fallback.get(k, "course")) == v for k, v in opts.items())
    return preset["beta"] if same else None


def tag_of(pair: str) -> str:
    cname, sname = pair.split(":")
    return f"{Path(cname).stem}_{Path(sname).stem.replace('-', '_').split('_')[0]}"


def cmd_front(a) -> None:
    """Our engine's content-vs-swd curve over beta, beside the reference's and classic's points.
    The issue's rule (lower swd at equal or lower content) reads off it: a comparator is beaten
    where the curve passes below and left of its point."""
    out = Path(a.out)
    cname, sname = a.pair.split(":")
    c, s, tag = IMAGES / cname, IMAGES / sname, a.tag or tag_of(a.pair)
    betas = sorted(float(b) for b in a.betas.split(","))
    opts, norm = norms(a)
    paths = {}
    for beta in betas:
        p = out / f"beta{beta:g}_{norm}_{tag}.png"
        if not cached(p, size=a.size, beta=beta, **opts):
            run_ours(c, s, p, size=a.size, beta=beta, **opts)
        paths[beta] = p
    others = {k: out / f"{k}_{tag}.png" for k in ("ref", "classic") if (out / f"{k}_{tag}.png").exists()}
    scores = judge(c, s, [*paths.values(), *others.values()], 512)
    res = {"pair": a.pair, "norms": opts, "default_beta": default_beta(opts), "machine": machine(),
           "curve": [{"beta": b, "image": p.name, **scores[str(p)]} for b, p in paths.items()],
           **{k: {"image": p.name, **scores[str(p)]} for k, p in others.items()}}
    for k in others:
        # the smallest swd the curve reaches at or below the comparator's content figure
        ok = [pt for pt in res["curve"] if pt["content"] <= res[k]["content"]]
        best = min(ok, key=lambda pt: pt["swd"]) if ok else None
        res[f"beats_{k}"] = {"at_beta": best and best["beta"], "swd": best and best["swd"],
                             "beaten": bool(best and best["swd"] < res[k]["swd"])}
    (out / f"front_{norm}_{tag}.json").write_text(json.dumps(res, indent=1))
    others_curves = {}
    for f in sorted(out.glob(f"front_*_{tag}.json")):
        other = json.loads(f.read_text())
        if other["norms"] != opts:
            others_curves[curve_label(other["norms"])] = other["curve"]
    plot_front(res, out / f"front_{norm}_{tag}.png", others_curves)
    emit(res)


def curve_label(norms: dict) -> str:
    """'centered/course/gram/blend' from a front's settings (older fronts lack the init: content)."""
    return "{}/{}/{}/{}".format(norms["content_norm"], norms["style_norm"], norms.get("style_loss", "gram"),
                                norms.get("init", "content"))


def plot_front(res: dict, path: Path, others: dict[str, list[dict]] | None = None) -> None:
    """content (x) vs swd (y): this run's curve, curves of other normalizations (grey, dashed),
    the reference's and classic's points and the regions where a point beats them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    xs, ys = [p["content"] for p in res["curve"]], [p["swd"] for p in res["curve"]]
    ax.plot(xs, ys, "o-", color="tab:blue", label=f"stylegram pyramid, {curve_label(res['norms'])}, beta varied")
    for label, curve in (others or {}).items():
        ax.plot([p["content"] for p in curve], [p["swd"] for p in curve], "o--", color="grey", alpha=0.6,
                markersize=4, label=f"norms {label}, beta varied")
        for p in curve:
            ax.annotate(f"{p['beta']:g}", (p["content"], p["swd"]), textcoords="offset points", xytext=(5, -10),
                        fontsize=7, color="grey")
        xs, ys = xs + [p["content"] for p in curve], ys + [p["swd"] for p in curve]
    for p in res["curve"]:
        ax.annotate(f"{p['beta']:g}" + (" (default)" if p["beta"] == res["default_beta"] else ""), (p["content"], p["swd"]),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    for k, (colour, label) in {"ref": ("tab:red", "reference_gatys.py, 500 evals"),
                               "classic": ("tab:green", "--preset classic")}.items():
        if k in res:
            x, y = res[k]["content"], res[k]["swd"]
            ax.plot([x], [y], "s", color=colour, label=label)
            # where a point beats it: at or left of its content, below its swd
            ax.fill_between([0, x], 0, y, color=colour, alpha=0.08)
    ax.set_xlim(0, max(xs + [res.get(k, {}).get("content", 0) for k in ("ref", "classic")]) * 1.1)
    ax.set_ylim(0, max(ys + [res.get(k, {}).get("swd", 0) for k in ("ref", "classic")]) * 1.15)
    ax.set_xlabel("content figure (judge.py, lower keeps more of the photo)")
    ax.set_ylabel("swd (judge.py, lower is closer to the painting)")
    ax.set_title(f"{res['pair']} at 512 px: shaded = beats that point", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cmd_sheet(a) -> None:
    """One side-by-side image per pair of every result already under --out: content, style, the
    reference, classic, the default and the sliced preset (`pairs --presets sliced`)."""
    out = Path(a.out)
    for pair in pair_list(a.pairs):
        cname, sname = pair.split(":")
        tag = tag_of(pair)
        named = {"reference": out / f"ref_{tag}.png", "classic": out / f"classic_{tag}.png",
                 "pyramid (--refine 0)": out / f"pyramid_{tag}.png", "balanced (default)": out / f"ours_{tag}.png",
                 "sliced": out / f"sliced_{tag}.png"}
        have = {k: p for k, p in named.items() if p.exists()}
        side_by_side([IMAGES / cname, IMAGES / sname, *have.values()], ["content", "style", *have], out / f"sheet_{tag}.jpg")
        emit({"pair": pair, "sheet": str(out / f"sheet_{tag}.jpg"), "images": list(have)})


def beats(a: dict, b: dict | None) -> bool | None:
    """The issue's rule: a beats b if its swd is lower at an equal or lower content figure."""
    return None if b is None else a["swd"] < b["swd"] and a["content"] <= b["content"]


def cmd_rejudge(a) -> None:
    """Judge each pair's saved images again (reference, classic, default, pyramid, sliced: those
    present) and add the figures as a line of pairs_<tag>.jsonl, so that `table` uses them: for
    images rerun outside `pairs` (e.g. classic after a change to input loading)."""
    out = Path(a.out)
    for pair in pair_list(a.pairs):
        cname, sname = pair.split(":")
        tag = tag_of(pair)
        outputs = [p for k in ("ref", "classic", "ours", "pyramid", "sliced") if (p := out / f"{k}_{tag}.png").exists()]
        scores = judge(IMAGES / cname, IMAGES / sname, outputs, 512)
        info = {"pair": pair, "machine": machine(), "rejudged": True,
                "judge": {p.stem.split("_")[0]: scores[str(p)] for p in outputs}}
        record_pair(out, tag, info)


def cmd_table(a) -> None:
    """One markdown row per pair from the `pairs` runs saved under --out, with the binding
    target (the reference's content figure, the lower of the two swd figures) beside each preset."""
    out = Path(a.out)
    names = [n for n in a.presets.split(",") if n]
    fmt = lambda d: "-" if d is None else f"{d['content']:.3f} / {d['gram']:.3f} / {d['swd']:.3f}"
    yn = lambda v: "-" if v is None else ("yes" if v else "no")
    print("| pair | reference | classic | target: content <= / swd < | "
          + " | ".join(f"{n} | {n} beats ref / classic" for n in names) + " |")
    print("|" + " --- |" * (4 + 2 * len(names)))
    for pair in pair_list(a.pairs):
        f, label = out / f"pairs_{tag_of(pair)}.jsonl", pair.replace(".jpg", "").replace(".png", "")
        if not f.exists():
            print(f"| {label} | (no run) |")
            continue
        j = {}  # each image's figures from the latest run that judged it (`pairs --presets` adds columns)
        for line in f.read_text().splitlines():
            j.update(json.loads(line)["judge"])
        ref, classic = j.get("ref"), j.get("classic")
        target = "-" if ref is None else (f"{ref['content']:.3f} / "
                                          f"{min(d['swd'] for d in (ref, classic) if d):.3f}")
        cells = [f"{fmt(j.get(n))} | {yn(beats(j[n], ref)) if n in j else '-'} / "
                 f"{yn(beats(j[n], classic)) if n in j else '-'}" for n in names]
        print(f"| {label} | {fmt(ref)} | {fmt(classic)} | {target} | "
              + " | ".join(cells) + " |")


def cmd_memory(a) -> None:
    out = Path(a.out) / f"memory_{a.size}{'' if a.preset == 'balanced' else '_' + a.preset}.png"
    code = ("import sys, json, time; from stylegram import transfer; t = time.perf_counter(); "
            f"r = transfer({str(IMAGES / 'tubingen.jpg')!r}, {str(IMAGES / 'starry_night.jpg')!r}, size={a.size}, "
            f"iters={a.iters}, pyramid_start={a.pyramid_start}, device='cpu', preset={a.preset!r}); r.save({str(out)!r}); "
            "print(json.dumps({'seconds': round(time.perf_counter() - t, 1), 'evals': r.evals, "
            "'tiles': r.state['tiles'], 'levels': r.state['levels'], 'lbfgs_pairs_kept': len(r.state['optimizer']['s'])}))")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    emit({"size": a.size, "preset": a.preset, "iters_first_level": a.iters, "pyramid_start": a.pyramid_start, "rc": r.returncode, "peak_rss_gib": round(peak_kib / 2**20, 3),
          "run": json.loads(r.stdout.splitlines()[-1]) if r.returncode == 0 else r.stderr[-2000:], "machine": machine()})


def cmd_layers(a) -> None:
    sys.path.insert(0, str(SHARED / "bench"))
    import judge as J  # ../shared/bench/judge.py, in this process: its functions, not its CLI
    import numpy as np
    import torch
    from PIL import Image
    torch.set_grad_enabled(False)
    net = J.vgg16_hed.layers(None)
    cname, sname = a.pair.split(":")
    c = J.load(IMAGES / cname, 512)
    fc, fs = J.features(net, c), J.features(net, J.load(IMAGES / sname, 512))
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
    # the judge's own per-layer ratios (same directions and subsampling: seed 0 for each call)
    base = {l: J.swd(fc[l], fs[l], torch.Generator().manual_seed(0)) for l in layers}
    for path in a.images:
        im = Image.open(path).convert("RGB").resize((c.shape[3], c.shape[2]), Image.LANCZOS)
        fo = J.features(net, torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255)
        ratios = {l: round(J.swd(fo[l], fs[l], torch.Generator().manual_seed(0)) / base[l], 4) for l in layers}
        emit({"pair": a.pair, "image": path, **J.judge(net, fc, fs, fo), "swd_by_layer": ratios})


def cmd_refine(a) -> None:
    """The default in two steps, for images the pyramid alone made: each pair's pyramid_<tag>.png
    (the default with --refine 0; taken from ours_<tag>.png when that is such a run) refined by
    `--init pyramid_<tag>.png --iters 0 --pyramid-start 0 --refine N`, which is the default preset's
    last level up to the 8-bit rounding of its start, into ours_<tag>.png, judged; one line added
    to pairs_<tag>.jsonl with 'ours' (refined) and 'pyramid' (its start). --import DIR takes the
    images (ref_<tag>.png) and JSON lines (DIR/refine_runs.jsonl) of the same calls made elsewhere."""
    import shutil
    out = Path(a.out)
    imported = {}
    if a.import_dir:
        for line in (Path(a.import_dir) / "refine_runs.jsonl").read_text().splitlines():
            d = json.loads(line)
            if d["iters"] == a.iters and d["kw"].get("refine_slack", 0.02) == a.slack:
                imported[Path(d["start"]).stem.removeprefix("ours_")] = d
    for pair in pair_list(a.pairs):
        cname, sname = pair.split(":")
        c, s, tag = IMAGES / cname, IMAGES / sname, tag_of(pair)
        ours, start = out / f"ours_{tag}.png", out / f"pyramid_{tag}.png"
        if not start.exists():
            info = json.loads(ours.with_suffix(".json").read_text().splitlines()[-1])
            if info.get("config", {}).get("refine"):
                raise SystemExit(f"{ours} is already refined and {start} is missing: run the default with --refine 0 first")
            shutil.copy(ours, start)
            shutil.copy(ours.with_suffix(".json"), start.with_suffix(".json"))
        opts = {"size": a.size, "init": str(start), "iters": 0, "pyramid_start": 0, "refine": a.iters,
                "refine_slack": a.slack}
        if tag in imported:
            d = imported[tag]
            shutil.copy(Path(a.import_dir) / f"ref_{tag}.png", ours)
            run = {"size": a.size, "wall_seconds": d["secs"], "evals": d["evals"], "imported_from": d["out"],
                   "config": {k: v for k, v in opts.items() if k != "init"}, "one_thread_beside_another_run": True}
            ours.with_suffix(".json").write_text(json.dumps(run))
        else:
            run = run_ours(c, s, ours, **opts)
        scores = judge(c, s, [ours, start], 512)
        info = {"pair": pair, "machine": machine(), "ours": run, "refine_of": str(start),
                "judge": {"ours": scores[str(ours)], "pyramid": scores[str(start)]}}
        record_pair(out, tag, info)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "quality"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pairs")
    p.add_argument("--pairs", default="tubingen.jpg:starry_night.jpg,chelsea.png:woman-with-hat-matisse.jpg")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--skip-classic", action="store_true")
    p.add_argument("--rerun-classic", action="store_true", help="run classic even where a run with its settings is saved")
    p.add_argument("--no-reference", action="store_true", help="judge without the reference if its image is missing")
    p.add_argument("--force", action="store_true", help="rerun ours/classic even if their images exist")
    p.add_argument("--presets", default="", help="other presets to run and judge beside the default, e.g. sliced "
                   "(images <preset>_<pair>.png)")
    p.set_defaults(f=cmd_pairs)
    p = sub.add_parser("refine")
    p.add_argument("--pairs", default="all", help="comma-separated CONTENT:STYLE pairs, or all")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--iters", type=int, default=100, help="--refine iterations")
    p.add_argument("--slack", type=float, default=0.018, help="--refine-slack")
    p.add_argument("--import-dir", default=None, help="take these runs' images and refine_runs.jsonl instead of running them")
    p.set_defaults(f=cmd_refine)
    p = sub.add_parser("scale")
    p.add_argument("--pair", default="tubingen.jpg:starry_night.jpg")
    p.add_argument("--tag", default="tubingen_starry")
    p.add_argument("--pyramid-keep", type=int, default=None, help="run the 1024 px output with this --pyramid-keep (0: off)")
    p.set_defaults(f=cmd_scale)
    for name, f, tag, betas in (("beta", cmd_beta, "tubingen_starry", "1.0"),
                                ("front", cmd_front, None, "0.003,0.01,0.02,0.025,0.03,0.1,0.3,1")):
        p = sub.add_parser(name)
        p.add_argument("--pair", default="tubingen.jpg:starry_night.jpg")
        p.add_argument("--tag", default=tag, help="file tag (front's default: from the pair, e.g. tubingen_starry)")
        p.add_argument("--betas", default=betas)
        p.add_argument("--size", type=int, default=512)
        p.add_argument("--content-norm", choices=("course", "relative", "centered", "correlation"), default=None, help="default: the default preset's")
        p.add_argument("--style-norm", choices=("course", "relative", "distance"), default=None, help="default: the default preset's")
        p.add_argument("--style-loss", choices=("gram", "w2", "swd"), default=None, help="default: the default preset's")
        p.add_argument("--init", choices=("content", "blend", "noise"), default=None, help="start image; default: the default preset's")
        p.set_defaults(f=f)
    p = sub.add_parser("sheet")
    p.add_argument("--pairs", default="tubingen.jpg:starry_night.jpg", help="comma-separated CONTENT:STYLE pairs, or all")
    p.set_defaults(f=cmd_sheet)
    p = sub.add_parser("rejudge")
    p.add_argument("--pairs", default="all")
    p.set_defaults(f=cmd_rejudge)
    p = sub.add_parser("table")
    p.add_argument("--pairs", default="all", help="comma-separated CONTENT:STYLE pairs, or all (the twelve)")
    p.add_argument("--presets", default="ours,sliced", help="columns to judge: ours (the default) and other presets")
    p.set_defaults(f=cmd_table)
    p = sub.add_parser("memory")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--pyramid-start", type=int, default=128, help="0: only the --size level (cheapest way to its peak)")
    p.add_argument("--preset", default="balanced")
    p.set_defaults(f=cmd_memory)
    p = sub.add_parser("layers")
    p.add_argument("--pair", default="tubingen.jpg:starry_night.jpg")
    p.add_argument("images", nargs="+")
    p.set_defaults(f=cmd_layers)
    a = ap.parse_args()
    Path(a.out).mkdir(parents=True, exist_ok=True)
    a.f(a)


if __name__ == "__main__":
    main()
