"""An MLP and a CNN with about the same number of parameters on Fashion-MNIST.

The course's case against the MLP on images: every input pixel gets its own weight into
every hidden unit, so parameters grow with the image (a 64x64x3 image into 1000 and 500
hidden units and 2 outputs needs 12,789,000 weights), and nothing tells the network that a
pattern is the same pattern one pixel further on. A CNN shares each 3x3 filter over the
whole image and pools, so the same budget buys spatial features.

This experiment prints ``jaxdl.summary`` of

* the course's 64x64x3 MLP (12.8 million parameters) and its 256x256x3 follow-up,
* a CNN for the same 64x64x3 images (tens of thousands of parameters),
* ``mlp``: Flatten -> Dense(128) -> ReLU -> Dense(10) on 28x28x1 (101,770 parameters),
* ``cnn``: (Conv 3x3 -> ReLU -> MaxPool 2x2) with 16 and 32 filters -> Dense(64) ->
  Dense(10) (105,866 parameters),

then trains ``mlp`` and ``cnn`` the same way (Adam 1e-3, batch 128, the same epochs) on
55,000 Fashion-MNIST training images and scores both on the 10,000 test images.

Run: ``python -m experiments.mlp_vs_cnn [--epochs 4] [--seed 0] [--out out/mlp_vs_cnn]``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

import jaxdl
from experiments import _common, _images

NAME = "mlp_vs_cnn"
EPOCHS = 4
BATCH_SIZE = 128
LEARNING_RATE = 1e-3


def course_mlp(image_shape: tuple[int, int, int] = (64, 64, 3),
               hidden: tuple[int, ...] = (1000, 500), outputs: int = 2) -> jaxdl.Layer:
    """The course's MLP on raw pixels: Flatten -> Dense(h) -> ReLU ... -> Dense(outputs)."""
    layers: list[jaxdl.Layer] = [jaxdl.Flatten(len(image_shape))]
    for h in hidden:
        layers += [jaxdl.Dense(h), jaxdl.Relu()]
    return jaxdl.serial(*layers, jaxdl.Dense(outputs), name="course_mlp")


def course_cnn(outputs: int = 2) -> jaxdl.Layer:
    """A CNN for the same 64x64x3 images: three conv-ReLU(-pool) blocks, global average
    pooling, one dense layer."""
    return jaxdl.serial(
        jaxdl.Conv(32, (3, 3)), jaxdl.Relu(), jaxdl.MaxPool((2, 2)),
        jaxdl.Conv(64, (3, 3)), jaxdl.Relu(), jaxdl.MaxPool((2, 2)),
        jaxdl.Conv(64, (3, 3)), jaxdl.Relu(), jaxdl.GlobalAvgPool(2),
        jaxdl.Dense(outputs), name="course_cnn")


def weights_only(layer: jaxdl.Layer, input_shape: tuple[int, ...]) -> int:
    """The number of weights (the ``w`` leaves, biases left out), as the course counts them;
    from an abstract ``init``, so no memory is allocated."""
    _, params, _ = jaxdl.abstract_init(layer, input_shape)
    leaves = jax.tree_util.tree_leaves_with_path(params)
    return sum(int(np.prod(leaf.shape)) for path, leaf in leaves
               if getattr(path[-1], "key", None) == "w")


def mlp() -> jaxdl.Layer:
    """Flatten -> Dense(128) -> ReLU -> Dense(10) for 28x28x1 images: 101,770 parameters."""
    return jaxdl.serial(jaxdl.Flatten(3), jaxdl.Dense(128), jaxdl.Relu(),
                        jaxdl.Dense(_images.NUM_CLASSES), name="mlp")


def cnn() -> jaxdl.Layer:
    """The course CNN with widths 16/32/64: 105,866 parameters."""
    return _images.small_cnn((16, 32, 64), name="cnn")


def run(*, seed: int = 0, epochs: int = EPOCHS, n_train: int | None = None,
        out: str | Path | None = None, verbose: bool = False) -> dict[str, Any]:
    """Counts the course's parameters, trains ``mlp`` and ``cnn`` alike, scores both.

    Returns:
      ``course_mlp_weights`` (12,789,000), ``course_mlp_params``, ``course_256_weights``,
      ``course_cnn_params``, and for ``mlp`` and ``cnn``: ``<model>_params``,
      ``<model>_test_accuracy``, ``<model>_test_loss``, ``<model>_train_seconds``,
      ``<model>_history``.
    """
    say = print if verbose else (lambda *a, **k: None)
    r: dict[str, Any] = {
        "course_mlp_weights": weights_only(course_mlp(), (64, 64, 3)),
        "course_mlp_params": jaxdl.count_params(jaxdl.abstract_init(course_mlp(), (64, 64, 3))[1]),
        "course_256_weights": weights_only(course_mlp((256, 256, 3), (1000,) * 4, 1000),
                                           (256, 256, 3)),
        "course_cnn_params": jaxdl.count_params(jaxdl.abstract_init(course_cnn(), (64, 64, 3))[1]),
    }
    say("The course's MLP on 64x64x3 images (two classes):")
    say(jaxdl.summary(course_mlp(), (64, 64, 3)))
    say(f"weights alone: 12288 x 1000 + 1000 x 500 + 500 x 2 = {r['course_mlp_weights']:,}; "
        f"with biases {r['course_mlp_params']:,}")
    say(f"256x256x3 images, four hidden layers of 1000 and 1000 outputs: "
        f"{r['course_256_weights']:,} weights\n")
    say("A CNN for the same 64x64x3 images:")
    say(jaxdl.summary(course_cnn(), (64, 64, 3)))
    say(f"{r['course_cnn_params']:,} parameters: "
        f"{r['course_mlp_params'] / r['course_cnn_params']:.0f}x fewer than the MLP\n")

    splits = _images.fashion_splits(seed, n_train=n_train)
    (x_train, y_train) = splits["train"]
    say(f"fashion-mnist: {len(x_train)} train / {len(splits['val'][0])} validation / "
        f"{len(splits['test'][0])} test images")
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    for name, model in (("mlp", mlp()), ("cnn", cnn())):
        say(f"\n{name}:")
        say(jaxdl.summary(model, _images.IMAGE_SHAPE))
        k_init, k_fit = jax.random.split(jax.random.key(seed))
        _, params, state = model.init(k_init, _images.IMAGE_SHAPE)
        t0 = time.perf_counter()
        result = jaxdl.fit(model, params, state, x_train, y_train, loss=loss,
                           optimizer=optax.adam(LEARNING_RATE), epochs=epochs,
                           batch_size=BATCH_SIZE, key=k_fit, validation_data=splits["val"],
                           metrics=["accuracy"], verbose=2 if verbose else 0)
        seconds = time.perf_counter() - t0
        test = jaxdl.evaluate(model, result.params, result.state, *splits["test"], loss=loss,
                              metrics=["accuracy"])
        say(f"{name}: test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f} "
            f"({seconds:.1f} s)")
        r.update({f"{name}_params": jaxdl.count_params(result.params),
                  f"{name}_test_accuracy": test["accuracy"], f"{name}_test_loss": test["loss"],
                  f"{name}_train_seconds": seconds, f"{name}_history": result.history})
    if out is not None:
        fig, ax = _common.plt.subplots(figsize=(6, 4), layout="constrained")
        for name in ("mlp", "cnn"):
            h = r[f"{name}_history"]
            epochs_axis = range(1, len(h["val_accuracy"]) + 1)
            ax.plot(epochs_axis, h["val_accuracy"],
                    label=f"{name} ({r[f'{name}_params']:,} params)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.set_title("MLP vs CNN at about the same parameter budget")
        ax.grid(alpha=0.3)
        ax.legend()
        r["plot"] = str(_common.save_figure(fig, Path(out) / "val_accuracy.png"))
    return r


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: prints both summaries, trains both, prints RESULT."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, out=args.out, verbose=True)
    print(f"plot: {r['plot']}   (total {time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in (
        "mlp_test_accuracy", "cnn_test_accuracy", "mlp_params", "cnn_params",
        "course_mlp_weights", "course_cnn_params", "mlp_test_loss", "cnn_test_loss")})


if __name__ == "__main__":
    main()
