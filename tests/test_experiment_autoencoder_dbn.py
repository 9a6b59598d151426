"""experiments.autoencoder and experiments.dbn: their effects at a tiny budget, and their
argument checks."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl

# prepared datasets go to a temporary folder, not the user's ~/tensorflow_datasets
pytestmark = pytest.mark.usefixtures("private_data_dir")


# ------------------------------------------------------------------- autoencoder

def test_vae_layer_and_loss() -> None:
    from experiments import autoencoder

    model = autoencoder.vae((16,), 3)
    out_shape, params, state = model.init(jax.random.key(0), (784,))
    assert out_shape == ((6,), (784,))
    x = jax.random.uniform(jax.random.key(1), (5, 784))
    (stats, logits), _ = model.apply(params, state, x)                 # evaluation: z = μ
    (stats2, logits2), _ = model.apply(params, state, x, key=jax.random.key(2), train=True)
    assert stats.shape == (5, 6) and logits.shape == (5, 784)
    np.testing.assert_allclose(stats, stats2)                           # same encoder
    assert not np.allclose(logits, logits2)                             # z was sampled
    with pytest.raises(ValueError, match="needs a PRNG key"):
        model.apply(params, state, x, train=True)
    # the loss: Bernoulli cross-entropy summed over pixels + KL, mean over the batch
    bce = jaxdl.losses.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    mean, log_var = stats[:, :3], stats[:, 3:]
    kl = 0.5 * jnp.sum(jnp.exp(log_var) + mean ** 2 - 1.0 - log_var, axis=-1)
    np.testing.assert_allclose(autoencoder.vae_loss((stats, logits), x),
                               jnp.mean(bce + kl), rtol=1e-5)


@pytest.mark.slow
def test_autoencoders_reconstruct_denoise_and_give_codes(tmp_path: Path) -> None:
    from experiments import autoencoder

    r = autoencoder.run(epochs=5, n_train=8000, n_test=500, n_labels=200, subsets=1,
                        hidden=(64,), code=16, noise=0.5, batch_size=64, out=tmp_path)
    for m in ("ae", "dae", "vae"):
        # far better than the mean image: the code carries the image
        assert r[f"{m}_test_mse"] < 0.4 * r["mean_image_test_mse"], (m, r)
        assert r[f"{m}_linear_test_accuracy"] > 0.6, (m, r)
    # masking half the pixels hurts the plain AE; the DAE, trained on such inputs, fills
    # the holes in
    ae_damage = r["ae_test_masked_mse"] / r["ae_test_mse"] - 1
    dae_damage = r["dae_test_masked_mse"] / r["dae_test_mse"] - 1
    assert dae_damage < 0.5 * ae_damage, (ae_damage, dae_damage)
    assert r["dae_test_masked_mse"] < r["ae_test_masked_mse"]
    # the ELBO's two terms
    assert 0.0 < r["vae_test_kl"] < r["vae_test_neg_elbo"]
    assert r["pixels_linear_test_accuracy"] > 0.6
    assert r["samples"].shape == (40, 784)
    assert np.all((r["samples"] >= 0) & (r["samples"] <= 1))
    for key in ("plot_reconstructions", "plot_samples", "plot_interpolation", "plot_curves",
                "plot_probe"):
        assert Path(r[key]).is_file()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "autoencoder.run: epochs"),
    ({"code": "32"}, TypeError, "autoencoder.run: code"),
    ({"noise": 1.0}, ValueError, "autoencoder.run: noise"),
    ({"n_labels": 500, "n_train": 100}, ValueError, "autoencoder.run: n_train"),
    ({"subsets": 0}, ValueError, "autoencoder.run: subsets"),
    ({"hidden": [256]}, ValueError, "autoencoder.run: hidden"),
])
def test_autoencoder_refuses_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    from experiments import autoencoder

    with pytest.raises(error, match=match):
        autoencoder.run(**kwargs)


# ---------------------------------------------------------------------------- dbn

def test_rbm_epoch_lowers_the_reconstruction_error() -> None:
    from experiments import dbn

    rng = np.random.default_rng(0)                 # 4 binary prototypes, 5 % of bits flipped
    prototypes = rng.random((4, 20)) < 0.5
    v = prototypes[rng.integers(0, 4, 400)] ^ (rng.random((400, 20)) < 0.05)
    v = v.astype(np.float32)
    params, history = dbn.pretrain_rbm(8, v[:300], v[300:], epochs=10, key=jax.random.key(1),
                                       batch_size=10, learning_rate=0.1)
    err = history["val_reconstruction_error"]
    assert len(err) == 11 and err[-1] < 0.4 * err[0], err   # 0.184 -> 0.045
    assert params["w"].shape == (20, 8)


@pytest.mark.slow
def test_the_dbn_is_the_pretrained_stack() -> None:
    from experiments import dbn

    v = jax.random.uniform(jax.random.key(0), (300, 784))
    stack, histories = dbn.pretrain_stack((16, 8), np.asarray(v[:200]), np.asarray(v[200:]),
                                          epochs=1, key=jax.random.key(1))
    model = dbn.dbn_model((16, 8))
    _, params, state = model.init(jax.random.key(2), (784,))
    params = dbn.with_pretrained(model, params, stack)   # what run() fine-tunes from
    hidden = jaxdl.serial(*model.children[:2])           # the two RBM layers
    h, _ = hidden.apply({k: params[k] for k in ("rbm", "rbm_1")}, {}, v)
    expected = jaxdl.rbm.hidden_probabilities(
        stack[1], jaxdl.rbm.hidden_probabilities(stack[0], v))
    np.testing.assert_allclose(h, expected, rtol=1e-6)
    assert model.apply(params, state, v)[0].shape == (300, 10)
    assert [len(h["reconstruction_error"]) for h in histories] == [2, 2]


@pytest.mark.slow
def test_dbn_pretrains_and_fine_tunes_at_a_tiny_budget(tmp_path: Path) -> None:
    from experiments import dbn

    r = dbn.run(epochs=4, hidden=(64, 32), n_train=8000, n_test=1000, n_labels=200,
                subsets=1, finetune_epochs=60, out=tmp_path)
    for i in (1, 2):
        h = r[f"rbm{i}_history"]["val_reconstruction_error"]
        assert h[-1] < 0.6 * h[0], (i, h)               # CD-1 learns the data
        assert r[f"rbm{i}_test_reconstruction_error"] < 0.6 * h[0]
    assert r["dbn_test_accuracy"] > 0.6, r["dbn_test_accuracies"]
    assert r["random_init_test_accuracy"] > 0.6, r["random_init_test_accuracies"]
    for key in ("plot_filters", "plot_pretraining", "plot_finetuning", "plot_gibbs"):
        assert Path(r[key]).is_file()


@pytest.mark.slow
def test_pretraining_helps_with_few_labels() -> None:
    # the headline, the default run (about 160 CPU-seconds): on each of the three labelled
    # subsets of 1,000 images, the fine-tuned DBN beats the same MLP from random weights
    # on the 10,000 test images (measured: 0.8196 vs 0.8057 on average)
    from experiments import dbn

    r = dbn.run()
    assert r["dbn_wins"] == 3, (r["dbn_test_accuracies"], r["random_init_test_accuracies"])
    assert r["dbn_test_accuracy"] > r["random_init_test_accuracy"] + 0.005


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "dbn.run: epochs"),
    ({"hidden": (500, 0)}, ValueError, "dbn.run: hidden"),
    ({"n_labels": 2.5}, TypeError, "dbn.run: n_labels"),
    ({"subsets": 0}, ValueError, "dbn.run: subsets"),
    ({"n_labels": 6000}, ValueError, "dbn.run: n_labels"),
])
def test_dbn_refuses_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    from experiments import dbn

    with pytest.raises(error, match=match):
        dbn.run(**kwargs)
