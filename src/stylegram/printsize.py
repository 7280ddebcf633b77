"""Print sizes: a physical length and a resolution (dots per inch) to pixels, and back.

An artist asks for "30 cm at 300 dpi" or "A3 at 240 dpi"; the engine works in pixels. This is the
one place that turns the first into the second (``print_size_px``), checks both (one-line
ConfigErrors), and says what a picture of so many pixels is at a dpi (``describe``). Like --size,
a print size is the longest side: the photo's aspect ratio gives the other.

Imports no torch: the CLI's help and its errors use it before the engine loads.
"""
from __future__ import annotations

import math
import numbers
import re

from .errors import ConfigError

MM_PER_INCH = 25.4
DEFAULT_DPI = 300  # photo print quality
MIN_DPI, MAX_DPI = 10, 2400

# ISO 216 A sizes: their longest side, mm (a print size is the longest side, as --size is).
PAPER_MM = {"A0": 1189, "A1": 841, "A2": 594, "A3": 420, "A4": 297, "A5": 210, "A6": 148}
UNITS_MM = {"mm": 1.0, "cm": 10.0, "in": MM_PER_INCH}

PRINT_METAVAR = "LENGTH|A3"
PRINT_HELP = ("print size, the longest side: a length (30cm, 300mm, 12in) or a paper size (A0 to A6); "
              "sets the longest side in px from it and --dpi, and the output's resolution")
DPI_HELP = (f"resolution in dots per inch, {MIN_DPI} to {MAX_DPI}, written into the output (PNG, JPEG, TIFF, "
            f"WebP); with --print it sets the size (default then {DEFAULT_DPI})")


def parse_print(text: str) -> tuple[str, float]:
    """(canonical form, length in mm) of a print size: '30cm' -> ('30cm', 300.0), '12 in' ->
    ('12in', 304.8), 'a3' -> ('A3', 420.0). ConfigError, one line, for anything else: an unknown
    unit or paper, a width x height (give the longest side), zero, a negative number, NaN or inf."""
    if not isinstance(text, str):
        raise ConfigError(f"print size {text!r}: give a length such as 30cm, 300mm or 12in, or a paper size A0 to A6")
    s = text.strip()
    if s.upper() in PAPER_MM:
        return s.upper(), float(PAPER_MM[s.upper()])
    if re.search(r"\d\s*[x×]\s*\d", s, re.IGNORECASE):
        raise ConfigError(f"print size {text!r}: give the longest side only, e.g. 40cm; the photo's aspect ratio "
                          "gives the other side")
    m = (re.fullmatch(r"(?P<num>.*?)\s*(?P<unit>mm|cm|in)", s, re.IGNORECASE)
         or re.fullmatch(r"(?P<num>.*?)\s*(?P<unit>[a-zA-Z]*)", s))
    num, unit = m.group("num"), m.group("unit").lower()
    if num.lower() in ("nan", "inf", "+inf", "-inf", "infinity") or (not num and unit in ("nan", "inf", "infinity")):
        raise ConfigError(f"print size {text!r}: must be a finite length, e.g. 30cm")
    if unit not in UNITS_MM:
        what = "unknown paper size" if s[:1].isalpha() else f"unknown unit {unit!r}" if unit else "no unit"
        raise ConfigError(f"print size {text!r}: {what}; give a length in mm, cm or in (e.g. 30cm) "
                          f"or a paper size {', '.join(PAPER_MM)}")
    if not num:
        raise ConfigError(f"print size {text!r}: no number; write e.g. 30cm or 12.5in")
    try:
        value = float(num)
    except ValueError:
        raise ConfigError(f"print size {text!r}: {num!r} is not a number; write e.g. 30cm or 12.5in") from None
    if not math.isfinite(value):
        raise ConfigError(f"print size {text!r}: must be a finite length, e.g. 30cm")
    if value <= 0:
        raise ConfigError(f"print size {text!r}: must be above 0")
    return f"{value:g}{unit}", value * UNITS_MM[unit]


def check_dpi(dpi: object) -> int:
    """``dpi`` as an int; ConfigError, one line saying why, unless a whole number from MIN_DPI to
    MAX_DPI dots per inch."""
    if isinstance(dpi, bool) or not isinstance(dpi, numbers.Integral):
        if isinstance(dpi, float) and dpi.is_integer():
            dpi = int(dpi)
        else:
            raise ConfigError(f"dpi {dpi!r}: must be a whole number of dots per inch, {MIN_DPI} to {MAX_DPI}")
    if dpi < MIN_DPI:
        raise ConfigError(f"dpi {dpi}: below {MIN_DPI} dots per inch a print is a mosaic of visible squares; "
                          f"give {MIN_DPI} to {MAX_DPI} ({DEFAULT_DPI} is photo print quality)")
    if dpi > MAX_DPI:
        raise ConfigError(f"dpi {dpi}: above {MAX_DPI} dots per inch no printer or eye resolves more detail and "
                          f"the pixel count explodes; give {MIN_DPI} to {MAX_DPI} ({DEFAULT_DPI} is photo print quality)")
    return int(dpi)


def print_size_px(print_size: str, dpi: int = DEFAULT_DPI) -> int:
    """The longest side in px of a print ``print_size`` long (e.g. '30cm', '300mm', '12in', 'A3':
    its longest side, 420 mm) at ``dpi`` dots per inch, rounded to the nearest px:
    ``print_size_px('30cm', 300) == 3543``, ``print_size_px('A3', 300) == 4961``. ConfigError,
    one line, for a size or dpi it cannot take (see ``parse_print`` and ``check_dpi``)."""
    _, mm = parse_print(print_size)
    return px_of(mm, check_dpi(dpi))


def px_of(mm: float, dpi: int) -> int:
    """Pixels across ``mm`` millimetres at ``dpi`` dots per inch, to the nearest one."""
    return int(math.floor(mm / MM_PER_INCH * dpi + 0.5))


def largest_dpi(print_size: str, px: int) -> int:
    """The highest dpi at which ``print_size`` needs no more than ``px`` pixels (0 if none)."""
    _, mm = parse_print(print_size)
    return max(0, int(px * MM_PER_INCH / mm))


def physical_cm(px: int, dpi: int) -> float:
    """Length in cm of ``px`` pixels printed at ``dpi``."""
    return px / dpi * MM_PER_INCH / 10


def print_record(width: int, height: int, dpi: int, print_size: str | None = None) -> dict:
    """What a report and a picture's metadata say of its print: the dpi, the physical size of the
    whole picture in cm (width x height, 2 decimals) and the print size asked for, if any."""
    return {"dpi": dpi, "width_cm": round(physical_cm(width, dpi), 2), "height_cm": round(physical_cm(height, dpi), 2),
            "print_size": print_size}


def size_options(options: dict) -> dict:
    """Options given to a run (keywords, or the options typed on a command line), checked and
    completed for the two ways of asking for a size: ConfigError when both ``size`` and
    ``print_size`` are given; a ``size`` alone also clears the print size that a base config
    (an earlier run's --settings) may hold, so that the size typed is the one that runs."""
    if options.get("print_size") is not None and options.get("size") is not None:
        raise ConfigError("size and print_size given together (--size and --print): give one; "
                          "--print sets the longest side from a length and --dpi, as --size does in px")
    if options.get("size") is not None and "print_size" not in options:
        return {**options, "print_size": None}
    return options


def describe(print_size: str, dpi: int) -> str:
    """'30 cm at 300 dpi = 3543 px' ('A3 (42 cm) at 300 dpi = 4961 px'): what a print size asks for."""
    label, mm = parse_print(print_size)
    px = px_of(mm, check_dpi(dpi))
    length = f"{label[:-2]} {label[-2:]}" if label[-2:] in UNITS_MM else f"{label} ({mm / 10:g} cm)"
    return f"{length} at {dpi} dpi = {px} px"
