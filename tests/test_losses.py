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
    # (mean, log_variance) of a diagonal Gaussian, KL from N(0, I)
    ("gaussian_kl_divergence", losses.gaussian_kl_divergence, {}, P, T,
     _reduced(0.5 * (np.exp(T) + P ** 2 - 1.0 - T).sum(-1))),
]
CASE_IDS = [c[0] for c in CASES]


def test_every_loss_is_covered():
    assert {i.split("-")[0] for i in CASE_IDS} == set(losses.__all__) - {"get", "REDUCTIONS", "NAMED", "ALIASES"}


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
        # under jit: the finite differences nudge 0/1 and ±1 targets out of their range,
        # which the concrete-value checks would refuse
        jax.test_util.check_grads(jax.jit(f), args, order=1, modes=("rev",), atol=1e-5, rtol=1e-5,
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


@pytest.mark.parametrize("delta", [0.0, -1.0, np.float32(-0.5)])
def test_huber_rejects_nonpositive_delta(delta):
    with pytest.raises(ValueError, match=rf"^huber: delta must be > 0, got {float(delta)!r}$"):
        losses.huber(P, T, delta=delta)


def test_get():
    not_pairs = {"gaussian_kl_divergence"}  # (mean, log_variance): not a (predictions, targets) loss
    for name in set(losses.__all__) - {"get", "REDUCTIONS", "NAMED", "ALIASES"} - not_pairs:
        assert losses.get(name) is getattr(losses, name)
    with pytest.raises(ValueError, match="unknown loss='gaussian_kl_divergence'"):
        losses.get("gaussian_kl_divergence")  # fit(loss=...) must not read it as one
    custom = lambda p, t: jnp.sum(p - t)  # noqa: E731
    assert losses.get(custom) is custom


def test_get_unknown_lists_allowed():
    with pytest.raises(ValueError, match=r"^losses.get: unknown loss='foo'; allowed: 'mse', "
                                         r"'rmse', .*'kl_divergence'$"):
        losses.get("foo")


@pytest.mark.parametrize("name, hint", [
    ("mse_loss", "mse"), ("MSE", "mse"), ("mean_squared_error", "mse"),
    ("binary_crossentropy", "binary_cross_entropy"), ("huber_loss", "huber"),
    ("categorical_crossentropy", "categorical_cross_entropy"),
    ("sparse_categorical_crossentropy", "sparse_categorical_cross_entropy"),
    ("bce_with_logits", "binary_cross_entropy_with_logits"), ("kl_div", "kl_divergence"),
])
def test_get_mistyped_name_gets_a_hint(name, hint):
    with pytest.raises(ValueError, match=rf"^losses.get: unknown loss='{name}'; allowed: "
                                         rf".*; did you mean '{hint}'\?$"):
        losses.get(name)


@pytest.mark.parametrize("value", [None, 3, ["mse"]])
def test_get_rejects_non_names(value):
    with pytest.raises(TypeError, match=r"^losses.get: loss must be a loss function or a "
                                        r"name .*got " + repr(value).replace("[", r"\[")):
        losses.get(value)


# --------------------------------------------------------------------------- where=
# A (batch=2, time=3, features=2) sequence batch with lengths 2 and 1: the mask
# (batch, time) is a leading part of the per-element loss shape and broadcasts over features.

SEQ_P = np.array([[[1.0, 2.0], [0.0, 1.0], [9.0, 9.0]],
                  [[3.0, 3.0], [9.0, 9.0], [9.0, 9.0]]])
SEQ_T = np.array([[[0.0, 2.0], [1.0, 1.0], [0.0, 0.0]],
                  [[1.0, 3.0], [0.0, 0.0], [0.0, 0.0]]])
LENGTHS = np.array([2, 1])
SEQ_MASK = np.arange(3) < LENGTHS[:, None]  # (batch, time)


def test_where_by_hand_mse_sequence_mask():
    # selected squared errors: (1, 0), (1, 0), (4, 0): sum 6 over 6 selected elements
    mask = jnp.asarray(SEQ_MASK)
    p, t = jnp.asarray(SEQ_P, jnp.float32), jnp.asarray(SEQ_T, jnp.float32)
    assert float(losses.mse(p, t, where=mask)) == 1.0
    assert float(losses.mse(p, t, where=mask, reduction="sum")) == 6.0
    none = losses.mse(p, t, where=mask, reduction="none")
    chex.assert_shape(none, (2, 3, 2))
    want = np.where(SEQ_MASK[..., None], (SEQ_T - SEQ_P) ** 2, 0.0)
    chex.assert_trees_all_equal(none, jnp.asarray(want, jnp.float32))
    # rmse: sqrt of the masked mean; mae: (1 + 0 + 1 + 0 + 2 + 0) / 6
    assert float(losses.rmse(p, t, where=mask)) == 1.0
    assert float(losses.mae(p, t, where=mask)) == pytest.approx(4.0 / 6.0)


def test_where_full_shape_and_int_mask():
    p, t = jnp.array([1.0, 2.0, 3.0, 4.0]), jnp.array([0.0, 0.0, 0.0, 0.0])
    # selected: 1 and 3 -> squared 1 and 9
    for where in (jnp.array([True, False, True, False]), jnp.array([1, 0, 1, 0]),
                  np.array([1.0, 0.0, 1.0, 0.0])):
        assert float(losses.mse(p, t, where=where)) == 5.0
        assert float(losses.mse(p, t, where=where, reduction="sum")) == 10.0
        chex.assert_trees_all_equal(losses.mse(p, t, where=where, reduction="none"),
                                    jnp.array([1.0, 0.0, 9.0, 0.0]))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_where_all_false_gives_zero_not_nan(reduction):
    p, t = jnp.asarray(P, jnp.float32), jnp.asarray(T, jnp.float32)
    none_selected = jnp.zeros(P.shape, bool)
    for fn in (losses.mse, losses.rmse, losses.huber, losses.binary_cross_entropy_with_logits):
        value = fn(p, t, where=none_selected, reduction=reduction)
        assert float(value) == 0.0
        g = jax.grad(lambda p: fn(p, t, where=none_selected, reduction=reduction))(p)
        chex.assert_trees_all_equal(g, jnp.zeros_like(p))


def test_where_distribution_losses_by_hand():
    # logits (batch=2, time=2, classes=3); the second sequence has length 1
    z = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]],
                           [[0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]]]))
    labels = jnp.array([[0, 1], [2, -1]])  # -1: padding
    mask = jnp.array([[True, True], [True, False]])
    want = -(np.log(0.5) + np.log(0.6) + np.log(0.8)) / 3
    got = losses.sparse_categorical_cross_entropy(z, labels, where=mask)
    assert float(got) == pytest.approx(want, rel=1e-6)
    onehot = jax.nn.one_hot(jnp.where(mask, labels, 0), 3)
    assert float(losses.softmax_cross_entropy(z, onehot, where=mask)) == pytest.approx(
        want, rel=1e-6)
    assert float(losses.categorical_cross_entropy(jax.nn.softmax(z), onehot, where=mask)) == \
        pytest.approx(want, rel=1e-5)
    none = losses.sparse_categorical_cross_entropy(z, labels, where=mask, reduction="none")
    chex.assert_shape(none, (2, 2))
    assert float(none[1, 1]) == 0.0
    # a (batch,) mask is a leading part of the (batch, time) per-example shape
    first_only = losses.sparse_categorical_cross_entropy(z, labels, where=jnp.array([True, False]))
    assert float(first_only) == pytest.approx(-(np.log(0.5) + np.log(0.6)) / 2, rel=1e-6)
    # the gradient does not reach the padded step
    g = jax.grad(lambda z: losses.sparse_categorical_cross_entropy(z, labels, where=mask))(z)
    chex.assert_trees_all_equal(g[1, 1], jnp.zeros(3))
    chex.assert_tree_all_finite(g)


@pytest.mark.parametrize("reduction", losses.REDUCTIONS)
@pytest.mark.parametrize("name, fn, kwargs, p, t, ref", CASES, ids=CASE_IDS)
def test_where_against_reference(name, fn, kwargs, p, t, ref, reduction):
    # a mask over the first axis, (batch,), broadcast over the rest: keep row 1 only
    values = np.asarray(ref["none"], np.float64)
    mask = np.arange(values.shape[0]) == 1
    got = fn(jnp.asarray(p, jnp.float32), jnp.asarray(t), reduction=reduction, where=mask,
             **kwargs)
    keep = np.broadcast_to(mask.reshape(mask.shape + (1,) * (values.ndim - 1)), values.shape)
    if fn is losses.rmse:
        sq = np.where(keep, np.square(values), 0.0)
        want = {"none": np.sqrt(sq), "sum": np.sqrt(sq.sum()),
                "mean": np.sqrt(sq.sum() / keep.sum())}[reduction]
    else:
        masked = np.where(keep, values, 0.0)
        want = {"none": masked, "sum": masked.sum(), "mean": masked.sum() / keep.sum()}[reduction]
    chex.assert_shape(got, np.shape(want))
    chex.assert_trees_all_close(got, np.asarray(want, np.float32), atol=1e-6, rtol=1e-5)
    # all-True is the same as no mask
    everything = np.ones(values.shape, bool)
    chex.assert_trees_all_close(
        fn(jnp.asarray(p, jnp.float32), jnp.asarray(t), reduction=reduction,
           where=everything, **kwargs),
        fn(jnp.asarray(p, jnp.float32), jnp.asarray(t), reduction=reduction, **kwargs),
        atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name, fn, kwargs, p, t, ref", CASES, ids=CASE_IDS)
def test_where_under_jit(name, fn, kwargs, p, t, ref):
    mask = jnp.arange(np.shape(ref["none"])[0]) != 0
    f = jax.jit(lambda p, t, w: fn(p, t, where=w, **kwargs))
    got = f(jnp.asarray(p, jnp.float32), jnp.asarray(t), mask)
    want = fn(jnp.asarray(p, jnp.float32), jnp.asarray(t), where=mask, **kwargs)
    chex.assert_trees_all_close(got, want, atol=1e-6, rtol=1e-6)
    # and differentiable through it
    chex.assert_tree_all_finite(jax.grad(lambda p: f(p, jnp.asarray(t), mask))(
        jnp.asarray(p, jnp.float32)))


@pytest.mark.parametrize("name, fn, kwargs, p, t, ref", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("kind", ["wrong_batch", "extra_axis", "trailing_part"])
def test_where_bad_shape(name, fn, kwargs, p, t, ref, kind):
    per_element = np.shape(ref["none"])
    where_shape = {"wrong_batch": (per_element[0] + 1,), "extra_axis": per_element + (1,),
                   "trailing_part": per_element[1:] or (per_element[0] + 2,)}[kind]
    base = name.split("-")[0]
    with pytest.raises(ValueError, match=rf"^{base}: where must have the per-element loss "
                                         rf"shape") as info:
        fn(p, t, where=np.ones(where_shape, bool), **kwargs)
    assert str(per_element) in str(info.value) and str(where_shape) in str(info.value)


def test_where_values_other_than_zero_one():
    with pytest.raises(ValueError, match=r"^mse: where must be a boolean mask .*got 2 at "
                                         r"index \(1,\)"):
        losses.mse(jnp.zeros(3), jnp.zeros(3), where=jnp.array([1, 2, 0]))


# --------------------------------------------------------- hyperparameters as data


def test_vmap_over_huber_delta():
    p, t = jnp.asarray(P, jnp.float32), jnp.asarray(T, jnp.float32)
    deltas = jnp.array([0.2, 0.4, 1.0])
    got = jax.vmap(lambda d: losses.huber(p, t, delta=d))(deltas)
    want = [_huber(T - P, d).mean() for d in (0.2, 0.4, 1.0)]
    chex.assert_trees_all_close(got, jnp.asarray(want, jnp.float32), atol=1e-6)
    # jit with delta as an argument: one compile, any delta; and a gradient in delta
    f = jax.jit(lambda d: losses.huber(p, t, delta=d))
    assert float(f(0.4)) == pytest.approx(float(_huber(T - P, 0.4).mean()), rel=1e-6)
    chex.assert_tree_all_finite(jax.grad(f)(0.4))


@pytest.mark.parametrize("fn, p, t", [
    (losses.binary_cross_entropy, jnp.array([0.0, 0.5, 1.0]), jnp.array([1.0, 1.0, 0.0])),
    (losses.categorical_cross_entropy, jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 0.0]])),
    (losses.kl_divergence, jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 0.0]])),
], ids=["binary", "categorical", "kl"])
def test_vmap_over_eps(fn, p, t):
    eps = jnp.array([1e-7, 1e-3, 1e-2])
    got = jax.vmap(lambda e: fn(p, t, eps=e, reduction="sum"))(eps)
    want = jnp.stack([fn(p, t, eps=float(e), reduction="sum") for e in eps])
    chex.assert_trees_all_close(got, want, rtol=1e-5)
    assert float(got[0]) > float(got[1]) > float(got[2])  # -log(eps) grows as eps shrinks


# ------------------------------------------------------------- nonsense is refused


@pytest.mark.parametrize("fn, p, t, pattern", [
    (losses.binary_cross_entropy, [0.5, 1.2], [0.0, 1.0],
     r"^binary_cross_entropy: probabilities must be in \[0, 1\].*got 1.2\d* at index \(1,\)"),
    (losses.binary_cross_entropy, [0.5, 0.2], [2.0, 1.0],
     r"^binary_cross_entropy: targets must be in \[0, 1\].*got 2.0 at index \(0,\)"),
    (losses.binary_cross_entropy_with_logits, [3.0, -2.0], [1.0, -1.0],
     r"^binary_cross_entropy_with_logits: targets must be in \[0, 1\].*got -1.0 at index \(1,\)"),
    (losses.hinge, [0.3, -0.2], [1.0, 0.0],
     r"^hinge: targets must be -1 or \+1; got 0.0 at index \(1,\).*2 \* y - 1"),
    (losses.categorical_cross_entropy, [[0.5, 0.5], [-0.1, 1.1]], [[1.0, 0.0], [0.0, 1.0]],
     r"^categorical_cross_entropy: probabilities must be in \[0, 1\].*at index \(1, 0\)"),
    (losses.kl_divergence, [[0.5, 0.5]], [[1.5, -0.5]],
     r"^kl_divergence: targets must be in \[0, 1\]; got 1.5 at index \(0, 0\)"),
    (losses.softmax_cross_entropy, [[0.5, 0.5]], [[3.0, 0.0]],
     r"^softmax_cross_entropy: targets must be in \[0, 1\].*got 3.0 at index \(0, 0\)"),
], ids=["bce-prob", "bce-target", "bce-logits-target", "hinge", "cce", "kl", "softmax_ce"])
def test_nonsense_values_refused_when_concrete(fn, p, t, pattern):
    with pytest.raises(ValueError, match=pattern):
        fn(jnp.array(p), jnp.array(t))
    # under jit the values are unknown: no check, and no TracerBoolConversionError
    chex.assert_tree_all_finite(jax.jit(fn)(jnp.array(p), jnp.array(t)))


@pytest.mark.parametrize("label, index", [(3, 1), (-1, 0)])
def test_sparse_cross_entropy_labels_out_of_range(label, index):
    labels = jnp.array([2, 0]).at[index].set(label)
    with pytest.raises(ValueError, match=rf"^sparse_categorical_cross_entropy: labels must be in "
                                         rf"\[0, 3\).*got {label} at index \({index},\)"):
        losses.sparse_categorical_cross_entropy(jnp.zeros((2, 3)), labels)
    # masked-out labels are not checked (padding with -1)
    mask = jnp.arange(2) != index
    chex.assert_tree_all_finite(
        losses.sparse_categorical_cross_entropy(jnp.zeros((2, 3)), labels, where=mask))


def test_nan_probability_is_refused():
    with pytest.raises(ValueError, match=r"probabilities must be in \[0, 1\]; got nan"):
        losses.binary_cross_entropy(jnp.array([0.5, jnp.nan]), jnp.array([1.0, 0.0]))


# ---------------------------------------------------------------- clipping, precision


def test_probability_form_clip_has_zero_gradient_logit_form_does_not():
    # the course's clipped formula: a confidently wrong probability (below eps) stops learning
    g = jax.grad(lambda p: losses.binary_cross_entropy(p, jnp.array([1.0])))(jnp.array([0.0]))
    chex.assert_trees_all_equal(g, jnp.zeros(1))
    g = jax.grad(lambda p: losses.categorical_cross_entropy(p, jnp.array([[1.0, 0.0]])))(
        jnp.array([[0.0, 1.0]]))
    assert float(g[0, 0]) == 0.0
    # the logit forms keep the gradient sigmoid(z) - y (here -1) and softmax(z) - y
    g = jax.grad(lambda z: losses.binary_cross_entropy_with_logits(z, jnp.array([1.0])))(
        jnp.array([-40.0]))
    chex.assert_trees_all_close(g, jnp.array([-1.0]), atol=1e-6)
    g = jax.grad(lambda z: losses.sparse_categorical_cross_entropy(z, jnp.array([0])))(
        jnp.array([[-40.0, 40.0]]))
    chex.assert_trees_all_close(g, jnp.array([[-1.0, 1.0]]), atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_probability_losses_in_half_precision_are_finite(dtype):
    # 1 - 1e-7 rounds to 1 in half precision; computed (and returned) in float32, no log(0)
    # or 0·inf: every loss widens half-precision predictions (mixed-precision training)
    p = jnp.array([1.0, 0.0, 1.0, 0.0], dtype)
    t = jnp.array([1.0, 0.0, 0.0, 1.0], dtype)
    for fn in (losses.binary_cross_entropy, lambda p, t: losses.categorical_cross_entropy(
            p[None], t[None]), lambda p, t: losses.kl_divergence(p[None], t[None])):
        value = fn(p, t)
        assert value.dtype == jnp.float32
        chex.assert_tree_all_finite(value)
        chex.assert_tree_all_finite(jax.grad(lambda p: fn(p, t).astype(jnp.float32))(p))
