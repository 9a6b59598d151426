"""Combinators: layers made of layers (``serial``, ``parallel``, fan-out and fan-in).

A combinator holds its children's params and state in dicts keyed by unique snake_case
names (``{"dense": ..., "dense_1": ...}``), leaving out children without any, so that
inserting a parameter-free layer moves no parameter path. It gives each child a key
folded from the child's name and forwards ``train`` and ``lengths`` to every child.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp

from jaxdl._checks import check_axis, check_int
from jaxdl.core import (
    Array, Layer, Params, Shape, State, child_key, has_leaves, layer_name, length_mask,
    stateless, unique_names,
)

__all__ = ["serial", "parallel", "FanOut", "FanInSum", "FanInConcat", "shape_dependent",
           "TimeDistributed"]


def _check_layers(fn: str, layers: tuple[Any, ...]) -> None:
    if not layers:
        raise ValueError(f"{fn}: needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(
                f"{fn}: argument {i} must be a jaxdl Layer, got {type(layer).__name__}"
                + (" (did you forget to call the layer constructor?)" if callable(layer) else "")
            )


def _check_tree(label: str, what: str, tree: Any, names: tuple[str, ...]) -> None:
    """``params``/``state`` of a combinator: a mapping whose keys are children's names."""
    if not isinstance(tree, Mapping):
        raise ValueError(f"{label}: expected {what} as a dict keyed by layer name "
                         f"({', '.join(names)}), got {type(tree).__name__}")
    unknown = [k for k in tree if k not in names]
    if unknown:
        raise ValueError(f"{label}: {what} has keys {unknown} that name no layer of this model "
                         f"(its layers: {', '.join(names)}); were these {what} made for "
                         "another model?")


def combinator_label(kind: str, name: str | None) -> str:
    """How errors name a combinator: ``serial``, or ``serial 'encoder'`` when named."""
    return kind if name is None else f"{kind} {name!r}"


def _combinator(kind: str, layers: tuple[Layer, ...], name: str | None,
                run: Callable[..., tuple[Any, dict[str, Any]]],
                shapes: Callable[..., tuple[Any, dict[str, Any], dict[str, Any]]],
                label: str | None = None) -> Layer:
    _check_layers(kind, layers)
    key_name = layer_name(kind, name)
    names = unique_names(layers)
    label = label or combinator_label(kind, name)

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        return shapes(names, key, input_shape)

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Any, State]:
        _check_tree(label, "params", params, names)
        _check_tree(label, "state", state, names)
        return run(names, params, state, x, key, train, lengths)

    return Layer(init, apply, key_name, layers, kind, label)


def _put(tree: dict[str, Any], name: str, value: Any) -> None:
    if has_leaves(value):
        tree[name] = value


def serial(*layers: Layer, name: str | None = None, label: str | None = None) -> Layer:
    """Composes layers in sequence: ``y = f_n(...f_2(f_1(x)))``.

    Args:
      *layers: the layers, first applied first.
      name: the snake_case name of the whole (default ``"serial"``).
      label: how errors and summaries describe it (default ``serial`` or ``serial 'name'``).

    ``params`` and ``state`` are dicts keyed by the children's unique names
    (:func:`jaxdl.core.unique_names`), without the children that have none.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> model = jaxdl.serial(jaxdl.Dense(8), jaxdl.Relu(), jaxdl.Dense(2))
      >>> out_shape, params, state = model.init(jax.random.key(0), (4,))
      >>> out_shape, sorted(params), state
      ((2,), ['dense', 'dense_1'], {})
      >>> model.apply(params, state, jnp.ones((5, 4)))[0].shape
      (5, 2)
    """

    def shapes(names: tuple[str, ...], key: Array, input_shape: Any) -> tuple[Any, ...]:
        params: dict[str, Any] = {}
        state: dict[str, Any] = {}
        for n, layer in zip(names, layers):
            input_shape, p, s = layer.init(child_key(key, n), input_shape)
            _put(params, n, p)
            _put(state, n, s)
        return input_shape, params, state

    def run(names: tuple[str, ...], params: Params, state: State, x: Any, key: Array | None,
            train: bool, lengths: Array | None) -> tuple[Any, dict[str, Any]]:
        new_state: dict[str, Any] = {}
        for n, layer in zip(names, layers):
            x, s = layer.apply(params.get(n, {}), state.get(n, {}), x, key=child_key(key, n),
                               train=train, lengths=lengths)
            _put(new_state, n, s)
        return x, new_state

    return _combinator("serial", layers, name, run, shapes, label)


def parallel(*layers: Layer, name: str | None = None) -> Layer:
    """Applies layer ``i`` to input ``i`` of a tuple: ``(x_1..x_n) -> (f_1(x_1)..f_n(x_n))``.

    ``input_shape`` is a tuple of per-example shapes, one per layer; params and state are
    dicts keyed by the children's unique names, as in :func:`serial`.
    """

    def shapes(names: tuple[str, ...], key: Array, input_shape: Any) -> tuple[Any, ...]:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != len(layers) or \
                not all(isinstance(s, (tuple, list)) for s in input_shape):
            raise ValueError(f"{combinator_label('parallel', name)}: expected a tuple of "
                             f"{len(layers)} input shapes, one per layer, got {input_shape!r}")
        params: dict[str, Any] = {}
        state: dict[str, Any] = {}
        outs = []
        for n, layer, shp in zip(names, layers, input_shape):
            out, p, s = layer.init(child_key(key, n), shp)
            outs.append(out)
            _put(params, n, p)
            _put(state, n, s)
        return tuple(outs), params, state

    def run(names: tuple[str, ...], params: Params, state: State, xs: Any, key: Array | None,
            train: bool, lengths: Array | None) -> tuple[Any, dict[str, Any]]:
        if not isinstance(xs, (tuple, list)) or len(xs) != len(layers):
            got = f"{len(xs)} inputs" if isinstance(xs, (tuple, list)) else type(xs).__name__
            raise ValueError(f"{combinator_label('parallel', name)}: expected a tuple of "
                             f"{len(layers)} inputs, got {got}")
        new_state: dict[str, Any] = {}
        outs = []
        for n, layer, x in zip(names, layers, xs):
            y, s = layer.apply(params.get(n, {}), state.get(n, {}), x, key=child_key(key, n),
                               train=train, lengths=lengths)
            outs.append(y)
            _put(new_state, n, s)
        return tuple(outs), new_state

    return _combinator("parallel", layers, name, run, shapes)


def FanOut(num: int, *, name: str | None = None) -> Layer:
    """Copies the input ``num`` times: ``x -> (x, ..., x)``."""
    num = check_int("FanOut", "num", num, min_value=1)
    return stateless(layer_name("FanOut", name), lambda x: tuple([x] * num),
                     lambda shape: tuple([shape] * num), label=f"FanOut({num})")


def _fan_in_shapes(label: str, shapes: Any) -> list[Shape]:
    if not isinstance(shapes, (tuple, list)) or not shapes or \
            not all(isinstance(s, (tuple, list)) for s in shapes):
        raise ValueError(f"{label}: expects a tuple of input shapes (after FanOut/parallel), "
                         f"got {shapes!r}")
    return [tuple(s) for s in shapes]


def _fan_in_inputs(label: str, xs: Any) -> list[Any]:
    if not isinstance(xs, (tuple, list)) or not xs:
        got = f"an array of shape {jnp.shape(xs)}" if hasattr(xs, "shape") else type(xs).__name__
        raise ValueError(f"{label}: expects a tuple of inputs (after FanOut/parallel), got {got}")
    return list(xs)


def FanInSum(*, name: str | None = None) -> Layer:
    """Adds a tuple of same-shaped inputs: ``(x_1..x_n) -> x_1 + ... + x_n``."""

    def out_shape(shapes: Any) -> Shape:
        shapes = _fan_in_shapes("FanInSum", shapes)
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"FanInSum: all inputs must have the same shape, got {shapes}")
        return shapes[0]

    def fn(xs: Any) -> Array:
        xs = _fan_in_inputs("FanInSum", xs)
        shapes = [jnp.shape(x) for x in xs]
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"FanInSum: all inputs must have the same shape, got {shapes}")
        return sum(xs[1:], xs[0])

    return stateless(layer_name("FanInSum", name), fn, out_shape, label="FanInSum")


def FanInConcat(axis: int = -1, *, name: str | None = None) -> Layer:
    """Concatenates a tuple of inputs along ``axis``, a negative axis of the per-example
    shape (``-1``: features), which means the same on a batch and under ``jax.vmap``."""
    axis = check_axis("FanInConcat", "axis", axis)
    label = f"FanInConcat(axis={axis})"

    def out_shape(shapes: Any) -> Shape:
        shapes = _fan_in_shapes(label, shapes)
        rank = len(shapes[0])
        if -axis > rank:
            raise ValueError(f"{label}: axis {axis} is out of range for inputs of rank {rank}")
        ax = axis % rank
        for s in shapes:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0]))
                                     if i != ax):
                raise ValueError(f"{label}: shapes {shapes} differ off axis {axis}")
        sizes = [s[ax] for s in shapes]
        total = None if None in sizes else sum(sizes)
        return shapes[0][:ax] + (total,) + shapes[0][ax + 1:]

    def fn(xs: Any) -> Array:
        return jnp.concatenate(_fan_in_inputs(label, xs), axis=axis)

    return stateless(layer_name("FanInConcat", name), fn, out_shape, label=label)


def TimeDistributed(layer: Layer, *, name: str | None = None) -> Layer:
    """Applies ``layer`` to every step of a sequence: ``(time, *step) -> (time, *out)``.

    A CNN over every frame of a video, a Dense head over every step of an RNN's outputs.
    Since every jaxdl layer takes any number of leading batch axes, the time axis simply
    becomes one more of them: the frames of all clips go through ``layer`` together, as
    one large batch (what ``jax.vmap`` over time would compute, without the vmap). Only
    ``init`` needs this wrapper, to strip the time axis from the shape.

    With ``lengths``, outputs at padded steps (``t >= lengths``) are zero, as an
    :func:`jaxdl.RNN`'s are; ``layer`` itself sees every step and no ``lengths``.

    Args:
      layer: the per-step layer (any jaxdl layer).
      name: the snake_case name (default ``"time_distributed"``).

    Shapes:
      ``init`` takes ``(time, *step_shape)`` (``time`` may be None) and returns
      ``(time, *layer_output)``; ``apply`` takes ``(*batch, time, *step_shape)``. Params
      and state are dicts keyed by the child's name, as in :func:`serial`.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> frames = jaxdl.TimeDistributed(jaxdl.serial(
      ...     jaxdl.Conv(4, (3, 3)), jaxdl.Relu(), jaxdl.GlobalAvgPool()))
      >>> out_shape, params, state = frames.init(jax.random.key(0), (None, 8, 8, 1))
      >>> out_shape
      (None, 4)
      >>> frames.apply(params, state, jnp.ones((2, 5, 8, 8, 1)))[0].shape   # 2 clips, 5 frames
      (2, 5, 4)
    """

    def shapes(names: tuple[str, ...], key: Array, input_shape: Any) -> tuple[Any, ...]:
        label = combinator_label("TimeDistributed", name)
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 1:
            raise ValueError(f"{label}: expected a per-example input_shape (time, *step), "
                             f"got {input_shape!r}")
        out, p, s = layer.init(child_key(key, names[0]), tuple(input_shape[1:]))
        params: dict[str, Any] = {}
        state: dict[str, Any] = {}
        _put(params, names[0], p)
        _put(state, names[0], s)
        return (input_shape[0], *out), params, state

    def run(names: tuple[str, ...], params: Params, state: State, x: Any, key: Array | None,
            train: bool, lengths: Array | None) -> tuple[Any, dict[str, Any]]:
        n = names[0]
        y, s = layer.apply(params.get(n, {}), state.get(n, {}), x, key=child_key(key, n),
                           train=train)
        new_state: dict[str, Any] = {}
        _put(new_state, n, s)
        if lengths is not None:
            lengths = jnp.asarray(lengths)
            steps = jnp.shape(x)[lengths.ndim]
            mask = length_mask(lengths, steps)
            y = jnp.where(jnp.reshape(mask, mask.shape + (1,) * (y.ndim - mask.ndim)), y,
                          jnp.zeros((), y.dtype))
        return y, new_state

    return _combinator("TimeDistributed", (layer,), name, run, shapes,
                       f"TimeDistributed({layer.label or layer.name})"
                       + ("" if name is None else f" {name!r}"))


def shape_dependent(make_layer: Callable[[Any], Layer], *, ndim: int = 1,
                    name: str | None = None) -> Layer:
    """A layer built from the per-example input shape at ``init`` time, as in stax.

    ``make_layer(input_shape) -> Layer``. ``apply`` reads the per-example shape as the
    last ``ndim`` axes of the input (so any number of leading batch axes works) and
    rebuilds the same layer.

    Args:
      make_layer: builds the layer from the per-example shape.
      ndim: the rank of the per-example input.
      name: the snake_case name (default ``"shape_dependent"``).
    """
    ndim = check_int("shape_dependent", "ndim", ndim, min_value=1)
    key_name = layer_name("shape_dependent", name)

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != ndim:
            raise ValueError(f"{key_name}: expected a per-example input_shape of rank "
                             f"{ndim}, got {input_shape!r}")
        return make_layer(tuple(input_shape)).init(key, input_shape)

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Any, State]:
        if jnp.ndim(x) < ndim:
            raise ValueError(f"{key_name}: expected input of rank >= {ndim}, got shape "
                             f"{jnp.shape(x)}")
        shape = tuple(jnp.shape(x)[jnp.ndim(x) - ndim:])
        return make_layer(shape).apply(params, state, x, key=key, train=train, lengths=lengths)

    return Layer(init, apply, key_name, label=key_name)
