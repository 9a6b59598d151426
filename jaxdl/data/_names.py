"""Name resolution: jaxdl's builder names against official tfds names, configs and splits.

A dataset name is ``"base"`` or ``"base/config"``. When ``base`` is one of :data:`DATASETS`
it names one of jaxdl's own builders (prepared under ``<data_dir>/jaxdl/``); any other name
is an official tensorflow-datasets name, which tfds resolves. Unknown names, configs and
splits raise ``ValueError`` with the allowed ones and a "did you mean ...?".
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jaxdl._checks import did_you_mean
from jaxdl.data._compat import import_legacy_modules, quiet_tfds, tfds
from jaxdl.data._paths import JAXDL_SUBDIR

DATASETS: tuple[str, ...] = (
    "iris", "digits", "wine", "breast_cancer", "fashion_mnist", "movielens_small",
    "rt_polarity", "karate_club", "sunspots",
)
"""The datasets jaxdl builds itself (offline). Any other name goes to tfds."""

def split_name(fn: str, name: Any) -> tuple[str, str | None]:
    """``"base/config"`` -> ``("base", "config")``; ``"base"`` -> ``("base", None)``."""
    if not isinstance(name, str):
        raise TypeError(f"{fn}: name must be a dataset name (a string such as 'iris' or "
                        f"'movielens_small/movies'), got {name!r} ({type(name).__name__})")
    if not name or name != name.strip() or any(c.isspace() for c in name) \
            or name.startswith("/") or name.endswith("/"):
        raise ValueError(
            f"{fn}: name must be a dataset name such as 'iris' or 'movielens_small/movies' "
            f"(no spaces, no leading or trailing '/'), got {name!r}"
            f"{did_you_mean(name.strip().strip('/'), DATASETS)}"
        )
    base, _, config = name.partition("/")
    return base, (config or None)


def jaxdl_builder(fn: str, base: str, config: str | None) -> tuple[Any, str | None]:
    """jaxdl's builder class for ``base`` and the config to use (the first by default)."""
    from jaxdl.data._builders import BUILDERS

    cls = BUILDERS[base]
    names = [c.name for c in (cls.BUILDER_CONFIGS or [])]
    if config is not None and config not in names:
        full = [f"{base}/{c}" for c in names]
        allowed = ", ".join(repr(f) for f in full) or f"only {base!r} (no configs)"
        raise ValueError(f"{fn}: unknown config {config!r} for {base!r}; allowed: {allowed}"
                         f"{did_you_mean(f'{base}/{config}', full)}")
    if config is None and names:
        config = names[0]
    return cls, config


def jaxdl_dir(root: Path, cls: Any, config: str | None) -> Path:
    """Where jaxdl's builder ``cls`` keeps its prepared files under the data directory."""
    parts = [cls.name] + ([config] if config else []) + [str(cls.VERSION)]
    return root.joinpath(JAXDL_SUBDIR, *parts)


def official_prepared_dirs(root: Path, name: str) -> list[Path]:
    """Prepared copies (``<root>/<name>/<version>/dataset_info.json``) of an official name."""
    d = root.joinpath(*name.split("/"))
    if not d.is_dir():
        return []
    return sorted(p.parent for p in d.glob("*/dataset_info.json"))


def check_split(fn: str, split: Any) -> str:
    """A split string (its names are checked against the dataset's later)."""
    if not isinstance(split, str):
        raise TypeError(f"{fn}: split must be a string such as 'train', 'test' or "
                        f"'train[:80%]', got {split!r} ({type(split).__name__})")
    if not split.strip():
        raise ValueError(f"{fn}: split must be a non-empty string such as 'train', 'test' or "
                         f"'train[:80%]', got {split!r}")
    return split


def bad_split(fn: str, name: str, split: str, available: Iterable[str],
              error: Exception) -> ValueError:
    """The error for a split tfds refused: the available splits and a "did you mean"."""
    available = list(available)
    hint = ""
    for part in split.split("+"):
        base = part.strip().split("[", 1)[0].strip()
        if base not in available:
            hint = did_you_mean(base, available)
            break
    return ValueError(
        f"{fn}: bad split {split!r} for {name!r} (splits: {', '.join(available) or 'none'}; "
        f"slicing like 'train[:80%]' is allowed): {str(error).splitlines()[0].rstrip('.')}{hint}"
    )


def official_builder(fn: str, name: str, root: Path) -> Any:
    """``tfds.builder(name)`` for an official name, reading/writing ``array_record`` in
    ``root``; unknown names raise ``ValueError`` with a "did you mean"."""
    from tensorflow_datasets.core import registered

    def make() -> Any:
        with quiet_tfds():
            return tfds().builder(name, data_dir=str(root), file_format="array_record")

    try:
        return make()
    except registered.DatasetNotFoundError:
        pass
    except ValueError as e:  # a known dataset, but e.g. an unknown config
        raise _bad_official_config(fn, name, e) from None
    import_legacy_modules()  # see _compat.LEGACY_MODULES
    try:
        return make()
    except registered.DatasetNotFoundError:
        raise unknown_dataset(fn, name) from None
    except ValueError as e:
        raise _bad_official_config(fn, name, e) from None


def unknown_dataset(fn: str, name: str) -> ValueError:
    """The error for a name that is neither jaxdl's nor registered in tfds."""
    base, _, config = name.partition("/")
    known = list(DATASETS) + [n for n in tfds().list_builders(with_community_datasets=False)
                              if n not in DATASETS]
    hint = did_you_mean(base, known)
    if hint and config:  # keep the config in the suggestion: 'movielens/100k-ratings'
        hint = hint.replace("?", "").rstrip("'") + f"/{config}'?"
    return ValueError(
        f"{fn}: unknown dataset {name!r}: not one of jaxdl's ({', '.join(DATASETS)}) nor a "
        f"tensorflow-datasets name (see https://www.tensorflow.org/datasets/catalog){hint}"
    )


def _bad_official_config(fn: str, name: str, error: Exception) -> ValueError:
    base, _, config = name.partition("/")
    try:
        configs: list[str] | None = [
            f"{base}/{c}" for c in tfds().builder_cls(base).builder_configs]
    except Exception:  # noqa: BLE001 (only for the message)
        configs = None
    if config and configs == []:
        return ValueError(f"{fn}: the tensorflow-datasets dataset {base!r} has no configs, got "
                          f"{name!r}; did you mean {base!r}?")
    if config and configs and name not in configs:
        shown = ", ".join(repr(c) for c in configs[:12]) + (", ..." if len(configs) > 12 else "")
        return ValueError(f"{fn}: unknown config {config!r} for the tensorflow-datasets "
                          f"dataset {base!r}; allowed: {shown}{did_you_mean(name, configs)}")
    return ValueError(f"{fn}: cannot open the tensorflow-datasets dataset {name!r}: "
                      f"{str(error).splitlines()[0]}")
