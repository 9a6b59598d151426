"""Tests for BatchNorm, LayerNorm (against flax.linen with identical parameters) and Embedding.

``check_layer`` covers BatchNorm, LayerNorm and Augment through ``LAYERS`` in
``tests/test_layers.py``; Embedding's integer ids are checked here (the protocol test's
random inputs are floats).
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl.testing import check_layer

KEY = jax.random.key(0)


def _random_params(features: int, seed: int = 1) -> dict:
    k1, k2 = jax.random.split(jax.random.key(seed))
    return {"scale": 1.0 + 0.5 * jax.random.normal(k1, (features,)),
            "bias": jax.random.normal(k2, (features,))}


def _random_stats(features: int, seed: int = 2) -> dict:
    k1, k2 = jax.random.split(jax.random.key(seed))
    return {"mean": jax.random.normal(k1, (features,)),
            "var": jax.random.uniform(k2, (features,), minval=0.5, maxval=2.0)}


# ------------------------------------------------------------ against flax.linen

SHAPES = [(16, 6), (4, 5, 5, 6)]  # (B, C) and (B, H, W, C)


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "4d"])
def test_batch_norm_and_layer_norm_equal_flax(shape):
    c = shape[-1]
    # features of different means and scales, as real activations have
    row = (1,) * (len(shape) - 1) + (c,)
    x = jax.random.normal(jax.random.key(3), shape) * jnp.linspace(0.5, 3.0, c).reshape(row) \
        + jnp.linspace(-2.0, 4.0, c).reshape(row)
    wide = jax.random.normal(jax.random.key(5), (*shape[:-1], 64))
    params, stats, wide_params = _random_params(c), _random_stats(c), _random_params(64)
    bn, ln = jaxdl.BatchNorm(momentum=0.9, epsilon=1e-5), jaxdl.LayerNorm()

    @jax.jit  # one program per side: fewer compiles than op-by-op
    def ours():
        return {"init": (bn.init(KEY, shape[1:])[1:], ln.init(KEY, shape[1:])[1:]),
                "train": bn.apply(params, stats, x, train=True),
                "eval": bn.apply(params, stats, x, train=False),
                "ln": ln.apply(params, {}, x)[0], "ln_wide": ln.apply(wide_params, {}, wide)[0]}

    @jax.jit
    def flax():
        variables = {"params": params, "batch_stats": stats}
        train, evaluate = (nn.BatchNorm(use_running_average=not t, momentum=0.9, epsilon=1e-5)
                           for t in (True, False))
        y_train, updated = train.apply(variables, x, mutable=["batch_stats"])
        init = train.init(KEY, x)
        return {"init": ((init["params"], init["batch_stats"]),
                         (nn.LayerNorm().init(KEY, x)["params"], {})),
                "train": (y_train, updated["batch_stats"]),
                "eval": (evaluate.apply(variables, x), stats),
                # Flax's default variance is E[x²] - E[x]²; jaxdl uses E[(x - μ)²], which is
                # what Flax computes with use_fast_variance=False (and is more accurate:
                # few features of nearly equal values make E[x²] - E[x]² lose digits);
                # with 64 features the two agree
                "ln": nn.LayerNorm(use_fast_variance=False).apply({"params": params}, x),
                "ln_wide": nn.LayerNorm().apply({"params": wide_params}, wide)}

    got, want = ours(), flax()
    # the same names and initial values (scale ones, bias zeros, mean zeros, var ones)
    chex.assert_trees_all_equal(got["init"], want["init"])
    chex.assert_trees_all_close(got, want, atol=1e-5, rtol=1e-5)
    # the update moved the statistics towards the batch's, by Flax's convention
    new_state = got["train"][1]
    assert not np.allclose(new_state["mean"], stats["mean"])
    flat = x.reshape(-1, c)
    chex.assert_trees_all_close(
        new_state, {"mean": 0.9 * stats["mean"] + 0.1 * flat.mean(0),
                    "var": 0.9 * stats["var"] + 0.1 * flat.var(0)}, atol=1e-5)


# the tests below reuse SHAPES, so that eager ops compiled above are reused


def test_layer_norm_normalises_each_position():
    x = jax.random.normal(KEY, SHAPES[1]) * 5.0 + 2.0
    layer = jaxdl.LayerNorm(use_scale=False, use_bias=False)
    _, params, state = layer.init(KEY, SHAPES[1][1:])
    assert params == {}
    y, _ = layer.apply(params, state, x)
    chex.assert_trees_all_close(y.mean(-1), jnp.zeros(SHAPES[1][:-1]), atol=1e-5)
    chex.assert_trees_all_close(y.var(-1), jnp.ones(SHAPES[1][:-1]), atol=1e-3)


def test_batch_norm_options():
    layer = jaxdl.BatchNorm(use_scale=False, use_bias=False, name="bn")
    assert layer.name == "bn" and layer.label == "BatchNorm 'bn'"
    _, params, state = layer.init(KEY, (6,))
    assert params == {} and set(state) == {"mean", "var"}
    x = jax.random.normal(KEY, SHAPES[0]) * 3.0 + 1.0
    y, _ = layer.apply(params, state, x, train=True)
    chex.assert_trees_all_close(y.mean(0), jnp.zeros(6), atol=1e-5)
    chex.assert_trees_all_close(y.var(0), jnp.ones(6), atol=1e-3)
    _, same = layer.apply(params, state, x)  # evaluation returns the state it was given
    assert same is state
    assert jaxdl.BatchNorm().name == "batch_norm" and jaxdl.LayerNorm().name == "layer_norm"


def test_batch_norm_momentum_bounds():
    x = jax.random.normal(KEY, SHAPES[0]) * 3.0 + 1.0
    _, p, s = jaxdl.BatchNorm().init(KEY, (6,))
    _, keep = jaxdl.BatchNorm(momentum=1.0).apply(p, s, x, train=True)
    _, replace = jaxdl.BatchNorm(momentum=0.0).apply(p, s, x, train=True)
    chex.assert_trees_all_equal(keep, s)
    chex.assert_trees_all_close(replace, {"mean": x.mean(0), "var": x.var(0)}, atol=1e-5)


def test_batch_norm_axis_name_under_vmap_equals_the_batch():
    # vmap over examples: each call sees one example; the named axis combines them
    layer = jaxdl.BatchNorm(axis_name="batch")
    x = jax.random.normal(KEY, SHAPES[0]) * 2.0 + 1.0
    params, stats = _random_params(6), _random_stats(6)
    y, state = jaxdl.BatchNorm().apply(params, stats, x, train=True)
    y_map, s_map = jax.vmap(lambda xi: layer.apply(params, stats, xi, train=True),
                            axis_name="batch")(x)
    chex.assert_trees_all_close(y_map, y, atol=1e-5)
    chex.assert_trees_all_close(jax.tree_util.tree_map(lambda a: a[0], s_map), state, atol=1e-6)


def test_batch_norm_lengths_count_valid_steps_only():
    layer = jaxdl.BatchNorm(momentum=0.0)
    _, params, state = layer.init(KEY, (None, 2))
    x = jax.random.normal(KEY, (3, 5, 2))
    lengths = jnp.array([2, 5, 3])
    run = jax.jit(lambda xx, ll: layer.apply(params, state, xx, train=True, lengths=ll))
    y, new = run(x, lengths)
    valid = np.asarray(jaxdl.length_mask(lengths, 5))
    picked = np.asarray(x)[valid]  # (10, 2): the valid steps only
    chex.assert_trees_all_close(new["mean"], picked.mean(0), atol=1e-5)
    chex.assert_trees_all_close(new["var"], picked.var(0), atol=1e-5)
    # the padding does not move the statistics or the valid outputs
    junk = jnp.where(jnp.asarray(valid)[..., None], x, 100.0)
    y_junk, new_junk = run(junk, lengths)
    chex.assert_trees_all_close(new_junk, new, atol=1e-5)
    chex.assert_trees_all_close(y_junk[valid], y[valid], atol=1e-5)
    # lengths on (batch, features) inputs mean nothing to BatchNorm: ignored
    with_lengths, without = jax.jit(lambda xx, ll: (
        layer.apply(params, state, xx, train=True, lengths=ll),
        layer.apply(params, state, xx, train=True)))(x[:, 0], lengths)
    chex.assert_trees_all_equal(with_lengths, without)


def test_batch_norm_bfloat16_input():
    layer = jaxdl.BatchNorm()
    _, params, state = layer.init(KEY, (6,))
    x = (jax.random.normal(KEY, SHAPES[0]) * 3.0).astype(jnp.bfloat16)
    y, new = layer.apply(params, state, x, train=True)
    assert y.dtype == jnp.float32 and new["mean"].dtype == jnp.float32  # as Flax: promoted
    y_ref, _ = layer.apply(params, state, x.astype(jnp.float32), train=True)
    chex.assert_trees_all_close(y, y_ref, atol=1e-5)


# -------------------------------------------------------------------- Embedding


def test_embedding_check_layer_and_lookup():
    layer = jaxdl.Embedding(7, 4)
    out_shape, params, state = check_layer(layer, (None,), input_dtype=jnp.int32,
                                           input_range=(0, 7))
    assert out_shape == (None, 4) and params["embedding"].shape == (7, 4) and state == {}
    ids = jnp.array([[0, 6, 3], [2, 2, 1]])
    y, _ = layer.apply(params, state, ids)
    # the lookup is a one-hot matmul
    chex.assert_trees_all_close(y, jax.nn.one_hot(ids, 7) @ params["embedding"], atol=1e-6)
    chex.assert_trees_all_equal(layer.apply(params, state, jnp.int32(3))[0],
                                params["embedding"][3])  # one id, no batch axis
    assert layer.label == "Embedding(7, 4)" and layer.name == "embedding"


def test_embedding_default_init_is_flax_embed():
    layer = jaxdl.Embedding(1000, 64)
    _, params, _ = layer.init(KEY, ())
    ref = nn.Embed(1000, 64).init(KEY, jnp.zeros((1,), jnp.int32))["params"]["embedding"]
    assert ref.shape == params["embedding"].shape
    # the same distribution: N(0, 1 / features)
    np.testing.assert_allclose(float(jnp.std(params["embedding"])), 1 / 8, rtol=0.02)
    np.testing.assert_allclose(float(jnp.std(ref)), 1 / 8, rtol=0.02)
    _, other, _ = jaxdl.Embedding(5, 3, w_init="zeros", dtype=jnp.bfloat16).init(KEY, ())
    chex.assert_trees_all_equal(other["embedding"], jnp.zeros((5, 3), jnp.bfloat16))


def test_embedding_out_of_range_under_jit_is_nan_never_clipped():
    layer = jaxdl.Embedding(5, 2)
    _, params, state = layer.init(KEY, (None,))
    run = jax.jit(lambda ids: layer.apply(params, state, ids)[0])
    y = run(jnp.array([-1, 0, 4, 5], jnp.int32))
    assert bool(jnp.all(jnp.isnan(y[0]))) and bool(jnp.all(jnp.isnan(y[3])))
    chex.assert_trees_all_equal(y[1:3], params["embedding"][jnp.array([0, 4])])
    y8 = run(jnp.array([-3, 1], jnp.int8))  # a narrow dtype is widened, not wrapped
    assert bool(jnp.all(jnp.isnan(y8[0]))) and not bool(jnp.any(jnp.isnan(y8[1])))


# --------------------------------------------------------------- inside fit


def test_batch_norm_inside_fit_learns_the_data_statistics():
    mean, std = np.array([3.0, -2.0], np.float32), np.array([2.0, 0.5], np.float32)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(256, 2)) * std + mean).astype(np.float32)
    y = (x @ np.array([[1.0], [-1.0]], np.float32)).astype(np.float32)
    model = jaxdl.serial(jaxdl.BatchNorm(momentum=0.8), jaxdl.Dense(1))
    _, params, state = model.init(KEY, (2,))
    result = jaxdl.fit(model, params, state, x, y, loss="mse", optimizer=optax.adam(0.05),
                       epochs=3, batch_size=32, key=0, verbose=0)
    stats = result.state["batch_norm"]
    # the last batches' statistics, averaged: close to the whole data's
    np.testing.assert_allclose(stats["mean"], x.mean(0), atol=0.15)
    np.testing.assert_allclose(stats["var"], x.var(0), rtol=0.15)
    assert not np.allclose(stats["var"], 1.0, rtol=0.5)  # far from the initial ones
    # evaluation and prediction use those running statistics, not the batch's
    skewed = x[:8] + 5.0  # a batch whose own statistics are far from the running ones
    eval_out, _ = model.apply(result.params, result.state, skewed)
    train_out, _ = model.apply(result.params, result.state, skewed, train=True)
    assert float(jnp.max(jnp.abs(eval_out - train_out))) > 1.0
    predicted = jaxdl.predict(model, result.params, result.state, skewed)
    chex.assert_trees_all_close(predicted, eval_out, atol=1e-5)
    scores = jaxdl.evaluate(model, result.params, result.state, skewed, y[:8], loss="mse")
    np.testing.assert_allclose(scores["loss"], float(jnp.mean((eval_out - y[:8]) ** 2)),
                               rtol=1e-5)


# --------------------------------------------------------------------- bad input


def _bn_apply(layer, params=None, state=None, x=None, **kw):
    _, p, s = jaxdl.BatchNorm().init(KEY, (3,))
    return layer.apply(p if params is None else params, s if state is None else state,
                       jnp.ones((2, 3)) if x is None else x, **kw)


def _embedding_apply(ids, table_shape=(5, 2)):
    layer = jaxdl.Embedding(5, 2)
    _, p, s = layer.init(KEY, (None,))
    if table_shape != (5, 2):
        p = {"embedding": jnp.zeros(table_shape)}
    return layer.apply(p, s, ids)


BAD = [
    ("BatchNorm-momentum-high", lambda: jaxdl.BatchNorm(momentum=1.5), ValueError,
     r"^BatchNorm: momentum must be in \[0, 1\], got 1\.5"),
    ("BatchNorm-momentum-negative", lambda: jaxdl.BatchNorm(momentum=-0.1), ValueError,
     r"^BatchNorm: momentum must be in \[0, 1\], got -0\.1"),
    ("BatchNorm-epsilon-zero", lambda: jaxdl.BatchNorm(epsilon=0.0), ValueError,
     r"^BatchNorm: epsilon must be > 0, got 0\.0"),
    ("BatchNorm-epsilon-string", lambda: jaxdl.BatchNorm(epsilon="1e-5"), TypeError,
     r"^BatchNorm: epsilon must be a number, got '1e-5'"),
    ("BatchNorm-axis-name", lambda: jaxdl.BatchNorm(axis_name=0), TypeError,
     r"^BatchNorm: axis_name must be None, a string or a tuple of strings.*got 0"),
    ("LayerNorm-epsilon-negative", lambda: jaxdl.LayerNorm(epsilon=-1e-6), ValueError,
     r"^LayerNorm: epsilon must be > 0, got -1e-06"),
    ("BatchNorm-params-of-another-layer",
     lambda: _bn_apply(jaxdl.BatchNorm(), params=jaxdl.Dense(3).init(KEY, (3,))[1]),
     ValueError, r"^BatchNorm: expected params \{'scale': \(features,\), 'bias': "
     r"\(features,\)\}, got \['b', 'w'\]; were these params made for another layer\?"),
    ("BatchNorm-params-wrong-size",
     lambda: _bn_apply(jaxdl.BatchNorm(), params={"scale": jnp.ones(4), "bias": jnp.ones(4)}),
     ValueError, r"^BatchNorm: expected state\['mean'\] of shape \(4,\), got \(3,\); were "
     r"these state made"),
    ("BatchNorm-state-of-another-layer", lambda: _bn_apply(jaxdl.BatchNorm(), state={}),
     ValueError, r"^BatchNorm: expected state \{'mean': \(features,\), 'var': "
     r"\(features,\)\}, got \[\]"),
    ("BatchNorm-no-bias-given-bias", lambda: _bn_apply(jaxdl.BatchNorm(use_bias=False)),
     ValueError, r"^BatchNorm: expected params \{'scale': \(features,\)\}, got "
     r"\['bias', 'scale'\]"),
    ("BatchNorm-wrong-features", lambda: _bn_apply(jaxdl.BatchNorm(), x=jnp.ones((2, 4))),
     ValueError, r"^BatchNorm: expected input of shape \(\*batch, 3\), got \(2, 4\)"),
    ("BatchNorm-train-one-example",
     lambda: _bn_apply(jaxdl.BatchNorm(), x=jnp.ones(3), train=True), ValueError,
     r"^BatchNorm: in training, batch statistics need a batch, got one example of shape "
     r"\(3,\).*axis_name"),
    ("BatchNorm-train-empty-batch",
     lambda: _bn_apply(jaxdl.BatchNorm(), x=jnp.ones((0, 3)), train=True), ValueError,
     r"^BatchNorm: in training, batch statistics need at least one example, got an empty "
     r"input of shape \(0, 3\)"),
    ("BatchNorm-init-unknown-features", lambda: jaxdl.BatchNorm().init(KEY, (4, None)),
     ValueError, r"^BatchNorm: expected a per-example input_shape \(\*leading, features\) "
     r"with a known number of features, got \(4, None\)"),
    ("LayerNorm-wrong-features",
     lambda: jaxdl.LayerNorm(name="ln").apply(jaxdl.LayerNorm().init(KEY, (3,))[1], {},
                                              jnp.ones((2, 5))),
     ValueError, r"^LayerNorm 'ln': expected input of shape \(\*batch, 3\), got \(2, 5\)"),
    ("Embedding-float-ids", lambda: _embedding_apply(jnp.array([1.0, 2.0])), TypeError,
     r"^Embedding\(5, 2\): ids must be integers, got dtype float32"),
    ("Embedding-float-ids-jit",
     lambda: jax.jit(lambda i: _embedding_apply(i))(jnp.array([1.0, 2.0])), TypeError,
     r"^Embedding\(5, 2\): ids must be integers, got dtype float32"),
    ("Embedding-bool-ids", lambda: _embedding_apply(jnp.array([True])), TypeError,
     r"^Embedding\(5, 2\): ids must be integers, got dtype bool"),
    ("Embedding-id-too-large", lambda: _embedding_apply(jnp.array([[0, 1], [4, 5]])),
     ValueError, r"^Embedding\(5, 2\): ids must be in \[0, 5\); got 5 at index \(1, 1\)"),
    ("Embedding-id-negative", lambda: _embedding_apply(np.array([3, -1])), ValueError,
     r"^Embedding\(5, 2\): ids must be in \[0, 5\); got -1 at index \(1,\)"),
    ("Embedding-num-embeddings-zero", lambda: jaxdl.Embedding(0, 4), ValueError,
     r"^Embedding: num_embeddings must be >= 1, got 0"),
    ("Embedding-features-float", lambda: jaxdl.Embedding(10, 2.5), TypeError,
     r"^Embedding: features must be an int, got 2\.5"),
    ("Embedding-int-dtype", lambda: jaxdl.Embedding(10, 2, dtype=jnp.int32), TypeError,
     r"^Embedding: dtype must be a floating dtype"),
    ("Embedding-table-of-another-layer", lambda: _embedding_apply(jnp.array([1]), (6, 2)),
     ValueError, r"^Embedding\(5, 2\): expected params\['embedding'\] of shape \(5, 2\), got "
     r"\(6, 2\); were these params made for another layer\?"),
]


@pytest.mark.parametrize("call, error, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()

