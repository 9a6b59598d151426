"""jaxdl's own tfds builders for data that needs no network.

Each builder is a ``tfds.core.GeneratorBasedBuilder`` whose features are all
``tfds.features.Tensor`` / ``ClassLabel`` / ``Text``, written in the ``array_record`` file
format, so building and reading need no TensorFlow. They are not registered in tfds's
global registry (two of the names, ``iris`` and ``fashion_mnist``, are official tfds
datasets too): jaxdl writes them under ``<data_dir>/jaxdl/`` and reads them back with
``tfds.builder_from_directory``. Use them through :func:`jaxdl.data.load`; the classes can
also be driven directly, as any tfds builder::

    b = FashionMnist(data_dir=f"{root}/jaxdl", file_format="array_record")
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=idx_dir))

Builders with raw source files read them from ``dl_manager.manual_dir`` (jaxdl's
:func:`jaxdl.data.load` points it at the directory it found); when the files are not
there, the builders that have a published URL fetch it with tfds's download manager
(checksum verified where known).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from jaxdl.data._paths import SourceFiles

logger = logging.getLogger("jaxdl.data")

_Encoding = tfds.features.Encoding


def _array(shape: tuple[int, ...], dtype: Any) -> tfds.features.Tensor:
    """A fixed-shape tensor stored as raw bytes (compact, and fast to decode in bulk)."""
    return tfds.features.Tensor(shape=shape, dtype=dtype, encoding=_Encoding.BYTES)


def _scalar(dtype: Any) -> tfds.features.Tensor:
    """A number stored as raw bytes too (decoded in bulk like the tensors)."""
    return tfds.features.Tensor(shape=(), dtype=dtype, encoding=_Encoding.BYTES)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_download(path: Path, url: str, sha256: str | None) -> Path:
    path = Path(path)
    if sha256 is not None and _sha256(path) != sha256:
        raise ValueError(
            f"jaxdl.data: the file downloaded from {url} ({path}) has sha256 "
            f"{_sha256(path)}, expected {sha256}; delete it and try again"
        )
    return path


class _JaxdlBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared behaviour: version, quiet logging, source-file lookup."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First jaxdl release."}
    SOURCE: SourceFiles | None = None
    """Raw files this builder reads (None: the data ships inside a Python package)."""

    def _log_download_bytes(self) -> None:  # tfds prints to stdout; jaxdl logs instead
        logger.info("jaxdl.data: preparing %s into %s", self.name, self.data_dir)

    def _log_download_done(self) -> None:
        logger.info("jaxdl.data: prepared %s in %s", self.name, self.data_dir)

    def _manual_source_dir(self, dl_manager: tfds.download.DownloadManager) -> Path | None:
        """The manual dir (or its conventional subfolder) if it holds all source files."""
        if self.SOURCE is None:
            return None
        try:
            manual = Path(dl_manager.manual_dir)
        except (AssertionError, ValueError):  # tfds: no manual dir, or an empty one
            return None
        for d in (manual, manual / self.SOURCE.subdir):
            if all((d / f).is_file() for f in self.SOURCE.files):
                return d
        return None


# --------------------------------------------------------------------------- scikit-learn


class _SklearnTabular(_JaxdlBuilder, skip_registration=True):
    """A table bundled with scikit-learn: ``features`` (float32) and an integer ``label``."""

    _LOADER = ""
    _NUM_FEATURES = 0
    _DESCRIPTION = ""
    _HOMEPAGE = "https://scikit-learn.org/stable/datasets/toy_dataset.html"

    def _bunch(self) -> Any:
        import sklearn.datasets

        return getattr(sklearn.datasets, self._LOADER)()

    def _info(self) -> tfds.core.DatasetInfo:
        names = [str(n) for n in self._bunch().target_names]
        return self.dataset_info_from_configs(
            description=self._DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "features": _array((self._NUM_FEATURES,), np.float32),
                "label": tfds.features.ClassLabel(names=names),
            }),
            supervised_keys=("features", "label"),
            homepage=self._HOMEPAGE,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        return {"train": self._generate_examples()}

    def _generate_examples(self) -> Iterator[tuple[int, dict[str, Any]]]:
        bunch = self._bunch()
        x = np.asarray(bunch.data, np.float32)
        for i, (row, label) in enumerate(zip(x, bunch.target)):
            yield i, {"features": row, "label": int(label)}


class Iris(_SklearnTabular, skip_registration=True):
    """Fisher's iris: 150 flowers, 4 measurements (cm), 3 species."""

    _LOADER = "load_iris"
    _NUM_FEATURES = 4
    _DESCRIPTION = "Fisher's iris data (scikit-learn's bundled copy): 150 x 4 features, 3 classes."


class Wine(_SklearnTabular, skip_registration=True):
    """UCI wine recognition: 178 wines, 13 chemical measurements, 3 cultivars."""

    _LOADER = "load_wine"
    _NUM_FEATURES = 13
    _DESCRIPTION = "UCI wine recognition data (scikit-learn): 178 x 13 features, 3 classes."


class BreastCancer(_SklearnTabular, skip_registration=True):
    """Wisconsin diagnostic breast cancer: 569 samples, 30 features; 0 malignant, 1 benign."""

    _LOADER = "load_breast_cancer"
    _NUM_FEATURES = 30
    _DESCRIPTION = (
        "Wisconsin diagnostic breast cancer (scikit-learn): 569 x 30 features, "
        "label 0 = malignant, 1 = benign."
    )


class Digits(_SklearnTabular, skip_registration=True):
    """UCI optical digits: 1,797 8x8 images with pixel counts 0..16, 10 classes.

    Features: ``features`` (64,) float32, ``image`` (8, 8, 1) float32 (the same pixels,
    channel-last like every jaxdl image), ``label``.
    """

    _LOADER = "load_digits"
    _NUM_FEATURES = 64
    _DESCRIPTION = (
        "UCI optical recognition of handwritten digits (scikit-learn's 1,797-image copy): "
        "8x8 images, pixel values 0..16."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=self._DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "features": _array((64,), np.float32),
                "image": _array((8, 8, 1), np.float32),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
            supervised_keys=("image", "label"),
            homepage=self._HOMEPAGE,
        )

    def _generate_examples(self) -> Iterator[tuple[int, dict[str, Any]]]:
        bunch = self._bunch()
        x = np.asarray(bunch.data, np.float32)
        for i, (row, label) in enumerate(zip(x, bunch.target)):
            yield i, {"features": row, "image": row.reshape(8, 8, 1), "label": int(label)}


# --------------------------------------------------------------------------- Fashion-MNIST

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# The sha256 sums tfds registers for its own fashion_mnist (url_checksums/fashion_mnist.txt).
_FASHION_FILES = {
    "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Reads an idx file (gzip-compressed or not), as published for (Fashion-)MNIST.

    Args:
      path: the ``*-idx3-ubyte[.gz]`` (images) or ``*-idx1-ubyte[.gz]`` (labels) file.

    Returns:
      uint8 array of shape ``(n, rows, cols)`` for images, ``(n,)`` for labels.

    Raises:
      ValueError: the file is not a uint8 idx file, or is truncated.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # a truncated or damaged .gz
        raise ValueError(f"read_idx: {path} is truncated or not a valid gzip file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"read_idx: {path} is not a uint8 idx file (header {data[:4]!r})")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(
            f"read_idx: {path} should hold {expected} bytes for shape {shape}, has {len(data)}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


class FashionMnist(_JaxdlBuilder, skip_registration=True):
    """Zalando's Fashion-MNIST from the four published idx files (60,000 train / 10,000 test).

    Features: ``image`` (28, 28, 1) uint8, ``label`` (10 classes, names in
    :data:`FASHION_MNIST_CLASSES`). Examples keep the published order.
    """

    SOURCE = SourceFiles(
        subdir="fashion-mnist",
        files=tuple(_FASHION_FILES),
        hint=(
            "Put the four idx files (from https://github.com/zalandoresearch/fashion-mnist) in a "
            "directory and pass source_dir= or set $JAXDL_SOURCE_DIR, or install Debian's package "
            "dataset-fashion-mnist (apt install dataset-fashion-mnist), or pass download=True to "
            "fetch them through tfds."
        ),
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Place the four Fashion-MNIST *-ubyte.gz files in manual_dir."

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="Fashion-MNIST: 28x28 grey images of 10 kinds of clothing (Zalando).",
            features=tfds.features.FeaturesDict({
                "image": _array((28, 28, 1), np.uint8),
                "label": tfds.features.ClassLabel(names=list(FASHION_MNIST_CLASSES)),
            }),
            supervised_keys=("image", "label"),
            homepage="https://github.com/zalandoresearch/fashion-mnist",
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        d = self._manual_source_dir(dl_manager)
        if d is not None:
            paths = {f: d / f for f in _FASHION_FILES}
        else:
            urls = {f: _FASHION_URL + f for f in _FASHION_FILES}
            got = dl_manager.download(urls)
            paths = {f: _check_download(Path(got[f]), urls[f], _FASHION_FILES[f]) for f in urls}
        return {
            "train": self._generate_examples(
                paths["train-images-idx3-ubyte.gz"], paths["train-labels-idx1-ubyte.gz"]),
            "test": self._generate_examples(
                paths["t10k-images-idx3-ubyte.gz"], paths["t10k-labels-idx1-ubyte.gz"]),
        }

    def _generate_examples(self, images_path: Path, labels_path: Path
                           ) -> Iterator[tuple[int, dict[str, Any]]]:
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise ValueError(
                f"FashionMnist: expected images (n, 28, 28) and n labels, got {images.shape} "
                f"from {images_path} and {labels.shape} from {labels_path}"
            )
        images = images[..., None]
        for i in range(len(labels)):
            yield i, {"image": images[i], "label": int(labels[i])}


# --------------------------------------------------------------------------- MovieLens

_MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
_MOVIELENS_SHA256 = "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"


class MovielensSmall(_JaxdlBuilder, skip_registration=True):
    """MovieLens "latest-small" (GroupLens, 2018) from ``ml-latest-small.zip``.

    Two configs, as tfds's own ``movielens`` has:

    * ``ratings`` (default): 100,836 ratings, in tfds's deterministic shuffled order:
      ``user_id`` (1..610), ``movie_id`` (the published, sparse ids), ``rating`` float32
      in {0.5, 1.0, ..., 5.0}, ``timestamp`` (Unix seconds).
    * ``movies``: 9,742 movies sorted by ``movie_id``: ``movie_id``, ``title`` (with the
      year, e.g. ``"Toy Story (1995)"``), ``genres`` (``"|"``-separated, e.g.
      ``"Adventure|Animation"``). ``np.searchsorted(movies["movie_id"], ratings["movie_id"])``
      maps ratings to contiguous movie rows (for embedding tables).
    """

    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="ratings", description="One example per rating."),
        tfds.core.BuilderConfig(name="movies", description="One example per movie."),
    ]
    SOURCE = SourceFiles(
        subdir="movielens",
        files=("ml-latest-small.zip",),
        hint=(
            "Download ml-latest-small.zip from https://grouplens.org/datasets/movielens/ into a "
            "directory and pass source_dir= or set $JAXDL_SOURCE_DIR (it may sit in a "
            "'movielens/' subfolder), or pass download=True to fetch it through tfds."
        ),
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Place ml-latest-small.zip in manual_dir."

    def _info(self) -> tfds.core.DatasetInfo:
        if self.builder_config.name == "ratings":
            features = {
                "user_id": _scalar(np.int64),
                "movie_id": _scalar(np.int64),
                "rating": _scalar(np.float32),
                "timestamp": _scalar(np.int64),
            }
        else:
            features = {
                "movie_id": _scalar(np.int64),
                "title": tfds.features.Text(),
                "genres": tfds.features.Text(),
            }
        return self.dataset_info_from_configs(
            description="MovieLens latest-small: 100,836 ratings by 610 users on 9,742 movies.",
            features=tfds.features.FeaturesDict(features),
            homepage="https://grouplens.org/datasets/movielens/latest/",
            disable_shuffling=self.builder_config.name == "movies",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        d = self._manual_source_dir(dl_manager)
        if d is not None:
            path = d / "ml-latest-small.zip"
        else:
            got = dl_manager.download(_MOVIELENS_URL)
            path = _check_download(Path(got), _MOVIELENS_URL, _MOVIELENS_SHA256)
        return {"train": self._generate_examples(path)}

    @staticmethod
    def _read_csv(path: Path, member: str) -> tuple[str, list[tuple[int, dict[str, str]]]]:
        """``(where, [(line number, row), ...])`` for ``member`` of the zip file ``path``."""
        try:
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist()
                             if n.endswith("/" + member) or n == member), None)
                if name is None:
                    raise ValueError(f"MovielensSmall: {member} not found in {path}")
                where = f"{path} (member {name})"
                with archive.open(name) as f:
                    reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8", newline=""))
                    return where, [(reader.line_num, row) for row in reader]
        except (zipfile.BadZipFile, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"MovielensSmall: {path} is truncated or damaged "
                             f"({type(e).__name__}: {e})") from None

    def _generate_examples(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        movies = self.builder_config.name == "movies"
        where, rows = self._read_csv(path, "movies.csv" if movies else "ratings.csv")
        examples = []
        for line, r in rows:
            try:
                if None in r or None in r.values():  # too many or too few fields
                    raise ValueError("wrong number of fields")
                if movies:
                    examples.append({"movie_id": int(r["movieId"]), "title": r["title"],
                                     "genres": r["genres"]})
                else:
                    examples.append({"user_id": int(r["userId"]), "movie_id": int(r["movieId"]),
                                     "rating": float(r["rating"]),
                                     "timestamp": int(r["timestamp"])})
            except (KeyError, ValueError) as e:
                raise ValueError(f"MovielensSmall: {where}, line {line}: cannot read the row "
                                 f"{r!r} ({type(e).__name__}: {e})") from None
        if movies:
            examples.sort(key=lambda m: m["movie_id"])
        yield from enumerate(examples)


# --------------------------------------------------------------------------- rt-polarity

_RT_POLARITY_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"


class RtPolarity(_JaxdlBuilder, skip_registration=True):
    """Sentence polarity v1.0 (Pang & Lee, 2005): 5,331 positive + 5,331 negative snippets.

    Features: ``text`` (lower-cased, tokenised, Latin-1 decoded, stripped), ``label``
    (1 = positive, 0 = negative). One split, ``train``, in tfds's deterministic shuffled
    order, so ``train[:90%]`` mixes both classes.
    """

    SOURCE = SourceFiles(
        subdir="rt-polarity",
        files=("rt-polarity.pos", "rt-polarity.neg"),
        hint=(
            "Get rt-polarity.pos and rt-polarity.neg (sentence polarity dataset v1.0, "
            "https://www.cs.cornell.edu/people/pabo/movie-review-data/) into a directory and "
            "pass source_dir= or set $JAXDL_SOURCE_DIR (it may sit in an 'rt-polarity/' "
            "subfolder), or pass download=True to fetch the archive through tfds."
        ),
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Place rt-polarity.pos and rt-polarity.neg in manual_dir."

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="Movie-review sentence polarity v1.0 (Pang & Lee, 2005).",
            features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(),
                "label": tfds.features.ClassLabel(names=["neg", "pos"]),
            }),
            supervised_keys=("text", "label"),
            homepage="https://www.cs.cornell.edu/people/pabo/movie-review-data/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        d = self._manual_source_dir(dl_manager)
        if d is not None:
            lines = {s: (d / f"rt-polarity.{s}").read_bytes() for s in ("pos", "neg")}
        else:
            archive = Path(dl_manager.download(_RT_POLARITY_URL))
            lines = {}
            try:
                with tarfile.open(archive) as tar:
                    for member in tar.getmembers():
                        for s in ("pos", "neg"):
                            if member.name.endswith(f"rt-polarity.{s}"):
                                f = tar.extractfile(member)
                                if f is not None:
                                    lines[s] = f.read()
            except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
                raise ValueError(f"RtPolarity: {archive} is truncated or damaged "
                                 f"({type(e).__name__}: {e})") from None
            if set(lines) != {"pos", "neg"}:
                raise ValueError(f"RtPolarity: {archive} lacks rt-polarity.pos/.neg")
        return {"train": self._generate_examples(lines)}

    def _generate_examples(self, raw: Mapping[str, bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
        for polarity, label in (("pos", 1), ("neg", 0)):
            # One snippet per "\n"-terminated line; Latin-1 has other line breaks (0x85).
            lines = raw[polarity].decode("latin-1").split("\n")
            for i, line in enumerate(line for line in lines if line.strip()):
                yield f"{polarity}-{i}", {"text": line.strip(), "label": label}


# --------------------------------------------------------------------------- karate club


class KarateClub(_JaxdlBuilder, skip_registration=True):
    """Zachary's karate club (networkx's copy): 34 members, 78 weighted ties, 2 factions.

    Two configs, each one split ``train`` in node/edge order:

    * ``nodes`` (default): ``node`` (0..33), ``label`` (the faction after the split:
      0 = ``"Mr. Hi"``, 1 = ``"Officer"``).
    * ``edges``: ``source``, ``target`` (node ids, ``source < target``; the graph is
      undirected) and ``weight`` (float32: the number of contexts the two met in).
    """

    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="nodes", description="One example per member."),
        tfds.core.BuilderConfig(name="edges", description="One example per tie."),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        if self.builder_config.name == "nodes":
            features = {"node": _scalar(np.int64),
                        "label": tfds.features.ClassLabel(names=["Mr. Hi", "Officer"])}
        else:
            features = {"source": _scalar(np.int64), "target": _scalar(np.int64),
                        "weight": _scalar(np.float32)}
        return self.dataset_info_from_configs(
            description="Zachary's karate club network (1977), via networkx.",
            features=tfds.features.FeaturesDict(features),
            homepage="https://networkx.org/documentation/stable/reference/generated/"
                     "networkx.generators.social.karate_club_graph.html",
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        return {"train": self._generate_examples()}

    def _generate_examples(self) -> Iterator[tuple[int, dict[str, Any]]]:
        import networkx as nx

        g = nx.karate_club_graph()
        if self.builder_config.name == "nodes":
            for n in sorted(g.nodes):
                yield n, {"node": n, "label": 0 if g.nodes[n]["club"] == "Mr. Hi" else 1}
        else:
            for i, (u, v, attrs) in enumerate(g.edges(data=True)):
                yield i, {"source": min(u, v), "target": max(u, v),
                          "weight": float(attrs.get("weight", 1.0))}


# --------------------------------------------------------------------------- sunspots


class Sunspots(_JaxdlBuilder, skip_registration=True):
    """Yearly mean sunspot numbers, 1700-2008 (statsmodels' bundled copy of the series).

    One split ``train`` of 309 years in chronological order: ``year`` (int64) and
    ``activity`` (float32, the yearly sunspot number, 0.0 to 190.2). A time series: split
    it by time (earlier years to train, later ones to test), never at random.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="Yearly sunspot numbers 1700-2008 (statsmodels.datasets.sunspots).",
            features=tfds.features.FeaturesDict({"year": _scalar(np.int64),
                                                 "activity": _scalar(np.float32)}),
            homepage="https://www.statsmodels.org/stable/datasets/generated/sunspots.html",
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        return {"train": self._generate_examples()}

    def _generate_examples(self) -> Iterator[tuple[int, dict[str, Any]]]:
        import statsmodels.datasets.sunspots as sunspots

        table = sunspots.load_pandas().data
        years = table["YEAR"].to_numpy()
        if not np.array_equal(years, np.arange(1700, 1700 + len(years))):
            raise ValueError(f"Sunspots: expected consecutive years from 1700 in statsmodels' "
                             f"sunspots, got {years[:3]}...{years[-3:]} ({len(years)} rows)")
        for i, (year, activity) in enumerate(zip(years, table["SUNACTIVITY"].to_numpy())):
            yield i, {"year": int(year), "activity": float(activity)}


BUILDERS: dict[str, type[_JaxdlBuilder]] = {
    cls.name: cls
    for cls in (Iris, Digits, Wine, BreastCancer, FashionMnist, MovielensSmall, RtPolarity,
                KarateClub, Sunspots)
}
"""jaxdl's builders by name."""
