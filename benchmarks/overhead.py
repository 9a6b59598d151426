"""jaxdl's overhead over plain JAX: a 784-512-512-10 ReLU MLP train step at batch 128.

The peer is the plain-JAX step of ``../shared/bench/anchors_gpu.py`` (``part_mlp``): the
same network written with ``jax.numpy``, ``jax.value_and_grad``, ``optax.sgd(0.01,
momentum=0.9)`` and ``jax.jit`` with donated buffers. jaxdl's step is
``jaxdl.make_train_step(model, sparse_categorical_cross_entropy, same optimizer)``.

Both run in the same process, interleaved (a block of steps of one, then of the other,
for many rounds, the order alternating), each block synchronised at its end; the
per-step time of a block is its time over its steps. Reported: the median over rounds
of each, and the ratio jaxdl / plain (the median of the per-round ratios). The same is
done for 100 steps fused into one ``lax.scan`` (``make_train_step(..., jit=False)``
inside the scan vs the plain step inside the scan), and for a whole training epoch:
``jaxdl.fit`` (per-epoch time from its history, compile excluded) against a plain-JAX
epoch, one jitted program that permutes the on-device data, gathers each batch by index
inside a ``lax.scan`` and returns the mean loss to the host (Adam 1e-3, as in
``../shared/bench``), both over the same 8,192 examples.

Inputs are Fashion-MNIST training images (via ``jaxdl.data``) when they can be loaded,
else random normal arrays of the same shape (the timing does not depend on the values;
the script says which it used).

    python benchmarks/overhead.py [--rounds 30] [--block 20] [--fit-rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved, jaxdl_steps, plain_steps  # noqa: E402

BATCH = 128
POOL = 16
SCAN_STEPS = 100


def _data(key: jax.Array) -> tuple[np.ndarray, np.ndarray, str]:
    n = BATCH * POOL
    try:
        from jaxdl import data as jdata

        d = jdata.load("fashion_mnist", split=f"train[:{n}]")
        x = np.asarray(d["image"], np.float32).reshape(n, 784) / 255.0
        return x, np.asarray(d["label"], np.int32), "Fashion-MNIST train images"
    except Exception as e:  # no data here: same shapes, random values
        kx, ky = jax.random.split(key)
        x = np.asarray(jax.random.normal(kx, (n, 784)))
        y = np.asarray(jax.random.randint(ky, (n,), 0, 10))
        return x, y, f"random normal inputs (Fashion-MNIST unavailable: {type(e).__name__})"


def plain_jax(tx: optax.GradientTransformation) -> tuple[Any, Any, Any]:
    """The peer: init, a jitted step and a jitted 100-step scan, in plain JAX."""

    def init(k: jax.Array) -> list[tuple[jax.Array, jax.Array]]:
        ks = jax.random.split(k, 3)
        dims = [(784, 512), (512, 512), (512, 10)]
        return [(jax.random.normal(ks[i], d, jnp.float32) * (2.0 / d[0]) ** 0.5,
                 jnp.zeros((d[1],))) for i, d in enumerate(dims)]

    def apply(p: Any, x: jax.Array) -> jax.Array:
        for w, b in p[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = p[-1]
        return x @ w + b

    return (init, *plain_steps(apply, tx))


def jaxdl_version(tx: optax.GradientTransformation) -> tuple[jaxdl.Layer, Any, Any]:
    """jaxdl: the model, its jitted train step and a jitted 100-step scan of the raw step."""
    model = jaxdl.serial(jaxdl.Dense(512, w_init="he_normal"), jaxdl.Relu(),
                         jaxdl.Dense(512, w_init="he_normal"), jaxdl.Relu(),
                         jaxdl.Dense(10, w_init="he_normal"))
    return (model, *jaxdl_steps(model, tx))


FIT_EXAMPLES = BATCH * 64
FIT_EPOCHS = 6


def plain_epoch(tx: optax.GradientTransformation) -> Any:
    """The peer of a ``fit`` epoch: permutation, index gathers and steps in one program."""
    init, step, _ = plain_jax(tx)
    raw_step = step.__wrapped__ if hasattr(step, "__wrapped__") else step
    steps = FIT_EXAMPLES // BATCH

    def epoch(p: Any, s: Any, x: jax.Array, y: jax.Array, key: jax.Array) -> Any:
        perm = jax.random.permutation(key, FIT_EXAMPLES)

        def body(carry: Any, i: jax.Array) -> Any:
            idx = jax.lax.dynamic_slice(perm, (i * BATCH,), (BATCH,))
            p, s, loss = raw_step(carry[0], carry[1], x[idx], y[idx])
            return (p, s), loss

        (p, s), losses = jax.lax.scan(body, (p, s), jnp.arange(steps))
        return p, s, jnp.mean(losses)

    return init, jax.jit(epoch)


def compare_fit(tx: optax.GradientTransformation, x_np: np.ndarray, y_np: np.ndarray,
                rounds: int) -> tuple[float, float, float]:
    """Median per-epoch seconds of jaxdl.fit and of the plain epoch, and their ratio."""
    key = jax.random.key(0)
    reps = -(-FIT_EXAMPLES // len(x_np))
    x = np.tile(x_np, (reps, 1))[:FIT_EXAMPLES]
    y = np.tile(y_np, reps)[:FIT_EXAMPLES]
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    model, _, _ = jaxdl_version(tx)
    _, jp, js = model.init(key, (784,))
    p_init, p_epoch = plain_epoch(tx)
    pp = p_init(key)
    ps = tx.init(pp)
    p_epoch(pp, ps, xd, yd, key)  # compile

    def run_fit() -> list[float]:
        r = jaxdl.fit(model, jp, js, x, y, loss="sparse_categorical_cross_entropy",
                      optimizer=tx, epochs=FIT_EPOCHS, batch_size=BATCH, key=key, verbose=0)
        return r.history["epoch_seconds"][1:]  # the first call warms up (compiling is apart)

    def run_plain() -> list[float]:
        p, s, k, out = pp, ps, key, []
        for _ in range(FIT_EPOCHS - 1):
            t0 = time.perf_counter()
            k, sub = jax.random.split(k)
            p, s, loss = p_epoch(p, s, xd, yd, sub)
            float(loss)  # the host reads the epoch's loss, as fit does
            out.append(time.perf_counter() - t0)
        return out

    tf, tp, ratios = [], [], []
    for r in range(rounds):
        pair = [run_fit(), run_plain()] if r % 2 == 0 else [run_plain(), run_fit()][::-1]
        mf, mp = statistics.median(pair[0]), statistics.median(pair[1])
        tf.append(mf), tp.append(mp), ratios.append(mf / mp)
    return statistics.median(tf), statistics.median(tp), statistics.median(ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--block", type=int, default=20, help="steps per timed block")
    ap.add_argument("--fit-rounds", type=int, default=5, help="interleaved fit rounds")
    args = ap.parse_args()

    key = jax.random.key(0)
    tx = optax.sgd(0.01, momentum=0.9)
    x_np, y_np, source = _data(key)
    xs = [jnp.asarray(x_np[i * BATCH:(i + 1) * BATCH]) for i in range(POOL)]
    ys = [jnp.asarray(y_np[i * BATCH:(i + 1) * BATCH]) for i in range(POOL)]
    reps = -(-SCAN_STEPS // POOL)
    X = jnp.asarray(np.tile(x_np, (reps, 1))[:SCAN_STEPS * BATCH].reshape(SCAN_STEPS, BATCH, 784))
    Y = jnp.asarray(np.tile(y_np, reps)[:SCAN_STEPS * BATCH].reshape(SCAN_STEPS, BATCH))

    p_init, p_step, p_scan = plain_jax(tx)
    model, j_step, j_scan = jaxdl_version(tx)
    pp = p_init(key)
    plain = {"p": pp, "s": tx.init(pp)}
    _, jp, js = model.init(key, (784,))
    mine = {"p": jp, "s": js, "o": tx.init(jp)}

    def run_plain(n: int) -> None:
        for i in range(n):
            plain["p"], plain["s"], loss = p_step(plain["p"], plain["s"], xs[i % POOL], ys[i % POOL])
        jax.block_until_ready((plain["p"], loss))

    def run_jaxdl(n: int) -> None:
        for i in range(n):
            mine["p"], mine["s"], mine["o"], m = j_step(mine["p"], mine["s"], mine["o"],
                                                        (xs[i % POOL], ys[i % POOL]), None)
        jax.block_until_ready((mine["p"], m))

    def scan_plain(n: int) -> None:
        for _ in range(n):
            plain["p"], plain["s"], losses = p_scan(plain["p"], plain["s"], X, Y)
        jax.block_until_ready((plain["p"], losses))

    def scan_jaxdl(n: int) -> None:
        for _ in range(n):
            mine["p"], mine["s"], mine["o"], losses = j_scan(mine["p"], mine["s"], mine["o"], X, Y)
        jax.block_until_ready((mine["p"], losses))

    def compare(a: Any, b: Any, steps_per_call: int, calls: int, rounds: int
                ) -> tuple[float, float, float]:
        t = interleaved({"plain": b, "jaxdl": a}, steps_per_call=steps_per_call, calls=calls,
                        rounds=rounds)
        return t["jaxdl"]["seconds"], t["plain"]["seconds"], t["jaxdl"]["ratio"]

    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({jax.devices()[0].device_kind}); "
          f"data: {source}")
    print(f"MLP 784-512-512-10 ReLU, batch {BATCH}, optax.sgd(0.01, momentum=0.9); "
          f"{args.rounds} interleaved rounds")
    sj, sp, ratio_step = compare(run_jaxdl, run_plain, 1, args.block, args.rounds)
    cj, cp, ratio_scan = compare(scan_jaxdl, scan_plain, SCAN_STEPS, 1, max(5, args.rounds // 3))
    print(f"{'':22}{'jaxdl ms/step':>15}{'plain JAX ms/step':>19}{'ratio':>8}")
    print(f"{'jitted step':22}{sj * 1e3:>15.4f}{sp * 1e3:>19.4f}{ratio_step:>8.3f}")
    print(f"{'100 steps in lax.scan':22}{cj * 1e3:>15.4f}{cp * 1e3:>19.4f}{ratio_scan:>8.3f}")
    fj, fp, ratio_fit = compare_fit(optax.adam(1e-3), x_np, y_np, args.fit_rounds)
    print(f"{'':22}{'jaxdl ms/epoch':>15}{'plain JAX ms/epoch':>19}{'ratio':>8}")
    print(f"{'fit epoch (64 steps)':22}{fj * 1e3:>15.2f}{fp * 1e3:>19.2f}{ratio_fit:>8.3f}")
    print(f"RATIO jaxdl/plain_jax step={ratio_step:.3f} scan={ratio_scan:.3f} "
          f"fit_epoch={ratio_fit:.3f}")


if __name__ == "__main__":
    main()
