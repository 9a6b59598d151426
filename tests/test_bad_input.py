"""Bad input to layers, combinators, steps and fit: a clear error, never a silent result.

Every case calls one public function with one bad argument and asserts the exception type
and that the message names the function (or layer) and shows the value received. The
other bad-input suites: ``test_bad_input_functions.py`` (losses, metrics, activations,
initialisers), ``test_bad_input_checkpoint.py`` and ``test_bad_input_data.py``.
``tests/bad_input_campaign.py`` runs all of them the way a user would and counts outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl.testing import check_layer

KEY = jax.random.key(0)
X = np.ones((8, 4), np.float32)
Y = np.zeros((8, 1), np.float32)
LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1], np.int32)


class Case(NamedTuple):
    """One bad call: ``call()`` must raise ``error`` with every string of ``names`` in it."""

    id: str
    call: Callable[[], Any]
    error: type[BaseException]
    names: tuple[str, ...]


def _dense(units: int = 3, in_features: int = 4) -> tuple[jaxdl.Layer, Any, Any]:
    layer = jaxdl.Dense(units)
    _, p, s = layer.init(KEY, (in_features,))
    return layer, p, s


def _mlp() -> tuple[jaxdl.Layer, Any, Any]:
    model = jaxdl.serial(jaxdl.Dense(3), jaxdl.Relu(), jaxdl.Dense(1))
    _, p, s = model.init(KEY, (4,))
    return model, p, s


def _apply_dense_with(params: Any, x: Any = X) -> Any:
    layer, _, s = _dense()
    return layer.apply(params, s, x)


def _apply_model_with_other_params() -> Any:
    model, _, s = _mlp()
    other = jaxdl.serial(jaxdl.Dense(5), jaxdl.Tanh(), jaxdl.Dense(1))
    _, p_other, _ = other.init(KEY, (4,))
    return model.apply(p_other, s, X)


def _apply_model_with_foreign_keys() -> Any:
    model, p, s = _mlp()
    return model.apply({**p, "conv": {"w": jnp.ones(3)}}, s, X)


def _fit(**kwargs: Any) -> Any:
    model, p, s = _mlp()
    args = dict(loss="mse", optimizer=optax.sgd(0.1), epochs=1, key=0, verbose=0)
    args.update(kwargs)
    x = args.pop("x", X)
    y = args.pop("y", Y)
    return jaxdl.fit(model, p, s, x, y, **args)


def _fit_classifier(y: Any, **kwargs: Any) -> Any:
    layer, p, s = _dense()
    return jaxdl.fit(layer, p, s, X, y, loss="sparse_categorical_cross_entropy",
                     optimizer=optax.sgd(0.1), epochs=1, key=0, verbose=0, **kwargs)


def _step(batch: Any) -> Any:
    model, p, s = _mlp()
    opt = optax.sgd(0.1)
    step = jaxdl.make_train_step(model, "mse", opt, donate=False)
    return step(p, s, opt.init(p), batch, None)


def _nan_x() -> np.ndarray:
    x = X.copy()
    x[2, 1] = np.nan
    return x


class _NoGrad:
    pass


CASES = [
    # ---------------------------------------------------------------- constructors
    Case("Dense-bool-units", lambda: jaxdl.Dense(True), TypeError, ("Dense", "units", "True")),
    Case("Dense-float-units", lambda: jaxdl.Dense(2.5), TypeError, ("Dense", "units", "2.5")),
    Case("Dense-zero-units", lambda: jaxdl.Dense(0), ValueError, ("Dense", "units", "0")),
    Case("Dense-str-units", lambda: jaxdl.Dense("3"), TypeError, ("Dense", "units", "'3'")),
    Case("Dense-use_bias-str", lambda: jaxdl.Dense(3, use_bias="no"), TypeError,
         ("Dense", "use_bias", "'no'")),
    Case("Dense-int-dtype", lambda: jaxdl.Dense(3, dtype=jnp.int32), TypeError,
         ("Dense", "dtype", "int32")),
    Case("Dense-bad-name", lambda: jaxdl.Dense(3, name="My Layer"), ValueError,
         ("Dense", "name", "'My Layer'")),
    Case("Dense-unknown-init", lambda: jaxdl.Dense(3, w_init="glorot"), ValueError,
         ("glorot", "glorot_uniform")),
    Case("Dropout-str", lambda: jaxdl.Dropout("0.5"), TypeError, ("Dropout", "drop_rate", "'0.5'")),
    Case("Dropout-one", lambda: jaxdl.Dropout(1.0), ValueError, ("Dropout", "drop_rate", "1.0")),
    Case("Dropout-negative", lambda: jaxdl.Dropout(-0.1), ValueError,
         ("Dropout", "drop_rate", "-0.1")),
    Case("Dropout-nan", lambda: jaxdl.Dropout(float("nan")), ValueError,
         ("Dropout", "drop_rate", "nan")),
    Case("Gelu-approximate-str", lambda: jaxdl.Gelu(approximate="yes"), TypeError,
         ("Gelu", "approximate", "'yes'")),
    Case("Softmax-axis-str", lambda: jaxdl.Softmax(axis="a"), TypeError,
         ("Softmax", "axis", "'a'")),
    Case("Softmax-axis-0", lambda: jaxdl.Softmax(axis=0), ValueError,
         ("Softmax", "axis", "0")),
    Case("FanOut-float", lambda: jaxdl.FanOut(2.5), TypeError, ("FanOut", "num", "2.5")),
    Case("FanOut-zero", lambda: jaxdl.FanOut(0), ValueError, ("FanOut", "num", "0")),
    Case("FanInConcat-axis-1", lambda: jaxdl.FanInConcat(axis=1), ValueError,
         ("FanInConcat", "axis", "1")),
    Case("Sigmoid-steepness-str", lambda: jaxdl.Sigmoid(steepness="2"), TypeError,
         ("Sigmoid", "steepness", "'2'")),
    Case("LeakyRelu-inf", lambda: jaxdl.LeakyRelu(float("inf")), ValueError,
         ("LeakyRelu", "negative_slope", "inf")),
    Case("RandomizedRelu-order", lambda: jaxdl.RandomizedRelu(0.5, 0.1), ValueError,
         ("RandomizedRelu", "lower", "0.5", "0.1")),
    Case("Flatten-ndim-zero", lambda: jaxdl.Flatten(0), ValueError, ("Flatten", "ndim", "0")),
    Case("Perceptron-threshold-str", lambda: jaxdl.Perceptron(1, threshold="0"), TypeError,
         ("Perceptron", "threshold", "'0'")),
    Case("serial-empty", lambda: jaxdl.serial(), ValueError, ("serial", "at least one")),
    Case("serial-constructor", lambda: jaxdl.serial(jaxdl.Relu), TypeError,
         ("serial", "argument 0", "function", "constructor")),
    Case("serial-not-layer", lambda: jaxdl.serial(jaxdl.Dense(2), 3), TypeError,
         ("serial", "argument 1", "int")),
    Case("parallel-not-layer", lambda: jaxdl.parallel("dense"), TypeError,
         ("parallel", "argument 0", "str")),
    Case("shape_dependent-ndim", lambda: jaxdl.shape_dependent(jaxdl.Dense, ndim=0), ValueError,
         ("shape_dependent", "ndim", "0")),
    Case("EarlyStopping-patience-str", lambda: jaxdl.EarlyStopping(patience="3"), TypeError,
         ("EarlyStopping", "patience", "'3'")),
    Case("EarlyStopping-mode", lambda: jaxdl.EarlyStopping(mode="minimum"), ValueError,
         ("EarlyStopping", "mode", "'minimum'", "did you mean 'min'")),
    Case("Checkpoint-every", lambda: jaxdl.Checkpoint("c.msgpack", every=0), ValueError,
         ("Checkpoint", "every", "0")),
    # ----------------------------------------------------------------- init shapes
    Case("Dense-init-str-shape", lambda: jaxdl.Dense(3).init(KEY, "28"), TypeError,
         ("Dense(3)", "input_shape", "'28'")),
    Case("Dense-init-zero-size", lambda: jaxdl.Dense(3).init(KEY, (0,)), ValueError,
         ("Dense(3)", "input_shape", "(0,)")),
    Case("Dense-init-unknown-features", lambda: jaxdl.Dense(3).init(KEY, (4, None)), ValueError,
         ("Dense(3)", "in_features", "(4, None)")),
    Case("Flatten-init-rank", lambda: jaxdl.Flatten(2).init(KEY, (4,)), ValueError,
         ("Flatten(2)", "rank 2", "(4,)")),
    Case("Flatten-init-none", lambda: jaxdl.Flatten().init(KEY, (None, 3)), ValueError,
         ("Flatten()", "None", "(None, 3)")),
    Case("parallel-init-count", lambda: jaxdl.parallel(jaxdl.Dense(2), jaxdl.Dense(2)).init(
        KEY, ((3,),)), ValueError, ("parallel", "2 input shapes", "((3,),)")),
    Case("FanInSum-init-shapes", lambda: jaxdl.FanInSum().init(KEY, ((3,), (4,))), ValueError,
         ("FanInSum", "same shape", "(3,)", "(4,)")),
    # ------------------------------------------------ apply: no mixing, no wrong params
    Case("Dense-apply-width", lambda: _apply_dense_with(_dense()[1], np.ones((8, 5))),
         ValueError, ("Dense(3)", "(*batch, 4)", "(8, 5)")),
    Case("Dense-apply-other-params", lambda: _apply_dense_with(_dense(units=5)[1]), ValueError,
         ("Dense(3)", "(in_features, 3)", "(4, 5)")),
    Case("Dense-apply-missing-bias", lambda: _apply_dense_with({"w": jnp.ones((4, 3))}),
         ValueError, ("Dense(3)", "'b'", "['w']")),
    Case("Dense-apply-tuple-params", lambda: _apply_dense_with(()), ValueError,
         ("Dense(3)", "params", "tuple")),
    Case("model-other-architecture", _apply_model_with_other_params, ValueError,
         ("Dense(3)", "(in_features, 3)", "(4, 5)")),
    Case("model-foreign-keys", _apply_model_with_foreign_keys, ValueError,
         ("serial", "['conv']", "dense, relu, dense_1")),
    Case("model-tuple-params", lambda: _mlp()[0].apply((), {}, X), ValueError,
         ("serial", "params", "tuple")),
    Case("FanInSum-one-array", lambda: jaxdl.FanInSum().apply({}, {}, jnp.ones((8, 4))),
         ValueError, ("FanInSum", "tuple of inputs", "(8, 4)")),
    Case("FanInConcat-one-array", lambda: jaxdl.FanInConcat().apply({}, {}, jnp.ones((8, 4))),
         ValueError, ("FanInConcat", "tuple of inputs", "(8, 4)")),
    Case("Flatten-wrong-rank", lambda: jaxdl.Flatten(2).apply({}, {}, jnp.ones((4,))),
         ValueError, ("Flatten(2)", "2 axes", "(4,)")),
    Case("Flatten-no-batch", lambda: jaxdl.Flatten().apply({}, {}, jnp.ones((4,))),
         ValueError, ("Flatten()", "(batch, *dims)", "(4,)")),
    Case("parallel-apply-count", lambda: jaxdl.parallel(jaxdl.Relu(), jaxdl.Relu()).apply(
        {}, {}, (X,)), ValueError, ("parallel", "2 inputs", "1 inputs")),
    Case("Dropout-train-without-key", lambda: jaxdl.Dropout(0.5).apply({}, {}, X, train=True),
         ValueError, ("Dropout(0.5)", "key")),
    Case("length_mask-float", lambda: jaxdl.length_mask(jnp.array([1.5]), 3), TypeError,
         ("length_mask", "float32")),
    Case("init_population-int-keys", lambda: jaxdl.init_population(
        jaxdl.Dense(2), jnp.arange(3), (4,)), ValueError, ("init_population", "int32", "(3,)")),
    # ------------------------------------------------------------------- steps
    Case("make_train_step-optimizer-str", lambda: jaxdl.make_train_step(
        _mlp()[0], "mse", "adam"), TypeError, ("make_train_step", "'adam'", "optax.adam")),
    Case("make_train_step-loss-typo", lambda: jaxdl.make_train_step(
        _mlp()[0], "mse_loss", optax.sgd(0.1)), ValueError,
        ("make_train_step", "'mse_loss'", "did you mean 'mse'")),
    Case("make_train_step-loss-int", lambda: jaxdl.make_train_step(
        _mlp()[0], 3, optax.sgd(0.1)), TypeError, ("make_train_step", "loss", "int")),
    Case("make_train_step-metric-typo", lambda: jaxdl.make_train_step(
        _mlp()[0], "mse", optax.sgd(0.1), metrics=["acc"]), ValueError,
        ("make_train_step", "'acc'", "did you mean 'accuracy'")),
    Case("make_train_step-model", lambda: jaxdl.make_train_step(3, "mse", optax.sgd(0.1)),
         TypeError, ("make_train_step", "model", "int")),
    Case("make_eval_step-loss-typo", lambda: jaxdl.make_eval_step(_mlp()[0], "msse"),
         ValueError, ("make_eval_step", "'msse'", "did you mean 'mse'")),
    Case("step-batch-columns", lambda: _step({"image": X, "label": Y}), ValueError,
         ("train step", "'x' and 'y'", "['image', 'label']")),
    Case("step-batch-triple", lambda: _step((X, Y, Y)), ValueError,
         ("train step", "(x, y)", "tuple of 3")),
    Case("evaluate-batch_size", lambda: jaxdl.evaluate(*_mlp(), X, Y, loss="mse", batch_size=0),
         ValueError, ("evaluate", "batch_size", "0")),
    Case("evaluate-empty", lambda: jaxdl.evaluate(*_mlp(), X[:0], Y[:0], loss="mse"), ValueError,
         ("evaluate", "no examples")),
    Case("evaluate-lengths", lambda: jaxdl.evaluate(*_mlp(), X, Y[:5], loss="mse"), ValueError,
         ("evaluate", "same length", "'y': 5")),
    Case("predict-batch_size-float", lambda: jaxdl.predict(*_mlp(), X, batch_size=2.5),
         TypeError, ("predict", "batch_size", "2.5")),
    Case("predict-empty", lambda: jaxdl.predict(*_mlp(), X[:0]), ValueError,
         ("predict", "at least one example", "(0, 4)")),
    Case("predict-lengths-shape", lambda: jaxdl.predict(*_mlp(), X, lengths=np.ones(3, int)),
         ValueError, ("predict", "lengths", "(8,)", "(3,)")),
    Case("iterations_per_epoch-float", lambda: jaxdl.iterations_per_epoch(10, 2.5), TypeError,
         ("iterations_per_epoch", "batch_size", "2.5")),
    Case("iterations_per_epoch-zero", lambda: jaxdl.iterations_per_epoch(0, 2), ValueError,
         ("iterations_per_epoch", "num_examples", "0")),
    # -------------------------------------------------------------------- fit
    Case("fit-batch_size-float", lambda: _fit(batch_size=2.5), TypeError,
         ("fit", "batch_size", "2.5")),
    Case("fit-batch_size-zero", lambda: _fit(batch_size=0), ValueError,
         ("fit", "batch_size", "0")),
    Case("fit-clip-negative", lambda: _fit(clip_grad_norm=-1.0), ValueError,
         ("fit", "clip_grad_norm", "-1.0")),
    Case("fit-clip-str", lambda: _fit(clip_grad_norm="1"), TypeError,
         ("fit", "clip_grad_norm", "'1'")),
    Case("fit-key-str", lambda: _fit(key="0"), TypeError, ("fit", "key", "str")),
    Case("fit-key-float", lambda: _fit(key=1.5), TypeError, ("fit", "key", "float")),
    Case("fit-epochs-zero", lambda: _fit(epochs=0), ValueError, ("fit", "epochs", "0")),
    Case("fit-epochs-float", lambda: _fit(epochs=2.0), TypeError, ("fit", "epochs", "2.0")),
    Case("fit-validation_split", lambda: _fit(validation_split=1.5), ValueError,
         ("fit", "validation_split", "1.5")),
    Case("fit-validation-both", lambda: _fit(validation_split=0.25, validation_data=(X, Y)),
         ValueError, ("fit", "validation_data", "validation_split")),
    Case("fit-verbose", lambda: _fit(verbose=5), ValueError, ("fit", "verbose", "5")),
    Case("fit-optimizer-str", lambda: _fit(optimizer="adam"), TypeError,
         ("fit", "optimizer", "'adam'")),
    Case("fit-loss-typo", lambda: _fit(loss="mean_squared_error"), ValueError,
         ("fit", "'mean_squared_error'", "allowed")),
    Case("fit-early-stopping-str", lambda: _fit(early_stopping="val_loss"), TypeError,
         ("fit", "early_stopping", "str")),
    Case("fit-callback", lambda: _fit(callbacks=[_NoGrad()]), TypeError,
         ("fit", "on_epoch_end", "_NoGrad")),
    Case("fit-length-mismatch", lambda: _fit(y=Y[:5]), ValueError,
         ("fit", "same length", "'x': 8", "'y': 5")),
    Case("fit-empty", lambda: _fit(x=X[:0], y=Y[:0]), ValueError, ("fit", "no training")),
    Case("fit-nan-input", lambda: _fit(x=_nan_x()), ValueError, ("fit", "nan", "(2, 1)")),
    Case("fit-string-labels", lambda: _fit_classifier(np.array(list("abcabcab"))), TypeError,
         ("fit", "y must be numeric", "<U1")),
    Case("fit-label-too-big", lambda: _fit_classifier(LABELS.clip(0, 2) + (LABELS == 2)),
         ValueError, ("fit", "label 3", "outside [0, 3)")),
    Case("fit-label-negative", lambda: _fit_classifier(LABELS - 1), ValueError,
         ("fit", "label -1", "index 0")),
    Case("fit-float-labels", lambda: _fit_classifier(LABELS.astype(np.float32)), TypeError,
         ("fit", "integer class labels", "float32")),
    Case("fit-model-input-shape", lambda: _fit(x=np.ones((8, 5), np.float32)), ValueError,
         ("fit", "(5,)", "Dense(3)")),
    Case("fit-model-not-layer", lambda: jaxdl.fit(lambda *a: a, {}, {}, X, Y, loss="mse",
                                                  optimizer=optax.sgd(0.1), epochs=1, key=0),
         TypeError, ("fit", "model", "function")),
    # --------------------------------------------------------------- summaries, checks
    Case("summary-shape-str", lambda: jaxdl.summary(_mlp()[0], "4"), TypeError,
         ("Dense(3)", "input_shape", "'4'")),
    Case("check_layer-not-layer", lambda: check_layer(jaxdl.Dense, (3,)), TypeError,
         ("check_layer", "function")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_error(case: Case) -> None:
    with pytest.raises(case.error) as info:
        case.call()
    message = str(info.value)
    missing = [name for name in case.names if name not in message]
    assert not missing, f"{missing} not in {message!r}"


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(CASES) >= 80
