"""Decoding: tfds records and examples into NumPy columns.

Two paths:

* **bulk** (jaxdl's own builders): a *plan* lists, per column, how its values are stored;
  :func:`decode_columns` parses each serialized ``tf.train.Example`` once with tfds's
  protobuf classes and builds each column with one NumPy call;
* **per example** (official tfds datasets): tfds decodes each example; :func:`stack_examples`
  stacks them into columns.

Either way text becomes a NumPy unicode column, and an empty selection gives empty columns
with the right dtypes and trailing shapes (:func:`empty_columns`).
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxdl.data._compat import tfds


class Column(NamedTuple):
    """How one feature column is stored and decoded in bulk.

    Attributes:
      name: the feature (column) name.
      kind: ``"str"`` (one UTF-8 bytes value), ``"raw"`` (the array's bytes, possibly
        zlib-compressed), ``"int"`` or ``"float"`` (an ``int64_list``/``float_list``).
      dtype: the column's NumPy dtype.
      shape: the per-example shape.
      encoding: tfds's ``Encoding`` value (``"none"``, ``"bytes"``, ``"zlib"``).
    """

    name: str
    kind: str
    dtype: np.dtype
    shape: tuple[int, ...]
    encoding: str


class UnsupportedFeature(ValueError):
    """A feature that the bulk decoder does not handle; the message says which and why."""


def column_plan(features: Any) -> list[Column]:
    """How to decode each feature column in bulk.

    Handles the flat ``FeaturesDict`` of fixed-shape ``Tensor``/``ClassLabel``/``Text``
    features that jaxdl's builders write.

    Raises:
      UnsupportedFeature: a feature of another kind (nested, variable shape, encoded text,
        an image codec, ...).
    """
    f_ = tfds().features
    plain = (f_.Tensor, f_.ClassLabel, f_.Text)
    if not isinstance(features, f_.FeaturesDict):
        raise UnsupportedFeature(f"the features are a {type(features).__name__}, "
                                 "not a FeaturesDict")
    plan = []
    for name, f in sorted(features.items()):
        kind_name = type(f).__name__
        if type(f) not in plain:
            raise UnsupportedFeature(f"feature {name!r} is a {kind_name}")
        if any(d is None for d in f.shape):
            raise UnsupportedFeature(f"feature {name!r} has a variable shape {f.shape}")
        if isinstance(f, f_.Text) and getattr(f, "encoder", None) is not None:
            raise UnsupportedFeature(f"feature {name!r} is text with an encoder")
        encoding = str(getattr(getattr(f, "_encoding", None), "value", "none"))
        dtype = np.dtype(f.np_dtype)
        if dtype == np.dtype(object):
            if encoding != "none" or f.shape != ():
                raise UnsupportedFeature(f"feature {name!r} holds non-scalar text")
            plan.append(Column(name, "str", dtype, (), encoding))
        elif encoding in ("bytes", "zlib"):
            plan.append(Column(name, "raw", dtype, tuple(f.shape), encoding))
        elif encoding == "none":
            kind = "float" if np.issubdtype(dtype, np.floating) else "int"
            plan.append(Column(name, kind, dtype, tuple(f.shape), encoding))
        else:
            raise UnsupportedFeature(f"feature {name!r} has the encoding {encoding!r}")
    return plan


def decode_columns(records: Sequence[bytes], plan: Sequence[Column]) -> dict[str, np.ndarray]:
    """Decodes serialized ``tf.train.Example`` records column by column, without TensorFlow.

    Equivalent to tfds's per-example ``deserialize_example_np`` followed by stacking (the
    tests check this for every builder).

    Raises:
      ValueError: a record that does not parse, or lacks a column, or holds the wrong
        number of values (a corrupt file); the caller adds the file's name.
    """
    from google.protobuf.message import DecodeError
    from tensorflow_datasets.proto import tf_example_pb2

    if not records:
        return empty_columns(plan)
    n = len(records)
    try:
        maps = [tf_example_pb2.Example.FromString(r).features.feature for r in records]
    except DecodeError as e:
        raise ValueError(f"a record is not a serialized tf.train.Example ({e})") from None
    out: dict[str, np.ndarray] = {}
    for name, kind, dtype, shape, encoding in plan:
        size = int(np.prod(shape)) if shape else 1
        try:
            feats = [m[name] for m in maps]
            if kind == "str":
                out[name] = bytes_to_str([f.bytes_list.value[0] for f in feats])
            elif kind == "raw":
                values = [f.bytes_list.value[0] for f in feats]
                if encoding == "zlib":
                    values = [zlib.decompress(v) for v in values]
                out[name] = np.frombuffer(b"".join(values), dtype=dtype).reshape(
                    (n, *shape)).copy()
            else:
                lists = [f.float_list.value if kind == "float" else f.int64_list.value
                         for f in feats]
                flat = np.fromiter(itertools.chain.from_iterable(lists),
                                   dtype=np.float32 if kind == "float" else np.int64,
                                   count=n * size)
                out[name] = flat.astype(dtype, copy=False).reshape((n, *shape))
        except (IndexError, ValueError, zlib.error) as e:
            raise ValueError(f"column {name!r} does not decode as {n} values of shape {shape} "
                             f"and dtype {dtype} ({e})") from None
    return out


def empty_columns(plan: Sequence[Column]) -> dict[str, np.ndarray]:
    """Zero-length columns with the plan's dtypes and per-example shapes."""
    return {c.name: np.zeros((0,), np.str_) if c.kind == "str"
            else np.zeros((0, *c.shape), c.dtype) for c in plan}


def empty_columns_like(features: Any) -> dict[str, np.ndarray]:
    """Zero-length columns for any tfds features (nested names joined with ``/``), as
    :func:`stack_examples` would give them: text as unicode, variable shapes as objects."""
    infos = _flatten(features.get_tensor_info()) if features is not None else {}
    out = {}
    for key, info in infos.items():
        dtype = np.dtype(info.np_dtype)  # (TensorInfo.dtype would import TensorFlow)
        shape = tuple(info.shape)
        if dtype == np.dtype(object) or dtype.kind in "SU":
            out[key] = np.zeros((0,), np.str_)
        elif any(d is None for d in shape):
            out[key] = np.empty((0,), dtype=object)
        else:
            out[key] = np.zeros((0, *shape), dtype)
    return out


def bytes_to_str(values: Sequence[Any]) -> np.ndarray:
    """UTF-8 bytes -> a NumPy unicode array (left as bytes objects if not UTF-8)."""
    try:
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values],
                        dtype=np.str_)
    except UnicodeDecodeError:
        return np.array(list(values), dtype=object)


def _flatten(example: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in example.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def stack_examples(examples: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Stacks decoded examples into columns (nested keys joined with ``/``)."""
    flat = [_flatten(e) for e in examples]
    if not flat:
        return {}
    out: dict[str, np.ndarray] = {}
    for key in flat[0]:
        values = [e[key] for e in flat]
        if isinstance(values[0], (bytes, str)):
            out[key] = bytes_to_str(values)
            continue
        arrays = [np.asarray(v) for v in values]
        if all(a.shape == arrays[0].shape for a in arrays):
            out[key] = np.stack(arrays)
        else:  # variable-length feature: an object array of per-example arrays
            col = np.empty(len(arrays), dtype=object)
            col[:] = arrays
            out[key] = col
    return out
