"""Tests for jaxdl.data_parallel, fit(mesh=), evaluate(mesh=) and sharded checkpoints.

This pytest process runs JAX on one CPU device, so the multi-device checks run in a
process of their own (``tests/_parallel_worker.py`` with four forced CPU devices, all
checks in one run, started once per session); each test below asserts on one part of
what it reports. The one-device tests run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, PartitionSpec

import jaxdl
from jaxdl import data_parallel as dp

WORKER = Path(__file__).with_name("_parallel_worker.py")
ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-5  # the bound: the same numbers as one device, to 1e-5 relative
MODEL = jaxdl.serial(jaxdl.Dense(4), jaxdl.Tanh(), jaxdl.Dense(3))
LOSS = "sparse_categorical_cross_entropy"


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    """What ``_parallel_worker.py`` measured on four forced CPU devices."""
    out = tmp_path_factory.mktemp("parallel") / "out.json"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(WORKER), str(out)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["devices"] == 4
    return report


def _part(report, name):
    """One check's results (with the worker's tracebacks when it has none)."""
    assert name in report, f"the worker reported no {name!r}; it raised:\n" + "\n".join(
        report["errors"].values())
    return report[name]


REPLICATED = {"spec": "P()", "replicated": True, "devices": 4}


def _replicated(info, shape):
    assert {k: info[k] for k in REPLICATED} == REPLICATED
    assert info["shards"] == [list(shape)] * 4  # a whole copy on every device


def test_jit_step_equals_one_device_and_is_sharded(four_devices):
    r = _part(four_devices, "jit")
    # dropout included: the partitioned program draws the same masks as one device
    assert r["rel_params"] <= TOL and r["rel_opt_state"] <= TOL and r["rel_metrics"] <= TOL
    assert r["batch"] == {"spec": "P('data',)", "replicated": False, "devices": 4,
                          "shards": [[4, 5]] * 4}  # 16 examples: 4 on each device
    _replicated(r["params"], (5, 8))
    assert r["all_reduce"]  # XLA partitioned it: the gradients are summed across devices


def test_shard_map_step_with_explicit_pmean_equals_one_device(four_devices):
    r = _part(four_devices, "shard_map")
    assert r["rel_params"] <= TOL and r["rel_metrics"] <= TOL
    _replicated(r["params"], (5, 8))
    # a mask selecting 1, 4, 2 and 0 examples of the four shards: weighted, not pmean-ed
    r = _part(four_devices, "shard_map_mask")
    assert r["rel_params"] <= TOL and r["rel_loss"] <= TOL


def test_shard_map_averages_model_state(four_devices):
    r = _part(four_devices, "state_shard_map")
    assert r["rel_params"] <= TOL and r["rel_state"] <= TOL
    _replicated(r["state"], (5,))


def test_pmap_style_step_equals_one_device(four_devices):
    r = _part(four_devices, "pmap")
    assert r["rel_params"] <= TOL and r["rel_loss"] <= TOL and r["copies_equal"]


def test_indivisible_batch_is_refused_with_the_sizes(four_devices):
    message = _part(four_devices, "indivisible")
    assert message.startswith("parallel train step: the batch's first axis must divide by "
                              "the 4 devices of mesh axis 'data', but x has shape (10, 5)")


def test_fit_on_a_mesh_equals_fit_on_one_device(four_devices):
    r = _part(four_devices, "fit")  # dropout, validation, a last batch of 6 on 4 devices
    assert r["rel_params"] <= TOL and r["rel_opt_state"] <= TOL and r["rel_history"] <= TOL
    assert r["history_keys"] == ["accuracy", "loss", "val_accuracy", "val_loss"]
    _replicated(r["params"], (5, 8))
    assert _part(four_devices, "fit_indivisible") == (
        "fit: with mesh=, each batch is split over the mesh's 4 devices, so batch_size must "
        "divide by 4; got a batch of 6, 2 left over (e.g. batch_size=4)")


def test_evaluate_on_a_mesh_equals_one_device(four_devices):
    r = _part(four_devices, "evaluate")
    assert r["rel"] <= TOL and r["keys"]


def test_sharded_checkpoint_restores_onto_other_shardings(four_devices):
    r = _part(four_devices, "sharded_ckpt")
    assert r["rel"] == 0.0 and r["same_structure"]
    _replicated(r["table"], (8, 4))  # saved split by rows, restored replicated
    assert r["grid"] == {"spec": "P('data',)", "replicated": False, "devices": 4,
                         "shards": [[1, 6]] * 4}  # saved replicated, restored split
    assert r["w"]["devices"] == 1  # a template leaf without a sharding: one device
    assert r["extras"] == [7, {"loss": [0.5, 0.25]}, {"lr": 0.01}]
    assert _part(four_devices, "sharded_mismatch").splitlines()[1:] == [
        "  params/dense: missing from the file (the target has a subtree with keys ['w', 'b'])",
        "  params/dense_1: missing from the file (the target has a subtree with keys "
        "['w', 'b'])",
        "  params/model: in the file (a subtree with keys ['dense']) but not in the target",
        "  params/table: in the file (shape (8, 4) float32) but not in the target",
        "  params/grid: in the file (shape (4, 6) float32) but not in the target"]
    corrupt = _part(four_devices, "sharded_corrupt")
    assert "is corrupt: checksum mismatch of 2 arrays (params/model/dense/b, " \
        "params/model/dense/w)" in corrupt
    assert _part(four_devices, "single_file")["rel"] == 0.0


# ---------------------------------------------------------------- one device, here


def test_helpers_on_one_device():
    mesh = dp.data_mesh()
    assert isinstance(mesh, Mesh) and mesh.axis_names == ("data",)
    assert dp.check_mesh("f", mesh) == len(jax.devices())
    assert dp.batch_sharding(mesh).spec == PartitionSpec("data")
    assert dp.replicated_sharding(mesh).spec == PartitionSpec()
    x, y = dp.shard_batch((np.ones((4, 3), np.float32), np.zeros(4)), mesh)
    assert x.sharding == dp.batch_sharding(mesh) and y.shape == (4,)
    _, params, _ = MODEL.init(jax.random.key(0), (3,))
    placed = dp.replicate(params, mesh)
    assert all(a.sharding.is_fully_replicated for a in jax.tree_util.tree_leaves(placed))


def test_bad_arguments_name_the_function():
    mesh = dp.data_mesh()
    with pytest.raises(TypeError, match=r"make_parallel_train_step: mesh must be a "
                                        r"jax.sharding.Mesh .*got 'cpu'"):
        jaxdl.make_parallel_train_step(MODEL, LOSS, optax.sgd(0.1), mesh="cpu")
    with pytest.raises(ValueError, match="make_parallel_train_step: the mesh has no axis "
                                         "'data' to split the batch along; its axes are "
                                         r"\('batch',\)"):
        jaxdl.make_parallel_train_step(MODEL, LOSS, optax.sgd(0.1),
                                       mesh=Mesh(np.array(jax.devices()), ("batch",)))
    with pytest.raises(ValueError, match="make_parallel_train_step: unknown "
                                         "strategy='shardmap'.*did you mean 'shard_map'"):
        jaxdl.make_parallel_train_step(MODEL, LOSS, optax.sgd(0.1), strategy="shardmap")
    with pytest.raises(ValueError, match="make_train_step: axis_name='data' names the axis "
                                         "of a shard_map or pmap .* needs jit=False"):
        jaxdl.make_train_step(MODEL, LOSS, optax.sgd(0.1), axis_name="data")
    with pytest.raises(TypeError, match="data_mesh: devices must be a non-empty sequence"):
        dp.data_mesh([])
    with pytest.raises(ValueError, match="data_mesh: devices must be distinct"):
        dp.data_mesh(jax.devices() * 2)
    with pytest.raises(ValueError, match="shard_batch: every array of the batch needs a "
                                         "leading example axis .* y is a scalar"):
        dp.shard_batch({"x": np.ones((2, 3)), "y": np.float32(0.0)}, mesh)
    with pytest.raises(TypeError, match="fit: mesh must be a jax.sharding.Mesh"):
        jaxdl.fit(MODEL, *MODEL.init(jax.random.key(0), (3,))[1:], np.ones((4, 3)),
                  np.zeros(4, np.int32), loss=LOSS, optimizer=optax.sgd(0.1), epochs=1, key=0,
                  verbose=0, mesh=jax.devices())
    with pytest.raises(TypeError, match="evaluate: mesh must be a jax.sharding.Mesh"):
        jaxdl.evaluate(MODEL, *MODEL.init(jax.random.key(0), (3,))[1:], np.ones((4, 3)),
                       np.zeros(4, np.int32), loss=LOSS, mesh="mesh")
