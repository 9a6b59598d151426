"""Tests for jaxdl.augment: hand-computed transforms, per-image randomness, jit and vmap,
the Augment layer, and bad input."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from jaxdl import augment

KEY = jax.random.key(0)
IMAGES = jax.random.uniform(jax.random.key(1), (4, 6, 6, 2))  # (batch, H, W, C)

RANDOM = {
    "random_flip": augment.random_flip,
    "random_flip-vertical": functools.partial(augment.random_flip, horizontal=False,
                                              vertical=True),
    "random_rotation": functools.partial(augment.random_rotation, max_degrees=30.0),
    "random_zoom": augment.random_zoom,
    "random_translation": functools.partial(augment.random_translation, max_fraction=0.3),
    "gaussian_noise": functools.partial(augment.gaussian_noise, stddev=0.1),
    "compose": augment.compose(augment.random_flip, augment.random_translation,
                               functools.partial(augment.random_rotation, max_degrees=10.0)),
}


# ----------------------------------------------------------- deterministic, by hand


def test_flip_reverses_the_width_or_height_axis():
    chex.assert_trees_all_equal(augment.flip(IMAGES), IMAGES[:, :, ::-1])
    chex.assert_trees_all_equal(augment.flip(IMAGES, horizontal=False, vertical=True),
                                IMAGES[:, ::-1])
    chex.assert_trees_all_equal(augment.flip(IMAGES, vertical=True), IMAGES[:, ::-1, ::-1])
    ints = jnp.arange(12, dtype=jnp.uint8).reshape(2, 2, 3, 1)  # flips take any dtype
    chex.assert_trees_all_equal(augment.flip(ints), ints[:, :, ::-1])


@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_rotate_by_multiples_of_90_is_rot90_counter_clockwise(k):
    # positive degrees turn the image counter-clockwise as displayed (row 0 at the top),
    # as jnp.rot90 from the height axis towards the width axis does; every source
    # coordinate is a grid point, so bilinear interpolation only adds rounding
    got = augment.rotate(IMAGES, 90.0 * k)
    chex.assert_trees_all_close(got, jnp.rot90(IMAGES, k, axes=(-3, -2)), atol=1e-5)


def test_rotate_small_example_by_hand():
    x = jnp.array([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]
    got = augment.rotate(x, 90.0)[0, :, :, 0]
    chex.assert_trees_all_close(got, jnp.array([[2.0, 4.0], [1.0, 3.0]]), atol=1e-5)
    # 45 degrees of a 3x3 image of ones: the centre stays; the top-left corner reads the
    # input at (row, col) = (1 - sqrt 2, 1), between fill (row -1, weight sqrt 2 - 1) and
    # the image (row 0, weight 2 - sqrt 2)
    y = augment.rotate(jnp.ones((3, 3, 1)), 45.0, fill=-1.0)[..., 0]
    assert float(y[1, 1]) == pytest.approx(1.0)
    w = np.sqrt(2.0) - 1.0
    assert float(y[0, 0]) == pytest.approx((1 - w) * 1.0 + w * -1.0, abs=1e-5)


def test_identities_are_exact():
    chex.assert_trees_all_equal(augment.zoom(IMAGES, 1.0), IMAGES)
    chex.assert_trees_all_equal(augment.translate(IMAGES, jnp.zeros(2)), IMAGES)
    chex.assert_trees_all_equal(augment.rotate(IMAGES, 0.0), IMAGES)


@pytest.mark.parametrize("shift", [(1, 0), (0, -2), (2, 3), (-1, -1)])
def test_integer_translation_is_a_roll_with_zero_fill(shift):
    dy, dx = shift
    want = np.roll(np.asarray(IMAGES), shift, axis=(1, 2))
    if dy > 0:
        want[:, :dy] = 0
    elif dy < 0:
        want[:, dy:] = 0
    if dx > 0:
        want[:, :, :dx] = 0
    elif dx < 0:
        want[:, :, dx:] = 0
    got = augment.translate(IMAGES, jnp.array(shift, jnp.float32))
    chex.assert_trees_all_close(got, want, atol=1e-6)


def test_fractional_translation_interpolates():
    x = jnp.array([0.0, 2.0, 4.0, 6.0]).reshape(1, 4, 1)
    got = augment.translate(x, jnp.array([0.0, 0.5]))[0, :, 0]
    chex.assert_trees_all_close(got, jnp.array([0.0, 1.0, 3.0, 5.0]), atol=1e-6)


def test_zoom_in_and_out():
    x = jnp.zeros((5, 5, 1)).at[1:4, 1:4].set(1.0)  # a 3x3 square in a 5x5 frame
    chex.assert_trees_all_close(augment.zoom(x, 2.0)[..., 0], jnp.ones((5, 5)), atol=1e-6)
    out = augment.zoom(x, 0.5, fill=0.0)[..., 0]  # shrinks: the frame's border is empty
    assert float(out[2, 2]) == 1.0 and float(out[0, 0]) == 0.0 and float(out.sum()) < 9.0


def test_per_image_parameters():
    degrees = jnp.array([0.0, 90.0, 180.0, 270.0])
    got = augment.rotate(IMAGES, degrees)
    for i in range(4):
        chex.assert_trees_all_close(got[i], jnp.rot90(IMAGES[i], i, axes=(0, 1)), atol=1e-5)
    shifts = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    moved = augment.translate(IMAGES, shifts)
    chex.assert_trees_all_equal(moved[0], IMAGES[0])
    chex.assert_trees_all_close(moved[1, 1:], IMAGES[1, :-1], atol=1e-6)
    chex.assert_trees_all_close(moved[3, :, 2:], IMAGES[3, :, :-2], atol=1e-6)


# ------------------------------------------------------------------------ random


def test_gaussian_noise_has_the_requested_std():
    x = jnp.full((64, 32, 32, 1), 0.5)
    noisy = augment.gaussian_noise(KEY, x, 0.2)
    assert float(jnp.std(noisy - x)) == pytest.approx(0.2, rel=0.02)
    assert float(jnp.mean(noisy - x)) == pytest.approx(0.0, abs=0.005)
    chex.assert_trees_all_equal(augment.gaussian_noise(KEY, x, 0.0), x)


def test_random_flip_probability_and_per_image_coins():
    x = jnp.broadcast_to(jnp.arange(4.0).reshape(1, 1, 4, 1), (1000, 1, 4, 1))
    y = augment.random_flip(KEY, x, p=0.3)
    flipped = np.asarray(y[:, 0, 0, 0] == 3.0)
    assert np.all(flipped | np.asarray(y[:, 0, 0, 0] == 0.0))  # each image whole or flipped
    assert abs(flipped.mean() - 0.3) < 0.05
    chex.assert_trees_all_equal(augment.random_flip(KEY, x, p=0.0), x)
    chex.assert_trees_all_equal(augment.random_flip(KEY, x, p=1.0), x[:, :, ::-1])


@pytest.mark.parametrize("name", list(RANDOM))
def test_random_functions_contract(name):
    fn = RANDOM[name]
    run = jax.jit(fn)  # jitted, as in a train step (and fewer compiles than op-by-op)
    x = jnp.broadcast_to(IMAGES[:1], (8, 6, 6, 2))  # eight copies of one image
    y = run(KEY, x)
    assert y.shape == x.shape and y.dtype == x.dtype
    # the same key gives the same output; another key another
    chex.assert_trees_all_equal(run(KEY, x), y)
    assert not np.array_equal(np.asarray(run(jax.random.key(5), x)), np.asarray(y))
    # each image gets its own draw: the copies come out different
    assert len({np.asarray(y[i]).tobytes() for i in range(8)}) > 1
    # any leading batch axes: two, or none; vmap over single images agrees with one image
    two = jax.eval_shape(fn, KEY, x.reshape(2, 4, 6, 6, 2))
    assert (two.shape, two.dtype) == ((2, 4, 6, 6, 2), x.dtype)
    keys = jax.random.split(KEY, 8)
    mapped = jax.jit(jax.vmap(fn))(keys, x)
    chex.assert_trees_all_close(mapped[3], run(keys[3], x[3]), atol=1e-5)


def test_hyperparameters_may_be_traced():
    x = IMAGES[:2]

    @jax.jit  # one program: every setting below is a traced array under vmap
    def run(stds, degrees, lows, ps, fractions):
        return (jax.vmap(lambda s: augment.gaussian_noise(KEY, x, s))(stds),
                jax.vmap(lambda d: augment.random_rotation(KEY, x, d))(degrees),
                jax.vmap(lambda d: augment.rotate(x, d))(degrees),
                jax.vmap(lambda lo: augment.random_zoom(KEY, x, (lo, 1.0)))(lows),
                jax.vmap(lambda p: augment.random_flip(KEY, x, p=p))(ps),
                jax.vmap(lambda f: augment.random_translation(KEY, x, f))(fractions))

    two = jnp.array([0.0, 0.5])
    noisy, rotated, turned, zoomed, flipped, moved = run(two, jnp.array([0.0, 45.0]),
                                                 jnp.array([1.0, 0.5]), jnp.array([0.0, 1.0]),
                                                 jnp.array([0.0, 0.3]))
    # the neutral setting leaves the images alone, the other changes them
    for out in (noisy, rotated, turned, zoomed, flipped, moved):
        chex.assert_trees_all_close(out[0], x, atol=1e-6)
        assert float(jnp.max(jnp.abs(out[1] - x))) > 0.05
    chex.assert_trees_all_equal(flipped[1], x[:, :, ::-1])
    assert float(jnp.std(noisy[1] - x)) > 0.3


def test_compose_splits_the_key():
    a = functools.partial(augment.gaussian_noise, stddev=1.0)
    both = augment.compose(a, a)
    k1, k2 = jax.random.split(KEY)
    chex.assert_trees_all_close(both(KEY, IMAGES), a(k2, a(k1, IMAGES)), atol=1e-6)
    assert both.__name__ == "compose(gaussian_noise(stddev=1.0), gaussian_noise(stddev=1.0))"


# ---------------------------------------------------------------- the Augment layer


def test_augment_layer_trains_with_its_key_and_is_identity_at_evaluation():
    fn = augment.compose(augment.random_flip, augment.random_translation)
    layer = jaxdl.Augment(fn)
    assert layer.name == "augment" and layer.label == \
        "Augment(compose(random_flip, random_translation))"
    out_shape, params, state = layer.init(KEY, (6, 6, 2))
    assert out_shape == (6, 6, 2) and params == {} and state == {}
    y, _ = layer.apply(params, state, IMAGES)
    assert y is IMAGES
    key = jax.random.key(3)
    y, _ = layer.apply(params, state, IMAGES, key=key, train=True)
    chex.assert_trees_all_equal(y, fn(key, IMAGES))
    with pytest.raises(ValueError, match=r"^Augment\(compose\(.*\)\): .*needs a PRNG key"):
        layer.apply(params, state, IMAGES, train=True)
    # inside a model the step's key reaches it folded from the layer's name
    model = jaxdl.serial(jaxdl.Augment(augment.random_flip), jaxdl.Flatten(3), jaxdl.Dense(2))
    _, mp, ms = model.init(KEY, (6, 6, 2))
    out, _ = model.apply(mp, ms, IMAGES, key=key, train=True)
    want, _ = model.children[2].apply(
        mp["dense"], {}, augment.random_flip(jaxdl.core.child_key(key, "augment"),
                                             IMAGES).reshape(4, -1))
    chex.assert_trees_all_close(out, want, atol=1e-6)


def test_augment_layer_refuses_a_shape_changing_function():
    layer = jaxdl.Augment(lambda key, x: x[..., :1], name="crop")
    with pytest.raises(ValueError, match=r"^Augment\(<lambda>\): the augmentation must return "
                       r"images of the input's shape \(4, 6, 6, 2\) and dtype float32, got "
                       r"shape \(4, 6, 6, 1\)"):
        layer.apply({}, {}, IMAGES, key=KEY, train=True)


# ------------------------------------------------------------------------ bad input

BAD = [
    ("rank-2", lambda: augment.random_flip(KEY, jnp.ones((28, 28))), ValueError,
     r"^random_flip: expected images of shape \(\*batch, height, width, channels\), got "
     r"shape \(28, 28\)"),
    ("rank-1-rotate", lambda: augment.rotate(jnp.ones(5), 10.0), ValueError,
     r"^rotate: expected images of shape .*got shape \(5,\)"),
    ("int-images-noise", lambda: augment.gaussian_noise(KEY, jnp.ones((2, 2, 1), jnp.uint8),
                                                        0.1), TypeError,
     r"^gaussian_noise: images must be floating .*got dtype uint8"),
    ("string-images", lambda: augment.flip("image"), TypeError,
     r"^flip: images must be a numeric array, got 'image'"),
    ("stddev-negative", lambda: augment.gaussian_noise(KEY, IMAGES, -0.1), ValueError,
     r"^gaussian_noise: stddev must be >= 0, got -0\.1"),
    ("max-degrees-negative", lambda: augment.random_rotation(KEY, IMAGES, -5.0), ValueError,
     r"^random_rotation: max_degrees must be >= 0, got -5\.0"),
    ("max-degrees-nan", lambda: augment.random_rotation(KEY, IMAGES, float("nan")),
     ValueError, r"^random_rotation: max_degrees must be finite, got nan"),
    ("scale-range-reversed", lambda: augment.random_zoom(KEY, IMAGES, (1.2, 0.8)),
     ValueError, r"^random_zoom: scale_range must be \(low, high\) with low <= high, got "
     r"\(1\.2, 0\.8\)"),
    ("scale-range-zero", lambda: augment.random_zoom(KEY, IMAGES, (0.0, 1.0)), ValueError,
     r"^random_zoom: scale_range low must be > 0, got 0\.0"),
    ("scale-range-negative-high", lambda: augment.random_zoom(KEY, IMAGES, (0.5, -1.0)),
     ValueError, r"^random_zoom: scale_range high must be > 0, got -1\.0"),
    ("scale-range-not-a-pair", lambda: augment.random_zoom(KEY, IMAGES, 1.1), TypeError,
     r"^random_zoom: scale_range must be a pair \(low, high\), got 1\.1"),
    ("zoom-scale-zero", lambda: augment.zoom(IMAGES, 0.0), ValueError,
     r"^zoom: scale must be > 0; got 0\.0"),
    ("p-above-1", lambda: augment.random_flip(KEY, IMAGES, p=1.5), ValueError,
     r"^random_flip: p must be in \[0, 1\], got 1\.5"),
    ("p-negative", lambda: augment.random_flip(KEY, IMAGES, p=-0.2), ValueError,
     r"^random_flip: p must be in \[0, 1\], got -0\.2"),
    ("flip-nothing", lambda: augment.random_flip(KEY, IMAGES, horizontal=False), ValueError,
     r"^random_flip: horizontal and vertical are both False: nothing to flip"),
    ("max-fraction-above-1", lambda: augment.random_translation(KEY, IMAGES, 2.0),
     ValueError, r"^random_translation: max_fraction must be in \[0, 1\], got 2\.0"),
    ("shift-wrong-shape", lambda: augment.translate(IMAGES, jnp.ones(3)), ValueError,
     r"^translate: shift must have shape \(2,\) \(one value for every image\) or \(4, 2\) "
     r"\(one per image of images \(4, 6, 6, 2\)\), got shape \(3,\)"),
    ("degrees-wrong-shape", lambda: augment.rotate(IMAGES, jnp.ones(3)), ValueError,
     r"^rotate: degrees must have shape \(\) .*or \(4,\) .*got shape \(3,\)"),
    ("degrees-inf", lambda: augment.rotate(IMAGES, float("inf")), ValueError,
     r"^rotate: degrees must be finite; got inf"),
    ("fill-traced", lambda: jax.jit(lambda f: augment.rotate(IMAGES, 10.0, fill=f))(0.0),
     TypeError, r"^rotate: fill must be a concrete number, got a traced array"),
    ("bad-key", lambda: augment.gaussian_noise("key", IMAGES, 0.1), TypeError,
     r"^gaussian_noise: key must be a PRNG key"),
    ("compose-empty", lambda: augment.compose(), ValueError,
     r"^compose: needs at least one augmentation function"),
    ("compose-not-callable", lambda: augment.compose(augment.random_flip, 3), TypeError,
     r"^compose: argument 1 must be a function fn\(key, images\), got 3"),
    ("Augment-not-callable", lambda: jaxdl.Augment("flip"), TypeError,
     r"^Augment: fn must be a function fn\(key, images\) -> images, got 'flip'"),
]


@pytest.mark.parametrize("call, error, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
