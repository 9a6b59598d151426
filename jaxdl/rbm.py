"""Restricted Boltzmann machines, trained by contrastive divergence, as pure functions.

An RBM (Smolensky 1986; Hinton 2002) has binary visible units ``v`` (``V`` of them) and
binary hidden units ``h`` (``H``), connected by weights ``W`` ``(V, H)`` and nothing else:
no visible-visible or hidden-hidden edges ("restricted"). Its energy is
``E(v, h) = -v·b_v - h·b_h - vᵀ W h`` and ``p(v, h) ∝ exp(-E)``. Because the layers do
not talk among themselves, both conditionals factorise:

* ``p(h_j = 1 | v) = σ(b_h + vᵀ W)_j`` (:func:`hidden_probabilities`; the :func:`RBM`
  layer's ``apply``),
* ``p(v_i = 1 | h) = σ(b_v + W h)_i`` (:func:`visible_probabilities`).

Summing ``h`` out gives the free energy ``F(v) = -v·b_v - Σ_j softplus(b_h + vᵀ W)_j``
(:func:`free_energy`) with ``p(v) ∝ exp(-F(v))``. The log-likelihood gradient is
``-∂F(v_data)/∂θ + E_model[∂F(v)/∂θ]``; contrastive divergence (CD-k) replaces the model
expectation by ``k`` steps of Gibbs sampling started at the data. :func:`cd_loss` is the
scalar whose gradient is exactly the CD-k update, ``mean F(v_data) - mean F(v_k)`` with
``v_k`` held constant, so an RBM trains with ``jax.grad`` and any Optax optimiser.

A deep belief network (Hinton, Osindero and Teh, 2006) stacks RBMs, each trained on the
hidden probabilities of the one below (greedy layer-wise pre-training), and then
fine-tunes the stack as an ordinary network: ``serial(RBM(h1), RBM(h2), Dense(classes))``
*is* that network, since an :func:`RBM` layer's forward pass is ``σ(v W + b_h)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl import initializers as inits
from jaxdl._checks import as_key, check_dtype, check_input_shape, check_int
from jaxdl.core import Array, Layer, Params, State, layer_name

__all__ = ["RBM", "hidden_probabilities", "visible_probabilities", "free_energy",
           "gibbs_step", "cd_loss", "reconstruction_error"]


def _check_params(fn: str, params: Any) -> tuple[Array, Array, Array]:
    if not isinstance(params, Mapping) or set(params) != {"w", "b_visible", "b_hidden"}:
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"{fn}: expected RBM params {{'w': (V, H), 'b_visible': (V,), "
                         f"'b_hidden': (H,)}}, got {got}")
    w, bv, bh = params["w"], params["b_visible"], params["b_hidden"]
    if jnp.ndim(w) != 2 or jnp.shape(bv) != (jnp.shape(w)[0],) or \
            jnp.shape(bh) != (jnp.shape(w)[1],):
        raise ValueError(f"{fn}: expected params['w'] (V, H), params['b_visible'] (V,) and "
                         f"params['b_hidden'] (H,), got {jnp.shape(w)}, {jnp.shape(bv)} and "
                         f"{jnp.shape(bh)}")
    return w, bv, bh


def _check_units(fn: str, what: str, x: Any, size: int) -> Array:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{fn}: expected {what} units as an array (*batch, {size}), got "
                        f"{type(x).__name__}")
    if x.ndim < 1 or x.shape[-1] != size:
        raise ValueError(f"{fn}: expected {what} units of shape (*batch, {size}), got "
                         f"{tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: {what} units must be floating (probabilities or 0/1 "
                        f"values), got dtype {x.dtype}")
    return x


def _broadcast(b: Array, like: Array) -> Array:
    return jnp.broadcast_to(b.astype(like.dtype), like.shape)


def hidden_probabilities(params: Params, v: Array) -> Array:
    """``p(h = 1 | v) = σ(v W + b_h)``: ``v (*batch, V)`` -> ``(*batch, H)``."""
    w, _, bh = _check_params("rbm.hidden_probabilities", params)
    v = _check_units("rbm.hidden_probabilities", "visible", v, w.shape[0])
    z = v @ w.astype(v.dtype)
    return jax.nn.sigmoid(z + _broadcast(bh, z))


def visible_probabilities(params: Params, h: Array) -> Array:
    """``p(v = 1 | h) = σ(h Wᵀ + b_v)``: ``h (*batch, H)`` -> ``(*batch, V)``."""
    w, bv, _ = _check_params("rbm.visible_probabilities", params)
    h = _check_units("rbm.visible_probabilities", "hidden", h, w.shape[1])
    z = h @ w.T.astype(h.dtype)
    return jax.nn.sigmoid(z + _broadcast(bv, z))


def free_energy(params: Params, v: Array) -> Array:
    """``F(v) = -v·b_v - Σ_j softplus(v W + b_h)_j``, with ``p(v) ∝ exp(-F(v))``.

    Args:
      params: the RBM's params.
      v: visible units ``(*batch, V)``, binary or in ``[0, 1]``.

    Returns:
      ``(*batch,)``.
    """
    w, bv, bh = _check_params("rbm.free_energy", params)
    v = _check_units("rbm.free_energy", "visible", v, w.shape[0])
    z = v @ w.astype(v.dtype)
    return -(v @ bv.astype(v.dtype)) - jnp.sum(jax.nn.softplus(z + _broadcast(bh, z)), axis=-1)


def gibbs_step(params: Params, v: Array, key: Array) -> tuple[Array, Array]:
    """One step of block Gibbs sampling, ``v -> h ~ p(h|v) -> v' ~ p(v|h)``.

    Args:
      params: the RBM's params.
      v: visible units ``(*batch, V)``.
      key: PRNG key (or int seed).

    Returns:
      ``(v_sample, v_probabilities)``, both ``(*batch, V)``: the binary sample and the
      probabilities it was drawn from.
    """
    key = as_key("rbm.gibbs_step", key)
    k_h, k_v = jax.random.split(key)
    ph = hidden_probabilities(params, v)
    h = jax.random.bernoulli(k_h, ph).astype(v.dtype)
    pv = visible_probabilities(params, h)
    return jax.random.bernoulli(k_v, pv).astype(v.dtype), pv


def cd_loss(params: Params, v: Array, key: Array, *, k: int = 1) -> Array:
    """The contrastive-divergence (CD-k) objective: its gradient is the CD-k update.

    ``mean F(v) - mean F(stop_gradient(v_k))``, where ``v_k`` is the visible sample after
    ``k`` Gibbs steps from the data ``v``. Minimising it with gradient descent lowers the
    free energy (raises the probability) of the data and raises that of the model's own
    samples; ``jax.grad`` of it gives ``⟨v hᵀ⟩_data - ⟨v hᵀ⟩_k`` for ``W`` (negated), as
    Hinton (2002) writes the rule. The value itself is not a likelihood: watch
    :func:`reconstruction_error` instead.

    Args:
      params: the RBM's params.
      v: a batch of data ``(batch, V)``, binary or in ``[0, 1]``.
      key: PRNG key (or int seed) for the Gibbs chain.
      k: Gibbs steps (CD-1 is the usual choice).

    Returns:
      A scalar.

    Example:
      >>> import jax, jax.numpy as jnp, optax, jaxdl
      >>> _, params, _ = jaxdl.RBM(4).init(jax.random.key(0), (6,))
      >>> v = jnp.array([[1., 1., 1., 0., 0., 0.], [0., 0., 0., 1., 1., 1.]] * 8)
      >>> tx = optax.sgd(0.1)
      >>> opt = tx.init(params)
      >>> before = jaxdl.rbm.reconstruction_error(params, v)
      >>> @jax.jit
      ... def step(params, opt, key):
      ...     grads = jax.grad(jaxdl.rbm.cd_loss)(params, v, key)
      ...     updates, opt = tx.update(grads, opt)
      ...     return optax.apply_updates(params, updates), opt
      >>> for i in range(300):
      ...     params, opt = step(params, opt, jax.random.key(i))
      >>> bool(jaxdl.rbm.reconstruction_error(params, v) < before / 4)
      True
    """
    fn = "rbm.cd_loss"
    k = check_int(fn, "k", k, min_value=1)
    key = as_key(fn, key)
    _check_params(fn, params)
    v = _check_units(fn, "visible", v, params["w"].shape[0])
    vk = v
    for step_key in jax.random.split(key, k):
        vk, _ = gibbs_step(params, vk, step_key)
    vk = jax.lax.stop_gradient(vk)
    return jnp.mean(free_energy(params, v)) - jnp.mean(free_energy(params, vk))


def reconstruction_error(params: Params, v: Array) -> Array:
    """Mean squared error between ``v`` and its mean-field reconstruction
    ``p(v | h = p(h | v))``: the usual progress signal of RBM training.

    Args:
      params: the RBM's params.
      v: ``(*batch, V)``.

    Returns:
      A scalar (the mean over every unit of every example).
    """
    pv = visible_probabilities(params, hidden_probabilities(params, v))
    return jnp.mean((pv - v) ** 2)


def RBM(
    hidden: int,
    *,
    w_init: inits.Initializer | str = inits.normal(0.01),
    dtype: Any = jnp.float32,
    name: str | None = None,
) -> Layer:
    """A restricted Boltzmann machine as a layer: its forward pass is ``p(h = 1 | v)``.

    ``apply`` maps visible units to hidden probabilities ``σ(v W + b_h)``, a sigmoid
    :func:`jaxdl.Dense` layer whose parameters also hold the visible bias ``b_v`` (unused
    by ``apply``; used by :func:`visible_probabilities`, :func:`free_energy` and the
    training rule :func:`cd_loss`). A pre-trained stack ``serial(RBM(h1), RBM(h2), ...)``
    is therefore the deep belief network's MLP, ready for fine-tuning with
    :func:`jaxdl.fit`.

    Args:
      hidden: the number of hidden units ``H``.
      w_init: initialiser of ``w`` ``(V, H)``; default ``N(0, 0.01²)`` (Hinton's practical
        guide). The biases start at zero.
      dtype: the parameters' dtype.
      name: the snake_case name (default ``"rbm"``).

    Shapes:
      ``init`` takes ``(V,)`` and returns ``(H,)``; ``apply`` takes ``(*batch, V)``
      floating units and returns ``(*batch, H)`` probabilities. ``params = {"w": (V, H),
      "b_visible": (V,), "b_hidden": (H,)}``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> rbm = jaxdl.RBM(3)
      >>> out_shape, params, state = rbm.init(jax.random.key(0), (5,))
      >>> out_shape, sorted(params)
      ((3,), ['b_hidden', 'b_visible', 'w'])
      >>> v = jnp.ones((2, 5))
      >>> bool(jnp.all(rbm.apply(params, state, v)[0] == jaxdl.rbm.hidden_probabilities(params, v)))
      True
    """
    fn = "RBM"
    hidden = check_int(fn, "hidden", hidden, min_value=1)
    w_init_fn = inits.get(w_init)
    dtype = check_dtype(fn, dtype)
    key_name = layer_name(fn, name)
    label = f"RBM({hidden})" + ("" if name is None else f" {name!r}")

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        (visible,) = check_input_shape(label, input_shape, rank=1)
        if visible is None:
            raise ValueError(f"{label}: the number of visible units must be known, got "
                             f"input_shape {tuple(input_shape)}")
        params = {"w": w_init_fn(as_key(label, key), (visible, hidden), dtype),
                  "b_visible": jnp.zeros((visible,), dtype),
                  "b_hidden": jnp.zeros((hidden,), dtype)}
        return (hidden,), params, {}

    def apply(params: Params, state: State, x: Array, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        del key, train, lengths
        try:
            _check_params(label, params)
            if params["w"].shape[1] != hidden:
                raise ValueError(f"{label}: expected params['w'] with {hidden} hidden units, "
                                 f"got shape {params['w'].shape}")
            return hidden_probabilities(params, x), state
        except (ValueError, TypeError) as e:
            raise type(e)(str(e).replace("rbm.hidden_probabilities", label, 1)) from None

    return Layer(init, apply, key_name, label=label)
