"""Loss functions, each ``loss(predictions, targets, *, reduction="mean")``.

Conventions (written once here, true for every loss):

* ``predictions`` first, ``targets`` second (Optax's order); both must have the same
  shape, except the integer-label cross-entropy (``logits (..., classes)``, ``labels (...)``).
  A mismatch raises ``ValueError`` naming the loss and both shapes: no silent broadcast.
* ``reduction="none"`` returns the per-element loss for regression losses (shape of the
  inputs) and the per-example loss for distribution losses (the class axis summed away);
  ``"mean"`` averages those, ``"sum"`` adds them.
* ``e = targets - predictions``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import optax

from jaxdl.core import Array, check_option

__all__ = [
    "mse", "rmse", "mae", "msle", "mean_bias_error", "huber", "half_sum_squared_error",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge",
    "categorical_cross_entropy", "softmax_cross_entropy", "sparse_categorical_cross_entropy",
    "kl_divergence", "get", "REDUCTIONS",
]

REDUCTIONS = ("mean", "sum", "none")
_EPS = 1e-7


def _pair(name: str, predictions: Array, targets: Array) -> tuple[Array, Array]:
    p, t = jnp.asarray(predictions), jnp.asarray(targets)
    if p.shape != t.shape:
        raise ValueError(
            f"{name}: predictions and targets must have the same shape, "
            f"got predictions {p.shape} and targets {t.shape}"
        )
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jnp.float32)
    return p, t.astype(p.dtype)


def _reduce(name: str, values: Array, reduction: str) -> Array:
    check_option(name, "reduction", reduction, REDUCTIONS)
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    return values


def mse(predictions: Array, targets: Array, *, reduction: str = "mean") -> Array:
    """Mean squared error: ``(1/n) Σ (y - ŷ)²``.

    Args:
      predictions: ŷ, any shape.
      targets: y, the same shape.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise ``(y - ŷ)²``).

    Example:
      >>> import jaxdl
      >>> float(jaxdl.losses.mse([1.0, 2.0], [0.0, 4.0]))
      2.5
    """
    p, t = _pair("mse", predictions, targets)
    return _reduce("mse", jnp.square(t - p), reduction)


def _safe_sqrt(x: Array) -> Array:
    # sqrt with a zero (not NaN) gradient at 0, for a perfect fit
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def rmse(predictions: Array, targets: Array, *, reduction: str = "mean") -> Array:
    """Root mean squared error: ``sqrt((1/n) Σ (y - ŷ)²)``.

    ``reduction="sum"`` gives ``sqrt(Σ (y - ŷ)²)`` (the L2 norm of the error) and
    ``"none"`` the elementwise ``|y - ŷ|``. The gradient at a perfect fit is 0, not NaN.
    """
    p, t = _pair("rmse", predictions, targets)
    return _safe_sqrt(_reduce("rmse", jnp.square(t - p), reduction))


def mae(predictions: Array, targets: Array, *, reduction: str = "mean") -> Array:
    """Mean absolute error: ``(1/n) Σ |y - ŷ|``."""
    p, t = _pair("mae", predictions, targets)
    return _reduce("mae", jnp.abs(t - p), reduction)


def msle(predictions: Array, targets: Array, *, reduction: str = "mean") -> Array:
    """Mean squared logarithmic error: ``(1/n) Σ (log(1 + y) - log(1 + ŷ))²`` (natural log).

    Needs ``y, ŷ > -1``; values at or below -1 are clipped to ``-1 + 1e-7``.

    Example (the course's): actual 4, 0, 5, 2 vs predicted 3.5, 1, 5, 3:
      >>> import jaxdl
      >>> round(float(jaxdl.losses.msle([3.5, 1.0, 5.0, 3.0], [4.0, 0.0, 5.0, 2.0])), 4)
      0.1436
    """
    p, t = _pair("msle", predictions, targets)
    lo = -1.0 + _EPS
    err = jnp.log1p(jnp.maximum(t, lo)) - jnp.log1p(jnp.maximum(p, lo))
    return _reduce("msle", jnp.square(err), reduction)


def mean_bias_error(predictions: Array, targets: Array, *, reduction: str = "mean") -> Array:
    """Mean bias error: ``(1/n) Σ (y - ŷ)``: positive when the model under-predicts on
    average. Errors of opposite sign cancel, so it measures bias, not accuracy."""
    p, t = _pair("mean_bias_error", predictions, targets)
    return _reduce("mean_bias_error", t - p, reduction)


def huber(predictions: Array, targets: Array, *, delta: float = 1.0,
          reduction: str = "mean") -> Array:
    """Huber loss: ``½e²`` for ``|e| <= δ``, ``δ(|e| - ½δ)`` beyond (``e = y - ŷ``).

    Quadratic near zero, linear in the tails (robust to outliers). Same as
    ``optax.losses.huber_loss``.
    """
    if delta <= 0:
        raise ValueError(f"huber: delta must be > 0, got {delta}")
    p, t = _pair("huber", predictions, targets)
    return _reduce("huber", optax.losses.huber_loss(p, t, delta=delta), reduction)


def half_sum_squared_error(predictions: Array, targets: Array, *,
                           reduction: str = "sum") -> Array:
    """The course's total error ``E_total = Σ ½(target - out)²`` (reduction ``"sum"`` by default).

    Its derivative with respect to an output is ``out - target``, which is why the ½ is there.
    """
    p, t = _pair("half_sum_squared_error", predictions, targets)
    return _reduce("half_sum_squared_error", 0.5 * jnp.square(t - p), reduction)


def binary_cross_entropy(probabilities: Array, targets: Array, *, eps: float = _EPS,
                         reduction: str = "mean") -> Array:
    """Binary cross-entropy from probabilities: ``-[y log p + (1 - y) log(1 - p)]``.

    ``p`` is clipped to ``[eps, 1 - eps]`` so that a confident wrong answer costs
    ``-log(eps)`` instead of ``inf``. Prefer :func:`binary_cross_entropy_with_logits`
    when the model outputs logits.

    Args:
      probabilities: p in [0, 1], any shape.
      targets: y in {0, 1} (or soft labels in [0, 1]), the same shape.
    """
    p, t = _pair("binary_cross_entropy", probabilities, targets)
    p = jnp.clip(p, eps, 1.0 - eps)
    return _reduce("binary_cross_entropy", -(t * jnp.log(p) + (1 - t) * jnp.log1p(-p)), reduction)


def binary_cross_entropy_with_logits(logits: Array, targets: Array, *,
                                     reduction: str = "mean") -> Array:
    """Binary cross-entropy from logits z, stable for any z:
    ``max(z, 0) - z·y + log(1 + exp(-|z|))`` (``optax.losses.sigmoid_binary_cross_entropy``)."""
    z, t = _pair("binary_cross_entropy_with_logits", logits, targets)
    values = optax.losses.sigmoid_binary_cross_entropy(z, t)
    return _reduce("binary_cross_entropy_with_logits", values, reduction)


def hinge(scores: Array, targets: Array, *, reduction: str = "mean") -> Array:
    """Hinge loss for labels ±1: ``max(0, 1 - y·s)`` (``optax.losses.hinge_loss``).

    Args:
      scores: the raw score s, any shape.
      targets: y in {-1, +1}, the same shape (labels 0/1 must be mapped to -1/+1 first).
    """
    s, t = _pair("hinge", scores, targets)
    return _reduce("hinge", optax.losses.hinge_loss(s, t), reduction)


def categorical_cross_entropy(probabilities: Array, targets: Array, *, eps: float = _EPS,
                              axis: int = -1, reduction: str = "mean") -> Array:
    """Categorical cross-entropy from probabilities: ``-Σ_k y_k log p_k`` over the class axis.

    Args:
      probabilities: ``(..., classes)``, each row summing to 1; clipped to ``[eps, 1]``.
      targets: one-hot (or soft) labels, the same shape.
    """
    p, t = _pair("categorical_cross_entropy", probabilities, targets)
    values = -jnp.sum(t * jnp.log(jnp.clip(p, eps, 1.0)), axis=axis)
    return _reduce("categorical_cross_entropy", values, reduction)


def softmax_cross_entropy(logits: Array, targets: Array, *, axis: int = -1,
                          reduction: str = "mean") -> Array:
    """Categorical cross-entropy from logits: ``-Σ_k y_k log softmax(z)_k``, stable
    (``optax.losses.softmax_cross_entropy``).

    Args:
      logits: ``(..., classes)``.
      targets: one-hot (or soft) labels, the same shape.
    """
    z, t = _pair("softmax_cross_entropy", logits, targets)
    values = optax.losses.softmax_cross_entropy(z, t, axis=axis)
    return _reduce("softmax_cross_entropy", values, reduction)


def sparse_categorical_cross_entropy(logits: Array, labels: Array, *,
                                     reduction: str = "mean") -> Array:
    """Categorical cross-entropy from logits and integer labels: ``-log softmax(z)_label``
    (``optax.losses.softmax_cross_entropy_with_integer_labels``).

    Args:
      logits: ``(..., classes)``.
      labels: integer class indices ``(...)`` in ``[0, classes)``.
    """
    z = jnp.asarray(logits)
    y = jnp.asarray(labels)
    if z.shape[:-1] != y.shape or z.ndim < 1:
        raise ValueError(
            "sparse_categorical_cross_entropy: expected logits (..., classes) and labels (...) "
            f"with the same leading shape, got logits {z.shape} and labels {y.shape}"
        )
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(
            f"sparse_categorical_cross_entropy: labels must be integers, got dtype {y.dtype}"
        )
    values = optax.losses.softmax_cross_entropy_with_integer_labels(z, y)
    return _reduce("sparse_categorical_cross_entropy", values, reduction)


def kl_divergence(predictions: Array, targets: Array, *, eps: float = _EPS, axis: int = -1,
                  reduction: str = "mean") -> Array:
    """Kullback-Leibler divergence ``KL(P || Q) = Σ_k P_k log(P_k / Q_k)``.

    Args:
      predictions: Q, predicted probabilities ``(..., classes)``; clipped to ``[eps, 1]``.
      targets: P, the true distribution, the same shape; terms with ``P_k = 0`` count 0.
    """
    q, p = _pair("kl_divergence", predictions, targets)
    safe_p = jnp.where(p > 0, p, 1.0)
    terms = jnp.where(p > 0, p * (jnp.log(safe_p) - jnp.log(jnp.clip(q, eps, 1.0))), 0.0)
    return _reduce("kl_divergence", jnp.sum(terms, axis=axis), reduction)


_BY_NAME: dict[str, Callable[..., Array]] = {
    f.__name__: f for f in (
        mse, rmse, mae, msle, mean_bias_error, huber, half_sum_squared_error,
        binary_cross_entropy, binary_cross_entropy_with_logits, hinge,
        categorical_cross_entropy, softmax_cross_entropy, sparse_categorical_cross_entropy,
        kl_divergence,
    )
}


def get(loss: str | Callable[..., Array]) -> Callable[..., Array]:
    """A loss from its name, or passed through if callable; unknown names list the known."""
    if callable(loss):
        return loss
    if loss not in _BY_NAME:
        raise ValueError(f"losses.get: unknown loss {loss!r}; allowed: {', '.join(_BY_NAME)}")
    return _BY_NAME[loss]
