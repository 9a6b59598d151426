"""Fully connected layers: Dense, Flatten, Identity, Perceptron."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl import initializers as inits
from jaxdl.core import (
    Array, Layer, Params, State, check_input_shape, check_shape, serial, stateless,
)
from jaxdl.layers.activation import Step

__all__ = ["Dense", "Flatten", "Identity", "Perceptron"]


def Dense(
    units: int,
    *,
    use_bias: bool = True,
    w_init: inits.Initializer | str = "glorot_uniform",
    b_init: inits.Initializer | str = "zeros",
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Layer:
    """Fully connected layer: ``y = x·W + b``.

    Args:
      units: output features.
      use_bias: add the bias ``b``.
      w_init: initialiser of ``W``, ``(in_features, units)`` (default Xavier/Glorot uniform).
      b_init: initialiser of ``b``, ``(units,)`` (default zeros).
      dtype: the parameters' dtype.
      name: the layer's name (default ``Dense(units)``).

    Shapes:
      ``init`` takes a per-example shape ``(in_features,)``; ``apply`` takes
      ``x: (*batch, in_features)`` with any number of leading axes and returns
      ``(*batch, units)``. ``params = {"w": (in_features, units), "b": (units,)}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> layer = jaxdl.Dense(3)
      >>> out_shape, params, state = layer.init(jax.random.key(0), (4,))
      >>> out_shape, params["w"].shape, params["b"].shape
      ((3,), (4, 3), (3,))
      >>> layer.apply(params, state, jnp.ones((2, 5, 4)))[0].shape
      (2, 5, 3)
    """
    if not isinstance(units, int) or units < 1:
        raise ValueError(f"Dense: units must be a positive int, got {units!r}")
    label = name or f"Dense({units})"
    w_init_fn, b_init_fn = inits.get(w_init), inits.get(b_init)

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        shape = check_input_shape(label, input_shape)
        if len(shape) != 1:
            raise ValueError(
                f"{label}: expected a per-example input_shape (in_features,), got {shape}; "
                "put a Flatten() before Dense for images"
            )
        k_w, k_b = jax.random.split(key)
        params = {"w": w_init_fn(k_w, (shape[0], units), dtype)}
        if use_bias:
            params["b"] = b_init_fn(k_b, (units,), dtype)
        return (units,), params, ()

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False) -> tuple[Array, State]:
        del key, train
        w = params["w"]
        check_shape(label, x, (w.shape[0],), min_batch=0, max_batch=None)
        y = jnp.matmul(x, w)
        if use_bias:
            b = params["b"]
            y = y + jnp.reshape(b, (1,) * (y.ndim - 1) + b.shape)  # explicit broadcast
        return y, state

    return Layer(init, apply, label)


def Flatten() -> Layer:
    """Flattens each example: ``(batch, *dims) -> (batch, prod(dims))``."""
    return stateless(
        "Flatten",
        lambda x: jnp.reshape(x, (jnp.shape(x)[0], -1)),
        lambda shape: (math.prod(check_input_shape("Flatten", shape)),),
    )


def Identity() -> Layer:
    """Returns its input unchanged: ``y = x``."""
    return stateless("Identity", lambda x: x)


def Perceptron(units: int = 1, *, threshold: float = 0.0,
               w_init: inits.Initializer | str = "zeros") -> Layer:
    """Rosenblatt's perceptron: ``y = step(x·w + b, θ)``, 1 when ``x·w + b > θ``, else 0.

    A :func:`Dense` layer followed by :func:`Step`. The step has zero gradient, so it is
    trained with the perceptron learning rule (:func:`jaxdl.perceptron_fit`), not backprop.

    Shapes: ``(batch, in_features) -> (batch, units)`` of 0.0/1.0.
    """
    return serial(Dense(units, w_init=w_init, name=f"Dense({units})"), Step(threshold),
                  name=f"Perceptron(threshold={threshold})")
