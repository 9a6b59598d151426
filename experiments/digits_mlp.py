"""The main job: an MLP that reads handwritten digits (scikit-learn's 1,797 8x8 images).

The images come from ``jaxdl.data.load("digits")`` (64 pixel counts 0..16 each, scaled to
[0, 1]). A stratified 20 % is held out as the test set; 15 % of the rest is the validation
set; the remaining ~1,220 images train the model

    serial(Dense(128), Relu(), Dropout(0.2), Dense(64), Relu(), Dense(10))

(64 inputs -> 10 logits) with :func:`jaxdl.fit`, ``optax.adam(1e-3)``, mini-batches of 32
and sparse categorical cross-entropy. Training stops early once ``val_loss`` has not
improved for ``PATIENCE`` epochs, and the best epoch's weights are restored. The test set
is evaluated once, at the end: loss, accuracy and the confusion matrix. The loss and
accuracy curves are saved to ``--out``/``curves.png``.

This is the README's quick start (``python3 dev.py main``); it runs in seconds on a laptop
CPU.

Run: ``python -m experiments.digits_mlp [--epochs 100] [--seed 0] [--out out/digits_mlp]``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

import jaxdl
import jaxdl.data
from experiments import _common

NAME = "digits_mlp"
NUM_CLASSES = 10
# (train, validation, test): 20 % test, and 15 % of the other 80 % for validation.
FRACTIONS = (0.68, 0.12, 0.20)
LEARNING_RATE = 1e-3
BATCH_SIZE = 32
PATIENCE = 10
DROP_RATE = 0.2


def digits_mlp() -> jaxdl.Layer:
    """``serial(Dense(128), Relu(), Dropout(0.2), Dense(64), Relu(), Dense(10))``:
    64 pixels -> 10 logits."""
    return jaxdl.serial(jaxdl.Dense(128), jaxdl.Relu(), jaxdl.Dropout(DROP_RATE),
                        jaxdl.Dense(64), jaxdl.Relu(), jaxdl.Dense(NUM_CLASSES),
                        name="digits_mlp")


def load_splits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The digits as ``{"train"|"val"|"test": (x (n, 64) float32 in [0, 1], y (n,) int32)}``,
    split by ``jaxdl.data.train_val_test_split`` (stratified by label) with ``FRACTIONS``."""
    parts = jaxdl.data.train_val_test_split(
        jaxdl.data.load("digits"), fractions=FRACTIONS, seed=seed, stratify="label")
    return {name: (np.asarray(part["features"], np.float32) / 16.0,  # pixel counts 0..16
                   np.asarray(part["label"], np.int32))
            for name, part in zip(("train", "val", "test"), parts)}


def run(*, seed: int = 0, epochs: int = 100, out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Trains the digits MLP with early stopping and evaluates it on the test set.

    Args:
      seed: seeds the split, the initial weights, the shuffling and dropout.
      epochs: the most epochs (early stopping usually ends sooner).
      out: folder for ``curves.png`` (None: no plot).
      verbose: print the model summary, one line per epoch and the test results.

    Returns:
      ``test_accuracy``, ``test_loss``, ``val_accuracy``, ``val_loss``, ``train_accuracy``,
      ``train_loss`` (all with the restored best weights, dropout off), ``epochs_run``,
      ``best_epoch``, ``train_seconds`` (``fit`` including compilation), ``confusion``
      (``(10, 10)``, ``[true, predicted]``), ``history``, ``n_params`` and the split sizes.
    """
    say = print if verbose else (lambda *a, **k: None)
    splits = load_splits(seed)
    say(f"digits: {len(splits['train'][0])} train / {len(splits['val'][0])} validation / "
        f"{len(splits['test'][0])} test images (8x8, stratified, seed {seed})")
    r = _common.train_classifier(
        digits_mlp(), splits, input_shape=(64,),
        class_names=[str(d) for d in range(NUM_CLASSES)], seed=seed, epochs=epochs,
        learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, patience=PATIENCE, out=out,
        title="digits MLP", verbose=verbose)
    recall = np.diag(r["confusion"]) / r["confusion"].sum(axis=1)
    say("per-digit test recall: " + "  ".join(f"{d}:{x:.2f}" for d, x in enumerate(recall)))
    return r


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: trains, prints the results and the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=100, seed=0, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, out=args.out, verbose=True)
    print(f"plot: {r['plot']}   (total {time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in _common.CLASSIFIER_KEYS})


if __name__ == "__main__":
    main()
