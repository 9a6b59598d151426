"""Weight initialisation in a deep network: zeros, a constant, small random numbers,
Xavier/Glorot and He, with sigmoid, tanh and ReLU hidden units, on Fashion-MNIST.

The network is ``Flatten -> (Dense(64) -> act) x 6 -> Dense(10)``. For each activation
and each initialiser of the dense weights (biases start at zero):

1. **at initialisation**, on a batch of 512 training images: the standard deviation of
   each hidden layer's activations and the norm of the loss gradient with respect to each
   layer's weights (``activations.png``, ``gradients.png``, log scale). Small random
   weights make the signal shrink layer by layer and the gradients of the first layers
   vanish; Xavier keeps tanh/sigmoid layers' variance steady and He keeps ReLU layers'.
2. **after a fixed budget** (``--epochs`` epochs of SGD with momentum 0.9, learning rate
   0.03, batch 64, on 10,000 training images): the test accuracy on the 10,000 published
   test images, and whether the hidden units of each layer are still all identical (the
   largest difference between two units' incoming weights). Zeros and a constant give
   every unit of a layer the same output and the same gradient, so no update can ever make
   them differ: the symmetry is never broken, and the network has the capacity of one unit
   per layer. A run whose loss explodes is stopped by ``fit``'s divergence check and
   scored with its last good weights (marked "diverged").

Run: ``python -m experiments.init_strategies [--epochs 3] [--seed 0]
[--out out/init_strategies]``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
from experiments import _common, _images
from jaxdl import initializers as inits

NAME = "init_strategies"
DEPTH = 6
WIDTH = 64
N_TRAIN = 10_000
EPOCHS = 3
BATCH_SIZE = 64
LEARNING_RATE = 0.03
PROBE = 512  # images for the activation and gradient statistics at initialisation

ACTIVATIONS = {"sigmoid": jaxdl.Sigmoid, "tanh": jaxdl.Tanh, "relu": jaxdl.Relu}
INITIALIZERS = {
    "zeros": inits.zeros,
    "constant": inits.constant(0.05),
    "small_normal": inits.normal(0.01),
    "xavier": inits.glorot_normal(),
    "he": inits.he_normal(),
}


def deep_mlp(activation: str, w_init: Any) -> jaxdl.Layer:
    """``Flatten -> (Dense(WIDTH, w_init) -> activation) x DEPTH -> Dense(10, w_init)``."""
    layers: list[jaxdl.Layer] = [jaxdl.Flatten(3)]
    for _ in range(DEPTH):
        layers += [jaxdl.Dense(WIDTH, w_init=w_init), ACTIVATIONS[activation]()]
    layers.append(jaxdl.Dense(_images.NUM_CLASSES, w_init=w_init))
    return jaxdl.serial(*layers, name="deep_mlp")


def hidden_activations(model: jaxdl.Layer, params: Any, x: jax.Array) -> list[jax.Array]:
    """The output of every hidden activation layer, in order (``model`` is a ``serial``)."""
    outs = []
    h = x
    for name, child in zip(jaxdl.core.unique_names(model.children), model.children):
        h, _ = child.apply(params.get(name, {}), {}, h)
        if child.name in ACTIVATIONS:
            outs.append(h)
    return outs


def dense_names(model: jaxdl.Layer) -> list[str]:
    """The params keys of the dense layers, input to output."""
    return [n for n, c in zip(jaxdl.core.unique_names(model.children), model.children)
            if c.name == "dense"]


def max_unit_difference(params: Any, names: list[str]) -> float:
    """The largest difference between two hidden units' incoming weights (and biases) in
    any hidden layer: 0.0 when every layer's units are identical copies of each other."""
    worst = 0.0
    for name in names[:-1]:  # hidden layers only; the output units are different classes
        w, b = params[name]["w"], params[name]["b"]
        worst = max(worst, float(jnp.max(jnp.abs(w - w[:, :1]))),
                    float(jnp.max(jnp.abs(b - b[:1]))))
    return worst


def run(*, seed: int = 0, epochs: int = EPOCHS, n_train: int = N_TRAIN,
        activations: tuple[str, ...] = tuple(ACTIVATIONS), out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Measures every (activation, initialiser) pair at initialisation and after training.

    ``activations`` picks a subset of ``ACTIVATIONS`` (the tests use ReLU alone).

    Returns:
      ``stats[(act, init)] = {"activation_std": [DEPTH], "grad_norm": [DEPTH + 1],
      "test_accuracy", "diverged", "max_unit_difference"}`` and flat keys
      ``<act>_<init>_test_accuracy``; ``zeros_symmetric`` / ``constant_symmetric``
      (True when every hidden layer's units stayed identical for all three activations);
      plots when ``out`` is given.
    """
    say = print if verbose else (lambda *a, **k: None)
    unknown = [a for a in activations if a not in ACTIVATIONS]
    if unknown or not activations:
        raise ValueError(f"init_strategies.run: activations must be a non-empty subset of "
                         f"{tuple(ACTIVATIONS)}, got {activations!r}")
    splits = _images.fashion_splits(seed, n_train=n_train)
    x_train, y_train = splits["train"]
    probe_x, probe_y = jnp.asarray(x_train[:PROBE]), jnp.asarray(y_train[:PROBE])
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    r: dict[str, Any] = {"stats": {}}
    say(f"{DEPTH} hidden layers of {WIDTH}; SGD(momentum 0.9, lr {LEARNING_RATE}), batch "
        f"{BATCH_SIZE}, {epochs} epochs on {len(x_train)} images\n")
    say(f"{'activation':>10} {'init':>13}  {'act std: first':>14} {'last':>9}  "
        f"{'|grad W|: first':>15} {'last':>9}  {'test acc':>8}  {'max unit diff':>13}")
    for act in activations:
        for init_name, w_init in INITIALIZERS.items():
            model = deep_mlp(act, w_init)
            k_init, k_fit = jax.random.split(jax.random.key(seed))
            _, params, state = model.init(k_init, _images.IMAGE_SHAPE)
            names = dense_names(model)
            acts = hidden_activations(model, params, probe_x)
            grads = jax.grad(lambda p: loss(model.apply(p, state, probe_x)[0], probe_y))(params)
            t0 = time.perf_counter()
            try:
                result = jaxdl.fit(model, params, state, x_train, y_train, loss=loss,
                                   optimizer=optax.sgd(LEARNING_RATE, momentum=0.9),
                                   epochs=epochs, batch_size=BATCH_SIZE, key=k_fit, verbose=0)
                trained, diverged = result.params, False
            except jaxdl.TrainingDivergedError as e:  # exploding activations: keep the last
                trained, diverged = e.params, True   # good weights and say so
            test = jaxdl.evaluate(model, trained, state, *splits["test"], loss=loss,
                                  metrics=["accuracy"])
            s = {"activation_std": [float(jnp.std(a)) for a in acts],
                 "grad_norm": [float(jnp.linalg.norm(grads[n]["w"])) for n in names],
                 "test_accuracy": test["accuracy"], "diverged": diverged,
                 "max_unit_difference": max_unit_difference(trained, names),
                 "seconds": time.perf_counter() - t0}
            r["stats"][(act, init_name)] = s
            r[f"{act}_{init_name}_test_accuracy"] = s["test_accuracy"]
            say(f"{act:>10} {init_name:>13}  {s['activation_std'][0]:14.3g} "
                f"{s['activation_std'][-1]:9.3g}  {s['grad_norm'][0]:15.3g} "
                f"{s['grad_norm'][-1]:9.3g}  {s['test_accuracy']:8.4f}  "
                f"{s['max_unit_difference']:13.3g}" + ("  diverged" if diverged else ""))
    for init_name in ("zeros", "constant"):
        r[f"{init_name}_symmetric"] = all(
            r["stats"][(act, init_name)]["max_unit_difference"] == 0.0 for act in activations)
    if out is not None:
        r["plots"] = [str(plot_stats(r["stats"], key, Path(out) / f"{file}.png", ylabel))
                      for key, file, ylabel in (
                          ("activation_std", "activations", "std of the layer's activations"),
                          ("grad_norm", "gradients", "‖∂L/∂W‖ of the layer"))]
    return r


def plot_stats(stats: dict[tuple[str, str], dict[str, Any]], key: str, path: Path,
               ylabel: str) -> Path:
    """One panel per activation, one line per initialiser: ``stats[...][key]`` by layer."""
    acts = list(dict.fromkeys(act for act, _ in stats))
    fig, axes = _common.plt.subplots(1, len(acts), figsize=(4.5 * len(acts), 3.8), sharey=True,
                                     squeeze=False, layout="constrained")
    axes = axes[0]
    for ax, act in zip(axes, acts):
        for init_name in INITIALIZERS:
            values = np.asarray(stats[(act, init_name)][key], dtype=float)
            shown = np.where(values > 0, values, np.nan)  # log scale: zeros are not drawn
            ax.plot(range(1, len(values) + 1), shown, marker="o", label=init_name)
        ax.set_yscale("log")
        ax.set_title(act)
        ax.set_xlabel("layer (input to output)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"at initialisation: {ylabel} (zero values not drawn)")
    return _common.save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: the table, the plots and the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, out=args.out, verbose=True)
    print(f"plots: {', '.join(r['plots'])}   (total {time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {
        "zeros_symmetric": r["zeros_symmetric"], "constant_symmetric": r["constant_symmetric"],
        **{f"{a}_{i}_test_accuracy": r[f"{a}_{i}_test_accuracy"]
           for a in ACTIVATIONS for i in INITIALIZERS}})


if __name__ == "__main__":
    main()
