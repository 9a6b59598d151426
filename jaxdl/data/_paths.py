"""Where jaxdl keeps prepared datasets and where it looks for raw source files.

Two kinds of directory are involved:

* the **data directory** (tfds's ``data_dir``), where prepared datasets live:
  the ``data_dir`` argument, else the environment variable ``JAXDL_DATA_DIR``, else
  tfds's default (``TFDS_DATA_DIR`` or ``~/tensorflow_datasets``). jaxdl's own builders
  write under ``<data_dir>/jaxdl/<name>[/<config>]/<version>/``; official tfds datasets
  under ``<data_dir>/<name>[/<config>]/<version>/`` as tfds always does.
* the **source directories**, searched in order for the raw files that jaxdl's builders
  read (Fashion-MNIST idx files, ``ml-latest-small.zip``, ``rt-polarity.pos/.neg``):
  the ``source_dir`` argument, the ``data_dir`` argument, each folder in the environment
  variable ``JAXDL_SOURCE_DIR`` (several separated by ``os.pathsep``), ``JAXDL_DATA_DIR``,
  and the Debian package folder (Fashion-MNIST only). Each directory is tried as is and
  with the dataset's usual subfolder (``fashion-mnist/``, ``movielens/``,
  ``rt-polarity/``). Nothing else is searched: no folder is guessed from where the
  package is installed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from jaxdl.data._checks import check_path

ENV_DATA_DIR = "JAXDL_DATA_DIR"
"""Environment variable naming the data directory (and a source directory)."""

ENV_SOURCE_DIR = "JAXDL_SOURCE_DIR"
"""Environment variable naming folders of raw source files (``os.pathsep``-separated),
read-only ones included; prepared data is never written there."""

JAXDL_SUBDIR = "jaxdl"
"""Subdirectory of the data directory that holds the datasets jaxdl builds itself."""

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the four idx files."""


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither prepared nor available from any source jaxdl may use.

    The message lists every place jaxdl looked and how to provide the data.
    """


class SourceFiles(NamedTuple):
    """The raw files one of jaxdl's builders reads.

    Attributes:
      subdir: the conventional subfolder name, e.g. ``"fashion-mnist"``.
      files: file names that must all be present in one directory.
      hint: how to obtain the files, for error messages.
    """

    subdir: str
    files: tuple[str, ...]
    hint: str


def default_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolves the data directory: ``data_dir`` > ``$JAXDL_DATA_DIR`` > tfds's default.

    Args:
      data_dir: an explicit directory, or None.

    Returns:
      The absolute directory path (it need not exist yet).

    Raises:
      TypeError: ``data_dir`` is not a path.
    """
    check_path("jaxdl.data.default_data_dir", "data_dir", data_dir)
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser().resolve()
    tfds_env = os.environ.get("TFDS_DATA_DIR")
    if tfds_env:
        return Path(tfds_env).expanduser().resolve()
    return (Path.home() / "tensorflow_datasets").resolve()


def _env_dirs(var: str) -> list[Path]:
    value = os.environ.get(var, "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def source_candidates(
    spec: SourceFiles,
    *,
    source_dir: str | os.PathLike[str] | None,
    data_dir: str | os.PathLike[str] | None,
) -> list[tuple[Path, str]]:
    """Every directory searched for ``spec``'s files, in order, with why it is searched.

    Args:
      spec: the files wanted.
      source_dir: the explicit ``source_dir`` argument, or None.
      data_dir: the explicit ``data_dir`` argument, or None.

    Returns:
      ``(directory, reason)`` pairs; directories may not exist.
    """
    bases: list[tuple[Path, str]] = []
    if source_dir is not None:
        bases.append((Path(source_dir).expanduser(), "source_dir argument"))
    if data_dir is not None:
        bases.append((Path(data_dir).expanduser(), "data_dir argument"))
    bases += [(d, f"${ENV_SOURCE_DIR}") for d in _env_dirs(ENV_SOURCE_DIR)]
    bases += [(d, f"${ENV_DATA_DIR}") for d in _env_dirs(ENV_DATA_DIR)]
    out: list[tuple[Path, str]] = []
    for base, why in bases:
        out.append((base, why))
        out.append((base / spec.subdir, why))
    if spec.subdir == "fashion-mnist":
        out.append((DEBIAN_FASHION_MNIST, "Debian package dataset-fashion-mnist"))
    return out


def unset_variables() -> list[str]:
    """The source-directory environment variables that are not set (for messages)."""
    return [f"${v}" for v in (ENV_SOURCE_DIR, ENV_DATA_DIR) if not _env_dirs(v)]


def find_source(
    spec: SourceFiles,
    *,
    source_dir: str | os.PathLike[str] | None,
    data_dir: str | os.PathLike[str] | None,
) -> tuple[Path | None, list[tuple[Path, str]]]:
    """Finds the first directory holding all of ``spec.files``.

    Args:
      spec: the files wanted.
      source_dir: the explicit ``source_dir`` argument, or None.
      data_dir: the explicit ``data_dir`` argument, or None.

    Returns:
      ``(directory or None, every (directory, reason) searched)``.
    """
    searched = source_candidates(spec, source_dir=source_dir, data_dir=data_dir)
    for directory, _ in searched:
        if all((directory / f).is_file() for f in spec.files):
            return directory, searched
    return None, searched


def format_places(places: Sequence[tuple[Path, str]]) -> str:
    """Formats ``(path, reason)`` pairs as an indented list, one per line."""
    return "\n".join(f"    {p}  ({why})" for p, why in places)
