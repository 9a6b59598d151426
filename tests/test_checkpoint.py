"""Tests for jaxdl.checkpoint: exact round trips, atomic writes, no pickle."""

from __future__ import annotations

import os
import pickle

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl import checkpoint

MODEL = jaxdl.serial(jaxdl.Dense(4), jaxdl.Relu(), jaxdl.Dense(2))


def _training_state(seed=0):
    _, params, state = MODEL.init(jax.random.key(seed), (3,))
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    # one real step, so that mu/nu/count are not all zeros
    step = jaxdl.make_train_step(MODEL, "mse", opt, donate=False)
    params, state, opt_state, _ = step(params, state, opt_state,
                                       (jnp.ones((2, 3)) * (seed + 1), jnp.zeros((2, 2))), None)
    history = {"loss": [0.9, 0.5, 0.3333333333333333], "val_loss": [1.0, 0.7, 0.6]}
    return params, state, opt_state, history


def _assert_bit_exact(a, b):
    chex.assert_trees_all_equal_structs(a, b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        assert np.asarray(x).shape == np.asarray(y).shape
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_is_bit_exact(tmp_path):
    params, state, opt_state, history = _training_state()
    path = jaxdl.save_checkpoint(tmp_path / "ckpt.msgpack", params=params, state=state,
                                 opt_state=opt_state, history=history, step=3)
    assert path == tmp_path / "ckpt.msgpack" and path.is_file()
    target = {"params": params, "state": state, "opt_state": opt_state}
    out = jaxdl.load_checkpoint(path, target=target)
    _assert_bit_exact(out["params"], params)
    _assert_bit_exact(out["opt_state"], opt_state)
    assert out["state"] == state
    assert isinstance(out["opt_state"][0], optax.ScaleByAdamState)  # the named tuple is back
    assert out["opt_state"][0].count.dtype == np.int32 and int(out["opt_state"][0].count) == 1
    assert out["history"] == history
    assert out["step"] == 3


def test_metadata_and_step_round_trip(tmp_path):
    # "small JSON-like extras (strings, numbers, lists, dicts)" come back as they went in
    metadata = {"model": "mlp", "sizes": [4, 2], "lr": 0.1, "epochs": 3,
                "nested": {"optimizer": "adam"}}
    jaxdl.save_checkpoint(tmp_path / "c", params=_training_state()[0], step=7, metadata=metadata)
    out = jaxdl.load_checkpoint(tmp_path / "c")
    assert out["metadata"] == metadata
    assert out["step"] == 7 and isinstance(out["step"], int)


def test_restored_state_resumes_training(tmp_path):
    params, state, opt_state, _ = _training_state()
    jaxdl.save_checkpoint(tmp_path / "c", params=params, state=state, opt_state=opt_state)
    out = jaxdl.load_checkpoint(tmp_path / "c", target={"params": params, "state": state,
                                                        "opt_state": opt_state})
    opt = optax.adam(1e-3)
    step = jaxdl.make_train_step(MODEL, "mse", opt, donate=False)
    batch = (jnp.ones((2, 3)), jnp.zeros((2, 2)))
    a = step(params, state, opt_state, batch, None)
    b = step(out["params"], out["state"], out["opt_state"], batch, None)
    _assert_bit_exact(a[:3], b[:3])


def test_round_trip_without_target(tmp_path):
    params, state, opt_state, history = _training_state()
    jaxdl.save_checkpoint(tmp_path / "c", params=params, opt_state=opt_state)
    out = jaxdl.load_checkpoint(tmp_path / "c")
    assert set(out) == {"params", "state", "opt_state"}  # only what was saved
    # nested dicts of NumPy arrays, keyed by position
    assert np.array_equal(out["params"]["0"]["w"], np.asarray(params[0]["w"]))
    assert out["params"]["0"]["w"].dtype == np.float32
    assert np.array_equal(out["opt_state"]["0"]["mu"]["2"]["b"],
                          np.asarray(opt_state[0].mu[2]["b"]))


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_, np.uint8, np.float16])
def test_dtypes_survive(tmp_path, dtype):
    params = {"a": np.arange(6).reshape(2, 3).astype(dtype), "s": np.array(1, dtype)}
    jaxdl.save_checkpoint(tmp_path / "c", params=params)
    _assert_bit_exact(jaxdl.load_checkpoint(tmp_path / "c", target={"params": params})["params"],
                      params)


def test_bfloat16_survives(tmp_path):
    params = {"w": jnp.arange(5, dtype=jnp.bfloat16) / 3}
    jaxdl.save_checkpoint(tmp_path / "c", params=params)
    _assert_bit_exact(jaxdl.load_checkpoint(tmp_path / "c", target={"params": params})["params"],
                      params)


def test_overwrite_replaces(tmp_path):
    first, second = _training_state(0), _training_state(1)
    jaxdl.save_checkpoint(tmp_path / "c", params=first[0])
    jaxdl.save_checkpoint(tmp_path / "c", params=second[0])
    out = jaxdl.load_checkpoint(tmp_path / "c", target={"params": second[0]})
    _assert_bit_exact(out["params"], second[0])


def test_creates_parent_folders(tmp_path):
    params = _training_state()[0]
    path = jaxdl.save_checkpoint(tmp_path / "a" / "b" / "c.msgpack", params=params)
    assert path.is_file()


class _Crash(Exception):
    pass


def _half_writing_fdopen(real_fdopen):
    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        real_write = f.write

        def write(data):
            real_write(data[: len(data) // 2])
            f.flush()
            raise _Crash("simulated crash half-way through the write")

        f.write = write
        return f

    return fdopen


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch, where):
    path = tmp_path / "ckpt.msgpack"
    first = _training_state(0)
    second = _training_state(1)
    jaxdl.save_checkpoint(path, params=first[0], opt_state=first[2], history=first[3])
    saved_bytes = path.read_bytes()

    def crash(*args, **kwargs):
        raise _Crash(f"simulated crash in {where}")

    if where == "write":
        monkeypatch.setattr(checkpoint.os, "fdopen", _half_writing_fdopen(os.fdopen))
    else:
        monkeypatch.setattr(checkpoint.os, where, crash)
    with pytest.raises(_Crash):
        jaxdl.save_checkpoint(path, params=second[0], opt_state=second[2], history=second[3])
    monkeypatch.undo()

    assert path.read_bytes() == saved_bytes
    out = jaxdl.load_checkpoint(path, target={"params": first[0], "opt_state": first[2]})
    _assert_bit_exact(out["params"], first[0])
    _assert_bit_exact(out["opt_state"], first[2])
    assert out["history"] == first[3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.msgpack"]  # no temp files left


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="load_checkpoint: no checkpoint at"):
        jaxdl.load_checkpoint(tmp_path / "nope.msgpack")


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01garbage\xff" * 10, b"not a checkpoint at all",
     "msgpack-without-params", "truncated"],
)
def test_garbage_file(tmp_path, content):
    path = tmp_path / "bad.msgpack"
    if content == "msgpack-without-params":
        from flax import serialization
        content = serialization.msgpack_serialize({"weights": np.zeros(3)})
    elif content == "truncated":
        jaxdl.save_checkpoint(path, params=_training_state()[0])
        content = path.read_bytes()[:-20]
    path.write_bytes(content)
    with pytest.raises(ValueError, match="load_checkpoint: .*bad.msgpack"):
        jaxdl.load_checkpoint(path)


def test_target_mismatch(tmp_path):
    params = _training_state()[0]
    jaxdl.save_checkpoint(tmp_path / "c", params=params)
    other = jaxdl.serial(jaxdl.Dense(4), jaxdl.Dense(2)).init(jax.random.key(0), (3,))[1]
    with pytest.raises(ValueError,
                       match="load_checkpoint: 'params' in .* does not match the target"):
        jaxdl.load_checkpoint(tmp_path / "c", target={"params": other})
    with pytest.raises(ValueError, match="load_checkpoint: .* has no 'opt_state'"):
        jaxdl.load_checkpoint(tmp_path / "c", target={"opt_state": ()})


def test_no_pickle(tmp_path, monkeypatch):
    params, state, opt_state, history = _training_state()

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("dumps", "dump", "loads", "load"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(pickle, "Pickler", forbidden)
    jaxdl.save_checkpoint(tmp_path / "c", params=params, state=state, opt_state=opt_state,
                          history=history)
    out = jaxdl.load_checkpoint(tmp_path / "c", target={"params": params, "opt_state": opt_state})
    _assert_bit_exact(out["params"], params)
    assert b"optax" not in (tmp_path / "c").read_bytes()  # no class references stored
