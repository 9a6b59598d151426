"""experiments.vanishing_gradients at a tiny budget: the measurement is backpropagation's,
tanh and sigmoid RNNs' gradients vanish through time while an open-gated LSTM's do not,
a deep sigmoid MLP's vanish through depth while a ReLU MLP's do not, and clipping keeps
an exploding RNN's training finite."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from experiments import vanishing_gradients as vg

pytestmark = pytest.mark.usefixtures("private_data_dir")


@pytest.mark.parametrize("cell", [jaxdl.SimpleRNN(8), jaxdl.SimpleRNN(8, activation="sigmoid"),
                                  jaxdl.LSTM(8)], ids=lambda c: c.label)
def test_hidden_grad_log10_is_the_gradient_of_a_perturbation(cell: jaxdl.Cell) -> None:
    """The renormalised step-by-step backward pass gives log10 ‖∂ℓ_i/∂h_t‖ of jax.grad with
    a zero perturbation eps_t added to every h_t."""
    steps, n = 12, 5
    x = jax.random.normal(jax.random.key(1), (n, steps, vg.FEATURES))
    y = jnp.arange(n) % vg.NUM_CLASSES
    _, params, _ = vg.rnn_classifier(cell).init(jax.random.key(0), (steps, vg.FEATURES))

    def loss(eps: jax.Array) -> jax.Array:
        def body(carry, inputs):
            x_t, e_t = inputs
            carry, _ = cell.step(params[cell.name], carry, x_t)
            return carry._replace(hidden=carry.hidden + e_t), None

        carry, _ = jax.lax.scan(body, cell.initial_carry((n,), jnp.float32),
                                (jnp.swapaxes(x, 0, 1), eps))
        logits, _ = jaxdl.Dense(vg.NUM_CLASSES).apply(params["dense"], {}, carry.hidden)
        return jaxdl.losses.sparse_categorical_cross_entropy(logits, y, reduction="sum")

    g = jax.grad(loss)(jnp.zeros((steps, n, 8)))
    expected = np.log10(np.linalg.norm(np.asarray(g), axis=-1))
    got = np.asarray(vg.hidden_grad_log10(cell, params, x, y))
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # and the mean of norms in log space is the log of the mean
    np.testing.assert_allclose(vg.mean_log10(got, axis=1),
                               np.log10(np.mean(10.0 ** got.astype(np.float64), axis=1)),
                               atol=1e-5)


def test_tanh_and_sigmoid_rnn_gradients_vanish_through_time_the_lstms_do_not(
        tmp_path: Path) -> None:
    r = vg.run(parts=("rnn",), epochs=0, n_seeds=2, out=tmp_path)
    assert r["tanh_rnn_init_grad_ratio"] < 1e-4            # 1e-6 at the default 5 seeds
    assert r["sigmoid_rnn_init_grad_ratio"] < 1e-40        # 1e-62: below float32's range
    assert r["lstm_init_grad_ratio"] > 0.3                 # forget gates open: no decay
    assert r["lstm_bias1_init_grad_ratio"] < 0.1 * r["lstm_init_grad_ratio"]
    # linear, W_h = 1.05 x orthogonal: each step back multiplies the norm by exactly 1.05
    assert r["exploding_rnn_init_grad_ratio"] == pytest.approx(vg.EXPLODE_GAIN ** (vg.STEPS - 1),
                                                               rel=1e-3)
    assert "tanh_rnn_grad_ratio" not in r                  # epochs=0: nothing trained
    assert all(Path(p).is_file() for p in r["plots"])


@pytest.mark.slow  # trains; the default run keeps the at-initialisation measurement
def test_trained_lstm_keeps_its_gradient_through_time() -> None:
    r = vg.run(parts=("rnn",), cells=("lstm",), epochs=1, n_seeds=1)
    assert r["lstm_grad_ratio"] > 0.1
    assert 0.0 <= r["lstm_test_accuracy"] <= 1.0
    assert r["curves"]["lstm"]["trained"].shape == (vg.STEPS,)


@pytest.mark.slow  # trains two 10-layer MLPs
def test_deep_sigmoid_mlp_gradients_vanish_through_depth_relu_ones_do_not() -> None:
    r = vg.run(parts=("mlp",), n_seeds=1, mlp_epochs=3)
    assert r["sigmoid_mlp_grad_ratio"] < 1e-4
    assert 0.1 < r["relu_mlp_grad_ratio"] < 10
    assert r["relu_mlp_test_accuracy"] > 0.5 > r["sigmoid_mlp_test_accuracy"]


def test_clipping_keeps_the_exploding_rnn_finite(tmp_path: Path) -> None:
    r = vg.run(parts=("exploding",), explode_steps=25, out=tmp_path)
    assert r["unclipped_diverged"] and 1 <= r["unclipped_diverged_step"] <= 25
    assert r["unclipped_max_grad_norm"] > 100
    assert r["clipped_finite"]
    assert r["clipped_final_loss"] < 0.5 * r["clipped_first_loss"]
    assert Path(r["plots"][0]).is_file()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": -1}, ValueError, "epochs"),
    ({"steps": 1.5}, TypeError, "steps"),
    ({"n_seeds": 0}, ValueError, "n_seeds"),
    ({"cells": ("gru",)}, ValueError, "cells"),
    ({"parts": "rnn"}, ValueError, "parts"),
    ({"seed": True}, TypeError, "seed"),
])
def test_bad_arguments_are_refused(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=rf"vanishing_gradients\.run: {match}"):
        vg.run(**kwargs)
