"""Normalisation layers: BatchNorm (running statistics as explicit state) and LayerNorm.

Both normalise the last axis' features to zero mean and unit variance and then apply a
learned per-feature scale ``γ`` and shift ``β``:

    y = (x - mean) / sqrt(var + ε) · γ + β

They differ in *what* the mean and variance are taken over. ``LayerNorm`` takes them over
the features of each position of each example (so it never mixes examples);
``BatchNorm`` in training takes them over the whole batch, per feature, and keeps running
averages of them as ``state`` for evaluation. See ``docs/normalization.md``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl._checks import check_bool, check_float, check_input_shape, check_shape
from jaxdl.core import Array, Layer, Params, State, layer_name, length_mask

__all__ = ["BatchNorm", "LayerNorm"]


def _label(kind: str, name: str | None) -> str:
    return kind if name is None else f"{kind} {name!r}"


def _features(label: str, input_shape: Any) -> tuple[int | None, ...]:
    """The checked per-example shape; its last axis (the features) must be known."""
    shape = check_input_shape(label, input_shape)
    if len(shape) < 1 or shape[-1] is None:
        raise ValueError(f"{label}: expected a per-example input_shape (*leading, features) "
                         f"with a known number of features, got {shape}")
    return shape


def _scale_bias_keys(kind: str, use_scale: Any, use_bias: Any) -> tuple[str, ...]:
    """The checked ``use_scale``/``use_bias`` as the keys of the layer's params:
    ``("scale", "bias")``, one of them, or none."""
    use_scale = check_bool(kind, "use_scale", use_scale)
    use_bias = check_bool(kind, "use_bias", use_bias)
    return tuple(k for k, on in (("scale", use_scale), ("bias", use_bias)) if on)


def _init_scale_bias(label: str, input_shape: Any, param_keys: tuple[str, ...]
                     ) -> tuple[tuple[int | None, ...], Params]:
    """The checked per-example shape and the params: ``γ`` ones, ``β`` zeros, float32."""
    shape = _features(label, input_shape)
    initial = {"scale": jnp.ones, "bias": jnp.zeros}
    return shape, {k: initial[k]((shape[-1],), jnp.float32) for k in param_keys}


def _check_vectors(label: str, what: str, tree: Any, want: tuple[str, ...],
                   features: int | None) -> int | None:
    """``tree`` must be a dict of exactly the keys ``want``, each of shape ``(features,)``
    (``features=None``: any, taken from the first); returns the number of features (None
    when ``want`` is empty and none was given)."""
    shown = "{" + ", ".join(f"'{k}': (features,)" for k in want) + "}" if want else "{}"
    if not isinstance(tree, Mapping) or set(tree) != set(want):
        got = sorted(tree) if isinstance(tree, Mapping) else type(tree).__name__
        raise ValueError(f"{label}: expected {what} {shown}, got {got}; were these {what} made "
                         "for another layer?")
    for k in want:
        shape = tuple(jnp.shape(tree[k]))
        if len(shape) != 1 or (features is not None and shape[0] != features):
            expected = "(features,)" if features is None else f"({features},)"
            raise ValueError(f"{label}: expected {what}['{k}'] of shape {expected}, got {shape}; "
                             f"were these {what} made for another layer?")
        features = shape[0]
    return features


def _row(v: Array, ndim: int) -> Array:
    """A ``(C,)`` vector reshaped to ``(1, ..., 1, C)`` of rank ``ndim`` (explicit broadcast)."""
    return jnp.reshape(v, (1,) * (ndim - 1) + v.shape)


def _compute_dtype(x: Array) -> Any:
    """Statistics are computed in at least float32 (bfloat16 inputs included)."""
    return jnp.promote_types(x.dtype, jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) \
        else jnp.float32


def _check_input(label: str, x: Any, features: int | None) -> None:
    check_shape(label, x, (features,))
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"{label}: expected a real (floating or integer) input, got dtype "
                        f"{x.dtype}")


def _normalize(x: Array, mean: Array, var: Array, epsilon: Any, params: Params) -> Array:
    """``(x - mean) · rsqrt(var + ε) · γ + β`` (Flax's order of operations), ``γ`` and
    ``β`` where ``params`` (checked against the layer's keys) has them; ``mean`` and
    ``var`` already have ``x``'s rank."""
    base = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
    out_dtype = jnp.result_type(base, *jax.tree_util.tree_leaves(params))  # as Flax's
    xf = x.astype(_compute_dtype(x))
    mul = jax.lax.rsqrt(var + epsilon)
    if "scale" in params:
        mul = mul * _row(params["scale"].astype(mul.dtype), x.ndim)
    y = (xf - mean) * mul
    if "bias" in params:
        y = y + _row(params["bias"].astype(y.dtype), x.ndim)
    return y.astype(out_dtype)


def BatchNorm(
    *,
    momentum: float = 0.99,
    epsilon: float = 1e-5,
    use_scale: bool = True,
    use_bias: bool = True,
    axis_name: Hashable | None = None,
    name: str | None = None,
) -> Layer:
    """Batch normalisation (Ioffe & Szegedy, 2015) with running statistics as explicit state.

    For each feature ``c`` (the last axis):

    * ``apply(..., train=True)``: ``μ_c`` and ``σ²_c`` (biased) are the mean and variance
      of the input over **every axis but the last**: all leading batch axes and the
      per-example spatial or time axes. ``y = (x - μ) / sqrt(σ² + ε) · γ + β``, and the
      returned state is ``mean ← momentum · mean + (1 - momentum) · μ`` and ``var ←
      momentum · var + (1 - momentum) · σ²`` (Flax's convention: ``momentum`` is the weight
      of the *old* value, so 0.99 averages over about the last 100 batches).
    * ``apply(..., train=False)``: the running ``mean`` and ``var`` from the state take the
      place of ``μ`` and ``σ²``; the state is returned unchanged.

    **In training, BatchNorm is the one layer whose output for an example depends on the
    other examples of the batch** (through ``μ`` and ``σ²``): it breaks the batch-axis
    rule on purpose. Evaluation keeps the rule (the running statistics are fixed), so
    ``check_layer``'s vmap checks run in evaluation mode only. Under ``jax.vmap`` over
    examples (or ``shard_map`` over devices) each call sees a part of the batch; give the
    mapped axis a name (``jax.vmap(..., axis_name="batch")``) and pass the same
    ``axis_name`` here, and the statistics are summed across it, so the result equals the
    unmapped batch's. Without ``axis_name`` an input with nothing to average over (a single
    example of shape ``(features,)``) raises ``ValueError`` in training.

    With ``lengths`` (``(*batch,)``) and sequence inputs ``(*batch, time, features)``,
    the batch statistics in training count only the valid positions ``t < length``, so
    padding never shifts them. (``lengths`` is ignored for inputs with one per-example
    axis, ``(*batch, features)``, and refused for more than two.)

    Args:
      momentum: weight of the old running value in the update, in ``[0, 1]`` (may be a
        traced scalar).
      epsilon: ``ε > 0`` added to the variance (may be traced).
      use_scale: learn ``γ`` (``params["scale"]``, initialised to ones).
      use_bias: learn ``β`` (``params["bias"]``, initialised to zeros).
      axis_name: the name of a ``jax.vmap``/``shard_map`` axis over which the batch
        statistics are combined (a string or a tuple of them), or None.
      name: the snake_case name (default ``"batch_norm"``).

    Shapes:
      ``init`` takes a per-example shape ``(*leading, features)`` (``leading`` may hold
      ``None``) and returns it unchanged; ``apply`` takes ``(*batch, *leading,
      features)``. ``params = {"scale": (features,), "bias": (features,)}`` and ``state =
      {"mean": (features,), "var": (features,)}`` (initially zeros and ones), float32.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> bn = jaxdl.BatchNorm(momentum=0.9)
      >>> out_shape, params, state = bn.init(jax.random.key(0), (3,))
      >>> x = jnp.array([[1.0, 2.0, 3.0], [3.0, 6.0, 9.0]])
      >>> y, new_state = bn.apply(params, state, x, train=True)
      >>> y.round(3)
      Array([[-1., -1., -1.],
             [ 1.,  1.,  1.]], dtype=float32)
      >>> [round(float(m), 4) for m in new_state["mean"]]      # 0.9 * 0 + 0.1 * [2, 4, 6]
      [0.2, 0.4, 0.6]
    """
    momentum = check_float("BatchNorm", "momentum", momentum, min_value=0.0, max_value=1.0)
    epsilon = check_float("BatchNorm", "epsilon", epsilon, min_value=0.0, min_open=True)
    param_keys = _scale_bias_keys("BatchNorm", use_scale, use_bias)
    if axis_name is not None and not (isinstance(axis_name, str) or (
            isinstance(axis_name, tuple) and axis_name
            and all(isinstance(a, str) for a in axis_name))):
        raise TypeError(f"BatchNorm: axis_name must be None, a string or a tuple of strings "
                        f"(the name given to jax.vmap/shard_map), got {axis_name!r}")
    key_name = layer_name("BatchNorm", name)
    label = _label("BatchNorm", name)

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        del key
        shape, params = _init_scale_bias(label, input_shape, param_keys)
        c = shape[-1]
        return shape, params, {"mean": jnp.zeros((c,), jnp.float32),
                               "var": jnp.ones((c,), jnp.float32)}

    def batch_stats(x: Array, lengths: Array | None) -> tuple[Array, Array]:
        """Per-feature mean and biased variance over every axis but the last, of rank
        ``x.ndim`` (keepdims), combined over ``axis_name``."""
        xf = x.astype(_compute_dtype(x))
        axes = tuple(range(x.ndim - 1))
        mask = None
        if lengths is not None:
            lengths = jnp.asarray(lengths)
            example_rank = x.ndim - lengths.ndim
            if example_rank == 2:  # (*batch, time, features): count valid steps only
                mask = length_mask(lengths, x.shape[-2])[..., None]  # (*batch, time, 1)
            elif example_rank > 2:
                raise ValueError(
                    f"{label}: lengths of shape {lengths.shape} for an input of shape "
                    f"{x.shape} leave {example_rank} per-example axes; lengths mark valid steps "
                    "of (*batch, time, features) sequences")
        if not axes and axis_name is None:
            raise ValueError(
                f"{label}: in training, batch statistics need a batch, got one example of "
                f"shape {x.shape} with no axis to average over; apply it to (batch, ...) "
                "inputs, or under jax.vmap give the mapped axis a name and pass it as "
                "BatchNorm(axis_name=...)")

        if x.size == 0:
            raise ValueError(f"{label}: in training, batch statistics need at least one "
                             f"example, got an empty input of shape {x.shape}")

        def total(v: Array) -> Array:
            s = jnp.sum(v, axis=axes, keepdims=True)
            return s if axis_name is None else jax.lax.psum(s, axis_name)

        if mask is None:
            count = jnp.asarray(x.size // x.shape[-1], xf.dtype)
            if axis_name is not None:
                count = jax.lax.psum(count, axis_name)
            mean = total(xf) / count
            var = total(jnp.square(xf - mean)) / count
        else:
            m = jnp.broadcast_to(mask, x.shape)
            count = jnp.maximum(total(m.astype(xf.dtype)), 1.0)
            mean = total(jnp.where(m, xf, 0.0)) / count
            var = total(jnp.where(m, jnp.square(xf - mean), 0.0)) / count
        return mean, var

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del key
        c = _check_vectors(label, "params", params, param_keys, None)
        c = _check_vectors(label, "state", state, ("mean", "var"), c)
        _check_input(label, x, c)
        if train:
            mean, var = batch_stats(x, lengths)
            def update(old: Array, new: Array) -> Array:
                # a Python momentum keeps 1 - momentum exact before the cast to float32
                new = jnp.reshape(new, (c,)).astype(old.dtype)
                return (momentum * old + (1.0 - momentum) * new).astype(old.dtype)

            new_state = {"mean": update(state["mean"], mean), "var": update(state["var"], var)}
        else:
            dt = _compute_dtype(x)
            mean = _row(state["mean"].astype(dt), x.ndim)
            var = _row(state["var"].astype(dt), x.ndim)
            new_state = state
        return _normalize(x, mean, var, epsilon, params), new_state

    return Layer(init, apply, key_name, label=label)


def LayerNorm(
    *,
    epsilon: float = 1e-6,
    use_scale: bool = True,
    use_bias: bool = True,
    name: str | None = None,
) -> Layer:
    """Layer normalisation (Ba et al., 2016) over the last axis.

    For each position of each example, ``μ`` and ``σ²`` (biased) are the mean and variance
    of its ``features`` values, and ``y = (x - μ) / sqrt(σ² + ε) · γ + β``. Nothing is
    averaged across examples, so training and evaluation are the same computation and
    there is no state. Defaults are Flax's (``ε = 1e-6``).

    Args:
      epsilon: ``ε > 0`` added to the variance (may be traced).
      use_scale: learn ``γ`` (``params["scale"]``, initialised to ones).
      use_bias: learn ``β`` (``params["bias"]``, initialised to zeros).
      name: the snake_case name (default ``"layer_norm"``).

    Shapes:
      ``(*batch, *leading, features) -> (*batch, *leading, features)``;
      ``params = {"scale": (features,), "bias": (features,)}``, ``state = {}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> ln = jaxdl.LayerNorm()
      >>> _, params, state = ln.init(jax.random.key(0), (4,))
      >>> y, _ = ln.apply(params, state, jnp.array([1.0, 2.0, 3.0, 4.0]))
      >>> [round(float(v), 3) for v in y]
      [-1.342, -0.447, 0.447, 1.342]
    """
    epsilon = check_float("LayerNorm", "epsilon", epsilon, min_value=0.0, min_open=True)
    param_keys = _scale_bias_keys("LayerNorm", use_scale, use_bias)
    key_name = layer_name("LayerNorm", name)
    label = _label("LayerNorm", name)

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        del key
        shape, params = _init_scale_bias(label, input_shape, param_keys)
        return shape, params, {}

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del key, train, lengths
        _check_input(label, x, _check_vectors(label, "params", params, param_keys, None))
        xf = x.astype(_compute_dtype(x))
        mean = jnp.mean(xf, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(xf - mean), axis=-1, keepdims=True)
        return _normalize(x, mean, var, epsilon, params), state

    return Layer(init, apply, key_name, label=label)
