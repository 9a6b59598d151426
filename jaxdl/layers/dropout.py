"""Dropout."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl.core import Array, Layer, stochastic

__all__ = ["Dropout"]


def Dropout(drop_rate: float) -> Layer:
    """Inverted dropout: in training each element is zeroed with probability ``drop_rate``
    and the survivors scaled by ``1 / (1 - drop_rate)``; at evaluation ``y = x``.

    ``drop_rate`` is the probability of *dropping* (stax's ``rate`` was the keep
    probability; jaxdl names it for what it means).

    Raises:
      ValueError: ``drop_rate`` outside ``[0, 1)``, or ``apply(train=True)`` without a key.
    """
    if not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"Dropout: drop_rate must be in [0, 1), got {drop_rate}")

    def drop(x: Array, key: Array | None, train: bool) -> Array:
        if not train or drop_rate == 0.0:
            return x
        keep = jax.random.bernoulli(key, 1.0 - drop_rate, jnp.shape(x))
        return jnp.where(keep, x / (1.0 - drop_rate), jnp.zeros_like(x))

    return stochastic(f"Dropout({drop_rate})", drop)
