"""The layer protocol and the combinators that compose layers.

Every layer and every model in jaxdl is a :class:`Layer`: a named pair of pure functions

* ``init(key, input_shape) -> (output_shape, params, state)``
* ``apply(params, state, x, *, key=None, train=False) -> (y, state)``

``input_shape``/``output_shape`` are the shapes of **one example** (no batch axis);
``apply`` takes a batch ``x`` of shape ``(batch, *input_shape)`` (elementwise layers and
``Dense`` accept any number of leading batch axes). ``params`` are what the optimiser
trains; ``state`` is what changes during training without gradients (BatchNorm running
statistics). Stateless, parameter-free layers use ``()`` for both. Randomness (dropout,
randomized ReLU) comes in through the explicit ``key``; combinators split it once per
sub-layer. See ``docs/protocol.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import check_input_shape, check_option, check_shape  # noqa: F401

Array = jax.Array
Shape = tuple[int, ...]
Params = Any  # a pytree of arrays
State = Any  # a pytree of arrays


class InitFn(Protocol):
    """``init(key, input_shape) -> (output_shape, params, state)``; shapes exclude the batch."""

    def __call__(self, key: Array, input_shape: Any) -> tuple[Any, Params, State]: ...


class ApplyFn(Protocol):
    """``apply(params, state, x, *, key=None, train=False) -> (y, new_state)``."""

    def __call__(
        self,
        params: Params,
        state: State,
        x: Any,
        *,
        key: Array | None = None,
        train: bool = False,
    ) -> tuple[Any, State]: ...


class Layer(NamedTuple):
    """A layer or a whole model: a named ``(init, apply)`` pair of pure functions.

    Attributes:
      init: ``(key, input_shape) -> (output_shape, params, state)``.
      apply: ``(params, state, x, *, key=None, train=False) -> (y, state)``.
      name: a human-readable name, used in error messages and :func:`jaxdl.summary`.
      children: the sub-layers of a combinator (empty for a plain layer).
      combinator: ``"serial"`` or ``"parallel"`` for those combinators, else ``""``;
        ``params[i]``/``state[i]`` of a combinator belong to ``children[i]``.
    """

    init: InitFn
    apply: ApplyFn
    name: str = "layer"
    children: tuple["Layer", ...] = ()
    combinator: str = ""


# --------------------------------------------------------------------------- helpers


def split_key(key: Array | None, n: int) -> list[Array | None]:
    """Splits ``key`` into ``n`` keys, or returns ``n`` Nones when ``key`` is None."""
    if key is None:
        return [None] * n
    return list(jax.random.split(key, n))


def abstract_init(layer: Layer, input_shape: Any, key: Array | None = None
                  ) -> tuple[Any, Params, State]:
    """Runs ``layer.init`` abstractly: shapes and dtypes only, no memory allocated.

    Returns:
      ``(output_shape, params, state)`` with ``jax.ShapeDtypeStruct`` leaves.
    """
    box: dict[str, Any] = {}

    def f(k: Array) -> tuple[Params, State]:
        out, p, s = layer.init(k, input_shape)
        box["out"] = out
        return p, s

    params, state = jax.eval_shape(f, jax.random.key(0) if key is None else key)
    return box["out"], params, state


def stateless(name: str, fn: Callable[[Array], Array],
              out_shape: Callable[[Any], Any] | None = None) -> Layer:
    """Makes a parameter-free, state-free layer from ``fn(x) -> y``.

    Args:
      name: the layer's name.
      fn: the batched function.
      out_shape: maps the per-example input shape to the output shape (default: identity).
    """

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        del key
        return (out_shape(input_shape) if out_shape else input_shape), (), ()

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False) -> tuple[Any, State]:
        del params, key, train
        return fn(x), state

    return Layer(init, apply, name)


def stochastic(name: str, fn: Callable[[Array, Array | None, bool], Array]) -> Layer:
    """A parameter-free, shape-preserving layer whose training pass draws random numbers.

    ``fn(x, key, train) -> y``; ``apply(..., train=True)`` without a key raises
    ``ValueError`` naming the layer, before ``fn`` runs (so randomness is never silently
    skipped). At evaluation ``key`` may be None.
    """

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        del key
        return input_shape, (), ()

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False) -> tuple[Any, State]:
        del params
        if train and key is None:
            raise ValueError(f"{name}: apply(..., train=True) needs a PRNG key (key=...)")
        return fn(x, key, train), state

    return Layer(init, apply, name)


def elementwise(fn: Callable[..., Array], name: str | None = None, **fn_kwargs: Any) -> Layer:
    """A layer applying ``fn(x, **fn_kwargs)`` elementwise; shape unchanged.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> layer = jaxdl.elementwise(jax.nn.relu)
      >>> _, p, s = layer.init(jax.random.key(0), (3,))
      >>> layer.apply(p, s, jnp.array([[-1.0, 0.0, 2.0]]))[0]
      Array([[0., 0., 2.]], dtype=float32)
    """
    label = name or getattr(fn, "__name__", "elementwise")
    return stateless(label, lambda x: fn(x, **fn_kwargs))


# ----------------------------------------------------------------------- combinators


def _check_children(name: str, n: int, params: Params, state: State) -> None:
    for what, tree in (("params", params), ("state", state)):
        if not isinstance(tree, tuple) or len(tree) != n:
            got = f"a {type(tree).__name__} of length {len(tree)}" if isinstance(
                tree, (tuple, list)) else type(tree).__name__
            raise ValueError(f"{name}: expected {what} as a tuple with one entry per layer "
                             f"({n}), got {got}")


def serial(*layers: Layer, name: str = "serial") -> Layer:
    """Composes layers in sequence: ``y = f_n(...f_2(f_1(x)))``.

    ``params`` and ``state`` are tuples with one entry per layer; the key is split once
    per layer in ``init`` and in ``apply``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> model = jaxdl.serial(jaxdl.Dense(8), jaxdl.Relu(), jaxdl.Dense(2))
      >>> out_shape, params, state = model.init(jax.random.key(0), (4,))
      >>> out_shape
      (2,)
      >>> model.apply(params, state, jnp.ones((5, 4)))[0].shape
      (5, 2)
    """
    if not layers:
        raise ValueError("serial: needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(
                f"serial: argument {i} must be a jaxdl Layer, got {type(layer).__name__}"
                + (" (did you forget to call the layer constructor?)" if callable(layer) else "")
            )

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        params, states = [], []
        for layer, k in zip(layers, jax.random.split(key, len(layers))):
            input_shape, p, s = layer.init(k, input_shape)
            params.append(p)
            states.append(s)
        return input_shape, tuple(params), tuple(states)

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False) -> tuple[Any, State]:
        _check_children(name, len(layers), params, state)
        new_states = []
        for layer, p, s, k in zip(layers, params, state, split_key(key, len(layers))):
            x, s = layer.apply(p, s, x, key=k, train=train)
            new_states.append(s)
        return x, tuple(new_states)

    return Layer(init, apply, name, tuple(layers), "serial")


def parallel(*layers: Layer, name: str = "parallel") -> Layer:
    """Applies layer ``i`` to input ``i`` of a tuple: ``(x_1..x_n) -> (f_1(x_1)..f_n(x_n))``.

    ``input_shape`` is a tuple of per-example shapes, one per layer.
    """

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        if len(input_shape) != len(layers):
            raise ValueError(
                f"{name}: expected {len(layers)} input shapes, got {len(input_shape)}"
            )
        outs = [layer.init(k, shp) for layer, k, shp in
                zip(layers, jax.random.split(key, len(layers)), input_shape)]
        return tuple(o[0] for o in outs), tuple(o[1] for o in outs), tuple(o[2] for o in outs)

    def apply(params: Params, state: State, xs: Any, *, key: Array | None = None,
              train: bool = False) -> tuple[Any, State]:
        _check_children(name, len(layers), params, state)
        if not isinstance(xs, (tuple, list)) or len(xs) != len(layers):
            raise ValueError(f"{name}: expected a tuple of {len(layers)} inputs")
        outs = [layer.apply(p, s, x, key=k, train=train) for layer, p, s, x, k in
                zip(layers, params, state, xs, split_key(key, len(layers)))]
        return tuple(o[0] for o in outs), tuple(o[1] for o in outs)

    return Layer(init, apply, name, tuple(layers), "parallel")


def FanOut(num: int) -> Layer:
    """Copies the input ``num`` times: ``x -> (x, ..., x)``."""
    if num < 1:
        raise ValueError(f"FanOut: num must be >= 1, got {num}")
    return stateless(f"FanOut({num})", lambda x: tuple([x] * num),
                     lambda shape: tuple([shape] * num))


fan_out = FanOut


def _fan_in_shapes(name: str, shapes: Any) -> list[Shape]:
    if not isinstance(shapes, (tuple, list)) or not shapes or not isinstance(shapes[0], (tuple, list)):
        raise ValueError(f"{name}: expects a tuple of input shapes, got {shapes!r}")
    return [tuple(s) for s in shapes]


def _fan_in_sum_shape(shapes: Any) -> Shape:
    shapes = _fan_in_shapes("FanInSum", shapes)
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"FanInSum: all inputs must have the same shape, got {shapes}")
    return shapes[0]


def _fan_in_sum(xs: Any) -> Array:
    shapes = [jnp.shape(x) for x in xs]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"FanInSum: all inputs must have the same shape, got {shapes}")
    return sum(xs[1:], xs[0])


def FanInSum() -> Layer:
    """Adds a tuple of same-shaped inputs: ``(x_1..x_n) -> x_1 + ... + x_n``."""
    return stateless("FanInSum", _fan_in_sum, _fan_in_sum_shape)


def FanInConcat(axis: int = -1) -> Layer:
    """Concatenates a tuple of inputs along ``axis`` (of the per-example shape when >= 0)."""

    def out_shape(shapes: Any) -> Shape:
        shapes = _fan_in_shapes("FanInConcat", shapes)
        rank = len(shapes[0])
        ax = axis % rank
        for s in shapes:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != ax):
                raise ValueError(f"FanInConcat: shapes {shapes} differ off axis {axis}")
        return shapes[0][:ax] + (sum(s[ax] for s in shapes),) + shapes[0][ax + 1:]

    def fn(xs: Any) -> Array:
        # a non-negative per-example axis sits one place later in the batched array
        return jnp.concatenate(xs, axis=axis if axis < 0 else axis + 1)

    return stateless(f"FanInConcat(axis={axis})", fn, out_shape)



def shape_dependent(make_layer: Callable[[Any], Layer], name: str = "shape_dependent") -> Layer:
    """A layer built from the input shape at ``init`` time, as in stax.

    ``make_layer(input_shape) -> Layer``. ``apply`` infers the per-example shape from
    the input (one leading batch axis) and rebuilds the same layer.
    """

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        return make_layer(input_shape).init(key, input_shape)

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False) -> tuple[Any, State]:
        shape = jax.tree_util.tree_map(lambda a: tuple(a.shape[1:]), x)
        return make_layer(shape).apply(params, state, x, key=key, train=train)

    return Layer(init, apply, name)
