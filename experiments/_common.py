"""What every experiment shares: its command line, its ``RESULT`` line and its plots.

Every experiment is run from the repository root as ``python -m experiments.<name>`` and

* takes ``--out DIR`` (default ``out/<name>``, relative to the *current working
  directory*; ``/out/`` is git-ignored), plus ``--epochs`` and ``--seed`` where they apply;
* saves its figures there as PNG (matplotlib's non-interactive Agg backend, so no display
  is needed; experiments take ``plt`` from here so that the backend is chosen first);
* ends by printing exactly one line ``RESULT name=<name> key=value ...`` as its last line.
  Keys are snake_case, ``<split>_<metric>`` where there is a split (``test_accuracy``,
  ``val_loss``); floats are written with 6 significant digits unless the experiment asks
  for fixed decimals (``backprop_example`` prints the course's 9).
"""

from __future__ import annotations

import argparse
import time
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax
import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless: files only, never a window

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402

import jaxdl  # noqa: E402

__all__ = [
    "plt", "parse_args", "format_value", "result_line", "print_result", "save_figure",
    "plot_history", "print_history", "format_confusion", "evaluate_classifier",
    "train_classifier", "CLASSIFIER_KEYS",
]

_KEY = re.compile(r"[a-z][a-z0-9_]*")


def parse_args(
    name: str,
    description: str,
    *,
    epochs: int | None = None,
    seed: int | None = None,
    epochs_help: str = "training epochs",
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """Parses an experiment's command line.

    Args:
      name: the experiment's name; ``--out`` defaults to ``out/<name>``.
      description: shown by ``--help``.
      epochs: the default of ``--epochs`` (None: the experiment has no such option).
      seed: the default of ``--seed`` (None: the experiment has no such option).
      epochs_help: what ``--epochs`` counts, for ``--help``.
      extra: adds the experiment's own options to the parser (``--widths``, ...).
      argv: the arguments (default ``sys.argv[1:]``).

    Returns:
      The namespace, with ``out`` a :class:`~pathlib.Path` (not created yet).
    """
    parser = argparse.ArgumentParser(prog=f"python -m experiments.{name}",
                                     description=description)
    if epochs is not None:
        parser.add_argument("--epochs", type=int, default=epochs,
                            help=f"{epochs_help} (default {epochs})")
    if seed is not None:
        parser.add_argument("--seed", type=int, default=seed,
                            help=f"PRNG seed for initialisation, shuffling and splits "
                                 f"(default {seed})")
    parser.add_argument("--out", type=Path, default=Path("out") / name,
                        help=f"folder for the figures (default out/{name}, relative to the "
                             "current directory)")
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def check_int(fn: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    """An experiment's integer argument, checked: ``TypeError`` unless an int (``bool`` is
    not), ``ValueError`` unless ``low <= value`` (``<= high`` when given). Messages start
    with ``fn`` (``"karate_gcn.run"``) and name the argument and the value received.

    Returns:
      ``value`` as a Python int.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{fn}: {name} must be {bound}, got {value}")
    return int(value)


def check_widths(fn: str, name: str, value: Any) -> tuple[int, ...]:
    """Layer widths given to an experiment: a non-empty tuple of positive ints, else a
    ``ValueError`` starting with ``fn`` that names the argument and shows the value."""
    if not isinstance(value, tuple) or not value or \
            any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in value):
        raise ValueError(f"{fn}: {name} must be a non-empty tuple of positive ints, got "
                         f"{value!r}")
    return value


def format_value(value: Any, *, decimals: int | None = None) -> str:
    """Formats one ``RESULT`` value.

    Booleans as ``true``/``false``, integers exactly, floats with 6 significant digits
    (``decimals=k``: rounded to ``k`` decimals, trailing zeros dropped), strings as given
    (one word). NumPy/JAX scalars count as the Python type they hold.
    """
    if hasattr(value, "dtype"):  # NumPy/JAX scalars and 0-d arrays
        value = np.asarray(value).item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"format_value: a RESULT value must be one non-empty word, "
                             f"got {value!r}")
        return value
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if decimals is not None:
        text = f"{v:.{decimals}f}".rstrip("0") if decimals > 0 else f"{v:.0f}."
        return text + "0" if text.endswith(".") else text
    text = f"{v:.6g}"
    return text if any(c in text for c in ".e") else text + ".0"  # 1.0, not 1


def result_line(name: str, values: Mapping[str, Any], *, decimals: int | None = None) -> str:
    """``RESULT name=<name> key=value ...`` for ``values`` in their given order.

    Raises:
      ValueError: a key that is not snake_case (lowercase letters, digits, underscores).
    """
    parts = [f"RESULT name={name}"]
    for key, value in values.items():
        if not _KEY.fullmatch(key) or key == "name":
            raise ValueError(f"result_line: RESULT keys must be snake_case and not 'name', "
                             f"got {key!r}")
        parts.append(f"{key}={format_value(value, decimals=decimals)}")
    return " ".join(parts)


def print_result(name: str, values: Mapping[str, Any], *, decimals: int | None = None) -> None:
    """Prints the experiment's final ``RESULT`` line (call it last)."""
    print(result_line(name, values, decimals=decimals), flush=True)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Saves ``fig`` as a PNG at ``path`` (folders created), closes it, returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_history(history: Mapping[str, Sequence[float]], path: str | Path, *,
                 title: str = "", best_epoch: int | None = None) -> Path:
    """Plots ``fit``'s history: loss (and accuracy, when recorded), train and validation.

    Args:
      history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``, one value per
        epoch.
      path: the PNG to write.
      title: the figure's title.
      best_epoch: marked with a dotted line (the early-stopping epoch that was restored).

    Returns:
      The path written.
    """
    metrics = [m for m in ("loss", "accuracy") if m in history or f"val_{m}" in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False,
                             layout="constrained")
    for ax, metric in zip(axes[0], metrics):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in history:
                values = list(history[key])
                ax.plot(range(1, len(values) + 1), values, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="gray", linestyle=":", label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def print_history(history: Mapping[str, Sequence[float]], *, every: int = 10) -> None:
    """Prints ``fit``'s history compactly: every ``every``-th epoch and the last one."""
    keys = [k for k in history if k != "epoch_seconds"]
    n = len(history[keys[0]])
    print("  epoch  " + "  ".join(f"{k:>12}" for k in keys))
    for e in range(1, n + 1):
        if e == 1 or e % every == 0 or e == n:
            print(f"  {e:5d}  " + "  ".join(f"{history[k][e - 1]:12.4f}" for k in keys))


def format_confusion(matrix: Any, class_names: Sequence[str]) -> str:
    """A confusion matrix ``C[true, predicted]`` as a text table (rows: true class)."""
    m = np.asarray(matrix)
    width = max(max(len(c) for c in class_names), len(str(m.max())), 4)
    head = " " * (width + 2) + " ".join(f"{c:>{width}}" for c in class_names)
    rows = [f"{name:>{width}}  " + " ".join(f"{v:>{width}d}" for v in row)
            for name, row in zip(class_names, m)]
    return "\n".join(["true \\ predicted", head, *rows])


def evaluate_classifier(
    model: Any,
    fit_result: Any,
    splits: Mapping[str, tuple[Any, Any]],
    *,
    loss: Any,
    class_names: Sequence[str],
    say: Any = print,
) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Loss and accuracy of a trained classifier on every split, and the test confusion matrix.

    Args:
      model: the ``jaxdl.Layer``.
      fit_result: ``jaxdl.fit``'s result (its ``params`` and ``state`` are used).
      splits: ``{"train"|"val"|"test": (x (n, ...), y (n,) int)}``, or per split a mapping
        of columns ``{"x", "y", "lengths"}`` for sequence models (the lengths then reach
        the model in the scores and in the confusion matrix); must include ``"test"``.
      loss: the loss function.
      class_names: names of the K classes, for the printed matrix.
      say: where to print (``print``, or a no-op).

    Returns:
      ``({split: {"loss", "accuracy"}}, confusion (K, K) [true, predicted])``.
    """
    columns = {split: dict(s) if isinstance(s, Mapping) else {"x": s[0], "y": s[1]}
               for split, s in splits.items()}
    scores = {split: jaxdl.evaluate(model, fit_result.params, fit_result.state, c,
                                    loss=loss, metrics=["accuracy"])
              for split, c in columns.items()}
    test = columns["test"]
    y_test = test["y"]
    logits = jaxdl.predict(model, fit_result.params, fit_result.state, test["x"],
                           lengths=test.get("lengths"))
    confusion = np.asarray(jaxdl.metrics.confusion_matrix(
        jnp.argmax(logits, axis=-1), jnp.asarray(y_test), len(class_names)))
    for split, s in scores.items():
        say(f"{split:>5}: loss {s['loss']:.4f}  accuracy {s['accuracy']:.4f}")
    say("test confusion matrix:\n" + format_confusion(confusion, class_names))
    return scores, confusion


CLASSIFIER_KEYS = ("test_accuracy", "test_loss", "val_accuracy", "val_loss", "train_accuracy",
                   "epochs_run", "best_epoch")


def train_classifier(
    model: Any,
    splits: Mapping[str, tuple[Any, Any]],
    *,
    input_shape: tuple[int, ...],
    class_names: Sequence[str],
    seed: int,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    patience: int,
    out: str | Path | None,
    title: str,
    verbose: bool,
) -> dict[str, Any]:
    """The one train-and-evaluate path of the classification experiments.

    Initialises ``model`` from ``seed``, trains it with :func:`jaxdl.fit` (Adam, sparse
    categorical cross-entropy on logits, accuracy, early stopping on ``val_loss`` with the
    best weights restored) on ``splits["train"]`` monitored on ``splits["val"]``, then scores
    every split and the test confusion matrix, and plots the curves into ``out``.

    Returns:
      ``test_accuracy``, ``test_loss``, ``val_accuracy``, ``val_loss``, ``train_accuracy``,
      ``train_loss`` (best weights, dropout off), ``epochs_run``, ``best_epoch``,
      ``train_seconds`` (``fit`` with compilation), ``confusion`` (``[true, predicted]``),
      ``history``, ``n_params``, the split sizes and ``plot`` (when ``out`` is given).
    """
    say = print if verbose else (lambda *a, **k: None)
    (x_train, y_train), (x_val, y_val) = splits["train"], splits["val"]
    say(jaxdl.summary(model, input_shape))
    k_init, k_fit = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(k_init, input_shape)
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    say(f"training: adam({learning_rate:g}), batch {batch_size}, at most {epochs} epochs, "
        f"early stopping on val_loss (patience {patience}, best weights restored)")
    t0 = time.perf_counter()
    result = jaxdl.fit(
        model, params, state, x_train, y_train, loss=loss,
        optimizer=optax.adam(learning_rate), epochs=epochs, batch_size=batch_size, key=k_fit,
        validation_data=(x_val, y_val), metrics=["accuracy"],
        early_stopping=jaxdl.EarlyStopping(monitor="val_loss", patience=patience,
                                            restore_best=True),
        verbose=2 if verbose else 0)
    train_seconds = time.perf_counter() - t0
    epochs_run = len(result.history["loss"])
    say(f"stopped after {epochs_run} epochs in {train_seconds:.1f} s (compilation included); "
        f"restored the weights of epoch {result.best_epoch} (lowest val_loss)")
    say("\nfinal metrics (best weights, dropout off):")
    scores, confusion = evaluate_classifier(model, result, splits, loss=loss,
                                            class_names=class_names, say=say)
    r: dict[str, Any] = {
        "test_accuracy": scores["test"]["accuracy"], "test_loss": scores["test"]["loss"],
        "val_accuracy": scores["val"]["accuracy"], "val_loss": scores["val"]["loss"],
        "train_accuracy": scores["train"]["accuracy"], "train_loss": scores["train"]["loss"],
        "epochs_run": epochs_run, "best_epoch": result.best_epoch,
        "train_seconds": train_seconds, "confusion": confusion, "history": result.history,
        "n_params": jaxdl.count_params(params),
        **{f"n_{name}": len(xy[0]) for name, xy in splits.items()},
    }
    if out is not None:
        r["plot"] = str(plot_history(
            result.history, Path(out) / "curves.png", best_epoch=result.best_epoch,
            title=f"{title} (seed {seed}): test accuracy {r['test_accuracy']:.4f}"))
    return r
