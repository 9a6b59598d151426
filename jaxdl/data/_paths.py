"""Where jaxdl keeps prepared datasets and where it looks for raw source files.

Two kinds of directory are involved:

* the **data directory** (tfds's ``data_dir``), where prepared datasets live:
  the ``data_dir`` argument, else the environment variable ``JAXDL_DATA_DIR``, else
  tfds's default (``TFDS_DATA_DIR`` or ``~/tensorflow_datasets``). jaxdl's own builders
  write under ``<data_dir>/jaxdl/<name>[/<config>]/<version>/``; official tfds datasets
  under ``<data_dir>/<name>[/<config>]/<version>/`` as tfds always does.
* the **source directories**, searched in order for the raw files that jaxdl's builders
  read (Fashion-MNIST idx files, ``ml-latest-small.zip``, ``rt-polarity.pos/.neg``):
  the ``source_dir`` argument, the data directory, ``JAXDL_DATA_DIR``, the Debian package
  folder (Fashion-MNIST only), and a ``shared/data`` folder beside or above the checkout
  that holds this package. Each directory is tried as is and with the dataset's usual
  subfolder (``fashion-mnist/``, ``movielens/``, ``rt-polarity/``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

ENV_DATA_DIR = "JAXDL_DATA_DIR"
"""Environment variable naming the data directory (and a source directory)."""

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
      subdir: the conventional folder name (as in ``shared/data``), e.g. ``"fashion-mnist"``.
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
    """
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser().resolve()
    tfds_env = os.environ.get("TFDS_DATA_DIR")
    if tfds_env:
        return Path(tfds_env).expanduser().resolve()
    return (Path.home() / "tensorflow_datasets").resolve()


def shared_data_dirs() -> list[Path]:
    """``shared/data`` folders beside or above the checkout holding this package.

    A project checkout at ``<root>/main`` with ``<root>/shared/data`` beside it (as on this
    project's machines and CI) finds ``<root>/shared/data``. Nothing is hard-coded: the
    ancestors of this file are searched.

    Returns:
      Existing directories, nearest first.
    """
    package_root = Path(__file__).resolve().parents[2]  # the folder holding ``jaxdl/``
    found = []
    for ancestor in [package_root, *package_root.parents]:
        candidate = ancestor / "shared" / "data"
        if candidate.is_dir():
            found.append(candidate)
    return found


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
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        bases.append((Path(env).expanduser(), f"${ENV_DATA_DIR}"))
    out: list[tuple[Path, str]] = []
    for base, why in bases:
        out.append((base, why))
        out.append((base / spec.subdir, why))
    if spec.subdir == "fashion-mnist":
        out.append((DEBIAN_FASHION_MNIST, "Debian package dataset-fashion-mnist"))
    for shared in shared_data_dirs():
        out.append((shared / spec.subdir, "shared/data beside the checkout"))
    return out


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
