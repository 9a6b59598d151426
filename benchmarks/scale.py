"""Training at scale: a vmapped population against the same members one after another.

**Population vs sequential.** 32 small MLPs (64-32-10, ReLU, dropout), each with its own
keys, learning rate, momentum and dropout rate, train on the same 1,536 examples (the
scikit-learn digits through ``jaxdl.data`` when they load, else random arrays of the same
shape) in batches of 32 with ``optax.sgd`` (hyperparameters injected with
``optax.inject_hyperparams``). Three comparisons, each the population against the very
same compiled program run once per member (hyperparameters are traced arguments, so the
sequential side compiles once and every member reuses it):

* **epoch** -- the programs :func:`jaxdl.fit_population` runs (``jaxdl.population._programs``):
  ``fit``'s epoch (a ``lax.scan`` over the epoch's 48 steps, each member shuffled by its own
  key), ``jax.vmap``-ped over the 32 members and jitted, one call per epoch, against the
  member epoch jitted alone and called 32 times per epoch;
* **epoch, shared order** -- the same with ``fit_population(shared_order=True)``: all
  members see the same batches (one gather for all, and the first layer one large matmul);
* **step** -- one jitted train step (``make_train_step(jit=False)``) vmapped over the
  members on one shared batch, against the same step jitted alone and called once per
  member: the hand-made population of ``docs/training.md`` (whose 46x on an H100 the issue
  quotes).

Timing follows ``benchmarks/_timing.py``: interleaved rounds in one process, each block
synchronised at its end, the median time of each and the median of the per-round ratios
(sequential time over population time: the throughput ratio, the same examples being
trained on both sides).

**Data parallelism.** When ``benchmarks/_data_parallel.py`` exists (the multi-device
part of the scale work), its ``run()`` is called too, so that this one command runs the
whole scale benchmark.

    python benchmarks/scale.py [--members 32] [--rounds 10] [--epochs-per-block 2]
                               [--block 20] [--skip-data-parallel]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
from jaxdl import population as pop_lib
from jaxdl.training.steps import Batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved  # noqa: E402

N_EXAMPLES = 1536
BATCH = 32
FEATURES = 64
CLASSES = 10
HIDDEN = 32


def _data(key: jax.Array) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        import jaxdl.data

        d = jaxdl.data.load("digits")
        x = np.asarray(d["features"], np.float32)[:N_EXAMPLES] / 16.0
        y = np.asarray(d["label"], np.int32)[:N_EXAMPLES]
        return x, y, "scikit-learn digits"
    except Exception as e:  # no data here: same shapes, random values
        kx, ky = jax.random.split(key)
        x = np.asarray(jax.random.uniform(kx, (N_EXAMPLES, FEATURES)))
        y = np.asarray(jax.random.randint(ky, (N_EXAMPLES,), 0, CLASSES))
        return x, y, f"random inputs (digits unavailable: {type(e).__name__})"


def make_model(hp: Any) -> jaxdl.Layer:
    """The member: ``Dense(32), Relu, Dropout(hp["drop_rate"]), Dense(10)``."""
    return jaxdl.serial(jaxdl.Dense(HIDDEN), jaxdl.Relu(), jaxdl.Dropout(hp["drop_rate"]),
                        jaxdl.Dense(CLASSES))


class _Setup(NamedTuple):
    source: str
    hp: dict[str, jax.Array]
    progs: Any
    params: Any
    state: Any
    opt_state: Any
    fit_keys: jax.Array
    cols: Batch


def _setup(members: int, key: jax.Array, shared_order: bool, epochs: int) -> _Setup:
    x, y, source = _data(key)
    rng = np.random.default_rng(0)
    hp_np = {"learning_rate": np.float32(10.0) ** rng.uniform(-2.5, -0.5, members),
             "momentum": rng.uniform(0.0, 0.9, members).astype(np.float32),
             "drop_rate": rng.uniform(0.0, 0.5, members).astype(np.float32)}
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    plan = pop_lib._plan_hparams("scale", make_model, optax.sgd,
                                 {k: float(v[0]) for k, v in hp_np.items()})
    progs = pop_lib._programs(make_model, optax.sgd, plan, loss, {}, (FEATURES,), len(x), BATCH,
                              True, 1024, epochs, shared_order)
    hp = {k: jnp.asarray(v) for k, v in hp_np.items()}
    init_keys, fit_keys = pop_lib.member_keys(key, members)
    params, state, opt_state = progs.init(hp, init_keys)
    return _Setup(source, hp, progs, params, state, opt_state, fit_keys,
                  Batch(jnp.asarray(x), jnp.asarray(y)))


def _take(tree: Any, i: int) -> Any:
    return jax.tree_util.tree_map(lambda a: a[i], tree)


def epochs_vs_sequential(members: int, rounds: int, epochs_per_block: int, key: jax.Array,
                         *, shared_order: bool) -> dict[str, Any]:
    """The vmapped population epoch against ``members`` calls of the member epoch.

    With ``shared_order`` all members see the same batches (one key per epoch for all, as
    ``fit_population(shared_order=True)``); else each member its own order."""
    epochs = (rounds + 2) * epochs_per_block  # the warm-up and the timed blocks
    su = _setup(members, key, shared_order, epochs)
    active = jnp.ones(members, bool)
    # the sequential side: the same member epoch, jitted once and reused by every member
    # (the hyperparameters are traced arguments); each member's inputs are sliced out
    # beforehand (the slicing is not timed)
    member_epoch = jax.jit(su.progs.member_epoch)
    solo = [[_take(su.hp, i), _take(su.params, i), _take(su.state, i), _take(su.opt_state, i)]
            for i in range(members)]
    pop = {"p": su.params, "s": su.state, "o": su.opt_state}
    count = {"pop": 0, "seq": 0}
    # the members' epoch keys, as the population program draws them (fit's rule), sliced
    # out beforehand
    table = jax.vmap(lambda k: jax.random.split(k, epochs))(su.fit_keys)  # (members, epochs)
    epoch_keys = [[table[i, e] for i in range(members)] for e in range(epochs)]

    def run_population(n: int) -> None:
        for _ in range(n * epochs_per_block):
            e = np.int32(count["pop"])
            count["pop"] += 1
            pop["p"], pop["s"], pop["o"], sums, _, _ = su.progs.epoch(
                su.hp, pop["p"], pop["s"], pop["o"], su.cols, su.fit_keys, e, None, active)
        jax.block_until_ready((pop["p"], sums))

    def run_sequential(n: int) -> None:
        for _ in range(n * epochs_per_block):
            keys = epoch_keys[count["seq"]]
            count["seq"] += 1
            for i, m in enumerate(solo):
                k = keys[0 if shared_order else i]
                m[1], m[2], m[3], sums, _, _ = member_epoch(m[0], m[1], m[2], m[3], su.cols, k,
                                                            None)
        jax.block_until_ready(([m[1] for m in solo], sums))

    times = interleaved({"population": run_population, "sequential": run_sequential},
                        steps_per_call=epochs_per_block, calls=1, rounds=rounds)
    t_pop, t_seq = times["population"]["seconds"], times["sequential"]["seconds"]
    examples = members * len(su.cols.x)
    return {"source": su.source, "pop_s": t_pop, "seq_s": t_seq,
            "pop_throughput": examples / t_pop, "seq_throughput": examples / t_seq,
            "ratio": times["sequential"]["ratio"]}  # sequential time / population time


def steps_vs_sequential(members: int, rounds: int, block: int, key: jax.Array
                        ) -> dict[str, Any]:
    """One jitted train step vmapped over the members (one shared batch, a key each) against
    the same jitted step, unvmapped, called once per member: the hand-made population of
    ``docs/training.md``, through ``make_train_step(jit=False)``."""
    su = _setup(members, key, False, 1)
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.5)

    def member_step(hp: Any, p: Any, s: Any, o: Any, batch: Batch, k: jax.Array) -> Any:
        step = jaxdl.make_train_step(make_model(hp), loss, tx, jit=False)
        return step(p, s, o, batch, k)

    pop_step = jax.jit(jax.vmap(member_step, in_axes=(0, 0, 0, 0, None, 0)))
    one_step = jax.jit(member_step)
    batches = [Batch(su.cols.x[i * BATCH:(i + 1) * BATCH], su.cols.y[i * BATCH:(i + 1) * BATCH])
               for i in range(len(su.cols.x) // BATCH)]
    solo = [[_take(su.hp, i), _take(su.params, i), _take(su.state, i), _take(su.opt_state, i)]
            for i in range(members)]
    pop = {"p": su.params, "s": su.state, "o": su.opt_state, "i": 0}
    keys = jax.random.split(key, members)

    def run_population(n: int) -> None:
        for _ in range(n):
            b = batches[pop["i"] % len(batches)]
            pop["i"] += 1
            pop["p"], pop["s"], pop["o"], m = pop_step(su.hp, pop["p"], pop["s"], pop["o"], b,
                                                       keys)
        jax.block_until_ready((pop["p"], m))

    def run_sequential(n: int) -> None:
        for _ in range(n):
            b = batches[pop["i"] % len(batches)]
            pop["i"] += 1
            for i, s in enumerate(solo):
                s[1], s[2], s[3], m = one_step(s[0], s[1], s[2], s[3], b, keys[i])
        jax.block_until_ready(([s[1] for s in solo], m))

    times = interleaved({"population": run_population, "sequential": run_sequential},
                        steps_per_call=1, calls=block, rounds=rounds)
    return {"pop_s": times["population"]["seconds"], "seq_s": times["sequential"]["seconds"],
            "ratio": times["sequential"]["ratio"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--epochs-per-block", type=int, default=2,
                    help="epochs per timed block")
    ap.add_argument("--block", type=int, default=20, help="steps per timed block (step ratio)")
    ap.add_argument("--skip-data-parallel", action="store_true",
                    help="do not run benchmarks/_data_parallel.py's part")
    args = ap.parse_args(argv)

    key = jax.random.key(0)
    dev = jax.devices()[0]
    m = args.members
    print(f"jax {jax.__version__}, optax {optax.__version__} on {dev.platform} "
          f"({dev.device_kind}), {jax.device_count()} device(s)")
    own = epochs_vs_sequential(m, args.rounds, args.epochs_per_block, key, shared_order=False)
    shared = epochs_vs_sequential(m, args.rounds, args.epochs_per_block, key, shared_order=True)
    steps = steps_vs_sequential(m, args.rounds, args.block, key)
    print(f"{m} MLPs {FEATURES}-{HIDDEN}-{CLASSES} (ReLU, dropout), sgd with injected "
          f"learning rate and momentum, {N_EXAMPLES} examples, batch {BATCH}, data: "
          f"{own['source']}; {args.rounds} interleaved rounds")
    print(f"{'':36}{'population ms':>15}{'sequential ms':>15}{'ratio':>8}")
    for name, r, unit in (("epoch, each member its own order", own, "epoch"),
                          ("epoch, shared order", shared, "epoch"),
                          ("one train step", steps, "step")):
        print(f"{name + ' (per ' + unit + ')':36}{r['pop_s'] * 1e3:>15.3f}"
              f"{r['seq_s'] * 1e3:>15.3f}{r['ratio']:>8.2f}")
    print(f"throughput (examples/s, epochs): population {own['pop_throughput']:.0f} "
          f"(shared order {shared['pop_throughput']:.0f}), sequential "
          f"{own['seq_throughput']:.0f}")
    print(f"RATIO population/sequential members={m} epoch={own['ratio']:.2f} "
          f"epoch_shared_order={shared['ratio']:.2f} step={steps['ratio']:.2f}")

    if not args.skip_data_parallel and importlib.util.find_spec("_data_parallel") is not None:
        import _data_parallel

        _data_parallel.run()


if __name__ == "__main__":
    main()
