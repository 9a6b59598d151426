"""``load``, ``source`` and ``prepare``: datasets by name, through tensorflow-datasets.

A name is either one of jaxdl's own builders (:data:`DATASETS`, built offline from
bundled or local files) or any official tfds name (``"mnist"``,
``"movielens/100k-ratings"``, ...), which tfds resolves, downloading only when
``download=True``. Either way the data is read back without TensorFlow, from
``array_record`` files. The parts live beside this module: name resolution in
``_names``, where files are looked for in ``_paths``, reading a prepared dataset in
``_source``, decoding in ``_decode`` and tfds work-arounds in ``_compat``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxdl._checks import check_bool
from jaxdl.data._checks import check_path
from jaxdl.data._compat import quiet_tfds, tfds
from jaxdl.data._names import (
    DATASETS, check_split, jaxdl_builder, jaxdl_dir, official_builder, official_prepared_dirs,
    split_name,
)
from jaxdl.data._paths import (
    ENV_DATA_DIR, ENV_SOURCE_DIR, JAXDL_SUBDIR, DataNotFoundError, default_data_dir,
    find_source, format_places, unset_variables,
)
from jaxdl.data._source import DataSource, check_official_folders, open_official, open_prepared

__all__ = ["DATASETS", "DataSource", "load", "prepare", "source"]

PathLike = str | os.PathLike[str]


def _check_args(fn: str, name: Any, *, data_dir: Any, download: Any,
                source_dir: Any) -> tuple[str, str | None]:
    """Validates the arguments shared by load/source/prepare; returns ``(base, config)``."""
    base_config = split_name(fn, name)
    check_path(fn, "data_dir", data_dir)
    check_path(fn, "source_dir", source_dir)
    check_bool(fn, "download", download)
    return base_config


# --------------------------------------------------------------------------- preparing


def _prepare_jaxdl(fn: str, name: str, base: str, config: str | None, *,
                   data_dir: PathLike | None, source_dir: PathLike | None,
                   download: bool) -> Path | None:
    """Makes sure jaxdl's builder ``name`` (``base``/``config``, from :func:`_check_args`)
    is prepared; returns its directory.

    Returns None when its raw files are nowhere but an official tfds copy of the same
    name is prepared in the data directory (the caller reads that instead).
    """
    cls, config = jaxdl_builder(fn, base, config)
    root = default_data_dir(data_dir)
    target = jaxdl_dir(root, cls, config)
    if (target / "dataset_info.json").is_file():
        return target
    manual = None
    if cls.SOURCE is not None:
        manual, searched = find_source(cls.SOURCE, source_dir=source_dir, data_dir=data_dir)
        if manual is None:
            if official_prepared_dirs(root, base):
                return None
            if not download:
                unset = unset_variables()
                raise DataNotFoundError(
                    f"{fn}: no data for {name!r}.\n"
                    f"  Not prepared in the data directory: {target}\n"
                    f"  Raw files ({', '.join(cls.SOURCE.files)}) not found in any of:\n"
                    f"{format_places(searched)}\n"
                    + (f"  Not set: {', '.join(unset)}\n" if unset else "")
                    + f"  {cls.SOURCE.hint}"
                )
    builder = cls(data_dir=str(root / JAXDL_SUBDIR), config=config, file_format="array_record")
    download_config = tfds().download.DownloadConfig(
        manual_dir=str(manual) if manual is not None else None,
        try_download_gcs=False,
    )
    try:
        with quiet_tfds():
            builder.download_and_prepare(download_dir=str(root / "downloads"),
                                         download_config=download_config)
    except PermissionError as e:
        raise PermissionError(
            f"{fn}: cannot write the prepared {name!r} under {root} ({e}). The data "
            f"directory must be writable: pass data_dir= (or set ${ENV_DATA_DIR} to) a "
            f"writable directory, and point source_dir= (or ${ENV_SOURCE_DIR}) at read-only "
            "raw files."
        ) from e
    except ValueError as e:  # a damaged raw file: the builders' messages name it
        where = f" from {manual}" if manual is not None else ""
        raise ValueError(f"{fn}: cannot prepare {name!r}{where}: {e}") from e
    return Path(builder.data_dir)


def _official_source(fn: str, name: str, split: str, *, data_dir: PathLike | None,
                     download: bool) -> DataSource:
    root = default_data_dir(data_dir)
    check_official_folders(fn, root, name)
    with quiet_tfds():
        builder = official_builder(fn, name, root)
        if download:
            builder.download_and_prepare()
        try:
            return open_official(fn, name, split, builder)
        except KeyError:
            if builder.is_prepared():
                raise
            raise DataNotFoundError(
                f"{fn}: {name!r} is a tensorflow-datasets dataset that is not prepared in the "
                f"data directory {root}.\n  Looked for: {builder.data_path}/dataset_info.json\n"
                "  Pass download=True to let tfds download and prepare it (needs the network; "
                "some official builders also need TensorFlow), or prepare it elsewhere and pass "
                f"data_dir= or set ${ENV_DATA_DIR}. jaxdl builds these offline: "
                f"{', '.join(DATASETS)}."
            ) from None
        except NotImplementedError as e:  # prepared in tfrecord format: needs TensorFlow
            raise DataNotFoundError(
                f"{fn}: {name!r} is prepared in {builder.data_path} in a format only TensorFlow "
                f"reads ({e.__class__.__name__}: {str(e).splitlines()[0]}). Re-prepare it with "
                "tfds.builder(name, data_dir=..., file_format='array_record')"
                ".download_and_prepare() into another data_dir, or load it with tfds.load "
                "(TensorFlow installed)."
            ) from None


def _open(fn: str, name: Any, *, split: Any, data_dir: Any, download: Any,
          source_dir: Any) -> DataSource:
    """:func:`source`, with ``fn`` (the public function called) named in errors."""
    base, config = _check_args(fn, name, data_dir=data_dir, download=download,
                               source_dir=source_dir)
    split = check_split(fn, split)
    if base not in DATASETS:
        return _official_source(fn, name, split, data_dir=data_dir, download=download)
    target = _prepare_jaxdl(fn, name, base, config, data_dir=data_dir,
                            source_dir=source_dir, download=download)
    if target is None:  # only an official tfds copy of the same name is available
        return _official_source(fn, base, split, data_dir=data_dir, download=False)
    return open_prepared(fn, name, split, target)


# --------------------------------------------------------------------------- public


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
      TypeError: an argument of the wrong type.
      ValueError: an unknown name, config or split; a damaged file (named).

    Example:
      >>> ds = source("iris", data_dir=tmp)            # doctest: +SKIP
      >>> len(ds), ds[0]["features"].shape           # doctest: +SKIP
      (150, (4,))
    """
    return _open("jaxdl.data.source", name, split=split, data_dir=data_dir, download=download,
                 source_dir=source_dir)


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
    ``<data_dir>/jaxdl/``, from scikit-learn's, networkx's and statsmodels' bundled files or from raw
    files found on this machine; afterwards they are read back through
    ``tfds.builder_from_directory``. Any other name is an official tensorflow-datasets
    dataset, read from ``<data_dir>`` if prepared there, downloaded by tfds only when
    ``download=True``. No TensorFlow is needed for either.

    Raw files are looked up in ``source_dir``, ``data_dir``, each folder of
    ``$JAXDL_SOURCE_DIR`` and ``$JAXDL_DATA_DIR`` (each as is and with the dataset's
    subfolder ``fashion-mnist/``, ``movielens/`` or ``rt-polarity/``), and Debian's
    ``/usr/share/datasets/fashion-mnist``.

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
    * ``sunspots``: ``year`` int64 (1700..2008, in order), ``activity`` float32.

    Args:
      name: a dataset name (see above), or any tensorflow-datasets name.
      split: ``"train"``, ``"test"``, or tfds slicing such as ``"train[:80%]"``. A
        dataset without a published split has everything in ``"train"``. A valid empty
        slice (``"train[150:]"`` of 150 examples) gives zero-length columns.
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
      TypeError: an argument of the wrong type.
      ValueError: an unknown name, config or split (with a "did you mean"); a damaged raw
        or prepared file (the message names it).

    Example:
      >>> data = load("fashion_mnist", split="test")  # doctest: +SKIP
      >>> data["image"].shape, data["image"].dtype, data["label"].shape  # doctest: +SKIP
      ((10000, 28, 28, 1), dtype('uint8'), (10000,))
    """
    fn = "jaxdl.data.load"
    return _open(fn, name, split=split, data_dir=data_dir, download=download,
                 source_dir=source_dir)._read_all(fn)


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
      TypeError, ValueError: as for :func:`load`.
    """
    fn = "jaxdl.data.prepare"
    base, config = _check_args(fn, name, data_dir=data_dir, download=download,
                               source_dir=source_dir)
    root = default_data_dir(data_dir)
    if base in DATASETS:
        target = _prepare_jaxdl(fn, name, base, config, data_dir=data_dir,
                                source_dir=source_dir, download=download)
        if target is not None:
            return target
        return official_prepared_dirs(root, base)[-1]
    check_official_folders(fn, root, name)
    with quiet_tfds():
        builder = official_builder(fn, name, root)
        if not builder.is_prepared():
            if not download:
                raise DataNotFoundError(
                    f"{fn}: {name!r} is not prepared in {builder.data_path}; pass "
                    "download=True to let tfds download it"
                )
            builder.download_and_prepare()
    return Path(builder.data_path)
