"""Tests for jaxdl's recurrent networks: cells, RNN, Bidirectional, stacks, generation.

* the cells equal ``flax.linen``'s step for step, with the weight mapping written out;
* masking, reverse and Bidirectional on hand-computed cases (a 1-unit linear RNN);
* every fast loop (hoisted or in-loop projection, custom VJP) equals the plain
  ``lax.scan`` over ``step`` in values and gradients, masked or not, forward or reverse;
* ``check_layer`` (shapes, jit, vmap, float64 numerical gradients) on every wrapper;
* generation, encoder-decoder, and bad input.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from jaxdl.testing import check_layer

KEY = jax.random.key(0)


def _close(a, b, tol=1e-5):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def _perturbed(tree, seed=2):
    """Flax's params plus noise, so zero biases and the like cannot hide a mix-up."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree_util.tree_unflatten(
        treedef, [a + 0.3 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)])


# ------------------------------------------------------------------ equality with Flax
# The weight mapping, Flax -> jaxdl (W_x: (in, gates*units), W_h: (units, gates*units)):
#   SimpleCell:  w_x = i.kernel, b = i.bias, w_h = h.kernel
#   LSTMCell / OptimizedLSTMCell (gates i, f, g, o; bias on the h-side denses):
#     w_x = [if | ii | ig | io].kernel, w_h = [hf | hi | hg | ho].kernel,
#     b = [hf | hi | hg | ho].bias            (jaxdl's gate order is f, i, c~, o)
#   GRUCell (gates r, z, n; biases on the i-side denses, plus hn's own):
#     w_x = [ir | iz | in].kernel, b = [ir | iz | in].bias, w_h = [hr | hz | hn].kernel,
#     b_hn = hn.bias


def _from_flax(kind, v):
    cat = lambda names, what: jnp.concatenate([v[n][what] for n in names], axis=-1)  # noqa
    if kind == "simple":
        return {"w_x": v["i"]["kernel"], "b": v["i"]["bias"], "w_h": v["h"]["kernel"]}
    if kind == "lstm":
        return {"w_x": cat(["if", "ii", "ig", "io"], "kernel"),
                "w_h": cat(["hf", "hi", "hg", "ho"], "kernel"),
                "b": cat(["hf", "hi", "hg", "ho"], "bias")}
    return {"w_x": cat(["ir", "iz", "in"], "kernel"), "b": cat(["ir", "iz", "in"], "bias"),
            "w_h": cat(["hr", "hz", "hn"], "kernel"), "b_hn": v["hn"]["bias"]}


FLAX_CELLS = [
    ("SimpleCell", lambda: nn.SimpleCell(5), lambda: jaxdl.SimpleRNN(5), "simple"),
    ("LSTMCell", lambda: nn.LSTMCell(5), lambda: jaxdl.LSTM(5), "lstm"),
    ("OptimizedLSTMCell", lambda: nn.OptimizedLSTMCell(5), lambda: jaxdl.LSTM(5), "lstm"),
    ("GRUCell", lambda: nn.GRUCell(5), lambda: jaxdl.GRU(5), "gru"),
]


def _flax_setup(make_flax, kind, x):
    cell = make_flax()
    carry0 = cell.initialize_carry(KEY, x[:, 0].shape)
    v = _perturbed(cell.init(KEY, carry0, x[:, 0])["params"])
    return cell, carry0, v, _from_flax(kind, v)


def _to_flax_carry(kind, carry):
    return (carry.cell, carry.hidden) if kind == "lstm" else carry.hidden


@pytest.mark.parametrize("flax_id, make_flax, make_cell, kind", FLAX_CELLS,
                         ids=[c[0] for c in FLAX_CELLS])
def test_cell_equals_flax_step_for_step(flax_id, make_flax, make_cell, kind):
    x = jax.random.normal(jax.random.key(1), (2, 6, 3))
    fcell, fcarry, v, params = _flax_setup(make_flax, kind, x)
    cell = make_cell()
    assert jax.tree_util.tree_map(jnp.shape, params) == \
        jax.tree_util.tree_map(jnp.shape, cell.init(KEY, (3,))[1])

    @jax.jit  # one program: six steps of each, outputs and carries after every step
    def both(params, v, fcarry):
        carry, out = cell.initial_carry((2,), jnp.float32), []
        for t in range(6):
            carry, y = cell.step(params, carry, x[:, t])
            fcarry, fy = fcell.apply({"params": v}, fcarry, x[:, t])
            out.append(((y, _to_flax_carry(kind, carry)), (fy, fcarry)))
        return out

    for mine, theirs in both(params, v, fcarry):
        _close(mine, theirs)


@pytest.mark.parametrize("flax_id, make_flax, make_cell, kind, reverse", [
    (*FLAX_CELLS[2], True),
    pytest.param(*FLAX_CELLS[2], False, marks=pytest.mark.slow),
    pytest.param(*FLAX_CELLS[3], True, marks=pytest.mark.slow),
    pytest.param(*FLAX_CELLS[3], False, marks=pytest.mark.slow),
], ids=["LSTM-reverse", "LSTM-forward", "GRU-reverse", "GRU-forward"])
def test_rnn_equals_flax_rnn_with_seq_lengths(flax_id, make_flax, make_cell, kind, reverse):
    """jaxdl's RNN (fast loop) against Flax's nn.RNN(seq_lengths=, reverse=,
    keep_order=True): equal on the valid steps and in the final carry; jaxdl's padded
    outputs are zero where Flax's are not defined."""
    x = jax.random.normal(jax.random.key(1), (3, 6, 3))
    lengths = jnp.array([6, 2, 4])
    fcell, fcarry, v, params = _flax_setup(make_flax, kind, x)
    rnn = nn.RNN(fcell, return_carry=True, reverse=reverse, keep_order=True)
    f_carry, f_ys = rnn.apply({"params": {"cell": v}}, x, seq_lengths=lengths)
    (ys, carry), _ = jaxdl.RNN(make_cell(), return_carry=True, reverse=reverse).apply(
        params, {}, x, lengths=lengths)
    valid = np.asarray(jaxdl.length_mask(lengths, 6))
    _close(np.asarray(ys)[valid], np.asarray(f_ys)[valid])
    assert np.all(np.asarray(ys)[~valid] == 0)
    _close(_to_flax_carry(kind, carry), f_carry)


# ------------------------------------------------------------------ hand-computed cases


def _linear_rnn(**kw):
    """A 1-unit linear RNN, h_t = 2·x_t + 0.5·h_{t-1}, and its params."""
    cell = jaxdl.SimpleRNN(1, activation="linear")
    params = {"w_x": jnp.array([[2.0]]), "w_h": jnp.array([[0.5]]), "b": jnp.array([0.0])}
    return cell, params


X4 = jnp.array([1.0, 3.0, 7.0, 9.0])[None, :, None]  # (1 sequence, 4 steps, 1 feature)
L2 = jnp.array([2])  # only the first two steps are valid


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_masking_hand_computed(fast):
    cell, p = _linear_rnn()
    cell = cell if fast else cell._replace(scan=None)
    (ys, carry), _ = jaxdl.RNN(cell, return_carry=True).apply(p, {}, X4, lengths=L2)
    # h1 = 2·1 = 2; h2 = 2·3 + 0.5·2 = 7; steps 3, 4 are padding: outputs 0, carry stays 7
    np.testing.assert_allclose(ys[0, :, 0], [2.0, 7.0, 0.0, 0.0])
    np.testing.assert_allclose(carry.hidden, [[7.0]])
    last, _ = jaxdl.RNN(cell, return_sequences=False).apply(p, {}, X4, lengths=L2)
    np.testing.assert_allclose(last, [[7.0]])
    # reversed within the valid length: reads 3 then 1: h = 6, then 2 + 3 = 5
    (ys, carry), _ = jaxdl.RNN(cell, return_carry=True, reverse=True).apply(
        p, {}, X4, lengths=L2)
    np.testing.assert_allclose(ys[0, :, 0], [5.0, 6.0, 0.0, 0.0])  # in input order
    np.testing.assert_allclose(carry.hidden, [[5.0]])
    last, _ = jaxdl.RNN(cell, return_sequences=False, reverse=True).apply(
        p, {}, X4, lengths=L2)
    np.testing.assert_allclose(last, [[5.0]])
    # reversed, no lengths: reads 9, 7, 3, 1: 18, 23, 17.5, 10.75
    ys, _ = jaxdl.RNN(cell, reverse=True).apply(p, {}, X4)
    np.testing.assert_allclose(ys[0, :, 0], [10.75, 17.5, 23.0, 18.0])
    # an empty sequence: zero outputs, the initial carry
    (ys, carry), _ = jaxdl.RNN(cell, return_carry=True).apply(p, {}, X4, lengths=jnp.array([0]))
    assert float(jnp.abs(ys).sum()) == 0.0 and float(carry.hidden[0, 0]) == 0.0


def test_padding_values_do_not_matter():
    cell, p = _linear_rnn()
    junk = X4.at[:, 2:].set(jnp.nan)  # even NaN padding is inert (values and gradients)
    layer = jaxdl.RNN(cell, return_carry=True)
    (ys, carry), _ = layer.apply(p, {}, junk, lengths=L2)
    np.testing.assert_allclose(ys[0, :, 0], [2.0, 7.0, 0.0, 0.0])
    g = jax.grad(lambda pp: jnp.sum(layer.apply(pp, {}, junk, lengths=L2)[0][0]))(p)
    assert all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree_util.tree_leaves(g))


def test_bidirectional_hand_computed():
    cell, p = _linear_rnn()
    params = {"forward": p, "backward": p}
    bi = jaxdl.Bidirectional(jaxdl.RNN(cell), jaxdl.RNN(cell))
    y, _ = bi.apply(params, {}, X4, lengths=L2)
    # [forward | backward] per step: forward 2, 7; backward (reads 3 then 1) 5, 6
    np.testing.assert_allclose(y[0], [[2.0, 5.0], [7.0, 6.0], [0.0, 0.0], [0.0, 0.0]])
    y, _ = jaxdl.Bidirectional(jaxdl.RNN(cell), jaxdl.RNN(cell), merge="sum").apply(
        params, {}, X4, lengths=L2)
    np.testing.assert_allclose(y[0, :, 0], [7.0, 13.0, 0.0, 0.0])
    (y, carry), _ = jaxdl.Bidirectional(
        jaxdl.RNN(cell, return_sequences=False, return_carry=True),
        jaxdl.RNN(cell, return_sequences=False, return_carry=True)).apply(
        params, {}, X4, lengths=L2)
    np.testing.assert_allclose(y, [[7.0, 5.0]])  # each direction after the whole sequence
    assert isinstance(carry, jaxdl.BidirectionalState)
    np.testing.assert_allclose([carry.forward.hidden[0, 0], carry.backward.hidden[0, 0]],
                               [7.0, 5.0])


# ------------------------------------------------------------------ fast path == plain scan


def _values_and_grads(layer, params, x, lengths):
    """Outputs, final carry, and the gradient of a projection of both with respect to the
    params and the input."""
    def f(p, xx):
        (ys, carry), _ = layer.apply(p, {}, xx, lengths=lengths)
        w = jnp.cos(jnp.arange(ys.size, dtype=ys.dtype)).reshape(ys.shape)
        tail = sum(jnp.sum(jnp.sin(c)) for c in jax.tree_util.tree_leaves(carry))
        return jnp.sum(ys * w) + tail, (ys, carry)
    (_, out), grads = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(params, x)
    return out, grads


FAST_CASES = [
    ("LSTM-hoisted", lambda: jaxdl.LSTM(4, hoist_input=True)),
    ("LSTM-in-loop", lambda: jaxdl.LSTM(4, hoist_input=False)),
    ("GRU", lambda: jaxdl.GRU(4)),
    ("SimpleRNN-relu", lambda: jaxdl.SimpleRNN(4, activation="relu")),
    ("StackedCells", lambda: jaxdl.StackedCells(jaxdl.LSTM(4, hoist_input=True), jaxdl.Tanh(),
                                                jaxdl.GRU(3), jaxdl.Dense(2))),
]


def _fast_vs_plain(make_cell, masked, reverse, unroll):
    cell = make_cell()
    _, params = cell.init(KEY, (3,))
    x = jax.random.normal(jax.random.key(1), (2, 3, 5, 3))  # two batch axes
    lengths = jnp.array([[5, 2, 0], [1, 4, 3]]) if masked else None
    fast = jaxdl.RNN(cell, return_carry=True, reverse=reverse, unroll=unroll)
    plain = jaxdl.RNN(cell._replace(scan=None), return_carry=True, reverse=reverse)
    mine, reference = jax.jit(lambda p, xx: (_values_and_grads(fast, p, xx, lengths),
                                             _values_and_grads(plain, p, xx, lengths)))(params, x)
    _close(mine, reference)


@pytest.mark.parametrize("case_id, make_cell", [
    c if c[0] != "StackedCells" else pytest.param(*c, marks=pytest.mark.slow)
    for c in FAST_CASES], ids=[c[0] for c in FAST_CASES])
def test_fast_path_equals_plain_scan(case_id, make_cell):
    """Values, final carries and gradients (params and inputs), masked and reversed."""
    _fast_vs_plain(make_cell, masked=True, reverse=True, unroll=3)


@pytest.mark.slow
@pytest.mark.parametrize("unroll", [1, 2])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("case_id, make_cell", FAST_CASES, ids=[c[0] for c in FAST_CASES])
def test_fast_path_equals_plain_scan_grid(case_id, make_cell, masked, reverse, unroll):
    _fast_vs_plain(make_cell, masked, reverse, unroll)


def test_lstm_fast_path_bfloat16_matches_float32():
    cell = jaxdl.LSTM(8)
    _, p = cell.init(KEY, (4,))
    x = jax.random.normal(jax.random.key(1), (3, 6, 4))
    y32, _ = jaxdl.RNN(cell).apply(p, {}, x)
    p16 = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), p)
    y16, _ = jaxdl.RNN(cell).apply(p16, {}, x.astype(jnp.bfloat16))
    assert y16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y16, np.float32), y32, atol=0.05)


# ------------------------------------------------------------------ check_layer


def _seq(lengths=True):
    return {"lengths": jnp.array([4, 1, 0])} if lengths else {}


CHECKED = [
    ("SimpleRNN", lambda: jaxdl.RNN(jaxdl.SimpleRNN(3)), _seq(False)),
    ("SimpleRNN-lengths-reverse", lambda: jaxdl.RNN(jaxdl.SimpleRNN(3), reverse=True), _seq()),
    ("LSTM-hoisted-lengths", lambda: jaxdl.RNN(jaxdl.LSTM(3, hoist_input=True)), _seq()),
    ("LSTM-in-loop-reverse-carry",
     lambda: jaxdl.RNN(jaxdl.LSTM(3, hoist_input=False), reverse=True, return_carry=True),
     _seq(False)),
    ("LSTM-last-lengths-carry",
     lambda: jaxdl.RNN(jaxdl.LSTM(3), return_sequences=False, return_carry=True), _seq()),
    ("GRU-lengths", lambda: jaxdl.RNN(jaxdl.GRU(3), unroll=2), _seq()),
    ("GRU-reverse-last", lambda: jaxdl.RNN(jaxdl.GRU(3), reverse=True,
                                           return_sequences=False), _seq()),
    ("Bidirectional-lengths",
     lambda: jaxdl.Bidirectional(jaxdl.RNN(jaxdl.LSTM(3)), jaxdl.RNN(jaxdl.GRU(2))), _seq()),
    ("Bidirectional-SimpleRNN-lengths",
     lambda: jaxdl.Bidirectional(jaxdl.RNN(jaxdl.SimpleRNN(2)), jaxdl.RNN(jaxdl.SimpleRNN(2))),
     _seq()),
    ("Bidirectional-sum-carry",
     lambda: jaxdl.Bidirectional(jaxdl.RNN(jaxdl.GRU(3), return_carry=True),
                                 jaxdl.RNN(jaxdl.GRU(3), return_carry=True), merge="sum"),
     _seq(False)),
    ("stacked-serial-pool",
     lambda: jaxdl.serial(jaxdl.RNN(jaxdl.LSTM(3)), jaxdl.RNN(jaxdl.GRU(3)),
                          jaxdl.GlobalAvgPool(1), jaxdl.Dense(2)), _seq()),
    ("StackedCells",
     lambda: jaxdl.RNN(jaxdl.StackedCells(jaxdl.Dense(3), jaxdl.LSTM(3), jaxdl.GRU(2))),
     _seq()),
]


DEFAULT_CHECKED = ("LSTM-last-lengths-carry", "Bidirectional-SimpleRNN-lengths")


@pytest.mark.parametrize("case_id, make, kwargs", [
    c if c[0] in DEFAULT_CHECKED else pytest.param(*c, marks=pytest.mark.slow)
    for c in CHECKED], ids=[c[0] for c in CHECKED])
def test_check_layer(case_id, make, kwargs):
    """Shapes, jit, vmap over examples (each with its own length), and the float64
    gradient of BPTT against finite differences."""
    check_layer(make(), (None, 2), time_steps=4, **kwargs)


def _seq2seq(V, embed, units):
    """An encoder RNN returning its carry, and the decoder cell that starts from it."""
    encoder = jaxdl.RNN(
        jaxdl.StackedCells(jaxdl.Embedding(V, embed), jaxdl.LSTM(units), input_ndim=0),
        return_sequences=False, return_carry=True)
    decoder = jaxdl.StackedCells(jaxdl.Embedding(V, embed), jaxdl.LSTM(units), jaxdl.Dense(V),
                                 input_ndim=0)
    return encoder, decoder


@pytest.mark.slow
def test_check_layer_encoder_decoder():
    V = 5
    encoder, decoder = _seq2seq(V, 3, 3)
    check_layer(jaxdl.EncoderDecoder(encoder, decoder), ((None,), (None,)),
                input_dtype=jnp.int32, input_range=(0, V), lengths=jnp.array([4, 2, 1]))


# ------------------------------------------------------------------ composition


def test_rnn_batch_axes_jit_and_none_time():
    layer = jaxdl.RNN(jaxdl.LSTM(4))
    out_shape, p, s = layer.init(KEY, (None, 3))
    assert out_shape == (None, 4)
    x = jax.random.normal(jax.random.key(1), (2, 3, 5, 3))
    lengths = jnp.array([[5, 2, 0], [1, 4, 3]])
    y, _ = layer.apply(p, s, x, lengths=lengths)
    y_jit, _ = jax.jit(lambda xx, ll: layer.apply(p, s, xx, lengths=ll))(x, lengths)
    one, _ = layer.apply(p, s, x[1, 2, :3])  # no batch axis; the valid part alone
    assert y.shape == (2, 3, 5, 4)
    _close(y, y_jit)
    _close(y[1, 2, :3], one)


def test_stacked_cells_share_params_with_serial_and_step_equals_scan():
    V = 7
    parts = (jaxdl.Embedding(V, 4), jaxdl.LSTM(5), jaxdl.Dense(V))
    model = jaxdl.serial(parts[0], jaxdl.RNN(parts[1]), parts[2])
    stack = jaxdl.StackedCells(*parts, input_ndim=0)
    _, p_model, _ = model.init(KEY, (None,))
    out, p_stack = stack.init(KEY, ())
    assert out == (V,)
    _close(p_model, p_stack)  # same names, same keys: the same params
    tokens = jax.random.randint(jax.random.key(1), (2, 6), 0, V)
    logits, _ = model.apply(p_model, {}, tokens)
    carry = stack.initial_carry((2,), jnp.float32)
    for t in range(6):  # stepped by hand, one token at a time
        carry, y = stack.step(p_stack, carry, tokens[:, t])
        _close(y, logits[:, t])
    _close(jaxdl.RNN(stack).apply(p_stack, {}, tokens)[0], logits)


def test_scan_cell_continues_from_a_carry():
    cell = jaxdl.GRU(4)
    _, p = cell.init(KEY, (3,))
    x = jax.random.normal(jax.random.key(1), (2, 7, 3))
    ys, carry = jaxdl.scan_cell(cell, p, x[:, :4])
    ys2, carry2 = jaxdl.scan_cell(cell, p, x[:, 4:], carry=carry)
    full, carry_full = jaxdl.scan_cell(cell, p, x)
    _close(jnp.concatenate([ys, ys2], axis=1), full)
    _close(carry2, carry_full)


def test_lstm_init_forget_bias_and_gate_blocks():
    _, p = jaxdl.LSTM(4, forget_bias_init=1.0).init(KEY, (3,))
    np.testing.assert_allclose(p["b"], [1.0] * 4 + [0.0] * 12)
    assert float(jnp.abs(jaxdl.LSTM(4, forget_bias_init=0.0).init(KEY, (3,))[1]["b"]).max()) == 0
    for g in range(4):  # each gate's recurrent block is orthogonal on its own
        block = p["w_h"][:, 4 * g:4 * g + 4]
        np.testing.assert_allclose(block.T @ block, jnp.eye(4), atol=1e-5)


# ------------------------------------------------------------------ generation


def _language_model(V=6):
    lm = jaxdl.StackedCells(jaxdl.Embedding(V, 4), jaxdl.GRU(8), jaxdl.Dense(V), input_ndim=0)
    _, p = lm.init(KEY, ())
    return lm, p


def test_generate_greedy_equals_stepping_by_hand():
    lm, p = _language_model()
    start = jnp.array([0, 3, 5])
    tokens, carry = jaxdl.generate(lm, p, start, 5)
    assert tokens.shape == (3, 5) and tokens.dtype == start.dtype
    c, x = lm.initial_carry((3,), jnp.float32), start
    for t in range(5):
        c, logits = lm.step(p, c, x)
        x = jnp.argmax(logits, axis=-1).astype(start.dtype)
        np.testing.assert_array_equal(tokens[:, t], x)
    _close(carry, c)
    again, _ = jax.jit(lambda s: jaxdl.generate(lm, p, s, 5))(start)
    np.testing.assert_array_equal(tokens, again)  # deterministic, also under jit


def test_generate_sampling_temperature_and_keys():
    lm, p = _language_model()
    start = jnp.zeros((64,), jnp.int32)
    a, _ = jaxdl.generate(lm, p, start, 8, key=1, temperature=1.0)
    b, _ = jaxdl.generate(lm, p, start, 8, key=1, temperature=1.0)
    c, _ = jaxdl.generate(lm, p, start, 8, key=2, temperature=1.0)
    np.testing.assert_array_equal(a, b)
    assert bool(jnp.any(a != c))
    cold, _ = jaxdl.generate(lm, p, start, 8, key=1, temperature=1e-4)
    greedy, _ = jaxdl.generate(lm, p, start, 8)
    np.testing.assert_array_equal(cold, greedy)  # temperature -> 0 is greedy
    assert len(np.unique(np.asarray(a))) > len(np.unique(np.asarray(greedy)))


def test_generate_output_feedback():
    cell = jaxdl.StackedCells(jaxdl.LSTM(6), jaxdl.Dense(2))
    _, p = cell.init(KEY, (2,))
    outs, _ = jaxdl.generate(cell, p, jnp.ones((3, 2)), 4, feedback="output")
    assert outs.shape == (3, 4, 2)
    c, y1 = cell.step(p, cell.initial_carry((3,), jnp.float32), jnp.ones((3, 2)))
    _, y2 = cell.step(p, c, y1)
    _close(outs[:, :2], jnp.stack([y1, y2], axis=1))


def test_encoder_decoder_teacher_forcing_and_decode():
    V = 9
    encoder, decoder = _seq2seq(V, 4, 6)
    model = jaxdl.EncoderDecoder(encoder, decoder)
    out_shape, p, s = model.init(KEY, ((None,), (None,)))
    assert out_shape == (None, V)
    src = jax.random.randint(jax.random.key(1), (2, 5), 0, V)
    lengths = jnp.array([5, 3])
    start = jnp.zeros((2,), jnp.int32)
    tokens, _ = jaxdl.decode(encoder, decoder, p, src, start, 4, lengths=lengths)
    # teacher forcing on the greedy tokens gives the logits whose argmax they are
    dec_in = jnp.concatenate([start[:, None], tokens[:, :-1]], axis=1)
    logits, _ = model.apply(p, s, (src, dec_in), lengths=lengths)
    np.testing.assert_array_equal(jnp.argmax(logits, axis=-1), tokens)
    # the source's padding does not matter
    logits_junk, _ = model.apply(p, s, (src.at[1, 3:].set(V - 1), dec_in), lengths=lengths)
    _close(logits, logits_junk)


# ------------------------------------------------------------------ bad input


def _lstm_rnn():
    layer = jaxdl.RNN(jaxdl.LSTM(4))
    _, p, s = layer.init(KEY, (None, 3))
    return layer, p, s


def test_bad_input_feature_count():
    layer, p, s = _lstm_rnn()
    with pytest.raises(ValueError, match=r"RNN\(LSTM\(4\)\).*expected x_t of shape \(\*batch, "
                                         r"3\), got \(2, 5\).*\(2, 7, 5\)"):
        layer.apply(p, s, jnp.ones((2, 7, 5)))
    with pytest.raises(ValueError, match=r"RNN\(LSTM\(4\)\): expected input of shape "
                                         r"\(\*batch, time, features\), got \(3,\)"):
        layer.apply(p, s, jnp.ones(3))
    with pytest.raises(TypeError, match=r"LSTM\(4\).*floating.*int32.*Embedding"):
        layer.apply(p, s, jnp.ones((2, 7, 3), jnp.int32))


@pytest.mark.parametrize("lengths, error, text", [
    (jnp.array([3]), ValueError, r"expected lengths of shape \(2,\).*\(2, 7, 3\).*got \(1,\)"),
    (jnp.array([[3, 3]]), ValueError, r"expected lengths of shape \(2,\).*got \(1, 2\)"),
    (jnp.array([3.0, 2.0]), TypeError, r"lengths must be integers, got dtype float32"),
    (jnp.array([3, 8]), ValueError, r"lengths must be in \[0, 7\].*got 8 at index \(1,\)"),
    (jnp.array([-1, 2]), ValueError, r"lengths must be in \[0, 7\].*got -1 at index \(0,\)"),
    ("3", TypeError, r"lengths must be an integer array"),
], ids=["short", "rank", "float", "too-long", "negative", "string"])
def test_bad_lengths(lengths, error, text):
    layer, p, s = _lstm_rnn()
    with pytest.raises(error, match=r"^RNN\(LSTM\(4\)\): " + text):
        layer.apply(p, s, jnp.ones((2, 7, 3)), lengths=lengths)


def test_bad_carry_structure():
    cell = jaxdl.LSTM(4)
    _, p = cell.init(KEY, (3,))
    x = jnp.ones((2, 3))
    h = jnp.zeros((2, 4))
    with pytest.raises(TypeError, match=r"^LSTM\(4\): expected the carry as LSTMState\(hidden, "
                                        r"cell\), got \(\(2, 4\), \(2, 4\)\) \(tuple\)"):
        cell.step(p, (h, h), x)
    with pytest.raises(TypeError, match=r"GRU\(4\): expected the carry as HiddenState"):
        jaxdl.GRU(4).step(jaxdl.GRU(4).init(KEY, (3,))[1], jaxdl.LSTMState(h, h), x)
    with pytest.raises(ValueError, match=r"expected carry.cell of shape \(2, 4\).*got \(2, 5\)"):
        cell.step(p, jaxdl.LSTMState(h, jnp.zeros((2, 5))), x)
    with pytest.raises(TypeError, match=r"^scan_cell\(LSTM\(4\)\): expected a carry "
                                        r"LSTMState\(hidden=\(2, 4\), cell=\(2, 4\)\)"):
        jaxdl.scan_cell(cell, p, jnp.ones((2, 5, 3)), carry=jaxdl.HiddenState(h))
    with pytest.raises(ValueError, match=r"expected params \{'w_x'"):
        cell.step({"w": h}, cell.initial_carry((2,), jnp.float32), x)
    with pytest.raises(ValueError, match=r"params\['w_x'\] of shape \(in_features, 16\), "
                                         r"got \(3, 20\); were these params made for another"):
        cell.step(jaxdl.LSTM(5).init(KEY, (3,))[1], cell.initial_carry((2,), jnp.float32), x)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"^Bidirectional: unknown merge='cat'; allowed: "
                                         r"'concat', 'sum'; did you mean 'concat'\?"):
        jaxdl.Bidirectional(jaxdl.RNN(jaxdl.GRU(2)), jaxdl.RNN(jaxdl.GRU(2)), merge="cat")
    with pytest.raises(TypeError, match=r"^RNN: cell must be a jaxdl Cell.*Layer"):
        jaxdl.RNN(jaxdl.Dense(3))
    with pytest.raises(TypeError, match=r"did you forget to call the cell constructor"):
        jaxdl.RNN(jaxdl.LSTM)
    with pytest.raises(TypeError, match=r"^Bidirectional: forward_rnn must be a "
                                        r"jaxdl.RNN\(cell\) layer, got LSTM\(2\) \(give RNN"):
        jaxdl.Bidirectional(jaxdl.LSTM(2), jaxdl.RNN(jaxdl.LSTM(2)))
    with pytest.raises(ValueError, match=r"forward_rnn must run forward"):
        jaxdl.Bidirectional(jaxdl.RNN(jaxdl.GRU(2), reverse=True), jaxdl.RNN(jaxdl.GRU(2)))
    with pytest.raises(ValueError, match=r"must agree on return_sequences"):
        jaxdl.Bidirectional(jaxdl.RNN(jaxdl.GRU(2)),
                            jaxdl.RNN(jaxdl.GRU(2), return_sequences=False))
    with pytest.raises(ValueError, match=r"^LSTM: units must be >= 1, got 0"):
        jaxdl.LSTM(0)
    with pytest.raises(ValueError, match=r"^SimpleRNN: unknown activation='rleu'.*did you "
                                         r"mean 'relu'\?"):
        jaxdl.SimpleRNN(3, activation="rleu")
    with pytest.raises(TypeError, match=r"^RNN: unroll must be an int"):
        jaxdl.RNN(jaxdl.GRU(2), unroll=1.5)
    with pytest.raises(ValueError, match=r"^StackedCells: needs at least one cell"):
        jaxdl.StackedCells(jaxdl.Dense(2))


def test_bad_init_shapes():
    with pytest.raises(ValueError, match=r"^RNN\(LSTM\(4\)\): expected a per-example input "
                                         r"shape \(time, features\).*got \(3,\)"):
        jaxdl.RNN(jaxdl.LSTM(4)).init(KEY, (3,))
    with pytest.raises(ValueError, match=r"^LSTM\(4\): expected the per-step input shape "
                                         r"\(features,\).*got \(5, 3\)"):
        jaxdl.LSTM(4).init(KEY, (5, 3))
    stack = jaxdl.StackedCells(jaxdl.Embedding(5, 2), jaxdl.GRU(3))
    with pytest.raises(ValueError, match=r"rank 1 \(input_ndim=1\), got \(\).*input_ndim=0"):
        stack.init(KEY, ())
    with pytest.raises(ValueError, match=r"merge='sum' needs outputs of equal shape"):
        jaxdl.Bidirectional(jaxdl.RNN(jaxdl.GRU(2)), jaxdl.RNN(jaxdl.GRU(3)),
                            merge="sum").init(KEY, (None, 3))
    enc = jaxdl.RNN(jaxdl.LSTM(4))  # no return_carry
    with pytest.raises(ValueError, match=r"the encoder must return \(outputs, carry\)"):
        jaxdl.EncoderDecoder(enc, jaxdl.LSTM(4)).init(KEY, ((None, 3), (None, 3)))


def test_bad_generate_arguments():
    lm, p = _language_model()
    with pytest.raises(TypeError, match=r"feedback='token'.*integer ids, got dtype float32"):
        jaxdl.generate(lm, p, jnp.zeros(2), 3)
    with pytest.raises(ValueError, match=r"^generate: temperature must be > 0, got 0.0"):
        jaxdl.generate(lm, p, jnp.zeros(2, jnp.int32), 3, key=0, temperature=0.0)
    with pytest.raises(ValueError, match=r"^generate: unknown feedback='tokens'.*did you mean "
                                         r"'token'"):
        jaxdl.generate(lm, p, jnp.zeros(2, jnp.int32), 3, feedback="tokens")
    with pytest.raises(ValueError, match=r"feedback='output'.*must match: input \(2,\) int32, "
                                         r"output \(2, 6\) float32"):
        jaxdl.generate(lm, p, jnp.zeros(2, jnp.int32), 3, feedback="output")
    with pytest.raises(ValueError, match=r"^generate: steps must be >= 1, got 0"):
        jaxdl.generate(lm, p, jnp.zeros(2, jnp.int32), 0)
