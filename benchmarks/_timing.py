"""How jaxdl's benchmarks time things: interleaved rounds in one process, medians, ratios.

These machines are noisy, so a time alone means little; a ratio against a peer measured in
the same process, in alternating order, round after round, does. ``interleaved`` runs each
candidate for a block of calls per round (the order alternating between rounds), each block
synchronised at its end, and reports per candidate the median per-step time over rounds
and, against the first candidate, the median of the per-round ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

__all__ = ["interleaved"]


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
