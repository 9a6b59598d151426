"""Tests for jaxdl.layers and the combinators: every layer through ``check_layer``.

A new layer is covered by adding one line to ``LAYERS`` (``tests/test_protocol.py`` runs the
same list batched, under ``jax.vmap``, ``jit`` and ``grad``).
"""

from __future__ import annotations

import re

import chex
import jax
import jax.experimental.sparse
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from jaxdl import activations as act
from jaxdl.testing import check_layer

KEY = jax.random.key(0)


def _affine(x, w, b):
    """``x·w + b`` with the bias broadcast explicitly (strict rank promotion is on)."""
    return x @ w + jnp.reshape(b, (1,) * (x.ndim - 1) + b.shape)

PATH_GRAPH = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # 0 - 1 - 2

# (id, layer factory, per-example input shape, check_layer kwargs). Most entries take and
# give 4 features: every new input or output shape costs check_layer a few compiles.
LAYERS = [
    ("Dense", lambda: jaxdl.Dense(4), (4,), {}),
    ("Dense-no-bias", lambda: jaxdl.Dense(4, use_bias=False), (4,), {}),
    ("Dense-sequence", lambda: jaxdl.Dense(4), (None, 4), {}),  # any length on axis -2
    ("Dense-rank2-via-Flatten", lambda: jaxdl.serial(jaxdl.Flatten(2), jaxdl.Dense(4)), (2, 2),
     {}),
    ("Flatten", lambda: jaxdl.Flatten(2), (2, 2), {}),
    # Keras's Flatten(): exactly one batch axis, so not meant for jax.vmap over examples
    ("Flatten-keras", jaxdl.Flatten, (2, 2), {"check_vmap": False}),
    ("Identity", jaxdl.Identity, (4,), {}),
    ("Perceptron", lambda: jaxdl.Perceptron(4, w_init="glorot_uniform"), (4,), {}),
    ("Step", lambda: jaxdl.Step(0.5), (4,), {}),
    ("Linear", lambda: jaxdl.Linear(2.0), (4,), {}),
    ("Sigmoid-steep2", lambda: jaxdl.Sigmoid(steepness=2.0), (4,), {}),
    ("BipolarSigmoid", jaxdl.BipolarSigmoid, (4,), {}),
    ("Tanh", jaxdl.Tanh, (4,), {}),
    ("Relu", jaxdl.Relu, (4,), {}),
    ("LeakyRelu", lambda: jaxdl.LeakyRelu(0.1), (4,), {}),
    ("RandomizedRelu-train", jaxdl.RandomizedRelu, (4,), {"train": True}),
    ("RandomizedRelu-eval", jaxdl.RandomizedRelu, (4,), {"train": False}),
    ("Softmax", jaxdl.Softmax, (4,), {}),
    ("Elu", jaxdl.Elu, (4,), {}),
    ("Gelu", jaxdl.Gelu, (4,), {}),
    ("Swish", jaxdl.Swish, (4,), {}),
    # BatchNorm in training mixes the examples of a batch on purpose: no vmap check there
    ("BatchNorm-eval", lambda: jaxdl.BatchNorm(), (4,), {}),
    ("BatchNorm-train", lambda: jaxdl.BatchNorm(momentum=0.9), (2, 4),  # over batch and axis -2
     {"train": True, "check_vmap": False}),
    ("LayerNorm", jaxdl.LayerNorm, (4,), {}),
    ("Augment-train", lambda: jaxdl.Augment(jaxdl.augment.random_flip), (2, 2, 1),
     {"train": True}),
    ("Augment-eval", lambda: jaxdl.Augment(jaxdl.augment.random_flip), (2, 2, 1), {}),
    ("Dropout-train", lambda: jaxdl.Dropout(0.5), (4,), {"train": True}),
    ("Dropout-eval", lambda: jaxdl.Dropout(0.5), (4,), {"train": False}),
    ("Conv-groups", lambda: jaxdl.Conv(2, (2, 2), strides=(2, 1), feature_group_count=2),
     (3, 3, 2), {}),
    ("Conv-1d-causal-any-length", lambda: jaxdl.Conv(2, (2,), padding="CAUSAL"), (None, 2), {}),
    ("ConvTranspose", lambda: jaxdl.ConvTranspose(2, (2, 2), strides=2), (2, 2, 2), {}),
    ("MaxPool", lambda: jaxdl.MaxPool((2, 2), strides=1), (3, 3, 2), {}),
    ("AvgPool", lambda: jaxdl.AvgPool((2, 2), padding="SAME", count_include_pad=False),
     (3, 3, 2), {}),
    ("GlobalMaxPool-1d", lambda: jaxdl.GlobalMaxPool(1), (None, 2), {}),
    ("SumPool", lambda: jaxdl.SumPool((2,), strides=1), (3, 2), {}),
    ("GlobalAvgPool-2d", lambda: jaxdl.GlobalAvgPool(2), (3, 3, 2), {}),
    ("serial", lambda: jaxdl.serial(jaxdl.Dense(3), jaxdl.Tanh(), jaxdl.Dense(4)), (4,), {}),
    ("serial-dropout-train",
     lambda: jaxdl.serial(jaxdl.Dense(3), jaxdl.Dropout(0.3), jaxdl.Dense(4)), (4,),
     {"train": True}),
    ("parallel", lambda: jaxdl.parallel(jaxdl.Dense(4), jaxdl.Tanh()), ((4,), (4,)), {}),
    ("FanOut-FanInSum",
     lambda: jaxdl.serial(jaxdl.FanOut(2), jaxdl.parallel(jaxdl.Dense(4), jaxdl.Identity()),
                          jaxdl.FanInSum()), (4,), {}),
    ("FanInConcat", lambda: jaxdl.FanInConcat(), ((2,), (2,)), {}),
    ("FanInConcat-axis-2", lambda: jaxdl.FanInConcat(axis=-2), ((1, 2), (2, 2)), {}),
    ("FanOut-FanInConcat",
     lambda: jaxdl.serial(jaxdl.FanOut(2), jaxdl.parallel(jaxdl.Dense(1), jaxdl.Dense(3)),
                          jaxdl.FanInConcat()), (4,), {}),
    ("TimeDistributed", lambda: jaxdl.TimeDistributed(jaxdl.serial(jaxdl.Dense(4), jaxdl.Tanh())),
     (None, 4), {}),
    ("TimeDistributed-lengths", lambda: jaxdl.TimeDistributed(jaxdl.Dense(4)), (None, 4),
     {"lengths": jnp.array([4, 1, 0])}),
    ("GraphConv", lambda: jaxdl.GraphConv(4, PATH_GRAPH), (3, 4), {}),
    ("GraphConv-sparse-no-bias", lambda: jaxdl.GraphConv(
        4, jax.experimental.sparse.BCOO.fromdense(PATH_GRAPH), use_bias=False), (3, 4), {}),
    ("RBM", lambda: jaxdl.RBM(4, w_init="glorot_uniform"), (4,), {}),
    ("shape_dependent", lambda: jaxdl.shape_dependent(lambda s: jaxdl.Dense(s[-1])), (4,), {}),
    ("elementwise", lambda: jaxdl.elementwise(jnp.sin), (4,), {}),
    ("stateless", lambda: jaxdl.stateless("pairs", lambda x: jnp.reshape(x, (*x.shape[:-1], 2, 2)),
                                          lambda s: (*s[:-1], 2, 2)), (4,), {}),
    ("stochastic-train", lambda: jaxdl.stochastic(
        "noise", lambda x, key, train: x + jax.random.normal(key, x.shape, x.dtype) if train
        else x), (4,), {"train": True}),
]


# Exported layer and cell constructors that ``LAYERS`` leaves to another file, each with the
# file whose own check_layer cases cover it (their inputs differ from LAYERS' float ones).
CHECKED_ELSEWHERE = {
    "Embedding": "test_normalization.py",  # integer ids (input_dtype=jnp.int32)
    # cells and sequence layers: (None, features) inputs with lengths and carries
    "SimpleRNN": "test_recurrent.py", "LSTM": "test_recurrent.py", "GRU": "test_recurrent.py",
    "StackedCells": "test_recurrent.py", "RNN": "test_recurrent.py",
    "Bidirectional": "test_recurrent.py", "EncoderDecoder": "test_recurrent.py",
    # (user, item) integer id pairs
    "MatrixFactorization": "test_applications.py", "NeuralCF": "test_applications.py",
}


def _exported_constructors() -> set[str]:
    """Every function exported by ``jaxdl`` or ``jaxdl.layers`` annotated to return a
    :class:`jaxdl.Layer` or a :class:`jaxdl.Cell`."""
    import inspect
    found = set()
    for module in (jaxdl, jaxdl.layers):
        for name in module.__all__:
            fn = getattr(module, name)
            if inspect.isfunction(fn) and inspect.signature(
                    fn, eval_str=True).return_annotation in (jaxdl.Layer, jaxdl.Cell):
                found.add(name)
    return found


def test_every_layer_is_covered():
    exported = _exported_constructors()
    # the derivation itself works: it finds layers, combinators and cells alike
    assert {"Dense", "Conv", "serial", "elementwise", "LSTM", "Embedding"} <= exported
    assert set(CHECKED_ELSEWHERE) <= exported, set(CHECKED_ELSEWHERE) - exported
    covered = {part for layer_id, *_ in LAYERS for part in layer_id.split("-")}
    missing = exported - covered - set(CHECKED_ELSEWHERE)
    assert not missing, f"add a LAYERS entry (or a CHECKED_ELSEWHERE one) for {sorted(missing)}"
    tests = __import__("pathlib").Path(__file__).parent
    for name, file in CHECKED_ELSEWHERE.items():
        text = (tests / file).read_text()
        assert "check_layer(" in text and f"jaxdl.{name}(" in text, (name, file)


@pytest.mark.parametrize("make, input_shape, kwargs", [l[1:] for l in LAYERS],
                         ids=[l[0] for l in LAYERS])
def test_check_layer(make, input_shape, kwargs):
    layer = make()
    assert isinstance(layer, jaxdl.Layer) and layer.name.isidentifier() and layer.label
    out_shape, params, state = check_layer(layer, input_shape, **kwargs)
    # init agrees with the abstract (allocation-free) init
    abs_out, abs_params, abs_state = jaxdl.abstract_init(layer, input_shape, KEY)
    assert abs_out == out_shape
    chex.assert_trees_all_equal_shapes_and_dtypes(abs_params, params)
    chex.assert_trees_all_equal_structs(abs_state, state)


# ----------------------------------------------------------------------------- Dense


def test_dense_params_and_formula():
    layer = jaxdl.Dense(3)
    out_shape, params, state = layer.init(KEY, (4,))
    assert out_shape == (3,) and state == {}
    chex.assert_shape(params["w"], (4, 3))
    chex.assert_shape(params["b"], (3,))
    chex.assert_trees_all_equal(params["b"], jnp.zeros(3))  # b_init zeros
    assert float(jnp.max(jnp.abs(params["w"]))) <= jaxdl.initializers.xavier_limit(4, 3)
    x = jax.random.normal(jax.random.key(1), (5, 4))
    params = {"w": params["w"], "b": jnp.array([1.0, -2.0, 0.5])}
    y, _ = layer.apply(params, state, x)
    chex.assert_trees_all_close(y, _affine(x, params["w"], params["b"]), atol=1e-6)


def test_dense_without_bias_has_no_b():
    _, params, _ = jaxdl.Dense(2, use_bias=False).init(KEY, (3,))
    assert set(params) == {"w"}


@pytest.mark.parametrize("batch", [(), (5,), (2, 5), (2, 3, 5)], ids=lambda b: f"batch{b}")
def test_dense_any_leading_batch_axes(batch):
    layer = jaxdl.Dense(3)
    _, params, state = layer.init(KEY, (4,))
    x = jax.random.normal(jax.random.key(1), (*batch, 4))
    y, _ = layer.apply(params, state, x)
    chex.assert_shape(y, (*batch, 3))
    chex.assert_trees_all_close(y, _affine(x, params["w"], params["b"]), atol=1e-6)


def test_dense_options():
    layer = jaxdl.Dense(2, w_init="ones", b_init=jaxdl.initializers.constant(0.5),
                        dtype=jnp.bfloat16, name="head")
    assert layer.name == "head" and layer.label == "Dense(2) 'head'"
    _, params, _ = layer.init(KEY, (3,))
    assert params["w"].dtype == jnp.bfloat16
    chex.assert_trees_all_equal(params["w"], jnp.ones((3, 2), jnp.bfloat16))
    chex.assert_trees_all_equal(params["b"], jnp.full((2,), 0.5, jnp.bfloat16))


def test_flatten_and_identity():
    x = jnp.arange(24.0).reshape(2, 3, 4)
    y, _ = jaxdl.Flatten().apply({}, {}, x)
    chex.assert_trees_all_equal(y, x.reshape(2, 12))
    y, _ = jaxdl.Identity().apply({}, {}, x)
    chex.assert_trees_all_equal(y, x)


def test_flatten_ndim_flattens_the_last_axes():
    layer = jaxdl.Flatten(2)
    assert layer.init(KEY, (3, 4))[0] == (12,)
    x = jnp.arange(48.0).reshape(2, 2, 3, 4)
    chex.assert_trees_all_equal(layer.apply({}, {}, x)[0], x.reshape(2, 2, 12))
    chex.assert_trees_all_equal(layer.apply({}, {}, x[0, 0])[0], x[0, 0].reshape(12))
    with pytest.raises(ValueError, match=r"Flatten\(2\): expected a per-example input_shape "
                       r"of rank 2 .*got \(2, 3, 4\)"):
        layer.init(KEY, (2, 3, 4))
    with pytest.raises(ValueError, match=r"Flatten\(2\): expected input of shape "
                       r"\(\*batch, 2 axes\), got \(4,\)"):
        layer.apply({}, {}, jnp.ones(4))


def test_flatten_refuses_what_it_cannot_flatten():
    with pytest.raises(ValueError, match=r"Flatten\(\): expected input of shape \(batch, \*dims\), "
                       r"got \(4,\); for a single example use Flatten\(ndim\)"):
        jaxdl.Flatten().apply({}, {}, jnp.ones(4))
    with pytest.raises(ValueError, match=r"Flatten\(\): cannot flatten .*unknown length"):
        jaxdl.Flatten().init(KEY, (None, 3))
    with pytest.raises(ValueError, match=r"^Flatten: ndim must be >= 1 or None, got 0"):
        jaxdl.Flatten(0)


def test_perceptron_layer_is_dense_then_step():
    layer = jaxdl.Perceptron(1, threshold=0.5)
    out_shape, params, state = layer.init(KEY, (2,))
    assert out_shape == (1,)
    assert list(params) == ["dense"]  # the Step has no params
    chex.assert_trees_all_equal(params["dense"]["w"], jnp.zeros((2, 1)))  # default zeros
    params = {"dense": {"w": jnp.array([[1.0], [1.0]]), "b": jnp.array([-0.5])}}
    x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y, _ = layer.apply(params, state, x)
    chex.assert_trees_all_equal(y[:, 0], jnp.array([0.0, 0.0, 0.0, 1.0]))  # 0.5 > 0.5 is false


# --------------------------------------------------------------- activation layers

ACTIVATION_LAYERS = [
    (jaxdl.Step(0.5), lambda x: act.step(x, 0.5)),
    (jaxdl.Linear(2.0), lambda x: act.linear(x, 2.0)),
    (jaxdl.Sigmoid(steepness=2.0), lambda x: act.sigmoid(x, 2.0)),
    (jaxdl.BipolarSigmoid(3.0), lambda x: act.bipolar_sigmoid(x, 3.0)),
    (jaxdl.Tanh(), act.tanh),
    (jaxdl.Relu(), act.relu),
    (jaxdl.LeakyRelu(0.2), lambda x: act.leaky_relu(x, 0.2)),
    (jaxdl.RandomizedRelu(0.1, 0.3), lambda x: act.randomized_relu(x, lower=0.1, upper=0.3)),
    (jaxdl.Softmax(), lambda x: act.softmax(x, axis=-1)),
    (jaxdl.Elu(0.5), lambda x: act.elu(x, 0.5)),
    (jaxdl.Gelu(approximate=True), lambda x: act.gelu(x, approximate=True)),
    (jaxdl.Swish(2.0), lambda x: act.swish(x, 2.0)),
]


@pytest.mark.parametrize("layer, fn", ACTIVATION_LAYERS, ids=[a[0].name for a in ACTIVATION_LAYERS])
def test_activation_layer_applies_its_function(layer, fn):
    x = jnp.linspace(-2.0, 2.0, 12).reshape(3, 4)
    out_shape, params, state = layer.init(KEY, (4,))
    assert out_shape == (4,) and params == {} and state == {}
    y, _ = layer.apply(params, state, x)
    chex.assert_trees_all_equal(y, fn(x))


def test_softmax_layer_axis_is_per_example():
    # Layer axes count from the end of the per-example shape, as FanInConcat(axis) does:
    # Softmax(axis=-2) on examples of shape (classes, positions) normalises over classes,
    # never across the batch (which would mix examples)
    x = jax.random.normal(KEY, (2, 3, 5))  # (batch, classes, positions)
    layer = jaxdl.Softmax(axis=-2)
    assert layer.init(KEY, (3, 5))[0] == (3, 5)
    y, _ = layer.apply({}, {}, x)
    chex.assert_trees_all_close(y, act.softmax(x, axis=1), atol=1e-6)
    chex.assert_trees_all_close(jnp.sum(y, axis=1), jnp.ones((2, 5)), atol=1e-6)
    chex.assert_trees_all_close(layer.apply({}, {}, x[0])[0], y[0], atol=1e-6)


@pytest.mark.parametrize("axis", [0, 1])
def test_softmax_layer_refuses_non_negative_axis(axis):
    # axis=0 meant "the first per-example axis" batched but the batch axis itself to a
    # reader of jnp; protocol 2 has only negative axes, which mean the same everywhere
    with pytest.raises(ValueError, match=rf"^Softmax: axis must be negative .*got {axis}; "
                       r"e\.g\. axis=-1"):
        jaxdl.Softmax(axis=axis)


def test_randomized_relu_layer_train_slopes():
    layer = jaxdl.RandomizedRelu(0.1, 0.3)
    x = -jnp.ones((4, 50))
    y, _ = layer.apply({}, {}, x, key=jax.random.key(1), train=True)
    slopes = np.asarray(-y)
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.01


def test_randomized_relu_rejects_lower_above_upper():
    with pytest.raises(ValueError, match=r"RandomizedRelu: lower \(=0.5\) must be <= upper"):
        jaxdl.RandomizedRelu(0.5, 0.1)


@pytest.mark.parametrize("make, error, match", [
    (lambda: jaxdl.Sigmoid(0.0), ValueError, r"^Sigmoid: steepness must be > 0, got 0\.0"),
    (lambda: jaxdl.BipolarSigmoid(-1.0), ValueError,
     r"^BipolarSigmoid: steepness must be > 0, got -1\.0"),
    (lambda: jaxdl.Elu(-0.5), ValueError, r"^Elu: alpha must be >= 0, got -0\.5"),
    (lambda: jaxdl.RandomizedRelu(-0.1, 0.2), ValueError,
     r"^RandomizedRelu: lower must be >= 0, got -0\.1"),
    (lambda: jaxdl.LeakyRelu(float("inf")), ValueError,
     r"^LeakyRelu: negative_slope must be finite, got inf"),
    (lambda: jaxdl.Swish("1"), TypeError, r"^Swish: beta must be a number, got '1'"),
    (lambda: jaxdl.Gelu(approximate="yes"), TypeError,
     r"^Gelu: approximate must be True or False, got 'yes'"),
], ids=["Sigmoid", "BipolarSigmoid", "Elu", "RandomizedRelu", "LeakyRelu", "Swish", "Gelu"])
def test_activation_options_are_checked_when_the_layer_is_built(make, error, match):
    # the constructor names itself; the activation function would only fail at apply
    with pytest.raises(error, match=match):
        make()


# --------------------------------------------------------------------------- Dropout


def test_dropout_statistics():
    x = jnp.ones((100, 100))
    y, _ = jaxdl.Dropout(0.3).apply({}, {}, x, key=jax.random.key(3), train=True)
    y = np.asarray(y)
    assert abs(np.mean(y == 0) - 0.3) < 0.02
    np.testing.assert_allclose(y[y != 0], 1.0 / 0.7, rtol=1e-6)  # inverted dropout
    assert abs(y.mean() - 1.0) < 0.03


def test_dropout_eval_is_identity_and_zero_rate_keeps_everything():
    x = jax.random.normal(KEY, (3, 4))
    chex.assert_trees_all_equal(jaxdl.Dropout(0.5).apply({}, {}, x)[0], x)
    chex.assert_trees_all_equal(jaxdl.Dropout(0.0).apply({}, {}, x, key=KEY, train=True)[0], x)
    # the rule is uniform: any stochastic layer in training needs a key, even at rate 0
    with pytest.raises(ValueError, match=r"^Dropout\(0\): .*needs a PRNG key"):
        jaxdl.Dropout(0.0).apply({}, {}, x, train=True)


@pytest.mark.parametrize("rate, match", [(-0.1, r"must be in \[0, 1\), got -0\.1"),
                                         (1.0, r"must be in \[0, 1\), got 1\.0"),
                                         (1.5, r"must be in \[0, 1\), got 1\.5"),
                                         (float("nan"), r"must be finite, got nan")])
def test_dropout_rejects_bad_rate(rate, match):
    with pytest.raises(ValueError, match=rf"^Dropout: drop_rate {match}"):
        jaxdl.Dropout(rate)


@pytest.mark.parametrize("rate", ["0.5", None, True, jnp.ones(2)])
def test_dropout_rejects_non_numbers(rate):
    with pytest.raises(TypeError, match=r"^Dropout: drop_rate must be a (number|real scalar)"):
        jaxdl.Dropout(rate)


def test_serial_splits_keys_between_dropouts():
    model = jaxdl.serial(jaxdl.Dropout(0.5), jaxdl.Dropout(0.5))
    _, params, state = model.init(KEY, (1000,))
    x = jnp.ones((1, 1000))
    key = jax.random.key(7)
    y, _ = model.apply(params, state, x, key=key, train=True)
    # serial gives each layer the key folded from its unique name
    k1, k2 = jaxdl.core.child_key(key, "dropout"), jaxdl.core.child_key(key, "dropout_1")
    m1, _ = jaxdl.Dropout(0.5).apply({}, {}, x, key=k1, train=True)
    want, _ = jaxdl.Dropout(0.5).apply({}, {}, m1, key=k2, train=True)
    chex.assert_trees_all_equal(y, want)
    m2, _ = jaxdl.Dropout(0.5).apply({}, {}, x, key=k2, train=True)
    assert not np.array_equal(np.asarray(m1 == 0), np.asarray(m2 == 0))
    # independent masks drop about 3/4, one mask used twice would drop 1/2
    assert abs(float(jnp.mean(y == 0)) - 0.75) < 0.05


def test_parallel_splits_keys():
    model = jaxdl.serial(jaxdl.FanOut(2), jaxdl.parallel(jaxdl.Dropout(0.5), jaxdl.Dropout(0.5)))
    _, params, state = model.init(KEY, (200,))
    (a, b), _ = model.apply(params, state, jnp.ones((1, 200)), key=jax.random.key(1), train=True)
    assert not np.array_equal(np.asarray(a), np.asarray(b))


# ------------------------------------------------------------------------- bad input

STOCHASTIC = [
    ("Dropout", lambda: jaxdl.Dropout(0.5)),
    ("RandomizedRelu", jaxdl.RandomizedRelu),
    ("serial-Dropout", lambda: jaxdl.serial(jaxdl.Dense(3), jaxdl.Dropout(0.5))),
]


@pytest.mark.parametrize("make", [s[1] for s in STOCHASTIC], ids=[s[0] for s in STOCHASTIC])
def test_stochastic_layer_train_without_key(make):
    layer = make()
    _, params, state = layer.init(KEY, (3,))
    with pytest.raises(ValueError, match=r"(Dropout|RandomizedRelu).*needs a PRNG key"):
        layer.apply(params, state, jnp.ones((2, 3)), train=True)
    layer.apply(params, state, jnp.ones((2, 3)))  # eval needs none


@pytest.mark.parametrize(
    "make, x_shape, expected",
    [
        (lambda: jaxdl.Dense(3), (2, 5), "(*batch, 4)"),  # wrong feature size
        (lambda: jaxdl.Dense(3), (), "(*batch, 4)"),  # wrong rank: a scalar
        (lambda: jaxdl.Dense(3, name="hidden"), (2, 4, 1), "(*batch, 4)"),
        (lambda: jaxdl.serial(jaxdl.Dense(3), jaxdl.Relu()), (2, 5), "(*batch, 4)"),
        (lambda: jaxdl.Perceptron(1), (2, 2), "(*batch, 4)"),
    ],
    ids=["Dense-features", "Dense-rank", "Dense-named", "serial-Dense", "Perceptron"],
)
def test_wrong_input_shape_names_layer_and_shapes(make, x_shape, expected):
    layer = make()
    _, params, state = layer.init(KEY, (4,))
    inner = layer.children[0].label if layer.children else layer.label
    with pytest.raises(ValueError, match=rf"^{re.escape(inner)}: expected input of shape") as info:
        layer.apply(params, state, jnp.ones(x_shape))
    message = str(info.value)
    assert expected in message and f"got {x_shape}" in message


def test_dense_acts_on_the_last_axis_of_a_rank_2_example():
    # protocol 2: Dense takes (*leading, in_features), as jnp.matmul does (Keras Dense too)
    layer = jaxdl.Dense(8)
    out_shape, params, state = layer.init(KEY, (28, 5))
    assert out_shape == (28, 8) and params["w"].shape == (5, 8)
    x = jax.random.normal(KEY, (2, 28, 5))
    y, _ = layer.apply(params, state, x)
    chex.assert_trees_all_close(y, _affine(x, params["w"], params["b"]), atol=1e-5)


@pytest.mark.parametrize("input_shape", [(), (4, None)], ids=["scalar", "None-features"])
def test_dense_init_needs_known_features(input_shape):
    with pytest.raises(ValueError, match=r"^Dense\(8\): expected a per-example input_shape "
                       r"\(\*leading, in_features\) with a known in_features, got"):
        jaxdl.Dense(8).init(KEY, input_shape)


def test_dense_refuses_params_of_another_layer():
    _, params, state = jaxdl.Dense(3).init(KEY, (4,))
    with pytest.raises(ValueError, match=r"^Dense\(5\): expected params\['w'\] of shape "
                       r"\(in_features, 5\), got \(4, 3\); were these params made for another"):
        jaxdl.Dense(5).apply(params, state, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"^Dense\(3\): expected params "
                       r"\{'w': \(in_features, 3\)\}, got \['b', 'w'\]"):
        jaxdl.Dense(3, use_bias=False).apply(params, state, jnp.ones((2, 4)))


@pytest.mark.parametrize("input_shape, error", [((0,), ValueError), ((-3,), ValueError),
                                                (3, TypeError), (None, TypeError)])
def test_dense_init_bad_input_shape(input_shape, error):
    with pytest.raises(error, match=r"Dense\(2\): input_shape"):
        jaxdl.Dense(2).init(KEY, input_shape)


@pytest.mark.parametrize("units, error, match", [
    (0, ValueError, r"must be >= 1, got 0"), (-1, ValueError, r"must be >= 1, got -1"),
    (2.5, TypeError, r"must be an int, got 2\.5"), ("4", TypeError, r"must be an int, got '4'"),
    (True, TypeError, r"must be an int, got True")])
def test_dense_rejects_bad_units(units, error, match):
    with pytest.raises(error, match=rf"^Dense: units {match}"):
        jaxdl.Dense(units)


@pytest.mark.parametrize("layer_fn", [jaxdl.Dense, jaxdl.Relu, jaxdl.Dropout, jaxdl.Flatten])
def test_serial_of_uncalled_constructor(layer_fn):
    with pytest.raises(TypeError,
                       match=r"serial: argument 1 must be a jaxdl Layer.*forget to call"):
        jaxdl.serial(jaxdl.Identity(), layer_fn)
