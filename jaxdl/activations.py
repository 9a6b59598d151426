"""Activation functions, as the course writes them.

Every function is elementwise unless it says otherwise, works on any shape ``(...)``
and returns that shape, keeps the dtype of a floating input (integers and booleans become
float32), and is stable at ``x = ±1e30`` (finite value and gradient). Strings, ``None``
and complex inputs raise ``TypeError`` naming the function.

Hyperparameters that do not change shapes (steepness λ, slopes, the RReLU bounds, α, β,
the step threshold) may be traced scalars, so ``jax.vmap`` can run several values in one
program: ``jax.vmap(lambda s: sigmoid(x, steepness=s))(jnp.array([0.5, 1.0, 2.0]))``.
Concrete Python/NumPy numbers are checked (type, finiteness, range) when called.
The matching layers (``jaxdl.Sigmoid(steepness=2.0)`` ...) are in ``jaxdl.layers``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxdl._checks import (
    as_key, as_real_array, check_bool, check_float, check_int, is_concrete,
)
from jaxdl.core import Array

__all__ = [
    "step", "linear", "sigmoid", "bipolar_sigmoid", "tanh", "relu", "leaky_relu",
    "randomized_relu", "softmax", "elu", "gelu", "swish",
]


def _float(name: str, x: Any) -> Array:
    """``x`` as a floating array (integers and booleans become float32)."""
    x = as_real_array(name, "x", x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def _param(name: str, arg: str, value: Any, dtype: Any, **limits: Any) -> Array:
    """A scalar hyperparameter (checked when concrete) as an array of ``x``'s dtype, so a
    traced float32 value does not promote a bfloat16 input."""
    return jnp.asarray(check_float(name, arg, value, **limits), dtype)


def step(x: Array, threshold: float | Array = 0.0) -> Array:
    """Binary step with threshold θ: ``f(x) = 1 if x > θ else 0`` (the course's strict ``>``).

    The derivative is 0 everywhere except at ``x = θ``, where it is undefined; JAX
    returns a gradient of exactly 0, so nothing upstream of a step learns by
    backpropagation (use :func:`jaxdl.perceptron_fit`'s Rosenblatt rule instead).
    ``step(NaN) = 0`` (NaN is not ``> θ``), the same with and without ``jax.jit``.

    Args:
      x: any shape ``(...)``.
      threshold: θ, a finite real (may be traced); the unit fires when ``x > θ``
        (``x = θ`` gives 0).

    Returns:
      0.0/1.0 of ``x``'s shape and (floating) dtype.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> jaxdl.activations.step(jnp.array([0.5, 1.5, 2.0]), threshold=1.5)
      Array([0., 0., 1.], dtype=float32)
    """
    x = _float("step", x)
    threshold = _param("step", "threshold", threshold, x.dtype)
    return jnp.where(x > threshold, jnp.ones_like(x), jnp.zeros_like(x))


def linear(x: Array, slope: float | Array = 1.0) -> Array:
    """Linear (identity) activation with slope c: ``f(x) = c·x``; ``f'(x) = c``.

    Args:
      x: any shape ``(...)``.
      slope: c, a finite real (may be traced).

    Returns:
      ``c·x``, of ``x``'s shape.
    """
    x = _float("linear", x)
    return _param("linear", "slope", slope, x.dtype) * x


def sigmoid(x: Array, steepness: float | Array = 1.0) -> Array:
    """Logistic sigmoid with steepness λ: ``f(x) = 1 / (1 + exp(-λx))``, in (0, 1).

    ``f'(x) = λ f(x) (1 - f(x))``. Computed as ``jax.nn.sigmoid(λx)``, stable for any x
    (``±1e30`` included).

    Args:
      x: any shape ``(...)``.
      steepness: λ > 0 (may be traced: ``jax.vmap`` over several λ works).

    Returns:
      ``f(x)``, of ``x``'s shape.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> round(float(jaxdl.activations.sigmoid(0.53)), 4)
      0.6295
      >>> steepness = jnp.array([0.5, 1.0, 2.0])
      >>> y = jax.vmap(lambda s: jaxdl.activations.sigmoid(1.0, steepness=s))(steepness)
      >>> [round(float(v), 4) for v in y]
      [0.6225, 0.7311, 0.8808]
    """
    x = _float("sigmoid", x)
    return jax.nn.sigmoid(_param("sigmoid", "steepness", steepness, x.dtype, min_value=0.0,
                                 min_open=True) * x)


def bipolar_sigmoid(x: Array, steepness: float | Array = 1.0) -> Array:
    """Bipolar sigmoid with steepness λ: ``f(x) = (1 - exp(-λx)) / (1 + exp(-λx))``, in (-1, 1).

    Equal to ``tanh(λx/2)``, which is how it is computed (stable for any x, ``±1e30``
    included); ``f'(x) = (λ/2)(1 + f(x))(1 - f(x))``.

    Args:
      x: any shape ``(...)``.
      steepness: λ > 0 (may be traced).

    Returns:
      ``f(x)``, of ``x``'s shape.

    Example:
      >>> import jaxdl
      >>> round(float(jaxdl.activations.bipolar_sigmoid(0.53)), 3)
      0.259
    """
    x = _float("bipolar_sigmoid", x)
    steepness = _param("bipolar_sigmoid", "steepness", steepness, x.dtype, min_value=0.0,
                       min_open=True)
    return jnp.tanh(0.5 * steepness * x)


def tanh(x: Array) -> Array:
    """Hyperbolic tangent: ``f(x) = (e^x - e^-x) / (e^x + e^-x)``; ``f'(x) = 1 - f(x)²``.

    Args:
      x: any shape ``(...)``.

    Returns:
      ``f(x)`` in (-1, 1), of ``x``'s shape.
    """
    return jnp.tanh(_float("tanh", x))


def relu(x: Array) -> Array:
    """Rectified linear unit: ``f(x) = max(0, x)``; gradient 1 for x > 0, else 0.

    Args:
      x: any shape ``(...)``.

    Returns:
      ``f(x)``, of ``x``'s shape.
    """
    return jax.nn.relu(_float("relu", x))


def leaky_relu(x: Array, negative_slope: float | Array = 0.01) -> Array:
    """Leaky ReLU with slope a: ``f(x) = x if x >= 0 else a·x``.

    Args:
      x: any shape ``(...)``.
      negative_slope: a, a finite real (may be traced).

    Returns:
      ``f(x)``, of ``x``'s shape.
    """
    x = _float("leaky_relu", x)
    a = _param("leaky_relu", "negative_slope", negative_slope, x.dtype)
    return jnp.where(x >= 0, x, a * x)


def randomized_relu(
    x: Array,
    *,
    key: Array | None = None,
    lower: float | Array = 1.0 / 8.0,
    upper: float | Array = 1.0 / 3.0,
    train: bool = False,
) -> Array:
    """Randomized leaky ReLU (RReLU): ``f(x) = x if x >= 0 else a·x``.

    In training ``a ~ U(lower, upper)`` is drawn per element from ``key``; at evaluation
    ``a`` is the mean slope ``(lower + upper) / 2`` (Xu et al., 2015).

    Args:
      x: any shape ``(...)``.
      key: a PRNG key (or an int seed); required when ``train=True``.
      lower: the smallest slope, >= 0 (may be traced).
      upper: the largest slope, >= ``lower`` (may be traced; the order is checked when
        both are concrete).
      train: draw random slopes (True) or use the mean slope (False).

    Returns:
      ``f(x)``, of ``x``'s shape.

    Raises:
      ValueError: ``train=True`` without a key, a negative ``lower``, or ``lower > upper``.
    """
    name = "randomized_relu"
    train = check_bool(name, "train", train)
    x = _float(name, x)
    lower = check_float(name, "lower", lower, min_value=0.0)
    upper = check_float(name, "upper", upper, min_value=0.0)
    if is_concrete(lower) and is_concrete(upper) and float(lower) > float(upper):
        raise ValueError(f"{name}: lower (={float(lower)}) must be <= upper (={float(upper)})")
    lower, upper = jnp.asarray(lower, x.dtype), jnp.asarray(upper, x.dtype)
    if train:
        if key is None:
            raise ValueError(f"{name}: train=True needs a PRNG key (key=...), got key=None")
        key = as_key(name, key)
        a = jax.random.uniform(key, x.shape, x.dtype, lower, upper)
    else:
        a = 0.5 * (lower + upper)
    return jnp.where(x >= 0, x, a * x)


def softmax(x: Array, axis: int = -1) -> Array:
    """Softmax over ``axis``: ``f(x)_i = exp(x_i) / Σ_j exp(x_j)``; sums to 1 along ``axis``.

    Computed with the maximum subtracted first, so large inputs do not overflow. Infinite
    entries have their limits, never NaN: a row with one ``+inf`` gives a one-hot, a row
    with several shares 1 among them equally; ``-inf`` entries get 0, and a row of only
    ``-inf`` is uniform. (NaN entries still give NaN.)

    Args:
      x: any shape ``(..., n, ...)``.
      axis: the axis to normalise over, in ``[-x.ndim, x.ndim)``.

    Returns:
      Probabilities of ``x``'s shape.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> jaxdl.activations.softmax(jnp.array([[1.0, jnp.inf, 0.0], [jnp.inf, 2.0, jnp.inf]]))
      Array([[0. , 1. , 0. ],
             [0.5, 0. , 0.5]], dtype=float32)
    """
    x = _float("softmax", x)
    axis = check_int("softmax", "axis", axis)
    if not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
        raise ValueError(f"softmax: axis={axis} is out of range for x of shape {x.shape}")
    if x.ndim == 0:
        return jnp.ones_like(x)
    pos = jnp.isposinf(x)
    # +inf: the limit shares 1 among the +inf entries; all -inf: all equal, so uniform
    x = jnp.where(jnp.any(pos, axis=axis, keepdims=True),
                  jnp.where(pos, jnp.zeros((), x.dtype), jnp.full((), -jnp.inf, x.dtype)), x)
    x = jnp.where(jnp.all(jnp.isneginf(x), axis=axis, keepdims=True),
                  jnp.zeros((), x.dtype), x)
    return jax.nn.softmax(x, axis=axis)


def elu(x: Array, alpha: float | Array = 1.0) -> Array:
    """Exponential linear unit: ``f(x) = x if x > 0 else α(exp(x) - 1)``.

    Args:
      x: any shape ``(...)``.
      alpha: α >= 0 (may be traced).

    Returns:
      ``f(x)``, of ``x``'s shape.
    """
    x = _float("elu", x)
    return jax.nn.elu(x, _param("elu", "alpha", alpha, x.dtype, min_value=0.0))


_GELU_CLIP = 20.0  # beyond it the tanh is ±1 in every float type (and 20³ fits float16)


def gelu(x: Array, approximate: bool = False) -> Array:
    """Gaussian error linear unit: ``f(x) = x·Φ(x)`` (Φ the standard normal CDF).

    ``approximate=True`` uses the tanh approximation
    ``0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))``, evaluated with ``x`` clipped to
    ``[-20, 20]`` inside the tanh (where it is already ±1), so that ``x³`` cannot overflow
    and the gradient at ``x = 1e30`` is 1, not NaN.

    Args:
      x: any shape ``(...)``.
      approximate: the tanh form (True) or the exact ``erf`` form (False, the default).

    Returns:
      ``f(x)``, of ``x``'s shape.
    """
    approximate = check_bool("gelu", "approximate", approximate)
    x = _float("gelu", x)
    if not approximate:
        return jax.nn.gelu(x, approximate=False)
    inner = jnp.clip(x, -_GELU_CLIP, _GELU_CLIP)
    c = jnp.asarray((2.0 / jnp.pi) ** 0.5, x.dtype)
    return x * (0.5 * (1.0 + jnp.tanh(c * (inner + 0.044715 * inner ** 3))))


def swish(x: Array, beta: float | Array = 1.0) -> Array:
    """Swish / SiLU: ``f(x) = x·sigmoid(βx)``.

    Args:
      x: any shape ``(...)``.
      beta: β, a finite real (may be traced); β = 1 is SiLU.

    Returns:
      ``f(x)``, of ``x``'s shape.
    """
    x = _float("swish", x)
    return x * jax.nn.sigmoid(_param("swish", "beta", beta, x.dtype) * x)
