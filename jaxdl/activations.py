"""Activation functions, as the course writes them.

Every function is elementwise unless it says otherwise, works on any shape, keeps the
dtype of a floating input, and is stable at ``x = ±1e4`` (finite value and gradient).
The matching layers (``jaxdl.Sigmoid(steepness=2.0)`` ...) are in ``jaxdl.layers``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl.core import Array

__all__ = [
    "step", "linear", "sigmoid", "bipolar_sigmoid", "tanh", "relu", "leaky_relu",
    "randomized_relu", "softmax", "elu", "gelu", "swish",
]


def _float(x: Array) -> Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def step(x: Array, threshold: float = 0.0) -> Array:
    """Binary step with threshold θ: ``f(x) = 1 if x > θ else 0`` (the course's strict ``>``).

    The derivative is 0 everywhere except at ``x = θ``, where it is undefined; JAX
    returns a gradient of exactly 0, so nothing upstream of a step learns by
    backpropagation (use :func:`jaxdl.perceptron_fit`'s Rosenblatt rule instead).

    Args:
      x: any shape.
      threshold: θ; the unit fires when ``x > θ`` (``x = θ`` gives 0).

    Returns:
      0.0/1.0 of ``x``'s shape and (floating) dtype.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> jaxdl.activations.step(jnp.array([0.5, 1.5, 2.0]), threshold=1.5)
      Array([0., 0., 1.], dtype=float32)
    """
    x = _float(x)
    return jnp.where(x > threshold, jnp.ones_like(x), jnp.zeros_like(x))


def linear(x: Array, slope: float = 1.0) -> Array:
    """Linear (identity) activation with slope c: ``f(x) = c·x``; ``f'(x) = c``."""
    return slope * _float(x)


def sigmoid(x: Array, steepness: float = 1.0) -> Array:
    """Logistic sigmoid with steepness λ: ``f(x) = 1 / (1 + exp(-λx))``, in (0, 1).

    ``f'(x) = λ f(x) (1 - f(x))``. Computed as ``jax.nn.sigmoid(λx)``, stable for any x.

    Example:
      >>> import jaxdl
      >>> round(float(jaxdl.activations.sigmoid(0.53)), 4)
      0.6295
    """
    return jax.nn.sigmoid(steepness * _float(x))


def bipolar_sigmoid(x: Array, steepness: float = 1.0) -> Array:
    """Bipolar sigmoid with steepness λ: ``f(x) = (1 - exp(-λx)) / (1 + exp(-λx))``, in (-1, 1).

    Equal to ``tanh(λx/2)``, which is how it is computed (stable for any x);
    ``f'(x) = (λ/2)(1 + f(x))(1 - f(x))``.

    Example:
      >>> import jaxdl
      >>> round(float(jaxdl.activations.bipolar_sigmoid(0.53)), 3)
      0.259
    """
    return jnp.tanh(0.5 * steepness * _float(x))


def tanh(x: Array) -> Array:
    """Hyperbolic tangent: ``f(x) = (e^x - e^-x) / (e^x + e^-x)``; ``f'(x) = 1 - f(x)²``."""
    return jnp.tanh(_float(x))


def relu(x: Array) -> Array:
    """Rectified linear unit: ``f(x) = max(0, x)``; gradient 1 for x > 0, else 0."""
    return jax.nn.relu(_float(x))


def leaky_relu(x: Array, negative_slope: float = 0.01) -> Array:
    """Leaky ReLU with slope a: ``f(x) = x if x >= 0 else a·x``."""
    x = _float(x)
    return jnp.where(x >= 0, x, negative_slope * x)


def randomized_relu(
    x: Array,
    *,
    key: Array | None = None,
    lower: float = 1.0 / 8.0,
    upper: float = 1.0 / 3.0,
    train: bool = False,
) -> Array:
    """Randomized leaky ReLU (RReLU): ``f(x) = x if x >= 0 else a·x``.

    In training ``a ~ U(lower, upper)`` is drawn per element from ``key``; at evaluation
    ``a`` is the mean slope ``(lower + upper) / 2`` (Xu et al., 2015).

    Args:
      x: any shape.
      key: a PRNG key; required when ``train=True``.
      lower: the smallest slope.
      upper: the largest slope.
      train: draw random slopes (True) or use the mean slope (False).

    Raises:
      ValueError: ``train=True`` without a key, or ``lower > upper``.
    """
    if lower > upper:
        raise ValueError(f"randomized_relu: lower (={lower}) must be <= upper (={upper})")
    x = _float(x)
    if train:
        if key is None:
            raise ValueError("randomized_relu: train=True needs a PRNG key (key=...)")
        a = jax.random.uniform(key, x.shape, x.dtype, lower, upper)
    else:
        a = jnp.asarray(0.5 * (lower + upper), x.dtype)
    return jnp.where(x >= 0, x, a * x)


def softmax(x: Array, axis: int = -1) -> Array:
    """Softmax over ``axis``: ``f(x)_i = exp(x_i) / Σ_j exp(x_j)``; sums to 1 along ``axis``.

    Computed with the maximum subtracted first, so large inputs do not overflow.
    """
    return jax.nn.softmax(_float(x), axis=axis)


def elu(x: Array, alpha: float = 1.0) -> Array:
    """Exponential linear unit: ``f(x) = x if x > 0 else α(exp(x) - 1)``."""
    return jax.nn.elu(_float(x), alpha)


def gelu(x: Array, approximate: bool = False) -> Array:
    """Gaussian error linear unit: ``f(x) = x·Φ(x)`` (Φ the standard normal CDF).

    ``approximate=True`` uses the tanh approximation
    ``0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))``.
    """
    return jax.nn.gelu(_float(x), approximate=approximate)


def swish(x: Array, beta: float = 1.0) -> Array:
    """Swish / SiLU: ``f(x) = x·sigmoid(βx)``."""
    x = _float(x)
    return x * jax.nn.sigmoid(beta * x)
