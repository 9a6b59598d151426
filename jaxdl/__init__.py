"""jaxdl: a small, pure-function deep-learning library on JAX and Optax."""

from jaxdl.core import (
    Layer, InitFn, ApplyFn, Shape, serial, parallel, FanOut, fan_out, FanInSum, FanInConcat,
    shape_dependent, elementwise, stateless, abstract_init,
)

__version__ = "0.1.0"
