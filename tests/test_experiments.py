"""The experiments reach their headline figures (in-process), and their CLIs end with RESULT."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# prepared datasets go to a temporary folder, not the user's ~/tensorflow_datasets
pytestmark = pytest.mark.usefixtures("private_data_dir")


def test_backprop_example_reproduces_the_course(tmp_path: Path) -> None:
    from experiments import backprop_example

    r = backprop_example.run(steps=10, out=tmp_path)
    assert f"{r['e_total']:.9f}" == "0.298371109"
    assert f"{r['de_dw5']:.9f}" == "0.082167041"
    assert f"{r['w5_updated']:.8f}" == "0.35891648"
    assert f"{r['de_dout_o1']:.8f}" == "0.74136507"
    assert f"{r['dout_o1_dnet_o1']:.9f}" == "0.186815602"
    assert f"{r['dnet_o1_dw5']:.9f}" == "0.593269992"
    assert Path(r["plot"]).is_file()


def test_logic_gates() -> None:
    from experiments import logic_gates

    r = logic_gates.run(epochs=300)
    assert r["perceptron_and_accuracy"] == 1.0
    assert r["perceptron_or_accuracy"] == 1.0
    assert r["perceptron_xor_accuracy"] <= 0.75  # a single perceptron cannot separate XOR
    assert not r["perceptron_xor_converged"]
    assert r["mlp_xor_accuracy"] == 1.0
    assert r["fixed_and_accuracy"] == 1.0 and r["fixed_or_accuracy"] == 1.0


def test_iris_mlp_reaches_its_figure() -> None:
    from experiments import iris_mlp

    r = iris_mlp.run(seed=0)
    assert r["test_accuracy"] >= 0.93, r["test_accuracy"]


def test_digits_mlp_reaches_its_figure() -> None:
    from experiments import digits_mlp

    r = digits_mlp.run(seed=0)
    assert r["test_accuracy"] >= 0.95, r["test_accuracy"]
    assert r["epochs_run"] <= 100


# The image experiments at a tiny budget: the effects they exist to show, in seconds.
# Their full default runs (and figures) are the slow CLI tests below.


@pytest.mark.slow
def test_init_strategies_zero_and_constant_init_never_break_symmetry() -> None:
    from experiments import init_strategies

    r = init_strategies.run(epochs=2, n_train=1000, activations=("relu",))
    assert r["zeros_symmetric"] and r["constant_symmetric"]
    stats = r["stats"]
    for init in ("small_normal", "xavier", "he"):  # random inits do break it
        assert stats[("relu", init)]["max_unit_difference"] > 1e-3
    # small random weights: the signal and the first layers' gradients vanish with depth
    small, he = stats[("relu", "small_normal")], stats[("relu", "he")]
    assert small["activation_std"][-1] < 1e-4 * small["activation_std"][0]
    assert small["grad_norm"][0] < 1e-3 * he["grad_norm"][0]
    assert he["test_accuracy"] > 0.5 > small["test_accuracy"]
    with pytest.raises(ValueError, match="init_strategies.run: activations"):
        init_strategies.run(activations=("softsign",))


def test_overfitting_shows_the_signature(tmp_path: Path) -> None:
    from experiments import overfitting

    r = overfitting.run(epochs=15, n_train=300, variants=("baseline", "early_stopping"),
                        out=tmp_path)
    # baseline: training loss near zero while the validation loss climbs past its best
    assert r["baseline_final_train_loss"] < 0.1
    assert r["baseline_final_val_loss"] > 1.2 * r["baseline_best_val_loss"]
    assert r["baseline_best_epoch"] < r["baseline_epochs_run"]
    # early stopping keeps the best epoch's weights
    assert r["early_stopping_final_val_loss"] == pytest.approx(
        r["early_stopping_best_val_loss"], rel=1e-4)
    assert Path(r["plot"]).is_file()


@pytest.mark.slow
def test_mlp_vs_cnn_counts_the_course_parameters() -> None:
    from experiments import mlp_vs_cnn

    r = mlp_vs_cnn.run(epochs=1, n_train=1000)
    assert r["course_mlp_weights"] == 12288 * 1000 + 1000 * 500 + 500 * 2 == 12_789_000
    assert r["course_256_weights"] == 196608 * 1000 + 3 * 1000 * 1000 + 1000 * 1000
    assert r["course_cnn_params"] < r["course_mlp_params"] / 100
    assert r["mlp_params"] == 101_770 and r["cnn_params"] == 105_866
    assert r["mlp_test_accuracy"] > 0.5 and r["cnn_test_accuracy"] > 0.5


@pytest.mark.slow
def test_fashion_cnn_learns_at_a_tiny_budget() -> None:
    from experiments import fashion_cnn

    r = fashion_cnn.run(epochs=2, n_train=2000, widths=(8, 8, 32), batch_size=64)
    assert r["test_accuracy"] > 0.6, r["test_accuracy"]
    assert r["n_params"] == 80 + 584 + 392 * 32 + 32 + 330


def test_evaluate_classifier_passes_the_lengths_on() -> None:
    # a many-to-one LSTM whose padded steps hold large values: scored without the lengths,
    # it would read the padding; with a mapping split, the lengths reach the model
    import types

    import jax
    import numpy as np

    import jaxdl
    from experiments import _common

    model = jaxdl.serial(jaxdl.RNN(jaxdl.LSTM(4), return_sequences=False), jaxdl.Dense(2))
    _, params, state = model.init(jax.random.key(0), (6, 1))
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 7, 64)
    x = rng.normal(size=(64, 6, 1)).astype(np.float32)
    x[np.arange(6)[None, :] >= lengths[:, None]] = 50.0
    logits = jaxdl.predict(model, params, state, x, lengths=lengths)
    y = np.asarray(logits.argmax(-1))                   # the masked model is always right
    fitted = types.SimpleNamespace(params=params, state=state)
    split = {"x": x, "y": y, "lengths": lengths}
    scores, confusion = _common.evaluate_classifier(
        model, fitted, {"test": split}, loss="sparse_categorical_cross_entropy",
        class_names=("a", "b"), say=lambda *a: None)
    assert scores["test"]["accuracy"] == 1.0 and np.trace(confusion) == 64
    unmasked, _ = _common.evaluate_classifier(
        model, fitted, {"test": (x, y)}, loss="sparse_categorical_cross_entropy",
        class_names=("a", "b"), say=lambda *a: None)
    assert unmasked["test"]["accuracy"] < 1.0         # the padding changes the answers


@pytest.mark.slow
@pytest.mark.parametrize("name", ["backprop_example", "logic_gates", "iris_mlp", "digits_mlp",
                                  "init_strategies", "overfitting", "mlp_vs_cnn",
                                  "fashion_cnn", "vanishing_gradients", "timeseries",
                                  "seq2seq_addition", "sentiment_lstm", "char_rnn",
                                  "recommender", "karate_gcn",
                                  "friend_suggestions", "autoencoder", "dbn",
                                  "video_motion"])
def test_cli_ends_with_result_line(name: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, "-m", f"experiments.{name}", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"RESULT name={name}( [a-z0-9_]+=\S+)+", last), last
    assert list(tmp_path.glob("*.png")), "no plot saved"
