"""Dropout."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl._checks import check_float, is_concrete
from jaxdl.core import Array, Layer, layer_name, stochastic

__all__ = ["Dropout"]


def Dropout(drop_rate: float, *, name: str | None = None) -> Layer:
    """Inverted dropout: in training each element is zeroed with probability ``drop_rate``
    and the survivors scaled by ``1 / (1 - drop_rate)``; at evaluation ``y = x``.

    ``drop_rate`` is the probability of *dropping* (stax's ``rate`` was the keep
    probability; jaxdl names it for what it means). It may be a traced array, so one
    compiled program can train a population with different rates (``jax.vmap`` over a
    function that builds the layer); a concrete value is checked here.

    Raises:
      ValueError: ``drop_rate`` outside ``[0, 1)``, or ``apply(train=True)`` without a key.
      TypeError: ``drop_rate`` is not a number.
    """
    drop_rate = check_float("Dropout", "drop_rate", drop_rate, min_value=0.0, max_value=1.0,
                            max_open=True)
    shown = f"{float(drop_rate):g}" if is_concrete(drop_rate) else "traced"

    def drop(x: Array, key: Array | None, train: bool) -> Array:
        if not train:
            return x
        keep_prob = 1.0 - jnp.asarray(drop_rate, jnp.result_type(x))
        keep = jax.random.bernoulli(key, keep_prob, jnp.shape(x))
        return jnp.where(keep, x / keep_prob, jnp.zeros_like(x))

    return stochastic(layer_name("Dropout", name), drop, label=f"Dropout({shown})")
