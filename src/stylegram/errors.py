"""The errors a user can cause. Each message is one line: what went wrong, with which file or
option, and what to do about it. The CLI prints it and exits with code 2; the studio shows it."""
from __future__ import annotations

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


class NumericalError(StylegramError):
    """The optimization produced NaN or Inf and could not recover."""


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
