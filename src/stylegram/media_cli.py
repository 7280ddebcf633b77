"""The media commands of `stylegram`: audio, audio-texture, signal-texture, volume, solid-texture
and video. Arguments -> io (files to tensors) -> media engine -> io (tensors to files); no maths.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import click


def _check_out(out: str, inputs: list[str], suffixes) -> Path:
    """-o checked before any work (and the --report beside it, which is written at the end):
    a known suffix, an existing folder, not one of the inputs."""
    from .io.image import check_output_path
    report = click.get_current_context().params.get("report")
    if report:
        check_output_path(report, inputs, suffixes=[".json"], outputs=[out])
    return check_output_path(out, inputs, suffixes=list(suffixes))


def _check_slices(slices: int) -> None:
    """--slices as typed: 0 means every slice. The engine's own check (slices_per_axis >= 1, None
    for every slice) spoke of a value the command line does not take, and solid-texture let -1
    through when its levels were too small to use random slices."""
    from .errors import ConfigError
    if slices < 0:
        raise ConfigError(f"slices {slices}: must be 0 (every slice) or a number of slices per axis")


def _stem(out: Path) -> str:
    """OUT without its suffix (.nii.gz as one), whatever its case: the side files' base name."""
    name = str(out)
    for sfx in (".nii.gz", out.suffix.lower()):
        if sfx and name.lower().endswith(sfx):
            return name[: len(name) - len(sfx)]
    return name


# The arguments that name input files: the report names them by file and sha256 ("inputs"), not by
# their folders, as an image's metadata does.
_INPUTS = ("content", "style", "signal", "video", "exemplar")
_NOT_PARAMS = _INPUTS + ("output", "report", "plot", "quiet")


def _iters(api) -> tuple[int, dict]:
    """(iterations that will run, keyword arguments for ``api``): --iters as given, else the
    default of the media function ``api`` (0 is a choice: no iterations). Without --iters the
    command passes nothing, so the API's signature is the one source of the default (the CLI had
    its own 100 against the API's 200 for sound and 60 for solid textures: different results);
    the value used, not None, goes into the progress bar and the report's params."""
    import inspect
    params = click.get_current_context().params
    given = params.get("iters")
    if given is None:
        params["iters"] = inspect.signature(api).parameters["iters"].default
    return params["iters"], ({} if given is None else {"iters": given})


def _report(path: str | None, data: dict, known: dict[str, str] | None = None) -> None:
    """Write the --report JSON: the command's figures, every option it ran with (defaults
    included), its input files and the versions, so a run can be told apart and repeated.
    ``known``: {input path: sha256} the command has computed already (see describe_sources)."""
    if path:
        from . import __version__
        from .io.image import describe_sources
        from .report import write_json
        from .transfer import versions
        given = click.get_current_context().params
        write_json({"stylegram": __version__, "task": {"command": data["command"]}, **data,
                    "params": {k: v for k, v in given.items() if k not in _NOT_PARAMS},
                    "inputs": describe_sources((given[k] for k in _INPUTS if k in given), known),
                    "versions": versions()}, path)


def _finish(bar: ProgressBar, out: Path, report: str | None, data: dict, message: str, quiet: bool) -> None:
    """The last step of a stoppable media command, once its files are saved: the JSON report, the
    one-line summary, and exit 130 when the user stopped the run early."""
    _report(report, data)
    if not quiet:
        click.echo(message, err=True)
    exit_if_stopped(bar, str(out))


def _run_summary(run) -> dict:
    return {"initial": run.initial, "final": run.final, "style_drop": run.style_drop(), "evals": run.evals,
            "seconds_optimize": round(run.seconds, 3), "stopped": run.stopped, "message": run.message,
            "history": run.history}


_common = [
    click.option("--iters", type=int, default=None, help="optimizer iterations (default per command)"),
    click.option("--seed", type=int, default=0, show_default=True, help="random seed (nets, noise), 0 to 2^32-1"),
    click.option("--report", type=click.Path(dir_okay=False), default=None, help="write a JSON run report here"),
    click.option("-q", "--quiet", is_flag=True, help="no progress bar and no summary line (errors and warnings still print)"),
]


def common(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


# ------------------------------------------------------------------------------------- sound

_WAV_OUT = "output .wav (16-bit, mono, at --rate)"
_RATE_HELP = ("sample rate to work at and of OUTPUT, Hz (inputs at other rates are resampled; a 44.1 or 96 kHz "
              "file gives a 22.05 kHz result unless this says otherwise)")


def _gain_note(gain_db: float) -> str:
    """', scaled by -1.2 dB so as not to clip' where save_wav turned the sound down, else ''."""
    # two decimals below 0.1 dB: a peak of 0.975 (-0.04 dB) read "scaled by -0.0 dB"
    return f", scaled by {gain_db:.{1 if gain_db <= -0.1 else 2}f} dB so as not to clip" if gain_db < 0 else ""


def _audio_outputs(out: Path, rate: int, hop: int, spectra: dict, quiet: bool) -> list[Path]:
    from .io.audio import save_spectrogram_png
    paths = []
    top = max(float(s.max()) for s in spectra.values())
    import numpy as np
    vmax = 20 * float(np.log10(np.expm1(top) + 1e-4))
    for name, s in spectra.items():
        p = Path(f"{_stem(out)}.{name}.png")
        save_spectrogram_png(s, rate, hop, p, title=f"{name}: {out.name}", vmax=vmax)
        paths.append(p)
    if not quiet:
        click.echo("spectrograms: " + ", ".join(map(str, paths)), err=True)
    return paths


@click.command("audio")
@click.argument("content", type=click.Path(dir_okay=False))
@click.argument("style", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help=_WAV_OUT)
@click.option("--rate", type=int, default=22050, show_default=True, help=_RATE_HELP)
@click.option("--alpha", type=float, default=1.0, show_default=True, help="content weight")
@click.option("--beta", type=float, default=1e3, show_default=True, help="style weight")
@click.option("--filters", type=int, default=512, show_default=True, help="filters of the random 1D bank")
@click.option("--max-seconds", type=float, default=30.0, show_default=True, help="read at most this much of each input")
@common
def audio_cmd(content, style, output, rate, alpha, beta, filters, max_seconds, iters, seed, report, quiet):
    """Give the sound CONTENT the texture of STYLE (log-STFT, 1D random bank, Griffin-Lim).
    Writes OUTPUT.wav and spectrogram PNGs beside it (OUT.content.png, .style.png, .result.png)."""
    import torch

    from .errors import InputError
    from .io.audio import SILENCE_PEAK, audio_seconds, load_audio, save_wav, spectrogram
    from .media import audio_transfer

    out = _check_out(output, [content, style], [".wav"])
    c, _ = load_audio(content, rate, seconds=max_seconds, allow_silent=True)
    if float(abs(c).max()) < SILENCE_PEAK:  # its spectrogram is zeros, where every gradient is zero too
        raise InputError(f"{content}: is silent (peak {float(abs(c).max()):.1e}); the transfer keeps the content's "
                         "sound, so the result would be silence: give audible sound, or use `stylegram audio-texture`")
    s, _ = load_audio(style, rate, seconds=max_seconds)
    iters, given_iters = _iters(audio_transfer)
    with ProgressBar(iters, "audio", quiet, stoppable=True) as bar:
        res = audio_transfer(torch.from_numpy(c), torch.from_numpy(s), rate, alpha=alpha, beta=beta, **given_iters,
                             seed=seed, filters=filters, callback=bar.update)
    gain_db = save_wav(res.samples, rate, out)
    whole_seconds = audio_seconds(content)
    if whole_seconds > max_seconds:  # the result is as long as the content read: say so, not a silent cut
        # (after the run: a refused option stays one error line)
        click.echo(f"stylegram: warning: {content} is {whole_seconds:.1f} s; only its first {max_seconds:g} s were "
                   f"styled (--max-seconds {max_seconds:g}), so {output} is {max_seconds:g} s; raise "
                   "--max-seconds for all of it", err=True)
    cs, ss = spectrogram(c, rate), spectrogram(s, rate)
    _audio_outputs(out, rate, cs.hop, {"content": cs.log_mag, "style": ss.log_mag, "result": res.log_mag}, quiet)
    _finish(bar, out, report, {"command": "audio", "rate": rate, "seconds": len(res.samples) / rate,
                               "content_seconds": whole_seconds, "gain_db": gain_db, **_run_summary(res.run)},
            f"wrote {out} ({len(res.samples) / rate:.2f} s of sound at {rate} Hz{_gain_note(gain_db)}; "
            f"{res.run.evals} evaluations in {res.run.seconds:.1f} s)", quiet)


@click.command("audio-texture")
@click.argument("style", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help=_WAV_OUT)
@click.option("--seconds", type=float, default=10.0, show_default=True, help="length of the new sound")
@click.option("--rate", type=int, default=22050, show_default=True, help=_RATE_HELP)
@click.option("--filters", type=int, default=512, show_default=True, help="filters of the random 1D bank")
@click.option("--max-seconds", type=float, default=30.0, show_default=True, help="read at most this much of STYLE")
@click.option("--n-fft", type=int, default=512, show_default=True,
              help="STFT window, samples (hop: a quarter); shorter windows keep short sounds such as drops sharper")
@common
def audio_texture_cmd(style, output, seconds, rate, filters, max_seconds, n_fft, iters, seed, report, quiet):
    """Synthesize SECONDS of new sound with the texture of STYLE (Ulyanov & Lebedev 2016).
    Writes OUTPUT.wav and spectrogram PNGs (OUT.style.png, OUT.result.png)."""
    import torch

    from .io.audio import load_audio, save_wav, spectral_stats, spectrogram
    from .media import audio_texture

    out = _check_out(output, [style], [".wav"])
    # one window of --n-fft samples is what the texture needs (load_audio's default, the transfer's 1024,
    # refused a 600-sample style even at --n-fft 256, the option offered for short sounds)
    s, _ = load_audio(style, rate, seconds=max_seconds, window=n_fft, hint=", or lower --n-fft")
    iters, given_iters = _iters(audio_texture)
    with ProgressBar(iters, "audio texture", quiet, stoppable=True) as bar:
        res = audio_texture(torch.from_numpy(s), rate, seconds, **given_iters, seed=seed, filters=filters,
                            n_fft=n_fft, callback=bar.update)
    gain_db = save_wav(res.samples, rate, out)
    ss = spectrogram(s, rate, n_fft)
    _audio_outputs(out, rate, ss.hop, {"style": ss.log_mag, "result": res.log_mag}, quiet)
    _finish(bar, out, report, {"command": "audio-texture", "rate": rate, "seconds": seconds,
                               "stats_style": spectral_stats(ss.log_mag),
                               "n_fft": n_fft, "gain_db": gain_db,
                               "stats_result": spectral_stats(spectrogram(res.samples.numpy(), rate, n_fft).log_mag),
                               **_run_summary(res.run)},
            f"wrote {out} ({len(res.samples) / rate:.2f} s of sound at {rate} Hz{_gain_note(gain_db)}): Gram loss fell "
            f"{res.run.style_drop():.0f}x in {res.run.seconds:.1f} s", quiet)


# ------------------------------------------------------------------------------------ signals

@click.command("signal-texture")
@click.argument("signal", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="output .npy (laid out as an .npy input: (C, N), (N, C) or (N,); else (C, N)) "
                   "or .csv (a column per channel)")
@click.option("--length", type=int, default=None, help="samples of the new signal (default: as the input)")
@click.option("--rate", type=float, default=None, help="sample rate for the plot's time axis, Hz (DICOM: read)")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="plot input and result here (.png)")
@click.option("--filters", type=int, default=256, show_default=True, help="filters of the random 1D bank")
@click.option("--channels-in", type=click.Choice(["auto", "rows", "columns"]), default="auto", show_default=True,
              help="which axis of a 2D .npy/.csv holds the channels; auto: a .csv's columns when it has a header line, "
                   "else the longer axis is the samples (a square array: a .csv's columns, a .npy's rows)")
@common
def signal_texture_cmd(signal, output, length, rate, plot, filters, channels_in, iters, seed, report, quiet):
    """Synthesize a new multichannel signal with the texture of SIGNAL (.npy / .csv channels x
    samples, or a DICOM waveform such as a 12-lead ECG)."""
    from .io.signal import (ambiguous_layout, csv_channel_names, ecg_from_dicom, load_signal, npy_layout,
                            plot_signals, save_signal)
    from .media import signal_texture

    out = _check_out(output, [signal], [".npy", ".csv"])
    if rate is not None and not 0 < rate < math.inf:  # -5 and nan drew a plot with a nonsense time axis
        from .errors import ConfigError
        raise ConfigError(f"rate {rate:g}: must be a positive sample rate in Hz, e.g. 500")
    if plot:
        _check_out(plot, [signal, output], [".png", ".svg", ".pdf"])
    if signal.lower().endswith(".dcm"):
        if channels_in != "auto":  # a waveform's leads are named by the file, not by its layout
            from .errors import ConfigError
            raise ConfigError(f"--channels-in {channels_in}: only for .npy and .csv signals; {signal} is a DICOM "
                              "waveform, whose leads the file names")
        x, r = ecg_from_dicom(signal)
        rate = rate or r
    else:
        x = load_signal(signal, channels_in)
        note = ambiguous_layout(signal, x, channels_in)
        if note:
            click.echo(f"stylegram: warning: {note}", err=True)
    given = click.get_current_context().params  # the report's params: the values used, not None
    given["rate"], given["length"] = rate, length or x.shape[-1]
    iters, given_iters = _iters(signal_texture)
    with ProgressBar(iters, "signal texture", quiet, stoppable=True) as bar:
        y, run = signal_texture(x, length or x.shape[-1], **given_iters, filters=filters, seed=seed,
                                callback=bar.update)
    # a .csv's column names go on to a .csv output; a .npy comes back laid out as it came: (5000, 12)
    # samples x leads was written (12, 5000), a flat (N,) as (1, N)
    layout = npy_layout(signal, channels_in) if signal.lower().endswith(".npy") else "channels"
    save_signal(y, out, csv_channel_names(signal), layout)
    if plot:
        plot_signals({"input": x, "texture": y}, plot, rate=rate)
    _finish(bar, out, report, {"command": "signal-texture", "channels": x.shape[1], **_run_summary(run)},
            f"wrote {out} ({y.shape[1]} x {y.shape[2]}): Gram loss fell {run.style_drop():.0f}x", quiet)


# ------------------------------------------------------------------------------------ volumes

def _net_for_volume(name: str, seed: int, width: float, weights: str | None = None):
    from .nets import build_net
    from .nets.random import random_vgg
    if name == "random":
        return random_vgg(seed=seed, width=width, upto="relu4_2")
    return build_net(name, layers=["relu4_2"] if name.startswith("vgg") else None, seed=seed, weights=weights)


_weights = click.option("--weights", default=None, type=click.Path(dir_okay=False),
                        help="weights file for --net vgg16 or vgg19 (.pth, .safetensors, .h5) instead of the download")


def _volume_net(f, help="2D net applied to slices (vgg16-hed, random), or a 3D net (vgg16-hed-3d, experimental)"):
    f = _weights(f)
    return click.option("--net", default="vgg16-hed", show_default=True, help=help)(f)


def _solid_net(f):
    # a solid texture's slices are matched to a 2D exemplar: only a 2D net can (solid_texture refuses a 3D one)
    return _volume_net(f, help="2D net applied to the cube's slices (vgg16-hed, random)")
_volume_width = click.option("--width", type=float, default=0.25, show_default=True, help="channel scale of --net random")


@click.command("volume")
@click.argument("content", type=click.Path())
@click.argument("style", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output .nii, .nii.gz or .npy")
@click.option("--size", type=int, default=64, show_default=True, help="longest axis of the output volume, voxels")
@click.option("--window", default=None, help="intensity window CENTER,WIDTH in the file's units (default: 0.5-99.5 "
              "percentiles); values outside it are clipped to its ends in the output too")
@click.option("--slices", type=int, default=8, show_default=True, help="random slices per axis per step (0 = all)")
@click.option("--beta", type=float, default=1e4, show_default=True, help="style weight (content weight 1)")
@click.option("--keep-voxel-grid", is_flag=True,
              help="style on the voxel grid even where the voxels are far from cubic (by default a volume whose "
                   "longest voxel side is over 1.2 times its shortest is styled on cubic voxels of its finest "
                   "spacing and resampled back, so the style is not stretched along the coarse axis)")
@_volume_net
@_volume_width
@common
def volume_cmd(content, style, output, size, window, slices, beta, keep_voxel_grid, net, weights, width, iters, seed,
               report, quiet):
    """Style the volume CONTENT (NIfTI, .npy or a DICOM series folder) with STYLE: a 2D image
    (Gram losses on slices along all three axes) or another volume. Keeps the content's affine
    (spacing scaled to --size) and writes OUT.axis{0,1,2}.png mid-slice previews. Voxels far from
    cubic (1 x 1 x 3 mm) are styled on cubic ones and resampled back (--keep-voxel-grid: not)."""
    _check_slices(slices)
    import torch

    from .device import check_fits
    from .errors import ConfigError
    from .io.image import load_image
    from .io.volume import (ANISOTROPY_LIMIT, anisotropy, isotropic_shape, load_volume, resample, resize_volume,
                            save_previews, save_volume, spacing_of, suffix_of, unwindow)
    from .io.volume import window as window_fn
    from .media import estimate_volume_bytes, volume_content_layers, volume_style_layers, volume_transfer

    out = _check_out(output, [content, style], [".nii", ".gz", ".npy"])
    if suffix_of(out) not in (".nii", ".nii.gz", ".npy"):
        raise ConfigError(f"{output}: unknown volume output type; use .nii, .nii.gz or .npy")
    center = width_w = None
    if window:
        try:
            center, width_w = (float(v) for v in window.split(","))
        except ValueError:
            raise ConfigError(f"--window {window!r}: write CENTER,WIDTH, e.g. 40,400") from None
    vol = load_volume(content)
    windowed, lo_hi = window_fn(vol, center, width_w)
    x, affine = resize_volume(windowed, size, vol.affine)  # the output's grid
    grid = tuple(x.shape[2:])
    # Voxels of 1 x 1 x 3 mm styled as they are get the style's features stretched 3x along the
    # coarse axis in the world: styled on cubic voxels of the finest spacing (resampled from the
    # windowed data itself, one interpolation) and brought back to the output's grid.
    iso = None if keep_voxel_grid or anisotropy(vol.spacing) <= ANISOTROPY_LIMIT else isotropic_shape(grid, affine)
    if iso is not None and iso != grid:
        x = resample(windowed, iso)
    else:
        iso = None
    if Path(style).is_dir() or suffix_of(style) in (".nii", ".nii.gz", ".npy", ".dcm"):
        sv = load_volume(style)
        s, _ = window_fn(sv)
        s, _ = resize_volume(s, size)
    else:
        s = load_image(style, max(size * 2, 64)).mean(1, keepdim=True)
    fnet = _net_for_volume(net, seed, width, weights)
    # checked on the volume styled: its slices (or the volume, for a 3D net) go through the net
    on = " on cubic voxels" if iso else ""
    fnet.check_input_size(x.shape[2:], volume_style_layers(fnet), f"{content}: at --size {size}{on} the volume",
                          "raise --size")

    def estimate(shape) -> int:
        return estimate_volume_bytes(fnet, shape, style_layers=list(volume_style_layers(fnet)),
                                     content_layers=volume_content_layers(fnet), slices_per_axis=slices or None)
    need = estimate(x.shape)
    grid_text = " x ".join(map(str, grid))
    if iso:
        check_fits(need, torch.device("cpu"), f"{content}: styled on cubic voxels ({' x '.join(map(str, iso))}), "
                   f"the volume", f"give --keep-voxel-grid (its {grid_text} grid, about "
                   f"{estimate((1, 1, *grid)) / 2**30:.1f} GiB), a lower --size or --slices")
    else:
        check_fits(need, torch.device("cpu"), f"{content}: at --size {size} ({grid_text}), the volume",
                   "give a lower --size or --slices")
    if s.dim() == fnet.dims + 2:  # a 2D style image for a 2D net: it must fill the style layers
        fnet.check_input_size(s.shape[2:], volume_style_layers(fnet), f"{style}: the style image",
                              "crop it to a less extreme aspect ratio")
    iters, given_iters = _iters(volume_transfer)
    with ProgressBar(iters, "volume", quiet, stoppable=True) as bar:
        run = volume_transfer(x, s, fnet, beta=beta, **given_iters, slices_per_axis=slices or None, seed=seed,
                              callback=bar.update)
    result = run.x if iso is None else resample(run.x, grid)
    save_volume(unwindow(result, lo_hi), out, affine, vol.header)
    n = vol.header.get("volumes")
    if n:  # a 4D series (fMRI, multi-echo) became its first volume without a word
        # three or four along the last axis may be colour (solid-texture writes (S, S, S, 3)), whose
        # first volume is its red channel: "holds 3 volumes" alone did not say so
        colour = ("; colour channels, if it is a colour volume (as solid-texture writes): the red one"
                  if n in (3, 4) else "")
        click.echo(f"stylegram: warning: {content} holds {n} volumes (4D, the last axis{colour}); only the "
                   f"first was styled, so {output} is one volume; write out the volume you want as its own file",
                   err=True)
    previews = save_previews(result, _stem(out), upscale=max(1, 256 // size))
    units = vol.header.get("units", "mm")
    spacing = spacing_of(affine)
    styled_spacing = [round(v * n / m, 6) for v, n, m in zip(spacing, grid, run.x.shape[2:])]
    how = ""
    if iso:
        unit = "" if units == "unknown" else f" {units}"
        how = (f" (styled on {' x '.join(map(str, iso))} cubic voxels of {min(spacing):.3g}{unit} and resampled back to "
               f"its {grid_text} voxels of {' x '.join(f'{v:.3g}' for v in spacing)}{unit}; --keep-voxel-grid: "
               "styled on those)")
    _finish(bar, out, report, {"command": "volume", "shape": list(result.shape), "affine": affine.tolist(),
                               "units": units, "spacing": [round(v, 6) for v in spacing],
                               "styled_shape": list(run.x.shape), "styled_spacing": styled_spacing,
                               "resampled_to_cubic_voxels": iso is not None,
                               "volumes_in_content": vol.header.get("volumes", 1),
                               "window": list(lo_hi), "previews": [str(p) for p in previews], **_run_summary(run)},
            f"wrote {out}{how}; previews {', '.join(map(str, previews))}", quiet)


@click.command("solid-texture")
@click.argument("exemplar", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output .npy (D x H x W x 3), .nii or .nii.gz")
@click.option("--size", type=int, default=64, show_default=True, help="side of the cube, voxels")
@click.option("--style-size", type=int, default=128, show_default=True, help="longest side the exemplar is scaled to, px")
@click.option("--slices", type=int, default=4, show_default=True, help="random slices per axis per step of the levels above 64^3 (0 = all)")
@click.option("--lr", type=float, default=0.03, show_default=True, help="Adam step size")
@click.option("--levels", type=int, default=2, show_default=True, help="coarse-to-fine levels (cube size halved per level)")
@click.option("--coarse-iters", type=int, default=100, show_default=True,
              help="L-BFGS iterations (every slice) of the levels below the last, up to 64^3")
@click.option("--tv", type=float, default=0.5, show_default=True,
              help="total-variation weight of the random-slice levels (above 64^3), relative to their start style loss")
@_solid_net
@_volume_width
@common
def solid_texture_cmd(exemplar, output, size, style_size, slices, lr, levels, coarse_iters, tv, net, weights, width, iters, seed,
                      report, quiet):
    """Make a solid texture whose slices along all three axes look like the 2D EXEMPLAR (a grey
    exemplar gives a grey cube). Writes the volume and OUT.axis{0,1,2}.png mid-slice previews."""
    from .errors import ConfigError
    from .io.image import load_image
    from .io.volume import save_previews, save_volume, suffix_of
    from .media import solid_texture

    out = _check_out(output, [exemplar], [".nii", ".gz", ".npy"])
    if suffix_of(out) not in (".nii", ".nii.gz", ".npy"):
        raise ConfigError(f"{output}: unknown volume output type; use .nii, .nii.gz or .npy")
    _check_slices(slices)
    if style_size < 1:  # load_image's own message named --size, which this command also has
        raise ConfigError(f"style_size {style_size}: must be a positive number of px")
    ex = load_image(exemplar, style_size)
    fnet = _net_for_volume(net, seed, width, weights)
    iters, given_iters = _iters(solid_texture)
    with ProgressBar(iters, "solid texture", quiet, stoppable=True) as bar:
        run = solid_texture(ex, size, fnet, **given_iters, slices_per_axis=slices or None, lr=lr, levels=levels,
                            coarse_iters=coarse_iters, tv=tv, seed=seed, callback=bar.update, name=exemplar)
    save_volume(run.x[0].permute(1, 2, 3, 0).numpy(), out)
    previews = save_previews(run.x, _stem(out), upscale=max(1, 256 // size))
    _finish(bar, out, report, {"command": "solid-texture", "previews": [str(p) for p in previews], **_run_summary(run)},
            f"wrote {out}: Gram loss fell {run.style_drop():.1f}x; previews {', '.join(map(str, previews))}", quiet)


# -------------------------------------------------------------------------------------- video

@click.command("video")
@click.argument("video", type=click.Path(dir_okay=False))
@click.argument("style", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output .mp4 / .mkv / .mov")
@click.option("--size", type=int, default=256, show_default=True, help="longest side of the frames, px")
@click.option("--max-frames", type=int, default=None, help="stylize only the first N frames (the sound is cut to them)")
@click.option("--temporal", type=float, default=1e3, show_default=True,
              help="temporal loss weight (in units of each frame's start loss)")
@click.option("--independent", is_flag=True, help="stylize frames independently (no warm start, no temporal loss)")
@click.option("--restart", is_flag=True, help="discard finished frames of an earlier run of this output")
@click.option("--no-audio", is_flag=True,
              help="write the picture only (by default the clip's soundtrack is carried over, cut to the frames "
                   "stylized: copied where the output type takes it, else re-encoded to AAC)")
@click.option("--beta", type=float, default=1e4, show_default=True, help="style weight (content weight 1)")
@click.option("--net", default="vgg16-hed", show_default=True, help="2D feature net (see `stylegram nets`)")
@_weights
@_volume_width
@common
def video_cmd(video, style, output, size, max_frames, temporal, independent, restart, no_audio, beta, net, weights,
              width, iters, seed, report, quiet):
    """Stylize VIDEO with STYLE frame by frame; each frame starts from the previous result and a
    temporal loss keeps it steady. Finished frames are kept in OUT.frames/ so a stopped run resumes.
    The clip's sound goes with the frames (--no-audio: not); a GIF's frames keep their own times.
    The report gives the flicker figure (output frame change / input frame change)."""
    import shutil

    from .errors import check_weight
    from .io.image import load_image
    from .io.video import WRITE_SUFFIXES, FrameStore, read_clip, write_video
    from .media import VIDEO_CONTENT_LAYERS, VIDEO_STYLE_LAYERS, video_transfer
    from .nets import build_net
    from .nets.random import random_vgg
    from .types import Iterate

    out = _check_out(output, [video, style], WRITE_SUFFIXES)
    if size < 1:  # read_video's message offered "None: the image's own size", which --size cannot be
        from .errors import ConfigError
        raise ConfigError(f"size {size}: must be a positive number of px")
    clip = read_clip(video, size=size, max_frames=max_frames)
    frames = clip.frames
    s = load_image(style, size)
    iters, given_iters = _iters(video_transfer)
    # Everything that can refuse the run comes before the frame folder is made: a refused run
    # must not leave settings behind that the corrected command would then refuse to mix with.
    check_weight("temporal", temporal)
    check_weight("beta", beta)
    fnet = random_vgg(seed=seed, width=width) if net == "random" else build_net(net, seed=seed, weights=weights)
    layers = list(VIDEO_STYLE_LAYERS) + list(VIDEO_CONTENT_LAYERS)
    hint = "crop it to a less extreme aspect ratio or raise --size"
    fnet.check_input_size(s.shape[-2:], layers, f"{style}: at --size {size} the style image", hint)
    fnet.check_input_size(frames[0].shape[-2:], layers, f"{video}: at --size {size} each frame", hint)
    folder = Path(f"{_stem(out)}.frames")
    if restart and folder.is_dir():
        shutil.rmtree(folder)
    from .io.image import file_sha256
    # Each input is hashed once, here: the resume key and the report's inputs share the digests (the
    # report hashed the clip a second time, a second read of a file that may be gigabytes).
    digests = {video: file_sha256(video), style: file_sha256(style)}
    store = FrameStore(folder, {"video": str(Path(video).resolve()), "video_sha256": digests[video],
                                "frame_size": list(frames[0].shape[-2:]), "style": str(Path(style).resolve()),
                                "style_sha256": digests[style],
                                "size": size, "temporal": temporal, "independent": independent, "beta": beta,
                                "net": net, "width": width, "iters": iters, "seed": seed})
    done = {i: f for i, f in store.done().items() if i < len(frames)}
    total = len(frames) - len(done)
    with ProgressBar(total, "video frames", quiet) as bar:
        count = [0]

        def on_frame(i, f):
            store.save(i, f)
            count[0] += 1
            bar.update(Iterate(iter=count[0], iters=total, evals=0, seconds=0.0, losses={}))
        try:
            res = video_transfer(frames, s, fnet, temporal=temporal, independent=independent, done=done,
                                 on_frame=on_frame, **given_iters, beta=beta, seed=seed)
        except KeyboardInterrupt:  # Ctrl-C: say what is kept (click would say only "Aborted")
            kept = len(store.done())  # what a rerun will find, whenever the interrupt came
            click.echo(f"stylegram: stopped: {kept} finished frame{'s' * (kept != 1)} of {len(frames)} kept in "
                       f"{folder}; the same command continues", err=True)
            sys.exit(130)
    sound = write_video(res.frames, out, clip.fps, repeats=clip.repeats,
                        audio=None if no_audio or clip.audio is None else video, audio_codecs=clip.soundtracks)
    _report(report, {"command": "video", "frames": len(frames), "resumed_frames": len(done), "fps": clip.fps,
                     "seconds": round(clip.seconds, 6), "audio": sound,
                     "flicker": res.flicker, "temporal": temporal, "independent": independent,
                     "per_frame": {i: {"initial": r.initial, "final": r.final, "seconds": r.seconds}
                                   for i, r in res.runs.items()}}, digests)
    if not quiet:
        if res.flicker is not None:  # None: one frame (a still image), nothing to compare
            resumed = f", {len(done)} resumed" if done else ""
            with_sound = {"copy": ", with its sound", "aac": ", with its sound re-encoded as AAC"}.get(sound, "")
            click.echo(f"wrote {out} ({len(frames)} frames{resumed}{with_sound}); flicker {res.flicker:.3f}", err=True)
        else:
            click.echo(f"wrote {out} (1 frame; for a still image, `stylegram transfer` writes a picture)", err=True)


COMMANDS = (audio_cmd, audio_texture_cmd, signal_texture_cmd, volume_cmd, solid_texture_cmd, video_cmd)

# Last, not first: stylegram.cli adds the commands above to its group when it is imported, so a
# program that imports this module first (a test of one command's --help) had cli import it back
# half made, without them (AttributeError). Used only when a command runs.
from .cli import ProgressBar, exit_if_stopped  # noqa: E402
