"""Tests for jaxdl.perceptron: Rosenblatt's learning rule and the threshold predictor."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import pytest

import jaxdl

X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
GATES = {
    "AND": jnp.array([0.0, 0.0, 0.0, 1.0]),
    "OR": jnp.array([0.0, 1.0, 1.0, 1.0]),
    "NAND": jnp.array([1.0, 1.0, 1.0, 0.0]),
}
XOR = jnp.array([0.0, 1.0, 1.0, 0.0])


def _accuracy(fit, y, threshold=0.0):
    pred = jaxdl.perceptron_predict(fit.w, fit.b, X, threshold=threshold)
    return float(jnp.mean(pred == y))


@pytest.mark.parametrize("gate", list(GATES))
@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_learns_linearly_separable_gates(gate, threshold):
    y = GATES[gate]
    fit = jaxdl.perceptron_fit(X, y, lr=0.5, epochs=20, threshold=threshold)
    assert bool(fit.converged)
    assert _accuracy(fit, y, threshold) == 1.0
    chex.assert_shape(fit.w, (2,))
    chex.assert_shape(fit.b, ())
    chex.assert_shape(fit.errors, (20,))
    assert fit.errors.dtype == jnp.int32
    assert int(fit.errors[0]) > 0 and int(fit.errors[-1]) == 0


def test_fails_on_xor():
    fit = jaxdl.perceptron_fit(X, XOR, lr=0.5, epochs=50)
    assert not bool(fit.converged)
    assert _accuracy(fit, XOR) <= 0.75
    assert int(jnp.min(fit.errors)) > 0  # never a clean epoch


def test_one_update_by_hand():
    # w = b = 0; step(0) = 0 but y = 1: err = 1, w += lr·x, b += lr
    fit = jaxdl.perceptron_fit(jnp.array([[1.0, 2.0]]), jnp.array([1.0]), lr=0.5, epochs=1)
    chex.assert_trees_all_close(fit.w, jnp.array([0.5, 1.0]))
    assert float(fit.b) == 0.5
    chex.assert_trees_all_equal(fit.errors, jnp.array([1], jnp.int32))
    assert not bool(fit.converged)
    # and a negative error: predicted 1 for y = 0
    fit = jaxdl.perceptron_fit(jnp.array([[1.0, 2.0]]), jnp.array([0.0]), lr=0.5, epochs=1,
                               w0=jnp.array([1.0, 0.0]), b0=0.0)
    chex.assert_trees_all_close(fit.w, jnp.array([0.5, -1.0]))
    assert float(fit.b) == -0.5


def test_initial_weights_already_right():
    fit = jaxdl.perceptron_fit(X, GATES["AND"], epochs=3, w0=jnp.array([0.7, 0.7]), b0=-1.0)
    chex.assert_trees_all_equal(fit.errors, jnp.zeros(3, jnp.int32))
    chex.assert_trees_all_close(fit.w, jnp.array([0.7, 0.7]))
    assert bool(fit.converged)


def test_jittable():
    fit_fn = jax.jit(functools.partial(jaxdl.perceptron_fit, epochs=10))
    a = fit_fn(X, GATES["OR"], lr=0.5, threshold=0.0)
    b = jaxdl.perceptron_fit(X, GATES["OR"], lr=0.5, epochs=10)
    chex.assert_trees_all_equal(a, b)


def test_predict_is_strict():
    pred = jaxdl.perceptron_predict(jnp.array([1.0, 1.0]), jnp.array(0.0), X, threshold=1.0)
    chex.assert_trees_all_equal(pred, GATES["AND"])  # x1 + x2 = 1 is not > 1
    chex.assert_shape(pred, (4,))


def test_fit_weights_drive_the_perceptron_layer():
    fit = jaxdl.perceptron_fit(X, GATES["OR"], lr=0.5, epochs=20)
    layer = jaxdl.Perceptron(1)
    _, _, state = layer.init(jax.random.key(0), (2,))
    params = {"dense": {"w": fit.w[:, None], "b": fit.b[None]}}  # the Step has no params
    y, _ = layer.apply(params, state, X)
    chex.assert_trees_all_equal(y[:, 0], GATES["OR"])


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        (jnp.zeros(4), jnp.zeros(4), {}, r"expected x \(n, features\) and y \(n,\), got x \(4,\)"),
        (X, jnp.zeros((4, 1)), {}, r"got x \(4, 2\) and y \(4, 1\)"),
        (X, jnp.zeros(3), {}, r"got x \(4, 2\) and y \(3,\)"),
        (X, GATES["AND"], {"w0": jnp.zeros(3)}, r"expected w0 of shape \(2,\), got \(3,\)"),
    ],
    ids=["x-rank1", "y-rank2", "y-length", "w0"],
)
def test_bad_shapes(x, y, kwargs, match):
    with pytest.raises(ValueError, match=rf"^perceptron_fit: .*{match}"):
        jaxdl.perceptron_fit(x, y, epochs=2, **kwargs)
