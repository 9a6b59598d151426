"""Bad input to save_checkpoint / load_checkpoint: the right exception, a message that
starts with the function's name and shows the value or tree path received."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import serialization

import jaxdl


def _dense(units=3, **kwargs):
    return jaxdl.Dense(units, **kwargs).init(jax.random.key(0), (4,))[1]


def _saved(tmp_path: Path) -> Path:
    return jaxdl.save_checkpoint(tmp_path / "ckpt.msgpack", params={"dense": _dense()},
                                 step=1, metadata={"lr": 0.1})


def _save(**kwargs):
    kwargs.setdefault("params", {"dense": _dense()})
    return lambda tmp_path: jaxdl.save_checkpoint(tmp_path / "c.msgpack", **kwargs)


def _save_to(make_path):
    return lambda tmp_path: jaxdl.save_checkpoint(make_path(tmp_path), params={"dense": _dense()})


def _load_bytes(change):
    """Saves a good checkpoint, rewrites its bytes with ``change``, loads it."""
    def run(tmp_path):
        path = _saved(tmp_path)
        path.write_bytes(change(path.read_bytes()))
        return jaxdl.load_checkpoint(path)
    return run


def _load(target=None, **kwargs):
    return lambda tmp_path: jaxdl.load_checkpoint(_saved(tmp_path), target, **kwargs)


def _flip(data: bytes, offset: int) -> bytes:
    data = bytearray(data)
    data[offset] ^= 0x01
    return bytes(data)


@dataclasses.dataclass
class _Opaque:
    w: int = 1


_circular: dict = {"name": "run"}
_circular["self"] = _circular

SAVE = "save_checkpoint: "
LOAD = "load_checkpoint: "

CASES = [
    # ---- save_checkpoint: the path
    pytest.param(_save_to(lambda d: 3), TypeError, [SAVE, "path", "got 3 (int)"], id="path-int"),
    pytest.param(_save_to(lambda d: str(d / "c").encode()), TypeError, [SAVE, "b'/", "bytes"],
                 id="path-bytes"),
    pytest.param(_save_to(lambda d: None), TypeError, [SAVE, "got None"], id="path-none"),
    pytest.param(_save_to(lambda d: ""), ValueError, [SAVE, "path must name a file", "got ''"],
                 id="path-empty"),
    pytest.param(_save_to(lambda d: d), ValueError, [SAVE, "is a directory", "{tmp}"],
                 id="path-directory"),
    pytest.param(_save_to(lambda d: (d / "f").write_text("x") and d / "f" / "c"), ValueError,
                 [SAVE, "{tmp}/f", "is a file, not a folder"], id="path-under-a-file"),
    # ---- save_checkpoint: trees
    pytest.param(_save(params={"dense": {**_dense(), "act": "relu"}}), TypeError,
                 [SAVE, "params/dense/act", "str ('relu')"], id="params-string-leaf"),
    pytest.param(_save(state={"bn": {"mean": np.array(["a"])}}), TypeError,
                 [SAVE, "state/bn/mean", "dtype <U1"], id="state-string-array"),
    pytest.param(_save(opt_state=(optax.EmptyState(), {"w": np.array([1.0, None])})), TypeError,
                 [SAVE, "opt_state/1/w", "dtype object"], id="opt-state-none-in-array"),
    pytest.param(_save(params={"dense": _Opaque()}), TypeError,
                 [SAVE, "params/dense", "_Opaque"], id="params-custom-object"),
    pytest.param(_save(params={0: _dense()}), TypeError, [SAVE, "params", "key 0 (int)"],
                 id="params-int-key"),
    # ---- save_checkpoint: history, step, metadata
    pytest.param(_save(history=[0.5, 0.4]), TypeError, [SAVE, "history", "[0.5, 0.4] (list)"],
                 id="history-list"),
    pytest.param(_save(history={"loss": "0.5"}), TypeError, [SAVE, "history['loss']", "'0.5'"],
                 id="history-string-values"),
    pytest.param(_save(history={"loss": [0.5, None]}), TypeError,
                 [SAVE, "history['loss']", "[0.5, None]"], id="history-none-value"),
    pytest.param(_save(history={1: [0.5]}), TypeError, [SAVE, "history keys", "1 (int)"],
                 id="history-int-key"),
    pytest.param(_save(step="3"), TypeError, [SAVE, "step", "'3' (str)"], id="step-str"),
    pytest.param(_save(step=1.5), TypeError, [SAVE, "step", "1.5 (float)"], id="step-float"),
    pytest.param(_save(step=True), TypeError, [SAVE, "step", "True (bool)"], id="step-bool"),
    pytest.param(_save(step=-1), ValueError, [SAVE, "step", "got -1"], id="step-negative"),
    pytest.param(_save(metadata="note"), TypeError, [SAVE, "metadata", "'note' (str)"],
                 id="metadata-not-dict"),
    pytest.param(_save(metadata={"lr": np.float32(0.1)}), TypeError,
                 [SAVE, "metadata['lr']", "float32", "float(...)"], id="metadata-numpy-scalar"),
    pytest.param(_save(metadata={"tags": {"mlp"}}), TypeError,
                 [SAVE, "metadata['tags']", "set ({'mlp'})"], id="metadata-set"),
    pytest.param(_save(metadata={"sizes": {3: 4}}), TypeError,
                 [SAVE, "metadata['sizes']", "key 3 (int)"], id="metadata-int-key"),
    pytest.param(_save(metadata=_circular), ValueError,
                 [SAVE, "metadata['self']", "circular"], id="metadata-circular"),
    # ---- load_checkpoint: the path and the file
    pytest.param(lambda d: jaxdl.load_checkpoint(3.5), TypeError, [LOAD, "path", "3.5 (float)"],
                 id="load-path-float"),
    pytest.param(lambda d: jaxdl.load_checkpoint(d), ValueError, [LOAD, "{tmp}",
                                                                  "is a directory"],
                 id="load-directory"),
    pytest.param(lambda d: jaxdl.load_checkpoint(d / "nope"), FileNotFoundError,
                 [LOAD, "no checkpoint at", "{tmp}/nope"], id="load-missing"),
    pytest.param(_load_bytes(lambda b: b""), ValueError, [LOAD, "{tmp}/ckpt.msgpack",
                                                          "is empty"], id="load-empty-file"),
    pytest.param(_load_bytes(lambda b: b"hello, world\n"), ValueError,
                 [LOAD, "{tmp}/ckpt.msgpack", "is not a jaxdl checkpoint", "b'hello, w'"],
                 id="load-text-file"),
    pytest.param(_load_bytes(lambda b: serialization.msgpack_serialize([1, 2])), ValueError,
                 [LOAD, "{tmp}/ckpt.msgpack", "is not a jaxdl checkpoint"],
                 id="load-other-msgpack"),
    pytest.param(_load_bytes(lambda b: b[:-1]), ValueError,
                 [LOAD, "{tmp}/ckpt.msgpack", "is corrupt: truncated"], id="load-truncated"),
    pytest.param(_load_bytes(lambda b: b[:30]), ValueError,
                 [LOAD, "{tmp}/ckpt.msgpack", "is corrupt: truncated", "30 bytes"],
                 id="load-truncated-header"),
    pytest.param(_load_bytes(lambda b: _flip(b, len(b) - 5)), ValueError,
                 [LOAD, "{tmp}/ckpt.msgpack", "is corrupt: checksum mismatch"],
                 id="load-bit-flip"),
    pytest.param(_load_bytes(lambda b: b[:8] + (3).to_bytes(4, "little") + b[12:]), ValueError,
                 [LOAD, "{tmp}/ckpt.msgpack", "is in checkpoint format 3"], id="load-format-3"),
    pytest.param(_load_bytes(lambda b: b[52:]), ValueError,
                 [LOAD, "{tmp}/ckpt.msgpack", "old format 1", "allow_legacy=True"],
                 id="load-format-1"),
    # ---- load_checkpoint: target
    pytest.param(_load([_dense()]), TypeError, [LOAD, "target must be a dict", "(list)"],
                 id="target-list"),
    pytest.param(_load({"parms": {"dense": _dense()}}), ValueError,
                 [LOAD, "'parms'", "did you mean 'params'"], id="target-unknown-key"),
    pytest.param(_load({"params": {"dense": _dense(5)}}), ValueError,
                 [LOAD, "target['params']", "params/dense/w: expected shape (4, 5) float32, "
                  "found shape (4, 3) float32"], id="target-shape"),
    pytest.param(_load({"params": {"dense": _dense(use_bias=False)}}), ValueError,
                 [LOAD, "params/dense/b: in the file (shape (3,) float32) but not in the "
                  "target"], id="target-extra-key-in-file"),
    pytest.param(_load({"params": {"dense": _dense(), "dense_1": _dense()}}), ValueError,
                 [LOAD, "params/dense_1: missing from the file"], id="target-missing-layer"),
    pytest.param(_load({"params": {"dense": _dense(dtype=jnp.float16)}}), ValueError,
                 [LOAD, "params/dense/w: expected shape (4, 3) float16, found shape (4, 3) "
                  "float32"], id="target-dtype"),
    pytest.param(_load({"params": _dense()}), ValueError,
                 [LOAD, "params/dense: in the file", "params/w: missing from the file"],
                 id="target-structure"),
    pytest.param(_load({"opt_state": optax.adam(0.1).init({"dense": _dense()})}), ValueError,
                 [LOAD, "{tmp}/ckpt.msgpack has no 'opt_state'"], id="target-not-saved"),
    pytest.param(_load({"params": {"dense": {"w": "w", "b": _dense()["b"]}}}), TypeError,
                 [LOAD, "target leaf params/dense/w", "str"], id="target-string-leaf"),
    pytest.param(_load(allow_legacy="yes"), TypeError, [LOAD, "allow_legacy", "'yes'"],
                 id="allow-legacy-str"),
]


@pytest.mark.parametrize("call, exc, expected", CASES)
def test_bad_input(tmp_path, call, exc, expected):
    with pytest.raises(exc) as info:
        call(tmp_path)
    message = str(info.value)
    assert message.startswith(expected[0]), message
    for part in expected[1:]:
        assert part.replace("{tmp}", str(tmp_path)) in message, message


def test_refused_saves_write_nothing(tmp_path, monkeypatch):
    for param in CASES:
        call, exc, expected = param.values
        if expected[0] == SAVE and "{tmp}" not in "".join(expected):
            folder = tmp_path / param.id
            folder.mkdir()
            monkeypatch.chdir(folder)  # a relative or odd path would land here too
            with pytest.raises(exc):
                call(folder)
            assert list(folder.iterdir()) == [], param.id
