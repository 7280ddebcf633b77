"""Start-up time of the command line and of ``import stylegram``: the wall time of each command,
run in a fresh interpreter ``--runs`` times (median, min, max), and whether it loaded torch.

  python bench/startup.py [--runs 5] [--src DIR] [--out FILE]

``--src`` measures another checkout's ``src`` (e.g. an older commit unpacked with ``git archive``)
with this interpreter. Every command must end with the exit code listed beside it (``--help`` 0, a
missing or unreadable input 2), or the script stops: a fast wrong answer is no figure. Prints one
JSON object, with the 1-minute load average before and after (other work on the cores slows every row).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The `stylegram` console script is `stylegram.cli:main`; `python -m stylegram` goes through __main__.
CLI = ["-c", "from stylegram.cli import main; main()"]
CASES = [
    ("stylegram --help", CLI + ["--help"], 0),
    ("stylegram transfer --help", CLI + ["transfer", "--help"], 0),
    ("stylegram texture --help", CLI + ["texture", "--help"], 0),
    ("stylegram serve --help", CLI + ["serve", "--help"], 0),
    ("python -m stylegram --help", ["-m", "stylegram", "--help"], 0),
    ("stylegram transfer missing.jpg also_missing.jpg -o out.png", CLI + ["transfer", "missing.jpg",
                                                                         "also_missing.jpg", "-o", "out.png"], 2),
    # a file that is there but no image (NOT_AN_IMAGE's bytes): refused before the net is built
    ("stylegram transfer not_an_image.png not_an_image.png -o out.png", CLI + ["transfer", "not_an_image.png",
                                                                              "not_an_image.png", "-o", "out.png"], 2),
    ("python -c 'import stylegram'", ["-c", "import stylegram"], 0),
]
NOT_AN_IMAGE = b"this is text, not a PNG\n"
PROBE = "import sys; {} ; print('torch' in sys.modules, 'torch._dynamo' in sys.modules)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--src", default=str(REPO / "src"), help="the src folder whose stylegram is measured")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(Path(args.src).resolve())}
    load_before = os.getloadavg()[0]  # a busy machine (other work on the cores) slows every row
    rows = []
    with tempfile.TemporaryDirectory() as cwd:  # the missing files are missing there
        (Path(cwd) / "not_an_image.png").write_bytes(NOT_AN_IMAGE)
        for name, argv, code in CASES:
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                r = subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True)
                times.append(time.perf_counter() - t)
                if r.returncode != code:
                    sys.exit(f"{name}: exit code {r.returncode}, expected {code}\n{r.stderr}")
            rows.append({"command": name, "median_s": round(statistics.median(times), 3),
                         "min_s": round(min(times), 3), "max_s": round(max(times), 3)})
        for what, stmt in (("import stylegram", "import stylegram"),
                           ("import stylegram.cli", "import stylegram.cli"),
                           ("stylegram --help", "from stylegram.cli import cli; cli.main(['--help'], standalone_mode=False)"),
                           ("stylegram transfer --help",
                            "from stylegram.cli import cli; cli.main(['transfer', '--help'], standalone_mode=False)")):
            out = subprocess.run([sys.executable, "-c", PROBE.format(stmt)], cwd=cwd, env=env, capture_output=True,
                                 text=True, check=True).stdout.split()
            rows.append({"loads": what, "torch": out[-2] == "True", "torch._dynamo": out[-1] == "True"})
        # where `stylegram --help`'s time goes: the largest cumulative entries of -X importtime (ms)
        err = subprocess.run([sys.executable, "-X", "importtime", *CLI, "--help"], cwd=cwd, env=env,
                             capture_output=True, text=True).stderr
        entries = [line.split("|") for line in err.splitlines() if line.startswith("import time:") and "cumulative" not in line]
        top = sorted(((int(c), n.strip()) for _, c, n in entries), reverse=True)[:8]
        importtime = [f"{name} {us / 1000:.0f} ms" for us, name in top]
    import torch  # noqa: E402  (after the timed runs: its version, for the record)
    result = {"bench": "startup", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "python": platform.python_version(), "torch": torch.__version__, "runs": args.runs,
              "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)], "src": args.src, "rows": rows,
              "importtime_help_top": importtime}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
