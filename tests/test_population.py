"""Tests of ``jaxdl.population``: per-example gradients and clipping, and populations
trained in one program (each member equal to its own ``fit``, a diverged member isolated)."""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl import population as pop_lib

KEY = jax.random.key(0)
SCE = "sparse_categorical_cross_entropy"


def _mlp(drop_rate: Any = 0.5) -> jaxdl.Layer:
    return jaxdl.serial(jaxdl.Dense(5), jaxdl.Tanh(), jaxdl.Dropout(drop_rate), jaxdl.Dense(3))


def _classes(n: int, features: int = 4, seed: int = 1) -> tuple[jax.Array, jax.Array]:
    x = jax.random.normal(jax.random.key(seed), (n, features))
    y = (jnp.sum(x[:, :2], axis=-1) > 0).astype(jnp.int32) + (x[:, 2] > 1.0).astype(jnp.int32)
    return x, y


def _take(tree: Any, i: int) -> Any:
    return jax.tree_util.tree_map(lambda a: a[i], tree)


# ======================================================================= per-example


def test_per_example_grads_equal_the_grads_of_single_example_losses():
    model = _mlp(0.0)
    _, params, state = model.init(KEY, (4,))
    x, y = _classes(6)
    loss = jaxdl.losses.sparse_categorical_cross_entropy

    @jax.jit
    def single(p, xi, yi):  # the gradient of one example's loss, as a batch of one
        return jax.grad(lambda p: loss(model.apply(p, state, xi[None])[0], yi[None]))(p)

    grads = jax.jit(lambda p: jaxdl.per_example_grads(model, SCE, p, state, (x, y),
                                                      train=False))(params)
    assert grads["dense"]["w"].shape == (6, 4, 5) and grads["dense_1"]["b"].shape == (6, 3)
    for i in range(6):
        chex.assert_trees_all_close(_take(grads, i), single(params, x[i], y[i]), atol=1e-6)
    # their mean is the batch gradient (every example weighs the same)
    batch_grad = jax.jit(jax.grad(lambda p: loss(model.apply(p, state, x)[0], y)))(params)
    mean = jax.tree_util.tree_map(lambda g: g.mean(0), grads)
    chex.assert_trees_all_close(mean, batch_grad, atol=1e-6)

    # the train step: the mean of the clipped per-example gradients, through Optax (the
    # dropout rate is 0, so training mode changes nothing)
    opt = optax.chain(jaxdl.per_example_clipping(0.5), optax.sgd(0.1))
    step = jaxdl.make_per_example_train_step(model, SCE, opt, metrics=["accuracy"],
                                             donate=False)
    new_p, new_s, _, m = step(params, state, opt.init(params), (x, y), KEY)
    clipped = jax.tree_util.tree_map(lambda g: g.mean(0), jaxdl.clip_per_example(grads, 0.5))
    chex.assert_trees_all_close(new_p, jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params,
                                                              clipped), atol=1e-6)
    assert new_s == state and sorted(m) == ["accuracy", "loss"]
    pred = model.apply(params, state, x)[0]
    np.testing.assert_allclose(float(m["loss"]), float(loss(pred, y)), rtol=1e-5)
    np.testing.assert_allclose(float(m["accuracy"]), float(jaxdl.metrics.accuracy(pred, y)))
    # an optimiser that does not aggregate the per-example axis is refused (at tracing)
    plain = jaxdl.make_per_example_train_step(model, SCE, optax.sgd(0.1), donate=False)
    with pytest.raises(ValueError, match=r"^make_per_example_train_step: the optimizer returned "
                                         r"updates of shapes .*per-example aggregator"):
        plain(params, state, optax.sgd(0.1).init(params), (x, y), KEY)


def _zero_beyond_lengths() -> jaxdl.Layer:
    """Zeroes the time steps at or after each sequence's length: ``(*batch, T, F)``."""

    def init(key, input_shape):
        return input_shape, {}, {}

    def apply(params, state, x, *, key=None, train=False, lengths=None):
        if lengths is None:
            return x, state
        return jnp.where(jaxdl.length_mask(lengths, x.shape[-2])[..., None], x,
                         jnp.zeros_like(x)), state

    return jaxdl.Layer(init, apply, "zero_beyond", label="ZeroBeyondLengths")


def test_per_example_grads_pass_each_example_its_length_and_mask():
    model = jaxdl.serial(jaxdl.Dense(3), jaxdl.Tanh(), _zero_beyond_lengths(), jaxdl.Dense(1))
    _, params, state = model.init(KEY, (None, 2))
    x = jax.random.normal(KEY, (4, 5, 2))
    y = jax.random.normal(jax.random.key(3), (4, 5, 1))
    lengths = jnp.array([1, 5, 3, 2])
    mask = jaxdl.length_mask(lengths, 5)[..., None]  # (4, 5, 1), the loss's elements
    batch = {"x": x, "y": y, "lengths": lengths, "mask": mask}
    grads_of = jax.jit(lambda b: jaxdl.per_example_grads(model, "mse", params, state, b))
    grads = grads_of(batch)

    @jax.jit
    def single(p, xi, yi, li, mi):
        def f(p):
            pred, _ = model.apply(p, state, xi[None], lengths=li[None])
            return jaxdl.losses.mse(pred, yi[None], where=mi[None])
        return jax.grad(f)(p)

    for i in range(4):
        chex.assert_trees_all_close(_take(grads, i),
                                    single(params, x[i], y[i], lengths[i], mask[i]), atol=1e-6)
    # the lengths matter: a sequence of length 1 ignores its later steps
    shorter = dict(batch, lengths=jnp.array([5, 5, 3, 2]), mask=jnp.ones_like(mask))
    other = grads_of(shorter)
    assert not np.allclose(other["dense"]["w"][0], grads["dense"]["w"][0])
    chex.assert_trees_all_close(_take(other, 1), _take(grads, 1), atol=1e-6)


def test_per_example_clipping_bounds_every_norm_and_keeps_directions():
    g = {"a": jax.random.normal(KEY, (6, 3, 2)) * jnp.array([0.01, 0.1, 1, 5, 30, 0])[:, None,
                                                                                      None],
         "b": jax.random.normal(jax.random.key(1), (6, 4))}
    g["b"] = g["b"].at[5].set(0.0)  # example 5: a zero gradient stays zero
    norms_of = jax.jit(jax.vmap(optax.tree.norm))
    norms = np.asarray(norms_of(g))
    clipped = jax.jit(jaxdl.clip_per_example)(g, 1.0)
    new = np.asarray(norms_of(clipped))
    assert np.all(new <= 1.0 + 1e-6)
    np.testing.assert_allclose(new, np.minimum(norms, 1.0), rtol=1e-5, atol=1e-7)
    for i in range(6):  # each example scaled by one factor: its direction is kept
        scale = min(1.0, 1.0 / norms[i]) if norms[i] else 1.0
        chex.assert_trees_all_close(_take(clipped, i),
                                    jax.tree_util.tree_map(lambda a: a * scale, _take(g, i)),
                                    rtol=1e-5, atol=1e-7)
    assert np.all(np.asarray(clipped["a"][5]) == 0) and np.all(np.asarray(clipped["b"][5]) == 0)
    # the Optax piece: the mean of the clipped gradients, as Optax's own sum / n
    mean, _ = jax.jit(jaxdl.per_example_clipping(1.0).update)(g, optax.EmptyState())
    total, clipped_count = jax.jit(optax.per_example_global_norm_clip)(
        jax.tree_util.tree_leaves(g), 1.0)
    chex.assert_trees_all_close(jax.tree_util.tree_leaves(mean),
                                [t / 6 for t in total], rtol=1e-5, atol=1e-7)
    assert int(clipped_count) == int(np.sum(norms > 1.0))


# ======================================================================= populations


def test_population_members_equal_their_own_fit_and_a_diverged_member_is_isolated():
    x, y = _classes(48)
    xv, yv = _classes(20, seed=2)
    traced_calls: list[str] = []

    def make_model(hp):
        if isinstance(hp["drop_rate"], jax.core.Tracer):
            traced_calls.append(type(hp["drop_rate"]).__name__)
        return _mlp(hp["drop_rate"])

    # member 1 diverges (a learning rate of 1e8); members 0 and 2 differ in every setting
    hp = {"learning_rate": [0.2, 1e8, 0.05], "momentum": [0.9, 0.9, 0.0],
          "drop_rate": [0.3, 0.0, 0.6]}
    epochs = 3
    r = jaxdl.fit_population(make_model, SCE, optax.sgd, hp, x, y, epochs=epochs,
                             batch_size=16, key=3, validation_data=(xv, yv),
                             metrics=["accuracy"])
    # one program for the whole population: make_model is traced once for the init, once for
    # the epoch and once for the step-by-step replay that found the divergence, whatever
    # the number of members (3) and epochs (3)
    assert len(traced_calls) == 3, traced_calls
    assert r.members == 3 and r.history["val_accuracy"].shape == (3, epochs)
    assert r.params["dense"]["w"].shape == (3, 4, 5)
    np.testing.assert_array_equal(r.diverged, [False, True, False])
    assert len(set(np.round(r.history["loss"][[0, 2], -1], 5))) == 2  # two different runs
    init_keys, fit_keys = pop_lib.member_keys(3, 3)
    for i in (0, 1):  # member 2 runs in the same program as member 0
        h = {k: v[i] for k, v in hp.items()}
        model = _mlp(h["drop_rate"])
        _, p, s = model.init(init_keys[i], (4,))
        args = dict(loss=SCE, optimizer=optax.sgd(h["learning_rate"], momentum=h["momentum"]),
                    epochs=epochs, batch_size=16, key=fit_keys[i], validation_data=(xv, yv),
                    metrics=["accuracy"], verbose=0)
        member = r.member(i)
        if i == 0:  # a healthy member trains exactly as its own fit, the diverged one beside it
            f = jaxdl.fit(model, p, s, x, y, **args)
            chex.assert_trees_all_close(member.params, f.params, atol=1e-5, rtol=1e-5)
            for k, v in member.history.items():
                np.testing.assert_allclose(v, f.history[k], rtol=1e-5, atol=1e-6, err_msg=k)
            assert member.stopped_epoch == epochs
        else:  # the diverged one is reported as fit reports it, with its last good params
            with pytest.raises(jaxdl.TrainingDivergedError) as e:
                jaxdl.fit(model, p, s, x, y, **args)
            assert (r.diverged_epoch[i], r.diverged_step[i]) == (e.value.epoch, e.value.step)
            chex.assert_trees_all_close(member.params, e.value.params, atol=1e-5, rtol=1e-5)
            assert member.stopped_epoch == e.value.epoch - 1
            assert np.all(np.isnan(r.history["loss"][i, e.value.epoch - 1:]))
            assert all(bool(jnp.all(jnp.isfinite(a)))
                       for a in jax.tree_util.tree_leaves(member.params))
    np.testing.assert_allclose(r.final("val_accuracy")[[0, 2]],
                               r.history["val_accuracy"][[0, 2], -1])


@pytest.mark.slow
def test_an_ensemble_of_seeds_in_shared_order():
    # no hyperparameters vary: members=, one shared optimiser; shared_order gives every
    # member the same batches and dropout keys (those of fit_keys[0])
    x, y = _classes(40)
    r = jaxdl.fit_population(lambda hp: _mlp(0.4), SCE, optax.adam(0.01), {}, x, y, epochs=2,
                             batch_size=8, key=5, members=2, shared_order=True)
    data = np.asarray(jax.random.key_data(r.fit_keys))
    assert data.shape == (2, 2) and np.all(data == data[:1]) and r.hparams == {}
    w = np.asarray(r.params["dense"]["w"])
    assert w.shape == (2, 4, 5) and not np.allclose(w[0], w[1])  # own initial keys
    init_keys, fit_keys = pop_lib.member_keys(5, 2)
    model = _mlp(0.4)
    _, p, s = model.init(init_keys[1], (4,))
    f = jaxdl.fit(model, p, s, x, y, loss=SCE, optimizer=optax.adam(0.01), epochs=2,
                  batch_size=8, key=fit_keys[0], verbose=0)
    chex.assert_trees_all_close(r.member(1).params, f.params, atol=1e-5, rtol=1e-5)


# ======================================================================= bad input


def _fit(hparams: Any, make_model: Any = None, make_optimizer: Any = optax.sgd,
         **kw: Any) -> Any:
    x, y = _classes(8)
    make_model = make_model or (lambda hp: _mlp(hp.get("drop_rate", 0.0)))
    kw = {"epochs": 1, "key": 0, **kw}
    return jaxdl.fit_population(make_model, SCE, make_optimizer, hparams, x, y, **kw)


@pytest.mark.parametrize("call, error, match", [
    (lambda: _fit({"learning_rate": [0.1, 0.2, 0.3], "drop_rate": [0.1, 0.2]}), ValueError,
     r"^fit_population: every hyperparameter needs one value per member, got arrays of "
     r"different lengths \{'learning_rate': 3, 'drop_rate': 2\}"),
    (lambda: _fit({"learnig_rate": [0.1, 0.2]}), ValueError,
     r"^fit_population: unknown hyperparameter 'learnig_rate': make_optimizer \(sgd\) takes "
     r"learning_rate, momentum, .*and make_model read none; did you mean "
     r"'learning_rate'\?"),
    (lambda: _fit({"learning_rate": [0.1], "dropout_rate": [0.2]},
                  make_model=lambda hp: _mlp(hp["drop_rate"])), ValueError,
     r"^fit_population: make_model read hparams\['drop_rate'\], which is not given; given: "
     r"'learning_rate', 'dropout_rate'; did you mean 'dropout_rate'\?"),
    (lambda: _fit({"momentum": [0.5, 0.9]}), ValueError,
     r"^fit_population: make_optimizer \(sgd\) needs learning_rate, which the hyperparameters "
     r"do not give.*functools.partial\(sgd, learning_rate=...\)"),
    (lambda: _fit({"learning_rate": [0.1], "batch_size": [16]}), ValueError,
     r"^fit_population: 'batch_size' cannot vary inside one population"),
    (lambda: _fit({"learning_rate": [0.1, 0.2], "units": [4, 8]},
                  make_model=lambda hp: jaxdl.serial(jaxdl.Dense(hp["units"]), jaxdl.Dense(3))),
     TypeError, r"^fit_population: make_model failed on traced hyperparameters \(Dense: units "
                r"must be an int.*cannot vary inside one population"),
    (lambda: _fit({"learning_rate": [0.1, 0.1, 0.1], "drop_rate": [0.1, 0.2, 1.5]}), ValueError,
     r"^fit_population: member 2 \(learning_rate=0.1.*drop_rate=1.5\): Dropout: drop_rate must "
     r"be in \[0, 1\)"),
    (lambda: _fit({}), ValueError, r"^fit_population: no hyperparameters vary, so give members="),
    (lambda: _fit({"learning_rate": [0.1, 0.2]}, members=3), ValueError,
     r"^fit_population: members=3 but the hyperparameter arrays have length 2"),
    (lambda: _fit({"learning_rate": []}), ValueError, r"^fit_population: the hyperparameter "
                                                      r"arrays are empty"),
    (lambda: _fit({"learning_rate": [[0.1, 0.2]]}), ValueError,
     r"^fit_population: hparams\['learning_rate'\] must be 1-D, one value per member.*got "
     r"shape \(1, 2\)"),
    (lambda: _fit({"learning_rate": [0.1, float("nan")]}), ValueError,
     r"^fit_population: hparams\['learning_rate'\] must be finite, got nan for member 1"),
    (lambda: _fit({"learning_rate": 0.1}), TypeError,
     r"^fit_population: hparams\['learning_rate'\] must be a 1-D array with one value per "
     r"member, got 0.1"),
    (lambda: _fit({"learning_rate": ["0.1"]}), TypeError,
     r"^fit_population: hparams\['learning_rate'\] must be real numbers"),
    (lambda: _fit([0.1, 0.2]), TypeError, r"^fit_population: hparams must be a dict"),
    (lambda: _fit({"learning_rate": [0.1]}, make_model=_mlp(0.1)), TypeError,
     r"^fit_population: make_model must be a function hparams -> Layer"),
    (lambda: _fit({"learning_rate": [0.1]}, make_model=lambda hp: "mlp"), TypeError,
     r"^fit_population: make_model\(hparams\) must return a jaxdl Layer, got 'mlp'"),
    (lambda: _fit({"learning_rate": [0.1]}, make_optimizer="sgd"), TypeError,
     r"^fit_population: make_optimizer must be an Optax optimizer factory"),
    (lambda: _fit({"learning_rate": [0.1, 0.2]}, key=jax.random.split(KEY, 3)), ValueError,
     r"^member_keys: a key array must hold one key per member, shape \(2,\), got shape \(3,\)"),
    (lambda: jaxdl.clip_per_example({"w": jnp.ones((3, 2))}, 0.0), ValueError,
     r"^clip_per_example: max_norm must be > 0, got 0.0"),
    (lambda: jaxdl.clip_per_example({"w": jnp.ones((3, 2)), "b": jnp.ones((2,))}, 1.0),
     ValueError, r"^clip_per_example: per-example grads need one leading batch axis on every "
                 r"leaf, got leaf shapes \[\(2,\), \(3, 2\)\]"),
    (lambda: jaxdl.per_example_grads(_mlp(), "mse", {}, {}, (jnp.ones((0, 4)), jnp.ones((0, 3)))),
     ValueError, r"^per_example_grads: the batch holds no examples"),
    (lambda: jaxdl.per_example_clipping(-1.0), ValueError,
     r"^per_example_clipping: max_norm must be > 0, got -1.0"),
], ids=["lengths", "unknown-name", "model-reads-missing", "optimizer-needs", "reserved",
        "shape-changing", "bad-member-value", "no-members", "members-mismatch", "empty",
        "2-d", "nan", "scalar", "strings", "not-a-dict", "layer-not-function", "not-a-layer",
        "optimizer-string", "key-array", "clip-zero", "clip-ragged", "empty-batch",
        "clipping-negative"])
def test_bad_input_names_the_function_and_the_value(call, error, match):
    with pytest.raises(error, match=match):
        call()
