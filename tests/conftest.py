"""Shared test configuration: strict rank promotion, no network access from tfds, and the
project's raw data files (``<repo>/../shared/data``) as ``$JAXDL_SOURCE_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

# The tests compile thousands of small programs and run each for microseconds, so LLVM's
# optimisation passes in XLA's backend cost far more than they save: at level 0 the
# default run takes about a third less CPU (test_protocol.py and test_layers.py: 145
# instead of 211 CPU-seconds). Same semantics. XLA reads the flag when jax starts its
# backend, so it is set, the backend started, and the user's XLA_FLAGS put back: the
# experiments that tests run as subprocesses train at the default level. An XLA_FLAGS of
# the user's own that names the level wins.
_USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")
if "--xla_backend_optimization_level" not in (_USER_XLA_FLAGS or ""):
    os.environ["XLA_FLAGS"] = f"{_USER_XLA_FLAGS or ''} --xla_backend_optimization_level=0"

import jax  # noqa: E402  (after XLA_FLAGS)
import pytest  # noqa: E402

jax.devices()  # starts the backend, which parses XLA_FLAGS
if _USER_XLA_FLAGS is None:
    os.environ.pop("XLA_FLAGS", None)
else:
    os.environ["XLA_FLAGS"] = _USER_XLA_FLAGS

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


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh, writable data folder for the test session (one per xdist worker): each
    dataset is prepared there once, whichever module asks first."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def private_data_dir(session_data_dir: Path):
    """``$JAXDL_DATA_DIR`` set to the session's data folder for a module's tests: datasets
    they prepare go there, not to the user's ``~/tensorflow_datasets``. Use it with
    ``pytestmark = pytest.mark.usefixtures("private_data_dir")`` or as an argument."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXDL_DATA_DIR", str(session_data_dir))
        yield
# ---------------------------------------------------------------- end of data layer section
