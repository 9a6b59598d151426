"""Bad arguments to every public call of jaxdl.data: each raises a TypeError or ValueError
whose message starts with the function's name and shows the value received.

One case per bad argument: a wrong type, an out-of-range value, mismatched lengths, an
unknown name with a typo (answered with "did you mean ...?"). Nothing here needs the raw
files in shared/data: the loading cases use scikit-learn's bundled iris.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl.data as jd


class Case(NamedTuple):
    call: Callable[[Path], Any]   # gets the session's data directory (iris prepared)
    error: type[Exception]
    prefix: str                   # the message starts with this (the function's name)
    shown: str                    # ... and contains this (the value received)


DATA = {"x": np.arange(10.0), "y": np.arange(10) % 2}
ON_DEVICE = {"x": jnp.arange(6.0)}
VOCAB = jd.Vocabulary(("<pad>", "<unk>", "a", "b"))
LOAD, SOURCE, PREPARE = "jaxdl.data.load:", "jaxdl.data.source:", "jaxdl.data.prepare:"
BATCHES, SPLIT = "jaxdl.data.batches:", "jaxdl.data.train_val_test_split:"
DEVICE_BATCH, VOCAB_FN = "jaxdl.data.device_batch:", "jaxdl.data.build_vocabulary:"

CASES = {
    # ---------------------------------------------------------------- load / source / prepare
    "load-name-not-a-string": Case(lambda d: jd.load(3, data_dir=d), TypeError, LOAD, "3"),
    "load-name-typo": Case(lambda d: jd.load("irsi", data_dir=d), ValueError, LOAD,
                           "'irsi'"),
    "load-official-name-typo": Case(lambda d: jd.load("fashion_mnst", data_dir=d), ValueError,
                                    LOAD, "'fashion_mnst'"),
    "load-name-with-spaces": Case(lambda d: jd.load(" iris", data_dir=d), ValueError, LOAD,
                                  "' iris'"),
    "load-config-typo": Case(lambda d: jd.load("karate_club/edgs", data_dir=d), ValueError,
                             LOAD, "'edgs'"),
    "load-split-not-a-string": Case(lambda d: jd.load("iris", split=0, data_dir=d), TypeError,
                                    LOAD, "got 0"),
    "load-split-typo": Case(lambda d: jd.load("iris", split="trian", data_dir=d), ValueError,
                            LOAD, "'trian'"),
    "load-split-past-the-end": Case(lambda d: jd.load("iris", split="train[200:]", data_dir=d),
                                    ValueError, LOAD, "'train[200:]'"),
    "load-split-empty-string": Case(lambda d: jd.load("iris", split="", data_dir=d), ValueError,
                                    LOAD, "''"),
    "load-download-not-a-bool": Case(lambda d: jd.load("iris", data_dir=d, download="yes"),
                                     TypeError, LOAD, "'yes'"),
    "load-data-dir-not-a-path": Case(lambda d: jd.load("iris", data_dir=5), TypeError, LOAD,
                                     "got 5"),
    "load-source-dir-not-a-path": Case(lambda d: jd.load("iris", data_dir=d, source_dir=1.5),
                                       TypeError, LOAD, "1.5"),
    "source-split-typo": Case(lambda d: jd.source("iris", split="tran", data_dir=d), ValueError,
                              SOURCE, "'tran'"),
    "prepare-name-typo": Case(lambda d: jd.prepare("wien", data_dir=d), ValueError, PREPARE,
                              "'wien'"),
    "default-data-dir-not-a-path": Case(lambda d: jd.default_data_dir(7), TypeError,
                                        "jaxdl.data.default_data_dir:", "got 7"),
    "gather-float-indices": Case(lambda d: jd.source("iris", data_dir=d).gather([0.5]),
                                 TypeError, "DataSource.gather:", "[0.5]"),
    "getitem-not-an-int": Case(lambda d: jd.source("iris", data_dir=d)["a"], TypeError,
                               "DataSource.__getitem__:", "'a'"),
    # ---------------------------------------------------------------- batches and friends
    "batches-batch-size-zero": Case(lambda d: jd.batches(DATA, 0, key=0), ValueError, BATCHES,
                                    "got 0"),
    "batches-batch-size-float": Case(lambda d: jd.batches(DATA, 2.5, key=0), TypeError, BATCHES,
                                     "2.5"),
    "batches-key-string": Case(lambda d: jd.batches(DATA, 2, key="0"), TypeError, BATCHES,
                               "'0'"),
    "batches-key-negative": Case(lambda d: jd.batches(DATA, 2, key=-1), ValueError, BATCHES,
                                 "-1"),
    "batches-epoch-negative": Case(lambda d: jd.batches(DATA, 2, key=0, epoch=-3), ValueError,
                                   BATCHES, "-3"),
    "batches-shuffle-not-a-bool": Case(lambda d: jd.batches(DATA, 2, key=0, shuffle="no"),
                                       TypeError, BATCHES, "'no'"),
    "batches-drop-remainder-not-a-bool": Case(
        lambda d: jd.batches(DATA, 2, key=0, drop_remainder=None), TypeError, BATCHES, "None"),
    "batches-prefetch-negative": Case(
        lambda d: jd.batches(DATA, 2, key=0, prefetch_to_device=-2), ValueError, BATCHES, "-2"),
    "batches-mismatched-lengths": Case(
        lambda d: jd.batches({"x": np.zeros(3), "y": np.zeros(4)}, 2, key=0), ValueError,
        BATCHES, "'y': 4"),
    "batches-bare-array": Case(lambda d: jd.batches(np.arange(10), 2, key=0), TypeError,
                               BATCHES, "ndarray of shape (10,)"),
    "batches-list-of-numbers": Case(lambda d: jd.batches([1, 2, 3], 2, key=0), TypeError,
                                    BATCHES, "int 1"),
    "num-batches-negative-examples": Case(lambda d: jd.num_batches(-5, 2), ValueError,
                                          "jaxdl.data.num_batches:", "-5"),
    "num-batches-float-examples": Case(lambda d: jd.num_batches(5.5, 2), TypeError,
                                       "jaxdl.data.num_batches:", "5.5"),
    "num-batches-drop-remainder-string": Case(
        lambda d: jd.num_batches(5, 2, drop_remainder="yes"), TypeError,
        "jaxdl.data.num_batches:", "'yes'"),
    "num-examples-not-a-dict": Case(lambda d: jd.num_examples([1, 2]), TypeError,
                                    "jaxdl.data.num_examples:", "list"),
    "epoch-permutation-negative-n": Case(lambda d: jd.epoch_permutation(-3, key=0), ValueError,
                                         "jaxdl.data.epoch_permutation:", "-3"),
    "prefetch-size-zero": Case(lambda d: jd.prefetch_to_device(iter([]), 0), ValueError,
                               "jaxdl.data.prefetch_to_device:", "got 0"),
    "prefetch-not-iterable": Case(lambda d: jd.prefetch_to_device(5), TypeError,
                                  "jaxdl.data.prefetch_to_device:", "got 5"),
    # ---------------------------------------------------------------- on device
    "to-device-not-a-dict": Case(lambda d: jd.to_device(np.zeros(3)), TypeError,
                                 "jaxdl.data.to_device:", "ndarray of shape (3,)"),
    "to-device-text-column": Case(lambda d: jd.to_device({"t": np.array(["a"])}), ValueError,
                                  "jaxdl.data.to_device:", "['t']"),
    "device-permutation-float-n": Case(lambda d: jd.device_permutation(0, 5.0), TypeError,
                                       "jaxdl.data.device_permutation:", "5.0"),
    "device-permutation-bad-key": Case(lambda d: jd.device_permutation("k", 5), TypeError,
                                       "jaxdl.data.device_permutation:", "'k'"),
    "device-permutation-float-epoch": Case(
        lambda d: jd.device_permutation(0, 5, epoch=1.5), TypeError,
        "jaxdl.data.device_permutation:", "1.5"),
    "device-batch-size-zero": Case(lambda d: jd.device_batch(ON_DEVICE, jnp.arange(6), 0, 0),
                                   ValueError, DEVICE_BATCH, "got 0"),
    "device-batch-size-too-big": Case(lambda d: jd.device_batch(ON_DEVICE, jnp.arange(6), 0, 7),
                                      ValueError, DEVICE_BATCH, "(7)"),
    "device-batch-step-past-the-end": Case(
        lambda d: jd.device_batch(ON_DEVICE, jnp.arange(6), 3, 2), ValueError, DEVICE_BATCH,
        "got 3"),
    "device-batch-step-float": Case(lambda d: jd.device_batch(ON_DEVICE, jnp.arange(6), 0.5, 2),
                                    TypeError, DEVICE_BATCH, "0.5"),
    "device-batch-float-perm": Case(lambda d: jd.device_batch(ON_DEVICE, jnp.arange(6.0), 0, 2),
                                    TypeError, DEVICE_BATCH, "float32"),
    "device-batch-perm-longer-than-data": Case(
        lambda d: jd.device_batch(ON_DEVICE, jnp.arange(8), 0, 2), ValueError, DEVICE_BATCH,
        "(8,)"),
    # ---------------------------------------------------------------- splitting
    "split-fractions-two": Case(lambda d: jd.train_val_test_split(DATA, fractions=(0.5, 0.5)),
                                ValueError, SPLIT, "(0.5, 0.5)"),
    "split-fractions-string": Case(lambda d: jd.train_val_test_split(DATA, fractions="abc"),
                                   TypeError, SPLIT, "'abc'"),
    "split-fractions-nan": Case(
        lambda d: jd.train_val_test_split(DATA, fractions=(float("nan"), 0.5, 0.5)),
        ValueError, SPLIT, "nan"),
    "split-seed-float": Case(lambda d: jd.train_val_test_split(DATA, seed=1.5), TypeError,
                             SPLIT, "1.5"),
    "split-stratify-typo": Case(lambda d: jd.train_val_test_split(DATA, stratify="yy"),
                                ValueError, SPLIT, "'yy'"),
    "split-stratify-wrong-length": Case(
        lambda d: jd.train_val_test_split(DATA, stratify=np.zeros(3)), ValueError, SPLIT,
        "(3,)"),
    "split-indices-negative-n": Case(lambda d: jd.split_indices(-1), ValueError,
                                     "jaxdl.data.split_indices:", "-1"),
    # ---------------------------------------------------------------- preprocessing
    "one-hot-float-labels": Case(lambda d: jd.one_hot(np.array([0.5]), 3), ValueError,
                                 "jaxdl.data.one_hot:", "0.5"),
    "one-hot-label-out-of-range": Case(lambda d: jd.one_hot(np.array([0, 3]), 3), ValueError,
                                       "jaxdl.data.one_hot:", "max 3"),
    "one-hot-num-classes-float": Case(lambda d: jd.one_hot(np.array([0]), 3.0), TypeError,
                                      "jaxdl.data.one_hot:", "3.0"),
    "one-hot-bad-dtype": Case(lambda d: jd.one_hot(np.array([0]), 3, dtype="floaty"),
                              TypeError, "jaxdl.data.one_hot:", "'floaty'"),
    "scale-text": Case(lambda d: jd.scale_to_unit(np.array(["a"])), TypeError,
                       "jaxdl.data.scale_to_unit:", "'a'"),
    "scale-high-not-above-low": Case(lambda d: jd.scale_to_unit(np.ones(3), low=2, high=1),
                                     ValueError, "jaxdl.data.scale_to_unit:", "high=1"),
    "scale-integer-dtype": Case(lambda d: jd.scale_to_unit(np.ones(3), dtype=np.int32),
                                TypeError, "jaxdl.data.scale_to_unit:", "int32"),
    "scale-empty-without-bounds": Case(lambda d: jd.scale_to_unit(np.zeros(0)), ValueError,
                                       "jaxdl.data.scale_to_unit:", "(0,)"),
    "channel-mean-std-axis-out-of-range": Case(
        lambda d: jd.channel_mean_std(np.zeros((2, 3)), channel_axis=5), ValueError,
        "jaxdl.data.channel_mean_std:", "got 5"),
    "channel-mean-std-chunk-zero": Case(
        lambda d: jd.channel_mean_std(np.zeros((2, 3)), chunk=0), ValueError,
        "jaxdl.data.channel_mean_std:", "got 0"),
    "standardize-channel-mismatch": Case(
        lambda d: jd.standardize(np.zeros((2, 3)), np.zeros(2), np.ones(2)), ValueError,
        "jaxdl.data.standardize:", "(2,)"),
    "standardize-negative-eps": Case(
        lambda d: jd.standardize(np.zeros((2, 3)), np.zeros(3), np.ones(3), eps=-1.0),
        ValueError, "jaxdl.data.standardize:", "-1.0"),
    "standardize-zero-std-no-eps": Case(
        lambda d: jd.standardize(np.zeros((2, 3)), np.zeros(3), np.zeros(3), eps=0.0),
        ValueError, "jaxdl.data.standardize:", "eps=0.0"),
    # ---------------------------------------------------------------- text
    "vocabulary-level-typo": Case(lambda d: jd.build_vocabulary(["a"], level="wrod"),
                                  ValueError, VOCAB_FN, "'wrod'"),
    "vocabulary-one-string": Case(lambda d: jd.build_vocabulary("a b c"), TypeError, VOCAB_FN,
                                  "'a b c'"),
    "vocabulary-not-iterable": Case(lambda d: jd.build_vocabulary(5), TypeError, VOCAB_FN,
                                    "got 5"),
    "vocabulary-numbers": Case(lambda d: jd.build_vocabulary([1, 2]), TypeError, VOCAB_FN,
                               "texts[0] = 1"),
    "vocabulary-max-size-one": Case(lambda d: jd.build_vocabulary(["a"], max_size=1),
                                    ValueError, VOCAB_FN, "got 1"),
    "vocabulary-min-count-string": Case(lambda d: jd.build_vocabulary(["a"], min_count="2"),
                                        TypeError, VOCAB_FN, "'2'"),
    "vocabulary-lowercase-not-a-bool": Case(
        lambda d: jd.build_vocabulary(["a"], lowercase="no"), TypeError, VOCAB_FN, "'no'"),
    "vocabulary-class-level-typo": Case(lambda d: jd.Vocabulary(("<pad>", "<unk>"), level="chr"),
                                        ValueError, "Vocabulary:", "'chr'"),
    "encode-max-length-zero": Case(lambda d: VOCAB.encode(["a"], max_length=0), ValueError,
                                   "Vocabulary.encode:", "got 0"),
    "encode-one-string": Case(lambda d: VOCAB.encode("a b"), TypeError, "Vocabulary.encode:",
                              "'a b'"),
    "decode-id-out-of-range": Case(lambda d: VOCAB.decode(np.array([[2, 9]])), ValueError,
                                   "Vocabulary.decode:", "max 9"),
    "decode-lengths-mismatch": Case(lambda d: VOCAB.decode(np.array([[2, 3]]), [1, 1]),
                                    ValueError, "Vocabulary.decode:", "(2,)"),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad_input_data")
    jd.prepare("iris", data_dir=d)
    return d


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_argument_names_the_function_and_the_value(case: Case, data_dir: Path) -> None:
    with pytest.raises(case.error) as err:
        case.call(data_dir)
    assert type(err.value) is case.error, type(err.value)  # not a subclass such as IndexError
    msg = str(err.value)
    assert msg.startswith(case.prefix), msg
    assert case.shown in msg, msg


@pytest.mark.parametrize("call, suggestion", [
    (lambda d: jd.load("irsi", data_dir=d), "did you mean 'iris'?"),
    (lambda d: jd.load("fashion_mnst", data_dir=d), "did you mean 'fashion_mnist'?"),
    (lambda d: jd.load("movielns/100k-ratings", data_dir=d),
     "did you mean 'movielens/100k-ratings'?"),
    (lambda d: jd.load("karate_club/edgs", data_dir=d), "did you mean 'karate_club/edges'?"),
    (lambda d: jd.load("iris", split="trian[:10]", data_dir=d), "did you mean 'train'?"),
    (lambda d: jd.train_val_test_split(DATA, stratify="yy"), "did you mean 'y'?"),
    (lambda d: jd.build_vocabulary(["a"], level="wrod"), "did you mean 'word'?"),
])
def test_unknown_names_get_a_suggestion(call: Callable[[Path], Any], suggestion: str,
                                        data_dir: Path) -> None:
    with pytest.raises(ValueError) as err:
        call(data_dir)
    assert str(err.value).endswith(suggestion), str(err.value)


@pytest.mark.parametrize("call", [
    lambda: jd.one_hot(np.array([0]), 3, dtype=None),
    lambda: jd.scale_to_unit(np.ones(3), dtype=None),
    lambda: jd.standardize(np.zeros((2, 3)), np.zeros(3), np.ones(3), dtype=None),
], ids=["one_hot", "scale_to_unit", "standardize"])
def test_dtype_none_is_refused_not_read_as_float64(call: Callable[[], Any]) -> None:
    # np.dtype(None) is float64: a dtype=None passed by mistake must not mean that silently
    with pytest.raises(TypeError, match=r"^jaxdl\.data\.\w+: dtype must be .*got None"):
        call()


def test_enough_cases() -> None:
    assert len(CASES) >= 30
    called = {c.prefix.rstrip(":") for c in CASES.values()}
    public = {f"jaxdl.data.{n}" for n in (
        "load", "source", "prepare", "default_data_dir", "batches", "num_batches",
        "num_examples", "epoch_permutation", "prefetch_to_device", "to_device",
        "device_permutation", "device_batch", "train_val_test_split", "split_indices",
        "one_hot", "scale_to_unit", "channel_mean_std", "standardize", "build_vocabulary")}
    assert public <= called, public - called


def test_device_batch_checks_hold_under_jit() -> None:
    # Shapes are static under jit, so perm and batch_size are still checked; a traced step
    # cannot be (lax.dynamic_slice clamps it), but a float one is refused by its dtype.
    with pytest.raises(ValueError, match="device_batch: perm must have shape"):
        jax.jit(lambda p: jd.device_batch(ON_DEVICE, p, 0, 2))(jnp.arange(8))
    with pytest.raises(TypeError, match="device_batch: step must be"):
        jax.jit(lambda s: jd.device_batch(ON_DEVICE, jnp.arange(6), s, 2))(jnp.float32(1.0))
    out = jax.jit(lambda s: jd.device_batch(ON_DEVICE, jnp.arange(6), s, 2))(jnp.int32(1))
    np.testing.assert_array_equal(np.asarray(out["x"]), [2.0, 3.0])
