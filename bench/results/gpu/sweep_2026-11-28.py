"""Device sweep (scratch, not part of the project): the default preset end to end on the GPU and
longer --refine passes from the CPU's pyramid images, on the twelve pairs, judged by judge.py's
functions. Usage: python .dev/sweep.py OUTDIR DEADLINE_S WORKERS [DEVICE] [SIZE] [REFINE_SCALE]"""
import json, os, sys, time, tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src")); sys.path.insert(0, str(HERE))

PAIRS = [(c, s) for s in ("starry_night.jpg", "woman-with-hat-matisse.jpg")
         for c in ("tubingen.jpg", "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg")]
FIRST = {"tubingen_starry", "tubingen_woman", "rocket_starry", "hubble_deep_field_starry"}


def tag_of(c, s):
    return f"{Path(c).stem}_{Path(s).stem.replace('-', '_').split('_')[0]}"


def jobs(size, scale):
    cfgs = [("gpudef", None), ("r300", dict(refine=300 // scale, refine_slack=0.018)),
            ("r300s03", dict(refine=300 // scale, refine_slack=0.03)), ("r600", dict(refine=600 // scale, refine_slack=0.018))]
    out = []
    for name, kw in cfgs:
        ps = sorted(PAIRS, key=lambda p: tag_of(*p) not in FIRST)
        for c, s in ps:
            tag = tag_of(c, s)
            if kw is None:
                out.append((name, tag, c, s, dict(size=size)))
            else:
                out.append((name, tag, c, s, dict(size=size, init=str(HERE / "start" / f"pyramid_{tag}.png"),
                                                  iters=0, pyramid_start=0, **kw)))
    return out


def load_trim(cache=None):
    import torch
    from safetensors.torch import load_file
    sd = load_file(str(HERE / "vgg_trim.safetensors"))
    for n in ("conv5_2", "conv5_3"):  # never reached: the engine and the judge stop at relu5_1
        sd[f"{n}.weight"] = torch.zeros(512, 512, 3, 3); sd[f"{n}.bias"] = torch.zeros(512)
    return sd


def worker(w, q, outdir, deadline, device, size):
    import torch
    torch.set_num_threads(2)
    import stylegram.nets.registry as reg
    reg.load_hed = load_trim
    import numpy as np
    from PIL import Image
    import judge as J, vgg16_hed as V
    from stylegram import transfer
    sd = load_trim()
    pth = Path(f"/tmp/judge_w{w}.pth")
    names = ["1_1", "1_2", "2_1", "2_2", "3_1", "3_2", "3_3", "4_1", "4_2", "4_3", "5_1", "5_2", "5_3"]
    idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    torch.save({f"features.{i}.{p}": sd[f"conv{n}.{p}"] for n, i in zip(names, idx) for p in ("weight", "bias")}, pth)
    net = [(n, m.to(device)) for n, m in V.layers(str(pth))]
    cache = {}

    def feats(x):
        with torch.no_grad():
            return {k: v.cpu() for k, v in J.features(net, x.to(device)).items()}

    log = open(Path(outdir) / f"runs_{w}.jsonl", "a")
    while True:
        try:
            name, tag, c, s, kw = q.get_nowait()
        except Exception:
            break
        if time.time() > deadline:
            print(f"w{w} deadline: skip {name} {tag}", flush=True)
            continue
        t = time.perf_counter()
        try:
            r = transfer(str(HERE / "images" / c), str(HERE / "images" / s), device=device, **kw)
            if device == "cuda":
                torch.cuda.synchronize()
            secs = time.perf_counter() - t
            img = Path(outdir) / "img" / name / f"{name}_{tag}.png"
            img.parent.mkdir(parents=True, exist_ok=True)
            r.save(img)
            if (c, s) not in cache:
                C = J.load(str(HERE / "images" / c), 512)
                cache[(c, s)] = (C, feats(C), feats(J.load(str(HERE / "images" / s), 512)))
            C, fc, fs = cache[(c, s)]
            im = Image.open(img).convert("RGB").resize((C.shape[3], C.shape[2]), Image.LANCZOS)
            x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255
            j = J.judge(net, fc, fs, feats(x))
            rec = dict(name=name, tag=tag, **j, wall=round(secs, 1), evals=r.evals,
                       kw={k: v for k, v in kw.items() if k != "init"}, device=device,
                       mem_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None)
        except Exception as e:  # noqa: BLE001 - scratch: keep the sweep going
            rec = dict(name=name, tag=tag, error=__import__("traceback").format_exc()[-1500:])
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n"); log.flush()


def main():
    import multiprocessing as mp
    outdir, budget, nw = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    device = sys.argv[4] if len(sys.argv) > 4 else "cuda"
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 512
    scale = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    Path(outdir).mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    only = sys.argv[7].split(",") if len(sys.argv) > 7 else None
    for j in jobs(size, scale):
        if only is None or j[0] in only:
            q.put(j)
    deadline = time.time() + budget
    ps = [ctx.Process(target=worker, args=(w, q, outdir, deadline, device, size)) for w in range(nw)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    for d in sorted((Path(outdir) / "img").glob("*")):
        with tarfile.open(Path(outdir) / f"img_{d.name}.tar", "w") as tf:
            tf.add(d, arcname=d.name)
    import shutil
    shutil.rmtree(Path(outdir) / "img", ignore_errors=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
