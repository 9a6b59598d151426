"""Tests for jaxdl.distributed: two processes on localhost train as one.

The two-process test starts ``tests/_distributed_worker.py`` twice (processes 0 and 1,
two CPU devices each, Gloo collectives) and compares what both ended with against each
other and against this process's one-device run on the whole data.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxdl
from _distributed_worker import FIT, LOSS, MODEL, N, OPTIMIZER, STEPS, X, Y  # its data
from jaxdl import distributed

WORKER = Path(__file__).with_name("_distributed_worker.py")
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(b))), 1e-30)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Runs the two workers once; returns ``(npz, info)`` per process."""
    out = tmp_path_factory.mktemp("distributed")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(i), str(port), str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              cwd=ROOT, text=True) for i in (0, 1)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=240)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"process {i} failed (rc {p.returncode}):\n{log[-4000:]}"
    return [(np.load(out / f"process{i}.npz"), json.loads((out / f"process{i}.json").read_text()))
            for i in (0, 1)]


def _one_device_steps():
    _, params, state = MODEL.init(jax.random.key(0), (5,))
    step = jaxdl.make_train_step(MODEL, LOSS, OPTIMIZER, donate=False)
    opt_state, losses = OPTIMIZER.init(params), []
    for key in jax.random.split(jax.random.key(1), STEPS):
        params, state, opt_state, m = step(params, state, opt_state, (X, Y), key)
        losses.append(float(m["loss"]))
    return params, losses


def test_two_processes_connect_and_share_the_data(two_processes):
    for i, (_, info) in enumerate(two_processes):
        assert (info["process_index"], info["process_count"]) == (i, 2)
        assert (info["devices"], info["local_devices"]) == (4, 2)
        assert info["rows"] == [16 * i, 16 * (i + 1)]  # process_slice: its own half
        # the global batch holds all 32 rows; this process's devices hold its 16
        assert info["batch"] == {"shape": [N, 5],
                                 "local_shards": [[16 * i, 16 * i + 8],
                                                  [16 * i + 8, 16 * (i + 1)]]}


def test_two_processes_end_with_the_parameters_of_one_device(two_processes):
    (p0, info0), (p1, info1) = two_processes
    steps = sorted(k for k in p0.files if k.startswith("step/"))
    assert steps and all(np.array_equal(p0[k], p1[k]) for k in steps)  # identical
    params, losses = _one_device_steps()
    leaves = jax.tree_util.tree_leaves(params)
    assert len(steps) == len(leaves)
    for i, leaf in enumerate(leaves):
        assert _rel(p0[f"step/{i}"], leaf) <= 1e-5
    assert info0["losses"] == info1["losses"]
    assert np.allclose(info0["losses"], losses, rtol=1e-5)


def test_fit_on_a_mesh_over_two_processes_equals_fit_on_one_device(two_processes):
    (p0, info0), (p1, info1) = two_processes
    _, params, state = MODEL.init(jax.random.key(0), (5,))
    ref = jaxdl.fit(MODEL, params, state, X, Y, **FIT)
    leaves = jax.tree_util.tree_leaves(ref.params)
    for i, leaf in enumerate(leaves):
        assert np.array_equal(p0[f"fit/{i}"], p1[f"fit/{i}"])
        assert _rel(p0[f"fit/{i}"], leaf) <= 1e-5
    for key, values in ref.history.items():
        if key != "epoch_seconds":
            assert np.allclose(info0["fit_history"][key], values, rtol=1e-5), key
            assert info0["fit_history"][key] == info1["fit_history"][key]


def test_checkpoints_across_two_processes(two_processes):
    for _, info in two_processes:
        # Orbax: each process wrote its shards, both read them back onto their shardings
        assert info["checkpoint_equal"] and info["checkpoint_sharding"]
        assert info["checkpoint_step"] == STEPS
        # one file: replicated params from this process's copy; split arrays refused
        assert info["single_file_equal"]
        assert "save_checkpoint: params/x is split over the devices of several processes" in \
            info["single_file_error"]
        assert "save_sharded_checkpoint" in info["single_file_error"]


# ---------------------------------------------------------------- one process


def test_single_process_helpers():
    assert distributed.process_index() == 0 and distributed.process_count() == 1
    assert distributed.process_slice(6) == slice(0, 6)
    assert not distributed.is_initialized()
    mesh = jaxdl.data_parallel.data_mesh()
    x = distributed.global_batch({"x": np.ones((4, 2), np.float32)}, mesh)["x"]
    assert x.shape == (4, 2) and x.sharding.spec == jax.sharding.PartitionSpec("data")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(coordinator_address=1234, num_processes=2, process_id=0), TypeError,
     "coordinator_address must be a 'host:port' string"),
    (dict(coordinator_address="localhost", num_processes=2, process_id=0), ValueError,
     "coordinator_address must be 'host:port'"),
    (dict(coordinator_address="localhost:99999", num_processes=2, process_id=0), ValueError,
     "coordinator_address must be 'host:port' with a port in 1..65535"),
    (dict(coordinator_address="localhost:1234", num_processes=2, process_id=2), ValueError,
     r"process_id must lie in \[0, 2\)"),
    (dict(coordinator_address="localhost:1234", num_processes=0, process_id=0), ValueError,
     "num_processes must be >= 1"),
    (dict(coordinator_address="localhost:1234", num_processes=2, process_id=0,
          cpu_collectives="nccl"), ValueError, "unknown cpu_collectives='nccl'"),
])
def test_initialize_refuses_bad_arguments_before_connecting(kwargs, error, match):
    with pytest.raises(error, match=f"jaxdl.distributed.initialize: {match}"):
        distributed.initialize(**kwargs)
    assert not distributed.is_initialized()


def test_initialize_after_jax_started_says_what_to_do():
    jax.devices()  # this process already runs JAX
    # JAX's own reason (not some other failure, e.g. of port 1), then jaxdl's advice
    with pytest.raises(RuntimeError, match=r"jaxdl.distributed.initialize: .*must be called "
                                           r"before any JAX .*before any other JAX call"):
        distributed.initialize("localhost:1", num_processes=1, process_id=0,
                               cpu_collectives=None)


def test_process_slice_and_global_batch_errors():
    with pytest.raises(ValueError, match="process_slice: num_examples must be >= 1"):
        distributed.process_slice(0)
    with pytest.raises(TypeError, match="global_batch: mesh must be a jax.sharding.Mesh"):
        distributed.global_batch(np.ones((4, 2)), "mesh")
    with pytest.raises(ValueError, match="global_batch: .* x is a scalar"):
        distributed.global_batch({"x": np.float32(1.0)}, jaxdl.data_parallel.data_mesh())
