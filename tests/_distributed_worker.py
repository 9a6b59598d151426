"""One of the two processes of the multi-host test in ``tests/test_distributed.py``.

Started twice, as process 0 and 1, on one machine with two CPU devices each (so the mesh
holds four devices, two per process). Each process connects with
``jaxdl.distributed.initialize``, takes its own half of the data, trains data-parallel
on the global batch, runs ``fit`` on a mesh that spans both processes, saves and reloads
a sharded checkpoint (both processes writing their shards into one directory), and
writes what it ended with to ``<out>/process<i>.npz`` and ``<out>/process<i>.json``.

    python tests/_distributed_worker.py PROCESS_ID PORT OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np
import optax

import jaxdl
from jaxdl import data_parallel as dp
from jaxdl import distributed

# the data, the model and the keys (tests/test_distributed.py imports them from here)
N, STEPS, LOSS = 32, 3, "sparse_categorical_cross_entropy"
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, 5)).astype(np.float32)
Y = RNG.integers(0, 3, size=N).astype(np.int32)
MODEL = jaxdl.serial(jaxdl.Dense(8), jaxdl.Relu(), jaxdl.Dropout(0.3), jaxdl.Dense(3))
OPTIMIZER = optax.adam(1e-2)
FIT = dict(loss=LOSS, optimizer=OPTIMIZER, epochs=2, batch_size=8, key=3,
           metrics=["accuracy"], verbose=0)


def host(tree):
    """The value of replicated global arrays (every process holds a whole copy)."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a.addressable_data(0)), tree)


def main() -> None:
    process_id, port, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process_id,
                           initialization_timeout=60)
    jax.config.update("jax_numpy_rank_promotion", "raise")  # as tests/conftest.py does
    info: dict = {"process_index": distributed.process_index(),
                  "process_count": distributed.process_count(),
                  "devices": jax.device_count(), "local_devices": jax.local_device_count()}
    mesh = dp.data_mesh()
    _, params0, state0 = MODEL.init(jax.random.key(0), (5,))

    # the data-parallel step on the global batch, each process holding its half
    rows = distributed.process_slice(N)
    batch = distributed.global_batch((X[rows], Y[rows]), mesh)
    info["rows"] = [rows.start, rows.stop]
    info["batch"] = {"shape": list(batch[0].shape),
                     "local_shards": sorted([s.index[0].start, s.index[0].stop]
                                            for s in batch[0].addressable_shards)}
    step = jaxdl.make_parallel_train_step(MODEL, LOSS, OPTIMIZER, mesh=mesh)
    params, state, opt_state = dp.replicate((params0, state0, OPTIMIZER.init(params0)), mesh)
    losses = []
    for key in jax.random.split(jax.random.key(1), STEPS):
        params, state, opt_state, m = step(params, state, opt_state, batch, key)
        losses.append(float(m["loss"].addressable_data(0)))
    info["losses"] = losses

    # fit on a mesh over both processes (each passes the whole data set)
    result = jaxdl.fit(MODEL, params0, state0, X, Y, mesh=mesh, **FIT)
    info["fit_history"] = {k: v for k, v in result.history.items() if k != "epoch_seconds"}

    # a sharded checkpoint, both processes writing into one directory, read back
    folder = out / "ckpt"
    jaxdl.save_sharded_checkpoint(folder, params=params, opt_state=opt_state, step=STEPS)
    back = jaxdl.load_sharded_checkpoint(folder, target={"params": params,
                                                         "opt_state": opt_state})
    info["checkpoint_equal"] = all(
        np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(host(back["params"])),
                                             jax.tree_util.tree_leaves(host(params))))
    info["checkpoint_sharding"] = back["params"]["dense"]["w"].sharding == \
        params["dense"]["w"].sharding
    info["checkpoint_step"] = back["step"]
    # the single-file format: replicated arrays (every process holds a copy) are saved
    # from this process's copy; arrays split over the processes cannot be
    single = jaxdl.save_checkpoint(out / f"single{process_id}.ckpt", params=params)
    saved = jaxdl.load_checkpoint(single, target={"params": host(params)})["params"]
    info["single_file_equal"] = all(
        np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(saved),
                                             jax.tree_util.tree_leaves(host(params))))
    try:
        jaxdl.save_checkpoint(out / f"split{process_id}.ckpt", params={"x": batch[0]})
        info["single_file_error"] = None
    except ValueError as e:
        info["single_file_error"] = str(e)

    flat = {f"step/{i}": a for i, a in enumerate(jax.tree_util.tree_leaves(host(params)))}
    flat.update({f"fit/{i}": a for i, a in
                 enumerate(jax.tree_util.tree_leaves(host(result.params)))})
    np.savez(out / f"process{process_id}.npz", **flat)
    (out / f"process{process_id}.json").write_text(json.dumps(info))
    distributed.shutdown()


if __name__ == "__main__":
    main()
