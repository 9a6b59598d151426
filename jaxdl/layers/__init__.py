"""jaxdl's layers; every constructor returns a :class:`jaxdl.Layer`."""

from jaxdl.layers.activation import (
    BipolarSigmoid, Elu, Gelu, LeakyRelu, Linear, RandomizedRelu, Relu, Sigmoid, Softmax, Step,
    Swish, Tanh,
)
from jaxdl.layers.dense import Dense, Flatten, Identity, Perceptron
from jaxdl.layers.dropout import Dropout

__all__ = [
    "BipolarSigmoid", "Dense", "Dropout", "Elu", "Flatten", "Gelu", "Identity", "LeakyRelu",
    "Linear", "Perceptron", "RandomizedRelu", "Relu", "Sigmoid", "Softmax", "Step", "Swish", "Tanh",
]
