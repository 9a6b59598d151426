"""Preprocessing on the host: one-hot labels, scaling to [0, 1], per-channel standardising.

Statistics (``channel_mean_std``) are computed on the training split and then applied
to every split, so no information leaks from validation or test data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxdl.data._checks import is_int


def one_hot(labels: Any, num_classes: int, *, dtype: Any = np.float32) -> np.ndarray:
    """One-hot encodes integer labels.

    Args:
      labels: int array of any shape ``(...)`` with values in ``[0, num_classes)``.
      num_classes: ``k``.
      dtype: output dtype.

    Returns:
      Array of shape ``(..., k)``: 1 at each label's position, 0 elsewhere.

    Raises:
      ValueError: non-integer labels, or a label outside ``[0, num_classes)``.

    Example:
      >>> one_hot(np.array([0, 2]), 3)
      array([[1., 0., 0.],
             [0., 0., 1.]], dtype=float32)
    """
    fn = "jaxdl.data.one_hot"
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{fn}: labels must be integers, got dtype {labels.dtype}")
    if not is_int(num_classes, min_value=1):
        raise ValueError(f"{fn}: num_classes must be an int >= 1, got {num_classes!r}")
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
      ValueError: ``high <= low``.

    Example:
      >>> scale_to_unit(np.array([0, 51, 255], np.uint8))
      array([0. , 0.2, 1. ], dtype=float32)
    """
    x = np.asarray(x)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        low = float(info.min) if low is None else low
        high = float(info.max) if high is None else high
    else:
        low = float(x.min()) if low is None else low
        high = float(x.max()) if high is None else high
    if not high > low:
        raise ValueError(f"jaxdl.data.scale_to_unit: need high > low, got low={low}, high={high}")
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

    Example:
      >>> mean, std = channel_mean_std(np.array([[[0.0, 10.0]], [[2.0, 30.0]]]))
      >>> mean.tolist(), std.tolist()
      ([1.0, 20.0], [1.0, 10.0])
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"jaxdl.data.channel_mean_std: need at least one example, got {x.shape}")
    if channel_axis is not None:
        axis = channel_axis % x.ndim
        if axis == 0:
            raise ValueError(
                "jaxdl.data.channel_mean_std: channel_axis cannot be the example axis 0")
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
      ValueError: ``mean``/``std`` length differs from the number of channels.
    """
    x = np.asarray(x)
    mean = np.asarray(mean, dtype=dtype)
    std = np.asarray(std, dtype=dtype)
    if mean.shape != std.shape:
        raise ValueError(
            f"jaxdl.data.standardize: mean {mean.shape} and std {std.shape} must match"
        )
    if mean.ndim == 1:
        axis = channel_axis % x.ndim
        if mean.shape[0] != x.shape[axis]:
            raise ValueError(
                f"jaxdl.data.standardize: expected {x.shape[axis]} channels (axis {channel_axis} "
                f"of x with shape {x.shape}), got mean/std of shape {mean.shape}"
            )
        shape = [1] * x.ndim
        shape[axis] = mean.shape[0]
        mean, std = mean.reshape(shape), std.reshape(shape)
    elif mean.ndim != 0:
        raise ValueError(
            f"jaxdl.data.standardize: mean must be a scalar or (channels,), got {mean.shape}")
    out = x.astype(dtype)
    out -= mean
    out /= std + np.asarray(eps, dtype)
    return out
