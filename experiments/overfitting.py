"""Overfitting on 1,000 Fashion-MNIST images, and what dropout, augmentation and early
stopping do about it.

A 784-256-256-10 ReLU MLP has 270,000 parameters; trained on only 1,000 images it learns
them by heart: the training loss keeps falling towards zero while the validation loss
(5,000 held-out images) reaches its lowest point after a few epochs and then climbs, the
overfitting signature. Five runs of the same network, same data, same seed:

* ``baseline``: no remedy, ``EPOCHS`` epochs;
* ``dropout``: ``Dropout(0.5)`` after each hidden layer;
* ``augmentation``: every training image is randomly flipped left-right and shifted by up
  to 10 % (2 pixels) each way, on the device, batch by batch
  (``jaxdl.Augment(jaxdl.augment.compose(random_flip, random_translation))`` as the
  model's first layer; rotations and zooms are in ``jaxdl.augment`` too, but an MLP, with
  no notion of neighbouring pixels, learns less from them in this budget);
* ``early_stopping``: the baseline, stopped once ``val_loss`` has not improved for 10
  epochs, with the best epoch's weights restored;
* ``all``: the three together.

The figure ``curves.png`` shows each run's training and validation loss per epoch. RESULT
reports each run's best and final validation loss and the test accuracy of the weights it
ends with (the 10,000 published test images).

Run: ``python -m experiments.overfitting [--epochs 60] [--seed 0] [--out out/overfitting]``.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

import jaxdl
from experiments import _common, _images

NAME = "overfitting"
N_TRAIN = 1000
EPOCHS = 60
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
DROP_RATE = 0.5
PATIENCE = 10
VARIANTS = ("baseline", "dropout", "augmentation", "early_stopping", "all")

AUGMENT = jaxdl.augment.compose(
    jaxdl.augment.random_flip,
    functools.partial(jaxdl.augment.random_translation, max_fraction=0.1),
)


def model(*, dropout: bool, augment: bool) -> jaxdl.Layer:
    """``[Augment] -> Flatten -> Dense(256) -> ReLU [-> Dropout] -> Dense(256) -> ReLU
    [-> Dropout] -> Dense(10)``, 28x28x1 images to 10 logits."""
    layers: list[jaxdl.Layer] = [jaxdl.Augment(AUGMENT)] if augment else []
    layers.append(jaxdl.Flatten(3))
    for _ in range(2):
        layers += [jaxdl.Dense(256), jaxdl.Relu()]
        if dropout:
            layers.append(jaxdl.Dropout(DROP_RATE))
    layers.append(jaxdl.Dense(_images.NUM_CLASSES))
    return jaxdl.serial(*layers, name="mlp")


def run(*, seed: int = 0, epochs: int = EPOCHS, n_train: int = N_TRAIN,
        variants: tuple[str, ...] = VARIANTS, out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Trains the variants (all five by default) and scores each.

    Returns:
      For each variant ``v``: ``v_best_val_loss``, ``v_best_epoch``, ``v_final_val_loss``
      (of the weights the run ends with), ``v_final_train_loss``, ``v_test_accuracy``,
      ``v_epochs_run``; ``histories``; ``plot`` when ``out`` is given.
    """
    say = print if verbose else (lambda *a, **k: None)
    if not variants or any(v not in VARIANTS for v in variants):
        raise ValueError(f"overfitting.run: variants must be a non-empty subset of {VARIANTS}, "
                         f"got {variants!r}")
    splits = _images.fashion_splits(seed, n_train=n_train)
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    say(f"fashion-mnist: {n_train} train / {len(splits['val'][0])} validation / "
        f"{len(splits['test'][0])} test images")
    r: dict[str, Any] = {"histories": {}}
    for variant in variants:
        net = model(dropout=variant in ("dropout", "all"),
                    augment=variant in ("augmentation", "all"))
        stop = variant in ("early_stopping", "all")
        k_init, k_fit = jax.random.split(jax.random.key(seed))
        _, params, state = net.init(k_init, _images.IMAGE_SHAPE)
        t0 = time.perf_counter()
        result = jaxdl.fit(
            net, params, state, *splits["train"], loss=loss,
            optimizer=optax.adam(LEARNING_RATE), epochs=epochs, batch_size=BATCH_SIZE,
            key=k_fit, validation_data=splits["val"], metrics=["accuracy"],
            early_stopping=jaxdl.EarlyStopping(monitor="val_loss", patience=PATIENCE,
                                                restore_best=True) if stop else None,
            verbose=0)
        h = result.history
        best = int(np.argmin(h["val_loss"]))
        final = jaxdl.evaluate(net, result.params, result.state, *splits["val"], loss=loss)
        test = jaxdl.evaluate(net, result.params, result.state, *splits["test"], loss=loss,
                              metrics=["accuracy"])
        r.update({
            f"{variant}_best_val_loss": h["val_loss"][best], f"{variant}_best_epoch": best + 1,
            f"{variant}_final_val_loss": final["loss"],
            f"{variant}_final_train_loss": h["loss"][-1],
            f"{variant}_test_accuracy": test["accuracy"],
            f"{variant}_epochs_run": len(h["loss"]),
        })
        r["histories"][variant] = h
        say(f"{variant:>15}: {len(h['loss']):3d} epochs ({time.perf_counter() - t0:5.1f} s)  "
            f"train loss {h['loss'][0]:.3f} -> {h['loss'][-1]:.3f}   val loss best "
            f"{h['val_loss'][best]:.3f} (epoch {best + 1}) last {h['val_loss'][-1]:.3f}   "
            f"kept weights: val loss {final['loss']:.3f}, test accuracy "
            f"{test['accuracy']:.4f}")
    if out is not None:
        r["plot"] = str(plot_curves(r["histories"], Path(out) / "curves.png"))
    return r


def plot_curves(histories: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """One panel per variant: training and validation loss per epoch, the best validation
    epoch marked."""
    fig, axes = _common.plt.subplots(1, len(histories), figsize=(3.6 * len(histories), 3.6),
                                     sharey=True, squeeze=False, layout="constrained")
    axes = axes[0]
    for ax, (variant, h) in zip(axes, histories.items()):
        epochs = range(1, len(h["loss"]) + 1)
        ax.plot(epochs, h["loss"], label="train")
        ax.plot(epochs, h["val_loss"], label="validation")
        best = int(np.argmin(h["val_loss"])) + 1
        ax.axvline(best, color="gray", linestyle=":", label=f"best val (epoch {best})")
        ax.set_title(variant)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("loss (cross-entropy)")
    fig.suptitle("overfitting on a small training set, and its remedies")
    return _common.save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: trains the five variants, prints RESULT."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, out=args.out, verbose=True)
    print(f"plot: {r['plot']}   (total {time.perf_counter() - t0:.1f} s)")
    keys = [f"{v}_{k}" for v in VARIANTS for k in ("best_val_loss", "final_val_loss",
                                                   "test_accuracy")]
    _common.print_result(NAME, {"baseline_final_train_loss": r["baseline_final_train_loss"],
                                **{k: r[k] for k in keys}})


if __name__ == "__main__":
    main()
