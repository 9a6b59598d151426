"""Convolutions over 1-D, 2-D and 3-D channels-last inputs: Conv and ConvTranspose.

One N-D implementation behind every spatial rank (Equinox's ``Conv1d/2d/3d`` idea): the
rank is the length of ``kernel_size``. Inputs are channels-last, ``(*batch, *spatial,
in_features)``; weights use Flax's HWIO layout ``(*kernel_size, in_features // groups,
features)``, so parameters move between the two libraries unchanged.

The private helpers here (spatial tuples, padding forms, output sizes) are shared with
:mod:`jaxdl.layers.pooling`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import initializers as inits
from jaxdl._checks import (
    as_key, check_bool, check_dtype, check_input_shape, check_int, check_option, check_shape,
    show_value,
)
from jaxdl.core import Array, Layer, Params, State, layer_name
from jaxdl.layers.dense import _check_weight_params, _compute_dtype

__all__ = ["Conv", "ConvTranspose"]

# lax dimension numbers for channels-last inputs and HWIO kernels, by spatial rank
_DIMENSION_NUMBERS = {
    1: ("NHC", "HIO", "NHC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}
_PADDINGS = ("SAME", "VALID", "CAUSAL")

Padding = str | tuple[tuple[int, int], ...]


# ----------------------------------------------------------- shared with pooling.py


def _is_int(v: Any) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)


def _window(fn: str, arg: str, value: Any, *, max_rank: int | None = 3) -> tuple[int, ...]:
    """``kernel_size``/``window``: a tuple of positive ints whose length is the spatial rank
    (1, 2 or 3 when ``max_rank`` is 3). A bare int is refused: its rank would be a guess."""
    ranks = "1, 2 or 3" if max_rank == 3 else "one or more"
    if _is_int(value):
        raise TypeError(f"{fn}: {arg} must be a tuple of {ranks} ints (its length is the "
                        f"spatial rank), got the bare int {value}; write ({value},) for 1-D "
                        f"inputs (sequences) or ({value}, {value}) for 2-D inputs (images)")
    if not isinstance(value, (tuple, list)) or not value or not all(_is_int(v) for v in value):
        raise TypeError(f"{fn}: {arg} must be a tuple of {ranks} ints, got "
                        f"{show_value(value)} ({type(value).__name__})")
    out = tuple(int(v) for v in value)
    if max_rank is not None and len(out) > max_rank:
        raise ValueError(f"{fn}: {arg} must have {ranks} entries (the spatial rank), got "
                         f"{out} of length {len(out)}")
    if any(v < 1 for v in out):
        raise ValueError(f"{fn}: {arg} must hold sizes >= 1, got {out}")
    return out


def _per_axis(fn: str, arg: str, value: Any, rank: int) -> tuple[int, ...]:
    """``strides``/``dilation``: an int >= 1 for every spatial axis, or a tuple of ``rank``."""
    if _is_int(value):
        check_int(fn, arg, value, min_value=1)
        return (int(value),) * rank
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
        raise TypeError(f"{fn}: {arg} must be an int or a tuple of {rank} ints (one per "
                        f"spatial axis), got {show_value(value)} ({type(value).__name__})")
    out = tuple(int(v) for v in value)
    if len(out) != rank:
        raise ValueError(f"{fn}: {arg} must be an int or a tuple of {rank} ints (one per "
                         f"spatial axis), got {out} of length {len(out)}")
    if any(v < 1 for v in out):
        raise ValueError(f"{fn}: {arg} must be >= 1 on every axis, got {out}")
    return out


def _padding(fn: str, value: Any, rank: int, *, allowed: Sequence[str] = ("SAME", "VALID")
             ) -> Padding:
    """``"SAME"``/``"VALID"`` (any case; ``"CAUSAL"`` when allowed), or explicit
    ``((low, high), ...)`` pairs, one per spatial axis, from an int (the same on both sides of
    every axis), a sequence of ints (both sides of each axis) or a sequence of pairs."""
    forms = (f"{', '.join(repr(a) for a in allowed)}, an int, a tuple of {rank} ints or a "
             f"tuple of {rank} (low, high) pairs")
    if isinstance(value, str):
        upper = value.upper()
        return upper if upper in allowed else check_option(fn, "padding", value, allowed)
    if _is_int(value):
        check_int(fn, "padding", value, min_value=0)
        return ((int(value), int(value)),) * rank
    if isinstance(value, (tuple, list)):
        pairs = []
        for p in value:
            if _is_int(p):
                pairs.append((int(p), int(p)))
            elif isinstance(p, (tuple, list)) and len(p) == 2 and all(_is_int(v) for v in p):
                pairs.append((int(p[0]), int(p[1])))
            else:
                break
        else:
            if len(pairs) == rank:
                if any(v < 0 for pair in pairs for v in pair):
                    raise ValueError(f"{fn}: padding must be >= 0, got {tuple(value)}")
                return tuple(pairs)
            if rank == 1 and len(value) == 2 and all(_is_int(v) for v in value):
                raise ValueError(f"{fn}: padding {tuple(value)} has 2 entries for 1 spatial "
                                 f"axis; for (low, high) padding of a 1-D input write "
                                 f"({tuple(value)},)")
            raise ValueError(f"{fn}: padding must be {forms}; got {show_value(value)} with "
                             f"{len(value)} entries for {rank} spatial axes")
    raise TypeError(f"{fn}: padding must be {forms}; got {show_value(value)} "
                    f"({type(value).__name__})")


def _show_padding(padding: Padding) -> str:
    """``'SAME'``, ``1`` for one size on both sides of every axis, else the pairs."""
    if isinstance(padding, str):
        return repr(padding)
    if len({v for pair in padding for v in pair}) == 1:
        return str(padding[0][0])
    return str(padding)


def _show_axes(values: tuple[int, ...]) -> str:
    """``2`` for ``(2, 2)``, else the tuple: how strides and dilations appear in labels."""
    return str(values[0]) if len(set(values)) == 1 else str(values)


def _dilated(k: int, d: int) -> int:
    return d * (k - 1) + 1


def _out_size(label: str, axis: int, n: int | None, k: int, s: int, d: int,
              padding: Padding) -> int | None:
    """Output length of one spatial axis of a convolution or a pooling window:
    ``ceil(n / s)`` for SAME, else ``floor((n + lo + hi - d(k - 1) - 1) / s) + 1``."""
    if n is None:
        return None
    if padding == "SAME":
        return -(-n // s)
    lo, hi = (0, 0) if padding == "VALID" else padding[axis]
    span = n + lo + hi - _dilated(k, d)
    if span < 0:
        size = f"{n}" if lo == hi == 0 else f"{n} (+ padding {lo}, {hi})"
        extent = (f"the window {k}" if d == 1 else
                  f"the dilated kernel {_dilated(k, d)} (= {d}·({k} - 1) + 1)")
        raise ValueError(f"{label}: spatial axis {axis} has size {size}, smaller than {extent}"
                         f" with padding {_show_padding(padding)}; use padding='SAME' or a "
                         f"larger input")
    return span // s + 1


def _check_in_shape(label: str, input_shape: Any, rank: int, *, need_channels: bool = True
                    ) -> tuple[int | None, ...]:
    """A per-example ``(*spatial, channels)`` shape of the layer's rank."""
    shape = check_input_shape(label, input_shape)
    if len(shape) != rank + 1 or (need_channels and shape[-1] is None):
        axes = ", ".join(["spatial"] * rank if rank > 1 else ["length"])
        raise ValueError(f"{label}: expected a per-example input_shape ({axes}, channels) of "
                         f"rank {rank + 1} (batch axis excluded, channels last"
                         f"{', known' if need_channels else ''}), got {shape}"
                         + ("; add a channel axis: (*shape, 1)" if len(shape) == rank else ""))
    return shape


def _check_x(label: str, x: Any, rank: int, channels: int | None) -> None:
    """``x`` of shape ``(*batch, *spatial, channels)``, with a hint for a missing channel axis."""
    try:
        check_shape(label, x, (None,) * rank + (channels,))
    except ValueError as e:
        hint = ""
        if channels == 1 and jnp.ndim(x) >= rank and jnp.shape(x)[-1] != 1:
            hint = "; images without a channel axis need one: x[..., None]"
        raise ValueError(f"{e} (spatial axes, then channels last){hint}") from None


def _flat_batch(x: Array, rank: int) -> tuple[Array, tuple[int, ...]]:
    """``(*batch, *spatial, C)`` -> ``(prod(batch), *spatial, C)`` and the batch shape
    (nothing is moved when there is exactly one batch axis)."""
    batch = tuple(x.shape[:x.ndim - rank - 1])
    if len(batch) == 1:
        return x, batch
    return jnp.reshape(x, (math.prod(batch), *x.shape[len(batch):])), batch


def _cast(x: Array, w: Array, b: Array | None, compute_dtype: Any
          ) -> tuple[Array, Array, Array | None]:
    """Inputs and parameters in the compute dtype; by default their promoted dtype (as
    Flax's ``promote_dtype``: float32 params and a bfloat16 input compute in float32)."""
    dtype = compute_dtype
    if dtype is None:
        dtype = jnp.result_type(x, w) if b is None else jnp.result_type(x, w, b)
        if not jnp.issubdtype(dtype, jnp.floating):
            dtype = jnp.float32
    return x.astype(dtype), w.astype(dtype), None if b is None else b.astype(dtype)


def _add_bias(y: Array, b: Array | None) -> Array:
    if b is None:
        return y
    return y + jnp.reshape(b, (1,) * (y.ndim - 1) + b.shape)  # explicit broadcast


def _label(kind: str, features: int, kernel: tuple[int, ...], name: str | None,
           options: Sequence[tuple[str, Any, Any]]) -> str:
    shown = [f"{features}", str(kernel)]
    shown += [f"{k}={text}" for k, text, default in options if text != default]
    return f"{kind}({', '.join(shown)})" + ("" if name is None else f" {name!r}")


# ------------------------------------------------- the core of Conv and ConvTranspose


def _conv_forward(x: Array, w: Array, strides: tuple[int, ...], pad: Padding,
                  dilation: tuple[int, ...], dimension_numbers: Any, groups: int) -> Array:
    return jax.lax.conv_general_dilated(
        x, w, window_strides=strides, padding=pad, rhs_dilation=dilation,
        dimension_numbers=dimension_numbers, feature_group_count=groups)


def _conv_transposed(x: Array, w: Array, strides: tuple[int, ...], pad: Padding,
                     dilation: tuple[int, ...], dimension_numbers: Any, groups: int) -> Array:
    del groups  # always 1: ConvTranspose has no feature groups
    return jax.lax.conv_transpose(x, w, strides, pad, rhs_dilation=dilation,
                                  dimension_numbers=dimension_numbers)


def _conv_layer(kind: str, features: Any, kernel_size: Any, strides: Any, padding: Any,
                dilation: Any, groups: Any, use_bias: Any, w_init: Any, b_init: Any,
                dtype: Any, compute_dtype: Any, name: str | None, *,
                allowed: Sequence[str], out_size: Callable[..., int | None],
                op: Callable[..., Array]) -> Layer:
    """The one constructor core of :func:`Conv` and :func:`ConvTranspose`: the options
    checked (in this order, so the first bad one is reported), the label, ``init`` and
    ``apply``. They differ only in the padding strings ``allowed``, the per-axis
    ``out_size`` and the lax ``op`` (``groups`` is 1 for ConvTranspose)."""
    features = check_int(kind, "features", features, min_value=1)
    kernel = _window(kind, "kernel_size", kernel_size)
    rank = len(kernel)
    strides = _per_axis(kind, "strides", strides, rank)
    dilation = _per_axis(kind, "dilation", dilation, rank)
    pad = _padding(kind, padding, rank, allowed=allowed)
    causal = pad == "CAUSAL"
    if causal:
        if rank != 1:
            raise ValueError(f"{kind}: padding='CAUSAL' is for 1-D convolutions (sequences), "
                             f"got kernel_size {kernel} of rank {rank}")
        pad = ((dilation[0] * (kernel[0] - 1), 0),)
    groups = check_int(kind, "feature_group_count", groups, min_value=1)
    if features % groups:
        raise ValueError(f"{kind}: features (={features}) must be divisible by "
                         f"feature_group_count (={groups})")
    use_bias = check_bool(kind, "use_bias", use_bias)
    dtype = check_dtype(kind, dtype)
    cdtype = _compute_dtype(kind, compute_dtype)
    w_init_fn, b_init_fn = inits.get(w_init), inits.get(b_init)
    key_name = layer_name(kind, name)
    label = _label(kind, features, kernel, name, [
        ("strides", _show_axes(strides), "1"),
        ("padding", "'CAUSAL'" if causal else _show_padding(pad), "'SAME'"),
        ("dilation", _show_axes(dilation), "1"),
        ("feature_group_count", str(groups), "1"),
        ("compute_dtype", str(cdtype), "None")])
    dimension_numbers = _DIMENSION_NUMBERS[rank]

    def out_spatial(spatial: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(out_size(label, i, n, kernel[i], strides[i], dilation[i], pad)
                     for i, n in enumerate(spatial))

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        shape = _check_in_shape(label, input_shape, rank)
        in_features = shape[-1]
        if in_features % groups:
            raise ValueError(f"{label}: in_features (={in_features}) must be divisible by "
                             f"feature_group_count (={groups}), got input_shape {shape}")
        out = (*out_spatial(shape[:-1]), features)
        k_w, k_b = jax.random.split(as_key(label, key))
        params = {"w": w_init_fn(k_w, (*kernel, in_features // groups, features), dtype)}
        if use_bias:
            params["b"] = b_init_fn(k_b, (features,), dtype)
        return out, params, {}

    @jax.jit  # built once per layer: one program per input shape, eager or under a jit
    def convolve(x: Array, w: Array, b: Array | None) -> Array:
        xs, batch = _flat_batch(x, rank)
        xs, w, b = _cast(xs, w, b, cdtype)
        y = op(xs, w, strides, pad, dilation, dimension_numbers, groups)
        return jnp.reshape(_add_bias(y, b), (*batch, *y.shape[1:]))

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del key, train, lengths
        _check_weight_params(label, params, (*kernel, None, features), use_bias)
        _check_x(label, x, rank, params["w"].shape[-2] * groups)
        out_spatial(x.shape[x.ndim - rank - 1:-1])  # no output (kernel too long): an error
        return convolve(x, params["w"], params.get("b")), state

    return Layer(init, apply, key_name, label=label)


# -------------------------------------------------------------------------------- Conv


def Conv(
    features: int,
    kernel_size: tuple[int, ...],
    *,
    strides: int | tuple[int, ...] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "SAME",
    dilation: int | tuple[int, ...] = 1,
    feature_group_count: int = 1,
    use_bias: bool = True,
    w_init: inits.Initializer | str = "glorot_uniform",
    b_init: inits.Initializer | str = "zeros",
    dtype: Any = jnp.float32,
    compute_dtype: Any = None,
    name: str | None = None,
) -> Layer:
    """Convolution: ``features`` filters slid over a 1-D, 2-D or 3-D channels-last input.

    Each output position is ``y[p, f] = b[f] + Σ_{i, c} x[s·p + d·i - lo, c] · w[i, c, f]``:
    a dot product of one filter ``w[..., f]`` with the window of the input under it, the
    window moving ``s`` (``strides``) positions at a time, its taps ``d`` (``dilation``)
    apart, the input zero-padded by ``lo`` before and ``hi`` after. Along each spatial axis
    of length ``n`` the output length is ``floor((n + lo + hi - d(k - 1) - 1) / s) + 1``;
    ``"VALID"`` means no padding, ``"SAME"`` pads so the output length is ``ceil(n / s)``
    (the extra padding, if odd, after). With ``feature_group_count = g`` the input channels
    are split into ``g`` groups, each convolved with its own ``features / g`` filters
    (``g = in_features`` with ``features = in_features`` is a depthwise convolution).
    Wraps ``jax.lax.conv_general_dilated``; matches ``flax.linen.Conv`` with the same weights.

    Args:
      features: the number of filters (output channels).
      kernel_size: the filter's spatial size, a tuple whose length is the spatial rank:
        ``(k,)`` for sequences, ``(kh, kw)`` for images, ``(kd, kh, kw)`` for volumes.
      strides: the step between windows: an int for every axis or a tuple of the rank.
      padding: ``"SAME"`` (default), ``"VALID"``, ``"CAUSAL"`` (1-D only: ``d(k - 1)``
        zeros before, none after, so output ``t`` sees inputs ``<= t``), an int (that many
        zeros on both sides of every axis), a tuple of ints (both sides, per axis) or a
        tuple of ``(low, high)`` pairs.
      dilation: the kernel dilation ``d`` (atrous convolution): an int or a tuple.
      feature_group_count: ``g``; must divide ``features`` and ``in_features``.
      use_bias: add the bias ``b``.
      w_init: initialiser of ``w`` (default Xavier/Glorot uniform with ``fan_in =
        prod(kernel_size)·in_features/g``, ``fan_out = prod(kernel_size)·features``).
      b_init: initialiser of ``b`` (default zeros).
      dtype: the parameters' dtype (default float32).
      compute_dtype: the dtype the convolution runs in (e.g. ``jnp.bfloat16``): the input,
        ``w`` and ``b`` are cast to it and the output has it, while the parameters (and
        their gradients) stay in ``dtype`` (Flax's ``dtype``/``param_dtype``). ``None``
        (default): the promoted dtype of the input and the parameters.
      name: the snake_case name (default ``"conv"``).

    Shapes:
      ``init`` takes a per-example ``(*spatial, in_features)`` (a spatial axis may be
      ``None``: any length, e.g. ``(None, 64)`` for text) and returns ``(*out_spatial,
      features)``; ``apply`` takes ``x: (*batch, *spatial, in_features)`` with any number
      of leading batch axes. ``params = {"w": (*kernel_size, in_features // g, features),
      "b": (features,)}``.

    Raises:
      TypeError: a bare int ``kernel_size``, a non-int stride or window, a non-floating dtype.
      ValueError: a size < 1, an unknown padding string (with the closest), ``"CAUSAL"``
        beyond 1-D, groups that do not divide the channels, an input of the wrong rank or
        channel count, a spatial axis shorter than the (dilated) kernel with VALID or
        explicit padding, params of another shape.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> layer = jaxdl.Conv(8, (3, 3), strides=2)
      >>> out_shape, params, _ = layer.init(jax.random.key(0), (28, 28, 1))
      >>> out_shape, params["w"].shape, params["b"].shape
      ((14, 14, 8), (3, 3, 1, 8), (8,))
      >>> layer.apply(params, {}, jnp.ones((5, 28, 28, 1)))[0].shape
      (5, 14, 14, 8)
    """
    return _conv_layer("Conv", features, kernel_size, strides, padding, dilation,
                       feature_group_count, use_bias, w_init, b_init, dtype, compute_dtype,
                       name, allowed=_PADDINGS, out_size=_out_size, op=_conv_forward)


# ----------------------------------------------------------------------- ConvTranspose


def _transpose_out_size(label: str, axis: int, n: int | None, k: int, s: int, d: int,
                        padding: Padding) -> int | None:
    """Output length of a transposed convolution along one axis (``lax.conv_transpose``):
    ``n·s`` for SAME, ``n·s + max(d(k - 1) + 1 - s, 0)`` for VALID, and
    ``(n - 1)·s + lo + hi - d(k - 1) + 1`` for explicit padding of the stride-dilated input."""
    if n is None:
        return None
    dk = _dilated(k, d)
    if padding == "SAME":
        return n * s
    if padding == "VALID":
        return n * s + max(dk - s, 0)
    lo, hi = padding[axis]
    size = (n - 1) * s + lo + hi - dk + 2
    if size < 1:
        raise ValueError(f"{label}: spatial axis {axis} of size {n} gives no output with "
                         f"padding {padding} (the stride-dilated input {(n - 1) * s + 1} "
                         f"plus padding {lo} + {hi} is shorter than the kernel {dk}); use "
                         f"more padding or 'SAME'")
    return size


def ConvTranspose(
    features: int,
    kernel_size: tuple[int, ...],
    *,
    strides: int | tuple[int, ...] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "SAME",
    dilation: int | tuple[int, ...] = 1,
    use_bias: bool = True,
    w_init: inits.Initializer | str = "glorot_uniform",
    b_init: inits.Initializer | str = "zeros",
    dtype: Any = jnp.float32,
    compute_dtype: Any = None,
    name: str | None = None,
) -> Layer:
    """Transposed convolution (fractionally strided): upsamples by ``strides``.

    The input is spread out with ``s - 1`` zeros between neighbours (stride dilation),
    padded, and convolved with stride 1. Wraps ``jax.lax.conv_transpose`` and matches
    ``flax.linen.ConvTranspose`` (``transpose_kernel=False``: the kernel is not flipped, as
    in JAX; Keras's ``Conv2DTranspose`` is the ``transpose_kernel=True`` variant).

    Output length per axis of length ``n``, with ``k' = d(k - 1) + 1``: ``n·s`` for
    ``"SAME"`` (default), ``n·s + max(k' - s, 0)`` for ``"VALID"``, and
    ``(n - 1)·s + lo + hi - k' + 2`` for explicit padding, which (as in Flax and
    ``lax.conv_transpose``) pads the stride-dilated input, not the forward convolution.

    Args:
      features: output channels.
      kernel_size: a tuple of 1, 2 or 3 ints (its length is the spatial rank).
      strides: the upsampling factor: an int or a tuple of the rank.
      padding: ``"SAME"``, ``"VALID"``, an int, a tuple of ints or of ``(low, high)`` pairs.
      dilation: kernel dilation: an int or a tuple of the rank.
      use_bias: add the bias ``b``.
      w_init: initialiser of ``w`` (default Xavier/Glorot uniform).
      b_init: initialiser of ``b`` (default zeros).
      dtype: the parameters' dtype.
      compute_dtype: the dtype the convolution runs in (e.g. ``jnp.bfloat16``), parameters
        kept in ``dtype``; ``None``: the promoted dtype of input and parameters.
      name: the snake_case name (default ``"conv_transpose"``).

    Shapes:
      ``(*batch, *spatial, in_features) -> (*batch, *out_spatial, features)``;
      ``params = {"w": (*kernel_size, in_features, features), "b": (features,)}``.

    Example:
      >>> import jax, jaxdl
      >>> layer = jaxdl.ConvTranspose(4, (3, 3), strides=2)
      >>> out_shape, params, _ = layer.init(jax.random.key(0), (7, 7, 8))
      >>> out_shape, params["w"].shape
      ((14, 14, 4), (3, 3, 8, 4))
    """
    return _conv_layer("ConvTranspose", features, kernel_size, strides, padding, dilation, 1,
                       use_bias, w_init, b_init, dtype, compute_dtype, name,
                       allowed=("SAME", "VALID"), out_size=_transpose_out_size,
                       op=_conv_transposed)
