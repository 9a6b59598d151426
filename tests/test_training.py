"""Tests for jaxdl.training: train/eval steps, evaluate, fit, early stopping, divergence."""

from __future__ import annotations

import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl import losses

# a tiny regression problem
RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32)
MLP = jaxdl.serial(jaxdl.Dense(4), jaxdl.Tanh(), jaxdl.Dense(1))
LINEAR = jaxdl.Dense(1)

# a 1-D problem for Dense(1) started at w = b = 0: y = x
X1 = np.linspace(-1.0, 1.0, 16, dtype=np.float32)[:, None]


def _mlp(seed=0):
    _, params, state = MLP.init(jax.random.key(seed), (3,))
    return params, state


def _zero_linear():
    return {"w": jnp.zeros((1, 1)), "b": jnp.zeros(1)}, {}


def _leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(
        x.dtype == y.dtype and np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


def _norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree)))


def _history(result):
    return {k: v for k, v in result.history.items() if k != "epoch_seconds"}


def _fit(model, params, state, x, y, **kwargs):
    kwargs.setdefault("loss", "mse")
    kwargs.setdefault("optimizer", optax.sgd(0.1))
    kwargs.setdefault("epochs", 2)
    kwargs.setdefault("key", jax.random.key(0))
    kwargs.setdefault("verbose", 0)
    return jaxdl.fit(model, params, state, x, y, **kwargs)


# ------------------------------------------------------------------ iterations_per_epoch


@pytest.mark.parametrize(
    "n, batch_size, drop_remainder, expected",
    [(10, 4, False, 3), (10, 4, True, 2), (10, 10, False, 1), (10, 32, False, 1),
     (10, None, True, 1), (7, 1, False, 7)],
)
def test_iterations_per_epoch(n, batch_size, drop_remainder, expected):
    assert jaxdl.iterations_per_epoch(n, batch_size, drop_remainder=drop_remainder) == expected


@pytest.mark.parametrize("n, batch_size, match", [(0, 4, "num_examples must be >= 1"),
                                                  (10, 0, "batch_size must be >= 1 or None")])
def test_iterations_per_epoch_errors(n, batch_size, match):
    with pytest.raises(ValueError, match=f"iterations_per_epoch: {match}"):
        jaxdl.iterations_per_epoch(n, batch_size)


# ------------------------------------------------------------------- make_train_step


def test_train_step_loss_falls():
    params, state = _mlp()
    opt = optax.sgd(0.1)
    step = jaxdl.make_train_step(MLP, losses.mse, opt)
    opt_state = opt.init(params)
    history = []
    for _ in range(10):
        params, state, opt_state, m = step(params, state, opt_state, (X, Y), None)
        chex.assert_shape(m["loss"], ())
        history.append(float(m["loss"]))
    assert all(b < a for a, b in zip(history, history[1:])), history
    assert history[-1] < 0.7 * history[0]


def test_train_step_is_one_sgd_update():
    params, state = _mlp()
    lr = 0.05
    grads = jax.grad(lambda p: losses.mse(MLP.apply(p, state, X)[0], Y))(params)
    want = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
    opt = optax.sgd(lr)
    step = jaxdl.make_train_step(MLP, "mse", opt, donate=False)
    new, _, _, m = step(params, state, opt.init(params), (X, Y), None)
    chex.assert_trees_all_close(new, want, atol=1e-6)
    assert float(m["loss"]) == pytest.approx(float(losses.mse(MLP.apply(params, state, X)[0], Y)),
                                             rel=1e-6)


def test_train_step_does_not_retrace():
    traces = []

    def counting_mse(pred, y):
        traces.append(1)  # runs only while tracing
        return losses.mse(pred, y)

    params, state = _mlp()
    opt = optax.adam(0.01)
    step = jaxdl.make_train_step(MLP, counting_mse, opt)
    opt_state = opt.init(params)
    for i in range(5):
        params, state, opt_state, _ = step(params, state, opt_state, (X + i, Y), None)
    assert len(traces) == 1
    # the unjitted step under jit with chex's trace counter
    raw = jaxdl.make_train_step(MLP, "mse", opt, jit=False)
    jitted = jax.jit(chex.assert_max_traces(raw, n=1))
    for i in range(3):
        params, state, opt_state, _ = jitted(params, state, opt_state, (X - i, Y), None)
    chex.clear_trace_counter()


def test_train_step_donates_its_inputs():
    params, state = _mlp()
    opt = optax.sgd(0.1)
    kept = jaxdl.make_train_step(MLP, "mse", opt, donate=False)
    kept(params, state, opt.init(params), (X, Y), None)
    assert not params["dense"]["w"].is_deleted()
    donating = jaxdl.make_train_step(MLP, "mse", opt)
    donating(params, state, opt.init(params), (X, Y), None)
    assert params["dense"]["w"].is_deleted()  # "the arrays passed in are invalid afterwards"


def test_train_step_metrics():
    model = jaxdl.Dense(3)
    _, params, state = model.init(jax.random.key(0), (3,))
    labels = jnp.asarray(np.argmax(X, axis=1))
    opt = optax.sgd(0.1)
    step = jaxdl.make_train_step(model, "sparse_categorical_cross_entropy", opt,
                                 metrics=["accuracy"], donate=False)
    _, _, _, m = step(params, state, opt.init(params), (X, labels), None)
    assert sorted(m) == ["accuracy", "loss"]
    logits, _ = model.apply(params, state, X)
    assert float(m["accuracy"]) == pytest.approx(float(jaxdl.metrics.accuracy(logits, labels)))


def test_train_step_uses_no_deprecated_optax_api():
    params, state = _mlp()
    opt = optax.sgd(0.1)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=DeprecationWarning, module="optax")
        step = jaxdl.make_train_step(MLP, "mse", opt, donate=False)
        step(params, state, opt.init(params), (X, Y), None)
        _fit(MLP, params, state, X, Y, epochs=1)


def test_train_step_with_dropout_uses_the_key():
    model = jaxdl.serial(jaxdl.Dense(8), jaxdl.Dropout(0.5), jaxdl.Dense(1))
    _, params, state = model.init(jax.random.key(0), (3,))
    opt = optax.sgd(0.1)
    step = jaxdl.make_train_step(model, "mse", opt, donate=False)
    losses_by_key = [
        float(step(params, state, opt.init(params), (X, Y), jax.random.key(k))[3]["loss"])
        for k in (1, 1, 2)]
    assert losses_by_key[0] == losses_by_key[1] != losses_by_key[2]
    with pytest.raises(ValueError, match="Dropout.*needs a PRNG key"):
        step(params, state, opt.init(params), (X, Y), None)


def test_eval_step_and_evaluate():
    model = jaxdl.serial(jaxdl.Dense(8), jaxdl.Dropout(0.5), jaxdl.Dense(1))
    _, params, state = model.init(jax.random.key(0), (3,))
    pred, _ = model.apply(params, state, X)  # eval mode: dropout off
    want = float(losses.mse(pred, Y))
    eval_step = jaxdl.make_eval_step(model, "mse", metrics={"mae": losses.mae})
    out = eval_step(params, state, (X, Y))
    assert sorted(out) == ["loss", "mae"]
    assert float(out["loss"]) == pytest.approx(want, rel=1e-6)
    # batches of 10, 10 and 4 are weighted by their size
    got = jaxdl.evaluate(model, params, state, X, Y, loss="mse", batch_size=10,
                         eval_step=eval_step)
    assert got["loss"] == pytest.approx(want, rel=1e-5)
    assert got["mae"] == pytest.approx(float(losses.mae(pred, Y)), rel=1e-5)


# ------------------------------------------------------------------------------- fit


def test_fit_loss_falls():
    params, state = _mlp()
    result = _fit(MLP, params, state, X, Y, optimizer=optax.adam(0.05), epochs=30, batch_size=8)
    loss = result.history["loss"]
    assert len(loss) == 30 and result.stopped_epoch == 30 and result.best_epoch is None
    assert loss[-1] < 0.2 * loss[0]
    pred, _ = MLP.apply(result.params, result.state, X)
    assert float(losses.mse(pred, Y)) < 0.2 * loss[0]


def test_fit_same_key_same_run():
    params, state = _mlp()
    kwargs = dict(optimizer=optax.adam(0.01), epochs=3, batch_size=5)
    a = _fit(MLP, params, state, X, Y, key=jax.random.key(1), **kwargs)
    b = _fit(MLP, params, state, X, Y, key=jax.random.key(1), **kwargs)
    c = _fit(MLP, params, state, X, Y, key=jax.random.key(2), **kwargs)
    assert _history(a) == _history(b)
    assert _leaves_equal(a.params, b.params)
    assert _history(a) != _history(c)  # another shuffle
    assert not _leaves_equal(a.params, c.params)


@pytest.mark.parametrize("batch_size", [None, 1, 4, 10, 32], ids=lambda b: f"batch{b}")
def test_fit_steps_per_epoch(batch_size):
    params, state = _zero_linear()
    n, epochs = 10, 2
    result = _fit(LINEAR, params, state, X1[:n], X1[:n], optimizer=optax.adam(0.01), epochs=epochs,
                  batch_size=batch_size)
    count = int(result.opt_state[0].count)
    assert count == epochs * jaxdl.iterations_per_epoch(n, batch_size)
    assert count == {None: 2, 1: 20, 4: 6, 10: 2, 32: 2}[batch_size]


def test_fit_batch_gradient_descent_reports_loss_before_the_step():
    params, state = _mlp()
    result = _fit(MLP, params, state, X, Y, epochs=1, batch_size=None)
    initial = float(losses.mse(MLP.apply(params, state, X)[0], Y))
    assert result.history["loss"][0] == pytest.approx(initial, rel=1e-6)


def test_fit_mini_batches_match_manual_steps():
    params, state = _mlp()
    x, y = X[:10], Y[:10]
    opt = optax.sgd(0.1)
    result = _fit(MLP, params, state, x, y, optimizer=opt, epochs=1, batch_size=4, shuffle=False)
    step = jaxdl.make_train_step(MLP, "mse", opt, donate=False)
    p, s, o = params, state, opt.init(params)
    weighted = 0.0
    for lo, hi in [(0, 4), (4, 8), (8, 10)]:  # the last batch is smaller
        p, s, o, m = step(p, s, o, (x[lo:hi], y[lo:hi]), None)
        weighted += float(m["loss"]) * (hi - lo)
    chex.assert_trees_all_close(result.params, p, atol=1e-6)
    assert result.history["loss"][0] == pytest.approx(weighted / 10, rel=1e-5)


def test_fit_resumes_from_opt_state():
    params, state = _zero_linear()
    first = _fit(LINEAR, params, state, X1, X1, optimizer=optax.adam(0.01), batch_size=None)
    second = _fit(LINEAR, first.params, first.state, X1, X1, optimizer=optax.adam(0.01),
                  batch_size=None, opt_state=first.opt_state)
    assert int(first.opt_state[0].count) == 2 and int(second.opt_state[0].count) == 4


def test_fit_does_not_invalidate_callers_arrays():
    params, state = _mlp()
    opt = optax.adam(0.01)
    opt_state = opt.init(params)
    before = jax.tree_util.tree_map(np.array, (params, opt_state))
    _fit(MLP, params, state, X, Y, optimizer=opt, opt_state=opt_state, batch_size=8)
    for leaf in jax.tree_util.tree_leaves((params, opt_state)):
        assert not leaf.is_deleted()
    assert _leaves_equal((params, opt_state), before)


def test_fit_with_dropout_model():
    model = jaxdl.serial(jaxdl.Dense(8), jaxdl.Dropout(0.2), jaxdl.Dense(1))
    _, params, state = model.init(jax.random.key(0), (3,))
    result = _fit(model, params, state, X, Y, optimizer=optax.adam(0.02), epochs=10,
                  batch_size=8, validation_data=(X, Y))
    chex.assert_tree_all_finite(result.params)
    assert result.history["val_loss"][-1] < result.history["val_loss"][0]


def test_fit_metrics_and_verbose(capsys):
    model = jaxdl.Dense(3)
    _, params, state = model.init(jax.random.key(0), (3,))
    labels = np.argmax(X, axis=1)
    result = _fit(model, params, state, X, labels, loss="sparse_categorical_cross_entropy",
                  metrics=["accuracy"], validation_data=(X[:6], labels[:6]), batch_size=8,
                  verbose=2)
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy",
                                   "epoch_seconds"}
    assert all(len(v) == 2 for v in result.history.values())
    assert all(0.0 <= a <= 1.0 for a in result.history["accuracy"] + result.history["val_accuracy"])
    pred, _ = model.apply(result.params, result.state, X[:6])
    assert result.history["val_accuracy"][-1] == pytest.approx(
        float(jaxdl.metrics.accuracy(pred, labels[:6])))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2 ")
    assert all(f" {k}=" in lines[1] for k in ("loss", "accuracy", "val_loss", "val_accuracy"))


def test_validation_split_holds_out_the_tail():
    params, state = _zero_linear()
    x = X1
    y = X1.copy()
    y[-4:] += 10.0  # the tail is far off the line: a large validation loss
    result = _fit(LINEAR, params, state, x, y, optimizer=optax.adam(0.01), epochs=1,
                  batch_size=1, validation_split=0.25)
    assert int(result.opt_state[0].count) == 12  # trained on the 12 head examples only
    want = jaxdl.evaluate(LINEAR, result.params, result.state, x[-4:], y[-4:], loss="mse")
    assert result.history["val_loss"][0] == pytest.approx(want["loss"], rel=1e-6)
    assert result.history["val_loss"][0] > 50 and result.history["loss"][0] < 1


def test_early_stopping_stops_and_restores_best():
    # train towards y = x from w = 0; validation wants y = x / 2, so the validation loss
    # falls until w passes 0.5 (epoch 4), then rises (epochs 5 and 6)
    params, state = _zero_linear()
    kwargs = dict(optimizer=optax.sgd(0.2), batch_size=None, validation_data=(X1, 0.5 * X1))
    es = jaxdl.EarlyStopping(monitor="val_loss", patience=2)
    result = _fit(LINEAR, params, state, X1, X1, epochs=50, early_stopping=es, **kwargs)
    val = result.history["val_loss"]
    assert result.best_epoch == 4 == int(np.argmin(val)) + 1
    # Keras's patience: the second epoch in a row without improvement stops
    assert result.stopped_epoch == 6 < 50 and len(val) == 6
    pred, _ = LINEAR.apply(result.params, result.state, X1)
    assert float(losses.mse(pred, 0.5 * X1)) == pytest.approx(min(val), rel=1e-5)
    # the same run stopped at the best epoch ends at the same parameters
    best = _fit(LINEAR, params, state, X1, X1, epochs=4, **kwargs)
    assert _leaves_equal(result.params, best.params)
    # without restore_best the last parameters come back
    last = _fit(LINEAR, params, state, X1, X1, epochs=50, **kwargs,
                early_stopping=jaxdl.EarlyStopping(patience=2, restore_best=False))
    assert last.stopped_epoch == 6 and not _leaves_equal(last.params, best.params)


@pytest.mark.parametrize(
    "mode, min_delta, value, best, improved",
    [("min", 0.0, 0.9, 1.0, True), ("min", 0.0, 1.0, 1.0, False), ("min", 0.2, 0.9, 1.0, False),
     ("max", 0.0, 0.9, 0.8, True), ("max", 0.0, 0.7, 0.8, False), ("max", 0.1, 0.85, 0.8, False),
     ("min", 0.0, 5.0, None, True)],
)
def test_early_stopping_improved(mode, min_delta, value, best, improved):
    assert jaxdl.EarlyStopping(mode=mode, min_delta=min_delta).improved(value, best) is improved


@pytest.mark.parametrize(
    "kwargs, match",
    [({"mode": "up"}, r"^EarlyStopping: unknown mode='up'; allowed: 'min', 'max'$"),
     ({"patience": -1}, "EarlyStopping: patience must be >= 0"),
     ({"min_delta": -0.1}, "EarlyStopping: min_delta must be >= 0")],
)
def test_early_stopping_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxdl.EarlyStopping(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"metrics": ["f1"]}, r"fit: unknown metric='f1'; allowed: 'accuracy', 'binary_accuracy'"),
        ({"validation_split": 1.0}, r"fit: validation_split must be in \[0, 1\), got 1.0"),
        ({"validation_split": -0.1}, r"fit: validation_split must be in \[0, 1\)"),
        ({"validation_split": 0.01}, "leaves no train or validation examples out of 16"),
        ({"epochs": 0}, "fit: epochs must be >= 1, got 0"),
        ({"batch_size": 0}, "fit: batch_size must be >= 1 or None, got 0"),
        ({"early_stopping": jaxdl.EarlyStopping()},
         "fit: EarlyStopping monitors 'val_loss' but there is no validation_data"),
        ({"early_stopping": jaxdl.EarlyStopping(monitor="accuracy")},
         r"fit: EarlyStopping monitors 'accuracy'; available: loss"),
    ],
    ids=["metric", "split-1", "split-neg", "split-tiny", "epochs", "batch", "es-no-val",
         "es-unknown"],
)
def test_fit_bad_arguments(kwargs, match):
    params, state = _zero_linear()
    with pytest.raises(ValueError, match=match):
        _fit(LINEAR, params, state, X1, X1, **kwargs)


def test_fit_length_mismatch():
    params, state = _zero_linear()
    with pytest.raises(ValueError, match=r"fit: the columns must have the same length, got \{'x': 16, 'y': 15\}"):
        _fit(LINEAR, params, state, X1, X1[:15])


def test_make_train_step_unknown_metric():
    with pytest.raises(ValueError, match=r"unknown metric='f1'; allowed: 'accuracy'"):
        jaxdl.make_train_step(LINEAR, "mse", optax.sgd(0.1), metrics=["f1"])


# ------------------------------------------------------------ clipping and schedules


def test_clip_grad_norm_bounds_the_update():
    params, state = _zero_linear()
    y = X1 + 1e4  # a huge gradient
    lr, clip = 0.1, 1.0
    raw = jax.grad(lambda p: losses.mse(LINEAR.apply(p, state, X1)[0], y))(params)
    assert float(_norm(raw)) > 1000 * clip
    result = _fit(LINEAR, params, state, X1, y, optimizer=optax.sgd(lr), epochs=1,
                  batch_size=None, clip_grad_norm=clip)
    delta = jax.tree_util.tree_map(lambda a, b: a - b, result.params, params)
    assert float(_norm(delta)) == pytest.approx(lr * clip, rel=1e-5)
    unclipped = _fit(LINEAR, params, state, X1, y, optimizer=optax.sgd(lr), epochs=1,
                     batch_size=None)
    delta = jax.tree_util.tree_map(lambda a, b: a - b, unclipped.params, params)
    assert float(_norm(delta)) > 100 * lr * clip


def test_learning_rate_schedule():
    # learning rate 0.1 for two steps, then 0: the parameters stop moving
    params, state = _mlp()
    schedule = lambda count: jnp.where(count < 2, 0.1, 0.0)  # noqa: E731
    # shuffle=False: a reshuffled full batch sums the loss in another order (float rounding)
    result = _fit(MLP, params, state, X, Y, optimizer=optax.sgd(schedule), epochs=5,
                  batch_size=None, shuffle=False)
    loss = result.history["loss"]
    assert loss[1] < loss[0] and loss[2] < loss[1]
    assert loss[2] == loss[3] == loss[4]
    two = _fit(MLP, params, state, X, Y, optimizer=optax.sgd(0.1), epochs=2, batch_size=None,
               shuffle=False)
    chex.assert_trees_all_close(result.params, two.params, atol=1e-7)


# --------------------------------------------------------------------------- divergence


def test_diverged_on_first_step_keeps_initial_params():
    params, state = _mlp()
    y = Y.copy()
    y[5] = np.nan
    with pytest.raises(ValueError, match=r"fit: y holds a non-finite value nan at index \(5, 0\)"):
        _fit(MLP, params, state, X, y, batch_size=None, epochs=3)
    with pytest.raises(jaxdl.TrainingDivergedError,
                       match=r"fit: training diverged in epoch 1 at step 0") as info:
        _fit(MLP, params, state, X, y, batch_size=None, epochs=3, check_targets=False)
    e = info.value
    assert isinstance(e, FloatingPointError)
    assert e.epoch == 1 and e.step == 0 and e.history == {}
    chex.assert_tree_all_finite(e.params)
    assert _leaves_equal(e.params, params)


def test_diverged_after_some_epochs_keeps_last_good_params():
    params, state = _zero_linear()
    # |w| grows ~37x per step; NaN/inf only (no divergence bound)
    kwargs = dict(optimizer=optax.sgd(50.0), batch_size=None, divergence_factor=None)
    with pytest.raises(jaxdl.TrainingDivergedError) as info:
        _fit(LINEAR, params, state, X1, X1, epochs=100, **kwargs)
    e = info.value
    assert 3 < e.epoch < 100
    assert len(e.history["loss"]) == e.epoch - 1
    assert e.history["loss"][-1] > 1e10  # it was blowing up
    chex.assert_tree_all_finite(e.params)
    chex.assert_tree_all_finite(e.opt_state)
    before = _fit(LINEAR, params, state, X1, X1, epochs=e.epoch - 1, **kwargs)
    assert _leaves_equal(e.params, before.params)
    # the returned parameters are usable: a finite loss on the training data
    assert np.isfinite(jaxdl.evaluate(LINEAR, e.params, e.state, X1, X1, loss="mse")["loss"])


def test_divergence_bound_stops_a_blow_up_early():
    params, state = _zero_linear()
    with pytest.raises(jaxdl.TrainingDivergedError, match="divergence bound") as info:
        _fit(LINEAR, params, state, X1, X1, epochs=100, optimizer=optax.sgd(50.0),
             batch_size=None)
    assert info.value.epoch <= 4
    loss = jaxdl.evaluate(LINEAR, info.value.params, state, X1, X1, loss="mse")["loss"]
    assert loss <= 1e4 * 1.0


def test_diverged_params_have_a_finite_loss_on_the_training_data():
    # the reliability issue's case: inputs scaled by 100 and SGD at learning rate 1.0
    model = jaxdl.serial(jaxdl.Dense(16), jaxdl.Relu(), jaxdl.Dense(3))
    _, params, state = model.init(jax.random.key(0), (4,))
    x = np.asarray(jax.random.normal(jax.random.key(1), (120, 4))) * 100
    y = np.argmax(x[:, :3], axis=1).astype(np.int32)
    with pytest.raises(jaxdl.TrainingDivergedError) as info:
        jaxdl.fit(model, params, state, x, y, loss="sparse_categorical_cross_entropy",
                  optimizer=optax.sgd(1.0), epochs=20, batch_size=32, key=0, verbose=0)
    e = info.value
    chex.assert_tree_all_finite(e.params)
    loss = jaxdl.evaluate(model, e.params, e.state, x, y,
                          loss="sparse_categorical_cross_entropy")["loss"]
    assert np.isfinite(loss)


def test_finite_blow_up_is_reported():
    # Adam at learning rate 1e6: the loss stays finite but grows by orders of magnitude
    model = jaxdl.serial(jaxdl.Dense(16), jaxdl.Relu(), jaxdl.Dense(1))
    _, params, state = model.init(jax.random.key(0), (3,))
    with pytest.raises(jaxdl.TrainingDivergedError, match="divergence bound"):
        _fit(model, params, state, X, Y, optimizer=optax.adam(1e6), epochs=30, batch_size=8)
    # the user can raise the bound (or switch it off) and train on
    result = _fit(model, params, state, X, Y, optimizer=optax.adam(1e-2), epochs=3,
                  batch_size=8, divergence_factor=10.0)
    assert len(result.history["loss"]) == 3


def test_early_stopping_best_params_survive_divergence():
    params, state = _zero_linear()
    es = jaxdl.EarlyStopping(monitor="loss", patience=50)
    with pytest.raises(jaxdl.TrainingDivergedError) as info:
        _fit(LINEAR, params, state, X1, X1, epochs=100, optimizer=optax.sgd(50.0),
             batch_size=None, early_stopping=es, divergence_factor=None)
    e = info.value
    assert e.best_epoch is not None and e.best_params is not None
    history = e.history["loss"]
    assert e.best_epoch == int(np.argmin(history)) + 1
    best = _fit(LINEAR, params, state, X1, X1, epochs=e.best_epoch, optimizer=optax.sgd(50.0),
                batch_size=None)
    assert _leaves_equal(e.best_params, best.params)


def test_diverged_mid_epoch_keeps_the_params_before_the_bad_loss():
    # batches (0,1), (2,3), (4,5), (6,7): the third has a NaN target, so its loss is NaN;
    # the params that produced a bad loss are not returned: those before them are
    params, state = _mlp()
    x, y = X[:8], Y[:8].copy()
    y[5] = np.nan
    opt = optax.sgd(0.1)
    with pytest.raises(jaxdl.TrainingDivergedError) as info:
        _fit(MLP, params, state, x, y, optimizer=opt, batch_size=2, shuffle=False,
             check_targets=False)
    assert info.value.step == 2
    step = jaxdl.make_train_step(MLP, "mse", opt, donate=False)
    p, s, o = params, state, opt.init(params)
    p, s, o, _ = step(p, s, o, (x[0:2], y[0:2]), None)
    chex.assert_trees_all_close(info.value.params, p, atol=1e-6)
    assert not _leaves_equal(info.value.params, params)


def test_diverged_in_the_remainder_batch():
    params, state = _mlp()
    x, y = X[:7], Y[:7].copy()
    y[6] = np.nan  # only in the last, smaller batch
    with pytest.raises(jaxdl.TrainingDivergedError) as info:
        _fit(MLP, params, state, x, y, batch_size=2, shuffle=False, epochs=1,
             check_targets=False)
    assert info.value.step == 3
    good = _fit(MLP, params, state, x[:4], y[:4], batch_size=2, shuffle=False, epochs=1)
    chex.assert_trees_all_close(info.value.params, good.params, atol=1e-6)


# ------------------------------------------------ protocol 2: batches, keys, callbacks


def _masked_sequence_model():
    """A per-time-step model over (batch, time, 3) that zeroes padded steps via lengths."""

    def init(key, input_shape):
        return input_shape, {}, {}

    def apply(params, state, x, *, key=None, train=False, lengths=None):
        mask = jaxdl.length_mask(lengths, x.shape[-2])[..., None]
        return jnp.where(mask, x, 0.0), state

    zero_pad = jaxdl.Layer(init, apply, "zero_pad")
    return jaxdl.serial(zero_pad, jaxdl.Dense(1))


def test_batches_as_mappings_carry_lengths_and_mask():
    model = _masked_sequence_model()
    _, params, state = model.init(jax.random.key(0), (None, 3))
    x = np.asarray(jax.random.normal(jax.random.key(1), (6, 5, 3)))
    lengths = np.array([5, 3, 1, 4, 2, 5], np.int32)
    y = x.sum(-1, keepdims=True)
    y_padded = np.where(np.asarray(jaxdl.length_mask(lengths, 5))[..., None], y, 1e3)
    batch = {"x": x, "y": y_padded, "lengths": lengths,
             "mask": np.asarray(jaxdl.length_mask(lengths, 5))}
    opt = optax.sgd(0.05)
    step = jaxdl.make_train_step(model, "mse", opt, donate=False)
    _, _, _, m = step(params, state, opt.init(params), batch, None)
    # the loss sees only the valid steps: the 1e3 targets in the padding do not count
    pred, _ = model.apply(params, state, x, lengths=lengths)
    valid = np.asarray(jaxdl.length_mask(lengths, 5))
    want = np.mean(np.square(np.asarray(pred) - y)[valid])
    assert float(m["loss"]) == pytest.approx(want, rel=1e-5)
    # the same through fit and evaluate
    result = jaxdl.fit(model, params, state, batch, loss="mse", optimizer=opt, epochs=3,
                       batch_size=2, key=0, verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0] < 100
    scores = jaxdl.evaluate(model, result.params, result.state, batch, loss="mse")
    assert scores["loss"] < 100
    with pytest.raises(ValueError, match=r"train step: a batch mapping needs the columns 'x' "
                                         r"and 'y' .*got columns \['image', 'label'\]"):
        step(params, state, opt.init(params), {"image": x, "label": y}, None)


def test_fit_accepts_an_int_seed_like_a_key():
    params, state = _mlp()
    a = _fit(MLP, params, state, X, Y, key=3)
    b = _fit(MLP, params, state, X, Y, key=jax.random.key(3))
    assert _history(a) == _history(b)
    with pytest.raises(TypeError, match=r"fit: key must be a PRNG key .* or an int seed, got '3' \(str\)"):
        _fit(MLP, params, state, X, Y, key="3")


def test_fit_prints_one_line_per_epoch_without_a_terminal(capsys):
    params, state = _mlp()
    _fit(MLP, params, state, X, Y, epochs=3, verbose=1)  # pytest captures: not a terminal
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch ")]
    assert [l.split()[1] for l in lines] == ["1/3", "2/3", "3/3"]
    assert all("loss=" in l for l in lines)


def test_ctrl_c_keeps_the_completed_epochs():
    class InterruptAt:
        def on_epoch_end(self, info):
            if info.epoch == 3:
                raise KeyboardInterrupt
            return False

    params, state = _mlp()
    with pytest.raises(KeyboardInterrupt) as info:
        _fit(MLP, params, state, X, Y, epochs=10, callbacks=[InterruptAt()])
    assert isinstance(info.value, jaxdl.FitInterrupted)
    result = info.value.result
    assert result.stopped_epoch == 3 and len(result.history["loss"]) == 3
    three = _fit(MLP, params, state, X, Y, epochs=3)
    assert _leaves_equal(result.params, three.params)


def test_checkpoint_callback_saves_every_epoch_and_resumes(tmp_path):
    params, state = _mlp()
    opt = optax.adam(1e-2)
    path = tmp_path / "ckpt-{epoch}.msgpack"
    full = _fit(MLP, params, state, X, Y, epochs=4, optimizer=opt, shuffle=False,
                callbacks=[jaxdl.Checkpoint(path, every=2)])
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".msgpack") == [
        "ckpt-2.msgpack", "ckpt-4.msgpack"]
    saved = jaxdl.load_checkpoint(tmp_path / "ckpt-2.msgpack",
                                  target={"params": params, "state": state,
                                          "opt_state": opt.init(params)})
    assert saved["step"] == 2 and len(saved["history"]["loss"]) == 2
    rest = _fit(MLP, saved["params"], saved["state"], X, Y, epochs=2, optimizer=opt,
                opt_state=saved["opt_state"], shuffle=False)
    chex.assert_trees_all_close(rest.params, full.params, atol=1e-6)


@pytest.mark.parametrize(
    "loss, y, metrics, error, match",
    [
        ("sparse_categorical_cross_entropy", [0, 1, 3, 2], None, ValueError,
         r"fit: training targets: label 3 at index 2 is outside \[0, 3\)"),
        ("sparse_categorical_cross_entropy", [0, -1, 1, 2], None, ValueError,
         r"fit: training targets: label -1 at index 1 is outside \[0, 3\)"),
        ("sparse_categorical_cross_entropy", ["a", "b", "a", "c"], None, TypeError,
         r"fit: y must be numeric, got dtype <U1 \(first value np.str_\('a'\)\)"),
        ("softmax_cross_entropy", [[1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1]], None,
         ValueError, r"fit: training targets: row 2 sums to 2, not 1"),
        ("binary_cross_entropy_with_logits", [[0, 0, 1], [1, 0, 2], [0, 0, 0], [1, 1, 1]],
         None, ValueError, r"fit: training targets: target 2.0 at index \(1, 2\) is not in \[0, 1\]"),
        ("hinge", [[1, -1, 1], [0, 1, 1], [1, 1, 1], [-1, -1, 1]], None, ValueError,
         r"fit: training targets: target 0.0 at index \(1, 0\) is not -1 or \+1"),
        ("mse", [0, 1, 5, 2], ["accuracy"], ValueError,
         r"fit: training targets: label 5 at index 2 is outside \[0, 3\)"),
    ],
    ids=["label-too-big", "label-negative", "string-labels", "one-hot-row", "binary-2",
         "hinge-0", "accuracy-metric"],
)
def test_fit_names_bad_targets(loss, y, metrics, error, match):
    model = jaxdl.Dense(3)
    _, params, state = model.init(jax.random.key(0), (3,))
    y = np.asarray(y)
    if y.dtype.kind == "f" or (y.ndim == 2):
        y = y.astype(np.float32)
    x = X[:4]
    if loss == "mse":
        y = y.astype(np.int32)
    with pytest.raises(error, match=match):
        jaxdl.fit(model, params, state, x, y, loss=loss, optimizer=optax.sgd(0.1), epochs=1,
                  key=0, metrics=metrics, verbose=0)


def test_fit_names_nonfinite_inputs():
    x = X.copy()
    x[7, 2] = np.inf
    params, state = _mlp()
    with pytest.raises(ValueError, match=r"fit: x holds a non-finite value inf at index \(7, 2\)"):
        _fit(MLP, params, state, x, Y)


def test_optimizer_as_a_string_says_how_to_make_one():
    with pytest.raises(TypeError, match=r"make_train_step: optimizer must be an Optax "
                                        r"GradientTransformation, got the string 'adam'.*"
                                        r"optax.adam\(1e-3\)"):
        jaxdl.make_train_step(MLP, "mse", "adam")
    params, state = _mlp()
    with pytest.raises(TypeError, match=r"^fit: optimizer must be an Optax"):
        _fit(MLP, params, state, X, Y, optimizer="adam")


def test_make_train_step_errors_name_make_train_step():
    with pytest.raises(ValueError, match=r"^make_train_step: unknown loss='mse_loss'.*did you "
                                         r"mean 'mse'\?"):
        jaxdl.make_train_step(MLP, "mse_loss", optax.sgd(0.1))
    with pytest.raises(ValueError, match=r"^make_train_step: unknown metric='acuracy'.*did you "
                                         r"mean 'accuracy'\?"):
        jaxdl.make_train_step(MLP, "mse", optax.sgd(0.1), metrics=["acuracy"])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 2.5}, TypeError, r"fit: batch_size must be an int or None, got 2.5"),
        ({"batch_size": True}, TypeError, r"fit: batch_size must be an int or None, got True"),
        ({"clip_grad_norm": -1.0}, ValueError, r"fit: clip_grad_norm must be > 0 or None, got -1.0"),
        ({"epochs": "3"}, TypeError, r"fit: epochs must be an int, got '3'"),
        ({"verbose": 3}, ValueError, r"fit: verbose must be in \[0, 2\], got 3"),
        ({"shuffle": "no"}, TypeError, r"fit: shuffle must be True or False, got 'no'"),
        ({"early_stopping": "val_loss"}, TypeError, r"fit: early_stopping must be a jaxdl.EarlyStopping"),
        ({"callbacks": [print]}, TypeError, r"fit: each callback needs an on_epoch_end"),
        ({"divergence_factor": 0.5}, ValueError, r"fit: divergence_factor must be >= 1 or None"),
    ],
    ids=["batch-float", "batch-bool", "clip-negative", "epochs-str", "verbose", "shuffle",
         "early-stopping", "callback", "divergence"],
)
def test_fit_checks_its_options(kwargs, error, match):
    params, state = _zero_linear()
    with pytest.raises(error, match=match):
        _fit(LINEAR, params, state, X1, X1, **kwargs)


def test_predict_batches_the_whole_dataset():
    params, state = _mlp()
    out = jaxdl.predict(MLP, params, state, X, batch_size=5)  # 24 = 4 x 5 + 4
    chex.assert_shape(out, (24, 1))
    chex.assert_trees_all_close(out, MLP.apply(params, state, X)[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"predict: batch_size must be >= 1, got 0"):
        jaxdl.predict(MLP, params, state, X, batch_size=0)


def test_early_stopping_is_a_pure_state_machine():
    rule = jaxdl.EarlyStopping(monitor="val_accuracy", mode="max", patience=2)
    s0 = rule.init()
    s1 = rule.update(s0, 1, 0.5)
    s2 = rule.update(s1, 2, 0.5)
    s3 = rule.update(s2, 3, 0.4)
    assert s0 == jaxdl.training.EarlyStoppingState()
    assert (s1.best, s1.best_epoch, s1.wait, s1.stop) == (0.5, 1, 0, False)
    assert (s2.wait, s2.stop) == (1, False) and (s3.wait, s3.stop) == (2, True)
    assert rule.update(s1, 2, 0.5) == s2  # no hidden state: same input, same output
    with pytest.raises(TypeError, match=r"EarlyStopping: patience must be an int, got '3'"):
        jaxdl.EarlyStopping(patience="3")


def test_masked_means_count_selected_elements_across_batches():
    # batches with different numbers of valid steps: the dataset mean is over all valid steps
    model = _masked_sequence_model()
    _, params, state = model.init(jax.random.key(0), (None, 3))
    x = np.asarray(jax.random.normal(jax.random.key(1), (6, 5, 3)))
    lengths = np.array([5, 5, 1, 1, 2, 4], np.int32)
    mask = np.asarray(jaxdl.length_mask(lengths, 5))
    y = np.asarray(jax.random.normal(jax.random.key(2), (6, 5, 1)))
    pred, _ = model.apply(params, state, x, lengths=lengths)
    want = np.mean(np.square(np.asarray(pred) - y)[mask])
    batch = {"x": x, "y": y, "lengths": lengths, "mask": mask}
    got = jaxdl.evaluate(model, params, state, batch, loss="mse", batch_size=2)["loss"]
    assert got == pytest.approx(want, rel=1e-5)
    # fit's history uses the same weighting (SGD at learning rate 0: the params stay put)
    result = jaxdl.fit(model, params, state, batch, loss="mse", optimizer=optax.sgd(0.0),
                       epochs=1, batch_size=2, key=0, verbose=0, shuffle=False)
    assert result.history["loss"][0] == pytest.approx(want, rel=1e-5)


def test_predict_compiles_once_per_model():
    params, state = _mlp()
    jaxdl.predict(MLP, params, state, X, batch_size=8)
    from jaxdl.training import steps
    before = steps._jitted_predict.cache_info().hits
    jaxdl.predict(MLP, params, state, X, batch_size=8)
    assert steps._jitted_predict.cache_info().hits == before + 1
