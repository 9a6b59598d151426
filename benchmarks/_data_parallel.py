"""Data-parallel train steps: equal results on forced CPU devices, and the cost of sharding.

Two measurements (issue 10's benchmark "data-parallel step on forced CPU devices"):

* **Equality.** The 784-512-512-10 ReLU MLP of ``benchmarks/overhead.py`` (with dropout
  0.2), batch 128, Adam: a few steps of ``jaxdl.make_parallel_train_step`` on a mesh of
  ``--devices`` forced CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count``,
  ``strategy="jit"`` and ``"shard_map"``) against the same steps of
  ``jaxdl.make_train_step`` on one device; reported: the largest difference of any
  parameter, relative to that leaf's largest magnitude. Forced devices need a fresh JAX,
  so this part runs in a child process (in this one when it already has the devices).
* **Overhead.** A sharded step on ONE device (``make_parallel_train_step`` on a
  one-device mesh: ``NamedSharding`` in/out shardings, the batch-divisibility guard)
  against the plain jitted step (``make_train_step``), both donating, in the same
  process, interleaved by ``benchmarks/_timing.py``'s ``interleaved`` (a block of steps
  of one, then of the other, for many rounds, the order alternating), each block
  synchronised at its end. Reported: the median per-step time of each and the median of
  the per-round ratios (target on the H100: <= 1.05).

Forced CPU devices share the machine's cores, so no speed-up is measured here.

    python benchmarks/_data_parallel.py [--devices 4] [--rounds 30] [--block 20]

``benchmarks/scale.py`` imports this module and calls :func:`run`, which returns the
numbers as a dict; the ``RATIO`` and ``EQUAL`` lines are printed last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BATCH = 128
CHECK_STEPS = 3


def _model_and_data(jaxdl: Any, np: Any, *, dropout: bool = True) -> tuple[Any, Any, Any]:
    layers = [jaxdl.Dense(512, w_init="he_normal"), jaxdl.Relu(),
              jaxdl.Dense(512, w_init="he_normal"), jaxdl.Relu(),
              jaxdl.Dense(10, w_init="he_normal")]
    if dropout:
        layers.insert(4, jaxdl.Dropout(0.2))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=4 * BATCH).astype(np.int32)
    return jaxdl.serial(*layers), x, y


def check_equal(devices: int) -> dict[str, float]:
    """The largest relative parameter difference, sharded over ``devices`` vs one device,
    for each strategy (``"jit"`` with dropout: the same masks as one device;
    ``"shard_map"`` without, as each device draws its own masks there). Needs
    ``devices`` JAX devices in this process."""
    import jax
    import numpy as np
    import optax

    import jaxdl
    from jaxdl import data_parallel as dp

    if jax.device_count() < devices:
        raise RuntimeError(f"check_equal needs {devices} devices, this process has "
                           f"{jax.device_count()}")
    tx, loss = optax.sgd(0.01, momentum=0.9), "sparse_categorical_cross_entropy"
    mesh = dp.data_mesh(jax.devices()[:devices])
    out: dict[str, float] = {}
    for strategy in dp.STRATEGIES:
        dropout = strategy == "jit"
        model, x, y = _model_and_data(jaxdl, np, dropout=dropout)
        batches = [(x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH])
                   for i in range(CHECK_STEPS)]
        keys = list(jax.random.split(jax.random.key(1), CHECK_STEPS)) if dropout else \
            [None] * CHECK_STEPS
        _, p0, s0 = model.init(jax.random.key(0), (784,))
        step = jaxdl.make_train_step(model, loss, tx, donate=False)
        pstep = jaxdl.make_parallel_train_step(model, loss, tx, mesh=mesh, strategy=strategy)
        want = (p0, s0, tx.init(p0))
        got = dp.replicate(want, mesh)
        for b, k in zip(batches, keys):
            want = step(*want, b, k)[:3]
            got = pstep(*got, dp.shard_batch(b, mesh), k)[:3]
        worst = 0.0
        for a, r in zip(jax.tree_util.tree_leaves(got[0]), jax.tree_util.tree_leaves(want[0])):
            a, r = np.asarray(a, np.float64), np.asarray(r, np.float64)
            worst = max(worst, float(np.max(np.abs(a - r)) / max(np.max(np.abs(r)), 1e-30)))
        out[strategy] = worst
    return out


def _equal_in_child(devices: int) -> dict[str, float]:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "JAX_PLATFORMS": "cpu"}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                           str(devices)], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"the {devices}-device check failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def time_one_device(rounds: int, block: int) -> tuple[float, float, float]:
    """Median ms/step of the sharded step on one device and of the plain jitted step, and
    the median of the per-round ratios."""
    import jax
    import numpy as np
    import optax

    import jaxdl
    from jaxdl import data_parallel as dp

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _timing import interleaved

    model, x, y = _model_and_data(jaxdl, np)
    tx = optax.sgd(0.01, momentum=0.9)
    loss = "sparse_categorical_cross_entropy"
    mesh = dp.data_mesh(jax.devices()[:1])
    plain_step = jaxdl.make_train_step(model, loss, tx)
    sharded_step = jaxdl.make_parallel_train_step(model, loss, tx, mesh=mesh)
    pool = [(x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]) for i in range(4)]
    plain_batches = [jax.device_put(b) for b in pool]
    sharded_batches = [dp.shard_batch(b, mesh) for b in pool]
    keys = list(jax.random.split(jax.random.key(1), 8))
    def fresh() -> tuple[Any, ...]:  # separate buffers: each step donates its own
        _, p0, s0 = model.init(jax.random.key(0), (784,))
        return p0, s0, tx.init(p0)

    plain = list(jax.device_put(fresh()))
    sharded = list(dp.replicate(fresh(), mesh))

    def run_plain(n: int) -> None:
        for i in range(n):
            *plain[:3], m = plain_step(*plain, plain_batches[i % 4], keys[i % 8])
        jax.block_until_ready((plain, m))

    def run_sharded(n: int) -> None:
        for i in range(n):
            *sharded[:3], m = sharded_step(*sharded, sharded_batches[i % 4], keys[i % 8])
        jax.block_until_ready((sharded, m))

    t = interleaved({"plain": run_plain, "sharded": run_sharded}, steps_per_call=1,
                    calls=block, rounds=rounds)
    return t["sharded"]["seconds"] * 1e3, t["plain"]["seconds"] * 1e3, t["sharded"]["ratio"]


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs both measurements, prints a table and the ``RATIO``/``EQUAL`` lines last, and
    returns ``{"device", "devices_checked", "rel_diff_jit", "rel_diff_shard_map",
    "sharded_ms", "plain_ms", "ratio"}``.

    ``argv`` is this script's arguments (``["--rounds", "10"]``); None means the
    defaults, so that another script can call ``run()`` whatever its own command line.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=4, help="forced CPU devices to check")
    ap.add_argument("--rounds", type=int, default=30, help="interleaved timing rounds")
    ap.add_argument("--block", type=int, default=20, help="steps per timed block")
    args = ap.parse_args([] if argv is None else argv)

    import jax

    if jax.device_count() >= args.devices and jax.devices()[0].platform == "cpu":
        diffs = check_equal(args.devices)
    else:
        diffs = _equal_in_child(args.devices)
    sharded_ms, plain_ms, ratio = time_one_device(args.rounds, args.block)
    device = jax.devices()[0]
    print(f"jax {jax.__version__} on {device.platform} ({device.device_kind}); MLP "
          f"784-512-512-10 ReLU + dropout 0.2, batch {BATCH}")
    print(f"equal results on {args.devices} forced CPU devices ({CHECK_STEPS} SGD steps, "
          f"momentum 0.9), largest relative parameter difference: jit {diffs['jit']:.2e}, "
          f"shard_map {diffs['shard_map']:.2e} (no dropout)")
    print(f"{'':30}{'ms/step':>10}")
    print(f"{'sharded step, one device':30}{sharded_ms:>10.4f}")
    print(f"{'plain jitted step':30}{plain_ms:>10.4f}")
    print(f"EQUAL data_parallel devices={args.devices} jit_rel={diffs['jit']:.2e} "
          f"shard_map_rel={diffs['shard_map']:.2e}")
    print(f"RATIO sharded_one_device/plain_jit step={ratio:.3f}")
    return {"device": f"{device.platform} ({device.device_kind})",
            "devices_checked": args.devices, "rel_diff_jit": diffs["jit"],
            "rel_diff_shard_map": diffs["shard_map"], "sharded_ms": sharded_ms,
            "plain_ms": plain_ms, "ratio": ratio}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(check_equal(int(sys.argv[2]))))
    else:
        run(sys.argv[1:])
