"""Tests for jaxdl.checkpoint: exact round trips, template checks, checksums, atomic writes.

Params are built layer by layer (``Dense(...).init``) into dicts keyed by layer name, the
protocol-2 layout, without relying on a combinator's container.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import serialization

import jaxdl
from jaxdl import checkpoint

OPT = optax.adam(1e-3)
HEADER = 52  # magic 8, version 4, length 8, SHA-256 32


def _init_params(seed=0, hidden=4, use_bias=True):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return {"dense": jaxdl.Dense(hidden, use_bias=use_bias).init(k1, (3,))[1],
            "dense_1": jaxdl.Dense(2).init(k2, (hidden,))[1]}


def _loss(params, x, y):
    h = jax.nn.relu(x @ params["dense"]["w"] + params["dense"]["b"][None, :])
    out = h @ params["dense_1"]["w"] + params["dense_1"]["b"][None, :]
    return jnp.mean((out - y) ** 2)


@jax.jit
def _train_step(params, opt_state, x, y):
    grads = jax.grad(_loss)(params, x, y)
    updates, opt_state = OPT.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def _training_state(seed=0):
    params = _init_params(seed)
    opt_state = OPT.init(params)
    # one real step, so that mu/nu/count are not all zeros
    params, opt_state = _train_step(params, opt_state, jnp.ones((2, 3)) * (seed + 1),
                                    jnp.zeros((2, 2)))
    state = {"dense": (), "dense_1": ()}
    # 12 epochs: more than 10, so that "10" sorting before "2" would show
    history = {"loss": [1 / (i + 1) for i in range(12)], "val_loss": [0.7 + 0.01 * i
                                                                     for i in range(12)]}
    return params, state, opt_state, history


def _assert_bit_exact(a, b):
    chex.assert_trees_all_equal_structs(a, b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        assert np.asarray(x).shape == np.asarray(y).shape
        assert np.array_equal(np.asarray(x), np.asarray(y))


def _temp_files(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".jaxdl-tmp"))


# ---------------------------------------------------------------- round trips


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
    assert out["step"] == 3 and isinstance(out["step"], int)


def test_metadata_and_step_round_trip(tmp_path):
    metadata = {"model": "mlp", "sizes": [4, 2], "lr": 0.1, "epochs": 3, "ok": True,
                "none": None, "nested": {"optimizer": "adam"}, "nan": float("nan")}
    jaxdl.save_checkpoint(tmp_path / "c", params=_init_params(), step=np.int64(7),
                          metadata={**metadata, "shape": (4, 2)})
    out = jaxdl.load_checkpoint(tmp_path / "c")
    assert np.isnan(out["metadata"]["nan"])  # NaN != NaN: compared on its own
    del out["metadata"]["nan"], metadata["nan"]
    assert out["metadata"] == {**metadata, "shape": [4, 2]}  # tuples come back as lists
    assert out["step"] == 7 and isinstance(out["step"], int)


def test_restored_state_resumes_training(tmp_path):
    params, state, opt_state, _ = _training_state()
    jaxdl.save_checkpoint(tmp_path / "c", params=params, state=state, opt_state=opt_state)
    templates = {"params": _init_params(seed=5), "state": state,
                 "opt_state": OPT.init(_init_params(seed=5))}  # values differ, shapes match
    out = jaxdl.load_checkpoint(tmp_path / "c", target=templates)
    batch = (jnp.ones((2, 3)), jnp.zeros((2, 2)))
    _assert_bit_exact(_train_step(params, opt_state, *batch),
                      _train_step(out["params"], out["opt_state"], *batch))


def test_round_trip_without_target(tmp_path):
    params, state, opt_state, _ = _training_state()
    jaxdl.save_checkpoint(tmp_path / "c", params=params, opt_state=opt_state)
    out = jaxdl.load_checkpoint(tmp_path / "c")
    assert set(out) == {"params", "state", "opt_state"}  # only what was saved
    # nested dicts of NumPy arrays; tuples keyed by position, named tuples by field
    assert np.array_equal(out["params"]["dense"]["w"], np.asarray(params["dense"]["w"]))
    assert out["params"]["dense"]["w"].dtype == np.float32
    assert np.array_equal(out["opt_state"]["0"]["mu"]["dense_1"]["b"],
                          np.asarray(opt_state[0].mu["dense_1"]["b"]))
    assert out["state"] == {}


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_, np.uint8, np.float16,
                                   np.complex64, jnp.bfloat16, jnp.float8_e4m3fn, jnp.int4])
def test_dtypes_survive(tmp_path, dtype):
    params = {"a": np.arange(6).reshape(2, 3).astype(dtype), "s": np.array(1, dtype)}
    jaxdl.save_checkpoint(tmp_path / "c", params=params)
    _assert_bit_exact(jaxdl.load_checkpoint(tmp_path / "c", target={"params": params})["params"],
                      params)


def test_none_nodes_and_prng_keys_round_trip(tmp_path):
    # Optax states may hold None (a line search without a stored gradient) and PRNG keys
    state = {"key": jax.random.key(3), "keys": jax.random.split(jax.random.key(1), 4),
             "grad": None, "scale": jnp.float32(0.5)}
    jaxdl.save_checkpoint(tmp_path / "c", params={}, state=state)
    out = jaxdl.load_checkpoint(tmp_path / "c", target={"state": state})["state"]
    assert out["grad"] is None
    assert out["keys"].dtype == state["keys"].dtype and out["keys"].shape == (4,)
    assert np.array_equal(jax.random.key_data(out["keys"]), jax.random.key_data(state["keys"]))
    raw = jaxdl.load_checkpoint(tmp_path / "c")["state"]  # no template: the key data
    assert raw["key"].dtype == np.uint32 and raw["key"].shape == (2,) and raw["grad"] is None


def test_shape_dtype_struct_templates(tmp_path):
    params, state, opt_state, _ = _training_state()
    jaxdl.save_checkpoint(tmp_path / "c", params=params, opt_state=opt_state)
    abstract = jax.eval_shape(lambda: (_init_params(), OPT.init(_init_params())))
    out = jaxdl.load_checkpoint(tmp_path / "c", target={"params": abstract[0],
                                                        "opt_state": abstract[1]})
    _assert_bit_exact(out["params"], params)
    _assert_bit_exact(out["opt_state"], opt_state)


def test_overwrite_replaces(tmp_path):
    first, second = _training_state(0), _training_state(1)
    jaxdl.save_checkpoint(tmp_path / "c", params=first[0])
    jaxdl.save_checkpoint(tmp_path / "c", params=second[0])
    out = jaxdl.load_checkpoint(tmp_path / "c", target={"params": second[0]})
    _assert_bit_exact(out["params"], second[0])


def test_creates_parent_folders(tmp_path):
    path = jaxdl.save_checkpoint(tmp_path / "a" / "b" / "c.msgpack", params=_init_params())
    assert path.is_file()


def test_file_format_header(tmp_path):
    path = jaxdl.save_checkpoint(tmp_path / "c", params=_init_params(), step=1)
    data = path.read_bytes()
    assert data[:8] == b"\x89JAXDLCK"
    assert int.from_bytes(data[8:12], "little") == 2
    assert int.from_bytes(data[12:20], "little") == len(data) - HEADER
    assert data[20:HEADER] == hashlib.sha256(data[HEADER:]).digest()
    assert serialization.msgpack_restore(data[HEADER:])["step"] == 1  # plain msgpack


def test_no_pickle(tmp_path, monkeypatch):
    params, state, opt_state, history = _training_state()

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("dumps", "dump", "loads", "load", "Unpickler", "Pickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    jaxdl.save_checkpoint(tmp_path / "c", params=params, state=state, opt_state=opt_state,
                          history=history)
    out = jaxdl.load_checkpoint(tmp_path / "c", target={"params": params, "opt_state": opt_state})
    _assert_bit_exact(out["params"], params)
    assert b"optax" not in (tmp_path / "c").read_bytes()  # no class references stored


# ---------------------------------------------------------------- templates are checked


def _mismatch(tmp_path, saved, template, name="params"):
    jaxdl.save_checkpoint(tmp_path / "c", params=saved, opt_state=OPT.init(saved))
    with pytest.raises(ValueError) as info:
        jaxdl.load_checkpoint(tmp_path / "c", target={name: template})
    message = str(info.value)
    assert message.startswith(f"load_checkpoint: {tmp_path / 'c'} does not match "
                              f"target[{name!r}]")
    return message


def test_wider_layer_is_refused(tmp_path):
    # a Dense(3) checkpoint used to load silently into a Dense(5) template
    key = jax.random.key(0)
    saved = {"dense": jaxdl.Dense(3).init(key, (4,))[1]}
    message = _mismatch(tmp_path, saved, {"dense": jaxdl.Dense(5).init(key, (4,))[1]})
    assert "params/dense/w: expected shape (4, 5) float32, found shape (4, 3) float32" in message
    assert "params/dense/b: expected shape (5,) float32, found shape (3,) float32" in message


def test_saved_bias_is_not_dropped(tmp_path):
    # a template without a bias used to drop the saved one silently
    message = _mismatch(tmp_path, _init_params(), _init_params(use_bias=False))
    assert "params/dense/b: in the file (shape (4,) float32) but not in the target" in message
    assert "dense_1" not in message  # only the differences are listed


def test_missing_layer_is_refused(tmp_path):
    saved = _init_params()
    template = {**saved, "dense_2": {"w": jnp.zeros((2, 1)), "b": jnp.zeros((1,))}}
    message = _mismatch(tmp_path, saved, template)
    assert "params/dense_2: missing from the file (the target has a subtree with keys " \
           "['w', 'b'])" in message


def test_dtype_mismatch_is_refused(tmp_path):
    saved = _init_params()
    template = jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16), saved)
    message = _mismatch(tmp_path, saved, template)
    assert "params/dense/w: expected shape (3, 4) bfloat16, found shape (3, 4) float32" in message
    assert "(4 differences)" in message


def test_leaf_where_a_subtree_was_saved(tmp_path):
    saved = _init_params()
    message = _mismatch(tmp_path, saved, {**saved, "dense": jnp.zeros(3)})
    assert "params/dense: expected shape (3,) float32, found a subtree with keys ['w', 'b']" \
        in message


def test_opt_state_of_another_optimizer_is_refused(tmp_path):
    saved = _init_params()
    message = _mismatch(tmp_path, saved, optax.sgd(0.1, momentum=0.9).init(saved), "opt_state")
    assert "opt_state/0/trace: missing from the file" in message
    assert "opt_state/0/count: in the file (shape () int32) but not in the target" in message


def test_target_entry_not_saved(tmp_path):
    jaxdl.save_checkpoint(tmp_path / "c", params=_init_params())
    with pytest.raises(ValueError, match=r"load_checkpoint: .*c has no 'opt_state' to restore "
                                         r"into target\['opt_state'\] \(it holds 'params', "
                                         r"'state'\)"):
        jaxdl.load_checkpoint(tmp_path / "c", target={"opt_state": ()})


# ---------------------------------------------------------------- corruption is detected


def _small_checkpoint(path):
    _, params, _ = jaxdl.Dense(2).init(jax.random.key(0), (3,))
    return jaxdl.save_checkpoint(path, params={"dense": params}, step=5,
                                 history={"loss": [0.5, 0.25]}, metadata={"lr": 0.1})


_KINDS = ("not a jaxdl checkpoint", "in checkpoint format", "corrupt: truncated",
          "corrupt: has extra bytes", "corrupt: checksum mismatch")


def test_every_single_bit_flip_is_detected(tmp_path):
    good = _small_checkpoint(tmp_path / "good.msgpack").read_bytes()
    path = tmp_path / "flipped.msgpack"
    counts = dict.fromkeys(_KINDS, 0)
    for bit in range(len(good) * 8):
        data = bytearray(good)
        data[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(data))
        with pytest.raises(ValueError) as info:
            jaxdl.load_checkpoint(path)
        message = str(info.value)
        assert message.startswith(f"load_checkpoint: {path} is ")
        kind = next(k for k in _KINDS if k in message)
        counts[kind] += 1
        field = bit // 8  # magic, format version, payload length, then checksum and payload
        expected = (_KINDS[:1] if field < 8 else _KINDS[1:2] if field < 12
                    else _KINDS[2:4] if field < 20 else _KINDS[4:])
        assert kind in expected, (bit, message)
    assert len(good) * 8 >= 1600  # every bit of a ~200-byte file was flipped above
    assert all(counts.values()), counts  # and every field of the file was hit
    print(f"{len(good) * 8} single-bit flips of a {len(good)}-byte file, all refused: {counts}")


def test_every_truncation_and_extension_is_detected(tmp_path):
    good = _small_checkpoint(tmp_path / "good").read_bytes()
    path = tmp_path / "bad"
    for n in range(len(good)):
        path.write_bytes(good[:n])
        with pytest.raises(ValueError, match=f"load_checkpoint: {re.escape(str(path))} is "):
            jaxdl.load_checkpoint(path)
    path.write_bytes(good + b"\x00")
    with pytest.raises(ValueError, match="is corrupt: has extra bytes"):
        jaxdl.load_checkpoint(path)


def _save_format_1(path, params, history, step, metadata):
    """What save_checkpoint wrote before checksums: bare msgpack, no header."""
    payload = {"params": params, "state": (), "step": step,
               "history": {k: [float(v) for v in vs] for k, vs in history.items()}}
    host = jax.tree_util.tree_map(np.asarray, jax.device_get(payload))
    host["metadata"] = json.dumps(metadata)
    path.write_bytes(serialization.msgpack_serialize(serialization.to_state_dict(host)))


def test_format_1_files_are_refused_unless_allowed(tmp_path):
    params, path = _init_params(), tmp_path / "old.msgpack"
    history = {"loss": [1.0 / (i + 1) for i in range(12)]}  # > 10: "10" sorts before "2"
    _save_format_1(path, params, history, 2, {"a": 1})
    with pytest.raises(ValueError, match=r"old format 1, which has no checksum.*"
                                         r"allow_legacy=True"):
        jaxdl.load_checkpoint(path)
    out = jaxdl.load_checkpoint(path, target={"params": params}, allow_legacy=True)
    _assert_bit_exact(out["params"], params)
    assert out["history"] == history and out["step"] == 2 and out["metadata"] == {"a": 1}
    jaxdl.save_checkpoint(path, **{k: out[k] for k in ("params", "history", "step")})
    assert path.read_bytes()[:8] == b"\x89JAXDLCK"  # upgraded to format 2


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="load_checkpoint: no checkpoint at"):
        jaxdl.load_checkpoint(tmp_path / "nope.msgpack")


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01garbage\xff" * 10, b"not a checkpoint at all", b"\x89JAXD",
     "msgpack-without-params", "truncated"],
)
def test_garbage_file(tmp_path, content):
    path = tmp_path / "bad.msgpack"
    if content == "msgpack-without-params":
        content = serialization.msgpack_serialize({"weights": np.zeros(3)})
    elif content == "truncated":
        content = _small_checkpoint(path).read_bytes()[:-20]
    path.write_bytes(content)
    with pytest.raises(ValueError, match="load_checkpoint: .*bad.msgpack"):
        jaxdl.load_checkpoint(path)


# ---------------------------------------------------------------- unstorable trees


@pytest.mark.parametrize("leaf, where, what", [
    ("relu", "params/dense/act", "has type str ('relu')"),
    (b"\x00", "params/dense/act", "has type bytes"),
    (np.array(["a", "b"]), "params/dense/act", "dtype <U1"),
    (np.array([1.0, None]), "params/dense/act", "dtype object"),
    (object(), "params/dense/act", "has type object"),
    (jaxdl.Dense, "params/dense/act", "has type function"),
])
def test_unstorable_leaves_are_refused_before_writing(tmp_path, leaf, where, what):
    path = tmp_path / "sub" / "c"
    params = _init_params()
    params["dense"]["act"] = leaf
    with pytest.raises(TypeError, match=re.escape(f"save_checkpoint: {where} ") + ".*"
                                        + re.escape(what)):
        jaxdl.save_checkpoint(path, params=params)
    assert not path.parent.exists()  # nothing written, not even the folder
    jaxdl.save_checkpoint(path, params=_init_params())
    before = path.read_bytes()
    with pytest.raises(TypeError):
        jaxdl.save_checkpoint(path, params=params)
    assert path.read_bytes() == before and _temp_files(path.parent) == []


# ---------------------------------------------------------------- atomic writes and faults


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


@pytest.mark.parametrize("where", ["write", "disk-full", "fsync", "replace"])
def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch, where):
    path = tmp_path / "ckpt.msgpack"
    first, second = _training_state(0), _training_state(1)
    jaxdl.save_checkpoint(path, params=first[0], opt_state=first[2], history=first[3])
    saved_bytes = path.read_bytes()

    def crash(*args, **kwargs):
        raise _Crash(f"simulated crash in {where}")

    def disk_full(real_fdopen):
        def fdopen(fd, *args, **kwargs):
            f = real_fdopen(fd, *args, **kwargs)

            def write(data):
                raise OSError(28, "No space left on device")

            f.write = write
            return f
        return fdopen

    if where == "write":
        monkeypatch.setattr(checkpoint.os, "fdopen", _half_writing_fdopen(os.fdopen))
    elif where == "disk-full":
        monkeypatch.setattr(checkpoint.os, "fdopen", disk_full(os.fdopen))
    else:
        monkeypatch.setattr(checkpoint.os, where, crash)
    with pytest.raises(OSError if where == "disk-full" else _Crash):
        jaxdl.save_checkpoint(path, params=second[0], opt_state=second[2], history=second[3])
    monkeypatch.undo()

    assert path.read_bytes() == saved_bytes
    out = jaxdl.load_checkpoint(path, target={"params": first[0], "opt_state": first[2]})
    _assert_bit_exact(out["params"], first[0])
    _assert_bit_exact(out["opt_state"], first[2])
    assert out["history"] == first[3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.msgpack"]  # no temp files left


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(os.name != "posix", reason="process probes are POSIX-only")
def test_orphan_temp_files_are_removed_and_live_ones_kept(tmp_path):
    host = checkpoint._HOST
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f".c.{host}.{_dead_pid()}.0123abcd.jaxdl-tmp",        # a killed save
            "dead_other_ckpt": f".other.msgpack.{host}.{_dead_pid()}.89abcdef.jaxdl-tmp",
            "live_here": f".c.{host}.{os.getpid()}.00000000.jaxdl-tmp",    # this process
            "live_other": f".c.{host}.{sleeper.pid}.11111111.jaxdl-tmp",   # a concurrent save
            "other_host": ".c.elsewhere.1.22222222.jaxdl-tmp",              # can't probe: age
            "other_host_old": ".c.elsewhere.1.33333333.jaxdl-tmp",
            "not_ours": ".c.12345.tmp",
            "not_ours_either": "notes.jaxdl-tmp.txt",
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"partial")
        old = time.time() - 2 * 24 * 3600
        os.utime(tmp_path / names["other_host_old"], (old, old))
        jaxdl.save_checkpoint(tmp_path / "c", params=_init_params())
        left = {p.name for p in tmp_path.iterdir()}
        removed = {k for k, v in names.items() if v not in left}
        assert removed == {"dead", "dead_other_ckpt", "other_host_old"}
        assert "c" in left
    finally:
        sleeper.kill()
        sleeper.wait()


_SAVER = """
import sys
import numpy as np
from jaxdl.checkpoint import save_checkpoint
path, n, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
while True:
    step += 1
    save_checkpoint(path, params={"w": np.full(n, step, np.float32)}, step=step)
    print(step, flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX-only")
def test_killed_saves_leave_a_loadable_file_and_no_orphans(tmp_path):
    """SIGKILLs a process that saves a 16 MB checkpoint in a loop, up to 6 times (at least 3,
    within about 12 s): at random moments, and just after its temporary file appears."""
    n = 4_000_000
    path = tmp_path / "big.msgpack"
    jaxdl.save_checkpoint(path, params={"w": np.zeros(n, np.float32)}, step=0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(jaxdl.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    rng = np.random.default_rng(0)
    start = time.monotonic()
    orphans, steps = 0, []
    for i in range(6):
        if i >= 3 and time.monotonic() - start > 9:
            break
        step = jaxdl.load_checkpoint(path)["step"]
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), str(n), str(step)],
                                stdout=subprocess.PIPE, env=env)
        try:
            assert proc.stdout.readline() == b"ready\n"
            if i % 2:  # just after the temporary file appears: mid-write for sure
                while not _temp_files(tmp_path) and time.monotonic() - start < 30:
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, 0.01))
            else:
                time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        orphans += len(_temp_files(tmp_path))
        out = jaxdl.load_checkpoint(path)  # the previous or the new checkpoint, whole
        w = out["params"]["w"]
        assert w.shape == (n,) and w[0] == w[-1] == out["step"]
        steps.append(out["step"])
        # the next save removes the killed save's temporary file
        jaxdl.save_checkpoint(path, params={"w": np.full(n, out["step"], np.float32)},
                              step=out["step"])
        assert _temp_files(tmp_path) == []
    assert orphans >= 1  # some kills did land mid-write
    print(f"{len(steps)} kills in {time.monotonic() - start:.1f} s: {orphans} left a temporary "
          f"file (removed by the next save); step at each kill {steps}")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_file_mode_follows_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = jaxdl.save_checkpoint(tmp_path / "c", params=_init_params())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_overwrite_keeps_the_file_mode(tmp_path):
    path = jaxdl.save_checkpoint(tmp_path / "c", params=_init_params())
    path.chmod(0o640)
    jaxdl.save_checkpoint(path, params=_init_params(1))
    assert path.stat().st_mode & 0o777 == 0o640



# ------------------------------------------------------------------ sharded checkpoints
# (Orbax; here on one device: tests/test_data_parallel.py and tests/test_distributed.py
# run them on four devices and over two processes)


def test_sharded_round_trip_restores_structure_keys_and_extras(tmp_path):
    params, state, opt_state, _ = _training_state()
    trees = {"params": {**params, "key": jax.random.key(3), "count": np.int32(7)},
             "state": state, "opt_state": opt_state}
    folder = jaxdl.save_sharded_checkpoint(tmp_path / "ckpt", **trees, step=4,
                                           history={"loss": [1.0, 0.5]},
                                           metadata={"lr": 1e-3, "layers": (3, 4)})
    assert folder == (tmp_path / "ckpt").absolute()
    back = jaxdl.load_sharded_checkpoint(folder, target=trees)
    assert jax.tree_util.tree_structure(back["opt_state"]) == \
        jax.tree_util.tree_structure(opt_state)
    assert jax.dtypes.issubdtype(back["params"]["key"].dtype, jax.dtypes.prng_key)
    chex.assert_trees_all_equal(jax.random.key_data(back["params"]["key"]),
                                jax.random.key_data(trees["params"]["key"]))
    chex.assert_trees_all_equal({k: v for k, v in back["params"].items() if k != "key"},
                                {k: v for k, v in trees["params"].items() if k != "key"})
    chex.assert_trees_all_equal(back["opt_state"], opt_state)
    assert (back["step"], back["history"], back["metadata"]) == \
        (4, {"loss": [1.0, 0.5]}, {"lr": 1e-3, "layers": [3, 4]})
    # without a target: nested dicts of NumPy arrays, as load_checkpoint gives
    raw = jaxdl.load_sharded_checkpoint(folder)
    assert isinstance(raw["params"]["dense"]["w"], np.ndarray)
    assert sorted(raw) == ["history", "metadata", "opt_state", "params", "state", "step"]


def test_sharded_save_refuses_before_writing(tmp_path):
    params = _init_params()
    with pytest.raises(TypeError, match="save_sharded_checkpoint: params/act has type str"):
        jaxdl.save_sharded_checkpoint(tmp_path / "bad", params={**params, "act": "relu"})
    assert not (tmp_path / "bad").exists()
    jaxdl.save_sharded_checkpoint(tmp_path / "c", params=params, step=1)
    with pytest.raises(ValueError, match="save_sharded_checkpoint: .* already exists; save to "
                                         "a new directory .* or pass overwrite=True"):
        jaxdl.save_sharded_checkpoint(tmp_path / "c", params=params, step=2)
    jaxdl.save_sharded_checkpoint(tmp_path / "c", params=params, step=2, overwrite=True)
    assert jaxdl.load_sharded_checkpoint(tmp_path / "c")["step"] == 2
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a checkpoint directory"):
        jaxdl.save_sharded_checkpoint(tmp_path / "file", params=params)
    with pytest.raises(TypeError, match="save_sharded_checkpoint: directory must be a str"):
        jaxdl.save_sharded_checkpoint(b"c", params=params)
    donated = jnp.ones(3)
    donated.delete()
    with pytest.raises(ValueError, match="params/w cannot be read from its devices"):
        jaxdl.save_sharded_checkpoint(tmp_path / "d", params={"w": donated})
    # 64-bit host values would be stored narrowed (no jax_enable_x64): refused, not changed
    with pytest.raises(ValueError, match=r"params/w has dtype float64 on the host, which JAX "
                                         r"would store as float32"):
        jaxdl.save_sharded_checkpoint(tmp_path / "e", params={"w": np.ones(3, np.float64)})
    with pytest.raises(ValueError, match=r"params/n has dtype int64 on the host"):
        jaxdl.save_sharded_checkpoint(tmp_path / "e", params={"n": 3})
    assert not (tmp_path / "e").exists()


def test_sharded_load_checks_structure_integrity_and_kind(tmp_path):
    params = _init_params()
    folder = jaxdl.save_sharded_checkpoint(tmp_path / "c", params=params, step=1)
    big = {"table": jnp.arange(4096.0).reshape(64, 64)}
    flipped = jaxdl.save_sharded_checkpoint(tmp_path / "flipped", params=big)
    with pytest.raises(ValueError, match=re.escape(
            "does not match target['params'] (2 differences):\n"
            "  params/dense/w: expected shape (3, 5) float32, found shape (3, 4) float32\n"
            "  params/dense/b: expected shape (5,) float32, found shape (4,) float32")):
        jaxdl.load_sharded_checkpoint(folder, target={"params": {
            **params, "dense": jaxdl.Dense(5).init(jax.random.key(0), (3,))[1]}})
    with pytest.raises(ValueError, match="has no 'opt_state' to restore"):
        jaxdl.load_sharded_checkpoint(folder, target={"opt_state": OPT.init(params)})
    with pytest.raises(ValueError, match="unknown target key='parms'"):
        jaxdl.load_sharded_checkpoint(folder, target={"parms": params})
    # the record (history, step, metadata, checksums) is guarded by its SHA-256
    record = next((folder / "extras").glob("*.json"), None) or next(
        p for p in (folder / "extras").rglob("*") if p.is_file())
    text = record.read_text()
    record.write_text(text.replace('"step": 1', '"step": 2'))
    with pytest.raises(ValueError, match="is corrupt: checksum mismatch of its record"):
        jaxdl.load_sharded_checkpoint(folder)
    record.write_text(text)
    # one flipped bit amid the stored numbers decodes fine: the checksums refuse it
    data = max((p for p in (flipped / "trees").rglob("*") if p.parent.name == "d"),
               key=lambda p: p.stat().st_size)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x08
    data.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=re.escape(
            "is corrupt: checksum mismatch of 1 array (params/table)")):
        jaxdl.load_sharded_checkpoint(flipped, target={"params": big})
    # the wrong kind of checkpoint, either way round, says which loader to use
    with pytest.raises(ValueError, match="is a sharded checkpoint .*jaxdl.load_sharded_checkpoint"):
        jaxdl.load_checkpoint(folder)
    single = jaxdl.save_checkpoint(tmp_path / "one.ckpt", params=params)
    with pytest.raises(ValueError, match="is a file, not a sharded checkpoint directory .* "
                                         "jaxdl.load_checkpoint"):
        jaxdl.load_sharded_checkpoint(single)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="is not a jaxdl sharded checkpoint .*no "
                                         "_CHECKPOINT_METADATA"):
        jaxdl.load_sharded_checkpoint(tmp_path / "plain")
    with pytest.raises(FileNotFoundError, match="load_sharded_checkpoint: no checkpoint at"):
        jaxdl.load_sharded_checkpoint(tmp_path / "missing")


def test_checksums_are_layout_free_and_see_every_bit():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(3, 5)).astype(np.float32),
              rng.normal(size=(4,)).astype(jnp.bfloat16),
              (rng.normal(size=(2, 3)) + 1j).astype(np.complex64),
              rng.integers(-5, 5, (7,)).astype(np.int8), np.array(True)]
    on_device = checkpoint._device_fingerprints([jnp.asarray(a) for a in arrays])
    for a, d in zip(arrays, on_device):  # host (NumPy) and device (jit) forms agree
        np.testing.assert_array_equal(checkpoint._fingerprint(a, np), np.asarray(d))
    x = arrays[0]
    base = checkpoint._fingerprint(x, np)
    words = x.view(np.uint32).reshape(-1)
    for i in range(words.size):  # every single-bit flip changes the checksum
        for bit in (0, 13, 31):
            y = words.copy()
            y[i] ^= np.uint32(1 << bit)
            assert not np.array_equal(checkpoint._fingerprint(y.view(np.float32), np), base)
    # the same numbers, transposed, are another array
    assert not np.array_equal(checkpoint._fingerprint(np.ascontiguousarray(x.T), np), base)
