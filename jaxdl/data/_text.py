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

from jaxdl.data._checks import is_int

PAD = "<pad>"
"""The padding token; always id 0."""
UNK = "<unk>"
"""The unknown token; always id 1."""
PAD_ID = 0
UNK_ID = 1
_LEVELS = ("word", "char")


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
        if self.level not in _LEVELS:
            raise ValueError(f"Vocabulary: level must be one of {_LEVELS}, got {self.level!r}")
        if tuple(self.tokens[:2]) != (PAD, UNK):
            raise ValueError(
                f"Vocabulary: tokens must start with {PAD!r}, {UNK!r}; got {tuple(self.tokens[:2])}"
            )
        index = {t: i for i, t in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise ValueError("Vocabulary: tokens must be unique")
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
          ValueError: ``max_length < 1``.

        Example:
          >>> vocab = build_vocabulary(["a b b", "b c"])
          >>> vocab.tokens
          ('<pad>', '<unk>', 'b', 'a', 'c')
          >>> ids, lengths = vocab.encode(["b a", "z"], max_length=3)
          >>> ids.tolist(), lengths.tolist()
          ([[2, 3, 0], [1, 0, 0]], [2, 1])
        """
        seqs = [[self._index.get(t, UNK_ID) for t in self.tokenize(str(x))] for x in texts]
        if max_length is None:
            max_length = max((len(s) for s in seqs), default=0) or 1
        elif not is_int(max_length, min_value=1):
            raise ValueError(
                f"Vocabulary.encode: max_length must be an int >= 1, got {max_length!r}")
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
        """
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"Vocabulary.decode: ids must have shape (n, length), got {ids.shape}")
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
      ValueError: unknown ``level``; ``max_size < 2``; ``min_count < 1``.

    Example:
      >>> chars = build_vocabulary(["abba"], level="char")
      >>> chars.tokens, chars.encode(["abc"])[0].tolist()
      (('<pad>', '<unk>', 'a', 'b'), [[2, 3, 1]])
    """
    fn = "jaxdl.data.build_vocabulary"
    if level not in _LEVELS:
        raise ValueError(f"{fn}: level must be one of {_LEVELS}, got {level!r}")
    if max_size is not None and max_size < 2:
        raise ValueError(f"{fn}: max_size must be >= 2 (padding and unknown), got {max_size}")
    if min_count < 1:
        raise ValueError(f"{fn}: min_count must be >= 1, got {min_count}")
    counts: collections.Counter[str] = collections.Counter()
    for text in texts:
        counts.update(_tokenize(str(text), level, lowercase))
    for special in (PAD, UNK):
        counts.pop(special, None)
    ranked = sorted((t for t, c in counts.items() if c >= min_count),
                    key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max_size - 2]
    return Vocabulary((PAD, UNK, *ranked), level=level, lowercase=lowercase)
