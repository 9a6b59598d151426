"""Pure train and eval steps, batches, evaluation and batched prediction.

A train step is a pure function
``step(params, state, opt_state, batch, key) -> (params, state, opt_state, metrics)``
built by :func:`make_train_step` from a model's ``apply``, a loss and any Optax optimiser.
It is returned unjitted when asked (``jit=False``), so that callers can jit it with their
own shardings and donation, scan it, or vmap it over a population.

A **batch** is either a tuple ``(x, y)`` or a mapping with the columns ``"x"`` and ``"y"``
and optionally ``"lengths"`` (``(batch,)`` integer valid lengths of right-padded
sequences, passed to the model's ``apply(lengths=...)``) and ``"mask"`` (a boolean mask
over the loss's per-example elements, passed to the loss and metrics as ``where=``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses as losses_lib
from jaxdl import metrics as metrics_lib
from jaxdl._checks import as_key, check_bool, check_int, lookup
from jaxdl.core import Array, Layer, Params, State

__all__ = [
    "Batch", "BatchLike", "TrainStep", "EvalStep", "MetricFn", "as_batch", "make_train_step",
    "make_eval_step", "evaluate", "predict", "BATCH_KEYS",
]

MetricFn = Callable[..., Array]
ApplyLike = Layer | Callable[..., tuple[Array, State]]
BATCH_KEYS = ("x", "y", "lengths", "mask")


class Batch(NamedTuple):
    """One batch, as every step sees it.

    Attributes:
      x: inputs ``(batch, *input_shape)``.
      y: targets ``(batch, ...)``.
      lengths: ``(batch,)`` integer valid lengths of variable-length sequences, or None.
      mask: a boolean mask for the loss and metrics (``where=``), or None.
    """

    x: Any
    y: Any
    lengths: Any = None
    mask: Any = None


BatchLike = Batch | tuple[Any, Any] | Mapping[str, Any]
TrainStep = Callable[..., tuple[Params, State, optax.OptState, dict[str, Array]]]
EvalStep = Callable[[Params, State, BatchLike], dict[str, Array]]


def as_batch(fn: str, batch: Any) -> Batch:
    """A :class:`Batch` from ``(x, y)``, a :class:`Batch` or a mapping of columns.

    Raises:
      ValueError: a mapping without ``"x"``/``"y"`` or with an unknown column, or a
        tuple of the wrong length.
    """
    if isinstance(batch, Batch):
        return batch
    if isinstance(batch, Mapping):
        unknown = [k for k in batch if k not in BATCH_KEYS]
        missing = [k for k in ("x", "y") if k not in batch]
        if unknown or missing:
            raise ValueError(f"{fn}: a batch mapping needs the columns 'x' and 'y' and may hold "
                             f"'lengths' and 'mask'; got columns {sorted(batch)}")
        return Batch(batch["x"], batch["y"], batch.get("lengths"), batch.get("mask"))
    if isinstance(batch, tuple) and len(batch) == 2:
        return Batch(*batch)
    got = f"a tuple of {len(batch)}" if isinstance(batch, tuple) else type(batch).__name__
    raise ValueError(f"{fn}: a batch is (x, y) or a mapping {{'x', 'y', 'lengths', 'mask'}}, "
                     f"got {got}")


def _apply_fn(fn: str, model: ApplyLike) -> Callable[..., tuple[Array, State]]:
    if isinstance(model, Layer):
        return model.apply
    if callable(model):
        return model
    raise TypeError(f"{fn}: model must be a jaxdl Layer or its apply function, got "
                    f"{model!r} ({type(model).__name__})")


def _check_optimizer(fn: str, optimizer: Any) -> optax.GradientTransformation:
    if isinstance(optimizer, str):
        raise TypeError(f"{fn}: optimizer must be an Optax GradientTransformation, got the "
                        f"string {optimizer!r}; make one with Optax, e.g. optax.adam(1e-3) or "
                        "optax.sgd(0.1, momentum=0.9)")
    if not (callable(getattr(optimizer, "init", None))
            and callable(getattr(optimizer, "update", None))):
        raise TypeError(f"{fn}: optimizer must be an Optax GradientTransformation (with init "
                        f"and update), got {optimizer!r} ({type(optimizer).__name__}); e.g. "
                        "optax.adam(1e-3)")
    return optimizer


def _takes_where(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "where" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _loss_fn(fn: str, loss: Any) -> Callable[..., Array]:
    return lookup(fn, "loss", loss, losses_lib.NAMED, losses_lib.ALIASES, "mse")


def metric_fns(fn: str, metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None
               ) -> dict[str, MetricFn]:
    """Resolves ``metrics`` (names from :mod:`jaxdl.metrics` or functions) to a dict."""
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        out = dict(metrics)
    elif isinstance(metrics, (list, tuple)):
        out = {}
        for m in metrics:
            f = lookup(fn, "metric", m, metrics_lib.NAMED, metrics_lib.ALIASES, "accuracy")
            out[m if isinstance(m, str) else getattr(f, "__name__", f"metric{len(out)}")] = f
    else:
        raise TypeError(f"{fn}: metrics must be a list of names/functions or a dict, got "
                        f"{metrics!r} ({type(metrics).__name__})")
    for name, m in out.items():
        if name == "loss" or not callable(m):
            raise ValueError(f"{fn}: bad metric {name!r}: metrics need a name other than "
                             "'loss' and a function")
    return out


def _scores(loss: Callable[..., Array], metrics: dict[str, MetricFn], pred: Any,
            batch: Batch) -> tuple[Array, dict[str, Array]]:
    """The loss and metrics of ``pred`` against ``batch.y`` (with ``where=batch.mask``)."""
    def call(f: Callable[..., Array]) -> Array:
        if batch.mask is None:
            return f(pred, batch.y)
        if not _takes_where(f):
            name = getattr(f, "__name__", repr(f))
            raise TypeError(f"the batch has a 'mask', but {name} takes no where= argument")
        return f(pred, batch.y, where=batch.mask)

    return call(loss), {name: call(f) for name, f in metrics.items()}


def make_train_step(
    model: ApplyLike,
    loss_fn: Callable[..., Array] | str,
    optimizer: optax.GradientTransformation,
    *,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    jit: bool = True,
    donate: bool = True,
    axis_name: str | None = None,
) -> TrainStep:
    """Builds ``step(params, state, opt_state, batch, key) -> (params, state, opt_state, metrics)``.

    The step runs ``model.apply(params, state, x, key=key, train=True, lengths=...)``,
    differentiates ``loss_fn(predictions, y[, where=mask])`` with ``jax.value_and_grad``
    and applies the Optax update.

    Args:
      model: a :class:`jaxdl.Layer` or its ``apply`` function.
      loss_fn: ``(predictions, targets) -> scalar`` or a name from :mod:`jaxdl.losses`.
      optimizer: any Optax ``GradientTransformation`` (schedules, clipping and
        ``optax.inject_hyperparams`` included).
      metrics: extra metrics ``fn(predictions, targets) -> scalar``, by name.
      jit: return the step jitted (otherwise the pure function, to jit with your own
        shardings and donation, to scan, or to vmap over a population).
      donate: with ``jit``, donate ``params``, ``state`` and ``opt_state`` so XLA updates
        them in place (the arrays passed in are invalid afterwards).
      axis_name: for a step that runs once per device inside ``jax.shard_map`` or
        ``jax.pmap`` (``jit=False`` then), the mapped axis over which it averages: the
        gradients, the loss and metrics (weighted by each device's selected mask entries
        when the batch has a ``"mask"``) and the float leaves of the new model state
        (BatchNorm-style statistics) are ``jax.lax.pmean``-ed before the update, and the
        dropout key is folded with ``jax.lax.axis_index`` so devices draw different masks.
        The loss must be a mean over the batch (every jaxdl loss but
        ``half_sum_squared_error``); see :mod:`jaxdl.data_parallel`.

    Returns:
      The step. ``batch`` is ``(x, y)`` or a mapping (see :class:`Batch`), ``x: (batch,
      *input_shape)``; ``key`` (a PRNG key, or None for deterministic models) drives
      dropout; ``metrics`` holds scalars: ``"loss"`` and each metric.

    Example:
      >>> import jax, jax.numpy as jnp, optax, jaxdl
      >>> model = jaxdl.serial(jaxdl.Dense(4), jaxdl.Relu(), jaxdl.Dense(1))
      >>> _, params, state = model.init(jax.random.key(0), (3,))
      >>> opt = optax.sgd(0.1)
      >>> step = jaxdl.make_train_step(model, jaxdl.losses.mse, opt)
      >>> batch = (jnp.ones((8, 3)), jnp.zeros((8, 1)))
      >>> params, state, opt_state, m = step(params, state, opt.init(params), batch, None)
      >>> sorted(m)
      ['loss']
    """
    fn = "make_train_step"
    apply, loss, optimizer, fns, jit, donate = step_parts(fn, model, loss_fn, optimizer,
                                                          metrics, jit, donate)
    if axis_name is not None:
        if not isinstance(axis_name, str) or not axis_name:
            raise TypeError(f"{fn}: axis_name must be a non-empty string (a mesh or pmap axis) or "
                            f"None, got {axis_name!r} ({type(axis_name).__name__})")
        if jit:
            raise ValueError(f"{fn}: axis_name={axis_name!r} names the axis of a shard_map or "
                             "pmap that the step runs inside, so it needs jit=False (jit the "
                             "mapped step yourself, or use jaxdl.make_parallel_train_step)")

    def objective(params: Params, state: State, batch: Batch, key: Array | None
                  ) -> tuple[Array, tuple[State, dict[str, Array]]]:
        pred, new_state = apply(params, state, batch.x, key=key, train=True,
                                lengths=batch.lengths)
        value, ms = _scores(loss, fns, pred, batch)
        return value, (new_state, ms)

    def step(params: Params, state: State, opt_state: optax.OptState, batch: BatchLike,
             key: Array | None = None) -> tuple[Params, State, optax.OptState, dict[str, Array]]:
        b = as_batch("train step", batch)
        key = as_key("train step", key, allow_none=True)
        if axis_name is not None and key is not None:  # each device its own dropout masks
            key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
        (value, (new_state, ms)), grads = jax.value_and_grad(objective, has_aux=True)(
            params if axis_name is None else per_device(params, axis_name), state, b, key)
        if axis_name is not None:  # the loss's mean over the masked entries, if a mask;
            # the model state's (statistics of every example) over the devices' equal slices
            grads, value, ms = cross_device_mean(axis_name, b.mask, (grads, value, ms))
            new_state = cross_device_mean(axis_name, None, new_state)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        return new_params, new_state, new_opt_state, {"loss": value, **ms}

    return jit_step(step, jit, donate)


def step_parts(fn: str, model: ApplyLike, loss_fn: Any, optimizer: Any, metrics: Any,
               jit: Any, donate: Any) -> tuple[Any, Any, optax.GradientTransformation,
                                              dict[str, MetricFn], bool, bool]:
    """The checked arguments of a train-step builder (``make_train_step`` and
    ``jaxdl.make_per_example_train_step``): ``(apply, loss, optimizer, metric fns, jit,
    donate)``, each error naming ``fn``."""
    return (_apply_fn(fn, model), _loss_fn(fn, loss_fn), _check_optimizer(fn, optimizer),
            metric_fns(fn, metrics), check_bool(fn, "jit", jit),
            check_bool(fn, "donate", donate))


def jit_step(step: TrainStep, jit: bool, donate: bool) -> TrainStep:
    """``step`` jitted (donating ``params``, ``state`` and ``opt_state`` when ``donate``),
    or as it is when ``jit`` is False."""
    if jit:
        return jax.jit(step, donate_argnums=(0, 1, 2) if donate else ())
    return step


def per_device(params: Params, axis_name: str) -> Params:
    """``params`` marked as varying over the mapped axis (``jax.lax.pcast``), so that their
    gradient is each device's own: under ``jax.shard_map``'s type checks (``check_vma``)
    the gradient of a replicated input would otherwise come out already summed over the
    devices. Leaves that vary already are left as they are."""
    def one(a: Array) -> Array:
        try:
            return jax.lax.pcast(a, axis_name, to="varying")
        except ValueError:  # varying already (or not inside a shard_map or pmap)
            return a

    return jax.tree_util.tree_map(one, params)


def cross_device_mean(axis_name: str, mask: Any, tree: Any) -> Any:
    """The mean of ``tree``'s float leaves over the mapped axis ``axis_name``.

    Each device holds the mean of its own shard (a gradient, a loss, a statistic). With
    no ``mask`` every shard has as many examples, so this is ``jax.lax.pmean``; with a
    mask, shard ``i``'s value counts for its ``w_i = sum(mask_i)`` selected entries,
    ``sum_i w_i v_i / sum_i w_i`` (a shard with none selected contributes nothing, even a
    NaN), which is the mean over the whole batch's selected entries. Integer and key
    leaves are returned as they are.
    """
    def floats(f: Callable[[Array], Array]) -> Any:
        return jax.tree_util.tree_map(
            lambda a: f(a) if jnp.issubdtype(jnp.result_type(a), jnp.inexact) else a, tree)

    if mask is None:
        return floats(lambda a: jax.lax.pmean(a, axis_name))
    w = jnp.sum(jnp.asarray(mask), dtype=jnp.float32)
    total = jax.lax.psum(w, axis_name)

    def weighted(a: Array) -> Array:
        zero = jnp.zeros((), a.dtype)
        local = jnp.where(w > 0, a, zero) * w.astype(a.dtype)
        return jax.lax.psum(local, axis_name) / total.astype(a.dtype)

    return floats(weighted)


def make_eval_step(
    model: ApplyLike,
    loss_fn: Callable[..., Array] | str,
    *,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    jit: bool = True,
) -> EvalStep:
    """Builds ``eval_step(params, state, batch) -> metrics`` (``train=False``, no key).

    Returns ``{"loss": ..., <metric>: ...}``, each a scalar averaged over the batch (over
    the masked elements when the batch has a ``"mask"``).
    """
    fn = "make_eval_step"
    apply = _apply_fn(fn, model)
    loss = _loss_fn(fn, loss_fn)
    fns = metric_fns(fn, metrics)

    def eval_step(params: Params, state: State, batch: BatchLike) -> dict[str, Array]:
        b = as_batch("eval step", batch)
        pred, _ = apply(params, state, b.x, train=False, lengths=b.lengths)
        value, ms = _scores(loss, fns, pred, b)
        return {"loss": value, **ms}

    return jax.jit(eval_step) if check_bool(fn, "jit", jit) else eval_step


def _leading(fn: str, name: str, column: Any) -> int:
    leaves = jax.tree_util.tree_leaves(column)
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"{fn}: every array of column {name!r} needs the same leading "
                         f"example axis, got shapes {[np.shape(leaf) for leaf in leaves]}")
    return sizes.pop()


def _num_examples(fn: str, batch: Batch) -> int:
    sizes = {k: _leading(fn, k, v) for k, v in batch._asdict().items() if v is not None}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{fn}: the columns must have the same length, got {sizes}")
    return next(iter(sizes.values()))


def _slice(batch: Batch, start: int, stop: int) -> Batch:
    return Batch(*(None if v is None else jax.tree_util.tree_map(lambda a: a[start:stop], v)
                   for v in batch))


def evaluate(
    model: ApplyLike,
    params: Params,
    state: State,
    x: Any,
    y: Any = None,
    *,
    loss: Callable[..., Array] | str,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    batch_size: int = 4096,
    eval_step: EvalStep | None = None,
    mesh: Any = None,
) -> dict[str, float]:
    """Loss and metrics over a whole dataset, in batches, weighted by batch size.

    Args:
      model: the model (or its ``apply``).
      params, state: the model's parameters and state.
      x: inputs ``(n, *input_shape)``, or a mapping of columns (``"x"``, ``"y"``,
        ``"lengths"``, ``"mask"``) with ``y`` left out.
      y: targets ``(n, ...)``.
      loss, metrics: as for :func:`make_eval_step`.
      batch_size: examples per evaluation batch.
      eval_step: a prebuilt step from :func:`make_eval_step` (built here if None).
      mesh: evaluate data-parallel on this ``jax.sharding.Mesh`` (with an axis
        ``"data"``): params and state replicated on it, each batch split along
        ``"data"`` (a last batch that does not divide by the devices is evaluated
        replicated). Same results as on one device.

    Returns:
      ``{"loss": float, <metric>: float}``: each batch's mean weighted by its number of
      examples, or with a ``"mask"`` by its number of selected mask entries, so the result
      is the mean over the whole dataset's selected elements.
    """
    fn = "evaluate"
    data = as_batch(fn, x if y is None else (x, y))
    batch_size = check_int(fn, "batch_size", batch_size, min_value=1)
    step = eval_step or make_eval_step(model, loss, metrics=metrics)
    n = _num_examples(fn, data)
    if n == 0:
        raise ValueError(f"{fn}: no examples to evaluate (x has length 0)")
    place: Callable[[Batch], Batch] | None = None
    if mesh is not None:
        from jaxdl import data_parallel  # here: data_parallel builds on this module

        devices = data_parallel.check_mesh(fn, mesh)
        replicated = data_parallel.replicated_sharding(mesh)
        by_example = data_parallel.batch_sharding(mesh)
        params, state = data_parallel.put((params, state), replicated)

        def place_on_mesh(b: Batch) -> Batch:
            even = _num_examples(fn, b) % devices == 0
            return data_parallel.put(b, by_example if even else replicated)

        place = place_on_mesh
    totals: dict[str, Array] = {}
    weight = 0.0
    for start in range(0, n, batch_size):
        b = _slice(data, start, start + batch_size)
        out = step(params, state, b if place is None else place(b))
        w = min(batch_size, n - start) if b.mask is None else jnp.sum(jnp.asarray(b.mask))
        weight = weight + w
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + v * w
    weight = max(float(weight), 1.0)
    return {k: float(v) / weight for k, v in totals.items()}


@functools.lru_cache(maxsize=64)
def _jitted_predict(apply: Callable[..., Any]) -> Callable[..., Any]:
    """One jitted inference function per model, so repeated ``predict`` calls compile once."""
    return jax.jit(lambda p, s, xb, lb: apply(p, s, xb, train=False, lengths=lb)[0])


def predict(
    model: ApplyLike,
    params: Params,
    state: State,
    x: Any,
    *,
    batch_size: int = 1024,
    lengths: Any = None,
) -> Any:
    """The model's outputs for a whole dataset, computed in batches (``train=False``).

    Args:
      model: the model (or its ``apply``).
      params, state: the model's parameters and state.
      x: inputs ``(n, *input_shape)``.
      batch_size: examples per batch (one compiled program; the last batch is padded).
      lengths: optional ``(n,)`` sequence lengths.

    Returns:
      The outputs ``(n, *output_shape)`` (a pytree of them for multi-output models), as
      one array on the default device.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> model = jaxdl.serial(jaxdl.Dense(3), jaxdl.Softmax())
      >>> _, params, state = model.init(jax.random.key(0), (4,))
      >>> jaxdl.predict(model, params, state, jnp.ones((10, 4)), batch_size=4).shape
      (10, 3)
    """
    fn = "predict"
    apply = _apply_fn(fn, model)
    batch_size = check_int(fn, "batch_size", batch_size, min_value=1)
    if not hasattr(x, "shape") and not isinstance(x, (list, np.ndarray)):
        raise TypeError(f"{fn}: x must be an array (n, *input_shape), got {type(x).__name__}")
    x = jnp.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{fn}: x must hold at least one example (n, *input_shape), got shape "
                         f"{x.shape}")
    n = len(x)
    if lengths is not None:
        lengths = jnp.asarray(lengths)
        if lengths.shape != (n,):
            raise ValueError(f"{fn}: lengths must have shape ({n},), got {lengths.shape}")
    bs = min(batch_size, n)
    run = _jitted_predict(apply)
    outs = []
    for start in range(0, n, bs):
        xb = x[start:start + bs]
        lb = None if lengths is None else lengths[start:start + bs]
        pad = bs - len(xb)
        if pad:  # one shape, one compile: pad the last batch and cut its outputs
            xb = jnp.concatenate([xb, jnp.repeat(xb[-1:], pad, axis=0)])
            if lb is not None:
                lb = jnp.concatenate([lb, jnp.repeat(lb[-1:], pad, axis=0)])
        out = run(params, state, xb, lb)
        outs.append(jax.tree_util.tree_map(lambda o, k=len(xb) - pad: o[:k], out))
    return jax.tree_util.tree_map(lambda *os: jnp.concatenate(os), *outs)
