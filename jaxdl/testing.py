"""Checking tools: ``check_layer`` runs every check a jaxdl layer must pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import jax.test_util

from jaxdl._checks import as_key
from jaxdl.core import Array, Layer

__all__ = ["check_layer", "LayerCheckError"]


class LayerCheckError(AssertionError):
    """A layer failed one of :func:`check_layer`'s checks; the message names the layer,
    the check and the numbers."""


def _is_shape(s: Any) -> bool:
    return isinstance(s, (tuple, list)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in s)


def _shape_leaves(shapes: Any) -> tuple[list[Any], Any]:
    return jax.tree_util.tree_flatten(shapes, is_leaf=_is_shape)


def _concrete(shape: Any, time_steps: int) -> tuple[int, ...]:
    return tuple(time_steps if d is None else d for d in shape)


def _random_inputs(key: Array, input_shape: Any, batch_size: int, dtype: Any,
                   input_range: tuple[float, float] | None, time_steps: int) -> Any:
    shapes, treedef = _shape_leaves(input_shape)
    leaves = []
    for k, shape in zip(jax.random.split(key, len(shapes)), shapes):
        full = (batch_size, *_concrete(shape, time_steps))
        if jnp.issubdtype(dtype, jnp.integer):
            lo, hi = input_range or (0, 2)
            leaves.append(jax.random.randint(k, full, int(lo), int(hi), dtype))
        elif input_range is not None:
            leaves.append(jax.random.uniform(k, full, dtype, *input_range))
        else:
            leaves.append(jax.random.normal(k, full, dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _projections(key: Array, out: Any, dtype: Any) -> Any:
    """Random normal weights shaped like the output pytree ``out``."""
    leaves, treedef = jax.tree_util.tree_flatten(out)
    return jax.tree_util.tree_unflatten(treedef, [
        jax.random.normal(k, leaf.shape, dtype or leaf.dtype)
        for k, leaf in zip(jax.random.split(key, len(leaves)), leaves)])


def _project(out: Any, weights: Any) -> Array:
    """``Σ out · weights`` over every leaf: a scalar whose gradient checks all outputs."""
    return sum(jnp.sum(o * w) for o, w in zip(jax.tree_util.tree_leaves(out),
                                              jax.tree_util.tree_leaves(weights)))


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
    input_range: tuple[float, float] | None = None,
    lengths: Array | None = None,
    time_steps: int = 4,
    check_vmap: bool = True,
    check_grads: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    eps: float = 1e-6,
) -> tuple[Any, Any, Any]:
    """Checks a layer's shapes, finiteness, jit/vmap agreement and analytic gradient.

    Runs with strict rank promotion (an implicit broadcast is an error) and full-precision
    float32 matmuls (also on GPUs, whose default is TF32), and checks:

    1. **shape agreement**: the output shape ``init`` predicts equals the one ``apply``
       returns, for any pytree of shapes (tuples, named tuples such as an LSTM carry);
       ``None`` axes (time) are given ``time_steps`` steps;
    2. **finite output** and a **state** of the same structure as ``init``'s;
    3. **jit agreement**: the jitted ``apply`` gives the same values;
    4. **vmap agreement** (with ``train=False``): ``apply`` on the batch equals ``jax.vmap``
       of ``apply`` over single examples, in value and in parameter gradient (the batch-axis
       rule: a layer never mixes examples);
    5. **gradient**: in float64, the gradient of a random projection of the output with
       respect to the parameters and the (floating) inputs matches central finite
       differences (``jax.test_util.check_grads``, reverse mode, first order).

    Args:
      layer: the layer or model.
      input_shape: the per-example input shape, or a pytree of them (multi-input layers).
      batch_size: the batch used for the check.
      key: PRNG key (default ``key(0)``); also used as the apply key for stochastic layers.
      train: apply in training mode (a fixed key makes dropout deterministic).
      input_dtype: dtype of the random inputs (integer inputs are not differentiated).
      input_range: ``(low, high)`` of the random inputs: integers in ``[low, high)`` (e.g.
        token ids ``(0, vocab_size)`` for an embedding; default ``(0, 2)``), floats
        uniform (default: standard normal).
      lengths: ``(batch_size,)`` sequence lengths passed to ``apply``.
      time_steps: the length given to ``None`` axes.
      check_vmap: run check 4.
      check_grads: run check 5.
      atol, rtol, eps: tolerances and finite-difference step for the gradient check.

    Returns:
      ``(output_shape, params, state)`` from ``init``.

    Raises:
      LayerCheckError: (an ``AssertionError``) a check failed; the message starts with
        ``check_layer(<layer>): <check> failed``.
    """
    label = getattr(layer, "label", "") or getattr(layer, "name", type(layer).__name__)
    if not isinstance(layer, Layer):
        raise TypeError(f"check_layer: expected a jaxdl Layer, got {type(layer).__name__}")

    def fail(check: str, e: BaseException | str) -> LayerCheckError:
        text = str(e).strip()
        return LayerCheckError(f"check_layer({label}): {check} failed: {text}")

    def run(check: str, f: Callable[[], Any]) -> Any:
        try:
            return f()
        except LayerCheckError:
            raise
        except (AssertionError, ValueError, TypeError) as e:
            raise fail(check, e) from e

    # strict ranks (an implicit broadcast is an error) and full-precision matmuls, so the
    # 1e-5 agreement checks hold on a GPU too (whose default float32 matmul is TF32)
    with jax.numpy_rank_promotion("raise"), jax.default_matmul_precision("highest"):
        key = jax.random.key(0) if key is None else as_key("check_layer", key)
        k_init, k_x, k_apply, k_proj = jax.random.split(key, 4)
        out_shape, params, state = run("init", lambda: layer.init(k_init, input_shape))
        x = _random_inputs(k_x, input_shape, batch_size, input_dtype, input_range, time_steps)

        def apply(p: Any, s: Any, xx: Any) -> tuple[Any, Any]:
            return layer.apply(p, s, xx, key=k_apply, train=train, lengths=lengths)

        y, new_state = run("apply", lambda: apply(params, state, x))
        got = jax.tree_util.tree_map(lambda a: tuple(a.shape), y)
        want_shapes, want_def = _shape_leaves(out_shape)
        got_shapes, got_def = _shape_leaves(got)
        ok = want_def == got_def and len(want_shapes) == len(got_shapes) and all(
            len(g) == len(w) + 1 and g[0] == batch_size and
            all(a is None or a == b for a, b in zip(w, g[1:]))
            for w, g in zip(want_shapes, got_shapes))
        if not ok:
            want = jax.tree_util.tree_unflatten(
                want_def, [(batch_size, *w) for w in want_shapes])
            raise fail("shape agreement", f"init predicts output shape {want} for a batch of "
                       f"{batch_size}, apply returned {got}")
        run("finite output", lambda: chex.assert_tree_all_finite(y))
        run("state structure", lambda: chex.assert_trees_all_equal_structs(state, new_state))
        y_jit, _ = run("jit", lambda: jax.jit(apply)(params, state, x))
        run("jit agreement", lambda: chex.assert_trees_all_close(y, y_jit, atol=1e-5, rtol=1e-5))

        if check_vmap and not train:
            def one(xi: Any, li: Any) -> Any:
                return layer.apply(params, state, xi, key=k_apply, train=False,
                                   lengths=li)[0]

            y_vmap = run("vmap", lambda: jax.vmap(one)(x, lengths))
            run("vmap agreement (batched vs jax.vmap over examples)",
                lambda: chex.assert_trees_all_close(y, y_vmap, atol=1e-5, rtol=1e-5))
            projs = _projections(k_proj, y, None)

            def scalar(p: Any, xx: Any, li: Any, w: Any) -> Array:
                return _project(layer.apply(p, state, xx, key=k_apply, train=False,
                                            lengths=li)[0], w)

            if jax.tree_util.tree_leaves(params):
                g_batch = jax.grad(scalar)(params, x, lengths, projs)
                g_each = jax.vmap(jax.grad(scalar), in_axes=(None, 0, 0, 0))(
                    params, x, lengths, projs)
                g_sum = jax.tree_util.tree_map(lambda g: jnp.sum(g, axis=0), g_each)
                run("grad agreement (batched vs sum of per-example gradients)",
                    lambda: chex.assert_trees_all_close(g_batch, g_sum, atol=1e-4, rtol=1e-4))

        if check_grads:
            with jax.enable_x64(True):
                p64, s64, x64 = _to64(params), _to64(state), _to64(x)
                y64, _ = layer.apply(p64, s64, x64, key=k_apply, train=train, lengths=lengths)
                projs64 = _projections(k_proj, y64, jnp.float64)
                float_x = jnp.issubdtype(input_dtype, jnp.floating)

                def scalar64(p: Any, xx: Any) -> Array:
                    out, _ = layer.apply(p, s64, xx if float_x else x64, key=k_apply,
                                         train=train, lengths=lengths)
                    return _project(out, projs64)

                args = (p64, x64) if float_x else (p64, None)
                if jax.tree_util.tree_leaves(args):
                    # chex.assert_numerical_grads needs an array as first argument; params
                    # are a pytree, so call the function it wraps directly
                    run("gradient (analytic vs numerical, float64)",
                        lambda: jax.test_util.check_grads(
                            scalar64, args, order=1, modes=("rev",), atol=atol, rtol=rtol,
                            eps=eps))
    return out_shape, params, state
