"""jaxdl's layers; every constructor returns a :class:`jaxdl.Layer`."""

from jaxdl.layers.activation import (
    BipolarSigmoid, Elu, Gelu, LeakyRelu, Linear, RandomizedRelu, Relu, Sigmoid, Softmax, Step,
    Swish, Tanh,
)
from jaxdl.layers.dense import Dense, Flatten, Identity, Perceptron
from jaxdl.layers.dropout import Dropout
from jaxdl.layers.conv import Conv, ConvTranspose
from jaxdl.layers.pooling import AvgPool, GlobalAvgPool, GlobalMaxPool, MaxPool, SumPool
from jaxdl.layers.normalization import BatchNorm, LayerNorm
from jaxdl.layers.embedding import Embedding
from jaxdl.layers.graph import GraphConv, normalize_adjacency
from jaxdl.layers.recommender import MatrixFactorization, NeuralCF
from jaxdl.layers.recurrent import (
    GRU, LSTM, RNN, Bidirectional, BidirectionalState, HiddenState, LSTMState, SimpleRNN,
    StackedCells, scan_cell,
)

__all__ = [
    "GraphConv", "normalize_adjacency", "MatrixFactorization", "NeuralCF",
    "SimpleRNN", "LSTM", "GRU", "StackedCells", "RNN", "Bidirectional", "scan_cell",
    "HiddenState", "LSTMState", "BidirectionalState",
    "BatchNorm", "LayerNorm", "Embedding",
    "Conv", "ConvTranspose", "MaxPool", "AvgPool", "SumPool", "GlobalAvgPool", "GlobalMaxPool",
    "BipolarSigmoid", "Dense", "Dropout", "Elu", "Flatten", "Gelu", "Identity", "LeakyRelu",
    "Linear", "Perceptron", "RandomizedRelu", "Relu", "Sigmoid", "Softmax", "Step", "Swish", "Tanh",
]
