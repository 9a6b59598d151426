"""The application layers: graph convolution, recommenders, RBMs, TimeDistributed, and the
Gaussian KL term, each against a hand computation, ``check_layer`` and bad input."""

from __future__ import annotations

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.experimental import sparse

import jaxdl
from jaxdl import rbm
from jaxdl.testing import check_layer

KEY = jax.random.key(0)
PATH = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)  # 0 - 1 - 2


# --------------------------------------------------------------------------- graphs


def test_normalize_adjacency_by_hand() -> None:
    # degrees with self-loops: 2, 3, 2
    want = np.array([[1 / 2, 1 / np.sqrt(6), 0],
                     [1 / np.sqrt(6), 1 / 3, 1 / np.sqrt(6)],
                     [0, 1 / np.sqrt(6), 1 / 2]])
    np.testing.assert_allclose(jaxdl.normalize_adjacency(PATH), want, rtol=1e-6)
    np.testing.assert_allclose(jaxdl.normalize_adjacency(PATH.astype(bool)), want, rtol=1e-6)
    got = jaxdl.normalize_adjacency(sparse.BCOO.fromdense(PATH))
    assert isinstance(got, sparse.BCOO)
    np.testing.assert_allclose(got.todense(), want, rtol=1e-6)
    # without self-loops an isolated node gets a zero row, not NaN
    lonely = np.zeros((3, 3), np.float32)
    lonely[0, 1] = lonely[1, 0] = 1.0
    out = jaxdl.normalize_adjacency(lonely, self_loops=False)
    np.testing.assert_allclose(out, [[0, 1, 0], [1, 0, 0], [0, 0, 0]])


def test_graph_conv_is_a_hat_x_w() -> None:
    x = jax.random.normal(jax.random.key(1), (2, 3, 5))  # two feature sets on one graph
    for adjacency in (PATH, sparse.BCOO.fromdense(PATH)):
        layer = jaxdl.GraphConv(4, adjacency)
        out_shape, params, _ = layer.init(KEY, (3, 5))
        assert out_shape == (3, 4)
        y, _ = layer.apply(params, {}, x)
        a_hat = np.asarray(jaxdl.normalize_adjacency(PATH))
        want = np.einsum("ij,bjk->bik", a_hat, np.asarray(x) @ np.asarray(params["w"]))
        np.testing.assert_allclose(y, want + np.asarray(params["b"]), rtol=1e-5, atol=1e-6)
    raw = jaxdl.GraphConv(2, PATH, normalize=False, use_bias=False)
    _, params, _ = raw.init(KEY, (3, 1))
    np.testing.assert_allclose(raw.apply(params, {}, jnp.ones((3, 1)))[0],
                               PATH.sum(1, keepdims=True) * np.asarray(params["w"]), rtol=1e-6)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: jaxdl.GraphConv(4, np.ones((3, 2))), ValueError, r"GraphConv: adjacency must be "
     r"a square \(n, n\) matrix with n >= 1, got shape \(3, 2\)"),
    (lambda: jaxdl.GraphConv(4, -PATH), ValueError, r"finite and >= 0.*-1.0"),
    (lambda: jaxdl.GraphConv(4, PATH * np.nan), ValueError, "finite and >= 0"),
    (lambda: jaxdl.GraphConv(4, "karate"), TypeError, "adjacency must be an"),
    (lambda: jaxdl.GraphConv(0, PATH), ValueError, "GraphConv: features"),
    (lambda: jaxdl.GraphConv(4, PATH).init(KEY, (4, 5)), ValueError,
     r"n = 3 \(the graph's nodes\), got input_shape \(4, 5\)"),
    (lambda: jaxdl.GraphConv(4, PATH).apply(jaxdl.GraphConv(4, PATH).init(KEY, (3, 5))[1], {},
                                            jnp.ones((4, 5))), ValueError,
     r"expected node features \(\*batch, 3, 5\), got \(4, 5\)"),
    (lambda: jaxdl.GraphConv(4, PATH).apply(jaxdl.GraphConv(4, PATH).init(KEY, (3, 5))[1], {},
                                            jnp.ones((3, 5), jnp.int32)), TypeError, "int32"),
    (lambda: jaxdl.normalize_adjacency(np.ones((2, 2, 2))), ValueError, "normalize_adjacency"),
])
def test_graph_bad_input(make, exc, match) -> None:
    with pytest.raises(exc, match=match):
        make()


# --------------------------------------------------------------------------- recommenders


def test_matrix_factorization_formula() -> None:
    mf = jaxdl.MatrixFactorization(3, 4, 2, global_bias=3.0)
    _, params, _ = mf.init(KEY, (2,))
    params = jax.tree_util.tree_map(lambda p: p, params)
    params["user_bias"]["embedding"] = jnp.array([[0.5], [-0.5], [0.0]])
    params["item_bias"]["embedding"] = jnp.array([[0.1], [0.2], [0.3], [0.4]])
    pairs = jnp.array([[0, 3], [2, 1], [1, 1]])
    y, _ = mf.apply(params, {}, pairs)
    p, q = params["user"]["embedding"], params["item"]["embedding"]
    want = [3.0 + ub + ib + float(p[u] @ q[i])
            for (u, i), ub, ib in zip(pairs.tolist(), (0.5, 0.0, -0.5), (0.4, 0.2, 0.2))]
    np.testing.assert_allclose(y, want, rtol=1e-6)
    assert float(jnp.std(p)) == pytest.approx(0.1, rel=0.6)  # init_scale


@pytest.mark.parametrize("make", [
    lambda: jaxdl.MatrixFactorization(5, 6, 3),
    lambda: jaxdl.NeuralCF(5, 6, 3, hidden=(8, 4)),
    lambda: jaxdl.NeuralCF(5, 6, 3, hidden=()),
], ids=["MatrixFactorization", "NeuralCF", "NeuralCF-linear"])
def test_recommenders_check_layer(make) -> None:
    check_layer(make(), (2,), input_dtype=jnp.int32, input_range=(0, 5))


def test_neural_cf_global_bias_starts_the_output_bias() -> None:
    _, params, _ = jaxdl.NeuralCF(4, 5, 8, hidden=(16,), global_bias=3.5).init(KEY, (2,))
    assert params["mlp"]["dense_1"]["b"].tolist() == [3.5]


def test_neural_cf_dropout_trains_with_a_key() -> None:
    ncf = jaxdl.NeuralCF(5, 6, 3, hidden=(8,), dropout=0.5)
    check_layer(ncf, (2,), input_dtype=jnp.int32, input_range=(0, 5), train=True)


@pytest.mark.parametrize("make, x, exc, match", [
    (lambda: jaxdl.MatrixFactorization(3, 4, 2), jnp.array([[0, 1], [0, 4]]), ValueError,
     r"MatrixFactorization\(3, 4, 2\): item ids \(x\[..., 1\]\) must be in \[0, 4\); got 4 "
     r"at index \(1,\)"),
    (lambda: jaxdl.MatrixFactorization(3, 4, 2), jnp.array([[0, 1, 2]]), ValueError,
     r"MatrixFactorization\(3, 4, 2\): expected \(user, item\) id pairs of shape \(\*batch, "
     r"2\), got \(1, 3\)"),
    (lambda: jaxdl.NeuralCF(3, 4, 2), jnp.array([[0.0, 1.0]]), TypeError, "float32"),
    (lambda: jaxdl.NeuralCF(3, 4, 2), jnp.array([[-1, 1]]), ValueError,
     r"NeuralCF.*: user ids \(x\[..., 0\]\) must be in \[0, 3\); got -1"),
])
def test_recommenders_bad_input(make, x, exc, match) -> None:
    layer = make()
    _, params, state = layer.init(KEY, (2,))
    with pytest.raises(exc, match=match):
        layer.apply(params, state, x)


def test_recommenders_bad_construction() -> None:
    with pytest.raises(ValueError, match="MatrixFactorization: factors"):
        jaxdl.MatrixFactorization(3, 4, 0)
    with pytest.raises(TypeError, match="NeuralCF: hidden must be a sequence"):
        jaxdl.NeuralCF(3, 4, 2, hidden=16)
    with pytest.raises(ValueError, match=r"expected the per-example input shape \(2,\)"):
        jaxdl.NeuralCF(3, 4, 2).init(KEY, (3,))


def test_matrix_factorization_learns_a_low_rank_matrix() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(12, 2)) @ rng.normal(size=(2, 10))  # rank 2
    pairs = np.array(list(itertools.product(range(12), range(10))), np.int32)
    mf = jaxdl.MatrixFactorization(12, 10, 2, init_scale=0.3)
    _, params, state = mf.init(KEY, (2,))
    result = jaxdl.fit(mf, params, state, pairs, truth.reshape(-1).astype(np.float32),
                       loss="mse", optimizer=optax.adam(0.05), epochs=300, batch_size=120,
                       key=0, verbose=0)
    assert result.history["loss"][-1] < 1e-3 * float(np.var(truth))


# --------------------------------------------------------------------------- RBMs


def _small_rbm(v: int = 3, h: int = 2):
    _, params, _ = jaxdl.RBM(h, w_init=jaxdl.initializers.normal(1.0)).init(KEY, (v,))
    params["b_visible"] = jnp.linspace(-0.5, 0.5, v)
    params["b_hidden"] = jnp.linspace(0.3, -0.3, h)
    return params


def test_rbm_free_energy_marginalises_the_hidden_units() -> None:
    params = _small_rbm()
    w, bv, bh = (np.asarray(params[k], np.float64) for k in ("w", "b_visible", "b_hidden"))
    for v in itertools.product([0.0, 1.0], repeat=3):
        v = np.array(v)
        # F(v) = -log Σ_h exp(-E(v, h)), E = -v·bv - h·bh - vᵀWh, by brute force
        total = sum(np.exp(v @ bv + np.array(h) @ bh + v @ w @ np.array(h))
                    for h in itertools.product([0.0, 1.0], repeat=2))
        got = float(rbm.free_energy(params, jnp.asarray(v, jnp.float32)))
        assert got == pytest.approx(-np.log(total), rel=1e-5)


def test_rbm_conditionals_by_hand() -> None:
    params = _small_rbm()
    v = jnp.array([[1.0, 0.0, 1.0]])
    w, bv, bh = (np.asarray(params[k]) for k in ("w", "b_visible", "b_hidden"))
    ph = 1 / (1 + np.exp(-(np.asarray(v) @ w + bh)))
    np.testing.assert_allclose(rbm.hidden_probabilities(params, v), ph, rtol=1e-6)
    np.testing.assert_allclose(rbm.visible_probabilities(params, jnp.asarray(ph)),
                               1 / (1 + np.exp(-(ph @ w.T + bv))), rtol=1e-6)
    layer_out, _ = jaxdl.RBM(2).apply(params, {}, v)
    np.testing.assert_array_equal(layer_out, rbm.hidden_probabilities(params, v))


def test_cd_loss_gradient_is_the_cd_update() -> None:
    params = _small_rbm()
    v = jnp.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    key = jax.random.key(3)
    grads = jax.grad(rbm.cd_loss)(params, v, key)
    vk, _ = rbm.gibbs_step(params, v, jax.random.split(key, 1)[0])  # the same chain
    ph0, phk = rbm.hidden_probabilities(params, v), rbm.hidden_probabilities(params, vk)
    # Hinton (2002): ΔW ∝ <v hᵀ>_data - <v hᵀ>_model; the loss's gradient is its negative
    np.testing.assert_allclose(grads["w"], -(v.T @ ph0 - vk.T @ phk) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads["b_visible"], -jnp.mean(v - vk, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads["b_hidden"], -jnp.mean(ph0 - phk, 0), rtol=1e-5, atol=1e-6)


def test_cd_training_learns_two_patterns() -> None:
    _, params, _ = jaxdl.RBM(4).init(KEY, (6,))
    v = jnp.array([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]] * 8)
    tx = optax.sgd(0.1)
    opt = tx.init(params)
    before = float(rbm.reconstruction_error(params, v))

    @jax.jit
    def step(params, opt, key):
        grads = jax.grad(rbm.cd_loss)(params, v, key, k=2)
        updates, opt = tx.update(grads, opt)
        return optax.apply_updates(params, updates), opt

    for i in range(300):
        params, opt = step(params, opt, jax.random.key(i))
    assert float(rbm.reconstruction_error(params, v)) < before / 4
    # the data now has lower free energy than a pattern never seen
    seen = rbm.free_energy(params, v[:1])
    unseen = rbm.free_energy(params, jnp.array([[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]]))
    assert float(seen[0]) < float(unseen[0])


def test_dbn_is_a_serial_of_rbms() -> None:
    dbn = jaxdl.serial(jaxdl.RBM(5), jaxdl.RBM(3), jaxdl.Dense(2))
    out_shape, params, _ = dbn.init(KEY, (6,))
    assert out_shape == (2,) and sorted(params) == ["dense", "rbm", "rbm_1"]
    check_layer(dbn, (6,))


@pytest.mark.parametrize("thunk, exc, match", [
    (lambda: rbm.free_energy({"w": jnp.ones((3, 2))}, jnp.ones((1, 3))), ValueError,
     r"rbm.free_energy: expected RBM params"),
    (lambda: rbm.hidden_probabilities(_small_rbm(), jnp.ones((2, 4))), ValueError,
     r"rbm.hidden_probabilities: expected visible units of shape \(\*batch, 3\), got \(2, 4\)"),
    (lambda: rbm.cd_loss(_small_rbm(), jnp.ones((2, 3)), KEY, k=0), ValueError,
     "rbm.cd_loss: k"),
    (lambda: rbm.cd_loss(_small_rbm(), jnp.ones((2, 3), jnp.int32), KEY), TypeError,
     "floating"),
    (lambda: jaxdl.RBM(2).apply(_small_rbm(), {}, jnp.ones((2, 5))), ValueError,
     r"RBM\(2\): expected visible units"),
    (lambda: jaxdl.RBM(4).apply(_small_rbm(), {}, jnp.ones((2, 3))), ValueError,
     r"RBM\(4\): expected params\['w'\] with 4 hidden units"),
])
def test_rbm_bad_input(thunk, exc, match) -> None:
    with pytest.raises(exc, match=match):
        thunk()


# --------------------------------------------------------------------------- TimeDistributed


def test_time_distributed_equals_vmap_over_time() -> None:
    frame = jaxdl.serial(jaxdl.Conv(3, (3, 3)), jaxdl.Relu(), jaxdl.GlobalAvgPool())
    td = jaxdl.TimeDistributed(frame)
    out_shape, params, state = td.init(KEY, (5, 6, 6, 1))
    assert out_shape == (5, 3)
    x = jax.random.normal(jax.random.key(2), (2, 5, 6, 6, 1))
    y, _ = td.apply(params, state, x)
    inner = params["serial"]
    by_frame = jax.vmap(lambda xt: frame.apply(inner, {}, xt)[0], in_axes=1, out_axes=1)(x)
    np.testing.assert_allclose(y, by_frame, rtol=1e-5, atol=1e-6)
    y_len, _ = td.apply(params, state, x, lengths=jnp.array([5, 2]))
    np.testing.assert_array_equal(y_len[1, 2:], 0.0)
    np.testing.assert_array_equal(y_len[1, :2], y[1, :2])
    with pytest.raises(ValueError, match="TimeDistributed: expected a per-example input_shape"):
        td.init(KEY, ())


# --------------------------------------------------------------------------- the VAE's KL


def test_gaussian_kl_matches_monte_carlo() -> None:
    mean, log_var = jnp.array([[0.5, -1.0]]), jnp.array([[0.2, -0.7]])
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(KEY, (200_000, 2))
    log_q = jnp.sum(-0.5 * ((z - mean) ** 2 / jnp.exp(log_var) + log_var + jnp.log(2 * jnp.pi)),
                    -1)
    log_p = jnp.sum(-0.5 * (z ** 2 + jnp.log(2 * jnp.pi)), -1)
    estimate = float(jnp.mean(log_q - log_p))
    exact = float(jaxdl.losses.gaussian_kl_divergence(mean, log_var))
    assert exact == pytest.approx(estimate, abs=0.01)
    chex.assert_trees_all_close(
        jaxdl.losses.gaussian_kl_divergence(jnp.zeros((4, 3)), jnp.zeros((4, 3)),
                                            reduction="none"), jnp.zeros(4))
