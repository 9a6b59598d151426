"""experiments.char_rnn at a tiny budget: the LSTM beats the unigram baseline, the stepped
cell is the trained network, bits per character are computed right, the samples are
reproducible, and bad arguments are refused.

The full default run is the slow CLI test in test_experiments.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from experiments import char_rnn


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 64-unit LSTM trained for 240 steps on the first 40,000 characters (about 16 s of
    CPU; validation 3.55 and 3.58 bits/char on seeds 0 and 1, unigram 4.78)."""
    out = tmp_path_factory.mktemp("char_rnn")
    return char_rnn.run(seed=0, epochs=3, steps_per_epoch=80, hidden=64, seq_len=32,
                        batch_size=32, peak_lr=1e-2, n_chars=40_000, sample_length=60,
                        out=out)


@pytest.mark.slow
def test_small_lstm_beats_the_unigram_baseline(small_run: dict[str, Any]) -> None:
    r = small_run
    assert r["n_train_chars"] == 36_000 and r["n_val_chars"] == 4_000
    assert 3.5 < r["unigram_bits_per_char"] < 5.0
    # context helps: clearly fewer bits per character than the character frequencies give
    assert r["val_bits_per_char"] < r["unigram_bits_per_char"] - 0.8, r
    assert r["history"]["step"] == [80, 160, 240]
    assert r["history"]["val_bits_per_char"][-1] < r["history"]["val_bits_per_char"][0]
    assert r["history"]["val_bits_per_char"][-1] == r["val_bits_per_char"]
    assert Path(r["plot"]).is_file()


@pytest.mark.slow
def test_samples_continue_the_prompt(small_run: dict[str, Any]) -> None:
    r = small_run
    assert sorted(r["samples"]) == [0.5, 1.0]
    for text in r["samples"].values():
        assert text.startswith(char_rnn.PROMPT)
        assert len(text) >= len(char_rnn.PROMPT) + 60    # <pad>/<unk> decode to 5 chars
    written = Path(r["samples_file"]).read_text(encoding="utf-8")
    assert all(text in written for text in r["samples"].values())


def test_stepped_cell_is_the_trained_network() -> None:
    """``StackedCells(Embedding, LSTM, Dense)`` with the ``serial`` model's params gives the
    same logits, step by step, as the model over the whole sequence; and sampling is
    reproducible from its key."""
    model, stepper = char_rnn.char_lm(20, embed_dim=8, hidden=16)
    _, params, _ = model.init(jax.random.key(0), (None,))
    ids = jax.random.randint(jax.random.key(1), (2, 11), 2, 20)
    logits, _ = model.apply(params, {}, ids)
    stepped, _ = jaxdl.scan_cell(stepper, params, ids)
    np.testing.assert_allclose(stepped, logits, atol=1e-5)

    vocab = jaxdl.data.Vocabulary(("<pad>", "<unk>", *"abcdefghijklmnopqr"), level="char")
    a = char_rnn.sample(stepper, params, vocab, "abc", 30, temperature=1.0,
                        key=jax.random.key(2))
    b = char_rnn.sample(stepper, params, vocab, "abc", 30, temperature=1.0,
                        key=jax.random.key(2))
    c = char_rnn.sample(stepper, params, vocab, "abc", 30, temperature=1.0,
                        key=jax.random.key(3))
    assert a == b != c and a.startswith("abc")


def test_bits_per_char_is_the_mean_next_character_cross_entropy() -> None:
    model, _ = char_rnn.char_lm(12, embed_dim=4, hidden=8)
    _, params, _ = model.init(jax.random.key(0), (None,))
    ids = np.asarray(jax.random.randint(jax.random.key(1), (101,), 0, 12))
    logits, _ = model.apply(params, {}, jnp.asarray(ids[None, :-1]))
    log_p = jax.nn.log_softmax(logits[0], axis=-1)
    expected = -float(jnp.mean(log_p[jnp.arange(100), ids[1:]])) / math.log(2)
    assert char_rnn.bits_per_char(model, params, ids) == pytest.approx(expected, rel=1e-5)
    # side by side in pieces: 3 characters fewer are predicted, and without their context
    pieces = char_rnn.bits_per_char(model, params, ids, rows=4)
    assert pieces == pytest.approx(expected, abs=0.1)
    # the unigram baseline: a text scored under its own add-one-smoothed frequencies
    text = np.array([2, 2, 3, 2])
    p2, p3 = 4 / 8, 2 / 8                  # ids 0..3 counted 0, 0, 3, 1, each count + 1
    want = -(3 * math.log2(p2) + math.log2(p3)) / 4
    assert char_rnn.unigram_bits_per_char(text, text, 4) == pytest.approx(want)   # 1.25


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "char_rnn.run: epochs"),
    ({"hidden": 64.0}, TypeError, "char_rnn.run: hidden"),
    ({"temperatures": (0.5, 0.0)}, ValueError, "char_rnn.run: temperatures"),
    ({"temperatures": 0.5}, TypeError, "char_rnn.run: temperatures"),
    ({"prompt": ""}, ValueError, "char_rnn.run: prompt"),
    ({"peak_lr": float("nan")}, ValueError, "char_rnn.run: peak_lr"),
    ({"n_chars": 50}, ValueError, "char_rnn.run: n_chars"),      # 45 training characters
    ({"n_chars": 1}, ValueError, "char_rnn.run: n_chars"),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception],
                                   match: str) -> None:
    with pytest.raises(error, match=match):
        char_rnn.run(**kwargs)
