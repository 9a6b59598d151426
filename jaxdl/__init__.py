"""jaxdl: a small, pure-function deep-learning library on JAX and Optax.

Every layer and model is a :class:`Layer`, a pair of pure functions
``init(key, input_shape) -> (output_shape, params, state)`` and
``apply(params, state, x, *, key=None, train=False, lengths=None) -> (y, state)``.
"""

from jaxdl import activations, initializers, losses, metrics
from jaxdl._checks import check_input_shape, check_option, check_shape
from jaxdl.checkpoint import load_checkpoint, save_checkpoint
from jaxdl.combinators import (
    FanInConcat, FanInSum, FanOut, TimeDistributed, parallel, serial, shape_dependent,
)
from jaxdl.core import (
    ApplyFn, InitFn, Layer, Shape, abstract_init, elementwise, init_population, length_mask,
    stateless, stochastic,
)
from jaxdl.layers import (
    BipolarSigmoid, Dense, Dropout, Elu, Flatten, Gelu, Identity, LeakyRelu, Linear, Perceptron,
    RandomizedRelu, Relu, Sigmoid, Softmax, Step, Swish, Tanh,
)
from jaxdl.perceptron import PerceptronFit, perceptron_fit, perceptron_predict
from jaxdl.summary import count_params, summary
from jaxdl.training import (
    Batch, Checkpoint, EarlyStopping, EpochInfo, FitInterrupted, FitResult,
    TrainingDivergedError, evaluate, fit, iterations_per_epoch, make_eval_step, make_train_step,
    predict,
)

from jaxdl.layers import (
    AvgPool, Conv, ConvTranspose, GlobalAvgPool, GlobalMaxPool, MaxPool, SumPool,
)
from jaxdl.layers import BatchNorm, Embedding, LayerNorm
from jaxdl import augment
from jaxdl.augment import Augment
from jaxdl import population, tuning
from jaxdl.population import (
    PopulationResult, clip_per_example, fit_population, make_per_example_train_step,
    per_example_clipping, per_example_grads,
)
from jaxdl.core import Carry, Cell
from jaxdl.layers import (
    GRU, LSTM, RNN, Bidirectional, BidirectionalState, HiddenState, LSTMState, SimpleRNN,
    StackedCells, scan_cell,
)
from jaxdl.sequence import EncoderDecoder, decode, generate
from jaxdl.layers import GraphConv, MatrixFactorization, NeuralCF, normalize_adjacency
from jaxdl import rbm
from jaxdl.rbm import RBM

from jaxdl import data_parallel, distributed
from jaxdl.checkpoint import load_sharded_checkpoint, save_sharded_checkpoint
from jaxdl.data_parallel import make_parallel_train_step

__version__ = "0.2.0"

__all__ = [
    "GraphConv", "normalize_adjacency", "MatrixFactorization", "NeuralCF", "rbm", "RBM",
    "TimeDistributed",
    "data_parallel", "distributed", "make_parallel_train_step", "save_sharded_checkpoint",
    "load_sharded_checkpoint",
    "Cell", "Carry", "SimpleRNN", "LSTM", "GRU", "StackedCells", "RNN", "Bidirectional",
    "scan_cell", "HiddenState", "LSTMState", "BidirectionalState",
    "generate", "EncoderDecoder", "decode",
    "population", "tuning", "fit_population", "PopulationResult", "per_example_grads",
    "clip_per_example", "per_example_clipping", "make_per_example_train_step",
    "BatchNorm", "LayerNorm", "Embedding", "Augment", "augment",
    "Conv", "ConvTranspose", "MaxPool", "AvgPool", "SumPool", "GlobalAvgPool", "GlobalMaxPool",
    "activations", "initializers", "losses", "metrics",
    "Layer", "InitFn", "ApplyFn", "Shape", "serial", "parallel", "FanOut", "FanInSum",
    "FanInConcat", "shape_dependent", "elementwise", "stateless", "stochastic", "abstract_init",
    "init_population", "length_mask", "check_shape", "check_input_shape", "check_option",
    "Dense", "Flatten", "Identity", "Perceptron", "Dropout", "Step", "Linear", "Sigmoid",
    "BipolarSigmoid", "Tanh", "Relu", "LeakyRelu", "RandomizedRelu", "Softmax", "Elu", "Gelu",
    "Swish", "perceptron_fit", "perceptron_predict", "PerceptronFit", "summary", "count_params",
    "Batch", "make_train_step", "make_eval_step", "evaluate", "predict", "fit", "FitResult",
    "FitInterrupted", "EarlyStopping", "EpochInfo", "Checkpoint", "TrainingDivergedError",
    "iterations_per_epoch", "save_checkpoint", "load_checkpoint",
]
