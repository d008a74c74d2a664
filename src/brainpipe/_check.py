"""Input checks shared by every module.

One place raises the same kind of sentence everywhere: which parameter or
file, what was expected and what was found (in the spirit of MNE's
``_check_option`` / ``_validate_type``).
"""

from __future__ import annotations

import copy
import numbers
from pathlib import Path


class BrainpipeInputError(ValueError):
    """Bad input data: the message names the file and the problem."""


def check_option(parameter, value, allowed_values):
    """Raise a ``ValueError`` if ``value`` is not one of ``allowed_values``.

    Parameters
    ----------
    parameter : str
        Name of the parameter being checked.
    value : object
        The value received.
    allowed_values : sequence
        The accepted values.

    Returns
    -------
    value : object
        ``value`` unchanged, so the call can be used inline.
    """
    if value not in allowed_values:
        allowed = ", ".join(repr(v) for v in allowed_values)
        raise ValueError(
            f"Invalid value for the '{parameter}' parameter. "
            f"Allowed values are {allowed}, but got {value!r} instead."
        )
    return value


def validate_type(value, types, parameter, type_name=None):
    """Raise a ``TypeError`` if ``value`` is not an instance of ``types``."""
    if not isinstance(value, types):
        if type_name is None:
            names = types if isinstance(types, tuple) else (types,)
            type_name = " or ".join(t.__name__ for t in names)
        raise TypeError(
            f"{parameter} must be an instance of {type_name}, "
            f"got {type(value).__name__} instead."
        )
    return value


def check_positive_int(value, parameter, minimum=1):
    """Return ``int(value)`` or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(
            f"{parameter} must be an integer >= {minimum}, got {value!r} instead."
        )
    return int(value)


def check_positive(value, parameter, unit=""):
    """Return ``value`` or raise if it is not a real number > 0 (booleans refused).

    ``unit`` is added to the message, e.g. ``" (Hz)"`` or ``" of seconds"``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{parameter} must be a positive number{unit}, got {value!r} instead.")
    return value


def merge_options(defaults, options, section):
    """``defaults`` (deep-copied) updated with ``options``; unknown keys raise.

    Parameters
    ----------
    defaults : dict
        Every key of a config section and its default.
    options : dict | None
        The user's values for some of those keys.
    section : str
        Named in the error, e.g. ``"offline BCI"``.

    Returns
    -------
    merged : dict
    """
    merged = copy.deepcopy(defaults)
    if options is None:
        return merged
    validate_type(options, dict, "config")
    unknown = sorted(set(options) - set(merged))
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in the {section} config; allowed: {sorted(merged)}."
        )
    merged.update(options)
    return merged


def input_error(path, problem):
    """Build a :class:`BrainpipeInputError` naming ``path`` and ``problem``."""
    return BrainpipeInputError(f"{Path(path)}: {problem}")


def check_file(path, what="input file"):
    """Return ``Path(path)`` or raise naming the missing file."""
    path = Path(path)
    if not path.exists():
        raise input_error(path, f"{what} does not exist")
    return path
