"""Fully connected layers: Dense, Flatten, Identity, Perceptron."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl import initializers as inits
from jaxdl._checks import (
    as_key, check_bool, check_dtype, check_float, check_input_shape, check_int, check_shape,
)
from jaxdl.combinators import serial
from jaxdl.core import (
    Array, Layer, Params, State, layer_name, stateless,
)
from jaxdl.layers.activation import Step

__all__ = ["Dense", "Flatten", "Identity", "Perceptron"]


def _check_weight_params(label: str, params: Any, want_w: tuple[int | None, ...],
                         use_bias: bool) -> None:
    """``params`` must be ``{"w": want_w, "b": (features,)}`` (no ``"b"`` without bias),
    ``features = want_w[-1]``; ``None`` in ``want_w`` (``in_features``) matches any size.
    The one params check of Dense, Conv and ConvTranspose."""
    features = want_w[-1]
    shown_w = "(" + ", ".join("in_features" if v is None else str(v) for v in want_w) + ")"
    want = "{'w': %s%s}" % (shown_w, f", 'b': ({features},)" if use_bias else "")
    keys = {"w", "b"} if use_bias else {"w"}
    if not isinstance(params, Mapping) or set(params) != keys:
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"{label}: expected params {want}, got {got}")
    shape = tuple(jnp.shape(params["w"]))
    if len(shape) != len(want_w) or any(a is not None and a != b for a, b in zip(want_w, shape)):
        raise ValueError(f"{label}: expected params['w'] of shape {shown_w}, got {shape}; "
                         f"were these params made for another layer?")
    if use_bias and jnp.shape(params["b"]) != (features,):
        raise ValueError(f"{label}: expected params['b'] of shape ({features},), "
                         f"got {jnp.shape(params['b'])}")


def _compute_dtype(fn: str, value: Any) -> Any:
    """``None`` or a floating dtype, for ``compute_dtype=`` (Dense, Conv, ConvTranspose)."""
    if value is None:
        return None
    try:
        return check_dtype(fn, value)
    except TypeError as e:
        raise TypeError(str(e).replace(": dtype must", ": compute_dtype must", 1)) from None


def Dense(
    units: int,
    *,
    use_bias: bool = True,
    w_init: inits.Initializer | str = "glorot_uniform",
    b_init: inits.Initializer | str = "zeros",
    dtype: Any = jnp.float32,
    compute_dtype: Any = None,
    name: str | None = None,
) -> Layer:
    """Fully connected layer: ``y = x·W + b`` over the last axis.

    Args:
      units: output features.
      use_bias: add the bias ``b``.
      w_init: initialiser of ``W``, ``(in_features, units)`` (default Xavier/Glorot uniform).
      b_init: initialiser of ``b``, ``(units,)`` (default zeros).
      dtype: the parameters' dtype.
      compute_dtype: the dtype the product runs in (e.g. ``jnp.bfloat16`` for mixed
        precision): ``x``, ``W`` and ``b`` are cast to it and the output has it, while the
        parameters and their gradients stay in ``dtype`` (Flax's ``dtype`` and
        ``param_dtype``). ``None`` (default): no cast, the dtypes promote as in
        ``jnp.matmul``.
      name: the snake_case name (default ``"dense"``).

    Shapes:
      ``init`` takes a per-example shape ``(*leading, in_features)`` (``leading`` may hold
      ``None``, e.g. ``(None, 16)`` for sequences of any length) and returns
      ``(*leading, units)``; ``apply`` takes ``x: (*batch, *leading, in_features)`` and
      returns ``(*batch, *leading, units)``. ``params = {"w": (in_features, units),
      "b": (units,)}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> layer = jaxdl.Dense(3)
      >>> out_shape, params, state = layer.init(jax.random.key(0), (4,))
      >>> out_shape, params["w"].shape, params["b"].shape
      ((3,), (4, 3), (3,))
      >>> layer.apply(params, state, jnp.ones((2, 5, 4)))[0].shape
      (2, 5, 3)
    """
    units = check_int("Dense", "units", units, min_value=1)
    use_bias = check_bool("Dense", "use_bias", use_bias)
    key_name = layer_name("Dense", name)
    w_init_fn, b_init_fn = inits.get(w_init), inits.get(b_init)
    dtype = check_dtype("Dense", dtype)
    cdtype = _compute_dtype("Dense", compute_dtype)
    shown = f"{units}" if cdtype is None else f"{units}, compute_dtype={cdtype}"
    label = f"Dense({shown})" if name is None else f"Dense({shown}) {name!r}"

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        shape = check_input_shape(label, input_shape)
        if len(shape) < 1 or shape[-1] is None:
            raise ValueError(f"{label}: expected a per-example input_shape (*leading, "
                             f"in_features) with a known in_features, got {shape}")
        k_w, k_b = jax.random.split(as_key(label, key))
        params = {"w": w_init_fn(k_w, (shape[-1], units), dtype)}
        if use_bias:
            params["b"] = b_init_fn(k_b, (units,), dtype)
        return (*shape[:-1], units), params, {}

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del key, train, lengths
        _check_weight_params(label, params, (None, units), use_bias)
        w = params["w"]
        check_shape(label, x, (w.shape[0],))
        if cdtype is not None:
            x, w = jnp.asarray(x).astype(cdtype), w.astype(cdtype)
        y = jnp.matmul(x, w)
        if use_bias:
            b = params["b"] if cdtype is None else params["b"].astype(cdtype)
            y = y + jnp.reshape(b, (1,) * (y.ndim - 1) + b.shape)  # explicit broadcast
        return y, state

    return Layer(init, apply, key_name, label=label)


def Flatten(ndim: int | None = None, *, name: str | None = None) -> Layer:
    """Flattens the per-example axes: ``(*batch, *dims) -> (*batch, prod(dims))``.

    Args:
      ndim: how many trailing axes form one example. Given, any number of leading batch
        axes works (none included, as under ``jax.vmap`` over single examples), and the
        rank is checked at ``init`` and ``apply``. ``None`` (the default, Keras's
        ``Flatten()``) flattens every axis after the first, so the input must have exactly
        one batch axis: under ``jax.vmap`` over examples give ``ndim``.
      name: the snake_case name (default ``"flatten"``).

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> layer = jaxdl.Flatten(2)
      >>> layer.init(jax.random.key(0), (28, 28))[0]
      (784,)
      >>> layer.apply({}, {}, jnp.ones((5, 28, 28)))[0].shape, layer.apply({}, {}, jnp.ones((28, 28)))[0].shape
      ((5, 784), (784,))
    """
    ndim = check_int("Flatten", "ndim", ndim, min_value=1, allow_none=True)
    label = "Flatten()" if ndim is None else f"Flatten({ndim})"

    def out_shape(shape: Any) -> tuple[int, ...]:
        shape = check_input_shape(label, shape, ndim)
        if None in shape:
            raise ValueError(f"{label}: cannot flatten a per-example shape with an axis of "
                             f"unknown length (None), got {shape}")
        return (math.prod(shape),)

    def fn(x: Array) -> Array:
        if not hasattr(x, "shape"):
            raise TypeError(f"{label}: expected an array input, got {type(x).__name__}")
        if ndim is None:
            if jnp.ndim(x) < 2:
                raise ValueError(f"{label}: expected input of shape (batch, *dims), got "
                                 f"{jnp.shape(x)}; for a single example use Flatten(ndim)")
            return jnp.reshape(x, (jnp.shape(x)[0], -1))
        if jnp.ndim(x) < ndim:
            raise ValueError(f"{label}: expected input of shape (*batch, {ndim} axes), got "
                             f"{jnp.shape(x)}")
        lead = jnp.shape(x)[:jnp.ndim(x) - ndim]
        return jnp.reshape(x, (*lead, -1))

    return stateless(layer_name("Flatten", name), fn, out_shape, label=label)


def Identity(*, name: str | None = None) -> Layer:
    """Returns its input unchanged: ``y = x``."""
    return stateless(layer_name("Identity", name), lambda x: x, label="Identity")


def Perceptron(units: int = 1, *, threshold: float = 0.0,
               w_init: inits.Initializer | str = "zeros", name: str | None = None) -> Layer:
    """Rosenblatt's perceptron: ``y = step(x·w + b, θ)``, 1 when ``x·w + b > θ``, else 0.

    A :func:`Dense` layer followed by :func:`Step`; params ``{"dense": {"w", "b"}}``. The
    step has zero gradient, so it is trained with the perceptron learning rule
    (:func:`jaxdl.perceptron_fit`), not backprop.

    Shapes: ``(*batch, in_features) -> (*batch, units)`` of 0.0/1.0.
    """
    units = check_int("Perceptron", "units", units, min_value=1)
    threshold = check_float("Perceptron", "threshold", threshold)
    return serial(Dense(units, w_init=w_init), Step(threshold),
                  name=layer_name("Perceptron", name),
                  label=f"Perceptron({units}, threshold={threshold:g})")
