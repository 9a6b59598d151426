"""Tests for jaxdl.core: the layer protocol, helpers and combinators."""

from __future__ import annotations

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
    init, apply, name, children, combinator = layer
    assert callable(init) and callable(apply)
    assert (name, children, combinator) == ("Dense(2)", (), "")
    model = jaxdl.serial(layer, jaxdl.Relu(), name="mlp")
    assert model.name == "mlp" and model.combinator == "serial"
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
    assert not np.array_equal(np.asarray(other[0]["w"]), np.asarray(out1[1][0]["w"]))


# --------------------------------------------------------------------------- helpers


def test_check_option():
    assert core.check_option("f", "mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match=r"^f: unknown mode='up'; allowed: 'min', 'max'$"):
        core.check_option("f", "mode", "up", ("min", "max"))


@pytest.mark.parametrize(
    "shape, tail, kwargs, ok",
    [
        ((2, 3), (3,), {}, True),
        ((2, 4), (3,), {}, False),
        ((3,), (3,), {}, False),  # no batch axis
        ((2, 2, 3), (3,), {}, False),  # one batch axis at most by default
        ((2, 2, 3), (3,), {"max_batch": None}, True),
        ((3,), (3,), {"min_batch": 0, "max_batch": None}, True),
        ((2, 7, 3), (None, 3), {}, True),  # None matches any size
    ],
)
def test_check_shape(shape, tail, kwargs, ok):
    x = jnp.zeros(shape)
    if ok:
        core.check_shape("Layer", x, tail, **kwargs)
    else:
        with pytest.raises(ValueError, match=r"^Layer: expected input of shape \(") as info:
            core.check_shape("Layer", x, tail, **kwargs)
        assert f"got {shape}" in str(info.value)


def test_check_shape_message_shows_expected_shape():
    with pytest.raises(ValueError,
                       match=r"^conv: expected input of shape \(batch, \?, 3\), got \(2, 4\)$"):
        core.check_shape("conv", jnp.zeros((2, 4)), (None, 3))


def test_check_input_shape():
    assert core.check_input_shape("L", [2, 3]) == (2, 3)
    with pytest.raises(ValueError,
                       match=r"L: expected a per-example input_shape of rank 1 .*got \(2, 3\)"):
        core.check_input_shape("L", (2, 3), rank=1)
    with pytest.raises(ValueError, match=r"L: input_shape must have positive sizes, got \(2, 0\)"):
        core.check_input_shape("L", (2, 0))
    with pytest.raises(TypeError, match=r"L: input_shape must be a tuple of ints .*got 5"):
        core.check_input_shape("L", 5)
    with pytest.raises(TypeError, match=r"L: input_shape must be a tuple of ints .*got \(3\.5,\)"):
        core.check_input_shape("L", (3.5,))
    with pytest.raises(TypeError, match=r"L: input_shape must be a tuple of ints .*got '28'"):
        core.check_input_shape("L", "28")


def test_split_key():
    assert core.split_key(None, 3) == [None, None, None]
    keys = core.split_key(KEY, 2)
    assert len(keys) == 2
    chex.assert_trees_all_equal(jax.random.key_data(keys[1]),
                                jax.random.key_data(jax.random.split(KEY, 2)[1]))


def test_abstract_init_allocates_nothing():
    model = jaxdl.serial(jaxdl.Dense(100_000), jaxdl.Dense(100_000))  # 10^10 weights
    out_shape, params, state = jaxdl.abstract_init(model, (10,))
    assert out_shape == (100_000,)
    leaves = jax.tree_util.tree_leaves(params)
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in leaves)
    assert params[1]["w"].shape == (100_000, 100_000) and params[1]["w"].dtype == jnp.float32
    assert state == ((), ())


def test_stateless_and_elementwise():
    layer = core.stateless("double", lambda x: 2 * x, lambda s: s)
    out_shape, params, state = layer.init(KEY, (3,))
    assert (out_shape, params, state, layer.name) == ((3,), (), (), "double")
    y, new_state = layer.apply(params, state, jnp.ones((2, 3)))
    chex.assert_trees_all_equal(y, jnp.full((2, 3), 2.0))
    assert new_state == ()
    halve = core.stateless("halve", lambda x: x[..., ::2], lambda s: (s[0] // 2,))
    assert halve.init(KEY, (6,))[0] == (3,)
    e = jaxdl.elementwise(jnp.clip, min=-1.0, max=1.0)
    assert e.name == "clip"
    chex.assert_trees_all_equal(e.apply((), (), jnp.array([[-3.0, 0.5, 3.0]]))[0],
                                jnp.array([[-1.0, 0.5, 1.0]]))
    assert jaxdl.elementwise(jnp.sin, name="sine").name == "sine"


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
    assert isinstance(params, tuple) and len(params) == 3 and params[1] == ()
    assert state == ((), (), ())
    # each layer's init gets its own key: split(key, n)[i]
    keys = jax.random.split(KEY, 3)
    chex.assert_trees_all_equal(params[0], jaxdl.Dense(3).init(keys[0], (3,))[1])
    chex.assert_trees_all_equal(params[2], jaxdl.Dense(3).init(keys[2], (3,))[1])
    assert not np.array_equal(np.asarray(params[0]["w"]), np.asarray(params[2]["w"]))


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
    layer = combinator(jaxdl.Identity(), jaxdl.Identity())
    x = jnp.ones((1, 2)) if combinator is jaxdl.serial else (jnp.ones((1, 2)), jnp.ones((1, 2)))
    name = combinator.__name__
    with pytest.raises(ValueError, match=rf"^{name}: expected params as a tuple with one entry "
                       r"per layer \(2\), got a tuple of length 1$"):
        layer.apply(((),), ((), ()), x)
    with pytest.raises(ValueError, match=rf"^{name}: expected state as a tuple .*, got a list"):
        layer.apply(((), ()), [(), ()], x)
    with pytest.raises(ValueError, match=rf"^{name}: expected params as a tuple .*, got dict"):
        layer.apply({}, ((), ()), x)


def test_nested_serial():
    inner = jaxdl.serial(jaxdl.Dense(4), jaxdl.Relu())
    model = jaxdl.serial(inner, jaxdl.Dense(2))
    out_shape, params, state = model.init(KEY, (3,))
    assert out_shape == (2,)
    chex.assert_shape(params[0][0]["w"], (3, 4))
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
    with pytest.raises(ValueError, match="pair: expected 2 input shapes, got 3"):
        model.init(KEY, ((1,), (1,), (1,)))
    _, params, state = model.init(KEY, ((1,), (1,)))
    with pytest.raises(ValueError, match="pair: expected a tuple of 2 inputs"):
        model.apply(params, state, jnp.ones((1, 1)))


def test_fan_out():
    layer = jaxdl.FanOut(3)
    assert jaxdl.fan_out is jaxdl.FanOut
    assert layer.init(KEY, (2,))[0] == ((2,), (2,), (2,))
    ys, _ = layer.apply((), (), jnp.ones((1, 2)))
    assert isinstance(ys, tuple) and len(ys) == 3
    with pytest.raises(ValueError, match="FanOut: num must be >= 1, got 0"):
        jaxdl.FanOut(0)


def test_fan_in_sum():
    assert jaxdl.FanInSum().init(KEY, ((2,), (2,), (2,)))[0] == (2,)
    y, _ = jaxdl.FanInSum().apply((), (), (jnp.ones((1, 2)), 2 * jnp.ones((1, 2)), jnp.ones((1, 2))))
    chex.assert_trees_all_equal(y, jnp.full((1, 2), 4.0))
    with pytest.raises(ValueError, match=r"FanInSum: all inputs must have the same shape"):
        jaxdl.FanInSum().init(KEY, ((2,), (3,)))
    with pytest.raises(ValueError, match=r"FanInSum: all inputs must have the same shape"):
        jaxdl.FanInSum().apply((), (), (jnp.ones((1, 2)), jnp.ones((1, 3))))
    with pytest.raises(ValueError, match=r"FanInSum: expects a tuple of input shapes"):
        jaxdl.FanInSum().init(KEY, (2,))


@pytest.mark.parametrize(
    "axis, shapes, out_shape",
    [(-1, ((2, 3), (2, 4)), (2, 7)), (1, ((2, 3), (2, 4)), (2, 7)), (0, ((1, 3), (2, 3)), (3, 3))],
)
def test_fan_in_concat(axis, shapes, out_shape):
    layer = jaxdl.FanInConcat(axis)
    assert layer.init(KEY, shapes)[0] == out_shape
    xs = tuple(jnp.full((5, *s), float(i)) for i, s in enumerate(shapes))
    y, _ = layer.apply((), (), xs)
    chex.assert_shape(y, (5, *out_shape))  # the per-example axis, not the batch axis
    want = np.concatenate([np.asarray(x) for x in xs], axis=axis if axis < 0 else axis + 1)
    chex.assert_trees_all_equal(np.asarray(y), want)


def test_fan_in_concat_mismatch():
    with pytest.raises(ValueError, match=r"FanInConcat: shapes .* differ off axis -1"):
        jaxdl.FanInConcat().init(KEY, ((2, 3), (4, 3)))


def test_residual_block():
    block = jaxdl.serial(jaxdl.FanOut(2), jaxdl.parallel(jaxdl.Dense(3), jaxdl.Identity()),
                         jaxdl.FanInSum())
    out_shape, params, state = block.init(KEY, (3,))
    assert out_shape == (3,)
    x = jax.random.normal(KEY, (4, 3))
    y, _ = block.apply(params, state, x)
    dense, _ = jaxdl.Dense(3).apply(params[1][0], (), x)
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
