"""Every file of ../shared/data/bad/ through every entry point: a table of outcomes.

  python bench/bad_table.py [--out docs/bad_inputs.md]

Outcome per (file, entry point): 'ok' (a correct result was written), 'error: <the one line>'
(a clean refusal; exit code 2 on the CLI), or 'FAIL' (a traceback, another exit code, or more than
one line). Each file is given in the role it could plausibly play at that entry point; the table
then says how each was handled. Exits 1 if any cell is FAIL.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAD = REPO.parent / "shared" / "data" / "bad"
IMG = REPO / "examples" / "starry_night.jpg"
FAST = ["--size", "64", "--iters", "2", "--net", "random-tiny", "-q", "--device", "cpu"]


def _entries(tmp: Path) -> dict[str, Callable[[Path], list[str]]]:
    """Entry point name -> argv builder for a bad file. Commands absent from this build are skipped."""
    return {
        "transfer (content)": lambda f: ["transfer", str(f), str(IMG), "-o", str(tmp / "o.png"), *FAST],
        "transfer (style)": lambda f: ["transfer", str(IMG), str(f), "-o", str(tmp / "o.png"), *FAST],
        "transfer --weights": lambda f: ["transfer", str(IMG), str(IMG), "-o", str(tmp / "o.png"), "--size", "64",
                                         "--iters", "1", "--net", "vgg16", "--weights", str(f), "-q", "--device", "cpu"],
    }


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
    a = ap.parse_args()
    files = sorted(BAD.iterdir())
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        entries = _entries(tmp)
        avail = subprocess.run([sys.executable, "-m", "stylegram", "--help"], capture_output=True, text=True).stdout
        for name, build in entries.items():
            cmd = build(files[0])[0]
            if f" {cmd} " not in avail and f"  {cmd}" not in avail:
                continue
            for f in files:
                for p in tmp.iterdir():
                    p.unlink() if p.is_file() else None
                proc = subprocess.run([sys.executable, "-m", "stylegram", *build(f)], capture_output=True, text=True,
                                      timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                rows.append((f.name, name, classify(proc, list(tmp.iterdir()))))
                print(f"{f.name:28s} {name:24s} {rows[-1][2]}", file=sys.stderr, flush=True)
    marker = Path("/tmp/stylegram_pickle_executed")
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
