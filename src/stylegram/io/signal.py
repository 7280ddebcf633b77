"""Multichannel 1D signals (ECG, sensors) in and out: .npy and .csv arrays of channels x samples
(or samples x channels: ``layout_of`` gives the rule).

A signal tensor is (1, C, N): C channels, N samples, float32 in the file's units.
"""
from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, InputError
from .image import existing_file, load_npy, other_media_hint, save_npy, write_atomic

SIGNAL_SUFFIXES = (".npy", ".csv")


def _header_rows(path: Path) -> int:
    """1 when the CSV's first line names its columns (no field of it is a number), else 0."""
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    fields = [v.strip() for v in first.split(",") if v.strip()]
    if not fields or first.lstrip().startswith("#"):
        return 0

    def number(v: str) -> bool:
        try:
            float(v)
            return True
        except ValueError:
            return False
    return 0 if any(number(v) for v in fields) else 1


def csv_channel_names(path: str | os.PathLike) -> list[str] | None:
    """The column names of a .csv signal's header line (``lead1,pressure``), or None without one."""
    p = Path(path)
    if p.suffix.lower() != ".csv" or not p.is_file() or not _header_rows(p):
        return None
    # as CSV, not split at every comma: a quoted name may hold one ("I, limb",pressure: 3 names for 2
    # columns, and the header was dropped)
    with open(p, encoding="utf-8", errors="replace", newline="") as f:
        return [v.strip() for v in next(csv.reader(f), [])]


CHANNELS_IN = ("auto", "rows", "columns")


def check_channels_in(channels_in: str) -> str:
    """``channels_in`` if it is one of CHANNELS_IN, else one ConfigError line."""
    if channels_in not in CHANNELS_IN:
        raise ConfigError(f"channels_in {channels_in!r}: use 'auto', 'rows' or 'columns'")
    return channels_in


def layout_of(shape: tuple[int, ...], suffix: str, *, header: bool = False, channels_in: str = "auto") -> str:
    """Which axis of an array of ``shape`` from a ``suffix`` file (".npy" or ".csv") holds the
    channels: "flat" (1D: one channel), "samples" (N x C: a column per channel) or "channels"
    (C x N: a row per channel). ``channels_in`` "rows" or "columns" decides; "auto" reads a .csv
    with a ``header`` line (its column names) by columns, else the longer axis as the samples, and a
    square array (ambiguous: see ``ambiguous_layout``) in the layout ``save_signal`` writes: a .csv
    by columns, a .npy by rows."""
    check_channels_in(channels_in)
    if len(shape) != 2:
        return "flat" if len(shape) == 1 else "channels"
    if channels_in != "auto":
        return "samples" if channels_in == "columns" else "channels"
    if suffix == ".csv" and (header or shape[0] >= shape[1]):
        return "samples"
    return "samples" if shape[0] > shape[1] else "channels"


def ambiguous_layout(path: str | os.PathLike, x: torch.Tensor, channels_in: str = "auto") -> str | None:
    """A one-line warning (without the 'warning:' prefix) when ``load_signal(path, channels_in)``
    chose between rows and columns of a square array by convention alone, saying which reading it
    took and the option for the other; None when the file decided (or ``channels_in`` did)."""
    c, n = x.shape[-2:]
    if channels_in != "auto" or c != n or c < 2 or csv_channel_names(path) is not None:
        return None
    p = Path(path)
    took, other = ("columns", "rows") if p.suffix.lower() == ".csv" else ("rows", "columns")
    return (f"{path} is {c} x {n}, so which axis holds the channels is ambiguous: read as {c} channels in "
            f"{took} ({n} samples each, as stylegram writes a {p.suffix.lower()}); if its {other} are the "
            f"channels, give --channels-in {other}")


def npy_layout(path: str | os.PathLike, channels_in: str = "auto") -> str:
    """How a .npy signal lays out its samples, for ``save_signal`` to write a result the same way:
    "flat" (one channel, shape (N,)), "samples" (N x C) or "channels" (C x N, and anything that is
    not a readable .npy), as ``load_signal`` reads it with ``channels_in`` (see ``layout_of``)."""
    try:
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    except Exception:  # load_signal says what is wrong with it
        return "channels"
    return layout_of(shape, ".npy", channels_in=channels_in)


def load_signal(path: str | os.PathLike, channels_in: str = "auto") -> torch.Tensor:
    """Read a .npy or .csv array as (1, C, N) float32.

    A 1D array (or a one-column .csv) is one channel. Of a 2D array ``channels_in`` "rows" takes
    each row as a channel, "columns" each column; "auto" (see ``layout_of``) takes a .csv's columns
    when it has a header line, else the longer axis as the samples (the usual CSV layout, a column
    per channel, and a (C, N) array both read right), and a square array as ``save_signal`` writes it
    (a .csv by columns, a .npy by rows; ``ambiguous_layout`` gives the warning to print). Raises
    InputError for missing, unreadable, empty, non-finite or >2D arrays.
    """
    check_channels_in(channels_in)
    p = existing_file(path, "a .npy or .csv signal")
    suffix = p.suffix.lower()
    header = 0
    try:
        if suffix == ".npy":
            a = load_npy(p)
        elif suffix == ".csv":
            header = _header_rows(p)
            with warnings.catch_warnings():
                # numpy's "input contained no data" came out as two more lines before the error
                warnings.simplefilter("ignore", UserWarning)
                a = np.loadtxt(p, delimiter=",", dtype=np.float64, ndmin=2, comments="#", skiprows=header)
            if a.size == 0:
                only = "its header line" if header else "comments and blank lines"
                raise InputError(f"{path}: no rows of numbers, only {only}; a .csv signal has a row per sample "
                                 "and a column per channel")
            if a.shape[1] == 1 and channels_in != "rows":
                a = a[:, 0]
        else:
            raise InputError(f"{path}: unknown signal type {suffix!r}; use .npy or .csv"
                             f"{other_media_hint(p, 'signal')}")
    except InputError:
        raise
    except (ValueError, OSError) as e:
        raise InputError(f"{path}: not a numeric {suffix} array ({str(e).splitlines()[0][:100]})") from None
    if a.dtype.kind not in "fiub":
        raise InputError(f"{path}: array of {a.dtype} is not numeric")
    a = np.asarray(a, dtype=np.float32)
    if a.ndim not in (1, 2):
        raise InputError(f"{path}: array has {a.ndim} axes {a.shape}; a signal is channels x samples")
    if layout_of(a.shape, suffix, header=bool(header), channels_in=channels_in) == "samples":
        a = a.T
    if a.ndim == 1:
        a = a[None]
    if a.size == 0 or a.shape[1] < 2:
        raise InputError(f"{path}: signal has no samples {a.shape}; give at least a few samples per channel")
    if not np.isfinite(a).all():
        raise InputError(f"{path}: contains {int((~np.isfinite(a)).sum())} NaN/Inf value(s); fill them first")
    return torch.from_numpy(np.ascontiguousarray(a))[None]


def ecg_from_dicom(path: str | os.PathLike, group: int = 0) -> tuple[torch.Tensor, float]:
    """A DICOM waveform (e.g. pydicom's 12-lead waveform_ecg.dcm) as (1, leads, samples) float32
    in its units (usually uV) and the sampling rate in Hz."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path))
        arr = ds.waveform_array(group)
        rate = float(ds.WaveformSequence[group].SamplingFrequency)
    except (InvalidDicomError, AttributeError, KeyError, IndexError, OSError) as e:
        raise InputError(f"{path}: no DICOM waveform (group {group}) readable ({type(e).__name__})") from None
    return torch.from_numpy(np.ascontiguousarray(arr.T, dtype=np.float32))[None], rate


def save_signal(x: torch.Tensor, path: str | os.PathLike, names: list[str] | None = None,
                layout: str = "channels") -> None:
    """Write (1, C, N) or (C, N) as .npy (C, N) or .csv (N rows, C columns), atomically; a .csv gets
    the header line ``names`` (one per channel, e.g. the input's own) when given. A .npy is written
    in ``layout`` (see ``npy_layout``): "channels" (C, N), "samples" (N, C) or "flat" (N,) for one
    channel."""
    a = x.detach().cpu().float().reshape(-1, x.shape[-1]).numpy()
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        arr = a.T if layout == "samples" else a[0] if layout == "flat" and a.shape[0] == 1 else a
        save_npy(path, np.ascontiguousarray(arr))
    elif suffix == ".csv":
        # 9 significant digits: every float32 exactly (with 6 a 101325 +- 0.3 Pa channel kept 3 values)
        header = ""
        if names and len(names) == a.shape[0]:  # quoted where a name holds a comma or a quote
            line = io.StringIO()
            csv.writer(line, lineterminator="").writerow(names)
            header = line.getvalue()
        write_atomic(path, lambda tmp: np.savetxt(tmp, a.T, delimiter=",", fmt="%.9g", header=header, comments=""))
    else:
        raise ConfigError(f"{path}: unknown signal output type {suffix!r}; use .npy or .csv")


def plot_signals(signals: dict[str, torch.Tensor], path: str | os.PathLike, *, rate: float | None = None,
                 max_channels: int = 12) -> None:
    """Plot each named (1, C, N) signal as a column of stacked channels (PNG/SVG/PDF)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    names = list(signals)
    c = min(max(s.shape[1] for s in signals.values()), max_channels)
    fig = Figure(figsize=(5 * len(names), 0.9 * c + 1), dpi=100)
    axes = fig.subplots(c, len(names), squeeze=False, sharey="row")
    for j, name in enumerate(names):
        s = signals[name].detach().cpu().float().reshape(-1, signals[name].shape[-1]).numpy()
        t = np.arange(s.shape[1]) / rate if rate else np.arange(s.shape[1])
        for i in range(c):
            ax = axes[i][j]
            if i < s.shape[0]:
                ax.plot(t, s[i], lw=0.6)
            ax.tick_params(labelsize=6)
            if j == 0:  # which channel each row is: rows were unlabelled, and channels past max_channels left out silently
                ax.set_ylabel(f"ch {i}", fontsize=8)
            if i == 0:
                ax.set_title(name if s.shape[0] <= c else f"{name} (first {c} of {s.shape[0]} channels)")
        axes[-1][j].set_xlabel("time (s)" if rate else "sample")
    fig.tight_layout()
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=suffix))
