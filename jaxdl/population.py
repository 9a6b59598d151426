"""What ``jax.vmap`` gives a jaxdl model: per-example gradients and populations.

Two axes can be vmapped over a pure train step:

* **examples** -- :func:`per_example_grads` vmaps the gradient of the loss of *one*
  example over the batch (the batch-axis rule makes every layer's ``apply`` work on a single
  example), so each example gets its own gradient; :func:`clip_per_example`,
  :func:`per_example_clipping` (an Optax transformation) and
  :func:`make_per_example_train_step` turn them into DP-SGD-style clipped training.
* **members** -- :func:`fit_population` trains ``N`` copies of a model, each with its own
  keys and its own shape-preserving hyperparameters (learning rate, momentum, weight decay,
  dropout rate ...), in one compiled program per epoch: ``fit``'s epoch program vmapped over
  the members, Optax hyperparameters held in the optimiser state by
  ``optax.inject_hyperparams``, dropout rates traced through a model-building function.

See ``docs/tuning.md``.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl._checks import as_key, check_bool, check_float, check_int, did_you_mean, show_value
from jaxdl.core import Array, Layer, Params, State
from jaxdl.training import targets as targets_lib
from jaxdl.training.fit import FitResult, _make_epoch
from jaxdl.training.steps import (
    Batch, MetricFn, _apply_fn, _check_optimizer, _loss_fn, _num_examples, _scores, as_batch,
    jit_step, make_eval_step, make_train_step, metric_fns, step_parts,
)

__all__ = [
    "per_example_grads", "clip_per_example", "per_example_clipping",
    "make_per_example_train_step", "fit_population", "PopulationResult", "member_keys",
    "RESERVED",
]

HParams = Mapping[str, Any]
MakeModel = Callable[[HParams], Layer]
MakeOptimizer = Callable[..., optax.GradientTransformation]

#: Hyperparameter names that cannot vary inside one population: they change the shape of
#: the epoch program (``jaxdl.tuning`` groups by ``batch_size`` and reads ``epochs`` off
#: the validation history).
RESERVED = ("batch_size", "epochs")


# ======================================================================= per-example


def _per_example(fn: str, apply: Callable[..., Any], loss: Callable[..., Array], params: Params,
                 state: State, batch: Any, key: Any, train: bool
                 ) -> tuple[Array, Any, Params, Batch]:
    """``(losses (n,), predictions (n, ...), grads (n, ...), batch)`` for a batch of ``n``;
    ``apply`` and ``loss`` already resolved (``_apply_fn``, ``_loss_fn``)."""
    b = as_batch(fn, batch)
    n = _num_examples(fn, b)
    if n == 0:
        raise ValueError(f"{fn}: the batch holds no examples (x has length 0)")
    key = as_key(fn, key, allow_none=True)
    keys = None if key is None else jax.random.split(key, n)

    def objective(p: Params, example: Batch, k: Array | None) -> tuple[Array, Any]:
        one = jax.tree_util.tree_map(lambda a: a[None], example)  # a batch of one example
        pred, _ = apply(p, state, one.x, key=k, train=train, lengths=one.lengths)
        value, _ = _scores(loss, {}, pred, one)
        return value, jax.tree_util.tree_map(lambda a: a[0], pred)

    grad_fn = jax.value_and_grad(objective, has_aux=True)
    (values, preds), grads = jax.vmap(grad_fn, in_axes=(None, 0, None if keys is None else 0))(
        params, b, keys)
    return values, preds, grads, b


def per_example_grads(
    model: Any,
    loss_fn: Callable[..., Array] | str,
    params: Params,
    state: State,
    batch: Any,
    key: Array | int | None = None,
    *,
    train: bool = True,
) -> Params:
    """The gradient of each example's own loss: ``grad_i = ∂ loss(f(x_i), y_i) / ∂ params``.

    ``jax.vmap`` over the examples of ``jax.grad`` of the loss of a batch of one (the
    batch-axis rule: every layer's ``apply`` takes one example as well as a batch). The
    mean of the result is the batch gradient when every example's loss has the same
    weight (no ``mask``).

    Args:
      model: a :class:`jaxdl.Layer` or its ``apply``.
      loss_fn: ``(predictions, targets) -> scalar`` or a name from :mod:`jaxdl.losses`.
      params, state: the model's; ``state`` is read, not updated.
      batch: ``(x, y)`` or a mapping ``{"x", "y", "lengths", "mask"}``; ``x: (batch,
        *input_shape)``; example ``i`` is run with ``lengths[i]`` and scored with
        ``mask[i]``.
      key: a PRNG key or int seed for stochastic layers, split into one key per example
        (so dropout masks differ from those of a batched step with the same key); None for
        deterministic models or ``train=False``.
      train: run the model in training mode (dropout on).

    Returns:
      A pytree like ``params`` whose every leaf has a leading ``batch`` axis:
      ``(batch, *leaf.shape)``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> model = jaxdl.serial(jaxdl.Dense(3), jaxdl.Tanh(), jaxdl.Dense(1))
      >>> _, params, state = model.init(jax.random.key(0), (4,))
      >>> batch = (jnp.ones((8, 4)), jnp.zeros((8, 1)))
      >>> grads = jaxdl.per_example_grads(model, "mse", params, state, batch)
      >>> grads["dense"]["w"].shape, grads["dense_1"]["b"].shape
      ((8, 4, 3), (8, 1))
    """
    fn = "per_example_grads"
    return _per_example(fn, _apply_fn(fn, model), _loss_fn(fn, loss_fn), params, state, batch,
                        key, check_bool(fn, "train", train))[2]


def _batch_size(fn: str, grads: Any) -> int:
    leaves = jax.tree_util.tree_leaves(grads)
    if not leaves:
        raise ValueError(f"{fn}: grads hold no arrays")
    sizes = {jnp.shape(g)[0] if jnp.ndim(g) else None for g in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"{fn}: per-example grads need one leading batch axis on every leaf, "
                         f"got leaf shapes {[tuple(jnp.shape(g)) for g in leaves]}")
    return sizes.pop()


def clip_per_example(grads: Params, max_norm: float | Array) -> Params:
    """Scales each example's gradient to a global L2 norm of at most ``max_norm``.

    ``g_i <- g_i · min(1, max_norm / ||g_i||)`` with ``||g_i||`` the norm over all of
    example ``i``'s leaves (``optax.tree.norm``); a zero gradient stays zero. The mean of
    the result over the batch axis is DP-SGD's clipped gradient (Abadi et al., 2016,
    without the noise).

    Args:
      grads: per-example gradients, every leaf ``(batch, ...)`` (from
        :func:`per_example_grads`).
      max_norm: the bound, > 0 (may be traced).

    Returns:
      The clipped per-example gradients, same shapes.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> g = {"w": jnp.array([[3.0, 4.0], [0.3, 0.4]])}        # norms 5 and 0.5
      >>> jaxdl.clip_per_example(g, 1.0)["w"]
      Array([[0.6, 0.8],
             [0.3, 0.4]], dtype=float32)
    """
    fn = "clip_per_example"
    max_norm = check_float(fn, "max_norm", max_norm, min_value=0.0, min_open=True)
    n = _batch_size(fn, grads)
    norms = jax.vmap(optax.tree.norm)(grads)  # (batch,)
    scale = jnp.minimum(1.0, max_norm / jnp.where(norms > 0, norms, 1.0))
    return jax.tree_util.tree_map(
        lambda g: g * jnp.reshape(scale, (n,) + (1,) * (jnp.ndim(g) - 1)).astype(g.dtype), grads)


def per_example_clipping(max_norm: float) -> optax.GradientTransformation:
    """An Optax transformation that takes per-example gradients, clips each to
    ``max_norm`` (:func:`clip_per_example`) and returns their mean.

    Put it first in an ``optax.chain``, and use the chain with
    :func:`make_per_example_train_step` (which hands the optimiser per-example gradients):
    ``optax.chain(jaxdl.per_example_clipping(1.0), optax.sgd(0.1))``. For DP-SGD with
    noise, Optax's ``optax.contrib.differentially_private_aggregate(l2_norm_clip,
    noise_multiplier, key)`` takes the same place.

    Args:
      max_norm: the per-example bound, > 0.

    Returns:
      A stateless ``optax.GradientTransformation``: ``updates`` ``(batch, ...)`` per leaf
      in, ``(...)`` out.
    """
    fn = "per_example_clipping"
    max_norm = check_float(fn, "max_norm", max_norm, min_value=0.0, min_open=True)

    def init(params: Params) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update(updates: Params, state: optax.EmptyState, params: Params = None
               ) -> tuple[Params, optax.EmptyState]:
        del params
        clipped = clip_per_example(updates, max_norm)
        return jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), clipped), state

    return optax.GradientTransformation(init, update)


def make_per_example_train_step(
    model: Any,
    loss_fn: Callable[..., Array] | str,
    optimizer: optax.GradientTransformation,
    *,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    jit: bool = True,
    donate: bool = True,
) -> Callable[..., tuple[Params, State, optax.OptState, dict[str, Array]]]:
    """A train step that hands the optimiser per-example gradients (DP-SGD style).

    ``step(params, state, opt_state, batch, key) -> (params, state, opt_state, metrics)``,
    the signature of :func:`jaxdl.make_train_step`'s step (so it scans, vmaps and places
    the same way), computing :func:`per_example_grads` and passing them, leading batch
    axis and all, to ``optimizer.update``. The optimiser must therefore start with a
    per-example aggregator: :func:`per_example_clipping` or Optax's
    ``differentially_private_aggregate``.

    Args:
      model: a :class:`jaxdl.Layer` or its ``apply``.
      loss_fn: ``(predictions, targets) -> scalar`` or a name from :mod:`jaxdl.losses`.
      optimizer: an Optax chain that starts with a per-example aggregator.
      metrics: extra metrics by name or function, computed on the batch's predictions.
      jit: return the step jitted (else the pure function).
      donate: with ``jit``, donate ``params``, ``state`` and ``opt_state``.

    Returns:
      The step. ``metrics["loss"]`` is the mean of the per-example losses. ``state`` is
      returned as given (one example's statistics would be meaningless; models with
      training-time state such as BatchNorm are not for this step).

    Raises:
      ValueError: (at the first call) the optimiser returned updates whose shapes are not
        the parameters' (it did not aggregate the per-example axis).

    Example:
      >>> import jax, jax.numpy as jnp, optax, jaxdl
      >>> model = jaxdl.serial(jaxdl.Dense(4), jaxdl.Relu(), jaxdl.Dense(1))
      >>> _, params, state = model.init(jax.random.key(0), (3,))
      >>> opt = optax.chain(jaxdl.per_example_clipping(1.0), optax.sgd(0.1))
      >>> step = jaxdl.make_per_example_train_step(model, "mse", opt)
      >>> params, state, opt_state, m = step(params, state, opt.init(params),
      ...                                    (jnp.ones((8, 3)), jnp.zeros((8, 1))), None)
      >>> sorted(m)
      ['loss']
    """
    fn = "make_per_example_train_step"
    apply, loss, optimizer, fns, jit, donate = step_parts(fn, model, loss_fn, optimizer,
                                                          metrics, jit, donate)

    def step(params: Params, state: State, opt_state: optax.OptState, batch: Any,
             key: Array | None = None) -> tuple[Params, State, optax.OptState, dict[str, Array]]:
        values, preds, grads, b = _per_example("per-example train step", apply, loss, params,
                                               state, batch, key, True)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        got = jax.tree_util.tree_map(jnp.shape, updates)
        want = jax.tree_util.tree_map(jnp.shape, params)
        if got != want:
            raise ValueError(
                f"{fn}: the optimizer returned updates of shapes {got} for params of shapes "
                f"{want}: it must start with a per-example aggregator that removes the batch "
                "axis, e.g. optax.chain(jaxdl.per_example_clipping(1.0), optax.sgd(0.1)) or "
                "optax.contrib.differentially_private_aggregate(...)")
        _, ms = _scores(loss, fns, preds, b)
        return optax.apply_updates(params, updates), state, new_opt_state, {
            "loss": jnp.mean(values), **ms}

    return jit_step(step, jit, donate)


# ======================================================================= hyperparameters


class _Recorder(dict):
    """The hyperparameters as ``make_model`` sees them while jaxdl checks names: records
    which it reads, and names a missing one with a did-you-mean."""

    def __init__(self, fn: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.fn, self.read = fn, set()

    def __getitem__(self, name: str) -> Any:
        if name not in self:
            raise ValueError(f"{self.fn}: make_model read hparams[{name!r}], which is not "
                             f"given; given: {', '.join(map(repr, self)) or 'none'}"
                             f"{did_you_mean(name, list(self))}")
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return super().get(name, default)

    def _all(self) -> None:
        self.read.update(dict.keys(self))

    def keys(self) -> Any:
        self._all()
        return super().keys()

    def items(self) -> Any:
        self._all()
        return super().items()

    def values(self) -> Any:
        self._all()
        return super().values()

    def __iter__(self) -> Iterator[str]:
        self._all()
        return super().__iter__()


def _is_transformation(opt: Any) -> bool:
    return not inspect.isroutine(opt) and not isinstance(opt, functools.partial) and \
        callable(getattr(opt, "init", None)) and callable(getattr(opt, "update", None))


def _optimizer_params(fn: str, make_optimizer: Any) -> tuple[tuple[str, ...], tuple[str, ...],
                                                             bool]:
    """``(names, required, takes_any)`` of ``make_optimizer``'s keyword parameters."""
    if _is_transformation(make_optimizer):
        return (), (), False
    if not callable(make_optimizer):
        raise TypeError(f"{fn}: make_optimizer must be an Optax optimizer factory such as "
                        f"optax.sgd (called with the optimizer hyperparameters) or an Optax "
                        f"GradientTransformation, got {show_value(make_optimizer)} "
                        f"({type(make_optimizer).__name__})")
    try:
        sig = inspect.signature(make_optimizer)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{fn}: cannot read make_optimizer's parameters ({e}); pass a Python "
                        "function such as optax.sgd or a lambda") from e
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = tuple(n for n, p in sig.parameters.items() if p.kind in kinds)
    required = tuple(n for n, p in sig.parameters.items()
                     if p.kind in kinds and p.default is inspect.Parameter.empty)
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    return names, required, takes_any


def _optimizer_name(make_optimizer: Any) -> str:
    return getattr(make_optimizer, "__name__", None) or getattr(
        getattr(make_optimizer, "func", None), "__name__", type(make_optimizer).__name__)


class _Plan(NamedTuple):
    """How a population's hyperparameters reach the model and the optimiser."""

    optimizer_names: tuple[str, ...]  # given to make_optimizer (injected into its state)
    model_names: tuple[str, ...]  # read by make_model


def _plan_hparams(fn: str, make_model: MakeModel, make_optimizer: Any, sample: HParams, *,
                 varying: Sequence[str] | None = None) -> _Plan:
    """Checks hyperparameter names against ``make_optimizer``'s parameters and what
    ``make_model`` reads (it is called once with ``sample``, concrete values).

    Raises ``ValueError`` for a name that neither takes (with a did-you-mean), for a
    reserved name among ``varying`` and for a required optimiser parameter that is not
    given; the model's own errors (a bad dropout rate) come through naming ``fn``.
    """
    names = list(sample)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{fn}: hyperparameter names must be identifiers such as "
                             f"'learning_rate', got {name!r}")
    for name in varying if varying is not None else names:
        if name in RESERVED:
            raise ValueError(f"{fn}: {name!r} cannot vary inside one population (it changes "
                             "the epoch program's shapes or length); give it as an argument, "
                             "or search over it with jaxdl.tuning.search, which trains one "
                             "population per batch size and reads epochs off the history")
    opt_names, required, takes_any = _optimizer_params(fn, make_optimizer)
    recorder = _Recorder(fn, sample)
    model = make_model(recorder)
    if not isinstance(model, Layer):
        raise TypeError(f"{fn}: make_model(hparams) must return a jaxdl Layer, got "
                        f"{show_value(model)} ({type(model).__name__})")
    read = recorder.read & set(names)
    to_optimizer = [n for n in names if n in opt_names or (takes_any and n not in read)]
    unknown = [n for n in names if n not in to_optimizer and n not in read
               and n not in RESERVED]
    if unknown:
        known = sorted(set(opt_names) | set(read) | set(RESERVED))
        took = ", ".join(opt_names) if opt_names else "no hyperparameters"
        raise ValueError(
            f"{fn}: unknown hyperparameter {unknown[0]!r}: make_optimizer "
            f"({_optimizer_name(make_optimizer)}) takes {took}, and make_model read "
            f"{', '.join(sorted(read)) or 'none'}{did_you_mean(unknown[0], known)}")
    missing = [n for n in required if n not in sample]
    if missing:
        raise ValueError(
            f"{fn}: make_optimizer ({_optimizer_name(make_optimizer)}) needs "
            f"{', '.join(missing)}, which the hyperparameters do not give; add "
            f"{', '.join(repr(m) for m in missing)} to them or bind a value: "
            f"functools.partial({_optimizer_name(make_optimizer)}, {missing[0]}=...)")
    return _Plan(tuple(to_optimizer), tuple(n for n in names if n in read))


def _build(make_model: MakeModel, make_optimizer: Any, plan: _Plan, hp: HParams
           ) -> tuple[Layer, optax.GradientTransformation]:
    """The member's model and optimiser; optimiser hyperparameters go into its state
    through ``optax.inject_hyperparams`` (so they may be traced, one per member)."""
    model = make_model(dict(hp))
    if _is_transformation(make_optimizer):
        return model, make_optimizer
    opt_hp = {n: hp[n] for n in plan.optimizer_names}
    return model, optax.inject_hyperparams(make_optimizer)(**opt_hp)


def _same_kind(e: Exception) -> type[Exception]:
    """``ValueError`` or ``TypeError``, as ``e`` is (to re-raise with jaxdl's context)."""
    return ValueError if isinstance(e, ValueError) else TypeError


def _as_python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value


def _check_hparams(fn: str, hparams: Any, members: int | None) -> tuple[dict[str, np.ndarray],
                                                                          int]:
    """The hyperparameters as ``{name: (members,) array}`` and the member count."""
    if not isinstance(hparams, Mapping):
        raise TypeError(f"{fn}: hparams must be a dict {{name: array (members,)}}, got "
                        f"{show_value(hparams)} ({type(hparams).__name__})")
    members = check_int(fn, "members", members, min_value=1, allow_none=True)
    out: dict[str, np.ndarray] = {}
    for name, values in hparams.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") and \
                not hasattr(values, "shape"):
            raise TypeError(f"{fn}: hparams[{name!r}] must be a 1-D array with one value per "
                            f"member, got {show_value(values)}")
        arr = np.asarray(jax.device_get(values))
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: hparams[{name!r}] must be real numbers, got dtype "
                            f"{arr.dtype} ({show_value(values)})")
        if arr.ndim != 1:
            raise ValueError(f"{fn}: hparams[{name!r}] must be 1-D, one value per member (a "
                             f"fixed value belongs in make_model or make_optimizer), got shape "
                             f"{arr.shape}")
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{fn}: hparams[{name!r}] must be finite, got {arr[i]} for "
                                 f"member {i}")
            arr = arr.astype(np.float32)
        out[name] = arr
    lengths = {name: len(arr) for name, arr in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{fn}: every hyperparameter needs one value per member, got arrays "
                         f"of different lengths {lengths}")
    n = next(iter(lengths.values())) if lengths else members
    if n is None:
        raise ValueError(f"{fn}: no hyperparameters vary, so give members= (how many copies to "
                         "train, each from its own key)")
    if members is not None and n != members:
        raise ValueError(f"{fn}: members={members} but the hyperparameter arrays have length "
                         f"{n}")
    if n == 0:
        raise ValueError(f"{fn}: the hyperparameter arrays are empty: a population needs at "
                         "least one member")
    return out, n


def member_keys(key: Array | int, members: int) -> tuple[Array, Array]:
    """The keys :func:`fit_population` gives each member: ``(init_keys, fit_keys)``.

    ``key`` is split into ``members`` member keys (unless it already is a ``(members,)``
    key array), and each member key into ``(init_key, fit_key)``: member ``i`` starts from
    ``model.init(init_keys[i], input_shape)`` and trains as ``jaxdl.fit(..., key=fit_keys[i])``.

    Returns:
      ``(init_keys, fit_keys)``, each a ``(members,)`` key array.

    Example:
      >>> import jaxdl
      >>> init_keys, fit_keys = jaxdl.population.member_keys(0, 4)
      >>> init_keys.shape, fit_keys.shape
      ((4,), (4,))
    """
    fn = "member_keys"
    members = check_int(fn, "members", members, min_value=1)
    if isinstance(key, (jax.Array, np.ndarray)) and jnp.issubdtype(key.dtype,
                                                                     jax.dtypes.prng_key) \
            and key.ndim == 1:
        if key.shape != (members,):
            raise ValueError(f"{fn}: a key array must hold one key per member, shape "
                             f"({members},), got shape {key.shape}")
        return _split_members(key)
    return _split_members(jax.random.split(as_key(fn, key), members))


@jax.jit
def _split_members(keys: Array) -> tuple[Array, Array]:
    pairs = jax.lax.map(jax.random.split, keys)  # (members, 2); a loop compiles faster
    return pairs[:, 0], pairs[:, 1]


# ======================================================================= population


class PopulationResult(NamedTuple):
    """What :func:`fit_population` returns; per-member values along axis 0.

    Attributes:
      params, state, opt_state: every leaf ``(members, ...)``; a diverged member's hold
        its last good values (those before the step that diverged).
      history: ``{"loss", <metric>, "val_loss", "val_<metric>": (members, epochs)}``
        float64 arrays, as ``fit``'s history per member; NaN from the epoch a member
        diverged in.
      hparams: ``{name: (members,)}``, the hyperparameters trained with.
      diverged: ``(members,)`` bool.
      diverged_epoch: ``(members,)`` the 1-based epoch a member diverged in (0: never).
      diverged_step: ``(members,)`` the step within that epoch (-1: never).
      epoch_seconds: wall time of each epoch, for the whole population.
      init_keys, fit_keys: ``(members,)`` the keys of :func:`member_keys`.
    """

    params: Params
    state: State
    opt_state: optax.OptState
    history: dict[str, np.ndarray]
    hparams: dict[str, np.ndarray]
    diverged: np.ndarray
    diverged_epoch: np.ndarray
    diverged_step: np.ndarray
    epoch_seconds: list[float]
    init_keys: Array
    fit_keys: Array

    @property
    def members(self) -> int:
        """The number of members."""
        return len(self.diverged)

    def final(self, name: str) -> np.ndarray:
        """``(members,)``: each member's value of history ``name`` at its last completed
        epoch (the one before it diverged; NaN if it diverged in the first)."""
        if name not in self.history:
            raise KeyError(f"PopulationResult.final: no history {name!r}; available: "
                           f"{', '.join(self.history)}{did_you_mean(name, list(self.history))}")
        h = self.history[name]
        done = self.completed_epochs()
        return np.array([h[i, d - 1] if d else np.nan for i, d in enumerate(done)])

    def completed_epochs(self) -> np.ndarray:
        """``(members,)``: the epochs each member completed."""
        epochs = len(self.epoch_seconds)
        return np.where(self.diverged, self.diverged_epoch - 1, epochs)

    def member(self, i: int) -> FitResult:
        """Member ``i`` as a :class:`jaxdl.FitResult` (its history as lists, up to its last
        completed epoch; ``stopped_epoch`` = the epochs it completed)."""
        i = check_int("PopulationResult.member", "i", i, min_value=-self.members,
                      max_value=self.members - 1) % self.members
        take = lambda tree: jax.tree_util.tree_map(lambda a: a[i], tree)
        done = int(self.completed_epochs()[i])
        history = {k: [float(v) for v in h[i, :done]] for k, h in self.history.items()}
        return FitResult(take(self.params), take(self.state), take(self.opt_state), history,
                         done, None)


def _where_members(mask: Array, a: Any, b: Any) -> Any:
    """Per member ``a`` where ``mask`` (``(members,)``) else ``b``, broadcast explicitly."""
    def pick(x: Array, y: Array) -> Array:
        m = jnp.reshape(mask, mask.shape + (1,) * (jnp.ndim(x) - 1))
        return jnp.where(m, x, y)
    return jax.tree_util.tree_map(pick, a, b)


def _eval_in_chunks(eval_step: Callable[..., dict[str, Array]], params: Params, state: State,
                    cols: Batch, chunk: int) -> dict[str, Array]:
    """``evaluate`` inside a program: the mean loss and metrics over ``cols`` in chunks,
    each chunk's means weighted by its examples (or its selected mask entries)."""
    n = len(cols.x)
    bs = min(chunk, n)
    full, rem = divmod(n, bs)

    def weighted(b: Batch) -> tuple[dict[str, Array], Array]:
        m = eval_step(params, state, b)
        w = jnp.asarray(len(b.x) if b.mask is None else jnp.sum(b.mask), jnp.float32)
        return {k: v * w for k, v in m.items()}, w

    def part(start: Any, size: int) -> Batch:
        return jax.tree_util.tree_map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, size),
                                      cols)

    sums: dict[str, Array] = {}
    weight = jnp.zeros((), jnp.float32)
    if full == 1:
        sums, weight = weighted(part(0, bs))
    elif full:
        ms, ws = jax.lax.map(lambda i: weighted(part(i * bs, bs)), jnp.arange(full))
        sums, weight = {k: jnp.sum(v) for k, v in ms.items()}, jnp.sum(ws)
    if rem:
        m, w = weighted(part(full * bs, rem))
        sums = {k: sums.get(k, 0.0) + v for k, v in m.items()}
        weight = weight + w
    return {k: v / jnp.maximum(weight, 1.0) for k, v in sums.items()}


class _Programs(NamedTuple):
    init: Callable[..., Any]  # (hp, init_keys) -> (params, state, opt_state), stacked
    member_epoch: Callable[..., Any]  # one member's epoch (+ validation), unjitted
    epoch: Callable[..., Any]  # the population's epoch, jitted
    checked: Callable[..., Any]  # one member's step-by-step replay, jitted


def _programs(make_model: MakeModel, make_optimizer: Any, plan: _Plan, loss_fn: Any,
              fns: dict[str, MetricFn], input_shape: Any, n: int, bs: int, shuffle: bool,
              eval_chunk: int, epochs: int, shared_order: bool = False) -> _Programs:
    """The programs of a population: init, one member's epoch, and both vmapped.

    A member's epoch is ``fit``'s epoch program (:func:`jaxdl.training.fit._make_epoch`)
    over that member's model and optimiser, built from its (traced) hyperparameters,
    followed by the validation of the new parameters. The population's epoch draws each
    member's epoch key as ``fit`` does (``split(fit_key, epochs)[epoch]``); with
    ``shared_order`` one key, ``fit_keys[0]``'s, serves all members (not vmapped): the
    batches are gathered once for all."""

    def member(hp: HParams) -> tuple[Any, Any, Any]:
        model, tx = _build(make_model, make_optimizer, plan, hp)
        step = make_train_step(model, loss_fn, tx, metrics=fns, jit=False)
        plain_eval = make_eval_step(model, loss_fn, metrics=fns, jit=False)
        epoch = _make_epoch(step, lambda p, s, b: plain_eval(p, s, b)["loss"], n, bs, shuffle)
        return model, tx, epoch, plain_eval

    def init_member(hp: HParams, k: Array) -> tuple[Params, State, optax.OptState]:
        model, tx, _, _ = member(hp)
        _, params, state = model.init(k, input_shape)
        return params, state, tx.init(params)

    def member_epoch(hp: HParams, params: Params, state: State, opt_state: Any, cols: Batch,
                     key: Array, val: Batch | None) -> tuple[Any, ...]:
        _, _, epoch, plain_eval = member(hp)
        p, s, o, sums, health = epoch.fast(params, state, opt_state, cols, key)
        scores = {} if val is None else _eval_in_chunks(plain_eval, p, s, val, eval_chunk)
        return p, s, o, sums, health, scores

    def epoch_key(fit_key: Array, index: Array) -> Array:
        return jax.random.split(fit_key, epochs)[index]  # as fit: split(key, epochs)[e - 1]

    def population_epoch(hp: HParams, params: Params, state: State, opt_state: Any,
                         cols: Batch, fit_keys: Array, index: Array, val: Batch | None,
                         active: Array) -> tuple[Any, ...]:
        if shared_order:
            keys, key_axis = epoch_key(fit_keys[0], index), None
        else:
            keys, key_axis = jax.vmap(epoch_key, in_axes=(0, None))(fit_keys, index), 0
        p, s, o, sums, health, scores = jax.vmap(
            member_epoch, in_axes=(0, 0, 0, 0, None, key_axis, None))(
                hp, params, state, opt_state, cols, keys, val)
        # an inactive (diverged) member keeps its last good values
        p, s, o = _where_members(active, (p, s, o), (params, state, opt_state))
        return p, s, o, sums, health, scores

    def member_checked(hp: HParams, start: Any, new: Any, cols: Batch, fit_keys: Array,
                       index: Array, limit: Array, i: Array) -> tuple[Any, Array]:
        """Member ``i``'s replay of the epoch from ``start``; ``new`` with member ``i``'s
        entries replaced by its last good state when the replay finds a bad step."""
        take = lambda tree: jax.tree_util.tree_map(lambda a: a[i], tree)  # noqa: E731
        _, _, epoch, _ = member(take(hp))
        key = epoch_key(fit_keys[0] if shared_order else fit_keys[i], index)
        good, bad_at = epoch.checked(*take(start), cols, key, limit)
        put = lambda a, g: a.at[i].set(jnp.where(bad_at >= 0, g, a[i]))  # noqa: E731
        return jax.tree_util.tree_map(put, new, good), bad_at

    def init_all(hp: HParams, keys: Array) -> tuple[Params, State, optax.OptState]:
        # a loop over the members, not a vmap: a batched threefry compiles about twice as
        # slowly as the members' inits one after another, which take microseconds
        return jax.lax.map(lambda a: init_member(*a), (hp, keys))

    return _Programs(
        jax.jit(init_all),
        member_epoch,
        jax.jit(population_epoch),
        jax.jit(member_checked),
    )


def _summary_line(epoch: int, epochs: int, record: Mapping[str, np.ndarray], active: np.ndarray,
                  seconds: float) -> str:
    parts = []
    for k, v in record.items():
        live = v[active]
        if len(live):
            best = np.nanmin(live) if k.endswith("loss") else np.nanmax(live)
            parts.append(f"{k} best={best:.4f} median={np.nanmedian(live):.4f}")
    dead = int((~active).sum())
    return (f"epoch {epoch}/{epochs} [{len(active)} members{f', {dead} diverged' if dead else ''}]"
            f" {'; '.join(parts)} ({seconds:.2f}s)")


def fit_population(
    make_model: MakeModel,
    loss: Callable[..., Array] | str,
    make_optimizer: MakeOptimizer | optax.GradientTransformation,
    hparams: Mapping[str, Any],
    x: Any,
    y: Any = None,
    *,
    epochs: int,
    batch_size: int | None = 32,
    key: Array | int,
    members: int | None = None,
    validation_data: Any = None,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    shuffle: bool = True,
    shared_order: bool = False,
    divergence_factor: float | None = 1e4,
    check_targets: bool = True,
    eval_batch_size: int = 1024,
    verbose: int = 0,
) -> PopulationResult:
    """Trains ``members`` copies of a model together, each with its own keys and
    hyperparameters, in one compiled program per epoch.

    The program is ``fit``'s epoch (a ``lax.scan`` over the epoch's batches, gathered by
    index from a fresh permutation) and the validation of its result, ``jax.vmap``-ped over
    the members and jitted once: compiled once for the whole population, whatever the
    number of members and epochs. Member ``i`` is built by ``make_model(h_i)`` and
    ``optax.inject_hyperparams(make_optimizer)(**h_i)``, where ``h_i`` holds member ``i``'s
    value of each hyperparameter (a traced scalar); it trains exactly as

    ``jaxdl.fit(make_model(h_i), *make_model(h_i).init(init_keys[i], x.shape[1:])[1:],
    x, y, optimizer=make_optimizer(**h_i), key=fit_keys[i], ...)``

    would (:func:`member_keys` gives the keys), up to float rounding.

    Hyperparameters reach the optimiser when ``make_optimizer`` has a parameter of that
    name, and the model when ``make_model`` reads them; any other name is refused. They
    must not change array shapes: hidden units and batch size cannot vary inside one
    population (``jaxdl.tuning.search`` trains one population per shape).

    Divergence is handled per member, with ``fit``'s rule (a loss NaN/inf or above
    ``divergence_factor × max(|first loss|, 1)``, or NaN/inf parameters): the member is
    reported (``diverged``, ``diverged_epoch``, ``diverged_step``), keeps its last good
    parameters and stops updating; the other members train on unaffected.

    Args:
      make_model: ``make_model(hparams) -> Layer``; ``hparams`` maps every hyperparameter
        name to the member's value (a traced scalar, so ``Dropout(hparams["drop_rate"])``
        works; ``Dense(hparams["units"])`` does not).
      loss: ``(predictions, targets) -> scalar`` or a name from :mod:`jaxdl.losses`.
      make_optimizer: an Optax optimiser factory such as ``optax.sgd`` or
        ``lambda learning_rate, weight_decay: optax.chain(...)``, called with the
        hyperparameters among its parameters (fix others with ``functools.partial``); or
        a ``GradientTransformation`` shared by all members.
      hparams: ``{name: (members,) numbers}``, one value per member.
      x: training inputs ``(n, *input_shape)``, or a mapping of columns ``{"x", "y",
        "lengths", "mask"}`` (``y`` left out).
      y: targets ``(n, ...)``.
      epochs: passes over the training set.
      batch_size: examples per step (None: the whole set).
      key: an int seed or PRNG key, split by :func:`member_keys`; or a ``(members,)`` key
        array, one per member.
      members: the number of members; needed only when ``hparams`` is empty (an ensemble
        of seeds).
      validation_data: ``(x_val, y_val)`` or a mapping of columns, scored after every
        epoch.
      metrics: extra metrics by name (``"accuracy"``) or function.
      shuffle: reshuffle every epoch (each member its own order, from its key).
      shared_order: every member trains on the same batches in the same order, with the
        same dropout keys (all ``fit_keys`` are ``fit_keys[0]``): common random numbers,
        so members differ by their hyperparameters and initial weights alone; and
        cheaper, since each batch is gathered once for all members (one large matmul in
        the first layer instead of one per member).
      divergence_factor: as in ``fit`` (None: only NaN/inf counts).
      check_targets: check the data on the host first, as ``fit`` does.
      eval_batch_size: validation examples per chunk inside the program.
      verbose: 0 silent; 1 or 2 one line per epoch (best and median over the members).

    Returns:
      A :class:`PopulationResult`; ``result.member(i)`` is member ``i`` as a
      :class:`jaxdl.FitResult`.

    Raises:
      ValueError, TypeError: bad arguments: hyperparameter arrays of different lengths,
        an unknown hyperparameter name (with a did-you-mean), a hyperparameter that changes
        shapes, a bad value for one member (naming it), bad data.

    Example (run in ``docs/tuning.md``, with its output)::

        make_model = lambda hp: jaxdl.serial(jaxdl.Dense(32), jaxdl.Relu(),
                                             jaxdl.Dropout(hp["drop_rate"]), jaxdl.Dense(10))
        result = jaxdl.fit_population(
            make_model, "sparse_categorical_cross_entropy", optax.sgd,
            {"learning_rate": [0.01, 0.1, 0.3], "momentum": [0.9, 0.9, 0.5],
             "drop_rate": [0.0, 0.2, 0.5]},
            x_train, y_train, epochs=5, batch_size=50, key=0,
            validation_data=(x_val, y_val), metrics=["accuracy"])
        result.history["val_accuracy"]      # (3, 5): members x epochs
        result.member(1)                    # a jaxdl.FitResult
    """
    fn = "fit_population"
    if not callable(make_model) or isinstance(make_model, Layer):
        raise TypeError(f"{fn}: make_model must be a function hparams -> Layer (e.g. lambda hp: "
                        f"jaxdl.serial(..., jaxdl.Dropout(hp['drop_rate']), ...)), got "
                        f"{show_value(make_model)} ({type(make_model).__name__})")
    loss_fn = _loss_fn(fn, loss)
    fns = metric_fns(fn, metrics)
    if _is_transformation(make_optimizer):
        _check_optimizer(fn, make_optimizer)
    hp_np, n_members = _check_hparams(fn, hparams, members)
    epochs = check_int(fn, "epochs", epochs, min_value=1)
    batch_size = check_int(fn, "batch_size", batch_size, min_value=1, allow_none=True)
    eval_batch_size = check_int(fn, "eval_batch_size", eval_batch_size, min_value=1)
    divergence_factor = check_float(fn, "divergence_factor", divergence_factor, min_value=1.0,
                                    allow_none=True, allow_traced=False)
    shuffle = check_bool(fn, "shuffle", shuffle)
    shared_order = check_bool(fn, "shared_order", shared_order)
    check_targets = check_bool(fn, "check_targets", check_targets)
    verbose = check_int(fn, "verbose", verbose, min_value=0, max_value=2)

    # names, then every member's values through make_model, concretely (a traced rate
    # cannot be range-checked later)
    plan = _plan_hparams(fn, make_model, make_optimizer,
                        {k: _as_python(v[0]) for k, v in hp_np.items()})
    for i in range(1, n_members):
        try:
            make_model({k: _as_python(v[i]) for k, v in hp_np.items()})
        except (ValueError, TypeError) as e:
            shown = ", ".join(f"{k}={_as_python(v[i])!r}" for k, v in hp_np.items())
            raise _same_kind(e)(f"{fn}: member {i} ({shown}): {e}") from e

    data = targets_lib.host_columns(fn, as_batch(fn, x if y is None else (x, y)),
                                    check_finite=check_targets)
    n = _num_examples(fn, data)
    if n == 0:
        raise ValueError(f"{fn}: no training examples (x has length 0)")
    val = None
    if validation_data is not None:
        val = targets_lib.host_columns(fn, as_batch(fn, validation_data),
                                       check_finite=check_targets)
        if _num_examples(fn, val) == 0:
            raise ValueError(f"{fn}: validation_data holds no examples")
    input_shape = tuple(data.x.shape[1:])
    bs = n if batch_size is None else min(batch_size, n)
    hp = {k: jnp.asarray(v) for k, v in hp_np.items()}
    progs = _programs(make_model, make_optimizer, plan, loss_fn, fns, input_shape, n, bs,
                      shuffle, eval_batch_size, epochs, shared_order)
    init_keys, fit_keys = member_keys(key, n_members)
    try:
        params, state, opt_state = progs.init(hp, init_keys)
    except (TypeError, ValueError) as e:
        raise _same_kind(e)(f"{fn}: make_model failed on traced hyperparameters ({e}); a "
                            "hyperparameter that changes array shapes (hidden units, layers) "
                            "cannot vary inside one population: fix it in make_model, or "
                            "search over it with jaxdl.tuning.search, which trains one "
                            "population per shape") from e
    if check_targets:  # shapes suffice (jax.eval_shape): no member is sliced out
        model0 = make_model({k: _as_python(v[0]) for k, v in hp_np.items()})
        p0, s0 = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype),
                                        (params, state))
        targets_lib.check(fn, model0, p0, s0, data, loss, fns)
        if val is not None:
            targets_lib.check(fn, model0, p0, s0, val, loss, fns, what="validation")

    cols = Batch(*(None if c is None else jnp.asarray(c) for c in data))
    val_cols = None if val is None else Batch(*(None if c is None else jnp.asarray(c)
                                                for c in val))
    active = np.ones(n_members, bool)
    diverged_epoch = np.zeros(n_members, np.int64)
    diverged_step = np.full(n_members, -1, np.int64)
    limit: np.ndarray | None = None
    history: dict[str, np.ndarray] = {}
    seconds: list[float] = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        index = np.int32(epoch - 1)
        new_p, new_s, new_o, sums, health, scores = progs.epoch(
            hp, params, state, opt_state, cols, fit_keys, index, val_cols, active)
        sums, health, scores = jax.device_get((sums, health, scores))
        if limit is None:
            first_loss = np.asarray(health["first_loss"], np.float64)
            limit = np.where(np.isfinite(first_loss),
                             np.inf if divergence_factor is None else
                             divergence_factor * np.maximum(np.abs(first_loss), 1.0), np.inf)
        final_loss = np.asarray(health["final_loss"], np.float64)
        healthy = (np.asarray(health["losses_finite"]) & np.asarray(health["params_finite"])
                   & (np.asarray(health["max_loss"]) <= limit) & np.isfinite(final_loss)
                   & (final_loss <= limit))
        for i in np.flatnonzero(active & ~healthy):
            # fit's step-by-step replay of this member's epoch (compiled only now, once for
            # all members) finds the bad step and puts back the last good state
            (new_p, new_s, new_o), bad_at = progs.checked(
                hp, (params, state, opt_state), (new_p, new_s, new_o), cols, fit_keys, index,
                np.float32(limit[i]), np.int32(i))
            if int(bad_at) >= 0:  # (else the replay found nothing wrong)
                active[i] = False
                diverged_epoch[i] = epoch
                diverged_step[i] = int(bad_at)
        params, state, opt_state = new_p, new_s, new_o
        record = {"loss": np.asarray(sums["loss"], np.float64)}
        record.update({k: np.asarray(v, np.float64) for k, v in sums.items() if k != "loss"})
        if val is not None:
            record["val_loss"] = np.asarray(scores["loss"], np.float64)
            record.update({f"val_{k}": np.asarray(v, np.float64) for k, v in scores.items()
                           if k != "loss"})
        for k, v in record.items():
            v = np.where(active, v, np.nan)  # a diverged member records nothing
            history.setdefault(k, np.full((n_members, epochs), np.nan))[:, epoch - 1] = v
        seconds.append(time.perf_counter() - t0)
        if verbose:
            print(_summary_line(epoch, epochs, {k: h[:, epoch - 1] for k, h in history.items()},
                                active, seconds[-1]), flush=True)
    if shared_order:  # every member trained with fit_keys[0]
        fit_keys = jnp.broadcast_to(fit_keys[0], fit_keys.shape)
    return PopulationResult(params, state, opt_state, history, hp_np, ~active, diverged_epoch,
                            diverged_step, seconds, init_keys, fit_keys)
