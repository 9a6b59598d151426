"""Activation layers: one per function in :mod:`jaxdl.activations`.

Each constructor returns a parameter-free :class:`jaxdl.Layer` (call it: ``Relu()``).
"""

from __future__ import annotations

from jaxdl import activations as act
from jaxdl.core import Layer, elementwise, stochastic

__all__ = [
    "Step", "Linear", "Sigmoid", "BipolarSigmoid", "Tanh", "Relu", "LeakyRelu",
    "RandomizedRelu", "Softmax", "Elu", "Gelu", "Swish",
]


def Step(threshold: float = 0.0) -> Layer:
    """:func:`jaxdl.activations.step` as a layer: ``1 if x > θ else 0``."""
    return elementwise(act.step, f"Step(threshold={threshold})", threshold=threshold)


def Linear(slope: float = 1.0) -> Layer:
    """:func:`jaxdl.activations.linear` as a layer: ``c·x``."""
    return elementwise(act.linear, f"Linear(slope={slope})", slope=slope)


def Sigmoid(steepness: float = 1.0) -> Layer:
    """:func:`jaxdl.activations.sigmoid` as a layer: ``1 / (1 + exp(-λx))``."""
    return elementwise(act.sigmoid, f"Sigmoid(steepness={steepness})", steepness=steepness)


def BipolarSigmoid(steepness: float = 1.0) -> Layer:
    """:func:`jaxdl.activations.bipolar_sigmoid` as a layer: ``(1 - e^{-λx}) / (1 + e^{-λx})``."""
    return elementwise(act.bipolar_sigmoid, f"BipolarSigmoid(steepness={steepness})",
                       steepness=steepness)


def Tanh() -> Layer:
    """:func:`jaxdl.activations.tanh` as a layer."""
    return elementwise(act.tanh, "Tanh")


def Relu() -> Layer:
    """:func:`jaxdl.activations.relu` as a layer: ``max(0, x)``."""
    return elementwise(act.relu, "Relu")


def LeakyRelu(negative_slope: float = 0.01) -> Layer:
    """:func:`jaxdl.activations.leaky_relu` as a layer: ``x if x >= 0 else a·x``."""
    return elementwise(act.leaky_relu, f"LeakyRelu({negative_slope})",
                       negative_slope=negative_slope)


def RandomizedRelu(lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0) -> Layer:
    """:func:`jaxdl.activations.randomized_relu` as a layer.

    In ``apply(..., train=True, key=k)`` each negative input gets its own slope drawn
    from ``U(lower, upper)``; with ``train=False`` the mean slope is used. Training
    without a key raises ``ValueError``.
    """
    if lower > upper:
        raise ValueError(f"RandomizedRelu: lower (={lower}) must be <= upper (={upper})")
    return stochastic(
        f"RandomizedRelu({lower:.4g}, {upper:.4g})",
        lambda x, key, train: act.randomized_relu(x, key=key, lower=lower, upper=upper,
                                                  train=train))


def Softmax(axis: int = -1) -> Layer:
    """:func:`jaxdl.activations.softmax` over ``axis`` of the per-example shape, as a layer.

    A non-negative ``axis`` counts in the per-example shape (as in ``FanInConcat``), so the
    softmax never runs across the batch axis; negative axes count from the end.
    """
    batched = axis if axis < 0 else axis + 1
    return elementwise(act.softmax, f"Softmax(axis={axis})", axis=batched)


def Elu(alpha: float = 1.0) -> Layer:
    """:func:`jaxdl.activations.elu` as a layer."""
    return elementwise(act.elu, f"Elu({alpha})", alpha=alpha)


def Gelu(approximate: bool = False) -> Layer:
    """:func:`jaxdl.activations.gelu` as a layer."""
    return elementwise(act.gelu, "Gelu", approximate=approximate)


def Swish(beta: float = 1.0) -> Layer:
    """:func:`jaxdl.activations.swish` as a layer."""
    return elementwise(act.swish, f"Swish({beta})", beta=beta)
