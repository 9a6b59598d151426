"""Hyperparameter tuning: grid and random search, trained as vmapped populations.

A search tries configurations (dicts of hyperparameters such as hidden units, learning
rate, momentum, dropout rate, batch size and epochs) and scores each on the validation
set. Configurations that share every *static* hyperparameter -- those that change array
shapes, such as hidden units and the batch size -- train together as one population
(:func:`jaxdl.fit_population`: one compiled program per epoch, vmapped over the members);
the others (floats: learning rate, momentum, weight decay, dropout rate) vary across the
members of a population. ``epochs`` is read off each member's per-epoch validation
history, so a configuration with 10 epochs and one with 40 share one training run.

    configs = tuning.grid({"hidden_units": [32, 128], "learning_rate": [0.01, 0.1],
                           "momentum": [0.5, 0.9], "drop_rate": [0.0, 0.2, 0.5],
                           "batch_size": [32, 128], "epochs": [10, 20, 40]})
    result = tuning.search(make_model, configs, x_train, y_train, loss=...,
                           validation_data=(x_val, y_val), key=0)
    print(tuning.format_table(result))
    final = tuning.retrain(make_model, result.best, x_train_and_val, y_train_and_val,
                           loss=..., test_data=(x_test, y_test), key=0)

See ``docs/tuning.md``.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl._checks import (
    as_key, check_int, check_option, did_you_mean, show_value,
)
from jaxdl import metrics as metrics_lib
from jaxdl.core import Array, Layer
from jaxdl.population import (
    RESERVED, MakeModel, MakeOptimizer, PopulationResult, _is_transformation, _plan_hparams,
    fit_population, member_keys,
)
from jaxdl.training.fit import FitResult, fit
from jaxdl.training.steps import MetricFn, as_batch, evaluate, metric_fns

__all__ = [
    "grid", "sample", "uniform", "log_uniform", "Uniform", "search", "SearchResult", "Trial",
    "format_table", "retrain", "RetrainResult", "static_names",
]

Config = dict[str, Any]


class Uniform(NamedTuple):
    """A range for :func:`sample`: uniform in ``[low, high)``, or in log space (``log``)."""

    low: float
    high: float
    log: bool = False


def uniform(low: float, high: float) -> Uniform:
    """Uniform floats in ``[low, high)`` for :func:`sample` (dropout rates, momentum)."""
    return _range("uniform", low, high, False)


def log_uniform(low: float, high: float) -> Uniform:
    """Floats whose logarithm is uniform in ``[log low, log high)`` for :func:`sample`
    (learning rates, weight decay): as many draws in [0.001, 0.01) as in [0.01, 0.1)."""
    return _range("log_uniform", low, high, True)


def _range(fn: str, low: Any, high: Any, log: bool) -> Uniform:
    for arg, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.number)) \
                or not math.isfinite(float(v)):
            raise TypeError(f"{fn}: {arg} must be a finite number, got {show_value(v)}")
    if not float(low) < float(high):
        raise ValueError(f"{fn}: low (={low}) must be < high (={high})")
    if log and float(low) <= 0:
        raise ValueError(f"{fn}: low must be > 0 for a log-uniform range, got {low}")
    return Uniform(float(low), float(high), log)


def _values(fn: str, name: Any, values: Any, *, ranges: bool) -> Any:
    """A space entry: a non-empty list of values (or, for ``sample``, a :class:`Uniform`)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{fn}: hyperparameter names must be identifiers such as "
                         f"'learning_rate', got {name!r}")
    if isinstance(values, Uniform):
        if ranges:
            return values
        raise TypeError(f"{fn}: space[{name!r}] is a range ({values}); a grid needs a list of "
                        "values (ranges are for tuning.sample)")
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence,
                                                                            np.ndarray)):
        more = " or tuning.uniform/log_uniform(low, high)" if ranges else ""
        raise TypeError(f"{fn}: space[{name!r}] must be a list of values{more}, got "
                        f"{show_value(values)}; write [{values!r}] for a single value")
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if not values:
        raise ValueError(f"{fn}: space[{name!r}] is empty: give at least one value")
    return values


def _space(fn: str, space: Any, *, ranges: bool) -> dict[str, Any]:
    if not isinstance(space, Mapping):
        raise TypeError(f"{fn}: space must be a dict {{name: [values]}}, got "
                        f"{show_value(space)} ({type(space).__name__})")
    if not space:
        raise ValueError(f"{fn}: the space is empty: give at least one hyperparameter, e.g. "
                         "{'learning_rate': [0.01, 0.1]}")
    return {name: _values(fn, name, v, ranges=ranges) for name, v in space.items()}


def grid(space: Mapping[str, Sequence[Any]]) -> list[Config]:
    """Every combination of the values in ``space`` (the Cartesian product), the last
    name varying fastest.

    Args:
      space: ``{name: [values]}``, each list non-empty.

    Returns:
      ``prod(len(values))`` configuration dicts.

    Example:
      >>> from jaxdl import tuning
      >>> tuning.grid({"learning_rate": [0.01, 0.1], "batch_size": [32, 64]})
      [{'learning_rate': 0.01, 'batch_size': 32}, {'learning_rate': 0.01, 'batch_size': 64},
       {'learning_rate': 0.1, 'batch_size': 32}, {'learning_rate': 0.1, 'batch_size': 64}]
    """
    space = _space("grid", space, ranges=False)
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*space.values())]


def sample(space: Mapping[str, Any], num: int, *, key: Array | int) -> list[Config]:
    """Random search: ``num`` configurations, each hyperparameter drawn independently.

    A list of values is drawn from uniformly (use lists for hidden units and batch sizes:
    every distinct static value is a separate population); a :func:`uniform` or
    :func:`log_uniform` range gives floats.

    Args:
      space: ``{name: [values] | uniform(low, high) | log_uniform(low, high)}``.
      num: how many configurations.
      key: a PRNG key or int seed; the same key gives the same configurations.

    Returns:
      ``num`` configuration dicts (Python ints and floats).

    Example:
      >>> from jaxdl import tuning
      >>> configs = tuning.sample({"learning_rate": tuning.log_uniform(1e-3, 1.0),
      ...                          "batch_size": [32, 64, 128]}, 20, key=0)
      >>> len(configs), all(1e-3 <= c["learning_rate"] < 1.0 for c in configs)
      (20, True)
    """
    fn = "sample"
    space = _space(fn, space, ranges=True)
    num = check_int(fn, "num", num, min_value=1)
    keys = jax.random.split(as_key(fn, key), len(space))
    columns: dict[str, list[Any]] = {}
    for k, (name, values) in zip(keys, space.items()):
        if isinstance(values, Uniform):
            low, high = (math.log(values.low), math.log(values.high)) if values.log else \
                (values.low, values.high)
            draws = np.asarray(jax.random.uniform(k, (num,), jnp.float32, low, high),
                               np.float64)
            draws = np.clip(np.exp(draws) if values.log else draws, values.low,
                            np.nextafter(values.high, values.low))
            columns[name] = [float(v) for v in draws]
        else:
            idx = np.asarray(jax.random.randint(k, (num,), 0, len(values)))
            columns[name] = [values[i] for i in idx]
    return [{name: columns[name][i] for name in space} for i in range(num)]


# ======================================================================= search


def _is_float(v: Any) -> bool:
    return isinstance(v, (float, np.floating)) and not isinstance(v, bool)


def static_names(configs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The hyperparameters :func:`search` holds fixed inside a population by default:
    ``batch_size`` and every one with a value that is not a float (ints such as hidden
    units, strings, bools). Floats (learning rate, momentum, dropout rate) vary across
    the members of one population; ``epochs`` is read off the history.

    Example:
      >>> from jaxdl import tuning
      >>> tuning.static_names(tuning.grid({"hidden_units": [32, 64], "learning_rate": [0.1],
      ...                                  "batch_size": [32], "epochs": [5, 10]}))
      ('hidden_units', 'batch_size')
    """
    names = list(configs[0]) if configs else []
    return tuple(n for n in names if n == "batch_size" or (
        n != "epochs" and not all(_is_float(c[n]) for c in configs)))


class Trial(NamedTuple):
    """One configuration's result.

    Attributes:
      config: the hyperparameters.
      score: the searched metric at the configuration's epoch (NaN if it diverged).
      scores: every history value at that epoch (``loss``, ``val_loss``, ``val_<metric>``
        ...).
      diverged: the member diverged at or before that epoch.
      group: the index of its population in :attr:`SearchResult.populations`.
      member: its member index in that population.
    """

    config: Config
    score: float
    scores: dict[str, float]
    diverged: bool
    group: int
    member: int


class SearchResult(NamedTuple):
    """What :func:`search` returns.

    Attributes:
      trials: one :class:`Trial` per distinct configuration, best first (diverged last).
      metric: the history key ranked by (``"val_accuracy"``).
      mode: ``"max"`` or ``"min"``.
      populations: one :class:`jaxdl.population.PopulationResult` per group of static
        values.
      groups: each population's static values (``{"hidden_units": 64, "batch_size": 32}``).
      static: the static hyperparameter names.
      seconds: wall time of the whole search (compilation included).
    """

    trials: list[Trial]
    metric: str
    mode: str
    populations: list[PopulationResult]
    groups: list[Config]
    static: tuple[str, ...]
    seconds: float

    @property
    def best(self) -> Config:
        """The best configuration (``ValueError`` when every trial diverged)."""
        if not self.trials or self.trials[0].diverged or math.isnan(self.trials[0].score):
            raise ValueError(f"SearchResult.best: every one of the {len(self.trials)} "
                             f"configurations diverged or has no {self.metric}; try smaller "
                             "learning rates")
        return dict(self.trials[0].config)


def _configs(fn: str, configs: Any) -> list[Config]:
    if isinstance(configs, Mapping):
        raise TypeError(f"{fn}: configs must be a list of configuration dicts (from "
                        "tuning.grid(space) or tuning.sample(space, n, key=...)), got a dict; "
                        "wrap it as tuning.grid(space)")
    if not isinstance(configs, Sequence) or isinstance(configs, (str, bytes)):
        raise TypeError(f"{fn}: configs must be a list of configuration dicts, got "
                        f"{show_value(configs)}")
    if not configs:
        raise ValueError(f"{fn}: no configurations to try (an empty grid or sample)")
    out = []
    names = None
    for i, c in enumerate(configs):
        if not isinstance(c, Mapping):
            raise TypeError(f"{fn}: configs[{i}] must be a dict of hyperparameters, got "
                            f"{show_value(c)}")
        c = {k: v.item() if isinstance(v, np.generic) else v for k, v in c.items()}
        if names is None:
            names = list(c)
        elif set(c) != set(names):
            raise ValueError(f"{fn}: every configuration needs the same hyperparameters; "
                             f"configs[0] has {sorted(names)}, configs[{i}] has {sorted(c)}")
        out.append(c)
    return out


def _count(fn: str, name: str, config: Mapping[str, Any], default: int | None,
           allow_none: bool) -> int | None:
    if name in config:
        if default is not None:
            raise ValueError(f"{fn}: {name} is both a hyperparameter and the argument "
                             f"{name}={default}; give it once")
        return check_int(fn, f"{name} (hyperparameter)", config[name], min_value=1,
                         allow_none=allow_none)
    if default is None and not allow_none:
        raise ValueError(f"{fn}: give epochs=, or search over 'epochs' in the configurations")
    return check_int(fn, name, default, min_value=1, allow_none=allow_none)


def _split(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration without the reserved names (what model and optimiser see)."""
    return {k: v for k, v in config.items() if k not in RESERVED}


def _group_fns(make_model: MakeModel, make_optimizer: Any, static: Mapping[str, Any],
               optimizer_names: Sequence[str]) -> tuple[MakeModel, Any]:
    """``make_model`` and ``make_optimizer`` with one group's static values bound."""
    def model_fn(hp: Mapping[str, Any]) -> Layer:
        return make_model({**static, **hp})

    if _is_transformation(make_optimizer):
        return model_fn, make_optimizer
    bound = {k: v for k, v in static.items() if k in optimizer_names}
    return model_fn, functools.partial(make_optimizer, **bound) if bound else make_optimizer


def search(
    make_model: MakeModel,
    configs: Sequence[Mapping[str, Any]],
    x: Any,
    y: Any = None,
    *,
    loss: Callable[..., Array] | str,
    validation_data: Any,
    key: Array | int,
    make_optimizer: MakeOptimizer | optax.GradientTransformation = optax.sgd,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = ("accuracy",),
    metric: str = "val_accuracy",
    mode: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    static: Sequence[str] | None = None,
    shared_order: bool = True,
    divergence_factor: float | None = 1e4,
    verbose: int = 0,
) -> SearchResult:
    """Trains and scores every configuration on the validation set; populations share
    shapes.

    The configurations are grouped by their static hyperparameters (:func:`static_names`:
    ``batch_size`` and the non-floats, such as hidden units; or ``static=``); each group's
    distinct float settings train as one :func:`jaxdl.fit_population` for the group's
    largest ``epochs``, and each configuration is scored from its member's history at
    its own ``epochs``. Hyperparameters named like a parameter of ``make_optimizer`` go to
    the optimiser; the others must be read by ``make_model``.

    Args:
      make_model: ``make_model(config) -> Layer``; ``config`` holds the hyperparameters
        except ``batch_size`` and ``epochs`` (static ones as Python values, floats as
        traced scalars: ``Dense(config["hidden_units"])``,
        ``Dropout(config["drop_rate"])``).
      configs: from :func:`grid` or :func:`sample`; all with the same names.
      x, y: the training set (as for :func:`jaxdl.fit`).
      loss: the loss function or its name.
      validation_data: ``(x_val, y_val)`` (or a mapping of columns).
      key: a PRNG key or int seed (group ``g`` uses ``fold_in(key, g)``, split per member).
      make_optimizer: an Optax factory (default ``optax.sgd``: ``learning_rate`` and
        ``momentum``), or a ``GradientTransformation`` for all.
      metrics: metrics recorded in the histories (default accuracy).
      metric: the history key ranked by; a ``val_`` key ranks by validation.
      mode: ``"max"`` or ``"min"`` (default: ``"min"`` for losses, else ``"max"``).
      epochs: the epochs when the configurations have no ``"epochs"``.
      batch_size: the batch size when they have no ``"batch_size"`` (default 32).
      static: the names held fixed inside a population (default :func:`static_names`).
      shared_order: the members of a population see the same batches in the same order
        with the same dropout keys (common random numbers: configurations differ by their
        hyperparameters and initial weights alone; see :func:`jaxdl.fit_population`).
      divergence_factor: as in ``fit``; a diverged configuration ranks last.
      verbose: 0 silent; 1 a line per population; 2 also a line per epoch.

    Returns:
      A :class:`SearchResult`; ``result.best`` is the best configuration,
      :func:`format_table` prints the ranking.

    Raises:
      ValueError, TypeError: no configurations, configurations with different names, an
        unknown hyperparameter (with a did-you-mean), a metric that is not recorded, bad
        data.

    Example (run in ``docs/tuning.md``, with its output)::

        make_model = lambda c: jaxdl.serial(jaxdl.Dense(c["hidden_units"]), jaxdl.Relu(),
                                            jaxdl.Dropout(c["drop_rate"]), jaxdl.Dense(10))
        configs = tuning.grid({"hidden_units": [16, 64], "learning_rate": [0.03, 0.3],
                               "drop_rate": [0.0, 0.3], "epochs": [2, 5]})
        result = tuning.search(make_model, configs, x_train, y_train,
                               loss="sparse_categorical_cross_entropy",
                               validation_data=(x_val, y_val), key=0)
        len(result.populations)             # 2: one per hidden size
        print(tuning.format_table(result))  # best first
    """
    fn = "search"
    t0 = time.perf_counter()
    configs = _configs(fn, configs)
    names = list(configs[0])
    fns = metric_fns(fn, metrics)
    allowed = ["loss", *fns, "val_loss", *(f"val_{m}" for m in fns)]
    if not isinstance(metric, str) or metric not in allowed:
        base = metric.removeprefix("val_") if isinstance(metric, str) else None
        hint = f"; add {base!r} to metrics=" if base in metrics_lib.NAMED and base not in fns \
            else did_you_mean(metric, allowed)
        raise ValueError(f"{fn}: metric={metric!r} is not recorded; allowed: "
                         f"{', '.join(map(repr, allowed))}{hint}")
    if validation_data is None and metric.startswith("val_"):
        raise ValueError(f"{fn}: metric={metric!r} needs validation_data")
    mode = ("min" if metric.endswith("loss") else "max") if mode is None else \
        check_option(fn, "mode", mode, ("max", "min"))
    verbose = check_int(fn, "verbose", verbose, min_value=0, max_value=2)
    for c in configs:  # checked per configuration; the argument only when no config has it
        _count(fn, "epochs", c, epochs, False)
        _count(fn, "batch_size", c, batch_size, True)
    if static is None:
        static_set = static_names(configs)
    else:
        if isinstance(static, str) or not all(isinstance(s, str) for s in static):
            raise TypeError(f"{fn}: static must be a list of hyperparameter names, got "
                            f"{show_value(static)}")
        for s in static:
            if s not in names:
                raise ValueError(f"{fn}: static name {s!r} is not a hyperparameter of the "
                                 f"configurations ({', '.join(names)}){did_you_mean(s, names)}")
        static_set = tuple(dict.fromkeys([*static, *(["batch_size"] if "batch_size" in names
                                                     else [])]))
        if "epochs" in static_set:
            raise ValueError(f"{fn}: 'epochs' cannot be static: it is read off the history")
    traced = [n for n in names if n not in static_set and n not in RESERVED]
    for n in traced:
        bad = [c[n] for c in configs if isinstance(c[n], bool)
               or not isinstance(c[n], (numbers.Real, np.number))]
        if bad:
            raise TypeError(f"{fn}: hyperparameter {n!r} varies inside a population, so its "
                            f"values must be numbers; got {show_value(bad[0])} (name it in "
                            "static= to train one population per value)")
    plan = _plan_hparams(fn, make_model, make_optimizer, _split(configs[0]))
    key = as_key(fn, key)

    # groups of static values, and inside each the distinct traced settings (members)
    groups: dict[tuple[Any, ...], dict[tuple[Any, ...], list[int]]] = {}
    for i, c in enumerate(configs):
        skey = tuple(c[n] for n in static_set)
        mkey = tuple(c[n] for n in traced)
        groups.setdefault(skey, {}).setdefault(mkey, []).append(i)

    populations: list[PopulationResult] = []
    group_values: list[Config] = []
    trials: list[Trial] = []
    seen: set[tuple[Any, ...]] = set()
    for g, (skey, members) in enumerate(groups.items()):
        static_values = dict(zip(static_set, skey))
        bs = static_values.get("batch_size", batch_size if batch_size is not None else 32)
        model_static = {k: v for k, v in static_values.items() if k not in RESERVED}
        model_g, opt_g = _group_fns(make_model, make_optimizer, model_static,
                                    plan.optimizer_names)
        member_list = list(members.items())
        hp = {n: np.asarray([m[0][j] for m in member_list]) for j, n in enumerate(traced)}
        epochs_per = [[configs[i].get("epochs", epochs) for i in idx] for _, idx in member_list]
        group_epochs = max(max(e) for e in epochs_per)
        if verbose:
            shown = ", ".join(f"{k}={v}" for k, v in static_values.items()) or "all"
            print(f"population {g + 1}/{len(groups)} ({shown}): {len(member_list)} members, "
                  f"{group_epochs} epochs", flush=True)
        result = fit_population(
            model_g, loss, opt_g, hp, x, y, epochs=group_epochs, batch_size=bs,
            key=jax.random.fold_in(key, g), members=len(member_list),
            validation_data=validation_data, metrics=fns, shared_order=shared_order,
            divergence_factor=divergence_factor, verbose=max(verbose - 1, 0))
        populations.append(result)
        group_values.append(static_values)
        for m, (_, idx) in enumerate(member_list):
            for i in idx:
                c = configs[i]
                sig = tuple(sorted((k, repr(v)) for k, v in c.items()))
                if sig in seen:  # a configuration drawn twice is one trial
                    continue
                seen.add(sig)
                e = c.get("epochs", epochs)
                scores = {k: float(h[m, e - 1]) for k, h in result.history.items()}
                diverged = bool(result.diverged[m] and result.diverged_epoch[m] <= e)
                score = scores[metric]
                trials.append(Trial(dict(c), score, scores, diverged or math.isnan(score), g, m))

    return SearchResult(_rank(trials, mode), metric, mode, populations, group_values,
                        tuple(static_set), time.perf_counter() - t0)


def _rank(trials: Sequence[Trial], mode: str) -> list[Trial]:
    """Best first by ``score`` (``mode`` ``"max"`` or ``"min"``), diverged and NaN scores
    last; ties keep their order (stable)."""
    sign = -1.0 if mode == "max" else 1.0
    return sorted(trials, key=lambda t: (t.diverged or math.isnan(t.score),
                                         0.0 if math.isnan(t.score) else sign * t.score))


def _cell(v: Any) -> str:
    if _is_float(v):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def format_table(result: SearchResult, *, limit: int | None = 10,
                 columns: Sequence[str] | None = None) -> str:
    """The ranking as a text table: rank, the hyperparameters, the metric and
    ``val_loss`` (when recorded), best first; diverged trials marked.

    Args:
      result: from :func:`search`.
      limit: the most rows (None: all).
      columns: extra history keys to show.
    """
    fn = "format_table"
    if not isinstance(result, SearchResult):
        raise TypeError(f"{fn}: result must be a tuning.SearchResult, got "
                        f"{type(result).__name__}")
    limit = check_int(fn, "limit", limit, min_value=1, allow_none=True)
    rows = result.trials if limit is None else result.trials[:limit]
    names = list(result.trials[0].config) if result.trials else []
    shown = [result.metric]
    if "val_loss" in result.trials[0].scores and result.metric != "val_loss":
        shown.append("val_loss")
    shown += [c for c in (columns or ()) if c not in shown]
    header = ["rank", *names, *shown, ""]
    body = [[str(r + 1), *(_cell(t.config[n]) for n in names),
             *(_cell(t.scores.get(c, float("nan"))) for c in shown),
             "diverged" if t.diverged else ""] for r, t in enumerate(rows)]
    widths = [max(len(row[j]) for row in [header, *body]) for j in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)).rstrip()
             for row in [header, *body]]
    more = len(result.trials) - len(rows)
    if more:
        lines.append(f"... {more} more")
    return "\n".join(lines)


# ======================================================================= retrain


class RetrainResult(NamedTuple):
    """What :func:`retrain` returns.

    Attributes:
      config: the configuration trained.
      fit: the :class:`jaxdl.FitResult` of the final training.
      test: ``{"loss": float, <metric>: float}`` on the test data.
    """

    config: Config
    fit: FitResult
    test: dict[str, float]


def retrain(
    make_model: MakeModel,
    config: Mapping[str, Any],
    x: Any,
    y: Any = None,
    *,
    loss: Callable[..., Array] | str,
    test_data: Any,
    key: Array | int,
    make_optimizer: MakeOptimizer | optax.GradientTransformation = optax.sgd,
    metrics: Mapping[str, MetricFn] | Sequence[str | MetricFn] | None = ("accuracy",),
    epochs: int | None = None,
    batch_size: int | None = None,
    validation_data: Any = None,
    verbose: int = 0,
) -> RetrainResult:
    """Trains one model with ``config`` (with :func:`jaxdl.fit`) and scores it on the test
    data: the last step of a search, usually on the training and validation sets together.

    Args:
      make_model: as for :func:`search` (called here with Python values).
      config: the configuration (``result.best``); its ``epochs`` and ``batch_size``, when
        present, are used.
      x, y: the training data.
      loss: the loss function or its name.
      test_data: ``(x_test, y_test)``, scored once at the end.
      key: a PRNG key or int seed (split as :func:`jaxdl.population.member_keys` does for
        one member).
      make_optimizer: as for :func:`search`.
      metrics: metrics for the history and the test scores.
      epochs, batch_size: when ``config`` has none (batch size default 32).
      validation_data: optional monitoring data for the history.
      verbose: passed to ``fit``.

    Returns:
      A :class:`RetrainResult` ``(config, fit, test)``.
    """
    fn = "retrain"
    if not isinstance(config, Mapping):
        raise TypeError(f"{fn}: config must be a dict of hyperparameters, got "
                        f"{show_value(config)}")
    config = {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}
    e = _count(fn, "epochs", config, epochs, False)
    bs = _count(fn, "batch_size", config, batch_size, True)
    if "batch_size" not in config and batch_size is None:
        bs = 32
    values = _split(config)
    plan = _plan_hparams(fn, make_model, make_optimizer, values, varying=())
    model = make_model(dict(values))
    optimizer = make_optimizer if _is_transformation(make_optimizer) else \
        make_optimizer(**{k: values[k] for k in plan.optimizer_names})
    if test_data is None:
        raise ValueError(f"{fn}: test_data is required (the split the configuration was not "
                         "chosen on)")
    init_keys, fit_keys = member_keys(key, 1)
    input_shape = tuple(np.shape(as_batch(fn, x if y is None else (x, y)).x)[1:])
    _, params, state = model.init(init_keys[0], input_shape)
    result = fit(model, params, state, x, y, loss=loss, optimizer=optimizer, epochs=e,
                 batch_size=bs, key=fit_keys[0], validation_data=validation_data,
                 metrics=metrics, verbose=verbose)
    test = evaluate(model, result.params, result.state, test_data, loss=loss, metrics=metrics)
    return RetrainResult(dict(config), result, test)
