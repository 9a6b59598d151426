"""Autoencoders on Fashion-MNIST: a stacked autoencoder, a denoising one and a variational one.

Three fully connected models learn to reproduce 28x28 Fashion-MNIST images (pixels in
[0, 1], flattened to 784) through a narrow code, from the 55,000 training images without
their labels (5,000 more, seeded, are the validation set; the published 10,000 test
images are scored at the end):

* ``ae``: a stacked (deep) autoencoder, ``784-256-128-[32]-128-256-784`` with ReLU hidden
  units, a linear code and sigmoid outputs (the decoder's logits go into the binary
  cross-entropy, averaged over pixels);
* ``dae``: the same network trained as a *denoising* autoencoder: ``jaxdl.Dropout(0.3)``
  as its first layer is masking noise, active only in training (30 % of the input pixels
  of every training image zeroed, the others scaled by 1/0.7 so that the expected input
  is the clean image), and the loss compares the reconstruction with the *clean* image;
* ``vae``: a variational autoencoder: the encoder outputs the mean and log-variance of
  ``q(z | x)`` (32 latent dimensions), a :func:`Reparameterize` layer draws
  ``z = μ + σ·ε`` with the step's key (``z = μ`` at evaluation), and the loss is the
  negative ELBO, the Bernoulli cross-entropy summed over the 784 pixels plus
  ``jaxdl.losses.gaussian_kl_divergence(μ, log σ²)``, in nats per image.

All three train with :func:`jaxdl.fit` (Adam 1e-3, batch 128, 20 epochs) on ``(x, x)``:
the VAE's model returns the pytree ``(stats, logits)`` and its loss splits it, so no
custom loop is needed. Then a linear classifier (multinomial logistic regression,
scikit-learn, features standardised, its L2 strength picked by 5-fold cross-validation
on the same labelled images) is trained on the codes (the VAE's: ``μ``) of 1,000
labelled training images, and on the raw pixels of the same 1,000, and scored on the
10,000 test images; this is repeated for three labelled subsets and averaged.

Figures of the default run (seed 0; 2-core CPU shared with a test run, load about 3;
wall 332 s, 319 CPU-seconds user+sys, measured with ``/usr/bin/time -v``): test
reconstruction MSE per pixel ae 0.0091, dae 0.0104, vae 0.0141 (predicting the mean
image: 0.0866); with the test images corrupted as the DAE's training inputs are, ae
0.0146 vs dae 0.0117 (the denoising autoencoder fills the holes in); VAE test negative
ELBO 241.1 nats/image (KL 13.6). Linear classifier, 1,000 labels, test accuracy (mean ±
sd over 3 labelled subsets): pixels 0.7984 ± 0.0039, ae codes 0.7891 ± 0.0050, dae
codes 0.7996 ± 0.0048, vae codes (μ) 0.7546 ± 0.0060. So 32 numbers from the denoising
autoencoder are as good as the 784 pixels for a linear classifier, the plain
autoencoder's a point worse, and the VAE's means four points worse: at 1,000 labels
these codes do *not* beat the pixels.

Plots (``--out``): ``reconstructions.png`` (test images, clean and masked, with the three
models' reconstructions), ``samples.png`` (VAE decodings of ``z ~ N(0, I)``),
``interpolation.png`` (decodings along straight lines between the VAE codes of pairs of
test images), ``curves.png`` (training and validation loss per epoch) and
``linear_probe.png`` (test accuracy of the linear classifiers).

Run: ``python -m experiments.autoencoder [--epochs 20] [--seed 0] [--code 32]
[--noise 0.3] [--labels 1000] [--subsets 3] [--out out/autoencoder]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
from experiments import _common, _images

NAME = "autoencoder"
EPOCHS = 20
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
HIDDEN = (256, 128)
CODE = 32
NOISE = 0.3
N_LABELS = 1000
SUBSETS = 3
N_VAL = 5000
N_TRAIN_MAX = 60_000 - N_VAL  # published training images not held out
PIXELS = 28 * 28
MODELS = ("ae", "dae", "vae")
PROBE_CS = np.logspace(-3, 2, 6)  # the inverse L2 strengths the cross-validation picks from

__all__ = ["fashion_pixels", "Reparameterize", "autoencoder", "vae",
           "vae_loss", "linear_probe", "image_grid", "run", "main"]


# ------------------------------------------------------------------------------ data

def fashion_pixels(seed: int, *, n_train: int | None = None, n_val: int = N_VAL,
                   n_test: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST as flat pixels in [0, 1]: ``{"train"|"val"|"test": (x (n, 784)
    float32, y (n,) int32)}``.

    :func:`experiments._images.fashion_splits` with ``standardize=False`` (the same split:
    ``n_val`` training images drawn with ``seed`` are the validation set, the first
    ``n_train`` of the rest the training set, the first ``n_test`` published test images
    the test set), flattened.
    """
    splits = _images.fashion_splits(seed, n_train=n_train, n_val=n_val, n_test=n_test,
                                    standardize=False)
    return {name: (x.reshape(len(x), PIXELS), y) for name, (x, y) in splits.items()}


# ---------------------------------------------------------------------------- layers

def Reparameterize(*, name: str = "reparameterize") -> jaxdl.Layer:
    """The VAE's sampling step: ``stats = [μ, log σ²]`` ``(*batch, 2L)`` -> ``z (*batch, L)``.

    With ``train=True`` it draws ``z = μ + exp(½ log σ²)·ε``, ``ε ~ N(0, I)`` from ``key``
    (the reparameterisation trick: ``z`` is a differentiable function of ``μ`` and ``σ``);
    with ``train=False`` it returns ``μ``, the code.
    """
    label = "Reparameterize()"

    def init(key: jax.Array, input_shape: Any) -> tuple[Any, dict, dict]:
        del key
        (two_l,) = jaxdl.check_input_shape(label, input_shape, rank=1)
        if two_l is None or two_l % 2:
            raise ValueError(f"{label}: expected an even number of inputs [mean, log_var], "
                             f"got input_shape {tuple(input_shape)}")
        return (two_l // 2,), {}, {}

    def apply(params: dict, state: dict, x: jax.Array, *, key: jax.Array | None = None,
              train: bool = False, lengths: jax.Array | None = None) -> tuple[jax.Array, dict]:
        del params, lengths
        mean, log_var = jnp.split(x, 2, axis=-1)
        if not train:
            return mean, state
        if key is None:
            raise ValueError(f"{label}: apply(..., train=True) needs a PRNG key (key=...)")
        eps = jax.random.normal(key, mean.shape, mean.dtype)
        return mean + jnp.exp(0.5 * log_var) * eps, state

    return jaxdl.Layer(init, apply, name, label=label)


def _mlp(widths: tuple[int, ...], out: int, name: str) -> jaxdl.Layer:
    layers: list[jaxdl.Layer] = []
    for w in widths:
        layers += [jaxdl.Dense(w), jaxdl.Relu()]
    return jaxdl.serial(*layers, jaxdl.Dense(out), name=name)


def autoencoder(hidden: tuple[int, ...] = HIDDEN, code: int = CODE, *,
                noise: float = 0.0) -> jaxdl.Layer:
    """``[Dropout(noise)] -> encoder 784-hidden-code -> decoder code-reversed(hidden)-784``.

    With ``noise > 0`` it is a denoising autoencoder: ``jaxdl.Dropout`` on the input is
    masking noise (each pixel zeroed with probability ``noise`` in training, the others
    scaled by ``1 / (1 - noise)`` so the expected input is the clean one; the identity at
    evaluation), and the loss compares the output with the clean image.

    The code is linear, the decoder returns logits (``sigmoid`` gives the reconstruction).
    Params: ``{"encoder": ..., "decoder": ...}``, so ``serial`` children can be applied
    alone (``encoder.apply(params["encoder"], {}, x)`` gives the codes).

    Shapes: ``(*batch, 784) -> (*batch, 784)`` logits.
    """
    layers = [jaxdl.Dropout(noise, name="masking_noise")] if noise else []
    return jaxdl.serial(*layers, _mlp(hidden, code, "encoder"),
                        _mlp(tuple(reversed(hidden)), PIXELS, "decoder"), name="autoencoder")


def vae(hidden: tuple[int, ...] = HIDDEN, latent: int = CODE) -> jaxdl.Layer:
    """The VAE as one layer whose output carries what its loss needs.

    ``x -> encoder -> stats = [μ, log σ²]`` ``(2L,)``, then ``FanOut(2)`` and
    ``parallel(Identity(), serial(Reparameterize(), decoder))``: the output is the pair
    ``(stats (*batch, 2L), logits (*batch, 784))``. Params: ``params["encoder"]`` and
    ``params["parallel"]["generator"]["decoder"]``.
    """
    generator = jaxdl.serial(Reparameterize(), _mlp(tuple(reversed(hidden)), PIXELS, "decoder"),
                             name="generator")
    return jaxdl.serial(_mlp(hidden, 2 * latent, "encoder"), jaxdl.FanOut(2),
                        jaxdl.parallel(jaxdl.Identity(), generator), name="vae")


def vae_loss(outputs: tuple[jax.Array, jax.Array], x: jax.Array) -> jax.Array:
    """The negative ELBO in nats per image (mean over the batch):
    ``Σ_pixels BCE(logits, x) + KL(q(z|x) || N(0, I))``.

    Args:
      outputs: the :func:`vae`'s ``(stats (batch, 2L), logits (batch, 784))``.
      x: the images ``(batch, 784)`` in [0, 1] (the targets).
    """
    stats, logits = outputs
    mean, log_var = jnp.split(stats, 2, axis=-1)
    bce = jaxdl.losses.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return jnp.mean(jnp.sum(bce, axis=-1)) + jaxdl.losses.gaussian_kl_divergence(mean, log_var)


def _child(model: jaxdl.Layer, *path: str) -> jaxdl.Layer:
    """The sub-layer of a combinator at ``path`` (names), e.g. ``("encoder",)``."""
    for name in path:
        model = next(c for c in model.children if c.name == name)
    return model


VAE_DECODER = ("parallel", "generator", "decoder")


# ------------------------------------------------------------------ linear probe

def linear_probe(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                 *, seed: int = 0) -> dict[str, float]:
    """A linear classifier on features: multinomial logistic regression (scikit-learn,
    lbfgs), features standardised on the training set, the inverse L2 strength ``C``
    chosen from ``PROBE_CS`` (1e-3 .. 1e2) by 5-fold cross-validation (log-loss) on the
    training examples only.

    Args:
      train: ``(features (n, d), labels (n,))``, the labelled examples.
      test: ``(features (m, d), labels (m,))``.
      seed: seeds the folds.

    Returns:
      ``{"test_accuracy", "train_accuracy", "c"}``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(),
                        LogisticRegressionCV(Cs=PROBE_CS, cv=folds, scoring="neg_log_loss",
                                             max_iter=300))
    # one BLAS thread: on a busy machine, threaded BLAS spins for the tiny matrices here
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.8+'s API notices
        warnings.simplefilter("ignore", ConvergenceWarning)  # the weakest L2 strengths
        clf.fit(*train)
        return {"test_accuracy": float(np.mean(clf.predict(test[0]) == test[1])),
                "train_accuracy": float(np.mean(clf.predict(train[0]) == train[1])),
                "c": float(clf[-1].C_[0])}


# ------------------------------------------------------------------------ plots

def image_grid(images: np.ndarray, rows: int, cols: int, *, fill: float = 0.0) -> np.ndarray:
    """Tiles ``rows * cols`` images ``(n, 784)`` or ``(n, 28, 28)`` into one
    ``(rows * 29 - 1, cols * 29 - 1)`` array, with 1-pixel gaps of value ``fill``."""
    imgs = np.asarray(images, np.float32).reshape(-1, 28, 28)[:rows * cols]
    grid = np.full((rows * 29 - 1, cols * 29 - 1), fill, np.float32)
    for i, img in enumerate(imgs):
        r, c = divmod(i, cols)
        grid[r * 29:r * 29 + 28, c * 29:c * 29 + 28] = img
    return grid


def _plot_grids(panels: list[tuple[str, np.ndarray]], path: Path, title: str) -> Path:
    fig, axes = _common.plt.subplots(len(panels), 1, figsize=(10, 1.15 * len(panels) + 0.6),
                                     squeeze=False, layout="constrained")
    for ax, (label, grid) in zip(axes[:, 0], panels):
        ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    return _common.save_figure(fig, path)


def _plot_curves(histories: dict[str, dict[str, list[float]]], path: Path) -> Path:
    fig, axes = _common.plt.subplots(1, len(histories), figsize=(4.2 * len(histories), 3.5),
                                     squeeze=False, layout="constrained")
    units = {"ae": "BCE per pixel", "dae": "BCE per pixel (train: masked inputs)",
             "vae": "negative ELBO (nats/image)"}
    for ax, (model, h) in zip(axes[0], histories.items()):
        epochs = range(1, len(h["loss"]) + 1)
        ax.plot(epochs, h["loss"], label="train")
        ax.plot(epochs, h["val_loss"], label="validation")
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.set_ylabel(units.get(model, "loss"))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("autoencoders on Fashion-MNIST: loss per epoch")
    return _common.save_figure(fig, path)


def _plot_probe(acc: dict[str, list[float]], n_labels: int, path: Path) -> Path:
    fig, ax = _common.plt.subplots(figsize=(5, 3.2), layout="constrained")
    names = list(acc)
    means = [float(np.mean(acc[n])) for n in names]
    ax.bar(names, means, yerr=[float(np.std(acc[n])) for n in names], capsize=4,
           color=["gray"] + ["C0"] * (len(names) - 1))
    for i, m in enumerate(means):
        ax.text(i, m + 0.006, f"{m:.4f}", ha="center", fontsize=9)
    ax.set_ylim(max(0.0, min(means) - 0.05), min(1.0, max(means) + 0.03))
    ax.set_ylabel("test accuracy")
    runs = len(next(iter(acc.values())))
    ax.set_title(f"linear classifier, {n_labels} labels ({runs} subsets): pixels vs codes",
                 fontsize=10)
    return _common.save_figure(fig, path)


# -------------------------------------------------------------------------- run

def _check_run_args(epochs: Any, code: Any, noise: Any, n_labels: Any, subsets: Any,
                    n_train: Any, hidden: Any, batch_size: Any) -> None:
    fn = f"{NAME}.run"
    for arg, value, lo in (("epochs", epochs, 1), ("code", code, 1), ("n_labels", n_labels, 50),
                           ("subsets", subsets, 1), ("batch_size", batch_size, 1)):
        _common.check_int(fn, arg, value, lo)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 < noise < 1.0:
        raise ValueError(f"{fn}: noise must be a masking probability in (0, 1), got {noise!r}")
    if n_train is not None:
        _common.check_int(fn, "n_train", n_train, n_labels, N_TRAIN_MAX)
    else:
        _common.check_int(fn, "n_labels", n_labels, 50, N_TRAIN_MAX)
    _common.check_widths(fn, "hidden", hidden)


def run(*, seed: int = 0, epochs: int = EPOCHS, code: int = CODE, noise: float = NOISE,
        n_labels: int = N_LABELS, subsets: int = SUBSETS, hidden: tuple[int, ...] = HIDDEN,
        batch_size: int = BATCH_SIZE, n_train: int | None = None, n_test: int | None = None,
        out: str | Path | None = None, verbose: bool = False) -> dict[str, Any]:
    """Trains the AE, the DAE and the VAE, scores their reconstructions and their codes.

    Args:
      seed: seeds the validation split, the labelled subsets, initialisation, shuffling,
        the noise and the VAE's samples.
      epochs: passes over the training images, for each model.
      code: the code (and VAE latent) size.
      noise: the DAE's masking probability (also the corruption of the denoising test).
      n_labels: labelled training images for the linear classifiers.
      subsets: how many labelled subsets (seeds ``seed + 1 ..``) the classifiers are
        trained on; accuracies are averaged over them.
      hidden: the encoder's hidden widths (the decoder mirrors them).
      batch_size: images per step.
      n_train: train on the first ``n_train`` training images only (tests).
      n_test: score on the first ``n_test`` test images only (tests).
      out: folder for the plots (None: no plots).
      verbose: print progress.

    Returns:
      For ``m`` in ae, dae, vae: ``{m}_test_mse`` (per pixel, clean inputs) and
      ``{m}_test_masked_mse`` (inputs corrupted as the DAE's are in training: a fraction
      ``noise`` of the pixels zeroed, the rest scaled by ``1 / (1 - noise)``; compared
      with the clean images). For ``m`` in pixels, ae, dae, vae:
      ``{m}_linear_test_accuracy`` (mean over the labelled subsets), ``..._std`` and
      ``..._accuracies`` (per subset). ``vae_test_neg_elbo`` and ``vae_test_kl`` (nats
      per image, one sample of ``z`` per image); ``mean_image_test_mse`` (the baseline
      of predicting the mean training image); ``histories``; ``samples`` ``(40, 784)``
      (VAE decodings of ``z ~ N(0, I)``); ``train_seconds``; the plot paths when ``out``
      is given.
    """
    _check_run_args(epochs, code, noise, n_labels, subsets, n_train, hidden, batch_size)
    say = print if verbose else (lambda *a, **k: None)
    splits = fashion_pixels(seed, n_train=n_train, n_test=n_test)
    (x_train, y_train), (x_val, _), (x_test, y_test) = (splits["train"], splits["val"],
                                                        splits["test"])
    say(f"fashion-mnist: {len(x_train)} train (unlabelled) / {len(x_val)} validation / "
        f"{len(x_test)} test images, pixels in [0, 1]; {n_labels} labels for the linear "
        "classifiers")
    keys = jax.random.split(jax.random.key(seed), 7)  # init, 3 x fit, masking, ELBO, samples
    r: dict[str, Any] = {"histories": {}, "train_seconds": {}}
    mean_image = x_train.mean(axis=0, keepdims=True)
    r["mean_image_test_mse"] = float(np.mean((x_test - mean_image) ** 2))
    # the DAE's training corruption, applied once to the test images
    x_test_masked = np.asarray(jaxdl.Dropout(noise).apply({}, {}, jnp.asarray(x_test),
                                                          key=keys[4], train=True)[0])

    models = {"ae": autoencoder(hidden, code), "dae": autoencoder(hidden, code, noise=noise),
              "vae": vae(hidden, code)}
    trained: dict[str, Any] = {}
    for i, (m, model) in enumerate(models.items()):
        loss = vae_loss if m == "vae" else jaxdl.losses.binary_cross_entropy_with_logits
        _, params, state = model.init(keys[0], (PIXELS,))   # the AE and DAE start equal
        if verbose and i == 0:
            say(jaxdl.summary(model, (PIXELS,)))
        t0 = time.perf_counter()
        result = jaxdl.fit(model, params, state, x_train, x_train, loss=loss,
                           optimizer=optax.adam(LEARNING_RATE), epochs=epochs,
                           batch_size=batch_size, key=keys[1 + i],
                           validation_data=(x_val, x_val), verbose=0)
        r["train_seconds"][m] = time.perf_counter() - t0
        r["histories"][m] = result.history
        trained[m] = result.params
        h = result.history
        say(f"{m:>4}: {epochs} epochs in {r['train_seconds'][m]:5.1f} s, loss "
            f"{h['loss'][0]:.4f} -> {h['loss'][-1]:.4f}, val loss {h['val_loss'][-1]:.4f}")

    # reconstructions (VAE: z = μ) and codes
    def reconstruct(m: str, x: np.ndarray) -> np.ndarray:
        out_ = jaxdl.predict(models[m], trained[m], {}, x)
        return np.asarray(jax.nn.sigmoid(out_[1] if m == "vae" else out_))

    def codes(m: str, x: np.ndarray) -> np.ndarray:
        stats = jaxdl.predict(_child(models[m], "encoder"), trained[m]["encoder"], {}, x)
        return np.asarray(stats[:, :code])  # the VAE's code is μ, the first half of its stats

    recon: dict[str, np.ndarray] = {}
    recon_masked: dict[str, np.ndarray] = {}
    for m in MODELS:
        recon[m] = reconstruct(m, x_test)
        recon_masked[m] = reconstruct(m, x_test_masked)
        r[f"{m}_test_mse"] = float(np.mean((recon[m] - x_test) ** 2))
        r[f"{m}_test_masked_mse"] = float(np.mean((recon_masked[m] - x_test) ** 2))
        say(f"{m:>4}: test MSE per pixel {r[f'{m}_test_mse']:.5f}, with {noise:.0%} of the "
            f"pixels masked {r[f'{m}_test_masked_mse']:.5f}")
    say(f"baseline (the mean training image): test MSE {r['mean_image_test_mse']:.5f}")

    # the VAE's negative ELBO with one sample of z per test image
    vae_model = models["vae"]

    @jax.jit
    def elbo_terms(params: Any, x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        (stats, logits), _ = vae_model.apply(params, {}, x, key=key, train=True)
        mean, log_var = jnp.split(stats, 2, axis=-1)
        kl = jaxdl.losses.gaussian_kl_divergence(mean, log_var)
        return vae_loss((stats, logits), x), kl

    neg_elbo, kl = elbo_terms(trained["vae"], jnp.asarray(x_test), keys[5])
    r["vae_test_neg_elbo"], r["vae_test_kl"] = float(neg_elbo), float(kl)
    say(f" vae: test negative ELBO {r['vae_test_neg_elbo']:.2f} nats/image "
        f"(KL {r['vae_test_kl']:.2f}, reconstruction "
        f"{r['vae_test_neg_elbo'] - r['vae_test_kl']:.2f})")

    # samples from the prior
    decoder = _child(vae_model, *VAE_DECODER)
    dec = trained["vae"]["parallel"]["generator"]["decoder"]
    z = jax.random.normal(keys[6], (40, code))
    r["samples"] = np.asarray(jax.nn.sigmoid(decoder.apply(dec, {}, z)[0]))

    # linear classifiers on n_labels labels: codes vs pixels, on `subsets` labelled subsets
    t0 = time.perf_counter()
    features = {"pixels": lambda x: x, **{m: (lambda x, m=m: codes(m, x)) for m in MODELS}}
    test_features = {name: f(x_test) for name, f in features.items()}
    accuracies: dict[str, list[float]] = {name: [] for name in features}
    for s in range(subsets):
        labelled = np.random.default_rng(seed + 1 + s).permutation(len(x_train))[:n_labels]
        xl, yl = x_train[labelled], y_train[labelled]
        for name, f in features.items():
            p = linear_probe((f(xl), yl), (test_features[name], y_test), seed=seed + s)
            accuracies[name].append(p["test_accuracy"])
            say(f"subset {s}: linear classifier on {name:>6} ({n_labels} labels, C={p['c']:g}): "
                f"train accuracy {p['train_accuracy']:.4f}, test accuracy "
                f"{p['test_accuracy']:.4f}")
    for name, acc in accuracies.items():
        r[f"{name}_linear_test_accuracies"] = acc
        r[f"{name}_linear_test_accuracy"] = float(np.mean(acc))
        r[f"{name}_linear_test_accuracy_std"] = float(np.std(acc))
        say(f"linear classifier on {name:>6}: test accuracy {np.mean(acc):.4f} ± "
            f"{np.std(acc):.4f} over {subsets} labelled subsets")
    say(f"(linear classifiers: {time.perf_counter() - t0:.1f} s)")

    if out is not None:
        out = Path(out)
        show = slice(0, 12)
        r["plot_reconstructions"] = str(_plot_grids(
            [("test images", image_grid(x_test[show], 1, 12)),
             *[(m, image_grid(recon[m][show], 1, 12)) for m in MODELS],
             (f"{noise:.0%} masked", image_grid(x_test_masked[show], 1, 12)),
             *[(f"{m} (masked)", image_grid(recon_masked[m][show], 1, 12)) for m in MODELS]],
            out / "reconstructions.png",
            "test images and their reconstructions (VAE: decoder(μ))"))
        r["plot_samples"] = str(_plot_grids(
            [("", image_grid(r["samples"], 4, 10))], out / "samples.png",
            f"VAE samples: decoder(z), z ~ N(0, I) ({code} dimensions)"))
        mu = np.asarray(codes("vae", x_test[:16]))
        t = np.linspace(0.0, 1.0, 10)[:, None]
        rows = []
        for a, b in zip(range(0, 16, 2), range(1, 16, 2)):
            zs = (1 - t) * mu[a][None, :] + t * mu[b][None, :]
            rows.append(np.asarray(jax.nn.sigmoid(decoder.apply(dec, {}, zs)[0])))
        r["plot_interpolation"] = str(_plot_grids(
            [(f"{i + 1}", image_grid(row, 1, 10)) for i, row in enumerate(rows)],
            out / "interpolation.png", "VAE: decodings along lines between two test codes"))
        r["plot_curves"] = str(_plot_curves(r["histories"], out / "curves.png"))
        r["plot_probe"] = str(_plot_probe(accuracies, n_labels, out / "linear_probe.png"))
    return r


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--code", type=int, default=CODE,
                        help=f"code size of the AE and DAE, latent size of the VAE "
                             f"(default {CODE})")
    parser.add_argument("--noise", type=float, default=NOISE,
                        help=f"the DAE's masking probability (default {NOISE:g})")
    parser.add_argument("--labels", type=int, default=N_LABELS,
                        help=f"labelled images for the linear classifiers (default {N_LABELS})")
    parser.add_argument("--subsets", type=int, default=SUBSETS,
                        help=f"labelled subsets the classifiers are trained on (default {SUBSETS})")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: trains the three models, prints the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0,
                              extra=_options, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, code=args.code, noise=args.noise,
            n_labels=args.labels, subsets=args.subsets, out=args.out, verbose=True)
    print(f"plots: {args.out}/{{reconstructions,samples,interpolation,curves,linear_probe}}.png"
          f"   (total {time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in (
        "ae_test_mse", "dae_test_mse", "vae_test_mse", "ae_test_masked_mse",
        "dae_test_masked_mse", "vae_test_neg_elbo", "vae_test_kl",
        "pixels_linear_test_accuracy", "ae_linear_test_accuracy", "dae_linear_test_accuracy",
        "vae_linear_test_accuracy")})


if __name__ == "__main__":
    main()
