"""jaxdl's CNN train step against Flax linen's and plain JAX's, in one process.

The network is the CNN of Flax's MNIST example as ``../shared/bench/anchors_gpu.py``
(``part_cnn_jax``) times it: conv 3x3x32 -> ReLU -> 2x2 average pool -> conv 3x3x64 ->
ReLU -> 2x2 average pool -> dense 256 -> ReLU -> dense 10, on 28x28x1 inputs, softmax
cross-entropy with integer labels, ``optax.sgd(0.01, momentum=0.9)``, ``jax.jit`` with
donated buffers. Three versions of the same step:

* ``jaxdl``: ``jaxdl.make_train_step`` of ``serial(Conv, Relu, AvgPool, ...)``;
* ``flax_linen``: an ``nn.Module`` with ``nn.Conv``, ``nn.avg_pool``, ``nn.Dense``;
* ``plain_jax``: ``lax.conv_general_dilated`` and ``lax.reduce_window`` by hand.

Each is timed as a jitted step called per batch and as 10 steps fused into one
``lax.scan``; the candidates run interleaved (``benchmarks/_timing.py``). Printed: median
ms per step and the ratios against Flax linen, ending with a ``RATIO`` line.

    python benchmarks/cnn.py [--batch B] [--rounds 12] [--block 5]

``--batch`` defaults to 128 on a GPU (the anchor's) and 32 on a CPU, where one step of
batch 128 takes most of a second on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved, jaxdl_steps, plain_steps  # noqa: E402

import jaxdl  # noqa: E402

POOL = 8
SCAN_STEPS = 10
TX = optax.sgd(0.01, momentum=0.9)


def jaxdl_cnn() -> jaxdl.Layer:
    """The Flax MNIST CNN written with jaxdl layers."""
    return jaxdl.serial(
        jaxdl.Conv(32, (3, 3)), jaxdl.Relu(), jaxdl.AvgPool((2, 2)),
        jaxdl.Conv(64, (3, 3)), jaxdl.Relu(), jaxdl.AvgPool((2, 2)),
        jaxdl.Flatten(3), jaxdl.Dense(256), jaxdl.Relu(), jaxdl.Dense(10))


class FlaxCNN(nn.Module):
    """The CNN of Flax's MNIST example (``examples/mnist/train.py``)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.avg_pool(nn.relu(nn.Conv(32, (3, 3))(x)), (2, 2), strides=(2, 2))
        x = nn.avg_pool(nn.relu(nn.Conv(64, (3, 3))(x)), (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(256)(x))
        return nn.Dense(10)(x)


def plain_cnn() -> tuple[Any, Any]:
    """The same CNN in plain JAX (``anchors_gpu.py``'s ``_cnn_plain``)."""
    dn = ("NHWC", "HWIO", "NHWC")

    def init(key: jax.Array) -> dict[str, jax.Array]:
        k = jax.random.split(key, 4)

        def he(kk: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
            return jax.random.normal(kk, shape, jnp.float32) * (2.0 / fan_in) ** 0.5

        return dict(c1w=he(k[0], (3, 3, 1, 32), 9), c1b=jnp.zeros((32,)),
                    c2w=he(k[1], (3, 3, 32, 64), 288), c2b=jnp.zeros((64,)),
                    d1w=he(k[2], (3136, 256), 3136), d1b=jnp.zeros((256,)),
                    d2w=he(k[3], (256, 10), 256), d2b=jnp.zeros((10,)))

    def conv(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
        return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn) + b

    def pool(x: jax.Array) -> jax.Array:
        return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1),
                                     "VALID") * 0.25

    def apply(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        x = pool(jax.nn.relu(conv(x, p["c1w"], p["c1b"])))
        x = pool(jax.nn.relu(conv(x, p["c2w"], p["c2b"])))
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p["d1w"] + p["d1b"])
        return x @ p["d2w"] + p["d2b"]

    return init, apply


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gpu = jax.devices()[0].platform != "cpu"
    ap.add_argument("--batch", type=int, default=128 if gpu else 32)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--block", type=int, default=5, help="steps per timed block")
    args = ap.parse_args(argv)
    b = args.batch
    key = jax.random.key(0)
    kx, ky = jax.random.split(key)
    xs = [jax.random.normal(jax.random.fold_in(kx, i), (b, 28, 28, 1)) for i in range(POOL)]
    ys = [jax.random.randint(jax.random.fold_in(ky, i), (b,), 0, 10) for i in range(POOL)]
    X = jax.random.normal(kx, (SCAN_STEPS, b, 28, 28, 1))
    Y = jax.random.randint(ky, (SCAN_STEPS, b), 0, 10)

    model = jaxdl_cnn()
    _, jp, js = model.init(jax.random.key(1), (28, 28, 1))
    j_step, j_scan = jaxdl_steps(model, TX)
    flax_model = FlaxCNN()
    fp = flax_model.init(jax.random.key(2), jnp.ones((1, 28, 28, 1)))["params"]
    f_step, f_scan = plain_steps(lambda p, x: flax_model.apply({"params": p}, x), TX)
    p_init, p_apply = plain_cnn()
    pp = p_init(jax.random.key(3))
    p_step, p_scan = plain_steps(p_apply, TX)
    st = {"jaxdl": [jp, js, TX.init(jp)], "flax_linen": [fp, TX.init(fp)],
          "plain_jax": [pp, TX.init(pp)]}
    assert jaxdl.count_params(jp) == jaxdl.count_params(fp) == jaxdl.count_params(pp)

    def per_step(name: str, step: Any) -> Any:
        def run(n: int) -> None:
            s = st[name]
            for i in range(n):
                if name == "jaxdl":
                    *s[:3], m = step(*s, (xs[i % POOL], ys[i % POOL]), None)
                    out = m["loss"]
                else:
                    *s[:2], out = step(*s, xs[i % POOL], ys[i % POOL])
            jax.block_until_ready((s, out))
        return run

    def scanned(name: str, scan: Any) -> Any:
        def run(n: int) -> None:
            s = st[name]
            for _ in range(n):
                *s[:len(s)], out = scan(*s, X, Y)
            jax.block_until_ready((s, out))
        return run

    print(f"jax {jax.__version__}, flax linen, on {jax.devices()[0].platform} "
          f"({jax.devices()[0].device_kind}); CNN 32/64/256, batch {b}, "
          f"{jaxdl.count_params(jp):,} parameters; {args.rounds} interleaved rounds")
    step_t = interleaved({"flax_linen": per_step("flax_linen", f_step),
                          "jaxdl": per_step("jaxdl", j_step),
                          "plain_jax": per_step("plain_jax", p_step)},
                         steps_per_call=1, calls=args.block, rounds=args.rounds)
    scan_t = interleaved({"flax_linen": scanned("flax_linen", f_scan),
                          "jaxdl": scanned("jaxdl", j_scan),
                          "plain_jax": scanned("plain_jax", p_scan)},
                         steps_per_call=SCAN_STEPS, calls=1, rounds=max(4, args.rounds // 2),
                         warmup=1)
    print(f"{'ms per step':24}{'flax linen':>12}{'jaxdl':>10}{'plain JAX':>11}"
          f"{'jaxdl/flax':>12}{'plain/flax':>12}")
    for label, t in (("jitted step", step_t), (f"{SCAN_STEPS} steps in lax.scan", scan_t)):
        print(f"{label:24}{t['flax_linen']['seconds'] * 1e3:>12.3f}"
              f"{t['jaxdl']['seconds'] * 1e3:>10.3f}{t['plain_jax']['seconds'] * 1e3:>11.3f}"
              f"{t['jaxdl']['ratio']:>12.3f}{t['plain_jax']['ratio']:>12.3f}")
    ratios = {"step": step_t["jaxdl"]["ratio"], "scan": scan_t["jaxdl"]["ratio"]}
    print(f"RATIO jaxdl/flax_linen step={ratios['step']:.3f} scan={ratios['scan']:.3f}")
    return ratios


if __name__ == "__main__":
    main()
