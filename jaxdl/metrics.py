"""Classification metrics: accuracy, binary accuracy, confusion matrix."""

from __future__ import annotations

import jax.numpy as jnp

from jaxdl.core import Array

__all__ = ["accuracy", "binary_accuracy", "confusion_matrix"]


def accuracy(outputs: Array, labels: Array) -> Array:
    """Fraction of examples whose arg-max class equals the label.

    Args:
      outputs: scores, logits or probabilities ``(..., classes)``.
      labels: integer labels ``(...)`` or one-hot labels ``(..., classes)``.

    Returns:
      A scalar in [0, 1].

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> float(jaxdl.metrics.accuracy(jnp.array([[0.1, 0.9], [0.8, 0.2]]), jnp.array([1, 1])))
      0.5
    """
    outputs, labels = jnp.asarray(outputs), jnp.asarray(labels)
    if labels.shape == outputs.shape:
        labels = jnp.argmax(labels, axis=-1)
    if labels.shape != outputs.shape[:-1]:
        raise ValueError(
            "accuracy: expected outputs (..., classes) and labels (...) or (..., classes), "
            f"got outputs {outputs.shape} and labels {labels.shape}"
        )
    return jnp.mean(jnp.argmax(outputs, axis=-1) == labels)


def binary_accuracy(outputs: Array, targets: Array, *, threshold: float = 0.5) -> Array:
    """Fraction of ``(outputs >= threshold) == targets`` (use ``threshold=0`` for logits).

    Args:
      outputs: probabilities (or logits), any shape.
      targets: 0/1 labels, the same shape.
    """
    outputs, targets = jnp.asarray(outputs), jnp.asarray(targets)
    if outputs.shape != targets.shape:
        raise ValueError(
            f"binary_accuracy: outputs and targets must have the same shape, got {outputs.shape} "
            f"and {targets.shape}"
        )
    return jnp.mean((outputs >= threshold).astype(jnp.int32) == targets.astype(jnp.int32))


def confusion_matrix(predicted: Array, labels: Array, num_classes: int) -> Array:
    """Confusion matrix ``C[true, predicted]`` (counts, int32).

    Args:
      predicted: integer predicted classes ``(n,)``.
      labels: integer true classes ``(n,)``.
      num_classes: K; the result is ``(K, K)``. Pairs with a class outside ``[0, K)``
        are not counted.
    """
    predicted, labels = jnp.asarray(predicted), jnp.asarray(labels)
    if predicted.shape != labels.shape or predicted.ndim != 1:
        raise ValueError(
            f"confusion_matrix: expected predicted and labels of shape (n,), got "
            f"{predicted.shape} and {labels.shape}"
        )
    valid = (labels >= 0) & (labels < num_classes) & (predicted >= 0) & (predicted < num_classes)
    # out-of-range classes are not counted (they cannot raise under jit)
    idx = jnp.where(valid, labels * num_classes + predicted, num_classes * num_classes)
    counts = jnp.bincount(idx, length=num_classes * num_classes + 1)[:-1]
    return counts.reshape(num_classes, num_classes)
