"""Every worked number in the course notes, recomputed through jaxdl.

The numbers, their sources and their recomputation are in the seed-notes report
(``/tmp/seed_examples.md`` at the time of writing). Each value is asserted to the
digits the notes print: ``f"{value:.{dp}f}" == printed``.
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl import activations, initializers, losses


def assert_printed(value, printed: str) -> None:
    """``value`` rounded to as many decimals as ``printed`` has equals ``printed``."""
    dp = len(printed.split(".")[1]) if "." in printed else 0
    got = f"{float(value):.{dp}f}"
    assert got == printed, f"{float(value)!r} prints as {got}, the notes print {printed}"


def _set_dense(w, b=None):
    params = {"w": jnp.asarray(w)}
    if b is not None:
        params["b"] = jnp.asarray(b)
    return params


# ---------------------------------------------------------------- A. activation examples


def test_weighted_sum_and_sigmoid_of_053():
    # y_in = b + Σ x_i w_i = 0.35 + 0.8*0.1 + 0.6*0.3 + 0.4*(-0.2) = 0.53 (notes 001)
    with jax.enable_x64(True):
        neuron = jaxdl.serial(jaxdl.Dense(1), jaxdl.Sigmoid())
        params = {"dense": _set_dense(np.array([[0.1], [0.3], [-0.2]]), np.array([0.35]))}
        x = jnp.array([[0.8, 0.6, 0.4]])
        y_in, _ = neuron.children[0].apply(params["dense"], {}, x)
        y, _ = neuron.apply(params, {}, x)
        chex.assert_trees_all_close(y_in, jnp.array([[0.53]]), atol=1e-12)
        assert_printed(y_in[0, 0], "0.53")
        # The notes print 0.625 here: a slip (1/(1+e^-0.53) = 0.62948...); the bipolar
        # value 0.259 they print next is consistent with 0.6295, not with 0.625.
        assert_printed(y[0, 0], "0.6295")
        assert_printed(activations.sigmoid(0.53), "0.6295")
        assert abs(float(y[0, 0]) - 0.625) > 1e-3


def test_bipolar_sigmoid_of_053():
    assert_printed(activations.bipolar_sigmoid(0.53), "0.259")
    # 2/(1+e^-x) - 1, the notes' form
    assert_printed(2.0 * activations.sigmoid(0.53) - 1.0, "0.259")
    y, _ = jaxdl.BipolarSigmoid().apply({}, {}, jnp.array([[0.53]]))
    assert_printed(y[0, 0], "0.259")


def test_step_example():
    # s = 1*0.8 + 7*0.1 + 5*0 = 1.5 -> step(s) = 1 (threshold 0, strict >)
    neuron = jaxdl.serial(jaxdl.Dense(1, use_bias=False), jaxdl.Step(0.0))
    params = {"dense": _set_dense([[0.8], [0.1], [0.0]])}
    x = jnp.array([[1.0, 7.0, 5.0]])
    s, _ = neuron.children[0].apply(params["dense"], {}, x)
    y, _ = neuron.apply(params, {}, x)
    assert_printed(s[0, 0], "1.5")
    assert float(y[0, 0]) == 1.0
    # strict: a sum equal to the threshold does not fire
    assert float(activations.step(0.0)) == 0.0
    assert float(activations.step(1.5, threshold=1.5)) == 0.0


def test_softmax_table():
    z = jnp.array([-5.0, -3.0, 0.0, 2.0, 5.0])
    p = activations.softmax(z)
    for value, printed in zip(p, ["0.0000", "0.0003", "0.0064", "0.0471", "0.9462"]):
        assert_printed(value, printed)
    assert_printed(jnp.sum(p), "1.0000")
    y, _ = jaxdl.Softmax().apply({}, {}, z[None])
    chex.assert_trees_all_close(y[0], p)


# -------------------------------------------------------------- B. perceptron exercises


@pytest.mark.parametrize("bias, z, printed", [(1.0, -2.0, "0.1192"), (0.0, -3.0, "0.0474")])
def test_sigmoid_perceptron_exercise(bias, z, printed):
    # X = [1, 1], y = g(2 x1 - 5 x2 + b)
    neuron = jaxdl.serial(jaxdl.Dense(1), jaxdl.Sigmoid())
    params = {"dense": _set_dense([[2.0], [-5.0]], [bias])}
    x = jnp.array([[1.0, 1.0]])
    net, _ = neuron.children[0].apply(params["dense"], {}, x)
    y, _ = neuron.apply(params, {}, x)
    assert float(net[0, 0]) == z
    assert_printed(y[0, 0], printed)
    assert_printed(activations.sigmoid(z), printed)


GATE_X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


@pytest.mark.parametrize(
    "w, sums, outputs",
    [
        ((0.7, 0.7), (0.0, 0.7, 0.7, 1.4), (0, 0, 0, 1)),  # AND, notes 001
        ((1.2, 1.2), (0.0, 1.2, 1.2, 2.4), (0, 1, 1, 1)),  # OR, notes 001
        ((0.5, 0.7), (0.0, 0.7, 0.5, 1.2), (0, 0, 0, 1)),  # AND, notes 003 (θ read as 1)
    ],
    ids=["AND-0.7", "OR-1.2", "AND-0.5-0.7"],
)
def test_threshold_gates(w, sums, outputs):
    w = jnp.array(w)
    want = jnp.array(outputs, jnp.float32)
    # the weighted sums the notes tabulate
    chex.assert_trees_all_close(GATE_X @ w, jnp.array(sums), atol=1e-6)
    # the library's predictor: 1 when x·w + b > θ = 1
    got = jaxdl.perceptron_predict(w, jnp.array(0.0), GATE_X, threshold=1.0)
    chex.assert_trees_all_equal(got, want)
    # the same neuron as a layer, parameters set by hand
    layer = jaxdl.Perceptron(1, threshold=1.0)
    _, params, state = layer.init(jax.random.key(0), (2,))
    params = {"dense": {"w": w[:, None], "b": jnp.zeros(1)}}
    y, _ = layer.apply(params, state, GATE_X)
    chex.assert_trees_all_equal(y[:, 0], want)


# --------------------------------------------------------------------------- C. losses


def test_msle_example():
    # actual 4, 0, 5, 2 vs predicted 3.5, 1, 5, 3 (natural log)
    value = losses.msle(jnp.array([3.5, 1.0, 5.0, 3.0]), jnp.array([4.0, 0.0, 5.0, 2.0]))
    assert_printed(value, "0.1436")


# ------------------------------------------------------------- D. iterations per epoch


@pytest.mark.parametrize(
    "n, batch_size, iterations",
    [
        (34_000, 500, 68),   # notes 001
        (1000, 500, 2),      # notes 001
        (50_000, 500, 100),  # notes 003
        (10_000, 1000, 10),  # notes 002 (scenario, 10 per epoch)
        (100, 10, 10),       # notes 002 (Keras "10/10")
        (34_000, None, 1),   # batch gradient descent
        (34_000, 1, 34_000), # stochastic gradient descent
    ],
)
def test_iterations_per_epoch(n, batch_size, iterations):
    assert jaxdl.iterations_per_epoch(n, batch_size) == iterations


# ------------------------------------------------------------------------ E. backprop

# Mazur's network: inputs (0.05, 0.10), targets (0.01, 0.99).
# Dense kernels are (in, out): column j holds the weights into unit j.
W1, W2, W3, W4 = 0.15, 0.20, 0.25, 0.30  # w1: i1->h1, w2: i2->h1, w3: i1->h2, w4: i2->h2
W5, W6, W7, W8 = 0.40, 0.45, 0.50, 0.55  # w5: h1->o1, w6: h2->o1, w7: h1->o2, w8: h2->o2
UPDATED = {  # after one SGD step, lr 0.5, weights only (Mazur; seed report E2)
    "w1": 0.1497807161327628, "w2": 0.19956143226552567, "w3": 0.24975114363236958,
    "w4": 0.29950228726473915, "w5": 0.35891647971788465, "w6": 0.4086661860762334,
    "w7": 0.5113012702387375, "w8": 0.5613701211079891,
}
POSITIONS = {  # (layer name in serial, kernel row, kernel column)
    "w1": ("dense", 0, 0), "w2": ("dense", 1, 0), "w3": ("dense", 0, 1), "w4": ("dense", 1, 1),
    "w5": ("dense_1", 0, 0), "w6": ("dense_1", 1, 0), "w7": ("dense_1", 0, 1),
    "w8": ("dense_1", 1, 1),
}


def _mazur(dtype):
    model = jaxdl.serial(jaxdl.Dense(2), jaxdl.Sigmoid(), jaxdl.Dense(2), jaxdl.Sigmoid())
    _, _, state = model.init(jax.random.key(0), (2,))
    params = {
        "dense": {"w": jnp.array([[W1, W3], [W2, W4]], dtype),
                  "b": jnp.array([0.35, 0.35], dtype)},
        "dense_1": {"w": jnp.array([[W5, W7], [W6, W8]], dtype),
                    "b": jnp.array([0.60, 0.60], dtype)},
    }
    x = jnp.array([[0.05, 0.10]], dtype)
    t = jnp.array([[0.01, 0.99]], dtype)
    return model, params, state, x, t


def test_backprop_forward_pass_float64():
    with jax.enable_x64(True):
        model, params, state, x, t = _mazur(jnp.float64)
        h, _ = jaxdl.serial(*model.children[:2]).apply({"dense": params["dense"]}, {}, x)
        out, _ = model.apply(params, state, x)
        chex.assert_shape(out, (1, 2))
        assert out.dtype == jnp.float64
        assert_printed(h[0, 0], "0.593269992")
        assert_printed(h[0, 1], "0.596884378")
        assert_printed(out[0, 0], "0.75136507")
        assert_printed(out[0, 1], "0.772928465")
        e_total = losses.half_sum_squared_error(out, t)
        assert_printed(e_total, "0.298371109")
        e_each = losses.half_sum_squared_error(out, t, reduction="none")
        assert_printed(e_each[0, 0], "0.274811083")
        assert_printed(e_each[0, 1], "0.023560026")


def _weights_only_sgd(lr):
    def labels(params):
        return jax.tree_util.tree_map_with_path(
            lambda path, _: "sgd" if path[-1].key == "w" else "frozen", params)

    return optax.multi_transform({"sgd": optax.sgd(lr), "frozen": optax.set_to_zero()}, labels)


def test_backprop_gradient_and_update_float64():
    with jax.enable_x64(True):
        model, params, state, x, t = _mazur(jnp.float64)

        def e_total(p):
            return losses.half_sum_squared_error(model.apply(p, state, x)[0], t)

        grads = jax.grad(e_total)(params)
        assert_printed(grads["dense_1"]["w"][0, 0], "0.082167041")  # dE/dw5

        opt = _weights_only_sgd(0.5)
        updates, _ = opt.update(grads, opt.init(params), params)
        new = optax.apply_updates(params, updates)
        assert_printed(new["dense_1"]["w"][0, 0], "0.35891648")  # w5+
        for name, want in UPDATED.items():
            layer, i, j = POSITIONS[name]
            assert_printed(new[layer]["w"][i, j], f"{want:.8f}")
        # biases are not updated in the notes
        chex.assert_trees_all_equal(new["dense"]["b"], params["dense"]["b"])
        chex.assert_trees_all_equal(new["dense_1"]["b"], params["dense_1"]["b"])


def test_backprop_float32_close():
    # float32 agrees with the float64 reference to about 1e-6 (seed report E5)
    model, params, state, x, t = _mazur(jnp.float32)
    out, _ = model.apply(params, state, x)
    chex.assert_trees_all_close(out, jnp.array([[0.7513650695523157, 0.7729284653214625]]),
                                atol=1e-6)
    grads = jax.grad(lambda p: losses.half_sum_squared_error(model.apply(p, state, x)[0], t))(
        params)
    opt = _weights_only_sgd(0.5)
    new = optax.apply_updates(params, opt.update(grads, opt.init(params), params)[0])
    got = {name: float(new[layer]["w"][i, j]) for name, (layer, i, j) in POSITIONS.items()}
    chex.assert_trees_all_close(got, UPDATED, atol=1e-6)


# ------------------------------------------------------------------ F. parameter counts


def test_parameter_count_64x64x3_mlp():
    model = jaxdl.serial(jaxdl.Flatten(), jaxdl.Dense(1000), jaxdl.Relu(), jaxdl.Dense(500),
                         jaxdl.Relu(), jaxdl.Dense(2))
    out_shape, params, _ = jaxdl.abstract_init(model, (64, 64, 3))  # nothing allocated
    assert out_shape == (2,)
    flat_shape, _, _ = jaxdl.abstract_init(jaxdl.Flatten(), (64, 64, 3))
    assert flat_shape == (12288,)
    assert jaxdl.count_params(params, include_bias=False) == 12_789_000
    assert jaxdl.count_params(params) == 12_790_502
    footer = jaxdl.summary(model, (64, 64, 3)).splitlines()[-1]
    assert footer == "Total params: 12,790,502 (weights 12,789,000, biases 1,502)"


def test_parameter_count_hidden_to_hidden():
    # MLP[1000 1000 1000]: two 1000x1000 hidden-to-hidden matrices = 2,000,000 (notes 004)
    hidden = jaxdl.serial(jaxdl.Dense(1000), jaxdl.Dense(1000))
    _, params, _ = jaxdl.abstract_init(hidden, (1000,))
    assert jaxdl.count_params(params, include_bias=False) == 2_000_000


def test_flatten_28x28_is_784():
    out_shape, _, _ = jaxdl.Flatten().init(jax.random.key(0), (28, 28))
    assert out_shape == (784,)
    y, _ = jaxdl.Flatten().apply({}, {}, jnp.zeros((2, 28, 28)))
    chex.assert_shape(y, (2, 784))


# ---------------------------------------------------------------------- G. Xavier init


@pytest.mark.parametrize(
    "fan_in, fan_out, limit",
    [(2, 2, 1.224744871391589), (4, 4, 0.8660254037844386), (784, 128, 0.08111071056538127),
     (12288, 1000, 0.021249358102002524)],
)
def test_xavier_limit(fan_in, fan_out, limit):
    assert initializers.xavier_limit(fan_in, fan_out) == pytest.approx(limit, rel=1e-12)
    assert limit == pytest.approx(math.sqrt(6.0 / (fan_in + fan_out)))


def test_glorot_uniform_within_xavier_limit():
    limit = initializers.xavier_limit(784, 128)
    w = initializers.glorot_uniform()(jax.random.key(0), (784, 128))
    chex.assert_shape(w, (784, 128))
    assert float(jnp.max(jnp.abs(w))) <= limit
    assert float(jnp.max(jnp.abs(w))) > 0.99 * limit  # fills the whole interval
    # the notes' variance 2 / (n_in + n_out) = limit² / 3
    assert float(jnp.var(w)) == pytest.approx(2.0 / (784 + 128), rel=0.02)
