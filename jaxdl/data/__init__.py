"""jaxdl's data layer: real datasets through tensorflow-datasets, offline first.

Loading (see ``docs/data.md``)::

    from jaxdl import data
    train = data.load("fashion_mnist", split="train")     # image (60000, 28, 28, 1) uint8,
                                                          # label (60000,) int64
    test = data.load("fashion_mnist", split="test")       # the same for 10,000 images
    iris = data.load("iris")                              # scikit-learn's bundled copy
    mnist = data.load("mnist", download=True)             # any tfds name, fetched by tfds

Feeding::

    for epoch in range(epochs):
        for batch in data.batches(train, 128, key=0, epoch=epoch):
            ...                                           # host batches, fresh order per epoch

    on_device = data.to_device(train)                     # or: the whole set on the device,
    batch = data.device_batch(on_device, perm, step, 128) # gathered inside jit

jaxdl builds :data:`DATASETS` itself, without network or TensorFlow; the data directory is
``data_dir=`` > ``$JAXDL_DATA_DIR`` > tfds's default (``~/tensorflow_datasets``); raw files
come from ``source_dir=``, ``$JAXDL_SOURCE_DIR``, ``$JAXDL_DATA_DIR`` or Debian's package.

Modules: ``_load`` (load/source/prepare), ``_names`` (names, configs, splits), ``_paths``
(where files are looked for), ``_source`` (DataSource, reading prepared data), ``_decode``
(records to columns), ``_compat`` (tfds work-arounds), ``_builders`` (jaxdl's tfds
builders), ``_iterators``, ``_split``, ``_preprocess``, ``_text``, ``_checks``.
"""

from jaxdl.data._iterators import (
    BatchIterator, batches, device_batch, device_permutation, epoch_permutation, num_batches,
    num_examples, prefetch_to_device, to_device,
)
from jaxdl.data._load import load, prepare, source
from jaxdl.data._names import DATASETS
from jaxdl.data._paths import ENV_DATA_DIR, DataNotFoundError, default_data_dir
from jaxdl.data._preprocess import channel_mean_std, one_hot, scale_to_unit, standardize
from jaxdl.data._source import DataSource
from jaxdl.data._split import Splits, split_indices, train_val_test_split
from jaxdl.data._text import PAD, PAD_ID, UNK, UNK_ID, Vocabulary, build_vocabulary


def __getattr__(name: str) -> object:
    # ``jaxdl.data.builders``: jaxdl's tfds builder classes (Iris, FashionMnist, ...), for
    # driving tfds directly. Imported lazily: it imports tensorflow_datasets.
    if name == "builders":
        import importlib

        return importlib.import_module("jaxdl.data._builders")
    raise AttributeError(f"module 'jaxdl.data' has no attribute {name!r}")


__all__ = [
    # loading
    "load", "source", "prepare", "DataSource", "DATASETS", "DataNotFoundError",
    "default_data_dir", "ENV_DATA_DIR",
    # splitting
    "train_val_test_split", "split_indices", "Splits",
    # batching and feeding
    "batches", "BatchIterator", "epoch_permutation", "num_batches", "num_examples",
    "prefetch_to_device", "to_device", "device_permutation", "device_batch",
    # preprocessing
    "one_hot", "scale_to_unit", "channel_mean_std", "standardize",
    # text
    "Vocabulary", "build_vocabulary", "PAD", "UNK", "PAD_ID", "UNK_ID",
]
