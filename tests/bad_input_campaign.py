"""A bad-input campaign over jaxdl's public API, run the way a user would.

    .venv/bin/python tests/bad_input_campaign.py [--show unclear,silent]

Every call passes one nonsense value (a string where a number belongs, None, NaN, inf,
a bool, a negative size, a list, a typo in a name, a wrong shape, a label out of range,
a corrupt file ...) to one public function or constructor, and the outcome is classified:

* ``clear``: ``TypeError``/``ValueError``/``FileNotFoundError`` whose message names the
  function (or layer) and shows the value received;
* ``unclear``: any other exception, or a message missing the function or the value;
* ``silent``: no error at all: a result for nonsense;
* ``crash``: the interpreter itself failed (a segfault or hang would end this script).

This file is not collected by pytest (its name does not start with ``test_``): the
parameterised suites ``tests/test_bad_input*.py`` keep the library so. The campaign
generates its cases from argument grids, so it also tries combinations no test lists.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
from jaxdl import activations, initializers, losses, metrics

KEY = jax.random.key(0)
NAN, INF = float("nan"), float("inf")
Cases = list[tuple[str, Callable[[], Any], tuple[str, ...]]]


def shown(v: Any) -> str:
    """How a message is expected to show the bad value."""
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if isinstance(v, str):
        return repr(v)
    if v is None:
        return "None"
    if isinstance(v, np.ndarray):
        return str(v.dtype)  # the dtype is the nonsense, not the values
    if isinstance(v, list) and len(v) == 1:
        return shown(v[0])  # a message names the bad element ('f1' of ['f1'])
    if isinstance(v, dict) and len(v) == 1:
        return shown(next(iter(v.values())))
    return str(v)


def grid(fn_name: str, make: Callable[[Any], Any], values: list[Any]) -> Cases:
    return [(f"{fn_name}({shown(v)})", (lambda v=v: make(v)), (fn_name, shown(v)))
            for v in values]


NOT_A_NUMBER = ["3", None, [1.0], {}, True, NAN, INF, -INF, 1 + 2j]
NOT_A_SIZE = ["3", None, [3], 2.5, 0, -1, True, NAN]
NOT_A_BOOL = ["yes", "no", 1, 0, None, 0.5, [True]]
NOT_A_PROB = [-0.1, 1.0, 1.5, "0.5", None, NAN, INF, True]


def constructors() -> Cases:
    cases: Cases = []
    cases += grid("Dense", lambda v: jaxdl.Dense(v), NOT_A_SIZE)
    cases += grid("Dense", lambda v: jaxdl.Dense(3, use_bias=v), NOT_A_BOOL)
    cases += grid("Dense", lambda v: jaxdl.Dense(3, name=v), ["My Layer", "1st", "Dense", "",
                                                              "_x", 3])
    cases += grid("Dropout", jaxdl.Dropout, NOT_A_PROB)
    cases += grid("FanOut", jaxdl.FanOut, NOT_A_SIZE)
    cases += grid("Flatten", jaxdl.Flatten, ["2", 2.0, 0, -1, True])
    cases += grid("Softmax", jaxdl.Softmax, [0, 1, 2, "a", 1.5, None, True])
    cases += grid("FanInConcat", jaxdl.FanInConcat, [0, 1, "a", 1.5, None])
    cases += grid("Gelu", jaxdl.Gelu, NOT_A_BOOL)
    for ctor, arg in [(jaxdl.Sigmoid, "Sigmoid"), (jaxdl.BipolarSigmoid, "BipolarSigmoid"),
                      (jaxdl.Linear, "Linear"), (jaxdl.LeakyRelu, "LeakyRelu"),
                      (jaxdl.Elu, "Elu"), (jaxdl.Swish, "Swish"), (jaxdl.Step, "Step")]:
        cases += grid(arg, ctor, NOT_A_NUMBER)
    cases += grid("RandomizedRelu", lambda v: jaxdl.RandomizedRelu(v, 0.3), NOT_A_NUMBER)
    cases += grid("RandomizedRelu", lambda v: jaxdl.RandomizedRelu(0.5, v), [0.1, 0.0, -1.0])
    cases += grid("Perceptron", lambda v: jaxdl.Perceptron(v), NOT_A_SIZE)
    cases += grid("EarlyStopping", lambda v: jaxdl.EarlyStopping(patience=v),
                  ["3", -1, 2.5, None, True])
    cases += grid("EarlyStopping", lambda v: jaxdl.EarlyStopping(mode=v),
                  ["minimum", "MAX", None, 1])
    cases += grid("EarlyStopping", lambda v: jaxdl.EarlyStopping(min_delta=v),
                  [-0.1, "0", NAN, None])
    cases += grid("Checkpoint", lambda v: jaxdl.Checkpoint("c.msgpack", every=v),
                  [0, -1, 1.5, "2", None])
    return cases


X = np.ones((8, 4), np.float32)
Y = np.zeros((8, 1), np.float32)
LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1], np.int32)


def _mlp() -> tuple[jaxdl.Layer, Any, Any]:
    model = jaxdl.serial(jaxdl.Dense(3), jaxdl.Relu(), jaxdl.Dense(1))
    return (model, *model.init(KEY, (4,))[1:])


def training() -> Cases:
    model, p, s = _mlp()

    def fit(**kw: Any) -> Any:
        args = dict(loss="mse", optimizer=optax.sgd(0.1), epochs=1, key=0, verbose=0)
        args.update(kw)
        return jaxdl.fit(model, p, s, args.pop("x", X), args.pop("y", Y), **args)

    cases: Cases = []
    cases += grid("fit", lambda v: fit(batch_size=v), ["32", 2.5, 0, -4, True, NAN, [8]])
    cases += grid("fit", lambda v: fit(epochs=v), ["3", 2.5, 0, -1, True, None])
    cases += grid("fit", lambda v: fit(key=v), ["0", 1.5, None, [0], True])
    cases += grid("fit", lambda v: fit(clip_grad_norm=v), [-1.0, 0.0, "1", NAN, INF, True])
    cases += grid("fit", lambda v: fit(validation_split=v), [-0.1, 1.0, 1.5, "0.2", NAN])
    cases += grid("fit", lambda v: fit(verbose=v), [3, -1, "1", 1.5, None])
    cases += grid("fit", lambda v: fit(shuffle=v), ["no", 1, None])
    cases += grid("fit", lambda v: fit(optimizer=v), ["adam", "sgd", None, 0.1])
    cases += grid("fit", lambda v: fit(loss=v), ["mean_squared_error", "MSE", "crossentropy",
                                                 None, 3])
    cases += grid("fit", lambda v: fit(metrics=v), [["f1"], ["acc"], "accuracy", [3]])
    cases += grid("fit", lambda v: fit(divergence_factor=v), [0.5, -1.0, "1e4", NAN])
    cases += grid("fit", lambda v: fit(early_stopping=v), ["val_loss", 5, True])
    x_nan = X.copy()
    x_nan[3, 2] = np.nan
    y_inf = Y.copy()
    y_inf[5, 0] = np.inf
    cases += [("fit(x with nan)", lambda: fit(x=x_nan), ("fit", "nan")),
              ("fit(y with inf)", lambda: fit(y=y_inf), ("fit", "inf")),
              ("fit(lengths differ)", lambda: fit(y=Y[:5]), ("fit", "'y': 5")),
              ("fit(empty)", lambda: fit(x=X[:0], y=Y[:0]), ("fit", "no training")),
              ("fit(x width 5)", lambda: fit(x=np.ones((8, 5), np.float32)), ("fit", "(5,)"))]
    dense = jaxdl.Dense(3)
    _, dp, ds = dense.init(KEY, (4,))

    def fit_cls(y: Any, loss: str = "sparse_categorical_cross_entropy", **kw: Any) -> Any:
        return jaxdl.fit(dense, dp, ds, X, y, loss=loss, optimizer=optax.sgd(0.1), epochs=1,
                         key=0, verbose=0, **kw)

    bad_labels = {"label 3": LABELS + (LABELS == 2), "label -1": LABELS - 1,
                  "label 99": np.where(LABELS == 1, 99, LABELS).astype(np.int32)}
    for name, y in bad_labels.items():
        cases.append((f"fit({name})", lambda y=y: fit_cls(y), ("fit", name)))
    cases.append(("fit(string labels)", lambda: fit_cls(np.array(list("abcabcab"))),
                  ("fit", "<U1")))
    cases.append(("fit(float labels)", lambda: fit_cls(LABELS.astype(np.float32)),
                  ("fit", "float32")))
    onehot = np.eye(3, dtype=np.float32)[LABELS]
    cases.append(("fit(one-hot row of 2)", lambda: fit_cls(onehot * 2, "softmax_cross_entropy"),
                  ("fit", "sums to 2")))
    cases.append(("fit(binary target 2)", lambda: fit_cls(
        onehot * 2, "binary_cross_entropy_with_logits"), ("fit", "2.0")))
    cases.append(("fit(hinge target 0)", lambda: fit_cls(onehot, "hinge"), ("fit", "0.0")))
    cases.append(("fit(accuracy label 3)", lambda: fit_cls(
        LABELS + (LABELS == 2), "mse", metrics=["accuracy"]), ("fit", "label 3")))

    step_names = [("make_train_step", lambda **kw: jaxdl.make_train_step(model, **kw)),
                  ("make_eval_step", lambda **kw: jaxdl.make_eval_step(
                      model, kw["loss_fn"], metrics=kw.get("metrics")))]
    for name, make in step_names:
        opt = {"optimizer": optax.sgd(0.1)} if name == "make_train_step" else {}
        cases += grid(name, lambda v, make=make, opt=opt: make(loss_fn=v, **opt),
                      ["mse_loss", "rmse2", 3, None])
        cases += grid(name, lambda v, make=make, opt=opt: make(loss_fn="mse", metrics=v, **opt),
                      [["f1"], ["acuracy"], "accuracy", 3])
    cases += grid("make_train_step", lambda v: jaxdl.make_train_step(model, "mse", v),
                  ["adam", None, 0.01])
    cases += grid("evaluate", lambda v: jaxdl.evaluate(model, p, s, X, Y, loss="mse",
                                                       batch_size=v), [0, -1, 2.5, "8"])
    cases += grid("predict", lambda v: jaxdl.predict(model, p, s, X, batch_size=v),
                  [0, -1, 2.5, "8", None])
    cases += grid("iterations_per_epoch", lambda v: jaxdl.iterations_per_epoch(10, v),
                  [0, -1, 2.5, "8"])
    # wrong parameters and wrong inputs at apply
    other = jaxdl.serial(jaxdl.Dense(5), jaxdl.Relu(), jaxdl.Dense(1))
    _, po, _ = other.init(KEY, (4,))
    cases += [
        ("serial.apply(other params)", lambda: model.apply(po, s, X), ("Dense(3)", "(4, 5)")),
        ("serial.apply(tuple params)", lambda: model.apply((), s, X), ("serial", "tuple")),
        ("serial.apply(extra key)", lambda: model.apply({**p, "x": {}}, s, X),
         ("serial", "['x']")),
        ("Dense.apply(width 5)", lambda: model.apply(p, s, np.ones((8, 5))),
         ("Dense(3)", "(8, 5)")),
        ("Dense.apply(rank 0)", lambda: model.apply(p, s, np.float32(1.0)),
         ("Dense(3)", "()")),
        ("FanInSum.apply(array)", lambda: jaxdl.FanInSum().apply({}, {}, X),
         ("FanInSum", "(8, 4)")),
        ("Flatten.apply(rank 1)", lambda: jaxdl.Flatten().apply({}, {}, X[0]),
         ("Flatten()", "(4,)")),
        ("Flatten(2).apply(rank 1)", lambda: jaxdl.Flatten(2).apply({}, {}, X[0]),
         ("Flatten(2)", "(4,)")),
        ("Dropout.apply(train, no key)", lambda: jaxdl.Dropout(0.5).apply({}, {}, X, train=True),
         ("Dropout(0.5)", "key")),
        ("Dense.init('4')", lambda: jaxdl.Dense(3).init(KEY, "4"), ("Dense(3)", "'4'")),
        ("Dense.init((4.0,))", lambda: jaxdl.Dense(3).init(KEY, (4.0,)), ("Dense(3)", "4.0")),
        ("Dense.init((-4,))", lambda: jaxdl.Dense(3).init(KEY, (-4,)), ("Dense(3)", "-4")),
        ("summary('4')", lambda: jaxdl.summary(model, "4"), ("Dense(3)", "'4'")),
    ]
    return cases


def functions() -> Cases:
    cases: Cases = []
    pred, target = jnp.zeros((4, 3)), jnp.zeros((4, 3))
    for name in ["mse", "rmse", "mae", "msle", "mean_bias_error", "huber", "hinge",
                 "binary_cross_entropy", "binary_cross_entropy_with_logits",
                 "categorical_cross_entropy", "softmax_cross_entropy", "kl_divergence"]:
        fn = getattr(losses, name)
        cases.append((f"{name}(shape mismatch)", lambda fn=fn: fn(pred, jnp.zeros((4, 2))),
                      (name, "(4, 3)", "(4, 2)")))
        cases.append((f"{name}(reduction='avg')", lambda fn=fn: fn(pred, target,
                                                                   reduction="avg"),
                      (name, "'avg'")))
        cases.append((f"{name}(strings)", lambda fn=fn: fn(np.array(["a"] * 3), np.zeros(3)),
                      (name,)))
    probs_bad = jnp.array([[0.2, 1.5, -0.1]])
    for name in ["binary_cross_entropy", "categorical_cross_entropy", "kl_divergence"]:
        fn = getattr(losses, name)
        cases.append((f"{name}(probability 1.5)", lambda fn=fn: fn(probs_bad, jnp.array(
            [[0.0, 1.0, 0.0]])), (name, "1.5")))
    cases.append(("binary_cross_entropy(target 2)", lambda: losses.binary_cross_entropy(
        jnp.array([0.5, 0.5]), jnp.array([0.0, 2.0])), ("binary_cross_entropy", "2")))
    cases.append(("hinge(target 0)", lambda: losses.hinge(jnp.array([0.5, 0.5]),
                                                          jnp.array([1.0, 0.0])), ("hinge", "0")))
    cases.append(("sparse_ce(label 3)", lambda: losses.sparse_categorical_cross_entropy(
        jnp.zeros((2, 3)), jnp.array([0, 3])), ("sparse_categorical_cross_entropy", "3")))
    cases.append(("sparse_ce(label -1)", lambda: losses.sparse_categorical_cross_entropy(
        jnp.zeros((2, 3)), jnp.array([0, -1])), ("sparse_categorical_cross_entropy", "-1")))
    cases += grid("huber", lambda v: losses.huber(pred, target, delta=v), [0.0, -1.0, "1", NAN])
    cases += grid("losses.get", losses.get, ["mse_loss", "crossentropy", 3, None])
    cases += grid("accuracy", lambda v: metrics.accuracy(jnp.zeros((2, 3)), jnp.array([0, v])),
                  [3, -1, 10])
    cases.append(("accuracy(shape)", lambda: metrics.accuracy(jnp.zeros((2, 3)),
                                                              jnp.zeros((3,), int)),
                  ("accuracy", "(2, 3)", "(3,)")))
    cases += grid("initializers.get", initializers.get, ["glorot", "xavier", "he", 3, None])
    for name in ["glorot_uniform", "he_normal", "zeros", "orthogonal"]:
        fn = initializers.get(name)
        cases += grid(name, lambda v, fn=fn: fn(KEY, v), ["3", (3, -1), (2.5, 3), None])
    cases += grid("sigmoid", lambda v: activations.sigmoid(jnp.ones(3), steepness=v),
                  ["2", None, [1.0]])
    cases += grid("randomized_relu", lambda v: activations.randomized_relu(
        jnp.ones(3), lower=0.5, upper=v), [0.1, -1.0])
    cases += grid("softmax", lambda v: activations.softmax(jnp.ones(3), axis=v), ["a", 1.5])
    return cases


def checkpoints(tmp: Path) -> Cases:
    from jaxdl import load_checkpoint, save_checkpoint

    params = {"dense": {"w": jnp.ones((4, 3)), "b": jnp.zeros(3)}}
    good = tmp / "good.msgpack"
    save_checkpoint(good, params=params)
    corrupt = tmp / "corrupt.msgpack"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x10
    corrupt.write_bytes(bytes(data))
    trunc = tmp / "trunc.msgpack"
    trunc.write_bytes(good.read_bytes()[:40])
    text = tmp / "text.msgpack"
    text.write_text("hello")
    cases: Cases = []
    cases += grid("save_checkpoint", lambda v: save_checkpoint(tmp / "s.msgpack", params=v),
                  ["weights", {"w": "abc"}, {"w": np.array(["a"])}])
    cases += grid("save_checkpoint", lambda v: save_checkpoint(tmp / "s.msgpack", params=params,
                                                               step=v), [-1, 2.5, "3"])
    cases += grid("save_checkpoint", lambda v: save_checkpoint(v, params=params), [3, None])
    cases += [
        ("load_checkpoint(missing)", lambda: load_checkpoint(tmp / "none.msgpack"),
         ("load_checkpoint", "none.msgpack")),
        ("load_checkpoint(corrupt)", lambda: load_checkpoint(corrupt),
         ("load_checkpoint", "corrupt.msgpack")),
        ("load_checkpoint(truncated)", lambda: load_checkpoint(trunc),
         ("load_checkpoint", "trunc.msgpack")),
        ("load_checkpoint(text)", lambda: load_checkpoint(text),
         ("load_checkpoint", "text.msgpack")),
        ("load_checkpoint(Dense(5) template)", lambda: load_checkpoint(good, target={
            "params": {"dense": {"w": jnp.ones((4, 5)), "b": jnp.zeros(5)}}}),
         ("load_checkpoint", "params/dense/w")),
        ("load_checkpoint(no-bias template)", lambda: load_checkpoint(good, target={
            "params": {"dense": {"w": jnp.ones((4, 3))}}}), ("load_checkpoint", "params/dense/b")),
        ("load_checkpoint(float16 template)", lambda: load_checkpoint(good, target={
            "params": {"dense": {"w": jnp.ones((4, 3), jnp.float16), "b": jnp.zeros(3)}}}),
         ("load_checkpoint", "float16")),
    ]
    return cases


def data_calls(tmp: Path) -> Cases:
    import jaxdl.data as jd

    cols = {"x": np.arange(10.0), "y": np.arange(10) % 2}
    cases: Cases = []
    cases += grid("load", lambda v: jd.load(v, data_dir=tmp, download=False),
                  ["irs", "digit", "mnist_fashion", 3])
    cases += grid("load", lambda v: jd.load("iris", split=v, data_dir=tmp), ["tran", "train[",
                                                                             "train[:200%]", 3])
    cases += grid("batches", lambda v: list(jd.batches(cols, batch_size=v)), [0, -1, 2.5, "4"])
    cases += grid("num_batches", lambda v: jd.num_batches(10, v), [0, -1, 2.5])
    cases += grid("train_val_test_split", lambda v: jd.train_val_test_split(cols, fractions=v),
                  [(0.5, 0.6, 0.1), (1.0,), "0.5", (-0.1, 0.6, 0.5)])
    return cases


def classify(call: Callable[[], Any], names: tuple[str, ...]) -> tuple[str, str]:
    try:
        call()
    except (TypeError, ValueError, FileNotFoundError) as e:
        message = f"{type(e).__name__}: {e}"
        text = str(e)
        missing = [n for n in names if n not in text and n.replace("'", '"') not in text]
        return ("unclear", f"{message}  [missing {missing}]") if missing else ("clear", message)
    except Exception as e:  # noqa: BLE001  (anything else is what we are measuring)
        return "unclear", f"{type(e).__name__}: {e}"
    return "silent", "no error"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show", default="unclear,silent,crash",
                    help="outcomes whose cases are listed")
    args = ap.parse_args()
    jax.config.update("jax_numpy_rank_promotion", "raise")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        shared = Path(__file__).resolve().parents[2] / "shared" / "data"
        if shared.is_dir():
            os.environ.setdefault("JAXDL_DATA_DIR", str(shared))
        groups = {"constructors": constructors(), "training": training(),
                  "functions": functions(), "checkpoints": checkpoints(tmp),
                  "data": data_calls(tmp)}
        counts: dict[str, collections.Counter[str]] = {}
        shown_kinds = set(args.show.split(","))
        for group, cases in groups.items():
            counts[group] = collections.Counter()
            for case_id, call, names in cases:
                outcome, detail = classify(call, names)
                counts[group][outcome] += 1
                if outcome in shown_kinds:
                    print(f"[{outcome}] {group}: {case_id}: {detail[:300]}")
    total = sum(counts.values(), collections.Counter())
    n = sum(total.values())
    print(f"{'group':14}{'cases':>7}{'clear':>7}{'unclear':>9}{'silent':>8}{'crash':>7}")
    for group, c in [*counts.items(), ("total", total)]:
        print(f"{group:14}{sum(c.values()):>7}{c['clear']:>7}{c['unclear']:>9}{c['silent']:>8}"
              f"{c['crash']:>7}")
    print(f"RESULT name=bad_input_campaign cases={n} clear={total['clear']} "
          f"unclear={total['unclear']} silent={total['silent']} crash={total['crash']} "
          f"clear_fraction={total['clear'] / n:.3f}")
    sys.exit(1 if total["silent"] else 0)


if __name__ == "__main__":
    main()
