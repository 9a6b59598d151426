"""The layer protocol: what a jaxdl layer is, written down once.

Every layer and every model in jaxdl is a :class:`Layer`: a named pair of pure functions

* ``init(key, input_shape) -> (output_shape, params, state)``
* ``apply(params, state, x, *, key=None, train=False, lengths=None) -> (y, state)``

**The batch-axis rule.** ``input_shape``/``output_shape`` are the shapes of **one example**;
``apply`` takes ``x`` of shape ``(*batch, *input_shape)`` with any number of leading batch
axes, none included, so ``apply`` gives the same numbers on a batch, on one example and
under ``jax.vmap`` over examples. Layers address the per-example axes from the end
(negative axes), check the rank they receive, and a per-example shape may hold ``None``
for an axis of any length (time).

``params`` are what the optimiser trains; ``state`` is what changes during training
without gradients (BatchNorm statistics). Layers with neither use ``{}``; combinators hold
their children's in dicts keyed by unique snake_case names (``dense``, ``dense_1``),
leaving out children that have none. Randomness comes in through the explicit ``key``;
per-batch context reaches every layer through keywords that every combinator forwards:
``train`` (dropout on or off) and ``lengths`` (``(*batch,)`` integer valid lengths of
variable-length sequences; ``None`` when every position is valid). See
``docs/protocol.md``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxdl._checks import as_key, check_name

Array = jax.Array
Shape = tuple[int | None, ...]
Params = Any  # a pytree of arrays: dicts keyed by layer and parameter names
State = Any  # a pytree of arrays

__all__ = [
    "Array", "Shape", "Params", "State", "InitFn", "ApplyFn", "Layer", "layer_name",
    "unique_names", "child_key", "has_leaves", "abstract_init", "init_population",
    "stateless", "stochastic", "elementwise", "length_mask", "Carry", "CellInitFn",
    "CarryFn", "StepFn", "ScanFn", "Cell",
]


class InitFn(Protocol):
    """``init(key, input_shape) -> (output_shape, params, state)``; shapes exclude the batch."""

    def __call__(self, key: Array, input_shape: Any) -> tuple[Any, Params, State]: ...


class ApplyFn(Protocol):
    """``apply(params, state, x, *, key=None, train=False, lengths=None) -> (y, new_state)``."""

    def __call__(
        self,
        params: Params,
        state: State,
        x: Any,
        *,
        key: Array | None = None,
        train: bool = False,
        lengths: Array | None = None,
    ) -> tuple[Any, State]: ...


class Layer(NamedTuple):
    """A layer or a whole model: a named ``(init, apply)`` pair of pure functions.

    Attributes:
      init: ``(key, input_shape) -> (output_shape, params, state)``.
      apply: ``(params, state, x, *, key=None, train=False, lengths=None) -> (y, state)``.
      name: a snake_case name (``"dense"``, or the ``name=`` given to the constructor);
        a combinator keys its children's params and state by these names, made unique
        by a suffix (``dense``, ``dense_1``, ...).
      children: the sub-layers of a combinator (empty for a plain layer).
      combinator: ``"serial"`` or ``"parallel"`` for those combinators, else ``""``.
      label: a human-readable description (``"Dense(3)"``) for errors and summaries.
    """

    init: InitFn
    apply: ApplyFn
    name: str = "layer"
    children: tuple["Layer", ...] = ()
    combinator: str = ""
    label: str = ""


# ------------------------------------------------------------------ the cell protocol

Carry = Any  # a pytree of arrays of shape (*batch, ...): a named tuple such as LSTMState


class CellInitFn(Protocol):
    """``init(key, input_shape) -> (output_shape, params)``; shapes are those of one step
    of one example (``(features,)``), so neither batch nor time axes appear."""

    def __call__(self, key: Array, input_shape: Any) -> tuple[Any, Params]: ...


class CarryFn(Protocol):
    """``initial_carry(batch_shape, dtype) -> carry``: the carry before the first step
    (zeros), each leaf of shape ``(*batch_shape, ...)``."""

    def __call__(self, batch_shape: tuple[int, ...], dtype: Any) -> Carry: ...


class StepFn(Protocol):
    """``step(params, carry, x_t) -> (carry, y_t)``: one time step; ``x_t`` is
    ``(*batch, *step_input)``, the carry's leaves ``(*batch, ...)``, ``y_t``
    ``(*batch, *step_output)``."""

    def __call__(self, params: Params, carry: Carry, x_t: Any) -> tuple[Carry, Any]: ...


class ScanFn(Protocol):
    """``scan(params, carry, xs, mask, *, unroll) -> (carry, ys)``: a cell's own fast loop
    over a whole time-major sequence, equal to ``lax.scan`` of its masked ``step``.

    ``xs`` is ``(time, *batch, *step_input)``; ``mask`` is None or a ``(time, *batch)``
    boolean array, True on the valid steps (a prefix of each sequence); where it is False
    the carry is left unchanged and ``ys`` is zero.
    """

    def __call__(self, params: Params, carry: Carry, xs: Any, mask: Array | None, *,
                 unroll: int) -> tuple[Carry, Any]: ...


class Cell(NamedTuple):
    """One time step of a recurrent network: the **cell protocol**.

    A :class:`Layer` maps a whole input to an output and cannot describe one step of a
    recurrence, and its ``state`` is not a carry: state persists across batches (BatchNorm
    statistics), a carry lives for one sequence. A cell is therefore its own named tuple of
    pure functions:

    * ``init(key, input_shape) -> (output_shape, params)``: infers shapes from the shape
      of **one step of one example** (``(features,)``; ``()`` for token ids) and returns
      the shape of one step's output and the parameters;
    * ``initial_carry(batch_shape, dtype) -> carry``: the zero carry for a batch;
    * ``step(params, carry, x_t) -> (carry, y_t)``: one step, for any number of leading
      batch axes (none included), so a decoder can be stepped by hand at inference.

    Carries are named tuples (``LSTMState(hidden, cell)``, ``HiddenState(hidden)``) or
    dicts of them (a stack of cells), never bare tuples whose order must be remembered.
    ``jaxdl.RNN(cell)`` runs a cell over ``(*batch, time, *step_input)`` with
    ``jax.lax.scan`` and is an ordinary :class:`Layer`. See ``docs/recurrent.md``.

    Attributes:
      init: ``(key, input_shape) -> (output_shape, params)``.
      initial_carry: ``(batch_shape, dtype) -> carry``.
      step: ``(params, carry, x_t) -> (carry, y_t)``.
      name: a snake_case name; ``RNN(cell)`` and stacks key the cell's params by it.
      label: a human-readable description (``"LSTM(64)"``) for errors and summaries.
      scan: None, or the cell's fast loop over a whole sequence (:class:`ScanFn`), which
        must give the numbers of ``lax.scan`` over ``step``; ``cell._replace(scan=None)``
        is the plain reference loop.
      input_ndim: the rank of one step's input: 1 for ``(features,)``, 0 for token ids.
    """

    init: CellInitFn
    initial_carry: CarryFn
    step: StepFn
    name: str = "cell"
    label: str = ""
    scan: ScanFn | None = None
    input_ndim: int = 1

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def layer_name(constructor: str, name: str | None) -> str:
    """The snake_case default name of a layer built by ``constructor`` (``"LeakyRelu"`` ->
    ``"leaky_relu"``), or ``name`` after checking it is a snake_case identifier."""
    checked = check_name(constructor, name)
    return checked if checked is not None else _CAMEL.sub("_", constructor).lower()


def unique_names(layers: Sequence[Layer]) -> tuple[str, ...]:
    """Unique keys for a combinator's children: a repeated name gets ``_1``, ``_2``, ...

    Example:
      >>> import jaxdl
      >>> unique_names([jaxdl.Dense(2), jaxdl.Relu(), jaxdl.Dense(2), jaxdl.Dense(1, name="out")])
      ('dense', 'relu', 'dense_1', 'out')
    """
    used: set[str] = set()
    out = []
    for layer in layers:
        base = layer.name
        candidate, i = base, 0
        while candidate in used:
            i += 1
            candidate = f"{base}_{i}"
        used.add(candidate)
        out.append(candidate)
    return tuple(out)


def child_key(key: Array | None, name: str) -> Array | None:
    """The key of a combinator's child: ``fold_in(key, crc32(name))`` (None stays None).

    Keys follow names, not positions: inserting a layer leaves every other layer's
    initial parameters and dropout masks unchanged. ``key`` may be an int seed.
    """
    if key is None:
        return None
    key = as_key("child_key", key)
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def has_leaves(tree: Any) -> bool:
    """Whether a params/state pytree holds any array (combinators leave out those without)."""
    return bool(jax.tree_util.tree_leaves(tree))


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

    key = jax.random.key(0) if key is None else as_key("abstract_init", key)
    params, state = jax.eval_shape(f, key)
    return box["out"], params, state


def init_population(layer: Layer, keys: Array, input_shape: Any) -> tuple[Any, Params, State]:
    """Initialises a population: one ``init`` per key, params and state stacked on axis 0.

    ``jax.vmap(layer.init)`` cannot do this (it would turn the output *shape* into arrays);
    here the shape comes from an abstract ``init`` and only params and state are vmapped.

    Args:
      layer: the model.
      keys: ``(members,)`` PRNG keys (``jax.random.split(key, members)``).
      input_shape: the per-example input shape.

    Returns:
      ``(output_shape, params, state)``; every leaf has a leading ``members`` axis.

    Example:
      >>> import jax, jaxdl
      >>> model = jaxdl.serial(jaxdl.Dense(3), jaxdl.Relu(), jaxdl.Dense(2))
      >>> out, params, _ = jaxdl.init_population(model, jax.random.split(jax.random.key(0), 5), (4,))
      >>> out, params["dense"]["w"].shape
      ((2,), (5, 4, 3))
    """
    keys = jnp.asarray(keys)
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) or keys.ndim != 1:
        raise ValueError(f"init_population: keys must be a 1-D array of PRNG keys "
                         f"(jax.random.split(key, n)), got dtype {keys.dtype} shape {keys.shape}")
    out_shape = abstract_init(layer, input_shape)[0]
    params, state = jax.vmap(lambda k: layer.init(k, input_shape)[1:])(keys)
    return out_shape, params, state


def length_mask(lengths: Array, max_length: int) -> Array:
    """A ``(*batch, max_length)`` boolean mask, True at the first ``lengths`` positions.

    The mask to give losses and metrics as ``where=`` for right-padded sequences.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> jaxdl.length_mask(jnp.array([1, 3]), 3)
      Array([[ True, False, False],
             [ True,  True,  True]], dtype=bool)
    """
    lengths = jnp.asarray(lengths)
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"length_mask: lengths must be integers, got dtype {lengths.dtype}")
    steps = jnp.reshape(jnp.arange(max_length), (1,) * lengths.ndim + (max_length,))
    return steps < lengths[..., None]


# ------------------------------------------------------------------ layer factories


def stateless(name: str, fn: Callable[[Any], Any],
              out_shape: Callable[[Any], Any] | None = None, *, label: str | None = None
              ) -> Layer:
    """Makes a parameter-free, state-free layer from ``fn(x) -> y``.

    Args:
      name: the layer's snake_case name (its key in a combinator).
      fn: the function of the input; it must accept any number of leading batch axes.
      out_shape: maps the per-example input shape to the output shape (default: identity).
      label: the human-readable description (default ``name``).
    """

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        del key
        return (out_shape(input_shape) if out_shape else input_shape), {}, {}

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Any, State]:
        del params, key, train, lengths
        return fn(x), state

    return Layer(init, apply, name, label=label or name)


def stochastic(name: str, fn: Callable[[Array, Array | None, bool], Array], *,
               label: str | None = None) -> Layer:
    """A parameter-free, shape-preserving layer whose training pass draws random numbers.

    ``fn(x, key, train) -> y``; ``apply(..., train=True)`` without a key raises
    ``ValueError`` naming the layer, before ``fn`` runs (so randomness is never silently
    skipped). At evaluation ``key`` may be None.
    """
    shown = label or name

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        del key
        return input_shape, {}, {}

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Any, State]:
        del params, lengths
        if train and key is None:
            raise ValueError(f"{shown}: apply(..., train=True) needs a PRNG key (key=...)")
        return fn(x, as_key(shown, key, allow_none=True), train), state

    return Layer(init, apply, name, label=shown)


def elementwise(fn: Callable[..., Array], name: str | None = None, *, label: str | None = None,
                **fn_kwargs: Any) -> Layer:
    """A layer applying ``fn(x, **fn_kwargs)`` elementwise; shape unchanged.

    Args:
      fn: the function; ``fn_kwargs`` may hold traced arrays (a slope under ``jax.vmap``).
      name: the snake_case name (default: ``fn.__name__``).
      label: the human-readable description (default: the name).

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> layer = jaxdl.elementwise(jax.nn.relu)
      >>> _, p, s = layer.init(jax.random.key(0), (3,))
      >>> layer.apply(p, s, jnp.array([[-1.0, 0.0, 2.0]]))[0]
      Array([[0., 0., 2.]], dtype=float32)
    """
    if not callable(fn):
        raise TypeError(f"elementwise: fn must be callable, got {type(fn).__name__}")
    if name is not None:  # checked as every constructor's name= is
        key_name = layer_name("elementwise", name)
    else:  # derived from the function's name: "_soft_clip" -> "soft_clip", "<lambda>" -> default
        base = str(getattr(fn, "__name__", "")).lower().lstrip("_")
        key_name = base if base.isidentifier() else "elementwise"
    return stateless(key_name, lambda x: fn(x, **fn_kwargs), label=label or key_name)
