"""Word- and character-level vocabularies: text to padded integer arrays and back.

Build the vocabulary from the training split only; words (or characters) never seen
there map to the unknown token in validation and test data, as they would at
deployment. Id 0 is padding and id 1 the unknown token in every vocabulary.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from jaxdl._checks import check_bool, check_int, did_you_mean, show_value
from jaxdl.data._checks import check_count, check_iterable

PAD = "<pad>"
"""The padding token; always id 0."""
UNK = "<unk>"
"""The unknown token; always id 1."""
PAD_ID = 0
UNK_ID = 1
_LEVELS = ("word", "char")


def _check_level(fn: str, level: Any) -> str:
    if not isinstance(level, str) or level not in _LEVELS:
        raise (ValueError if isinstance(level, str) else TypeError)(
            f"{fn}: level must be one of {_LEVELS}, got {level!r}{did_you_mean(level, _LEVELS)}")
    return level


def _check_texts(fn: str, texts: Any) -> list[str]:
    """``texts`` as a list of strings: an iterable of ``str`` (a NumPy unicode column too),
    never one string by itself (that would be read as its characters)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{fn}: texts must be a list of strings, got one "
                        f"{type(texts).__name__} {show_value(texts, 60)}; wrap it as [text]")
    items = list(check_iterable(fn, "texts", texts, "strings"))
    for i, t in enumerate(items):
        if not isinstance(t, str):
            hint = " (decode bytes first, e.g. t.decode('utf-8'))" if isinstance(t, bytes) else ""
            raise TypeError(f"{fn}: texts must hold strings, got texts[{i}] = {show_value(t, 60)} "
                            f"({type(t).__name__}){hint}")
    return items


def _tokenize(text: str, level: str, lowercase: bool) -> list[str]:
    if lowercase:
        text = text.lower()
    return text.split() if level == "word" else list(text)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """A fixed mapping between tokens and integer ids.

    Attributes:
      tokens: id -> token; ``tokens[0] == "<pad>"``, ``tokens[1] == "<unk>"``, then the
        training tokens by decreasing count (ties alphabetically).
      level: ``"word"`` (whitespace-separated tokens) or ``"char"`` (characters).
      lowercase: whether text is lower-cased before tokenising.
    """

    tokens: tuple[str, ...]
    level: str = "word"
    lowercase: bool = False
    _index: dict[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fn = "Vocabulary"
        if isinstance(self.tokens, (str, bytes)) or not isinstance(self.tokens, (tuple, list)) \
                or not all(isinstance(t, str) for t in self.tokens):
            raise TypeError(f"{fn}: tokens must be a tuple of strings starting with {PAD!r}, "
                            f"{UNK!r}; got {show_value(self.tokens)}")
        object.__setattr__(self, "tokens", tuple(self.tokens))
        _check_level(fn, self.level)
        check_bool(fn, "lowercase", self.lowercase)
        if tuple(self.tokens[:2]) != (PAD, UNK):
            raise ValueError(
                f"{fn}: tokens must start with {PAD!r}, {UNK!r}; got {tuple(self.tokens[:2])}"
            )
        index = {t: i for i, t in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            dupes = sorted({t for t in self.tokens if self.tokens.count(t) > 1})
            raise ValueError(f"{fn}: tokens must be unique, got repeated {dupes[:5]}")
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        """The vocabulary size, padding and unknown tokens included."""
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    def tokenize(self, text: str) -> list[str]:
        """Splits one text into tokens (words or characters), lower-cased if configured."""
        return _tokenize(text, self.level, self.lowercase)

    def token_id(self, token: str) -> int:
        """The id of ``token``, or :data:`UNK_ID` if it is not in the vocabulary."""
        return self._index.get(token, UNK_ID)

    def encode(
        self, texts: Iterable[str], *, max_length: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encodes texts to a padded id matrix plus the true lengths.

        Args:
          texts: ``n`` strings (a list, or a NumPy unicode column from :func:`load`).
          max_length: truncate to this many tokens; default the longest text's length.

        Returns:
          ``(ids, lengths)``: ids int32 ``(n, max_length)``, padded with 0 after each
          text's tokens; lengths int32 ``(n,)``, the number of real tokens (after
          truncation).

        Raises:
          TypeError: ``texts`` is one string, or holds non-strings; ``max_length`` is not
            an int.
          ValueError: ``max_length < 1``.

        Example:
          >>> vocab = build_vocabulary(["a b b", "b c"])
          >>> vocab.tokens
          ('<pad>', '<unk>', 'b', 'a', 'c')
          >>> ids, lengths = vocab.encode(["b a", "z"], max_length=3)
          >>> ids.tolist(), lengths.tolist()
          ([[2, 3, 0], [1, 0, 0]], [2, 1])
        """
        fn = "Vocabulary.encode"
        max_length = check_count(fn, "max_length", max_length, min_value=1, allow_none=True)
        seqs = [[self._index.get(t, UNK_ID) for t in self.tokenize(x)]
                for x in _check_texts(fn, texts)]
        if max_length is None:
            max_length = max((len(s) for s in seqs), default=0) or 1
        ids = np.zeros((len(seqs), int(max_length)), dtype=np.int32)
        lengths = np.zeros(len(seqs), dtype=np.int32)
        for i, s in enumerate(seqs):
            s = s[:max_length]
            ids[i, :len(s)] = s
            lengths[i] = len(s)
        return ids, lengths

    def decode(self, ids: Any, lengths: Sequence[int] | np.ndarray | None = None) -> list[str]:
        """Turns id rows back into text (words joined by spaces, characters by nothing).

        Args:
          ids: int array ``(n, max_length)``.
          lengths: ``(n,)`` true lengths; default: stop at the first padding id.

        Returns:
          ``n`` strings.

        Raises:
          TypeError: non-integer ``ids`` or ``lengths``.
          ValueError: ``ids`` not 2-D or outside ``[0, len(vocabulary))``; ``lengths`` not of
            shape ``(n,)`` or outside ``[0, length]``.
        """
        fn = "Vocabulary.decode"
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{fn}: ids must be integers, got dtype {ids.dtype}")
        if ids.ndim != 2:
            raise ValueError(f"{fn}: ids must have shape (n, length), got {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.tokens)):
            raise ValueError(f"{fn}: ids must lie in [0, {len(self.tokens)}) (the vocabulary "
                             f"size), got min {ids.min()}, max {ids.max()}")
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.dtype.kind not in "iu":
                raise TypeError(f"{fn}: lengths must be integers, got dtype {lengths.dtype}")
            if lengths.shape != (ids.shape[0],):
                raise ValueError(f"{fn}: lengths must have shape ({ids.shape[0]},) like ids' "
                                 f"rows, got {lengths.shape}")
            if lengths.size and (lengths.min() < 0 or lengths.max() > ids.shape[1]):
                raise ValueError(f"{fn}: lengths must lie in [0, {ids.shape[1]}], got min "
                                 f"{lengths.min()}, max {lengths.max()}")
        sep = " " if self.level == "word" else ""
        out = []
        for i, row in enumerate(ids):
            if lengths is not None:
                row = row[: int(lengths[i])]
            else:
                pads = np.flatnonzero(row == PAD_ID)
                row = row[: pads[0]] if pads.size else row
            out.append(sep.join(self.tokens[int(t)] for t in row))
        return out


def build_vocabulary(
    texts: Iterable[str],
    *,
    level: str = "word",
    max_size: int | None = None,
    min_count: int = 1,
    lowercase: bool = False,
) -> Vocabulary:
    """Builds a vocabulary from (training) texts.

    Args:
      texts: the training texts.
      level: ``"word"`` (split on whitespace; rt-polarity is already tokenised) or
        ``"char"``.
      max_size: keep at most this many ids, padding and unknown included (the most
        frequent tokens win); default no limit.
      min_count: drop tokens seen fewer times than this.
      lowercase: lower-case text before counting (and before encoding).

    Returns:
      A :class:`Vocabulary`.

    Raises:
      TypeError: ``texts`` is one string or holds non-strings; a non-integer ``max_size``
        or ``min_count``; a non-bool ``lowercase``.
      ValueError: unknown ``level`` (with a "did you mean"); ``max_size < 2``;
        ``min_count < 1``.

    Example:
      >>> chars = build_vocabulary(["abba"], level="char")
      >>> chars.tokens, chars.encode(["abc"])[0].tolist()
      (('<pad>', '<unk>', 'a', 'b'), [[2, 3, 1]])
    """
    fn = "jaxdl.data.build_vocabulary"
    level = _check_level(fn, level)
    max_size = check_int(fn, "max_size", max_size, min_value=2, allow_none=True)
    min_count = check_int(fn, "min_count", min_count, min_value=1)
    lowercase = check_bool(fn, "lowercase", lowercase)
    counts: collections.Counter[str] = collections.Counter()
    for text in _check_texts(fn, texts):
        counts.update(_tokenize(text, level, lowercase))
    for special in (PAD, UNK):
        counts.pop(special, None)
    ranked = sorted((t for t, c in counts.items() if c >= min_count),
                    key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max_size - 2]
    return Vocabulary((PAD, UNK, *ranked), level=level, lowercase=lowercase)
