"""Hyperparameter search: a grid over hidden units, learning rate, momentum, dropout, batch
size and epochs, trained as vmapped populations, checked against the rules of thumb.

The model is ``serial(Dense(hidden_units), Relu(), Dropout(drop_rate), Dense(10))`` trained
with ``optax.sgd(learning_rate, momentum)`` and sparse categorical cross-entropy. The grid
(:data:`SPACE`) is searched with :func:`jaxdl.tuning.search`: configurations that share
hidden units and batch size (the hyperparameters that change array shapes) train together
as one population (one compiled program per epoch, vmapped over the learning rates,
momenta and dropout rates), and ``epochs`` is read off each member's validation history
(a member trained for 40 epochs also answers for 10 and 20). The ranking is by validation
accuracy; the best configuration is retrained on the training and validation sets
together and scored once on the test set.

Data: scikit-learn's 1,797 digits (8x8, ``jaxdl.data.load("digits")``; 60/20/20 %
stratified train/validation/test) by default, or ``--dataset fashion_mnist``
(``--train-size`` training images from the training split, the next 5,000 for
validation, the 10,000 test images for the test; far slower on a CPU).

The course's rules of thumb are then checked against what the search found: dropout
20-50 %, momentum 0.5-0.9, batch sizes 32-256. For each rule: whether the best
configuration lies inside the range, how many of the ten best do, the best validation
and median validation accuracy inside and outside the range, and a verdict
(:func:`rule_checks`: "consistent" when the best inside is within two standard errors of
the best outside).

Figures in ``--out``: ``val_accuracy_lr_batch.png`` (the best validation accuracy for each
learning rate and batch size, over the other hyperparameters, as a heat map and as curves).

Run: ``python -m experiments.hparam_search [--epochs 40] [--seed 0] [--out out/hparam_search]
[--dataset digits|fashion_mnist] [--train-size 10000]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optax

import jaxdl
import jaxdl.data
from experiments import _common
from jaxdl import tuning

NAME = "hparam_search"
NUM_CLASSES = 10
FRACTIONS = (0.6, 0.2, 0.2)  # digits: train, validation, test
FASHION_VAL = 5000

#: The default grid (``epochs`` is replaced by divisors of ``--epochs``: E/4, E/2, E).
SPACE: dict[str, list[Any]] = {
    "hidden_units": [32, 128],
    "batch_size": [16, 32, 128, 512],
    "learning_rate": [0.003, 0.01, 0.03, 0.1, 0.3, 1.0],
    "momentum": [0.0, 0.5, 0.9, 0.99],
    "drop_rate": [0.0, 0.2, 0.5, 0.7],
}

#: The course's rules of thumb: (hyperparameter, low, high, how the course states it).
RULES = (("drop_rate", 0.2, 0.5, "dropout 20-50 %"),
         ("momentum", 0.5, 0.9, "momentum 0.5-0.9"),
         ("batch_size", 32, 256, "batch sizes 32-256"))


def make_model(config: Mapping[str, Any]) -> jaxdl.Layer:
    """``serial(Dense(hidden_units), Relu(), Dropout(drop_rate), Dense(10))``; the dropout
    rate may be traced (one per population member)."""
    return jaxdl.serial(jaxdl.Dense(config["hidden_units"]), jaxdl.Relu(),
                        jaxdl.Dropout(config["drop_rate"]), jaxdl.Dense(NUM_CLASSES))


def load_splits(dataset: str, seed: int, train_size: int | None = None
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train"|"val"|"test": (x (n, features) float32 in [0, 1], y (n,) int32)}``."""
    if dataset == "digits":
        parts = jaxdl.data.train_val_test_split(jaxdl.data.load("digits"), fractions=FRACTIONS,
                                                seed=seed, stratify="label")
        return {name: (np.asarray(p["features"], np.float32) / 16.0,
                       np.asarray(p["label"], np.int32))
                for name, p in zip(("train", "val", "test"), parts)}
    n = 10_000 if train_size is None else train_size
    train = jaxdl.data.load("fashion_mnist", split=f"train[:{n + FASHION_VAL}]")
    test = jaxdl.data.load("fashion_mnist", split="test")
    flat = lambda d: (np.asarray(d["image"], np.float32).reshape(len(d["image"]), -1) / 255.0,
                      np.asarray(d["label"], np.int32))
    x, y = flat(train)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    return {"train": (x[:n], y[:n]), "val": (x[n:], y[n:]), "test": flat(test)}


def rule_checks(result: tuning.SearchResult, n_val: int,
                rules: Sequence[tuple[str, float, float, str]] = RULES, *, top: int = 10
                ) -> list[dict[str, Any]]:
    """Checks each rule of thumb against the search.

    For each rule: the best configuration's value and whether it lies inside the range;
    how many of the ``top`` best do; the best and the median score of the configurations
    inside and outside the range; and a verdict on the best scores. With ``se`` the
    standard error of a validation accuracy, ``sqrt(p (1 - p) / n_val)``: ``"consistent"``
    when the best inside the range is within ``2 se`` of the best outside it (or better;
    differences smaller than that are noise on this validation set), ``"contradicted"``
    when the best outside beats it by more, ``"untested"`` when no value outside the range
    was tried.
    """
    ok = [t for t in result.trials if not t.diverged]
    out = []
    for name, low, high, text in rules:
        if not ok or name not in ok[0].config:
            continue
        inside = lambda t: low <= t.config[name] <= high  # noqa: E731
        scores_in = [t.score for t in ok if inside(t)]
        scores_out = [t.score for t in ok if not inside(t)]
        best_in = max(scores_in, default=math.nan)
        best_out = max(scores_out, default=math.nan)
        p = ok[0].score
        se = math.sqrt(max(p * (1.0 - p), 0.0) / n_val)
        if not scores_out:
            verdict = "untested"
        elif not scores_in:
            verdict = "contradicted"
        else:
            verdict = "consistent" if best_in >= best_out - 2 * se else "contradicted"
        head = ok[:top]
        out.append({"name": name, "rule": text, "low": low, "high": high,
                    "best_value": ok[0].config[name], "best_inside": inside(ok[0]),
                    "top_inside": sum(inside(t) for t in head), "top": len(head),
                    "best_score_inside": best_in, "best_score_outside": best_out,
                    "median_inside": float(np.median(scores_in)) if scores_in else math.nan,
                    "median_outside": float(np.median(scores_out)) if scores_out else math.nan,
                    "standard_error": se, "verdict": verdict,
                    "values_tried": sorted({t.config[name] for t in result.trials})})
    return out


def plot_lr_batch(result: tuning.SearchResult, path: str | Path, title: str) -> Path:
    """The best validation accuracy for each (learning rate, batch size) over the other
    hyperparameters: a heat map and one curve per batch size."""
    plt = _common.plt
    lrs = sorted({t.config["learning_rate"] for t in result.trials})
    sizes = sorted({t.config["batch_size"] for t in result.trials})
    grid = np.full((len(sizes), len(lrs)), np.nan)
    for t in result.trials:
        if t.diverged:
            continue
        i, j = sizes.index(t.config["batch_size"]), lrs.index(t.config["learning_rate"])
        grid[i, j] = np.nanmax([grid[i, j], t.score])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    im = a.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    a.set_xticks(range(len(lrs)), [f"{v:g}" for v in lrs])
    a.set_yticks(range(len(sizes)), [str(s) for s in sizes])
    a.set_xlabel("learning rate")
    a.set_ylabel("batch size")
    for i in range(len(sizes)):
        for j in range(len(lrs)):
            if np.isfinite(grid[i, j]):
                a.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=7,
                       color="white" if grid[i, j] < np.nanmean(grid) else "black")
    fig.colorbar(im, ax=a, label=f"best {result.metric}")
    for i, s in enumerate(sizes):
        b.plot(lrs, grid[i], marker="o", label=f"batch {s}")
    b.set_xscale("log")
    b.set_xlabel("learning rate")
    b.set_ylabel(f"best {result.metric}")
    b.grid(alpha=0.3)
    b.legend()
    fig.suptitle(title)
    return _common.save_figure(fig, path)


def run(*, dataset: str = "digits", seed: int = 0, epochs: int = 40,
        space: Mapping[str, Sequence[Any]] | None = None, train_size: int | None = None,
        out: str | Path | None = None, verbose: bool = False) -> dict[str, Any]:
    """Searches the grid, retrains the best configuration and checks the rules of thumb.

    Args:
      dataset: ``"digits"`` or ``"fashion_mnist"``.
      seed: seeds the split, the initial weights, the shuffling and dropout.
      epochs: the largest epoch count; the grid's ``epochs`` are ``E/4, E/2, E``
        (distinct, at least 1) unless ``space`` gives its own.
      space: the grid (default :data:`SPACE`); needs ``learning_rate`` and ``batch_size``.
      train_size: Fashion-MNIST training images (default 10,000).
      out: folder for the figure (None: no figure).
      verbose: print the populations, the ranking and the checks.

    Returns:
      ``best`` (the configuration), ``val_accuracy`` (its search score), ``test_accuracy``
      and ``test_loss`` (after retraining on train + validation), ``configs``,
      ``populations``, ``diverged`` (configurations), ``search_seconds``,
      ``retrain_seconds``, ``rules`` (from :func:`rule_checks`), ``table`` (the top rows as
      text), ``result`` (the :class:`jaxdl.tuning.SearchResult`), ``retrain`` (the
      :class:`jaxdl.tuning.RetrainResult`) and ``plot`` (when ``out`` is given).
    """
    say = print if verbose else (lambda *a, **k: None)
    space = dict(SPACE if space is None else space)
    if "epochs" not in space:
        space["epochs"] = sorted({max(1, epochs // 4), max(1, epochs // 2), epochs})
    splits = load_splits(dataset, seed, train_size)
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = splits["train"], splits["val"], splits["test"]
    configs = tuning.grid(space)
    say(f"{dataset}: {len(x_tr)} train / {len(x_val)} validation / {len(x_te)} test examples; "
        f"{len(configs)} configurations")
    loss = "sparse_categorical_cross_entropy"
    t0 = time.perf_counter()
    result = tuning.search(make_model, configs, x_tr, y_tr, loss=loss,
                           validation_data=(x_val, y_val), key=seed,
                           make_optimizer=optax.sgd, metrics=["accuracy"],
                           metric="val_accuracy", verbose=1 if verbose else 0)
    search_seconds = time.perf_counter() - t0
    diverged = sum(t.diverged for t in result.trials)
    table = tuning.format_table(result, limit=15)
    say(f"\nsearch: {len(result.trials)} configurations in {len(result.populations)} "
        f"populations, {search_seconds:.1f} s (compilation included); {diverged} diverged\n")
    say(table)
    best = result.best
    t1 = time.perf_counter()
    final = tuning.retrain(make_model, best, np.concatenate([x_tr, x_val]),
                           np.concatenate([y_tr, y_val]), loss=loss, test_data=(x_te, y_te),
                           key=seed + 1, make_optimizer=optax.sgd, metrics=["accuracy"])
    retrain_seconds = time.perf_counter() - t1
    say(f"\nbest: {best}; retrained on train + validation ({len(x_tr) + len(x_val)} examples, "
        f"{best['epochs']} epochs, {retrain_seconds:.1f} s): test accuracy "
        f"{final.test['accuracy']:.4f}, test loss {final.test['loss']:.4f}")
    rules = rule_checks(result, len(x_val))
    if rules:
        say(f"\nrules of thumb against the search ({result.metric}; its standard error on "
            f"{len(x_val)} validation examples: {rules[0]['standard_error']:.4f}; "
            "'consistent': the best inside the range within 2 standard errors of the best "
            "outside):")
    for r in rules:
        say(f"  {r['rule']:<19} {r['verdict']:<12} best config {r['name']}={r['best_value']:g} "
            f"({'inside' if r['best_inside'] else 'outside'}), {r['top_inside']}/{r['top']} of "
            f"the top {r['top']} inside; best inside {r['best_score_inside']:.4f} / outside "
            f"{r['best_score_outside']:.4f}; median inside {r['median_inside']:.4f} / outside "
            f"{r['median_outside']:.4f} (tried {', '.join(f'{v:g}' for v in r['values_tried'])})")
    r: dict[str, Any] = {
        "best": best, "val_accuracy": result.trials[0].score,
        "test_accuracy": final.test["accuracy"], "test_loss": final.test["loss"],
        "configs": len(result.trials), "populations": len(result.populations),
        "diverged": diverged, "search_seconds": search_seconds,
        "retrain_seconds": retrain_seconds, "rules": rules, "table": table, "result": result,
        "retrain": final,
    }
    if out is not None:
        r["plot"] = str(plot_lr_batch(
            result, Path(out) / "val_accuracy_lr_batch.png",
            f"{dataset}: best validation accuracy over hidden units, momentum, dropout and "
            f"epochs (seed {seed})"))
    return r


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=("digits", "fashion_mnist"), default="digits",
                        help="digits (default, quick) or fashion_mnist (slow on a CPU)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="Fashion-MNIST training images (default 10000)")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: searches, prints the ranking and the checks, and RESULT."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=40, seed=0, extra=_extra,
                              argv=argv)
    t0 = time.perf_counter()
    r = run(dataset=args.dataset, seed=args.seed, epochs=args.epochs,
            train_size=args.train_size, out=args.out, verbose=True)
    print(f"plot: {r['plot']}   (total {time.perf_counter() - t0:.1f} s)")
    values: dict[str, Any] = {f"best_{k}": v for k, v in r["best"].items()}
    values.update({"val_accuracy": r["val_accuracy"], "test_accuracy": r["test_accuracy"],
                   "configs": r["configs"], "populations": r["populations"],
                   "diverged": r["diverged"]})
    for rule in r["rules"]:
        values[f"rule_{rule['name']}"] = rule["verdict"]
    values["search_seconds"] = r["search_seconds"]
    _common.print_result(NAME, values)


if __name__ == "__main__":
    main()
