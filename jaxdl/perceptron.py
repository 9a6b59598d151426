"""Rosenblatt's perceptron learning rule."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxdl.activations import step
from jaxdl.core import Array

__all__ = ["PerceptronFit", "perceptron_fit", "perceptron_predict"]


class PerceptronFit(NamedTuple):
    """The result of :func:`perceptron_fit`.

    Attributes:
      w: weights ``(features,)``.
      b: bias, a scalar.
      errors: misclassified examples in each epoch, ``(epochs,)`` int32.
      converged: True when the last epoch made no error.
    """

    w: Array
    b: Array
    errors: Array
    converged: Array


def perceptron_predict(w: Array, b: Array, x: Array, *, threshold: float = 0.0) -> Array:
    """``step(x·w + b, θ)``: 1.0 when ``x·w + b > θ``, else 0.0. ``x: (n, features) -> (n,)``."""
    return step(jnp.asarray(x) @ w + b, threshold)


def perceptron_fit(
    x: Array,
    y: Array,
    *,
    lr: float = 1.0,
    epochs: int = 10,
    threshold: float = 0.0,
    w0: Array | None = None,
    b0: float = 0.0,
) -> PerceptronFit:
    """Trains a single perceptron with Rosenblatt's rule, one example at a time.

    For each example in order: ``ŷ = step(w·x + b, θ)``, then
    ``w ← w + η (y - ŷ) x`` and ``b ← b + η (y - ŷ)``. The weights change only on a
    mistake. The rule converges when the classes are linearly separable (AND, OR) and
    never when they are not (XOR): check ``converged``.

    Args:
      x: inputs ``(n, features)``.
      y: 0/1 targets ``(n,)``.
      lr: η, the learning rate.
      epochs: passes over the data (run with ``lax.scan``; jittable).
      threshold: θ of the step.
      w0: initial weights ``(features,)`` (default zeros).
      b0: initial bias.

    Returns:
      A :class:`PerceptronFit`.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> x = jnp.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
      >>> fit = jaxdl.perceptron_fit(x, jnp.array([0., 0., 0., 1.]), epochs=10)
      >>> jaxdl.perceptron_predict(fit.w, fit.b, x).tolist(), bool(fit.converged)
      ([0.0, 0.0, 0.0, 1.0], True)
    """
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(
            f"perceptron_fit: expected x (n, features) and y (n,), got x {x.shape} and y {y.shape}"
        )
    w = jnp.zeros(x.shape[1], jnp.float32) if w0 is None else jnp.asarray(w0, jnp.float32)
    if w.shape != (x.shape[1],):
        raise ValueError(f"perceptron_fit: expected w0 of shape ({x.shape[1]},), got {w.shape}")
    b = jnp.asarray(b0, jnp.float32)

    def example(carry: tuple[Array, Array], xy: tuple[Array, Array]
                ) -> tuple[tuple[Array, Array], Array]:
        w, b = carry
        xi, yi = xy
        err = yi - step(xi @ w + b, threshold)
        return (w + lr * err * xi, b + lr * err), jnp.abs(err) > 0

    def epoch(carry: tuple[Array, Array], _: None) -> tuple[tuple[Array, Array], Array]:
        carry, wrong = jax.lax.scan(example, carry, (x, y))
        return carry, jnp.sum(wrong).astype(jnp.int32)

    (w, b), errors = jax.lax.scan(epoch, (w, b), None, length=epochs)
    return PerceptronFit(w, b, errors, errors[-1] == 0)
