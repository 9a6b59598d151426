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


# --------------------------------------------------------------------------- where=


def test_accuracy_where_by_hand():
    # rows: right, right, wrong, right; select rows 0 and 2 -> 1/2; rows 0, 3 -> 1
    assert float(metrics.accuracy(OUT, LABELS, where=jnp.array([1, 0, 1, 0]))) == 0.5
    assert float(metrics.accuracy(OUT, LABELS, where=jnp.array([True, False, False, True]))) \
        == 1.0
    assert float(metrics.accuracy(OUT, jax.nn.one_hot(LABELS, 3),
                                  where=jnp.array([False, False, True, False]))) == 0.0
    assert float(metrics.accuracy(OUT, LABELS, where=jnp.zeros(4, bool))) == 0.0  # not NaN


def test_accuracy_sequence_mask_from_lengths():
    # (batch=2, time=3, classes=2): lengths 3 and 1; padded steps hold label -1
    logits = jnp.array([[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]],
                        [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    labels = jnp.array([[1, 1, 1], [0, -1, -1]])
    mask = jnp.arange(3)[None, :] < jnp.array([3, 1])[:, None]  # (batch, time)
    assert float(metrics.accuracy(logits, labels, where=mask)) == 0.75  # 3 of 4 real steps
    # a (batch,) mask is a leading part of (batch, time)
    assert float(metrics.accuracy(logits, jnp.maximum(labels, 0),
                                  where=jnp.array([True, False]))) == pytest.approx(2 / 3)


def test_binary_accuracy_where():
    out, tgt = jnp.array([[0.9, 0.1, 0.8], [0.2, 0.7, 0.4]]), jnp.array([[1, 1, 0], [0, 0, 1]])
    # (batch, time) mask of lengths 2, 1: (1, 0) right/wrong, (0) right -> 2/3
    mask = jnp.arange(3)[None, :] < jnp.array([2, 1])[:, None]
    assert float(metrics.binary_accuracy(out, tgt, where=mask)) == pytest.approx(2 / 3)
    assert float(metrics.binary_accuracy(out, tgt, where=jnp.array([False, True]))) \
        == pytest.approx(1 / 3)
    assert float(metrics.binary_accuracy(out, tgt, where=jnp.zeros((2, 3), bool))) == 0.0


def test_confusion_matrix_where():
    labels = jnp.array([0, 0, 1, 1, 2])
    predicted = jnp.array([0, 1, 1, 1, 2])
    got = metrics.confusion_matrix(predicted, labels, 3, where=jnp.array([1, 1, 0, 1, 0]))
    want = np.zeros((3, 3), np.int32)
    want[0, 0] = want[0, 1] = want[1, 1] = 1
    chex.assert_trees_all_equal(np.asarray(got), want)


def test_metrics_with_where_jit():
    mask = jnp.array([True, False, False, True])
    assert float(jax.jit(metrics.accuracy)(OUT, LABELS, where=mask)) == 1.0
    f = jax.jit(lambda o, t, w: metrics.binary_accuracy(o, t, where=w))
    assert float(f(jnp.array([0.9, 0.1, 0.8, 0.3]), jnp.array([1, 1, 0, 0]), mask)) == 1.0
    g = jax.jit(metrics.confusion_matrix, static_argnums=2)
    assert int(g(LABELS, LABELS, 3, where=mask).sum()) == 2


@pytest.mark.parametrize("fn, args, where_shape, expected", [
    (metrics.accuracy, (OUT, LABELS), (5,), "(4,)"),
    (metrics.accuracy, (OUT, LABELS), (4, 3), "(4,)"),
    (metrics.binary_accuracy, (jnp.zeros((2, 3)), jnp.zeros((2, 3))), (3,), "(2, 3)"),
    (metrics.confusion_matrix, (LABELS, LABELS, 3), (4, 1), "(4,)"),
], ids=["accuracy-long", "accuracy-classes", "binary-trailing", "confusion"])
def test_where_bad_shape(fn, args, where_shape, expected):
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: where must have") as info:
        fn(*args, where=jnp.ones(where_shape, bool))
    assert expected in str(info.value) and str(where_shape) in str(info.value)


# ------------------------------------------------------------- nonsense is refused


@pytest.mark.parametrize("label, index", [(3, 2), (-1, 0)])
def test_accuracy_labels_out_of_range(label, index):
    labels = LABELS.at[index].set(label)
    with pytest.raises(ValueError, match=rf"^accuracy: labels must be in \[0, 3\) for 3 classes; "
                                         rf"got {label} at index \({index},\)"):
        metrics.accuracy(OUT, labels)
    # skipped under jit (the values are unknown there): the bad label just counts as wrong
    wrong_there = np.mean(np.asarray(jnp.argmax(OUT, axis=-1) == labels))
    assert float(jax.jit(metrics.accuracy)(OUT, labels)) == pytest.approx(wrong_there)
    # and not checked where masked out: the other examples' accuracy
    keep = jnp.arange(4) != index
    assert float(metrics.accuracy(OUT, labels, where=keep)) == pytest.approx(
        float(metrics.accuracy(OUT[keep], LABELS[keep])))


def test_accuracy_one_output_unit_points_to_binary_accuracy():
    with pytest.raises(ValueError, match=r"^accuracy: labels must be in \[0, 1\).*got 1 at "
                                         r"index \(1,\).*use binary_accuracy"):
        metrics.accuracy(jnp.zeros((3, 1)), jnp.array([0, 1, 0]))


def test_accuracy_float_labels_refused():
    with pytest.raises(TypeError, match=r"^accuracy: labels must be integers.*float32"):
        metrics.accuracy(OUT, LABELS.astype(jnp.float32))


def test_binary_accuracy_targets_must_be_zero_or_one():
    with pytest.raises(ValueError, match=r"^binary_accuracy: targets must be 0 or 1; got 2 at "
                                         r"index \(1,\)"):
        metrics.binary_accuracy(jnp.array([0.2, 0.9]), jnp.array([0, 2]))


@pytest.mark.parametrize("which, value", [("predicted", 3), ("labels", -1)])
def test_confusion_matrix_classes_out_of_range(which, value):
    good = jnp.array([0, 1, 2])
    bad = good.at[1].set(value)
    args = (bad, good) if which == "predicted" else (good, bad)
    with pytest.raises(ValueError, match=rf"^confusion_matrix: {which} must be in \[0, 3\) "
                                         rf"for 3 classes; got {value} at index \(1,\)"):
        metrics.confusion_matrix(*args, 3)
    # under jit: not counted
    jitted = jax.jit(metrics.confusion_matrix, static_argnums=2)(*args, 3)
    assert int(jitted.sum()) == 2


# ------------------------------------------------------------------- by name


def test_named_and_get():
    assert metrics.NAMED["accuracy"] is metrics.accuracy
    assert metrics.NAMED["binary_accuracy"] is metrics.binary_accuracy
    for name, fn in metrics.NAMED.items():
        assert metrics.get(name) is fn
    custom = lambda p, t: jnp.mean(p)  # noqa: E731
    assert metrics.get(custom) is custom


@pytest.mark.parametrize("name, hint", [("acc", "accuracy"), ("Accuracy", "accuracy"),
                                        ("binary_acc", "binary_accuracy"),
                                        ("categorical_accuracy", "accuracy")])
def test_get_mistyped_name_gets_a_hint(name, hint):
    with pytest.raises(ValueError, match=rf"^metrics.get: unknown metric='{name}'; allowed: "
                                         rf"'accuracy', 'binary_accuracy'; did you mean "
                                         rf"'{hint}'\?$"):
        metrics.get(name)


def test_get_unknown_without_hint_lists_allowed():
    with pytest.raises(ValueError, match=r"^metrics.get: unknown metric='f1'; allowed: "
                                         r"'accuracy', 'binary_accuracy'$"):
        metrics.get("f1")
