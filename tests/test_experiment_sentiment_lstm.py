"""experiments.sentiment_lstm at a tiny budget: the BiLSTM learns polarity, the padding is
masked, the vocabulary comes from the training split only, and bad arguments are refused.

The full default run (test accuracy >= 0.75) is the slow CLI test in test_experiments.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import jaxdl
from experiments import sentiment_lstm

pytestmark = pytest.mark.usefixtures("private_data_dir")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small BiLSTM on 3,000 training sentences for 4 epochs (about 30 s of CPU, mostly
    compilation; test accuracy 0.66 to 0.69 on seeds 0..2)."""
    out = tmp_path_factory.mktemp("sentiment_lstm")
    return sentiment_lstm.run(seed=0, epochs=4, n_train=3000, embed_dim=32, hidden=32,
                              learning_rate=5e-3, out=out)


@pytest.mark.slow
def test_small_bilstm_learns_polarity(small_run: dict[str, Any]) -> None:
    r = small_run
    assert r["n_train"] == 3000 and r["n_val"] == 1066 and r["n_test"] == 1066
    # the classes are balanced, so always answering one of them scores 0.5
    assert abs(r["majority_accuracy"] - 0.5) < 0.01
    assert r["test_accuracy"] >= 0.62, r["test_accuracy"]
    assert r["train_accuracy"] > r["test_accuracy"]       # a small set: it fits its own data
    assert r["confusion"].shape == (2, 2) and r["confusion"].sum() == r["n_test"]
    assert np.trace(r["confusion"]) == round(r["test_accuracy"] * r["n_test"])
    assert 1 <= r["best_epoch"] <= r["epochs_run"] <= 4
    assert Path(r["plot"]).is_file() and Path(r["confusion_plot"]).is_file()
    assert len(r["examples"]) >= 6
    assert all(0.0 <= ex["p_positive"] <= 1.0 for ex in r["examples"])


@pytest.mark.slow
def test_padding_is_masked(small_run: dict[str, Any]) -> None:
    """A sentence scores the same whatever it is padded to, because its length travels with
    it; without the lengths the padding would be read as words."""
    r = small_run
    model, params, state, vocab = r["model"], r["params"], r["state"], r["vocab"]
    texts = [ex["text"] for ex in r["examples"][:6]]
    short = [" ".join(t.split()[:12]) for t in texts]
    p60 = sentiment_lstm.predict_texts(model, params, state, vocab, short, max_length=60,
                                       batch_size=8)
    p12 = sentiment_lstm.predict_texts(model, params, state, vocab, short, max_length=12,
                                       batch_size=8)
    np.testing.assert_allclose(p60, p12, atol=1e-5)
    ids, lengths = vocab.encode(short, max_length=60)
    assert lengths.max() <= 12
    unmasked = np.asarray(jaxdl.predict(model, params, state, ids, batch_size=8))  # no lengths
    masked = np.asarray(jaxdl.predict(model, params, state, ids, lengths=lengths, batch_size=8))
    assert np.max(np.abs(unmasked - masked)) > 1e-3


def test_vocabulary_comes_from_the_training_split_only() -> None:
    splits, vocab, texts = sentiment_lstm.load_splits(0, min_count=2, n_train=500)
    counts: dict[str, int] = {}
    for t in texts["train"]:
        for w in t.split():
            counts[w] = counts.get(w, 0) + 1
    assert set(vocab.tokens[2:]) == {w for w, c in counts.items() if c >= 2}
    # test words never seen twice in those 500 training sentences are <unk>
    assert np.mean(splits["test"]["x"][splits["test"]["x"] > 0] == jaxdl.data.UNK_ID) > 0.1
    for part in splits.values():
        assert part["x"].dtype == np.int32 and part["x"].shape[1] == sentiment_lstm.MAX_LENGTH
        assert np.all(part["lengths"] >= 1)
        assert np.all((part["x"] > 0).sum(1) == part["lengths"])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "sentiment_lstm.run: epochs"),
    ({"hidden": 8.0}, TypeError, "sentiment_lstm.run: hidden"),
    ({"drop_rate": 1.0}, ValueError, "sentiment_lstm.run: drop_rate"),
    ({"learning_rate": -1e-3}, ValueError, "sentiment_lstm.run: learning_rate"),
    ({"pooling": "mean"}, ValueError, "sentiment_lstm.run: pooling"),
    ({"n_train": "100"}, TypeError, "sentiment_lstm.run: n_train"),
    ({"min_count": 0}, ValueError, "sentiment_lstm.run: min_count"),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception],
                                   match: str) -> None:
    with pytest.raises(error, match=match):
        sentiment_lstm.run(**kwargs)
