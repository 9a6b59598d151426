"""Embedding: a lookup table from integer ids to learned vectors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl import initializers as inits
from jaxdl._checks import (
    as_key, check_dtype, check_input_shape, check_int, check_values,
)
from jaxdl.core import Array, Layer, Params, State, layer_name

__all__ = ["Embedding", "default_embedding_init"]

#: Flax's ``nn.Embed`` default: ``variance_scaling(1.0, "fan_in", "normal", out_axis=0)``.
#: For a table ``(num_embeddings, features)`` the fan-in is ``features``, so each entry is
#: drawn from ``N(0, 1 / features)``: every embedding vector has an expected squared norm
#: of 1.
default_embedding_init = jax.nn.initializers.variance_scaling(
    1.0, "fan_in", "normal", out_axis=0)


def Embedding(
    num_embeddings: int,
    features: int,
    *,
    w_init: inits.Initializer | str = default_embedding_init,
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Layer:
    """A learned vector per id: ``y[..., :] = E[ids[...], :]``.

    The lookup equals ``one_hot(ids, num_embeddings) @ E``, a :func:`jaxdl.Dense` without
    bias on one-hot inputs, computed as a gather instead of a matmul.

    **Ids out of range.** A concrete ``ids`` array (called eagerly) outside ``[0,
    num_embeddings)`` raises ``ValueError`` naming the first bad id and its index. Under
    ``jax.jit`` or ``jax.vmap`` the values are not known when the program is built, so the
    gather uses ``mode="fill"`` with NaN: a bad id yields a row of NaN, which the loss
    carries and ``jaxdl.fit``'s divergence check reports, instead of being silently
    clipped to the last row (``jnp.take``'s default) or wrapped around (NumPy's negative
    indices).

    Args:
      num_embeddings: the vocabulary size (ids are ``0 .. num_embeddings - 1``).
      features: the length of each vector.
      w_init: initialiser of the table ``E``, ``(num_embeddings, features)``; default
        Flax's ``nn.Embed`` initialiser, ``N(0, 1 / features)``
        (:data:`default_embedding_init`). A name from :mod:`jaxdl.initializers` works too.
      dtype: the table's dtype (floating).
      name: the snake_case name (default ``"embedding"``).

    Shapes:
      ``init`` takes the per-example shape of the ids, e.g. ``()`` for one id or
      ``(None,)`` for a sequence of any length, and returns ``(*ids_shape, features)``;
      ``apply`` takes integer ids ``(*batch, *ids_shape)`` and returns ``(*batch,
      *ids_shape, features)``. ``params = {"embedding": (num_embeddings, features)}``.

    Raises:
      TypeError: ids of a non-integer dtype (floats, bools), at trace time.
      ValueError: a concrete id outside ``[0, num_embeddings)``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> emb = jaxdl.Embedding(10, 3)
      >>> out_shape, params, state = emb.init(jax.random.key(0), (None,))
      >>> out_shape, params["embedding"].shape
      ((None, 3), (10, 3))
      >>> y, _ = emb.apply(params, state, jnp.array([[1, 2, 2], [0, 9, 1]]))
      >>> y.shape, bool(jnp.all(y[0, 1] == params["embedding"][2]))
      ((2, 3, 3), True)
    """
    num_embeddings = check_int("Embedding", "num_embeddings", num_embeddings, min_value=1)
    features = check_int("Embedding", "features", features, min_value=1)
    w_init_fn = inits.get(w_init)
    dtype = check_dtype("Embedding", dtype)
    key_name = layer_name("Embedding", name)
    label = f"Embedding({num_embeddings}, {features})" + ("" if name is None else f" {name!r}")

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        shape = check_input_shape(label, input_shape)
        table = w_init_fn(as_key(label, key), (num_embeddings, features), dtype)
        return (*shape, features), {"embedding": table}, {}

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del key, train, lengths
        if not isinstance(params, Mapping) or set(params) != {"embedding"}:
            got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
            raise ValueError(f"{label}: expected params {{'embedding': ({num_embeddings}, "
                             f"{features})}}, got {got}")
        table = params["embedding"]
        if tuple(jnp.shape(table)) != (num_embeddings, features):
            raise ValueError(f"{label}: expected params['embedding'] of shape "
                             f"({num_embeddings}, {features}), got {jnp.shape(table)}; were "
                             "these params made for another layer?")
        if not hasattr(x, "dtype") or not hasattr(x, "shape"):
            raise TypeError(f"{label}: expected an integer array of ids, got "
                            f"{type(x).__name__}")
        if not jnp.issubdtype(x.dtype, jnp.integer):
            raise TypeError(f"{label}: ids must be integers, got dtype {x.dtype} (cast "
                            "token ids with .astype(jnp.int32))")
        check_values(label, "ids", x, lambda v: (v >= 0) & (v < num_embeddings),
                     f"in [0, {num_embeddings})")  # concrete ids only: skipped under jit
        # under jit an id out of range gives NaN, never a clipped or wrapped row: jnp.take
        # would wrap a negative id to the end of the table, so those are moved past it
        ids = x
        if jnp.issubdtype(x.dtype, jnp.signedinteger):
            ids = x.astype(jnp.promote_types(x.dtype, jnp.int32))  # int8 cannot hold the size
            ids = jnp.where(ids < 0, num_embeddings, ids)
        y = jnp.take(table, ids, axis=0, mode="fill", fill_value=jnp.nan)
        return y, state

    return Layer(init, apply, key_name, label=label)
