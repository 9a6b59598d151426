"""Weight initialisers: functions ``init(key, shape, dtype=float32) -> Array``.

``zeros`` and ``ones`` are initialisers themselves; every other name is a factory that
takes the distribution's settings and returns an initialiser (as ``jax.nn.initializers``
does, which these wrap wherever it computes the same thing).

Fans: for a Dense kernel ``(fan_in, fan_out)``; for a convolution kernel
``(*window, in_channels, out_channels)``, ``fan_in = in_channels·prod(window)`` and
``fan_out = out_channels·prod(window)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import jax
import jax.numpy as jnp

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


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a kernel shape ``(..., in, out)`` (receptive field included)."""
    shape = tuple(shape)
    if len(shape) < 1:
        raise ValueError(f"compute_fans: needs a shape of rank >= 1, got {shape}")
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def zeros(key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
    """Zero initialisation: every weight 0 (fine for biases; for weights it keeps all units
    of a layer identical, the symmetry problem)."""
    return jax.nn.initializers.zeros(key, tuple(shape), dtype)


def ones(key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
    """Every weight 1."""
    return jax.nn.initializers.ones(key, tuple(shape), dtype)


def constant(value: float) -> Initializer:
    """Constant initialisation: every weight ``value``."""
    return jax.nn.initializers.constant(value)


def uniform(low: float = -0.05, high: float = 0.05) -> Initializer:
    """Uniform initialisation: ``w ~ U(low, high)``."""
    if not low < high:
        raise ValueError(f"uniform: low (={low}) must be < high (={high})")

    def init(key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
        return jax.random.uniform(key, tuple(shape), dtype, low, high)

    return init


def normal(std: float = 0.05, mean: float = 0.0) -> Initializer:
    """Normal initialisation: ``w ~ N(mean, std²)``."""
    if std < 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")

    def init(key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
        return mean + std * jax.random.normal(key, tuple(shape), dtype)

    return init


def xavier_limit(fan_in: int, fan_out: int) -> float:
    """The Xavier/Glorot uniform limit ``sqrt(6 / (fan_in + fan_out))``."""
    return math.sqrt(6.0 / (fan_in + fan_out))


def glorot_uniform() -> Initializer:
    """Xavier/Glorot uniform: ``w ~ U(-r, r)``, ``r = sqrt(6 / (fan_in + fan_out))``."""
    return jax.nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")


def glorot_normal() -> Initializer:
    """Xavier/Glorot normal: ``w ~ N(0, 2 / (fan_in + fan_out))`` (untruncated, the course's
    formula)."""
    return jax.nn.initializers.variance_scaling(1.0, "fan_avg", "normal")


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal


def he_uniform() -> Initializer:
    """He/Kaiming uniform (for ReLU): ``w ~ U(-r, r)``, ``r = sqrt(6 / fan_in)``."""
    return jax.nn.initializers.variance_scaling(2.0, "fan_in", "uniform")


def he_normal() -> Initializer:
    """He/Kaiming normal (for ReLU): ``w ~ N(0, 2 / fan_in)`` (untruncated)."""
    return jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def lecun_normal() -> Initializer:
    """LeCun normal (for SELU/tanh): ``w ~ N(0, 1 / fan_in)`` (untruncated)."""
    return jax.nn.initializers.variance_scaling(1.0, "fan_in", "normal")


def orthogonal(scale: float = 1.0) -> Initializer:
    """Orthogonal initialisation: a (scaled) random orthogonal matrix (Saxe et al., 2014);
    for kernels of rank > 2 the leading axes are flattened into the rows. Computed in
    float32 (QR has no half-precision kernel) and cast to ``dtype``."""
    base = jax.nn.initializers.orthogonal(scale)

    def init(key: Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> Array:
        if jnp.finfo(dtype).bits < 32:
            return base(key, tuple(shape), jnp.float32).astype(dtype)
        return base(key, tuple(shape), dtype)

    return init


_BY_NAME = {
    "zeros": lambda: zeros, "ones": lambda: ones, "uniform": uniform, "normal": normal,
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform, "xavier_normal": glorot_normal,
    "he_uniform": he_uniform, "he_normal": he_normal, "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
}


def get(init: str | Initializer) -> Initializer:
    """An initialiser from its name (default settings) or passed through if callable.

    Raises:
      ValueError: an unknown name; the message lists the known ones.
    """
    if callable(init):
        return init
    if init not in _BY_NAME:
        raise ValueError(
            f"initializers.get: unknown initializer {init!r}; allowed: {', '.join(sorted(_BY_NAME))}"
        )
    return _BY_NAME[init]()
