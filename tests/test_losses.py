"""Tests for jaxdl.losses: values against hand formulas and Optax, gradients, bad input."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import optax
import pytest

from jaxdl import losses

# ------------------------------------------------------------------ fixed small inputs

P = np.array([[0.5, -1.2, 2.0], [0.1, 0.0, 3.5]])  # regression predictions
T = np.array([[1.0, -1.0, 0.5], [0.0, 0.3, 3.0]])  # regression targets
PP = np.array([[0.5, 1.0, 2.0], [3.0, 0.2, 4.0]])  # positive (for msle)
TP = np.array([[1.0, 0.0, 2.5], [2.0, 0.3, 1.0]])
PROB = np.array([[0.9, 0.2, 0.6], [0.3, 0.8, 0.45]])  # probabilities
BIN = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])  # 0/1 labels
SOFT = np.array([[0.8, 0.1, 1.0], [0.3, 0.0, 0.6]])  # soft binary labels
LOGIT = np.array([[2.0, -1.0, 0.3], [-0.5, 1.5, -2.5]])
SIGNS = np.array([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])  # ±1 labels
SCORES = np.array([[0.3, 0.4, 2.0], [-1.7, 0.8, -0.2]])  # away from the hinge's kink
Z = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, -0.3, 0.8, 2.2], [3.0, 1.0, 1.0, -2.0]])
ONEHOT = np.eye(4)[[1, 3, 0]]
LABELS = np.array([1, 3, 0])
SOFTDIST = np.array([[0.1, 0.6, 0.2, 0.1], [0.0, 0.25, 0.25, 0.5], [0.7, 0.0, 0.3, 0.0]])


def _np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _np_log_softmax(z):
    return np.log(_np_softmax(z))


def _np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _huber(e, d):
    a = np.abs(e)
    return np.where(a <= d, 0.5 * e**2, d * (a - 0.5 * d))


def _kl(q, p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / q), 0.0).sum(-1)


def _reduced(values):
    return {"none": values, "mean": values.mean(), "sum": values.sum()}


Q = _np_softmax(Z)  # predicted class probabilities

# (id, loss, kwargs, predictions, targets, {reduction: numpy reference})
CASES = [
    ("mse", losses.mse, {}, P, T, _reduced((T - P) ** 2)),
    ("rmse", losses.rmse, {}, P, T, {"none": np.abs(T - P),
                                    "mean": np.sqrt(((T - P) ** 2).mean()),
                                    "sum": np.sqrt(((T - P) ** 2).sum())}),
    ("mae", losses.mae, {}, P, T, _reduced(np.abs(T - P))),
    ("msle", losses.msle, {}, PP, TP, _reduced((np.log(1 + TP) - np.log(1 + PP)) ** 2)),
    ("mean_bias_error", losses.mean_bias_error, {}, P, T, _reduced(T - P)),
    ("huber", losses.huber, {}, P, T, _reduced(_huber(T - P, 1.0))),
    ("huber-delta0.4", losses.huber, {"delta": 0.4}, P, T, _reduced(_huber(T - P, 0.4))),
    ("half_sum_squared_error", losses.half_sum_squared_error, {}, P, T,
     _reduced(0.5 * (T - P) ** 2)),
    ("binary_cross_entropy", losses.binary_cross_entropy, {}, PROB, BIN,
     _reduced(-(BIN * np.log(PROB) + (1 - BIN) * np.log(1 - PROB)))),
    ("binary_cross_entropy-soft", losses.binary_cross_entropy, {}, PROB, SOFT,
     _reduced(-(SOFT * np.log(PROB) + (1 - SOFT) * np.log(1 - PROB)))),
    ("binary_cross_entropy_with_logits", losses.binary_cross_entropy_with_logits, {}, LOGIT, SOFT,
     _reduced(-(SOFT * np.log(_np_sigmoid(LOGIT)) + (1 - SOFT) * np.log(1 - _np_sigmoid(LOGIT))))),
    ("hinge", losses.hinge, {}, SCORES, SIGNS, _reduced(np.maximum(0.0, 1.0 - SIGNS * SCORES))),
    ("categorical_cross_entropy", losses.categorical_cross_entropy, {}, Q, ONEHOT,
     _reduced(-(ONEHOT * np.log(Q)).sum(-1))),
    ("categorical_cross_entropy-soft", losses.categorical_cross_entropy, {}, Q, SOFTDIST,
     _reduced(-(SOFTDIST * np.log(Q)).sum(-1))),
    ("softmax_cross_entropy", losses.softmax_cross_entropy, {}, Z, ONEHOT,
     _reduced(-(ONEHOT * _np_log_softmax(Z)).sum(-1))),
    ("sparse_categorical_cross_entropy", losses.sparse_categorical_cross_entropy, {}, Z, LABELS,
     _reduced(-_np_log_softmax(Z)[np.arange(3), LABELS])),
    ("kl_divergence", losses.kl_divergence, {}, Q, SOFTDIST, _reduced(_kl(Q, SOFTDIST))),
]
CASE_IDS = [c[0] for c in CASES]


def test_every_loss_is_covered():
    assert {i.split("-")[0] for i in CASE_IDS} == set(losses.__all__) - {"get", "REDUCTIONS"}


@pytest.mark.parametrize("reduction", losses.REDUCTIONS)
@pytest.mark.parametrize("name, fn, kwargs, p, t, ref", CASES, ids=CASE_IDS)
def test_value_against_formula(name, fn, kwargs, p, t, ref, reduction):
    got = fn(jnp.asarray(p, jnp.float32), jnp.asarray(t), reduction=reduction, **kwargs)
    want = np.asarray(ref[reduction], np.float32)
    chex.assert_shape(got, want.shape)
    assert got.dtype == jnp.float32
    chex.assert_trees_all_close(got, want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name, fn, kwargs, p, t, ref", CASES, ids=CASE_IDS)
def test_default_reduction(name, fn, kwargs, p, t, ref):
    default = "sum" if fn is losses.half_sum_squared_error else "mean"
    chex.assert_trees_all_close(fn(p, t, **kwargs), fn(p, t, reduction=default, **kwargs))


def test_float64_preserved():
    with jax.enable_x64(True):
        got = losses.mse(jnp.asarray(P), jnp.asarray(T))
        assert got.dtype == jnp.float64
        assert float(got) == pytest.approx(((T - P) ** 2).mean(), rel=1e-14)


def test_integer_inputs_are_promoted():
    got = losses.mse(jnp.array([1, 2]), jnp.array([0, 4]))
    assert got.dtype == jnp.float32 and float(got) == 2.5


def test_mean_bias_error_sign():
    # positive when the model under-predicts
    assert float(losses.mean_bias_error(jnp.array([1.0, 1.0]), jnp.array([2.0, 3.0]))) == 1.5


# (id, jaxdl loss, optax equivalent of (p, t) giving per-element/per-example values, p, t,
#  jaxdl reduction that matches `sum` or `mean` of optax's values)
OPTAX = [
    ("huber", lambda p, t: losses.huber(p, t, delta=0.4, reduction="none"),
     lambda p, t: optax.losses.huber_loss(p, t, delta=0.4), P, T),
    ("sigmoid_binary_cross_entropy", lambda p, t: losses.binary_cross_entropy_with_logits(
        p, t, reduction="none"), optax.losses.sigmoid_binary_cross_entropy, LOGIT, SOFT),
    ("binary_cross_entropy_from_probs", lambda p, t: losses.binary_cross_entropy(
        _np_sigmoid(p), t, reduction="none"), optax.losses.sigmoid_binary_cross_entropy, LOGIT,
     SOFT),
    ("hinge", lambda p, t: losses.hinge(p, t, reduction="none"), optax.losses.hinge_loss,
     SCORES, SIGNS),
    ("softmax_cross_entropy", lambda p, t: losses.softmax_cross_entropy(p, t, reduction="none"),
     optax.losses.softmax_cross_entropy, Z, SOFTDIST),
    ("categorical_from_probs", lambda p, t: losses.categorical_cross_entropy(
        _np_softmax(p), t, reduction="none"), optax.losses.softmax_cross_entropy, Z, SOFTDIST),
    ("integer_labels", lambda p, t: losses.sparse_categorical_cross_entropy(
        p, t, reduction="none"), optax.losses.softmax_cross_entropy_with_integer_labels, Z,
     LABELS),
    ("kl_divergence", lambda p, t: losses.kl_divergence(p, t, reduction="none"),
     lambda p, t: optax.losses.kl_divergence(jnp.log(p), t), Q, SOFTDIST),
    ("squared_error", lambda p, t: losses.mse(p, t, reduction="none"),
     optax.losses.squared_error, P, T),
    ("l2_loss", lambda p, t: losses.half_sum_squared_error(p, t, reduction="none"),
     optax.losses.l2_loss, P, T),
]


@pytest.mark.parametrize("name, ours, theirs, p, t", OPTAX, ids=[o[0] for o in OPTAX])
def test_matches_optax(name, ours, theirs, p, t):
    p32 = jnp.asarray(p, jnp.float32)
    t = jnp.asarray(t) if t is LABELS else jnp.asarray(t, jnp.float32)
    chex.assert_trees_all_close(ours(p32, t), theirs(p32, t), atol=2e-6, rtol=1e-5)


def test_reductions_match_optax():
    p, t = jnp.asarray(P, jnp.float32), jnp.asarray(T, jnp.float32)
    chex.assert_trees_all_close(losses.mse(p, t), jnp.mean(optax.losses.squared_error(p, t)))
    chex.assert_trees_all_close(losses.half_sum_squared_error(p, t),
                                jnp.sum(optax.losses.l2_loss(p, t)))
    chex.assert_trees_all_close(losses.rmse(p, t),
                                jnp.sqrt(jnp.mean(optax.losses.squared_error(p, t))))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name, fn, kwargs, p, t, ref", CASES, ids=CASE_IDS)
def test_numerical_gradient(name, fn, kwargs, p, t, ref, reduction):
    with jax.enable_x64(True):
        p64 = jnp.asarray(p, jnp.float64)
        if fn in (losses.sparse_categorical_cross_entropy, losses.kl_divergence):
            # integer labels; KL's P_k log P_k has no derivative at the targets' zeros
            args, f = (p64,), lambda p: fn(p, jnp.asarray(t), reduction=reduction, **kwargs)
        else:
            args = (p64, jnp.asarray(t, jnp.float64))
            f = lambda p, t: fn(p, t, reduction=reduction, **kwargs)  # noqa: E731
        jax.test_util.check_grads(f, args, order=1, modes=("rev",), atol=1e-5, rtol=1e-5,
                                  eps=1e-6)


@pytest.mark.parametrize("reduction", losses.REDUCTIONS)
def test_rmse_gradient_at_perfect_fit_is_zero(reduction):
    t = jnp.asarray(T, jnp.float32)
    g = jax.grad(lambda p: jnp.sum(losses.rmse(p, t, reduction=reduction)))(t)
    chex.assert_tree_all_finite(g)
    chex.assert_trees_all_equal(g, jnp.zeros_like(t))
    assert float(jnp.sum(losses.rmse(t, t, reduction=reduction))) == 0.0


# ---------------------------------------------------------------------- extreme inputs


def test_binary_cross_entropy_confident_and_wrong_is_finite():
    p = jnp.array([0.0, 1.0, 1.0, 0.0])
    t = jnp.array([1.0, 0.0, 1.0, 0.0])
    values = losses.binary_cross_entropy(p, t, reduction="none")
    chex.assert_tree_all_finite(values)
    # -log(eps) = 16.1 (1 - eps rounds to 1 - 1.2e-7 in float32: 15.9 on that side)
    chex.assert_trees_all_close(values[:2], jnp.full(2, -np.log(1e-7)), rtol=0.02)
    chex.assert_trees_all_close(values[2:], jnp.zeros(2), atol=1e-6)
    chex.assert_tree_all_finite(jax.grad(lambda p: losses.binary_cross_entropy(p, t))(p))


@pytest.mark.parametrize(
    "fn, p, t",
    [
        (losses.binary_cross_entropy_with_logits, [[-1e4, 1e4]], [[1.0, 0.0]]),
        (losses.softmax_cross_entropy, [[1e4, -1e4, 0.0]], [[0.0, 1.0, 0.0]]),
        (losses.categorical_cross_entropy, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]),
        (losses.kl_divergence, [[1.0, 0.0, 0.0]], [[0.0, 0.5, 0.5]]),
        (losses.msle, [[-1.0, -5.0]], [[1.0, 2.0]]),
        (losses.huber, [[1e4, -1e4]], [[0.0, 0.0]]),
    ],
    ids=["bce_logits", "softmax_ce", "categorical_ce", "kl", "msle", "huber"],
)
def test_stable_at_extremes(fn, p, t):
    p, t = jnp.array(p), jnp.array(t)
    chex.assert_tree_all_finite(fn(p, t))
    chex.assert_tree_all_finite(jax.grad(fn, argnums=(0, 1))(p, t))


def test_sparse_cross_entropy_stable_at_extremes():
    z = jnp.array([[1e4, -1e4, 0.0]])
    y = jnp.array([1])
    chex.assert_tree_all_finite(losses.sparse_categorical_cross_entropy(z, y))
    chex.assert_tree_all_finite(jax.grad(losses.sparse_categorical_cross_entropy)(z, y))


def test_kl_divergence_of_equal_distributions_is_zero():
    chex.assert_trees_all_close(losses.kl_divergence(SOFTDIST, SOFTDIST, reduction="none"),
                                jnp.zeros(3), atol=1e-6)


# ------------------------------------------------------------------------- bad input

PAIRWISE = [c for c in CASES if c[1] is not losses.sparse_categorical_cross_entropy
            and "-" not in c[0]]


@pytest.mark.parametrize("name, fn, kwargs, p, t, ref", PAIRWISE, ids=[c[0] for c in PAIRWISE])
@pytest.mark.parametrize("p_shape, t_shape", [((4,), (4, 1)), ((2, 3), (3, 2)), ((2, 3), (3,))])
def test_mismatched_shapes(name, fn, kwargs, p, t, ref, p_shape, t_shape):
    with pytest.raises(ValueError, match=rf"^{name}: .*same shape") as info:
        fn(jnp.full(p_shape, 0.5), jnp.full(t_shape, 0.5))
    text = str(info.value)
    assert str(p_shape) in text and str(t_shape) in text


@pytest.mark.parametrize("z_shape, y_shape", [((4, 3), (5,)), ((4, 3), (4, 3)), ((4, 3), (4, 1))])
def test_sparse_cross_entropy_bad_shapes(z_shape, y_shape):
    with pytest.raises(ValueError, match="sparse_categorical_cross_entropy") as info:
        losses.sparse_categorical_cross_entropy(jnp.zeros(z_shape), jnp.zeros(y_shape, jnp.int32))
    assert str(z_shape) in str(info.value) and str(y_shape) in str(info.value)


def test_sparse_cross_entropy_float_labels():
    with pytest.raises(TypeError, match="labels must be integers"):
        losses.sparse_categorical_cross_entropy(jnp.zeros((4, 3)), jnp.zeros(4))


@pytest.mark.parametrize("name, fn, kwargs, p, t, ref", CASES, ids=CASE_IDS)
def test_unknown_reduction(name, fn, kwargs, p, t, ref):
    base = name.split("-")[0]
    with pytest.raises(ValueError,
                       match=rf"^{base}: unknown reduction='avg'; allowed: 'mean', 'sum', 'none'$"):
        fn(p, t, reduction="avg", **kwargs)


def test_huber_rejects_nonpositive_delta():
    with pytest.raises(ValueError, match="huber: delta must be > 0, got 0"):
        losses.huber(P, T, delta=0.0)


def test_get():
    for name in set(losses.__all__) - {"get", "REDUCTIONS"}:
        assert losses.get(name) is getattr(losses, name)
    custom = lambda p, t: jnp.sum(p - t)  # noqa: E731
    assert losses.get(custom) is custom


def test_get_unknown_lists_allowed():
    with pytest.raises(ValueError,
                       match=r"unknown loss 'foo'; allowed: mse, rmse, .*kl_divergence"):
        losses.get("foo")
