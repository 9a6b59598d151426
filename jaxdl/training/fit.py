"""``fit``: epochs of mini-batch training with validation, early stopping and callbacks.

Each epoch is one jitted program: the data sit on the device, the epoch's batches are
gathered by index from a fresh permutation inside a ``lax.scan`` (the last, smaller batch
in the same program), and the step carries no per-step checks. Divergence is detected
once per epoch from what the program returns (every step's loss finite and below a
bound, the final parameters finite, and their loss on the last batch below the bound);
only then is the epoch replayed, from its start, with per-step checks that find the last
good parameters. So a healthy run pays nothing for the safety net.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from tqdm.auto import tqdm

from jaxdl._checks import as_key, check_bool, check_float, check_int
from jaxdl.core import Array, Layer, Params, State
from jaxdl.data import device_batch, num_batches
from jaxdl.data_parallel import (
    DATA_AXIS, batch_sharding, check_mesh, replicate, replicated_sharding,
)
from jaxdl.training.callbacks import Callback, EarlyStopping, EarlyStoppingState, EpochInfo
from jaxdl.training.steps import (
    Batch, MetricFn, _check_optimizer, _loss_fn, _num_examples, as_batch, evaluate,
    make_eval_step, make_train_step, metric_fns,
)
from jaxdl.training import targets as targets_lib

__all__ = ["fit", "FitResult", "TrainingDivergedError", "FitInterrupted",
           "iterations_per_epoch", "History"]

History = dict[str, list[float]]


def iterations_per_epoch(num_examples: int, batch_size: int | None, *,
                         drop_remainder: bool = False) -> int:
    """Optimiser steps in one epoch: ``ceil(num_examples / batch_size)``.

    ``batch_size=None`` means batch gradient descent (one step per epoch); 1 means
    stochastic gradient descent (one step per example).

    Example (the course's: 34,000 examples at batch 500):
      >>> iterations_per_epoch(34_000, 500)
      68
    """
    fn = "iterations_per_epoch"
    num_examples = check_int(fn, "num_examples", num_examples, min_value=1)
    batch_size = check_int(fn, "batch_size", batch_size, min_value=1, allow_none=True)
    if batch_size is None:
        return 1
    return num_batches(num_examples, batch_size, drop_remainder=drop_remainder)


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
      compile_seconds: the time spent compiling the epoch program, before the first epoch
        (``history["epoch_seconds"]`` leaves it out).
    """

    params: Params
    state: State
    opt_state: optax.OptState
    history: History
    stopped_epoch: int
    best_epoch: int | None
    compile_seconds: float = 0.0


class TrainingDivergedError(FloatingPointError):
    """Training diverged: a loss became NaN/inf or exceeded the divergence bound, or the
    parameters became NaN/inf. Carries the last good training state.

    Attributes:
      params, state, opt_state: the last parameters whose training loss was finite and
        within the bound (from just before the step that diverged).
      history: the history of the completed epochs.
      epoch: the (1-based) epoch in which it diverged.
      step: the step within that epoch (0-based) whose loss or update was bad.
      best_params, best_state, best_epoch: with early stopping, the best epoch's
        parameters and state (None without).
    """

    def __init__(self, message: str, *, params: Params, state: State,
                 opt_state: optax.OptState, history: History, epoch: int, step: int,
                 best_params: Params = None, best_state: State = None,
                 best_epoch: int | None = None) -> None:
        super().__init__(message)
        self.params, self.state, self.opt_state = params, state, opt_state
        self.history, self.epoch, self.step = history, epoch, step
        self.best_params, self.best_state, self.best_epoch = best_params, best_state, best_epoch


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`: a ``KeyboardInterrupt`` that keeps the completed epochs.

    Attributes:
      result: a :class:`FitResult` with the params, state, opt_state and history after the
        last completed epoch (with early stopping and ``restore_best``, the best epoch's
        params and state), and ``stopped_epoch`` = the epochs completed.
    """

    def __init__(self, result: FitResult) -> None:
        super().__init__(f"fit interrupted after {result.stopped_epoch} completed epochs; "
                         "the exception's .result holds their params, state and history")
        self.result = result


def _all_finite(tree: Any) -> Array:
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(jnp.result_type(a), jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


class _Epoch(NamedTuple):
    fast: Any  # jitted epoch without per-step checks
    checked: Any  # jitted replay with per-step checks (compiled only on divergence)


def _make_epoch(step: Any, eval_loss: Any, n: int, bs: int, shuffle: bool,
                mesh: Mesh | None = None) -> _Epoch:
    """The jitted epoch programs over ``n`` examples in batches of ``bs``.

    Both take the epoch's key and draw the permutation and the step keys from it inside
    the program (one dispatch per epoch), so a replay sees the very same batches.

    With a ``mesh`` (and the data, params and states replicated on it), every gathered
    batch is constrained to lie split along the mesh's ``"data"`` axis: each device
    gathers its own slice from its copy of the data (no communication) and XLA adds the
    all-reduce of the gradients; a last batch that does not divide by the devices is
    split unevenly (XLA pads it inside the program). Everything returned is replicated.
    """
    num_full, rem = divmod(n, bs)
    if mesh is None:
        def split(batch: Batch) -> Batch:
            return batch
    else:
        by_example = batch_sharding(mesh)

        def split(batch: Batch) -> Batch:
            return jax.lax.with_sharding_constraint(batch, by_example)

    def perm_and_keys(key: Array) -> tuple[Array, Array]:
        k_perm, k_steps = jax.random.split(key)
        perm = jax.random.permutation(k_perm, n) if shuffle else jnp.arange(n)
        return perm, jax.random.split(k_steps, num_full + 1)

    def gather(cols: Batch, idx: Array) -> Batch:
        return split(Batch(*(None if c is None else jnp.take(c, idx, axis=0) for c in cols)))

    def full(cols: Batch, perm: Array, i: Array) -> Batch:
        present = {k: v for k, v in cols._asdict().items() if v is not None}
        got = device_batch(present, perm, i, bs)
        return split(Batch(**{k: got.get(k) for k in Batch._fields}))

    def last_batch(cols: Batch, perm: Array) -> Batch:
        return gather(cols, perm[n - (rem or bs):])

    def weighted(batch: Batch, m: dict[str, Array]) -> tuple[dict[str, Array], Array]:
        # a batch's means count for its examples, or for its selected elements under a mask
        w = jnp.asarray(len(batch.x) if batch.mask is None else jnp.sum(batch.mask),
                        jnp.float32)
        return {k: v * w for k, v in m.items()}, w

    def fast(params: Params, state: State, opt_state: Any, cols: Batch, key: Array
             ) -> tuple[Any, ...]:
        perm, keys = perm_and_keys(key)
        sums: dict[str, Array] = {}
        weight = jnp.zeros((), jnp.float32)
        losses = []
        if num_full:
            def body(carry: tuple[Any, ...], inp: tuple[Array, Array]) -> tuple[Any, Any]:
                p, s, o = carry
                i, k = inp
                batch = full(cols, perm, i)
                p, s, o, m = step(p, s, o, batch, k)
                return (p, s, o), (m["loss"], *weighted(batch, m))

            (params, state, opt_state), (step_losses, ms, ws) = jax.lax.scan(
                body, (params, state, opt_state), (jnp.arange(num_full), keys[:num_full]))
            sums, weight = {k: jnp.sum(v) for k, v in ms.items()}, jnp.sum(ws)
            losses.append(step_losses)
        if rem:
            batch = gather(cols, perm[num_full * bs:])
            params, state, opt_state, m = step(params, state, opt_state, batch, keys[-1])
            m_w, w = weighted(batch, m)
            sums = {k: sums.get(k, 0.0) + v for k, v in m_w.items()}
            weight = weight + w
            losses.append(m["loss"][None])
        sums = {k: v / jnp.maximum(weight, 1.0) for k, v in sums.items()}
        losses = jnp.concatenate(losses)
        final_loss = eval_loss(params, state, last_batch(cols, perm))
        health = {"first_loss": losses[0], "max_loss": jnp.max(losses),
                  "losses_finite": jnp.all(jnp.isfinite(losses)),
                  "params_finite": _all_finite((params, state)), "final_loss": final_loss}
        return params, state, opt_state, sums, health

    def checked(params: Params, state: State, opt_state: Any, cols: Batch, key: Array,
                limit: Array) -> tuple[Any, ...]:
        """Replays ``fast`` step by step; returns the last good state and the bad step."""
        perm, keys = perm_and_keys(key)

        def bad_loss(v: Array) -> Array:
            return ~jnp.isfinite(v) | (v > limit)

        def one(carry: tuple[Any, ...], batch: Batch, k: Array, index: int | Array
                ) -> tuple[Any, ...]:
            prev, cur, bad_at = carry
            p, s, o, m = step(*cur, batch, k)
            loss_bad = bad_loss(m["loss"])
            new_bad = ~_all_finite((p, s))
            stopped = bad_at >= 0
            # a bad loss condemns the params that produced it (cur): keep prev;
            # non-finite new params condemn only the update: keep cur
            keep_prev = ~stopped & loss_bad
            keep_cur = ~stopped & ~loss_bad & new_bad
            sel = lambda c, a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(c, x, y), a, b)
            out_prev = sel(stopped | keep_prev | keep_cur, prev, cur)
            out_cur = sel(stopped | keep_prev, prev, sel(keep_cur, cur, (p, s, o)))
            bad_at = jnp.where(~stopped & (loss_bad | new_bad), index, bad_at)
            return out_prev, out_cur, bad_at

        cur = (params, state, opt_state)
        carry = (cur, cur, jnp.array(-1))
        if num_full:
            def body(c: tuple[Any, ...], inp: tuple[Array, Array]) -> tuple[Any, None]:
                i, k = inp
                return one(c, full(cols, perm, i), k, i), None

            carry, _ = jax.lax.scan(body, carry, (jnp.arange(num_full), keys[:num_full]))
        if rem:
            carry = one(carry, gather(cols, perm[num_full * bs:]), keys[-1], num_full)
        prev, cur, bad_at = carry
        # no bad step: the final parameters failed their check on the last batch
        final_bad = bad_loss(eval_loss(cur[0], cur[1], last_batch(cols, perm)))
        last = num_full + (1 if rem else 0) - 1
        good = jax.tree_util.tree_map(lambda a, b: jnp.where((bad_at < 0) & final_bad, a, b),
                                      prev, cur)
        bad_at = jnp.where((bad_at < 0) & final_bad, last, bad_at)
        return good, bad_at

    if mesh is None:
        return _Epoch(jax.jit(fast), jax.jit(checked))
    replicated = replicated_sharding(mesh)
    return _Epoch(jax.jit(fast, out_shardings=replicated),
                  jax.jit(checked, out_shardings=replicated))


def _record_line(epoch: int, epochs: int, record: Mapping[str, float]) -> str:
    shown = " ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch_seconds")
    return f"epoch {epoch}/{epochs} {shown} ({record['epoch_seconds']:.2f}s)"


def fit(
    model: Layer,
    params: Params,
    state: State,
    x: Any,
    y: Any = None,
    *,
    loss: Any,
    optimizer: optax.GradientTransformation,
    epochs: int,
    batch_size: int | None = 32,
    key: Array | int,
    opt_state: optax.OptState | None = None,
    validation_data: Any = None,
    validation_split: float = 0.0,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    early_stopping: EarlyStopping | None = None,
    callbacks: Sequence[Callback] = (),
    clip_grad_norm: float | None = None,
    shuffle: bool = True,
    divergence_factor: float | None = 1e4,
    check_targets: bool = True,
    verbose: int = 1,
    mesh: Mesh | None = None,
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
      x: training inputs ``(n, *input_shape)``, or a mapping of columns ``{"x", "y",
        "lengths", "mask"}`` (then ``y`` is left out).
      y: targets ``(n, ...)``.
      loss: ``(predictions, targets) -> scalar`` or a name from :mod:`jaxdl.losses`.
      optimizer: an Optax ``GradientTransformation``.
      epochs: passes over the training set.
      batch_size: examples per step (None: the whole set).
      key: a PRNG key or an int seed, for shuffling and stochastic layers (dropout).
      opt_state: resume from this optimiser state (default ``optimizer.init(params)``).
      validation_data: ``(x_val, y_val)`` or a mapping of columns, evaluated after every
        epoch.
      validation_split: else, the fraction of the data held out (taken from the end,
        before any shuffling, as Keras does).
      metrics: extra metrics by name (``"accuracy"``, ``"binary_accuracy"``) or function.
      early_stopping: an :class:`EarlyStopping` rule (needs validation data when it
        monitors a ``val_`` key).
      callbacks: objects with ``on_epoch_end(info) -> bool`` (e.g.
        :class:`jaxdl.Checkpoint`), called after every epoch; True stops training.
      clip_grad_norm: clip the global gradient norm to this value
        (``optax.clip_by_global_norm`` chained before the optimiser).
      shuffle: reshuffle every epoch.
      divergence_factor: training has diverged when a step's loss exceeds
        ``divergence_factor × max(|first loss|, 1)`` (None: only NaN/inf counts).
      check_targets: before the first step, check on the host that the inputs are finite
        and the targets fit the loss and the model's output (integer labels in range,
        one-hot rows, 0/1 or ±1 targets); ``ValueError`` names the first bad value.
      verbose: 0 silent; 1 a progress bar on a terminal, one line per epoch otherwise
        (logs, notebooks, CI); 2 one line per epoch.
      mesh: train data-parallel on the devices of this ``jax.sharding.Mesh`` (with an axis
        ``"data"``, e.g. :func:`jaxdl.data_parallel.data_mesh`): the data, params and
        states are replicated on every device and each batch is split along ``"data"``,
        with the same results as on one device. ``batch_size`` must divide by the
        number of devices along ``"data"`` (the epoch's last, smaller batch need not).
        The returned params and states are replicated on the mesh.

    Returns:
      A :class:`FitResult` ``(params, state, opt_state, history, stopped_epoch, best_epoch,
      compile_seconds)``.

    Raises:
      TrainingDivergedError: training diverged; the exception carries the last good
        parameters (and, with early stopping, the best epoch's).
      FitInterrupted: Ctrl-C; a ``KeyboardInterrupt`` carrying the completed epochs.
      ValueError, TypeError: bad arguments or bad data, naming the argument and value.
    """
    fn = "fit"
    if not isinstance(model, Layer):
        raise TypeError(f"{fn}: model must be a jaxdl Layer, got {type(model).__name__}")
    loss_fn = _loss_fn(fn, loss)
    fns = metric_fns(fn, metrics)
    optimizer = _check_optimizer(fn, optimizer)
    epochs = check_int(fn, "epochs", epochs, min_value=1)
    batch_size = check_int(fn, "batch_size", batch_size, min_value=1, allow_none=True)
    key = as_key(fn, key)
    validation_split = check_float(fn, "validation_split", validation_split, min_value=0.0,
                                   max_value=1.0, max_open=True, allow_traced=False)
    clip_grad_norm = check_float(fn, "clip_grad_norm", clip_grad_norm, min_value=0.0,
                                 min_open=True, allow_none=True, allow_traced=False)
    divergence_factor = check_float(fn, "divergence_factor", divergence_factor, min_value=1.0,
                                    allow_none=True, allow_traced=False)
    shuffle = check_bool(fn, "shuffle", shuffle)
    verbose = check_int(fn, "verbose", verbose, min_value=0, max_value=2)
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise TypeError(f"{fn}: early_stopping must be a jaxdl.EarlyStopping, got "
                        f"{early_stopping!r} ({type(early_stopping).__name__})")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(getattr(cb, "on_epoch_end", None)):
            raise TypeError(f"{fn}: each callback needs an on_epoch_end(info) method, got "
                            f"{type(cb).__name__}")

    check_targets = check_bool(fn, "check_targets", check_targets)
    devices = None if mesh is None else check_mesh(fn, mesh, DATA_AXIS)
    data = targets_lib.host_columns(fn, as_batch(fn, x if y is None else (x, y)),
                                    check_finite=check_targets)
    n_all = _num_examples(fn, data)
    if validation_data is not None:
        if validation_split:
            raise ValueError(f"{fn}: give validation_data or validation_split, not both")
        val = targets_lib.host_columns(fn, as_batch(fn, validation_data),
                                       check_finite=check_targets)
    elif validation_split:
        n_val = int(round(n_all * validation_split))
        if n_val < 1 or n_val >= n_all:
            raise ValueError(f"{fn}: validation_split={validation_split} leaves no train or "
                             f"validation examples out of {n_all}")
        val = Batch(*(None if c is None else c[-n_val:] for c in data))
        data = Batch(*(None if c is None else c[:-n_val] for c in data))
    else:
        val = None
    n = _num_examples(fn, data)
    if n == 0:
        raise ValueError(f"{fn}: no training examples (x has length 0)")
    if check_targets:
        targets_lib.check(fn, model, params, state, data, loss, fns)
        if val is not None:
            targets_lib.check(fn, model, params, state, val, loss, fns, what="validation")
    bs = n if batch_size is None else min(batch_size, n)
    if devices is not None and bs % devices:
        raise ValueError(f"{fn}: with mesh=, each batch is split over the mesh's {devices} "
                         f"devices, so batch_size must divide by {devices}; got a batch of "
                         f"{bs}{' (the whole training set)' if bs == n else ''}, "
                         f"{bs % devices} left over (e.g. "
                         f"batch_size={bs - bs % devices or devices})")
    if early_stopping and early_stopping.monitor.startswith("val_") and val is None:
        raise ValueError(f"{fn}: EarlyStopping monitors {early_stopping.monitor!r} but there is no "
                         "validation_data or validation_split")

    if clip_grad_norm is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(clip_grad_norm), optimizer)
    if opt_state is None:
        opt_state = optimizer.init(params)
    step = make_train_step(model, loss_fn, optimizer, metrics=fns, jit=False)
    plain_eval = make_eval_step(model, loss_fn, jit=False)
    epoch_fn = _make_epoch(step, lambda p, s, b: plain_eval(p, s, b)["loss"], n, bs, shuffle,
                           mesh)
    eval_step = make_eval_step(model, loss_fn, metrics=fns)
    if mesh is None:
        cols = Batch(*(None if c is None else jnp.asarray(c) for c in data))
    else:  # every device a whole copy: each gathers its slice of a batch locally
        cols = replicate(data, mesh)
        params, state, opt_state = replicate((params, state, opt_state), mesh)

    history: History = {}
    es_state: EarlyStoppingState | None = early_stopping.init() if early_stopping else None
    best: tuple[Params, State] | None = None
    limit: float | None = None
    stopped_epoch = epochs
    interactive = verbose == 1 and sys.stderr.isatty()
    bar = tqdm(total=epochs, desc="fit", unit="epoch", disable=not interactive)

    def result(p: Params, s: State, o: Any, last_epoch: int) -> FitResult:
        if early_stopping is not None and early_stopping.restore_best and best is not None:
            p, s = best
        return FitResult(p, s, o, history, last_epoch,
                         es_state.best_epoch if es_state is not None else None, compile_seconds)

    epoch_keys = jax.random.split(key, epochs)
    t_compile = time.perf_counter()  # compiled ahead of the first epoch, timed apart
    fast_epoch = epoch_fn.fast.lower(params, state, opt_state, cols, epoch_keys[0]).compile()
    compile_seconds = time.perf_counter() - t_compile
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            k_epoch = epoch_keys[epoch - 1]
            new_p, new_s, new_o, sums, health = fast_epoch(params, state, opt_state, cols,
                                                           k_epoch)
            sums, health = jax.device_get((sums, health))
            if limit is None:
                first = float(health["first_loss"])
                limit = np.inf if divergence_factor is None else \
                    divergence_factor * max(abs(first), 1.0) if np.isfinite(first) else np.inf
            healthy = (bool(health["losses_finite"]) and bool(health["params_finite"])
                       and float(health["max_loss"]) <= limit
                       and np.isfinite(health["final_loss"])
                       and float(health["final_loss"]) <= limit)
            if not healthy:
                (good_p, good_s, good_o), bad_at = epoch_fn.checked(
                    params, state, opt_state, cols, k_epoch, jnp.asarray(limit))
                healthy = int(bad_at) < 0  # the step-by-step replay found nothing wrong
            if not healthy:
                bound = "" if divergence_factor is None else \
                    f" or above the divergence bound {limit:.3g}"
                raise TrainingDivergedError(
                    f"{fn}: training diverged in epoch {epoch} at step {int(bad_at)}: the loss "
                    f"became NaN/inf{bound}, or the parameters became NaN/inf. The exception's "
                    ".params/.state/.opt_state hold the last good values (try a smaller "
                    "learning rate, clip_grad_norm=1.0, or a loss on logits).",
                    params=good_p, state=good_s, opt_state=good_o, history=history,
                    epoch=epoch, step=int(bad_at),
                    best_params=None if best is None else best[0],
                    best_state=None if best is None else best[1],
                    best_epoch=None if es_state is None else es_state.best_epoch)
            record = {"loss": float(sums["loss"])}  # the loss first, then the metrics
            record.update({k: float(v) for k, v in sums.items() if k != "loss"})
            if val is not None:
                scores = evaluate(model, new_p, new_s, val, loss=loss_fn, eval_step=eval_step,
                                  mesh=mesh)
                record["val_loss"] = scores["loss"]
                record.update({f"val_{k}": v for k, v in scores.items() if k != "loss"})
            record["epoch_seconds"] = time.perf_counter() - t0
            for k, v in record.items():
                history.setdefault(k, []).append(v)
            params, state, opt_state = new_p, new_s, new_o  # the epoch is complete
            if interactive:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()
                                 if k != "epoch_seconds"})
            elif verbose:
                print(_record_line(epoch, epochs, record), flush=True)

            stop = False
            if early_stopping is not None:
                if early_stopping.monitor not in record:
                    raise ValueError(f"{fn}: EarlyStopping monitors {early_stopping.monitor!r}; "
                                     f"available: {', '.join(record)}")
                es_state = early_stopping.update(es_state, epoch, record[early_stopping.monitor])
                if es_state.best_epoch == epoch and early_stopping.restore_best:
                    best = (params, state)
                stop = es_state.stop
            info = EpochInfo(epoch, params, state, opt_state, history)
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(info)) or stop
            if stop:
                stopped_epoch = epoch
                break
    except KeyboardInterrupt as e:
        bar.close()
        done = len(history.get("loss", []))
        raise FitInterrupted(result(params, state, opt_state, done)) from e
    bar.close()
    return result(params, state, opt_state, stopped_epoch)
