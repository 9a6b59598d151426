"""Shared test configuration: strict rank promotion, no network access from tfds, and the
project's raw data files (``<repo>/../shared/data``) as ``$JAXDL_SOURCE_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

import jax

# ---------------------------------------------------------------- data layer: raw files
# This project's machines and CI keep the raw dataset files beside the checkout, in
# ``<repo>/../shared/data`` (fashion-mnist/, movielens/, rt-polarity/). jaxdl itself never
# guesses such a folder; the tests name it through $JAXDL_SOURCE_DIR (read-only raw files;
# prepared data still goes to each test's data_dir), unless the variable is already set.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if SHARED_DATA.is_dir() and not os.environ.get("JAXDL_SOURCE_DIR"):
    os.environ["JAXDL_SOURCE_DIR"] = str(SHARED_DATA)

# Float32 matmuls at full precision on every backend: a GPU's default (TF32, about 1e-3
# relative) would miss the 1e-5/1e-6 tolerances with which tests compare against
# references. CPU results are unchanged (its default is already full precision).
jax.config.update("jax_default_matmul_precision", "highest")

# Silent broadcasting bugs fail loudly in tests (as Equinox's test config does).
jax.config.update("jax_numpy_rank_promotion", "raise")


# ---------------------------------------------------------------- data layer: no network
# (jaxdl.data, issue 3) Any attempt by tensorflow-datasets to download, or to look for a
# prepared dataset on Google Cloud Storage, fails loudly instead of hanging on retries.

import pytest


class NetworkAccessError(RuntimeError):
    """Raised when a test makes tensorflow-datasets reach for the network."""


def _no_network(*args, **kwargs):
    raise NetworkAccessError(
        "tests must not touch the network: a tensorflow-datasets download or GCS look-up "
        f"was attempted (args={args!r})"
    )


@pytest.fixture(autouse=True, scope="session")
def _tfds_no_network():
    """Session-wide: tfds downloads and GCS look-ups raise NetworkAccessError."""
    try:
        from tensorflow_datasets.core.download import download_manager, downloader
        from tensorflow_datasets.core.utils import gcs_utils
    except ImportError:  # tfds not installed: nothing to guard
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        for name in ("download", "download_and_extract", "download_checksums",
                     "download_kaggle_data"):
            mp.setattr(download_manager.DownloadManager, name, _no_network)
        mp.setattr(downloader._Downloader, "download", _no_network)
        mp.setattr(gcs_utils, "is_dataset_on_gcs", _no_network)
        mp.setattr(gcs_utils, "download_gcs_dataset", _no_network)
        yield


@pytest.fixture(scope="module")
def private_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """``$JAXDL_DATA_DIR`` set to a fresh folder for a module's tests: datasets they prepare
    go there, not to the user's ``~/tensorflow_datasets``. Use it with
    ``pytestmark = pytest.mark.usefixtures("private_data_dir")`` or as an argument."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXDL_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        yield
# ---------------------------------------------------------------- end of data layer section
