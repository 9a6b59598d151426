"""What ``fit`` does between epochs: early stopping and per-epoch checkpoints.

A callback is any object with ``on_epoch_end(info: EpochInfo) -> bool``, called after
every completed epoch; returning True stops training. Early stopping is kept apart as a
small pure state machine (:meth:`EarlyStopping.update`) that ``fit`` drives, because it
also decides which parameters ``fit`` returns.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import optax

from jaxdl._checks import check_bool, check_float, check_int, check_option
from jaxdl.checkpoint import save_checkpoint
from jaxdl.core import Params, State

__all__ = ["EarlyStopping", "EarlyStoppingState", "EpochInfo", "Callback", "Checkpoint"]

History = dict[str, list[float]]


class EarlyStoppingState(NamedTuple):
    """Where an :class:`EarlyStopping` rule stands after some epochs.

    Attributes:
      best: the best monitored value so far (None before the first epoch).
      best_epoch: the (1-based) epoch that reached it (None before the first epoch).
      wait: consecutive epochs without improvement since then.
      stop: whether training should stop now.
    """

    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    stop: bool = False


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """Stop training when a monitored quantity has stopped improving.

    Attributes:
      monitor: a history key, e.g. ``"val_loss"`` or ``"val_accuracy"``.
      patience: stop after this many consecutive epochs without improvement (Keras's
        meaning: ``patience=3`` stops at the third epoch that does not improve).
      min_delta: the smallest change that counts as an improvement.
      mode: ``"min"`` (loss) or ``"max"`` (accuracy).
      restore_best: return the parameters (and model state) of the best epoch; the
        optimiser state is the last one, as in Keras.

    Example (the state machine on its own):
      >>> rule = EarlyStopping(patience=2)
      >>> s = rule.init()
      >>> for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.7], start=1):
      ...     s = rule.update(s, epoch, loss)
      >>> s
      EarlyStoppingState(best=0.5, best_epoch=2, wait=2, stop=True)
    """

    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    mode: str = "min"
    restore_best: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.monitor, str) or not self.monitor:
            raise TypeError(f"EarlyStopping: monitor must be a history key such as 'val_loss', "
                            f"got {self.monitor!r}")
        check_int("EarlyStopping", "patience", self.patience, min_value=0)
        check_float("EarlyStopping", "min_delta", self.min_delta, min_value=0.0,
                    allow_traced=False)
        check_option("EarlyStopping", "mode", self.mode, ("min", "max"))
        check_bool("EarlyStopping", "restore_best", self.restore_best)

    def init(self) -> EarlyStoppingState:
        """The state before the first epoch."""
        return EarlyStoppingState()

    def improved(self, value: float, best: float | None) -> bool:
        """Whether ``value`` beats ``best`` by more than ``min_delta``."""
        if best is None:
            return True
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    def update(self, state: EarlyStoppingState, epoch: int, value: float) -> EarlyStoppingState:
        """The state after ``epoch`` whose monitored value is ``value`` (pure)."""
        if self.improved(value, state.best):
            return EarlyStoppingState(value, epoch, 0, False)
        wait = state.wait + 1
        return state._replace(wait=wait, stop=wait >= self.patience)


class EpochInfo(NamedTuple):
    """What a callback sees after an epoch.

    Attributes:
      epoch: the (1-based) epoch just completed.
      params, state, opt_state: the training state after it.
      history: every completed epoch's record (``{"loss": [...], ...}``).
    """

    epoch: int
    params: Params
    state: State
    opt_state: optax.OptState
    history: History


class Callback(Protocol):
    """``on_epoch_end(info) -> bool``: runs after every epoch; True stops training."""

    def on_epoch_end(self, info: EpochInfo) -> bool: ...


@dataclasses.dataclass
class Checkpoint:
    """Saves a checkpoint after every ``every`` epochs, so an interrupted run loses at most
    that many epochs.

    The file (written atomically by :func:`jaxdl.save_checkpoint`) holds params, state,
    opt_state, history and ``step`` = the epoch; resume by loading it with templates and
    passing ``params``, ``state`` and ``opt_state`` back to ``fit``.

    Attributes:
      path: the checkpoint file; ``{epoch}`` in it is replaced by the epoch number (one
        file per epoch), else the same file is overwritten.
      every: save after every ``every``-th epoch.
      metadata: small JSON-serialisable extras saved with each checkpoint.
    """

    path: str | os.PathLike[str]
    every: int = 1
    metadata: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, (str, os.PathLike)):
            raise TypeError(f"Checkpoint: path must be a str or path, got "
                            f"{type(self.path).__name__}")
        check_int("Checkpoint", "every", self.every, min_value=1)

    def on_epoch_end(self, info: EpochInfo) -> bool:
        """Saves when ``info.epoch`` is a multiple of ``every``; never stops training."""
        if info.epoch % self.every == 0:
            path = Path(str(self.path).replace("{epoch}", str(info.epoch)))
            save_checkpoint(path, params=info.params, state=info.state,
                            opt_state=info.opt_state, history=info.history, step=info.epoch,
                            metadata=self.metadata)
        return False
