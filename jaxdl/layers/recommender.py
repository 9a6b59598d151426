"""Collaborative filtering: rating models over (user, item) id pairs.

Both layers take integer pairs ``(*batch, 2)``, column 0 the user id and column 1 the item
id, and predict one score per pair, ``(*batch,)``: a rating for a regression loss (``mse``)
or a logit for implicit feedback (``binary_cross_entropy_with_logits``). Their tables are
:func:`jaxdl.Embedding` layers, so ids out of range are errors (eagerly) or NaN (under
``jit``), never a silently clipped row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl import initializers as inits
from jaxdl._checks import (
    check_dtype, check_float, check_input_shape, check_int, check_values,
)
from jaxdl.combinators import serial
from jaxdl.core import Array, Layer, Params, State, child_key, layer_name
from jaxdl.layers.activation import Relu
from jaxdl.layers.dense import Dense
from jaxdl.layers.embedding import Embedding

__all__ = ["MatrixFactorization", "NeuralCF"]


def _check_pairs(label: str, x: Any, num_users: int, num_items: int) -> tuple[Array, Array]:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{label}: expected an integer array of (user, item) pairs "
                        f"(*batch, 2), got {type(x).__name__}")
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"{label}: expected (user, item) id pairs of shape (*batch, 2), got "
                         f"{tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{label}: ids must be integers, got dtype {x.dtype} (cast with "
                        ".astype(jnp.int32))")
    for column, (what, size) in enumerate((("user", num_users), ("item", num_items))):
        check_values(label, f"{what} ids (x[..., {column}])", x[..., column],
                     lambda v, size=size: (v >= 0) & (v < size), f"in [0, {size})")
    return x[..., 0], x[..., 1]


def _check_pair_shape(label: str, input_shape: Any) -> None:
    if check_input_shape(label, input_shape) != (2,):
        raise ValueError(f"{label}: expected the per-example input shape (2,) (a user id and "
                         f"an item id), got {tuple(input_shape)}")


def _check_keys(label: str, params: Any, keys: set[str]) -> None:
    if not isinstance(params, Mapping) or set(params) != keys:
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"{label}: expected params with keys {sorted(keys)}, got {got}")


def MatrixFactorization(
    num_users: int,
    num_items: int,
    factors: int,
    *,
    init_scale: float = 0.1,
    global_bias: float = 0.0,
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Layer:
    """Biased matrix factorisation: ``r̂(u, i) = μ + b_u + c_i + p_u · q_i``.

    Each user ``u`` and item ``i`` has a vector of ``factors`` latent features (``p_u``,
    ``q_i``) and a bias (``b_u``, ``c_i``); ``μ`` is a learned global offset. The rating
    matrix ``R ≈ μ + b 1ᵀ + 1 cᵀ + P Qᵀ`` is thus approximated by a rank-``factors``
    product, learned from the observed entries only (Koren, Bell and Volinsky, 2009). Add
    weight decay (``optax.adamw``) or an L2 term to keep unobserved entries sensible.

    Args:
      num_users, num_items: table sizes (ids ``0 .. num - 1``).
      factors: latent dimension ``k``.
      init_scale: the factors start from ``N(0, init_scale²)``; the biases from 0.
      global_bias: the initial ``μ``; the training ratings' mean is a good start.
      dtype: the parameters' dtype.
      name: the snake_case name (default ``"matrix_factorization"``).

    Shapes:
      ``init`` takes ``(2,)``; ``apply`` takes integer ``(*batch, 2)`` pairs ``(user,
      item)`` and returns ``(*batch,)``. ``params = {"user": {"embedding": (U, k)},
      "item": {"embedding": (I, k)}, "user_bias": {"embedding": (U, 1)}, "item_bias":
      {"embedding": (I, 1)}, "bias": ()}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> mf = jaxdl.MatrixFactorization(4, 5, 3, global_bias=3.5)
      >>> out_shape, params, state = mf.init(jax.random.key(0), (2,))
      >>> out_shape, params["user"]["embedding"].shape, float(params["bias"])
      ((), (4, 3), 3.5)
      >>> mf.apply(params, state, jnp.array([[0, 4], [3, 1]]))[0].shape
      (2,)
    """
    fn = "MatrixFactorization"
    num_users = check_int(fn, "num_users", num_users, min_value=1)
    num_items = check_int(fn, "num_items", num_items, min_value=1)
    factors = check_int(fn, "factors", factors, min_value=1)
    init_scale = check_float(fn, "init_scale", init_scale, min_value=0.0)
    global_bias = check_float(fn, "global_bias", global_bias)
    dtype = check_dtype(fn, dtype)
    key_name = layer_name(fn, name)
    label = f"{fn}({num_users}, {num_items}, {factors})" + ("" if name is None else f" {name!r}")
    normal = inits.normal(init_scale)
    tables = {
        "user": Embedding(num_users, factors, w_init=normal, dtype=dtype, name="user"),
        "item": Embedding(num_items, factors, w_init=normal, dtype=dtype, name="item"),
        "user_bias": Embedding(num_users, 1, w_init="zeros", dtype=dtype, name="user_bias"),
        "item_bias": Embedding(num_items, 1, w_init="zeros", dtype=dtype, name="item_bias"),
    }

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        _check_pair_shape(label, input_shape)
        params: dict[str, Any] = {k: t.init(child_key(key, k), ())[1] for k, t in tables.items()}
        params["bias"] = jnp.asarray(global_bias, dtype)
        return (), params, {}

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del key, train, lengths
        _check_keys(label, params, {*tables, "bias"})
        if jnp.shape(params["bias"]) != ():
            raise ValueError(f"{label}: expected a scalar params['bias'], got shape "
                             f"{jnp.shape(params['bias'])}")
        users, items = _check_pairs(label, x, num_users, num_items)
        p = tables["user"].apply(params["user"], {}, users)[0]
        q = tables["item"].apply(params["item"], {}, items)[0]
        b = tables["user_bias"].apply(params["user_bias"], {}, users)[0][..., 0]
        c = tables["item_bias"].apply(params["item_bias"], {}, items)[0][..., 0]
        return params["bias"] + b + c + jnp.sum(p * q, axis=-1), state

    return Layer(init, apply, key_name, label=label)


def NeuralCF(
    num_users: int,
    num_items: int,
    factors: int,
    hidden: Sequence[int] = (64, 32),
    *,
    dropout: float = 0.0,
    global_bias: float = 0.0,
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Layer:
    """Neural collaborative filtering (He et al., 2017, the MLP branch): the user's and the
    item's embeddings, concatenated, go through an MLP to one score.

    Where matrix factorisation fixes the interaction to a dot product, the MLP learns it.
    ``r̂(u, i) = mlp([p_u, q_i])`` with ``mlp = serial(Dense(h_1), Relu(), ...,
    Dense(1))``.

    Args:
      num_users, num_items: table sizes (ids ``0 .. num - 1``).
      factors: the embedding size of users and items.
      hidden: the MLP's hidden widths (ReLU after each); may be empty (a linear model on
        the embeddings).
      dropout: dropout rate after each hidden layer (training only).
      global_bias: the initial bias of the output layer; the training ratings' mean is a
        good start (as ``MatrixFactorization``'s ``global_bias``).
      dtype: the parameters' dtype.
      name: the snake_case name (default ``"neural_cf"``).

    Shapes:
      ``init`` takes ``(2,)``; ``apply`` takes integer ``(*batch, 2)`` pairs ``(user,
      item)`` and returns ``(*batch,)``. ``params = {"user": {"embedding": (U, k)},
      "item": {"embedding": (I, k)}, "mlp": <serial's params>}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> ncf = jaxdl.NeuralCF(4, 5, 8, hidden=(16,))
      >>> out_shape, params, state = ncf.init(jax.random.key(0), (2,))
      >>> out_shape, sorted(params)
      ((), ['item', 'mlp', 'user'])
      >>> ncf.apply(params, state, jnp.array([[0, 4], [3, 1]]))[0].shape
      (2,)
    """
    from jaxdl.layers.dropout import Dropout

    fn = "NeuralCF"
    num_users = check_int(fn, "num_users", num_users, min_value=1)
    num_items = check_int(fn, "num_items", num_items, min_value=1)
    factors = check_int(fn, "factors", factors, min_value=1)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"{fn}: hidden must be a sequence of widths, got {hidden!r}")
    hidden = tuple(check_int(fn, f"hidden[{i}]", h, min_value=1) for i, h in enumerate(hidden))
    dropout = check_float(fn, "dropout", dropout, min_value=0.0, max_value=1.0, max_open=True)
    global_bias = check_float(fn, "global_bias", global_bias)
    dtype = check_dtype(fn, dtype)
    key_name = layer_name(fn, name)
    label = f"{fn}({num_users}, {num_items}, {factors}, hidden={hidden})" + \
        ("" if name is None else f" {name!r}")
    user = Embedding(num_users, factors, dtype=dtype, name="user")
    item = Embedding(num_items, factors, dtype=dtype, name="item")
    parts: list[Layer] = []
    for h in hidden:
        parts += [Dense(h, dtype=dtype), Relu()] + ([Dropout(dropout)] if dropout else [])
    mlp = serial(*parts, Dense(1, b_init=inits.constant(global_bias), dtype=dtype), name="mlp")

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        _check_pair_shape(label, input_shape)
        params = {"user": user.init(child_key(key, "user"), ())[1],
                  "item": item.init(child_key(key, "item"), ())[1],
                  "mlp": mlp.init(child_key(key, "mlp"), (2 * factors,))[1]}
        return (), params, {}

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del lengths
        _check_keys(label, params, {"user", "item", "mlp"})
        users, items = _check_pairs(label, x, num_users, num_items)
        z = jnp.concatenate([user.apply(params["user"], {}, users)[0],
                             item.apply(params["item"], {}, items)[0]], axis=-1)
        y, _ = mlp.apply(params["mlp"], {}, z, key=child_key(key, "mlp"), train=train)
        return y[..., 0], state

    return Layer(init, apply, key_name, label=label)
