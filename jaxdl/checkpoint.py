"""Checkpoints: params, state, optimiser state and history in one checksummed file.

The file is a 52-byte header followed by a msgpack payload (Flax's serialisation: no
pickle, nothing executed on load)::

    offset  size  field
    0       8     magic b"\\x89JAXDLCK"
    8       4     format version, uint32 little-endian (2)
    12      8     payload length in bytes, uint64 little-endian
    20      32    SHA-256 of the payload
    52      ...   payload: msgpack of {"params", "state", ["opt_state"], ["history"],
                  ["step"], ["metadata"]}

:func:`load_checkpoint` checks the header, the length and the checksum before decoding,
so a corrupt or truncated file raises ``ValueError`` instead of loading wrong numbers,
and, given templates, checks every path, shape and dtype against them. Writes are atomic
(a temporary file in the same folder, fsynced, ``os.replace``d over the path, the folder
fsynced), and the temporary files of killed saves are removed by the next save to the
same folder. The format is described in ``docs/checkpoints.md``.

Arrays split over several processes (multi-host training) cannot be gathered into one
file by one process: :func:`save_sharded_checkpoint` and :func:`load_sharded_checkpoint`
write and read them through Orbax (a directory; every process writes its own shards),
with the same structure checks and a checksum of every array.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import stat
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from jax.experimental import multihost_utils

from jaxdl._checks import check_bool, check_int, check_option, show_value
from jaxdl.core import Params, State

__all__ = ["save_checkpoint", "load_checkpoint", "save_sharded_checkpoint",
           "load_sharded_checkpoint"]

_MAGIC = b"\x89JAXDLCK"
_FORMAT = 2
# magic, format version, payload length, SHA-256 of the payload
_HEADER = struct.Struct("<8sIQ32s")
_TREES = ("params", "state", "opt_state")
_ENTRIES = (*_TREES, "history", "step", "metadata")

# Temporary files: ".<name>.<host>.<pid>.<8 hex>.jaxdl-tmp", so that the next save can tell
# a killed save's leftovers (its process is gone) from a live concurrent save's file.
_TMP_SUFFIX = ".jaxdl-tmp"
_TMP_RE = re.compile(r"^\..*\.(?P<host>[A-Za-z0-9-]*)\.(?P<pid>[0-9]+)\.[0-9a-f]{8}"
                     + re.escape(_TMP_SUFFIX) + "$")
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]
_STALE_SECONDS = 24 * 3600  # any temporary file untouched this long is an orphan


# ---------------------------------------------------------------- trees to msgpack records


def _path_str(prefix: str, key: str) -> str:
    return f"{prefix}/{key}"


def _storable_dtype(dtype: np.dtype) -> bool:
    """Numbers and booleans, and ml_dtypes' (bfloat16, float8, int4): what msgpack reads back."""
    if dtype.kind in "biufc":
        return True
    return dtype.names is None and dtype.type.__module__.split(".")[0] == "ml_dtypes"


def _is_key(x: Any) -> bool:
    return (isinstance(x, jax.Array) or isinstance(x, jax.ShapeDtypeStruct)) and \
        jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _check_leaf(fn: str, where: str, x: Any) -> None:
    """``TypeError`` for a leaf that no checkpoint stores: text, a traced array, an object."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{fn}: {where} has type {type(x).__name__} ({show_value(x)}), "
                        "which a checkpoint cannot store; leaves must be arrays or numbers "
                        "(put text in metadata)")
    if isinstance(x, jax.core.Tracer):
        raise TypeError(f"{fn}: {where} is a traced array ({x.aval}); save outside jit/grad")
    if not isinstance(x, (jax.Array, np.ndarray, np.generic, bool, int, float, complex)):
        raise TypeError(f"{fn}: {where} has type {type(x).__name__}, which a checkpoint cannot "
                        "store; leaves must be arrays or numbers, in dicts (string keys), "
                        "lists, tuples or named tuples")


def _leaf_to_array(fn: str, where: str, x: Any) -> np.ndarray:
    _check_leaf(fn, where, x)
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        if not x.is_fully_replicated:
            raise ValueError(f"{fn}: {where} is split over the devices of several processes "
                             f"(shape {x.shape}, {x.sharding}), so no one process can write "
                             "it to one file; save with jaxdl.save_sharded_checkpoint (Orbax, "
                             "every process its own shards)")
        x = x.addressable_data(0)  # every process holds a whole copy: read this one's
    try:
        if _is_key(x):
            x = jax.random.key_data(x)
        arr = np.asarray(jax.device_get(x))
    except RuntimeError as e:  # e.g. an array donated to a jitted step, hence deleted
        raise ValueError(f"{fn}: {where} cannot be read from its device ({e})") from e
    if not _storable_dtype(arr.dtype):
        raise TypeError(f"{fn}: {where} is an array of dtype {arr.dtype} (shape {arr.shape}), "
                        "which a checkpoint cannot store; dtypes must be numeric or bool")
    return arr


def _to_record(fn: str, where: str, tree: Any, leaf: Any = _leaf_to_array) -> Any:
    """``tree`` as nested dicts (string keys) of ``leaf(fn, path, x)`` and ``None``, as Flax
    stores it: tuples and lists by position, named tuples by field. A ``TypeError`` names
    the first key that is not a string."""
    if tree is None:
        return None
    if isinstance(tree, dict):
        for key in tree:
            if not isinstance(key, str):
                raise TypeError(f"{fn}: {where} has the key {key!r} ({type(key).__name__}); "
                                "checkpoint keys must be strings")
        return {k: _to_record(fn, _path_str(where, k), v, leaf) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # named tuple: by field name
        return {k: _to_record(fn, _path_str(where, k), getattr(tree, k), leaf)
                for k in tree._fields}
    if isinstance(tree, (list, tuple)):
        return {str(i): _to_record(fn, _path_str(where, str(i)), v, leaf)
                for i, v in enumerate(tree)}
    if serialization.is_serializable(tree):  # other types Flax knows how to take apart
        return _to_record(fn, where, serialization.to_state_dict(tree), leaf)
    return leaf(fn, where, tree)


def _history_record(fn: str, history: Any) -> dict[str, np.ndarray]:
    if not isinstance(history, Mapping):
        raise TypeError(f"{fn}: history must be a dict of lists of numbers (fit's history), "
                        f"got {show_value(history)} ({type(history).__name__})")
    out = {}
    for key, values in history.items():
        if not isinstance(key, str):
            raise TypeError(f"{fn}: history keys must be strings, got {key!r} "
                            f"({type(key).__name__})")
        bad = isinstance(values, (str, bytes, Mapping))
        if not bad:
            try:
                arr = np.asarray(jax.device_get(values))
            except (TypeError, ValueError):
                bad = True
            else:
                bad = arr.ndim != 1 or arr.dtype.kind not in "iuf"
        if bad:
            raise TypeError(f"{fn}: history[{key!r}] must be a list of numbers, got "
                            f"{show_value(values)} ({type(values).__name__})")
        out[key] = arr.astype(np.float64)
    return out


def _step_value(fn: str, step: Any) -> int:
    if isinstance(step, (np.ndarray, jax.Array)) and step.ndim == 0 and \
            np.issubdtype(step.dtype, np.integer):
        step = int(step)
    step = check_int(fn, "step", step, min_value=0)
    if step >= 2**64:
        raise ValueError(f"{fn}: step must fit in 64 bits, got {step}")
    return step


def _check_json(fn: str, where: str, value: Any, seen: tuple[int, ...] = ()) -> None:
    """Metadata must be JSON that comes back as given (tuples come back as lists)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            raise ValueError(f"{fn}: {where} contains itself (a circular reference)")
        seen = (*seen, id(value))
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise TypeError(f"{fn}: {where} has the key {k!r} ({type(k).__name__}); "
                                    "JSON keys must be strings")
                _check_json(fn, f"{where}[{k!r}]", v, seen)
        else:
            for i, v in enumerate(value):
                _check_json(fn, f"{where}[{i}]", v, seen)
        return
    hint = "; use float(...) or int(...)" if isinstance(value, (np.generic, jax.Array,
                                                                np.ndarray)) else ""
    raise TypeError(f"{fn}: {where} has type {type(value).__name__} ({show_value(value)}), "
                    "which JSON cannot store; metadata holds None, bools, numbers, strings, lists "
                    f"and dicts with string keys{hint}")


def _check_parents(fn: str, path: Path) -> None:
    """``ValueError`` when the nearest existing parent of ``path`` is a file."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{fn}: cannot create {str(path)!r}: {str(parent)!r} is a "
                                 "file, not a folder")
            return


def _check_metadata(fn: str, metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise TypeError(f"{fn}: metadata must be a dict of JSON values, got "
                        f"{show_value(metadata)} ({type(metadata).__name__})")
    _check_json(fn, "metadata", metadata)


def _check_target(fn: str, target: Any) -> dict[str, Any]:
    """``target`` of a load: a dict whose keys name trees of a checkpoint (``{}`` for None)."""
    if target is not None and not isinstance(target, Mapping):
        raise TypeError(f"{fn}: target must be a dict such as {{'params': params, 'state': "
                        f"state, 'opt_state': opt_state}} or None, got {show_value(target)} "
                        f"({type(target).__name__})")
    for name in target or {}:
        check_option(fn, "target key", name, _TREES)
    return dict(target or {})


def _check_path(fn: str, path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {show_value(path)} "
                        f"({type(path).__name__})")
    given, path = path, Path(path)
    if str(path) == ".":  # Path("") too
        raise ValueError(f"{fn}: path must name a file, got {os.fspath(given)!r}")
    if path.is_dir():
        raise ValueError(f"{fn}: path {str(path)!r} is a directory; give a file name such as "
                         f"{str(path / 'ckpt.msgpack')!r}")
    return path


# ---------------------------------------------------------------- the atomic write


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":  # no safe probe (os.kill terminates on Windows): go by age only
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def _remove_orphans(folder: Path) -> None:
    """Removes temporary files of saves that were killed: those of this host whose process
    is gone, and any untouched for a day. Never a live save's file."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if m is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            gone = m["host"] == _HOST and not _pid_alive(int(m["pid"]))
            if gone or now - info.st_mtime > _STALE_SECONDS:
                os.unlink(entry.path)
        except OSError:  # removed meanwhile, or not ours to remove
            pass


def _write_atomically(path: Path, chunks: tuple[bytes, ...]) -> None:
    tmp = path.parent / (f".{path.name[:100]}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}"
                         f"{_TMP_SUFFIX}")
    # 0o666 minus the umask, as open(path, "w") gives a new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            if hasattr(os, "fchmod"):  # overwriting keeps the file's mode, as open(path, "w")
                try:
                    os.fchmod(f.fileno(), stat.S_IMODE(os.stat(path).st_mode))
                except FileNotFoundError:
                    pass
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    params: Params,
    state: State = (),
    opt_state: Any = None,
    history: dict[str, list[float]] | None = None,
    step: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Saves a training checkpoint atomically, with a SHA-256 checksum.

    Everything is checked before anything is written: a leaf that could not be read back
    (a string, an object, a custom class) raises ``TypeError`` naming its path. Trees may
    hold dicts with string keys, lists, tuples, named tuples (Optax's states), ``None``,
    and arrays or numbers of numeric or bool dtypes (bfloat16 included); PRNG key arrays
    are stored as their key data. The file is written to a temporary file in the same
    folder, fsynced and renamed over ``path``, so ``path`` always holds a whole checkpoint
    (the previous or the new one); temporary files left by killed saves to this folder
    are removed. The file's mode follows the umask, as with ``open(path, "w")``.

    Args:
      path: the file to write (its folder is created).
      params: the model parameters (any pytree of arrays: dicts, tuples, named tuples).
      state: the model state.
      opt_state: the Optax optimiser state.
      history: ``fit``'s history: a dict of lists of numbers (stored as float64).
      step: a step or epoch counter, a non-negative int.
      metadata: small JSON extras: a dict of None, bools, numbers, strings, lists and
        dicts with string keys, stored as JSON text and returned as given (tuples come
        back as lists).

    Returns:
      The path written.

    Raises:
      TypeError: a bad path, a leaf or key that cannot be stored, bad history, step or
        metadata.
      ValueError: ``path`` is a directory or lies under a file, a negative step, circular
        metadata.

    Example:
      >>> import jax, jaxdl, optax, tempfile, pathlib
      >>> _, params, _ = jaxdl.Dense(3).init(jax.random.key(0), (4,))
      >>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.msgpack"
      >>> jaxdl.save_checkpoint(path, params=params, opt_state=optax.adam(1e-3).init(params),
      ...                       step=10, metadata={"lr": 1e-3}) == path
      True
      >>> jaxdl.save_checkpoint(path, params={"w": "oops"})
      Traceback (most recent call last):
      ...
      TypeError: save_checkpoint: params/w has type str ('oops'), which a checkpoint ...
    """
    fn = "save_checkpoint"
    path = _check_path(fn, path)
    _check_parents(fn, path)
    for leaf in jax.tree_util.tree_leaves((params, state, opt_state)):
        if (isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer)
                and not jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
                and not leaf.is_deleted() and leaf.is_fully_addressable):
            leaf.copy_to_host_async()  # start every device-to-host copy before reading any
    record: dict[str, Any] = {"params": _to_record(fn, "params", params),
                              "state": _to_record(fn, "state", state)}
    if opt_state is not None:
        record["opt_state"] = _to_record(fn, "opt_state", opt_state)
    if history is not None:
        record["history"] = _history_record(fn, history)
    if step is not None:
        record["step"] = _step_value(fn, step)
    if metadata is not None:
        _check_metadata(fn, metadata)
        record["metadata"] = json.dumps(metadata)
    payload = serialization.msgpack_serialize(record, in_place=True)
    header = _HEADER.pack(_MAGIC, _FORMAT, len(payload), hashlib.sha256(payload).digest())
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path.parent)
    _write_atomically(path, (header, payload))
    return path


# ---------------------------------------------------------------- reading and checking


def _describe(x: Any) -> str:
    if isinstance(x, (np.ndarray, jax.ShapeDtypeStruct)):
        return f"shape {x.shape} {x.dtype}"
    if isinstance(x, dict):
        keys = ", ".join(repr(k) for k in list(x)[:6]) + (", ..." if len(x) > 6 else "")
        return f"a subtree with keys [{keys}]"
    return "None" if x is None else type(x).__name__


def _template_spec(where: str, x: Any) -> tuple[tuple[int, ...], np.dtype]:
    """The (shape, dtype) a template leaf expects in the file."""
    if _is_key(x):
        data = jax.eval_shape(jax.random.key_data, x)
        return tuple(data.shape), np.dtype(data.dtype)
    if isinstance(x, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        return tuple(x.shape), np.dtype(x.dtype)
    if isinstance(x, (bool, int, float, complex)):
        arr = np.asarray(x)
        return arr.shape, arr.dtype
    raise TypeError(f"load_checkpoint: target leaf {where} has type {type(x).__name__}; "
                    "template leaves must be arrays, numbers or jax.ShapeDtypeStruct")


def _mismatches(where: str, template: Any, stored: Any, out: list[str]) -> None:
    """Appends ``"path: expected ..., found ..."`` for every difference."""
    if isinstance(template, dict):
        if not isinstance(stored, dict):
            out.append(f"{where}: expected {_describe(template)}, found {_describe(stored)}")
            return
        for k in template:
            if k not in stored:
                out.append(f"{_path_str(where, k)}: missing from the file (the target has "
                           f"{_describe_template(template[k])})")
        for k in stored:
            if k not in template:
                out.append(f"{_path_str(where, k)}: in the file ({_describe(stored[k])}) but "
                           "not in the target")
        for k in template:
            if k in stored:
                _mismatches(_path_str(where, k), template[k], stored[k], out)
        return
    if template is None:
        if stored is not None:
            out.append(f"{where}: expected None, found {_describe(stored)}")
        return
    shape, dtype = _template_spec(where, template)
    if not isinstance(stored, (np.ndarray, jax.ShapeDtypeStruct)) or \
            tuple(stored.shape) != shape or np.dtype(stored.dtype) != dtype:
        out.append(f"{where}: expected shape {shape} {dtype}, found {_describe(stored)}")


def _describe_template(template: Any) -> str:
    if isinstance(template, dict) or template is None:
        return _describe(template)
    shape, dtype = _template_spec("?", template)
    return f"shape {shape} {dtype}"


def _check_match(fn: str, path: Path, name: str, template: Any, stored: Any) -> None:
    """``ValueError`` listing every difference between a template and the stored record
    (whose leaves are NumPy arrays or ``jax.ShapeDtypeStruct`` s)."""
    problems: list[str] = []
    _mismatches(name, _to_record(fn, name, template, lambda fn, where, x: x), stored,
                problems)
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ValueError(f"{fn}: {path} does not match target[{name!r}] ({len(problems)} "
                         f"difference{'s' if len(problems) > 1 else ''}):\n  {shown}{more}")


def _restore(fn: str, path: Path, name: str, template: Any, stored: Any) -> Any:
    _check_match(fn, path, name, template, stored)
    return _rebuild(template, stored)


def _rebuild(template: Any, stored: Any) -> Any:
    """The stored record in the template's containers, PRNG keys wrapped again."""
    restored = serialization.from_state_dict(template, stored)
    if any(_is_key(x) for x in jax.tree_util.tree_leaves(template)):
        restored = jax.tree_util.tree_map(
            lambda t, r: jax.random.wrap_key_data(r, impl=_key_impl(t)) if _is_key(t) else r,
            template, restored)
    return restored


def _key_impl(template: Any) -> Any:
    if isinstance(template, jax.Array):
        return jax.random.key_impl(template)
    found = []  # a jax.ShapeDtypeStruct: read the implementation off a traced key
    jax.eval_shape(lambda k: found.append(jax.random.key_impl(k)), template)
    return found[0]


def _read_payload(fn: str, path: Path, allow_legacy: bool) -> dict[str, Any]:
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{fn}: {path} is empty, not a jaxdl checkpoint")
    # format 1 was bare msgpack: a small map whose first key is an entry's name
    legacy = 0x80 < data[0] <= 0x8f and any(
        data[1:].startswith(bytes([0xa0 | len(k)]) + k.encode()) for k in _ENTRIES)
    if legacy and not allow_legacy:
        raise ValueError(f"{fn}: {path} is a checkpoint in jaxdl's old format 1, which has no "
                         "checksum, so its integrity cannot be verified; load it with "
                         "load_checkpoint(path, allow_legacy=True) and save it again to "
                         "upgrade it")
    if legacy:
        payload = data
    else:
        if not data.startswith(_MAGIC):
            if _MAGIC.startswith(data):
                raise ValueError(f"{fn}: {path} is corrupt: truncated to {len(data)} bytes, "
                                 f"inside the {_HEADER.size}-byte header")
            raise ValueError(f"{fn}: {path} is not a jaxdl checkpoint: it does not start with "
                             f"the header {_MAGIC!r} (it starts with {data[:8]!r})")
        if len(data) < _HEADER.size:
            raise ValueError(f"{fn}: {path} is corrupt: truncated to {len(data)} bytes, inside "
                             f"the {_HEADER.size}-byte header")
        _, version, length, digest = _HEADER.unpack_from(data)
        if version != _FORMAT:
            raise ValueError(f"{fn}: {path} is in checkpoint format {version}; this jaxdl "
                             f"reads format {_FORMAT} (and format 1 with allow_legacy=True)")
        payload = memoryview(data)[_HEADER.size:]  # no copy of a large payload
        if len(payload) != length:
            what = "truncated" if len(payload) < length else "has extra bytes"
            raise ValueError(f"{fn}: {path} is corrupt: {what} (the header records a "
                             f"{length}-byte payload, the file holds {len(payload)} bytes "
                             "after the header)")
        found = hashlib.sha256(payload).digest()
        if found != digest:
            raise ValueError(f"{fn}: {path} is corrupt: checksum mismatch (the header records "
                             f"SHA-256 {digest.hex()[:16]}..., the payload hashes to "
                             f"{found.hex()[:16]}...)")
    try:
        raw = serialization.msgpack_restore(payload)
    except Exception as e:  # msgpack raises several types for malformed data
        raise ValueError(f"{fn}: {path} is not a readable checkpoint: its payload is not "
                         f"valid msgpack ({type(e).__name__}: {e})") from e
    if not isinstance(raw, dict) or "params" not in raw or not set(raw) <= set(_ENTRIES):
        found_keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{fn}: {path} is not a jaxdl checkpoint: expected a record with "
                         f"'params' and only {', '.join(map(repr, _ENTRIES))}, found "
                         f"{found_keys}")
    return raw


def _decode_extras(fn: str, path: Path, out: dict[str, Any]) -> None:
    """history -> lists of floats, step -> int, metadata -> JSON; ValueError if malformed."""
    try:
        if "history" in out:
            hist = out["history"]
            out["history"] = {  # format 1 stored lists as {"0": ..., "1": ..., "10": ...}
                k: [float(vs[str(i)]) for i in range(len(vs))] if isinstance(vs, dict)
                else [float(v) for v in np.asarray(vs).reshape(-1)] for k, vs in hist.items()}
        if "step" in out:
            if isinstance(out["step"], (bool, float)):
                raise TypeError(f"step is a {type(out['step']).__name__}")
            out["step"] = int(out["step"])
        if "metadata" in out:
            out["metadata"] = json.loads(out["metadata"])
    except (TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{fn}: {path} is not a jaxdl checkpoint: malformed history, step or "
                         f"metadata ({e})") from e


def load_checkpoint(path: str | os.PathLike[str], target: dict[str, Any] | None = None, *,
                    allow_legacy: bool = False) -> dict[str, Any]:
    """Loads a checkpoint written by :func:`save_checkpoint`, without pickle.

    The header, length and SHA-256 checksum are verified first: a corrupt or truncated
    file raises ``ValueError`` (``"... is corrupt: checksum mismatch ..."``). Each template
    given in ``target`` is then compared with the file, both ways: every key the template
    has must be in the file and every key in the file must be in the template, with the
    same shape and dtype; all differences are listed by path (``params/dense/b``).

    Args:
      path: the checkpoint file.
      target: optional templates, e.g. ``{"params": params, "state": state,
        "opt_state": opt_state}`` (from ``model.init``/``optimizer.init``, or
        ``jax.ShapeDtypeStruct`` leaves from ``jax.eval_shape``); each entry given is
        checked and restored into the template's structure (tuples, named tuples, PRNG
        keys), the rest come back as nested dicts (string keys) of NumPy arrays.
      allow_legacy: also read files of format 1 (written by jaxdl before checksums), which
        cannot be verified.

    Returns:
      A dict with ``"params"``, ``"state"`` and whichever of ``"opt_state"``,
      ``"history"`` (lists of floats), ``"step"`` (an int), ``"metadata"`` were saved.

    Raises:
      FileNotFoundError: no file at ``path``.
      TypeError: a bad ``path`` or ``target``.
      ValueError: the file is not a jaxdl checkpoint, is corrupt or truncated, or does not
        match ``target``.

    Example:
      >>> import jax, jaxdl, tempfile, pathlib
      >>> _, params, _ = jaxdl.Dense(3).init(jax.random.key(0), (4,))
      >>> path = jaxdl.save_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "c", params=params)
      >>> jaxdl.load_checkpoint(path, target={"params": params})["params"]["w"].shape
      (4, 3)
      >>> _, other, _ = jaxdl.Dense(5).init(jax.random.key(0), (4,))
      >>> jaxdl.load_checkpoint(path, target={"params": other})
      Traceback (most recent call last):
      ...
      ValueError: load_checkpoint: ... does not match target['params'] (2 differences):
        params/w: expected shape (4, 5) float32, found shape (4, 3) float32
        params/b: expected shape (5,) float32, found shape (3,) float32
    """
    fn = "load_checkpoint"
    if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes) and \
            _is_sharded_checkpoint(Path(path)):
        raise ValueError(f"{fn}: {os.fspath(path)!r} is a sharded checkpoint (an Orbax "
                         "directory); load it with jaxdl.load_sharded_checkpoint")
    path = _check_path(fn, path)
    if not path.exists():
        raise FileNotFoundError(f"{fn}: no checkpoint at {path}")
    target = _check_target(fn, target)
    allow_legacy = check_bool(fn, "allow_legacy", allow_legacy)
    raw = _read_payload(fn, path, allow_legacy)
    out = dict(raw)
    for name, template in target.items():
        if name not in raw:
            raise ValueError(f"{fn}: {path} has no {name!r} to restore into target[{name!r}] "
                             f"(it holds {', '.join(map(repr, raw))})")
        out[name] = _restore(fn, path, name, template, raw[name])
    _decode_extras(fn, path, out)
    return out


# ---------------------------------------------------------------- sharded checkpoints (Orbax)
#
# A directory written by Orbax (the checkpoint library of the JAX ecosystem): the trees
# under "trees/" (every process writes the shards it holds), and a JSON record under
# "extras/" with history, step, metadata and a 64-bit checksum of every array, itself
# guarded by a SHA-256. Orbax's commit protocol makes the save atomic.

_SHARDED_FORMAT = "jaxdl-sharded-checkpoint"
_SHARDED_VERSION = 1
_ORBAX_MARKER = "_CHECKPOINT_METADATA"  # written by Orbax into every checkpoint directory


def _orbax() -> Any:
    import orbax.checkpoint as ocp  # imported on first use: Orbax is large

    return ocp


def _sharded_checkpointer() -> Any:
    ocp = _orbax()
    return ocp.Checkpointer(ocp.CompositeCheckpointHandler(
        trees=ocp.StandardCheckpointHandler(), extras=ocp.JsonCheckpointHandler()))


def _is_sharded_checkpoint(path: Path) -> bool:
    return path.is_dir() and (path / _ORBAX_MARKER).is_file()


def _check_directory(fn: str, directory: Any) -> Path:
    if not isinstance(directory, (str, os.PathLike)) or isinstance(directory, bytes):
        raise TypeError(f"{fn}: directory must be a str or os.PathLike, got "
                        f"{show_value(directory)} ({type(directory).__name__})")
    given, path = directory, Path(directory)
    if str(path) == ".":
        raise ValueError(f"{fn}: directory must name a checkpoint directory, got "
                         f"{os.fspath(given)!r}")
    return path.absolute()


def _sharded_leaf(fn: str, where: str, x: Any) -> jax.Array:
    """A leaf to store: a ``jax.Array`` (kept where it lies), its key data for a PRNG key;
    NumPy arrays and numbers become ``jax.Array`` s."""
    _check_leaf(fn, where, x)
    if isinstance(x, jax.Array) and x.is_deleted():
        raise ValueError(f"{fn}: {where} cannot be read from its devices (it was deleted, e.g. "
                         "donated to a jitted step; save the step's outputs)")
    if _is_key(x):
        x = jax.random.key_data(x)
    elif not isinstance(x, jax.Array):
        host = np.asarray(x)
        if not _storable_dtype(host.dtype):
            raise TypeError(f"{fn}: {where} is an array of dtype {host.dtype}, which "
                            "a checkpoint cannot store; dtypes must be numeric or bool")
        x = jnp.asarray(x)
        if np.dtype(x.dtype) != host.dtype:  # 64-bit host values without jax_enable_x64
            raise ValueError(
                f"{fn}: {where} has dtype {host.dtype} on the host, which JAX would store as "
                f"{x.dtype} (64-bit types need jax_enable_x64), so it would not load back as "
                f"saved; pass np.asarray(value, np.{x.dtype}) or use save_checkpoint, which "
                "keeps host dtypes")
    if not _storable_dtype(np.dtype(x.dtype)):
        raise TypeError(f"{fn}: {where} is an array of dtype {x.dtype} (shape {x.shape}), "
                        "which a checkpoint cannot store; dtypes must be numeric or bool")
    return x


def _flat(record: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    """``{"params/dense/w": leaf, ...}`` of a record (nested dicts, None and leaves)."""
    if isinstance(record, dict):
        for k, v in record.items():
            _flat(v, _path_str(prefix, k) if prefix else k, out)
    elif record is not None:
        out[prefix] = record
    return out


def _words(x: Any, xp: Any) -> Any:
    """``x``'s bits as uint32 words (one per element, two for 64-bit types, the low word
    first): a lossless view for every storable dtype, with NumPy (``xp=np``) on the host
    or with ``jax.numpy`` inside ``jit``."""
    if x.dtype == np.bool_:
        return x.astype(xp.uint32)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        x = xp.stack([xp.real(x), xp.imag(x)], axis=-1)
    bits = jax.dtypes.itemsize_bits(x.dtype)
    if bits < 8:  # int4, float4: every value is exact in a 32-bit type
        x = x.astype(xp.float32 if jnp.issubdtype(x.dtype, jnp.floating) else xp.int32)
        bits = 32
    word = {8: xp.uint8, 16: xp.uint16, 32: xp.uint32, 64: xp.uint32}[bits]
    if xp is np:
        w = np.ascontiguousarray(x).reshape(-1).view(word)
        w = w.reshape(*x.shape, 2) if bits == 64 else w.reshape(x.shape)
    else:  # (..., 2) for 64-bit types
        w = jax.lax.bitcast_convert_type(x, word)
    return w.astype(xp.uint32)


def _fingerprint(x: Any, xp: Any = jnp) -> Any:
    """Two uint32 sums over the words ``v_i`` at flat positions ``i``, wrapping mod 2^32:
    ``Σ v_i (2i + 1)`` and ``Σ (rot16(v_i) ^ h_i)(2 h_i + 1)`` with ``h_i = 2654435761 i``.
    Sums are exact and order-free, so the result does not depend on how the array is
    laid out over devices, and the host (NumPy) and device (``jit``) forms agree;
    changing any one bit changes the first sum (an odd multiple of a power of two below
    2^32 is never 0 mod 2^32)."""
    w = _words(x, xp)
    if xp is np:
        index = (np.arange(w.size, dtype=np.uint64) % 2**32).astype(np.uint32).reshape(w.shape)
    else:
        index = jnp.zeros(w.shape, jnp.uint32)
        stride = 1
        for axis in reversed(range(w.ndim)):
            index = index + jax.lax.broadcasted_iota(jnp.uint32, w.shape, axis) * \
                jnp.uint32(stride % 2**32)
            stride *= w.shape[axis]
    one, sixteen = xp.uint32(1), xp.uint32(16)
    first = xp.sum(w * (index + index + one), dtype=xp.uint32)
    h = index * xp.uint32(2654435761)
    rotated = (w << sixteen) | (w >> sixteen)
    second = xp.sum((rotated ^ h) * (h + h + one), dtype=xp.uint32)
    return xp.stack([first, second])


@jax.jit
def _device_fingerprints(arrays: list[jax.Array]) -> list[jax.Array]:
    return [_fingerprint(x) for x in arrays]


def _checksums(flat: Mapping[str, jax.Array]) -> dict[str, str]:
    """``{path: 16 hex digits}``: on the host for arrays this process holds whole, else by
    one jitted program per set of devices, on the devices that hold the shards (arrays
    split over processes); both give the same digits."""
    out, groups = {}, {}
    for where, x in flat.items():
        if x.is_fully_addressable:
            out[where] = np.asarray(jax.device_get(x))
        else:
            groups.setdefault(frozenset(x.sharding.device_set), []).append(where)
    for where, host in out.items():
        a, b = (int(v) for v in _fingerprint(host, np))
        out[where] = f"{a:08x}{b:08x}"
    for paths in groups.values():
        sums = _device_fingerprints([flat[p] for p in paths])
        for where, value in zip(paths, sums):
            if not value.is_fully_replicated:  # XLA split the two words: gather them
                value = multihost_utils.process_allgather(value, tiled=True)
            a, b = (int(v) for v in np.asarray(value.addressable_data(0)))
            out[where] = f"{a:08x}{b:08x}"
    return dict(sorted(out.items()))


def _record_digest(info: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()


def save_sharded_checkpoint(
    directory: str | os.PathLike[str],
    *,
    params: Params,
    state: State = (),
    opt_state: Any = None,
    history: dict[str, list[float]] | None = None,
    step: int | None = None,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Saves a checkpoint of sharded (and multi-process) arrays into a directory, with Orbax.

    The entries are those of :func:`save_checkpoint`. Every array stays where it lies:
    each process writes the shards it holds (``jax.device_get`` of a whole array is never
    needed), so arrays split over the devices of several processes can be saved; in a
    multi-process run **every process calls this function** with its own (global) arrays
    and the same other arguments, on a folder they share. NumPy leaves and numbers are
    stored as JAX arrays (``jnp.asarray``), PRNG keys as their key data.

    Integrity: a 64-bit checksum of every array, computed on the devices that hold it and
    independent of the layout, is stored with history, step and metadata in a JSON record
    guarded by a SHA-256; :func:`load_sharded_checkpoint` verifies them all. Atomicity:
    Orbax's commit protocol: the checkpoint is written into ``<directory>.orbax-checkpoint-tmp``
    and renamed into place by process 0 once every process has finished (a killed save
    leaves only that temporary folder, which the next save removes).

    Args:
      directory: the checkpoint directory to create (its parent folders are created).
      params, state, opt_state, history, step, metadata: as for :func:`save_checkpoint`.
      overwrite: replace an existing checkpoint at ``directory``. Orbax deletes it before
        writing the new one, so a crash during that save leaves neither: to keep a
        checkpoint safe at all times, save each to a new directory (``ckpt/step_{n}``).

    Returns:
      The directory written (absolute).

    Raises:
      TypeError: a leaf, key, history, step or metadata that cannot be stored (its path
        named), a bad ``directory``.
      ValueError: ``directory`` exists (without ``overwrite``) or is a file, a deleted
        (donated) array, a negative step, circular metadata.

    Example:
      >>> import jax, jaxdl, tempfile, pathlib
      >>> mesh = jaxdl.data_parallel.data_mesh()
      >>> _, params, _ = jaxdl.Dense(3).init(jax.random.key(0), (4,))
      >>> params = jaxdl.data_parallel.replicate(params, mesh)
      >>> folder = pathlib.Path(tempfile.mkdtemp()) / "step_10"
      >>> jaxdl.save_sharded_checkpoint(folder, params=params, step=10) == folder
      True
    """
    fn = "save_sharded_checkpoint"
    path = _check_directory(fn, directory)
    overwrite = check_bool(fn, "overwrite", overwrite)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{fn}: {str(path)!r} is a file, not a checkpoint directory")
        if not overwrite:
            raise ValueError(f"{fn}: {str(path)!r} already exists; save to a new directory "
                             "(e.g. one per step) or pass overwrite=True")
    _check_parents(fn, path)
    trees: dict[str, Any] = {"params": _to_record(fn, "params", params, _sharded_leaf),
                             "state": _to_record(fn, "state", state, _sharded_leaf)}
    if opt_state is not None:
        trees["opt_state"] = _to_record(fn, "opt_state", opt_state, _sharded_leaf)
    info: dict[str, Any] = {"format": _SHARDED_FORMAT, "version": _SHARDED_VERSION,
                            "trees": _skeleton(trees)}
    if history is not None:
        info["history"] = {k: [float(v) for v in vs]
                           for k, vs in _history_record(fn, history).items()}
    if step is not None:
        info["step"] = _step_value(fn, step)
    if metadata is not None:
        _check_metadata(fn, metadata)
        info["metadata"] = json.loads(json.dumps(metadata))
    info["checksums"] = _checksums(_flat(trees, "", {}))
    ocp = _orbax()
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpointer = _sharded_checkpointer()
    checkpointer.save(path, args=ocp.args.Composite(
        trees=ocp.args.StandardSave(trees),
        extras=ocp.args.JsonSave({"jaxdl": info, "sha256": _record_digest(info)})),
        force=overwrite)
    return path


def _skeleton(record: Any) -> Any:
    """A record's structure as JSON: dicts as dicts, ``None`` as null, each array as
    ``[shape, dtype name]``."""
    if isinstance(record, dict):
        return {k: _skeleton(v) for k, v in record.items()}
    if record is None:
        return None
    return [list(record.shape), np.dtype(record.dtype).name]


def _stored_specs(fn: str, path: Path, skeleton: Any) -> Any:
    """The stored structure (from :func:`_skeleton`) with ``jax.ShapeDtypeStruct`` leaves."""
    if isinstance(skeleton, dict):
        return {k: _stored_specs(fn, path, v) for k, v in skeleton.items()}
    if skeleton is None:
        return None
    try:
        shape, dtype = skeleton
        return jax.ShapeDtypeStruct(tuple(int(d) for d in shape), np.dtype(dtype))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{fn}: {path} is not a jaxdl sharded checkpoint: malformed structure "
                         f"record {skeleton!r}") from e


def _abstract(fn: str, name: str, template: Any) -> Any:
    """The restore target: the template's shapes and dtypes, its leaves' shardings (the
    first local device for leaves without one)."""
    default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

    def leaf(fn: str, where: str, t: Any) -> jax.ShapeDtypeStruct:
        shape, dtype = _template_spec(where, t)
        sharding = getattr(t, "sharding", None) if isinstance(
            t, (jax.Array, jax.ShapeDtypeStruct)) else None
        return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding or default)

    return _to_record(fn, name, template, leaf)


def _read_info(fn: str, path: Path, extras: Any) -> dict[str, Any]:
    if not isinstance(extras, Mapping) or set(extras) != {"jaxdl", "sha256"} or \
            not isinstance(extras["jaxdl"], Mapping):
        raise ValueError(f"{fn}: {path} is not a jaxdl sharded checkpoint: its 'extras' record "
                         "is not jaxdl's")
    info = dict(extras["jaxdl"])
    if _record_digest(info) != extras["sha256"]:
        raise ValueError(f"{fn}: {path} is corrupt: checksum mismatch of its record (history, "
                         "step, metadata and array checksums)")
    if info.get("format") != _SHARDED_FORMAT or info.get("version") != _SHARDED_VERSION:
        raise ValueError(f"{fn}: {path} is in format {info.get('format')!r} version "
                         f"{info.get('version')!r}; this jaxdl reads {_SHARDED_FORMAT!r} "
                         f"version {_SHARDED_VERSION}")
    return info


def load_sharded_checkpoint(directory: str | os.PathLike[str],
                            target: dict[str, Any] | None = None) -> dict[str, Any]:
    """Loads a checkpoint written by :func:`save_sharded_checkpoint`, onto the target's
    shardings.

    The record's SHA-256 is verified first; each template in ``target`` is compared with
    the stored trees both ways, as :func:`load_checkpoint` does (every path, shape and
    dtype, all differences listed); then the arrays are read, each process reading only
    the shards its devices hold, and every array's checksum is verified. In a
    multi-process run every process calls this function.

    Args:
      directory: the checkpoint directory.
      target: optional templates ``{"params": ..., "state": ..., "opt_state": ...}``
        whose leaves give shape, dtype **and placement**: a ``jax.Array`` is restored with
        its sharding, a ``jax.ShapeDtypeStruct`` with its ``sharding`` (e.g. from
        ``jax.eval_shape`` plus ``NamedSharding`` s), anything else onto the first local
        device. Entries left out come back as nested dicts of NumPy arrays.

    Returns:
      A dict with ``"params"``, ``"state"`` and whichever of ``"opt_state"``,
      ``"history"``, ``"step"``, ``"metadata"`` were saved; trees restored into a
      template hold ``jax.Array`` s in the template's containers.

    Raises:
      FileNotFoundError: no directory at ``directory``.
      TypeError: a bad ``directory`` or ``target``.
      ValueError: not a (complete) jaxdl sharded checkpoint, a failed checksum, or a
        mismatch with ``target``.

    Example:
      >>> import jax, jaxdl, tempfile, pathlib
      >>> mesh = jaxdl.data_parallel.data_mesh()
      >>> _, params, _ = jaxdl.Dense(3).init(jax.random.key(0), (4,))
      >>> params = jaxdl.data_parallel.replicate(params, mesh)
      >>> folder = jaxdl.save_sharded_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "c",
      ...                                        params=params)
      >>> restored = jaxdl.load_sharded_checkpoint(folder, target={"params": params})
      >>> restored["params"]["w"].sharding == params["w"].sharding
      True
    """
    fn = "load_sharded_checkpoint"
    path = _check_directory(fn, directory)
    if not path.exists():
        raise FileNotFoundError(f"{fn}: no checkpoint at {path}")
    if not path.is_dir():
        raise ValueError(f"{fn}: {path} is a file, not a sharded checkpoint directory (a "
                         "single-file checkpoint loads with jaxdl.load_checkpoint)")
    target = _check_target(fn, target)
    if not _is_sharded_checkpoint(path):
        unfinished = ".orbax-checkpoint-tmp" in path.name
        raise ValueError(f"{fn}: {path} is not a jaxdl sharded checkpoint" + (
            " but the temporary folder of a save that did not finish" if unfinished else
            f" (no {_ORBAX_MARKER} file: not an Orbax checkpoint, or a save that did not "
            "finish)"))
    ocp = _orbax()
    checkpointer = _sharded_checkpointer()
    try:
        extras = checkpointer.restore(path, args=ocp.args.Composite(
            extras=ocp.args.JsonRestore()))["extras"]
    except Exception as e:  # Orbax raises many types for unreadable data
        raise ValueError(f"{fn}: {path} is not a readable sharded checkpoint "
                         f"({type(e).__name__}: {e})") from e
    info = _read_info(fn, path, extras)
    stored = _stored_specs(fn, path, info.get("trees"))
    if not isinstance(stored, dict) or "params" not in stored or not set(stored) <= set(_TREES):
        raise ValueError(f"{fn}: {path} is not a jaxdl sharded checkpoint: its record holds "
                         f"no trees 'params', 'state' and 'opt_state'")
    for name, template in target.items():
        if name not in stored:
            raise ValueError(f"{fn}: {path} has no {name!r} to restore into target[{name!r}] "
                             f"(it holds {', '.join(map(repr, stored))})")
        _check_match(fn, path, name, template, stored[name])
    default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = {name: _abstract(fn, name, target[name]) if name in target else
                jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype,
                                                                      sharding=default),
                                       stored[name])
                for name in stored}
    try:
        trees = checkpointer.restore(path, args=ocp.args.Composite(
            trees=ocp.args.StandardRestore(abstract)))["trees"]
    except Exception as e:
        raise ValueError(f"{fn}: {path} is corrupt: its arrays cannot be read "
                         f"({type(e).__name__}: {e})") from e
    found = _checksums(_flat(trees, "", {}))
    expected = info["checksums"]
    bad = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
    if bad:
        raise ValueError(f"{fn}: {path} is corrupt: checksum mismatch of {len(bad)} "
                         f"array{'s' if len(bad) > 1 else ''} ({', '.join(bad[:5])}"
                         f"{', ...' if len(bad) > 5 else ''})")
    out: dict[str, Any] = {}
    for name in stored:
        if name in target:
            out[name] = _rebuild(target[name], trees[name])
        else:
            out[name] = jax.tree_util.tree_map(np.asarray, trees[name])
    for key in ("history", "step", "metadata"):
        if key in info:
            out[key] = info[key]
    return out
