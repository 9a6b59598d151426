"""jaxdl's LSTM against Flax's ``nn.RNN(nn.OptimizedLSTMCell)``: forward + backward.

The work is one LSTM layer over ``(batch, time, inputs)`` with ``hidden`` units, the loss
the sum of every output, the gradient taken with respect to the parameters and the input
(as ``../shared/bench/anchors_gpu.py`` times it). jaxdl runs ``RNN(LSTM(hidden))`` (its
fast path: a custom-VJP recurrence, the input projection of all steps one matmul before
the loop on an accelerator and each step's inside it on a CPU: ``LSTM``'s
``hoist_input``); the peer is Flax linen's ``nn.RNN(nn.OptimizedLSTMCell(hidden))``, the
bf16 run computing in bf16 (Flax ``dtype=bfloat16``, params cast to bf16, as the anchor
does), and jaxdl's params and inputs cast alike. Both start from zero carries. When PyTorch
and a CUDA GPU are present, PyTorch's cuDNN ``nn.LSTM`` is timed too, in the same
rounds; otherwise the script says it skipped it.

Timing (``benchmarks/_timing.py``'s ``interleaved``): compile and two warm-up calls
first, then ``--rounds`` interleaved rounds, each timing ``--block`` calls of every system
in turn (the order alternating), synchronised at the end of each block. Reported: the
median per-call time of each system and the median of the per-round ratios. jaxdl is
timed at each ``--unroll`` value (time steps per loop iteration), and with ``lengths``
(every sequence full, so the work is the same) to measure what masking costs.

Shapes: the issue's, ``B64 T100 256/256`` and ``B256 T200 512/512``. On a CPU the second
takes seconds per call, so a CPU run uses ``B64 T100 256/256`` and ``B64 T50 512/512``
unless ``--full`` is given; with the defaults it takes about 4 minutes on 2 cores.
``--small`` runs tiny shapes to check the logic (about 2 minutes, mostly compiling).

    python benchmarks/rnn.py [--small | --full] [--rounds 5] [--block 2]
                             [--unroll 1 2 4 8] [--dtypes fp32 bf16]

The last lines are ``RATIO`` lines, one per shape and dtype:
``RATIO jaxdl/flax shape=B64xT100x256x256 dtype=fp32 unroll=1:0.62 unroll=4:0.55 ...
best=0.55@4 masked=1.03 cpu_time@4=0.90``, where ``masked`` is jaxdl with lengths over
jaxdl without, at the best unroll, and (on a CPU) ``cpu_time`` the ratio of process CPU
time per call at that unroll, which other programs on a shared machine disturb less
than wall time (``jaxdl/cudnn`` follows on a GPU with PyTorch).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved  # noqa: E402

import jaxdl  # noqa: E402

DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16}
GPU_SHAPES = [(64, 100, 256, 256), (256, 200, 512, 512)]
CPU_SHAPES = [(64, 100, 256, 256), (64, 50, 512, 512)]
SMALL_SHAPES = [(4, 7, 8, 8), (8, 5, 16, 16)]


def jaxdl_grad(hidden: int, unroll: int, masked: bool) -> Callable[[Any, jax.Array], Any]:
    """A jitted ``grad`` of ``sum(RNN(LSTM(hidden))(x))`` over params and input."""
    layer = jaxdl.RNN(jaxdl.LSTM(hidden), unroll=unroll)

    def loss(p: Any, x: jax.Array) -> jax.Array:
        lengths = jnp.full(x.shape[:1], x.shape[1], jnp.int32) if masked else None
        y, _ = layer.apply(p, {}, x, lengths=lengths)
        return jnp.sum(y.astype(jnp.float32))

    return jax.jit(jax.grad(loss, argnums=(0, 1)))


def flax_grad(hidden: int, dt: Any, key: jax.Array, x: jax.Array) -> tuple[Any, Any]:
    """Flax's ``nn.RNN(nn.OptimizedLSTMCell)``: its params (cast to ``dt``) and jitted grad."""
    import flax.linen as nn

    rnn = nn.RNN(nn.OptimizedLSTMCell(hidden, dtype=dt, param_dtype=jnp.float32))
    params = rnn.init(key, x.astype(jnp.float32))["params"]
    params = jax.tree_util.tree_map(lambda a: a.astype(dt), params)

    def loss(p: Any, xx: jax.Array) -> jax.Array:
        return jnp.sum(rnn.apply({"params": p}, xx).astype(jnp.float32))

    return params, jax.jit(jax.grad(loss, argnums=(0, 1)))


def torch_cudnn_run(shape: tuple[int, int, int, int], dname: str
                    ) -> Callable[[int], None] | None:
    """PyTorch's cuDNN ``nn.LSTM`` forward + backward as a ``run(n)`` for ``interleaved``
    (``n`` calls, then a CUDA synchronisation), or None without PyTorch and a CUDA GPU."""
    try:
        import torch
    except ImportError:
        print("  torch: not installed, cuDNN nn.LSTM skipped")
        return None
    if not torch.cuda.is_available():
        print("  torch: no CUDA GPU, cuDNN nn.LSTM skipped")
        return None
    b, t, i, h = shape
    tdt = torch.float32 if dname == "fp32" else torch.bfloat16
    lstm = torch.nn.LSTM(i, h, batch_first=True).cuda().to(tdt)
    x = torch.randn(b, t, i, device="cuda", dtype=tdt, requires_grad=True)

    def run(n: int) -> None:
        for _ in range(n):
            x.grad = None
            lstm.zero_grad(set_to_none=True)
            y, _ = lstm(x)
            y.float().sum().backward()
        torch.cuda.synchronize()

    return run


def compare(fns: dict[str, Callable[[], Any]], rounds: int, block: int,
            extra: dict[str, Callable[[int], None]] | None = None
            ) -> tuple[dict[str, dict[str, float]], dict[str, list[float]]]:
    """``interleaved`` over the jitted calls ``fns`` (the first is the ratios' reference)
    and the ready-made ``run(n)``s of ``extra``. Returns its result (median seconds per call
    and median per-round ratio of each system) and, per system, the process CPU time per
    call in each round (on a CPU backend less disturbed than wall time by other programs
    sharing the cores; meaningless on a GPU, where the host waits)."""
    cpu: dict[str, list[float]] = {n: [] for n in fns}

    def run(name: str, f: Callable[[], Any]) -> Callable[[int], None]:
        def calls(n: int) -> None:
            c0 = time.process_time()
            for _ in range(n):
                out = f()
            jax.block_until_ready(out)
            cpu[name].append((time.process_time() - c0) / n)
        return calls

    res = interleaved({**{n: run(n, f) for n, f in fns.items()}, **(extra or {})},
                      steps_per_call=1, calls=block, rounds=rounds)
    return res, {n: v[1:] for n, v in cpu.items()}  # v[0]: the warm-up block


def ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """The median over rounds of ``a``'s time over ``b``'s."""
    return statistics.median([x / y for x, y in zip(times[a], times[b])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true", help="tiny shapes: a logic check")
    size.add_argument("--full", action="store_true",
                      help="the issue's shapes also on a CPU (slow: seconds per call)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--block", type=int, default=2, help="calls per timed block")
    ap.add_argument("--unroll", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES))
    args = ap.parse_args()

    platform = jax.devices()[0].platform
    shapes = SMALL_SHAPES if args.small else \
        GPU_SHAPES if (args.full or platform != "cpu") else CPU_SHAPES
    print(f"jax {jax.__version__} on {platform} ({jax.devices()[0].device_kind}); "
          f"{args.rounds} interleaved rounds of {args.block} calls; LSTM forward+backward, "
          "loss = sum of outputs, grad wrt params and input")
    if platform == "cpu" and not (args.small or args.full):
        print(f"CPU defaults: shapes {CPU_SHAPES} (the issue's large shape B256 T200 512/512 "
              "takes seconds per call here; --full runs it)")
    ratio_lines = []
    for shape in shapes:
        b, t, i, h = shape
        for dname in args.dtypes:
            dt = DTYPES[dname]
            key = jax.random.key(0)
            x = jax.random.normal(jax.random.fold_in(key, 1), (b, t, i), jnp.float32).astype(dt)
            f_params, f_grad = flax_grad(h, dt, jax.random.fold_in(key, 2), x)
            _, j_params, _ = jaxdl.RNN(jaxdl.LSTM(h)).init(jax.random.fold_in(key, 3), (t, i))
            j_params = jax.tree_util.tree_map(lambda a: a.astype(dt), j_params)
            grads = {u: jaxdl_grad(h, u, masked=False) for u in args.unroll}
            fns: dict[str, Callable[[], Any]] = {"flax": lambda: f_grad(f_params, x)}
            for u, g in grads.items():
                fns[f"jaxdl_u{u}"] = lambda g=g: g(j_params, x)
            torch_run = torch_cudnn_run(shape, dname) if platform == "gpu" else None
            t0 = time.perf_counter()
            times, cpu_times = compare(fns, args.rounds, args.block,
                                       {"cudnn": torch_run} if torch_run else None)
            ratios = {u: times[f"jaxdl_u{u}"]["ratio"] for u in args.unroll}
            best = min(ratios, key=ratios.get)
            cpu_ratio = ratio(cpu_times, f"jaxdl_u{best}", "flax")
            g_best, g_mask = grads[best], jaxdl_grad(h, best, masked=True)
            mtimes, _ = compare({"unmasked": lambda: g_best(j_params, x),
                                 "masked": lambda: g_mask(j_params, x)},
                                args.rounds, args.block)
            masked = mtimes["masked"]["ratio"]
            name = f"B{b}xT{t}x{i}x{h}"
            med = {n: 1e3 * v["seconds"] for n, v in times.items()}
            print(f"{name} {dname}: " + "  ".join(f"{n} {v:.2f} ms" for n, v in med.items())
                  + f"  (masked/unmasked at unroll={best}: {masked:.3f}; "
                  f"{time.perf_counter() - t0:.0f} s)", flush=True)
            if platform != "gpu" and shape is shapes[0] and dname == args.dtypes[0]:
                print("  PyTorch cuDNN nn.LSTM: skipped (no GPU)")
            line = (f"RATIO jaxdl/flax shape={name} dtype={dname} "
                    + " ".join(f"unroll={u}:{r:.3f}" for u, r in ratios.items())
                    + f" best={ratios[best]:.3f}@{best} masked={masked:.3f}")
            if platform == "cpu":
                line += f" cpu_time@{best}={cpu_ratio:.3f}"
            if "cudnn" in med:
                line += f" jaxdl/cudnn={med[f'jaxdl_u{best}'] / med['cudnn']:.3f}"
            ratio_lines.append(line)
    print("\n".join(ratio_lines))


if __name__ == "__main__":
    main()
