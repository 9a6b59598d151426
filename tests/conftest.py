"""Shared test configuration: strict rank promotion, and no network access from tfds."""

from __future__ import annotations

import jax

# Silent broadcasting bugs fail loudly in tests (as Equinox's test config does).
jax.config.update("jax_numpy_rank_promotion", "raise")
