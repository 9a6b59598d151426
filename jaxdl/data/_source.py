"""The data source: random access to one split of a prepared dataset, read from disk.

:func:`open_prepared` opens a dataset that one of jaxdl's builders prepared (its records
are decoded in bulk, see :mod:`jaxdl.data._decode`); :func:`open_official` wraps a tfds
data source of an official dataset. Both give a :class:`DataSource`.

A prepared folder tells tfds which feature classes to rebuild (``features.json``); a name
tfds does not know it *imports*, which runs that module's code. Before tfds reads one of
jaxdl's folders, :func:`check_feature_types` makes sure every type named there is one of
tfds's own (and :func:`check_official_folders` does the same for official names, which
tfds may also rebuild from files alone).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxdl.data._compat import (
    feature_type_names, feature_type_names_in, get_items, is_empty_split, quiet_tfds,
    split_files, tfds,
)
from jaxdl.data._decode import (
    Column, UnsupportedFeature, column_plan, decode_columns, empty_columns, empty_columns_like,
    stack_examples,
)
from jaxdl.data._names import bad_split

# Errors the array_record reader and tfds's data source raise for a damaged file.
_READ_ERRORS = (RuntimeError, OSError, IndexError, ValueError)


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
                 plan: list[Column] | None = None,
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
            return tuple(c.name for c in self._plan)
        return tuple(self.gather([0]).keys()) if len(self) else tuple(self._empty())

    def _empty(self) -> dict[str, np.ndarray]:
        if self._plan is not None:
            return empty_columns(self._plan)
        if len(self):
            return {k: v[:0] for k, v in self.gather([0]).items()}
        return empty_columns_like(getattr(self.info, "features", None))

    def gather(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Reads the examples at ``indices`` as a batch of columns.

        Args:
          indices: example positions, shape ``(batch,)``; negative values count from the end.

        Returns:
          ``{column: array of shape (batch, *feature_shape)}``; text columns are NumPy
          unicode arrays. No indices give zero-length columns.

        Raises:
          TypeError: indices that are not integers.
          IndexError: an index is out of range.
          ValueError: a damaged prepared file (the message names it).
        """
        return self._gather(indices, "DataSource.gather")

    def _gather(self, indices: Sequence[int] | np.ndarray, fn: str) -> dict[str, np.ndarray]:
        n = len(self)
        idx = np.asarray(indices)
        if idx.size and idx.dtype.kind not in "iu":
            shown = repr(indices) if idx.size <= 8 else f"an array of shape {idx.shape}"
            raise TypeError(f"{fn}: indices must be integers, got {shown} of dtype {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(
                f"{fn}: indices must lie in [-{n}, {n}) for {self.name!r} "
                f"split {self.split!r}; got min {idx.min()}, max {idx.max()}"
            )
        idx = np.where(idx < 0, idx + n, idx).tolist()
        if not idx:
            return self._empty()
        try:
            records = get_items(self._backend, idx)
            if self._plan is not None:
                return decode_columns(records, self._plan)
        except _READ_ERRORS as e:
            raise self._damaged(fn, e, self._files_of(idx)) from None
        return stack_examples(records)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        """One example: ``{column: array of shape feature_shape}``."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"DataSource.__getitem__: index must be an int, got {index!r} "
                f"({type(index).__name__}); use gather(indices) for a batch"
            )
        return {k: v[0] for k, v in self._gather([int(index)], "DataSource.__getitem__").items()}

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
        return self._read_all("DataSource.to_arrays")

    def _read_all(self, fn: str) -> dict[str, np.ndarray]:
        """:meth:`to_arrays`, with ``fn`` (the public function called) named in errors."""
        if self._plan is None or self._files is None or not len(self):
            return self._gather(np.arange(len(self)), fn)
        # Whole split: read each file's range sequentially (faster than random access).
        from array_record.python.array_record_module import ArrayRecordReader

        records: list[bytes] = []
        for filename, skip, take in self._files:
            try:
                reader = ArrayRecordReader(filename)
                try:
                    got = reader.read(skip, skip + take)
                finally:
                    reader.close()
                if len(got) != take:
                    raise ValueError(f"read {len(got)} of its {take} records")
                records.extend(got)
            except _READ_ERRORS as e:
                raise self._damaged(fn, e, [filename]) from None
        try:
            return decode_columns(records, self._plan)
        except ValueError as e:
            raise self._damaged(fn, e, [f for f, _, _ in self._files]) from None

    def _files_of(self, idx: list[int]) -> list[str]:
        """The files holding the examples at ``idx`` (all of the split's if unknown)."""
        if not self._files:
            return []
        ends = np.cumsum([take for _, _, take in self._files])
        which = sorted(set(np.searchsorted(ends, idx, side="right").tolist()))
        return [self._files[i][0] for i in which if i < len(self._files)]

    def _damaged(self, fn: str, error: Exception, files: Sequence[str]) -> ValueError:
        where = ", ".join(files) or f"the files of {self.name!r} split {self.split!r}"
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        folder = str(Path(files[0]).parent) if files else "its folder"
        return ValueError(
            f"{fn}: cannot read {self.name!r} split {self.split!r} from {where}: the "
            f"prepared file is damaged or truncated ({detail}). Delete {folder} and load "
            "again to prepare it anew."
        )


# --------------------------------------------------------------------------- opening


def check_feature_types(fn: str, directory: Path) -> None:
    """Refuses a prepared folder whose features name a type that is not tfds's own.

    Reads ``features.json`` and the ``features`` entry of ``dataset_info.json`` as plain
    JSON, before tfds does (tfds would import any module named there).

    Raises:
      ValueError: a file that is not valid JSON, or a feature type outside tfds (the
        message names the file and the type).
    """
    allowed = feature_type_names()
    for filename in ("dataset_info.json", "features.json"):
        path = directory / filename
        if not path.is_file():
            continue
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"{fn}: cannot read {path}: {e}") from None
        if filename == "dataset_info.json":
            content = content.get("features", {}) if isinstance(content, dict) else {}
        for type_name in feature_type_names_in(content):
            if type_name not in allowed:
                raise ValueError(
                    f"{fn}: {path} names the feature type {type_name!r}, which is not one of "
                    "tensorflow-datasets' own feature types; jaxdl refuses to read this "
                    "folder (tfds would import that module, running its code). Prepare the "
                    "dataset again into a data directory you trust."
                )


def check_official_folders(fn: str, root: Path, name: str) -> None:
    """:func:`check_feature_types` for every prepared folder of an official name in ``root``.

    For a name without builder code (or with an explicit version or unknown config) tfds
    rebuilds the builder from these files alone, ``features.json`` included.
    """
    base = root / name.split(":", 1)[0].split("/", 1)[0]
    if not base.is_dir():
        return
    for info in sorted([*base.glob("*/dataset_info.json"), *base.glob("*/*/dataset_info.json"),
                        *base.glob("*/features.json"), *base.glob("*/*/features.json")]):
        check_feature_types(fn, info.parent)


def open_prepared(fn: str, name: str, split: str, directory: Path) -> DataSource:
    """Opens one split of a dataset that one of jaxdl's builders prepared in ``directory``.

    Raises:
      ValueError: a bad split; a folder with foreign feature types or features that
        jaxdl's builders do not write; a damaged file (each message names the path).
    """
    check_feature_types(fn, directory)
    tf_datasets = tfds()
    with quiet_tfds():
        try:
            builder = tf_datasets.builder_from_directory(str(directory))
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"{fn}: cannot read the prepared dataset in {directory} "
                             f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
        try:
            plan = column_plan(builder.info.features)
        except UnsupportedFeature as e:
            raise ValueError(f"{fn}: {directory / 'features.json'} was not written by jaxdl's "
                             f"builders: {e}") from None
        try:
            files = split_files(builder.info, split)
        except (ValueError, KeyError) as e:
            raise bad_split(fn, name, split, builder.info.splits.keys(), e) from None
        if is_empty_split(builder, split):
            return DataSource(name, split, [], builder.info, plan, files)
        try:  # the split is valid (split_files parsed it): an error here is a bad file
            ds = builder.as_data_source(
                split=split, deserialize_method=tf_datasets.decode.DeserializeMethod.RAW_BYTES)
        except _READ_ERRORS as e:
            source = DataSource(name, split, [], builder.info, plan, files)
            raise source._damaged(fn, e, [f for f, _, _ in files]) from None
    return DataSource(name, split, ds, builder.info, plan, files)


def open_official(fn: str, name: str, split: str, builder: Any) -> DataSource:
    """Opens one split of an official tfds dataset prepared (``array_record``) in its
    builder's data directory.

    Raises:
      ValueError: a bad split.
      KeyError, NotImplementedError: as tfds raises them for a dataset that is not
        prepared, or prepared in a format only TensorFlow reads (the caller explains).
    """
    if is_empty_split(builder, split):
        return DataSource(name, split, [], builder.info)
    try:
        ds = builder.as_data_source(split=split)
    except ValueError as e:
        raise bad_split(fn, name, split, builder.info.splits.keys(), e) from None
    return DataSource(name, split, ds, builder.info)
