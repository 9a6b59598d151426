"""experiments.seq2seq_addition at a tiny budget: the encoder-decoder learns to add, greedy
decoding agrees with teacher forcing, and the held-out pairs are really held out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments import seq2seq_addition as s2s

pytestmark = pytest.mark.usefixtures("private_data_dir")


def test_splits_are_disjoint_as_unordered_pairs() -> None:
    pairs = s2s.split_pairs(2, {"test": 500, "val": 300, "train": 4000}, seed=3)
    keys = {name: {(min(a, b), max(a, b)) for a, b in p.tolist()} for name, p in pairs.items()}
    assert [len(k) for k in keys.values()] == [500, 300, 4000]   # no pair twice in a split
    assert not keys["test"] & keys["train"] and not keys["val"] & keys["train"]
    assert not keys["test"] & keys["val"]
    assert pairs["test"].min() >= 0 and pairs["test"].max() <= 99
    again = s2s.split_pairs(2, {"test": 500, "val": 300, "train": 4000}, seed=3)
    assert all(np.array_equal(pairs[k], again[k]) for k in pairs)   # seeded


def test_encoding_is_teacher_forcing_with_an_end_token() -> None:
    pairs = np.array([[123, 45], [7, 999], [0, 0]])
    d = s2s.encode(pairs, 3, reverse_source=True)
    vocab = s2s.VOCAB
    assert vocab.decode(d["src"], d["src_len"]) == ["54+321", "999+7", "0+0"]
    assert vocab.decode(d["tgt"]) == ["168.", "1006.", "0."]
    assert vocab.decode(d["dec_in"]) == ["=168", "=1006", "=0"]
    # the decoder's input at step t is the target at step t-1, behind the start token
    step = d["mask"][:, 1:]
    assert np.array_equal(d["dec_in"][:, 1:][step], d["tgt"][:, :-1][step])
    assert (d["dec_in"][:, 0] == s2s.START_ID).all()
    assert d["mask"].sum(1).tolist() == [4, 5, 2]                   # digits + end token
    forward = s2s.encode(pairs, 3, reverse_source=False)
    assert vocab.decode(forward["src"], forward["src_len"]) == ["123+45", "7+999", "0+0"]
    assert s2s.to_text(d["tgt"]) == ["168", "1006", "0"]
    assert s2s.to_text(np.array([[5, 5, 5, 5, 5]])) == ["33333?"]   # never ended


@pytest.mark.slow
def test_learns_two_digit_addition(tmp_path: Path) -> None:
    r = s2s.run(seed=0, digits=2, n_train=4000, n_val=300, n_test=500, epochs=EPOCHS_SMALL,
                hidden=HIDDEN_SMALL, batch_size=64, out=tmp_path)
    # far above chance (about 0.01 at the first evaluation) on sums it never saw
    assert r["test_exact_match"] >= 0.9, r["test_exact_match"]
    assert r["history"]["val_exact_match"][0] < 0.3
    assert r["history"]["loss"][-1] < 0.5 * r["history"]["loss"][0]
    # greedy decoding is exactly right iff every teacher-forced step is: the same number
    for split in ("train", "val", "test"):
        assert r[f"{split}_exact_match"] == r[f"{split}_teacher_forced_exact_match"]
        assert 0.0 <= r[f"{split}_char_accuracy"] <= 1.0
    assert r["test_wrong"] == round((1 - r["test_exact_match"]) * 500)
    assert r["train_steps"] == EPOCHS_SMALL * (4000 // 64)
    assert Path(r["plot"]).is_file()


EPOCHS_SMALL = 16
HIDDEN_SMALL = 48


@pytest.mark.parametrize("kwargs, error, word", [
    ({"digits": 4}, ValueError, "digits"),
    ({"digits": 0}, ValueError, "digits"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 2.5}, TypeError, "epochs"),
    ({"hidden": -1}, ValueError, "hidden"),
    ({"batch_size": 10**6}, ValueError, "batch_size"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate"),
    ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
    ({"learning_rate": "fast"}, TypeError, "learning_rate"),
    ({"reverse_source": 1}, TypeError, "reverse_source"),
    ({"digits": 1, "n_train": 50, "n_val": 5, "n_test": 5, "batch_size": 8}, ValueError,
     "n_train"),
    ({"seed": True}, TypeError, "seed"),
])
def test_bad_arguments(kwargs: dict, error: type, word: str) -> None:
    with pytest.raises(error, match=rf"seq2seq_addition\.run: .*{word}"):
        s2s.run(**kwargs)
