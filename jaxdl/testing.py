"""Checking tools: shape agreement and numerical gradient checks for any layer."""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.test_util
import jax.numpy as jnp

from jaxdl.core import Array, Layer

__all__ = ["check_layer"]


def _is_shape(s: Any) -> bool:
    return isinstance(s, (tuple, list)) and all(isinstance(d, int) for d in s)


def _random_inputs(key: Array, input_shape: Any, batch_size: int, dtype: Any) -> Any:
    if _is_shape(input_shape):
        if jnp.issubdtype(dtype, jnp.integer):
            return jax.random.randint(key, (batch_size, *input_shape), 0, 2, dtype)
        return jax.random.normal(key, (batch_size, *input_shape), dtype)
    keys = jax.random.split(key, len(input_shape))
    return type(input_shape)(_random_inputs(k, s, batch_size, dtype)
                             for k, s in zip(keys, input_shape))


def _batched(shape: Any, batch_size: int) -> Any:
    if _is_shape(shape):
        return (batch_size, *shape)
    return type(shape)(_batched(s, batch_size) for s in shape)


def _to64(tree: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def check_layer(
    layer: Layer,
    input_shape: Any,
    *,
    batch_size: int = 3,
    key: Array | None = None,
    train: bool = False,
    input_dtype: Any = jnp.float32,
    check_grads: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    eps: float = 1e-6,
) -> tuple[Any, Any, Any]:
    """Checks a layer's shapes, finiteness, jit agreement and analytic gradient.

    1. the output shape ``init`` predicts equals the shape ``apply`` returns (chex);
    2. the output is finite and the jitted ``apply`` gives the same values;
    3. in float64, the gradient of a random projection of the output with respect to
       the parameters and the (floating) inputs matches central finite differences
       (``jax.test_util.check_grads``, reverse mode, first order).

    Args:
      layer: the layer or model.
      input_shape: the per-example input shape (a tuple of them for multi-input layers).
      batch_size: the batch used for the check.
      key: PRNG key (default ``key(0)``); also used as the apply key for stochastic layers.
      train: apply in training mode (a fixed key makes dropout deterministic).
      input_dtype: dtype of the random inputs (integer inputs are not differentiated).
      check_grads: run the numerical gradient check.
      atol, rtol, eps: tolerances and finite-difference step for the gradient check.

    Returns:
      ``(output_shape, params, state)`` from ``init``.

    Raises:
      AssertionError: a check failed (the message says which).
    """
    key = jax.random.key(0) if key is None else key
    k_init, k_x, k_apply, k_proj = jax.random.split(key, 4)
    out_shape, params, state = layer.init(k_init, input_shape)
    x = _random_inputs(k_x, input_shape, batch_size, input_dtype)
    y, new_state = layer.apply(params, state, x, key=k_apply, train=train)
    got = jax.tree_util.tree_map(lambda a: tuple(a.shape), y)
    want = _batched(out_shape, batch_size)
    if jax.tree_util.tree_structure(got, is_leaf=_is_shape) != jax.tree_util.tree_structure(
            want, is_leaf=_is_shape) or jax.tree_util.tree_leaves(got, is_leaf=_is_shape) != \
            jax.tree_util.tree_leaves(want, is_leaf=_is_shape):
        raise AssertionError(f"{layer.name}: init predicts output shape {want}, apply returned {got}")
    chex.assert_tree_all_finite(y)
    chex.assert_trees_all_equal_structs(state, new_state)
    y_jit, _ = jax.jit(lambda p, s, x: layer.apply(p, s, x, key=k_apply, train=train))(
        params, state, x)
    chex.assert_trees_all_close(y, y_jit, atol=1e-5, rtol=1e-5)

    if check_grads:
        with jax.enable_x64(True):
            p64, s64, x64 = _to64(params), _to64(state), _to64(x)
            y64, _ = layer.apply(p64, s64, x64, key=k_apply, train=train)
            leaves = jax.tree_util.tree_leaves(y64)
            projs = [jax.random.normal(k, leaf.shape, jnp.float64) for k, leaf in
                     zip(jax.random.split(k_proj, len(leaves)), leaves)]
            float_x = jnp.issubdtype(input_dtype, jnp.floating)

            def scalar(p: Any, xx: Any) -> Array:
                out, _ = layer.apply(p, s64, xx if float_x else x64, key=k_apply, train=train)
                return sum(jnp.sum(o * w) for o, w in zip(jax.tree_util.tree_leaves(out), projs))

            args = (p64, x64) if float_x else (p64, None)
            if not jax.tree_util.tree_leaves(args):
                return out_shape, params, state
            # chex.assert_numerical_grads needs an array as first argument; params are a
            # pytree, so call the function it wraps directly
            jax.test_util.check_grads(scalar, args, order=1, modes=("rev",), atol=atol,
                                      rtol=rtol, eps=eps)
    return out_shape, params, state
