"""The README's example figure: photo, painting and the default preset's 512 px result, a row a
pair, from the images bench/quality.py rendered (bench/results/quality/ours_<pair>.png).

  python bench/readme_figure.py [--out docs/media/readme_examples.jpg]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "data" / "images"
ROWS = [("chelsea.png", "woman-with-hat-matisse.jpg", "ours_chelsea_woman.png"),
        ("astronaut.png", "starry_night.jpg", "ours_astronaut_starry.png")]
HEIGHT, PAD = 240, 6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "media" / "readme_examples.jpg"))
    a = ap.parse_args()
    rows = []
    for photo, painting, result in ROWS:
        tiles = [Image.open(IMAGES / photo), Image.open(IMAGES / painting),
                 Image.open(REPO / "bench" / "results" / "quality" / result)]
        rows.append([t.convert("RGB").resize((round(t.width * HEIGHT / t.height), HEIGHT), Image.LANCZOS) for t in tiles])
    width = max(sum(t.width for t in r) + PAD * (len(r) + 1) for r in rows)
    sheet = Image.new("RGB", (width, len(rows) * (HEIGHT + PAD) + PAD), "white")
    for i, r in enumerate(rows):
        x = PAD
        for t in r:
            sheet.paste(t, (x, PAD + i * (HEIGHT + PAD)))
            x += t.width + PAD
    sheet.save(a.out, quality=88)
    print(a.out, sheet.size)


if __name__ == "__main__":
    main()
