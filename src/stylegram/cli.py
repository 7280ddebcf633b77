"""The `stylegram` command: argument parsing -> API -> files. No maths here.

Options of `transfer` are generated from TransferConfig's fields, so defaults and help texts live
in one place. Every error a user can cause ends as one line on stderr and exit code 2.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import StylegramError
from .presets import TEXTURE_DEFAULTS
from .printsize import DPI_HELP, PRINT_HELP, PRINT_METAVAR

EXIT_USER_ERROR = 2


def config_options(config_cls: type, exclude: tuple[str, ...] = (), preset: tuple[str, Mapping[str, Any]] | None = None):
    """A decorator adding one click option per field of a config dataclass (help from metadata).
    preset: (name, the options it sets). Those options' help shows the value the preset gives them,
    since that is what a run without the option uses, with the config's own (classic's) beside it."""
    def decorate(f):
        for fld in reversed(dataclasses.fields(config_cls)):
            if fld.name in exclude:
                continue
            meta = fld.metadata
            name = meta.get("flag") or "--" + fld.name.replace("_", "-")
            decl = name
            default = fld.default
            kw: dict[str, Any] = {"help": meta.get("help", ""), "show_default": True}
            if "metavar" in meta:
                kw["metavar"] = meta["metavar"]
            if "choices" in meta:
                kw["type"] = click.Choice(list(meta["choices"]))
            elif isinstance(default, tuple):  # layer lists are written comma-separated
                kw["type"] = str
                default = _format_layers(default)
            elif isinstance(default, bool):
                # an on/off pair: a flag alone could never turn off an option that defaults to on
                decl = f"{name}/--no-{name[2:]}"
            elif isinstance(default, int) or str(fld.type).split(" |")[0] == "int":
                kw["type"] = int
            elif isinstance(default, float) or "float" in str(fld.type):
                kw["type"] = float
            else:
                kw["type"] = str
            kw["default"] = default
            if preset is not None and preset[1].get(fld.name, fld.default) != fld.default:
                kw["show_default"] = (f"{preset[0]}: {_format_default(preset[1][fld.name])}; "
                                      f"classic: {_format_default(fld.default)}")
            f = click.option(decl, fld.name, **kw)(f)
        return f
    return decorate


def _format_default(value: Any) -> str:
    """A default as the user would type it: 0.0012, blend, relu4_2, on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return _format_layers(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _format_layers(layers: tuple) -> str:
    """('relu4_2',) -> 'relu4_2'; (('relu1_1', 0.2), ...) -> 'relu1_1:0.2,...'."""
    return ",".join(f"{l[0]}:{l[1]:g}" if isinstance(l, tuple) else str(l) for l in layers)


def counted(n: int, noun: str) -> str:
    """'1 frame', '3 frames': a count for a summary line (nouns with a plain plural)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


BAR_WIDTH = 20  # at most: a wider bar only took the numbers' room ('0:…', '1/…' at 80 columns)
MIN_BAR_WIDTH = 8
LOG_EVERY_S = 30.0  # a log (stderr not a terminal) gets a line per finished level and at least this often


def hms(seconds: float | None) -> str:
    """Seconds as h:mm:ss (as rich writes times); '-:--:--' while unknown."""
    if seconds is None:
        return "-:--:--"
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Terms:
    """A rich renderable of terms separated by two spaces ('content 0.1  style 2'): as many whole
    terms as its column's width holds, none if the first does not fit: a narrow terminal drops a
    term rather than show a cut number ('content 0.0…' reads as a value)."""

    def __init__(self, text: str):
        self.text = text

    def __rich_measure__(self, console, options):
        from rich.cells import cell_len
        from rich.measure import Measurement
        return Measurement(0, min(cell_len(self.text), options.max_width))

    def __rich_console__(self, console, options):
        from rich.cells import cell_len
        from rich.text import Text
        shown = ""
        for term in self.text.split("  "):
            wider = f"{shown}  {term}" if shown else term
            if cell_len(wider) > options.max_width:
                break
            shown = wider
        yield Text(shown, no_wrap=True)


def _terms_column(field: str):
    """A progress column showing the task's text field ``field`` as ``_Terms``. Its table column
    may shrink (no_wrap False; the text itself never wraps), so it is the one that gives way
    when the line is too long for the terminal: the bar and the numbers keep their width."""
    from rich.progress import ProgressColumn
    from rich.table import Column

    class TermsColumn(ProgressColumn):
        def render(self, task):
            return _Terms(str(task.fields.get(field, "")))
    return TermsColumn(table_column=Column(no_wrap=False))


def rich_progress(field: str, times=None, console=None):
    """A rich Progress on stderr: description, a bar at most BAR_WIDTH wide, done/total, elapsed
    time and eta, and the task's text field ``field`` last, as many of its terms as the terminal
    has room for. ``times``: a column for elapsed and eta (ProgressBar's, for the whole run);
    default rich's, for the task. In a terminal it redraws in place; written to a file or a pipe
    (a log) it is printed once, when it closes, and a wide console keeps that line whole (rich
    would cut it to 80 columns)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Column
    console = console or Console(stderr=True)
    if not console.is_terminal:
        console.width = 160

    def whole():  # a column rich must not shrink (its default does: that cut '1/…' and '0:…')
        return Column(no_wrap=True)
    times = [times] if times is not None else [TimeElapsedColumn(table_column=whole()),
                                               TextColumn("eta", table_column=whole()),
                                               TimeRemainingColumn(table_column=whole())]
    return Progress(TextColumn("[bold]{task.description}", table_column=whole()),
                    BarColumn(bar_width=BAR_WIDTH, table_column=whole()), MofNCompleteColumn(table_column=whole()),
                    *times, _terms_column(field), console=console)


class RunClock:
    """Elapsed time and time left of a run, from its Iterate records.

    With the run's levels (the records' ``schedule``: (iterations, longest side) of each, as the
    engine planned them), the time left is the whole run's: the iterations still to come, each
    level's weighed by its pixels (side^2), at the pace of those seen so far. A run of one level
    needs no schedule. Without one (the media commands), or when a level's iterations differ from
    it, it is the running level's time left ('level eta'), at that level's pace."""

    def __init__(self, clock=None):
        import time
        self.clock = clock or time.monotonic
        self.t_start = self.clock()  # elapsed counts the set-up before the first record too
        self.plan: list[tuple[int, int]] | None = None
        self.planned = False
        self.t0: float | None = None
        self.work0 = 0.0
        self.level_start: tuple[int, float, int] | None = None  # (level, time, iter) of its first record
        self.left_at: tuple[float, float | None, bool] | None = None  # (time, seconds left, whole run)

    def _levels(self, ev) -> list[tuple[int, int]] | None:
        if not self.planned:
            self.planned = True
            self.plan = list(ev.schedule) or None
            if self.plan is None and ev.levels == 1:
                self.plan = [(ev.iters, 1)]
        if self.plan is not None and (len(self.plan) != ev.levels or self.plan[ev.level][0] != ev.iters):
            self.plan = None  # not the run's plan after all: from here on, each level's own time left
        return self.plan

    def update(self, ev) -> float:
        """Take a record in; returns the time it came."""
        now = self.clock()
        if self.level_start is None or self.level_start[0] != ev.level:
            self.level_start = (ev.level, now, ev.iter)
        plan = self._levels(ev)
        if plan is not None:
            done = sum(n * s * s for n, s in plan[:ev.level]) + min(ev.iter, ev.iters) * plan[ev.level][1] ** 2
            total = sum(n * s * s for n, s in plan)
            if self.t0 is None:
                self.t0, self.work0 = now, done
            pace = (now - self.t0) / (done - self.work0) if done > self.work0 else None
            self.left_at = (now, None if pace is None else pace * (total - done), True)
        else:
            _, t, it = self.level_start
            pace = (now - t) / (ev.iter - it) if ev.iter > it else None
            self.left_at = (now, None if pace is None else pace * (ev.iters - ev.iter), ev.levels == 1)
        return now

    def elapsed(self, at: float | None = None) -> float:
        """Seconds from the start to ``at`` (default now)."""
        return (self.clock() if at is None else at) - self.t_start

    def eta(self, at: float | None = None) -> str:
        """'eta 0:01:02' (the whole run), 'level eta 0:00:12' (the running level) or 'eta -:--:--'
        at time ``at`` (default now), counting down from the last record."""
        if self.left_at is None:
            return f"eta {hms(None)}"
        t, left, whole = self.left_at
        now = self.clock() if at is None else at
        return f"{'eta' if whole else 'level eta'} {hms(None if left is None else max(0.0, left - (now - t)))}"


def _times_column(run: RunClock):
    """A progress column with the run's elapsed time and eta, redrawn as the clock runs."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    from rich.table import Column

    class TimesColumn(ProgressColumn):
        max_refresh = 0.5

        def render(self, task):
            return Text(f"{hms(run.elapsed())} {run.eta()}", style="progress.remaining")
    return TimesColumn(table_column=Column(no_wrap=True))


class ProgressBar:
    """Progress fed by Iterate records: level, iteration, elapsed time, time left (the whole run's
    where the records give its levels, see RunClock) and the live losses.

    In a terminal a rich bar redraws in place. When stderr is a file or a pipe (a log) it prints
    plain lines instead: one when a level ends and one at least every LOG_EVERY_S seconds (rich
    printed the bar once, when the run ended, and a log of a long run stayed empty until then).

    With ``stoppable``, the first Ctrl-C or SIGTERM inside the ``with`` block becomes a stop
    request: ``update`` returns True (as a callback, that ends the run cleanly with its result so
    far) and ``stopped`` stays True for the command to report (see ``exit_if_stopped``).
    ``console`` and ``clock`` are for tests: a rich Console, and the time function."""

    def __init__(self, total: int, label: str, quiet: bool = False, stoppable: bool = False,
                 console=None, clock=None):
        self.quiet = quiet
        self.total = total
        self.label = label
        self.console = console
        self.run = RunClock(clock)
        self.progress = None
        self.task = None
        self.log: bool | None = None  # plain lines (stderr is no terminal); known at the first record
        self.last = None  # the last record, when it came, and whether its line was printed
        self.last_t = 0.0
        self.last_printed = True
        self.t_line: float | None = None
        self.ev = None  # the last record seen, quiet or not: where a stopped run got to
        self._signals = StopSignals() if stoppable else None

    @property
    def stopped(self) -> bool:
        return bool(self._signals and self._signals.requested)

    def __enter__(self):
        if self._signals is not None:
            self._signals.__enter__()
        return self

    def _start(self) -> None:
        # Started on the first record, so errors raised while setting up print without a bar.
        if self.quiet or self.log is not None:
            return
        from rich.console import Console
        console = self.console or Console(stderr=True)
        self.log = not console.is_terminal
        if not self.log:
            self.progress = rich_progress("losses", _times_column(self.run), console)
            self.progress.__enter__()
            self.task = self.progress.add_task(self.label, total=self.total, losses="")

    @staticmethod
    def _losses(ev) -> str:
        return "  ".join(f"{k} {v:.3g}" for k, v in ev.losses.items() if k in ("content", "style", "total"))

    def _line(self) -> None:
        """The last record as one plain line for a log, with the times as they were when it came:
        'stylizing level 2/3 (refine): 40/40, 0:00:12 elapsed, eta 0:00:30; content 0.1  style 2'."""
        ev, at = self.last, self.last_t
        head = (self.label + (f" level {ev.level + 1}/{ev.levels}" if ev.levels > 1 else "")
                + (f" ({ev.note})" if ev.note else ""))
        losses = self._losses(ev)
        click.echo(f"{head}: {ev.iter}/{ev.iters}, {hms(self.run.elapsed(at))} elapsed, {self.run.eta(at)}"
                   + (f"; {losses}" if losses else ""), err=True)
        self.t_line = at
        self.last_printed = True

    def update(self, ev) -> bool:
        self.ev = ev
        self._start()
        if self.quiet:
            return self.stopped
        if self.log:
            if self.last is not None and not self.last_printed and ev.level != self.last.level:
                self._line()  # a level that ended before its last iteration (converged, say)
            self.last, self.last_t, self.last_printed = ev, self.run.update(ev), False
            if self.t_line is None:
                self.t_line = self.run.t_start
            if ev.iter >= ev.iters or self.last_t - self.t_line >= LOG_EVERY_S:
                self._line()
            return self.stopped
        self.run.update(ev)
        # "stylizing 3/3 refine": the level, and what it does when it is not a plain transfer level
        desc = " ".join([self.label] + ([f"{ev.level + 1}/{ev.levels}"] if ev.levels > 1 else []) + ([ev.note] if ev.note else []))
        self._fit_bar(desc, ev)
        self.progress.update(self.task, completed=ev.iter, total=ev.iters, losses=self._losses(ev), description=desc)
        return self.stopped

    def _fit_bar(self, desc: str, ev) -> None:
        """Narrow the bar (down to MIN_BAR_WIDTH) where the terminal leaves the losses too little
        room beside the fixed columns; wide terminals get BAR_WIDTH."""
        from rich.progress import BarColumn
        fixed = len(desc) + 2 * len(str(ev.iters)) + 1 + len(f"{hms(0)} {self.run.eta()}") + 4  # 4 gaps
        room = self.progress.console.width - fixed - len("content 0.0123  style 0.0123  total 0.0123") - 1
        for col in self.progress.columns:
            if isinstance(col, BarColumn):
                col.bar_width = max(MIN_BAR_WIDTH, min(BAR_WIDTH, room))

    def __exit__(self, *exc):
        if self.log and self.last is not None and not self.last_printed and exc[0] is None:
            self._line()  # where a stopped run, or one that ended early, got to
        if self.progress is not None:
            self.progress.__exit__(*exc)
        if self._signals is not None:
            self._signals.__exit__(*exc)


def partial_path(out: Path, inputs: Sequence[object] = ()) -> Path:
    """Where a stopped run writes its picture so far: beside OUT, never over it (OUT may be a
    finished picture from an earlier run): photo.png -> photo.partial.png, or photo.partial2.png
    when this run reads photo.partial.png (an earlier stop's picture given as --init)."""
    taken = {Path(str(p)).resolve() for p in inputs if isinstance(p, (str, os.PathLike))}
    k = 1
    while (p := out.with_name(f"{out.stem}.partial{k if k > 1 else ''}{out.suffix}")).resolve() in taken:
        k += 1
    return p


def stopped_message(ev, image, final_side: int | None, what: str, path: Path) -> str:
    """'stylegram: stopped at iteration 1 of level 1/3: wrote the image so far (113 x 85 px,
    smaller than the final one) to PATH'. ``ev``: the last Iterate seen (None: none came);
    ``final_side``: the finished picture's longest side, None where unknown (a tileable texture's
    is rounded to the net's stride), then only a level below the last counts as smaller."""
    where = "before the first iteration" if ev is None else f"at iteration {ev.iter}" + (
        f" of level {ev.level + 1}/{ev.levels}" if ev.levels > 1 else "")
    h, w = image.shape[-2:]
    last_level = ev is not None and ev.level == ev.levels - 1
    smaller = not last_level and (max(h, w) < final_side if final_side else ev is not None)
    size = f" ({w} x {h} px, smaller than the final one)" if smaller else ""
    return f"stylegram: stopped {where}: wrote the {what} so far{size} to {path}"


def exit_if_stopped(bar: ProgressBar, wrote: str) -> None:
    """After a stoppable run has saved its outputs: if it was stopped, say so and exit 130."""
    if bar.stopped:
        click.echo(f"stylegram: stopped early: wrote the result so far to {wrote}", err=True)
        sys.exit(130)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="stylegram")
def cli() -> None:
    """stylegram: neural style transfer and a look inside ConvNets."""


class ConfigCommand(click.Command):
    """A command with options made from a config dataclass (``config_options``) when it is first
    used (run, or its help shown), not when this module is imported: every other command, and
    `stylegram --help`, needs neither the config module nor its 40 options (about 8 ms). The
    options module (stylegram.config) is free of torch, so `stylegram transfer --help` is too.
    ``options``: a function returning them, in order; they go after the parameter named ``after``."""

    def __init__(self, *args: Any, options: Callable[[], list[click.Parameter]], after: str, **kwargs: Any):
        self._options, self._after = options, after
        super().__init__(*args, **kwargs)

    @property
    def params(self) -> list[click.Parameter]:
        if self._options is not None:
            made = self._options()
            at = next(i for i, p in enumerate(self._params) if p.name == self._after) + 1
            self._params[at:at] = made
            self._options = None
        return self._params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._params = value


def _transfer_options() -> list[click.Parameter]:
    """transfer's options from TransferConfig's fields, their help showing the default preset's values."""
    from .config import TransferConfig
    from .presets import DEFAULT_PRESET, PRESETS
    holder = config_options(TransferConfig, preset=(DEFAULT_PRESET, PRESETS[DEFAULT_PRESET]))(lambda: None)
    return holder.__click_params__[::-1]  # click.option appends, the last decorator's first


@cli.command("transfer", cls=ConfigCommand, options=_transfer_options, after="output")
@click.argument("content", type=click.Path(dir_okay=False))
@click.argument("style", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output image (.png, .jpg, ...)")
@click.option("--save-every", type=click.IntRange(min=0), default=0,
              help="also save a snapshot every N iterations of each level (OUT.L<level>.iterNNNN.png; "
                   "OUT.iterNNNN.png for a run of one level), with the output's settings")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="write a JSON run report here")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="write a loss-curve plot here (.png/.svg)")
@click.option("--resume", type=click.Path(dir_okay=False), default=None,
              help="continue a stopped run from its checkpoint (OUT.ckpt), with the same inputs and options")
@click.option("--settings", type=click.Path(dir_okay=False), default=None,
              help="take every option but the device from an earlier run: its output PNG or JPEG, or its --report "
                   "JSON; options typed here win (e.g. a 512 px preview's look at --size 2048)")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar and no summary line (errors and warnings still print)")
def transfer_cmd(content: str, style: tuple[str, ...], output: str, save_every: int, report: str | None,
                 plot: str | None, resume: str | None, settings: str | None, quiet: bool, **options: Any) -> None:
    """Stylize CONTENT with the style of STYLE (Gatys et al.) and write OUTPUT. Several STYLE
    images are blended (--style-blend).

    Ctrl-C (or SIGTERM) stops the run cleanly: the image so far goes beside OUTPUT (out.png:
    out.partial.png; OUTPUT is left as it was) and a checkpoint to OUTPUT.ckpt, which --resume continues.
    """
    from .config import TransferConfig, check_blend
    from .errors import ConfigError
    from .presets import preset_config
    from .printsize import size_options

    # The preset (or the earlier run's settings) fills in only the options not given on the command line.
    explicit = size_options(typed_options(options))
    if settings:
        if "preset" in explicit:  # the settings are a preset's values already, perhaps changed
            raise ConfigError(f"--settings {settings} holds every option already; give --preset or --settings, not both")
        cfg = dataclasses.replace(TransferConfig.from_run(settings), **explicit).validated()
        cfg.check_net_known(settings)
        if "style_blend" not in explicit:
            check_blend(cfg.style_blend, len(style), settings)
    else:
        cfg = preset_config(options["preset"], **explicit).validated()
    # The engine (torch) only now: an option typed wrong is refused without it.
    from .io.image import check_output_path, save_image
    from .report import level_labels, plot_history, write_json
    from .transfer import transfer
    # every file the run reads: the mask, start image, region masks and styles, the weights
    inputs = [content, *style, *([settings] if settings else []), *cfg.input_files()]
    out = check_output_path(output, inputs)
    partial = check_output_path(partial_path(out, inputs), inputs)  # where a stopped run writes
    for extra, sfx in ((report, [".json"]), (plot, [".png", ".svg", ".pdf"])):
        if extra:
            check_output_path(extra, inputs, suffixes=sfx, outputs=[output, partial])  # .json and a plot never meet
    ckpt_path = out.with_name(out.name + ".ckpt")
    checkpoint = load_checkpoint(resume) if resume else None
    # Before the work at its size, a print-size run says what the print asks for (a resumed one
    # said so when it started).
    announce = print_announcer(cfg, quiet or bool(resume))

    meta: dict = {}

    def snapshot(ev) -> None:
        if save_every and ev.iter % save_every == 0 and ev.image is not None:
            if not meta:  # on the first snapshot: the inputs are hashed only for runs that save some
                meta.update(run_metadata(cfg, content, style))
            # ev.iter restarts on every pyramid level: the level is in the name, or level 2's
            # iteration 5 would replace level 1's
            level = f".L{ev.level + 1}" if ev.levels > 1 else ""
            save_image(ev.image, out.with_name(f"{out.stem}{level}.iter{ev.iter:04d}{out.suffix}"),
                       metadata={**meta, "snapshot": {"level": ev.level + 1, "levels": ev.levels, "iter": ev.iter}})

    # bar.ev: the last iteration seen, for the stop message (the history skips checked-out ones)
    with ProgressBar(cfg.iters, "stylizing", quiet, stoppable=True) as bar:
        def callback(ev):
            bar.update(ev)
            snapshot(ev)
            return bar.stopped
        result = transfer(content, list(style), config=cfg, callback=callback, checkpoint=checkpoint,
                          on_estimate=announce)
    if result.stopped == "cancelled":
        # Not over OUT: it may hold a finished picture, and the image so far may be a small level's.
        result.save(partial)
        save_checkpoint(result.checkpoint(), ckpt_path)
    else:
        result.save(out)
        if resume:  # finished: what the stop left is done with
            ckpt_path.unlink(missing_ok=True)
            partial.unlink(missing_ok=True)
    if report:
        write_json(result.report(), report)
    if plot:
        plot_history(result.history, plot, levels=level_labels(result.state.get("levels") or []))
    if result.stopped == "nan":
        click.echo(f"stylegram: warning: {result.message}", err=True)
    if result.stopped == "cancelled":
        click.echo(stopped_message(bar.ev, result.image, cfg.size, "image", partial)
                   + f" and a checkpoint to {ckpt_path}; continue with the same command plus --resume {ckpt_path}",
                   err=True)
        sys.exit(130)
    if not quiet:
        click.echo(f"wrote {out} ({printed(result)}{counted(result.evals, 'evaluation')}, "
                   f"{result.seconds_optimize:.1f} s, {result.s_per_eval:.3f} s/eval on {result.device})", err=True)


def print_announcer(config, quiet: bool) -> Callable[[Any], None] | None:
    """The ``on_estimate`` of a print-size run that is not quiet: it prints ``print_line`` from the
    run's own estimate, made with the net the run builds (``estimate_memory`` would build it a
    second time). None for a run without ``--print``."""
    if config.print_size is None or quiet:
        return None
    return lambda memory: click.echo(print_line(config.print_size, config.dpi, memory), err=True)


def print_line(print_size: str, dpi: int, memory) -> str:
    """The line a print-size run starts with, before any work at its size: what the print asks for
    and the engine's memory estimate (the run's ``on_estimate``), e.g. 'print: A3 (42 cm) at
    300 dpi = 4961 px (4961 x 3721 px); memory: about 99.68 GiB in one pass, above the 8.0 GiB
    budget: in tiles of 768 px'. A run that cannot fit is refused by that estimate instead."""
    from .printsize import describe
    h, w = memory.shape
    return f"print: {describe(print_size, dpi)} ({w} x {h} px); memory: {memory.summary()}"


def printed(result) -> str:
    """'4961 x 3508 px, 42 x 29.7 cm at 300 dpi, ' for the summary line of a run with a dpi; '' without."""
    from .printsize import print_record
    dpi = result.config.dpi
    if dpi is None:
        return ""
    h, w = result.image.shape[-2:]
    cm = print_record(w, h, dpi)  # the report's own figures, 2 decimals (A0: 118.9 cm, not 119)
    return f"{w} x {h} px, {cm['width_cm']:g} x {cm['height_cm']:g} cm at {dpi} dpi, "


def run_metadata(cfg, content: str, style: tuple[str, ...]) -> dict:
    """What ``TransferResult.metadata()`` will record for this run (settings, inputs and their
    sha256, device, versions), known before it ends: a --save-every snapshot carries it, so
    ``--settings`` reads a snapshot as it reads the output."""
    from .device import resolve_device, resolve_precision
    from .transfer import run_inputs, run_record
    device = resolve_device(cfg.device)
    # the run records the precision it resolved, as here
    params = dataclasses.replace(cfg, precision=resolve_precision(cfg.precision, device)).to_dict()
    return run_record({"command": "transfer"}, params, run_inputs(cfg, style, content), str(device))


class StopSignals:
    """Turns the first SIGINT/SIGTERM into a stop request (the run ends cleanly and saves); a
    second SIGINT aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopSignals":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. embedded): no handlers
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def save_checkpoint(ckpt: dict, path: Path) -> None:
    import torch
    from .io.image import write_atomic

    def write(tmp: Path) -> None:
        # through a Python file: torch's own writer turns a full disk into "basic_ios::clear:
        # iostream error" (a RuntimeError without the errno); Python's write raises the OSError
        with open(tmp, "wb") as f:
            torch.save(ckpt, f)
    write_atomic(path, write)


# What a wrong --resume file should be replaced with: the stop's own message names it.
_CKPT_HINT = "give the OUTPUT.ckpt that a stopped run wrote (its stop message names it)"


def load_checkpoint(path: str) -> dict:
    """Read a checkpoint safely (tensors and plain values only; no code is unpickled)."""
    from .errors import InputError
    from .nets.weights import load_plain
    if not Path(path).is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        ckpt = load_plain(path)
    except Exception:
        raise InputError(f"{path}: not a readable stylegram checkpoint; {_CKPT_HINT}") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "stylegram-transfer":
        raise InputError(f"{path}: not a stylegram transfer checkpoint; {_CKPT_HINT}")
    return ckpt


def typed_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options given on the command line (not left at their defaults): what wins over a
    preset or an earlier run's --settings."""
    ctx = click.get_current_context()
    return {k: v for k, v in options.items() if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}


@cli.command("texture")
@click.argument("style", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output image (.png, .jpg, ...)")
@click.option("--size", type=int, default=512, show_default=True, help="side of the square texture, px")
@click.option("--print", "print_size", default=None, metavar=PRINT_METAVAR, help=PRINT_HELP)
@click.option("--dpi", type=int, default=None, help=DPI_HELP)
@click.option("--tileable/--no-tileable", default=False, show_default=True,
              help="wrap around seamlessly (circular padding); sides become multiples of 16 px")
@click.option("--iters", type=int, default=TEXTURE_DEFAULTS["iters"], show_default=True,
              help="iterations at the first (128 px) level; larger levels get fewer")
@click.option("--style-loss", type=click.Choice(["gram", "w2", "swd"]), default="gram", show_default=True,
              help="gram (the course's), w2 (mean and covariance) or swd (sliced Wasserstein)")
@click.option("--style-blend", default="", help="blend weights of several style images, e.g. 0.7,0.3")
@click.option("--style-scale", type=float, default=1.0, show_default=True,
              help="style image size relative to the output (above 1: larger, coarser strokes; below 1: finer)")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed of the start noise, 0 to 2^32-1")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps")
@click.option("--net", default="vgg16-hed", show_default=True, help="feature net (see `stylegram nets`)")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="weights file for --net vgg16 or vgg19 (.pth, .safetensors, .h5) instead of the download")
@click.option("--max-memory", type=float, default=8.0, show_default=True, help="memory budget, GiB")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="write a JSON run report here")
@click.option("--settings", type=click.Path(dir_okay=False), default=None,
              help="take every option but the device from an earlier texture: its output PNG or JPEG, or its "
                   "--report JSON; options typed here win (e.g. a 256 px try at --size 2048)")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar and no summary line (errors and warnings still print)")
def texture_cmd(style: tuple[str, ...], output: str, report: str | None, settings: str | None, quiet: bool,
                **options: Any) -> None:
    """Synthesize a texture with the style of STYLE (one or more images) from noise."""
    from .config import TransferConfig, check_blend
    from .printsize import size_options

    typed = size_options(typed_options(options))  # --size and --print: one or the other
    if settings:  # the earlier texture's options and tiling, then those typed here
        from .texture import texture_settings
        base, tileable = texture_settings(settings)
        options = typed
    else:
        base, tileable = TransferConfig(**TEXTURE_DEFAULTS), False
    tileable = options.pop("tileable", tileable)
    config = dataclasses.replace(base, **options).validated()
    # The engine (torch) only now: an option typed wrong is refused without it.
    from .io.image import check_output_path
    from .report import write_json
    from .texture import texture
    # every file the run reads (the settings, and the weights typed here or in the settings):
    # not to be written over
    inputs = [*style, *([settings] if settings else []), *config.input_files()]
    out = check_output_path(output, inputs)
    partial = check_output_path(partial_path(out, inputs), inputs)  # where a stopped run writes
    if report:
        check_output_path(report, inputs, suffixes=[".json"], outputs=[output])
    if settings:
        config.check_net_known(settings)
    if settings and "style_blend" not in options:
        check_blend(config.style_blend, len(style), settings)
    announce = print_announcer(config, quiet)  # before the work at its size: what the print asks for
    with ProgressBar(config.iters, "texture", quiet, stoppable=True) as bar:  # bar.ev: where a stop got to
        result = texture(list(style), tileable=tileable, callback=bar.update, config=config, on_estimate=announce)
    # a stopped texture goes beside OUT, as a stopped transfer does: OUT may hold a finished one
    result.save(partial if result.stopped == "cancelled" else out)
    if report:
        write_json(result.report(), report)
    if result.stopped == "cancelled":
        # a tileable texture's side is rounded to the net's stride: not known here
        click.echo(stopped_message(bar.ev, result.image, None if tileable else config.size, "texture",
                                   partial), err=True)
        sys.exit(130)
    if not quiet:
        h, w = result.image.shape[-2:]
        size = printed(result) or f"{w} x {h} px, "
        click.echo(f"wrote {out} ({size}{counted(result.evals, 'evaluation')}, {result.seconds_optimize:.1f} s)", err=True)


@cli.command("nets")
def nets_cmd() -> None:
    """List the feature nets and whether they need a download."""
    from .nets.registry import default_registry
    reg = default_registry()
    for name in reg.names():
        spec = reg.get(name)
        click.echo(f"{name:12s} {'offline ' if spec.offline else 'download'}  {spec.description}")


from .web.command import serve_cmd  # noqa: E402  (imports click only; the web stack loads on use)
cli.add_command(serve_cmd)
from .explore.cli import explore  # noqa: E402  (imports click only; torch work happens on use)
cli.add_command(explore)
from . import media_cli  # noqa: E402  (imports only click at load; the media code loads per command)
cli.add_command(media_cli.audio_cmd)
cli.add_command(media_cli.audio_texture_cmd)
cli.add_command(media_cli.signal_texture_cmd)
cli.add_command(media_cli.volume_cmd)
cli.add_command(media_cli.solid_texture_cmd)
cli.add_command(media_cli.video_cmd)


# click >= 8.2 raises this for a bare group (the help is its message); older clicks print and exit.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI, turning user errors into one line and exit code 2."""
    try:
        rv = cli.main(args=argv, prog_name="stylegram", standalone_mode=False)
    except StylegramError as e:
        # One line, whatever a library underneath put in the message.
        click.echo("stylegram: error: " + " ".join(str(e).split()), err=True)
        sys.exit(EXIT_USER_ERROR)
    except click.exceptions.Abort:
        click.echo("stylegram: aborted", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as e:
        e.show()  # a bare `stylegram` or group: the help is the answer
        sys.exit(EXIT_USER_ERROR)
    except click.UsageError as e:
        # click's own form is four lines (usage, hint, blank, error); the rule here is one.
        where = e.ctx.command_path if e.ctx is not None else "stylegram"
        click.echo(f"stylegram: error: {' '.join(e.format_message().split()).rstrip('.')}; see `{where} --help`", err=True)
        sys.exit(EXIT_USER_ERROR)
    except click.ClickException as e:
        click.echo("stylegram: error: " + " ".join(e.format_message().split()), err=True)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        click.echo("stylegram: interrupted", err=True)
        sys.exit(130)
    except (MemoryError, RuntimeError) as e:
        from .errors import out_of_memory
        oom = out_of_memory(e)
        if oom is None:
            raise  # a bug, not something the user asked for: keep the traceback
        click.echo(f"stylegram: error: {oom}", err=True)
        sys.exit(EXIT_USER_ERROR)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
