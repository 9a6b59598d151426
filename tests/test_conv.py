"""Tests for jaxdl.layers.conv and jaxdl.layers.pooling, and for mixed precision.

1. Outputs equal ``flax.linen``'s (``nn.Conv``, ``nn.ConvTranspose``, ``nn.max_pool``,
   ``nn.avg_pool``, ``nn.pooling.pool``) with identical weights, in float32.
2. Shape agreement over grids of settings through ``check_layer`` (stax's
   ``_CheckShapeAgreement``), with the float64 gradient check on a representative subset.
3. Mixed precision: bfloat16 compute, float32 parameters, gradients and losses.
4. Bad input: the exception type, the layer and the bad value in the message.
5. A tiny CNN passes ``check_layer`` and trains.
"""

from __future__ import annotations

import itertools
import re

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


# Inputs and weights come from NumPy: jax.random compiles anew for every shape, which
# costs more than the convolutions under test.
def _x(shape, seed=1, dtype=jnp.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype)


def _init(layer, input_shape, seed=2):
    """``layer.init`` without drawing with jax.random: shapes from the abstract init, then
    standard normal weights (biases included, so that a missing bias would show)."""
    out_shape, params, state = jaxdl.abstract_init(layer, input_shape)
    rng = np.random.default_rng(seed)
    params = jax.tree_util.tree_map(
        lambda a: jnp.asarray(rng.standard_normal(a.shape), a.dtype), params)
    return out_shape, params, state


def _flax_params(params):
    out = {"kernel": params["w"]}
    if "b" in params:
        out["bias"] = params["b"]
    return {"params": out}


# ============================================================ 1. agreement with Flax linen

# (id, spatial shape of one example, in_features, jaxdl kwargs); Flax gets the same
# settings (dilation is Flax's kernel_dilation)
CONV_CASES = [
    ("1d-same", (9,), 3, {}),
    ("1d-valid-stride2", (9,), 3, {"padding": "VALID", "strides": 2}),
    ("1d-causal-dilation2", (9,), 3, {"padding": "CAUSAL", "dilation": 2}),
    ("1d-int-padding", (9,), 3, {"padding": 2, "strides": 3}),
    ("1d-pair-padding", (9,), 3, {"padding": ((2, 0),)}),
    ("2d-same", (7, 6), 3, {}),
    ("2d-valid", (7, 6), 3, {"padding": "VALID"}),
    ("2d-lowercase-same-strides", (7, 6), 3, {"padding": "same", "strides": (2, 1)}),
    ("2d-ints-padding", (7, 6), 3, {"padding": (1, 0)}),
    ("2d-pairs-padding-stride2", (7, 6), 3, {"padding": ((0, 2), (1, 1)), "strides": 2}),
    ("2d-dilation", (7, 6), 3, {"dilation": (2, 1)}),
    ("2d-groups", (7, 6), 4, {"feature_group_count": 2}),
    ("2d-depthwise", (7, 6), 6, {"feature_group_count": 6}),
    ("2d-no-bias", (7, 6), 3, {"use_bias": False}),
    ("3d-same", (4, 5, 3), 2, {}),
    ("3d-valid-stride", (5, 5, 4), 2, {"padding": "VALID", "strides": (2, 1, 2)}),
    ("3d-dilation-pad", (4, 5, 3), 2, {"dilation": 2, "padding": 1}),
]


def _flax_conv_kwargs(kwargs):
    return {"strides": kwargs.get("strides", 1), "padding": kwargs.get("padding", "SAME"),
            "kernel_dilation": kwargs.get("dilation", 1),
            "feature_group_count": kwargs.get("feature_group_count", 1),
            "use_bias": kwargs.get("use_bias", True)}


@pytest.mark.parametrize("spatial, channels, kwargs", [c[1:] for c in CONV_CASES],
                         ids=[c[0] for c in CONV_CASES])
def test_conv_equals_flax(spatial, channels, kwargs):
    kernel = (3,) * len(spatial)
    layer = jaxdl.Conv(6, kernel, **kwargs)
    out_shape, params, state = _init(layer, (*spatial, channels))
    padding = kwargs.get("padding", "SAME")
    flax_kwargs = _flax_conv_kwargs(kwargs)
    if isinstance(padding, str):
        flax_kwargs["padding"] = padding.upper()
    x = _x((2, *spatial, channels))
    y, want = jax.jit(lambda p, xx: (  # one compile for both
        layer.apply(p, state, xx)[0],
        nn.Conv(6, kernel, **flax_kwargs).apply(_flax_params(p), xx)))(params, x)
    assert y.shape == want.shape == (2, *out_shape)
    chex.assert_trees_all_close(y, want, atol=1e-5, rtol=1e-5)


TRANSPOSE_CASES = [
    ("1d-same-stride2", (5,), {"strides": 2}),
    ("1d-valid-stride3", (5,), {"padding": "VALID", "strides": 3}),
    ("2d-same", (4, 3), {}),
    ("2d-same-stride2", (4, 3), {"strides": 2}),
    ("2d-valid-stride2", (4, 3), {"padding": "VALID", "strides": 2}),
    ("2d-pairs", (4, 3), {"padding": ((1, 2), (0, 1)), "strides": (2, 3)}),
    ("2d-int-dilation", (4, 3), {"padding": 3, "dilation": 2}),
    ("3d-stride2", (3, 2, 3), {"strides": 2}),
]


@pytest.mark.parametrize("spatial, kwargs", [c[1:] for c in TRANSPOSE_CASES],
                         ids=[c[0] for c in TRANSPOSE_CASES])
def test_conv_transpose_equals_flax(spatial, kwargs):
    kernel = (3,) * (len(spatial) - 1) + (4,)
    layer = jaxdl.ConvTranspose(5, kernel, **kwargs)
    out_shape, params, state = _init(layer, (*spatial, 3))
    x = _x((2, *spatial, 3))
    module = nn.ConvTranspose(5, kernel, strides=kwargs.get("strides"),
                              padding=kwargs.get("padding", "SAME"),
                              kernel_dilation=kwargs.get("dilation"))
    y, want = jax.jit(lambda p, xx: (layer.apply(p, state, xx)[0],
                                     module.apply(_flax_params(p), xx)))(params, x)
    assert y.shape == want.shape == (2, *out_shape)
    chex.assert_trees_all_close(y, want, atol=1e-5, rtol=1e-5)


def _flax_sum_pool(x, window, strides, padding):
    return nn.pooling.pool(x, 0.0, jax.lax.add, window, strides, padding)


POOL_CASES = [
    ("MaxPool-2d", jaxdl.MaxPool, nn.max_pool, (6, 5), (2, 2), {}),
    ("MaxPool-2d-stride1-same", jaxdl.MaxPool, nn.max_pool, (6, 5), (3, 2),
     {"strides": 1, "padding": "SAME"}),
    ("MaxPool-1d-pairs", jaxdl.MaxPool, nn.max_pool, (7,), (3,),
     {"strides": 2, "padding": ((1, 2),)}),
    ("MaxPool-3d", jaxdl.MaxPool, nn.max_pool, (4, 4, 5), (2, 2, 2), {}),
    ("AvgPool-2d", jaxdl.AvgPool, nn.avg_pool, (6, 5), (2, 2), {}),
    ("AvgPool-2d-same-include-pad", jaxdl.AvgPool, nn.avg_pool, (6, 5), (3, 3),
     {"strides": 2, "padding": "SAME"}),
    ("AvgPool-2d-same-exclude-pad", jaxdl.AvgPool, nn.avg_pool, (6, 5), (3, 3),
     {"strides": 2, "padding": "SAME", "count_include_pad": False}),
    ("AvgPool-1d-int-padding-exclude-pad", jaxdl.AvgPool, nn.avg_pool, (7,), (3,),
     {"padding": 1, "count_include_pad": False}),
    ("AvgPool-3d", jaxdl.AvgPool, nn.avg_pool, (4, 4, 5), (2, 1, 2), {"strides": (1, 1, 2)}),
    ("SumPool-2d", jaxdl.SumPool, _flax_sum_pool, (6, 5), (2, 2), {"strides": (2, 1)}),
    ("SumPool-1d-same", jaxdl.SumPool, _flax_sum_pool, (7,), (2,), {"padding": "SAME"}),
]


@pytest.mark.parametrize("make, flax_fn, spatial, window, kwargs", [c[1:] for c in POOL_CASES],
                         ids=[c[0] for c in POOL_CASES])
def test_pooling_equals_flax(make, flax_fn, spatial, window, kwargs):
    layer = make(window, **kwargs)
    out_shape, params, state = layer.init(KEY, (*spatial, 3))
    x = _x((2, *spatial, 3))
    y, _ = jax.jit(layer.apply)(params, state, x)
    strides = kwargs.get("strides", window)  # jaxdl's default; Flax's is 1
    strides = (strides,) * len(window) if isinstance(strides, int) else strides
    padding = kwargs.get("padding", "VALID")
    if isinstance(padding, int):
        padding = ((padding, padding),) * len(window)
    extra = {} if "count_include_pad" not in kwargs else {
        "count_include_pad": kwargs["count_include_pad"]}
    want = jax.jit(lambda xx: flax_fn(xx, window, strides, padding, **extra))(x)
    assert y.shape == want.shape == (2, *out_shape)
    chex.assert_trees_all_close(y, want, atol=1e-5, rtol=1e-5)


def test_pool_default_strides_are_the_window_not_flax_one():
    x = _x((1, 6, 6, 2))
    y, _ = jaxdl.MaxPool((2, 2)).apply({}, {}, x)
    chex.assert_trees_all_equal(y, nn.max_pool(x, (2, 2), strides=(2, 2)))
    assert nn.max_pool(x, (2, 2)).shape == (1, 5, 5, 2)  # Flax's default: stride 1


@pytest.mark.parametrize("spatial", [(5,), (4, 3), (2, 3, 4)], ids=["1d", "2d", "3d"])
def test_global_pools_equal_flax_full_window_pools(spatial):
    x = _x((2, *spatial, 3))
    avg, _ = jaxdl.GlobalAvgPool(len(spatial)).apply({}, {}, x)
    top, _ = jaxdl.GlobalMaxPool(len(spatial)).apply({}, {}, x)
    squeeze = tuple(range(1, len(spatial) + 1))
    chex.assert_trees_all_close(avg, jnp.squeeze(nn.avg_pool(x, spatial), squeeze), atol=1e-6)
    chex.assert_trees_all_equal(top, jnp.squeeze(nn.max_pool(x, spatial), squeeze))
    assert avg.shape == top.shape == (2, 3)


@pytest.mark.parametrize("batch", [(), (2, 3)], ids=["no-batch", "two-batch-axes"])
@pytest.mark.parametrize("make", [
    lambda: jaxdl.Conv(4, (3, 3), strides=2),
    lambda: jaxdl.ConvTranspose(4, (3, 3), strides=2),
    lambda: jaxdl.AvgPool((2, 2), padding="SAME", count_include_pad=False),
], ids=["Conv", "ConvTranspose", "AvgPool"])
def test_any_number_of_leading_batch_axes(make, batch):
    layer = make()
    out_shape, params, state = _init(layer, (5, 4, 3))
    x = _x((*batch, 5, 4, 3))
    y, _ = layer.apply(params, state, x)
    chex.assert_shape(y, (*batch, *out_shape))
    flat, _ = layer.apply(params, state, jnp.reshape(x, (-1, 5, 4, 3)))
    chex.assert_trees_all_close(y, jnp.reshape(flat, y.shape), atol=1e-6)


def test_conv_formula_by_hand():
    # y[t] = Σ_i x[t·s + d·i - lo] w[i] + b: one channel, 1-D, stride 2, dilation 2, pad 1
    layer = jaxdl.Conv(1, (2,), strides=2, dilation=2, padding=1)
    x = jnp.arange(1.0, 8.0)[:, None]  # (7, 1): 1..7
    params = {"w": jnp.array([1.0, 10.0]).reshape(2, 1, 1), "b": jnp.array([0.5])}
    out_shape, _, _ = jaxdl.abstract_init(layer, (7, 1))
    assert out_shape == (4, 1)  # floor((7 + 2 - 2·(2 - 1) - 1) / 2) + 1
    y, _ = layer.apply(params, {}, x)
    padded = np.concatenate([[0.0], np.arange(1.0, 8.0), [0.0]])
    want = [padded[2 * t] + 10 * padded[2 * t + 2] + 0.5 for t in range(4)]
    chex.assert_trees_all_close(y[:, 0], jnp.array(want), atol=1e-6)


def test_causal_conv_never_sees_the_future():
    layer = jaxdl.Conv(2, (3,), padding="CAUSAL", dilation=2)
    out_shape, params, state = _init(layer, (None, 3))
    assert out_shape == (None, 2)
    x = _x((8, 3))
    jac = jax.jacobian(lambda xx: layer.apply(params, state, xx)[0])(x)  # (8, 2, 8, 3)
    later = np.triu(np.ones((8, 8), bool), k=1)  # input step > output step
    assert np.all(np.asarray(jac).transpose(0, 2, 1, 3)[later] == 0)
    # with dilation 2 and 3 taps, output t sees inputs t, t - 2 and t - 4
    sensitivity = np.abs(np.asarray(jac)[:, :, 4]).sum(axis=(1, 2))
    assert set(np.flatnonzero(sensitivity)) == {4, 6}


def test_1d_conv_over_any_length():
    layer = jaxdl.serial(jaxdl.Conv(4, (3,)), jaxdl.Relu(), jaxdl.GlobalMaxPool(1))
    out_shape, params, state = _init(layer, (None, 5))
    assert out_shape == (4,)
    for length in (3, 11):
        assert layer.apply(params, state, _x((2, length, 5)))[0].shape == (2, 4)


def test_global_pools_respect_lengths_of_padded_sequences():
    x = _x((3, 6, 2))
    lengths = jnp.array([6, 2, 0])
    avg, _ = jaxdl.GlobalAvgPool(1).apply({}, {}, x, lengths=lengths)
    top, _ = jaxdl.GlobalMaxPool(1).apply({}, {}, x, lengths=lengths)
    chex.assert_trees_all_close(avg[:2], jnp.stack([x[0].mean(0), x[1, :2].mean(0)]),
                                atol=1e-6)
    chex.assert_trees_all_equal(top[:2], jnp.stack([x[0].max(0), x[1, :2].max(0)]))
    chex.assert_trees_all_equal(avg[2], jnp.zeros(2))  # an empty sequence gives 0, not NaN
    chex.assert_trees_all_equal(top[2], jnp.zeros(2))
    # per example under vmap (a scalar length each), as check_layer runs it
    mapped = jax.vmap(lambda xi, li: jaxdl.GlobalAvgPool(1).apply({}, {}, xi, lengths=li)[0])(
        x, lengths)
    chex.assert_trees_all_close(mapped, avg, atol=1e-6)


def test_labels_and_names():
    assert jaxdl.Conv(32, (3, 3)).label == "Conv(32, (3, 3))"
    assert jaxdl.Conv(32, (3, 3)).name == "conv"
    assert jaxdl.Conv(8, (5,), strides=2, padding="causal", dilation=2, name="enc").label == \
        "Conv(8, (5,), strides=2, padding='CAUSAL', dilation=2) 'enc'"
    assert jaxdl.Conv(8, (3, 3), padding=((1, 0), (1, 0)), feature_group_count=2,
                      compute_dtype=jnp.bfloat16).label == \
        "Conv(8, (3, 3), padding=((1, 0), (1, 0)), feature_group_count=2, " \
        "compute_dtype=bfloat16)"
    assert jaxdl.ConvTranspose(4, (2, 2), strides=2).name == "conv_transpose"
    assert jaxdl.MaxPool((2, 2)).label == "MaxPool((2, 2))"
    assert jaxdl.AvgPool((3, 3), strides=1, padding=1).label == \
        "AvgPool((3, 3), strides=1, padding=1)"
    assert [jaxdl.SumPool((2,)).name, jaxdl.GlobalAvgPool().name, jaxdl.GlobalMaxPool(1).label] \
        == ["sum_pool", "global_avg_pool", "GlobalMaxPool(1)"]
    assert jaxdl.Dense(10, compute_dtype=jnp.bfloat16).label == "Dense(10, compute_dtype=bfloat16)"


def test_pooling_integer_inputs():
    x = jnp.array([[-5, -2, -7], [-1, -9, -3]], jnp.int32)[..., None]  # (2, 3, 1)
    top, _ = jaxdl.MaxPool((2, 2), padding="SAME").apply({}, {}, x)  # pads with int32's min
    chex.assert_trees_all_equal(top[..., 0], jnp.array([[-1, -3]], jnp.int32))
    total, _ = jaxdl.SumPool((1, 3)).apply({}, {}, x)
    chex.assert_trees_all_equal(total[..., 0], jnp.array([[-14], [-13]], jnp.int32))
    mean, _ = jaxdl.AvgPool((2, 1)).apply({}, {}, x)
    assert mean.dtype == jnp.float32
    chex.assert_trees_all_equal(mean[..., 0], jnp.array([[-3.0, -5.5, -5.0]]))


def test_conv_params_layout_and_counts():
    _, params, _ = jaxdl.Conv(16, (3, 3), feature_group_count=2).init(KEY, (8, 8, 4))
    assert params["w"].shape == (3, 3, 2, 16) and params["b"].shape == (16,)
    limit = jaxdl.initializers.xavier_limit(3 * 3 * 2, 3 * 3 * 16)  # fans with the window
    assert float(jnp.max(jnp.abs(params["w"]))) <= limit
    assert jaxdl.count_params(params) == 3 * 3 * 2 * 16 + 16
    assert set(jaxdl.abstract_init(jaxdl.Conv(4, (3,), use_bias=False), (5, 2))[1]) == {"w"}


# ============================================================ 2. shape agreement grids


def _conv_grid():
    """Every spatial rank x stride x padding form x dilation x channels (groups with more
    channels), with a kernel and input small enough for VALID everywhere."""
    paddings = ["SAME", "VALID", 1, "pairs"]
    for rank, stride, padding, dilation, (cin, groups) in itertools.product(
            (1, 2, 3), (1, 2), paddings, (1, 2), ((1, 1), (4, 2))):
        spatial = (6, 5, 5)[:rank]
        pad = tuple((1, 0) for _ in range(rank)) if padding == "pairs" else padding
        yield (f"Conv-{rank}d-s{stride}-{padding}-d{dilation}-c{cin}g{groups}",
               jaxdl.Conv(2 * groups, (3,) * rank, strides=stride, padding=pad,
                          dilation=dilation, feature_group_count=groups),
               (*spatial, cin))


def _other_grid():
    for rank, stride, padding in itertools.product((1, 2, 3), (1, 2),
                                                   ("SAME", "VALID", 1, "pairs")):
        spatial = (5, 4, 3)[:rank]
        pad = tuple((0, 1) for _ in range(rank)) if padding == "pairs" else padding
        yield (f"ConvTranspose-{rank}d-s{stride}-{padding}",
               jaxdl.ConvTranspose(2, (2,) * rank, strides=stride, padding=pad), (*spatial, 3))
        for pool in (jaxdl.MaxPool, jaxdl.AvgPool, jaxdl.SumPool):
            yield (f"{pool.__name__}-{rank}d-s{stride}-{padding}",
                   pool((2,) * rank, strides=stride, padding=pad), (*spatial, 3))
    for rank in (1, 2, 3):
        for pool in (jaxdl.GlobalAvgPool, jaxdl.GlobalMaxPool):
            yield f"{pool.__name__}-{rank}d", pool(rank), (3, 2, 4)[:rank] + (3,)


GRID = list(_conv_grid()) + list(_other_grid())


def test_shape_agreement_over_the_grid():
    # stax's _CheckShapeAgreement: the shape init predicts is the shape apply returns, for
    # every setting; abstract init (shapes only) agrees too. One eval_shape per entry: cheap.
    assert len(GRID) > 150
    for layer_id, layer, input_shape in GRID:
        out_shape, params, state = jaxdl.abstract_init(layer, input_shape)
        x = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)
        y = jax.eval_shape(lambda p, s, xx, layer=layer: layer.apply(p, s, xx)[0],
                           params, state, x)
        assert y.shape == (2, *out_shape), (layer_id, y.shape, out_shape)
        assert all(d >= 1 for d in out_shape), (layer_id, out_shape)


# check_layer (jit, vmap and gradient agreement) on a sample of the grid in the default
# run, on every fifth entry with -m slow. Each call costs seconds of compiling, the float64
# gradient check most: tests/test_layers.py's LAYERS (run by test_protocol.py too) gives
# Conv, ConvTranspose, MaxPool, AvgPool and GlobalMaxPool the full check with gradients.
SAMPLE = {"Conv-1d-s2-SAME-d2-c4g2", "Conv-3d-s1-VALID-d2-c1g1", "ConvTranspose-3d-s2-pairs"}
assert SAMPLE <= {g[0] for g in GRID}
CHECKED = [pytest.param(*g, id=g[0]) for g in GRID if g[0] in SAMPLE] + [
    pytest.param(*g, id=g[0], marks=pytest.mark.slow)
    for i, g in enumerate(GRID) if i % 5 == 0 and g[0] not in SAMPLE]


@pytest.mark.parametrize("layer_id, layer, input_shape", CHECKED)
def test_check_layer_on_the_grid(layer_id, layer, input_shape):
    check_layer(layer, input_shape, batch_size=2, check_grads=False)


def test_grid_sample_covers_every_kind_rank_and_padding():
    ids = [p.id for p in CHECKED]
    parts = {p for layer_id in ids for p in layer_id.split("-")}
    assert {"Conv", "ConvTranspose", "MaxPool", "AvgPool", "SumPool", "GlobalMaxPool", "1d",
            "2d", "3d", "s1", "s2", "SAME", "VALID", "1", "pairs", "d2", "c4g2"} <= parts
    assert len(ids) == len(set(ids)) > 40


# =================================================================== 3. mixed precision


@pytest.mark.parametrize("make, input_shape", [
    (lambda **kw: jaxdl.Conv(8, (3, 3), **kw), (6, 6, 3)),
    (lambda **kw: jaxdl.ConvTranspose(4, (3,), strides=2, **kw), (5, 3)),
    (lambda **kw: jaxdl.Dense(8, **kw), (5,)),
], ids=["Conv", "ConvTranspose", "Dense"])
def test_bf16_compute_keeps_float32_params_and_grads(make, input_shape):
    mixed, full = make(compute_dtype=jnp.bfloat16), make()
    _, params, state = _init(mixed, input_shape)
    # the same float32 parameters with or without a compute dtype
    chex.assert_trees_all_equal_shapes_and_dtypes(jaxdl.abstract_init(mixed, input_shape)[1],
                                                  jaxdl.abstract_init(full, input_shape)[1])
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(params))
    x = _x((4, *input_shape))

    def loss(p, layer):
        return jnp.mean(jnp.square(layer.apply(p, state, x)[0].astype(jnp.float32)))

    @jax.jit
    def run(p):
        return (mixed.apply(p, state, x)[0], full.apply(p, state, x)[0],
                jax.grad(loss)(p, mixed), jax.grad(loss)(p, full))

    y, y32, grads, grads32 = run(params)
    assert y.dtype == jnp.bfloat16 and y32.dtype == jnp.float32
    chex.assert_trees_all_close(y.astype(jnp.float32), y32, atol=5e-2, rtol=2e-2)
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads))
    chex.assert_trees_all_close(grads, grads32, atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("loss, targets", [
    (jaxdl.losses.mse, lambda p: jnp.zeros(p.shape, jnp.float32)),
    (jaxdl.losses.softmax_cross_entropy, lambda p: jax.nn.one_hot(jnp.arange(4) % 3, 3)),
    (jaxdl.losses.sparse_categorical_cross_entropy, lambda p: jnp.arange(4) % 3),
    (jaxdl.losses.binary_cross_entropy_with_logits, lambda p: jnp.ones(p.shape)),
], ids=["mse", "softmax_cross_entropy", "sparse_categorical_cross_entropy",
        "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_losses_of_half_precision_predictions_are_float32(loss, targets, dtype):
    pred = _x((4, 3), dtype=dtype) * 3
    value, want, grad = jax.jit(lambda p: (
        loss(p, targets(p)),
        loss(p.astype(jnp.float32), targets(p)),  # from the float32 values of the predictions
        jax.grad(lambda q: loss(q, targets(q)))(p)))(pred)
    assert value.dtype == jnp.float32 and grad.dtype == dtype
    chex.assert_trees_all_close(value, want, rtol=1e-6)


def test_mse_of_bf16_predictions_keeps_float32_targets():
    # the targets follow the predictions' dtype: in bfloat16 1 + 2^-10 would round to 1
    value = jaxdl.losses.mse(jnp.ones(2, jnp.bfloat16), jnp.full(2, 1.0 + 2.0 ** -10))
    assert float(value) == pytest.approx(2.0 ** -20, rel=1e-6)


def test_mixed_precision_train_step_has_a_float32_loss():
    model = jaxdl.serial(jaxdl.Dense(4, compute_dtype=jnp.bfloat16), jaxdl.Relu(),
                         jaxdl.Dense(3, compute_dtype=jnp.bfloat16))
    _, params, state = _init(model, (5,))
    x, y = _x((8, 5)), jnp.arange(8) % 3
    assert model.apply(params, state, x)[0].dtype == jnp.bfloat16
    opt = optax.adam(1e-2)
    step = jaxdl.make_train_step(model, "sparse_categorical_cross_entropy", opt, donate=False)
    new_params, _, _, metrics = step(params, state, opt.init(params), (x, y))
    assert metrics["loss"].dtype == jnp.float32
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(new_params))


# ========================================================================= 4. bad input


def _conv_init(layer, shape):
    return lambda: layer.init(KEY, shape)


def _conv_apply(layer, init_shape, x_shape):
    def run():
        _, params, state = _init(layer, init_shape)
        layer.apply(params, state, jnp.ones(x_shape))
    return run


def _apply_with(layer, params, x_shape):
    return lambda: layer.apply(params, {}, jnp.ones(x_shape))


_conv8 = jaxdl.Conv(8, (3, 3))
_, _params_3x3x3x8, _ = _init(_conv8, (6, 6, 3))

BAD = [
    # constructor arguments
    ("bare-int-kernel", lambda: jaxdl.Conv(8, 3), TypeError,
     r"^Conv: kernel_size must be a tuple .* got the bare int 3; write \(3,\) .* \(3, 3\)"),
    ("ConvTranspose-bare-int-kernel", lambda: jaxdl.ConvTranspose(8, 2), TypeError,
     r"^ConvTranspose: kernel_size .*bare int 2"),
    ("kernel-rank-4", lambda: jaxdl.Conv(8, (3, 3, 3, 3)), ValueError,
     r"^Conv: kernel_size must have 1, 2 or 3 entries .*got \(3, 3, 3, 3\)"),
    ("kernel-zero", lambda: jaxdl.Conv(8, (3, 0)), ValueError,
     r"^Conv: kernel_size must hold sizes >= 1, got \(3, 0\)"),
    ("features-zero", lambda: jaxdl.Conv(0, (3, 3)), ValueError,
     r"^Conv: features must be >= 1, got 0"),
    ("negative-stride", lambda: jaxdl.Conv(8, (3, 3), strides=-1), ValueError,
     r"^Conv: strides must be >= 1, got -1"),
    ("stride-tuple-zero", lambda: jaxdl.Conv(8, (3, 3), strides=(1, 0)), ValueError,
     r"^Conv: strides must be >= 1 on every axis, got \(1, 0\)"),
    ("stride-wrong-length", lambda: jaxdl.Conv(8, (3, 3), strides=(2, 2, 2)), ValueError,
     r"^Conv: strides must be an int or a tuple of 2 ints .*got \(2, 2, 2\) of length 3"),
    ("float-dilation", lambda: jaxdl.Conv(8, (3, 3), dilation=1.5), TypeError,
     r"^Conv: dilation must be an int or a tuple of 2 ints .*got 1\.5"),
    ("padding-typo", lambda: jaxdl.Conv(8, (3, 3), padding="SMAE"), ValueError,
     r"^Conv: unknown padding='SMAE'; allowed: 'SAME', 'VALID', 'CAUSAL'; did you mean "
     r"'SAME'\?"),
    ("padding-full", lambda: jaxdl.MaxPool((2, 2), padding="full"), ValueError,
     r"^MaxPool: unknown padding='full'; allowed: 'SAME', 'VALID'"),
    ("causal-2d", lambda: jaxdl.Conv(8, (3, 3), padding="CAUSAL"), ValueError,
     r"^Conv: padding='CAUSAL' is for 1-D convolutions .*got kernel_size \(3, 3\)"),
    ("causal-transpose", lambda: jaxdl.ConvTranspose(8, (3,), padding="CAUSAL"), ValueError,
     r"^ConvTranspose: unknown padding='CAUSAL'; allowed: 'SAME', 'VALID'"),
    ("negative-padding", lambda: jaxdl.Conv(8, (3, 3), padding=-1), ValueError,
     r"^Conv: padding must be >= 0, got -1"),
    ("negative-padding-pair", lambda: jaxdl.Conv(8, (3, 3), padding=((0, -1), (1, 1))),
     ValueError, r"^Conv: padding must be >= 0, got \(\(0, -1\), \(1, 1\)\)"),
    ("padding-wrong-length", lambda: jaxdl.Conv(8, (3, 3), padding=(1, 1, 1)), ValueError,
     r"^Conv: padding must be .*got \(1, 1, 1\) with 3 entries for 2 spatial axes"),
    ("padding-1d-bare-pair", lambda: jaxdl.Conv(8, (3,), padding=(1, 2)), ValueError,
     r"^Conv: padding \(1, 2\) has 2 entries for 1 spatial axis; .* write \(\(1, 2\),\)"),
    ("padding-float", lambda: jaxdl.AvgPool((2, 2), padding=1.0), TypeError,
     r"^AvgPool: padding must be .*got 1\.0 \(float\)"),
    ("groups-not-dividing-features", lambda: jaxdl.Conv(6, (3, 3), feature_group_count=4),
     ValueError, r"^Conv: features \(=6\) must be divisible by feature_group_count \(=4\)"),
    ("compute-dtype-int", lambda: jaxdl.Conv(8, (3, 3), compute_dtype=jnp.int8), TypeError,
     r"^Conv: compute_dtype must be a floating dtype .*got int8"),
    ("Dense-compute-dtype-str", lambda: jaxdl.Dense(8, compute_dtype="bf16"), TypeError,
     r"^Dense: compute_dtype must be a NumPy/JAX dtype .*got 'bf16'"),
    ("float-window", lambda: jaxdl.MaxPool((2.0, 2)), TypeError,
     r"^MaxPool: window must be a tuple of one or more ints, got \(2\.0, 2\)"),
    ("bare-int-window", lambda: jaxdl.AvgPool(2), TypeError,
     r"^AvgPool: window must be a tuple .*bare int 2; write \(2,\) .* \(2, 2\)"),
    ("pool-stride-zero", lambda: jaxdl.SumPool((2, 2), strides=0), ValueError,
     r"^SumPool: strides must be >= 1, got 0"),
    ("count-include-pad-str", lambda: jaxdl.AvgPool((2, 2), count_include_pad="no"), TypeError,
     r"^AvgPool: count_include_pad must be True or False, got 'no'"),
    ("global-spatial-dims-zero", lambda: jaxdl.GlobalAvgPool(0), ValueError,
     r"^GlobalAvgPool: spatial_dims must be >= 1, got 0"),
    # init
    ("init-wrong-rank", _conv_init(_conv8, (28, 28)), ValueError,
     r"^Conv\(8, \(3, 3\)\): expected a per-example input_shape \(spatial, spatial, "
     r"channels\) of rank 3 .*got \(28, 28\); add a channel axis: \(\*shape, 1\)"),
    ("init-unknown-channels", _conv_init(_conv8, (28, 28, None)), ValueError,
     r"^Conv\(8, \(3, 3\)\): expected a per-example input_shape .*known\), got "
     r"\(28, 28, None\)"),
    ("init-groups-not-dividing-channels",
     _conv_init(jaxdl.Conv(4, (3, 3), feature_group_count=2), (6, 6, 3)), ValueError,
     r"^Conv\(4, \(3, 3\), feature_group_count=2\): in_features \(=3\) must be divisible by "
     r"feature_group_count \(=2\)"),
    ("init-valid-smaller-than-kernel",
     _conv_init(jaxdl.Conv(4, (3, 3), padding="VALID"), (6, 2, 1)), ValueError,
     r"^Conv\(4, \(3, 3\), padding='VALID'\): spatial axis 1 has size 2, smaller than the "
     r"window 3 with padding 'VALID'"),
    ("init-dilated-kernel-too-long",
     _conv_init(jaxdl.Conv(4, (3,), padding="VALID", dilation=3), (6, 1)), ValueError,
     r"^Conv\(4, \(3,\), padding='VALID', dilation=3\): spatial axis 0 has size 6, smaller "
     r"than the dilated kernel 7"),
    ("init-pool-window-too-long", _conv_init(jaxdl.MaxPool((3, 3)), (2, 8, 4)), ValueError,
     r"^MaxPool\(\(3, 3\)\): spatial axis 0 has size 2, smaller than the window 3"),
    ("init-global-wrong-rank", _conv_init(jaxdl.GlobalAvgPool(), (8, 4)), ValueError,
     r"^GlobalAvgPool\(2\): expected a per-example input_shape \(spatial, spatial, channels\)"
     r" of rank 3 .*got \(8, 4\)"),
    ("init-bad-shape-type", _conv_init(_conv8, 28), TypeError,
     r"^Conv\(8, \(3, 3\)\): input_shape must be a tuple"),
    # apply
    ("apply-wrong-channels", _apply_with(_conv8, _params_3x3x3x8, (2, 6, 6, 4)), ValueError,
     r"^Conv\(8, \(3, 3\)\): expected input of shape \(\*batch, \?, \?, 3\), got "
     r"\(2, 6, 6, 4\)"),
    ("apply-missing-channel-axis",
     _conv_apply(jaxdl.Conv(8, (3, 3)), (6, 6, 1), (2, 6, 6)), ValueError,
     r"^Conv\(8, \(3, 3\)\): expected input of shape \(\*batch, \?, \?, 1\), got \(2, 6, 6\)"
     r".*x\[\.\.\., None\]"),
    ("apply-rank-too-low", _apply_with(_conv8, _params_3x3x3x8, (6, 3)), ValueError,
     r"^Conv\(8, \(3, 3\)\): expected input of shape \(\*batch, \?, \?, 3\), got \(6, 3\)"),
    ("apply-params-of-another-layer",
     _apply_with(jaxdl.Conv(8, (5, 5)), _params_3x3x3x8, (2, 6, 6, 3)), ValueError,
     r"^Conv\(8, \(5, 5\)\): expected params\['w'\] of shape \(5, 5, in_features, 8\), got "
     r"\(3, 3, 3, 8\); were these params made for another layer\?"),
    ("apply-params-of-1d-layer",
     _apply_with(jaxdl.Conv(8, (3,)), _params_3x3x3x8, (2, 6, 3)), ValueError,
     r"^Conv\(8, \(3,\)\): expected params\['w'\] of shape \(3, in_features, 8\), got "
     r"\(3, 3, 3, 8\)"),
    ("apply-params-without-bias",
     _apply_with(jaxdl.Conv(8, (3, 3), use_bias=False), _params_3x3x3x8, (2, 6, 6, 3)),
     ValueError, r"^Conv\(8, \(3, 3\)\): expected params \{'w': \(3, 3, in_features, 8\)\}, "
     r"got \['b', 'w'\]"),
    ("apply-valid-input-too-small",
     _conv_apply(jaxdl.Conv(4, (3, 3), padding="VALID"), (6, 6, 1), (2, 6, 2, 1)), ValueError,
     r"^Conv\(4, \(3, 3\), padding='VALID'\): spatial axis 1 has size 2, smaller than the "
     r"window 3"),
    ("apply-transpose-wrong-channels",
     _conv_apply(jaxdl.ConvTranspose(4, (2, 2)), (3, 3, 2), (1, 3, 3, 5)), ValueError,
     r"^ConvTranspose\(4, \(2, 2\)\): expected input of shape \(\*batch, \?, \?, 2\), got "
     r"\(1, 3, 3, 5\)"),
    ("apply-pool-wrong-rank", _apply_with(jaxdl.MaxPool((2, 2)), {}, (4, 4)), ValueError,
     r"^MaxPool\(\(2, 2\)\): expected input of shape \(\*batch, \?, \?, \?\), got \(4, 4\)"),
    ("apply-not-an-array", lambda: _conv8.apply(_params_3x3x3x8, {}, [[1.0]]), TypeError,
     r"^Conv\(8, \(3, 3\)\): expected an array input, got list"),
    ("apply-global-lengths-shape",
     lambda: jaxdl.GlobalAvgPool(1).apply({}, {}, jnp.ones((2, 5, 3)),
                                          lengths=jnp.array([1, 2, 3])), ValueError,
     r"^GlobalAvgPool\(1\): lengths must be integers of the batch shape \(2,\) .*got shape "
     r"\(3,\)"),
]


@pytest.mark.parametrize("run, error, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_names_the_layer_and_the_value(run, error, match):
    with pytest.raises(error, match=match):
        run()


# ====================================================================== 5. a tiny CNN


def _tiny_cnn():
    return jaxdl.serial(jaxdl.Conv(4, (3, 3)), jaxdl.Relu(), jaxdl.MaxPool((2, 2)),
                        jaxdl.Flatten(3), jaxdl.Dense(3))


def test_tiny_cnn_passes_check_layer():
    out_shape, params, _ = check_layer(_tiny_cnn(), (6, 6, 1), batch_size=2)
    assert out_shape == (3,)
    assert list(params) == ["conv", "dense"]
    assert jaxdl.count_params(params) == (3 * 3 * 1 * 4 + 4) + (3 * 3 * 4 * 3 + 3)


def test_tiny_cnn_trains():
    model = _tiny_cnn()
    _, params, state = model.init(KEY, (6, 6, 1))
    # two classes of 6x6 images: a bright left or right half (plus noise)
    labels = jnp.arange(32) % 2
    left = jnp.concatenate([jnp.ones((6, 3)), jnp.zeros((6, 3))], axis=1)
    images = jnp.where(labels[:, None, None] == 0, left, left[:, ::-1])[..., None]
    x = images + 0.3 * _x(images.shape)
    opt = optax.adam(3e-2)
    step = jaxdl.make_train_step(model, "sparse_categorical_cross_entropy", opt)
    opt_state, losses = opt.init(params), []
    for _ in range(15):
        params, state, opt_state, metrics = step(params, state, opt_state, (x, labels))
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0], losses
    logits, _ = model.apply(params, state, x)
    assert float(jnp.mean(jnp.argmax(logits, -1) == labels)) == 1.0


def test_summary_of_a_cnn_shows_labels_and_counts():
    text = jaxdl.summary(_tiny_cnn(), (6, 6, 1))
    assert re.search(r"conv\s+Conv\(4, \(3, 3\)\)\s+\(batch, 6, 6, 4\)\s+40", text)
    assert re.search(r"max_pool\s+MaxPool\(\(2, 2\)\)\s+\(batch, 3, 3, 4\)", text)
    assert text.splitlines()[-1].startswith("Total params: 151")
