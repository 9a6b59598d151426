"""Host-side checks of training data, run once by ``fit`` before the first step.

Inside ``jit`` a label out of range cannot raise: ``optax``'s integer cross-entropy
silently trains label -1 as the last class, and label ``classes`` gives NaN. So ``fit``
looks at the data on the host first and names the first bad value and its index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxdl.core import Layer, Params, State
from jaxdl.training.steps import Batch

__all__ = ["host_columns", "check"]

_INTEGER_LABELS = ("sparse_categorical_cross_entropy",)
_DISTRIBUTIONS = ("categorical_cross_entropy", "softmax_cross_entropy", "kl_divergence")
_BINARY = ("binary_cross_entropy", "binary_cross_entropy_with_logits")
_SIGNED = ("hinge",)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _index(idx: tuple[int, ...]) -> str:
    return str(idx[0]) if len(idx) == 1 else str(idx)


def host_columns(fn: str, batch: Batch, *, check_finite: bool = True) -> Batch:
    """The batch's columns as NumPy arrays, refusing strings and objects (and, with
    ``check_finite``, NaN/inf in ``x`` and ``y``)."""
    out = []
    for name, col in batch._asdict().items():
        if col is None:
            out.append(None)
            continue
        if isinstance(col, tuple):
            raise TypeError(f"{fn}: {name} must be one array (n, ...), got a tuple of "
                            f"{len(col)}; fit does not take multi-input batches yet (write the "
                            "loop with make_train_step, whose batches may hold any pytree)")
        try:
            arr = np.asarray(jax.device_get(col))
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"{fn}: column {name!r} is not an array ({type(col).__name__}: "
                            f"{e})") from e
        if arr.dtype.kind in "USO":
            hint = (" (map string labels to integers first, e.g. "
                    "np.unique(y, return_inverse=True))" if name == "y" else "")
            raise TypeError(f"{fn}: {name} must be numeric, got dtype {arr.dtype}"
                            f" (first value {arr.reshape(-1)[0]!r}){hint}")
        if arr.ndim == 0:
            raise ValueError(f"{fn}: {name} must have a leading example axis, got a scalar")
        if check_finite and name in ("x", "y") and arr.dtype.kind in "fc":
            bad = ~np.isfinite(arr)
            if bad.any():
                idx = _first(bad)
                raise ValueError(f"{fn}: {name} holds a non-finite value {arr[idx]} at index "
                                 f"{_index(idx)}; clean or impute the data first")
        if name == "lengths" and arr.dtype.kind not in "iu":
            raise TypeError(f"{fn}: lengths must be integers, got dtype {arr.dtype}")
        out.append(arr)
    return Batch(*out)


def _loss_name(loss: Any) -> str:
    return loss if isinstance(loss, str) else getattr(loss, "__name__", "")


def check(fn: str, model: Layer, params: Params, state: State, data: Batch, loss: Any,
          metrics: dict[str, Callable[..., Any]], *, what: str = "training") -> None:
    """Checks ``data.y`` against the model's output and the loss; ValueError on the first
    bad value (with its index)."""
    x, y = data.x, data.y
    sample_lengths = None if data.lengths is None else data.lengths[:1]
    try:
        out = jax.eval_shape(lambda p, s, xb, lb: model.apply(p, s, xb, train=False,
                                                               lengths=lb)[0],
                             params, state, x[:1], sample_lengths)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{fn}: the model cannot take the {what} inputs of shape "
                      f"{x.shape[1:]} per example: {e}") from e
    if not hasattr(out, "shape"):
        return  # multi-output models: the loss checks its own inputs
    classes = out.shape[-1] if out.ndim else 1
    name = _loss_name(loss)
    label = f"{what} targets"
    if name in _INTEGER_LABELS or ("accuracy" in metrics and y.shape == (len(y), *out.shape[1:-1])):
        if y.dtype.kind not in "iu":
            raise TypeError(f"{fn}: {label} must be integer class labels for {name or 'accuracy'}"
                            f", got dtype {y.dtype}")
        bad = (y < 0) | (y >= classes)
        if bad.any():
            idx = _first(bad)
            raise ValueError(f"{fn}: {label}: label {int(y[idx])} at index {_index(idx)} is "
                             f"outside [0, {classes}) for a model with {classes} outputs")
    if name in _DISTRIBUTIONS:
        if y.shape[1:] != tuple(out.shape[1:]):
            raise ValueError(f"{fn}: {label} for {name} must be one-hot or probability rows "
                             f"of the model's output shape {tuple(out.shape[1:])}, got "
                             f"{y.shape[1:]} per example")
        negative = y < 0
        if negative.any():
            idx = _first(negative)
            raise ValueError(f"{fn}: {label}: negative probability {y[idx]} at index "
                             f"{_index(idx)}")
        sums = y.sum(axis=-1)
        off = np.abs(sums - 1.0) > 1e-3
        if off.any():
            idx = _first(off)
            raise ValueError(f"{fn}: {label}: row {_index(idx)} sums to {sums[idx]:.4g}, not 1 "
                             f"(one-hot or probability rows expected for {name})")
    if name in _BINARY or "binary_accuracy" in metrics:
        bad = (y < 0) | (y > 1)
        if name not in _BINARY:  # binary_accuracy compares with 0/1 labels
            bad = bad | ((y != 0) & (y != 1))
        if bad.any():
            idx = _first(bad)
            raise ValueError(f"{fn}: {label}: target {y[idx]} at index {_index(idx)} is not in "
                             f"[0, 1] ({name or 'binary_accuracy'} needs 0/1 targets)")
    if name in _SIGNED:
        bad = (y != -1) & (y != 1)
        if bad.any():
            idx = _first(bad)
            raise ValueError(f"{fn}: {label}: target {y[idx]} at index {_index(idx)} is not "
                             f"-1 or +1 (hinge needs ±1 labels; map 0/1 with 2*y - 1)")
