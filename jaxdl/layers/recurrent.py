"""Recurrent networks: cells, stacks of cells, and the layers that run them over sequences.

A **cell** (:class:`jaxdl.Cell`, the protocol in ``jaxdl/core.py``) is one time step:
``step(params, carry, x_t) -> (carry, y_t)``. The cells here are :func:`SimpleRNN`
(Elman), :func:`LSTM` (the course's gates, fused into one matmul) and :func:`GRU`; each
equals ``flax.linen``'s ``SimpleCell``/``LSTMCell``/``GRUCell`` step for step with the
same weights. :func:`StackedCells` chains cells and per-step layers into one cell (a
decoder that can be stepped by hand).

:func:`RNN` turns a cell into an ordinary :class:`jaxdl.Layer` over ``(*batch, time,
features)``, a ``jax.lax.scan`` with variable lengths (``apply(..., lengths=)``),
``reverse`` and ``unroll``; :func:`Bidirectional` runs two of them in opposite
directions; :func:`scan_cell` is the same loop as a function, with an initial carry.
``jaxdl.GlobalAvgPool(1)``/``GlobalMaxPool(1)`` pool the outputs over the valid steps.
Generation and encoder-decoders are in :mod:`jaxdl.sequence`. See ``docs/recurrent.md``.

**The fast path.** A cell's ``scan`` computes the input projection ``x_t·W_x + b`` of all
time steps as one matmul before the loop, so only the recurrent matmul ``h·W_h`` is inside
it (the LSTM on a CPU keeps each step's projection in the loop: see ``hoist_input``). The
LSTM's loop also has a custom VJP: its backward loop emits the gate gradients, and
``dW_h``, ``dW_x``, ``db`` and ``dx`` are each one large matmul after it.
``cell._replace(scan=None)`` is the plain reference loop over ``step``; the two agree in
values and gradients (tests).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import activations as _act
from jaxdl import initializers as inits
from jaxdl._checks import (
    as_key, check_bool, check_dtype, check_float, check_input_shape, check_int, check_option,
    check_values, lookup, show_value,
)
from jaxdl.core import (
    Array, Carry, Cell, Layer, Params, State, child_key, has_leaves, layer_name, length_mask,
    unique_names,
)

__all__ = [
    "HiddenState", "LSTMState", "BidirectionalState", "SimpleRNN", "LSTM", "GRU",
    "StackedCells", "RNN", "Bidirectional", "scan_cell",
]


# ------------------------------------------------------------------------------ carries


class HiddenState(NamedTuple):
    """The carry of :func:`SimpleRNN` and :func:`GRU`: the hidden state alone."""

    hidden: Array  # h_t: (*batch, units), also the cell's output y_t


class LSTMState(NamedTuple):
    """The carry of :func:`LSTM`: the hidden state and the cell state."""

    hidden: Array  # h_t: (*batch, units), also the cell's output y_t
    cell: Array  # C_t: (*batch, units), the cell state (the "conveyor belt")


class BidirectionalState(NamedTuple):
    """The final carries of :func:`Bidirectional`'s two directions."""

    forward: Carry  # the forward RNN's carry after its last valid step
    backward: Carry  # the backward RNN's carry after reading back to step 0


# ------------------------------------------------------------------------------ helpers


def _expand(m: Array, like: Array) -> Array:
    """``m`` of shape ``(*batch,)`` as ``(*batch, 1, ...)`` of ``like``'s rank."""
    return jnp.reshape(m, m.shape + (1,) * (like.ndim - m.ndim))


def _keep(m: Array, new: Any, old: Any) -> Any:
    """The carry ``new`` where ``m`` (``(*batch,)``) is True, else ``old``."""
    return jax.tree_util.tree_map(lambda n, o: jnp.where(_expand(m, n), n, o), new, old)


def _zero(m: Array, y: Any) -> Any:
    """``y`` where ``m`` is True, else zero."""
    return jax.tree_util.tree_map(
        lambda a: jnp.where(_expand(m, a), a, jnp.zeros((), a.dtype)), y)


def _describe(tree: Any) -> str:
    """A pytree with its array leaves shown as shapes: ``LSTMState(hidden=(2, 8), ...)``."""
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        inner = ", ".join(f"{f}={_describe(v)}" for f, v in zip(tree._fields, tree))
        return f"{type(tree).__name__}({inner})"
    if isinstance(tree, Mapping):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in tree.items()) + "}"
    if isinstance(tree, (tuple, list)):
        inner = ", ".join(_describe(v) for v in tree)
        return f"({inner}{',' if len(tree) == 1 else ''})" if isinstance(tree, tuple) \
            else f"[{inner}]"
    if hasattr(tree, "shape"):
        return str(tuple(tree.shape))
    return type(tree).__name__


def _check_cell(fn: str, cell: Any, arg: str = "cell") -> Cell:
    if not isinstance(cell, Cell):
        hint = ""
        if isinstance(cell, Layer):
            hint = " (a Layer, not a Cell: give the cell itself, e.g. RNN(LSTM(64)))"
        elif callable(cell):
            hint = " (did you forget to call the cell constructor, LSTM(64)?)"
        raise TypeError(f"{fn}: {arg} must be a jaxdl Cell (SimpleRNN, LSTM, GRU, "
                        f"StackedCells), got {type(cell).__name__}{hint}")
    return cell


def _compute_dtype(params: Params, x: Any) -> Any:
    """The floating dtype of a step: that of the params and of a floating input together."""
    dts = [leaf.dtype for leaf in jax.tree_util.tree_leaves(params)
           if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)]
    if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating):
        dts.append(x.dtype)
    return jnp.result_type(*dts) if dts else jnp.dtype(jnp.float32)


def _start_carry(label: str, cell: Cell, params: Params, x: Any, carry: Any,
                 batch: tuple[int, ...]) -> Carry:
    """The carry a loop over ``x`` starts from: ``cell.initial_carry(batch, dtype)`` (the
    dtype of the params and ``x``) when ``carry`` is None, else ``carry``, checked to have
    the structure and shapes of that initial carry."""
    if carry is None:
        return cell.initial_carry(batch, _compute_dtype(params, x))
    want = jax.eval_shape(lambda: cell.initial_carry(batch, jnp.float32))
    want_leaves, want_def = jax.tree_util.tree_flatten(want)
    got_leaves, got_def = jax.tree_util.tree_flatten(carry)
    ok = want_def == got_def and all(
        hasattr(g, "shape") and tuple(g.shape) == tuple(w.shape)
        for g, w in zip(got_leaves, want_leaves))
    if not ok:
        error = TypeError if want_def != got_def else ValueError
        raise error(f"{label}: expected a carry {_describe(want)} for batch axes {batch}, "
                    f"got {_describe(carry)}; make one with cell.initial_carry(batch_shape, "
                    "dtype)")
    return carry


def _check_param_names(label: str, params: Any, names: tuple[str, ...]) -> None:
    """``params`` is a dict whose keys are among ``names`` (a part without params has no
    entry)."""
    if not isinstance(params, Mapping) or any(k not in names for k in params):
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        want = "{" + ", ".join(f"{n!r}: ..." for n in names) + "}"
        raise ValueError(f"{label}: expected params {want}, got {got}")


def _check_lengths(label: str, lengths: Any, batch: tuple[int, ...], steps: int,
                   x_shape: tuple[int, ...]) -> Array | None:
    if lengths is None:
        return None
    if not hasattr(lengths, "dtype"):
        if isinstance(lengths, (list, tuple)):
            lengths = np.asarray(lengths)
        else:
            raise TypeError(f"{label}: lengths must be an integer array of shape {batch}, "
                            f"got {show_value(lengths)} ({type(lengths).__name__})")
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"{label}: lengths must be integers, got dtype {lengths.dtype}")
    if tuple(jnp.shape(lengths)) != tuple(batch):
        raise ValueError(f"{label}: expected lengths of shape {tuple(batch)} (the batch axes "
                         f"of the input {tuple(x_shape)}), got {tuple(jnp.shape(lengths))}")
    check_values(label, "lengths", lengths, lambda v: (v >= 0) & (v <= steps),
                 f"in [0, {steps}] (the input has {steps} time steps)")
    return jnp.asarray(lengths)


def _flip(xs: Array, lengths: Array | None) -> Array:
    """Reverses a time-major ``(time, *batch, ...)`` array within each sequence's valid
    length, padding staying at the end (Flax's ``flip_sequences``); an involution."""
    if lengths is None:
        return jnp.flip(xs, axis=0)
    steps = xs.shape[0]
    idx = jnp.reshape(jnp.arange(steps - 1, -1, -1), (steps,) + (1,) * lengths.ndim)
    idx = (idx + lengths[None].astype(idx.dtype)) % steps  # (time, *batch)
    return jnp.take_along_axis(xs, _expand(idx, xs), axis=0)


def _last(ys: Any, lengths: Array | None) -> Any:
    """The output of the last processed step: ``ys[L - 1]`` (zero where ``L = 0``, since
    ``ys`` is zero on masked steps)."""
    if lengths is None:
        return jax.tree_util.tree_map(lambda a: a[-1], ys)
    idx = jnp.maximum(lengths - 1, 0)[None]  # (1, *batch)
    return jax.tree_util.tree_map(
        lambda a: jnp.take_along_axis(a, _expand(idx, a), axis=0)[0], ys)


def _plain_scan(step: Callable[..., Any], params: Params, carry: Carry, xs: Any,
                mask: Array | None, *, unroll: int) -> tuple[Carry, Any]:
    """The reference loop: ``lax.scan`` over ``step``, the carry kept and the output zero
    where ``mask`` is False."""
    if mask is None:
        return jax.lax.scan(lambda c, x: step(params, c, x), carry, xs, unroll=unroll)

    def body(c: Carry, inp: tuple[Any, Array]) -> tuple[Carry, Any]:
        x, m = inp
        new, y = step(params, c, x)
        return _keep(m, new, c), _zero(m, y)

    return jax.lax.scan(body, carry, (xs, mask), unroll=unroll)


def _cell_scan(cell: Cell) -> Callable[..., tuple[Carry, Any]]:
    """The cell's fast loop, or the plain one when it has none."""
    return cell.scan if cell.scan is not None else functools.partial(_plain_scan, cell.step)


def _run(label: str, cell: Cell, params: Params, x: Any, *, carry: Carry | None,
         lengths: Any, reverse: bool, unroll: int) -> tuple[Any, Any, Carry]:
    """Runs ``cell`` over ``x: (*batch, time, *step)``; returns ``(ys, last_y, carry)``
    with ``ys: (*batch, time, *out)`` in input order and ``last_y`` the output of the
    last step processed (step ``L - 1``; step 0 when ``reverse``)."""
    nd = cell.input_ndim
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{label}: expected an array input, got {type(x).__name__}")
    x = jnp.asarray(x)
    step_axes = ", features" if nd == 1 else "".join(f", f{i}" for i in range(nd))
    if x.ndim < 1 + nd:
        raise ValueError(f"{label}: expected input of shape (*batch, time{step_axes}), got "
                         f"{tuple(x.shape)}")
    t_axis = x.ndim - 1 - nd
    batch, steps = tuple(x.shape[:t_axis]), x.shape[t_axis]
    if steps == 0:
        raise ValueError(f"{label}: expected at least one time step, got input of shape "
                         f"{tuple(x.shape)} (*batch, time{step_axes})")
    lengths = _check_lengths(label, lengths, batch, steps, x.shape)
    carry = _start_carry(label, cell, params, x, carry, batch)
    # params, carry and one step's input, checked by the cell itself, abstractly
    x_t = jax.ShapeDtypeStruct(batch + tuple(x.shape[t_axis + 1:]), x.dtype)
    try:
        jax.eval_shape(lambda p, c, xt: cell.step(p, c, xt), params, carry, x_t)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{label}: {e} [one step of the input {tuple(x.shape)}, whose axis "
                      f"{t_axis - x.ndim} is time]") from None
    return _loop(cell, len(batch), reverse, unroll, params, carry, x, lengths)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _loop(cell: Cell, n_batch: int, reverse: bool, unroll: int, params: Params, carry: Carry,
          x: Array, lengths: Array | None) -> tuple[Any, Any, Carry]:
    """The loop of :func:`_run` on checked arguments. Jitted with the cell static, so
    calls outside ``jit`` (eager use, ``check_layer``) compile it once per shape rather
    than once per call; inside ``jit`` it is inlined."""
    xs = jnp.moveaxis(x, n_batch, 0)  # (time, *batch, *step)
    steps = xs.shape[0]
    mask = None
    if lengths is not None:
        mask = jnp.moveaxis(length_mask(lengths, steps), -1, 0)  # (time, *batch)
        xs = jnp.where(_expand(mask, xs), xs, jnp.zeros((), xs.dtype))  # padding is inert
    if reverse:
        xs = _flip(xs, lengths)
    carry, ys = _cell_scan(cell)(params, carry, xs, mask, unroll=unroll)
    last = _last(ys, lengths)
    if reverse:
        ys = _flip(ys, lengths)
    ys = jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, n_batch), ys)
    return ys, last, carry


def scan_cell(cell: Cell, params: Params, x: Array, *, carry: Carry | None = None,
              lengths: Array | None = None, reverse: bool = False, unroll: int = 1
              ) -> tuple[Array, Carry]:
    """Runs a cell over a sequence: the loop of :func:`RNN`, as a function with a carry.

    Args:
      cell: the cell.
      params: the cell's params (from ``cell.init``).
      x: ``(*batch, time, *step_input)``: ``(*batch, time, features)``, or token ids
        ``(*batch, time)`` for a cell with ``input_ndim=0``.
      carry: the initial carry, leaves ``(*batch, ...)`` (default
        ``cell.initial_carry(batch, dtype)``, zeros).
      lengths: ``(*batch,)`` integer valid lengths; outputs past them are zero and the
        carry returned is the one after each sequence's last valid step.
      reverse: read each sequence backwards within its valid length; outputs are returned
        in input order (``ys[t]`` has read ``x[L - 1] .. x[t]``).
      unroll: time steps per loop iteration of ``lax.scan``.

    Returns:
      ``(ys, carry)``: ``ys`` is ``(*batch, time, *step_output)``; ``carry`` the final
      carry.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> cell = jaxdl.LSTM(4)
      >>> _, params = cell.init(jax.random.key(0), (3,))
      >>> x = jnp.ones((2, 5, 3))
      >>> ys, carry = jaxdl.scan_cell(cell, params, x[:, :3])  # the first 3 steps
      >>> ys2, _ = jaxdl.scan_cell(cell, params, x[:, 3:], carry=carry)  # then the rest
      >>> full, _ = jaxdl.scan_cell(cell, params, x)
      >>> bool(jnp.allclose(full[:, 3:], ys2, atol=1e-6))
      True
    """
    cell = _check_cell("scan_cell", cell)
    reverse = check_bool("scan_cell", "reverse", reverse)
    unroll = check_int("scan_cell", "unroll", unroll, min_value=1)
    ys, _, carry = _run(f"scan_cell({cell.label})", cell, params, x, carry=carry,
                        lengths=lengths, reverse=reverse, unroll=unroll)
    return ys, carry


# ------------------------------------------------------------------------------ cells


def _check_cell_params(label: str, params: Any, units: int, gates: int,
                       extra: tuple[str, ...] = ()) -> int:
    """``{"w_x": (in, gates*units), "w_h": (units, gates*units), "b": (gates*units,),
    *extra: (units,)}``; returns ``in_features``."""
    g = gates * units
    keys = {"w_x", "w_h", "b", *extra}
    want = (f"{{'w_x': (in_features, {g}), 'w_h': ({units}, {g}), 'b': ({g},)"
            + "".join(f", {e!r}: ({units},)" for e in extra) + "}")
    if not isinstance(params, Mapping) or set(params) != keys:
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"{label}: expected params {want}, got {got}")
    w_x = params["w_x"]
    shapes = {"w_h": (units, g), "b": (g,), **{e: (units,) for e in extra}}
    bad = [(k, tuple(jnp.shape(params[k])), s) for k, s in shapes.items()
           if tuple(jnp.shape(params[k])) != s]
    if jnp.ndim(w_x) != 2 or jnp.shape(w_x)[1] != g:
        bad.insert(0, ("w_x", tuple(jnp.shape(w_x)), ("in_features", g)))
    if bad:
        k, got, s = bad[0]
        raise ValueError(f"{label}: expected params[{k!r}] of shape "
                         f"({', '.join(map(str, s))}), got {got}; were these params made "
                         "for another cell?")
    return int(jnp.shape(w_x)[0])


def _check_step_input(label: str, x: Any, in_features: int) -> None:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{label}: expected an array x_t, got {type(x).__name__}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{label}: expected floating inputs, got dtype {x.dtype}; token ids "
                        "need an Embedding first")
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != in_features:
        raise ValueError(f"{label}: expected x_t of shape (*batch, {in_features}), got "
                         f"{tuple(jnp.shape(x))}")


def _check_hidden_carry(label: str, carry: Any, cls: type, units: int,
                        batch: tuple[int, ...]) -> None:
    fields = ", ".join(cls._fields)
    if not isinstance(carry, cls):
        raise TypeError(f"{label}: expected the carry as {cls.__name__}({fields}), got "
                        f"{_describe(carry)} ({type(carry).__name__}); make one with "
                        "cell.initial_carry(batch_shape, dtype)")
    want = tuple(batch) + (units,)
    for f, v in zip(cls._fields, carry):
        if tuple(jnp.shape(v)) != want:
            raise ValueError(f"{label}: expected carry.{f} of shape {want} (*batch, units) "
                             f"for x_t of batch axes {tuple(batch)}, got "
                             f"{tuple(jnp.shape(v))}")


def _bias(b: Array, like: Array) -> Array:
    return jnp.reshape(b, (1,) * (like.ndim - 1) + b.shape)


def _project(params: Params, x: Array) -> Array:
    """``x·W_x + b`` over the last axis, for one step or all steps at once."""
    y = jnp.matmul(x, params["w_x"])
    return y + _bias(params["b"], y)


def _blocks(init: inits.Initializer, key: Array, shape: tuple[int, ...], n: int,
            dtype: Any) -> Array:
    """``n`` blocks drawn separately (one per gate), concatenated on the last axis."""
    return jnp.concatenate([init(k, shape, dtype) for k in jax.random.split(key, n)], axis=-1)


def _cell_init(label: str, units: int, gates: int, w_x_init: Any, w_h_init: Any,
               b_init: Any, dtype: Any) -> Callable[[Array, Any], tuple[Any, dict[str, Any]]]:
    def init(key: Array, input_shape: Any) -> tuple[Any, dict[str, Any]]:
        shape = check_input_shape(label, input_shape)
        if len(shape) != 1 or shape[0] is None:
            raise ValueError(f"{label}: expected the per-step input shape (features,) with a "
                             f"known size, got {shape}; a cell's init takes one step of one "
                             "example (RNN(cell).init takes (time, features))")
        k_x, k_h, k_b = jax.random.split(as_key(label, key), 3)
        params = {"w_x": _blocks(w_x_init, k_x, (shape[0], units), gates, dtype),
                  "w_h": _blocks(w_h_init, k_h, (units, units), gates, dtype),
                  "b": _blocks(b_init, k_b, (units,), gates, dtype)}
        return (units,), params
    return init


def _hidden_carry(units: int) -> Callable[..., HiddenState]:
    def initial_carry(batch_shape: tuple[int, ...], dtype: Any = jnp.float32) -> HiddenState:
        return HiddenState(jnp.zeros((*batch_shape, units), dtype))
    return initial_carry


def _cell_label(fn: str, units: int, name: str | None, options: str = "") -> str:
    """A cell's label: ``"GRU(8)"``, ``"SimpleRNN(8, activation=relu) 'enc'"``."""
    return f"{fn}({units}{options})" + ("" if name is None else f" {name!r}")


def _step_check(label: str, units: int, gates: int, carry_type: type,
                extra: tuple[str, ...] = ()) -> Callable[[Params, Any, Any], None]:
    """The checks of a cell's step (its ``scan`` applies them to one step's input): the
    params, the input ``x_t`` and a carry of type ``carry_type``."""

    def check(params: Params, carry: Any, x: Any) -> None:
        _check_step_input(label, x, _check_cell_params(label, params, units, gates, extra))
        _check_hidden_carry(label, carry, carry_type, units, tuple(jnp.shape(x)[:-1]))

    return check


def _hoisted_cell(init: Callable[[Array, Any], tuple[Any, dict[str, Any]]],
                  recur: Callable[[Params, HiddenState, Array], tuple[HiddenState, Array]],
                  *, label: str, key_name: str, units: int, gates: int,
                  extra: tuple[str, ...] = ()) -> Cell:
    """A cell carrying ``HiddenState`` whose step is ``recur(params, carry, x_t·W_x +
    b)``. Its fast loop computes the input projection of every step as one matmul, then
    runs a ``lax.scan`` of ``recur`` (the recurrent part only), differentiated by JAX."""
    check = _step_check(label, units, gates, HiddenState, extra)

    def step(params: Params, carry: HiddenState, x: Array) -> tuple[HiddenState, Array]:
        check(params, carry, x)
        return recur(params, carry, _project(params, x))

    def scan(params: Params, carry: HiddenState, xs: Array, mask: Array | None, *,
             unroll: int = 1) -> tuple[HiddenState, Array]:
        check(params, carry, xs[0])
        return _plain_scan(recur, params, carry, _project(params, xs), mask, unroll=unroll)

    return Cell(init, _hidden_carry(units), step, key_name, label, scan)


_ACTIVATIONS = {name: getattr(_act, name) for name in _act.__all__}


def _options(**kw: Any) -> str:
    return "".join(f", {k}={v}" for k, v in kw.items())


def SimpleRNN(
    units: int,
    *,
    activation: Callable[[Array], Array] | str = "tanh",
    w_x_init: inits.Initializer | str = "glorot_uniform",
    w_h_init: inits.Initializer | str = "orthogonal",
    b_init: inits.Initializer | str = "zeros",
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Cell:
    """Elman's recurrent cell: ``h_t = act(x_t·W_x + h_{t-1}·W_h + b)``; ``y_t = h_t``.

    The feedback loop: the hidden state ``h_{t-1}`` of the previous step enters the next.
    Equals ``flax.linen.SimpleCell`` with ``W_x = i.kernel``, ``b = i.bias``,
    ``W_h = h.kernel``.

    Args:
      units: the size of ``h_t``.
      activation: ``act``, a function or the name of one in :mod:`jaxdl.activations`
        (``"tanh"``, ``"relu"``, ``"sigmoid"``, ...).
      w_x_init, w_h_init, b_init: initialisers of ``W_x: (in_features, units)`` (default
        Glorot uniform), ``W_h: (units, units)`` (default orthogonal) and ``b: (units,)``.
      dtype: the parameters' dtype.
      name: the snake_case name (default ``"simple_rnn"``).

    Shapes:
      ``init(key, (features,)) -> ((units,), params)``; ``step`` takes ``x_t: (*batch,
      features)`` and ``HiddenState(hidden=(*batch, units))`` and returns the new carry
      and ``y_t: (*batch, units)``. ``params = {"w_x": (features, units), "w_h": (units,
      units), "b": (units,)}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> cell = jaxdl.SimpleRNN(4)
      >>> out_shape, params = cell.init(jax.random.key(0), (3,))
      >>> carry = cell.initial_carry((2,), jnp.float32)
      >>> carry, y = cell.step(params, carry, jnp.ones((2, 3)))
      >>> out_shape, y.shape, bool(jnp.all(y == carry.hidden))
      ((4,), (2, 4), True)
    """
    units = check_int("SimpleRNN", "units", units, min_value=1)
    act = lookup("SimpleRNN", "activation", activation, _ACTIVATIONS, {}, "tanh")
    act_name = activation if isinstance(activation, str) else getattr(act, "__name__", "fn")
    dtype = check_dtype("SimpleRNN", dtype)
    key_name = layer_name("SimpleRNN", name)
    label = _cell_label("SimpleRNN", units, name,
                        _options(activation=act_name) if act_name != "tanh" else "")
    init = _cell_init(label, units, 1, inits.get(w_x_init), inits.get(w_h_init),
                      inits.get(b_init), dtype)

    def recur(params: Params, carry: HiddenState, xp: Array) -> tuple[HiddenState, Array]:
        h = act(xp + jnp.matmul(carry.hidden, params["w_h"]))
        return HiddenState(h), h

    return _hoisted_cell(init, recur, label=label, key_name=key_name, units=units, gates=1)


def GRU(
    units: int,
    *,
    w_x_init: inits.Initializer | str = "glorot_uniform",
    w_h_init: inits.Initializer | str = "orthogonal",
    b_init: inits.Initializer | str = "zeros",
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Cell:
    """Gated recurrent unit (Cho et al., 2014), as PyTorch and Flax write it:

    .. code-block:: text

        r_t = σ(x_t·W_xr + h_{t-1}·W_hr + b_r)                  reset gate
        z_t = σ(x_t·W_xz + h_{t-1}·W_hz + b_z)                  update gate
        n_t = tanh(x_t·W_xn + b_n + r_t ⊙ (h_{t-1}·W_hn + b_hn)) candidate
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1};   y_t = h_t

    The three input matmuls are one (``W_x = [W_xr | W_xz | W_xn]``, gate order r, z, n),
    and so are the three recurrent ones. Equals ``flax.linen.GRUCell`` with ``W_x =
    [ir | iz | in].kernel``, ``b = [ir | iz | in].bias``, ``W_h = [hr | hz | hn].kernel``,
    ``b_hn = hn.bias``.

    Args:
      units: the size of ``h_t``.
      w_x_init, w_h_init, b_init: initialisers of each gate's block of ``W_x``
        (``(in_features, units)``, default Glorot uniform), of ``W_h`` (``(units,
        units)``, default orthogonal) and of the biases ``b``, ``b_hn`` (default zeros).
      dtype: the parameters' dtype.
      name: the snake_case name (default ``"gru"``).

    Shapes:
      ``init(key, (features,)) -> ((units,), params)``; carry ``HiddenState(hidden=(*batch,
      units))``; ``params = {"w_x": (features, 3·units), "w_h": (units, 3·units), "b":
      (3·units,), "b_hn": (units,)}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> cell = jaxdl.GRU(4)
      >>> _, params = cell.init(jax.random.key(0), (3,))
      >>> jax.tree_util.tree_map(jnp.shape, params)
      {'b': (12,), 'b_hn': (4,), 'w_h': (4, 12), 'w_x': (3, 12)}
    """
    units = check_int("GRU", "units", units, min_value=1)
    dtype = check_dtype("GRU", dtype)
    key_name = layer_name("GRU", name)
    label = _cell_label("GRU", units, name)
    b_init_fn = inits.get(b_init)
    base_init = _cell_init(label, units, 3, inits.get(w_x_init), inits.get(w_h_init),
                           b_init_fn, dtype)

    def init(key: Array, input_shape: Any) -> tuple[Any, dict[str, Any]]:
        key = as_key(label, key)
        out, params = base_init(key, input_shape)
        params["b_hn"] = b_init_fn(jax.random.fold_in(key, 3), (units,), dtype)
        return out, params

    def recur(params: Params, carry: HiddenState, xp: Array) -> tuple[HiddenState, Array]:
        h = carry.hidden
        hp = jnp.matmul(h, params["w_h"])
        u = units
        r = jax.nn.sigmoid(xp[..., :u] + hp[..., :u])
        z = jax.nn.sigmoid(xp[..., u:2 * u] + hp[..., u:2 * u])
        n = jnp.tanh(xp[..., 2 * u:] + r * (hp[..., 2 * u:] + _bias(params["b_hn"], h)))
        h = (1.0 - z) * n + z * h
        return HiddenState(h), h

    return _hoisted_cell(init, recur, label=label, key_name=key_name, units=units, gates=3,
                         extra=("b_hn",))


# ------------------------------------------------------------------------------ LSTM


def _lstm_gates(z: Array, units: int) -> tuple[Array, Array, Array, Array]:
    """The gate activations of the fused pre-activation ``z``, order (f, i, c̃, o)."""
    u = units
    return (jax.nn.sigmoid(z[..., :u]), jax.nn.sigmoid(z[..., u:2 * u]),
            jnp.tanh(z[..., 2 * u:3 * u]), jax.nn.sigmoid(z[..., 3 * u:]))


def _lstm_update(z: Array, c: Array, units: int) -> tuple[Array, Array]:
    f, i, g, o = _lstm_gates(z, units)
    c = f * c + i * g  # the conveyor belt: keep f of the old, add i of the candidate
    return o * jnp.tanh(c), c


def _lstm_forward(unroll: int, masked: bool, save: bool, w_h: Array, seq: Array,
                  h0: Array, c0: Array, mask: Array, proj: tuple[Array, Array] | None
                  ) -> tuple[Any, ...]:
    """The LSTM recurrence over ``seq: (time, batch, ·)``: the projected inputs ``x_t·W_x
    + b`` (``proj`` None), or the inputs, projected step by step with ``proj = (W_x, b)``.
    With ``save`` it also returns what the backward loop needs: the outputs, each step's
    previous cell state ``C_{t-1}`` and the gate activations."""
    units = h0.shape[-1]

    def body(carry: tuple[Array, Array], inp: Any) -> tuple[tuple[Array, Array], Any]:
        h, c = carry
        s_t, m = inp if masked else (inp, None)
        if proj is None:
            z = s_t + jnp.matmul(h, w_h)
        else:
            z = jnp.matmul(s_t, proj[0]) + jnp.matmul(h, w_h) + proj[1][None]
        f, i, g, o = _lstm_gates(z, units)
        c_new = f * c + i * g
        h_new = o * jnp.tanh(c_new)
        y = h_new
        if masked:
            m = m[:, None]
            y = jnp.where(m, h_new, jnp.zeros((), h_new.dtype))
            h_new, c_new = jnp.where(m, h_new, h), jnp.where(m, c_new, c)
        out = (y, c, jnp.concatenate([f, i, g, o], axis=-1)) if save else y
        return (h_new, c_new), out

    (h_t, c_t), out = jax.lax.scan(body, (h0, c0), (seq, mask) if masked else seq,
                                   unroll=unroll)
    return h_t, c_t, out


def _lstm_backward(unroll: int, masked: bool, w_h: Array, h0: Array, c0: Array, ys: Array,
                   c_prevs: Array, acts: Array, mask: Array, dys: Array, dh_t: Array,
                   dc_t: Array) -> tuple[Array, Array, Array, Array]:
    """Backpropagation through time: a reverse scan that carries ``(dh, dc)`` and emits
    the gate gradients ``dz_t``; ``dW_h`` is one matmul after it. Returns ``(dW_h, dz,
    dh_0, dc_0)``.

    On a masked step the carry passed through unchanged, so its cotangent does too and
    ``dz_t = 0``. Where a step is valid its previous hidden state equals the previous
    output (valid steps are a prefix), so the outputs ``ys`` serve as ``h_{t-1}``.
    """
    units = h0.shape[-1]
    w_h_t = w_h.T

    def body(carry: tuple[Array, Array], inp: Any) -> tuple[tuple[Array, Array], Array]:
        dh, dc = carry
        dy, a, cp, m = inp if masked else (*inp, None)
        u = units
        f, i, g, o = a[:, :u], a[:, u:2 * u], a[:, 2 * u:3 * u], a[:, 3 * u:]
        c = f * cp + i * g  # this step's cell state, recomputed from the previous one
        dhn = dh + dy
        tc = jnp.tanh(c)
        do = dhn * tc
        dcn = dc + dhn * o * (1 - tc * tc)
        dz = jnp.concatenate([dcn * cp * f * (1 - f), dcn * g * i * (1 - i),
                              dcn * i * (1 - g * g), do * o * (1 - o)], axis=-1)
        if not masked:
            return (jnp.matmul(dz, w_h_t), dcn * f), dz
        m = m[:, None]
        dz = jnp.where(m, dz, jnp.zeros((), dz.dtype))
        return (jnp.matmul(dz, w_h_t) + jnp.where(m, jnp.zeros((), dh.dtype), dh),
                jnp.where(m, dcn * f, dc)), dz

    inputs = (dys, acts, c_prevs) + ((mask,) if masked else ())
    (dh0, dc0), dzs = jax.lax.scan(body, (dh_t, dc_t), inputs, reverse=True, unroll=unroll)
    h_prev = jnp.concatenate([h0[None], ys[:-1]], axis=0)
    dw_h = jnp.einsum("tbh,tbg->hg", h_prev, dzs)  # Σ_t h_{t-1}ᵀ dz_t: one matmul
    return dw_h, dzs, dh0, dc0


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _lstm_scan(unroll: int, masked: bool, proj: tuple[Array, Array] | None, w_h: Array,
               seq: Array, h0: Array, c0: Array, mask: Array) -> tuple[Array, Array, Array]:
    """``(ys, h_T, c_T)`` over ``seq: (time, batch, ·)``, with a custom VJP whose large
    products are single matmuls after the backward loop.

    ``proj`` None: ``seq`` holds the projected inputs ``x_t·W_x + b`` (the projection,
    outside, is differentiated by JAX as one matmul). ``proj = (W_x, b)``: ``seq`` holds
    the inputs, each step's projection inside the loop (faster on a CPU, whose cache keeps
    a step's product but not the whole sequence's), and ``dW_x``, ``db``, ``dx`` are
    single matmuls after the backward loop."""
    h_t, c_t, ys = _lstm_forward(unroll, masked, False, w_h, seq, h0, c0, mask, proj)
    return ys, h_t, c_t


def _lstm_scan_fwd(unroll: int, masked: bool, proj: tuple[Array, Array] | None, w_h: Array,
                   seq: Array, h0: Array, c0: Array, mask: Array
                   ) -> tuple[Any, tuple[Any, ...]]:
    h_t, c_t, (ys, c_prevs, acts) = _lstm_forward(unroll, masked, True, w_h, seq, h0, c0, mask,
                                                  proj)
    xs = None if proj is None else seq  # the inputs, needed for dW_x
    return (ys, h_t, c_t), (proj, w_h, xs, h0, c0, ys, c_prevs, acts, mask)


def _lstm_scan_bwd(unroll: int, masked: bool, res: tuple[Any, ...],
                   cts: tuple[Array, Array, Array]) -> tuple[Any, ...]:
    proj, w_h, xs, h0, c0, ys, c_prevs, acts, mask = res
    dw_h, dzs, dh0, dc0 = _lstm_backward(unroll, masked, w_h, h0, c0, ys, c_prevs, acts, mask,
                                         *cts)
    if proj is None:  # seq was x_t·W_x + b: its cotangent is the gate gradients
        return None, dw_h, dzs, dh0, dc0, None
    d_proj = (jnp.einsum("tbi,tbg->ig", xs, dzs), jnp.sum(dzs, axis=(0, 1)))
    return d_proj, dw_h, jnp.matmul(dzs, proj[0].T), dh0, dc0, None


_lstm_scan.defvjp(_lstm_scan_fwd, _lstm_scan_bwd)


def LSTM(
    units: int,
    *,
    forget_bias_init: float = 1.0,
    hoist_input: bool | None = None,
    w_x_init: inits.Initializer | str = "glorot_uniform",
    w_h_init: inits.Initializer | str = "orthogonal",
    b_init: inits.Initializer | str = "zeros",
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Cell:
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), as the course writes it:

    .. code-block:: text

        f_t = σ(W_f·[h_{t-1}, x_t] + b_f)        forget gate
        i_t = σ(W_i·[h_{t-1}, x_t] + b_i)        input gate
        c̃_t = tanh(W_c·[h_{t-1}, x_t] + b_c)     candidate
        C_t = f_t ⊙ C_{t-1} + i_t ⊙ c̃_t          cell state, the conveyor belt
        o_t = σ(W_o·[h_{t-1}, x_t] + b_o)        output gate
        h_t = o_t ⊙ tanh(C_t);   y_t = h_t

    The four gate matmuls are one: ``z_t = x_t·W_x + h_{t-1}·W_h + b`` with ``W_x:
    (in_features, 4·units)``, ``W_h: (units, 4·units)``, ``b: (4·units,)``, gate order
    (f, i, c̃, o) along the last axis (``W_f·[h, x]`` is ``h·W_h[:, :units] +
    x·W_x[:, :units]``). Equals ``flax.linen.LSTMCell`` and ``OptimizedLSTMCell``
    (whose order is i, f, g, o) with ``W_x = [if | ii | ig | io].kernel``, ``W_h = [hf |
    hi | hg | ho].kernel``, ``b = [hf | hi | hg | ho].bias``.

    Args:
      units: the size of ``h_t`` and ``C_t``.
      forget_bias_init: added to the forget gate's bias at init (default 1.0, so the cell
        starts by keeping its memory: Gers et al. 2000, Jozefowicz et al. 2015); 0 gives
        Flax's and PyTorch's initial bias.
      hoist_input: how :func:`RNN` (the cell's ``scan``) projects the inputs. True: the
        projection ``x_t·W_x + b`` of every step is one matmul before the loop (fastest
        on a GPU); False: each step's inside the loop (fastest on a CPU, whose cache holds
        one step's product but not the whole sequence's); None (default): True except on
        a CPU backend. Both have the custom VJP and give the same numbers.
      w_x_init, w_h_init, b_init: initialisers of each gate's block of ``W_x``
        (``(in_features, units)``, default Glorot uniform), of ``W_h`` (``(units,
        units)``, default orthogonal) and of ``b`` (default zeros).
      dtype: the parameters' dtype.
      name: the snake_case name (default ``"lstm"``).

    Shapes:
      ``init(key, (features,)) -> ((units,), params)``; carry ``LSTMState(hidden=(*batch,
      units), cell=(*batch, units))``; ``y_t: (*batch, units)``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> cell = jaxdl.LSTM(4)
      >>> _, params = cell.init(jax.random.key(0), (3,))
      >>> jax.tree_util.tree_map(jnp.shape, params)
      {'b': (16,), 'w_h': (4, 16), 'w_x': (3, 16)}
      >>> params["b"][:4]   # the forget gate's bias starts at 1
      Array([1., 1., 1., 1.], dtype=float32)
      >>> carry, y = cell.step(params, cell.initial_carry((2,), jnp.float32), jnp.ones((2, 3)))
      >>> carry.hidden.shape, carry.cell.shape
      ((2, 4), (2, 4))
    """
    units = check_int("LSTM", "units", units, min_value=1)
    forget_bias_init = check_float("LSTM", "forget_bias_init", forget_bias_init,
                                   allow_traced=False)
    if hoist_input is not None:
        hoist_input = check_bool("LSTM", "hoist_input", hoist_input)
    dtype = check_dtype("LSTM", dtype)
    key_name = layer_name("LSTM", name)
    label = _cell_label("LSTM", units, name)
    base_init = _cell_init(label, units, 4, inits.get(w_x_init), inits.get(w_h_init),
                           inits.get(b_init), dtype)

    def init(key: Array, input_shape: Any) -> tuple[Any, dict[str, Any]]:
        out, params = base_init(key, input_shape)
        params["b"] = params["b"].at[:units].add(jnp.asarray(forget_bias_init, dtype))
        return out, params

    def initial_carry(batch_shape: tuple[int, ...], dtype: Any = jnp.float32) -> LSTMState:
        zeros = jnp.zeros((*batch_shape, units), dtype)
        return LSTMState(zeros, zeros)

    check = _step_check(label, units, 4, LSTMState)

    def step(params: Params, carry: LSTMState, x: Array) -> tuple[LSTMState, Array]:
        check(params, carry, x)
        z = _project(params, x) + jnp.matmul(carry.hidden, params["w_h"])
        h, c = _lstm_update(z, carry.cell, units)
        return LSTMState(h, c), h

    def scan(params: Params, carry: LSTMState, xs: Array, mask: Array | None, *,
             unroll: int = 1) -> tuple[LSTMState, Array]:
        check(params, carry, xs[0])
        steps, batch = xs.shape[0], xs.shape[1:-1]
        n = math.prod(batch)
        m = jnp.reshape(mask, (steps, n)) if mask is not None else jnp.zeros((), bool)
        hoist = hoist_input if hoist_input is not None else jax.default_backend() != "cpu"
        if hoist:  # the projection of every step as one matmul, differentiated by JAX
            seq, proj = _project(params, xs), None  # (time, *batch, 4·units)
            dt = jnp.result_type(seq, params["w_h"], carry.hidden, carry.cell)
        else:  # each step's projection inside the loop
            seq, proj = xs, (params["w_x"], params["b"])
            dt = jnp.result_type(xs, *params.values(), carry.hidden, carry.cell)
        ys, h, c = _lstm_scan(
            unroll, mask is not None,
            None if proj is None else (proj[0].astype(dt), proj[1].astype(dt)),
            params["w_h"].astype(dt), jnp.reshape(seq.astype(dt), (steps, n, seq.shape[-1])),
            jnp.reshape(carry.hidden.astype(dt), (n, units)),
            jnp.reshape(carry.cell.astype(dt), (n, units)), m)
        return (LSTMState(jnp.reshape(h, (*batch, units)), jnp.reshape(c, (*batch, units))),
                jnp.reshape(ys, (steps, *batch, units)))

    return Cell(init, initial_carry, step, key_name, label, scan)


# ------------------------------------------------------------------------------ stacks


def StackedCells(*parts: Cell | Layer, input_ndim: int = 1, name: str | None = None) -> Cell:
    """Cells and per-step layers chained into one cell, like :func:`jaxdl.serial` for one
    time step (Haiku's ``DeepRNN``, Keras's ``StackedRNNCells``).

    At each step the input runs through ``parts`` in order: a cell steps with its own
    carry, a layer (``Embedding``, ``Dense``, an activation; applied with ``train=False``
    and no key, so leave ``Dropout`` to the surrounding ``serial``) maps the step's
    features. The carry is a dict of the cells' carries and the params a dict of the
    parts' params, both keyed by the parts' unique names, as in ``serial``. So
    ``StackedCells(Embedding(V, E), LSTM(H), Dense(V))`` has the params of
    ``serial(Embedding(V, E), RNN(LSTM(H)), Dense(V))`` (initialised alike from the
    same key): train the ``serial`` model, then step this stack to generate.

    Its ``scan`` runs part after part over the whole sequence (each cell's fast loop, each
    layer once on all steps), which equals stepping through the parts one step at a time.

    Args:
      *parts: cells and layers, at least one cell.
      input_ndim: the rank of one step's input: 1 for ``(features,)``, 0 for token ids
        (when an ``Embedding`` comes first).
      name: the snake_case name (default ``"stacked_cells"``).

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> decoder = jaxdl.StackedCells(jaxdl.Embedding(10, 8), jaxdl.LSTM(16),
      ...                              jaxdl.Dense(10), input_ndim=0)
      >>> out_shape, params = decoder.init(jax.random.key(0), ())
      >>> out_shape, sorted(params)
      ((10,), ['dense', 'embedding', 'lstm'])
      >>> carry = decoder.initial_carry((2,), jnp.float32)
      >>> carry, logits = decoder.step(params, carry, jnp.array([1, 2]))
      >>> sorted(carry), logits.shape
      (['lstm'], (2, 10))
    """
    fn = "StackedCells"
    if not parts:
        raise ValueError(f"{fn}: needs at least one cell")
    for i, part in enumerate(parts):
        if not isinstance(part, (Cell, Layer)):
            raise TypeError(f"{fn}: argument {i} must be a jaxdl Cell or Layer, got "
                            f"{type(part).__name__}"
                            + (" (did you forget to call its constructor?)"
                               if callable(part) else ""))
    if not any(isinstance(p, Cell) for p in parts):
        raise ValueError(f"{fn}: needs at least one cell (SimpleRNN, LSTM, GRU), got only "
                         "layers; a stack of layers is jaxdl.serial")
    input_ndim = check_int(fn, "input_ndim", input_ndim, min_value=0)
    key_name = layer_name(fn, name)
    names = unique_names(parts)  # type: ignore[arg-type]
    label = f"{fn}({', '.join(p.label or p.name for p in parts)})"
    cells = [(n, p) for n, p in zip(names, parts) if isinstance(p, Cell)]

    def init(key: Array, input_shape: Any) -> tuple[Any, dict[str, Any]]:
        shape = check_input_shape(label, input_shape)
        if len(shape) != input_ndim:
            hint = (" (token ids: pass input_ndim=0)" if len(shape) == 0 else
                    " (features: pass input_ndim=1)" if len(shape) == 1 else "")
            raise ValueError(f"{label}: expected a per-step input shape of rank {input_ndim} "
                             f"(input_ndim={input_ndim}), got {shape}{hint}")
        params: dict[str, Any] = {}
        for n, part in zip(names, parts):
            k = child_key(key, n)
            if isinstance(part, Cell):
                shape, p = part.init(k, shape)
            else:
                shape, p, s = part.init(k, shape)
                if has_leaves(s):
                    raise ValueError(f"{label}: {part.label or part.name} has state and "
                                     "cannot run one step at a time inside a cell")
            if has_leaves(p):
                params[n] = p
        return shape, params

    def initial_carry(batch_shape: tuple[int, ...], dtype: Any = jnp.float32
                      ) -> dict[str, Carry]:
        return {n: c.initial_carry(batch_shape, dtype) for n, c in cells}

    def check(params: Any, carry: Any) -> None:
        if not isinstance(params, Mapping) or any(k not in names for k in params):
            got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
            raise ValueError(f"{label}: expected params as a dict keyed by part name "
                             f"({', '.join(names)}), got {got}")
        if not isinstance(carry, Mapping) or set(carry) != {n for n, _ in cells}:
            raise TypeError(f"{label}: expected the carry as a dict of the cells' carries "
                            f"with keys {[n for n, _ in cells]}, got {_describe(carry)}; make "
                            "one with initial_carry(batch_shape, dtype)")

    def step(params: Params, carry: dict[str, Carry], x: Any) -> tuple[dict[str, Carry], Any]:
        check(params, carry)
        new: dict[str, Carry] = {}
        for n, part in zip(names, parts):
            if isinstance(part, Cell):
                new[n], x = part.step(params.get(n, {}), carry[n], x)
            else:
                x, _ = part.apply(params.get(n, {}), {}, x)
        return new, x

    def scan(params: Params, carry: dict[str, Carry], xs: Any, mask: Array | None, *,
             unroll: int = 1) -> tuple[dict[str, Carry], Any]:
        check(params, carry)
        new: dict[str, Carry] = {}
        for n, part in zip(names, parts):
            if isinstance(part, Cell):
                new[n], xs = _cell_scan(part)(params.get(n, {}), carry[n], xs, mask,
                                              unroll=unroll)
            else:
                xs, _ = part.apply(params.get(n, {}), {}, xs)  # (time, *batch, ...)
        return new, (xs if mask is None else _zero(mask, xs))

    return Cell(init, initial_carry, step, key_name, label, scan, input_ndim)


# ------------------------------------------------------------------------------ layers


class _RNNSpec(NamedTuple):
    """What :func:`Bidirectional` reads from an :func:`RNN` layer."""

    cell: Cell
    return_sequences: bool
    return_carry: bool
    reverse: bool
    unroll: int


def _carry_shapes(cell: Cell) -> Any:
    carry = jax.eval_shape(lambda: cell.initial_carry((), jnp.float32))
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), carry)


def _rnn_shapes(label: str, cell: Cell, key: Array, input_shape: Any
                ) -> tuple[int | None, Any, Params]:
    shape = check_input_shape(label, input_shape)
    if len(shape) != 1 + cell.input_ndim:
        want = "(time, features)" if cell.input_ndim == 1 else \
            "(time,) of token ids" if cell.input_ndim == 0 else \
            f"(time, {cell.input_ndim} step axes)"
        raise ValueError(f"{label}: expected a per-example input shape {want} (time may be "
                         f"None), got {shape}")
    out, params = cell.init(key, shape[1:])
    return shape[0], tuple(out), params


def RNN(
    cell: Cell,
    *,
    return_sequences: bool = True,
    return_carry: bool = False,
    reverse: bool = False,
    unroll: int = 1,
    name: str | None = None,
) -> Layer:
    """Runs a cell over sequences: ``y_t, carry_t = cell.step(carry_{t-1}, x_t)`` in a
    ``jax.lax.scan``, as an ordinary :class:`jaxdl.Layer`.

    **Variable lengths.** ``apply(..., lengths=L)`` (``(*batch,)`` integers, forwarded by
    every combinator) marks steps ``t >= L`` of each sequence as padding: their outputs are
    zero, the carry stops changing after step ``L - 1`` (so the final carry is the one at
    the true last step), and the padding's values never matter.

    **Reverse.** ``reverse=True`` reads each sequence from its last *valid* step back to
    step 0 (padding stays at the end, as Flax's ``seq_lengths`` + ``reverse`` do) and
    returns the outputs in input order: ``y_t`` has read ``x_{L-1} .. x_t``. (Flax's
    ``reverse=True`` returns them reversed unless ``keep_order=True``; jaxdl always keeps
    the order, so outputs line up with inputs and with a forward RNN's.)

    Args:
      cell: the cell (:func:`SimpleRNN`, :func:`LSTM`, :func:`GRU`, :func:`StackedCells`).
      return_sequences: return every step's output ``(*batch, time, *out)``; False: only
        the last processed step's, ``(*batch, *out)`` (step ``L - 1``, or step 0 when
        ``reverse``; zeros for an empty sequence): many-to-one.
      return_carry: also return the final carry: the output becomes ``(y, carry)``.
      reverse: run backwards in time (within the valid lengths).
      unroll: time steps per iteration of the loop (``lax.scan``'s ``unroll``): larger
        values trade compile time for speed on short recurrences.
      name: the snake_case name (default: the cell's, so ``RNN(LSTM(8))``'s params sit
        under ``"lstm"`` in a ``serial``, as in a :func:`StackedCells`).

    Shapes:
      ``init`` takes ``(time, features)`` (``time`` may be None; ``(time,)`` of token ids
      for a cell with ``input_ndim=0``); ``apply`` takes ``x: (*batch, time, features)``
      with any number of batch axes (none included). The params are the cell's.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> model = jaxdl.serial(jaxdl.RNN(jaxdl.LSTM(8), return_sequences=False),
      ...                      jaxdl.Dense(1))
      >>> out_shape, params, state = model.init(jax.random.key(0), (None, 3))
      >>> out_shape, sorted(params)
      ((1,), ['dense', 'lstm'])
      >>> x = jnp.ones((2, 5, 3))
      >>> y, _ = model.apply(params, state, x, lengths=jnp.array([2, 5]))
      >>> y_short, _ = model.apply(params, state, x[:1, :2])
      >>> bool(jnp.allclose(y[0], y_short[0], atol=1e-6))  # padding does not matter
      True
    """
    fn = "RNN"
    cell = _check_cell(fn, cell)
    return_sequences = check_bool(fn, "return_sequences", return_sequences)
    return_carry = check_bool(fn, "return_carry", return_carry)
    reverse = check_bool(fn, "reverse", reverse)
    unroll = check_int(fn, "unroll", unroll, min_value=1)
    key_name = cell.name if name is None else layer_name(fn, name)
    flags = _options(**{k: v for k, v in (("return_sequences", return_sequences),
                                          ("return_carry", return_carry),
                                          ("reverse", reverse)) if v != (k == "return_sequences")})
    label = f"RNN({cell.label}{flags}" + (_options(unroll=unroll) if unroll != 1 else "") + \
        ")" + ("" if name is None else f" {name!r}")

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        time, out, params = _rnn_shapes(label, cell, key, input_shape)
        y = (time, *out) if return_sequences else out
        return ((y, _carry_shapes(cell)) if return_carry else y), params, {}

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Any, State]:
        del key, train
        ys, last, carry = _run(label, cell, params, x, carry=None, lengths=lengths,
                               reverse=reverse, unroll=unroll)
        y = ys if return_sequences else last
        return ((y, carry) if return_carry else y), state

    apply._jaxdl_rnn = _RNNSpec(cell, return_sequences, return_carry,  # type: ignore
                                reverse, unroll)
    return Layer(init, apply, key_name, label=label)


def _rnn_spec(fn: str, arg: str, layer: Any) -> _RNNSpec:
    spec = getattr(getattr(layer, "apply", None), "_jaxdl_rnn", None)
    if not isinstance(layer, Layer) or spec is None:
        what = layer.label if isinstance(layer, (Layer, Cell)) else type(layer).__name__
        hint = " (give RNN(cell), not the cell)" if isinstance(layer, Cell) else ""
        raise TypeError(f"{fn}: {arg} must be a jaxdl.RNN(cell) layer, got {what}{hint}")
    return spec


def Bidirectional(forward_rnn: Layer, backward_rnn: Layer, *, merge: str = "concat",
                  name: str | None = None) -> Layer:
    """Two RNNs over the same sequence, one forward and one backward in time, merged.

    ``y_t = merge(forward_t, backward_t)`` where ``forward_t`` has read ``x_0 .. x_t`` and
    ``backward_t`` has read ``x_{L-1} .. x_t`` (reversed within each valid length ``L``,
    as Flax's ``Bidirectional``); both halves are zero on padding. With
    ``return_sequences=False`` the merged outputs are the forward RNN's at step ``L - 1``
    and the backward RNN's at step 0, each after reading the whole sequence.

    Args:
      forward_rnn: an :func:`RNN` layer running forward (``reverse=False``).
      backward_rnn: an :func:`RNN` layer; it always runs backwards (its ``reverse`` is
        overridden, as in Flax). Both must agree on ``return_sequences`` and
        ``return_carry``.
      merge: ``"concat"`` (features ``[forward | backward]``, in that order) or ``"sum"``
        (same sizes needed).
      name: the snake_case name (default ``"bidirectional"``).

    Shapes:
      as :func:`RNN`'s, with ``2·units`` features for ``"concat"``. With ``return_carry``
      the output is ``(y, BidirectionalState(forward, backward))``. ``params =
      {"forward": ..., "backward": ...}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> bi = jaxdl.Bidirectional(jaxdl.RNN(jaxdl.GRU(4)), jaxdl.RNN(jaxdl.GRU(4)))
      >>> out_shape, params, state = bi.init(jax.random.key(0), (None, 3))
      >>> out_shape, sorted(params)
      ((None, 8), ['backward', 'forward'])
    """
    fn = "Bidirectional"
    fwd = _rnn_spec(fn, "forward_rnn", forward_rnn)
    bwd = _rnn_spec(fn, "backward_rnn", backward_rnn)
    merge = check_option(fn, "merge", merge, ("concat", "sum"))
    if fwd.reverse:
        raise ValueError(f"{fn}: forward_rnn must run forward, got {forward_rnn.label}; "
                         "build it without reverse=True")
    for flag in ("return_sequences", "return_carry"):
        if getattr(fwd, flag) != getattr(bwd, flag):
            raise ValueError(f"{fn}: forward_rnn and backward_rnn must agree on {flag}, got "
                             f"{forward_rnn.label} and {backward_rnn.label}")
    key_name = layer_name(fn, name)
    label = f"{fn}({forward_rnn.label}, {backward_rnn.label}" + \
        (_options(merge=repr(merge)) if merge != "concat" else "") + ")" + \
        ("" if name is None else f" {name!r}")

    def merged_shape(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
        if merge == "sum":
            if a != b:
                raise ValueError(f"{label}: merge='sum' needs outputs of equal shape, got "
                                 f"{a} (forward) and {b} (backward); use merge='concat'")
            return a
        if a[:-1] != b[:-1]:
            raise ValueError(f"{label}: outputs {a} and {b} differ off the feature axis")
        return (*a[:-1], a[-1] + b[-1])

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        time, out_f, p_f = _rnn_shapes(label, fwd.cell, child_key(key, "forward"),
                                       input_shape)
        _, out_b, p_b = _rnn_shapes(label, bwd.cell, child_key(key, "backward"), input_shape)
        lead = (time,) if fwd.return_sequences else ()
        y = merged_shape((*lead, *out_f), (*lead, *out_b))
        params = {k: p for k, p in (("forward", p_f), ("backward", p_b)) if has_leaves(p)}
        if fwd.return_carry:
            y = (y, BidirectionalState(_carry_shapes(fwd.cell), _carry_shapes(bwd.cell)))
        return y, params, {}

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Any, State]:
        del key, train
        _check_param_names(label, params, ("forward", "backward"))
        ys_f, last_f, c_f = _run(label, fwd.cell, params.get("forward", {}), x, carry=None,
                                 lengths=lengths, reverse=False, unroll=fwd.unroll)
        ys_b, last_b, c_b = _run(label, bwd.cell, params.get("backward", {}), x, carry=None,
                                 lengths=lengths, reverse=True, unroll=bwd.unroll)
        a, b = (ys_f, ys_b) if fwd.return_sequences else (last_f, last_b)
        y = a + b if merge == "sum" else jnp.concatenate([a, b], axis=-1)
        return ((y, BidirectionalState(c_f, c_b)) if fwd.return_carry else y), state

    return Layer(init, apply, key_name, label=label)
