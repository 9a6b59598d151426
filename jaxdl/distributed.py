"""Multi-host training: several processes (one per machine, or several on one) as one JAX program.

A thin layer over ``jax.distributed``: :func:`initialize` connects this process to the
others (call it first, before anything else touches JAX), after which ``jax.devices()``
lists the devices of every process and a mesh over them
(:func:`jaxdl.data_parallel.data_mesh`) spans all machines. Each process then loads only
its share of the data (:func:`process_slice`), and :func:`global_batch` assembles the
shares into one global array with ``jax.make_array_from_process_local_data``, which the
data-parallel steps of :mod:`jaxdl.data_parallel` take as they are. Every process runs
the same program (SPMD): the same model, the same key, the same steps.

On CPUs the processes exchange gradients through the Gloo collectives (selected by
:func:`initialize`; ``jax_cpu_collectives_implementation="gloo"``, JAX's default since
0.5). Checkpoints of arrays spread over processes: :func:`jaxdl.save_sharded_checkpoint`.
``docs/scale.md`` shows a whole run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from jaxdl._checks import check_int, check_option, show_value
from jaxdl.data_parallel import (
    DATA_AXIS, _check_divisible, _leaf_paths, batch_sharding, check_mesh,
)

__all__ = ["initialize", "shutdown", "is_initialized", "process_index", "process_count",
           "process_slice", "global_batch"]

CPU_COLLECTIVES = ("gloo", "mpi")


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: int | Sequence[int] | None = None,
    initialization_timeout: int = 300,
    cpu_collectives: str | None = "gloo",
) -> None:
    """Connects this process to the others of a multi-process run (``jax.distributed``).

    Call it once per process, before any other JAX call (even ``jax.devices()``), with
    the same ``coordinator_address`` and ``num_processes`` everywhere and each process's
    own ``process_id``. Process 0 also runs the coordinator, a small service that the
    others reach at ``coordinator_address``. On clusters that JAX detects (Slurm, Open
    MPI, Cloud TPU) the three may be left out.

    Args:
      coordinator_address: ``"host:port"`` of process 0 (e.g. ``"10.0.0.1:1234"``, or
        ``"localhost:1234"`` for processes on one machine).
      num_processes: how many processes take part.
      process_id: this process's number, in ``[0, num_processes)``.
      local_device_ids: restrict this process to these local devices (e.g. one GPU per
        process on a machine with several).
      initialization_timeout: seconds to wait for every process to connect.
      cpu_collectives: the library CPU devices use for cross-process collectives,
        ``"gloo"`` (works anywhere, TCP) or ``"mpi"``; None leaves JAX's setting alone.
        Harmless on GPUs and TPUs, which use their own (NCCL, ICI).

    Raises:
      TypeError, ValueError: bad arguments, naming them.
      RuntimeError: JAX was already used in this process, or ``initialize`` was already
        called (from JAX, prefixed with what to do).

    Example:
      Two processes on one machine (run each with its own ``process_id``)::

          jaxdl.distributed.initialize("localhost:12345", num_processes=2, process_id=0)
          mesh = jaxdl.data_parallel.data_mesh()   # the devices of both processes
    """
    fn = "jaxdl.distributed.initialize"
    if coordinator_address is not None:
        if not isinstance(coordinator_address, str):
            raise TypeError(f"{fn}: coordinator_address must be a 'host:port' string, got "
                            f"{show_value(coordinator_address)} "
                            f"({type(coordinator_address).__name__})")
        host, sep, port = coordinator_address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{fn}: coordinator_address must be 'host:port' with a port in "
                             f"1..65535, e.g. 'localhost:12345'; got {coordinator_address!r}")
    num_processes = check_int(fn, "num_processes", num_processes, min_value=1, allow_none=True)
    process_id = check_int(fn, "process_id", process_id, min_value=0, allow_none=True)
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise ValueError(f"{fn}: process_id must lie in [0, {num_processes}) for "
                         f"num_processes={num_processes}, got {process_id}")
    initialization_timeout = check_int(fn, "initialization_timeout", initialization_timeout,
                                       min_value=1)
    if cpu_collectives is not None:
        check_option(fn, "cpu_collectives", cpu_collectives, CPU_COLLECTIVES)
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    try:
        jax.distributed.initialize(coordinator_address, num_processes, process_id,
                                   local_device_ids=local_device_ids,
                                   initialization_timeout=initialization_timeout)
    except RuntimeError as e:
        raise RuntimeError(f"{fn}: {e} (call it once per process, first thing, before any "
                           "other JAX call)") from e


def shutdown() -> None:
    """Disconnects this process from the others (``jax.distributed.shutdown``); a no-op
    when :func:`initialize` was not called. Every process should call it at the end."""
    jax.distributed.shutdown()


def is_initialized() -> bool:
    """Whether :func:`initialize` (``jax.distributed.initialize``) connected this process."""
    return bool(jax.distributed.is_initialized())


def process_index() -> int:
    """This process's number in ``[0, process_count())`` (0 in a single-process run).

    Example:
      >>> import jaxdl
      >>> jaxdl.distributed.process_index(), jaxdl.distributed.process_count()
      (0, 1)
    """
    return int(jax.process_index())


def process_count() -> int:
    """How many processes take part (1 in a single-process run)."""
    return int(jax.process_count())


def process_slice(num_examples: int) -> slice:
    """The examples this process holds when ``num_examples`` are shared out in order.

    Process ``p`` of ``P`` gets ``[p * num_examples / P, (p + 1) * num_examples / P)``, so
    that the shares, assembled by :func:`global_batch` on a mesh from
    :func:`jaxdl.data_parallel.data_mesh`, give back the examples in their order.

    Args:
      num_examples: the global count (of a batch or a dataset); it must divide by the
        number of processes.

    Returns:
      A ``slice`` to index this process's share: ``x[process_slice(len(x))]``.

    Example:
      >>> import jaxdl
      >>> jaxdl.distributed.process_slice(8)   # one process: everything
      slice(0, 8, None)
    """
    fn = "process_slice"
    num_examples = check_int(fn, "num_examples", num_examples, min_value=1)
    count, index = process_count(), process_index()
    if num_examples % count:
        raise ValueError(f"{fn}: num_examples must divide by the {count} processes, got "
                         f"{num_examples} ({num_examples % count} left over)")
    share = num_examples // count
    return slice(index * share, (index + 1) * share)


def global_batch(local_batch: Any, mesh: Mesh, *, axis_name: str = DATA_AXIS) -> Any:
    """Assembles every process's share of a batch into global arrays split over ``mesh``.

    Each process passes its own rows (``local_batch``, e.g. ``x[process_slice(n)]``); the
    result is, on every process, the same pytree of global ``jax.Array`` s ``(n, ...)``
    with the first axis split along ``axis_name``, each process's devices holding its own
    rows (``jax.make_array_from_process_local_data``). In a single process it places the
    whole batch, as :func:`jaxdl.data_parallel.shard_batch` does.

    Args:
      local_batch: any pytree of arrays ``(local_batch, ...)``: ``(x, y)``, a mapping.
        Every process must hold as many rows, divisible by its devices on the mesh.
      mesh: a mesh over the devices of every process
        (:func:`jaxdl.data_parallel.data_mesh`).
      axis_name: the mesh axis to split along.

    Returns:
      The global batch, ``local_batch × process_count`` rows.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> mesh = jaxdl.data_parallel.data_mesh()
      >>> x = jaxdl.distributed.global_batch(jnp.ones((4, 2)), mesh)
      >>> x.shape, x.sharding.spec
      ((4, 2), P('data',))
    """
    fn = "global_batch"
    check_mesh(fn, mesh, axis_name)
    local_devices = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)
    if local_devices == 0:
        raise ValueError(f"{fn}: the mesh holds none of this process's devices "
                         f"(process {jax.process_index()})")
    _check_divisible(fn, local_batch, local_devices, axis_name, whose="this process's ",
                     hint=" on every process")
    sharding = batch_sharding(mesh, axis_name=axis_name)

    def assemble(leaf: Any) -> jax.Array:
        local = leaf if isinstance(leaf, jax.Array) else np.asarray(leaf)
        return jax.make_array_from_process_local_data(sharding, local)

    for where, leaf in _leaf_paths(local_batch):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            raise ValueError(f"{fn}: {where} is already a global array; pass each process's "
                             "own rows")
    return jax.tree_util.tree_map(assemble, local_batch)
