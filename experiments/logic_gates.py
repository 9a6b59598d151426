"""Logic gates: what one perceptron can learn (AND, OR), what it cannot (XOR), and the MLP
that can.

1. The course's fixed threshold neurons, through :func:`jaxdl.perceptron_predict` with the
   strict step ``1 if x·w > θ else 0``: AND with ``w = (0.7, 0.7)``, ``θ = 1`` and OR with
   ``w = (1.2, 1.2)``, ``θ = 1`` (no bias).
2. Rosenblatt's rule (:func:`jaxdl.perceptron_fit`, zero initial weights, ``η = 1``,
   ``θ = 0``) learns AND and OR: both linearly separable, so it converges.
3. The same rule on XOR never converges: no line separates (0,1), (1,0) from (0,0), (1,1),
   so every epoch makes at least one mistake and the accuracy of any single perceptron is at
   most 3/4. The per-epoch error counts are printed.
4. An MLP ``serial(Dense(hidden), Tanh(), Dense(1))`` trained with :func:`jaxdl.fit`
   (``optax.adam``, binary cross-entropy on the logit) solves XOR.

The decision regions of all six are plotted to ``--out``/``decision_regions.png``.

Run: ``python -m experiments.logic_gates [--epochs 300] [--seed 0] [--out out/logic_gates]``.
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
from experiments import _common

NAME = "logic_gates"

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)  # (4, 2), the truth table's inputs
GATES = {
    "AND": np.array([0, 0, 0, 1], np.float32),
    "OR": np.array([0, 1, 1, 1], np.float32),
    "XOR": np.array([0, 1, 1, 0], np.float32),
}
# The course's hand-set threshold neurons: (weights, θ).
FIXED_NEURONS = {"AND": ((0.7, 0.7), 1.0), "OR": ((1.2, 1.2), 1.0)}

PERCEPTRON_EPOCHS = 10
PERCEPTRON_LR = 1.0
MLP_HIDDEN = 8
MLP_LEARNING_RATE = 0.05


def xor_mlp(hidden: int = MLP_HIDDEN) -> jaxdl.Layer:
    """The XOR network: ``serial(Dense(hidden), Tanh(), Dense(1))``, one logit out."""
    return jaxdl.serial(jaxdl.Dense(hidden), jaxdl.Tanh(), jaxdl.Dense(1), name="xor_mlp")


def logit_accuracy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Binary accuracy of logits: class 1 when the logit is > 0 (probability > ½)."""
    return jnp.mean((logits > 0).astype(jnp.float32) == targets)


def train_xor_mlp(*, seed: int = 0, epochs: int = 300, hidden: int = MLP_HIDDEN,
                  learning_rate: float = MLP_LEARNING_RATE
                  ) -> tuple[jaxdl.Layer, Any, Any, jaxdl.FitResult]:
    """Trains :func:`xor_mlp` on the 4 XOR examples (full batch, Adam).

    Args:
      seed: seeds the initial weights.
      epochs: full-batch steps.
      hidden: hidden units.
      learning_rate: Adam's learning rate.

    Returns:
      ``(model, params, state, fit_result)``.
    """
    model = xor_mlp(hidden)
    k_init, k_fit = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(k_init, (2,))
    y = GATES["XOR"][:, None]  # (4, 1), like the logit
    result = jaxdl.fit(model, params, state, X, y,
                       loss=jaxdl.losses.binary_cross_entropy_with_logits,
                       optimizer=optax.adam(learning_rate), epochs=epochs, batch_size=None,
                       key=k_fit, metrics={"accuracy": logit_accuracy}, verbose=0)
    return model, result.params, result.state, result


def _accuracy(predicted: Any, targets: np.ndarray) -> float:
    """Fraction of 0/1 predictions equal to the targets."""
    return float(np.mean(np.asarray(predicted) == targets))


def run(*, seed: int = 0, epochs: int = 300, out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Runs all four parts.

    Args:
      seed: the MLP's seed.
      epochs: the MLP's training epochs (the perceptrons always run ``PERCEPTRON_EPOCHS``).
      out: folder for ``decision_regions.png`` (None: no plot).
      verbose: print the tables.

    Returns:
      ``perceptron_and_accuracy``, ``perceptron_or_accuracy``, ``perceptron_xor_accuracy``,
      ``mlp_xor_accuracy`` (floats), ``fixed_and_accuracy``, ``fixed_or_accuracy``,
      ``perceptron_<gate>_converged`` and ``perceptron_<gate>_errors`` (per-epoch error
      counts), ``mlp_xor_loss``, ``mlp_xor_probabilities`` and ``mlp_history``.
    """
    say = print if verbose else (lambda *a, **k: None)
    r: dict[str, Any] = {}
    panels: list[tuple[str, Any, np.ndarray]] = []

    say("1. The course's fixed threshold neurons: y = 1 if w1·x1 + w2·x2 > θ else 0")
    for gate, (w, theta) in FIXED_NEURONS.items():
        w = jnp.asarray(w, jnp.float32)
        net = X @ np.asarray(w)
        pred = jaxdl.perceptron_predict(w, jnp.float32(0.0), X, threshold=theta)
        r[f"fixed_{gate.lower()}_accuracy"] = _accuracy(pred, GATES[gate])
        say(f"   {gate}: w = ({w[0]:g}, {w[1]:g}), θ = {theta:g}")
        for xi, ni, pi, ti in zip(X, net, np.asarray(pred), GATES[gate]):
            say(f"     x = ({xi[0]:.0f}, {xi[1]:.0f})  net = {ni:.1f}  y = {pi:.0f}  "
                f"target = {ti:.0f}")
        panels.append((f"fixed {gate}: w=({w[0]:g}, {w[1]:g}), θ={theta:g}",
                       lambda g, w=w, t=theta: jaxdl.perceptron_predict(w, 0.0, g, threshold=t),
                       GATES[gate]))

    say(f"\n2./3. Rosenblatt's rule, η = {PERCEPTRON_LR:g}, θ = 0, zero initial weights, "
        f"{PERCEPTRON_EPOCHS} epochs")
    for gate, y in GATES.items():
        fit = jaxdl.perceptron_fit(X, y, lr=PERCEPTRON_LR, epochs=PERCEPTRON_EPOCHS)
        pred = jaxdl.perceptron_predict(fit.w, fit.b, X)
        acc = _accuracy(pred, y)
        errors = [int(e) for e in fit.errors]
        key = f"perceptron_{gate.lower()}"
        r[f"{key}_accuracy"], r[f"{key}_converged"], r[f"{key}_errors"] = (
            acc, bool(fit.converged), errors)
        say(f"   {gate:>3}: errors per epoch {errors}  converged={bool(fit.converged)}  "
            f"w = ({fit.w[0]:g}, {fit.w[1]:g}), b = {float(fit.b):g}  "
            f"predictions {np.asarray(pred, int).tolist()} vs {y.astype(int).tolist()}  "
            f"accuracy {acc:.2f}")
        panels.append((f"perceptron {gate} (acc {acc:.2f})",
                       lambda g, f=fit: jaxdl.perceptron_predict(f.w, f.b, g), y))
    if not r["perceptron_xor_converged"]:
        say("   XOR is not linearly separable: the rule cycles forever and a single "
            "perceptron gets at most 3 of 4 right.")

    say(f"\n4. MLP serial(Dense({MLP_HIDDEN}), Tanh(), Dense(1)) on XOR: jaxdl.fit, "
        f"optax.adam({MLP_LEARNING_RATE}), binary cross-entropy with logits, full batch, "
        f"{epochs} epochs, seed {seed}")
    model, params, state, result = train_xor_mlp(seed=seed, epochs=epochs)
    logits, _ = model.apply(params, state, jnp.asarray(X))
    probs = np.asarray(jax.nn.sigmoid(logits[:, 0]))
    pred = (probs > 0.5).astype(np.float32)
    r["mlp_xor_accuracy"] = _accuracy(pred, GATES["XOR"])
    r["mlp_xor_loss"] = result.history["loss"][-1]
    r["mlp_xor_probabilities"] = probs.tolist()
    r["mlp_history"] = result.history
    for xi, p in zip(X, probs):
        say(f"     x = ({xi[0]:.0f}, {xi[1]:.0f})  P(y=1) = {p:.4f}")
    say(f"   final loss {r['mlp_xor_loss']:.4f}, accuracy {r['mlp_xor_accuracy']:.2f}")
    panels.append((f"MLP XOR (acc {r['mlp_xor_accuracy']:.2f})",
                   lambda g: (model.apply(params, state, g)[0][:, 0] > 0).astype(jnp.float32),
                   GATES["XOR"]))

    if out is not None:
        r["plot"] = str(plot_decision_regions(panels, Path(out) / "decision_regions.png"))
    return r


def plot_decision_regions(panels: list[tuple[str, Any, np.ndarray]], path: str | Path) -> Path:
    """Plots each ``(title, predict(grid (m, 2)) -> (m,), targets)`` over ``[-0.5, 1.5]²``."""
    g = np.linspace(-0.5, 1.5, 201, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    cols = 3
    rows = -(-len(panels) // cols)
    fig, axes = _common.plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), squeeze=False,
                             layout="constrained")
    for ax, (title, predict, y) in zip(axes.ravel(), panels):
        z = np.asarray(predict(jnp.asarray(grid))).reshape(gx.shape)
        ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=["#f4cccc", "#cfe2f3"])
        for label, marker, color in ((0, "o", "#cc0000"), (1, "s", "#0b5394")):
            pts = X[y == label]
            ax.scatter(pts[:, 0], pts[:, 1], marker=marker, s=90, c=color, edgecolors="k",
                       label=f"target {label}")
        ax.set_title(title, fontsize=10)
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(-0.5, 1.5)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_aspect("equal")
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Decision regions (blue: output 1, red: output 0)")
    return _common.save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: prints the four parts, saves the plot, prints RESULT."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=300, seed=0, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, out=args.out, verbose=True)
    print(f"\nplot: {r['plot']}   ({time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in (
        "perceptron_and_accuracy", "perceptron_or_accuracy", "perceptron_xor_accuracy",
        "mlp_xor_accuracy")})


if __name__ == "__main__":
    main()
