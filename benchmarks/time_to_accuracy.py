"""Time to accuracy on Fashion-MNIST: jaxdl's model and ``fit`` against the plain-JAX anchor.

The anchor is ``../shared/bench/fmnist_tta.py``: a CNN (conv 3x3 -> ReLU -> 2x2 max-pool,
twice, dense, dense) trained with the data on the device, one jitted ``lax.scan`` per
epoch, random horizontal flips, AdamW with a one-cycle cosine schedule (weight decay
5e-4), label smoothing 0.1; the clock counts training only (compilation and the test
evaluation after each epoch are kept out). On the H100 it reached 0.9217 after 0.73 s of
training (widths 32/64/256, batch 256, bf16, 8 epochs) and first passed 0.91 at 0.38 s.

jaxdl runs the same recipe with its own pieces: ``experiments._images.small_cnn`` (``Conv``,
``MaxPool``, ``Flatten``, ``Dense`` with ``compute_dtype``, ``Augment(random_flip)``) trained
by ``jaxdl.fit``; its clock is ``FitResult.history["epoch_seconds"]`` (training only;
``fit`` compiles its epoch program before the first epoch and reports that apart as
``compile_seconds``); the test accuracy is taken by a callback after each epoch, outside
the clock. Both use the same arrays, loaded once through ``jaxdl.data``.

On a GPU the default is the anchor's bf16 recipe. On a CPU (2 cores: minutes per epoch
of the full set) the default is a shortened run: 12,000 training images, fp32, widths
16/32/128, 3 epochs, and the accuracy target lowered to 0.80. Printed: per system the
training seconds, compile seconds, the test accuracy after each epoch and the training
seconds to first reach the target; then ``RATIO jaxdl/plain_jax time_to_target=...
train_time=...``.

    python benchmarks/time_to_accuracy.py [--epochs E] [--batch B] [--widths C1 C2 H]
        [--dtype float32|bfloat16] [--n-train N] [--target A] [--lr LR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jaxdl  # noqa: E402
from experiments import _images  # noqa: E402


# ----------------------------------------------------------- the anchor (fmnist_tta.py)


def plain_run(data: dict[str, jax.Array], widths: tuple[int, int, int], bs: int, epochs: int,
              lr: float, dt: Any, seed: int = 0) -> dict[str, Any]:
    """``fmnist_tta.py``'s ``run``, unchanged but for taking the arrays as an argument and
    returning the compile time and per-epoch training seconds."""
    Xtr, Ytr, Xte, Yte = data["x_train"], data["y_train"], data["x_test"], data["y_test"]

    def conv_init(k: Any, kh: int, kw: int, cin: int, cout: int) -> Any:
        return (jax.random.normal(k, (kh, kw, cin, cout)) * jnp.sqrt(2.0 / (kh * kw * cin)),
                jnp.zeros(cout))

    def dense_init(k: Any, a: int, b: int) -> Any:
        return jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), jnp.zeros(b)

    def conv(x: Any, wb: Any) -> Any:
        w, b = wb
        y = jax.lax.conv_general_dilated(x.astype(dt), w.astype(dt), (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + b.astype(dt)

    def pool(x: Any) -> Any:
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                     "VALID")

    c1, c2, h = widths

    def init(key: Any) -> Any:
        k = jax.random.split(key, 4)
        return [conv_init(k[0], 3, 3, 1, c1), conv_init(k[1], 3, 3, c1, c2),
                dense_init(k[2], 7 * 7 * c2, h), dense_init(k[3], h, 10)]

    def fwd(p: Any, x: Any) -> Any:
        x = pool(jax.nn.relu(conv(x, p[0])))
        x = pool(jax.nn.relu(conv(x, p[1])))
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p[2][0].astype(dt) + p[2][1].astype(dt))
        return (x @ p[3][0].astype(dt) + p[3][1].astype(dt)).astype(jnp.float32)

    nb = len(Xtr) // bs
    sched = optax.cosine_onecycle_schedule(nb * epochs, lr, pct_start=0.25)
    opt = optax.adamw(sched, weight_decay=5e-4)

    def loss_fn(p: Any, x: Any, y: Any) -> Any:
        return optax.softmax_cross_entropy(
            fwd(p, x), optax.smooth_labels(jax.nn.one_hot(y, 10), 0.1)).mean()

    @jax.jit
    def epoch(p: Any, s: Any, key: Any) -> Any:
        k1, k2 = jax.random.split(key)
        perm = jax.random.permutation(k1, len(Xtr))[: nb * bs].reshape(nb, bs)
        flips = jax.random.bernoulli(k2, 0.5, (nb, bs, 1, 1, 1))

        def body(c: Any, inp: Any) -> Any:
            p, s = c
            idx, f = inp
            x = Xtr[idx]
            x = jnp.where(f, x[:, :, ::-1], x)
            g = jax.grad(loss_fn)(p, x, Ytr[idx])
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (p, s), _ = jax.lax.scan(body, (p, s), (perm, flips))
        return p, s

    @jax.jit
    def acc(p: Any) -> Any:
        return (jnp.argmax(fwd(p, Xte), -1) == Yte).mean()

    p = init(jax.random.key(seed))
    s = opt.init(p)
    t0 = time.perf_counter()
    epoch_c = epoch.lower(p, s, jax.random.key(0)).compile()
    acc_c = acc.lower(p).compile()
    compile_s = time.perf_counter() - t0
    secs, accs = [], []
    for e in range(epochs):
        t = time.perf_counter()
        p, s = epoch_c(p, s, jax.random.key(100 + e))
        jax.block_until_ready(p)
        secs.append(time.perf_counter() - t)
        accs.append(float(acc_c(p)))
    return {"epoch_seconds": secs, "accuracy": accs, "compile_seconds": compile_s}


# ----------------------------------------------------------------------------- jaxdl


class _TestAccuracy:
    """A ``fit`` callback: the test accuracy after every epoch (outside ``fit``'s clock)."""

    def __init__(self, model: jaxdl.Layer, x: jax.Array, y: jax.Array) -> None:
        self.model, self.x, self.y, self.values = model, x, y, []

    def on_epoch_end(self, info: jaxdl.EpochInfo) -> bool:
        logits = jaxdl.predict(self.model, info.params, info.state, self.x,
                               batch_size=len(self.x))
        self.values.append(float(jnp.mean(jnp.argmax(logits, -1) == self.y)))
        return False


def jaxdl_run(data: dict[str, jax.Array], widths: tuple[int, int, int], bs: int, epochs: int,
              lr: float, dt: Any, seed: int = 0) -> dict[str, Any]:
    """The same recipe with jaxdl's layers and ``fit``."""
    model = _images.small_cnn(widths, augment=jaxdl.augment.random_flip,
                              compute_dtype=None if dt == jnp.float32 else dt)
    _, params, state = model.init(jax.random.key(seed), _images.IMAGE_SHAPE)
    n = len(data["y_train"]) // bs * bs  # the anchor's epochs take n // bs full batches
    steps = epochs * (n // bs)
    test = _TestAccuracy(model, data["x_test"], data["y_test"])
    result = jaxdl.fit(model, params, state, data["x_train"][:n], data["y_train"][:n],
                       loss=_images.smoothed_cross_entropy(0.1),
                       optimizer=_images.onecycle_adamw(steps, lr), epochs=epochs,
                       batch_size=bs, key=seed, callbacks=[test],
                       check_targets=False, verbose=0)
    return {"epoch_seconds": result.history["epoch_seconds"], "accuracy": test.values,
            "compile_seconds": result.compile_seconds}


# ------------------------------------------------------------------------------ main


def time_to(target: float, r: dict[str, Any]) -> float | None:
    """Training seconds until the test accuracy first reaches ``target`` (None: never)."""
    total = 0.0
    for secs, acc in zip(r["epoch_seconds"], r["accuracy"]):
        total += secs
        if acc >= target:
            return total
    return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    gpu = jax.devices()[0].platform != "cpu"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8 if gpu else 3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--widths", type=int, nargs=3, default=(32, 64, 256) if gpu else (16, 32, 128))
    ap.add_argument("--dtype", choices=("float32", "bfloat16"),
                    default="bfloat16" if gpu else "float32")
    ap.add_argument("--n-train", type=int, default=None if gpu else 12_000,
                    help="training images (default: all 60,000 on a GPU, 12,000 on a CPU)")
    ap.add_argument("--target", type=float, default=0.92 if gpu else 0.80)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    dt = jnp.bfloat16 if args.dtype == "bfloat16" else jnp.float32

    train = jaxdl.data.load("fashion_mnist", split="train")
    test = jaxdl.data.load("fashion_mnist", split="test")
    n = len(train["label"]) if args.n_train is None else args.n_train
    pixels = train["image"][:n].astype(np.float32) / 255.0
    mean, std = pixels.mean(), pixels.std()
    data = {"x_train": jnp.asarray((pixels - mean) / std),
            "y_train": jnp.asarray(train["label"][:n].astype(np.int32)),
            "x_test": jnp.asarray((test["image"].astype(np.float32) / 255.0 - mean) / std),
            "y_test": jnp.asarray(test["label"].astype(np.int32))}
    widths = tuple(args.widths)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} "
          f"({jax.devices()[0].device_kind}); {n} training images, widths {widths}, batch "
          f"{args.batch}, {args.epochs} epochs, {args.dtype}, peak lr {args.lr:g}; target "
          f"test accuracy {args.target}")
    runs = {}
    for name, fn in (("plain_jax", plain_run), ("jaxdl", jaxdl_run)):
        r = fn(data, widths, args.batch, args.epochs, args.lr, dt, args.seed)
        r["train_seconds"] = float(sum(r["epoch_seconds"]))
        r["time_to_target"] = time_to(args.target, r)
        runs[name] = r
        hit = r["time_to_target"]
        print(f"{name:>10}: train {r['train_seconds']:.2f} s (compile "
              f"{r['compile_seconds']:.2f} s apart), final test accuracy "
              f"{r['accuracy'][-1]:.4f}, to {args.target}: "
              f"{'%.2f s' % hit if hit is not None else 'not reached'}; accuracies "
              f"{[round(a, 4) for a in r['accuracy']]}", flush=True)
    train_ratio = runs["jaxdl"]["train_seconds"] / runs["plain_jax"]["train_seconds"]
    tj, tp = runs["jaxdl"]["time_to_target"], runs["plain_jax"]["time_to_target"]
    target_ratio = tj / tp if tj is not None and tp is not None else float("nan")
    print(f"RATIO jaxdl/plain_jax time_to_target={target_ratio:.3f} "
          f"train_time={train_ratio:.3f} jaxdl_seconds_to_target="
          f"{tj if tj is not None else float('nan'):.3f}")
    return {"runs": runs, "time_to_target_ratio": target_ratio, "train_time_ratio": train_ratio}


if __name__ == "__main__":
    main()
