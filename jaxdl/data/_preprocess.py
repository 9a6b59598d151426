"""Preprocessing on the host: one-hot labels, scaling to [0, 1], per-channel standardising.

Statistics (``channel_mean_std``) are computed on the training split and then applied
to every split, so no information leaks from validation or test data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxdl._checks import check_dtype, check_float, check_int, show_value
from jaxdl.data._checks import check_axis_in, check_numeric_array


def one_hot(labels: Any, num_classes: int, *, dtype: Any = np.float32) -> np.ndarray:
    """One-hot encodes integer labels.

    Args:
      labels: int array of any shape ``(...)`` with values in ``[0, num_classes)``.
      num_classes: ``k``.
      dtype: output dtype.

    Returns:
      Array of shape ``(..., k)``: 1 at each label's position, 0 elsewhere.

    Raises:
      TypeError: a non-integer ``num_classes``; a ``dtype`` that is not a NumPy dtype.
      ValueError: non-integer labels, or a label outside ``[0, num_classes)``.

    Example:
      >>> one_hot(np.array([0, 2]), 3)
      array([[1., 0., 0.],
             [0., 0., 1.]], dtype=float32)
    """
    fn = "jaxdl.data.one_hot"
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{fn}: labels must be integers, got {show_value(labels, 60)}")
    num_classes = check_int(fn, "num_classes", num_classes, min_value=1)
    dtype = check_dtype(fn, dtype, floating=False)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{fn}: labels must lie in [0, {num_classes}), got min {labels.min()}, "
            f"max {labels.max()}"
        )
    return np.eye(num_classes, dtype=dtype)[labels]


def scale_to_unit(
    x: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Scales values linearly to [0, 1]: ``(x - low) / (high - low)``.

    Args:
      x: array of any shape.
      low: the value that maps to 0; default the dtype's minimum for integer arrays
        (0 for uint8 images), else ``x.min()``.
      high: the value that maps to 1; default the dtype's maximum for integer arrays
        (255 for uint8), else ``x.max()``. (For digits' 0..16 pixels pass ``high=16``.)
      dtype: output float dtype.

    Returns:
      Array of ``x``'s shape and ``dtype``.

    Raises:
      TypeError: a non-numeric ``x``, ``low`` or ``high``; a non-float ``dtype``.
      ValueError: ``high <= low``; a bound that is not finite; an empty ``x`` without
        both bounds.

    Example:
      >>> scale_to_unit(np.array([0, 51, 255], np.uint8))
      array([0. , 0.2, 1. ], dtype=float32)
    """
    fn = "jaxdl.data.scale_to_unit"
    x = check_numeric_array(fn, "x", x, kinds="iuf")
    low = check_float(fn, "low", low, allow_none=True, allow_traced=False)
    high = check_float(fn, "high", high, allow_none=True, allow_traced=False)
    dtype = check_dtype(fn, dtype)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        low = float(info.min) if low is None else low
        high = float(info.max) if high is None else high
    elif x.size == 0 and (low is None or high is None):
        raise ValueError(f"{fn}: x is empty (shape {x.shape}); pass both low= and high=")
    else:
        low = float(x.min()) if low is None else low
        high = float(x.max()) if high is None else high
    if not high > low:
        raise ValueError(f"{fn}: need high > low, got low={low}, high={high}")
    out = x.astype(dtype)
    out -= np.asarray(low, dtype=out.dtype)
    out /= np.asarray(high - low, dtype=out.dtype)
    return out


def channel_mean_std(
    x: Any, *, channel_axis: int | None = -1, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over all other axes (examples, pixels).

    Accumulates in float64 over chunks of ``chunk`` examples, so a uint8 image set is
    never copied whole to float.

    Args:
      x: array ``(n, ..., channels)`` (e.g. images ``(n, 28, 28, 1)``).
      channel_axis: the channel axis; None for one statistic over everything.
      chunk: examples per accumulation chunk.

    Returns:
      ``(mean, std)``, float32 arrays of shape ``(channels,)`` (``()`` if
      ``channel_axis`` is None).

    Raises:
      TypeError: a non-numeric ``x``; a non-integer ``channel_axis`` or ``chunk``.
      ValueError: no examples; ``channel_axis`` out of range or the example axis 0;
        ``chunk < 1``.

    Example:
      >>> mean, std = channel_mean_std(np.array([[[0.0, 10.0]], [[2.0, 30.0]]]))
      >>> mean.tolist(), std.tolist()
      ([1.0, 20.0], [1.0, 10.0])
    """
    fn = "jaxdl.data.channel_mean_std"
    x = check_numeric_array(fn, "x", x)
    chunk = check_int(fn, "chunk", chunk, min_value=1)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{fn}: need at least one example, got x of shape {x.shape}")
    if channel_axis is not None:
        axis = check_axis_in(fn, "channel_axis", channel_axis, x.ndim)
        if axis == 0:
            raise ValueError(
                f"{fn}: channel_axis cannot be the example axis 0, got {channel_axis}")
        reduce_axes = tuple(a for a in range(x.ndim) if a != axis)
    else:
        reduce_axes = tuple(range(x.ndim))
    total = total_sq = 0.0
    for start in range(0, x.shape[0], chunk):
        part = x[start:start + chunk].astype(np.float64)
        total = total + part.sum(axis=reduce_axes)
        total_sq = total_sq + np.square(part).sum(axis=reduce_axes)
    count = x.size / (x.shape[axis] if channel_axis is not None else 1)
    mean = np.asarray(total) / count
    var = np.maximum(np.asarray(total_sq) / count - np.square(mean), 0.0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def standardize(
    x: Any,
    mean: Any,
    std: Any,
    *,
    channel_axis: int = -1,
    eps: float = 1e-7,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Standardises per channel: ``(x - mean) / (std + eps)``.

    Args:
      x: array ``(n, ..., channels)``.
      mean: ``(channels,)`` (or a scalar), e.g. from :func:`channel_mean_std` on the
        training split.
      std: same shape as ``mean``.
      channel_axis: the channel axis of ``x``.
      eps: added to ``std`` to avoid division by zero.
      dtype: output float dtype.

    Returns:
      Array of ``x``'s shape and ``dtype``.

    Raises:
      TypeError: non-numeric ``x``, ``mean`` or ``std``; a non-float ``dtype``.
      ValueError: ``mean``/``std`` length differs from the number of channels;
        ``channel_axis`` out of range; a negative ``std`` or ``eps``; ``std + eps`` zero
        for some channel (a division by zero).
    """
    fn = "jaxdl.data.standardize"
    x = check_numeric_array(fn, "x", x)
    dtype = check_dtype(fn, dtype)
    eps = check_float(fn, "eps", eps, min_value=0.0, allow_traced=False)
    mean = check_numeric_array(fn, "mean", mean).astype(dtype)
    std = check_numeric_array(fn, "std", std).astype(dtype)
    if mean.shape != std.shape:
        raise ValueError(f"{fn}: mean {mean.shape} and std {std.shape} must have the same shape")
    if (std < 0).any():
        raise ValueError(f"{fn}: std must be >= 0, got {show_value(std, 60)}")
    if (std + np.asarray(eps, dtype) == 0).any():
        raise ValueError(f"{fn}: std + eps is 0 for some channel (std {show_value(std, 60)}, "
                         f"eps={eps}); pass eps > 0")
    if mean.ndim == 1:
        axis = check_axis_in(fn, "channel_axis", channel_axis, x.ndim)
        if mean.shape[0] != x.shape[axis]:
            raise ValueError(
                f"{fn}: expected {x.shape[axis]} channels (axis {channel_axis} "
                f"of x with shape {x.shape}), got mean/std of shape {mean.shape}"
            )
        shape = [1] * x.ndim
        shape[axis] = mean.shape[0]
        mean, std = mean.reshape(shape), std.reshape(shape)
    else:  # one statistic for every channel: channel_axis only has to be an int
        check_int(fn, "channel_axis", channel_axis)
        if mean.ndim != 0:
            raise ValueError(f"{fn}: mean must be a scalar or (channels,), got shape "
                             f"{mean.shape}")
    out = x.astype(dtype)
    out -= mean
    out /= std + np.asarray(eps, dtype)
    return out
