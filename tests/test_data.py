"""Tests for jaxdl.data loading: jaxdl's tfds builders, the official-name path, errors.

Every builder is prepared into a session-wide temporary data directory (once) and loaded
back with the published sizes. Tests that need raw files (Fashion-MNIST, MovieLens,
rt-polarity) take them from wherever jaxdl's own lookup finds them at import time
(``$JAXDL_SOURCE_DIR``, which conftest.py sets to ``../shared/data`` unless it is set
already, ``$JAXDL_DATA_DIR``, Debian's package), and skip with a reason where it finds
none. The network is never touched: conftest.py makes any tfds download attempt raise.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import jaxdl.data as jd
from jaxdl.data import _builders, _paths

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The raw files as jaxdl itself finds them, looked up once at import (before any test hides
# the variables): {subfolder: (directory or None, every place searched)}.
RAW = {cls.SOURCE.subdir: _paths.find_source(cls.SOURCE, source_dir=None, data_dir=None)
       for cls in (_builders.FashionMnist, _builders.MovielensSmall, _builders.RtPolarity)}


def _need_raw(subdir: str) -> Path:
    """The folder holding the raw files of ``subdir`` ("fashion-mnist", ...), or a skip."""
    found, searched = RAW[subdir]
    if found is None:
        places = "; ".join(f"{p} ({why})" for p, why in searched) or "nowhere (no variable set)"
        pytest.skip(f"needs the raw {subdir} files, which jaxdl's lookup does not find here: "
                    f"searched {places}; set $JAXDL_SOURCE_DIR")
    return found


@pytest.fixture(scope="session")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the whole session: each dataset is prepared at most once."""
    return tmp_path_factory.mktemp("jaxdl_data")


@pytest.fixture(scope="session")
def fashion(root: Path) -> Path:
    """Prepares fashion_mnist once from the raw files (its timings are benchmarks/data.py's)."""
    return jd.prepare("fashion_mnist", data_dir=root, source_dir=_need_raw("fashion-mnist"))


@pytest.fixture
def no_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Hides every raw-file location (Debian, $JAXDL_SOURCE_DIR, $JAXDL_DATA_DIR)."""
    monkeypatch.setattr(_paths, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    monkeypatch.delenv(_paths.ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(_paths.ENV_SOURCE_DIR, raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def _raw_idx(name: str) -> np.ndarray:
    with gzip.open(_need_raw("fashion-mnist") / name, "rb") as f:
        data = f.read()
    offset = 16 if "images" in name else 8
    return np.frombuffer(data, np.uint8, offset=offset)


def _sorted_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rows = np.concatenate([x.reshape(len(x), -1).astype(np.float64), y[:, None]], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


# ------------------------------------------------------------------ names and directories


def test_datasets_are_the_builders() -> None:
    assert jd.DATASETS == tuple(_builders.BUILDERS)


def test_data_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAXDL_DATA_DIR", str(tmp_path / "env"))
    assert jd.default_data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert jd.default_data_dir() == (tmp_path / "env").resolve()
    monkeypatch.delenv("JAXDL_DATA_DIR")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    assert jd.default_data_dir() == (tmp_path / "tfds").resolve()
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert jd.default_data_dir() == (Path.home() / "tensorflow_datasets").resolve()


def test_the_library_guesses_no_shared_data_folder(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    # shared/data is this project's layout, named by conftest.py through $JAXDL_SOURCE_DIR;
    # without the variables only explicit arguments and the Debian folder are searched.
    monkeypatch.delenv(_paths.ENV_SOURCE_DIR, raising=False)
    monkeypatch.delenv(_paths.ENV_DATA_DIR, raising=False)
    searched = _paths.source_candidates(_builders.RtPolarity.SOURCE, source_dir=None,
                                        data_dir=None)
    assert searched == []
    assert _paths.unset_variables() == ["$JAXDL_SOURCE_DIR", "$JAXDL_DATA_DIR"]


def _run_conftest(monkeypatch: pytest.MonkeyPatch, value: str | None) -> str | None:
    """Runs tests/conftest.py's module code again with $JAXDL_SOURCE_DIR = ``value``
    (None: unset); returns the variable afterwards (monkeypatch restores it)."""
    if value is None:
        monkeypatch.delenv(_paths.ENV_SOURCE_DIR, raising=False)
    else:
        monkeypatch.setenv(_paths.ENV_SOURCE_DIR, value)
    spec = importlib.util.spec_from_file_location("_conftest_again",
                                                  Path(__file__).with_name("conftest.py"))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return os.environ.get(_paths.ENV_SOURCE_DIR)


def test_conftest_names_shared_data_only_when_the_variable_is_unset(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip(f"conftest.py names {SHARED} only where it exists, which it does not here")
    assert os.environ.get(_paths.ENV_SOURCE_DIR)  # set: by conftest.py, or by the developer
    elsewhere = str(tmp_path / "raw")
    assert _run_conftest(monkeypatch, elsewhere) == elsewhere  # a developer's choice is kept
    assert _run_conftest(monkeypatch, None) == str(SHARED)
    if (SHARED / "rt-polarity").is_dir():  # and jaxdl's lookup then finds the files there
        found, _ = _paths.find_source(_builders.RtPolarity.SOURCE, source_dir=None,
                                      data_dir=None)
        assert found == SHARED / "rt-polarity"


def test_source_lookup_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = _builders.RtPolarity.SOURCE
    explicit, env = tmp_path / "explicit", tmp_path / "env" / "rt-polarity"
    src_a, src_b = tmp_path / "a", tmp_path / "b"
    for d in (explicit, env, src_b):
        d.mkdir(parents=True)
        for f in spec.files:
            (d / f).write_text("x\n")
    monkeypatch.setenv("JAXDL_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.delenv("JAXDL_SOURCE_DIR", raising=False)
    found, _ = _paths.find_source(spec, source_dir=explicit, data_dir=None)
    assert found == explicit
    found, searched = _paths.find_source(spec, source_dir=None, data_dir=None)
    assert found == env  # the env dir's conventional subfolder
    assert [why for _, why in searched] == ["$JAXDL_DATA_DIR", "$JAXDL_DATA_DIR"]
    # $JAXDL_SOURCE_DIR: several folders (os.pathsep), searched before $JAXDL_DATA_DIR
    monkeypatch.setenv("JAXDL_SOURCE_DIR", f"{src_a}{os.pathsep}{src_b}")
    found, searched = _paths.find_source(spec, source_dir=None, data_dir=None)
    assert found == src_b
    assert [p for p, _ in searched[:4]] == [src_a, src_a / "rt-polarity", src_b,
                                            src_b / "rt-polarity"]


# ------------------------------------------------------------------ scikit-learn and networkx


@pytest.mark.parametrize("name, n, d, classes", [
    ("iris", 150, 4, 3), ("wine", 178, 13, 3), ("breast_cancer", 569, 30, 2),
    ("digits", 1797, 64, 10),
])
def test_sklearn_builders(root: Path, name: str, n: int, d: int, classes: int) -> None:
    import sklearn.datasets

    data = jd.load(name, data_dir=root)
    assert data["features"].shape == (n, d) and data["features"].dtype == np.float32
    assert data["label"].shape == (n,) and data["label"].dtype == np.int64
    assert set(np.unique(data["label"])) == set(range(classes))
    bunch = getattr(sklearn.datasets, f"load_{name}")()
    np.testing.assert_array_equal(
        _sorted_rows(data["features"], data["label"]),
        _sorted_rows(bunch.data.astype(np.float32), bunch.target))
    assert (root / "jaxdl" / name / "1.0.0" / "dataset_info.json").is_file()


def test_digits_image_is_the_features_reshaped(root: Path) -> None:
    data = jd.load("digits", data_dir=root)
    assert data["image"].shape == (1797, 8, 8, 1) and data["image"].dtype == np.float32
    np.testing.assert_array_equal(data["image"].reshape(1797, 64), data["features"])
    assert data["image"].min() == 0 and data["image"].max() == 16


def test_karate_club(root: Path) -> None:
    import networkx as nx

    nodes = jd.load("karate_club", data_dir=root)
    edges = jd.load("karate_club/edges", data_dir=root)
    assert nodes["node"].tolist() == list(range(34))
    assert np.bincount(nodes["label"]).tolist() == [17, 17]
    assert len(edges["source"]) == 78 and edges["weight"].dtype == np.float32
    assert (edges["source"] < edges["target"]).all()
    g = nx.karate_club_graph()
    assert {tuple(sorted(e)) for e in g.edges} == set(zip(edges["source"].tolist(),
                                                          edges["target"].tolist()))
    assert nodes["label"][0] == 0 and nodes["label"][33] == 1  # Mr. Hi and the officer
    assert jd.source("karate_club", data_dir=root).info.features["label"].names == [
        "Mr. Hi", "Officer"]


def test_sunspots_is_statsmodels_series_in_order(root: Path) -> None:
    import statsmodels.datasets.sunspots as sunspots

    data = jd.load("sunspots", data_dir=root)
    assert data["year"].tolist() == list(range(1700, 2009))
    assert data["activity"].dtype == np.float32
    table = sunspots.load_pandas().data
    np.testing.assert_array_equal(data["activity"], table["SUNACTIVITY"].to_numpy(np.float32))
    assert data["activity"][:3].tolist() == [5.0, 11.0, 16.0]   # 1700, 1701, 1702
    assert float(data["activity"].max()) == pytest.approx(190.2)
    assert jd.load("sunspots", split="train[-9:]", data_dir=root)["year"][0] == 2000


# ------------------------------------------------------------------ raw files (shared/data)


def test_fashion_mnist_test_split_is_the_raw_idx_files(root: Path, fashion: Path) -> None:
    data = jd.load("fashion_mnist", split="test", data_dir=root)
    assert data["image"].shape == (10000, 28, 28, 1) and data["image"].dtype == np.uint8
    assert data["label"].dtype == np.int64
    np.testing.assert_array_equal(data["image"].reshape(-1), _raw_idx("t10k-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(data["label"], _raw_idx("t10k-labels-idx1-ubyte.gz"))


def test_fashion_mnist_train_split(root: Path, fashion: Path) -> None:
    data = jd.load("fashion_mnist", split="train", data_dir=root)
    assert data["image"].shape == (60000, 28, 28, 1) and data["image"].dtype == np.uint8
    assert np.bincount(data["label"]).tolist() == [6000] * 10
    np.testing.assert_array_equal(data["label"], _raw_idx("train-labels-idx1-ubyte.gz"))
    np.testing.assert_array_equal(data["image"][:100].reshape(-1),
                                  _raw_idx("train-images-idx3-ubyte.gz")[:100 * 784])
    head = jd.load("fashion_mnist", split="train[:10%]", data_dir=root)
    assert len(head["label"]) == 6000
    np.testing.assert_array_equal(head["image"], data["image"][:6000])


def test_fashion_mnist_reload_in_a_fresh_process(root: Path, fashion: Path) -> None:
    # a new process finds the prepared files without the builder classes or any download
    code = (f"import jaxdl.data as jd; x = jd.load('fashion_mnist', data_dir={str(root)!r}); "
            "print(x['image'].shape, x['image'].dtype)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["(60000,", "28,", "28,", "1)", "uint8"]
    assert "Downloading" not in out.stdout + out.stderr


def test_fashion_mnist_class_names(root: Path, fashion: Path) -> None:
    ds = jd.source("fashion_mnist", split="test", data_dir=root)
    assert ds.info.features["label"].names[0] == "T-shirt/top"
    assert ds.info.features["label"].names[9] == "Ankle boot"


def test_data_source_random_access(root: Path, fashion: Path) -> None:
    ds = jd.source("fashion_mnist", split="test", data_dir=root)
    full = jd.load("fashion_mnist", split="test", data_dir=root)
    assert len(ds) == 10000 and ds.features == ("image", "label")
    ex = ds[123]
    np.testing.assert_array_equal(ex["image"], full["image"][123])
    assert ex["label"] == full["label"][123]
    idx = np.array([5, 9999, 0, 5, -1])
    batch = ds.gather(idx)
    np.testing.assert_array_equal(batch["image"], full["image"][idx])
    assert [e["label"] for e in ds.__getitems__([1, 2])] == full["label"][1:3].tolist()
    with pytest.raises(IndexError, match="gather"):
        ds.gather([10000])


def test_movielens_small(root: Path) -> None:
    src = _need_raw("movielens")
    ratings = jd.load("movielens_small", data_dir=root, source_dir=src)
    movies = jd.load("movielens_small/movies", data_dir=root, source_dir=src)
    assert len(ratings["rating"]) == 100836 and ratings["rating"].dtype == np.float32
    assert sorted(ratings) == ["movie_id", "rating", "timestamp", "user_id"]
    assert len(np.unique(ratings["user_id"])) == 610
    assert set(np.unique(ratings["rating"]).tolist()) <= {x / 2 for x in range(1, 11)}
    assert len(movies["movie_id"]) == 9742 and (np.diff(movies["movie_id"]) > 0).all()
    assert set(np.unique(ratings["movie_id"])) <= set(movies["movie_id"].tolist())
    assert movies["title"][0] == "Toy Story (1995)"
    assert movies["genres"][0] == "Adventure|Animation|Children|Comedy|Fantasy"
    rows = np.searchsorted(movies["movie_id"], ratings["movie_id"])
    np.testing.assert_array_equal(movies["movie_id"][rows], ratings["movie_id"])


def test_rt_polarity(root: Path) -> None:
    src = _need_raw("rt-polarity")
    data = jd.load("rt_polarity", data_dir=root, source_dir=src)
    assert data["text"].shape == (10662,) and data["text"].dtype.kind == "U"
    assert np.bincount(data["label"]).tolist() == [5331, 5331]
    first_pos = (src / "rt-polarity.pos").read_bytes().decode("latin-1")
    first_pos = first_pos.split("\n")[0].strip()
    i = data["text"].tolist().index(first_pos)
    assert data["label"][i] == 1
    assert not (data["label"][:100] == data["label"][0]).all()  # shuffled, not pos-then-neg


def test_builder_from_tiny_local_files(tmp_path: Path, no_sources: Path) -> None:
    src = tmp_path / "rt"
    src.mkdir()
    (src / "rt-polarity.pos").write_bytes("good film\ncaf\xe9 scene \n".encode("latin-1"))
    (src / "rt-polarity.neg").write_bytes(b"dull\n")
    data = jd.load("rt_polarity", data_dir=tmp_path / "d", source_dir=src)
    assert sorted(zip(data["text"].tolist(), data["label"].tolist())) == [
        ("café scene", 1), ("dull", 0), ("good film", 1)]


# ------------------------------------------------------------------ decoding


@pytest.mark.parametrize("name, split", [
    ("iris", "train"), ("digits", "train[:50]"), ("karate_club/edges", "train"),
    ("rt_polarity", "train[:300]"), ("movielens_small/movies", "train[:300]"),
    ("movielens_small", "train[:2000]"), ("fashion_mnist", "test[:500]"),
])
def test_bulk_decoding_matches_tfds(root: Path, name: str, split: str) -> None:
    import tensorflow_datasets as tfds

    base = name.split("/")[0]
    if base in ("rt_polarity", "movielens_small", "fashion_mnist"):
        _need_raw({"rt_polarity": "rt-polarity", "movielens_small": "movielens",
                      "fashion_mnist": "fashion-mnist"}[base])
    ours = jd.load(name, split=split, data_dir=root)
    directory = jd.prepare(name, data_dir=root)
    ref = tfds.builder_from_directory(str(directory)).as_data_source(split=split)
    examples = [ref[i] for i in range(len(ref))]
    assert sorted(ours) == sorted(examples[0])
    for key, col in ours.items():
        expected = [e[key] for e in examples]
        if col.dtype.kind == "U":
            expected = [e.decode("utf-8") for e in expected]
        np.testing.assert_array_equal(col, np.stack([np.asarray(e) for e in expected]))
        assert col.dtype == np.asarray(expected[0]).dtype or col.dtype.kind == "U"



# ------------------------------------------------------------------ official tfds names


def test_official_name_through_tfds_mock(tmp_path: Path) -> None:
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):
        mnist = jd.load("mnist", split="train", data_dir=tmp_path)
        imdb = jd.load("imdb_reviews", split="test[:50%]", data_dir=tmp_path)
        ml = jd.load("movielens/100k-ratings", data_dir=tmp_path)  # see _compat.LEGACY_MODULES
        ds = jd.source("mnist", split="test", data_dir=tmp_path)
        batch = ds.gather([0, 3])
    assert mnist["image"].shape == (5, 28, 28, 1) and mnist["image"].dtype == np.uint8
    assert mnist["label"].shape == (5,)
    assert imdb["text"].dtype.kind == "U" and imdb["label"].shape == (len(imdb["text"]),)
    assert ml["user_rating"].shape == (5,) and ml["movie_title"].dtype.kind == "U"
    assert len(ds) == 5 and batch["image"].shape == (2, 28, 28, 1)
    assert not (tmp_path / "mnist").exists()


def test_missing_official_dataset_fails_fast(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(jd.DataNotFoundError) as err:
        jd.load("mnist", data_dir=tmp_path)
    assert time.perf_counter() - t0 < 1.0
    msg = str(err.value)
    assert str(tmp_path) in msg and "download=True" in msg and "mnist" in msg


def test_missing_raw_files_fail_fast_and_say_where(tmp_path: Path, no_sources: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(jd.DataNotFoundError) as err:
        jd.load("fashion_mnist", data_dir=tmp_path / "d", source_dir=no_sources)
    assert time.perf_counter() - t0 < 1.0
    msg = str(err.value)
    for expected in (str(no_sources), "source_dir argument", "no-debian-package",
                     "dataset-fashion-mnist", "download=True", "JAXDL_DATA_DIR",
                     "train-images-idx3-ubyte.gz"):
        assert expected in msg, expected
    assert isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize("name", ["movielens_small", "rt_polarity"])
def test_missing_text_sources_say_how(tmp_path: Path, no_sources: Path, name: str) -> None:
    with pytest.raises(jd.DataNotFoundError, match="download=True"):
        jd.load(name, data_dir=tmp_path)


def test_download_attempt_fails_loudly_without_network(tmp_path: Path, no_sources: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="must not touch the network"):
        jd.load("fashion_mnist", data_dir=tmp_path, download=True)
    with pytest.raises(RuntimeError, match="must not touch the network"):
        jd.load("mnist", data_dir=tmp_path, download=True)
    assert time.perf_counter() - t0 < 5.0


def test_download_path_with_a_local_stand_in(tmp_path: Path, no_sources: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """download=True goes through tfds's DownloadManager; here it 'downloads' the local zip."""
    src = _need_raw("movielens")
    from tensorflow_datasets.core.download import download_manager

    urls = []

    def fake_download(self, url):
        urls.append(url)
        return src / "ml-latest-small.zip"

    monkeypatch.setattr(download_manager.DownloadManager, "download", fake_download)
    movies = jd.load("movielens_small/movies", data_dir=tmp_path, download=True)
    assert len(movies["movie_id"]) == 9742
    assert urls == ["https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"]


def test_download_path_for_fashion_mnist_checks_sha256(tmp_path: Path, no_sources: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    src = _need_raw("fashion-mnist")
    from tensorflow_datasets.core.download import download_manager

    def fake_download(self, urls):
        return {k: src / url.rsplit("/", 1)[1] for k, url in urls.items()}

    monkeypatch.setattr(download_manager.DownloadManager, "download", fake_download)
    test = jd.load("fashion_mnist", split="test", data_dir=tmp_path, download=True)
    np.testing.assert_array_equal(test["label"], _raw_idx("t10k-labels-idx1-ubyte.gz"))

    # A file whose checksum differs from tfds's registered one is refused.
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in _builders.FashionMnist.SOURCE.files:
        (bad / f).write_bytes((src / f).read_bytes())
    with gzip.open(bad / "t10k-labels-idx1-ubyte.gz", "wb") as f:  # same content, new header
        f.write(gzip.decompress((src / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    monkeypatch.setattr(download_manager.DownloadManager, "download",
                        lambda self, urls: {k: bad / u.rsplit("/", 1)[1] for k, u in urls.items()})
    with pytest.raises(ValueError, match="sha256"):
        jd.load("fashion_mnist", split="test", data_dir=tmp_path / "other", download=True)


def test_download_path_for_rt_polarity_reads_the_archive(tmp_path: Path, no_sources: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import tarfile

    from tensorflow_datasets.core.download import download_manager

    archive = tmp_path / "rt-polaritydata.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in (("pos", b"a fine film .\ngreat !\n"), ("neg", b"dull .\n")):
            info = tarfile.TarInfo(f"rt-polaritydata/rt-polarity.{name}")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    monkeypatch.setattr(download_manager.DownloadManager, "download", lambda self, url: archive)
    data = jd.load("rt_polarity", data_dir=tmp_path / "d", download=True)
    assert sorted(data["text"].tolist()) == ["a fine film .", "dull .", "great !"]
    assert data["label"].sum() == 2


def test_official_copy_on_disk_is_used_when_raw_files_are_missing(
        tmp_path: Path, no_sources: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow_datasets as tfds

    (tmp_path / "fashion_mnist" / "3.0.1").mkdir(parents=True)
    (tmp_path / "fashion_mnist" / "3.0.1" / "dataset_info.json").write_text("{}")
    with tfds.testing.mock_data(num_examples=3):
        data = jd.load("fashion_mnist", split="test", data_dir=tmp_path)
    assert data["image"].shape == (3, 28, 28, 1)


# ------------------------------------------------------------------ reliability


@pytest.mark.parametrize("split", ["train[150:]", "train[:0]", "train[10:10]"])
def test_a_valid_empty_slice_gives_empty_columns(root: Path, split: str) -> None:
    data = jd.load("iris", split=split, data_dir=root)
    assert data["features"].shape == (0, 4) and data["features"].dtype == np.float32
    assert data["label"].shape == (0,) and data["label"].dtype == np.int64
    ds = jd.source("iris", split=split, data_dir=root)
    assert len(ds) == 0 and ds.features == ("features", "label")
    assert ds.gather([])["features"].shape == (0, 4)
    assert list(jd.batches(ds, 4, key=0)) == [] and list(ds) == []


def test_an_empty_text_slice_keeps_a_text_column(tmp_path: Path, no_sources: Path) -> None:
    src = tmp_path / "rt"
    src.mkdir()
    (src / "rt-polarity.pos").write_bytes(b"good\n")
    (src / "rt-polarity.neg").write_bytes(b"bad\n")
    data = jd.load("rt_polarity", split="train[2:]", data_dir=tmp_path / "d", source_dir=src)
    assert data["text"].shape == (0,) and data["text"].dtype.kind == "U"
    assert data["label"].shape == (0,) and data["label"].dtype == np.int64


def test_an_empty_official_split_gives_empty_columns() -> None:
    import tensorflow_datasets as tfds

    from jaxdl.data import _source

    class Builder:  # an official builder whose split selects no examples
        class info:  # noqa: N801
            splits = {"train[5:]": type("Split", (), {"num_examples": 0})()}
            features = tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(28, 28, 1)),
                "label": tfds.features.ClassLabel(num_classes=10),
                "text": tfds.features.Text(),
            })

    data = _source.open_official("jaxdl.data.load", "x", "train[5:]", Builder()).to_arrays()
    assert data["image"].shape == (0, 28, 28, 1) and data["image"].dtype == np.uint8
    assert data["label"].shape == (0,) and data["label"].dtype == np.int64
    assert data["text"].shape == (0,) and data["text"].dtype.kind == "U"


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _tiny_fashion(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5), ("t10k", 3)):
        _write_idx(directory / f"{prefix}-images-idx3-ubyte.gz",
                   rng.integers(0, 256, (n, 28, 28)))
        _write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return directory


def test_tiny_idx_files_build_fashion_mnist(tmp_path: Path, no_sources: Path) -> None:
    src = _tiny_fashion(tmp_path / "raw")
    data = jd.load("fashion_mnist", split="test", data_dir=tmp_path / "d", source_dir=src)
    assert data["image"].shape == (3, 28, 28, 1) and data["label"].tolist() == [0, 1, 2]


def test_a_truncated_gzip_idx_file_is_named(tmp_path: Path, no_sources: Path) -> None:
    src = _tiny_fashion(tmp_path / "raw")
    bad = src / "t10k-images-idx3-ubyte.gz"
    good = bad.read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError) as err:
        jd.load("fashion_mnist", split="test", data_dir=tmp_path / "d", source_dir=src)
    msg = str(err.value)
    assert msg.startswith("jaxdl.data.load: cannot prepare 'fashion_mnist'") and str(bad) in msg
    assert "truncated" in msg
    bad.write_bytes(good)  # nothing half-prepared is left behind: the next call builds it
    data = jd.load("fashion_mnist", split="test", data_dir=tmp_path / "d", source_dir=src)
    assert data["image"].shape == (3, 28, 28, 1)


def test_an_idx_file_of_the_wrong_length_is_named(tmp_path: Path, no_sources: Path) -> None:
    src = _tiny_fashion(tmp_path / "raw")
    bad = src / "train-labels-idx1-ubyte.gz"
    with gzip.open(bad, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (9).to_bytes(4, "big") + bytes(4))  # 9 labels promised
    with pytest.raises(ValueError, match="should hold") as err:
        jd.prepare("fashion_mnist", data_dir=tmp_path / "d", source_dir=src)
    assert str(bad) in str(err.value)


def _movielens_zip(path: Path, ratings: str) -> Path:
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-latest-small/ratings.csv", ratings)
        z.writestr("ml-latest-small/movies.csv",
                   "movieId,title,genres\n1,Toy Story (1995),Animation\n")
    return path


def test_a_broken_csv_row_is_named_with_its_line(tmp_path: Path, no_sources: Path) -> None:
    src = tmp_path / "raw"
    _movielens_zip(src / "ml-latest-small.zip", "userId,movieId,rating,timestamp\n"
                   "1,1,4.0,964982703\n1,1,four,964982703\n")
    with pytest.raises(ValueError) as err:
        jd.load("movielens_small", data_dir=tmp_path / "d", source_dir=src)
    msg = str(err.value)
    assert msg.startswith("jaxdl.data.load: cannot prepare 'movielens_small'")
    assert str(src / "ml-latest-small.zip") in msg and "line 3" in msg and "four" in msg
    _movielens_zip(src / "ml-latest-small.zip", "userId,movieId,rating,timestamp\n1,1,4.0\n")
    with pytest.raises(ValueError, match="line 2"):  # a row with a field missing
        jd.load("movielens_small", data_dir=tmp_path / "d", source_dir=src)


def test_a_truncated_zip_is_named(tmp_path: Path, no_sources: Path) -> None:
    src = tmp_path / "raw"
    z = _movielens_zip(src / "ml-latest-small.zip", "userId,movieId,rating,timestamp\n")
    z.write_bytes(z.read_bytes()[:40])
    with pytest.raises(ValueError, match="truncated or damaged") as err:
        jd.load("movielens_small/movies", data_dir=tmp_path / "d", source_dir=src)
    assert str(z) in str(err.value)


@pytest.mark.parametrize("cut", ["half", "header"])
def test_a_truncated_prepared_file_is_named(tmp_path: Path, cut: str) -> None:
    directory = jd.prepare("iris", data_dir=tmp_path)
    (record_file,) = directory.glob("iris-train.array_record-*")
    raw = record_file.read_bytes()
    record_file.write_bytes(raw[: len(raw) // 2] if cut == "half" else raw[:100])
    with pytest.raises(ValueError) as err:
        jd.load("iris", data_dir=tmp_path)
    msg = str(err.value)
    assert msg.startswith("jaxdl.data.load: cannot read 'iris'") and str(record_file) in msg
    assert "damaged or truncated" in msg
    with pytest.raises(ValueError, match="damaged or truncated") as err:
        jd.source("iris", data_dir=tmp_path).gather([0, 149])
    assert str(record_file) in str(err.value)


def test_a_foreign_feature_type_is_refused_before_tfds_imports_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    module_dir = tmp_path / "modules"
    module_dir.mkdir()
    marker = tmp_path / "imported"
    (module_dir / "jaxdl_test_foreign_feature.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('yes')\n")
    monkeypatch.syspath_prepend(str(module_dir))
    directory = jd.prepare("iris", data_dir=tmp_path / "d")
    features = json.loads((directory / "features.json").read_text())
    features["featuresDict"]["features"]["label"]["pythonClassName"] = (
        "jaxdl_test_foreign_feature.Feature")
    (directory / "features.json").write_text(json.dumps(features))
    with pytest.raises(ValueError) as err:
        jd.load("iris", data_dir=tmp_path / "d")
    msg = str(err.value)
    assert msg.startswith("jaxdl.data.load: ") and str(directory / "features.json") in msg
    assert "'jaxdl_test_foreign_feature.Feature'" in msg
    # the same folder under an official-looking name (tfds would rebuild it from files)
    (tmp_path / "d" / "foreign_set").mkdir()
    directory.rename(tmp_path / "d" / "foreign_set" / "1.0.0")
    with pytest.raises(ValueError, match="jaxdl_test_foreign_feature.Feature"):
        jd.load("foreign_set", data_dir=tmp_path / "d")
    assert not marker.exists()


def test_missing_raw_files_list_every_source_variable(tmp_path: Path, no_sources: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("JAXDL_SOURCE_DIR", f"{a}{os.pathsep}{b}")
    with pytest.raises(jd.DataNotFoundError) as err:
        jd.load("rt_polarity", data_dir=tmp_path / "d")
    msg = str(err.value)
    for place in (f"{a}  ($JAXDL_SOURCE_DIR)", f"{b / 'rt-polarity'}  ($JAXDL_SOURCE_DIR)",
                  "Not set: $JAXDL_DATA_DIR"):
        assert place in msg, place


# ------------------------------------------------------------------ bad arguments, quiet tfds


def test_bad_split_config_and_name(root: Path) -> None:
    with pytest.raises(ValueError, match="splits: train"):
        jd.load("iris", split="validation", data_dir=root)
    with pytest.raises(ValueError, match="'karate_club/nodes', 'karate_club/edges'"):
        jd.load("karate_club/friends", data_dir=root)
    with pytest.raises(ValueError, match="unknown dataset 'no_such_dataset_xyz'"):
        jd.load("no_such_dataset_xyz", data_dir=root)
    with pytest.raises(ValueError, match="split must be"):
        jd.load("iris", split="", data_dir=root)


def test_preparing_prints_nothing_and_needs_no_tensorflow(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = jd.load("wine", data_dir=tmp_path)
    assert len(data["label"]) == 178
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
    if importlib.util.find_spec("tensorflow") is None:  # as on this project's machines
        assert "tensorflow" not in sys.modules


def test_prepare_returns_the_dataset_directory(root: Path) -> None:
    d = jd.prepare("iris", data_dir=root)
    assert d == root / "jaxdl" / "iris" / "1.0.0" and (d / "dataset_info.json").is_file()
    assert jd.prepare("karate_club/edges", data_dir=root).parent.name == "edges"


def test_builders_drive_tfds_directly(tmp_path: Path) -> None:
    """jaxdl's builders are plain tfds builders: prepare with tfds, read with tfds."""
    import tensorflow_datasets as tfds

    b = jd.builders.KarateClub(data_dir=tmp_path, config="edges", file_format="array_record")
    # try_download_gcs=False: else tfds first asks Google Cloud Storage for a prepared copy
    # (conftest.py turns that look-up into an error); jaxdl.data always passes it.
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    ds = tfds.builder_from_directory(b.data_dir).as_data_source(split="train")
    assert len(ds) == 78 and set(ds[0]) == {"source", "target", "weight"}
    by_name = tfds.data_source("karate_club/edges", data_dir=tmp_path, split="train[:10]",
                               download=False)
    assert len(by_name) == 10
    assert jd.builders.BUILDERS["fashion_mnist"] is jd.builders.FashionMnist
