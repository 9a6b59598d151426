"""Validation helpers shared by every part of jaxdl: one home for the error messages.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind,
wrong value) whose message starts with the name of the function or layer that was
called, names the option and shows the value received. Nothing here branches on the
value of a traced array: options that may be traced (rates, slopes, learning rates) are
checked only when they are concrete Python or NumPy numbers.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = [
    "show_value", "as_real_array", "check_values", "check_option", "lookup", "check_dtype",
    "check_shape", "check_input_shape", "check_int", "check_float",
    "check_bool", "check_axis", "check_name", "did_you_mean", "is_concrete", "as_key",
]


def did_you_mean(value: Any, allowed: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest allowed string, or ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.6)
    if not close:  # "Mse", "mse_loss", "relu" for "leaky_relu": containment either way
        low = value.lower()
        longer = sorted((a for a in allowed if low in a.lower()),
                        key=lambda a: (not a.lower().startswith(low), len(a)))
        shorter = sorted((a for a in allowed if a.lower() in low), key=lambda a: -len(a))
        close = (longer or shorter)[:1]
    return f"; did you mean {close[0]!r}?" if close else ""


def check_option(fn_name: str, arg: str, value: Any, allowed: Sequence[str], *,
                 aliases: Mapping[str, str] | None = None) -> str:
    """Returns ``value`` if it is one of ``allowed``; else a ``ValueError`` listing them.

    The message ends with the closest allowed name: from ``aliases`` (names other
    libraries use, such as ``"mse_loss"``, for the hint only, never resolved silently),
    a known suffix (``_loss``, ``_init``), or string similarity.

    Example:
      >>> check_option("f", "mode", "min", ("min", "max"))
      'min'
      >>> check_option("f", "mode", "mni", ("min", "max"))
      Traceback (most recent call last):
      ...
      ValueError: f: unknown mode='mni'; allowed: 'min', 'max'; did you mean 'min'?
    """
    if not isinstance(value, str):
        raise TypeError(f"{fn_name}: {arg} must be a string, one of "
                        f"{', '.join(repr(a) for a in allowed)}; got {value!r} "
                        f"({type(value).__name__})")
    if value in allowed:
        return value
    key = value.lower().replace("-", "_").replace(" ", "_")
    hint = (aliases or {}).get(key)
    if hint is None and key in allowed:
        hint = key
    if hint is None:
        for suffix in ("_loss", "loss", "_initializer", "_init", "_metric"):
            if key.endswith(suffix) and key[: -len(suffix)] in allowed:
                hint = key[: -len(suffix)]
                break
    suggestion = f"; did you mean {hint!r}?" if hint is not None else did_you_mean(value, allowed)
    raise ValueError(f"{fn_name}: unknown {arg}={value!r}; allowed: "
                     f"{', '.join(repr(a) for a in allowed)}{suggestion}")


def lookup(fn_name: str, what: str, value: Any, named: Mapping[str, Any],
           aliases: Mapping[str, str], example: str) -> Any:
    """``value`` if callable, else ``named[value]``: the ``get`` of losses, metrics and the
    like, with a ``TypeError`` for a non-name and "did you mean" for a mistyped name."""
    if callable(value):
        return value
    if not isinstance(value, str):
        article = "an" if what[0] in "aeiou" else "a"
        raise TypeError(f"{fn_name}: {what} must be {article} {what} function or a name such as "
                        f"{example!r}, got {show_value(value)} ({type(value).__name__})")
    return named[check_option(fn_name, what, value, tuple(named), aliases=aliases)]


def is_concrete(x: Any) -> bool:
    """True when ``x`` is a Python/NumPy number or a non-traced array (its value is known)."""
    return not isinstance(x, jax.core.Tracer)


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool,
                allow_none: bool) -> str:
    """``"in [0, 1)"``, ``">= 1"``, ``"<= 2"`` (with ``" or None"``), for range errors."""
    if low is not None and high is not None:
        text = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        text = f"{'>' if low_open else '>='} {low:g}"
    else:
        text = f"{'<' if high_open else '<='} {high:g}"
    return text + (" or None" if allow_none else "")


def check_int(fn_name: str, arg: str, value: Any, *, min_value: int | None = None,
              max_value: int | None = None, allow_none: bool = False) -> int | None:
    """A Python/NumPy integer (never a bool) within ``[min_value, max_value]``; returns it as ``int``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{fn_name}: {arg} must be an int{' or None' if allow_none else ''}, "
                        f"got {value!r} ({type(value).__name__})")
    value = int(value)
    if (min_value is not None and value < min_value) or (max_value is not None
                                                         and value > max_value):
        raise ValueError(f"{fn_name}: {arg} must be "
                         f"{_range_text(min_value, max_value, False, False, allow_none)}, "
                         f"got {value}")
    return value


def check_float(fn_name: str, arg: str, value: Any, *, min_value: float | None = None,
                max_value: float | None = None, min_open: bool = False,
                max_open: bool = False, allow_none: bool = False,
                allow_traced: bool = True) -> Any:
    """A real number (Python, NumPy or a scalar JAX array) in the given range.

    Traced arrays (under ``jit``/``vmap``) pass unchecked when ``allow_traced`` (their value
    is not known); concrete values must be finite and in range. Returns the value as
    given (a Python number becomes ``float``).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (jax.Array, np.ndarray)) and not isinstance(value, bool):
        if jnp.ndim(value) != 0 or not (jnp.issubdtype(value.dtype, jnp.floating)
                                        or jnp.issubdtype(value.dtype, jnp.integer)):
            raise TypeError(f"{fn_name}: {arg} must be a real scalar, got an array of shape "
                            f"{jnp.shape(value)} and dtype {value.dtype}")
        if not is_concrete(value):
            if allow_traced:
                return value
            raise TypeError(f"{fn_name}: {arg} must be a concrete number, got a traced array")
        number = float(value)
    elif isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(f"{fn_name}: {arg} must be a number{' or None' if allow_none else ''}, "
                        f"got {value!r} ({type(value).__name__})")
    else:
        number = float(value)
        value = number
    if not np.isfinite(number):
        raise ValueError(f"{fn_name}: {arg} must be finite, got {number}")
    low = min_value is not None and (number <= min_value if min_open else number < min_value)
    high = max_value is not None and (number >= max_value if max_open else number > max_value)
    if low or high:
        raise ValueError(f"{fn_name}: {arg} must be "
                         f"{_range_text(min_value, max_value, min_open, max_open, allow_none)}, "
                         f"got {number!r}")
    return value


def check_bool(fn_name: str, arg: str, value: Any) -> bool:
    """A Python or NumPy bool (``"no"``, ``1`` and ``None`` are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn_name}: {arg} must be True or False, got {value!r} "
                        f"({type(value).__name__})")
    return bool(value)


def check_axis(fn_name: str, arg: str, value: Any) -> int:
    """A negative axis of the per-example shape (counted from the end, so that any number
    of leading batch axes, and ``jax.vmap``, leave its meaning unchanged)."""
    value = check_int(fn_name, arg, value)
    if value >= 0:
        raise ValueError(f"{fn_name}: {arg} must be negative (counted from the last axis, so "
                         f"it means the same batched and under jax.vmap), got {value}; "
                         f"e.g. {arg}=-1 for the last axis")
    return value


def check_name(fn_name: str, value: Any) -> str | None:
    """A layer name: ``None`` (the default) or a snake_case identifier."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or not value.isidentifier() or \
            value != value.lower() or value.startswith("_"):
        raise ValueError(f"{fn_name}: name must be a snake_case identifier such as 'encoder' "
                         f"or 'dense_out', got {value!r}")
    return value


def check_shape(name: str, x: Any, expected_tail: Sequence[int | None], *, min_batch: int = 0,
                max_batch: int | None = None) -> None:
    """Raises a ``ValueError`` unless ``x.shape`` is ``(*batch, *expected_tail)``.

    The default is the batch-axis rule of every jaxdl layer: any number of leading batch
    axes (none included, as under ``jax.vmap`` over single examples).

    Args:
      name: the layer's name, for the message.
      x: the input array.
      expected_tail: the per-example shape; ``None`` entries match any size.
      min_batch: the fewest leading batch axes allowed.
      max_batch: the most leading batch axes allowed (``None``: any number).
    """
    if not hasattr(x, "shape"):
        raise TypeError(f"{name}: expected an array input, got {type(x).__name__}")
    shape = tuple(jnp.shape(x))
    tail = tuple(expected_tail)
    n_batch = len(shape) - len(tail)
    ok = n_batch >= min_batch and (max_batch is None or n_batch <= max_batch)
    if ok:
        ok = all(e is None or e == s for e, s in zip(tail, shape[n_batch:]))
    if not ok:
        shown = ", ".join("?" if e is None else str(e) for e in tail)
        if max_batch == 1 and min_batch == 1:
            batch = "batch, "
        elif max_batch is None and min_batch == 0:
            batch = "*batch, "
        elif max_batch is None:
            batch = f"*batch (>= {min_batch} axes), "
        else:
            batch = f"{min_batch}..{max_batch} batch axes, "
        raise ValueError(f"{name}: expected input of shape ({batch}{shown}), got {shape}")


def check_input_shape(name: str, input_shape: Any, rank: int | None = None, *,
                      allow_none: bool = True) -> tuple[int | None, ...]:
    """Validates a per-example ``input_shape`` given to ``init``; returns it as a tuple.

    Sizes are positive ints; ``None`` stands for an axis of any length (time) when
    ``allow_none``.
    """
    if not isinstance(input_shape, (tuple, list)) or not all(
            (d is None and allow_none) or (isinstance(d, (int, np.integer))
                                           and not isinstance(d, bool)) for d in input_shape):
        what = "ints or None" if allow_none else "ints"
        raise TypeError(f"{name}: input_shape must be a tuple of {what} (batch axis excluded), "
                        f"got {input_shape!r}")
    shape = tuple(None if d is None else int(d) for d in input_shape)
    if any(d is not None and d <= 0 for d in shape):
        raise ValueError(f"{name}: input_shape must have positive sizes, got {shape}")
    if rank is not None and len(shape) != rank:
        raise ValueError(
            f"{name}: expected a per-example input_shape of rank {rank} (batch axis excluded), "
            f"got {shape}"
        )
    return shape


def as_key(fn_name: str, key: Any, *, allow_none: bool = False) -> jax.Array | None:
    """A PRNG key from a key (typed or raw ``uint32[2]``) or an int seed.

    ``fit(key=0)`` and ``fit(key=jax.random.key(0))`` mean the same thing everywhere in
    jaxdl.
    """
    if key is None:
        if allow_none:
            return None
        raise TypeError(f"{fn_name}: key must be a PRNG key or an int seed, got None")
    if isinstance(key, bool):
        raise TypeError(f"{fn_name}: key must be a PRNG key or an int seed, got {key!r} (bool)")
    if isinstance(key, (numbers.Integral, np.integer)):
        return jax.random.key(int(key))
    if isinstance(key, (jax.Array, np.ndarray)):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.shape != ():
                raise ValueError(f"{fn_name}: key must be a single PRNG key, got a key array of "
                                 f"shape {key.shape}")
            return key
        if key.shape == (2,) and key.dtype == jnp.uint32:
            return jax.random.wrap_key_data(key)
        if key.shape == () and jnp.issubdtype(key.dtype, jnp.integer):
            return jax.random.key(key)
    raise TypeError(f"{fn_name}: key must be a PRNG key (jax.random.key(seed)) or an int seed, "
                    f"got {key!r} ({type(key).__name__})")


def show_value(value: Any, limit: int = 80) -> str:
    """A short ``repr`` of a received value, for error messages."""
    if isinstance(value, (jax.Array, np.ndarray)) and not isinstance(value, jax.core.Tracer):
        text = f"an array of shape {tuple(np.shape(value))} and dtype {value.dtype}: " + \
            " ".join(str(np.asarray(value)).split())
    elif isinstance(value, jax.core.Tracer):
        text = f"a traced array of shape {value.shape} and dtype {value.dtype}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_real_array(name: str, arg: str, x: Any) -> Array:
    """``x`` as a JAX array of a real dtype (bool, integer or floating); else ``TypeError``."""
    if not isinstance(x, jax.Array):
        if x is None or isinstance(x, (str, bytes)):
            raise TypeError(f"{name}: {arg} must be a numeric array, got {show_value(x)} "
                            f"({type(x).__name__})")
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError):  # ragged nested lists
            raise TypeError(f"{name}: {arg} must be a numeric array (nested lists of equal "
                            f"lengths), got {show_value(x)}") from None
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"{name}: {arg} must be a numeric array, got {show_value(arr)}")
        x = arr
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
            or jnp.issubdtype(x.dtype, jnp.bool_)):
        raise TypeError(f"{name}: {arg} must be real (bool, integer or floating), got "
                        f"{show_value(x)}")
    return jnp.asarray(x)


def check_values(name: str, arg: str, x: Array, ok: Callable[[np.ndarray], np.ndarray],
                  what: str, *, where: Array | None = None, hint: str = "") -> None:
    """``ValueError`` naming the first entry of a concrete ``x`` where ``ok`` is False.

    Skipped when ``x`` (or ``where``) is traced: the values are not known under ``jit``.
    ``where`` (broadcastable to ``x``'s shape, same rank) limits the check to its selection.
    """
    if not is_concrete(x) or (where is not None and not is_concrete(where)):
        return
    xs = np.asarray(x)
    with np.errstate(invalid="ignore"):
        good = np.asarray(ok(xs), bool)
    if where is not None:
        good = good | ~np.broadcast_to(np.asarray(where, bool), xs.shape)
    if good.all():
        return
    index = tuple(int(i) for i in np.unravel_index(int(np.argmin(good)), xs.shape))
    value = xs[index].item()
    raise ValueError(f"{name}: {arg} must be {what}; got {value!r} at index {index}"
                     f"{hint} (this check runs on concrete inputs only, not under jax.jit)")


def check_dtype(name: str, dtype: Any, *, floating: bool = True) -> Any:
    """``dtype`` as a dtype: a floating one when ``floating``, else any real one (bool,
    integer or floating). ``None`` is refused: ``np.dtype(None)`` would mean float64."""
    try:
        if dtype is None:  # np.dtype(None) would silently mean float64
            raise TypeError
        dt = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: dtype must be a NumPy/JAX dtype such as jnp.float32, got "
                        f"{show_value(dtype)}") from None
    if floating and not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"{name}: dtype must be a floating dtype (float32, bfloat16, ...), "
                        f"got {dt}")
    if not floating and not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)
                             or jnp.issubdtype(dt, jnp.bool_)):
        raise TypeError(f"{name}: dtype must be a real dtype, got {dt}")
    return dt
