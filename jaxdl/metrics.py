"""Classification metrics: accuracy, binary accuracy, confusion matrix.

Each takes an optional ``where`` mask, as the losses do: for variable-length sequences,
the mask ``jnp.arange(time)[None, :] < lengths[:, None]`` of shape ``(batch, time)``
counts the real steps only. Labels outside their range are refused with ``ValueError``
when the inputs are concrete (the check is skipped under ``jax.jit``). :data:`NAMED` and
:func:`get` resolve the metric names that ``fit`` and ``evaluate`` accept.
"""

from __future__ import annotations

from collections.abc import Callable
import jax.numpy as jnp

from jaxdl._checks import (
    as_real_array, check_float, check_int, check_values, lookup,
)
from jaxdl.core import Array
from jaxdl.losses import _mask, _reduce

__all__ = [
    "accuracy", "binary_accuracy", "confusion_matrix", "get", "NAMED", "ALIASES"]


def _integer_labels(name: str, arg: str, labels: Array, classes: int, where: Array | None,
                    *, type_hint: str = "", value_hint: str = "") -> None:
    """Integer dtype (``TypeError``) and, when concrete, values in ``[0, classes)``."""
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"{name}: {arg} must be integers (class indices), got dtype "
                        f"{labels.dtype}{type_hint}")
    check_values(name, arg, labels, lambda v: (v >= 0) & (v < classes),
                  f"in [0, {classes}) for {classes} classes", where=where, hint=value_hint)


def accuracy(outputs: Array, labels: Array, *, where: Array | None = None) -> Array:
    """Fraction of examples whose arg-max class equals the label.

    Args:
      outputs: scores, logits or probabilities ``(..., classes)``, e.g. ``(batch,
        classes)`` or ``(batch, time, classes)``.
      labels: integer labels ``(...)`` in ``[0, classes)``, or one-hot labels
        ``(..., classes)``.
      where: optional boolean (or 0/1) mask of the per-example shape ``(...)`` or a
        leading part of it: for sequences padded to ``time`` steps, the mask
        ``jnp.arange(time)[None, :] < lengths[:, None]`` of shape ``(batch, time)``. The
        fraction is taken over the selected examples only (none selected: 0).

    Returns:
      A scalar in [0, 1].

    Raises:
      TypeError: integer-form labels that are not integers.
      ValueError: shapes that do not fit; (concrete inputs only, skipped under
        ``jax.jit``) a label outside ``[0, classes)``, naming the first and its index.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> float(jaxdl.metrics.accuracy(jnp.array([[0.1, 0.9], [0.8, 0.2]]), jnp.array([1, 1])))
      0.5
      >>> logits = jnp.array([[[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]])   # (batch, time, classes)
      >>> labels = jnp.array([[1, 1, 0]])
      >>> float(jaxdl.metrics.accuracy(logits, labels, where=jnp.array([[True, False, True]])))
      1.0
    """
    name = "accuracy"
    outputs = as_real_array(name, "outputs", outputs)
    labels = as_real_array(name, "labels", labels)
    if outputs.ndim < 1:
        raise ValueError(f"{name}: expected outputs (..., classes), got outputs of shape "
                         f"{outputs.shape}")
    one_hot = labels.shape == outputs.shape
    if not one_hot and labels.shape != outputs.shape[:-1]:
        raise ValueError(
            f"{name}: expected outputs (..., classes) and labels (...) or (..., classes), "
            f"got outputs {outputs.shape} and labels {labels.shape}"
        )
    per_example = outputs.shape[:-1]
    mask = _mask(name, where, per_example, f"outputs {outputs.shape}",
                 what="per-example shape")
    if one_hot:
        labels = jnp.argmax(labels, axis=-1)
    else:
        classes = outputs.shape[-1]
        hint = "; for one output unit use binary_accuracy" if classes == 1 else ""
        _integer_labels(name, "labels", labels, classes, mask, value_hint=hint,
                        type_hint="; or one-hot labels of the outputs' shape")
    correct = (jnp.argmax(outputs, axis=-1) == labels).astype(jnp.float32)
    return _reduce(correct, "mean", mask)


def binary_accuracy(outputs: Array, targets: Array, *, threshold: float | Array = 0.5,
                    where: Array | None = None) -> Array:
    """Fraction of ``(outputs >= threshold) == targets`` (use ``threshold=0`` for logits).

    Args:
      outputs: probabilities (or logits), any shape, e.g. ``(batch,)`` or ``(batch, time)``.
      targets: 0/1 labels (or booleans), the same shape.
      threshold: a real number; may be traced.
      where: optional boolean (or 0/1) mask of the outputs' shape or a leading part of it
        (``(batch, time)`` for padded sequences); the fraction is over the selected
        elements only (none selected: 0).

    Returns:
      A scalar in [0, 1].

    Raises:
      ValueError: different shapes; (concrete inputs only, skipped under ``jax.jit``) a
        target other than 0 or 1, naming the first and its index.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> float(jaxdl.metrics.binary_accuracy(jnp.array([0.2, 0.7, 0.6]), jnp.array([0, 1, 0])))
      0.6666666865348816
    """
    name = "binary_accuracy"
    threshold = check_float(name, "threshold", threshold)
    outputs = as_real_array(name, "outputs", outputs)
    targets = as_real_array(name, "targets", targets)
    if outputs.shape != targets.shape:
        raise ValueError(
            f"{name}: outputs and targets must have the same shape, got {outputs.shape} "
            f"and {targets.shape}"
        )
    mask = _mask(name, where, outputs.shape, f"outputs {outputs.shape}",
                 what="outputs' shape")
    check_values(name, "targets", targets, lambda v: (v == 0) | (v == 1), "0 or 1",
                  where=mask)
    correct = (outputs >= threshold).astype(jnp.int32) == targets.astype(jnp.int32)
    return _reduce(correct.astype(jnp.float32), "mean", mask)


def confusion_matrix(predicted: Array, labels: Array, num_classes: int, *,
                     where: Array | None = None) -> Array:
    """Confusion matrix ``C[true, predicted]`` (counts, int32).

    Args:
      predicted: integer predicted classes ``(n,)`` (``jnp.argmax(outputs, -1)``).
      labels: integer true classes ``(n,)``.
      num_classes: K >= 1 (a Python int; static under ``jax.jit``); the result is ``(K, K)``.
      where: optional boolean (or 0/1) mask ``(n,)``: only selected pairs are counted.

    Returns:
      ``(K, K)`` int32 counts; row = true class, column = predicted class.

    Raises:
      TypeError: non-integer classes or ``num_classes``.
      ValueError: shapes other than ``(n,)``; (concrete inputs only) a class outside
        ``[0, K)``, naming the first and its index. Under ``jax.jit`` the check is skipped
        and pairs with a class outside ``[0, K)`` are not counted.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> jaxdl.metrics.confusion_matrix(jnp.array([0, 1, 1]), jnp.array([0, 0, 1]), 2)
      Array([[1, 1],
             [0, 1]], dtype=int32)
    """
    name = "confusion_matrix"
    num_classes = check_int(name, "num_classes", num_classes, min_value=1)
    predicted = as_real_array(name, "predicted", predicted)
    labels = as_real_array(name, "labels", labels)
    if predicted.shape != labels.shape or predicted.ndim != 1:
        raise ValueError(
            f"{name}: expected predicted and labels of shape (n,), got "
            f"{predicted.shape} and {labels.shape}"
        )
    mask = _mask(name, where, labels.shape, f"labels {labels.shape}", what="labels' shape")
    _integer_labels(name, "predicted", predicted, num_classes, mask,
                    type_hint="; take jnp.argmax(outputs, axis=-1) first")
    _integer_labels(name, "labels", labels, num_classes, mask)
    valid = (labels >= 0) & (labels < num_classes) & (predicted >= 0) & (predicted < num_classes)
    if mask is not None:
        valid = valid & mask
    # out-of-range classes are not counted (they cannot raise under jit)
    idx = jnp.where(valid, labels * num_classes + predicted, num_classes * num_classes)
    counts = jnp.bincount(idx, length=num_classes * num_classes + 1)[:-1]
    return counts.reshape(num_classes, num_classes).astype(jnp.int32)


MetricFn = Callable[..., Array]

NAMED: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "binary_accuracy": binary_accuracy,
}
"""The metrics ``fit``/``evaluate`` accept by name: ``fn(predictions, targets) -> scalar``."""

ALIASES = {
    "acc": "accuracy", "categorical_accuracy": "accuracy",
    "sparse_categorical_accuracy": "accuracy", "top1": "accuracy", "top_1_accuracy": "accuracy",
    "binary_acc": "binary_accuracy", "bin_accuracy": "binary_accuracy",
}


def get(metric: str | MetricFn) -> MetricFn:
    """A metric from its name in :data:`NAMED`, or passed through if callable.

    Args:
      metric: ``"accuracy"``, ``"binary_accuracy"``, or a function
        ``(predictions, targets) -> scalar``.

    Returns:
      The metric function.

    Raises:
      ValueError: an unknown name; the message lists :data:`NAMED` and the closest name.
      TypeError: neither a name nor a callable.

    Example:
      >>> import jaxdl
      >>> jaxdl.metrics.get("accuracy") is jaxdl.metrics.accuracy
      True
    """
    return lookup("metrics.get", "metric", metric, NAMED, ALIASES, "accuracy")
