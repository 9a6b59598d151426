"""Tests for jaxdl.activations: formulas against NumPy, stability, and gradients."""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import activations as act

X = np.linspace(-3.0, 3.0, 13).astype(np.float32)  # includes 0 exactly
X2 = np.arange(-6.0, 6.0, dtype=np.float32).reshape(3, 4) / 2.0

_erf = np.vectorize(math.erf)


def _np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


# (id, fn, kwargs, numpy reference of x)
FORMULAS = [
    ("step", act.step, {}, lambda x: (x > 0).astype(np.float32)),
    ("step-theta", act.step, {"threshold": 0.5}, lambda x: (x > 0.5).astype(np.float32)),
    ("linear", act.linear, {"slope": 2.5}, lambda x: 2.5 * x),
    ("sigmoid", act.sigmoid, {}, lambda x: 1.0 / (1.0 + np.exp(-x))),
    ("sigmoid-steep", act.sigmoid, {"steepness": 2.0}, lambda x: 1.0 / (1.0 + np.exp(-2.0 * x))),
    ("bipolar_sigmoid", act.bipolar_sigmoid, {},
     lambda x: (1.0 - np.exp(-x)) / (1.0 + np.exp(-x))),
    ("bipolar_sigmoid-steep", act.bipolar_sigmoid, {"steepness": 3.0},
     lambda x: 2.0 / (1.0 + np.exp(-3.0 * x)) - 1.0),
    ("tanh", act.tanh, {}, lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))),
    ("relu", act.relu, {}, lambda x: np.maximum(0.0, x)),
    ("leaky_relu", act.leaky_relu, {}, lambda x: np.where(x >= 0, x, 0.01 * x)),
    ("leaky_relu-0.2", act.leaky_relu, {"negative_slope": 0.2},
     lambda x: np.where(x >= 0, x, 0.2 * x)),
    ("randomized_relu-eval", act.randomized_relu, {"lower": 0.1, "upper": 0.3},
     lambda x: np.where(x >= 0, x, 0.2 * x)),
    ("softmax", act.softmax, {}, _np_softmax),
    ("elu", act.elu, {}, lambda x: np.where(x > 0, x, np.exp(x) - 1.0)),
    ("elu-0.5", act.elu, {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1.0))),
    ("gelu", act.gelu, {}, lambda x: x * 0.5 * (1.0 + _erf(x / np.sqrt(2.0)))),
    ("gelu-tanh", act.gelu, {"approximate": True},
     lambda x: 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))),
    ("swish", act.swish, {}, lambda x: x / (1.0 + np.exp(-x))),
    ("swish-beta", act.swish, {"beta": 2.0}, lambda x: x / (1.0 + np.exp(-2.0 * x))),
]
FORMULA_IDS = [f[0] for f in FORMULAS]


@pytest.mark.parametrize("name, fn, kwargs, ref", FORMULAS, ids=FORMULA_IDS)
@pytest.mark.parametrize("x", [X, X2], ids=["rank1", "rank2"])
def test_formula(name, fn, kwargs, ref, x):
    y = fn(jnp.asarray(x), **kwargs)
    chex.assert_shape(y, x.shape)
    assert y.dtype == jnp.float32
    chex.assert_trees_all_close(y, ref(x.astype(np.float64)).astype(np.float32),
                                atol=2e-6, rtol=2e-6)


def test_softmax_axis_and_sums_to_one():
    y0 = act.softmax(jnp.asarray(X2), axis=0)
    chex.assert_trees_all_close(y0, _np_softmax(X2, axis=0), atol=1e-6)
    chex.assert_trees_all_close(jnp.sum(y0, axis=0), jnp.ones(4), atol=1e-6)
    chex.assert_trees_all_close(jnp.sum(act.softmax(jnp.asarray(X2)), axis=-1), jnp.ones(3),
                                atol=1e-6)


def test_tanh_is_two_sigmoid_minus_one_and_bipolar_is_half_tanh():
    x = jnp.asarray(X)
    chex.assert_trees_all_close(act.tanh(x), 2.0 * act.sigmoid(2.0 * x) - 1.0, atol=1e-6)
    chex.assert_trees_all_close(act.bipolar_sigmoid(x, steepness=2.0), act.tanh(x), atol=1e-6)


ALL = [
    ("step", lambda x: act.step(x)),
    ("linear", lambda x: act.linear(x, slope=0.5)),
    ("sigmoid", lambda x: act.sigmoid(x, steepness=2.0)),
    ("bipolar_sigmoid", lambda x: act.bipolar_sigmoid(x, steepness=2.0)),
    ("tanh", act.tanh),
    ("relu", act.relu),
    ("leaky_relu", act.leaky_relu),
    ("randomized_relu-eval", act.randomized_relu),
    ("randomized_relu-train", lambda x: act.randomized_relu(x, key=jax.random.key(0), train=True)),
    ("softmax", act.softmax),
    ("elu", act.elu),
    ("gelu", act.gelu),
    ("gelu-tanh", lambda x: act.gelu(x, approximate=True)),
    ("swish", act.swish),
]
ALL_IDS = [a[0] for a in ALL]


def test_every_activation_is_covered():
    names = {i.split("-")[0] for i in ALL_IDS} | {i.split("-")[0] for i in FORMULA_IDS}
    assert names == set(act.__all__)


@pytest.mark.parametrize("name, fn", ALL, ids=ALL_IDS)
def test_stable_at_large_inputs(name, fn):
    x = jnp.array([-1e30, -1e4, -50.0, 0.0, 50.0, 1e4, 1e30], jnp.float32)
    weights = jnp.arange(1.0, 8.0)  # so that softmax's gradient is not trivially zero
    y = fn(x)
    chex.assert_tree_all_finite(y)
    g = jax.grad(lambda x: jnp.sum(fn(x) * weights))(x)
    chex.assert_tree_all_finite(g)
    # elementwise gradients too, one example at a time
    if name != "softmax":
        gs = jax.vmap(jax.grad(lambda s: fn(s[None])[0]))(x)
        chex.assert_tree_all_finite(gs)


@pytest.mark.parametrize("name, fn", ALL, ids=ALL_IDS)
@pytest.mark.parametrize("dtype", [jnp.bfloat16])
def test_keeps_floating_dtype(name, fn, dtype):
    y = fn(jnp.asarray(X2, dtype))
    assert y.dtype == dtype
    chex.assert_shape(y, X2.shape)


def test_integer_input_becomes_float32():
    y = act.relu(jnp.array([-2, 0, 3]))
    assert y.dtype == jnp.float32
    chex.assert_trees_all_equal(y, jnp.array([0.0, 0.0, 3.0]))


@pytest.mark.parametrize("threshold", [0.0, 1.5])
def test_step_has_zero_gradient_everywhere(threshold):
    x = jnp.array([-2.0, threshold, threshold + 1e-3, 4.0])
    g = jax.vmap(jax.grad(lambda s: act.step(s, threshold)))(x)
    chex.assert_trees_all_equal(g, jnp.zeros(4))


def test_step_is_strict_at_threshold():
    chex.assert_trees_all_equal(act.step(jnp.array([0.9, 1.0, 1.1]), threshold=1.0),
                                jnp.array([0.0, 0.0, 1.0]))


@pytest.mark.parametrize(
    "fn, x, expected",
    [
        (act.relu, [-1.0, 2.0], [0.0, 1.0]),
        (lambda x: act.leaky_relu(x, 0.1), [-1.0, 2.0], [0.1, 1.0]),
        (lambda x: act.linear(x, 3.0), [-1.0, 2.0], [3.0, 3.0]),
        (lambda x: act.sigmoid(x, 2.0), [0.0, 0.0], [0.5, 0.5]),  # λ f (1 - f) = 2 * 1/4
        (lambda x: act.bipolar_sigmoid(x, 2.0), [0.0, 0.0], [1.0, 1.0]),  # λ/2 (1+f)(1-f)
        (act.tanh, [0.0, 0.0], [1.0, 1.0]),
        (lambda x: act.elu(x, 2.0), [-1.0, 1.0], [2.0 * math.exp(-1.0), 1.0]),
    ],
    ids=["relu", "leaky_relu", "linear", "sigmoid", "bipolar_sigmoid", "tanh", "elu"],
)
def test_documented_derivatives(fn, x, expected):
    g = jax.vmap(jax.grad(lambda s: fn(s[None])[0]))(jnp.array(x))
    chex.assert_trees_all_close(g, jnp.array(expected), atol=1e-6)


# ---------------------------------------------------------------------- randomized ReLU


def test_randomized_relu_train_needs_key():
    with pytest.raises(ValueError, match="randomized_relu.*key"):
        act.randomized_relu(jnp.ones(3), train=True)


def test_randomized_relu_lower_above_upper():
    with pytest.raises(ValueError, match=r"lower.*0\.5.*upper.*0\.2"):
        act.randomized_relu(jnp.ones(3), lower=0.5, upper=0.2)


def test_randomized_relu_eval_uses_mean_slope():
    y = act.randomized_relu(jnp.array([-4.0, -1.0, 0.0, 2.0]), lower=0.1, upper=0.5)
    chex.assert_trees_all_close(y, jnp.array([-1.2, -0.3, 0.0, 2.0]), atol=1e-6)


def test_randomized_relu_train_slopes_in_range():
    lower, upper = 0.125, 1.0 / 3.0
    x = -jnp.linspace(0.5, 2.0, 20_000)
    y = act.randomized_relu(x, key=jax.random.key(1), lower=lower, upper=upper, train=True)
    slopes = np.asarray(y / x)
    assert slopes.min() >= lower - 1e-6 and slopes.max() <= upper + 1e-6
    # drawn per element: spread over the interval, mean near the middle
    assert slopes.max() - slopes.min() > 0.9 * (upper - lower)
    assert abs(slopes.mean() - 0.5 * (lower + upper)) < 0.005
    # positive inputs untouched; same key, same slopes; another key, others
    xp = jnp.linspace(0.1, 1.0, 7)
    chex.assert_trees_all_equal(act.randomized_relu(xp, key=jax.random.key(1), train=True), xp)
    y2 = act.randomized_relu(x, key=jax.random.key(1), lower=lower, upper=upper, train=True)
    chex.assert_trees_all_equal(y, y2)
    y3 = act.randomized_relu(x, key=jax.random.key(2), lower=lower, upper=upper, train=True)
    assert not np.array_equal(np.asarray(y), np.asarray(y3))


# ------------------------------------------------------------------------- numerics


def test_softmax_with_infinities():
    x = jnp.array([[1.0, jnp.inf, 0.0],          # one +inf: one-hot
                   [jnp.inf, 2.0, jnp.inf],      # several: shared
                   [-jnp.inf, 0.0, -jnp.inf],    # -inf entries: 0
                   [-jnp.inf, -jnp.inf, -jnp.inf],  # all -inf: uniform
                   [jnp.inf, jnp.inf, jnp.inf]])
    want = jnp.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0],
                      [1 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3]])
    y = act.softmax(x)
    chex.assert_tree_all_finite(y)
    chex.assert_trees_all_close(y, want, atol=1e-7)
    # along another axis, and the gradient stays finite
    chex.assert_trees_all_close(act.softmax(x.T, axis=0), want.T, atol=1e-7)
    g = jax.grad(lambda x: jnp.sum(act.softmax(x) * jnp.arange(3.0)[None, :]))(x)
    chex.assert_tree_all_finite(g)
    chex.assert_tree_all_finite(jax.jit(act.softmax)(x))


def test_softmax_finite_rows_unchanged():
    x = jnp.asarray(X2)
    chex.assert_trees_all_equal(act.softmax(x), jax.nn.softmax(x))


@pytest.mark.parametrize("x, slope", [(1e30, 1.0), (-1e30, 0.0), (1e4, 1.0), (-1e4, 0.0)])
def test_gelu_tanh_gradient_at_huge_inputs(x, slope):
    g = jax.grad(lambda s: act.gelu(s, approximate=True))(jnp.float32(x))
    assert np.isfinite(float(g)) and float(g) == pytest.approx(slope, abs=1e-6)
    assert float(act.gelu(jnp.float32(x), approximate=True)) == pytest.approx(max(x, 0.0))


def test_gelu_tanh_matches_jax_where_both_are_finite():
    x = jnp.linspace(-30.0, 30.0, 601)
    chex.assert_trees_all_close(act.gelu(x, approximate=True),
                                jax.nn.gelu(x, approximate=True), atol=1e-6, rtol=1e-6)


def test_step_of_nan_is_zero():
    x = jnp.array([jnp.nan, -jnp.inf, jnp.inf, 0.0])
    want = jnp.array([0.0, 0.0, 1.0, 0.0])
    chex.assert_trees_all_equal(act.step(x), want)
    chex.assert_trees_all_equal(jax.jit(act.step)(x), want)


@pytest.mark.parametrize("fn, lo, hi", [(act.sigmoid, 0.0, 1.0), (act.bipolar_sigmoid, -1.0, 1.0)])
@pytest.mark.parametrize("steepness", [1.0, 2.0, 1e10])
def test_sigmoids_saturate_cleanly(fn, lo, hi, steepness):
    x = jnp.array([-1e30, 1e30], jnp.float32)
    chex.assert_trees_all_equal(fn(x, steepness=steepness), jnp.array([lo, hi]))
    g = jax.vmap(jax.grad(lambda s: fn(s, steepness=steepness)))(x)
    chex.assert_trees_all_equal(g, jnp.zeros(2))


# ---------------------------------------------------------- hyperparameters as data

# (id, fn of (x, value), three values)
HYPER = [
    ("step-threshold", lambda x, v: act.step(x, threshold=v), [-1.0, 0.0, 1.0]),
    ("linear-slope", lambda x, v: act.linear(x, slope=v), [0.5, 1.0, 2.0]),
    ("sigmoid-steepness", lambda x, v: act.sigmoid(x, steepness=v), [0.5, 1.0, 2.0]),
    ("bipolar_sigmoid-steepness", lambda x, v: act.bipolar_sigmoid(x, steepness=v),
     [0.5, 1.0, 2.0]),
    ("leaky_relu-negative_slope", lambda x, v: act.leaky_relu(x, negative_slope=v),
     [0.01, 0.1, 0.3]),
    ("randomized_relu-lower", lambda x, v: act.randomized_relu(x, lower=v, upper=0.5),
     [0.0, 0.1, 0.4]),
    ("randomized_relu-upper", lambda x, v: act.randomized_relu(x, lower=0.1, upper=v),
     [0.1, 0.2, 0.9]),
    ("randomized_relu-train", lambda x, v: act.randomized_relu(
        x, lower=0.5 * v, upper=v, key=jax.random.key(0), train=True), [0.1, 0.2, 0.9]),
    ("elu-alpha", lambda x, v: act.elu(x, alpha=v), [0.5, 1.0, 2.0]),
    ("swish-beta", lambda x, v: act.swish(x, beta=v), [0.5, 1.0, 2.0]),
]


@pytest.mark.parametrize("name, fn, values", HYPER, ids=[h[0] for h in HYPER])
def test_vmap_over_hyperparameter(name, fn, values):
    x = jnp.asarray(X)
    got = jax.vmap(lambda v: fn(x, v))(jnp.array(values))
    chex.assert_shape(got, (3,) + X.shape)
    for row, v in zip(got, values):
        chex.assert_trees_all_close(row, fn(x, v), atol=1e-6)
    # one compile for any value under jit, and a gradient with respect to it
    chex.assert_trees_all_close(jax.jit(fn)(x, values[1]), fn(x, values[1]), atol=1e-6)
    chex.assert_tree_all_finite(jax.grad(lambda v: jnp.sum(fn(x, v)))(values[1]))


def test_vmap_over_steepness_as_in_the_docs():
    x = jnp.asarray(X)
    got = jax.vmap(lambda s: act.sigmoid(x, steepness=s))(jnp.array([0.5, 1.0, 2.0]))
    want = np.stack([1.0 / (1.0 + np.exp(-s * X.astype(np.float64))) for s in (0.5, 1.0, 2.0)])
    chex.assert_trees_all_close(got, want.astype(np.float32), atol=2e-6)


def test_traced_parameter_keeps_half_precision():
    x = jnp.asarray(X2, jnp.bfloat16)
    y = jax.vmap(lambda s: act.sigmoid(x, steepness=s))(jnp.array([1.0, 2.0], jnp.float32))
    assert y.dtype == jnp.bfloat16


def test_randomized_relu_traced_bounds_do_not_branch():
    # lower > upper cannot be seen under jit: no TracerBoolConversionError
    f = jax.jit(lambda lo, hi: act.randomized_relu(jnp.array([-1.0]), lower=lo, upper=hi))
    chex.assert_trees_all_close(f(0.2, 0.4), jnp.array([-0.3]), atol=1e-6)


@pytest.mark.parametrize("fn, kwargs, pattern", [
    (act.sigmoid, {"steepness": 0.0}, r"^sigmoid: steepness must be > 0, got 0.0$"),
    (act.bipolar_sigmoid, {"steepness": -1.0}, r"^bipolar_sigmoid: steepness must be > 0, got -1.0$"),
    (act.elu, {"alpha": -0.5}, r"^elu: alpha must be >= 0, got -0.5$"),
    (act.randomized_relu, {"lower": -0.1}, r"^randomized_relu: lower must be >= 0, got -0.1$"),
    (act.linear, {"slope": float("nan")}, r"^linear: slope must be finite, got nan$"),
    (act.leaky_relu, {"negative_slope": "0.1"}, r"^leaky_relu: negative_slope must be a number"),
    (act.swish, {"beta": jnp.ones(2)}, r"^swish: beta must be a real scalar, got an array of "
                                       r"shape \(2,\)"),
], ids=["sigmoid", "bipolar", "elu", "rrelu-lower", "linear-nan", "leaky-str", "swish-array"])
def test_concrete_hyperparameters_are_checked(fn, kwargs, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        fn(jnp.asarray(X), **kwargs)
