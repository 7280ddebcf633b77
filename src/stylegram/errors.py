"""The errors a user can cause. Each message is one line: what went wrong, with which file or
option, and what to do about it. The CLI prints it and exits with code 2; the studio shows it."""
from __future__ import annotations

import numbers
from collections.abc import Iterable


class StylegramError(Exception):
    """Base class of every error a user can fix; ``str(err)`` is one line."""


class InputError(StylegramError):
    """A file or value given as input cannot be used (missing, corrupt, too large, wrong kind)."""


class ConfigError(StylegramError):
    """An option has a value the code does not accept."""


class WeightsError(StylegramError):
    """Network weights are missing, corrupt, unsafe or of the wrong layout."""


class ResourceError(StylegramError):
    """The work would not fit in memory (or on disk); the message gives the estimate."""


class NoSpaceError(ResourceError, OSError):
    """An output could not be written because its file system refused to grow (full, a quota, a
    file-size limit). An OSError as well: code that already treats a failed write as one (the
    studio's job records, the weights cache) keeps doing so, and the CLI prints the one line."""


class NotWritableError(InputError, OSError):
    """An output cannot be written where it was asked for: no permission, a read-only file
    system, a folder that does not exist or is a file, a target that is a folder. An OSError as
    well, for the same reason as NoSpaceError; an InputError, as save_image raised before."""


class NumericalError(StylegramError):
    """The optimization produced NaN or Inf and could not recover."""


def whole(what: str, value: object) -> int:
    """``value`` as an int; ConfigError unless it is a whole number (a Python or numpy integer;
    not a bool, which would pass as 1 or 0, nor 2.5, which would be cut to 2 without a word)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{what} {value!r}: must be a whole number")
    return int(value)


# Seeds are 32-bit, as numpy's and most tools' are: the engine derives further seeds from them
# (one per pyramid level, seed * 1_000_003 + level), which must stay within torch's 64 bits.
MAX_SEED = 2**32 - 1


def check_seed(seed: object) -> int:
    """``seed`` as an int; ConfigError unless it is a whole number from 0 to ``MAX_SEED``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed {seed!r}: must be a whole number from 0 to {MAX_SEED}")
    return int(seed)


def check_lr(lr: object) -> float | None:
    """A step size as a float (None: the optimizer's default); ConfigError unless a positive,
    finite number (a negative one would climb the loss, NaN would end the run as diverged)."""
    if lr is None:
        return None
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < float("inf"):
        raise ConfigError(f"lr {lr!r}: must be a positive number")
    return float(lr)


def out_of_memory(err: BaseException) -> ResourceError | None:
    """The one-line ResourceError for an allocation that failed (a MemoryError, torch's
    OutOfMemoryError, or the CPU allocator's RuntimeError), else None. The engine estimates and
    refuses large images up front; this catches what slips past, e.g. a signal of 10^8 samples."""
    import re
    text = str(err)
    if not (isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError"
            or "can't allocate memory" in text or "out of memory" in text.lower()):
        return None
    asked = re.search(r"allocate (\d+) bytes", text)
    size = f" (a block of {int(asked.group(1)) / 2**30:.1f} GiB)" if asked else ""
    return ResourceError(f"out of memory{size}; ask for less (a smaller --size, --length or --seconds) "
                         "or close other programs")


def choices_error(what: str, value: object, valid: Iterable[str], hint: str = "") -> ConfigError:
    """A ConfigError for an unknown choice that lists the valid ones."""
    valid = list(valid)
    shown = ", ".join(valid[:40]) + (", ..." if len(valid) > 40 else "")
    msg = f"unknown {what} {value!r}; valid: {shown}"
    return ConfigError(msg + (f"; {hint}" if hint else ""))


def check_weight(what: str, value: float) -> None:
    """Raise ConfigError unless ``value`` is a finite number, 0 or more: a loss weight (alpha,
    beta, a layer's lambda). NaN and inf would only poison the loss, a negative weight push the
    picture away from its target."""
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{what} {value:g}: must be a finite number, 0 or more")
