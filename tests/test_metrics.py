"""Tests for jaxdl.metrics."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import metrics

OUT = jnp.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]])
LABELS = jnp.array([1, 0, 0, 0])  # three of four right


@pytest.mark.parametrize("labels", [LABELS, jax.nn.one_hot(LABELS, 3)], ids=["int", "one_hot"])
def test_accuracy(labels):
    acc = metrics.accuracy(OUT, labels)
    chex.assert_shape(acc, ())
    assert float(acc) == 0.75


def test_accuracy_with_logits_and_extra_batch_axes():
    logits = jnp.stack([jnp.log(OUT), -jnp.log(OUT)])  # (2, 4, 3); the second all wrong but one
    labels = jnp.stack([LABELS, LABELS])
    want = np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(labels))
    assert float(metrics.accuracy(logits, labels)) == pytest.approx(want)
    assert float(metrics.accuracy(logits, jax.nn.one_hot(labels, 3))) == pytest.approx(want)


def test_accuracy_jits():
    assert float(jax.jit(metrics.accuracy)(OUT, LABELS)) == 0.75


@pytest.mark.parametrize("labels_shape", [(5,), (4, 1), (4, 2)])
def test_accuracy_bad_shapes(labels_shape):
    with pytest.raises(ValueError, match=r"accuracy: .*got outputs \(4, 3\)") as info:
        metrics.accuracy(OUT, jnp.zeros(labels_shape, jnp.int32))
    assert str(labels_shape) in str(info.value)


@pytest.mark.parametrize(
    "outputs, targets, threshold, expected",
    [
        ([0.2, 0.7, 0.5, 0.49], [0, 1, 1, 0], 0.5, 1.0),  # 0.5 counts as positive
        ([0.2, 0.7, 0.5, 0.49], [1, 1, 0, 0], 0.5, 0.5),
        ([-2.0, 3.0, 0.1, -0.1], [0, 1, 1, 1], 0.0, 0.75),  # logits
        ([[0.9, 0.1], [0.6, 0.4]], [[1.0, 0.0], [0.0, 0.0]], 0.5, 0.75),
    ],
)
def test_binary_accuracy(outputs, targets, threshold, expected):
    got = metrics.binary_accuracy(jnp.array(outputs), jnp.array(targets), threshold=threshold)
    assert float(got) == pytest.approx(expected)


def test_binary_accuracy_bad_shapes():
    with pytest.raises(ValueError, match=r"binary_accuracy: .*\(4,\) and \(4, 1\)"):
        metrics.binary_accuracy(jnp.zeros(4), jnp.zeros((4, 1)))


def test_confusion_matrix():
    labels = jnp.array([0, 0, 1, 1, 2, 2, 2])
    predicted = jnp.array([0, 1, 1, 1, 2, 0, 2])
    want = jnp.array([[1, 1, 0], [0, 2, 0], [1, 0, 2]])  # C[true, predicted]
    got = metrics.confusion_matrix(predicted, labels, 3)
    chex.assert_trees_all_equal(got, want.astype(got.dtype))
    assert jnp.issubdtype(got.dtype, jnp.integer)
    assert int(got.sum()) == 7 and int(jnp.trace(got)) == 5
    jitted = jax.jit(metrics.confusion_matrix, static_argnums=2)(predicted, labels, 3)
    chex.assert_trees_all_equal(jitted, got)


def test_confusion_matrix_unused_class_and_asymmetry():
    got = metrics.confusion_matrix(jnp.array([1, 1]), jnp.array([0, 0]), 4)
    chex.assert_shape(got, (4, 4))
    want = np.zeros((4, 4), np.int32)
    want[0, 1] = 2  # true 0 predicted 1, not the transpose
    chex.assert_trees_all_equal(np.asarray(got), want)


@pytest.mark.parametrize("p_shape, l_shape", [((3,), (4,)), ((2, 2), (2, 2))])
def test_confusion_matrix_bad_shapes(p_shape, l_shape):
    with pytest.raises(ValueError, match="confusion_matrix: expected predicted and labels"):
        metrics.confusion_matrix(jnp.zeros(p_shape, jnp.int32), jnp.zeros(l_shape, jnp.int32), 3)
