"""``load``, ``source`` and ``prepare``: datasets by name, through tensorflow-datasets.

A name is either one of jaxdl's own builders (:data:`DATASETS`, built offline from
bundled or local files) or any official tfds name (``"mnist"``,
``"movielens/100k-ratings"``, ...), which tfds resolves, downloading only when
``download=True``. Either way the data is read back without TensorFlow, from
``array_record`` files, with ``tfds.builder_from_directory(...).as_data_source`` /
``builder.as_data_source``.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxdl.data._paths import (
    JAXDL_SUBDIR, DataNotFoundError, default_data_dir, find_source, format_places,
)

PathLike = str | os.PathLike[str]

DATASETS: tuple[str, ...] = (
    "iris", "digits", "wine", "breast_cancer", "fashion_mnist", "movielens_small",
    "rt_polarity", "karate_club",
)
"""The datasets jaxdl builds itself (offline). Any other name goes to tfds."""

# Official tfds modules that tfds imports as one chain and abandons at the first missing
# optional dependency (h5py), leaving e.g. ``movielens`` unregistered. Imported one by one
# only when tfds does not know a name.
_TFDS_LEGACY_MODULES = (
    "audio", "graphs", "image", "image_classification", "object_detection",
    "nearest_neighbors", "question_answering", "d4rl", "ranking", "recommendation",
    "rl_unplugged", "robotics", "robomimic", "structured", "summarization", "text",
    "text_simplification", "time_series", "translate", "video", "vision_language",
)


def _tfds() -> Any:
    import tensorflow_datasets as tfds  # imported lazily: ~0.3 s, only when data is needed

    return tfds


# --------------------------------------------------------------------------- quiet tfds

_TFDS_NOISE = ("has no dataset_info.json", "Load dataset info from", "Reusing dataset",
               "Constructing tf.data.Dataset", "Generating dataset", "is already downloaded")


class _DropTfdsNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(s in msg for s in _TFDS_NOISE)


@contextlib.contextmanager
def _quiet_tfds() -> Iterator[None]:
    """Silences tfds's progress bars and its benign "no dataset_info.json" warnings."""
    tfds = _tfds()
    from tensorflow_datasets.core.utils import tqdm_utils

    was_active = getattr(tqdm_utils, "_active", True)
    noise = _DropTfdsNoise()
    absl_logger = logging.getLogger("absl")
    absl_logger.addFilter(noise)
    tfds.display_progress_bar(False)
    try:
        yield
    finally:
        tfds.display_progress_bar(was_active)
        absl_logger.removeFilter(noise)


# --------------------------------------------------------------------------- decoding


def _column_plan(features: Any) -> list[tuple[str, str, np.dtype, tuple[int, ...], str]] | None:
    """How to decode each feature column in bulk, or None if some feature needs tfds.

    Handles the flat ``FeaturesDict`` of fixed-shape ``Tensor``/``ClassLabel``/``Text``
    features that jaxdl's builders write (and many official datasets use).
    """
    tfds = _tfds()
    plain = (tfds.features.Tensor, tfds.features.ClassLabel, tfds.features.Text)
    if not isinstance(features, tfds.features.FeaturesDict):
        return None
    plan = []
    for name, f in sorted(features.items()):
        if type(f) not in plain or any(d is None for d in f.shape):
            return None
        if isinstance(f, tfds.features.Text) and getattr(f, "encoder", None) is not None:
            return None
        encoding = str(getattr(getattr(f, "_encoding", None), "value", "none"))
        dtype = np.dtype(f.np_dtype)
        if dtype == np.dtype(object):
            if encoding != "none" or f.shape != ():
                return None
            plan.append((name, "str", dtype, (), encoding))
        elif encoding in ("bytes", "zlib"):
            plan.append((name, "raw", dtype, tuple(f.shape), encoding))
        elif encoding == "none":
            kind = "float" if np.issubdtype(dtype, np.floating) else "int"
            plan.append((name, kind, dtype, tuple(f.shape), encoding))
        else:
            return None
    return plan


def _decode_columns(records: Sequence[bytes], plan: list[Any]) -> dict[str, np.ndarray]:
    """Decodes serialized ``tf.train.Example`` records column by column, without TensorFlow.

    Equivalent to tfds's per-example ``deserialize_example_np`` followed by stacking
    (the tests check this), but parses each record once with tfds's protobuf classes and
    builds each column with one NumPy call.
    """
    from tensorflow_datasets.proto import tf_example_pb2

    n = len(records)
    maps = [tf_example_pb2.Example.FromString(r).features.feature for r in records]
    out: dict[str, np.ndarray] = {}
    for name, kind, dtype, shape, encoding in plan:
        size = int(np.prod(shape)) if shape else 1
        feats = [m[name] for m in maps]
        if kind == "str":
            values = [f.bytes_list.value[0] for f in feats]
            out[name] = _bytes_to_str(values)
        elif kind == "raw":
            values = [f.bytes_list.value[0] for f in feats]
            if encoding == "zlib":
                values = [zlib.decompress(v) for v in values]
            out[name] = np.frombuffer(b"".join(values), dtype=dtype).reshape((n, *shape)).copy()
        else:
            lists = [f.float_list.value if kind == "float" else f.int64_list.value for f in feats]
            flat = np.fromiter(itertools.chain.from_iterable(lists),
                               dtype=np.float32 if kind == "float" else np.int64, count=n * size)
            out[name] = flat.astype(dtype, copy=False).reshape((n, *shape))
    return out


def _bytes_to_str(values: Sequence[Any]) -> np.ndarray:
    """UTF-8 bytes -> a NumPy unicode array (left as bytes objects if not UTF-8)."""
    try:
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values],
                        dtype=np.str_)
    except UnicodeDecodeError:
        return np.array(list(values), dtype=object)


def _flatten(example: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in example.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _stack_examples(examples: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Stacks decoded examples into columns (nested keys joined with ``/``)."""
    flat = [_flatten(e) for e in examples]
    if not flat:
        return {}
    out: dict[str, np.ndarray] = {}
    for key in flat[0]:
        values = [e[key] for e in flat]
        if isinstance(values[0], (bytes, str)):
            out[key] = _bytes_to_str(values)
            continue
        arrays = [np.asarray(v) for v in values]
        if all(a.shape == arrays[0].shape for a in arrays):
            out[key] = np.stack(arrays)
        else:  # variable-length feature: an object array of per-example arrays
            col = np.empty(len(arrays), dtype=object)
            col[:] = arrays
            out[key] = col
    return out


# --------------------------------------------------------------------------- DataSource


class DataSource:
    """Random access to one split of a prepared dataset, read from disk on demand.

    Behaves as a sequence of examples (``len``, ``ds[i]``, iteration) and gathers
    batches as columns with :meth:`gather`; :func:`jaxdl.data.batches` uses that.

    Attributes:
      name: the dataset name as given to :func:`source`.
      split: the split, as given (``"train[:80%]"`` and the like allowed).
      info: tfds's ``DatasetInfo`` (features, class names, citation), or None.
    """

    def __init__(self, name: str, split: str, backend: Any, info: Any,
                 plan: list[Any] | None = None,
                 files: list[tuple[str, int, int]] | None = None) -> None:
        self.name = name
        self.split = split
        self.info = info
        self._backend = backend  # a tfds data source (raw bytes when ``plan`` is set)
        self._plan = plan
        self._files = files  # (array_record file, skip, take) making up the split, in order

    def __len__(self) -> int:
        return len(self._backend)

    def __repr__(self) -> str:
        return f"DataSource(name={self.name!r}, split={self.split!r}, num_examples={len(self)})"

    @property
    def features(self) -> tuple[str, ...]:
        """Column names, as in the dicts :meth:`gather` returns."""
        if self._plan is not None:
            return tuple(p[0] for p in self._plan)
        return tuple(self.gather([0]).keys()) if len(self) else ()

    def gather(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Reads the examples at ``indices`` as a batch of columns.

        Args:
          indices: example positions, shape ``(batch,)``; negative values count from the end.

        Returns:
          ``{column: array of shape (batch, *feature_shape)}``; text columns are NumPy
          unicode arrays.

        Raises:
          IndexError: an index is out of range.
        """
        n = len(self)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(
                f"DataSource.gather: indices must lie in [-{n}, {n}) for {self.name!r} "
                f"split {self.split!r}; got min {idx.min()}, max {idx.max()}"
            )
        idx = np.where(idx < 0, idx + n, idx).tolist()
        if not idx:
            return {k: v[:0] for k, v in self.gather([0]).items()} if n else {}
        try:
            records = self._backend.__getitems__(idx)
        except TypeError:  # tfds.testing.mock_data's __getitems__ is unbound (tfds 4.9.10)
            records = [self._backend[i] for i in idx]
        if self._plan is not None:
            return _decode_columns(records, self._plan)
        return _stack_examples(records)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        """One example: ``{column: array of shape feature_shape}``."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"DataSource.__getitem__: index must be an int, got {type(index).__name__}; "
                "use gather(indices) for a batch"
            )
        return {k: v[0] for k, v in self.gather([int(index)]).items()}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, np.ndarray]]:
        """A list of examples (the protocol PyTorch/Grain data loaders use)."""
        cols = self.gather(indices)
        return [{k: v[i] for k, v in cols.items()} for i in range(len(indices))]

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self), 1024):
            cols = self.gather(np.arange(start, min(start + 1024, len(self))))
            for i in range(len(next(iter(cols.values())))):
                yield {k: v[i] for k, v in cols.items()}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The whole split in memory as columns (what :func:`load` returns)."""
        if self._plan is None or self._files is None or not len(self):
            return self.gather(np.arange(len(self)))
        # Whole split: read each file's range sequentially (faster than random access).
        from array_record.python.array_record_module import ArrayRecordReader

        records: list[bytes] = []
        for filename, skip, take in self._files:
            reader = ArrayRecordReader(filename)
            try:
                records.extend(reader.read(skip, skip + take))
            finally:
                reader.close()
        if len(records) != len(self):  # never expected; fall back to tfds's own reads
            return self.gather(np.arange(len(self)))
        return _decode_columns(records, self._plan)


# --------------------------------------------------------------------------- resolution


def _split_name(fn: str, name: str) -> tuple[str, str | None]:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{fn}: name must be a non-empty string, got {name!r}")
    base, _, config = name.partition("/")
    return base, (config or None)


def _jaxdl_builder_cls(fn: str, base: str, config: str | None) -> Any:
    from jaxdl.data._builders import BUILDERS

    cls = BUILDERS[base]
    names = [c.name for c in (cls.BUILDER_CONFIGS or [])]
    if config is not None and config not in names:
        allowed = ", ".join(repr(f"{base}/{c}") for c in names) or f"only {base!r}"
        raise ValueError(f"{fn}: unknown config {config!r} for {base!r}; allowed: {allowed}")
    if config is None and names:
        config = names[0]
    return cls, config


def _jaxdl_dir(root: Path, cls: Any, config: str | None) -> Path:
    parts = [cls.name] + ([config] if config else []) + [str(cls.VERSION)]
    return root.joinpath(JAXDL_SUBDIR, *parts)


def _official_prepared_dirs(root: Path, name: str) -> list[Path]:
    d = root.joinpath(*name.split("/"))
    if not d.is_dir():
        return []
    return sorted(p.parent for p in d.glob("*/dataset_info.json"))


def _prepare_jaxdl(fn: str, name: str, *, data_dir: PathLike | None,
                   source_dir: PathLike | None, download: bool) -> Path | None:
    """Makes sure jaxdl's builder ``name`` is prepared; returns its directory.

    Returns None when its raw files are nowhere but an official tfds copy of the same
    name is prepared in the data directory (the caller reads that instead).
    """
    base, config = _split_name(fn, name)
    cls, config = _jaxdl_builder_cls(fn, base, config)
    root = default_data_dir(data_dir)
    target = _jaxdl_dir(root, cls, config)
    if (target / "dataset_info.json").is_file():
        return target
    manual = None
    if cls.SOURCE is not None:
        manual, searched = find_source(cls.SOURCE, source_dir=source_dir, data_dir=data_dir)
        if manual is None:
            if _official_prepared_dirs(root, base):
                return None
            if not download:
                raise DataNotFoundError(
                    f"{fn}: no data for {name!r}.\n"
                    f"  Not prepared in the data directory: {target}\n"
                    f"  Raw files ({', '.join(cls.SOURCE.files)}) not found in any of:\n"
                    f"{format_places(searched)}\n"
                    f"  {cls.SOURCE.hint}"
                )
    tfds = _tfds()
    builder = cls(data_dir=str(root / JAXDL_SUBDIR), config=config, file_format="array_record")
    download_config = tfds.download.DownloadConfig(
        manual_dir=str(manual) if manual is not None else None,
        try_download_gcs=False,
    )
    try:
        with _quiet_tfds():
            builder.download_and_prepare(download_dir=str(root / "downloads"),
                                         download_config=download_config)
    except PermissionError as e:
        raise PermissionError(
            f"{fn}: cannot write the prepared {name!r} under {root} ({e}). The data "
            "directory must be writable: pass data_dir= (or set $JAXDL_DATA_DIR to) a "
            "writable directory, and point source_dir= at read-only raw files."
        ) from e
    return Path(builder.data_dir)


def _official_builder(fn: str, name: str, root: Path) -> Any:
    tfds = _tfds()
    from tensorflow_datasets.core import registered

    def make() -> Any:
        with _quiet_tfds():
            return tfds.builder(name, data_dir=str(root), file_format="array_record")

    try:
        return make()
    except registered.DatasetNotFoundError:
        pass
    for module in _TFDS_LEGACY_MODULES:  # see _TFDS_LEGACY_MODULES
        with contextlib.suppress(Exception):
            importlib.import_module(f"tensorflow_datasets.{module}")
    try:
        return make()
    except registered.DatasetNotFoundError:
        raise ValueError(
            f"{fn}: unknown dataset {name!r}: not one of jaxdl's ({', '.join(DATASETS)}) "
            "nor a tensorflow-datasets name (see https://www.tensorflow.org/datasets/catalog)"
        ) from None


def _official_source(fn: str, name: str, split: str, *, data_dir: PathLike | None,
                     download: bool) -> DataSource:
    root = default_data_dir(data_dir)
    with _quiet_tfds():
        return _official_source_quiet(fn, name, split, root=root, download=download)


def _official_source_quiet(fn: str, name: str, split: str, *, root: Path,
                           download: bool) -> DataSource:
    builder = _official_builder(fn, name, root)
    if download:
        builder.download_and_prepare()
    try:
        ds = builder.as_data_source(split=split)
    except ValueError as e:
        raise ValueError(
            f"{fn}: bad split {split!r} for {name!r} (splits: "
            f"{', '.join(builder.info.splits.keys())}): {str(e).splitlines()[0]}"
        ) from None
    except KeyError:
        if builder.is_prepared():
            raise
        raise DataNotFoundError(
            f"{fn}: {name!r} is a tensorflow-datasets dataset that is not prepared in the data "
            f"directory {root}.\n  Looked for: {builder.data_path}/dataset_info.json\n"
            "  Pass download=True to let tfds download and prepare it (needs the network; some "
            "official builders also need TensorFlow), or prepare it elsewhere and pass "
            f"data_dir= or set $JAXDL_DATA_DIR. jaxdl builds these offline: {', '.join(DATASETS)}."
        ) from None
    except NotImplementedError as e:  # prepared in tfrecord format: needs TensorFlow
        raise DataNotFoundError(
            f"{fn}: {name!r} is prepared in {builder.data_path} in a format only TensorFlow "
            f"reads ({e.__class__.__name__}: {str(e).splitlines()[0]}). Re-prepare it with "
            "tfds.builder(name, data_dir=..., file_format='array_record').download_and_prepare()"
            " into another data_dir, or load it with tfds.load (TensorFlow installed)."
        ) from None
    return DataSource(name, split, ds, builder.info)


def _check_split(fn: str, split: Any) -> str:
    if not isinstance(split, str) or not split:
        raise ValueError(
            f"{fn}: split must be a non-empty string such as 'train', 'test' or "
            f"'train[:80%]', got {split!r}"
        )
    return split


def source(
    name: str,
    *,
    split: str = "train",
    data_dir: PathLike | None = None,
    download: bool = False,
    source_dir: PathLike | None = None,
) -> DataSource:
    """Opens one split of a dataset for random access, without reading it into memory.

    The dataset is prepared first if needed (see :func:`load` for the rules). The
    examples stay on disk in ``array_record`` files and are decoded on demand.

    Args:
      name: one of :data:`DATASETS` (optionally ``"name/config"``, e.g.
        ``"movielens_small/movies"``) or any tensorflow-datasets name.
      split: a split with tfds's slicing syntax: ``"train"``, ``"test"``,
        ``"train[:80%]"``, ``"train[10:20]"``, ``"train+test"``.
      data_dir: where prepared datasets live; defaults to ``$JAXDL_DATA_DIR``, else
        tfds's default (``~/tensorflow_datasets``).
      download: allow fetching missing data from the network (through tfds).
      source_dir: a directory holding the raw files of one of jaxdl's builders.

    Returns:
      A :class:`DataSource`: ``len(ds)``, ``ds[i]`` (one example as a dict of arrays),
      ``ds.gather(indices)`` (a batch of columns), ``ds.info``.

    Raises:
      DataNotFoundError: the data is not prepared and cannot be built offline, and
        ``download`` is False. The message lists every place looked.
      ValueError: an unknown name, config or split.

    Example:
      >>> ds = source("iris", data_dir=tmp)            # doctest: +SKIP
      >>> len(ds), ds[0]["features"].shape
      (150, (4,))
    """
    return _open("jaxdl.data.source", name, split=split, data_dir=data_dir, download=download,
                 source_dir=source_dir)


def _open(fn: str, name: str, *, split: str, data_dir: PathLike | None, download: bool,
          source_dir: PathLike | None) -> DataSource:
    """:func:`source`, with ``fn`` (the public function called) named in errors."""
    split = _check_split(fn, split)
    base, _ = _split_name(fn, name)
    if base not in DATASETS:
        return _official_source(fn, name, split, data_dir=data_dir, download=download)
    target = _prepare_jaxdl(fn, name, data_dir=data_dir, source_dir=source_dir,
                            download=download)
    if target is None:  # only an official tfds copy of the same name is available
        return _official_source(fn, base, split, data_dir=data_dir, download=False)
    tfds = _tfds()
    with _quiet_tfds():
        builder = tfds.builder_from_directory(str(target))
        try:
            ds = builder.as_data_source(
                split=split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
        except ValueError as e:
            raise ValueError(
                f"{fn}: bad split {split!r} for {name!r} (splits: "
                f"{', '.join(builder.info.splits.keys())}; slicing like 'train[:80%]' "
                f"is allowed): {str(e).splitlines()[0]}"
            ) from None
    plan = _column_plan(builder.info.features)
    if plan is None:  # never for jaxdl's builders; kept for safety
        return DataSource(name, split, builder.as_data_source(split=split), builder.info)
    files = []
    for fi in builder.info.splits[split].file_instructions:
        take = fi.take if fi.take >= 0 else fi.examples_in_shard - fi.skip
        files.append((os.fspath(fi.filename), int(fi.skip), int(take)))
    return DataSource(name, split, ds, builder.info, plan, files)


def load(
    name: str,
    *,
    split: str = "train",
    data_dir: PathLike | None = None,
    download: bool = False,
    source_dir: PathLike | None = None,
) -> dict[str, np.ndarray]:
    """Loads one split of a dataset into memory as NumPy columns.

    jaxdl's own datasets (:data:`DATASETS`) are built offline the first time, into
    ``<data_dir>/jaxdl/``, from scikit-learn's and networkx's bundled files or from raw
    files found on this machine; afterwards they are read back through
    ``tfds.builder_from_directory``. Any other name is an official tensorflow-datasets
    dataset, read from ``<data_dir>`` if prepared there, downloaded by tfds only when
    ``download=True``. No TensorFlow is needed for either.

    Raw files are looked up in ``source_dir``, ``data_dir``, ``$JAXDL_DATA_DIR`` (each
    as is and with the dataset's subfolder ``fashion-mnist/``, ``movielens/`` or
    ``rt-polarity/``), Debian's ``/usr/share/datasets/fashion-mnist`` and a
    ``shared/data`` folder beside the checkout.

    Columns (``n`` examples):

    * ``iris``/``wine``/``breast_cancer``: ``features`` (n, d) float32, ``label`` (n,) int64.
    * ``digits``: ``features`` (n, 64) and ``image`` (n, 8, 8, 1) float32 in [0, 16],
      ``label``.
    * ``fashion_mnist``: ``image`` (n, 28, 28, 1) uint8, ``label`` (n,) int64; splits
      ``train`` (60,000) and ``test`` (10,000), published order.
    * ``movielens_small`` (= ``movielens_small/ratings``): ``user_id``, ``movie_id``,
      ``timestamp`` int64, ``rating`` float32;
      ``movielens_small/movies``: ``movie_id`` (sorted), ``title``, ``genres`` str.
    * ``rt_polarity``: ``text`` (n,) str, ``label`` (n,) int64 (1 positive).
    * ``karate_club`` (= ``karate_club/nodes``): ``node``, ``label``;
      ``karate_club/edges``: ``source``, ``target`` int64, ``weight`` float32.

    Args:
      name: a dataset name (see above), or any tensorflow-datasets name.
      split: ``"train"``, ``"test"``, or tfds slicing such as ``"train[:80%]"``. A
        dataset without a published split has everything in ``"train"``.
      data_dir: where prepared datasets live; default ``$JAXDL_DATA_DIR``, else tfds's
        default (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      download: allow fetching missing data from the network through tfds. Never needed
        for jaxdl's datasets when their files are on this machine.
      source_dir: a directory with the raw files of one of jaxdl's builders.

    Returns:
      ``{column: np.ndarray}``, every column with the same leading length.

    Raises:
      DataNotFoundError: the data is missing and ``download`` is False; raised at once,
        listing every place looked and how to provide the data.
      ValueError: an unknown name, config or split.

    Example:
      >>> data = load("fashion_mnist", split="test")  # doctest: +SKIP
      >>> data["image"].shape, data["image"].dtype, data["label"].shape
      ((10000, 28, 28, 1), dtype('uint8'), (10000,))
    """
    return _open("jaxdl.data.load", name, split=split, data_dir=data_dir, download=download,
                 source_dir=source_dir).to_arrays()


def prepare(
    name: str,
    *,
    data_dir: PathLike | None = None,
    download: bool = False,
    source_dir: PathLike | None = None,
) -> Path:
    """Prepares a dataset (all its splits) once, without loading it.

    Args:
      name: as for :func:`load`.
      data_dir: as for :func:`load`.
      download: as for :func:`load`.
      source_dir: as for :func:`load`.

    Returns:
      The directory holding the prepared dataset (``.../<name>/<version>``).

    Raises:
      DataNotFoundError: as for :func:`load`.
    """
    fn = "jaxdl.data.prepare"
    base, _ = _split_name(fn, name)
    root = default_data_dir(data_dir)
    if base in DATASETS:
        target = _prepare_jaxdl(fn, name, data_dir=data_dir, source_dir=source_dir,
                                download=download)
        if target is not None:
            return target
        return _official_prepared_dirs(root, base)[-1]
    with _quiet_tfds():
        builder = _official_builder(fn, name, root)
        if not builder.is_prepared():
            if not download:
                raise DataNotFoundError(
                    f"{fn}: {name!r} is not prepared in {builder.data_path}; pass "
                    "download=True to let tfds download it"
                )
            builder.download_and_prepare()
    return Path(builder.data_path)
