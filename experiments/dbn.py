"""A deep belief network on Fashion-MNIST, pre-trained without labels, fine-tuned on few.

RBMs are trained by contrastive divergence and stacked by greedy layer-wise pre-training;
the stack is then fine-tuned as an MLP on few labels.

Pre-training uses the 55,000 training images *without labels* (pixels in [0, 1], used as
the probabilities of binary visible units; 5,000 more images, seeded, are held out):

1. ``RBM(500)`` on the pixels, by CD-1: ``jax.grad(jaxdl.rbm.cd_loss)`` is the CD update,
   applied by Optax SGD (0.05) with momentum 0.5 for 5 epochs and 0.9 after (set through
   ``optax.inject_hyperparams``) and an L2 weight decay of 2e-4 on the weights, as in
   Hinton's practical guide (2010); the visible biases start at ``log(p / (1 - p))`` of
   the mean training pixel, the weights at ``N(0, 0.01²)``;
2. ``RBM(200)`` the same way, on the first RBM's hidden probabilities ``p(h₁ | v)``.

Each epoch is one jitted ``lax.scan`` over mini-batches of 100. Then
``serial(RBM(500), RBM(200), Dense(10))`` (an :func:`jaxdl.RBM` layer's forward pass is
``p(h | v) = σ(v W + b_h)``, a sigmoid dense layer) starts from the pre-trained weights
(and a fresh ``Dense(10)``) and is fine-tuned with :func:`jaxdl.fit` (Adam 1e-3,
batch 32, early stopping on the validation loss, patience 10, best weights restored) on
``n_labels`` labelled training images, with a validation slice of as many other labelled
images; the same network from a random (Glorot-uniform) initialisation is trained the
same way on the same images. This is repeated for three labelled subsets (seeds
``seed .. seed + 2``); the pre-training is done once.

Figures of the default run (1,000 labels, pre-training 10 + 10 epochs, seed 0; 2-core
CPU shared with a test run, load about 3; wall 163 s, 160 CPU-seconds user+sys,
measured with ``/usr/bin/time -v``): test reconstruction error (mean squared, per unit)
RBM 1 0.0152 (0.0869 on the validation images before training), RBM 2 0.0036; test
accuracy of the fine-tuned DBN 0.8196 ± 0.0008 (three labelled subsets: 0.8187, 0.8194,
0.8207) vs 0.8057 ± 0.0070 (0.8154, 0.8026, 0.7991) for the same network from random
initialisation: pre-training adds 1.4 points on average, and wins on every subset (by
0.3 to 2.2 points). ``--seed 1`` (another split, pre-training and subsets): 0.8189 ±
0.0038 vs 0.8036 ± 0.0025, 3 of 3. ``--labels 300``: 0.7740 ± 0.0080 vs 0.7692 ± 0.0047,
2 of 3: with fewer labels the gain shrank rather than grew.

Plots (``--out``): ``filters.png`` (100 first-layer weight vectors as 28x28 tiles),
``pretraining.png`` (reconstruction error per pre-training epoch, both RBMs),
``finetuning.png`` (validation loss and accuracy per epoch, DBN vs random, first subset)
and ``gibbs.png`` (a Gibbs chain of the first RBM started at test images: after tens of
steps it forgets its start and falls into a few blurry modes, trousers and dark tops;
CD-1 learns useful features, not a good sampler).

Run: ``python -m experiments.dbn [--epochs 10] [--seed 0] [--hidden 500 200]
[--labels 1000] [--subsets 3] [--out out/dbn]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
from experiments import _common
from experiments._images import NUM_CLASSES
from experiments.autoencoder import N_TRAIN_MAX, N_VAL, PIXELS, fashion_pixels, image_grid

NAME = "dbn"
EPOCHS = 10               # pre-training epochs per RBM
HIDDEN = (500, 200)
N_LABELS = 1000
SUBSETS = 3               # labelled subsets for the DBN-vs-random comparison
RBM_BATCH = 100
RBM_LR = 0.05
WEIGHT_DECAY = 2e-4
MOMENTUM = (0.5, 0.9)     # Hinton's guide: 0.5 while the weights settle, then 0.9
MOMENTUM_SWITCH = 5       # epoch after which the momentum is raised
CD_K = 1
FINETUNE_EPOCHS = 100
FINETUNE_BATCH = 32
FINETUNE_LR = 1e-3
PATIENCE = 10

__all__ = ["rbm_optimizer", "make_rbm_epoch", "pretrain_rbm", "pretrain_stack", "dbn_model",
           "with_pretrained", "gibbs_chain", "run", "main"]


# ------------------------------------------------------------------ pre-training

def rbm_optimizer(learning_rate: float = RBM_LR, *, momentum: float = MOMENTUM[0],
                  weight_decay: float = WEIGHT_DECAY) -> optax.GradientTransformation:
    """SGD with momentum and an L2 weight decay on ``w`` only (not the biases), for the
    CD gradient of an RBM's params ``{"w", "b_visible", "b_hidden"}``. The momentum is an
    injected hyperparameter (``opt_state[1].hyperparams["momentum"]``), so it can be
    raised between epochs without re-initialising the velocity."""
    decay_mask = {"w": True, "b_visible": False, "b_hidden": False}
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=decay_mask),
                       optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate,
                                                           momentum=momentum))


def make_rbm_epoch(optimizer: optax.GradientTransformation, *, batch_size: int = RBM_BATCH,
                   k: int = CD_K) -> Callable[..., tuple[Any, Any]]:
    """One jitted epoch of CD-k: ``epoch(params, opt_state, data (n, V), key) ->
    (params, opt_state)``.

    The data are shuffled with ``key`` and cut into ``n // batch_size`` full batches
    (the remainder is left out this epoch); a ``lax.scan`` applies, per batch,
    ``grads = jax.grad(jaxdl.rbm.cd_loss)(params, v, step_key, k=k)`` and the optimiser.
    """

    def epoch(params: Any, opt_state: Any, data: jax.Array, key: jax.Array) -> tuple[Any, Any]:
        k_perm, k_steps = jax.random.split(key)
        steps = data.shape[0] // batch_size
        order = jax.random.permutation(k_perm, data.shape[0])[:steps * batch_size]

        def step(carry: tuple[Any, Any], inputs: tuple[jax.Array, jax.Array]
                 ) -> tuple[tuple[Any, Any], None]:
            p, o = carry
            idx, step_key = inputs
            grads = jax.grad(jaxdl.rbm.cd_loss)(p, data[idx], step_key, k=k)
            updates, o = optimizer.update(grads, o, p)
            return (optax.apply_updates(p, updates), o), None

        (params, opt_state), _ = jax.lax.scan(
            step, (params, opt_state),
            (order.reshape(steps, batch_size), jax.random.split(k_steps, steps)))
        return params, opt_state

    return jax.jit(epoch)


def pretrain_rbm(hidden: int, data: np.ndarray, val: np.ndarray, *, epochs: int, key: Any,
                 learning_rate: float = RBM_LR, batch_size: int = RBM_BATCH, k: int = CD_K,
                 say: Callable[..., None] = lambda *a: None,
                 label: str = "rbm") -> tuple[dict[str, jax.Array], dict[str, list[float]]]:
    """Trains one ``jaxdl.RBM(hidden)`` on ``data`` by CD-k.

    Args:
      hidden: hidden units ``H``.
      data: ``(n, V)`` visible probabilities in [0, 1].
      val: ``(m, V)`` held-out data for the progress signal.
      epochs: passes over ``data``.
      key: PRNG key (initialisation, shuffling, Gibbs sampling).
      learning_rate, batch_size, k: SGD step, batch size, Gibbs steps.
      say: where to print one line per epoch.
      label: how the lines name the RBM.

    Returns:
      ``(params {"w": (V, H), "b_visible": (V,), "b_hidden": (H,)}, history)`` with
      ``history["reconstruction_error"]`` and ``history["val_reconstruction_error"]`` (the
      mean-field reconstruction error of :func:`jaxdl.rbm.reconstruction_error`, on the
      first 5,000 training rows and on ``val``), one value per epoch, epoch 0 (before
      training) first.
    """
    k_init, k_train = jax.random.split(key)
    _, params, _ = jaxdl.RBM(hidden).init(k_init, (data.shape[1],))
    p = np.clip(data.mean(axis=0), 1e-3, 1 - 1e-3)
    params["b_visible"] = jnp.asarray(np.log(p / (1 - p)), jnp.float32)  # Hinton's guide, 8.1
    optimizer = rbm_optimizer(learning_rate)
    opt_state = optimizer.init(params)
    epoch_fn = make_rbm_epoch(optimizer, batch_size=batch_size, k=k)
    data_d, probe, val_d = jnp.asarray(data), jnp.asarray(data[:5000]), jnp.asarray(val)
    error = jax.jit(jaxdl.rbm.reconstruction_error)
    history: dict[str, list[float]] = {"reconstruction_error": [float(error(params, probe))],
                                       "val_reconstruction_error": [float(error(params, val_d))]}
    for e, ek in enumerate(jax.random.split(k_train, epochs), start=1):
        if e == MOMENTUM_SWITCH + 1:
            hyper = opt_state[1].hyperparams    # same dtype: the epoch is not recompiled
            hyper["momentum"] = jnp.full_like(hyper["momentum"], MOMENTUM[1])
        t0 = time.perf_counter()
        params, opt_state = epoch_fn(params, opt_state, data_d, ek)
        history["reconstruction_error"].append(float(error(params, probe)))
        history["val_reconstruction_error"].append(float(error(params, val_d)))
        say(f"  {label} epoch {e:3d}: reconstruction error train "
            f"{history['reconstruction_error'][-1]:.5f} val "
            f"{history['val_reconstruction_error'][-1]:.5f} ({time.perf_counter() - t0:.1f} s)")
    return params, history


def pretrain_stack(hidden: tuple[int, ...], data: np.ndarray, val: np.ndarray, *, epochs: int,
                   key: Any, say: Callable[..., None] = lambda *a: None
                   ) -> tuple[list[dict[str, jax.Array]], list[dict[str, list[float]]]]:
    """Greedy layer-wise pre-training: RBM ``i`` is trained on the hidden probabilities
    ``p(h_{i-1} | ...)`` of the stack below it, for ``data (n, V)`` and ``val (m, V)``.

    Returns:
      ``(params of each RBM, history of each RBM)``, bottom first.
    """
    stack, histories = [], []
    for i, (h, k) in enumerate(zip(hidden, jax.random.split(key, len(hidden))), start=1):
        t0 = time.perf_counter()
        params, history = pretrain_rbm(h, data, val, epochs=epochs, key=k, say=say,
                                       label=f"rbm{i}")
        say(f"rbm{i} ({data.shape[1]}-{h}): {epochs} epochs in "
            f"{time.perf_counter() - t0:.1f} s")
        stack.append(params)
        histories.append(history)
        up = jax.jit(jaxdl.rbm.hidden_probabilities)
        data, val = np.asarray(up(params, data)), np.asarray(up(params, val))
    return stack, histories


# ------------------------------------------------------------------- fine-tuning

def dbn_model(hidden: tuple[int, ...] = HIDDEN, *,
              w_init: Any = jaxdl.initializers.normal(0.01)) -> jaxdl.Layer:
    """``serial(RBM(h1), RBM(h2), ..., Dense(10))``: the DBN as an MLP with sigmoid hidden
    units. Params ``{"rbm": ..., "rbm_1": ..., "dense": ...}``.

    Shapes: ``(*batch, 784) -> (*batch, 10)`` logits.
    """
    return jaxdl.serial(*[jaxdl.RBM(h, w_init=w_init) for h in hidden],
                        jaxdl.Dense(NUM_CLASSES), name="dbn")


def with_pretrained(model: jaxdl.Layer, params: dict[str, Any],
                    stack: list[dict[str, jax.Array]]) -> dict[str, Any]:
    """``model``'s ``params`` (from :func:`dbn_model`'s ``init``) with its RBM layers'
    entries replaced by the pre-trained ``stack`` (one params dict per RBM, bottom up);
    the output ``Dense`` keeps its fresh weights."""
    rbms = jaxdl.core.unique_names(model.children)[:-1]   # serial's keys: rbm, rbm_1, ...
    if len(rbms) != len(stack):
        raise ValueError(f"{NAME}.with_pretrained: the model has {len(rbms)} RBM layers, the "
                         f"stack {len(stack)}")
    return {**params, **dict(zip(rbms, stack))}


def gibbs_chain(params: dict[str, jax.Array], v0: jax.Array, key: jax.Array,
                snapshots: tuple[int, ...]) -> np.ndarray:
    """Runs block Gibbs sampling in one RBM from ``v0 (b, V)`` and returns ``p(v | h)`` at
    the given step counts: ``(len(snapshots), b, V)`` (step 0: ``v0`` itself)."""
    steps = max(snapshots)

    def body(v: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
        v, pv = jaxdl.rbm.gibbs_step(params, v, k)
        return v, pv

    _, pvs = jax.jit(lambda v, ks: jax.lax.scan(body, v, ks))(v0, jax.random.split(key, steps))
    pvs = np.concatenate([np.asarray(v0)[None], np.asarray(pvs)])
    return pvs[list(snapshots)]


def _finetune(model: jaxdl.Layer, params: Any, state: Any, train: tuple[Any, Any],
              val: tuple[Any, Any], *, epochs: int, key: Any) -> jaxdl.FitResult:
    return jaxdl.fit(model, params, state, *train,
                     loss=jaxdl.losses.sparse_categorical_cross_entropy,
                     optimizer=optax.adam(FINETUNE_LR), epochs=epochs,
                     batch_size=FINETUNE_BATCH, key=key, validation_data=val,
                     metrics=["accuracy"],
                     early_stopping=jaxdl.EarlyStopping(monitor="val_loss", patience=PATIENCE,
                                                         restore_best=True),
                     verbose=0)


# -------------------------------------------------------------------------- plots

def _plot_filters(w: np.ndarray, path: Path) -> Path:
    tiles = np.asarray(w).T[:100]                      # (H, 784): one filter per hidden unit
    lim = np.abs(tiles).max(axis=1, keepdims=True)
    tiles = 0.5 + 0.5 * tiles / np.maximum(lim, 1e-8)  # each filter scaled to [0, 1]
    fig, ax = _common.plt.subplots(figsize=(7, 7), layout="constrained")
    ax.imshow(image_grid(tiles, 10, 10, fill=0.5), cmap="RdBu_r", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title("first RBM: weights of 100 hidden units (red +, blue -)")
    return _common.save_figure(fig, path)


def _plot_pretraining(histories: list[dict[str, list[float]]], path: Path) -> Path:
    fig, axes = _common.plt.subplots(1, len(histories), figsize=(4.5 * len(histories), 3.5),
                                     squeeze=False, layout="constrained")
    for i, (ax, h) in enumerate(zip(axes[0], histories), start=1):
        epochs = range(len(h["reconstruction_error"]))
        ax.plot(epochs, h["reconstruction_error"], label="train")
        ax.plot(epochs, h["val_reconstruction_error"], label="validation")
        ax.axvline(MOMENTUM_SWITCH, color="gray", linestyle=":",
                   label=f"momentum {MOMENTUM[0]:g} -> {MOMENTUM[1]:g}")
        ax.set_yscale("log")
        ax.set_title(f"RBM {i}")
        ax.set_xlabel("epoch of CD-1")
        ax.set_ylabel("reconstruction error (MSE per unit)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("greedy layer-wise pre-training")
    return _common.save_figure(fig, path)


def _plot_finetuning(hists: dict[str, dict[str, list[float]]], path: Path, title: str) -> Path:
    fig, axes = _common.plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for name, h in hists.items():
        epochs = range(1, len(h["loss"]) + 1)
        for ax, key in zip(axes, ("loss", "accuracy")):
            line, = ax.plot(epochs, h[f"val_{key}"], label=f"{name} validation")
            ax.plot(epochs, h[key], color=line.get_color(), linestyle=":",
                    label=f"{name} train")
    for ax, key in zip(axes, ("cross-entropy", "accuracy")):
        ax.set_xlabel("epoch of fine-tuning")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _common.save_figure(fig, path)


def _plot_gibbs(pvs: np.ndarray, snapshots: tuple[int, ...], path: Path) -> Path:
    fig, axes = _common.plt.subplots(len(snapshots), 1, figsize=(8, 0.9 * len(snapshots) + 0.6),
                                     layout="constrained")
    for ax, s, pv in zip(axes, snapshots, pvs):
        ax.imshow(image_grid(pv, 1, len(pv)), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"step {s}", rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("a Gibbs chain of the first RBM, from test images (p(v | h) shown)")
    return _common.save_figure(fig, path)


# ---------------------------------------------------------------------------- run

def _check_int_arg(arg: str, value: Any, lo: int) -> None:
    _common.check_int(f"{NAME}.run", arg, value, lo)


def run(*, seed: int = 0, epochs: int = EPOCHS, hidden: tuple[int, ...] = HIDDEN,
        n_labels: int = N_LABELS, subsets: int = SUBSETS,
        finetune_epochs: int = FINETUNE_EPOCHS, n_train: int | None = None,
        n_test: int | None = None, out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Pre-trains the RBM stack, fine-tunes the DBN and the randomly initialised MLP.

    Args:
      seed: seeds the split, the pre-training, and the first labelled subset (subset ``i``
        uses ``seed + i``).
      epochs: pre-training epochs per RBM.
      hidden: hidden units of the RBMs, bottom first.
      n_labels: labelled training images per subset (and as many validation images).
      subsets: how many labelled subsets to compare on.
      finetune_epochs: the most fine-tuning epochs (early stopping usually ends sooner).
      n_train: pre-train on the first ``n_train`` training images only (tests).
      n_test: score on the first ``n_test`` test images only (tests).
      out: folder for the plots (None: no plots).
      verbose: print progress.

    Returns:
      ``rbm{i}_test_reconstruction_error`` and ``rbm{i}_history`` for each RBM;
      ``dbn_test_accuracy`` and ``random_init_test_accuracy`` (means over the subsets),
      ``..._std`` (their standard deviations), ``dbn_test_accuracies`` and
      ``random_init_test_accuracies`` (per subset), ``dbn_wins`` (subsets where the DBN
      scored higher), ``finetune_epochs_run`` (per subset and model), ``pretrain_seconds``,
      the plot paths when ``out`` is given.
    """
    for arg, value, lo in (("seed", seed, 0), ("epochs", epochs, 1), ("n_labels", n_labels, 10),
                           ("subsets", subsets, 1), ("finetune_epochs", finetune_epochs, 1)):
        _check_int_arg(arg, value, lo)
    _common.check_widths(f"{NAME}.run", "hidden", hidden)
    if n_train is not None:
        _check_int_arg("n_train", n_train, RBM_BATCH)
    # the sizes are known before loading: 60,000 published training images, N_VAL of them
    # held out, the first n_train of the rest kept
    n_labelled_max = min(N_VAL, N_TRAIN_MAX if n_train is None else n_train)
    if n_labels > n_labelled_max:
        raise ValueError(f"{NAME}.run: n_labels must be at most {n_labelled_max} (the training "
                         f"and validation images), got {n_labels}")
    say = print if verbose else (lambda *a, **k: None)
    splits = fashion_pixels(seed, n_train=n_train, n_test=n_test)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (splits["train"], splits["val"],
                                                            splits["test"])
    say(f"fashion-mnist: {len(x_train)} training images (pre-training, no labels) / "
        f"{len(x_val)} held out / {len(x_test)} test; pixels in [0, 1]")
    k_pre, k_chain, k_tune = jax.random.split(jax.random.key(seed), 3)
    r: dict[str, Any] = {}

    # 1. greedy layer-wise pre-training
    say(f"pre-training RBMs {PIXELS}-{'-'.join(map(str, hidden))} by CD-{CD_K}: SGD "
        f"{RBM_LR:g}, momentum {MOMENTUM[0]:g} -> {MOMENTUM[1]:g} after epoch "
        f"{MOMENTUM_SWITCH}, weight decay {WEIGHT_DECAY:g}, batch {RBM_BATCH}, {epochs} epochs "
        "each")
    t0 = time.perf_counter()
    stack, histories = pretrain_stack(hidden, x_train, x_val, epochs=epochs, key=k_pre, say=say)
    r["pretrain_seconds"] = time.perf_counter() - t0
    v = jnp.asarray(x_test)
    for i, params in enumerate(stack, start=1):
        r[f"rbm{i}_test_reconstruction_error"] = float(jaxdl.rbm.reconstruction_error(params, v))
        r[f"rbm{i}_history"] = histories[i - 1]
        say(f"rbm{i}: test reconstruction error {r[f'rbm{i}_test_reconstruction_error']:.5f} "
            f"(before training {histories[i - 1]['val_reconstruction_error'][0]:.5f} on "
            "validation)")
        v = jaxdl.rbm.hidden_probabilities(params, v)

    # 2. fine-tuning on few labels: pre-trained vs random initialisation
    model = dbn_model(hidden)
    random_model = dbn_model(hidden, w_init="glorot_uniform")
    acc: dict[str, list[float]] = {"dbn": [], "random_init": []}
    r["finetune_epochs_run"] = {"dbn": [], "random_init": []}
    curves: dict[str, dict[str, list[float]]] = {}
    for s in range(subsets):
        rng = np.random.default_rng(seed + s)
        tr = rng.choice(len(x_train), n_labels, replace=False)
        va = rng.choice(len(x_val), n_labels, replace=False)
        train, val = (x_train[tr], y_train[tr]), (x_val[va], y_val[va])
        k_init, k_fit = jax.random.split(jax.random.fold_in(k_tune, s))
        _, params, state = model.init(k_init, (PIXELS,))
        params = with_pretrained(model, params, stack)       # pre-trained RBMs, fresh Dense
        _, params_random, _ = random_model.init(k_init, (PIXELS,))
        for name, (m, p) in {"dbn": (model, params),
                             "random_init": (random_model, params_random)}.items():
            result = _finetune(m, p, state, train, val, epochs=finetune_epochs, key=k_fit)
            test = jaxdl.evaluate(m, result.params, result.state, x_test, y_test,
                                  loss=jaxdl.losses.sparse_categorical_cross_entropy,
                                  metrics=["accuracy"])
            acc[name].append(test["accuracy"])
            r["finetune_epochs_run"][name].append(len(result.history["loss"]))
            if s == 0:
                curves[name] = result.history
            say(f"subset {s} ({n_labels} labels, seed {seed + s}): {name:>11} best epoch "
                f"{result.best_epoch:3d} of {len(result.history['loss']):3d}, val accuracy "
                f"{result.history['val_accuracy'][result.best_epoch - 1]:.4f}, test accuracy "
                f"{test['accuracy']:.4f}")
    for name in acc:
        r[f"{name}_test_accuracies"] = acc[name]
        r[f"{name}_test_accuracy"] = float(np.mean(acc[name]))
        r[f"{name}_test_accuracy_std"] = float(np.std(acc[name]))
    r["dbn_wins"] = int(sum(a > b for a, b in zip(acc["dbn"], acc["random_init"])))
    say(f"test accuracy over {subsets} labelled subsets: DBN {r['dbn_test_accuracy']:.4f} ± "
        f"{r['dbn_test_accuracy_std']:.4f}, random initialisation "
        f"{r['random_init_test_accuracy']:.4f} ± {r['random_init_test_accuracy_std']:.4f}; "
        f"the DBN is better on {r['dbn_wins']} of {subsets}")

    if out is not None:
        out = Path(out)
        r["plot_filters"] = str(_plot_filters(stack[0]["w"], out / "filters.png"))
        r["plot_pretraining"] = str(_plot_pretraining(histories, out / "pretraining.png"))
        r["plot_finetuning"] = str(_plot_finetuning(
            curves, out / "finetuning.png",
            f"fine-tuning on {n_labels} labels (subset 0): test accuracy DBN "
            f"{acc['dbn'][0]:.4f}, random init {acc['random_init'][0]:.4f}"))
        snapshots = (0, 1, 10, 100, 1000)
        pvs = gibbs_chain(stack[0], jnp.asarray(x_test[:12]), k_chain, snapshots)
        r["plot_gibbs"] = str(_plot_gibbs(pvs, snapshots, out / "gibbs.png"))
    return r


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden", type=int, nargs="+", default=HIDDEN,
                        help=f"hidden units of the RBMs, bottom first (default "
                             f"{' '.join(map(str, HIDDEN))})")
    parser.add_argument("--labels", type=int, default=N_LABELS,
                        help=f"labelled training images per subset (default {N_LABELS})")
    parser.add_argument("--subsets", type=int, default=SUBSETS,
                        help=f"labelled subsets to compare on (default {SUBSETS})")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: pre-trains, fine-tunes, prints the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0,
                              epochs_help="pre-training epochs per RBM", extra=_options,
                              argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, hidden=tuple(args.hidden),
            n_labels=args.labels, subsets=args.subsets, out=args.out, verbose=True)
    print(f"plots: {args.out}/{{filters,pretraining,finetuning,gibbs}}.png   "
          f"(total {time.perf_counter() - t0:.1f} s)")
    values = {f"rbm{i}_test_reconstruction_error": r[f"rbm{i}_test_reconstruction_error"]
              for i in range(1, len(args.hidden) + 1)}
    values.update({k: r[k] for k in ("dbn_test_accuracy", "dbn_test_accuracy_std",
                                     "random_init_test_accuracy",
                                     "random_init_test_accuracy_std", "dbn_wins")})
    values["n_labels"] = args.labels
    _common.print_result(NAME, values)


if __name__ == "__main__":
    main()
