"""Batch iterators: shuffled host batches, host-to-device prefetch, and on-device batching.

Two ways to feed a model:

* **Host iterator** (:func:`batches`): columns stay in host memory (or on disk, for a
  :class:`~jaxdl.data.DataSource`); each epoch draws a fresh permutation from
  ``(key, epoch)`` and gathers whole columns per batch with NumPy fancy indexing.
  :func:`prefetch_to_device` overlaps the next batch's host-to-device copy with the
  current step.
* **On-device** (:func:`to_device`, :func:`device_permutation`, :func:`device_batch`):
  for datasets that fit in accelerator memory, the whole set is placed on the device
  once and batches are gathered by index inside ``jit``; an epoch becomes a single
  compiled ``lax.fori_loop``/``lax.scan`` with no host round trips.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import as_key, check_bool, check_int, is_concrete, show_value
from jaxdl.data._checks import check_columns, check_count, check_iterable

Arrays = Mapping[str, Any]
KeyLike = int | jax.Array | np.ndarray


# --------------------------------------------------------------------------- helpers


def num_examples(arrays: Arrays, *, fn: str = "jaxdl.data.num_examples") -> int:
    """The common leading length of a dict of columns.

    Args:
      arrays: ``{column: array of shape (n, ...)}``, at least one column.
      fn: the calling function's name, for error messages.

    Returns:
      ``n``.

    Raises:
      TypeError: not a dict.
      ValueError: no columns, a scalar column, or columns of different lengths.
    """
    check_columns(fn, arrays)
    if not arrays:
        raise ValueError(f"{fn}: expected a non-empty dict of arrays, got an empty "
                         f"{type(arrays).__name__}")
    lengths = {}
    for k, v in arrays.items():
        shape = np.shape(v)
        if not shape:
            raise ValueError(f"{fn}: column {k!r} is a scalar; every column needs a leading axis")
        lengths[k] = shape[0]
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{fn}: columns have different lengths: {lengths}")
    return next(iter(lengths.values()))


def num_batches(num_examples: int, batch_size: int, *, drop_remainder: bool = False) -> int:
    """Batches per epoch: ``n // batch_size`` with ``drop_remainder``, else ``ceil(n / b)``.

    Example:
      >>> num_batches(10, 4), num_batches(10, 4, drop_remainder=True)
      (3, 2)
    """
    fn = "jaxdl.data.num_batches"
    n = check_int(fn, "num_examples", num_examples, min_value=0)
    batch_size = check_count(fn, "batch_size", batch_size, min_value=1)
    if check_bool(fn, "drop_remainder", drop_remainder):
        return n // batch_size
    return math.ceil(n / batch_size)


def _seed_words(fn: str, key: KeyLike) -> list[int]:
    """A key (int seed, typed JAX key or raw uint32 key) as non-negative ints for NumPy."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if key < 0:
            raise ValueError(f"{fn}: an int key must be >= 0, got {key}")
        return [int(key) & 0xFFFFFFFF, int(key) >> 32]
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise TypeError(f"{fn}: key must be an int seed (>= 0) or a JAX PRNG key, got {key!r} "
                        f"({type(key).__name__})")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = np.asarray(key)
    if words.dtype.kind not in "ui":
        raise TypeError(f"{fn}: key must be an int seed or a JAX PRNG key, got an array of "
                        f"dtype {words.dtype}")
    if words.ndim != 1:
        raise ValueError(f"{fn}: key must be a single PRNG key (key data of shape (2,)), got "
                         f"key data of shape {words.shape}")
    return [int(w) & 0xFFFFFFFF for w in words]


def epoch_permutation(num_examples: int, *, key: KeyLike, epoch: int = 0) -> np.ndarray:
    """The order of the examples in one epoch, a pure function of ``(key, epoch)``.

    Uses NumPy's PCG64 generator seeded with the key's words and the epoch number, so the
    same key gives the same order on every machine, and every epoch a different one.

    Args:
      num_examples: ``n``.
      key: an int seed (>= 0) or a JAX PRNG key (``jax.random.key(0)`` or
        ``jax.random.PRNGKey(0)``).
      epoch: the epoch number (>= 0).

    Returns:
      int64 array of shape ``(n,)``, a permutation of ``0..n-1``.

    Example:
      >>> epoch_permutation(5, key=0, epoch=0)
      array([2, 4, 3, 0, 1])
      >>> epoch_permutation(5, key=0, epoch=1)
      array([1, 3, 4, 2, 0])
    """
    return _epoch_permutation("jaxdl.data.epoch_permutation", num_examples, key, epoch)


def _epoch_permutation(fn: str, num_examples: Any, key: Any, epoch: Any) -> np.ndarray:
    n = check_int(fn, "num_examples", num_examples, min_value=0)
    epoch = check_int(fn, "epoch", epoch, min_value=0)
    rng = np.random.default_rng([*_seed_words(fn, key), epoch])
    return rng.permutation(n)


def _is_source(data: Any) -> bool:
    return not isinstance(data, Mapping) and hasattr(data, "__len__") and (
        hasattr(data, "gather") or hasattr(data, "__getitems__") or hasattr(data, "__getitem__"))


def _check_data(fn: str, data: Any) -> int:
    """The number of examples of ``data``: a dict of columns or a random-access source."""
    if isinstance(data, Mapping):
        return num_examples(data, fn=fn)
    what = "a dict of columns {name: array (n, ...)} or a data source of example dicts"
    if isinstance(data, (str, bytes, np.ndarray, jax.Array)) or not _is_source(data):
        shape = f" of shape {np.shape(data)}" if hasattr(data, "shape") else ""
        hint = "; wrap an array as {'x': array}" if shape else ""
        raise TypeError(f"{fn}: data must be {what}, got {type(data).__name__}{shape}{hint}")
    n = len(data)
    if n and not hasattr(data, "gather"):
        first = data[0]
        if not isinstance(first, Mapping):
            raise TypeError(f"{fn}: data must be {what}; got a {type(data).__name__} whose "
                            f"first example is {type(first).__name__} "
                            f"{show_value(first, 60)}, not a dict")
    return n


def _gather_source(data: Any, idx: np.ndarray) -> dict[str, np.ndarray]:
    if hasattr(data, "gather"):
        return data.gather(idx)
    if hasattr(data, "__getitems__"):
        examples = data.__getitems__(idx.tolist())
    else:
        examples = [data[int(i)] for i in idx]
    return {k: np.stack([np.asarray(e[k]) for e in examples]) for k in examples[0]}


# --------------------------------------------------------------------------- host iterator


class BatchIterator:
    """One epoch of batches; an iterator that also knows its length (``len(it)``).

    Made by :func:`batches`; each item is ``{column: array of shape (batch, ...)}``.
    """

    def __init__(self, data: Any, order: np.ndarray | None, n: int, batch_size: int,
                 drop_remainder: bool) -> None:
        self._data = data
        self._order = order
        self._n = n
        self._batch_size = batch_size
        self._num = num_batches(n, batch_size, drop_remainder=drop_remainder)
        self._next = 0
        self._source = _is_source(data)
        self._columns = None if self._source else [
            (k, v if isinstance(v, (np.ndarray, jax.Array)) else np.asarray(v))
            for k, v in data.items()]

    def __len__(self) -> int:
        return self._num - self._next

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._next >= self._num:
            raise StopIteration
        start = self._next * self._batch_size
        stop = min(start + self._batch_size, self._n)
        self._next += 1
        if self._order is None:
            if self._source:
                return _gather_source(self._data, np.arange(start, stop))
            return {k: v[start:stop] for k, v in self._columns}  # views, no copy
        idx = self._order[start:stop]
        if self._source:
            return _gather_source(self._data, idx)
        return {k: v[idx] for k, v in self._columns}


def batches(
    data: Arrays | Any,
    batch_size: int,
    *,
    key: KeyLike | None = None,
    epoch: int = 0,
    shuffle: bool = True,
    drop_remainder: bool = False,
    prefetch_to_device: bool | int = False,
    device: jax.Device | jax.sharding.Sharding | None = None,
) -> Iterator[dict[str, Any]]:
    """Iterates over one epoch of ``data`` in batches of whole columns.

    With ``shuffle`` the order is :func:`epoch_permutation` of ``(key, epoch)``: every
    example appears exactly once per epoch, a new epoch number gives a new order, and the
    same ``(key, epoch)`` always gives the same batches. Each batch is gathered column by
    column with one NumPy fancy-indexing call (for a data source, one ``gather`` call).

    Args:
      data: ``{column: array (n, ...)}`` (e.g. from :func:`jaxdl.data.load`), or a random
        access source: a :class:`~jaxdl.data.DataSource`, or anything with ``len`` and
        ``__getitems__``/``__getitem__`` returning example dicts (a tfds data source).
      batch_size: examples per batch.
      key: int seed or JAX PRNG key; required when ``shuffle``.
      epoch: epoch number; combine with ``key`` for a fresh order each epoch.
      shuffle: permute the examples; False keeps their order (batches are then slices,
        i.e. views of the arrays, for array data).
      drop_remainder: drop the last batch if it has fewer than ``batch_size`` examples.
      prefetch_to_device: False, True (2 batches ahead) or the number of batches to keep
        in flight on the device; batches then come as ``jax.Array``.
      device: where to prefetch to (a device or sharding); default the default device.

    Returns:
      An iterator (with ``len``) of ``{column: array (batch, ...)}``; NumPy arrays, or
      ``jax.Array`` when prefetching.

    Raises:
      ValueError: bad ``batch_size``, ``epoch`` or ``key``; ``shuffle`` without ``key``;
        columns of different lengths.

    Example:
      >>> data = {"x": np.arange(10.0), "y": np.arange(10) % 2}
      >>> for epoch in range(2):
      ...     for batch in batches(data, 4, key=0, epoch=epoch, drop_remainder=True):
      ...         pass  # train_step(params, batch)
      >>> [b["x"].shape for b in batches(data, 4, key=0)]
      [(4,), (4,), (2,)]
    """
    fn = "jaxdl.data.batches"
    batch_size = check_count(fn, "batch_size", batch_size, min_value=1)
    n = _check_data(fn, data)
    drop_remainder = check_bool(fn, "drop_remainder", drop_remainder)
    if isinstance(prefetch_to_device, (bool, np.bool_)):
        size = 2 if prefetch_to_device else 0
    else:
        size = check_count(fn, "prefetch_to_device", prefetch_to_device, min_value=0,
                           what="True, False or an int")
    if check_bool(fn, "shuffle", shuffle):
        if key is None:
            raise ValueError(
                f"{fn}: shuffle=True needs key= (an int seed or a JAX PRNG key); "
                "pass shuffle=False for the stored order"
            )
        order = _epoch_permutation(fn, n, key, epoch)
    else:
        check_int(fn, "epoch", epoch, min_value=0)
        order = None
    it: Iterator[dict[str, Any]] = BatchIterator(data, order, n, batch_size, drop_remainder)
    if size:
        it = _Prefetch(it, size, device, fn)
    return it


class _Prefetch:
    """Keeps ``size`` batches in flight on the device (``device_put`` is asynchronous)."""

    def __init__(self, it: Iterator[Mapping[str, Any]], size: int, device: Any, fn: str) -> None:
        self._it = it
        self._size = size
        self._device = device
        self._fn = fn
        self._queue: collections.deque[dict[str, jax.Array]] = collections.deque()

    def _fill(self) -> None:
        while len(self._queue) < self._size:
            try:
                batch = next(self._it)
            except StopIteration:
                return
            if not isinstance(batch, Mapping):
                raise TypeError(f"{self._fn}: the iterator must yield dicts of columns, got "
                                f"{type(batch).__name__}")
            _check_numeric(self._fn, batch)
            self._queue.append(jax.device_put(dict(batch), self._device))

    def __len__(self) -> int:
        return len(self._queue) + len(self._it)  # type: ignore[arg-type]

    def __iter__(self) -> _Prefetch:
        return self

    def __next__(self) -> dict[str, jax.Array]:
        self._fill()
        if not self._queue:
            raise StopIteration
        batch = self._queue.popleft()
        self._fill()  # start copying the next batch before the caller computes on this one
        return batch


def prefetch_to_device(
    iterator: Iterator[Mapping[str, Any]],
    size: int = 2,
    *,
    device: jax.Device | jax.sharding.Sharding | None = None,
) -> Iterator[dict[str, jax.Array]]:
    """Wraps a batch iterator so that the next ``size`` batches are already on the device.

    ``jax.device_put`` returns immediately and copies in the background, so while the
    model computes on batch ``i`` the copies of batches ``i+1..i+size`` are under way.

    Args:
      iterator: yields ``{column: numeric array (batch, ...)}``.
      size: batches in flight (>= 1).
      device: a device or sharding; default the default device.

    Returns:
      An iterator of ``{column: jax.Array (batch, ...)}``.

    Raises:
      TypeError: ``iterator`` is not iterable, or yields something else than dicts;
        ``size`` is not an int.
      ValueError: ``size < 1``; a text (string) column, which cannot live on a device.
    """
    fn = "jaxdl.data.prefetch_to_device"
    size = check_int(fn, "size", size, min_value=1)
    if isinstance(iterator, Mapping):
        raise TypeError(f"{fn}: iterator must yield batches (dicts of columns), got a "
                        f"{type(iterator).__name__} itself; pass batches(data, ...) instead")
    it = check_iterable(fn, "iterator", iterator, "batches (dicts of columns)")
    return _Prefetch(it, size, device, fn)


def _check_numeric(fn: str, arrays: Mapping[str, Any]) -> None:
    bad = [k for k, v in arrays.items()
           if not isinstance(v, jax.Array) and np.asarray(v).dtype.kind in "USO"]
    if bad:
        raise ValueError(
            f"{fn}: columns {bad} hold text or objects, which cannot be placed on a device; "
            "encode them first (jaxdl.data.build_vocabulary) or drop them"
        )


# --------------------------------------------------------------------------- on device


def to_device(
    arrays: Arrays,
    *,
    device: jax.Device | jax.sharding.Sharding | None = None,
) -> dict[str, jax.Array]:
    """Places a whole dataset on the device once, for :func:`device_batch`.

    Args:
      arrays: ``{column: numeric array (n, ...)}``.
      device: a device or sharding; default the default device.

    Returns:
      ``{column: jax.Array (n, ...)}``.

    Raises:
      TypeError: ``arrays`` is not a dict.
      ValueError: mismatched lengths, or a text column.
    """
    fn = "jaxdl.data.to_device"
    num_examples(arrays, fn=fn)
    columns = {k: v if isinstance(v, jax.Array) else np.asarray(v) for k, v in arrays.items()}
    _check_numeric(fn, columns)  # converted once: the check reads these dtypes
    return jax.device_put(columns, device)


def device_permutation(key: jax.Array | int, num_examples: int,
                       epoch: int | jax.Array = 0) -> jax.Array:
    """A fresh permutation per epoch, computed on the device (usable inside ``jit``).

    Args:
      key: a JAX PRNG key (``jax.random.key(0)`` or ``jax.random.PRNGKey(0)``) or an int
        seed.
      num_examples: ``n`` (a static Python int).
      epoch: the epoch number, >= 0 (an int, or an integer array that may be traced).

    Returns:
      int32 array of shape ``(n,)``: ``jax.random.permutation(fold_in(key, epoch), n)``.

    Raises:
      TypeError: a key that is neither a PRNG key nor an int; a non-integer ``n`` or
        ``epoch``.
      ValueError: a negative ``n`` or (concrete) ``epoch``.
    """
    fn = "jaxdl.data.device_permutation"
    key = as_key(fn, key)
    n = check_count(fn, "num_examples", num_examples, min_value=0, what="a static int")
    _check_int_or_traced(fn, "epoch", epoch, min_value=0)
    return jax.random.permutation(jax.random.fold_in(key, epoch), n)


def _check_int_or_traced(fn: str, arg: str, value: Any, *, min_value: int) -> int | None:
    """An int ``>= min_value``, or an integer scalar array (checked only when concrete).

    Returns the value as an ``int`` when it is concrete (read from the device once), else
    None.
    """
    if isinstance(value, (jax.Array, np.ndarray)):
        if value.ndim != 0 or not jnp.issubdtype(value.dtype, jnp.integer):
            raise TypeError(f"{fn}: {arg} must be an int or an integer scalar array, got an "
                            f"array of shape {value.shape} and dtype {value.dtype}")
        if not is_concrete(value):
            return None
        value = int(value)
        if value < min_value:
            raise ValueError(f"{fn}: {arg} must be >= {min_value}, got {value}")
        return value
    return check_int(fn, arg, value, min_value=min_value)


def device_batch(
    arrays: Mapping[str, jax.Array],
    perm: jax.Array,
    step: int | jax.Array,
    batch_size: int,
) -> dict[str, jax.Array]:
    """Gathers batch ``step`` of an epoch from on-device columns; works inside ``jit``.

    The batch holds examples ``perm[step * batch_size : (step + 1) * batch_size]``.
    Shapes are static, so only full batches exist: use ``step`` in
    ``range(len(perm) // batch_size)`` (the remainder is dropped). A concrete ``step``
    outside that range raises ``ValueError``; a traced one cannot be checked, and
    ``lax.dynamic_slice`` clamps it to the last full batch.

    Args:
      arrays: ``{column: jax.Array (n, ...)}`` from :func:`to_device`.
      perm: integer array ``(m,)`` with ``m <= n``, e.g. :func:`device_permutation` (or
        ``jnp.arange(n)``).
      step: the batch number within the epoch (an int, or an integer array that may be
        traced).
      batch_size: examples per batch (a static Python int).

    Returns:
      ``{column: jax.Array (batch_size, ...)}``.

    Raises:
      TypeError: ``arrays`` not a dict, ``perm`` not an integer array, a non-integer
        ``step`` or ``batch_size``.
      ValueError: columns of different lengths, ``perm`` not 1-D or longer than the
        columns, ``batch_size`` < 1 or larger than ``perm``, a concrete ``step`` out of range.

    Example:
      A whole epoch as one compiled loop (``train_step`` is any pure step function)::

          data = to_device(load("fashion_mnist", data_dir=d))
          steps = 60_000 // 128

          @jax.jit
          def train_epoch(params, opt_state, key, epoch):
              perm = device_permutation(key, 60_000, epoch)

              def body(step, carry):
                  params, opt_state = carry
                  batch = device_batch(data, perm, step, 128)
                  params, opt_state, _ = train_step(params, opt_state, batch)
                  return params, opt_state

              return jax.lax.fori_loop(0, steps, body, (params, opt_state))

          for epoch in range(10):
              params, opt_state = train_epoch(params, opt_state, key, epoch)
    """
    fn = "jaxdl.data.device_batch"
    n = num_examples(arrays, fn=fn)
    if not (hasattr(perm, "shape") and hasattr(perm, "dtype")) \
            or not jnp.issubdtype(perm.dtype, jnp.integer):
        raise TypeError(f"{fn}: perm must be an integer array (n,), e.g. from "
                        f"device_permutation, got {type(perm).__name__} "
                        f"{getattr(perm, 'dtype', '')}".rstrip())
    if perm.ndim != 1 or perm.shape[0] > n:
        raise ValueError(f"{fn}: perm must have shape (m,) with m <= {n} (the columns' length), "
                         f"got shape {perm.shape}")
    batch_size = check_count(fn, "batch_size", batch_size, min_value=1, what="a static int")
    if perm.shape[0] < batch_size:
        raise ValueError(
            f"{fn}: batch_size ({batch_size}) exceeds the number of examples ({perm.shape[0]})"
        )
    steps = perm.shape[0] // batch_size
    concrete_step = _check_int_or_traced(fn, "step", step, min_value=0)
    if concrete_step is not None and concrete_step >= steps:
        raise ValueError(f"{fn}: step must lie in [0, {steps}) (full batches of {batch_size} "
                         f"in {perm.shape[0]} examples), got {concrete_step}")
    start = jnp.asarray(step, dtype=perm.dtype) * batch_size
    idx = jax.lax.dynamic_slice_in_dim(perm, start, int(batch_size))
    return {k: jnp.take(v, idx, axis=0) for k, v in arrays.items()}
