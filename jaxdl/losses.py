"""Loss functions, each ``loss(predictions, targets, *, reduction="mean", where=None)``.

Conventions (written once here, true for every loss):

* ``predictions`` first, ``targets`` second (Optax's order); both must have the same
  shape, except the integer-label cross-entropy (``logits (..., classes)``, ``labels (...)``).
  A mismatch raises ``ValueError`` naming the loss and both shapes: no silent broadcast.
* ``reduction="none"`` returns the per-element loss for regression losses (shape of the
  inputs) and the per-example loss for distribution losses (the class axis summed away);
  ``"mean"`` averages those, ``"sum"`` adds them.
* ``where`` (optional) is a boolean (or 0/1) mask of the per-element loss shape, or of a
  leading part of it: for variable-length sequences, predictions ``(batch, time,
  features)`` and the mask ``jnp.arange(time)[None, :] < lengths[:, None]`` of shape
  ``(batch, time)``. ``"mean"`` averages the selected elements only (all-False gives 0, not NaN),
  ``"sum"`` adds them, ``"none"`` sets the others to 0; padded positions may hold any
  finite values (integer labels there may even be out of range, e.g. -1).
* Hyperparameters that do not change shapes (``delta``, ``eps``) may be traced arrays
  (``jax.vmap`` over them works); concrete numbers are range-checked at call time.
* Nonsense that the loss can see is refused with ``ValueError`` naming the loss, the first
  bad value and its index: probabilities outside ``[0, 1]``, binary targets outside
  ``[0, 1]``, hinge targets other than ±1, integer labels outside ``[0, classes)``. These
  value checks need concrete inputs and are skipped under ``jax.jit`` (the training loop
  checks its targets once, on the host). Strings, ``None`` and complex numbers raise
  ``TypeError``.
* Losses are computed, and returned, in at least float32: half-precision predictions
  (bfloat16/float16 logits of a mixed-precision model, ``compute_dtype=jnp.bfloat16``) are
  widened to float32 first and the targets follow; float64 stays float64.
* ``e = targets - predictions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

from jaxdl._checks import (
    as_real_array, check_float, check_int, check_option, check_values, lookup,
)
from jaxdl.core import Array

__all__ = [
    "mse", "rmse", "mae", "msle", "mean_bias_error", "huber", "half_sum_squared_error",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge",
    "categorical_cross_entropy", "softmax_cross_entropy", "sparse_categorical_cross_entropy",
    "kl_divergence", "gaussian_kl_divergence", "get", "REDUCTIONS", "NAMED", "ALIASES",
]

REDUCTIONS = ("mean", "sum", "none")
_EPS = 1e-7


# ------------------------------------------------------- masks and reductions
# (also used by jaxdl.metrics)


def _in_unit_interval(v: np.ndarray) -> np.ndarray:
    return (v >= 0) & (v <= 1)


def _mask(name: str, where: Any, values_shape: tuple[int, ...], received: str, *,
          what: str = "per-element loss shape") -> Array | None:
    """The ``where`` mask as a boolean array broadcast (explicitly) to ``values_shape``;
    None when ``where`` is None."""
    if where is None:
        return None
    w = as_real_array(name, "where", where)
    shape = tuple(w.shape)
    if len(shape) > len(values_shape) or shape != tuple(values_shape[:len(shape)]):
        raise ValueError(
            f"{name}: where must have the {what} {tuple(values_shape)} or a leading part of "
            f"it (e.g. (batch, time) for a sequence mask), got where of shape {shape} for "
            f"{received}"
        )
    if w.dtype != jnp.bool_:
        check_values(name, "where", w, lambda v: (v == 0) | (v == 1),
                      "a boolean mask (True/False or 0/1)")
        w = w != 0
    w = jnp.reshape(w, shape + (1,) * (len(values_shape) - len(shape)))
    return jnp.broadcast_to(w, tuple(values_shape))


def _reduce(values: Array, reduction: str, mask: Array | None) -> Array:
    """Applies ``reduction`` (already checked) to ``values``, counting only ``mask``."""
    if mask is None:
        if reduction == "mean":
            return jnp.mean(values)
        if reduction == "sum":
            return jnp.sum(values)
        return values
    masked = jnp.where(mask, values, jnp.zeros((), values.dtype))
    if reduction == "none":
        return masked
    acc = jnp.promote_types(values.dtype, jnp.float32)
    total = jnp.sum(masked, dtype=acc)
    if reduction == "sum":
        return total.astype(values.dtype)
    count = jnp.sum(mask, dtype=acc)
    return (total / jnp.maximum(count, 1)).astype(values.dtype)  # all-False: 0 / 1 = 0


def _reduction(name: str, reduction: Any) -> str:
    return check_option(name, "reduction", reduction, REDUCTIONS)


def _pair(name: str, predictions: Any, targets: Any, *, arg: str = "predictions"
          ) -> tuple[Array, Array]:
    p, t = as_real_array(name, arg, predictions), as_real_array(name, "targets", targets)
    if p.shape != t.shape:
        raise ValueError(
            f"{name}: {arg} and targets must have the same shape, "
            f"got {arg} {p.shape} and targets {t.shape}"
        )
    p = _wide(p)
    return p, t.astype(p.dtype)


def _regression(name: str, predictions: Any, targets: Any, reduction: Any, where: Any,
                loss: Callable[[Array, Array], Array]) -> Array:
    """The body of every regression loss: checks ``reduction``, converts the pair (same
    shape, at least float32), then masks and reduces the per-element ``loss(p, t)``."""
    reduction = _reduction(name, reduction)
    p, t = _pair(name, predictions, targets)
    mask = _mask(name, where, p.shape, f"predictions {p.shape}")
    return _reduce(loss(p, t), reduction, mask)


def _axis(name: str, axis: Any, ndim: int) -> int:
    """An axis of an array of rank ``ndim``, returned non-negative."""
    axis = check_int(name, "axis", axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis={axis} is out of range for inputs of rank {ndim} "
                         f"(allowed: {-ndim} .. {ndim - 1})")
    return axis % ndim


def _eps(name: str, eps: Any) -> Any:
    return check_float(name, "eps", eps, min_value=0.0, max_value=0.5, min_open=True,
                       max_open=True)


def _class_mask(name: str, where: Any, shape: tuple[int, ...], axis: int, received: str
                ) -> tuple[Array | None, Array | None]:
    """``where`` for a distribution loss: ``(full, per_example)``, the mask broadcast over
    the class axis too (for the value checks) and the per-example one (for the reduction);
    ``(None, None)`` when ``where`` is None."""
    mask = _mask(name, where, shape[:axis] + shape[axis + 1:], received)
    if mask is None:
        return None, None
    return jnp.broadcast_to(jnp.expand_dims(mask, axis), shape), mask


def _wide(p: Array) -> Array:
    """At least float32 (non-floating inputs become float32): ``1 - 1e-7`` rounds to 1 in
    (b)float16 (log(0) there), and a bfloat16 mean keeps only about 3 significant digits."""
    if not jnp.issubdtype(p.dtype, jnp.floating):
        return p.astype(jnp.float32)
    return p.astype(jnp.promote_types(p.dtype, jnp.float32))


# ------------------------------------------------------------------------ regression

def mse(predictions: Array, targets: Array, *, reduction: str = "mean",
        where: Array | None = None) -> Array:
    """Mean squared error: ``(1/n) Σ (y - ŷ)²``.

    Args:
      predictions: ŷ, any shape, e.g. ``(batch, time, features)``.
      targets: y, the same shape.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise ``(y - ŷ)²``).
      where: optional boolean mask of the inputs' shape or a leading part of it, e.g.
        ``(batch, time)`` for padded sequences; ``"mean"`` then averages the selected
        elements only.

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> float(jaxdl.losses.mse([1.0, 2.0], [0.0, 4.0]))
      2.5

      Two sequences of lengths 2 and 1, padded to 3 steps: only the real steps count.

      >>> pred = jnp.array([[1.0, 2.0, 9.0], [3.0, 9.0, 9.0]])   # (batch, time)
      >>> true = jnp.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
      >>> mask = jnp.arange(3)[None, :] < jnp.array([2, 1])[:, None]   # (batch, time)
      >>> float(jaxdl.losses.mse(pred, true, where=mask))   # (1 + 0 + 4) / 3
      1.6666666269302368
    """
    return _regression("mse", predictions, targets, reduction, where,
                       lambda p, t: jnp.square(t - p))


def _safe_sqrt(x: Array) -> Array:
    # sqrt with a zero (not NaN) gradient at 0, for a perfect fit
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def rmse(predictions: Array, targets: Array, *, reduction: str = "mean",
         where: Array | None = None) -> Array:
    """Root mean squared error: ``sqrt((1/n) Σ (y - ŷ)²)``.

    ``reduction="sum"`` gives ``sqrt(Σ (y - ŷ)²)`` (the L2 norm of the error) and
    ``"none"`` the elementwise ``|y - ŷ|``. The gradient at a perfect fit is 0, not NaN.

    Args:
      predictions: ŷ, any shape.
      targets: y, the same shape.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"``; the square root is taken after it.
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences): the mean runs over the selected elements.

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.
    """
    return _safe_sqrt(_regression("rmse", predictions, targets, reduction, where,
                                  lambda p, t: jnp.square(t - p)))


def mae(predictions: Array, targets: Array, *, reduction: str = "mean",
        where: Array | None = None) -> Array:
    """Mean absolute error: ``(1/n) Σ |y - ŷ|``.

    Args:
      predictions: ŷ, any shape.
      targets: y, the same shape.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise ``|y - ŷ|``).
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.
    """
    return _regression("mae", predictions, targets, reduction, where,
                       lambda p, t: jnp.abs(t - p))


def msle(predictions: Array, targets: Array, *, reduction: str = "mean",
         where: Array | None = None) -> Array:
    """Mean squared logarithmic error: ``(1/n) Σ (log(1 + y) - log(1 + ŷ))²`` (natural log).

    Needs ``y, ŷ > -1``; values at or below -1 are clipped to ``-1 + 1e-7``.

    Args:
      predictions: ŷ, any shape.
      targets: y, the same shape.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise).
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.

    Example (the course's): actual 4, 0, 5, 2 vs predicted 3.5, 1, 5, 3:
      >>> import jaxdl
      >>> round(float(jaxdl.losses.msle([3.5, 1.0, 5.0, 3.0], [4.0, 0.0, 5.0, 2.0])), 4)
      0.1436
    """
    lo = -1.0 + _EPS
    return _regression("msle", predictions, targets, reduction, where, lambda p, t: jnp.square(
        jnp.log1p(jnp.maximum(t, lo)) - jnp.log1p(jnp.maximum(p, lo))))


def mean_bias_error(predictions: Array, targets: Array, *, reduction: str = "mean",
                    where: Array | None = None) -> Array:
    """Mean bias error: ``(1/n) Σ (y - ŷ)``: positive when the model under-predicts on
    average. Errors of opposite sign cancel, so it measures bias, not accuracy.

    Args:
      predictions: ŷ, any shape.
      targets: y, the same shape.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise ``y - ŷ``).
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.
    """
    return _regression("mean_bias_error", predictions, targets, reduction, where,
                       lambda p, t: t - p)


def huber(predictions: Array, targets: Array, *, delta: float | Array = 1.0,
          reduction: str = "mean", where: Array | None = None) -> Array:
    """Huber loss: ``½e²`` for ``|e| <= δ``, ``δ(|e| - ½δ)`` beyond (``e = y - ŷ``).

    Quadratic near zero, linear in the tails (robust to outliers). Same as
    ``optax.losses.huber_loss``.

    Args:
      predictions: ŷ, any shape.
      targets: y, the same shape.
      delta: δ > 0, where the quadratic part ends; may be a traced scalar
        (``jax.vmap`` over several δ), checked when concrete.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise).
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> e = jnp.array([0.5, 3.0])
      >>> jax.vmap(lambda d: jaxdl.losses.huber(e, jnp.zeros(2), delta=d, reduction="sum"))(
      ...     jnp.array([1.0, 2.0]))   # 0.125 + 2.5, 0.125 + 4.0
      Array([2.625, 4.125], dtype=float32)
    """
    name = "huber"
    reduction = _reduction(name, reduction)  # checked before delta, as always
    delta = check_float(name, "delta", delta, min_value=0.0, min_open=True)
    return _regression(name, predictions, targets, reduction, where, lambda p, t:
                       optax.losses.huber_loss(p, t, delta=jnp.asarray(delta, p.dtype)))


def half_sum_squared_error(predictions: Array, targets: Array, *, reduction: str = "sum",
                           where: Array | None = None) -> Array:
    """The course's total error ``E_total = Σ ½(target - out)²`` (reduction ``"sum"`` by default).

    Its derivative with respect to an output is ``out - target``, which is why the ½ is there.

    Args:
      predictions: out, any shape.
      targets: target, the same shape.
      reduction: ``"sum"`` (default) | ``"mean"`` | ``"none"`` (elementwise).
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.
    """
    return _regression("half_sum_squared_error", predictions, targets, reduction, where,
                       lambda p, t: 0.5 * jnp.square(t - p))


# -------------------------------------------------------------------- classification


def binary_cross_entropy(probabilities: Array, targets: Array, *, eps: float | Array = _EPS,
                         reduction: str = "mean", where: Array | None = None) -> Array:
    """Binary cross-entropy from probabilities: ``-[y log p + (1 - y) log(1 - p)]``.

    ``p`` is clipped to ``[eps, 1 - eps]`` (the course's formula), so a confident wrong
    answer costs ``-log(eps)`` (16.1) instead of ``inf``, but its gradient is **zero**: a
    prediction stuck beyond the clip never learns. Prefer
    :func:`binary_cross_entropy_with_logits` on the model's logits (no clip, exact
    gradient). Computed in at least float32 (``1 - 1e-7`` is 1 in half precision).

    Args:
      probabilities: p in ``[0, 1]``, any shape, e.g. ``(batch,)`` or ``(batch, time)``.
      targets: y in ``[0, 1]`` (0/1 labels or soft labels), the same shape.
      eps: the clip, in ``(0, 0.5)``; may be traced.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise).
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.

    Raises:
      ValueError: (concrete inputs only; skipped under ``jax.jit``) a probability or a
        target outside ``[0, 1]``, naming the first one and its index.

    Example:
      >>> import jaxdl
      >>> round(float(jaxdl.losses.binary_cross_entropy([0.9, 0.2], [1.0, 0.0])), 4)
      0.1643
    """
    name = "binary_cross_entropy"
    reduction = _reduction(name, reduction)
    eps = _eps(name, eps)
    p, t = _pair(name, probabilities, targets, arg="probabilities")
    mask = _mask(name, where, p.shape, f"probabilities {p.shape}")
    check_values(name, "probabilities", p, _in_unit_interval, "in [0, 1]", where=mask,
                  hint="; for logits use binary_cross_entropy_with_logits")
    check_values(name, "targets", t, _in_unit_interval, "in [0, 1] (0/1 or soft labels)",
                  where=mask)
    eps = jnp.asarray(eps, p.dtype)
    p = jnp.clip(p, eps, 1.0 - eps)
    values = -(t * jnp.log(p) + (1 - t) * jnp.log1p(-p))
    return _reduce(values, reduction, mask)


def binary_cross_entropy_with_logits(logits: Array, targets: Array, *,
                                     reduction: str = "mean",
                                     where: Array | None = None) -> Array:
    """Binary cross-entropy from logits z, stable for any z:
    ``max(z, 0) - z·y + log(1 + exp(-|z|))`` (``optax.losses.sigmoid_binary_cross_entropy``).

    The recommended binary loss: no clipping, so a confident wrong logit still gets a
    gradient (``sigmoid(z) - y``).

    Args:
      logits: z, any shape, e.g. ``(batch,)`` or ``(batch, time)``.
      targets: y in ``[0, 1]`` (0/1 or soft labels), the same shape.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise).
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.

    Raises:
      ValueError: (concrete inputs only; skipped under ``jax.jit``) a target outside
        ``[0, 1]``.
    """
    name = "binary_cross_entropy_with_logits"
    reduction = _reduction(name, reduction)
    z, t = _pair(name, logits, targets, arg="logits")
    mask = _mask(name, where, z.shape, f"logits {z.shape}")
    check_values(name, "targets", t, _in_unit_interval, "in [0, 1] (0/1 or soft labels)",
                  where=mask)
    values = optax.losses.sigmoid_binary_cross_entropy(z, t)
    return _reduce(values, reduction, mask)


def hinge(scores: Array, targets: Array, *, reduction: str = "mean",
          where: Array | None = None) -> Array:
    """Hinge loss for labels ±1: ``max(0, 1 - y·s)`` (``optax.losses.hinge_loss``).

    Args:
      scores: the raw score s, any shape.
      targets: y in {-1, +1}, the same shape (labels 0/1 must be mapped to -1/+1 first:
        ``2 * y - 1``).
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (elementwise).
      where: optional boolean mask of the inputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the inputs' shape for ``reduction="none"``.

    Raises:
      ValueError: (concrete inputs only; skipped under ``jax.jit``) a target other than ±1.
    """
    name = "hinge"
    reduction = _reduction(name, reduction)
    s, t = _pair(name, scores, targets, arg="scores")
    mask = _mask(name, where, s.shape, f"scores {s.shape}")
    check_values(name, "targets", t, lambda v: (v == 1) | (v == -1), "-1 or +1", where=mask,
                  hint="; map 0/1 labels with 2 * y - 1")
    return _reduce(optax.losses.hinge_loss(s, t), reduction, mask)


def categorical_cross_entropy(probabilities: Array, targets: Array, *,
                              eps: float | Array = _EPS, axis: int = -1,
                              reduction: str = "mean", where: Array | None = None) -> Array:
    """Categorical cross-entropy from probabilities: ``-Σ_k y_k log p_k`` over the class axis.

    ``p`` is clipped to ``[eps, 1]`` (the course's formula): a probability below ``eps``
    costs ``-log(eps)`` instead of ``inf``, but gets a **zero** gradient, so a confidently
    wrong prediction stops learning. Prefer :func:`softmax_cross_entropy` (one-hot
    targets) or :func:`sparse_categorical_cross_entropy` (integer labels) on the logits.

    Args:
      probabilities: ``(..., classes)``, each row summing to 1, entries in ``[0, 1]``.
      targets: one-hot (or soft) labels in ``[0, 1]``, the same shape.
      eps: the clip, in ``(0, 0.5)``; may be traced.
      axis: the class axis.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per example: shape ``(...)``).
      where: optional boolean mask of the per-example shape ``(...)`` or a leading part of
        it, e.g. ``(batch, time)`` for probabilities ``(batch, time, classes)``.

    Returns:
      A scalar, or the per-example shape for ``reduction="none"``.

    Raises:
      ValueError: (concrete inputs only; skipped under ``jax.jit``) a probability or a
        target outside ``[0, 1]``.
    """
    name = "categorical_cross_entropy"
    reduction = _reduction(name, reduction)
    eps = _eps(name, eps)
    p, t = _pair(name, probabilities, targets, arg="probabilities")
    axis = _axis(name, axis, p.ndim)
    full, mask = _class_mask(name, where, p.shape, axis, f"probabilities {p.shape}")
    check_values(name, "probabilities", p, _in_unit_interval, "in [0, 1]", where=full,
                  hint="; for logits use softmax_cross_entropy")
    check_values(name, "targets", t, _in_unit_interval, "in [0, 1] (one-hot or soft labels)",
                  where=full)
    values = -jnp.sum(t * jnp.log(jnp.clip(p, jnp.asarray(eps, p.dtype), 1.0)), axis=axis)
    return _reduce(values, reduction, mask)


def softmax_cross_entropy(logits: Array, targets: Array, *, axis: int = -1,
                          reduction: str = "mean", where: Array | None = None) -> Array:
    """Categorical cross-entropy from logits: ``-Σ_k y_k log softmax(z)_k``, stable
    (``optax.losses.softmax_cross_entropy``).

    Args:
      logits: ``(..., classes)``.
      targets: one-hot (or soft) labels in ``[0, 1]``, the same shape.
      axis: the class axis.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per example: shape ``(...)``).
      where: optional boolean mask of the per-example shape ``(...)`` or a leading part of
        it, e.g. ``(batch, time)`` for logits ``(batch, time, classes)``.

    Returns:
      A scalar, or the per-example shape for ``reduction="none"``.

    Raises:
      ValueError: (concrete inputs only; skipped under ``jax.jit``) a target outside
        ``[0, 1]``.
    """
    name = "softmax_cross_entropy"
    reduction = _reduction(name, reduction)
    z, t = _pair(name, logits, targets, arg="logits")
    axis = _axis(name, axis, z.ndim)
    full, mask = _class_mask(name, where, z.shape, axis, f"logits {z.shape}")
    check_values(name, "targets", t, _in_unit_interval, "in [0, 1] (one-hot or soft labels)",
                  where=full)
    values = optax.losses.softmax_cross_entropy(z, t, axis=axis)
    return _reduce(values, reduction, mask)


def sparse_categorical_cross_entropy(logits: Array, labels: Array, *,
                                     reduction: str = "mean",
                                     where: Array | None = None) -> Array:
    """Categorical cross-entropy from logits and integer labels: ``-log softmax(z)_label``
    (``optax.losses.softmax_cross_entropy_with_integer_labels``).

    Args:
      logits: ``(..., classes)``, e.g. ``(batch, time, classes)``.
      labels: integer class indices ``(...)`` in ``[0, classes)``.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per example: shape ``(...)``).
      where: optional boolean mask of the labels' shape or a leading part of it: for
        sequences of different lengths padded to ``time`` steps, the mask
        ``jnp.arange(time)[None, :] < lengths[:, None]`` of shape ``(batch, time)``.
        Labels at unselected positions are ignored (padding with -1 is fine).

    Returns:
      A scalar, or the labels' shape for ``reduction="none"``.

    Raises:
      TypeError: labels that are not integers.
      ValueError: (concrete inputs only; skipped under ``jax.jit``) a label outside
        ``[0, classes)``, naming the first one and its index.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> logits = jnp.zeros((2, 3, 4))                    # (batch, time, classes)
      >>> labels = jnp.array([[1, 2, -1], [0, -1, -1]])    # padded with -1
      >>> mask = jnp.arange(3)[None, :] < jnp.array([2, 1])[:, None]
      >>> round(float(jaxdl.losses.sparse_categorical_cross_entropy(
      ...     logits, labels, where=mask)), 4)             # log 4
      1.3863
    """
    name = "sparse_categorical_cross_entropy"
    reduction = _reduction(name, reduction)
    z = as_real_array(name, "logits", logits)
    y = as_real_array(name, "labels", labels)
    if z.ndim < 1 or z.shape[:-1] != y.shape:
        raise ValueError(
            f"{name}: expected logits (..., classes) and labels (...) with the same leading "
            f"shape, got logits {z.shape} and labels {y.shape}"
        )
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{name}: labels must be integers (class indices), got dtype {y.dtype}"
                        f"; for one-hot labels use softmax_cross_entropy")
    z = _wide(z)
    classes = z.shape[-1]
    mask = _mask(name, where, y.shape, f"labels {y.shape}")
    check_values(name, "labels", y, lambda v: (v >= 0) & (v < classes),
                  f"in [0, {classes}) for logits with {classes} classes", where=mask)
    if mask is not None:
        y = jnp.where(mask, y, jnp.zeros((), y.dtype))  # padding labels (e.g. -1) ignored
    values = optax.losses.softmax_cross_entropy_with_integer_labels(z, y)
    return _reduce(values, reduction, mask)


def kl_divergence(predictions: Array, targets: Array, *, eps: float | Array = _EPS,
                  axis: int = -1, reduction: str = "mean",
                  where: Array | None = None) -> Array:
    """Kullback-Leibler divergence ``KL(P || Q) = Σ_k P_k log(P_k / Q_k)``.

    Args:
      predictions: Q, predicted probabilities ``(..., classes)`` in ``[0, 1]``; clipped to
        ``[eps, 1]`` (zero gradient below ``eps``).
      targets: P, the true distribution in ``[0, 1]``, the same shape; terms with
        ``P_k = 0`` count 0.
      eps: the clip, in ``(0, 0.5)``; may be traced.
      axis: the class axis.
      reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per example: shape ``(...)``).
      where: optional boolean mask of the per-example shape ``(...)`` or a leading part
        of it (``(batch, time)`` for padded sequences).

    Returns:
      A scalar, or the per-example shape for ``reduction="none"``.

    Raises:
      ValueError: (concrete inputs only; skipped under ``jax.jit``) a probability outside
        ``[0, 1]``.
    """
    name = "kl_divergence"
    reduction = _reduction(name, reduction)
    eps = _eps(name, eps)
    q, p = _pair(name, predictions, targets)
    axis = _axis(name, axis, q.ndim)
    full, mask = _class_mask(name, where, q.shape, axis, f"predictions {q.shape}")
    check_values(name, "predictions", q, _in_unit_interval, "in [0, 1]", where=full)
    check_values(name, "targets", p, _in_unit_interval, "in [0, 1]", where=full)
    safe_p = jnp.where(p > 0, p, 1.0)
    log_q = jnp.log(jnp.clip(q, jnp.asarray(eps, q.dtype), 1.0))
    terms = jnp.where(p > 0, p * (jnp.log(safe_p) - log_q), 0.0)
    return _reduce(jnp.sum(terms, axis=axis), reduction, mask)


def gaussian_kl_divergence(mean: Array, log_variance: Array, *, reduction: str = "mean",
                           where: Array | None = None) -> Array:
    """``KL(N(μ, σ²) || N(0, I))`` of a diagonal Gaussian from the standard normal.

    ``½ Σ_k (σ_k² + μ_k² - 1 - log σ_k²)`` over the last (latent) axis: the
    :func:`kl_divergence` of the continuous case, in closed form. It is the regulariser of
    a variational autoencoder, whose encoder outputs ``μ`` and ``log σ²`` per example;
    zero exactly when ``μ = 0`` and ``σ = 1``.

    Args:
      mean: ``μ``, ``(..., latent)``.
      log_variance: ``log σ²``, the same shape (the log keeps ``σ²`` positive without a
        constraint).
      reduction: ``"mean"`` over examples | ``"sum"`` | ``"none"`` (per example: ``(...)``).
      where: optional boolean mask of the per-example shape ``(...)`` or a leading part.

    Returns:
      A scalar, or ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> float(jaxdl.losses.gaussian_kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 3))))
      0.0
      >>> float(jaxdl.losses.gaussian_kl_divergence(jnp.ones((1, 2)), jnp.zeros((1, 2))))
      1.0
    """
    name = "gaussian_kl_divergence"
    reduction = _reduction(name, reduction)
    mu = _wide(as_real_array(name, "mean", mean))
    log_var = as_real_array(name, "log_variance", log_variance).astype(mu.dtype)
    if mu.shape != log_var.shape or mu.ndim < 1:
        raise ValueError(f"{name}: expected mean and log_variance of the same shape "
                         f"(..., latent), got mean {mu.shape} and log_variance {log_var.shape}")
    mask = _mask(name, where, mu.shape[:-1], f"mean {mu.shape}")
    terms = 0.5 * jnp.sum(jnp.exp(log_var) + mu ** 2 - 1.0 - log_var, axis=-1)
    return _reduce(terms, reduction, mask)


# ----------------------------------------------------------------------------- by name

NAMED: dict[str, Callable[..., Array]] = {
    f.__name__: f for f in (
        mse, rmse, mae, msle, mean_bias_error, huber, half_sum_squared_error,
        binary_cross_entropy, binary_cross_entropy_with_logits, hinge,
        categorical_cross_entropy, softmax_cross_entropy, sparse_categorical_cross_entropy,
        kl_divergence,
    )
}
"""Every loss by name, as :func:`get` and the training steps resolve them."""

# Names other libraries use, for the "did you mean" hint only (never resolved silently).
ALIASES = {
    "mse_loss": "mse", "mean_squared_error": "mse", "squared_error": "mse", "l2": "mse",
    "l2_loss": "half_sum_squared_error", "mean_absolute_error": "mae", "l1_loss": "mae",
    "l1": "mae", "mae_loss": "mae", "mean_squared_logarithmic_error": "msle",
    "huber_loss": "huber", "smooth_l1_loss": "huber", "hinge_loss": "hinge",
    "bce": "binary_cross_entropy", "bce_loss": "binary_cross_entropy",
    "binary_crossentropy": "binary_cross_entropy",
    "bce_with_logits": "binary_cross_entropy_with_logits",
    "bce_with_logits_loss": "binary_cross_entropy_with_logits",
    "sigmoid_binary_cross_entropy": "binary_cross_entropy_with_logits",
    "categorical_crossentropy": "categorical_cross_entropy",
    "cross_entropy": "softmax_cross_entropy", "crossentropy": "softmax_cross_entropy",
    "ce": "softmax_cross_entropy", "nll_loss": "sparse_categorical_cross_entropy",
    "sparse_categorical_crossentropy": "sparse_categorical_cross_entropy",
    "softmax_cross_entropy_with_integer_labels": "sparse_categorical_cross_entropy",
    "kl_div": "kl_divergence", "kld": "kl_divergence", "kullback_leibler_divergence":
        "kl_divergence", "rmse_loss": "rmse", "msle_loss": "msle",
}


def get(loss: str | Callable[..., Array]) -> Callable[..., Array]:
    """A loss from its name, or passed through if callable.

    Args:
      loss: a function ``(predictions, targets) -> scalar`` or the name of one in this
        module (``"mse"``, ``"sparse_categorical_cross_entropy"``, ...).

    Returns:
      The loss function.

    Raises:
      ValueError: an unknown name; the message lists the known ones and the closest
        (``"mse_loss"``: did you mean ``'mse'``?).
      TypeError: neither a name nor a callable.

    Example:
      >>> import jaxdl
      >>> jaxdl.losses.get("mse") is jaxdl.losses.mse
      True
    """
    return lookup("losses.get", "loss", loss, NAMED, ALIASES, "mse")

