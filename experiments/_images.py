"""Fashion-MNIST as the image experiments use it: splits, class names, a CNN, a recipe.

Shared by ``fashion_cnn``, ``mlp_vs_cnn``, ``overfitting``, ``init_strategies`` and
``benchmarks/time_to_accuracy.py``: the data come from ``jaxdl.data.load("fashion_mnist")``
(the four published idx files, prepared once through tfds); the validation images are held
out of the 60,000 training images by a seeded random split; the 10,000 test images are the
published test split and are scored once, at the end.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
import jaxdl.data

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)

__all__ = ["CLASS_NAMES", "NUM_CLASSES", "IMAGE_SHAPE", "fashion_splits", "small_cnn",
           "smoothed_cross_entropy", "onecycle_adamw"]


@functools.lru_cache(maxsize=1)
def _published() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The published train and test splits, loaded once per process (read-only use)."""
    return (jaxdl.data.load("fashion_mnist", split="train"),
            jaxdl.data.load("fashion_mnist", split="test"))


def fashion_splits(seed: int, *, n_train: int | None = None, n_val: int = 5000,
                   n_test: int | None = None, standardize: bool = True
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST as ``{"train"|"val"|"test": (x (n, 28, 28, 1) float32, y (n,) int32)}``.

    Pixels are standardised with the mean and standard deviation of the training images
    (one number each, as ``../shared/bench/fmnist_tta.py`` does); with
    ``standardize=False`` they are only divided by 255 (in [0, 1], as autoencoders with
    sigmoid outputs and RBMs want them). ``n_val`` images of the
    published training split, drawn at random with ``seed``, are the validation set;
    ``n_train`` of the remaining ones (all by default) are the training set; ``n_test``
    (all 10,000 by default) of the published test split, in order, the test set.
    """
    train, test = _published()
    order = np.random.default_rng(seed).permutation(len(train["label"]))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if n_train is not None:
        if not 0 < n_train <= len(train_idx):
            raise ValueError(f"fashion_splits: n_train must be in [1, {len(train_idx)}], "
                             f"got {n_train}")
        train_idx = train_idx[:n_train]
    pixels = train["image"][train_idx].astype(np.float32) / 255.0
    mean, std = (float(pixels.mean()), float(pixels.std())) if standardize else (0.0, 1.0)

    def prep(images: np.ndarray) -> np.ndarray:
        return ((images.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)

    test_n = len(test["label"]) if n_test is None else n_test
    return {
        "train": (prep(train["image"][train_idx]), train["label"][train_idx].astype(np.int32)),
        "val": (prep(train["image"][val_idx]), train["label"][val_idx].astype(np.int32)),
        "test": (prep(test["image"][:test_n]), test["label"][:test_n].astype(np.int32)),
    }


def small_cnn(widths: tuple[int, int, int] = (32, 64, 256), *, drop_rate: float = 0.0,
              augment: Any = None, compute_dtype: Any = None,
              name: str = "cnn") -> jaxdl.Layer:
    """The course's CNN: (conv 3x3 -> ReLU -> 2x2 max-pool) x 2 -> flatten -> dense -> ReLU
    -> dense, for 28x28x1 images and 10 classes.

    Args:
      widths: ``(filters of conv 1, filters of conv 2, dense units)``.
      drop_rate: dropout before the last layer (0: none).
      augment: a ``(key, images) -> images`` function from :mod:`jaxdl.augment`, applied
        to each training batch (evaluation sees the images unchanged).
      compute_dtype: e.g. ``jnp.bfloat16`` for mixed precision (parameters stay float32).
      name: the model's name.

    Shapes: ``(*batch, 28, 28, 1) -> (*batch, 10)`` logits.
    """
    c1, c2, hidden = widths
    layers: list[jaxdl.Layer] = []
    if augment is not None:
        layers.append(jaxdl.Augment(augment))
    layers += [
        jaxdl.Conv(c1, (3, 3), compute_dtype=compute_dtype), jaxdl.Relu(),
        jaxdl.MaxPool((2, 2)),
        jaxdl.Conv(c2, (3, 3), compute_dtype=compute_dtype), jaxdl.Relu(),
        jaxdl.MaxPool((2, 2)),
        jaxdl.Flatten(3),
        jaxdl.Dense(hidden, compute_dtype=compute_dtype), jaxdl.Relu(),
    ]
    if drop_rate:
        layers.append(jaxdl.Dropout(drop_rate))
    layers.append(jaxdl.Dense(NUM_CLASSES, compute_dtype=compute_dtype))
    return jaxdl.serial(*layers, name=name)


def smoothed_cross_entropy(smoothing: float = 0.1) -> Any:
    """Softmax cross-entropy of logits ``(batch, 10)`` against integer labels ``(batch,)``
    smoothed towards the uniform distribution (``optax.smooth_labels``), in float32."""

    def loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
        targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), smoothing)
        return jnp.mean(optax.softmax_cross_entropy(logits.astype(jnp.float32), targets))

    loss.__name__ = "smoothed_cross_entropy"
    return loss


def onecycle_adamw(total_steps: int, peak_lr: float, *, weight_decay: float = 5e-4
                   ) -> optax.GradientTransformation:
    """AdamW with a one-cycle cosine learning rate (warm-up over the first quarter), as in
    ``../shared/bench/fmnist_tta.py``."""
    schedule = optax.cosine_onecycle_schedule(total_steps, peak_lr, pct_start=0.25)
    return optax.adamw(schedule, weight_decay=weight_decay)
