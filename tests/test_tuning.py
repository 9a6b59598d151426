"""Tests of ``jaxdl.tuning`` (grid and random search over populations, the ranking, the
retraining) and of the ``hparam_search`` experiment."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl import tuning

ROOT = Path(__file__).resolve().parents[1]
SCE = "sparse_categorical_cross_entropy"


def _data(n: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    x = jax.random.normal(jax.random.key(seed), (n, 4))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(jnp.int32)


def make_model(c: Any) -> jaxdl.Layer:
    return jaxdl.serial(jaxdl.Dense(c["hidden_units"]), jaxdl.Relu(),
                        jaxdl.Dropout(c["drop_rate"]), jaxdl.Dense(2))


# ======================================================================= enumeration


def test_grid_is_the_cartesian_product_in_order():
    configs = tuning.grid({"hidden_units": [4, 8], "learning_rate": [0.01, 0.1, 1.0],
                           "nesterov": [False, True]})
    assert len(configs) == 12
    assert configs[0] == {"hidden_units": 4, "learning_rate": 0.01, "nesterov": False}
    assert configs[1] == {"hidden_units": 4, "learning_rate": 0.01, "nesterov": True}
    assert configs[-1] == {"hidden_units": 8, "learning_rate": 1.0, "nesterov": True}
    assert len({tuple(c.values()) for c in configs}) == 12
    # NumPy values come out as Python numbers
    assert tuning.grid({"momentum": np.array([0.5, 0.9])}) == [{"momentum": 0.5},
                                                               {"momentum": 0.9}]


def test_sample_draws_reproducibly_from_lists_and_ranges():
    space = {"learning_rate": tuning.log_uniform(1e-4, 1.0), "drop_rate": tuning.uniform(0.2, 0.5),
             "batch_size": [32, 64, 128]}
    a = tuning.sample(space, 400, key=0)
    assert a == tuning.sample(space, 400, key=0) and a != tuning.sample(space, 400, key=1)
    lr = np.array([c["learning_rate"] for c in a])
    drop = np.array([c["drop_rate"] for c in a])
    assert np.all((lr >= 1e-4) & (lr < 1.0)) and np.all((drop >= 0.2) & (drop < 0.5))
    # log-uniform: each decade about equally often (100 of 400 expected per decade)
    per_decade = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1, 0])[0]
    assert np.all(np.abs(per_decade - 100) < 35), per_decade
    assert abs(np.mean(drop) - 0.35) < 0.02
    sizes = [c["batch_size"] for c in a]
    assert set(sizes) == {32, 64, 128} and all(isinstance(s, int) for s in sizes)
    assert all(isinstance(c["learning_rate"], float) for c in a)


def test_static_names_are_batch_size_and_the_non_floats():
    configs = tuning.grid({"hidden_units": [4, 8], "learning_rate": [0.01, 0.1],
                           "activation": ["relu"], "batch_size": [32], "epochs": [5, 10],
                           "drop_rate": [0.0, 0.5]})
    assert tuning.static_names(configs) == ("hidden_units", "activation", "batch_size")
    # an int among floats makes the name static (ints change shapes)
    assert tuning.static_names([{"learning_rate": 0.1}, {"learning_rate": 1}]) == (
        "learning_rate",)


def test_ranking_puts_the_best_first_and_diverged_last():
    def trial(score: float, diverged: bool = False) -> tuning.Trial:
        return tuning.Trial({"s": score}, score, {}, diverged, 0, 0)

    trials = [trial(0.5), trial(math.nan, True), trial(0.9), trial(0.99, True), trial(0.7),
              trial(0.9)]
    best_max = tuning._rank(trials, "max")
    assert [t.score for t in best_max[:4]] == [0.9, 0.9, 0.7, 0.5]
    assert best_max[0] is trials[2] and best_max[1] is trials[5]  # stable for ties
    assert all(t.diverged for t in best_max[4:])
    assert [t.score for t in tuning._rank(trials, "min")[:4]] == [0.5, 0.7, 0.9, 0.9]


# ======================================================================= search


class FakeTrainer:
    """Stands in for ``fit_population`` (no compiling): records each call and returns
    histories that are a known function of the hyperparameters, so that the search's
    grouping, epoch read-off, divergence flags and ranking can be checked exactly."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    @staticmethod
    def accuracy(units: int, lr: float, drop: float, epoch: int) -> float:
        return units / 100 + lr * epoch / 10 - drop / 7  # epoch is 1-based

    def __call__(self, make_model, loss, make_optimizer, hparams, x, y, *, epochs, batch_size,
                 key, members, **kw):
        lr, drop = hparams["learning_rate"], hparams["drop_rate"]
        model = make_model({"learning_rate": lr[0], "drop_rate": drop[0]})  # static bound in
        units = model.init(jax.random.key(0), (4,))[1]["dense"]["w"].shape[1]
        self.calls.append(dict(units=units, epochs=epochs, batch_size=batch_size,
                               members=members, hparams=hparams, make_optimizer=make_optimizer,
                               shared_order=kw["shared_order"]))
        acc = np.array([[self.accuracy(units, a, d, e + 1) for e in range(epochs)]
                        for a, d in zip(lr, drop)])
        diverged = lr >= 1.0  # those diverge in their second epoch
        acc[diverged, 1:] = np.nan
        history = {"loss": 1 - acc, "accuracy": acc, "val_loss": 2 - acc, "val_accuracy": acc}
        return jaxdl.PopulationResult(
            {}, {}, {}, history, hparams, diverged, np.where(diverged, 2, 0),
            np.where(diverged, 0, -1), [0.0] * epochs, None, None)


def test_search_groups_shapes_reads_epochs_off_the_history_and_ranks(monkeypatch):
    trainer = FakeTrainer()
    monkeypatch.setattr(tuning, "fit_population", trainer)
    configs = tuning.grid({"hidden_units": [3, 6], "nesterov": [False, True],
                           "learning_rate": [0.1, 0.3, 2.0], "drop_rate": [0.0, 0.5],
                           "batch_size": [16, 32], "epochs": [1, 4, 2]})
    configs.append(dict(configs[0]))  # a configuration drawn twice is one trial
    x, y = _data(8)
    r = tuning.search(make_model, configs, x, y, loss=SCE, validation_data=(x, y), key=0)
    # one population per (hidden units, nesterov, batch size); inside, one member per
    # (learning rate, dropout), trained for the largest epoch count
    assert r.static == ("hidden_units", "nesterov", "batch_size") and len(trainer.calls) == 8
    assert [c["units"] for c in trainer.calls] == [3] * 4 + [6] * 4
    assert [(g["nesterov"], g["batch_size"]) for g in r.groups[:4]] == [
        (False, 16), (False, 32), (True, 16), (True, 32)]
    for call, group in zip(trainer.calls, r.groups):
        assert call["members"] == 6 and call["epochs"] == 4 and call["shared_order"]
        assert call["batch_size"] == group["batch_size"]
        assert set(call["hparams"]) == {"learning_rate", "drop_rate"}  # the traced ones
        # a static optimiser argument is bound into make_optimizer
        assert call["make_optimizer"].func is optax.sgd
        assert call["make_optimizer"].keywords == {"nesterov": group["nesterov"]}
    assert len(r.trials) == len(configs) - 1 == 144
    for t in r.trials:  # each trial: its member's history at its own epoch count
        c = t.config
        assert r.groups[t.group] == {k: c[k] for k in r.static}
        expected = FakeTrainer.accuracy(c["hidden_units"], c["learning_rate"], c["drop_rate"],
                                        c["epochs"])
        # a member that diverged in epoch 2 still answers for epochs=1
        assert t.diverged == (c["learning_rate"] >= 1.0 and c["epochs"] >= 2)
        if not t.diverged:
            assert t.score == pytest.approx(expected) and t.scores["val_loss"] == \
                pytest.approx(2 - expected)
    scores = [t.score for t in r.trials if not t.diverged]
    assert scores == sorted(scores, reverse=True) and r.trials[0].score == max(scores)
    assert all(t.diverged for t in r.trials[len(scores):])
    # the best: a learning rate whose member diverged in epoch 2, read at epoch 1
    assert r.best == {"hidden_units": 6, "nesterov": False, "learning_rate": 2.0,
                      "drop_rate": 0.0, "batch_size": 16, "epochs": 1}
    table = tuning.format_table(r, limit=2).splitlines()
    assert table[0].split() == ["rank", "hidden_units", "nesterov", "learning_rate",
                                "drop_rate", "batch_size", "epochs", "val_accuracy", "val_loss"]
    assert table[1].split() == ["1", "6", "False", "2", "0", "16", "1", "0.26", "1.74"]
    assert len(table) == 4 and table[-1] == "... 142 more"
    assert tuning.format_table(r, limit=None).splitlines()[-1].endswith("diverged")
    # ranked by a loss, the smallest first
    by_loss = tuning.search(make_model, configs, x, y, loss=SCE, validation_data=(x, y), key=0,
                            metric="val_loss")
    assert by_loss.mode == "min" and by_loss.trials[0].config == r.trials[0].config


@pytest.mark.slow
def test_retrain_fits_the_configuration_and_scores_the_test_split():
    x, y = _data(64)
    config = {"hidden_units": 6, "learning_rate": 0.3, "momentum": 0.9, "drop_rate": 0.1,
              "batch_size": 16, "epochs": 3}
    final = tuning.retrain(make_model, config, x[:48], y[:48], loss=SCE,
                           test_data=(x[48:], y[48:]), key=1)
    assert final.config == config and len(final.fit.history["loss"]) == 3
    # the same as fit with the configuration's model and optimiser and member_keys' keys
    init_keys, fit_keys = jaxdl.population.member_keys(1, 1)
    model = make_model(config)
    _, p, s = model.init(init_keys[0], (4,))
    f = jaxdl.fit(model, p, s, x[:48], y[:48], loss=SCE, optimizer=optax.sgd(0.3, momentum=0.9),
                  epochs=3, batch_size=16, key=fit_keys[0], metrics=["accuracy"], verbose=0)
    np.testing.assert_allclose(final.fit.history["loss"], f.history["loss"], rtol=1e-6)
    again = jaxdl.evaluate(model, final.fit.params, final.fit.state, x[48:], y[48:], loss=SCE,
                           metrics=["accuracy"])
    assert final.test == pytest.approx(again) and final.test["accuracy"] >= 0.75


# ======================================================================= bad input


def _search(configs: Any, **kw: Any) -> Any:
    x, y = _data(16)
    args = dict(loss=SCE, validation_data=(x, y), key=0, epochs=1)
    args.update(kw)
    return tuning.search(make_model, configs, x, y, **args)


GOOD = [{"hidden_units": 4, "learning_rate": 0.1, "drop_rate": 0.0}]


@pytest.mark.parametrize("call, error, match", [
    (lambda: tuning.grid({}), ValueError, r"^grid: the space is empty"),
    (lambda: tuning.grid({"learning_rate": []}), ValueError,
     r"^grid: space\['learning_rate'\] is empty: give at least one value"),
    (lambda: tuning.grid({"learning_rate": 0.1}), TypeError,
     r"^grid: space\['learning_rate'\] must be a list of values, got 0.1; write \[0.1\]"),
    (lambda: tuning.grid({"activation": "relu"}), TypeError,
     r"^grid: space\['activation'\] must be a list of values, got 'relu'"),
    (lambda: tuning.grid({"learning_rate": tuning.log_uniform(0.01, 1.0)}), TypeError,
     r"^grid: space\['learning_rate'\] is a range .*ranges are for tuning.sample"),
    (lambda: tuning.grid([0.1, 0.2]), TypeError, r"^grid: space must be a dict"),
    (lambda: tuning.sample({"learning_rate": [0.1]}, 0, key=0), ValueError,
     r"^sample: num must be >= 1, got 0"),
    (lambda: tuning.log_uniform(0.0, 1.0), ValueError,
     r"^log_uniform: low must be > 0 for a log-uniform range, got 0.0"),
    (lambda: tuning.uniform(0.5, 0.2), ValueError, r"^uniform: low \(=0.5\) must be < high"),
    (lambda: tuning.uniform("a", 1.0), TypeError, r"^uniform: low must be a finite number"),
    (lambda: _search([]), ValueError, r"^search: no configurations to try \(an empty grid"),
    (lambda: _search({"learning_rate": [0.1]}), TypeError,
     r"^search: configs must be a list of configuration dicts .*got a dict"),
    (lambda: _search(GOOD + [{"hidden_units": 4, "learning_rate": 0.1}]), ValueError,
     r"^search: every configuration needs the same hyperparameters; configs\[0\] has "
     r"\['drop_rate', 'hidden_units', 'learning_rate'\], configs\[1\] has"),
    (lambda: _search([dict(GOOD[0], learnig_rate=0.1)]), ValueError,
     r"^search: unknown hyperparameter 'learnig_rate'.*did you mean 'learning_rate'\?"),
    (lambda: _search([{"hidden_units": 4, "learning_rate": 0.1}]), ValueError,
     r"^search: make_model read hparams\['drop_rate'\], which is not given"),
    (lambda: _search(GOOD, metric="val_acc"), ValueError,
     r"^search: metric='val_acc' is not recorded; allowed: 'loss', 'accuracy', 'val_loss', "
     r"'val_accuracy'; did you mean 'val_accuracy'\?"),
    (lambda: _search(GOOD, metric="val_binary_accuracy"), ValueError,
     r"^search: metric='val_binary_accuracy' is not recorded.*add 'binary_accuracy' to "
     r"metrics="),
    (lambda: _search(GOOD, mode="best"), ValueError, r"^search: unknown mode='best'"),
    (lambda: _search(GOOD, epochs=None), ValueError,
     r"^search: give epochs=, or search over 'epochs'"),
    (lambda: _search([dict(GOOD[0], epochs=3)], epochs=2), ValueError,
     r"^search: epochs is both a hyperparameter and the argument epochs=2; give it once"),
    (lambda: _search([dict(GOOD[0], epochs=0)], epochs=None), ValueError,
     r"^search: epochs \(hyperparameter\) must be >= 1, got 0"),
    (lambda: _search(GOOD, static=["hiden_units"]), ValueError,
     r"^search: static name 'hiden_units' is not a hyperparameter.*did you mean "
     r"'hidden_units'\?"),
    (lambda: _search([dict(GOOD[0], learning_rate="fast")], static=["hidden_units"]), TypeError,
     r"^search: hyperparameter 'learning_rate' varies inside a population, so its values must "
     r"be numbers; got 'fast'"),
    (lambda: tuning.retrain(make_model, GOOD[0], *_data(8), loss=SCE, test_data=None, key=0,
                            epochs=1), ValueError, r"^retrain: test_data is required"),
    (lambda: tuning.retrain(make_model, [0.1], *_data(8), loss=SCE, test_data=_data(8), key=0,
                            epochs=1), TypeError, r"^retrain: config must be a dict"),
], ids=["empty-space", "empty-values", "scalar-values", "string-values", "range-in-grid",
        "space-list", "sample-zero", "log-zero", "uniform-order", "uniform-type",
        "empty-configs", "configs-dict", "different-names", "unknown-name", "model-reads-missing",
        "metric-typo", "metric-not-recorded", "mode", "no-epochs", "epochs-twice",
        "epochs-zero", "static-typo", "traced-string", "retrain-no-test", "retrain-config"])
def test_bad_input_names_the_function_and_the_value(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_best_refuses_a_search_where_everything_diverged():
    result = tuning.SearchResult([tuning.Trial({"learning_rate": 1e9}, math.nan, {}, True, 0, 0)],
                                 "val_accuracy", "max", [], [], (), 0.0)
    with pytest.raises(ValueError, match=r"^SearchResult.best: every one of the 1 "
                                         r"configurations diverged"):
        result.best


# ======================================================================= the experiment


@pytest.mark.slow
def test_hparam_search_run_at_a_tiny_budget(tmp_path: Path, private_data_dir: Any) -> None:
    from experiments import hparam_search

    space = {"hidden_units": [16], "batch_size": [64], "learning_rate": [0.03, 0.3],
             "momentum": [0.0, 0.9], "drop_rate": [0.0, 0.2]}
    r = hparam_search.run(space=space, epochs=4, out=tmp_path)
    assert r["populations"] == 1 and r["configs"] == 8 * 3  # epochs 1, 2 and 4
    assert set(r["best"]) == {*space, "epochs"} and r["best"]["epochs"] in (1, 2, 4)
    assert r["best"] == r["result"].trials[0].config and r["val_accuracy"] == \
        r["result"].trials[0].score
    # the best configuration retrained on train + validation, scored once on the test set
    final = r["retrain"]
    assert final.config == r["best"] and len(final.fit.history["loss"]) == r["best"]["epochs"]
    assert r["test_accuracy"] == final.test["accuracy"] >= 0.8, final.test  # digits, 4 epochs
    assert Path(r["plot"]).is_file()
    rules = {rule["name"]: rule for rule in r["rules"]}
    assert rules["batch_size"]["verdict"] == "untested"  # 64 only: nothing outside tried
    assert rules["drop_rate"]["best_value"] == r["best"]["drop_rate"]
    assert rules["momentum"]["verdict"] in ("consistent", "contradicted")


@pytest.mark.slow
def test_hparam_search_cli_ends_with_result_line(tmp_path: Path, private_data_dir: Any
                                                 ) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, "-m", "experiments.hparam_search", "--out",
                           str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"RESULT name=hparam_search( [a-z0-9_]+=\S+)+", last), last
    values = dict(kv.split("=", 1) for kv in last.split()[1:])
    assert float(values["test_accuracy"]) >= 0.95, last
    assert int(values["populations"]) == 8 and values["rule_momentum"] in (
        "consistent", "contradicted")
    assert (tmp_path / "val_accuracy_lr_batch.png").is_file()
