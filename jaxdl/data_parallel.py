"""Data parallelism: the model replicated on every device of a mesh, the batch split among them.

Built on JAX's own machinery (``jax.sharding.Mesh``, ``NamedSharding``, ``jax.jit``,
``jax.shard_map``), nothing home-made. A **mesh** of devices with one axis, ``"data"``
(:func:`data_mesh`), and two placements: the parameters, model state and optimiser state
**replicated** (``PartitionSpec()``: every device holds all of them) and each batch
**split along its first axis** (``PartitionSpec("data")``: every device holds
``batch / devices`` examples). Two ways to run a step on them, same signature as
:func:`jaxdl.make_train_step`'s step:

* ``strategy="jit"`` (the default): the plain step of ``make_train_step(..., jit=False)``
  in ``jax.jit`` with those shardings as ``in_shardings``/``out_shardings``. The program
  is written for the whole batch; XLA's partitioner gives each device its slice and adds
  the all-reduce of the gradients. The numbers are those of one device running the whole
  batch (up to the order of float sums), dropout masks and BatchNorm statistics included.
* ``strategy="shard_map"``: the step written per device, ``make_train_step(...,
  axis_name="data")`` in ``jax.shard_map``: each device differentiates the loss of its
  own slice and the gradients are averaged with an explicit ``jax.lax.pmean`` (so are the
  loss, the metrics and float model state). Same numbers for a deterministic model
  whose loss is a mean over the batch; BatchNorm-style layers normalise with each
  device's own statistics (as PyTorch's DistributedDataParallel without SyncBatchNorm),
  and dropout masks differ from one device's (each device folds its index into the key).

:func:`pmap_train_step` is a ``jax.pmap``-style entry point for those who look for that
name. Since JAX 0.8 ``pmap`` is in maintenance mode and itself built on ``jit`` and
``shard_map``; this module's design rests on ``jit`` with shardings.

Multi-host training (one process per machine, all devices of all processes in one mesh)
uses the same steps; :mod:`jaxdl.distributed` starts the processes and assembles global
batches from each process's share. ``docs/scale.md`` shows it all.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxdl._checks import check_bool, check_option, show_value
from jaxdl.core import Array, Params, State
from jaxdl.training.steps import ApplyLike, MetricFn, TrainStep, as_batch, make_train_step

__all__ = [
    "DATA_AXIS", "data_mesh", "check_mesh", "batch_sharding", "replicated_sharding",
    "shard_batch", "replicate", "make_parallel_train_step", "pmap_train_step",
]

DATA_AXIS = "data"
STRATEGIES = ("jit", "shard_map")


def data_mesh(devices: Sequence[jax.Device] | None = None, *,
              axis_name: str = DATA_AXIS) -> Mesh:
    """A one-axis mesh of ``devices`` (default: every device, ``jax.devices()``).

    In a multi-process run ``jax.devices()`` lists the devices of every process, so the
    default mesh spans them all (in process order).

    Args:
      devices: the devices, in the order the batch is split among them.
      axis_name: the mesh axis's name.

    Returns:
      ``Mesh(devices, (axis_name,))``.

    Example:
      >>> import jax, jaxdl
      >>> mesh = jaxdl.data_parallel.data_mesh()
      >>> mesh.axis_names, mesh.size == len(jax.devices())
      (('data',), True)
    """
    fn = "data_mesh"
    _check_axis_name(fn, axis_name)
    devices = jax.devices() if devices is None else list(devices)
    bad = [d for d in devices if not isinstance(d, jax.Device)]
    if bad or not devices:
        got = "no devices" if not devices else f"{show_value(bad[0])} ({type(bad[0]).__name__})"
        raise TypeError(f"{fn}: devices must be a non-empty sequence of jax.Device (e.g. "
                        f"jax.devices()), got {got}")
    if len(set(devices)) != len(devices):
        raise ValueError(f"{fn}: devices must be distinct, got {devices}")
    return Mesh(np.array(devices), (axis_name,))


def _check_axis_name(fn: str, axis_name: Any) -> str:
    if not isinstance(axis_name, str) or not axis_name:
        raise TypeError(f"{fn}: axis_name must be a non-empty string, got "
                        f"{show_value(axis_name)} ({type(axis_name).__name__})")
    return axis_name


def check_mesh(fn: str, mesh: Any, axis_name: str = DATA_AXIS) -> int:
    """Checks that ``mesh`` is a ``jax.sharding.Mesh`` with the axis ``axis_name``; returns
    the number of devices along it (``TypeError``/``ValueError`` naming ``fn`` otherwise)."""
    _check_axis_name(fn, axis_name)
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{fn}: mesh must be a jax.sharding.Mesh (e.g. "
                        f"jaxdl.data_parallel.data_mesh()), got {show_value(mesh)} "
                        f"({type(mesh).__name__})")
    if axis_name not in mesh.axis_names:
        raise ValueError(f"{fn}: the mesh has no axis {axis_name!r} to split the batch along; "
                         f"its axes are {mesh.axis_names} (build it with "
                         f"data_mesh(axis_name={axis_name!r}) or pass axis_name=)")
    return int(mesh.shape[axis_name])


def batch_sharding(mesh: Mesh, *, axis_name: str = DATA_AXIS) -> NamedSharding:
    """``NamedSharding(mesh, PartitionSpec(axis_name))``: the first axis split over the
    mesh axis, the others whole (the placement of a batch)."""
    check_mesh("batch_sharding", mesh, axis_name)
    return NamedSharding(mesh, PartitionSpec(axis_name))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """``NamedSharding(mesh, PartitionSpec())``: a whole copy on every device of ``mesh``
    (the placement of parameters and optimiser state)."""
    if not isinstance(mesh, Mesh):
        raise TypeError(f"replicated_sharding: mesh must be a jax.sharding.Mesh, got "
                        f"{show_value(mesh)} ({type(mesh).__name__})")
    return NamedSharding(mesh, PartitionSpec())


def _leaf_paths(tree: Any) -> list[tuple[str, Any]]:
    """``[("x", leaf), ("params/w", leaf), ...]``: each leaf with its path, for messages."""
    def name(k: Any) -> str:
        for attr in ("key", "name", "idx"):  # DictKey, GetAttrKey, SequenceKey
            if hasattr(k, attr):
                return str(getattr(k, attr))
        return str(k)

    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [("/".join(name(k) for k in path) or "the batch", leaf) for path, leaf in leaves]


def _check_divisible(fn: str, batch: Any, devices: int, axis_name: str, *,
                     whose: str = "", hint: str = " (fit(mesh=...) handles a smaller last "
                     "batch itself)") -> None:
    """``ValueError`` for the first leaf without a leading axis that splits evenly over
    ``devices`` (``whose``: e.g. "this process's " for a process's share)."""
    for where, leaf in _leaf_paths(batch):
        shape = np.shape(leaf)
        if not shape:
            raise ValueError(f"{fn}: every array of the batch needs a leading example axis to "
                             f"split over the mesh, but {where} is a scalar")
        if shape[0] % devices:
            raise ValueError(
                f"{fn}: the batch's first axis must divide by {whose}the {devices} devices "
                f"of mesh axis {axis_name!r}, but {where} has shape {tuple(shape)} "
                f"({shape[0]} examples, {shape[0] % devices} left over); use a batch size "
                f"that is a multiple of {devices}{hint}")


def shard_batch(batch: Any, mesh: Mesh, *, axis_name: str = DATA_AXIS) -> Any:
    """Places a batch on ``mesh`` with its first axis split along ``axis_name``.

    Args:
      batch: any pytree of arrays ``(batch, ...)``: ``(x, y)``, a :class:`jaxdl.Batch`,
        a mapping of columns.
      mesh: the mesh (from :func:`data_mesh`).
      axis_name: the mesh axis to split along.

    Returns:
      The same pytree of ``jax.Array`` s, each device holding ``batch / devices`` examples.

    Raises:
      ValueError: a leaf whose first axis does not divide by the number of devices, or a
        mesh that spans several processes (there, each process holds only its own share:
        use :func:`jaxdl.distributed.global_batch`).

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> mesh = jaxdl.data_parallel.data_mesh()
      >>> x, y = jaxdl.data_parallel.shard_batch((jnp.ones((8, 3)), jnp.zeros(8)), mesh)
      >>> x.sharding.spec
      P('data',)
    """
    fn = "shard_batch"
    devices = check_mesh(fn, mesh, axis_name)
    if mesh.is_multi_process:
        raise ValueError(f"{fn}: the mesh spans {jax.process_count()} processes, each of which "
                         "holds only its share of the batch; assemble the global batch with "
                         "jaxdl.distributed.global_batch(local_batch, mesh)")
    _check_divisible(fn, batch, devices, axis_name)
    return jax.device_put(batch, batch_sharding(mesh, axis_name=axis_name))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places a whole copy of every array of ``tree`` on every device of ``mesh``.

    For params, model state and optimiser state (``jax.Array`` s, NumPy arrays or
    numbers). On a mesh that spans several processes every process must pass the same
    values (as it does after initialising from the same key).

    Returns:
      The same pytree of ``jax.Array`` s with sharding ``NamedSharding(mesh,
      PartitionSpec())``.

    Example:
      >>> import jax, jaxdl
      >>> _, params, _ = jaxdl.Dense(2).init(jax.random.key(0), (3,))
      >>> placed = jaxdl.data_parallel.replicate(params, jaxdl.data_parallel.data_mesh())
      >>> placed["w"].sharding.is_fully_replicated
      True
    """
    return put(tree, replicated_sharding(mesh))


def put(tree: Any, sharding: NamedSharding) -> Any:
    """``jax.device_put(tree, sharding)``, also for a mesh that spans several processes:
    there every process passes the same (whole) values and places its own part."""
    if not sharding.mesh.is_multi_process:
        return jax.device_put(tree, sharding)

    def place(leaf: Any) -> Any:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return jax.device_put(leaf, sharding)  # already global: reshard
        host = np.asarray(jax.device_get(leaf))
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree_util.tree_map(place, tree)


def make_parallel_train_step(
    model: ApplyLike,
    loss_fn: Any,
    optimizer: optax.GradientTransformation,
    *,
    mesh: Mesh | None = None,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    strategy: str = "jit",
    donate: bool = True,
    axis_name: str = DATA_AXIS,
) -> TrainStep:
    """A data-parallel train step: params replicated, each batch split over the mesh.

    ``step(params, state, opt_state, batch, key=None) -> (params, state, opt_state,
    metrics)``, as :func:`jaxdl.make_train_step`'s, jitted with
    ``in_shardings=(replicated, replicated, replicated, by_example, replicated)`` and
    ``out_shardings=replicated``, where ``replicated = NamedSharding(mesh,
    PartitionSpec())`` and ``by_example = NamedSharding(mesh, PartitionSpec(axis_name))``.
    Inputs that are not yet placed so (NumPy arrays, arrays on one device) are moved
    there on each call: place them once with :func:`replicate` and :func:`shard_batch`.

    Args:
      model: a :class:`jaxdl.Layer` or its ``apply``.
      loss_fn: a loss function or a name from :mod:`jaxdl.losses`.
      optimizer: any Optax ``GradientTransformation``.
      mesh: the devices (default :func:`data_mesh`: every device).
      metrics: extra metrics, as for :func:`jaxdl.make_train_step`.
      strategy: ``"jit"`` (the whole-batch program, partitioned by XLA: the same numbers
        as one device) or ``"shard_map"`` (a per-device program with an explicit
        ``jax.lax.pmean`` of the gradients; needs a loss that is a mean over the batch,
        and gives BatchNorm-style layers per-device statistics).
      donate: donate ``params``, ``state`` and ``opt_state`` (rebind them after each call).
      axis_name: the mesh axis the batch is split along.

    Returns:
      The step. ``batch`` is ``(x, y)`` or a mapping of columns whose first axis, the
      global batch, divides by the number of devices along ``axis_name``. Its
      ``__wrapped__`` is the ``jax.jit`` function (``step.__wrapped__.lower(...)`` shows
      the compiled, partitioned program).

    Raises:
      ValueError: an unknown ``strategy``, a mesh without ``axis_name``; at call time a
        batch whose first axis does not divide by the devices.

    Example:
      >>> import jax, jax.numpy as jnp, optax, jaxdl
      >>> model = jaxdl.serial(jaxdl.Dense(4), jaxdl.Relu(), jaxdl.Dense(1))
      >>> _, params, state = model.init(jax.random.key(0), (3,))
      >>> opt = optax.sgd(0.1)
      >>> step = jaxdl.make_parallel_train_step(model, "mse", opt)
      >>> batch = (jnp.ones((8, 3)), jnp.zeros((8, 1)))
      >>> params, state, opt_state, m = step(params, state, opt.init(params), batch)
      >>> params["dense"]["w"].sharding.is_fully_replicated
      True
    """
    fn = "make_parallel_train_step"
    strategy = check_option(fn, "strategy", strategy, STRATEGIES)
    donate = check_bool(fn, "donate", donate)
    mesh = data_mesh(axis_name=axis_name) if mesh is None else mesh
    devices = check_mesh(fn, mesh, axis_name)
    replicated = replicated_sharding(mesh)
    by_example = batch_sharding(mesh, axis_name=axis_name)
    if strategy == "jit":
        step = make_train_step(model, loss_fn, optimizer, metrics=metrics, jit=False)
    else:
        per_device = make_train_step(model, loss_fn, optimizer, metrics=metrics, jit=False,
                                     axis_name=axis_name)
        rep, split = replicated.spec, by_example.spec
        step = jax.shard_map(per_device, mesh=mesh, in_specs=(rep, rep, rep, split, rep),
                             out_specs=rep)
    placed = jax.jit(step, in_shardings=(replicated, replicated, replicated, by_example,
                                         replicated),
                     out_shardings=replicated, donate_argnums=(0, 1, 2) if donate else ())

    @functools.wraps(placed)
    def parallel_step(params: Params, state: State, opt_state: optax.OptState, batch: Any,
                      key: Array | None = None
                      ) -> tuple[Params, State, optax.OptState, dict[str, Array]]:
        try:
            return placed(params, state, opt_state, batch, key)
        except (ValueError, TypeError):  # say why in jaxdl's words when the batch is at fault
            _check_divisible("parallel train step", as_batch("parallel train step", batch),
                             devices, axis_name)
            raise

    return parallel_step


def pmap_train_step(
    model: ApplyLike,
    loss_fn: Any,
    optimizer: optax.GradientTransformation,
    *,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = None,
    devices: Sequence[jax.Device] | None = None,
    donate: bool = False,
    axis_name: str = DATA_AXIS,
) -> TrainStep:
    """A ``jax.pmap``-style data-parallel step, for users who look for that name.

    ``jax.pmap(make_train_step(..., jit=False, axis_name=axis_name), axis_name=axis_name,
    in_axes=(0, 0, 0, 0, None))``: the pmap conventions, every argument but the key with
    a leading device axis. Since JAX 0.8 ``pmap`` is in maintenance mode (built on
    ``jit`` and ``shard_map``); :func:`make_parallel_train_step` is the recommended form.

    Args:
      model, loss_fn, optimizer, metrics: as for :func:`jaxdl.make_train_step`.
      devices: the devices (default: every local device).
      donate: donate ``params``, ``state`` and ``opt_state``.
      axis_name: the name of the mapped axis inside the step.

    Returns:
      ``step(params, state, opt_state, batch, key=None)``, where ``params``, ``state``
      and ``opt_state`` are stacked copies ``(devices, ...)`` (e.g.
      ``jax.tree.map(lambda a: jnp.stack([a] * n), params)``) and ``batch`` is
      ``(devices, batch_per_device, ...)``; the outputs keep the device axis (every copy
      equal) and the metrics are ``(devices,)`` (every entry the whole batch's mean).
    """
    fn = "pmap_train_step"
    donate = check_bool(fn, "donate", donate)
    _check_axis_name(fn, axis_name)
    step = make_train_step(model, loss_fn, optimizer, metrics=metrics, jit=False,
                           axis_name=axis_name)
    return jax.pmap(step, axis_name=axis_name, in_axes=(0, 0, 0, 0, None),
                    devices=None if devices is None else list(devices),
                    donate_argnums=(0, 1, 2) if donate else ())
