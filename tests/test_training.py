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
    return {"w": jnp.zeros((1, 1)), "b": jnp.zeros(1)}, ()


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
    assert not params[0]["w"].is_deleted()
    donating = jaxdl.make_train_step(MLP, "mse", opt)
    donating(params, state, opt.init(params), (X, Y), None)
    assert params[0]["w"].is_deleted()  # "the arrays passed in are invalid afterwards"


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


def test_train_step_skip_nonfinite():
    params, state = _mlp()
    opt = optax.sgd(0.1)
    step = jaxdl.make_train_step(MLP, "mse", opt, donate=False, skip_nonfinite=True)
    bad_y = Y.copy()
    bad_y[3] = np.nan
    new, _, _, m = step(params, state, opt.init(params), (X, bad_y), None)
    assert bool(m["nonfinite"])
    assert _leaves_equal(new, params)
    new, _, _, m = step(params, state, opt.init(params), (X, Y), None)
    assert not bool(m["nonfinite"]) and not _leaves_equal(new, params)


def test_train_step_uses_no_deprecated_optax_api():
    params, state = _mlp()
    opt = optax.sgd(0.1)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=DeprecationWarning, module="optax")
        step = jaxdl.make_train_step(MLP, "mse", opt, donate=False, skip_nonfinite=True)
        step(params, state, opt.init(params), (X, Y), None)


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
    with pytest.raises(ValueError, match="fit: x and y must have the same length, got 16 and 15"):
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
    with pytest.raises(jaxdl.TrainingDivergedError,
                       match=r"fit: the loss or gradient became NaN/inf in epoch 1") as info:
        _fit(MLP, params, state, X, y, batch_size=None, epochs=3)
    e = info.value
    assert isinstance(e, FloatingPointError)
    assert e.epoch == 1 and e.history == {}
    chex.assert_tree_all_finite(e.params)
    assert _leaves_equal(e.params, params)


def test_diverged_after_some_epochs_keeps_last_good_params():
    params, state = _zero_linear()
    kwargs = dict(optimizer=optax.sgd(50.0), batch_size=None)  # |w| grows ~37x per step
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


def test_diverged_mid_epoch_skips_the_rest_of_the_epoch():
    # batches (0,1), (2,3), (4,5), (6,7): the third has a NaN target; the fourth must not
    # be applied either
    params, state = _mlp()
    x, y = X[:8], Y[:8].copy()
    y[5] = np.nan
    opt = optax.sgd(0.1)
    with pytest.raises(jaxdl.TrainingDivergedError) as info:
        _fit(MLP, params, state, x, y, optimizer=opt, batch_size=2, shuffle=False)
    step = jaxdl.make_train_step(MLP, "mse", opt, donate=False)
    p, s, o = params, state, opt.init(params)
    for lo in (0, 2):
        p, s, o, _ = step(p, s, o, (x[lo:lo + 2], y[lo:lo + 2]), None)
    chex.assert_trees_all_close(info.value.params, p, atol=1e-6)
    assert not _leaves_equal(info.value.params, params)


def test_diverged_in_the_remainder_batch():
    params, state = _mlp()
    x, y = X[:7], Y[:7].copy()
    y[6] = np.nan  # only in the last, smaller batch
    with pytest.raises(jaxdl.TrainingDivergedError) as info:
        _fit(MLP, params, state, x, y, batch_size=2, shuffle=False, epochs=1)
    good = _fit(MLP, params, state, x[:6], y[:6], batch_size=2, shuffle=False, epochs=1)
    chex.assert_trees_all_close(info.value.params, good.params, atol=1e-6)
