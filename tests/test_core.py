"""Tests for jaxdl.core: the layer protocol, helpers and combinators."""

from __future__ import annotations

import zlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from jaxdl import core

KEY = jax.random.key(0)


# ----------------------------------------------------------------------------- Layer


def test_layer_is_a_named_pair_of_functions():
    layer = jaxdl.Dense(2)
    init, apply, name, children, combinator, label = layer
    assert callable(init) and callable(apply)
    # name: the snake_case key in a combinator's params; label: the description in errors
    assert (name, children, combinator, label) == ("dense", (), "", "Dense(2)")
    model = jaxdl.serial(layer, jaxdl.Relu(), name="mlp")
    assert model.name == "mlp" and model.combinator == "serial"
    assert model.label == "serial 'mlp'"
    assert model.children[0] is layer and len(model.children) == 2
    assert jaxdl.parallel(layer, layer).combinator == "parallel"


def test_init_and_apply_are_pure():
    model = jaxdl.serial(jaxdl.Dense(3), jaxdl.Tanh(), jaxdl.Dense(2))
    out1 = model.init(KEY, (4,))
    out2 = model.init(KEY, (4,))
    chex.assert_trees_all_equal(out1[1], out2[1])
    x = jnp.ones((2, 4))
    y1, _ = model.apply(out1[1], out1[2], x)
    y2, _ = model.apply(out1[1], out1[2], x)
    chex.assert_trees_all_equal(y1, y2)
    _, other, _ = model.init(jax.random.key(1), (4,))
    assert not np.array_equal(np.asarray(other["dense"]["w"]), np.asarray(out1[1]["dense"]["w"]))


# --------------------------------------------------------------------------- helpers


def test_check_option():
    assert jaxdl.check_option("f", "mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match=r"^f: unknown mode='up'; allowed: 'min', 'max'$"):
        jaxdl.check_option("f", "mode", "up", ("min", "max"))


@pytest.mark.parametrize(
    "shape, tail, kwargs, ok",
    [
        ((2, 3), (3,), {}, True),
        ((2, 4), (3,), {}, False),
        ((3,), (3,), {}, True),  # the default: any number of batch axes, none included
        ((2, 2, 3), (3,), {}, True),
        ((), (3,), {}, False),  # fewer axes than the per-example shape
        ((3,), (3,), {"min_batch": 1}, False),  # at least one batch axis asked for
        ((2, 2, 3), (3,), {"max_batch": 1}, False),
        ((2, 2, 3), (3,), {"min_batch": 1, "max_batch": 2}, True),
        ((2, 7, 3), (None, 3), {}, True),  # None matches any size
    ],
)
def test_check_shape(shape, tail, kwargs, ok):
    x = jnp.zeros(shape)
    if ok:
        jaxdl.check_shape("Layer", x, tail, **kwargs)
    else:
        with pytest.raises(ValueError, match=r"^Layer: expected input of shape \(") as info:
            jaxdl.check_shape("Layer", x, tail, **kwargs)
        assert f"got {shape}" in str(info.value)


def test_check_shape_message_shows_expected_shape():
    with pytest.raises(ValueError,
                       match=r"^conv: expected input of shape \(\*batch, \?, 3\), got \(4,\)$"):
        jaxdl.check_shape("conv", jnp.zeros((4,)), (None, 3))
    with pytest.raises(ValueError,
                       match=r"^conv: expected input of shape \(batch, \?, 3\), got \(2, 4\)$"):
        jaxdl.check_shape("conv", jnp.zeros((2, 4)), (None, 3), min_batch=1, max_batch=1)


def test_check_input_shape():
    assert jaxdl.check_input_shape("L", [2, 3]) == (2, 3)
    with pytest.raises(ValueError,
                       match=r"L: expected a per-example input_shape of rank 1 .*got \(2, 3\)"):
        jaxdl.check_input_shape("L", (2, 3), rank=1)
    with pytest.raises(ValueError, match=r"L: input_shape must have positive sizes, got \(2, 0\)"):
        jaxdl.check_input_shape("L", (2, 0))
    with pytest.raises(TypeError, match=r"L: input_shape must be a tuple of ints .*got 5"):
        jaxdl.check_input_shape("L", 5)
    with pytest.raises(TypeError, match=r"L: input_shape must be a tuple of ints .*got \(3\.5,\)"):
        jaxdl.check_input_shape("L", (3.5,))
    with pytest.raises(TypeError, match=r"L: input_shape must be a tuple of ints .*got '28'"):
        jaxdl.check_input_shape("L", "28")


def test_child_key():
    assert core.child_key(None, "dense") is None
    want = jax.random.fold_in(KEY, zlib.crc32(b"dense") & 0x7FFFFFFF)  # a 31-bit int
    chex.assert_trees_all_equal(jax.random.key_data(core.child_key(KEY, "dense")),
                                jax.random.key_data(want))
    # keys follow names: distinct names give distinct keys, the same name the same key
    data = {n: np.asarray(jax.random.key_data(core.child_key(KEY, n)))
            for n in ("dense", "dense_1", "relu")}
    assert len({d.tobytes() for d in data.values()}) == 3
    np.testing.assert_array_equal(data["dense"],
                                  jax.random.key_data(core.child_key(KEY, "dense")))


def test_unique_names():
    layers = [jaxdl.Dense(2), jaxdl.Relu(), jaxdl.Dense(2), jaxdl.Dense(1, name="out"),
              jaxdl.LeakyRelu(), jaxdl.Dense(2)]
    assert core.unique_names(layers) == ("dense", "relu", "dense_1", "out", "leaky_relu",
                                         "dense_2")
    # an explicit name that collides with a made-up one still gets a free key
    assert core.unique_names([jaxdl.Dense(2), jaxdl.Dense(2, name="dense_1"), jaxdl.Dense(2)]) \
        == ("dense", "dense_1", "dense_2")


@pytest.mark.parametrize("bad", ["Dense", "my layer", "", "_hidden", 3])
def test_names_must_be_snake_case(bad):
    with pytest.raises(ValueError, match=r"^Dense: name must be a snake_case identifier"):
        jaxdl.Dense(2, name=bad)


def test_abstract_init_allocates_nothing():
    model = jaxdl.serial(jaxdl.Dense(100_000), jaxdl.Dense(100_000))  # 10^10 weights
    out_shape, params, state = jaxdl.abstract_init(model, (10,))
    assert out_shape == (100_000,)
    leaves = jax.tree_util.tree_leaves(params)
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in leaves)
    w = params["dense_1"]["w"]
    assert w.shape == (100_000, 100_000) and w.dtype == jnp.float32
    assert state == {}


def test_stateless_and_elementwise():
    layer = core.stateless("double", lambda x: 2 * x, lambda s: s)
    out_shape, params, state = layer.init(KEY, (3,))
    assert (out_shape, params, state, layer.name) == ((3,), {}, {}, "double")
    y, new_state = layer.apply(params, state, jnp.ones((2, 3)))
    chex.assert_trees_all_equal(y, jnp.full((2, 3), 2.0))
    assert new_state == {}
    halve = core.stateless("halve", lambda x: x[..., ::2], lambda s: (s[0] // 2,))
    assert halve.init(KEY, (6,))[0] == (3,)
    e = jaxdl.elementwise(jnp.clip, min=-1.0, max=1.0)
    assert e.name == "clip"
    chex.assert_trees_all_equal(e.apply({}, {}, jnp.array([[-3.0, 0.5, 3.0]]))[0],
                                jnp.array([[-1.0, 0.5, 1.0]]))
    assert jaxdl.elementwise(jnp.sin, name="sine").name == "sine"


def _Soft_clip(x):
    return jnp.tanh(x)


def test_elementwise_names():
    # derived from the function's name, made snake_case; a lambda gets the default
    assert jaxdl.elementwise(_Soft_clip).name == "soft_clip"
    assert jaxdl.elementwise(lambda x: x).name == "elementwise"
    # an explicit name is checked as every constructor's name= is
    with pytest.raises(ValueError, match=r"^elementwise: name must be a snake_case identifier"):
        jaxdl.elementwise(jnp.sin, name="Sine")
    with pytest.raises(TypeError, match=r"^elementwise: fn must be callable, got int"):
        jaxdl.elementwise(3)


def test_length_mask():
    mask = jaxdl.length_mask(jnp.array([[0, 2], [3, 1]]), 3)  # any batch shape
    np.testing.assert_array_equal(mask, np.array([[[0, 0, 0], [1, 1, 0]],
                                                  [[1, 1, 1], [1, 0, 0]]], bool))
    np.testing.assert_array_equal(jaxdl.length_mask(jnp.array(2), 4), [1, 1, 0, 0])
    with pytest.raises(TypeError, match=r"^length_mask: lengths must be integers, got dtype "
                       r"float32"):
        jaxdl.length_mask(jnp.array([1.0]), 3)


# --------------------------------------------------------------------------- serial


def test_serial_composes_in_order():
    model = jaxdl.serial(jaxdl.Linear(2.0), jaxdl.elementwise(lambda x: x + 1.0))
    _, params, state = model.init(KEY, (2,))
    y, _ = model.apply(params, state, jnp.array([[1.0, 2.0]]))
    chex.assert_trees_all_equal(y, jnp.array([[3.0, 5.0]]))  # (2x) + 1, not 2(x + 1)


def test_serial_params_and_init_keys():
    model = jaxdl.serial(jaxdl.Dense(3), jaxdl.Relu(), jaxdl.Dense(3))
    out_shape, params, state = model.init(KEY, (3,))
    assert out_shape == (3,)
    # a dict keyed by unique names, without the parameter-free Relu
    assert isinstance(params, dict) and list(params) == ["dense", "dense_1"]
    assert state == {}
    # each layer's init gets a key folded from its name: child_key(key, name)
    chex.assert_trees_all_equal(params["dense"],
                                jaxdl.Dense(3).init(core.child_key(KEY, "dense"), (3,))[1])
    chex.assert_trees_all_equal(params["dense_1"],
                                jaxdl.Dense(3).init(core.child_key(KEY, "dense_1"), (3,))[1])
    assert not np.array_equal(np.asarray(params["dense"]["w"]),
                              np.asarray(params["dense_1"]["w"]))


def test_serial_needs_a_layer():
    with pytest.raises(ValueError, match="serial: needs at least one layer"):
        jaxdl.serial()


@pytest.mark.parametrize("bad", [jaxdl.Dense, jaxdl.Tanh, 3, "relu"],
                         ids=["Dense", "Tanh", "int", "str"])
def test_serial_rejects_non_layers(bad):
    with pytest.raises(TypeError, match=r"serial: argument 0 must be a jaxdl Layer") as info:
        jaxdl.serial(bad)
    assert ("forget to call" in str(info.value)) == callable(bad)


@pytest.mark.parametrize("combinator", [jaxdl.serial, jaxdl.parallel])
def test_combinator_checks_its_params(combinator):
    layer = combinator(jaxdl.Dense(2), jaxdl.Identity())
    x = jnp.ones((1, 2)) if combinator is jaxdl.serial else (jnp.ones((1, 2)), jnp.ones((1, 2)))
    name = combinator.__name__
    _, params, state = layer.init(KEY, (2,) if combinator is jaxdl.serial else ((2,), (2,)))
    assert list(params) == ["dense"] and state == {}  # Identity has nothing to keep
    layer.apply(params, state, x)
    with pytest.raises(ValueError, match=rf"^{name}: expected params as a dict keyed by layer "
                       r"name \(dense, identity\), got tuple$"):
        layer.apply((params["dense"], {}), state, x)
    with pytest.raises(ValueError, match=rf"^{name}: expected state as a dict .*, got list$"):
        layer.apply(params, [{}, {}], x)
    with pytest.raises(ValueError, match=rf"^{name}: params has keys \['dense_1'\] that name "
                       r"no layer of this model \(its layers: dense, identity\)"):
        layer.apply({**params, "dense_1": params["dense"]}, state, x)


def test_nested_serial():
    inner = jaxdl.serial(jaxdl.Dense(4), jaxdl.Relu())
    model = jaxdl.serial(inner, jaxdl.Dense(2))
    out_shape, params, state = model.init(KEY, (3,))
    assert out_shape == (2,)
    assert list(params) == ["serial", "dense"]
    chex.assert_shape(params["serial"]["dense"]["w"], (3, 4))
    chex.assert_shape(params["dense"]["w"], (4, 2))
    y, _ = model.apply(params, state, jnp.ones((5, 3)))
    chex.assert_shape(y, (5, 2))


# ------------------------------------------------------------------ parallel and fans


def test_parallel():
    model = jaxdl.parallel(jaxdl.Linear(2.0), jaxdl.Linear(-1.0))
    out_shape, params, state = model.init(KEY, ((2,), (3,)))
    assert out_shape == ((2,), (3,))
    (a, b), _ = model.apply(params, state, (jnp.ones((1, 2)), jnp.ones((1, 3))))
    chex.assert_trees_all_equal(a, jnp.full((1, 2), 2.0))
    chex.assert_trees_all_equal(b, jnp.full((1, 3), -1.0))


def test_parallel_wrong_number_of_inputs():
    model = jaxdl.parallel(jaxdl.Identity(), jaxdl.Identity(), name="pair")
    with pytest.raises(ValueError, match=r"parallel 'pair': expected a tuple of 2 input shapes, one per "
                       r"layer, got \(\(1,\), \(1,\), \(1,\)\)"):
        model.init(KEY, ((1,), (1,), (1,)))
    _, params, state = model.init(KEY, ((1,), (1,)))
    with pytest.raises(ValueError, match="parallel 'pair': expected a tuple of 2 inputs"):
        model.apply(params, state, jnp.ones((1, 1)))


def test_fan_out():
    layer = jaxdl.FanOut(3)
    assert not hasattr(jaxdl, "fan_out")  # one spelling: FanOut
    assert layer.init(KEY, (2,))[0] == ((2,), (2,), (2,))
    ys, _ = layer.apply({}, {}, jnp.ones((1, 2)))
    assert isinstance(ys, tuple) and len(ys) == 3
    with pytest.raises(ValueError, match="FanOut: num must be >= 1, got 0"):
        jaxdl.FanOut(0)


def test_fan_in_sum():
    assert jaxdl.FanInSum().init(KEY, ((2,), (2,), (2,)))[0] == (2,)
    xs = (jnp.ones((1, 2)), 2 * jnp.ones((1, 2)), jnp.ones((1, 2)))
    y, _ = jaxdl.FanInSum().apply({}, {}, xs)
    chex.assert_trees_all_equal(y, jnp.full((1, 2), 4.0))
    with pytest.raises(ValueError, match=r"FanInSum: all inputs must have the same shape"):
        jaxdl.FanInSum().init(KEY, ((2,), (3,)))
    with pytest.raises(ValueError, match=r"FanInSum: all inputs must have the same shape"):
        jaxdl.FanInSum().apply({}, {}, (jnp.ones((1, 2)), jnp.ones((1, 3))))
    with pytest.raises(ValueError, match=r"FanInSum: expects a tuple of input shapes"):
        jaxdl.FanInSum().init(KEY, (2,))


@pytest.mark.parametrize(
    "axis, shapes, out_shape",
    [(-1, ((2, 3), (2, 4)), (2, 7)), (-2, ((1, 3), (2, 3)), (3, 3)),
     (-2, ((None, 3), (2, 3)), (None, 3))],
)
def test_fan_in_concat(axis, shapes, out_shape):
    layer = jaxdl.FanInConcat(axis)
    assert layer.init(KEY, shapes)[0] == out_shape
    xs = tuple(jnp.full((5, *(4 if d is None else d for d in s)), float(i))
               for i, s in enumerate(shapes))
    y, _ = layer.apply({}, {}, xs)
    assert y.shape[0] == 5 and y.ndim == 3  # the per-example axis, not the batch axis
    want = np.concatenate([np.asarray(x) for x in xs], axis=axis)
    chex.assert_trees_all_equal(np.asarray(y), want)
    # the same numbers on one example (no batch axis)
    y0, _ = layer.apply({}, {}, tuple(x[0] for x in xs))
    chex.assert_trees_all_equal(y0, y[0])


@pytest.mark.parametrize("axis", [0, 1])
def test_fan_in_concat_refuses_non_negative_axis(axis):
    # a non-negative axis would mean the batch axis batched and a feature axis under vmap
    with pytest.raises(ValueError, match=rf"^FanInConcat: axis must be negative .*got {axis}"):
        jaxdl.FanInConcat(axis)


def test_fan_in_concat_mismatch():
    with pytest.raises(ValueError,
                       match=r"FanInConcat\(axis=-1\): shapes .* differ off axis -1"):
        jaxdl.FanInConcat().init(KEY, ((2, 3), (4, 3)))


def test_residual_block():
    block = jaxdl.serial(jaxdl.FanOut(2), jaxdl.parallel(jaxdl.Dense(3), jaxdl.Identity()),
                         jaxdl.FanInSum())
    out_shape, params, state = block.init(KEY, (3,))
    assert out_shape == (3,)
    x = jax.random.normal(KEY, (4, 3))
    y, _ = block.apply(params, state, x)
    assert list(params) == ["parallel"] and list(params["parallel"]) == ["dense"]
    dense, _ = jaxdl.Dense(3).apply(params["parallel"]["dense"], {}, x)
    chex.assert_trees_all_close(y, dense + x, atol=1e-6)


def test_shape_dependent():
    calls = []

    def make(shape):
        calls.append(shape)
        return jaxdl.Dense(2 * shape[-1])

    layer = jaxdl.shape_dependent(make)
    out_shape, params, state = layer.init(KEY, (3,))
    assert out_shape == (6,) and calls == [(3,)]
    y, _ = layer.apply(params, state, jnp.ones((4, 3)))
    chex.assert_shape(y, (4, 6))
    assert calls[-1] == (3,)  # rebuilt from the input's per-example shape
