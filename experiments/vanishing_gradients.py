"""Vanishing and exploding gradients: through time in recurrent networks, through depth
in a deep MLP, and what gradient clipping does about an explosion.

**1. Through time.** A memory task on real images: each sequence shows one of
scikit-learn's 8x8 handwritten digits (``jaxdl.data.load("digits")``, 64 pixels scaled to
[0, 1], plus a 65th input that is 1 on that step only) at step 1, followed by ``STEPS - 1
= 99`` steps of Gaussian pixel noise (std ``NOISE`` = 0.2); the label, read from the last
hidden state through ``Dense(10)``, is the digit shown at step 1. Digits are split 75/25
(stratified); the training noise is drawn afresh for every batch (``jaxdl.Augment``, so a
network cannot learn the training sequences by their noise), the test noise once. The
gradient that can teach a network to remember the digit is ``∂ℓ/∂h_1``; every error
starts at ``∂ℓ/∂h_T``, and backpropagation through time multiplies it by ``∂h_t/∂h_{t-1}``
once per step: ``W_h·diag(act'(z_t))`` in an Elman RNN (``act' <= 0.25`` for a sigmoid),
while the LSTM's cell state passes it on multiplied by the forget gate ``f_t``. Four cells
of 32 units: ``jaxdl.SimpleRNN(32)`` (tanh) and ``SimpleRNN(32, activation="sigmoid")``,
``jaxdl.LSTM(32, forget_bias_init=3.0)`` (``f ≈ σ(3) = 0.95`` at the start: the gate starts
open, the setting for long memories; Tallec & Ollivier's chrono initialisation would draw
it around ``log(T) ≈ 4.6``) and ``jaxdl.LSTM(32)`` with jaxdl's default bias 1 (``f ≈
0.73``). Each is measured on 256 test sequences at initialisation (mean over ``N_SEEDS`` =
5 seeds) and after 20 epochs of ``jaxdl.fit`` (Adam 2e-3, clipped at global norm 1, batch
64). The figure is the mean over the sequences of ``‖∂ℓ_i/∂h_t‖`` (``ℓ_i`` the sequence's
cross-entropy; for the LSTM ``C_t`` is held fixed), computed by carrying the carry's
cotangent back one step at a time and renormalising it at every step
(:func:`hidden_grad_log10`), so that the sigmoid RNN's 1e-62 is a number rather than a
float32 underflow to 0 (tested against ``jax.grad`` of a perturbation added to each
``h_t``).

**2. Through depth.** A 64-(64 x 10)-10 MLP on the same digits, sigmoid units with
Glorot-uniform weights against ReLU units with He-normal weights: ``‖∂L/∂W_l‖`` of each of
its 11 weight matrices on the training set (mean cross-entropy), at initialisation (mean
over 5 seeds) and after 30 epochs of SGD with momentum 0.9 (learning rate 0.02, batch 64;
SGD rather than Adam, which rescales every weight's step and would hide the effect), and
the test accuracy each reaches.

**3. Exploding, and clipping.** A linear RNN (``SimpleRNN(32, activation="linear")``)
whose ``W_h`` is orthogonal times ``EXPLODE_GAIN`` = 1.05, so every step back in time
multiplies ``‖∂ℓ/∂h_t‖`` by exactly 1.05 (1.05^99 = 125 over the sequence: the case
Pascanu, Mikolov & Bengio 2013 analyse), on the memory task. From the same weights,
``EXPLODE_STEPS`` = 300 steps of SGD with momentum (learning rate 0.01, batch 64), once
plain and once behind ``optax.clip_by_global_norm(1.0)`` (what ``jaxdl.fit(...,
clip_grad_norm=1.0)`` chains in front of its optimiser); every step's loss and unclipped
gradient norm are recorded.

Figures: ``rnn_gradients.png`` (``‖∂ℓ/∂h_t‖ / ‖∂ℓ/∂h_T‖`` against ``t``, log scale, at
initialisation and after training), ``mlp_gradients.png`` (``‖∂L/∂W_l‖`` by layer, log
scale), ``exploding.png`` (loss and gradient norm per step, log-log, plain and clipped).
RESULT: ``<cell>_grad_ratio`` is the first step's norm over the last step's after training,
``<cell>_init_grad_ratio`` at initialisation, ``<cell>_test_accuracy`` after training (10
classes: chance 0.1); ``<act>_mlp_grad_ratio`` the first layer's norm over the last
layer's at initialisation.

Default run (seed 0; 135 CPU-seconds, 7 min wall on the shared 2-core machine at load 9
to 12):

=============================  =================  ==============  =============
first-step / last-step norm    at init (5 seeds)  after training  test accuracy
=============================  =================  ==============  =============
tanh RNN                       9.0e-7             2.7e-6          0.29
sigmoid RNN                    6.7e-63            2.1e-63         0.10
LSTM, forget bias 3            3.0                1.5             0.70
LSTM, forget bias 1 (default)  7.7e-4             1.8e-7          0.09
linear RNN, gain 1.05          125                (part 3)
=============================  =================  ==============  =============

The tanh and sigmoid RNNs' gradients reaching step 1 are 6 and 62 orders of magnitude
below the last step's; the open-gated LSTM's is not smaller at all, before or after
training, and it is the only cell that learns the task (seeds 1 and 2: ratios 2.0 and 3.3
at init, 2.5 and 1.7 trained, test accuracy 0.56 both; the tanh RNN 1e-13 and 2e-13
trained, accuracy 0.11 and 0.18; the default LSTM 5e-6 and 7e-7, 0.11). With the default
forget bias 1 the LSTM's gradient shrinks by 3 orders at init, and in 20 epochs training
drives it further down (1.8e-7) rather than opening the gate: an LSTM carries gradients
through time only as far as its forget gates are open. Through depth: the sigmoid MLP's
first layer gets 6.8e-7 of its last layer's gradient norm (ReLU with He: 0.78), and after
30 epochs of SGD it is still at chance (test accuracy 0.10 against ReLU's 0.96).
Exploding: the linear RNN's first gradient has global norm 5.1e3; the plain SGD step
sends the loss from 227 to NaN at step 2; clipped, the same run stays finite, its loss
falling from 227 to 2.32 (chance, ln 10 = 2.30) within about 15 steps and its gradient
norm to about 0.5 (it does not learn the memory task in 300 steps: clipping stops the
explosion, it does not make the task learnable).

Run: ``python -m experiments.vanishing_gradients [--epochs 20] [--seed 0]
[--out out/vanishing_gradients]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
import jaxdl.data
from experiments import _common
from jaxdl import initializers as inits

NAME = "vanishing_gradients"
NUM_CLASSES = 10
PIXELS = 64
FEATURES = PIXELS + 1          # the pixels and the "this is the digit" flag
FRACTIONS = (0.75, 0.0, 0.25)  # train, validation (none), test; stratified by label
# 1. through time
STEPS = 100                    # sequence length T
NOISE = 0.2                    # std of the distractor pixels
UNITS = 32
EPOCHS = 20
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
CLIP = 1.0
N_SEEDS = 5                    # seeds averaged at initialisation
PROBE = 256                    # held-out sequences the gradients are measured on
CELLS: dict[str, Callable[[], jaxdl.Cell]] = {
    "tanh_rnn": lambda: jaxdl.SimpleRNN(UNITS),
    "sigmoid_rnn": lambda: jaxdl.SimpleRNN(UNITS, activation="sigmoid"),
    "lstm": lambda: jaxdl.LSTM(UNITS, forget_bias_init=3.0),
    "lstm_bias1": lambda: jaxdl.LSTM(UNITS),
}
CELL_LABELS = {"tanh_rnn": "tanh RNN", "sigmoid_rnn": "sigmoid RNN",
               "lstm": "LSTM (forget bias 3)", "lstm_bias1": "LSTM (forget bias 1, default)"}
FLOOR = 1e-15                  # the gradient plot's lowest value
# 2. through depth
DEPTH = 10
WIDTH = 64
MLP_EPOCHS = 30
MLP_LEARNING_RATE = 0.02
MLP_ACTIVATIONS = {"sigmoid": (jaxdl.Sigmoid, "glorot_uniform"), "relu": (jaxdl.Relu, "he_normal")}
# 3. exploding
EXPLODE_GAIN = 1.05
EXPLODE_STEPS = 300
EXPLODE_LEARNING_RATE = 0.01
PARTS = ("rnn", "mlp", "exploding")


# ------------------------------------------------------------------------------ data


def load_digits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The digits as ``{"train"|"test": (pixels (n, 64) float32 in [0, 1], labels (n,)
    int32)}``, a stratified 75/25 split (``jaxdl.data.train_val_test_split``)."""
    train, _, test = jaxdl.data.train_val_test_split(
        jaxdl.data.load("digits"), fractions=FRACTIONS, seed=seed, stratify="label")
    return {name: (np.asarray(part["features"], np.float32) / 16.0,
                   np.asarray(part["label"], np.int32))
            for name, part in (("train", train), ("test", test))}


def memory_sequences(pixels: np.ndarray, steps: int, noise: float,
                     rng: np.random.Generator) -> np.ndarray:
    """The memory task's inputs: the digit at step 1, noise afterwards.

    Args:
      pixels: ``(n, 64)`` digit images in [0, 1].
      steps: the sequence length ``T``.
      noise: the std of the Gaussian distractor pixels of steps ``2..T`` (0: zeros there).
      rng: draws the noise.

    Returns:
      ``(n, T, 65)`` float32: step 1 holds the pixels and a flag 1 in the last input;
      steps ``2..T`` hold ``N(0, noise²)`` pixels and flag 0.
    """
    n = len(pixels)
    x = np.zeros((n, steps, FEATURES), np.float32)
    x[:, 0, :PIXELS] = pixels
    x[:, 0, PIXELS] = 1.0
    if noise > 0:
        x[:, 1:, :PIXELS] = rng.normal(0.0, noise, (n, steps - 1, PIXELS))
    return x


def memory_task(seed: int, steps: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The memory task on the digits split: ``{"train"|"test": (x (n, T, 65), y (n,))}``.

    The training sequences carry no noise (``rnn_classifier``'s ``Augment`` adds fresh
    noise to every training batch); the test sequences carry noise drawn once from
    ``seed``, so the figures on them are reproducible.
    """
    digits = load_digits(seed)
    rng = np.random.default_rng(seed)
    return {"train": (memory_sequences(digits["train"][0], steps, 0.0, rng), digits["train"][1]),
            "test": (memory_sequences(digits["test"][0], steps, NOISE, rng), digits["test"][1])}


# ------------------------------------------------------------------ gradients in time


def add_distractors(key: jax.Array, x: jax.Array) -> jax.Array:
    """Fresh ``N(0, NOISE²)`` noise added to the pixels of steps ``2..T`` of ``x: (batch,
    T, 65)`` (what ``Augment`` runs on every training batch)."""
    t = jnp.arange(x.shape[-2])[:, None]
    f = jnp.arange(x.shape[-1])[None, :]
    where = jnp.broadcast_to((t >= 1) & (f < PIXELS), x.shape)         # (batch, T, 65)
    return x + jnp.where(where, NOISE * jax.random.normal(key, x.shape, x.dtype), 0.0)


def rnn_classifier(cell: jaxdl.Cell) -> jaxdl.Layer:
    """``serial(Augment(add_distractors), RNN(cell, return_sequences=False), Dense(10))``:
    ``(T, 65)`` -> 10 logits from the last hidden state; params ``{cell.name: ...,
    "dense": ...}``. In training the distractor noise is drawn afresh for every batch (so
    the network cannot learn the training sequences by their noise); at evaluation the
    inputs pass unchanged (the test sequences carry noise drawn once)."""
    return jaxdl.serial(jaxdl.Augment(add_distractors),
                        jaxdl.RNN(cell, return_sequences=False), jaxdl.Dense(NUM_CLASSES),
                        name="rnn_classifier")


def hidden_grad_log10(cell: jaxdl.Cell, params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    """``log10 ‖∂ℓ_i/∂h_t‖`` for every step and example, without underflow.

    ``ℓ_i`` is example ``i``'s cross-entropy of ``Dense(10)`` (``params["dense"]``) on the
    last hidden state, ``h_t`` the hidden state after step ``t`` (the carry's ``hidden``;
    for an LSTM the cell state ``C_t`` is held fixed, as when a perturbation is added to
    ``h_t`` alone). The loop is :func:`jax.lax.scan` over ``cell.step``; the backward pass
    carries the cotangent of the whole carry back one step at a time with
    :func:`jax.vjp` and divides it by its norm after every step, keeping the log of the
    scale apart, so norms far below float32's range (1e-60) are exact.

    Args:
      cell: the cell; ``params[cell.name]`` its params.
      params: ``rnn_classifier(cell)``'s params.
      x: ``(n, T, features)`` inputs.
      y: ``(n,)`` integer labels.

    Returns:
      ``(T, n)`` float32 ``log10 ‖∂ℓ_i/∂h_t‖`` (``t = 1..T`` along the first axis).
    """
    cell_params, head = params[cell.name], jaxdl.Dense(NUM_CLASSES)
    xs = jnp.swapaxes(x, 0, 1)                                       # (T, n, features)

    def forward(carry: Any, x_t: jax.Array) -> tuple[Any, Any]:
        new, _ = cell.step(cell_params, carry, x_t)
        return new, carry                                            # the carry before step t

    last, before = jax.lax.scan(forward, cell.initial_carry((x.shape[0],), x.dtype), xs)

    def loss(carry: Any) -> jax.Array:
        logits, _ = head.apply(params["dense"], {}, carry.hidden)
        return jaxdl.losses.sparse_categorical_cross_entropy(logits, y, reduction="sum")

    def norm(tree: Any) -> jax.Array:                                # per example: (n,)
        return jnp.sqrt(sum(jnp.sum(leaf ** 2, axis=-1) for leaf in jax.tree.leaves(tree)))

    def rescale(tree: Any) -> tuple[Any, jax.Array]:
        size = norm(tree)
        safe = jnp.where(size > 0, size, 1.0)
        return jax.tree.map(lambda leaf: leaf / safe[:, None], tree), jnp.log10(safe)

    g, log_scale = rescale(jax.grad(loss)(last))

    def backward(state: tuple[Any, jax.Array], inputs: tuple[Any, jax.Array]
                 ) -> tuple[tuple[Any, jax.Array], jax.Array]:
        g, log_scale = state                                         # ∂ℓ/∂carry after step t
        carry_before, x_t = inputs
        log_h = log_scale + jnp.log10(jnp.linalg.norm(g.hidden, axis=-1))
        _, vjp = jax.vjp(lambda c: cell.step(cell_params, c, x_t)[0], carry_before)
        g, step_scale = rescale(vjp(g)[0])
        return (g, log_scale + step_scale), log_h

    _, log_h = jax.lax.scan(backward, (g, log_scale), (before, xs), reverse=True)
    return log_h


def mean_log10(log_norms: Any, axis: int = -1) -> np.ndarray:
    """``log10`` of the arithmetic mean of norms given as ``log10`` values along ``axis``
    (a log-sum-exp, so 1e-60 and exact zeros, ``-inf``, are fine); float64."""
    logs = np.asarray(log_norms, np.float64) * np.log(10.0)
    n = logs.shape[axis]
    peak = np.max(logs, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    total = np.log(np.sum(np.exp(logs - peak), axis=axis)) + np.squeeze(peak, axis=axis)
    return (total - np.log(n)) / np.log(10.0)


def ratio(log_norms: np.ndarray) -> float:
    """First step's norm over the last step's: ``10 ** (log_norms[0] - log_norms[-1])``."""
    return float(10.0 ** (log_norms[0] - log_norms[-1]))


def gradients_in_time(*, seed: int, epochs: int, steps: int, n_seeds: int,
                      cells: tuple[str, ...], say: Callable[..., None]) -> dict[str, Any]:
    """Part 1: ``∂ℓ/∂h_t`` of each cell at initialisation and after training.

    Returns:
      ``curves[cell] = {"init": (T,), "trained": (T,)}``, ``log10`` of the mean over the
      probe examples (and at init over the seeds) of ``‖∂ℓ_i/∂h_t‖``; per cell
      ``<cell>_init_grad_ratio``, ``<cell>_grad_ratio`` (after training),
      ``<cell>_test_accuracy``, ``<cell>_train_loss`` (the trained ones only when
      ``epochs > 0``); and for ``exploding_rnn`` (not trained here) its init curve and
      ``exploding_rnn_init_grad_ratio``.
    """
    task = memory_task(seed, steps)
    (x_train, y_train), (x_test, y_test) = task["train"], task["test"]
    probe_x, probe_y = jnp.asarray(x_test[:PROBE]), jnp.asarray(y_test[:PROBE])
    say(f"memory task: a digit at step 1, then {steps - 1} steps of N(0, {NOISE}²) pixel "
        f"noise; {len(x_train)} train / {len(x_test)} test sequences; gradients measured on "
        f"{len(probe_x)} test sequences")
    say(f"training: adam({LEARNING_RATE:g}), clipped at global norm {CLIP}, batch "
        f"{BATCH_SIZE}, {epochs} epochs, fresh noise every batch\n")
    say(f"{'cell':>48}  {'first/last: init':>16}  {'trained':>9}  {'test accuracy':>13}  "
        f"{'seconds':>7}")
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    measure = jax.jit(hidden_grad_log10, static_argnums=0)
    r: dict[str, Any] = {"curves": {}}
    for name in (*cells, "exploding_rnn"):
        t0 = time.perf_counter()
        cell = exploding_cell() if name == "exploding_rnn" else CELLS[name]()
        model = rnn_classifier(cell)
        starts = [model.init(jax.random.key(seed + s), (steps, FEATURES)) for s in range(n_seeds)]
        per_seed = [mean_log10(measure(cell, p, probe_x, probe_y)) for _, p, _ in starts]
        init_curve = mean_log10(np.stack(per_seed, axis=-1))
        r["curves"][name] = {"init": init_curve}
        r[f"{name}_init_grad_ratio"] = ratio(init_curve)
        if name == "exploding_rnn" or epochs == 0:  # the exploding RNN is trained in part 3
            say(f"{cell_label(name):>48}  {r[f'{name}_init_grad_ratio']:16.3g}")
            continue
        _, params, state = starts[0]
        result = jaxdl.fit(model, params, state, x_train, y_train, loss=loss,
                           optimizer=optax.adam(LEARNING_RATE), epochs=epochs,
                           batch_size=BATCH_SIZE, key=seed, clip_grad_norm=CLIP, verbose=0)
        trained = mean_log10(measure(cell, result.params, probe_x, probe_y))
        test = jaxdl.evaluate(model, result.params, result.state, x_test, y_test, loss=loss,
                              metrics=["accuracy"])
        r["curves"][name]["trained"] = trained
        r[f"{name}_grad_ratio"] = ratio(trained)
        r[f"{name}_test_accuracy"] = test["accuracy"]
        r[f"{name}_train_loss"] = result.history["loss"][-1]
        say(f"{cell_label(name):>48}  {r[f'{name}_init_grad_ratio']:16.3g}  "
            f"{r[f'{name}_grad_ratio']:9.3g}  {test['accuracy']:13.3f}  "
            f"{time.perf_counter() - t0:7.1f}")
    return r


# ----------------------------------------------------------------- gradients in depth


def deep_mlp(activation: str) -> jaxdl.Layer:
    """``(Dense(64) -> act) x 10 -> Dense(10)``, 64 pixels -> 10 logits; the weights drawn
    as ``MLP_ACTIVATIONS`` says (Glorot for sigmoid, He for ReLU), biases zero."""
    act, w_init = MLP_ACTIVATIONS[activation]
    layers: list[jaxdl.Layer] = []
    for _ in range(DEPTH):
        layers += [jaxdl.Dense(WIDTH, w_init=w_init), act()]
    layers.append(jaxdl.Dense(NUM_CLASSES, w_init=w_init))
    return jaxdl.serial(*layers, name=f"{activation}_mlp")


def layer_grad_norms(model: jaxdl.Layer, params: Any, x: jax.Array, y: jax.Array) -> np.ndarray:
    """``‖∂L/∂W_l‖`` (Frobenius) of every dense layer, input to output: ``(DEPTH + 1,)``
    float64; ``L`` is the mean cross-entropy over ``x: (n, 64)``, ``y: (n,)``."""
    def loss(p: Any) -> jax.Array:
        return jaxdl.losses.sparse_categorical_cross_entropy(model.apply(p, {}, x)[0], y)

    grads = jax.grad(loss)(params)
    names = [n for n in jaxdl.core.unique_names(model.children) if n.startswith("dense")]
    return np.array([float(jnp.linalg.norm(grads[n]["w"])) for n in names])


def gradients_in_depth(*, seed: int, epochs: int, n_seeds: int,
                       say: Callable[..., None]) -> dict[str, Any]:
    """Part 2: layer-wise gradient norms of the sigmoid and the ReLU MLP.

    Returns:
      ``layers[act] = {"init": (11,), "trained": (11,)}`` (at init the mean over the
      seeds) and, per activation, ``<act>_mlp_grad_ratio`` (first layer's norm over the
      last layer's, at initialisation), ``<act>_mlp_trained_grad_ratio``,
      ``<act>_mlp_test_accuracy``.
    """
    digits = load_digits(seed)
    (x_train, y_train), (x_test, y_test) = digits["train"], digits["test"]
    xj, yj = jnp.asarray(x_train), jnp.asarray(y_train)
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    say(f"\n{DEPTH} hidden layers of {WIDTH}, on {len(x_train)} training digits (norms on all "
        f"of them); SGD(momentum 0.9, lr {MLP_LEARNING_RATE}), batch {BATCH_SIZE}, {epochs} "
        f"epochs")
    say(f"{'mlp':>8}  {'first/last layer: init':>22}  {'trained':>9}  {'test accuracy':>13}")
    r: dict[str, Any] = {"layers": {}}
    for act in MLP_ACTIVATIONS:
        model = deep_mlp(act)
        starts = [model.init(jax.random.key(seed + s), (PIXELS,)) for s in range(n_seeds)]
        init_norms = np.mean([layer_grad_norms(model, p, xj, yj) for _, p, _ in starts], axis=0)
        _, params, state = starts[0]
        result = jaxdl.fit(model, params, state, x_train, y_train, loss=loss,
                           optimizer=optax.sgd(MLP_LEARNING_RATE, momentum=0.9), epochs=epochs,
                           batch_size=BATCH_SIZE, key=seed, verbose=0)
        trained = layer_grad_norms(model, result.params, xj, yj)
        test = jaxdl.evaluate(model, result.params, result.state, x_test, y_test, loss=loss,
                              metrics=["accuracy"])
        r["layers"][act] = {"init": init_norms, "trained": trained}
        r[f"{act}_mlp_grad_ratio"] = float(init_norms[0] / init_norms[-1])
        r[f"{act}_mlp_trained_grad_ratio"] = float(trained[0] / trained[-1])
        r[f"{act}_mlp_test_accuracy"] = test["accuracy"]
        say(f"{act:>8}  {r[f'{act}_mlp_grad_ratio']:22.3g}  "
            f"{r[f'{act}_mlp_trained_grad_ratio']:9.3g}  {test['accuracy']:13.3f}")
    return r


# --------------------------------------------------------------- exploding, clipping


def exploding_cell() -> jaxdl.Cell:
    """A linear Elman cell, ``h_t = x_t·W_x + h_{t-1}·W_h + b``, with ``W_h`` orthogonal
    times ``EXPLODE_GAIN``: every singular value of ``W_h`` (and so its spectral radius) is
    ``EXPLODE_GAIN > 1``, and every step back in time multiplies ``‖∂ℓ/∂h_t‖`` by exactly
    that much (the case Pascanu, Mikolov & Bengio 2013 analyse)."""
    return jaxdl.SimpleRNN(UNITS, activation="linear",
                           w_h_init=inits.orthogonal(EXPLODE_GAIN))


def train_steps(model: jaxdl.Layer, params: Any, optimizer: optax.GradientTransformation,
                x: np.ndarray, y: np.ndarray, *, steps: int, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` optimiser steps on shuffled mini-batches of ``BATCH_SIZE``, recording each.

    Args:
      model: the classifier (``train=True``: its ``Augment`` adds the noise); ``params``
        its params.
      optimizer: the Optax optimiser (with or without clipping in front).
      x, y: ``(n, T, features)`` inputs and ``(n,)`` labels.
      steps: how many steps at most; stops after the first non-finite loss or gradient.
      seed: seeds the batches' order and the noise.

    Returns:
      ``(losses, grad_norms)``, each ``(steps_run,)`` float64: the batch's loss before the
      step and the global norm of its gradient before any clipping.
    """
    def loss_fn(p: Any, xb: jax.Array, yb: jax.Array, key: jax.Array) -> jax.Array:
        logits, _ = model.apply(p, {}, xb, key=key, train=True)
        return jaxdl.losses.sparse_categorical_cross_entropy(logits, yb)

    @jax.jit
    def step(p: Any, o: Any, xb: jax.Array, yb: jax.Array, key: jax.Array
             ) -> tuple[Any, Any, jax.Array, jax.Array]:
        value, grads = jax.value_and_grad(loss_fn)(p, xb, yb, key)
        updates, o = optimizer.update(grads, o, p)
        return optax.apply_updates(p, updates), o, value, optax.tree.norm(grads)

    rng = np.random.default_rng(seed)
    keys = jax.random.split(jax.random.key(seed), steps)
    per_epoch = len(x) // BATCH_SIZE
    opt_state = optimizer.init(params)
    losses, norms = [], []
    for i in range(steps):
        if i % per_epoch == 0:
            order = rng.permutation(len(x))
        idx = order[(i % per_epoch) * BATCH_SIZE:(i % per_epoch + 1) * BATCH_SIZE]
        params, opt_state, value, g = step(params, opt_state, x[idx], y[idx], keys[i])
        losses.append(float(value))
        norms.append(float(g))
        if not (np.isfinite(losses[-1]) and np.isfinite(norms[-1])):
            break
    return np.array(losses), np.array(norms)


def exploding(*, seed: int, steps: int, explode_steps: int,
              say: Callable[..., None]) -> dict[str, Any]:
    """Part 3: the exploding ReLU RNN on the memory task, trained plain and clipped.

    Returns:
      ``runs = {"unclipped"|"clipped": (losses, grad_norms)}``; ``unclipped_diverged``,
      ``unclipped_diverged_step`` (1-based step whose loss or gradient was not finite, 0
      when none), ``unclipped_max_grad_norm`` (the largest finite one),
      ``clipped_max_grad_norm`` (before clipping), ``clipped_first_loss``,
      ``clipped_final_loss`` (mean of the last 20 steps), ``clipped_finite``.
    """
    x_train, y_train = memory_task(seed, steps)["train"]
    if len(x_train) < BATCH_SIZE:
        raise ValueError(f"{NAME}.run: fewer training sequences than a batch")
    model = rnn_classifier(exploding_cell())
    _, params, _ = model.init(jax.random.key(seed), (steps, FEATURES))
    say(f"\n{cell_label('exploding_rnn')}: SGD(momentum 0.9, lr {EXPLODE_LEARNING_RATE}), "
        f"batch {BATCH_SIZE}, {explode_steps} steps, plain and clipped at global norm {CLIP}")
    sgd = optax.sgd(EXPLODE_LEARNING_RATE, momentum=0.9)
    runs = {name: train_steps(model, params, tx, x_train, y_train, steps=explode_steps,
                              seed=seed)
            for name, tx in (("unclipped", sgd),
                             ("clipped", optax.chain(optax.clip_by_global_norm(CLIP), sgd)))}
    (u_loss, u_norm), (c_loss, c_norm) = runs["unclipped"], runs["clipped"]
    diverged = not (np.isfinite(u_loss[-1]) and np.isfinite(u_norm[-1]))
    finite_norms = u_norm[np.isfinite(u_norm)]
    r = {"runs": runs, "unclipped_diverged": diverged,
         "unclipped_diverged_step": len(u_loss) if diverged else 0,
         "unclipped_max_grad_norm": float(np.max(finite_norms)) if len(finite_norms) else
         float("inf"),
         "unclipped_final_loss": float(u_loss[-1]),
         "clipped_max_grad_norm": float(np.max(c_norm)),
         "clipped_first_loss": float(c_loss[0]),
         "clipped_final_loss": float(np.mean(c_loss[-20:])),
         "clipped_finite": bool(np.all(np.isfinite(c_loss)) and np.all(np.isfinite(c_norm)))}
    say(f"  unclipped: gradient norm {u_norm[0]:.3g} at step 1, {r['unclipped_max_grad_norm']:.3g}"
        f" at most (finite ones); losses of steps 1..{len(u_loss)}: "
        + " ".join(f"{v:.3g}" for v in u_loss[:12]) + (" ..." if len(u_loss) > 12 else "")
        + (f"; step {len(u_loss)}'s loss or gradient is not finite" if diverged else ""))
    say(f"  clipped:   gradient norm {c_norm[0]:.3g} at step 1, {r['clipped_max_grad_norm']:.3g}"
        f" at most (before clipping); loss {c_loss[0]:.3g} -> {r['clipped_final_loss']:.3g} "
        f"(mean of the last 20 steps), finite throughout: {r['clipped_finite']}")
    return r


# ---------------------------------------------------------------------------- plots


def cell_label(name: str) -> str:
    """How the figures and tables name a cell of ``CELLS`` or ``"exploding_rnn"``."""
    if name == "exploding_rnn":
        return f"linear RNN, W_h = {EXPLODE_GAIN} x orthogonal (exploding)"
    return CELL_LABELS[name]


def plot_rnn(curves: dict[str, dict[str, np.ndarray]], path: Path, *, n_seeds: int) -> Path:
    """``‖∂ℓ/∂h_t‖ / ‖∂ℓ/∂h_T‖`` against ``t`` (log y), at initialisation and after training;
    curves that fall below ``FLOOR`` are cut there and their value at ``t = 1`` written."""
    fig, axes = _common.plt.subplots(1, 2, figsize=(11.5, 4.4), sharey=True,
                                     layout="constrained")
    top = max(10.0 ** float(np.max(c[w] - c[w][-1])) for c in curves.values() for w in c)
    for ax, when, title in ((axes[0], "init", f"at initialisation (mean over {n_seeds} seeds)"),
                            (axes[1], "trained", "after training (the first seed's weights)")):
        notes = []
        for i, (name, c) in enumerate(curves.items()):
            if when not in c:
                continue
            rel = 10.0 ** (c[when] - c[when][-1])
            style = "--" if name in ("lstm_bias1", "exploding_rnn") else "-"
            ax.plot(np.arange(1, len(rel) + 1), np.where(rel >= FLOOR, rel, np.nan),
                    linestyle=style, color=f"C{i}", label=cell_label(name))
            if rel[0] < FLOOR:
                notes.append(f"{cell_label(name)}: {rel[0]:.0e} at t = 1 (below the axis)")
        ax.set_yscale("log")
        ax.set_ylim(FLOOR, 10 * max(top, 1.0))
        ax.set_xlabel("time step t (the digit at t = 1, the loss after t = T)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if notes:
            ax.text(0.02, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=8,
                    va="bottom")
    axes[0].set_ylabel("‖∂ℓ/∂h_t‖ / ‖∂ℓ/∂h_T‖  (mean over 256 test sequences)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    fig.suptitle("how much of the last step's gradient reaches step t (memory task, "
                 f"T = {len(next(iter(curves.values()))['init'])})")
    return _common.save_figure(fig, path)


def plot_mlp(layers: dict[str, dict[str, np.ndarray]], path: Path, *, n_seeds: int) -> Path:
    """``‖∂L/∂W_l‖`` by layer (log y), sigmoid and ReLU, at init and after training."""
    fig, ax = _common.plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    for act, c in layers.items():
        layer = np.arange(1, len(c["init"]) + 1)
        line, = ax.plot(layer, c["init"], marker="o", label=f"{act}, init ({n_seeds} seeds)")
        ax.plot(layer, c["trained"], marker="x", linestyle="--", color=line.get_color(),
                label=f"{act}, after training")
    ax.set_yscale("log")
    ax.set_xlabel(f"dense layer (1 = input side, {DEPTH + 1} = output)")
    ax.set_ylabel("‖∂L/∂W_l‖ (training set)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{DEPTH} hidden layers of {WIDTH} on digits: gradient norm by layer")
    return _common.save_figure(fig, path)


def plot_exploding(runs: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Loss and gradient norm (before clipping) per step, log y, plain and clipped SGD; an
    ``x`` marks the last finite value of a run that stopped on a non-finite one."""
    fig, axes = _common.plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for i, (name, (losses, norms)) in enumerate(runs.items()):
        steps = np.arange(1, len(losses) + 1)
        for ax, values in ((axes[0], losses), (axes[1], norms)):
            finite = np.isfinite(values)
            ax.plot(steps, np.where(finite, values, np.nan), color=f"C{i}", label=name)
            if not finite[-1] and finite.any():
                last = np.flatnonzero(finite)[-1]
                ax.plot(steps[last], values[last], "x", color=f"C{i}", markersize=10,
                        label=f"{name}: not finite at step {len(values)}")
    for ax, label in ((axes[0], "training loss (batch)"),
                      (axes[1], "global gradient norm (before clipping)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step (log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{cell_label('exploding_rnn')}: SGD, plain and clipped at global norm {CLIP}")
    return _common.save_figure(fig, path)


# ------------------------------------------------------------------------------ run


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    return _common.check_int(f"{NAME}.run", name, value, low, high)


def _check_subset(arg: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value \
            or any(v not in allowed for v in value):
        raise ValueError(f"{NAME}.run: {arg} must be a non-empty subset of {allowed}, "
                         f"got {value!r}")
    return tuple(value)


def run(*, seed: int = 0, epochs: int = EPOCHS, steps: int = STEPS, n_seeds: int = N_SEEDS,
        mlp_epochs: int = MLP_EPOCHS, explode_steps: int = EXPLODE_STEPS,
        cells: tuple[str, ...] = tuple(CELLS), parts: tuple[str, ...] = PARTS,
        out: str | Path | None = None, verbose: bool = False) -> dict[str, Any]:
    """Runs the three parts: gradients through time, through depth, and clipping.

    Args:
      seed: seeds the split, the test noise, the weights (seeds ``seed .. seed + n_seeds -
        1`` at initialisation; the first is trained) and the batches.
      epochs: training epochs of each recurrent cell (part 1); 0 measures the cells at
        initialisation only.
      steps: the memory task's sequence length ``T`` (parts 1 and 3).
      n_seeds: initialisations averaged (parts 1 and 2).
      mlp_epochs: training epochs of each MLP (part 2).
      explode_steps: optimiser steps of each exploding run (part 3).
      cells: the cells of part 1, a subset of ``CELLS``.
      parts: which parts to run, a non-empty subset of ``("rnn", "mlp", "exploding")``.
      out: folder for the figures (None: no plots).
      verbose: print the tables.

    Returns:
      The figures of the parts run (see :func:`gradients_in_time`,
      :func:`gradients_in_depth`, :func:`exploding`), ``plots`` (paths, when ``out`` is
      given) and ``seconds``.

    Raises:
      TypeError, ValueError: an argument of the wrong type or out of range, naming it.
    """
    say = print if verbose else (lambda *a, **k: None)
    seed = _check_int("seed", seed, 0)
    epochs = _check_int("epochs", epochs, 0)
    steps = _check_int("steps", steps, 2)
    n_seeds = _check_int("n_seeds", n_seeds, 1)
    mlp_epochs = _check_int("mlp_epochs", mlp_epochs, 1)
    explode_steps = _check_int("explode_steps", explode_steps, 1)
    cells = _check_subset("cells", cells, tuple(CELLS))
    parts = _check_subset("parts", parts, PARTS)
    t0 = time.perf_counter()
    r: dict[str, Any] = {"plots": []}
    if "rnn" in parts:
        r.update(gradients_in_time(seed=seed, epochs=epochs, steps=steps, n_seeds=n_seeds,
                                   cells=cells, say=say))
        if out is not None:
            r["plots"].append(str(plot_rnn(r["curves"], Path(out) / "rnn_gradients.png",
                                           n_seeds=n_seeds)))
    if "mlp" in parts:
        r.update(gradients_in_depth(seed=seed, epochs=mlp_epochs, n_seeds=n_seeds, say=say))
        if out is not None:
            r["plots"].append(str(plot_mlp(r["layers"], Path(out) / "mlp_gradients.png",
                                           n_seeds=n_seeds)))
    if "exploding" in parts:
        r.update(exploding(seed=seed, steps=steps, explode_steps=explode_steps, say=say))
        if out is not None:
            r["plots"].append(str(plot_exploding(r["runs"], Path(out) / "exploding.png")))
    r["seconds"] = time.perf_counter() - t0
    return r


RESULT_KEYS = (
    *(f"{c}_grad_ratio" for c in CELLS), *(f"{c}_init_grad_ratio" for c in CELLS),
    *(f"{c}_test_accuracy" for c in CELLS), "exploding_rnn_init_grad_ratio",
    "sigmoid_mlp_grad_ratio", "relu_mlp_grad_ratio", "sigmoid_mlp_test_accuracy",
    "relu_mlp_test_accuracy", "unclipped_max_grad_norm", "unclipped_diverged",
    "unclipped_diverged_step", "clipped_max_grad_norm", "clipped_final_loss",
)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: the three parts, their plots and the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0,
                              epochs_help="training epochs of each recurrent cell", argv=argv)
    r = run(seed=args.seed, epochs=args.epochs, out=args.out, verbose=True)
    print(f"\nplots: {', '.join(r['plots'])}   (total {r['seconds']:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in RESULT_KEYS if k in r})


if __name__ == "__main__":
    main()
