"""Pictures of what units see: 3 x 3 grids of a unit's top patches, sheets of 9 units per layer
(as on the course slide), and one HTML report with every layer and every unit."""
from __future__ import annotations

import functools
import html
import os
from urllib.parse import quote
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import ConfigError, check_seed, choices_error, whole
from .patches import gather_patches, scan_loader
from .topk import UnitTopK

if TYPE_CHECKING:  # Pillow is imported where pictures are made
    from PIL import Image

    from .scan import UnitScan

UNIT_RULES = ("selective", "random", "strongest", "indices")
_BG = (255, 255, 255)


def choose_units(topk: UnitTopK, rule: str = "selective", n: int = 9, *, seed: int = 0,
                 indices: Sequence[int] | None = None) -> list[int]:
    """Which units to show. 'selective': among the units whose top activation is at least the
    layer's median, the ``n`` highest ``UnitTopK.selectivity`` (top patches that stand out most
    from the unit's typical peak); 'strongest': the highest top-1 activation;
    'random': ``n`` live units drawn with ``seed``; 'indices': ``indices`` as given."""
    c = topk.channels
    if rule == "indices" or indices:
        if not indices:
            raise ConfigError("unit rule 'indices' needs unit indices, e.g. --units 0,5,17")
        bad = [i for i in indices if not 0 <= int(i) < c]
        if bad:
            raise ConfigError(f"unit {bad[0]} does not exist; this layer has units 0..{c - 1}")
        return [int(i) for i in indices]
    if rule == "selective":
        # Among the stronger half only: the z-score alone favours weak units whose rare peaks are
        # noise (deep layers) and the rare pure colours (layer 1) over edges.
        top1 = topk.values[:, 0]
        live = top1 > 0
        strong = live & (top1 >= top1[live].median()) if bool(live.any()) else live
        sel = torch.where(strong, topk.selectivity(), torch.full_like(top1, -1e9))
        return sel.argsort(descending=True, stable=True)[:n].tolist()
    if rule == "strongest":
        return topk.values[:, 0].argsort(descending=True, stable=True)[:n].tolist()
    if rule == "random":
        live = torch.nonzero(topk.values[:, 0] > 0).flatten()
        pool = live if live.numel() >= n else torch.arange(c)
        g = torch.Generator().manual_seed(check_seed(seed))
        return sorted(pool[torch.randperm(pool.numel(), generator=g)[:n]].tolist())
    raise choices_error("unit rule", rule, UNIT_RULES)


VALUE_LABEL_MIN_PX = 32
"""Patches narrower than this are drawn without their value beneath (the number would not fit)."""


def value_label(v: float, width: float | None = None, font_size: int = 10) -> str:
    """An activation as a short label (3 significant digits, '1.23e3' for 1230), with fewer digits
    where it would be wider than ``width`` px in the ``font_size`` px font."""
    def fmt(d: int) -> str:
        return f"{v:.{d}g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    if width is None:
        return fmt(3)
    font = _font(font_size)
    return next((fmt(d) for d in (3, 2) if font.getlength(fmt(d)) <= width), fmt(1))


def patch_values(t: UnitTopK, u: int) -> list[float | None]:
    """Unit ``u``'s top-k activations, best first, for ``unit_grid(values=)``: None at a place no
    image filled (fewer readable images than k)."""
    return [float(t.values[u, r]) if int(t.image[u, r]) >= 0 else None for r in range(t.k)]


def unit_grid(patches: Sequence[np.ndarray], px: int, gap: int = 2, cols: int = 3,
              values: Sequence[float | None] | None = None, font_size: int = 10) -> np.ndarray:
    """Tile up to ``cols * cols`` uint8 (px, px, 3) patches row by row, best first -> uint8 image.

    ``values``: each patch's activation (None: no label), written beneath it in a strip of its own,
    so that no patch is covered (not drawn for patches under ``VALUE_LABEL_MIN_PX``)."""
    from PIL import Image, ImageDraw
    rows = max(1, -(-max(len(patches), 1) // cols))
    if values is not None and px < VALUE_LABEL_MIN_PX:
        values = None
    lab = font_size + 3 if values is not None else 0
    h, w = rows * (px + lab) + (rows - 1) * gap, cols * px + (cols - 1) * gap
    out = np.full((h, w, 3), 255, np.uint8)
    for i, p in enumerate(patches):
        r, c = divmod(i, cols)
        out[r * (px + lab + gap): r * (px + lab + gap) + px, c * (px + gap): c * (px + gap) + px] = p
    if values is None:
        return out
    im = Image.fromarray(out)
    d, font = ImageDraw.Draw(im), _font(font_size)
    for i, v in enumerate(values[:len(patches)]):
        if v is not None:
            r, c = divmod(i, cols)
            d.text((c * (px + gap) + px // 2, r * (px + lab + gap) + px + 1), value_label(v, px + gap, font_size),
                   fill=(40, 40, 40), font=font, anchor="mt")
    return np.asarray(im)


@functools.lru_cache(maxsize=None)
def _font(size: int):
    # cached: a figure asks for the same few sizes once per label (a 512-channel Gram map's ticks,
    # a sheet's captions), and loading the font each time was most of the drawing time
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def layer_sheet(grids: Sequence[np.ndarray], labels: Sequence[str], title: str, cols: int = 3,
                gap: int = 14) -> "Image.Image":
    """Arrange unit grids (each uint8 (h, w, 3), all the same size) ``cols`` per row, each under its
    label, with a title (lines after a '\\n' in a smaller font): the course's slide for one layer."""
    from PIL import Image, ImageDraw

    gh, gw = grids[0].shape[:2]
    lab = 18
    rows = -(-len(grids) // cols)
    lines = title.split("\n")  # a second line under the first, in a smaller font
    head = 28 + 16 * (len(lines) - 1)
    # as wide as the title too: with small patches (--patch-px 32) it was cut off at the grids' edge
    widest = max(_font(15 if i == 0 else 12).getlength(t) for i, t in enumerate(lines))
    W = max(cols * gw + (cols + 1) * gap, int(widest) + 2 * gap)
    H = head + rows * (gh + lab) + (rows + 1) * gap
    sheet = Image.new("RGB", (W, H), _BG)
    d = ImageDraw.Draw(sheet)
    d.text((gap, 6), lines[0], fill=(0, 0, 0), font=_font(15))
    for i, line in enumerate(lines[1:]):
        d.text((gap, 26 + 16 * i), line, fill=(40, 40, 40), font=_font(12))
    for i, (g, text) in enumerate(zip(grids, labels)):
        r, c = divmod(i, cols)
        x = gap + c * (gw + gap)
        y = head + gap + r * (gh + lab + gap)
        d.text((x, y), text, fill=(40, 40, 40), font=_font(12))
        sheet.paste(Image.fromarray(g), (x, y + lab))
    return sheet


def histogram_svg(counts: Sequence[int], top: float, marks: Sequence[float] = (), w: int = 180, h: int = 60) -> str:
    """A small inline SVG bar chart of a histogram over [0, top); ``marks`` (e.g. the top-k values)
    are drawn as red ticks. Log-scaled heights so rare peaks stay visible."""
    counts = [int(c) for c in counts]
    n = len(counts)
    peak = max(np.log1p(max(counts)), 1e-9) if counts else 1.0
    bw = w / max(n, 1)
    parts = [f'<svg class="hist" width="{w}" height="{h + 12}" viewBox="0 0 {w} {h + 12}">']
    for i, c in enumerate(counts):
        bh = h * np.log1p(c) / peak if c else 0
        parts.append(f'<rect x="{i * bw:.1f}" y="{h - bh:.1f}" width="{max(bw - 1, 1):.1f}" height="{bh:.1f}" fill="#5b7fa6"/>')
    for m in marks:
        if top > 0 and m > 0:
            x = min(m / top, 1) * w
            parts.append(f'<line x1="{x:.1f}" y1="{h}" x2="{x:.1f}" y2="{h - 10}" stroke="#c0392b"/>')
    parts.append(f'<text x="0" y="{h + 11}" font-size="9">0</text>')
    parts.append(f'<text x="{w}" y="{h + 11}" font-size="9" text-anchor="end">{top:.3g}</text></svg>')
    return "".join(parts)


def _save_image(arr_or_img, path: Path, quality: int = 88, durable: bool = True) -> None:
    """Write a PNG/JPEG via a temporary file and a rename (``write_atomic``: a full disk or a folder
    that refuses it is one line, and no partial file is left). ``durable=False`` skips the fsync:
    for the report's thousands of small unit images, where fsync would dominate the run time."""
    from PIL import Image

    from ..io.image import write_atomic
    im = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    kw = {"quality": quality} if fmt == "JPEG" else {}
    write_atomic(path, lambda tmp: im.save(tmp, format=fmt, **kw), durable=durable)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _scan_notes(scan: UnitScan) -> str:
    """What the page's count of images leaves out: ' (the scan stopped after 6 of the 10 files;
    1 unreadable file skipped)', or ''. The count was of files, the unreadable ones among them
    ("11 images ... (1 unreadable, skipped)" for 10 images seen)."""
    notes = [] if scan.complete else [f"the scan stopped after {scan.done} of the {len(scan.files)} files"]
    if scan.skipped:
        notes.append(f"{_plural(len(scan.skipped), 'unreadable file')} skipped")
    return f" ({'; '.join(notes)})" if notes else ""


def check_patch_px(patch_px: int) -> None:
    """Raise ConfigError unless ``patch_px`` (the side of a drawn patch) is a usable size."""
    if whole("patch_px", patch_px) < 8:
        raise ConfigError(f"patch_px {patch_px!r}: must be at least 8 px")


def write_report(scan: UnitScan, out_dir: str | os.PathLike, *, rule: str = "selective", n_units: int = 9, seed: int = 0,
                 indices: dict[str, Sequence[int]] | None = None, patch_px: int = 64, all_units: bool = True,
                 progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Render a UnitScan into ``out_dir``: ``sheet_<layer>.png`` (9 chosen units, 3 x 3 patches
    each), ``units/<layer>/uNNNN.jpg`` (every unit's top patches) and ``index.html`` (all layers, the
    receptive-field table, each unit's top patches, histogram of per-image peaks and image names).

    ``rule``/``n_units``/``seed``/``indices`` (per layer) choose the sheet's units (see
    ``choose_units``); ``all_units=False`` limits the HTML to the sheet's units. Returns a summary
    dict (paths, chosen units, counts). ``progress(stage, done, total)`` reports the cropping.
    ``patch_px``: the side of each patch drawn, px (at least 8; values under 32 px leave out the
    activation beneath it).
    """
    check_patch_px(patch_px)
    from ..io.image import make_folder
    out = make_folder(out_dir, parents=True)
    chosen: dict[str, list[int]] = {}
    for l, t in scan.layers.items():
        chosen[l] = choose_units(t, rule, n_units, seed=seed, indices=(indices or {}).get(l))
    shown = {l: (list(range(t.channels)) if all_units else chosen[l]) for l, t in scan.layers.items()}
    requests = []
    for l, t in scan.layers.items():
        for u in sorted(set(shown[l]) | set(chosen[l])):
            for r in range(t.k):
                requests.append((int(t.image[u, r]), l, u, r, t.pos[u, r].tolist()))
    patches = gather_patches(requests, scan.info, scan_loader(scan), patch_px,
                             progress=(lambda d, n: progress("cropping", d, n)) if progress else None)
    blank = np.full((patch_px, patch_px, 3), 255, np.uint8)
    # images: those the net saw; skipped: the unreadable files, not among them
    summary: dict = {"out_dir": str(out), "sheets": {}, "chosen": chosen, "rule": rule,
                     "images": scan.seen, "skipped": len(scan.skipped), "size": scan.size}
    sections = []
    for l, t in scan.layers.items():
        info = scan.info[l]

        def grid(u: int, values: bool = False) -> np.ndarray:
            return unit_grid([patches.get((l, u, r), blank) for r in range(t.k)], patch_px,
                             values=patch_values(t, u) if values else None)

        title = (f"{l}: {len(chosen[l])} {rule} units, top {t.k} patches each "
                 f"(field {info.rf_size} px of a {scan.size}-px view, shown at {patch_px} px)")
        if patch_px >= VALUE_LABEL_MIN_PX:  # each patch's own value: only the unit's maximum was on the sheet
            title += "\nunder each patch: its activation, best first"
        sheet = layer_sheet([grid(u, True) for u in chosen[l]],
                            [f"unit {u}  max {float(t.values[u, 0]):.3g}" for u in chosen[l]], title)
        sheet_path = out / f"sheet_{l}.png"
        _save_image(sheet, sheet_path)
        summary["sheets"][l] = str(sheet_path)
        udir = make_folder(out / "units" / l, parents=True)
        sel = t.selectivity()
        order = sorted(shown[l], key=lambda u: -float(sel[u]))
        dead = int((t.values[:, 0] <= 0).sum())
        # the unit image's own size: unit_grid's rows of three, as many rows as --top needs (a fixed
        # three rows stretched --top 4's two rows and squashed --top 20's seven)
        unit_h, unit_w = unit_grid([blank] * t.k, patch_px).shape[:2]
        cards = []
        for u in order:
            _save_image(grid(u), udir / f"u{u:04d}.jpg", durable=False)
            names = []
            for r in range(t.k):
                i = int(t.image[u, r])
                if i >= 0:
                    names.append(f"{html.escape(scan.files[i])} ({float(t.values[u, r]):.3g})")
            hist = histogram_svg(t.hist[u].tolist(), float(t.top[u]), t.values[u].clamp_min(0).tolist())
            cards.append(
                f'<div class="unit" id="{l}-{u}"><div class="uh">unit {u} &middot; sel {float(sel[u]):.2f} '
                f'&middot; mean peak {float(t.mean()[u]):.3g}</div>'
                f'<img loading="lazy" src="units/{quote(l)}/u{u:04d}.jpg" width="{unit_w}" '
                f'height="{unit_h}" alt="{html.escape(l)} unit {u}: its top {t.k} patches, best first">{hist}'
                f'<details><summary>images</summary><ol>{"".join(f"<li>{n}</li>" for n in names)}</ol></details></div>')
        sections.append(
            f'<h2 id="{l}">{l}</h2><p>{t.channels} units ({dead} never active), field {info.rf_size} px, '
            f'stride {info.jump} px. Sheet: {len(chosen[l])} units by rule <b>{rule}</b>.</p>'
            f'<img class="sheet" src="sheet_{quote(l)}.png" alt="{html.escape(l)}: sheet of {len(chosen[l])} units, '
            f'top {t.k} patches each"><h3>every unit, most selective first</h3>'
            f'<div class="units">{"".join(cards)}</div>')
    rows = "".join(
        f"<tr><td><a href='#{l}'>{l}</a></td><td>{t.channels}</td><td>{scan.info[l].jump}</td>"
        f"<td>{scan.info[l].rf_size}</td><td>{scan.info[l].rf_start:g}</td>"
        f"<td>{scan.size // scan.info[l].jump}</td></tr>" for l, t in scan.layers.items())
    # Which files were left out, so that a user can open them or run `stylegram explore activations` on one.
    skipped = (f"<details><summary>{_plural(len(scan.skipped), 'unreadable file')}, skipped</summary><ul>"
               + "".join(f"<li><code>{html.escape(f)}</code></li>" for f in scan.skipped) + "</ul></details>"
               if scan.skipped else "")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>stylegram explore: {html.escape(scan.net_name)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1400px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}} .units{{display:flex;flex-wrap:wrap;gap:10px}}
.unit{{border:1px solid #ddd;padding:4px;width:{3 * patch_px + 12}px;font-size:11px}} .unit img{{display:block}}
.sheet{{max-width:100%}} details{{font-size:10px}} ol{{padding-left:1.4em;margin:2px}}</style></head><body>
<h1>What the units of {html.escape(scan.net_name)} respond to</h1>
<p>{_plural(scan.seen, 'image')} under <code>{html.escape(str(scan.root))}</code>{_scan_notes(scan)},
each shown to the net as a centre {scan.size} x {scan.size} px square. For every unit: the {next(iter(scan.layers.values())).k}
image patches (receptive fields, grey where the field reaches past the image border) with the highest activation,
at most {next(iter(scan.layers.values())).per_image} per image, among units whose field lies at least
{scan.min_inside:.0%} inside the view; the histogram is of each image's peak activation for
the unit (log counts; red ticks: the top patches). Selectivity = (mean of the top activations - mean peak) / std of peaks.</p>
{skipped}<h2>Receptive fields</h2><table><tr><th>layer</th><th>units</th><th>stride (px)</th><th>field (px)</th>
<th>field centre at map position 0 (px)</th><th>map side</th></tr>{rows}</table>
{"".join(sections)}</body></html>"""
    from ..io.image import write_atomic
    write_atomic(out / "index.html", lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    summary["html"] = str(out / "index.html")
    return summary
