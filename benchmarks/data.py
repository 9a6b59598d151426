"""Benchmark of jaxdl.data: preparing and loading Fashion-MNIST, and batch throughput.

Measures, on the machine it runs on:

1. preparing ``fashion_mnist`` the first time (both splits, from the raw idx files, into
   a fresh temporary data directory) -- the issue's bound: under 15 s on 2 cores;
2. loading the train split again, in this process and in a fresh Python process (imports
   included) -- bound: under 2 s;
3. host iterator throughput, examples/s, of ``jaxdl.data.batches`` (shuffled, batch 128,
   whole columns) against plain NumPy fancy indexing over the same arrays with the same
   kind of per-epoch permutation -- bound: ratio >= 0.8;
4. for information: the same with ``prefetch_to_device``, and an on-device epoch
   (``to_device`` + ``device_batch`` in a jitted ``fori_loop``).

The ratio is printed last. Run: ``python benchmarks/data.py [--source-dir DIR]``
(default: the raw files are found as ``jaxdl.data.load`` finds them; like the tests and
``dev.py``, this script sets ``$JAXDL_SOURCE_DIR`` to this project's ``../shared/data``
when that folder exists and the variable is not set).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"
if SHARED_DATA.is_dir() and not os.environ.get("JAXDL_SOURCE_DIR"):
    os.environ["JAXDL_SOURCE_DIR"] = str(SHARED_DATA)

import jaxdl.data as jd  # noqa: E402


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source-dir", default=None, help="folder with the Fashion-MNIST idx files")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5, help="epochs timed per method (best kept)")
    args = p.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="jaxdl_bench_data_"))
    try:
        t = time.perf_counter()
        jd.prepare("fashion_mnist", data_dir=root, source_dir=args.source_dir)
        prepare_s = time.perf_counter() - t
        print(f"prepare fashion_mnist (train 60k + test 10k, first time): {prepare_s:.2f} s")

        t = time.perf_counter()
        train = jd.load("fashion_mnist", split="train", data_dir=root)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        jd.load("fashion_mnist", split="test", data_dir=root)
        load_test_s = time.perf_counter() - t
        print(f"load train again (in process): {load_s:.2f} s; test: {load_test_s:.2f} s")

        code = ("import time; t = time.perf_counter(); import jaxdl.data as jd; "
                f"jd.load('fashion_mnist', data_dir={str(root)!r}); "
                "print(time.perf_counter() - t)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=ROOT)
        print(f"load train again (fresh process, imports included): "
              f"{float(out.stdout.split()[-1]):.2f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n, bs = len(train["label"]), args.batch_size
    epoch = [0]

    def ours() -> None:
        epoch[0] += 1
        for _ in jd.batches(train, bs, key=0, epoch=epoch[0]):
            pass

    def numpy_fancy() -> None:
        epoch[0] += 1
        perm = np.random.default_rng([0, 0, epoch[0]]).permutation(n)
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            _ = {k: v[idx] for k, v in train.items()}

    def prefetched() -> None:
        epoch[0] += 1
        last = None
        for b in jd.batches(train, bs, key=0, epoch=epoch[0], prefetch_to_device=True):
            last = b
        jax.block_until_ready(last)

    on_device = jd.to_device(train)
    steps = n // bs

    @jax.jit
    def device_epoch(key: jax.Array, e: jax.Array) -> jax.Array:
        perm = jd.device_permutation(key, n, e)

        def body(step: jax.Array, acc: jax.Array) -> jax.Array:
            b = jd.device_batch(on_device, perm, step, bs)
            return acc + b["image"][:, 0, 0, 0].astype(jnp.int32).sum() + b["label"].sum()

        return jax.lax.fori_loop(0, steps, body, jnp.zeros((), jnp.int32))

    key = jax.random.key(0)
    device_epoch(key, 0).block_until_ready()  # compile

    def on_device_epoch() -> None:
        epoch[0] += 1
        device_epoch(key, epoch[0]).block_until_ready()

    # Interleave the two host methods so machine noise hits both alike.
    t_ours, t_np = [], []
    for _ in range(args.repeats):
        t_np.append(_best(numpy_fancy, 1))
        t_ours.append(_best(ours, 1))
    t_ours_s, t_np_s = min(t_ours), min(t_np)
    t_pref = _best(prefetched, max(2, args.repeats // 2))
    t_dev = _best(on_device_epoch, args.repeats)

    print(f"host iterator, batch {bs}, shuffled: jaxdl.data.batches {n / t_ours_s:,.0f} "
          f"examples/s; NumPy fancy indexing {n / t_np_s:,.0f} examples/s")
    print(f"with prefetch_to_device ({jax.devices()[0].platform}): {n / t_pref:,.0f} examples/s")
    print(f"on device (to_device + device_batch in a jitted fori_loop): {n / t_dev:,.0f} "
          "examples/s")
    ratio = t_np_s / t_ours_s
    print(f"ratio jaxdl.data.batches / NumPy fancy indexing (throughput): {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main()
