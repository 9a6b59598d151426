"""Sequence arrangements built on cells: generation (one-to-many) and encoder-decoders.

* :func:`generate`: a ``lax.scan`` that steps a cell and feeds each output back as the
  next input: the token chosen from the logits (greedy, or sampled at a temperature), or
  the output itself (a regression rolled forward).
* :func:`EncoderDecoder`: sequence to sequence of another length, trained with teacher
  forcing (the decoder reads the true previous target token).
* :func:`decode`: the inference side of an :func:`EncoderDecoder`: encode, then
  :func:`generate` from the encoder's final carry (greedy by default).

See ``docs/recurrent.md`` for the four arrangements with code.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl._checks import as_key, check_float, check_input_shape, check_int, check_option
from jaxdl.core import (
    Array, Carry, Cell, Layer, Params, State, child_key, has_leaves, layer_name,
)
from jaxdl.layers.recurrent import (
    _carry_shapes, _check_cell, _check_param_names, _describe, _run, _start_carry,
)

__all__ = ["generate", "EncoderDecoder", "decode"]


def generate(
    cell: Cell,
    params: Params,
    first_input: Array,
    steps: int,
    *,
    carry: Carry | None = None,
    key: Array | int | None = None,
    temperature: float | Array = 1.0,
    feedback: str = "token",
) -> tuple[Array, Carry]:
    """Steps a cell ``steps`` times, feeding each output back as the next input.

    One-to-many: from one input (a start token, the last token of a prompt, the last
    value of a series) a whole sequence comes out of a ``lax.scan``:

    * ``feedback="token"``: the cell's output ``y_t`` holds logits over a vocabulary and
      its input is a token id (a cell such as ``StackedCells(Embedding(V, E), LSTM(H),
      Dense(V), input_ndim=0)``). The next token is ``argmax(y_t)`` (greedy) when
      ``key`` is None, else a sample from ``softmax(y_t / temperature)``: low
      temperatures approach greedy, high ones approach uniform.
    * ``feedback="output"``: the next input is ``y_t`` itself (its shape must be the
      input's), e.g. a series forecast several steps ahead.

    Args:
      cell: the cell (often a :func:`jaxdl.StackedCells`).
      params: its params.
      first_input: ``(*batch, *step_input)``: token ids ``(*batch,)`` for ``"token"``.
      steps: how many steps to generate.
      carry: the carry to start from (default zeros): an encoder's final carry, or the
        carry after reading a prompt with :func:`jaxdl.scan_cell`.
      key: None for greedy decoding; a PRNG key (or int seed) to sample.
      temperature: the softmax temperature when sampling, > 0 (may be traced).
      feedback: ``"token"`` or ``"output"``.

    Returns:
      ``(outputs, carry)``: the tokens ``(*batch, steps)`` (``"token"``) or the outputs
      ``(*batch, steps, *step_output)`` (``"output"``), and the final carry. The first
      input is not part of the outputs.

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> lm = jaxdl.StackedCells(jaxdl.Embedding(5, 8), jaxdl.GRU(16), jaxdl.Dense(5),
      ...                         input_ndim=0)
      >>> _, params = lm.init(jax.random.key(0), ())
      >>> tokens, _ = jaxdl.generate(lm, params, jnp.array([0, 3]), 6)   # greedy
      >>> tokens.shape, tokens.dtype
      ((2, 6), dtype('int32'))
      >>> sampled, _ = jaxdl.generate(lm, params, jnp.array([0, 3]), 6, key=1, temperature=0.5)
      >>> bool(jnp.all(sampled == jaxdl.generate(lm, params, jnp.array([0, 3]), 6, key=1,
      ...                                        temperature=0.5)[0]))    # same key, same text
      True
    """
    fn = "generate"
    cell = _check_cell(fn, cell)
    steps = check_int(fn, "steps", steps, min_value=1)
    feedback = check_option(fn, "feedback", feedback, ("token", "output"))
    temperature = check_float(fn, "temperature", temperature, min_value=0.0, min_open=True)
    key = as_key(fn, key, allow_none=True)
    label = f"generate({cell.label})"
    x0 = jnp.asarray(first_input)
    nd = cell.input_ndim
    if x0.ndim < nd:
        raise ValueError(f"{label}: expected first_input of shape (*batch, *step_input) with "
                         f"{nd} step axes (the cell's input_ndim), got {tuple(x0.shape)}")
    batch = tuple(x0.shape[:x0.ndim - nd])
    if feedback == "token" and not jnp.issubdtype(x0.dtype, jnp.integer):
        raise TypeError(f"{label}: feedback='token' feeds token ids back, so first_input "
                        f"must hold integer ids, got dtype {x0.dtype}; for real-valued "
                        "outputs use feedback='output'")
    carry = _start_carry(label, cell, params, x0, carry, batch)
    _, y_abs = jax.eval_shape(lambda p, c, x: cell.step(p, c, x), params, carry, x0)
    if feedback == "token":
        if y_abs.shape[:-1] != batch or not jnp.issubdtype(y_abs.dtype, jnp.floating):
            raise ValueError(f"{label}: feedback='token' needs outputs of logits (*batch, "
                             f"vocab) = {batch + ('vocab',)}, got {_describe(y_abs)}")
    elif (y_abs.shape, y_abs.dtype) != (x0.shape, x0.dtype):
        raise ValueError(f"{label}: feedback='output' feeds each output back as the next "
                         f"input, so they must match: input {tuple(x0.shape)} {x0.dtype}, "
                         f"output {tuple(y_abs.shape)} {y_abs.dtype}")

    keys = None if key is None else jax.random.split(key, steps)
    return _generate_loop(cell, steps, feedback, params, carry, x0, keys,
                          jnp.asarray(temperature))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _generate_loop(cell: Cell, steps: int, feedback: str, params: Params, carry: Carry,
                   x0: Array, keys: Array | None, temperature: Array) -> tuple[Array, Carry]:
    """The loop of :func:`generate` on checked arguments (jitted: compiled once per shape
    when called eagerly, inlined under ``jit``)."""

    def body(state: tuple[Carry, Array], k: Array | None) -> tuple[tuple[Carry, Array], Array]:
        c, x = state
        c, y = cell.step(params, c, x)
        if feedback == "output":
            return (c, y), y
        if k is None:
            nxt = jnp.argmax(y, axis=-1)
        else:
            nxt = jax.random.categorical(k, y / temperature.astype(y.dtype), axis=-1)
        nxt = nxt.astype(x.dtype)
        return (c, nxt), nxt

    (carry, _), outs = jax.lax.scan(body, (carry, x0), keys, length=steps)
    n_batch = x0.ndim - cell.input_ndim
    return jnp.moveaxis(outs, 0, n_batch), carry


def EncoderDecoder(encoder: Layer, decoder: Cell, *, unroll: int = 1,
                   name: str | None = None) -> Layer:
    """Sequence to sequence of another length: an encoder reads the source into a carry
    and a decoder cell, started from that carry, produces the target.

    In training the decoder reads the true previous target tokens (teacher forcing): the
    input is ``(source, decoder_inputs)`` with ``decoder_inputs`` the target shifted right
    behind a start token, and the output has one step per decoder input. At inference use
    :func:`decode`, which feeds the decoder its own predictions (greedy decoding).

    Args:
      encoder: a layer returning ``(outputs, carry)``, the carry being the decoder's:
        typically ``RNN(StackedCells(Embedding(V, E), LSTM(H), input_ndim=0),
        return_sequences=False, return_carry=True)`` for a decoder
        ``StackedCells(Embedding(V, E), LSTM(H), Dense(V), input_ndim=0)`` (the same cell
        names give the same carry structure). It receives ``lengths`` (of the source).
      decoder: the decoder cell.
      unroll: the decoder loop's ``unroll``.
      name: the snake_case name (default ``"encoder_decoder"``).

    Shapes:
      ``init`` takes ``(source_shape, target_shape)``, e.g. ``((None,), (None,))`` for
      token ids, and returns ``(target_time, *decoder_output)``; ``apply`` takes
      ``(source, decoder_inputs)`` with the same batch axes. ``params = {"encoder": ...,
      "decoder": ...}``. ``lengths`` are the source's; the decoder reads every target step
      (mask padded targets in the loss).

    Example:
      >>> import jax, jax.numpy as jnp, jaxdl
      >>> V = 12
      >>> encoder = jaxdl.RNN(jaxdl.StackedCells(jaxdl.Embedding(V, 8), jaxdl.LSTM(16),
      ...                                        input_ndim=0),
      ...                     return_sequences=False, return_carry=True)
      >>> decoder = jaxdl.StackedCells(jaxdl.Embedding(V, 8), jaxdl.LSTM(16), jaxdl.Dense(V),
      ...                              input_ndim=0)
      >>> model = jaxdl.EncoderDecoder(encoder, decoder)
      >>> out_shape, params, state = model.init(jax.random.key(0), ((None,), (None,)))
      >>> out_shape, sorted(params)
      ((None, 12), ['decoder', 'encoder'])
      >>> source, decoder_inputs = jnp.ones((2, 7), jnp.int32), jnp.zeros((2, 4), jnp.int32)
      >>> model.apply(params, state, (source, decoder_inputs))[0].shape
      (2, 4, 12)
      >>> tokens, _ = jaxdl.decode(encoder, decoder, params, source, jnp.zeros(2, jnp.int32), 4)
      >>> tokens.shape
      (2, 4)
    """
    fn = "EncoderDecoder"
    if not isinstance(encoder, Layer):
        raise TypeError(f"{fn}: encoder must be a jaxdl Layer returning (outputs, carry), "
                        f"got {type(encoder).__name__}")
    decoder = _check_cell(fn, decoder, "decoder")
    unroll = check_int(fn, "unroll", unroll, min_value=1)
    key_name = layer_name(fn, name)
    label = f"{fn}({encoder.label or encoder.name}, {decoder.label})" + \
        ("" if name is None else f" {name!r}")
    want_carry = _carry_shapes(decoder)

    def init(key: Array, input_shape: Any) -> tuple[Any, Params, State]:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 2 or \
                not all(isinstance(s, (tuple, list)) for s in input_shape):
            raise ValueError(f"{label}: expected input_shape (source_shape, target_shape), "
                             f"e.g. ((None,), (None,)) for token ids, got {input_shape!r}")
        src_shape, tgt_shape = input_shape
        k_enc, k_dec = child_key(key, "encoder"), child_key(key, "decoder")
        enc_out, p_enc, s_enc = encoder.init(k_enc, src_shape)
        if not isinstance(enc_out, tuple) or len(enc_out) != 2 or \
                jax.tree_util.tree_structure(enc_out[1]) != \
                jax.tree_util.tree_structure(want_carry) or enc_out[1] != want_carry:
            raise ValueError(f"{label}: the encoder must return (outputs, carry) with the "
                             f"decoder's carry {want_carry!r} (build it with "
                             f"RNN(..., return_carry=True) over the same cells), but its "
                             f"output shape is {enc_out!r}")
        tgt = check_input_shape(label, tgt_shape)
        if len(tgt) != 1 + decoder.input_ndim:
            raise ValueError(f"{label}: expected a target shape (time, *step_input) with "
                             f"{decoder.input_ndim} step axes, got {tgt}")
        out, p_dec = decoder.init(k_dec, tgt[1:])
        params = {k: p for k, p in (("encoder", p_enc), ("decoder", p_dec)) if has_leaves(p)}
        state = {"encoder": s_enc} if has_leaves(s_enc) else {}
        return (tgt[0], *out), params, state

    def apply(params: Params, state: State, x: Any, *, key: Array | None = None,
              train: bool = False, lengths: Array | None = None) -> tuple[Array, State]:
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise ValueError(f"{label}: expected input (source, decoder_inputs), got "
                             f"{_describe(x)}")
        _check_param_names(label, params, ("encoder", "decoder"))
        source, targets = x
        (_, carry), s_enc = encoder.apply(params.get("encoder", {}), state.get("encoder", {}),
                                          source, key=child_key(key, "encoder"), train=train,
                                          lengths=lengths)
        ys, _, _ = _run(label, decoder, params.get("decoder", {}), targets, carry=carry,
                        lengths=None, reverse=False, unroll=unroll)
        return ys, ({"encoder": s_enc} if has_leaves(s_enc) else {})

    return Layer(init, apply, key_name, label=label)


def decode(
    encoder: Layer,
    decoder: Cell,
    params: Params,
    source: Array,
    first_input: Array,
    steps: int,
    *,
    state: State | None = None,
    lengths: Array | None = None,
    key: Array | int | None = None,
    temperature: float | Array = 1.0,
    feedback: str = "token",
) -> tuple[Array, Carry]:
    """Inference for an :func:`EncoderDecoder`: encodes ``source``, then runs
    :func:`generate` from the encoder's carry, each prediction fed back as the next input.

    Args:
      encoder, decoder: the parts the :func:`EncoderDecoder` was built from.
      params: the :func:`EncoderDecoder`'s params ``{"encoder": ..., "decoder": ...}``.
      source: the source ``(*batch, time, ...)``.
      first_input: the decoder's first input, ``(*batch,)`` start tokens.
      steps: how many steps to decode.
      state: the :func:`EncoderDecoder`'s state (default ``{}``).
      lengths: the source's valid lengths ``(*batch,)``.
      key, temperature, feedback: as :func:`generate` (``key=None``: greedy decoding).

    Returns:
      ``(outputs, carry)`` as :func:`generate`: tokens ``(*batch, steps)`` for
      ``"token"``. The example of :func:`EncoderDecoder` shows a call.
    """
    if not isinstance(params, Mapping) or "decoder" not in params:
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"decode: expected the EncoderDecoder's params {{'encoder': ..., "
                         f"'decoder': ...}}, got {got}")
    state = {} if state is None else state
    (_, carry), _ = encoder.apply(params.get("encoder", {}), state.get("encoder", {}), source,
                                  lengths=lengths)
    return generate(decoder, params["decoder"], first_input, steps, carry=carry, key=key,
                    temperature=temperature, feedback=feedback)
