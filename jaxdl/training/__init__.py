"""Training: pure train/eval steps (:mod:`.steps`), ``fit`` (:mod:`.fit`) and what runs
between its epochs (:mod:`.callbacks`: early stopping, checkpoints)."""

from jaxdl.training.callbacks import (
    Callback, Checkpoint, EarlyStopping, EarlyStoppingState, EpochInfo,
)
from jaxdl.training.fit import (
    FitInterrupted, FitResult, History, TrainingDivergedError, fit, iterations_per_epoch,
)
from jaxdl.training.steps import (
    Batch, EvalStep, TrainStep, as_batch, evaluate, make_eval_step, make_train_step, predict,
)

__all__ = [
    "Batch", "TrainStep", "EvalStep", "as_batch", "make_train_step", "make_eval_step",
    "evaluate", "predict", "fit", "FitResult", "FitInterrupted", "TrainingDivergedError",
    "iterations_per_epoch", "History", "EarlyStopping", "EarlyStoppingState", "EpochInfo",
    "Callback", "Checkpoint",
]
