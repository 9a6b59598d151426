"""Tests for jaxdl.data's batching, on-device feeding, splits, preprocessing and text.

None of these need files: they run on small synthetic arrays (and scikit-learn's iris
for the data-source iterator).
"""

from __future__ import annotations

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl.data as jd
from jaxdl.data import _iterators, _preprocess, _split, _text


def _data(n: int = 103) -> dict[str, np.ndarray]:
    return {"x": np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32),
            "y": np.arange(n) % 7, "id": np.arange(n)}


def _epoch_ids(data, batch_size, **kw) -> list[np.ndarray]:
    return [np.asarray(b["id"]) for b in jd.batches(data, batch_size, **kw)]


# ------------------------------------------------------------------ host iterator


@pytest.mark.parametrize("batch_size", [1, 10, 103, 500])
def test_every_example_once_per_epoch(batch_size: int) -> None:
    data = _data()
    for epoch in range(3):
        ids = np.concatenate(_epoch_ids(data, batch_size, key=1, epoch=epoch))
        assert sorted(ids.tolist()) == list(range(103))


def test_batches_keep_columns_aligned() -> None:
    data = _data()
    for b in jd.batches(data, 16, key=3):
        np.testing.assert_array_equal(b["x"][:, 0], b["id"].astype(np.float32))
        np.testing.assert_array_equal(b["y"], b["id"] % 7)


def test_order_changes_between_epochs_and_repeats_for_a_seed() -> None:
    data = _data()
    e0 = np.concatenate(_epoch_ids(data, 10, key=5, epoch=0))
    e1 = np.concatenate(_epoch_ids(data, 10, key=5, epoch=1))
    again = np.concatenate(_epoch_ids(data, 10, key=5, epoch=0))
    other = np.concatenate(_epoch_ids(data, 10, key=6, epoch=0))
    assert not np.array_equal(e0, e1)
    assert not np.array_equal(e0, other)
    np.testing.assert_array_equal(e0, again)
    assert not np.array_equal(e0, np.arange(103))


def test_jax_keys_are_accepted_and_deterministic() -> None:
    data = _data()
    a = _epoch_ids(data, 10, key=jax.random.key(42), epoch=2)
    b = _epoch_ids(data, 10, key=jax.random.key(42), epoch=2)
    c = _epoch_ids(data, 10, key=jax.random.PRNGKey(42), epoch=2)
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


def test_drop_remainder_and_len() -> None:
    data = _data()
    it = jd.batches(data, 10, key=0, drop_remainder=True)
    assert len(it) == 10
    sizes = [len(b["id"]) for b in it]
    assert sizes == [10] * 10 and len(it) == 0
    assert [len(b["id"]) for b in jd.batches(data, 10, key=0)] == [10] * 10 + [3]
    assert jd.num_batches(103, 10) == 11 and jd.num_batches(103, 10, drop_remainder=True) == 10


def test_unshuffled_batches_are_views_in_order() -> None:
    data = _data()
    batches = list(jd.batches(data, 50, shuffle=False))
    np.testing.assert_array_equal(np.concatenate([b["id"] for b in batches]), np.arange(103))
    assert np.shares_memory(batches[0]["x"], data["x"])


def test_batches_over_a_data_source(tmp_path) -> None:
    ds = jd.source("iris", data_dir=tmp_path)
    full = ds.to_arrays()
    seen = []
    for b in jd.batches(ds, 32, key=0, epoch=1):
        assert b["features"].shape[1:] == (4,) and b["features"].dtype == np.float32
        seen.append(b["features"])
    np.testing.assert_array_equal(np.sort(np.concatenate(seen), axis=0),
                                  np.sort(full["features"], axis=0))
    # The same batches as over the in-memory columns (same permutation).
    ref = next(iter(jd.batches(full, 32, key=0, epoch=1)))
    first = next(iter(jd.batches(ds, 32, key=0, epoch=1)))
    np.testing.assert_array_equal(first["features"], ref["features"])


def test_batches_over_a_generic_sequence_of_examples() -> None:
    examples = [{"a": np.full(2, i), "b": i} for i in range(9)]

    class Seq:
        def __len__(self):
            return len(examples)

        def __getitem__(self, i):
            return examples[i]

    out = list(jd.batches(Seq(), 4, shuffle=False))
    assert [b["a"].shape for b in out] == [(4, 2), (4, 2), (1, 2)]
    assert out[1]["b"].tolist() == [4, 5, 6, 7]


def test_prefetch_to_device_gives_the_same_batches() -> None:
    data = _data()
    host = list(jd.batches(data, 16, key=9, epoch=4))
    it = jd.batches(data, 16, key=9, epoch=4, prefetch_to_device=3)
    assert len(it) == len(host)
    dev = list(it)
    assert len(dev) == len(host)
    for h, d in zip(host, dev):
        assert isinstance(d["x"], jax.Array)
        np.testing.assert_array_equal(np.asarray(d["x"]), h["x"])
    wrapped = list(jd.prefetch_to_device(iter(host), 2))
    np.testing.assert_array_equal(np.asarray(wrapped[-1]["id"]), host[-1]["id"])


def test_prefetch_rejects_text_columns() -> None:
    data = {"text": np.array(["a", "b"]), "label": np.array([0, 1])}
    with pytest.raises(ValueError, match="text"):
        list(jd.batches(data, 1, shuffle=False, prefetch_to_device=True))


def test_bad_arguments_raise_value_errors() -> None:
    data = _data()
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        jd.batches(data, 0, key=0)
    with pytest.raises(ValueError, match="needs key="):
        jd.batches(data, 4)
    with pytest.raises(ValueError, match="different lengths"):
        jd.batches({"a": np.zeros(3), "b": np.zeros(4)}, 2, key=0)
    with pytest.raises(ValueError, match="key must be >= 0"):
        jd.batches(data, 2, key=-1)
    with pytest.raises(ValueError, match="epoch must be"):
        jd.batches(data, 2, key=0, epoch=-1)
    with pytest.raises(ValueError, match="non-empty dict"):
        jd.batches({}, 2, key=0)
    with pytest.raises(ValueError, match="scalar"):
        jd.batches({"a": np.float32(1.0)}, 2, key=0)


def test_edge_values_that_are_valid() -> None:
    # an empty dataset gives no batches; prefetch_to_device=0 means no prefetching
    assert list(jd.batches({"x": np.zeros((0, 3))}, 4, key=0)) == []
    assert jd.num_batches(0, 4) == 0 and len(jd.epoch_permutation(0, key=0)) == 0
    b = next(iter(jd.batches(_data(), 8, shuffle=False, prefetch_to_device=0)))
    assert isinstance(b["x"], np.ndarray)
    # an int seed is the same key everywhere: device_permutation(0, ...) == key(0)
    np.testing.assert_array_equal(np.asarray(jd.device_permutation(0, 20, 1)),
                                  np.asarray(jd.device_permutation(jax.random.key(0), 20, 1)))
    # a perm over the first m <= n examples: a subset of the data
    sub = jd.device_batch(jd.to_device({"x": np.arange(10)}), jnp.arange(4), 1, 2)
    np.testing.assert_array_equal(np.asarray(sub["x"]), [2, 3])


def test_epoch_permutation_is_a_permutation() -> None:
    p = jd.epoch_permutation(1000, key=123, epoch=7)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(1000))
    np.testing.assert_array_equal(p, jd.epoch_permutation(1000, key=123, epoch=7))


# ------------------------------------------------------------------ on device


def test_device_batches_cover_an_epoch_inside_jit() -> None:
    data = _data(96)
    on_device = jd.to_device(data)
    perm = jd.device_permutation(jax.random.key(0), 96, 3)
    gather = jax.jit(lambda arrays, p, step: jd.device_batch(arrays, p, step, 16))
    ids = [np.asarray(gather(on_device, perm, s)["id"]) for s in range(96 // 16)]
    assert sorted(np.concatenate(ids).tolist()) == list(range(96))
    np.testing.assert_array_equal(ids[1], np.asarray(perm)[16:32])
    b = gather(on_device, perm, 2)
    np.testing.assert_array_equal(np.asarray(b["x"])[:, 0], np.asarray(b["id"]).astype(np.float32))


def test_device_permutation_changes_with_the_epoch() -> None:
    key = jax.random.key(1)
    p0, p1 = jd.device_permutation(key, 50, 0), jd.device_permutation(key, 50, 1)
    assert not np.array_equal(np.asarray(p0), np.asarray(p1))
    np.testing.assert_array_equal(np.asarray(p0), np.asarray(jd.device_permutation(key, 50, 0)))


def test_a_jitted_epoch_with_fori_loop() -> None:
    """The docstring's pattern: a whole epoch of SGD on a linear model as one compiled loop."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    w_true = np.array([1.0, -2.0, 0.5], np.float32)
    data = jd.to_device({"x": x, "y": x @ w_true})
    steps, batch_size = 256 // 32, 32

    @jax.jit
    def train_epoch(w, key, epoch):
        perm = jd.device_permutation(key, 256, epoch)

        def body(step, w):
            batch = jd.device_batch(data, perm, step, batch_size)
            grad = jax.grad(lambda w: jnp.mean((batch["x"] @ w - batch["y"]) ** 2))(w)
            return w - 0.1 * grad

        return jax.lax.fori_loop(0, steps, body, w)

    w = jnp.zeros(3)
    for epoch in range(20):
        w = train_epoch(w, jax.random.key(0), epoch)
    np.testing.assert_allclose(np.asarray(w), w_true, atol=1e-3)


def test_device_errors() -> None:
    with pytest.raises(ValueError, match="text"):
        jd.to_device({"t": np.array(["a"])})
    on_device = jd.to_device({"a": np.arange(4)})
    with pytest.raises(ValueError, match="exceeds the number of examples"):
        jd.device_batch(on_device, jnp.arange(4), 0, 8)
    with pytest.raises(ValueError, match="static int"):
        jd.device_batch(on_device, jnp.arange(4), 0, 0)


# ------------------------------------------------------------------ splits


def test_train_val_test_split_partitions_deterministically() -> None:
    data = _data(1000)
    a = jd.train_val_test_split(data, seed=3)
    b = jd.train_val_test_split(data, seed=3)
    c = jd.train_val_test_split(data, seed=4)
    assert [len(p["id"]) for p in a] == [800, 100, 100]
    ids = np.concatenate([p["id"] for p in a])
    assert sorted(ids.tolist()) == list(range(1000))
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p["id"], q["id"])
    assert not np.array_equal(a.test["id"], c.test["id"])
    np.testing.assert_array_equal(a.train["x"][:, 0], a.train["id"].astype(np.float32))
    assert (np.diff(a.validation["id"]) > 0).all()


def test_stratified_split_keeps_class_proportions() -> None:
    labels = np.repeat([0, 1, 2], [500, 300, 200])
    data = {"label": labels, "i": np.arange(1000)}
    train, val, test = jd.train_val_test_split(data, fractions=(0.6, 0.2, 0.2), seed=0,
                                               stratify="label")
    assert np.bincount(val["label"]).tolist() == [100, 60, 40]
    assert np.bincount(test["label"]).tolist() == [100, 60, 40]
    assert np.bincount(train["label"]).tolist() == [300, 180, 120]
    tr2, _, _ = jd.train_val_test_split(data, fractions=(0.6, 0.2, 0.2), seed=0,
                                        stratify=labels)
    np.testing.assert_array_equal(train["i"], tr2["i"])


def test_split_errors() -> None:
    data = _data(10)
    with pytest.raises(ValueError, match="summing to 1"):
        jd.train_val_test_split(data, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="stratify column 'nope'"):
        jd.train_val_test_split(data, stratify="nope")
    with pytest.raises(ValueError, match="seed must be"):
        jd.split_indices(10, seed=-2)
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        jd.split_indices(10, stratify=np.zeros(3))


# ------------------------------------------------------------------ preprocessing


def test_one_hot() -> None:
    out = jd.one_hot(np.array([[0, 2], [1, 1]]), 3)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(-1), [[0, 2], [1, 1]])
    assert out.sum() == 4
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        jd.one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="integers"):
        jd.one_hot(np.array([0.5]), 3)


def test_scale_to_unit() -> None:
    img = np.array([0, 128, 255], np.uint8)
    np.testing.assert_allclose(jd.scale_to_unit(img), [0, 128 / 255, 1], rtol=1e-6)
    np.testing.assert_allclose(jd.scale_to_unit(np.array([0.0, 8.0, 16.0]), high=16.0),
                               [0, 0.5, 1])
    np.testing.assert_allclose(jd.scale_to_unit(np.array([2.0, 4.0])), [0, 1])
    with pytest.raises(ValueError, match="high > low"):
        jd.scale_to_unit(np.array([1.0, 1.0]))


def test_channel_mean_std_and_standardize() -> None:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(1000, 4, 4, 3)) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.0]).astype(np.float32)
    mean, std = jd.channel_mean_std(x, chunk=128)
    np.testing.assert_allclose(mean, x.reshape(-1, 3).mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, x.reshape(-1, 3).std(0), rtol=1e-5)
    z = jd.standardize(x, mean, std)
    np.testing.assert_allclose(z.reshape(-1, 3).mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.reshape(-1, 3).std(0), 1.0, rtol=1e-4)
    m, s = jd.channel_mean_std(np.arange(10, dtype=np.uint8)[:, None, None], channel_axis=None)
    assert m.shape == () and np.isclose(m, 4.5)
    with pytest.raises(ValueError, match="expected 3 channels"):
        jd.standardize(x, mean[:2], std[:2])


# ------------------------------------------------------------------ text


def test_vocabulary_from_training_text_only() -> None:
    train = ["the film is good", "the film is bad", "good good"]
    test = ["the plot is awful"]
    vocab = jd.build_vocabulary(train)
    assert vocab.tokens[:2] == ("<pad>", "<unk>") and vocab.pad_id == 0 and vocab.unk_id == 1
    assert vocab.tokens[2] == "good"  # most frequent first
    assert "plot" not in vocab.tokens
    ids, lengths = vocab.encode(test)
    assert ids.dtype == np.int32 and ids.shape == (1, 4) and lengths.tolist() == [4]
    assert ids[0, 1] == jd.UNK_ID and ids[0, 3] == jd.UNK_ID
    assert vocab.decode(ids) == ["the <unk> is <unk>"]


def test_encoding_pads_truncates_and_reports_lengths() -> None:
    vocab = jd.build_vocabulary(["a b c d e"])
    ids, lengths = vocab.encode(["a b", "a b c d e", ""], max_length=3)
    assert ids.shape == (3, 3) and lengths.tolist() == [2, 3, 0]
    assert ids[0, 2] == jd.PAD_ID and (ids[2] == 0).all()
    assert vocab.decode(ids, lengths) == ["a b", "a b c", ""]
    ids, lengths = vocab.encode(np.array(["e d", "a"]))  # NumPy unicode column
    assert ids.shape == (2, 2) and lengths.tolist() == [2, 1]


def test_character_vocabulary() -> None:
    vocab = jd.build_vocabulary(["Hello"], level="char", lowercase=True)
    assert set(vocab.tokens[2:]) == {"h", "e", "l", "o"} and vocab.tokens[2] == "l"
    ids, lengths = vocab.encode(["HELP"])
    assert lengths.tolist() == [4] and ids[0, 3] == jd.UNK_ID
    assert vocab.decode(ids, lengths) == ["hel<unk>"]


def test_vocabulary_size_limits_and_errors() -> None:
    vocab = jd.build_vocabulary(["a a a b b c"], max_size=4)
    assert vocab.tokens == ("<pad>", "<unk>", "a", "b") and len(vocab) == 4
    assert jd.build_vocabulary(["a a b"], min_count=2).tokens == ("<pad>", "<unk>", "a")
    with pytest.raises(ValueError, match="level must be one of"):
        jd.build_vocabulary(["a"], level="byte")
    with pytest.raises(ValueError, match="max_size must be >= 2"):
        jd.build_vocabulary(["a"], max_size=1)
    with pytest.raises(ValueError, match="max_length must be an int >= 1"):
        vocab.encode(["a"], max_length=0)
    with pytest.raises(ValueError, match="must start with"):
        jd.Vocabulary(("a", "b"))


def test_text_pipeline_on_rt_polarity_shape() -> None:
    """Vocabulary on a train split, encode the rest: the shapes a text model consumes."""
    texts = np.array(["a fine film .", "not good", "a film", "dull , dull ."])
    labels = np.array([1, 0, 1, 0])
    train, _, test = jd.train_val_test_split({"text": texts, "label": labels},
                                             fractions=(0.5, 0.0, 0.5), seed=0)
    vocab = jd.build_vocabulary(train["text"])
    ids, lengths = vocab.encode(test["text"], max_length=8)
    assert ids.shape == (2, 8) and lengths.shape == (2,)
    batch = next(iter(jd.batches({"ids": ids, "lengths": lengths, "label": test["label"]},
                                 2, key=0)))
    assert batch["ids"].shape == (2, 8)


# ------------------------------------------------------------------ docstring examples


@pytest.mark.parametrize("module", [_iterators, _preprocess, _split, _text])
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
                             extraglobs={"np": np, "jax": jax})
    assert result.failed == 0 and result.attempted > 0
