"""Pooling: MaxPool, AvgPool, SumPool (one factory over ``jax.lax.reduce_window``, as
stax builds its three from ``_pooling_layer``) and GlobalAvgPool, GlobalMaxPool.

Inputs are channels-last, per example ``(*spatial, channels)``; every pool acts on each
channel separately and never mixes examples, so ``apply`` takes any number of leading
batch axes without reshaping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import check_bool, check_int
from jaxdl.core import Array, Layer, Params, State, layer_name
from jaxdl.layers.conv import (
    Padding, _check_in_shape, _check_x, _out_size, _padding, _per_axis, _show_axes,
    _show_padding, _window,
)

__all__ = ["MaxPool", "AvgPool", "SumPool", "GlobalAvgPool", "GlobalMaxPool"]


def _lowest(dtype: Any) -> Any:
    """The identity of ``max`` in ``dtype``: ``-inf``, or the smallest integer."""
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.floating):
        return np.array(-np.inf, dtype)
    if jnp.issubdtype(dtype, jnp.integer):
        return np.array(jnp.iinfo(dtype).min, dtype)
    return np.array(False, dtype)


def _pooling_layer(
    kind: str,
    reducer: Callable[[Array, Array], Array],
    init_value: Callable[[Any], Any],
    rescale: Callable[[Array, Array, tuple[int, ...], tuple[int, ...], Any, int], Array] | None,
    window: tuple[int, ...],
    strides: int | tuple[int, ...] | None,
    padding: Any,
    name: str | None,
    extra_label: Sequence[str] = (),
) -> Layer:
    """The one pooling factory: ``reducer`` over each window of each channel
    (``jax.lax.reduce_window``), then ``rescale(y, x, window, strides, padding, rank)``."""
    window = _window(kind, "window", window, max_rank=None)
    rank = len(window)
    strides = window if strides is None else _per_axis(kind, "strides", strides, rank)
    pad: Padding = _padding(kind, padding, rank)
    shown = [str(window)]
    if strides != window:
        shown.append(f"strides={_show_axes(strides)}")
    if pad != "VALID":
        shown.append(f"padding={_show_padding(pad)}")
    shown += list(extra_label)
    label = f"{kind}({', '.join(shown)})" + ("" if name is None else f" {name!r}")

    def out_spatial(spatial: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(_out_size(label, i, n, window[i], strides[i], 1, pad)
                     for i, n in enumerate(spatial))

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        del key
        shape = _check_in_shape(label, input_shape, rank, need_channels=False)
        return (*out_spatial(shape[:-1]), shape[-1]), {}, {}

    @jax.jit  # one program when called eagerly; inlined under an outer jit
    def pool(x: Array) -> Array:
        lead = (1,) * (x.ndim - rank - 1)
        pads = pad if isinstance(pad, str) else ((0, 0),) * len(lead) + pad + ((0, 0),)
        y = jax.lax.reduce_window(x, init_value(x.dtype), reducer, (*lead, *window, 1),
                                  (*lead, *strides, 1), pads)
        return y if rescale is None else rescale(y, x, window, strides, pad, rank)

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del params, key, train, lengths
        _check_x(label, x, rank, None)
        out_spatial(x.shape[x.ndim - rank - 1:-1])  # a window longer than an axis: an error
        return pool(x), state

    return Layer(init, apply, layer_name(kind, name), label=label)


def MaxPool(window: tuple[int, ...], *, strides: int | tuple[int, ...] | None = None,
            padding: str | int | Sequence[Any] = "VALID", name: str | None = None) -> Layer:
    """Max pooling: the largest value in each ``window`` of each channel.

    Windows move ``strides`` at a time; the default is the window itself
    (non-overlapping windows, as Keras's ``MaxPooling2D`` and PyTorch's ``MaxPool2d``;
    ``flax.linen.max_pool`` and stax default to stride 1). The output length per axis is
    ``floor((n + lo + hi - k) / s) + 1`` (``"VALID"``, the default: no padding), or
    ``ceil(n / s)`` with ``"SAME"``, whose padding never wins (it is ``-inf``).

    Args:
      window: the window's spatial size, a tuple whose length is the spatial rank:
        ``(2, 2)`` for images, ``(3,)`` for sequences.
      strides: the step between windows: an int, a tuple of the rank, or ``None``
        (the window).
      padding: ``"VALID"`` (default), ``"SAME"``, an int, a tuple of ints or of
        ``(low, high)`` pairs.
      name: the snake_case name (default ``"max_pool"``).

    Shapes: ``(*batch, *spatial, channels) -> (*batch, *out_spatial, channels)``.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> x = jnp.arange(16.0).reshape(4, 4, 1)          # one 4x4 image, one channel
      >>> jaxdl.MaxPool((2, 2)).apply({}, {}, x)[0][..., 0]
      Array([[ 5.,  7.],
             [13., 15.]], dtype=float32)
    """
    return _pooling_layer("MaxPool", jax.lax.max, _lowest, None, window, strides, padding,
                          name)


def SumPool(window: tuple[int, ...], *, strides: int | tuple[int, ...] | None = None,
            padding: str | int | Sequence[Any] = "VALID", name: str | None = None) -> Layer:
    """Sum pooling: the sum of each ``window`` of each channel (padding adds zeros).

    Arguments as :func:`MaxPool` (default name ``"sum_pool"``).

    Shapes: ``(*batch, *spatial, channels) -> (*batch, *out_spatial, channels)``.
    """
    return _pooling_layer("SumPool", jax.lax.add, lambda dt: np.array(0, dt), None, window,
                          strides, padding, name)


def AvgPool(window: tuple[int, ...], *, strides: int | tuple[int, ...] | None = None,
            padding: str | int | Sequence[Any] = "VALID", count_include_pad: bool = True,
            name: str | None = None) -> Layer:
    """Average pooling: the mean of each ``window`` of each channel.

    Arguments as :func:`MaxPool` (default strides: the window), plus:

    Args:
      window: the window's spatial size, a tuple whose length is the spatial rank.
      strides: an int, a tuple of the rank, or ``None`` (the window).
      padding: ``"VALID"`` (default), ``"SAME"``, an int, a tuple of ints or of pairs.
      count_include_pad: with padding, divide by the whole window size (padded zeros
        count: ``flax.linen.avg_pool``'s and PyTorch's default) or, False, by the number
        of real input positions in the window (Keras's ``"same"`` average).
      name: the snake_case name (default ``"avg_pool"``).

    Shapes: ``(*batch, *spatial, channels) -> (*batch, *out_spatial, channels)``.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> x = jnp.arange(16.0).reshape(4, 4, 1)
      >>> jaxdl.AvgPool((2, 2)).apply({}, {}, x)[0][..., 0]
      Array([[ 2.5,  4.5],
             [10.5, 12.5]], dtype=float32)
    """
    count_include_pad = check_bool("AvgPool", "count_include_pad", count_include_pad)

    def rescale(y: Array, x: Array, window: tuple[int, ...], strides: tuple[int, ...],
                pad: Padding, rank: int) -> Array:
        if not jnp.issubdtype(y.dtype, jnp.floating):
            y = y.astype(jnp.float32)
        if count_include_pad or pad == "VALID":
            return y / jnp.asarray(math.prod(window), y.dtype)
        spatial = x.shape[x.ndim - rank - 1:-1]
        counts = jax.lax.reduce_window(np.ones((*spatial, 1), np.float32), np.float32(0),
                                       jax.lax.add, (*window, 1), (*strides, 1),
                                       pad if isinstance(pad, str) else pad + ((0, 0),))
        counts = jnp.reshape(counts, (1,) * (y.ndim - rank - 1) + counts.shape)
        return y / counts.astype(y.dtype)

    return _pooling_layer("AvgPool", jax.lax.add, lambda dt: np.array(0, dt), rescale,
                          window, strides, padding, name,
                          () if count_include_pad else ("count_include_pad=False",))


# ------------------------------------------------------------------------ global pools


def _global_pool(kind: str, spatial_dims: int, name: str | None) -> Layer:
    spatial_dims = check_int(kind, "spatial_dims", spatial_dims, min_value=1)
    label = f"{kind}({spatial_dims})" + ("" if name is None else f" {name!r}")
    axes = tuple(range(-spatial_dims - 1, -1))
    is_max = kind == "GlobalMaxPool"

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        del key
        shape = _check_in_shape(label, input_shape, spatial_dims, need_channels=False)
        return (shape[-1],), {}, {}

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del params, key, train
        _check_x(label, x, spatial_dims, None)
        x = jnp.asarray(x)
        if lengths is not None and spatial_dims == 1:
            return _masked(label, x, jnp.asarray(lengths), is_max), state
        return (jnp.max(x, axis=axes) if is_max else jnp.mean(x, axis=axes)), state

    return Layer(init, apply, layer_name(kind, name), label=label)


def _masked(label: str, x: Array, lengths: Array, is_max: bool) -> Array:
    """Pooling over the first ``lengths`` positions of ``x: (*batch, time, C)`` only."""
    if tuple(lengths.shape) != tuple(x.shape[:-2]) or not jnp.issubdtype(lengths.dtype,
                                                                          jnp.integer):
        raise ValueError(f"{label}: lengths must be integers of the batch shape "
                         f"{tuple(x.shape[:-2])} for input {tuple(x.shape)}, got shape "
                         f"{tuple(lengths.shape)} and dtype {lengths.dtype}")
    steps = jnp.reshape(jnp.arange(x.shape[-2]), (1,) * lengths.ndim + (x.shape[-2],))
    valid = (steps < lengths[..., None])[..., None]  # (*batch, time, 1)
    if is_max:
        low = jnp.asarray(_lowest(x.dtype))
        y = jnp.max(jnp.where(valid, x, low), axis=-2)
        return jnp.where((lengths > 0)[..., None], y, jnp.zeros((), x.dtype))  # empty: 0
    total = jnp.sum(jnp.where(valid, x, jnp.zeros((), x.dtype)), axis=-2)
    count = jnp.maximum(lengths, 1).astype(total.dtype)[..., None]
    return total / count


def GlobalAvgPool(spatial_dims: int = 2, *, name: str | None = None) -> Layer:
    """The mean of each channel over all spatial positions: ``(*spatial, C) -> (C,)``.

    The usual head of a modern CNN instead of ``Flatten`` + ``Dense``: it has no
    parameters and takes inputs of any spatial size.

    Args:
      spatial_dims: how many axes before the channels are spatial (2 for images, 1 for
        sequences). ``apply`` takes any number of leading batch axes, so it cannot guess.
        With ``spatial_dims=1`` and ``apply(..., lengths=...)`` (right-padded sequences),
        only the first ``lengths`` positions are averaged.
      name: the snake_case name (default ``"global_avg_pool"``).

    Shapes: ``(*batch, *spatial, channels) -> (*batch, channels)``.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> jaxdl.GlobalAvgPool().apply({}, {}, jnp.ones((5, 7, 7, 3)))[0].shape
      (5, 3)
    """
    return _global_pool("GlobalAvgPool", spatial_dims, name)


def GlobalMaxPool(spatial_dims: int = 2, *, name: str | None = None) -> Layer:
    """The maximum of each channel over all spatial positions: ``(*spatial, C) -> (C,)``.

    Args:
      spatial_dims: how many axes before the channels are spatial (2 for images, 1 for
        sequences). With ``spatial_dims=1`` and ``apply(..., lengths=...)``, only the
        first ``lengths`` positions count (0 for an empty sequence).
      name: the snake_case name (default ``"global_max_pool"``).

    Shapes: ``(*batch, *spatial, channels) -> (*batch, channels)``.
    """
    return _global_pool("GlobalMaxPool", spatial_dims, name)
