"""Activation layers: one per function in :mod:`jaxdl.activations`.

Each constructor returns a parameter-free :class:`jaxdl.Layer` (call it: ``Relu()``).
Options that do not change shapes (steepness, slopes, bounds) may be traced arrays, so
one compiled program can run a population with different values; concrete numbers are
checked here, when the layer is built.
"""

from __future__ import annotations

from typing import Any

from jaxdl import activations as act
from jaxdl._checks import check_axis, check_bool, check_float, is_concrete
from jaxdl.core import Layer, elementwise, layer_name, stochastic

__all__ = [
    "Step", "Linear", "Sigmoid", "BipolarSigmoid", "Tanh", "Relu", "LeakyRelu",
    "RandomizedRelu", "Softmax", "Elu", "Gelu", "Swish",
]


def _show(value: Any) -> str:
    return f"{float(value):g}" if is_concrete(value) else "traced"


def _activation(constructor: str, fn: Any, name: str | None, label: str, **kwargs: Any
                ) -> Layer:
    return elementwise(fn, layer_name(constructor, name), label=label, **kwargs)


def Step(threshold: float = 0.0, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.step` as a layer: ``1 if x > θ else 0``."""
    threshold = check_float("Step", "threshold", threshold)
    return _activation("Step", act.step, name, f"Step(threshold={_show(threshold)})",
                       threshold=threshold)


def Linear(slope: float = 1.0, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.linear` as a layer: ``c·x``."""
    slope = check_float("Linear", "slope", slope)
    return _activation("Linear", act.linear, name, f"Linear(slope={_show(slope)})", slope=slope)


def Sigmoid(steepness: float = 1.0, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.sigmoid` as a layer: ``1 / (1 + exp(-λx))``."""
    steepness = check_float("Sigmoid", "steepness", steepness, min_value=0.0, min_open=True)
    return _activation("Sigmoid", act.sigmoid, name, f"Sigmoid(steepness={_show(steepness)})",
                       steepness=steepness)


def BipolarSigmoid(steepness: float = 1.0, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.bipolar_sigmoid` as a layer: ``(1 - e^{-λx}) / (1 + e^{-λx})``."""
    steepness = check_float("BipolarSigmoid", "steepness", steepness, min_value=0.0,
                            min_open=True)
    return _activation("BipolarSigmoid", act.bipolar_sigmoid, name,
                       f"BipolarSigmoid(steepness={_show(steepness)})", steepness=steepness)


def Tanh(*, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.tanh` as a layer."""
    return _activation("Tanh", act.tanh, name, "Tanh")


def Relu(*, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.relu` as a layer: ``max(0, x)``."""
    return _activation("Relu", act.relu, name, "Relu")


def LeakyRelu(negative_slope: float = 0.01, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.leaky_relu` as a layer: ``x if x >= 0 else a·x``."""
    negative_slope = check_float("LeakyRelu", "negative_slope", negative_slope)
    return _activation("LeakyRelu", act.leaky_relu, name,
                       f"LeakyRelu({_show(negative_slope)})", negative_slope=negative_slope)


def RandomizedRelu(lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0, *,
                   name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.randomized_relu` as a layer.

    In ``apply(..., train=True, key=k)`` each negative input gets its own slope drawn
    from ``U(lower, upper)``; with ``train=False`` the mean slope is used. Training
    without a key raises ``ValueError``.
    """
    lower = check_float("RandomizedRelu", "lower", lower, min_value=0.0)
    upper = check_float("RandomizedRelu", "upper", upper, min_value=0.0)
    if is_concrete(lower) and is_concrete(upper) and float(lower) > float(upper):
        raise ValueError(f"RandomizedRelu: lower (={float(lower)}) must be <= upper "
                         f"(={float(upper)})")
    label = f"RandomizedRelu({_show(lower)}, {_show(upper)})"
    return stochastic(
        layer_name("RandomizedRelu", name),
        lambda x, key, train: act.randomized_relu(x, key=key, lower=lower, upper=upper,
                                                  train=train), label=label)


def Softmax(axis: int = -1, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.softmax` over ``axis`` of the per-example shape, as a layer.

    ``axis`` is negative (counted from the last axis), so the softmax never runs across a
    batch axis and gives the same numbers batched and under ``jax.vmap``.
    """
    axis = check_axis("Softmax", "axis", axis)
    return _activation("Softmax", act.softmax, name, f"Softmax(axis={axis})", axis=axis)


def Elu(alpha: float = 1.0, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.elu` as a layer."""
    alpha = check_float("Elu", "alpha", alpha, min_value=0.0)
    return _activation("Elu", act.elu, name, f"Elu({_show(alpha)})", alpha=alpha)


def Gelu(approximate: bool = False, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.gelu` as a layer."""
    approximate = check_bool("Gelu", "approximate", approximate)
    return _activation("Gelu", act.gelu, name, f"Gelu(approximate={approximate})",
                       approximate=approximate)


def Swish(beta: float = 1.0, *, name: str | None = None) -> Layer:
    """:func:`jaxdl.activations.swish` as a layer."""
    beta = check_float("Swish", "beta", beta)
    return _activation("Swish", act.swish, name, f"Swish({_show(beta)})", beta=beta)
