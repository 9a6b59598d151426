"""What jaxdl's benchmarks share: interleaved timing, and the train steps they compare.

These machines are noisy, so a time alone means little; a ratio against a peer measured in
the same process, in alternating order, round after round, does. ``interleaved`` runs each
candidate for a block of calls per round (the order alternating between rounds), each block
synchronised at its end, and reports per candidate the median per-step time over rounds
and, against the first candidate, the median of the per-round ratios.

``plain_steps`` and ``jaxdl_steps`` build the two sides of a step comparison: a jitted
train step and a jitted ``lax.scan`` of steps, written in plain JAX around an
``apply_fn(params, x)`` (the peer, as ``../shared/bench/anchors_gpu.py`` writes it) and with
``jaxdl.make_train_step`` around a jaxdl model; both minimise softmax cross-entropy on
integer labels.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import optax

import jaxdl

__all__ = ["interleaved", "plain_steps", "jaxdl_steps"]


def plain_steps(apply_fn: Callable[[Any, jax.Array], jax.Array],
                tx: optax.GradientTransformation) -> tuple[Any, Any]:
    """The plain-JAX peer: ``step(p, s, x, y) -> (p, s, loss)`` and
    ``scan_steps(p, s, xs, ys) -> (p, s, losses)``, both jitted with ``p, s`` donated."""

    def loss_fn(p: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        return optax.softmax_cross_entropy_with_integer_labels(apply_fn(p, x), y).mean()

    def step(p: Any, s: Any, x: jax.Array, y: jax.Array) -> tuple[Any, Any, jax.Array]:
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        upd, s = tx.update(g, s, p)
        return optax.apply_updates(p, upd), s, loss

    def scan_steps(p: Any, s: Any, xs: jax.Array, ys: jax.Array) -> tuple[Any, Any, jax.Array]:
        def body(carry: Any, xy: Any) -> Any:
            p, s, loss = step(carry[0], carry[1], *xy)
            return (p, s), loss
        (p, s), losses = jax.lax.scan(body, (p, s), (xs, ys))
        return p, s, losses

    return jax.jit(step, donate_argnums=(0, 1)), jax.jit(scan_steps, donate_argnums=(0, 1))


def jaxdl_steps(model: jaxdl.Layer, tx: optax.GradientTransformation) -> tuple[Any, Any]:
    """jaxdl's side: ``jaxdl.make_train_step`` (jitted, donating), and a jitted
    ``scan_steps(p, s, o, xs, ys) -> (p, s, o, losses)`` of its raw (``jit=False``) step."""
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    step = jaxdl.make_train_step(model, loss, tx)
    raw = jaxdl.make_train_step(model, loss, tx, jit=False)

    def scan_steps(p: Any, s: Any, o: Any, xs: jax.Array, ys: jax.Array) -> Any:
        def body(carry: Any, xy: Any) -> Any:
            p, s, o, m = raw(*carry, xy, None)
            return (p, s, o), m["loss"]
        (p, s, o), losses = jax.lax.scan(body, (p, s, o), (xs, ys))
        return p, s, o, losses

    return step, jax.jit(scan_steps, donate_argnums=(0, 1, 2))


def interleaved(runs: Mapping[str, Callable[[int], None]], *, steps_per_call: int, calls: int,
                rounds: int, warmup: int = 2) -> dict[str, dict[str, float]]:
    """Times ``runs`` against each other.

    Args:
      runs: ``{name: run(n)}``; ``run(n)`` makes ``n`` calls and blocks until their
        results are ready. The first entry is the reference of the ratios.
      steps_per_call: training steps one call makes (100 for a 100-step scan).
      calls: calls per timed block.
      rounds: timed blocks per candidate.
      warmup: calls made by each candidate before timing (compilation, caches).

    Returns:
      ``{name: {"seconds": median seconds per step, "ratio": median of this candidate's
      per-round time over the reference's}}``.
    """
    names = list(runs)
    for name in names:
        runs[name](warmup)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            runs[name](calls)
            times[name].append((time.perf_counter() - t0) / (calls * steps_per_call))
    ref = times[names[0]]
    return {name: {"seconds": statistics.median(ts),
                   "ratio": statistics.median(t / t0 for t, t0 in zip(ts, ref))}
            for name, ts in times.items()}
