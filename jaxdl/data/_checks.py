"""Argument checks only the data modules need, built on :mod:`jaxdl._checks`.

The shared helpers (``check_int``, ``check_bool``, ``did_you_mean``, ...) are imported from
:mod:`jaxdl._checks` itself; this module adds what has no counterpart there.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, wrong
value) whose message starts with the public function's name (``jaxdl.data.batches: ...``),
names the argument and shows the value received.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from jaxdl._checks import check_int, show_value

__all__ = [
    "check_count", "check_path", "check_columns", "check_iterable", "check_numeric_array",
    "check_axis_in",
]


def check_count(fn: str, arg: str, value: Any, *, min_value: int, allow_none: bool = False,
                what: str = "an int") -> int | None:
    """:func:`check_int` (``>= min_value``), with ``what`` in its messages.

    For the few arguments whose messages say more than ``check_int``'s: ``"batch_size must
    be an int >= 1"``, ``"a static int"`` where ``jit`` needs one, ``"True, False or an
    int"`` where a bool is also accepted.
    """
    try:
        return check_int(fn, arg, value, min_value=min_value, allow_none=allow_none)
    except TypeError:
        none = " or None" if allow_none else ""
        raise TypeError(f"{fn}: {arg} must be {what} >= {min_value}{none}, got {value!r} "
                        f"({type(value).__name__})") from None
    except ValueError:
        raise ValueError(f"{fn}: {arg} must be {what} >= {min_value}, got {value!r}") from None


def check_path(fn: str, arg: str, value: Any) -> str | os.PathLike[str] | None:
    """None, a string or an ``os.PathLike`` (a ``pathlib.Path``); an empty string is refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{fn}: {arg} must be a path (str or pathlib.Path) or None, got "
                        f"{value!r} ({type(value).__name__})")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{fn}: {arg} must be a non-empty path, got {value!r}")
    return value


def check_columns(fn: str, arrays: Any, *, arg: str = "arrays") -> Mapping[str, Any]:
    """A mapping of columns (a dict of arrays); anything else is a ``TypeError``."""
    if not isinstance(arrays, Mapping):
        raise TypeError(
            f"{fn}: {arg} must be a dict of columns {{name: array (n, ...)}}, got "
            f"{type(arrays).__name__}" + (f" of shape {np.shape(arrays)}"
                                          if isinstance(arrays, np.ndarray) else "")
        )
    return arrays


def check_iterable(fn: str, arg: str, value: Any, what: str) -> Iterator[Any]:
    """``iter(value)``; a non-iterable is a ``TypeError`` saying what it must hold."""
    try:
        return iter(value)
    except TypeError:
        raise TypeError(f"{fn}: {arg} must be an iterable of {what}, got "
                        f"{show_value(value, 60)} ({type(value).__name__})") from None


def check_numeric_array(fn: str, arg: str, value: Any, *, kinds: str = "biuf") -> np.ndarray:
    """``np.asarray(value)``, refusing text, objects and other non-numeric dtypes."""
    try:
        x = np.asarray(value)
    except (TypeError, ValueError) as e:  # ragged nested lists, and the like
        raise TypeError(f"{fn}: {arg} must be a numeric array, got {type(value).__name__} "
                        f"({str(e).splitlines()[0]})") from None
    if x.dtype.kind not in kinds:
        shown = repr(value) if x.size <= 4 else f"an array of shape {x.shape}"
        raise TypeError(f"{fn}: {arg} must be a numeric array, got {shown} of dtype {x.dtype}")
    return x


def check_axis_in(fn: str, arg: str, value: Any, ndim: int) -> int:
    """An axis of an array of rank ``ndim`` (negative counts from the end); returns it >= 0."""
    axis = check_int(fn, arg, value)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: {arg} must lie in [-{ndim}, {ndim}) for an array of rank "
                         f"{ndim}, got {axis}")
    return axis % ndim
