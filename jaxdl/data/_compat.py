"""Work-arounds for tensorflow-datasets (verified with tfds 4.9.10), kept in one place.

Each function here exists because of one tfds behaviour, named in its docstring; the rest
of ``jaxdl.data`` calls tfds only through its documented API or through these.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

LEGACY_MODULES = (
    "audio", "graphs", "image", "image_classification", "object_detection",
    "nearest_neighbors", "question_answering", "d4rl", "ranking", "recommendation",
    "rl_unplugged", "robotics", "robomimic", "structured", "summarization", "text",
    "text_simplification", "time_series", "translate", "video", "vision_language",
)
"""Official tfds modules that tfds imports as one chain and abandons at the first missing
optional dependency (``h5py``), leaving e.g. ``movielens`` unregistered."""

_NOISE = ("has no dataset_info.json", "Load dataset info from", "Reusing dataset",
          "Constructing tf.data.Dataset", "Generating dataset", "is already downloaded")


def tfds() -> Any:
    """``tensorflow_datasets``, imported on first use, only when data is needed."""
    import tensorflow_datasets

    return tensorflow_datasets


def import_legacy_modules() -> None:
    """Imports :data:`LEGACY_MODULES` one by one, so that a name such as
    ``movielens/100k-ratings`` is registered even without ``h5py``."""
    for module in LEGACY_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(f"tensorflow_datasets.{module}")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(s in msg for s in _NOISE)


@contextlib.contextmanager
def quiet_tfds() -> Iterator[None]:
    """Silences tfds's progress bars and its benign "no dataset_info.json" warnings
    (tfds logs them through absl for every builder it constructs)."""
    tf_datasets = tfds()
    from tensorflow_datasets.core.utils import tqdm_utils

    was_active = getattr(tqdm_utils, "_active", True)
    noise = _DropNoise()
    absl_logger = logging.getLogger("absl")
    absl_logger.addFilter(noise)
    tf_datasets.display_progress_bar(False)
    try:
        yield
    finally:
        tf_datasets.display_progress_bar(was_active)
        absl_logger.removeFilter(noise)


def get_items(backend: Any, indices: list[int]) -> list[Any]:
    """``backend.__getitems__(indices)``; one by one where ``tfds.testing.mock_data``'s data
    source has an unbound ``__getitems__`` (it raises ``TypeError``)."""
    try:
        return backend.__getitems__(indices)
    except TypeError:
        return [backend[i] for i in indices]


def is_empty_split(builder: Any, split: str) -> bool:
    """True for a valid selection of no examples (``"train[150:]"`` of 150 examples).

    tfds's ``as_data_source`` refuses one ("Paths sequence can not be of 0 length", from
    ``array_record``), so the callers serve an empty source themselves. False where tfds
    cannot say (a dataset not prepared, a split it refuses): ``as_data_source`` then
    raises the error that explains it.
    """
    try:
        return builder.info.splits[split].num_examples == 0
    except (KeyError, ValueError, AttributeError, TypeError):
        return False


def split_files(info: Any, split: str) -> list[tuple[str, int, int]]:
    """``(file, skip, take)`` for every file range that makes up ``split``, in order.

    tfds writes ``take=-1`` for "to the end of the shard"; that becomes a count here.
    """
    files = []
    for fi in info.splits[split].file_instructions:
        take = fi.take if fi.take >= 0 else fi.examples_in_shard - fi.skip
        files.append((os.fspath(fi.filename), int(fi.skip), int(take)))
    return files


@functools.cache
def feature_type_names() -> frozenset[str]:
    """The fully qualified names of tensorflow-datasets' own feature types.

    These are the names ``features.json`` stores (``"pythonClassName"``) and tfds looks up
    when it reads a prepared dataset; a name it does not know yet it *imports*
    (``FeatureConnector.cls_from_name``). The set is built from the classes exported by
    ``tfds.features`` (plus their registered aliases), so nothing outside tfds is in it.
    """
    features = tfds().features
    names = set()
    for obj in vars(features).values():
        if (isinstance(obj, type) and issubclass(obj, features.FeatureConnector)
                and obj.__module__.startswith("tensorflow_datasets.")):
            names.add(f"{obj.__module__}.{obj.__name__}")
            names.update(obj.__dict__.get("ALIASES", []))
    return frozenset(names)


def feature_type_names_in(content: Any) -> Sequence[str]:
    """Every feature type named in a parsed ``features.json`` (or the ``features`` entry of
    ``dataset_info.json``): ``pythonClassName`` entries, and the legacy ``{"type": ...,
    "content": ...}`` form tfds still reads."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("pythonClassName", "python_class_name"):
                if key in node:
                    found.append(str(node[key]))
            if "type" in node and "content" in node:
                found.append(str(node["type"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(content)
    return found
