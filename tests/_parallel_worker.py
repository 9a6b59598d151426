"""Runs the multi-device checks of ``tests/test_data_parallel.py`` in a process of its own.

The main pytest process has initialised JAX with one CPU device; this script is started
with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` so that JAX sees four, runs
every check (one compile each, tiny models) and writes what it measured to the JSON file
named by its argument: relative differences against the one-device runs, shardings and
error messages. The test file asserts on them, so each check fails on its own.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/_parallel_worker.py out.json
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
from jaxdl import data_parallel as dp

jax.config.update("jax_numpy_rank_promotion", "raise")  # as tests/conftest.py does

LOSS = "sparse_categorical_cross_entropy"
RNG = np.random.default_rng(0)
X = RNG.normal(size=(50, 5)).astype(np.float32)
Y = RNG.integers(0, 3, size=50).astype(np.int32)
DROPOUT = jaxdl.serial(jaxdl.Dense(8), jaxdl.Relu(), jaxdl.Dropout(0.3), jaxdl.Dense(3))
PLAIN = jaxdl.serial(jaxdl.Dense(8), jaxdl.Tanh(), jaxdl.Dense(3))


def running_mean(momentum: float = 0.9) -> jaxdl.Layer:
    """A BatchNorm-style layer: the identity, with a running mean of its inputs as state."""
    def init(key, input_shape):
        return input_shape, {}, {"mean": jnp.zeros(input_shape[-1:])}

    def apply(params, state, x, *, key=None, train=False, lengths=None):
        if not train:
            return x, state
        mean = jnp.mean(x.reshape(-1, x.shape[-1]), axis=0)
        return x, {"mean": momentum * state["mean"] + (1.0 - momentum) * mean}

    return jaxdl.Layer(init, apply, "running_mean")


STATEFUL = jaxdl.serial(running_mean(), jaxdl.Dense(3))


def rel(a, b) -> float:
    """The largest difference between two pytrees of arrays, leaf by leaf relative to the
    leaf's largest magnitude: ``max |a - b| / max |b|``."""
    worst = 0.0
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    if len(la) != len(lb):
        return float("inf")
    for x, y in zip(la, lb):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.shape != y.shape:
            return float("inf")
        scale = max(float(np.max(np.abs(y), initial=0.0)), 1e-30)
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)) / scale)
    return worst


def shard_info(a: jax.Array) -> dict:
    return {"spec": str(getattr(a.sharding, "spec", None)),
            "replicated": a.sharding.is_fully_replicated,
            "devices": len(a.sharding.device_set),
            "shards": sorted(tuple(s.data.shape) for s in a.addressable_shards)}


def run_steps(step, params, state, opt_state, batches, keys):
    metrics = []
    for batch, key in zip(batches, keys):
        params, state, opt_state, m = step(params, state, opt_state, batch, key)
        metrics.append(m)
    return params, state, opt_state, metrics


def one_device(model, opt, batches, keys, **kw):
    _, params, state = model.init(jax.random.key(0), (5,))
    step = jaxdl.make_train_step(model, LOSS, opt, donate=False, **kw)
    return run_steps(step, params, state, opt.init(params), batches, keys)


def on_mesh(model, opt, mesh, batches, keys, **kw):
    _, params, state = model.init(jax.random.key(0), (5,))
    step = jaxdl.make_parallel_train_step(model, LOSS, opt, mesh=mesh, **kw)
    params, state, opt_state = dp.replicate((params, state, opt.init(params)), mesh)
    placed = [dp.shard_batch(b, mesh) for b in batches]
    return step, placed, run_steps(step, params, state, opt_state, placed, keys)


def check_steps(mesh, out):
    opt = optax.adam(1e-2)
    batches = [(X[i:i + 16], Y[i:i + 16]) for i in (0, 16, 32)]
    keys = list(jax.random.split(jax.random.key(1), 3))

    # jit with shardings: the whole-batch program, dropout included
    ref = one_device(DROPOUT, opt, batches, keys, metrics=["accuracy"])
    step, placed, got = on_mesh(DROPOUT, opt, mesh, batches, keys, metrics=["accuracy"])
    hlo = step.__wrapped__.lower(*got[:3], placed[0], keys[0]).compile().as_text()
    out["jit"] = {"rel_params": rel(got[0], ref[0]), "rel_opt_state": rel(got[2], ref[2]),
                  "rel_metrics": rel(got[3], ref[3]),
                  "params": shard_info(got[0]["dense"]["w"]),
                  "batch": shard_info(placed[0][0]), "all_reduce": "all-reduce" in hlo}

    # shard_map with an explicit pmean: a deterministic model
    plain = one_device(PLAIN, opt, batches, keys, metrics=["accuracy"])
    _, _, got = on_mesh(PLAIN, opt, mesh, batches, keys, metrics=["accuracy"],
                        strategy="shard_map")
    out["shard_map"] = {"rel_params": rel(got[0], plain[0]),
                        "rel_metrics": rel(got[3], plain[3]),
                        "params": shard_info(got[0]["dense"]["w"])}

    # shard_map with a mask that selects 1, 4, 2 and 0 examples of the four shards
    mask = np.zeros(16, bool)
    mask[[0, 4, 5, 6, 7, 8, 9]] = True
    masked = [{"x": x, "y": y, "mask": mask} for x, y in batches]
    ref = one_device(PLAIN, opt, masked, keys)
    _, _, got = on_mesh(PLAIN, opt, mesh, masked, keys, strategy="shard_map")
    out["shard_map_mask"] = {"rel_params": rel(got[0], ref[0]), "rel_loss": rel(got[3], ref[3])}

    # BatchNorm-style state under shard_map: pmean-ed, so replicated; a running mean of
    # equal shards' means is exact (SGD: a gradient summed, not averaged, would show)
    ref = one_device(STATEFUL, optax.sgd(0.1), batches, keys)
    _, _, got = on_mesh(STATEFUL, optax.sgd(0.1), mesh, batches, keys, strategy="shard_map")
    out["state_shard_map"] = {"rel_params": rel(got[0], ref[0]),
                              "rel_state": rel(got[1], ref[1]),
                              "state": shard_info(got[1]["running_mean"]["mean"])}

    # a batch that does not split over four devices
    try:
        step(*dp.replicate(one_device(DROPOUT, opt, [], [])[:3], mesh), (X[:10], Y[:10]), None)
        out["indivisible"] = None
    except ValueError as e:
        out["indivisible"] = str(e)

    # the pmap-style convenience: stacked copies, a (devices, per_device) batch
    ref = plain
    _, params, state = PLAIN.init(jax.random.key(0), (5,))
    stack = lambda tree: jax.tree_util.tree_map(lambda a: jnp.stack([a] * 4), tree)  # noqa: E731
    pstep = dp.pmap_train_step(PLAIN, LOSS, opt, metrics=["accuracy"])
    p, s, o = stack(params), stack(state), stack(opt.init(params))
    for (x, y), key in zip(batches, keys):
        p, s, o, m = pstep(p, s, o, (x.reshape(4, 4, 5), y.reshape(4, 4)), key)
    out["pmap"] = {"rel_params": rel(jax.tree_util.tree_map(lambda a: a[0], p), ref[0]),
                   "copies_equal": all(bool(jnp.all(a == a[:1])) for a in
                                       jax.tree_util.tree_leaves(p)),
                   "rel_loss": rel(m["loss"][0], ref[3][-1]["loss"])}


def check_fit(mesh, out):
    _, params, state = DROPOUT.init(jax.random.key(0), (5,))
    # 50 examples, 4 held out: 46 to train in batches of 8, the last batch of 6 does not
    # divide by the 4 devices (XLA splits it unevenly)
    kw = dict(loss=LOSS, optimizer=optax.adam(1e-2), epochs=3, batch_size=8, key=3,
              metrics=["accuracy"], validation_split=0.08, verbose=0)
    ref = jaxdl.fit(DROPOUT, params, state, X, Y, **kw)
    got = jaxdl.fit(DROPOUT, params, state, X, Y, mesh=mesh, **kw)
    hist = lambda r: {k: v for k, v in r.history.items() if k != "epoch_seconds"}  # noqa: E731
    out["fit"] = {"rel_params": rel(got.params, ref.params),
                  "rel_opt_state": rel(got.opt_state, ref.opt_state),
                  "rel_history": rel(hist(got), hist(ref)),
                  "history_keys": sorted(hist(got)),
                  "params": shard_info(got.params["dense"]["w"])}
    try:
        jaxdl.fit(DROPOUT, params, state, X, Y, mesh=mesh, **{**kw, "batch_size": 6})
        out["fit_indivisible"] = None
    except ValueError as e:
        out["fit_indivisible"] = str(e)

    # evaluate: 50 examples in batches of 16, the last (2) evaluated replicated
    ev = dict(loss=LOSS, metrics=["accuracy"], batch_size=16)
    ref = jaxdl.evaluate(DROPOUT, params, state, X, Y, **ev)
    got = jaxdl.evaluate(DROPOUT, params, state, X, Y, mesh=mesh, **ev)
    out["evaluate"] = {"rel": rel(got, ref), "keys": sorted(got) == sorted(ref)}


def check_checkpoints(mesh, out):
    folder = Path(tempfile.mkdtemp())
    try:
        opt = optax.adam(1e-2)
        _, params, state = STATEFUL.init(jax.random.key(0), (5,))
        params, state, opt_state = dp.replicate((params, state, opt.init(params)), mesh)
        by_row, replicated = dp.batch_sharding(mesh), dp.replicated_sharding(mesh)
        table = jax.device_put(jnp.arange(32.0).reshape(8, 4), by_row)
        grid = jax.device_put(jnp.arange(24.0).reshape(4, 6), replicated)
        trees = {"params": {"model": params, "table": table, "grid": grid}, "state": state,
                 "opt_state": opt_state}
        jaxdl.save_sharded_checkpoint(folder / "a", **trees, step=7,
                                      history={"loss": [0.5, 0.25]}, metadata={"lr": 0.01})
        # restore onto other shardings: the table replicated, the grid split by rows, the
        # model (templates without a sharding) onto one device
        target = {"params": {
            "model": jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                                            params),
            "table": jax.ShapeDtypeStruct((8, 4), jnp.float32, sharding=replicated),
            "grid": jax.ShapeDtypeStruct((4, 6), jnp.float32, sharding=by_row)},
            "state": state, "opt_state": opt_state}
        got = jaxdl.load_sharded_checkpoint(folder / "a", target=target)
        out["sharded_ckpt"] = {
            "rel": rel((got["params"], got["state"], got["opt_state"]),
                       (trees["params"], trees["state"], trees["opt_state"])),
            "same_structure": jax.tree_util.tree_structure(got["opt_state"])
            == jax.tree_util.tree_structure(opt_state),
            "table": shard_info(got["params"]["table"]),
            "grid": shard_info(got["params"]["grid"]),
            "w": shard_info(got["params"]["model"]["dense"]["w"]),
            "state": shard_info(got["state"]["running_mean"]["mean"]),
            "extras": [got["step"], got["history"], got["metadata"]]}
        # a template of another model is refused, with the paths
        _, other, _ = PLAIN.init(jax.random.key(0), (5,))
        try:
            jaxdl.load_sharded_checkpoint(folder / "a", target={"params": other})
            out["sharded_mismatch"] = None
        except ValueError as e:
            out["sharded_mismatch"] = str(e)
        # arrays whose bytes changed but decode: the checksums tell
        shifted = {**trees, "params": {**trees["params"], "model": jax.tree_util.tree_map(
            lambda a: a + 1.0, params)}}
        jaxdl.save_sharded_checkpoint(folder / "b", **shifted, step=7,
                                      history={"loss": [0.5, 0.25]}, metadata={"lr": 0.01})
        shutil.rmtree(folder / "b" / "extras")
        shutil.copytree(folder / "a" / "extras", folder / "b" / "extras")
        try:
            jaxdl.load_sharded_checkpoint(folder / "b", target=target)
            out["sharded_corrupt"] = None
        except ValueError as e:
            out["sharded_corrupt"] = str(e)
        # the single-file format still serves sharded arrays of one process
        path = jaxdl.save_checkpoint(folder / "one.ckpt", params=trees["params"],
                                     opt_state=opt_state)
        back = jaxdl.load_checkpoint(path, target={"params": trees["params"],
                                                   "opt_state": opt_state})
        out["single_file"] = {"rel": rel((back["params"], back["opt_state"]),
                                         (trees["params"], opt_state))}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    out: dict = {"devices": jax.device_count(), "errors": {}, "seconds": {}}
    mesh = dp.data_mesh()
    for check in (check_steps, check_fit, check_checkpoints):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            check(mesh, out)
        except Exception:  # reported by the test that needs the missing entries
            out["errors"][check.__name__] = traceback.format_exc()
        out["seconds"][check.__name__] = [round(time.perf_counter() - start, 2),
                                          round(time.process_time() - cpu, 2)]  # wall, CPU
    Path(sys.argv[1]).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
