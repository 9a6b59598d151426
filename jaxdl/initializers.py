"""Weight initialisers: functions ``init(key, shape, dtype=float32) -> Array``.

``zeros`` and ``ones`` are initialisers themselves; every other name is a factory that
takes the distribution's settings and returns an initialiser (as ``jax.nn.initializers``
does, which these wrap wherever it computes the same thing).

Fans: for a Dense kernel ``(fan_in, fan_out)``; for a convolution kernel
``(*window, in_channels, out_channels)``, ``fan_in = in_channels·prod(window)`` and
``fan_out = out_channels·prod(window)``.

Every initialiser checks its arguments when called: ``shape`` a tuple (or list) of
non-negative ints, ``dtype`` a floating dtype for the random ones, ``key`` a PRNG key (or
an int seed); a shape with a zero size gives an empty array. Names mistyped in
:func:`get` get a "did you mean" hint.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import (
    as_key, check_dtype, check_float, check_int, is_concrete, lookup, show_value,
)
from jaxdl.core import Array

__all__ = [
    "Initializer", "zeros", "ones", "constant", "uniform", "normal", "glorot_uniform",
    "glorot_normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal",
    "lecun_normal", "orthogonal", "compute_fans", "xavier_limit", "get",
]


class Initializer(Protocol):
    """``init(key, shape, dtype=jnp.float32) -> Array`` of ``shape``."""

    def __call__(self, key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32
                 ) -> Array: ...


def _shape(name: str, shape: Any, *, min_rank: int = 0) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints of rank >= ``min_rank``."""
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(d, (numbers.Integral, np.integer)) and not isinstance(d, bool)
            for d in shape):
        hint = f"; e.g. ({shape},)" if isinstance(shape, (numbers.Integral, np.integer)) \
            and not isinstance(shape, bool) else ""
        raise TypeError(f"{name}: shape must be a tuple of ints, got {show_value(shape)} "
                        f"({type(shape).__name__}){hint}")
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"{name}: shape must have non-negative sizes, got {shape}")
    if len(shape) < min_rank:
        raise ValueError(f"{name}: needs a shape of rank >= {min_rank}, got {shape}")
    return shape


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a kernel shape ``(..., in, out)`` (receptive field included).

    Args:
      shape: a Dense kernel ``(fan_in, fan_out)``, a convolution kernel ``(*window,
        in_channels, out_channels)``, or ``(n,)`` (fans ``(n, n)``).

    Returns:
      ``(fan_in, fan_out)`` as ints.

    Example:
      >>> import jaxdl
      >>> jaxdl.initializers.compute_fans((3, 3, 16, 32))
      (144, 288)
    """
    shape = _shape("compute_fans", shape, min_rank=1)
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def zeros(key: Array | None, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
    """Zero initialisation: every weight 0 (fine for biases; for weights it keeps all units
    of a layer identical, the symmetry problem).

    Args:
      key: ignored (any key, or None).
      shape: the array's shape, e.g. ``(units,)`` for a bias.
      dtype: any real dtype.

    Returns:
      Zeros of ``shape``.
    """
    return jnp.zeros(_shape("zeros", shape), check_dtype("zeros", dtype, floating=False))


def ones(key: Array | None, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
    """Every weight 1.

    Args:
      key: ignored (any key, or None).
      shape: the array's shape.
      dtype: any real dtype.

    Returns:
      Ones of ``shape``.
    """
    return jnp.ones(_shape("ones", shape), check_dtype("ones", dtype, floating=False))


def constant(value: float | Array) -> Initializer:
    """Constant initialisation: every weight ``value``.

    Args:
      value: a finite real number (may be traced).

    Returns:
      ``init(key, shape, dtype)``; the key is ignored.
    """
    value = check_float("constant", "value", value)

    def init(key: Array | None, shape: Sequence[int], dtype: jnp.dtype = jnp.float32
             ) -> Array:
        return jnp.full(_shape("constant", shape), value,
                        check_dtype("constant", dtype, floating=False))

    return init


def _random(name: str, draw: Callable[[Array, tuple[int, ...], Any], Array], *,
            min_rank: int = 0) -> Initializer:
    """An initialiser that checks its arguments and then calls ``draw(key, shape, dtype)``."""

    def init(key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
        shape = _shape(name, shape, min_rank=min_rank)
        dtype = check_dtype(name, dtype)
        key = as_key(name, key)
        if math.prod(shape) == 0:
            return jnp.zeros(shape, dtype)  # nothing to draw (and no fan to divide by)
        return draw(key, shape, dtype)

    init.__name__ = name
    init.__qualname__ = name
    return init


def uniform(low: float | Array = -0.05, high: float | Array = 0.05) -> Initializer:
    """Uniform initialisation: ``w ~ U(low, high)``.

    Args:
      low: the lower bound, a finite real (may be traced).
      high: the upper bound, > ``low`` (checked when both are concrete).

    Returns:
      ``init(key, shape, dtype)``.
    """
    low = check_float("uniform", "low", low)
    high = check_float("uniform", "high", high)
    if is_concrete(low) and is_concrete(high) and not float(low) < float(high):
        raise ValueError(f"uniform: low (={float(low)}) must be < high (={float(high)})")
    return _random("uniform", lambda key, shape, dtype:
                   jax.random.uniform(key, shape, dtype, low, high))


def normal(std: float | Array = 0.05, mean: float | Array = 0.0) -> Initializer:
    """Normal initialisation: ``w ~ N(mean, std²)``.

    Args:
      std: the standard deviation, >= 0 (may be traced).
      mean: the mean, a finite real (may be traced).

    Returns:
      ``init(key, shape, dtype)``.
    """
    std = check_float("normal", "std", std, min_value=0.0)
    mean = check_float("normal", "mean", mean)
    return _random("normal", lambda key, shape, dtype:
                   (mean + std * jax.random.normal(key, shape, dtype)).astype(dtype))


def xavier_limit(fan_in: int, fan_out: int) -> float:
    """The Xavier/Glorot uniform limit ``sqrt(6 / (fan_in + fan_out))``.

    Args:
      fan_in: inputs per unit, >= 0.
      fan_out: outputs per unit, >= 0 (``fan_in + fan_out`` >= 1).

    Returns:
      The limit r of ``U(-r, r)``.

    Example:
      >>> import jaxdl
      >>> round(jaxdl.initializers.xavier_limit(784, 256), 4)
      0.076
    """
    fan_in = check_int("xavier_limit", "fan_in", fan_in, min_value=0)
    fan_out = check_int("xavier_limit", "fan_out", fan_out, min_value=0)
    if fan_in + fan_out == 0:
        raise ValueError(f"xavier_limit: fan_in + fan_out must be >= 1, got fan_in={fan_in} "
                         f"and fan_out={fan_out}")
    return math.sqrt(6.0 / (fan_in + fan_out))


def _variance_scaling(name: str, scale: float, mode: str, distribution: str) -> Initializer:
    """``jax.nn.initializers.variance_scaling`` (untruncated) with :func:`compute_fans`'
    convention, so that rank-1 shapes ``(n,)`` work too (fans ``(n, n)``)."""
    base = jax.nn.initializers.variance_scaling(scale, mode, distribution)

    def draw(key: Array, shape: tuple[int, ...], dtype: Any) -> Array:
        if len(shape) >= 2:
            return base(key, shape, dtype)
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": 0.5 * (fan_in + fan_out)}[mode]
        variance = scale / fan
        if distribution == "uniform":  # the same arithmetic as jax's variance_scaling
            return jax.random.uniform(key, shape, dtype, -1, 1) * jnp.sqrt(3 * variance
                                                                          ).astype(dtype)
        return jax.random.normal(key, shape, dtype) * jnp.sqrt(variance).astype(dtype)

    return _random(name, draw, min_rank=1)


def glorot_uniform() -> Initializer:
    """Xavier/Glorot uniform: ``w ~ U(-r, r)``, ``r = sqrt(6 / (fan_in + fan_out))``.

    Returns:
      ``init(key, shape, dtype)`` for a kernel ``(..., fan_in, fan_out)`` (rank >= 1).
    """
    return _variance_scaling("glorot_uniform", 1.0, "fan_avg", "uniform")


def glorot_normal() -> Initializer:
    """Xavier/Glorot normal: ``w ~ N(0, 2 / (fan_in + fan_out))`` (untruncated, the course's
    formula).

    Returns:
      ``init(key, shape, dtype)`` for a kernel ``(..., fan_in, fan_out)`` (rank >= 1).
    """
    return _variance_scaling("glorot_normal", 1.0, "fan_avg", "normal")


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal


def he_uniform() -> Initializer:
    """He/Kaiming uniform (for ReLU): ``w ~ U(-r, r)``, ``r = sqrt(6 / fan_in)``.

    Returns:
      ``init(key, shape, dtype)`` for a kernel ``(..., fan_in, fan_out)`` (rank >= 1).
    """
    return _variance_scaling("he_uniform", 2.0, "fan_in", "uniform")


def he_normal() -> Initializer:
    """He/Kaiming normal (for ReLU): ``w ~ N(0, 2 / fan_in)`` (untruncated).

    Returns:
      ``init(key, shape, dtype)`` for a kernel ``(..., fan_in, fan_out)`` (rank >= 1).
    """
    return _variance_scaling("he_normal", 2.0, "fan_in", "normal")


def lecun_normal() -> Initializer:
    """LeCun normal (for SELU/tanh): ``w ~ N(0, 1 / fan_in)`` (untruncated).

    Returns:
      ``init(key, shape, dtype)`` for a kernel ``(..., fan_in, fan_out)`` (rank >= 1).
    """
    return _variance_scaling("lecun_normal", 1.0, "fan_in", "normal")


def orthogonal(scale: float | Array = 1.0) -> Initializer:
    """Orthogonal initialisation: a (scaled) random orthogonal matrix (Saxe et al., 2014).

    For kernels of rank > 2 the leading axes are flattened into the rows. Computed in
    float32 or wider (QR has no half-precision kernel), then cast to ``dtype``. The QR
    decomposition involves no reduced-precision matmul, but checking ``WᵀW = scale²·I``
    on a GPU or TPU needs ``precision=jax.lax.Precision.HIGHEST`` in that product (their
    default float32 matmul rounds to TF32/bfloat16).

    Args:
      scale: the gain, a finite real (may be traced).

    Returns:
      ``init(key, shape, dtype)`` for a shape of rank >= 2.
    """
    scale = check_float("orthogonal", "scale", scale)
    base = jax.nn.initializers.orthogonal(scale)

    def draw(key: Array, shape: tuple[int, ...], dtype: Any) -> Array:
        if jnp.finfo(dtype).bits < 32:
            return base(key, shape, jnp.float32).astype(dtype)
        return base(key, shape, dtype)

    return _random("orthogonal", draw, min_rank=2)


_BY_NAME: dict[str, Callable[[], Initializer]] = {
    "zeros": lambda: zeros, "ones": lambda: ones, "uniform": uniform, "normal": normal,
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform, "xavier_normal": glorot_normal,
    "he_uniform": he_uniform, "he_normal": he_normal, "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
}

# Names other libraries use, for the "did you mean" hint only (never resolved silently).
# (names that string similarity or a suffix rule already leads to are not listed)
_ALIASES = {
    "glorot": "glorot_uniform", "xavier": "xavier_uniform", "kaiming": "he_normal",
    "kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform",
    "random_normal": "normal", "gaussian": "normal",
}


def get(init: str | Initializer) -> Initializer:
    """An initialiser from its name (default settings) or passed through if callable.

    Args:
      init: an initialiser ``init(key, shape, dtype)`` or one of the names ``zeros``,
        ``ones``, ``uniform``, ``normal``, ``glorot_uniform``, ``glorot_normal``,
        ``xavier_uniform``, ``xavier_normal``, ``he_uniform``, ``he_normal``,
        ``lecun_normal``, ``orthogonal``.

    Returns:
      The initialiser.

    Raises:
      ValueError: an unknown name; the message lists the known ones and the closest
        (``"glorot"``: did you mean ``'glorot_uniform'``?).
      TypeError: neither a name nor a callable.

    Example:
      >>> import jax, jaxdl
      >>> jaxdl.initializers.get("he_normal")(jax.random.key(0), (3, 2)).shape
      (3, 2)
    """
    if callable(init):
        return init
    return lookup("initializers.get", "initializer", init, dict(sorted(_BY_NAME.items())),
                  _ALIASES, "glorot_uniform")()
