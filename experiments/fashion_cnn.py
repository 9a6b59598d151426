"""A small CNN on Fashion-MNIST: two conv-ReLU-pool blocks and a dense head.

    serial(Augment(random_flip), Conv(c1, (3, 3)), Relu(), MaxPool((2, 2)),
           Conv(c2, (3, 3)), Relu(), MaxPool((2, 2)), Flatten(3),
           Dense(hidden), Relu(), Dense(10))

trained with :func:`jaxdl.fit` on 55,000 of the 60,000 training images (5,000 held out for
validation, seeded), AdamW with a one-cycle cosine learning rate, label smoothing 0.1 and
random horizontal flips applied on the device to every training batch. The published
10,000 test images are scored once, at the end.

The default (widths 16/32/128, 6 epochs) is sized for a 2-core CPU (docs/images.md has
its measured time and accuracy). ``--widths 32 64 256 --epochs 8 --batch-size 128`` is the recipe of the H100 anchor
in ``../shared/bench`` (seconds on a GPU); ``--compute-dtype bfloat16`` runs the convs and
dense layers in bf16 with float32 parameters, which pays on GPUs and TPUs, not on CPUs.

Run: ``python -m experiments.fashion_cnn [--epochs 6] [--seed 0] [--widths 16 32 128]
[--batch-size 128] [--lr 3e-3] [--compute-dtype float32] [--out out/fashion_cnn]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxdl
from experiments import _common, _images

NAME = "fashion_cnn"
WIDTHS = (16, 32, 128)
EPOCHS = 6
BATCH_SIZE = 128
PEAK_LR = 3e-3


def run(*, seed: int = 0, epochs: int = EPOCHS, widths: tuple[int, int, int] = WIDTHS,
        batch_size: int = BATCH_SIZE, peak_lr: float = PEAK_LR, compute_dtype: Any = None,
        n_train: int | None = None, out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Trains the CNN and scores it on the test split.

    Args:
      seed: seeds the validation split, the initial weights, the shuffling and the flips.
      epochs: passes over the training images.
      widths: ``(conv 1 filters, conv 2 filters, dense units)``.
      batch_size: images per step.
      peak_lr: the one-cycle schedule's highest learning rate.
      compute_dtype: None (float32) or ``jnp.bfloat16``.
      n_train: train on the first ``n_train`` training images only (tests).
      out: folder for ``curves.png`` and ``confusion.png`` (None: no plots).
      verbose: print the summary, one line per epoch and the results.

    Returns:
      ``test_accuracy``, ``test_loss`` (unsmoothed cross-entropy), ``val_accuracy``,
      ``train_seconds``, ``seconds_per_epoch``, ``n_params``, ``history``, ``confusion``.
    """
    say = print if verbose else (lambda *a, **k: None)
    splits = _images.fashion_splits(seed, n_train=n_train)
    (x_train, y_train), (x_val, y_val) = splits["train"], splits["val"]
    say(f"fashion-mnist: {len(x_train)} train / {len(x_val)} validation / "
        f"{len(splits['test'][0])} test images (28x28, seed {seed})")
    model = _images.small_cnn(widths, augment=jaxdl.augment.random_flip,
                              compute_dtype=compute_dtype, name="fashion_cnn")
    say(jaxdl.summary(model, _images.IMAGE_SHAPE))
    k_init, k_fit = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(k_init, _images.IMAGE_SHAPE)
    steps = epochs * jaxdl.iterations_per_epoch(len(x_train), batch_size)
    optimizer = _images.onecycle_adamw(steps, peak_lr)
    say(f"training: AdamW, one-cycle lr peak {peak_lr:g} over {steps} steps, batch "
        f"{batch_size}, {epochs} epochs, label smoothing 0.1, random flips")
    t0 = time.perf_counter()
    result = jaxdl.fit(model, params, state, x_train, y_train,
                       loss=_images.smoothed_cross_entropy(0.1), optimizer=optimizer,
                       epochs=epochs, batch_size=batch_size, key=k_fit,
                       validation_data=(x_val, y_val), metrics=["accuracy"],
                       verbose=2 if verbose else 0)
    train_seconds = time.perf_counter() - t0
    scores, confusion = _common.evaluate_classifier(
        model, result, {"val": splits["val"], "test": splits["test"]},
        loss=jaxdl.losses.sparse_categorical_cross_entropy,
        class_names=_images.CLASS_NAMES, say=say)
    r: dict[str, Any] = {
        "test_accuracy": scores["test"]["accuracy"], "test_loss": scores["test"]["loss"],
        "val_accuracy": scores["val"]["accuracy"], "epochs": epochs,
        "train_seconds": train_seconds,
        "seconds_per_epoch": float(np.median(result.history["epoch_seconds"])),
        "n_params": jaxdl.count_params(result.params), "history": result.history,
        "confusion": confusion,
    }
    if out is not None:
        r["plot"] = str(_common.plot_history(
            result.history, Path(out) / "curves.png",
            title=f"fashion CNN {widths} (seed {seed}): test accuracy "
                  f"{r['test_accuracy']:.4f}"))
    return r


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--widths", type=int, nargs=3, default=WIDTHS, metavar=("C1", "C2", "H"),
                        help=f"conv 1 filters, conv 2 filters, dense units (default "
                             f"{' '.join(map(str, WIDTHS))})")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help=f"images per step (default {BATCH_SIZE})")
    parser.add_argument("--lr", type=float, default=PEAK_LR,
                        help=f"peak learning rate of the one-cycle schedule (default {PEAK_LR:g})")
    parser.add_argument("--compute-dtype", choices=("float32", "bfloat16"), default="float32",
                        help="dtype of the convs' and dense layers' arithmetic (default float32)")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: trains, prints the results and the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0,
                              extra=_options, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, widths=tuple(args.widths),
            batch_size=args.batch_size, peak_lr=args.lr,
            compute_dtype=None if args.compute_dtype == "float32" else jnp.bfloat16,
            out=args.out, verbose=True)
    print(f"plot: {r['plot']}   (total {time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in (
        "test_accuracy", "test_loss", "val_accuracy", "epochs", "n_params", "train_seconds",
        "seconds_per_epoch")})


if __name__ == "__main__":
    main()
