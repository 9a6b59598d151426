"""Data augmentation: pure, jittable, vmappable functions of ``(key, images)``.

Images are ``(*batch, height, width, channels)`` arrays (channels-last, any number of
leading batch axes, none included). Every random function draws **one set of parameters
per image** (an angle, a scale, a shift, a coin), so the images of a batch are transformed
differently, and the same key always gives the same result. Parameters such as
``max_degrees`` or ``stddev`` may be traced arrays, so ``jax.vmap`` can run several
settings in one program.

The geometric transforms share one affine resampler: for each output pixel ``p`` (row,
column, measured from the image centre) the input is read at ``M·p + offset`` with
bilinear interpolation (``jax.scipy.ndimage.map_coordinates``, ``order=1``), and pixels
that come from outside the image get the constant ``fill``.

Inside a model, the :func:`Augment` layer applies an augmentation in training only, on
the device, per batch, inside the compiled train step::

    model = jaxdl.serial(jaxdl.Augment(augment.compose(augment.random_flip,
                                                       augment.random_translation)),
                         jaxdl.Conv(32, (3, 3)), ...)

See ``docs/augmentation.md``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.ndimage import map_coordinates

from jaxdl._checks import (
    as_key, as_real_array, check_bool, check_float, check_values, is_concrete, show_value,
)
from jaxdl.core import Array, Layer, layer_name, stochastic

__all__ = [
    "flip", "rotate", "zoom", "translate", "random_flip", "random_rotation", "random_zoom",
    "random_translation", "gaussian_noise", "compose", "Augment", "AugmentFn",
]

#: ``fn(key, images) -> images`` of the same shape and dtype.
AugmentFn = Callable[[Array, Array], Array]


# ------------------------------------------------------------------------- helpers


def _images(fn: str, images: Any, *, floating: bool = True) -> Array:
    """``images`` as a JAX array ``(*batch, height, width, channels)``; resampling and
    noise need a floating dtype."""
    images = as_real_array(fn, "images", images)
    if images.ndim < 3:
        raise ValueError(f"{fn}: expected images of shape (*batch, height, width, channels), "
                         f"got shape {images.shape}; a single grayscale image (H, W) needs "
                         "a channel axis: images[..., None]")
    if floating and not jnp.issubdtype(images.dtype, jnp.floating):
        raise TypeError(f"{fn}: images must be floating (interpolation and noise make "
                        f"fractions), got dtype {images.dtype}; convert first, e.g. "
                        "images.astype(jnp.float32) / 255")
    return images


def _batch_shape(images: Array) -> tuple[int, ...]:
    return tuple(images.shape[:-3])


def _coord_dtype(images: Array) -> Any:
    return jnp.promote_types(images.dtype, jnp.float32)


def _per_image(fn: str, arg: str, value: Any, images: Array, tail: tuple[int, ...] = ()
               ) -> Array:
    """A parameter given once for all images (shape ``tail``) or once per image (shape
    ``(*batch, *tail)``), as a ``(*batch, *tail)`` array; concrete values must be finite."""
    v = as_real_array(fn, arg, value)
    batch = _batch_shape(images)
    want = (*batch, *tail)
    if v.shape == tail:
        v = jnp.broadcast_to(v, want)
    elif v.shape != want:
        one = f"{tail}" if tail else "()"
        raise ValueError(f"{fn}: {arg} must have shape {one} (one value for every image) or "
                         f"{want} (one per image of images {images.shape}), got shape "
                         f"{v.shape}")
    check_values(fn, arg, v, np.isfinite, "finite")
    return v.astype(_coord_dtype(images))


def _fill(fn: str, fill: Any) -> float:
    # map_coordinates takes cval as a static argument: a concrete number
    return float(check_float(fn, "fill", fill, allow_traced=False))


@functools.partial(jax.jit, static_argnames=("fill",))  # one compile per shape, eager too
def _affine(images: Array, matrix: Array, offset: Array, fill: float) -> Array:
    """The one resampler behind rotate, zoom and translate.

    For output pixel ``p = (row, col) - centre`` the input is read at
    ``matrix @ p + centre + offset``, bilinearly, with ``fill`` outside the image.

    Args:
      images: ``(*batch, H, W, C)``, floating.
      matrix: ``(*batch, 2, 2)``, acting on (row, column) coordinates.
      offset: ``(*batch, 2)`` in pixels (rows, columns).
      fill: the value of pixels read from outside the image.
    """
    batch = _batch_shape(images)
    h, w, c = images.shape[-3:]
    n = math.prod(batch)
    dt = _coord_dtype(images)
    flat = jnp.reshape(images, (n, h, w, c))
    matrix = jnp.reshape(matrix, (n, 2, 2)).astype(dt)
    offset = jnp.reshape(offset, (n, 2)).astype(dt)
    centre = jnp.array([(h - 1) / 2.0, (w - 1) / 2.0], dt)
    rows, cols = jnp.meshgrid(jnp.arange(h, dtype=dt), jnp.arange(w, dtype=dt), indexing="ij")
    grid = jnp.stack([rows, cols]) - jnp.reshape(centre, (2, 1, 1))  # (2, H, W)

    def one(image: Array, m: Array, t: Array) -> Array:  # (H, W, C), (2, 2), (2,)
        # elementwise, not a matmul: exact in float32 on every backend (a GPU's default
        # matmul precision would blur the identities)
        src_rows = m[0, 0] * grid[0] + m[0, 1] * grid[1] + (centre[0] + t[0])
        src_cols = m[1, 0] * grid[0] + m[1, 1] * grid[1] + (centre[1] + t[1])
        channel = functools.partial(map_coordinates, coordinates=[src_rows, src_cols],
                                    order=1, mode="constant", cval=fill)
        return jax.vmap(channel, in_axes=-1, out_axes=-1)(image)

    out = jax.vmap(one)(flat, matrix, offset)
    return jnp.reshape(out, images.shape).astype(images.dtype)


def _eye(images: Array) -> Array:
    batch = _batch_shape(images)
    return jnp.broadcast_to(jnp.eye(2, dtype=_coord_dtype(images)), (*batch, 2, 2))


def _rotation_matrix(degrees: Array) -> Array:
    """``(*batch, 2, 2)``: maps an output (row, col) offset to the input offset for a
    counter-clockwise rotation (as displayed, row 0 at the top) by ``degrees``."""
    rad = jnp.deg2rad(degrees)
    cos, sin = jnp.cos(rad), jnp.sin(rad)
    return jnp.stack([jnp.stack([cos, sin], -1), jnp.stack([-sin, cos], -1)], -2)


def _rotate(images: Array, degrees: Array, fill: float) -> Array:
    return _affine(images, _rotation_matrix(degrees), jnp.zeros((*degrees.shape, 2)), fill)


def _zoom(images: Array, scale: Array, fill: float) -> Array:
    inv = (1.0 / scale)[..., None, None]
    return _affine(images, _eye(images) * inv, jnp.zeros((*scale.shape, 2)), fill)


def _translate(images: Array, shift: Array, fill: float) -> Array:
    return _affine(images, _eye(images), -shift, fill)


def _flip(images: Array, horizontal: bool, vertical: bool) -> Array:
    if horizontal:
        images = jnp.flip(images, axis=-2)
    if vertical:
        images = jnp.flip(images, axis=-3)
    return images


def _flip_axes(fn: str, horizontal: Any, vertical: Any) -> tuple[bool, bool]:
    horizontal = check_bool(fn, "horizontal", horizontal)
    vertical = check_bool(fn, "vertical", vertical)
    if not (horizontal or vertical):
        raise ValueError(f"{fn}: horizontal and vertical are both False: nothing to flip")
    return horizontal, vertical


def _uniform(key: Array, images: Array, tail: tuple[int, ...] = ()) -> Array:
    """One draw in ``[-1, 1)`` per image: ``(*batch, *tail)``."""
    return jax.random.uniform(key, (*_batch_shape(images), *tail), _coord_dtype(images),
                              -1.0, 1.0)


# ------------------------------------------------------------------- deterministic


def flip(images: Array, *, horizontal: bool = True, vertical: bool = False) -> Array:
    """Mirrors images: ``horizontal`` reverses the width axis (left <-> right),
    ``vertical`` the height axis (top <-> bottom).

    Args:
      images: ``(*batch, height, width, channels)``, any real dtype.
      horizontal: reverse axis ``-2`` (width).
      vertical: reverse axis ``-3`` (height).

    Returns:
      The flipped images, same shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxdl import augment
      >>> augment.flip(jnp.arange(3.0).reshape(1, 3, 1))[..., 0]
      Array([[2., 1., 0.]], dtype=float32)
    """
    fn = "flip"
    horizontal, vertical = _flip_axes(fn, horizontal, vertical)
    return _flip(_images(fn, images, floating=False), horizontal, vertical)


def rotate(images: Array, degrees: Any, *, fill: float = 0.0) -> Array:
    """Rotates images about their centre by ``degrees``, **counter-clockwise** as displayed
    (row 0 at the top), as ``jnp.rot90`` on the (height, width) axes does for 90; bilinear
    interpolation, ``fill`` where the rotated image leaves the frame.

    Args:
      images: ``(*batch, height, width, channels)``, floating.
      degrees: one angle for all images (a scalar) or one per image (``(*batch,)``); may
        be traced.
      fill: the value of pixels from outside the input (a concrete number).

    Returns:
      The rotated images, same shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxdl import augment
      >>> x = jnp.arange(4.0).reshape(2, 2, 1)
      >>> augment.rotate(x, 90.0)[..., 0].round(4)
      Array([[1., 3.],
             [0., 2.]], dtype=float32)
    """
    fn = "rotate"
    images = _images(fn, images)
    return _rotate(images, _per_image(fn, "degrees", degrees, images), _fill(fn, fill))


def zoom(images: Array, scale: Any, *, fill: float = 0.0) -> Array:
    """Scales images about their centre by ``scale``: ``scale > 1`` zooms in (the content
    grows and its border is cut off), ``scale < 1`` zooms out (the content shrinks and the
    border is ``fill``); ``zoom(images, 1.0)`` is the identity.

    Args:
      images: ``(*batch, height, width, channels)``, floating.
      scale: one factor for all images or one per image (``(*batch,)``), ``> 0``; may be
        traced.
      fill: the value of pixels from outside the input.

    Returns:
      The zoomed images, same shape and dtype.
    """
    fn = "zoom"
    images = _images(fn, images)
    scale = _per_image(fn, "scale", scale, images)
    check_values(fn, "scale", scale, lambda v: v > 0, "> 0")
    return _zoom(images, scale, _fill(fn, fill))


def translate(images: Array, shift: Any, *, fill: float = 0.0) -> Array:
    """Shifts images by ``shift = (rows, columns)`` pixels: positive values move the
    content down and to the right, ``out[r, c] = in[r - rows, c - columns]``; vacated
    pixels are ``fill``. Whole-pixel shifts move pixels exactly; fractional ones
    interpolate bilinearly.

    Args:
      images: ``(*batch, height, width, channels)``, floating.
      shift: ``(2,)`` for all images or ``(*batch, 2)`` per image; may be traced.
      fill: the value of vacated pixels.

    Returns:
      The shifted images, same shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxdl import augment
      >>> augment.translate(jnp.arange(1.0, 4.0).reshape(1, 3, 1), jnp.array([0.0, 1.0]))[..., 0]
      Array([[0., 1., 2.]], dtype=float32)
    """
    fn = "translate"
    images = _images(fn, images)
    return _translate(images, _per_image(fn, "shift", shift, images, (2,)), _fill(fn, fill))


# ------------------------------------------------------------------------ random


def random_flip(key: Array, images: Array, *, horizontal: bool = True, vertical: bool = False,
                p: float = 0.5) -> Array:
    """Flips each image with probability ``p``, independently (horizontally and, if asked,
    vertically, each with its own coin).

    Args:
      key: PRNG key (or an int seed).
      images: ``(*batch, height, width, channels)``, any real dtype.
      horizontal: flip left <-> right.
      vertical: flip top <-> bottom.
      p: the probability of each flip, in ``[0, 1]``; may be traced.

    Returns:
      The images, same shape and dtype, about a fraction ``p`` of them flipped.
    """
    fn = "random_flip"
    horizontal, vertical = _flip_axes(fn, horizontal, vertical)
    p = check_float(fn, "p", p, min_value=0.0, max_value=1.0)
    images = _images(fn, images, floating=False)
    k_h, k_v = jax.random.split(as_key(fn, key))
    batch = _batch_shape(images)
    for k, on, axis in ((k_h, horizontal, -2), (k_v, vertical, -3)):
        if on:
            coin = jax.random.bernoulli(k, p, batch)
            coin = jnp.reshape(coin, (*batch, 1, 1, 1))
            images = jnp.where(coin, jnp.flip(images, axis=axis), images)
    return images


def random_rotation(key: Array, images: Array, max_degrees: float, *, fill: float = 0.0
                    ) -> Array:
    """Rotates each image by its own angle drawn uniformly from ``[-max_degrees,
    max_degrees]`` (positive: counter-clockwise; see :func:`rotate`).

    Args:
      key: PRNG key (or an int seed).
      images: ``(*batch, height, width, channels)``, floating.
      max_degrees: the largest angle, ``>= 0``; may be traced.
      fill: the value of pixels from outside the input.

    Returns:
      The rotated images, same shape and dtype.
    """
    fn = "random_rotation"
    max_degrees = check_float(fn, "max_degrees", max_degrees, min_value=0.0)
    images = _images(fn, images)
    fill = _fill(fn, fill)
    degrees = _uniform(as_key(fn, key), images) * max_degrees
    return _rotate(images, degrees, fill)


def random_zoom(key: Array, images: Array, scale_range: Sequence[float] = (0.9, 1.1), *,
                fill: float = 0.0) -> Array:
    """Zooms each image by its own factor drawn uniformly from ``scale_range`` (``> 1``
    zooms in; see :func:`zoom`).

    Args:
      key: PRNG key (or an int seed).
      images: ``(*batch, height, width, channels)``, floating.
      scale_range: ``(low, high)`` with ``0 < low <= high``; each may be traced.
      fill: the value of pixels from outside the input.

    Returns:
      The zoomed images, same shape and dtype.
    """
    fn = "random_zoom"
    if not isinstance(scale_range, (tuple, list)) or len(scale_range) != 2:
        raise TypeError(f"{fn}: scale_range must be a pair (low, high), got "
                        f"{show_value(scale_range)}")
    low = check_float(fn, "scale_range low", scale_range[0], min_value=0.0, min_open=True)
    high = check_float(fn, "scale_range high", scale_range[1], min_value=0.0, min_open=True)
    if is_concrete(low) and is_concrete(high) and float(low) > float(high):
        raise ValueError(f"{fn}: scale_range must be (low, high) with low <= high, got "
                         f"({float(low):g}, {float(high):g})")
    images = _images(fn, images)
    fill = _fill(fn, fill)
    u = (_uniform(as_key(fn, key), images) + 1.0) / 2.0  # [0, 1)
    return _zoom(images, low + (high - low) * u, fill)


def random_translation(key: Array, images: Array, max_fraction: float = 0.1, *,
                       fill: float = 0.0) -> Array:
    """Shifts each image by its own offset, drawn uniformly from ``[-max_fraction · H,
    max_fraction · H]`` rows and ``[-max_fraction · W, max_fraction · W]`` columns
    (sub-pixel shifts interpolate bilinearly; see :func:`translate`).

    Args:
      key: PRNG key (or an int seed).
      images: ``(*batch, height, width, channels)``, floating.
      max_fraction: the largest shift as a fraction of the image size, in ``[0, 1]``;
        may be traced.
      fill: the value of vacated pixels.

    Returns:
      The shifted images, same shape and dtype.
    """
    fn = "random_translation"
    max_fraction = check_float(fn, "max_fraction", max_fraction, min_value=0.0, max_value=1.0)
    images = _images(fn, images)
    fill = _fill(fn, fill)
    size = jnp.reshape(jnp.array(images.shape[-3:-1], _coord_dtype(images)),
                       (1,) * len(_batch_shape(images)) + (2,))  # (1, ..., 1, 2)
    shift = _uniform(as_key(fn, key), images, (2,)) * max_fraction * size
    return _translate(images, shift, fill)


def gaussian_noise(key: Array, images: Array, stddev: float) -> Array:
    """Adds independent Gaussian noise ``N(0, stddev²)`` to every pixel and channel.

    Args:
      key: PRNG key (or an int seed).
      images: ``(*batch, height, width, channels)``, floating.
      stddev: the noise's standard deviation, ``>= 0``; may be traced.

    Returns:
      ``images + stddev · z``, same shape and dtype.
    """
    fn = "gaussian_noise"
    stddev = check_float(fn, "stddev", stddev, min_value=0.0)
    images = _images(fn, images)
    noise = jax.random.normal(as_key(fn, key), images.shape, images.dtype)
    return images + jnp.asarray(stddev, images.dtype) * noise


# ------------------------------------------------------------------- composition


def _fn_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        args = [repr(a) for a in fn.args] + [f"{k}={v!r}" for k, v in fn.keywords.items()]
        return f"{_fn_name(fn.func)}({', '.join(args)})" if args else _fn_name(fn.func)
    return str(getattr(fn, "__name__", type(fn).__name__))


def compose(*fns: AugmentFn) -> AugmentFn:
    """Chains augmentations: ``compose(f, g)(key, x) = g(k_g, f(k_f, x))``, with ``key``
    split into one key per function.

    Args:
      *fns: functions ``fn(key, images) -> images``; bind their options with
        ``functools.partial(random_rotation, max_degrees=10)`` or a lambda.

    Returns:
      ``fn(key, images) -> images``, pure, jittable and vmappable as its parts are.

    Example:
      >>> import functools, jax, jax.numpy as jnp
      >>> from jaxdl import augment
      >>> fn = augment.compose(augment.random_flip,
      ...                      functools.partial(augment.random_rotation, max_degrees=10.0))
      >>> fn.__name__
      'compose(random_flip, random_rotation(max_degrees=10.0))'
      >>> fn(jax.random.key(0), jnp.ones((8, 28, 28, 1))).shape
      (8, 28, 28, 1)
    """
    if not fns:
        raise ValueError("compose: needs at least one augmentation function")
    for i, f in enumerate(fns):
        if not callable(f):
            raise TypeError(f"compose: argument {i} must be a function fn(key, images), got "
                            f"{show_value(f)} ({type(f).__name__})")

    def composed(key: Array, images: Array) -> Array:
        keys = jax.random.split(as_key("compose", key), len(fns))
        for k, f in zip(keys, fns):
            images = f(k, images)
        return images

    composed.__name__ = f"compose({', '.join(_fn_name(f) for f in fns)})"
    composed.__qualname__ = composed.__name__
    return composed


def Augment(fn: AugmentFn, *, name: str | None = None) -> Layer:
    """A layer applying the augmentation ``fn(key, x)`` in training and the identity at
    evaluation.

    Put it first in a model and the augmentation runs inside the train step: on the
    device, per batch, with the step's key (a fresh one every step, folded from the
    layer's name as every stochastic layer's), with no change to ``jaxdl.fit``. Evaluation,
    ``jaxdl.evaluate`` and ``jaxdl.predict`` (``train=False``) see the images unchanged.

    Args:
      fn: ``fn(key, images) -> images`` of the same shape and dtype, e.g. one of this
        module's functions or a :func:`compose` of them.
      name: the snake_case name (default ``"augment"``).

    Shapes:
      ``(*batch, *example) -> (*batch, *example)``; no params, no state.
      ``apply(..., train=True)`` needs ``key=``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> from jaxdl import augment
      >>> layer = jaxdl.Augment(augment.random_flip)
      >>> x = jnp.arange(3.0).reshape(1, 1, 3, 1)
      >>> bool(jnp.all(layer.apply({}, {}, x)[0] == x))    # evaluation: the identity
      True
      >>> layer.label
      'Augment(random_flip)'
    """
    if not callable(fn):
        raise TypeError(f"Augment: fn must be a function fn(key, images) -> images, got "
                        f"{show_value(fn)} ({type(fn).__name__})")
    label = f"Augment({_fn_name(fn)})"

    def run(x: Array, key: Array | None, train: bool) -> Array:
        if not train:
            return x
        y = fn(key, x)
        if not hasattr(y, "shape") or tuple(y.shape) != tuple(jnp.shape(x)) or \
                y.dtype != x.dtype:
            got = f"shape {tuple(y.shape)} and dtype {y.dtype}" if hasattr(y, "shape") else \
                type(y).__name__
            raise ValueError(f"{label}: the augmentation must return images of the input's "
                             f"shape {tuple(jnp.shape(x))} and dtype {x.dtype}, got {got}")
        return y

    return stochastic(layer_name("Augment", name), run, label=label)
