"""A deterministic train/validation/test split of in-memory columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxdl._checks import did_you_mean
from jaxdl.data._checks import check_count
from jaxdl.data._iterators import num_examples


class Splits(NamedTuple):
    """Three disjoint parts of one dataset, each ``{column: array (n_part, ...)}``."""

    train: dict[str, np.ndarray]
    validation: dict[str, np.ndarray]
    test: dict[str, np.ndarray]


def _check_fractions(fn: str, fractions: Any) -> tuple[float, float, float]:
    what = "three non-negative numbers (train, validation, test) summing to 1"
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, (Sequence, np.ndarray)) \
            or not all(isinstance(f, (int, float, np.integer, np.floating))
                       and not isinstance(f, bool) for f in fractions):
        raise TypeError(f"{fn}: fractions must be {what}, got {fractions!r}")
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or not all(np.isfinite(values)) or min(values) < 0 \
            or abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"{fn}: fractions must be {what}, got {values}")
    return values  # type: ignore[return-value]


def _counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    n_val = int(round(n * fractions[1]))
    n_test = int(round(n * fractions[2]))
    return n - n_val - n_test, n_val, n_test


def split_indices(
    num_examples: int,
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    stratify: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of a deterministic train/validation/test split.

    The validation and test sizes are ``round(n * fraction)`` (per class when
    stratified), the training set takes the rest. Which examples go where depends only on
    ``seed`` (NumPy PCG64), not on the machine or library versions of JAX.

    Args:
      num_examples: ``n``.
      fractions: ``(train, validation, test)``, non-negative, summing to 1.
      seed: int seed (>= 0).
      stratify: optional labels ``(n,)``; each class is then split in the same
        proportions.

    Returns:
      ``(train, validation, test)`` int64 index arrays, each sorted ascending (the
      stored order is kept inside each part), together a partition of ``0..n-1``.

    Raises:
      TypeError: ``fractions`` not three numbers; a non-integer ``num_examples`` or ``seed``.
      ValueError: ``fractions`` negative, not finite or not summing to 1; a negative
        ``num_examples`` or ``seed``; a ``stratify`` of the wrong length.
    """
    return _split_indices("jaxdl.data.split_indices", num_examples, fractions=fractions,
                          seed=seed, stratify=stratify)


def _split_indices(fn: str, num_examples: Any, *, fractions: Any, seed: Any,
                   stratify: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    num_examples = check_count(fn, "num_examples", num_examples, min_value=0)
    fractions = _check_fractions(fn, fractions)
    seed = check_count(fn, "seed", seed, min_value=0)
    rng = np.random.default_rng(seed)
    if stratify is None:
        groups = [np.arange(num_examples)]
    else:
        labels = np.asarray(stratify)
        if labels.shape != (num_examples,):
            raise ValueError(
                f"{fn}: stratify must have shape ({num_examples},), got {labels.shape}"
            )
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        perm = group[rng.permutation(len(group))]
        n_train, n_val, _ = _counts(len(group), fractions)
        parts[0].append(perm[:n_train])
        parts[1].append(perm[n_train:n_train + n_val])
        parts[2].append(perm[n_train + n_val:])
    train, val, test = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    return train, val, test


def train_val_test_split(
    arrays: Mapping[str, Any],
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    stratify: str | Any = None,
) -> Splits:
    """Splits in-memory columns into train, validation and test parts, deterministically.

    Args:
      arrays: ``{column: array (n, ...)}``, e.g. from :func:`jaxdl.data.load`.
      fractions: ``(train, validation, test)``, non-negative, summing to 1.
      seed: int seed (>= 0); the same seed always gives the same split.
      stratify: a column name (e.g. ``"label"``) or a label array ``(n,)`` to keep the
        class proportions equal in all three parts; None for a plain random split.

    Returns:
      :class:`Splits` ``(train, validation, test)``, each a dict with the same columns.

    Raises:
      TypeError: ``arrays`` not a dict; see :func:`split_indices`.
      ValueError: mismatched column lengths, unknown ``stratify`` column (with a "did you
        mean"), bad ``fractions`` or ``seed``.

    Example:
      >>> data = {"x": np.arange(10), "y": np.arange(10) % 2}
      >>> train, val, test = train_val_test_split(data, fractions=(0.6, 0.2, 0.2),
      ...                                         seed=0, stratify="y")
      >>> len(train["x"]), len(val["x"]), len(test["x"])
      (6, 2, 2)
    """
    fn = "jaxdl.data.train_val_test_split"
    n = num_examples(arrays, fn=fn)  # checks that arrays is a dict of columns
    if isinstance(stratify, str):
        if stratify not in arrays:
            raise ValueError(
                f"{fn}: stratify column {stratify!r} not among the columns {sorted(arrays)}"
                f"{did_you_mean(stratify, [str(k) for k in arrays])}"
            )
        stratify = arrays[stratify]
    idx = _split_indices(fn, n, fractions=fractions, seed=seed, stratify=stratify)
    return Splits(*({k: np.asarray(v)[i] for k, v in arrays.items()} for i in idx))
