"""Graph convolution (Kipf & Welling, 2017): ``H' = Â H W + b`` over a fixed graph.

A graph of ``n`` nodes is given by its adjacency matrix ``A`` (``(n, n)``, dense or a
``jax.experimental.sparse.BCOO``); node features are ``(n, features)``. The propagation
matrix is the symmetrically normalised adjacency with self-loops,
``Â = D^{-1/2} (A + I) D^{-1/2}`` with ``D`` the degrees of ``A + I``
(:func:`normalize_adjacency`), so each node's new features are a degree-weighted average
of its own and its neighbours' features, followed by a shared linear map.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse

from jaxdl import initializers as inits
from jaxdl._checks import as_key, check_bool, check_dtype, check_input_shape, check_int
from jaxdl.core import Array, Layer, Params, State, layer_name
from jaxdl.layers.dense import _check_weight_params

__all__ = ["GraphConv", "normalize_adjacency"]


def _check_adjacency(fn: str, adjacency: Any) -> Array | sparse.BCOO:
    """A square, finite, non-negative ``(n, n)`` matrix, dense (JAX array) or BCOO."""
    if isinstance(adjacency, sparse.BCOO):
        a, values = adjacency, adjacency.data
        if a.n_batch or a.n_dense:
            raise ValueError(f"{fn}: expected a plain 2-D BCOO adjacency (no batch or dense "
                             f"axes), got n_batch={a.n_batch}, n_dense={a.n_dense}")
    else:
        if not hasattr(adjacency, "shape") and not isinstance(adjacency, (list, tuple)):
            raise TypeError(f"{fn}: adjacency must be an (n, n) array or a "
                            f"jax.experimental.sparse.BCOO, got {type(adjacency).__name__}")
        a = jnp.asarray(adjacency)
        if jnp.issubdtype(a.dtype, jnp.bool_) or jnp.issubdtype(a.dtype, jnp.integer):
            a = a.astype(jnp.float32)
        values = a
    if len(a.shape) != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"{fn}: adjacency must be a square (n, n) matrix with n >= 1, got "
                         f"shape {tuple(a.shape)}")
    if not jnp.issubdtype(values.dtype, jnp.floating):
        raise TypeError(f"{fn}: adjacency must hold real numbers, got dtype {values.dtype}")
    if not isinstance(values, jax.core.Tracer):
        v = np.asarray(values)
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            bad = v[~(np.isfinite(v) & (v >= 0))][0]
            raise ValueError(f"{fn}: adjacency entries must be finite and >= 0 (edge "
                             f"weights), got {bad}")
    return a


@functools.partial(jax.jit, static_argnums=1)
def _normalize_bcoo(a: sparse.BCOO, self_loops: bool) -> sparse.BCOO:
    """:func:`normalize_adjacency` of a checked BCOO matrix, as one compiled program (op
    by op, the sparse operations cost seconds even on a small graph)."""
    n = a.shape[0]
    if self_loops:  # append the diagonal's entries (a repeated index adds up in BCOO)
        diag = jnp.arange(n, dtype=a.indices.dtype)
        a = sparse.BCOO((jnp.concatenate([a.data, jnp.ones((n,), a.dtype)]),
                         jnp.concatenate([a.indices, jnp.stack([diag, diag], axis=1)])),
                        shape=(n, n))
    degree = sparse.bcoo_reduce_sum(a, axes=(1,)).todense()
    inv = jnp.where(degree > 0, jax.lax.rsqrt(jnp.where(degree > 0, degree, 1.0)), 0.0)
    rows, cols = a.indices[:, 0], a.indices[:, 1]
    return sparse.BCOO((a.data * inv[rows] * inv[cols], a.indices), shape=(n, n))


def normalize_adjacency(adjacency: Array | sparse.BCOO, *,
                        self_loops: bool = True) -> Array | sparse.BCOO:
    """Kipf and Welling's propagation matrix ``Â = D^{-1/2} (A + I) D^{-1/2}``.

    ``D`` is the diagonal of row sums (degrees) of ``A + I``. A node of degree 0 (possible
    only with ``self_loops=False``) gets a zero row and column instead of a division by
    zero.

    Args:
      adjacency: ``(n, n)`` edge weights ``>= 0`` (dense array, booleans or integers allowed,
        or a ``jax.experimental.sparse.BCOO``); symmetric for an undirected graph.
      self_loops: add ``I`` first, so that each node keeps its own features.

    Returns:
      ``(n, n)`` float, dense for a dense input and BCOO for a BCOO one.

    Example:
      >>> import jax.numpy as jnp, jaxdl
      >>> path = jnp.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])     # 0 - 1 - 2
      >>> import numpy as np
      >>> print(np.asarray(jaxdl.normalize_adjacency(path)).round(3))   # 1/2, 1/√6, 1/3
      [[0.5   0.408 0.   ]
       [0.408 0.333 0.408]
       [0.    0.408 0.5  ]]
    """
    fn = "normalize_adjacency"
    a = _check_adjacency(fn, adjacency)
    self_loops = check_bool(fn, "self_loops", self_loops)
    n = a.shape[0]
    if isinstance(a, sparse.BCOO):
        return _normalize_bcoo(a, self_loops)
    if self_loops:
        a = a + jnp.eye(n, dtype=a.dtype)
    degree = jnp.sum(a, axis=1)
    inv = jnp.where(degree > 0, jax.lax.rsqrt(jnp.where(degree > 0, degree, 1.0)), 0.0)
    return inv[:, None] * a * inv[None, :]


def _propagate(a: Array | sparse.BCOO, h: Array) -> Array:
    """``Â @ h`` along the node axis (``-2``) of ``h (*batch, n, f)``."""
    n, f = h.shape[-2], h.shape[-1]
    batch = h.shape[:-2]
    flat = jnp.moveaxis(h, -2, 0).reshape(n, -1)  # (n, batch * f)
    if isinstance(a, sparse.BCOO):
        a = sparse.BCOO((a.data.astype(h.dtype), a.indices), shape=a.shape)
        out = a @ flat
    else:
        out = a.astype(h.dtype) @ flat
    return jnp.moveaxis(out.reshape((n, *batch, f)), 0, -2)


def GraphConv(
    features: int,
    adjacency: Array | sparse.BCOO,
    *,
    normalize: bool = True,
    use_bias: bool = True,
    w_init: inits.Initializer | str = "glorot_uniform",
    b_init: inits.Initializer | str = "zeros",
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Layer:
    """A graph-convolution layer over a fixed graph: ``y = Â (x W) + b``.

    The graph is part of the layer (as a convolution's neighbourhood is part of a
    ``Conv``): build one layer per graph, ``GraphConv(16, adjacency)``, and stack them with
    activations in :func:`jaxdl.serial`. Kipf and Welling's two-layer GCN is
    ``serial(GraphConv(16, A), Relu(), Dropout(0.5), GraphConv(classes, A))``. No
    activation is built in.

    Args:
      features: output features per node.
      adjacency: the graph, ``(n, n)`` edge weights ``>= 0``: a dense array (also boolean or
        integer) or a ``jax.experimental.sparse.BCOO`` (sparse matmul; worth it for large,
        sparse graphs).
      normalize: use :func:`normalize_adjacency` of ``adjacency`` (self-loops added,
        symmetric degree normalisation) as the propagation matrix ``Â``; ``False`` uses
        ``adjacency`` as given (already normalised, or another propagation rule).
      use_bias: add a bias ``b`` per output feature.
      w_init, b_init: initialisers of ``w`` ``(in_features, features)`` and ``b``.
      dtype: the parameters' dtype.
      name: the snake_case name (default ``"graph_conv"``).

    Shapes:
      ``init`` takes ``(n, in_features)`` (``n`` the graph's node count) and returns
      ``(n, features)``; ``apply`` takes node features ``(*batch, n, in_features)`` (any
      leading axes: several feature sets on the same graph) and returns
      ``(*batch, n, features)``. ``params = {"w": (in_features, features), "b":
      (features,)}``.

    Note:
      The layer mixes *nodes*, never examples: the batch-axis rule holds for the leading
      axes. For one graph (transductive node classification), the batch is the graph
      itself: a single example ``(n, in_features)``.

    Raises:
      ValueError: a non-square or negative adjacency; node features whose node axis is not
        ``n``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> path = jnp.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], jnp.float32)
      >>> gcn = jaxdl.serial(jaxdl.GraphConv(4, path), jaxdl.Relu(), jaxdl.GraphConv(2, path))
      >>> out_shape, params, state = gcn.init(jax.random.key(0), (3, 5))
      >>> out_shape
      (3, 2)
      >>> gcn.apply(params, state, jnp.ones((3, 5)))[0].shape
      (3, 2)
    """
    fn = "GraphConv"
    features = check_int(fn, "features", features, min_value=1)
    normalize = check_bool(fn, "normalize", normalize)
    use_bias = check_bool(fn, "use_bias", use_bias)
    a = _check_adjacency(fn, adjacency)
    a = normalize_adjacency(a) if normalize else a
    n = a.shape[0]
    w_init_fn, b_init_fn = inits.get(w_init), inits.get(b_init)
    dtype = check_dtype(fn, dtype)
    key_name = layer_name(fn, name)
    kind = "sparse" if isinstance(a, sparse.BCOO) else "dense"
    label = f"GraphConv({features}, {kind} {n}x{n})" + ("" if name is None else f" {name!r}")

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        nodes, in_features = check_input_shape(label, input_shape, rank=2)
        if nodes != n:
            raise ValueError(f"{label}: expected node features (n, in_features) with n = {n} "
                             f"(the graph's nodes), got input_shape {tuple(input_shape)}")
        if in_features is None:
            raise ValueError(f"{label}: in_features must be known, got input_shape "
                             f"{tuple(input_shape)}")
        k_w, k_b = jax.random.split(as_key(label, key))
        params = {"w": w_init_fn(k_w, (in_features, features), dtype)}
        if use_bias:
            params["b"] = b_init_fn(k_b, (features,), dtype)
        return (n, features), params, {}

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del key, train, lengths
        _check_weight_params(label, params, (None, features), use_bias)
        in_features = params["w"].shape[0]
        if not hasattr(x, "shape") or x.ndim < 2 or tuple(x.shape[-2:]) != (n, in_features):
            got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"{label}: expected node features (*batch, {n}, {in_features}), "
                             f"got {got}")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{label}: node features must be floating, got dtype {x.dtype}")
        y = _propagate(a, x @ params["w"])
        if use_bias:
            y = y + jnp.broadcast_to(params["b"], y.shape)
        return y, state

    return Layer(init, apply, key_name, label=label)
