"""Training: pure train/eval steps, and ``fit`` with validation and early stopping.

A train step is a pure function
``(params, state, opt_state, batch, key) -> (params, state, opt_state, metrics)`` built by
:func:`make_train_step` from a model's ``apply``, a loss and any Optax optimiser. ``fit``
runs it over epochs: the data is placed on the device once, each epoch's batches are
gathered by index from a fresh permutation inside one jitted ``lax.scan``, so an epoch
costs one dispatch, not one per step.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from tqdm.auto import tqdm

from jaxdl import losses as losses_lib
from jaxdl import metrics as metrics_lib
from jaxdl.core import Array, Layer, Params, State, check_option
from jaxdl.data import device_batch, num_batches

__all__ = [
    "Batch", "TrainStep", "make_train_step", "make_eval_step", "evaluate", "fit", "FitResult",
    "EarlyStopping", "TrainingDivergedError", "iterations_per_epoch", "History",
]

Batch = tuple[Array, Array]  # (inputs (batch, ...), targets (batch, ...))
History = dict[str, list[float]]
MetricFn = Callable[[Array, Array], Array]
ApplyLike = Layer | Callable[..., tuple[Array, State]]
TrainStep = Callable[[Params, State, optax.OptState, Batch, Array | None],
                     tuple[Params, State, optax.OptState, dict[str, Array]]]

_NAMED_METRICS: dict[str, MetricFn] = {
    "accuracy": metrics_lib.accuracy,
    "binary_accuracy": metrics_lib.binary_accuracy,
}


def iterations_per_epoch(num_examples: int, batch_size: int | None, *,
                         drop_remainder: bool = False) -> int:
    """Optimiser steps in one epoch: ``ceil(num_examples / batch_size)``.

    ``batch_size=None`` means batch gradient descent (one step per epoch); 1 means
    stochastic gradient descent (one step per example).

    Example (the course's: 34,000 examples at batch 500):
      >>> iterations_per_epoch(34_000, 500)
      68
    """
    if num_examples < 1:
        raise ValueError(f"iterations_per_epoch: num_examples must be >= 1, got {num_examples}")
    if batch_size is None:
        return 1
    if batch_size < 1:
        raise ValueError(f"iterations_per_epoch: batch_size must be >= 1 or None, got {batch_size}")
    return num_batches(num_examples, batch_size, drop_remainder=drop_remainder)


def _apply_fn(model: ApplyLike) -> Callable[..., tuple[Array, State]]:
    return model.apply if isinstance(model, Layer) else model


def _metric_fns(metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None
                ) -> dict[str, MetricFn]:
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        return dict(metrics)
    out: dict[str, MetricFn] = {}
    for m in metrics:
        if isinstance(m, str):
            check_option("fit", "metric", m, tuple(_NAMED_METRICS))
            out[m] = _NAMED_METRICS[m]
        else:
            out[getattr(m, "__name__", f"metric{len(out)}")] = m
    return out


def _tree_select(ok: Array, new: Any, old: Any) -> Any:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)


def make_train_step(
    model: ApplyLike,
    loss_fn: Callable[[Array, Array], Array] | str,
    optimizer: optax.GradientTransformation,
    *,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    jit: bool = True,
    donate: bool = True,
    skip_nonfinite: bool = False,
) -> TrainStep:
    """Builds ``step(params, state, opt_state, batch, key) -> (params, state, opt_state, metrics)``.

    The step runs ``model.apply(params, state, x, key=key, train=True)``, differentiates
    ``loss_fn(predictions, y)`` with ``jax.value_and_grad``, and applies the Optax update.

    Args:
      model: a :class:`jaxdl.Layer` or its ``apply`` function.
      loss_fn: ``(predictions, targets) -> scalar`` or a name from :mod:`jaxdl.losses`.
      optimizer: any Optax ``GradientTransformation`` (schedules and clipping included).
      metrics: extra metrics ``fn(predictions, targets) -> scalar``, by name.
      jit: return the step jitted (otherwise the pure Python function, to jit or scan
        yourself).
      donate: with ``jit``, donate ``params``, ``state`` and ``opt_state`` so XLA updates
        them in place (the arrays passed in are invalid afterwards).
      skip_nonfinite: when the loss or the gradient norm is not finite, return the
        inputs unchanged and ``metrics["nonfinite"] = True`` (what ``fit`` uses to stop
        with the last good parameters).

    Returns:
      The step. ``batch = (x, y)`` with ``x: (batch, *input_shape)``; ``key`` may be None
      for deterministic models; ``metrics`` holds scalars: ``"loss"`` and each metric.

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
    apply = _apply_fn(model)
    loss = losses_lib.get(loss_fn)
    metric_fns = _metric_fns(metrics)

    def objective(params: Params, state: State, x: Array, y: Array, key: Array | None
                  ) -> tuple[Array, tuple[State, Array]]:
        pred, new_state = apply(params, state, x, key=key, train=True)
        return loss(pred, y), (new_state, pred)

    def step(params: Params, state: State, opt_state: optax.OptState, batch: Batch,
             key: Array | None = None) -> tuple[Params, State, optax.OptState, dict[str, Array]]:
        x, y = batch
        (value, (new_state, pred)), grads = jax.value_and_grad(objective, has_aux=True)(
            params, state, x, y, key)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        out = {"loss": value}
        for name, fn in metric_fns.items():
            out[name] = fn(pred, y)
        if skip_nonfinite:
            # every gradient entry finite (a global norm would also overflow on large,
            # finite gradients, and optax.global_norm is deprecated)
            ok = jax.tree_util.tree_reduce(lambda acc, g: acc & jnp.all(jnp.isfinite(g)),
                                           grads, jnp.isfinite(value))
            new_params, new_state, new_opt_state = _tree_select(
                ok, (new_params, new_state, new_opt_state), (params, state, opt_state))
            out["nonfinite"] = ~ok
        return new_params, new_state, new_opt_state, out

    if jit:
        return jax.jit(step, donate_argnums=(0, 1, 2) if donate else ())
    return step


def make_eval_step(
    model: ApplyLike,
    loss_fn: Callable[[Array, Array], Array] | str,
    *,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    jit: bool = True,
) -> Callable[[Params, State, Batch], dict[str, Array]]:
    """Builds ``eval_step(params, state, batch) -> metrics`` (``train=False``, no key).

    Returns ``{"loss": ..., <metric>: ...}``, each a scalar averaged over the batch.
    """
    apply = _apply_fn(model)
    loss = losses_lib.get(loss_fn)
    metric_fns = _metric_fns(metrics)

    def eval_step(params: Params, state: State, batch: Batch) -> dict[str, Array]:
        x, y = batch
        pred, _ = apply(params, state, x, train=False)
        out = {"loss": loss(pred, y)}
        for name, fn in metric_fns.items():
            out[name] = fn(pred, y)
        return out

    return jax.jit(eval_step) if jit else eval_step


def evaluate(
    model: ApplyLike,
    params: Params,
    state: State,
    x: Array,
    y: Array,
    *,
    loss: Callable[[Array, Array], Array] | str,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    batch_size: int = 4096,
    eval_step: Callable[[Params, State, Batch], dict[str, Array]] | None = None,
) -> dict[str, float]:
    """Loss and metrics over a whole dataset, in batches, weighted by batch size.

    Args:
      model: the model (or its ``apply``).
      params, state: the model's parameters and state.
      x: inputs ``(n, *input_shape)``; y: targets ``(n, ...)``.
      loss, metrics: as for :func:`make_eval_step`.
      batch_size: examples per evaluation batch.
      eval_step: a prebuilt step from :func:`make_eval_step` (built here if None).

    Returns:
      ``{"loss": float, <metric>: float}``.
    """
    step = eval_step or make_eval_step(model, loss, metrics=metrics)
    n = len(x)
    totals: dict[str, Array] = {}
    for start in range(0, n, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        out = step(params, state, (xb, yb))
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + v * len(xb)
    return {k: float(v) / n for k, v in totals.items()}


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """Stop training when a monitored quantity has stopped improving.

    Attributes:
      monitor: a history key, e.g. ``"val_loss"`` or ``"val_accuracy"``.
      patience: stop after this many consecutive epochs without improvement (Keras's
        meaning: ``patience=3`` stops at the third epoch that does not improve).
      min_delta: the smallest change that counts as an improvement.
      mode: ``"min"`` (loss) or ``"max"`` (accuracy).
      restore_best: return the parameters (and model state) of the best epoch; the
        optimiser state is the last one, as in Keras.
    """

    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    mode: str = "min"
    restore_best: bool = True

    def __post_init__(self) -> None:
        check_option("EarlyStopping", "mode", self.mode, ("min", "max"))
        if self.patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {self.patience}")
        if self.min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {self.min_delta}")

    def improved(self, value: float, best: float | None) -> bool:
        """Whether ``value`` beats ``best`` by more than ``min_delta``."""
        if best is None:
            return True
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes:
      params: trained (or, with early stopping, best) parameters.
      state: the matching model state.
      opt_state: the optimiser state after the last step.
      history: per-epoch ``{"loss": [...], "val_loss": [...], <metric>: [...], ...}``.
      stopped_epoch: the epoch (1-based) training stopped at; equals ``epochs`` when it ran
        to the end.
      best_epoch: the best epoch by the early-stopping monitor (None without one).
    """

    params: Params
    state: State
    opt_state: optax.OptState
    history: History
    stopped_epoch: int
    best_epoch: int | None


class TrainingDivergedError(FloatingPointError):
    """The loss or the gradient became NaN/inf; carries the last good training state.

    Attributes:
      params, state, opt_state: from just before the step that diverged.
      history: the history of the completed epochs.
      epoch: the (1-based) epoch in which it diverged.
    """

    def __init__(self, message: str, *, params: Params, state: State,
                 opt_state: optax.OptState, history: History, epoch: int) -> None:
        super().__init__(message)
        self.params, self.state, self.opt_state = params, state, opt_state
        self.history, self.epoch = history, epoch


def _make_epoch_fn(step: TrainStep, batch_size: int, num_full: int) -> Callable[..., Any]:
    """One jitted epoch: a ``lax.scan`` over the ``num_full`` full batches of ``perm``,
    each gathered from the on-device data by :func:`jaxdl.data.device_batch`."""

    def epoch(params: Params, state: State, opt_state: optax.OptState, x: Array, y: Array,
              perm: Array, key: Array) -> tuple[Any, ...]:
        keys = jax.random.split(key, num_full)

        def body(carry: tuple[Any, ...], inp: tuple[Array, Array]) -> tuple[tuple[Any, ...], Any]:
            params, state, opt_state, stopped = carry
            i, k = inp
            batch = device_batch({"x": x, "y": y}, perm, i, batch_size)
            p, s, o, m = step(params, state, opt_state, (batch["x"], batch["y"]), k)
            bad = stopped | m.pop("nonfinite")
            p, s, o = _tree_select(bad, (params, state, opt_state), (p, s, o))
            return (p, s, o, bad), m

        (params, state, opt_state, stopped), ms = jax.lax.scan(
            body, (params, state, opt_state, jnp.array(False)), (jnp.arange(num_full), keys))
        return params, state, opt_state, stopped, jax.tree_util.tree_map(jnp.sum, ms)

    return jax.jit(epoch, donate_argnums=(0, 1, 2))


def fit(
    model: Layer,
    params: Params,
    state: State,
    x: Array,
    y: Array,
    *,
    loss: Callable[[Array, Array], Array] | str,
    optimizer: optax.GradientTransformation,
    epochs: int,
    batch_size: int | None = 32,
    key: Array,
    opt_state: optax.OptState | None = None,
    validation_data: tuple[Array, Array] | None = None,
    validation_split: float = 0.0,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    early_stopping: EarlyStopping | None = None,
    clip_grad_norm: float | None = None,
    shuffle: bool = True,
    verbose: int = 1,
) -> FitResult:
    """Trains ``model`` on ``(x, y)`` with any Optax optimiser.

    Gradient descent in the course's three forms, by ``batch_size``: ``None`` (or ``n``)
    is batch gradient descent (one step per epoch), ``1`` is stochastic gradient descent,
    anything between is mini-batch (``ceil(n / batch_size)`` steps per epoch, the last
    batch smaller). The training set is reshuffled every epoch from ``key``; the same key
    gives the same run. Learning-rate decay: pass an Optax schedule as the optimiser's
    learning rate; momentum and Adam: ``optax.sgd(lr, momentum=0.9)``, ``optax.adam(lr)``.

    Args:
      model: the model.
      params, state: from ``model.init``.
      x: training inputs ``(n, *input_shape)``; y: targets ``(n, ...)``.
      loss: ``(predictions, targets) -> scalar`` or a name from :mod:`jaxdl.losses`.
      optimizer: an Optax ``GradientTransformation``.
      epochs: passes over the training set.
      batch_size: examples per step (None: the whole set).
      key: PRNG key for shuffling and for stochastic layers (dropout).
      opt_state: resume from this optimiser state (default ``optimizer.init(params)``).
      validation_data: ``(x_val, y_val)`` evaluated after every epoch.
      validation_split: else, the fraction of ``(x, y)`` held out (taken from the end,
        before any shuffling, as Keras does).
      metrics: extra metrics by name (``"accuracy"``, ``"binary_accuracy"``) or function.
      early_stopping: an :class:`EarlyStopping` rule (needs validation data when it
        monitors a ``val_`` key).
      clip_grad_norm: clip the global gradient norm to this value
        (``optax.clip_by_global_norm`` chained before the optimiser).
      shuffle: reshuffle every epoch.
      verbose: 0 silent; 1 a tqdm bar (only on a terminal); 2 one line per epoch.

    Returns:
      A :class:`FitResult` ``(params, state, opt_state, history, stopped_epoch, best_epoch)``.

    Raises:
      TrainingDivergedError: the loss or gradient became NaN/inf; the exception carries the
        parameters from before the bad step.
      ValueError: mismatched ``x``/``y`` lengths, bad ``batch_size`` or ``validation_split``.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"fit: x and y must have the same length, got {len(x)} and {len(y)}")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
    if validation_split and validation_data is None:
        n_val = int(round(len(x) * validation_split))
        if n_val < 1 or n_val >= len(x):
            raise ValueError(f"fit: validation_split={validation_split} leaves no train or "
                             f"validation examples out of {len(x)}")
        validation_data = (x[-n_val:], y[-n_val:])
        x, y = x[:-n_val], y[:-n_val]
    n = len(x)
    if epochs < 1:
        raise ValueError(f"fit: epochs must be >= 1, got {epochs}")
    bs = n if batch_size is None else int(batch_size)
    if bs < 1:
        raise ValueError(f"fit: batch_size must be >= 1 or None, got {batch_size}")
    bs = min(bs, n)
    if early_stopping and early_stopping.monitor.startswith("val_") and validation_data is None:
        raise ValueError(f"fit: EarlyStopping monitors {early_stopping.monitor!r} but there is no "
                         "validation_data or validation_split")

    if clip_grad_norm is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(clip_grad_norm), optimizer)
    if opt_state is None:
        opt_state = optimizer.init(params)
    metric_fns = _metric_fns(metrics)
    raw_step = make_train_step(model, loss, optimizer, metrics=metric_fns, jit=False,
                               skip_nonfinite=True)
    num_full, rem = divmod(n, bs)
    epoch_fn = _make_epoch_fn(raw_step, bs, num_full)
    rem_step = (jax.jit(raw_step, donate_argnums=(0, 1, 2)) if rem else None)
    eval_step = make_eval_step(model, loss, metrics=metric_fns)
    # fit must not invalidate the caller's arrays: the first donation consumes copies
    params, state, opt_state = jax.tree_util.tree_map(jnp.copy, (params, state, opt_state))

    history: History = {}
    best_value: float | None = None
    best: tuple[Params, State] | None = None
    best_epoch: int | None = None
    wait = 0
    stopped_epoch = epochs
    bar = tqdm(range(1, epochs + 1), desc="fit", unit="epoch",
               disable=verbose != 1 or not sys.stderr.isatty())
    for epoch in bar:
        key, k_perm, k_steps, k_rem = jax.random.split(key, 4)
        perm = jax.random.permutation(k_perm, n) if shuffle else jnp.arange(n)
        t0 = time.perf_counter()
        sums: dict[str, Array] = {}
        stopped = jnp.array(False)
        if num_full:
            params, state, opt_state, stopped, ms = epoch_fn(
                params, state, opt_state, x, y, perm, k_steps)
            sums = {k: v * bs for k, v in ms.items()}
        if rem and not bool(stopped):
            ib = perm[num_full * bs:]
            params, state, opt_state, m = rem_step(params, state, opt_state, (x[ib], y[ib]), k_rem)
            stopped = m.pop("nonfinite")
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + v * rem
        if bool(stopped):
            raise TrainingDivergedError(
                f"fit: the loss or gradient became NaN/inf in epoch {epoch}; training stopped. "
                "The exception's .params/.state/.opt_state hold the last good values "
                "(try a smaller learning rate, gradient clipping or a stable loss).",
                params=params, state=state, opt_state=opt_state, history=history, epoch=epoch)
        record = {k: float(v) / n for k, v in sums.items()}
        if validation_data is not None:
            val = evaluate(model, params, state, *validation_data, loss=loss,
                           eval_step=eval_step)
            record.update({f"val_{k}": v for k, v in val.items()})
        record["epoch_seconds"] = time.perf_counter() - t0
        for k, v in record.items():
            history.setdefault(k, []).append(v)
        if verbose == 2:
            shown = " ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch_seconds")
            print(f"epoch {epoch}/{epochs} {shown}", flush=True)
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch_seconds"})

        if early_stopping is not None:
            if early_stopping.monitor not in record:
                raise ValueError(f"fit: EarlyStopping monitors {early_stopping.monitor!r}; "
                                 f"available: {', '.join(record)}")
            value = record[early_stopping.monitor]
            if early_stopping.improved(value, best_value):
                best_value, best_epoch, wait = value, epoch, 0
                if early_stopping.restore_best:
                    best = jax.tree_util.tree_map(jnp.copy, (params, state))
            else:
                wait += 1
                if wait >= early_stopping.patience:
                    stopped_epoch = epoch
                    break
    bar.close()
    if early_stopping is not None and early_stopping.restore_best and best is not None:
        params, state = best
    return FitResult(params, state, opt_state, history, stopped_epoch, best_epoch)
