"""The course's flower example: an MLP that tells three iris species apart.

Fisher's iris (150 flowers, 4 measurements in cm: sepal length/width, petal length/width;
3 species) comes from ``jaxdl.data.load("iris")``. A stratified 30 % is held out as the test
set and never looked at during training; 20 % of the rest is the validation set, monitored
every epoch (early stopping on ``val_loss``, best weights restored). The features are
standardised with the training set's mean and standard deviation only. The model,
``serial(Dense(16), Tanh(), Dense(3))``, outputs logits and is trained with
:func:`jaxdl.fit`, ``optax.adam(0.005)``, mini-batches of 16 and sparse categorical
cross-entropy.

The default seed 0 gives a test accuracy of 0.978 (44 of 45). Over seeds 0..29 the mean
is 0.96 and 28 of 30 reach at least 0.93; the other two make 4 mistakes on their 45 test
flowers (versicolor against virginica, the pair that overlaps).

Run: ``python -m experiments.iris_mlp [--epochs 200] [--seed 0] [--out out/iris_mlp]``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

import jaxdl
import jaxdl.data
from experiments import _common

NAME = "iris_mlp"
CLASSES = ("setosa", "versicolor", "virginica")
# (train, validation, test): 30 % test, and a fifth of the other 70 % for validation.
FRACTIONS = (0.56, 0.14, 0.30)
LEARNING_RATE = 0.005
PATIENCE = 25
BATCH_SIZE = 16


def iris_mlp(hidden: int = 16) -> jaxdl.Layer:
    """``serial(Dense(h), Tanh(), Dense(3))``: 4 features -> 3 logits."""
    return jaxdl.serial(jaxdl.Dense(hidden), jaxdl.Tanh(), jaxdl.Dense(len(CLASSES)),
                        name="iris_mlp")


def load_splits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Iris as standardised ``{"train"|"val"|"test": (x (n, 4) float32, y (n,) int32)}``.

    ``jaxdl.data.train_val_test_split`` (stratified by label) with ``FRACTIONS``; the mean
    and standard deviation of each feature come from the training part only.
    """
    train, val, test = jaxdl.data.train_val_test_split(
        jaxdl.data.load("iris"), fractions=FRACTIONS, seed=seed, stratify="label")
    mean, std = jaxdl.data.channel_mean_std(train["features"])
    return {name: (jaxdl.data.standardize(part["features"], mean, std),
                   np.asarray(part["label"], np.int32))
            for name, part in (("train", train), ("val", val), ("test", test))}


def run(*, seed: int = 0, epochs: int = 200, out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Trains and evaluates the iris MLP.

    Args:
      seed: seeds the split, the initial weights and the shuffling.
      epochs: the most epochs (early stopping usually ends sooner).
      out: folder for ``curves.png`` (None: no plot).
      verbose: print the summary, a compact training log and the test results.

    Returns:
      ``test_accuracy``, ``test_loss``, ``val_accuracy``, ``val_loss``, ``train_accuracy``,
      ``epochs_run``, ``best_epoch``, ``confusion`` (``(3, 3)`` array, ``[true, predicted]``),
      ``history`` and the split sizes ``n_train``, ``n_val``, ``n_test``.
    """
    say = print if verbose else (lambda *a, **k: None)
    splits = load_splits(seed)
    say(f"iris: {len(splits['train'][0])} train / {len(splits['val'][0])} validation / "
        f"{len(splits['test'][0])} test (stratified, seed {seed}), features standardised with "
        "the training statistics")
    return _common.train_classifier(
        iris_mlp(), splits, input_shape=(4,), class_names=CLASSES, seed=seed, epochs=epochs,
        learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, patience=PATIENCE, out=out,
        title="iris MLP", verbose=verbose)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: trains, prints the results and the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=200, seed=0, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, out=args.out, verbose=True)
    print(f"plot: {r['plot']}   (total {time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in _common.CLASSIFIER_KEYS})


if __name__ == "__main__":
    main()
