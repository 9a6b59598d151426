"""Checkpoints: params, state, optimiser state and history in one msgpack file.

Written atomically (a temporary file in the same folder, flushed and fsynced, then
``os.replace``), so a crash mid-write leaves the previous checkpoint intact. Read back
with ``flax.serialization``'s msgpack decoder: no pickle, nothing executed on load.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from jaxdl.core import Params, State

__all__ = ["save_checkpoint", "load_checkpoint"]


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
    """Saves a training checkpoint atomically.

    Args:
      path: the file to write (its folder is created).
      params: the model parameters (any pytree of arrays: dicts, tuples, named tuples).
      state: the model state.
      opt_state: the Optax optimiser state.
      history: ``fit``'s history (lists of floats).
      step: a step or epoch counter.
      metadata: small JSON-serialisable extras (strings, numbers, lists, dicts), stored as
        JSON text and returned as they were given.

    Returns:
      The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"params": params, "state": state}
    if opt_state is not None:
        payload["opt_state"] = opt_state
    if history is not None:
        payload["history"] = {k: [float(v) for v in vs] for k, vs in history.items()}
    if step is not None:
        payload["step"] = int(step)
    host = jax.tree_util.tree_map(np.asarray, jax.device_get(payload))
    if metadata is not None:  # JSON text: strings, numbers, lists and dicts come back as given
        host["metadata"] = json.dumps(metadata)
    data = serialization.msgpack_serialize(serialization.to_state_dict(host))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | os.PathLike[str], target: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Loads a checkpoint written by :func:`save_checkpoint`, without pickle.

    Args:
      path: the checkpoint file.
      target: optional templates, e.g. ``{"params": params, "state": state,
        "opt_state": opt_state}`` (from ``model.init``/``optimizer.init``); each entry
        given is restored into the template's structure (tuples, named tuples), the rest
        come back as nested dicts of NumPy arrays.

    Returns:
      A dict with ``"params"``, ``"state"`` and whichever of ``"opt_state"``,
      ``"history"``, ``"step"``, ``"metadata"`` were saved.

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: the file is not a jaxdl checkpoint, or does not match ``target``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
    except Exception as e:  # msgpack raises several types for corrupt data
        raise ValueError(f"load_checkpoint: {path} is not a readable checkpoint ({e})") from e
    if not isinstance(raw, dict) or "params" not in raw:
        raise ValueError(f"load_checkpoint: {path} is not a jaxdl checkpoint (no 'params')")
    out = dict(raw)
    for name, template in (target or {}).items():
        if name not in raw:
            raise ValueError(f"load_checkpoint: {path} has no {name!r} to restore into the target")
        try:
            out[name] = serialization.from_state_dict(template, raw[name])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"load_checkpoint: {name!r} in {path} does not match the target: {e}"
                             ) from e
    if "metadata" in out:
        out["metadata"] = json.loads(out["metadata"])
    if "step" in out:
        out["step"] = int(out["step"])
    if "history" in out:
        out["history"] = {k: [float(v) for v in (vs.values() if isinstance(vs, dict) else vs)]
                          for k, vs in out["history"].items()}
    return out
