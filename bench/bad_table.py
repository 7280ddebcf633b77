"""Every file of ../shared/data/bad/ through every entry point: a table of outcomes.

  python bench/bad_table.py [--out docs/bad_inputs.md]

Outcome per (file, entry point): 'ok' (a correct result was written), 'error: <the one line>'
(a clean refusal; exit code 2 on the CLI), or 'FAIL' (a traceback, another exit code, or more than
one line). Each file is given in the role it could plausibly play at that entry point; the table
then says how each was handled. Exits 1 if any cell is FAIL.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAD = REPO.parent / "shared" / "data" / "bad"
IMG = REPO / "examples" / "starry_night.jpg"
AUDIO = REPO.parent / "shared" / "data" / "audio" / "rain_texture.wav"
VIDEO = REPO / "tests" / "data" / "tiny.mp4"  # written by the media tests' helper if missing
FAST = ["--size", "64", "--iters", "2", "--net", "random-tiny", "-q", "--device", "cpu"]


def _entries(tmp: Path, fixtures: Path) -> dict[str, Callable[[Path], list[str]]]:
    """Entry point name -> argv builder for a bad file. Commands absent from this build are skipped."""
    return {
        "transfer (content)": lambda f: ["transfer", str(f), str(IMG), "-o", str(tmp / "o.png"), *FAST],
        "transfer (style)": lambda f: ["transfer", str(IMG), str(f), "-o", str(tmp / "o.png"), *FAST],
        "transfer --weights": lambda f: ["transfer", str(IMG), str(IMG), "-o", str(tmp / "o.png"), "--size", "64",
                                         "--iters", "1", "--net", "vgg16", "--weights", str(f), "-q", "--device", "cpu"],
        "transfer --settings": lambda f: ["transfer", str(IMG), str(IMG), "-o", str(tmp / "o.png"), *FAST,
                                          "--settings", str(f)],
        "explore units (folder)": lambda f: ["explore", "units", "--images", str(_alone(f, tmp)), "-o", str(tmp / "units"),
                                             "--net", "random-tiny", "--layers", "relu1_1,relu2_1", "--size", "64", "-q"],
        "explore activations": lambda f: ["explore", "activations", str(f), "--layer", "relu1_1", "-o",
                                          str(tmp / "a.png"), "--net", "random-tiny", "--size", "64"],
        "explore gram": lambda f: ["explore", "gram", str(f), "-o", str(tmp / "gram"), "--net", "random-tiny",
                                   "--size", "64"],
        "explore reconstruct": lambda f: ["explore", "reconstruct", str(f), "-o", str(tmp / "r.png"), "--net",
                                          "random-tiny", "--size", "64", "--iters", "1", "--blocks", "1", "-q"],
        "texture": lambda f: ["texture", str(f), "-o", str(tmp / "t.png"), "--size", "64", "--iters", "2",
                              "--net", "random-tiny", "-q"],
        "texture --settings": lambda f: ["texture", str(IMG), "-o", str(tmp / "t.png"), "--size", "64", "--iters", "2",
                                         "--net", "random-tiny", "-q", "--settings", str(f)],
        "audio (content)": lambda f: ["audio", str(f), str(AUDIO), "-o", str(tmp / "o.wav"), "--iters", "2",
                                      "--filters", "16", "--max-seconds", "1", "-q"],
        "audio-texture": lambda f: ["audio-texture", str(f), "-o", str(tmp / "o.wav"), "--seconds", "1",
                                    "--iters", "2", "--filters", "16", "--max-seconds", "1", "-q"],
        "volume (content)": lambda f: ["volume", str(f), str(IMG), "-o", str(tmp / "o.npy"), "--iters", "2",
                                       "--size", "16", "--net", "random", "--width", "0.125", "-q"],
        "solid-texture": lambda f: ["solid-texture", str(f), "-o", str(tmp / "o.npy"), "--size", "16", "--iters", "2",
                                    "--levels", "1", "--net", "random", "--width", "0.125", "-q"],
        "video (content)": lambda f: ["video", str(f), str(IMG), "-o", str(tmp / "o.mp4"), "--iters", "1",
                                      "--size", "64", "--max-frames", "2", "--net", "random", "--width", "0.125", "-q"],
        "video (style)": lambda f: ["video", str(VIDEO), str(f), "-o", str(tmp / "o.mp4"), "--iters", "1",
                                    "--size", "32", "--max-frames", "2", "--net", "random", "--width", "0.125", "-q"],
        "audio (style)": lambda f: ["audio", str(AUDIO), str(f), "-o", str(tmp / "o.wav"), "--iters", "2",
                                    "--filters", "16", "--max-seconds", "1", "-q"],
        "volume (style)": lambda f: ["volume", str(_volume(fixtures)), str(f), "-o", str(tmp / "o.npy"), "--iters", "2",
                                     "--size", "16", "--net", "random", "--width", "0.125", "-q"],
        "signal-texture": lambda f: ["signal-texture", str(f), "-o", str(tmp / "o.npy"), "--length", "256",
                                     "--iters", "2", "--filters", "16", "-q"],
        # The Python API (bench/_api_probe.py): a StylegramError is its clean, one-line refusal.
        "API transfer() (content)": lambda f: [API, "content", str(f), str(IMG)],
        "API transfer() (style)": lambda f: [API, "style", str(f), str(IMG)],
    }


API = "api"


def _volume(d: Path) -> Path:
    """A 16^3 .npy content volume (written once)."""
    p = d / "vol16.npy"
    if not p.exists():
        import numpy as np
        np.save(p, np.random.default_rng(0).random((16, 16, 16), dtype=np.float32))
    return p


def _alone(f: Path, tmp: Path) -> Path:
    """A folder holding only ``f`` (for entry points that take a folder of images)."""
    d = tmp / "alone"
    d.mkdir(exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    (d / f.name).symlink_to(f)
    return d


def studio_rows(files: list[Path], tmp: Path) -> list[tuple[str, str, str]]:
    """Each file uploaded to the studio (`stylegram serve`, on 127.0.0.1) as a content image; an
    accepted one also runs a 2-iteration job. Outcome as for the CLI: 'ok', 'error: <the message
    the page shows>', or 'FAIL' (HTTP 500, a traceback, several lines, a failed job)."""
    import http.client
    import json
    import socket
    import threading
    import time

    try:
        import uvicorn

        from stylegram.web.app import StudioSettings, create_app
    except ImportError:
        return []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(StudioSettings(data_dir=tmp / "studio", port=port, devices=["cpu"]))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def call(method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request(method, path, body=body, headers={"X-Stylegram-Token": app.state.token, **(headers or {})})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        finally:
            conn.close()

    rows = []
    name = "studio (upload, then a job)"
    try:
        for f in files:
            status, body = call("POST", "/api/uploads", f.read_bytes(), {"X-File-Name": f.name})
            msg = str(body.get("error", ""))
            if status >= 500 or "Traceback" in msg or "\n" in msg:
                rows.append((f.name, name, f"FAIL (HTTP {status})"))
            elif status != 200:
                rows.append((f.name, name, "error: " + msg.replace("|", "/")))
            else:
                job = {"content": body["source"], "style": "example:starry_night", "net": "random-tiny",
                       "size": 64, "iters": 2}
                status, job = call("POST", "/api/jobs", json.dumps(job).encode(), {"Content-Type": "application/json"})
                while status == 201 and job["status"] in ("queued", "running"):
                    time.sleep(0.1)
                    status, job = call("GET", f"/api/jobs/{job['id']}")
                    status = 201 if status == 200 else status
                ok = status == 201 and job["status"] == "done"
                rows.append((f.name, name, "ok" if ok else f"FAIL (job {job.get('status')}: {job.get('message')})"))
            print(f"{f.name:28s} {name:24s} {rows[-1][2]}", file=sys.stderr, flush=True)
    finally:
        app.state.hub.close()
        server.should_exit = True
        thread.join(10)
    return rows


def classify(proc: subprocess.CompletedProcess, out_files: list[Path]) -> str:
    err = [l for l in proc.stderr.splitlines() if l.strip()]
    if "Traceback" in proc.stderr:
        return "FAIL (traceback)"
    if proc.returncode == 0:
        return "ok"
    if proc.returncode == 2 and len(err) == 1:
        line = err[0].replace("stylegram: error: ", "").replace(str(BAD) + "/", "")
        return "error: " + line.replace("|", "/")
    return f"FAIL (exit {proc.returncode}, {len(err)} lines)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--entries", default=None, help="only these entry points (comma-separated names)")
    ap.add_argument("--update", default=None, help="merge the new rows into this existing table and rewrite it")
    a = ap.parse_args()
    only = set(a.entries.split(",")) if a.entries else None
    files = sorted(BAD.iterdir())
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        entries = _entries(tmp / "work", tmp / "fixtures")
        (tmp / "fixtures").mkdir()
        tmp = tmp / "work"
        tmp.mkdir()
        avail = subprocess.run([sys.executable, "-m", "stylegram", "--help"], capture_output=True, text=True).stdout
        for name, build in entries.items():
            if only is not None and name not in only:
                continue
            cmd = build(files[0])[0]
            if cmd != API and f" {cmd} " not in avail and f"  {cmd}" not in avail:
                continue
            for f in files:
                for p in tmp.iterdir():
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
                argv = build(f)
                argv = [str(REPO / "bench" / "_api_probe.py"), *argv[1:]] if argv[0] == API else ["-m", "stylegram", *argv]
                # Warnings stay on: a user sees them, so a warning above the error line is a FAIL.
                proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=600)
                rows.append((f.name, name, classify(proc, list(tmp.iterdir())).replace(f"{tmp}/", "TMP/")))
                print(f"{f.name:28s} {name:24s} {rows[-1][2]}", file=sys.stderr, flush=True)
        if only is None or "studio" in only:
            rows += studio_rows(files, tmp)
    marker = Path("/tmp/stylegram_pickle_executed")
    if a.update:  # keep the other rows of an earlier full run, in their order
        new = {(f, e): o for f, e, o in rows}
        old = [l.split(" | ") for l in Path(a.update).read_text().splitlines() if l.startswith("| ") and "---" not in l][1:]
        merged = [(c[0][2:], c[1], new.pop((c[0][2:], c[1]), " | ".join(c[2:])[:-2])) for c in old]
        rows = merged + [(f, e, o) for (f, e), o in new.items()]
    lines = ["| file | entry point | outcome |", "| --- | --- | --- |"]
    lines += [f"| {f} | {e} | {o} |" for f, e, o in rows]
    lines.append("")
    lines.append(f"pickle marker {marker} exists: {marker.exists()}")
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    sys.exit(1 if any(o.startswith("FAIL") for _, _, o in rows) or marker.exists() else 0)


if __name__ == "__main__":
    main()
