"""Bad input to every public loss, metric, activation and initialiser (and the three ``get``s).

Each case asserts the exception type, that the message starts with the function's name,
and that it shows what was received (the value, the dtype or the shape). Nothing here
may pass silently, broadcast, or come back as NaN.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import activations as act
from jaxdl import initializers as inits
from jaxdl import losses, metrics

KEY = jax.random.key(0)
V = jnp.array([0.2, 0.7, 0.5])           # a valid (3,) float input: probabilities, 0..1
B = jnp.array([0.0, 1.0, 1.0])           # valid 0/1 targets
Z = jnp.zeros((2, 3))                    # logits / probabilities (batch, classes)
ONEHOT = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
LAB = jnp.array([0, 2])

# Every pairwise loss (predictions, targets of the same shape) with a valid pair.
PAIRWISE = {
    "mse": (losses.mse, V, B), "rmse": (losses.rmse, V, B), "mae": (losses.mae, V, B),
    "msle": (losses.msle, V, B), "mean_bias_error": (losses.mean_bias_error, V, B),
    "huber": (losses.huber, V, B),
    "half_sum_squared_error": (losses.half_sum_squared_error, V, B),
    "binary_cross_entropy": (losses.binary_cross_entropy, V, B),
    "binary_cross_entropy_with_logits": (losses.binary_cross_entropy_with_logits, V, B),
    "hinge": (losses.hinge, V, 2 * B - 1),
    "categorical_cross_entropy": (losses.categorical_cross_entropy, jnp.full((2, 3), 1 / 3),
                                  ONEHOT),
    "softmax_cross_entropy": (losses.softmax_cross_entropy, Z, ONEHOT),
    "kl_divergence": (losses.kl_divergence, jnp.full((2, 3), 1 / 3), ONEHOT),
    "gaussian_kl_divergence": (losses.gaussian_kl_divergence, Z, 0.1 * Z),  # (mean, log_var)
}
ALL_LOSSES = {**PAIRWISE, "sparse_categorical_cross_entropy": (
    losses.sparse_categorical_cross_entropy, Z, LAB)}

# (id, thunk, exception type, function name the message starts with, substrings it shows)
CASES: list[tuple[str, object, type, str, tuple[str, ...]]] = []


def case(id_, thunk, exc, name, *shows):
    CASES.append((id_, thunk, exc, name, shows))


# ----------------------------------------------------------------------------- losses
for name, (fn, p, t) in ALL_LOSSES.items():
    case(f"{name}-string-predictions", lambda fn=fn, t=t: fn("abc", t), TypeError, name,
         "'abc'")
    case(f"{name}-none-targets", lambda fn=fn, p=p: fn(p, None), TypeError, name, "None")
    case(f"{name}-list-of-strings", lambda fn=fn, t=t: fn([["a", "b", "c"]] * 2, t), TypeError,
         name, "<U1")
    case(f"{name}-complex", lambda fn=fn, p=p, t=t: fn(p.astype(jnp.complex64), t), TypeError,
         name, "complex64")
    case(f"{name}-reduction-avg", lambda fn=fn, p=p, t=t: fn(p, t, reduction="avg"),
         ValueError, name, "reduction='avg'", "'mean'")
    case(f"{name}-reduction-none-object", lambda fn=fn, p=p, t=t: fn(p, t, reduction=None),
         TypeError, name, "None")
    case(f"{name}-where-bad-shape",
         lambda fn=fn, p=p, t=t: fn(p, t, where=jnp.ones((4,), bool)), ValueError, name,
         "(4,)")
    case(f"{name}-where-strings", lambda fn=fn, p=p, t=t: fn(p, t, where="all"), TypeError,
         name, "'all'")

for name, (fn, p, t) in PAIRWISE.items():
    case(f"{name}-shape-mismatch", lambda fn=fn, p=p: fn(p, jnp.zeros((4, 1))), ValueError,
         name, str(tuple(p.shape)), "(4, 1)")

for name in ("binary_cross_entropy", "categorical_cross_entropy", "kl_divergence"):
    fn, p, t = PAIRWISE[name]
    case(f"{name}-negative-eps", lambda fn=fn, p=p, t=t: fn(p, t, eps=-1e-7), ValueError, name,
         "eps", "-1e-07")
    case(f"{name}-eps-string", lambda fn=fn, p=p, t=t: fn(p, t, eps="small"), TypeError, name,
         "'small'")
    case(f"{name}-probability-above-one",
         lambda fn=fn, p=p, t=t: fn(p.at[(0,) * p.ndim].set(1.5), t), ValueError, name, "1.5",
         str((0,) * p.ndim))

case("binary_cross_entropy-target-2", lambda: losses.binary_cross_entropy(V, B.at[2].set(2.0)),
     ValueError, "binary_cross_entropy", "got 2.0 at index (2,)")
case("binary_cross_entropy_with_logits-target-2",
     lambda: losses.binary_cross_entropy_with_logits(V, B.at[0].set(2.0)), ValueError,
     "binary_cross_entropy_with_logits", "got 2.0 at index (0,)")
case("hinge-target-0", lambda: losses.hinge(V, B), ValueError, "hinge", "got 0.0 at index (0,)")
case("kl_divergence-negative-target",
     lambda: losses.kl_divergence(jnp.full((2, 3), 1 / 3), ONEHOT.at[1, 1].set(-0.5)),
     ValueError, "kl_divergence", "-0.5", "(1, 1)")
case("sparse-label-equal-to-classes",
     lambda: losses.sparse_categorical_cross_entropy(Z, jnp.array([0, 3])), ValueError,
     "sparse_categorical_cross_entropy", "got 3 at index (1,)", "[0, 3)")
case("sparse-label-minus-one",
     lambda: losses.sparse_categorical_cross_entropy(Z, jnp.array([-1, 0])), ValueError,
     "sparse_categorical_cross_entropy", "got -1 at index (0,)")
case("sparse-float-labels",
     lambda: losses.sparse_categorical_cross_entropy(Z, jnp.array([0.0, 1.0])), TypeError,
     "sparse_categorical_cross_entropy", "float32")
case("sparse-scalar-logits",
     lambda: losses.sparse_categorical_cross_entropy(jnp.float32(1.0), jnp.int32(0)), ValueError,
     "sparse_categorical_cross_entropy", "logits ()")
case("sparse-one-hot-labels", lambda: losses.sparse_categorical_cross_entropy(Z, ONEHOT),
     ValueError, "sparse_categorical_cross_entropy", "(2, 3)")
case("huber-delta-zero", lambda: losses.huber(V, B, delta=0.0), ValueError, "huber",
     "delta", "0.0")
case("huber-delta-string", lambda: losses.huber(V, B, delta="1"), TypeError, "huber", "'1'")
case("huber-delta-array", lambda: losses.huber(V, B, delta=jnp.ones(3)), TypeError, "huber",
     "(3,)")
case("categorical-axis-out-of-range",
     lambda: losses.categorical_cross_entropy(jnp.full((2, 3), 1 / 3), ONEHOT, axis=2),
     ValueError, "categorical_cross_entropy", "axis=2")
case("softmax_cross_entropy-axis-float",
     lambda: losses.softmax_cross_entropy(Z, ONEHOT, axis=1.0), TypeError,
     "softmax_cross_entropy", "1.0")
case("where-value-2", lambda: losses.mse(V, B, where=jnp.array([1, 2, 0])), ValueError, "mse",
     "got 2 at index (1,)")
case("losses.get-mistyped", lambda: losses.get("mse_loss"), ValueError, "losses.get",
     "'mse_loss'", "did you mean 'mse'?")
case("losses.get-unknown", lambda: losses.get("foo"), ValueError, "losses.get", "'foo'")
case("losses.get-none", lambda: losses.get(None), TypeError, "losses.get", "None")
case("losses.get-list", lambda: losses.get(["mse"]), TypeError, "losses.get", "['mse']")

# ---------------------------------------------------------------------------- metrics
OUT = jnp.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
case("accuracy-label-3", lambda: metrics.accuracy(OUT, jnp.array([1, 3])), ValueError,
     "accuracy", "got 3 at index (1,)", "[0, 3)")
case("accuracy-label-minus-one", lambda: metrics.accuracy(OUT, jnp.array([-1, 0])),
     ValueError, "accuracy", "got -1 at index (0,)")
case("accuracy-float-labels", lambda: metrics.accuracy(OUT, jnp.array([1.0, 0.0])), TypeError,
     "accuracy", "float32")
case("accuracy-shape", lambda: metrics.accuracy(OUT, jnp.array([1, 0, 0])), ValueError,
     "accuracy", "(2, 3)", "(3,)")
case("accuracy-strings", lambda: metrics.accuracy(OUT, ["a", "b"]), TypeError, "accuracy",
     "<U1")
case("accuracy-none", lambda: metrics.accuracy(None, LAB), TypeError, "accuracy", "None")
case("accuracy-scalar-outputs", lambda: metrics.accuracy(jnp.float32(1.0), jnp.int32(0)),
     ValueError, "accuracy", "()")
case("accuracy-where-shape", lambda: metrics.accuracy(OUT, LAB, where=jnp.ones((2, 3), bool)),
     ValueError, "accuracy", "(2, 3)", "(2,)")
case("binary_accuracy-target-2",
     lambda: metrics.binary_accuracy(V, jnp.array([0, 2, 1])), ValueError, "binary_accuracy",
     "got 2 at index (1,)")
case("binary_accuracy-shape", lambda: metrics.binary_accuracy(V, jnp.zeros((3, 1))), ValueError,
     "binary_accuracy", "(3,)", "(3, 1)")
case("binary_accuracy-threshold-string", lambda: metrics.binary_accuracy(V, B, threshold="0.5"),
     TypeError, "binary_accuracy", "'0.5'")
case("binary_accuracy-complex",
     lambda: metrics.binary_accuracy(V.astype(jnp.complex64), B), TypeError, "binary_accuracy",
     "complex64")
case("confusion_matrix-label-out-of-range",
     lambda: metrics.confusion_matrix(jnp.array([0, 1]), jnp.array([0, 5]), 3), ValueError,
     "confusion_matrix", "got 5 at index (1,)")
case("confusion_matrix-predicted-negative",
     lambda: metrics.confusion_matrix(jnp.array([-2, 1]), jnp.array([0, 1]), 3), ValueError,
     "confusion_matrix", "got -2 at index (0,)")
case("confusion_matrix-float-predicted",
     lambda: metrics.confusion_matrix(jnp.array([0.2, 0.8]), jnp.array([0, 1]), 2), TypeError,
     "confusion_matrix", "float32", "argmax")
case("confusion_matrix-num-classes-zero",
     lambda: metrics.confusion_matrix(LAB, LAB, 0), ValueError, "confusion_matrix",
     "num_classes", "0")
case("confusion_matrix-num-classes-float",
     lambda: metrics.confusion_matrix(LAB, LAB, 3.0), TypeError, "confusion_matrix", "3.0")
case("confusion_matrix-shape",
     lambda: metrics.confusion_matrix(jnp.zeros((2, 2), jnp.int32), LAB, 3), ValueError,
     "confusion_matrix", "(2, 2)", "(2,)")
case("metrics.get-mistyped", lambda: metrics.get("acc"), ValueError, "metrics.get", "'acc'",
     "did you mean 'accuracy'?")
case("metrics.get-unknown", lambda: metrics.get("f1"), ValueError, "metrics.get", "'f1'",
     "'binary_accuracy'")
case("metrics.get-none", lambda: metrics.get(None), TypeError, "metrics.get", "None")

# ------------------------------------------------------------------------ activations
ELEMENTWISE = {
    "step": act.step, "linear": act.linear, "sigmoid": act.sigmoid,
    "bipolar_sigmoid": act.bipolar_sigmoid, "tanh": act.tanh, "relu": act.relu,
    "leaky_relu": act.leaky_relu, "randomized_relu": act.randomized_relu,
    "softmax": act.softmax, "elu": act.elu, "gelu": act.gelu, "swish": act.swish,
}
for name, fn in ELEMENTWISE.items():
    case(f"{name}-string", lambda fn=fn: fn("1.0"), TypeError, name, "'1.0'")
    case(f"{name}-none", lambda fn=fn: fn(None), TypeError, name, "None")
    case(f"{name}-complex", lambda fn=fn: fn(jnp.array([1 + 2j])), TypeError, name, "complex64")

case("step-threshold-nan", lambda: act.step(V, threshold=float("nan")), ValueError, "step",
     "threshold", "nan")
case("linear-slope-list", lambda: act.linear(V, slope=[1.0, 2.0]), TypeError, "linear",
     "[1.0, 2.0]")
case("sigmoid-steepness-zero", lambda: act.sigmoid(V, steepness=0), ValueError, "sigmoid",
     "steepness", "0.0")
case("sigmoid-steepness-string", lambda: act.sigmoid(V, steepness="2"), TypeError, "sigmoid",
     "'2'")
case("bipolar_sigmoid-steepness-negative", lambda: act.bipolar_sigmoid(V, steepness=-2.0),
     ValueError, "bipolar_sigmoid", "-2.0")
case("leaky_relu-slope-inf", lambda: act.leaky_relu(V, negative_slope=float("inf")),
     ValueError, "leaky_relu", "inf")
case("randomized_relu-lower-above-upper",
     lambda: act.randomized_relu(V, lower=0.5, upper=0.2), ValueError, "randomized_relu",
     "0.5", "0.2")
case("randomized_relu-train-no-key", lambda: act.randomized_relu(V, train=True), ValueError,
     "randomized_relu", "key=None")
case("randomized_relu-train-string", lambda: act.randomized_relu(V, train="yes"), TypeError,
     "randomized_relu", "'yes'")
case("randomized_relu-bad-key", lambda: act.randomized_relu(V, train=True, key="k"),
     TypeError, "randomized_relu", "str")
case("softmax-axis-out-of-range", lambda: act.softmax(Z, axis=2), ValueError, "softmax",
     "axis=2", "(2, 3)")
case("softmax-axis-none", lambda: act.softmax(Z, axis=None), TypeError, "softmax", "None")
case("elu-alpha-negative", lambda: act.elu(V, alpha=-1.0), ValueError, "elu", "-1.0")
case("gelu-approximate-string", lambda: act.gelu(V, approximate="tanh"), TypeError, "gelu",
     "'tanh'")
case("swish-beta-none", lambda: act.swish(V, beta=None), TypeError, "swish", "None")

# ----------------------------------------------------------------------- initialisers
RANDOM = {
    "uniform": inits.uniform(), "normal": inits.normal(),
    "glorot_uniform": inits.glorot_uniform(), "glorot_normal": inits.glorot_normal(),
    "xavier_uniform": inits.xavier_uniform(), "xavier_normal": inits.xavier_normal(),
    "he_uniform": inits.he_uniform(), "he_normal": inits.he_normal(),
    "lecun_normal": inits.lecun_normal(), "orthogonal": inits.orthogonal(),
}
INIT_NAME = {"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal"}
for id_, init in RANDOM.items():
    name = INIT_NAME.get(id_, id_)
    case(f"{id_}-shape-int", lambda init=init: init(KEY, 5), TypeError, name, "5", "(5,)")
    case(f"{id_}-shape-negative", lambda init=init: init(KEY, (3, -2)), ValueError, name,
         "(3, -2)")
    case(f"{id_}-shape-strings", lambda init=init: init(KEY, ("3", "2")), TypeError, name,
         "('3', '2')")
    case(f"{id_}-int-dtype", lambda init=init: init(KEY, (3, 2), jnp.int32), TypeError, name,
         "int32")
    case(f"{id_}-key-string", lambda init=init: init("key", (3, 2)), TypeError, name, "str")

for name, init in {"zeros": inits.zeros, "ones": inits.ones,
                   "constant": inits.constant(0.5)}.items():
    case(f"{name}-shape-none", lambda init=init: init(KEY, None), TypeError, name, "None")
    case(f"{name}-bad-dtype", lambda init=init: init(KEY, (2,), "floaty"), TypeError, name,
         "'floaty'")

case("he_normal-dtype-none", lambda: inits.he_normal()(KEY, (3, 2), None), TypeError,
     "he_normal", "None")
case("orthogonal-rank-1", lambda: inits.orthogonal()(KEY, (5,)), ValueError, "orthogonal",
     "(5,)", "rank >= 2")
case("glorot_uniform-rank-0", lambda: inits.glorot_uniform()(KEY, ()), ValueError,
     "glorot_uniform", "()")
case("uniform-low-above-high", lambda: inits.uniform(0.5, -0.5), ValueError, "uniform",
     "0.5", "-0.5")
case("uniform-low-string", lambda: inits.uniform("a", 1.0), TypeError, "uniform", "'a'")
case("normal-std-negative", lambda: inits.normal(std=-0.1), ValueError, "normal", "-0.1")
case("constant-none", lambda: inits.constant(None), TypeError, "constant", "None")
case("orthogonal-scale-inf", lambda: inits.orthogonal(float("inf")), ValueError, "orthogonal",
     "inf")
case("compute_fans-string", lambda: inits.compute_fans("3x3"), TypeError, "compute_fans",
     "'3x3'")
case("compute_fans-scalar", lambda: inits.compute_fans(()), ValueError, "compute_fans", "()")
case("xavier_limit-negative", lambda: inits.xavier_limit(-1, 4), ValueError, "xavier_limit",
     "-1")
case("xavier_limit-float", lambda: inits.xavier_limit(2.5, 4), TypeError, "xavier_limit", "2.5")
case("xavier_limit-zero-zero", lambda: inits.xavier_limit(0, 0), ValueError, "xavier_limit",
     "fan_in=0")
case("initializers.get-mistyped", lambda: inits.get("glorot"), ValueError, "initializers.get",
     "'glorot'", "did you mean 'glorot_uniform'?")
case("initializers.get-unknown", lambda: inits.get("foo"), ValueError, "initializers.get",
     "'foo'")
case("initializers.get-none", lambda: inits.get(None), TypeError, "initializers.get", "None")
case("initializers.get-number", lambda: inits.get(0.1), TypeError, "initializers.get", "0.1")


@pytest.mark.parametrize("id_, thunk, exc, name, shows", CASES, ids=[c[0] for c in CASES])
def test_bad_input(id_, thunk, exc, name, shows):
    with pytest.raises(exc) as info:
        thunk()
    assert type(info.value) is exc, f"expected {exc.__name__}, got {info.type.__name__}"
    message = str(info.value)
    assert re.match(rf"{re.escape(name)}: ", message), message
    for text in shows:
        assert text in message, f"{text!r} not in {message!r}"


def test_enough_cases():
    assert len(CASES) >= 70


def test_every_public_function_has_a_case():
    names = {c[3] for c in CASES}
    public = (
        {n for n in losses.__all__ if n not in ("REDUCTIONS", "get", "NAMED", "ALIASES")}
        | {n for n in metrics.__all__ if n not in ("NAMED", "ALIASES", "get")}
        | set(act.__all__)
        | {n for n in inits.__all__ if n not in ("Initializer", "get", "xavier_uniform",
                                                  "xavier_normal")}
    )
    assert public <= names, public - names
    assert {"losses.get", "metrics.get", "initializers.get"} <= names


# A few of the same checks must not fire under jit, where values are unknown: they are
# skipped there, and nothing branches on a traced value.
@pytest.mark.parametrize("fn, args", [
    (losses.binary_cross_entropy, (V, B.at[2].set(2.0))),
    (losses.hinge, (V, B)),
    (losses.sparse_categorical_cross_entropy, (Z, jnp.array([0, 3]))),
    (metrics.accuracy, (OUT, jnp.array([1, 3]))),
    (metrics.binary_accuracy, (V, jnp.array([0, 2, 1]))),
], ids=["bce", "hinge", "sparse", "accuracy", "binary_accuracy"])
def test_value_checks_are_skipped_under_jit(fn, args):
    jax.jit(fn)(*args)  # no exception, no TracerBoolConversionError


def test_shape_errors_still_raise_under_jit():
    with pytest.raises(ValueError, match=r"^mse: predictions and targets must have the same "
                                         r"shape, got predictions \(3,\) and targets \(4, 1\)"):
        jax.jit(losses.mse)(V, jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"^mse: where must have"):
        jax.jit(lambda p, t, w: losses.mse(p, t, where=w))(V, B, jnp.ones(2, bool))


def test_no_nan_from_probability_form_edges():
    # p exactly 0 and 1 are valid probabilities: finite loss, finite gradient
    p, t = jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0])
    assert np.isfinite(float(losses.binary_cross_entropy(p, t)))
    assert np.all(np.isfinite(np.asarray(jax.grad(losses.binary_cross_entropy)(p, t))))
