"""Tests for jaxdl.initializers: shapes, dtypes, exact values and sample statistics."""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import initializers as inits

KEY = jax.random.key(0)
SHAPE = (500, 2000)  # for statistics; fan_in != fan_out, so fan_in/fan_avg mistakes show
FAN_IN, FAN_OUT = SHAPE
N = math.prod(SHAPE)

# every initialiser at its default settings
DEFAULTS = [
    ("zeros", inits.zeros), ("ones", inits.ones), ("constant", inits.constant(0.5)),
    ("uniform", inits.uniform()), ("normal", inits.normal()),
    ("glorot_uniform", inits.glorot_uniform()), ("glorot_normal", inits.glorot_normal()),
    ("xavier_uniform", inits.xavier_uniform()), ("xavier_normal", inits.xavier_normal()),
    ("he_uniform", inits.he_uniform()), ("he_normal", inits.he_normal()),
    ("lecun_normal", inits.lecun_normal()), ("orthogonal", inits.orthogonal()),
]
DEFAULT_IDS = [d[0] for d in DEFAULTS]


def test_every_initializer_is_covered():
    factories = set(inits.__all__) - {"Initializer", "compute_fans", "xavier_limit", "get"}
    assert factories == set(DEFAULT_IDS)


SMALL = (6, 4)  # one small shape throughout: each new shape costs a compile


@pytest.mark.parametrize("name, init", DEFAULTS, ids=DEFAULT_IDS)
def test_shape_and_dtype(name, init):
    w = init(KEY, SMALL)
    chex.assert_shape(w, SMALL)
    assert w.dtype == jnp.float32
    chex.assert_tree_all_finite(w)
    chex.assert_shape(init(KEY, list(SMALL)), SMALL)  # a list works too


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "orthogonal"])
def test_conv_kernel_shape(name):
    w = inits.get(name)(KEY, (3, 3, 2, 4))
    chex.assert_shape(w, (3, 3, 2, 4))
    chex.assert_tree_all_finite(w)


@pytest.mark.parametrize("name, init", DEFAULTS, ids=DEFAULT_IDS)
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float64], ids=["bfloat16", "float64"])
def test_dtype(name, init, dtype):
    with jax.enable_x64(dtype == jnp.float64):
        w = init(KEY, SMALL, dtype)
        assert w.dtype == dtype
        chex.assert_shape(w, SMALL)
        chex.assert_tree_all_finite(w)


@pytest.mark.parametrize("name, init", DEFAULTS, ids=DEFAULT_IDS)
def test_deterministic_given_key(name, init):
    chex.assert_trees_all_equal(init(jax.random.key(3), SMALL), init(jax.random.key(3), SMALL))


def test_exact_values():
    chex.assert_trees_all_equal(inits.zeros(KEY, SMALL), jnp.zeros(SMALL))
    chex.assert_trees_all_equal(inits.ones(KEY, SMALL), jnp.ones(SMALL))
    chex.assert_trees_all_equal(inits.constant(0.01)(KEY, SMALL), jnp.full(SMALL, 0.01))
    chex.assert_trees_all_equal(inits.constant(-2.0)(KEY, SMALL), jnp.full(SMALL, -2.0))


@pytest.mark.parametrize("low, high", [(-0.05, 0.05), (-1.0, 1.0), (2.0, 3.0)])
def test_uniform_in_range(low, high):
    w = np.asarray(inits.uniform(low, high)(KEY, SHAPE))
    assert w.min() >= low and w.max() < high
    span = high - low
    assert w.min() < low + 0.01 * span and w.max() > high - 0.01 * span
    assert w.mean() == pytest.approx(0.5 * (low + high), abs=0.01 * span)


@pytest.mark.parametrize("low, high", [(1.0, 1.0), (1.0, -1.0)])
def test_uniform_rejects_empty_interval(low, high):
    with pytest.raises(ValueError, match="uniform: low"):
        inits.uniform(low, high)


def test_normal_rejects_negative_std():
    with pytest.raises(ValueError, match=r"^normal: std must be >= 0, got -1.0$"):
        inits.normal(std=-1.0)



# (id, initialiser, expected mean, expected std, distribution)
STATS = [
    ("normal", inits.normal(std=0.2, mean=1.0), 1.0, 0.2, "normal"),
    ("uniform", inits.uniform(-0.3, 0.3), 0.0, 0.3 / math.sqrt(3.0), "uniform"),
    ("glorot_uniform", inits.glorot_uniform(), 0.0, math.sqrt(2.0 / (FAN_IN + FAN_OUT)), "uniform"),
    ("glorot_normal", inits.glorot_normal(), 0.0, math.sqrt(2.0 / (FAN_IN + FAN_OUT)), "normal"),
    ("he_uniform", inits.he_uniform(), 0.0, math.sqrt(2.0 / FAN_IN), "uniform"),
    ("he_normal", inits.he_normal(), 0.0, math.sqrt(2.0 / FAN_IN), "normal"),
    ("lecun_normal", inits.lecun_normal(), 0.0, math.sqrt(1.0 / FAN_IN), "normal"),
]


@pytest.mark.parametrize("name, init, mean, std, dist", STATS, ids=[s[0] for s in STATS])
def test_statistics(name, init, mean, std, dist):
    w = np.asarray(init(KEY, SHAPE), np.float64)
    assert abs(w.mean() - mean) < 6 * std / math.sqrt(N)
    assert w.std() == pytest.approx(std, rel=0.01)
    tail = np.mean(np.abs(w - mean) > 2 * std)
    if dist == "uniform":
        # U(-r, r) with r = sqrt(3)·std: bounded by r and filling it
        r = math.sqrt(3.0) * std
        assert np.abs(w - mean).max() <= r * (1 + 1e-6)
        assert np.abs(w - mean).max() > 0.999 * r
        assert tail == 0.0
    else:
        # untruncated normal: 4.55% beyond 2 std (a truncated normal would have none)
        assert tail == pytest.approx(0.0455, abs=0.003)


def test_uniform_limits_match_formulas():
    w = inits.glorot_uniform()(KEY, SHAPE)
    assert float(jnp.max(jnp.abs(w))) <= inits.xavier_limit(FAN_IN, FAN_OUT)
    w = inits.he_uniform()(KEY, SHAPE)
    assert float(jnp.max(jnp.abs(w))) <= math.sqrt(6.0 / FAN_IN)


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (3, 3, 4, 8)])
@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_orthogonal(shape, scale):
    w = inits.orthogonal(scale)(KEY, shape)
    chex.assert_shape(w, shape)
    m = jnp.reshape(w, (-1, shape[-1]))  # leading axes flattened into the rows
    rows, cols = m.shape
    # HIGHEST: a GPU's default float32 matmul rounds to TF32 (about 1e-3), a TPU's to
    # bfloat16, which would miss the 1e-5 tolerance on an orthogonal matrix
    hi = jax.lax.Precision.HIGHEST
    gram = jnp.matmul(m.T, m, precision=hi) if rows >= cols else jnp.matmul(m, m.T, precision=hi)
    chex.assert_trees_all_close(gram, scale**2 * jnp.eye(min(rows, cols)), atol=1e-5)


@pytest.mark.parametrize(
    "shape, fans",
    [((3, 3, 16, 32), (144, 288)), ((784, 128), (784, 128)), ((5,), (5, 5)),
     ((5, 2, 6), (10, 30))],
)
def test_compute_fans(shape, fans):
    assert inits.compute_fans(shape) == fans


def test_compute_fans_rejects_scalar_shape():
    with pytest.raises(ValueError, match=r"compute_fans: needs a shape of rank >= 1, got \(\)"):
        inits.compute_fans(())


def test_xavier_limit_formula():
    assert inits.xavier_limit(144, 288) == pytest.approx(math.sqrt(6.0 / 432.0), rel=1e-12)


def test_conv_kernel_uses_receptive_field():
    # glorot on (3, 3, 16, 32): fans (144, 288), limit sqrt(6/432) (not sqrt(6/48))
    w = np.asarray(inits.glorot_uniform()(KEY, (3, 3, 16, 32)))
    limit = inits.xavier_limit(144, 288)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit


@pytest.mark.parametrize(
    "name, factory",
    [("glorot_uniform", inits.glorot_uniform), ("xavier_uniform", inits.glorot_uniform),
     ("glorot_normal", inits.glorot_normal), ("xavier_normal", inits.glorot_normal),
     ("he_uniform", inits.he_uniform), ("he_normal", inits.he_normal),
     ("lecun_normal", inits.lecun_normal), ("orthogonal", inits.orthogonal),
     ("uniform", inits.uniform), ("normal", inits.normal)],
)
def test_get_by_name(name, factory):
    chex.assert_trees_all_equal(inits.get(name)(KEY, SMALL), factory()(KEY, SMALL))


def test_get_zeros_ones_and_callables():
    assert inits.get("zeros") is inits.zeros
    assert inits.get("ones") is inits.ones
    custom = inits.constant(3.0)
    assert inits.get(custom) is custom


def test_get_unknown_lists_allowed():
    with pytest.raises(ValueError, match=r"^initializers.get: unknown initializer='foo'; "
                                         r"allowed: .*'glorot_uniform'.*'zeros'$"):
        inits.get("foo")


@pytest.mark.parametrize("name, hint", [
    ("glorot", "glorot_uniform"), ("xavier", "xavier_uniform"), ("kaiming_normal", "he_normal"),
    ("Orthogonal", "orthogonal"), ("he_norml", "he_normal"), ("zero", "zeros"),
])
def test_get_mistyped_name_gets_a_hint(name, hint):
    with pytest.raises(ValueError, match=rf"^initializers.get: unknown initializer='{name}'; "
                                         rf"allowed: .*; did you mean '{hint}'\?$"):
        inits.get(name)


# ------------------------------------------------------------- shapes at the edges


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_normal"])
def test_rank1_shape_uses_fans_n_n(name):
    # compute_fans((n,)) is (n, n): a rank-1 shape works (jax's variance_scaling refuses it)
    n = 200_000
    w = np.asarray(inits.get(name)(KEY, (n,)), np.float64)
    scale = 2.0 if name.startswith("he") else 1.0
    std = math.sqrt(scale / n)
    assert w.shape == (n,) and w.std() == pytest.approx(std, rel=0.01)
    if name.endswith("uniform"):
        assert np.abs(w).max() <= math.sqrt(3.0) * std * (1 + 1e-6)


@pytest.mark.parametrize("name", DEFAULT_IDS)
@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (3, 0, 2, 2)])
def test_zero_size_shape_gives_an_empty_array(name, shape):
    w = inits.get(name)(KEY, shape) if name != "constant" else inits.constant(1.0)(KEY, shape)
    chex.assert_shape(w, shape)


def test_int_seed_and_raw_key_work_as_keys():
    init = inits.he_normal()
    chex.assert_trees_all_equal(init(3, SMALL), init(jax.random.key(3), SMALL))
    chex.assert_trees_all_equal(init(jax.random.PRNGKey(3), SMALL), init(jax.random.key(3), SMALL))


def test_factory_settings_may_be_traced():
    f = jax.jit(lambda lo, hi, s: (inits.uniform(lo, hi)(KEY, SMALL),
                                   inits.normal(std=s)(KEY, SMALL),
                                   inits.constant(s)(KEY, SMALL)))
    u, n, c = f(2.0, 3.0, 0.5)
    assert float(u.min()) >= 2.0 and float(u.max()) < 3.0
    chex.assert_trees_all_close(n, inits.normal(std=0.5)(KEY, SMALL))
    chex.assert_trees_all_equal(c, jnp.full(SMALL, 0.5))


def test_orthogonal_inside_jit_is_orthogonal():
    w = jax.jit(lambda k: inits.orthogonal()(k, (48, 16)))(KEY)
    gram = jnp.matmul(w.T, w, precision=jax.lax.Precision.HIGHEST)
    chex.assert_trees_all_close(gram, jnp.eye(16), atol=1e-5)
