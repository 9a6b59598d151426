"""Semi-supervised node classification with a graph convolutional network: Zachary's
karate club from one labelled member per faction.

Zachary's karate club (``jaxdl.data.load("karate_club")`` and ``load("karate_club/edges")``,
networkx's copy) is a friendship network of 34 members and 78 ties that split into two
factions, 17 around the instructor Mr. Hi (node 0) and 17 around the club's officer
(node 33). Only those two members are labelled; the task is to tell the faction of the
other 32, which the model never sees a label of, from the graph alone. As in Kipf and
Welling (2017) each node's input features are its row of the identity matrix (one-hot:
nothing but who it is), so whatever the model learns about a member it learns through the
ties.

The model, ``serial(GraphConv(16, A), Tanh(), GraphConv(2, A), Tanh(), Dense(2))``, mixes
each node's features with its neighbours' twice (``Â = D^-1/2 (A + I) D^-1/2``), squeezes
them into a 2-D embedding and reads two logits off it; the cross-entropy is taken on the
two labelled nodes only (the ``"mask"`` column of the batch, passed by
:func:`jaxdl.make_train_step` as ``where=`` to the loss). The whole graph is one example,
``(1, 34, 34)``; one epoch is one full-batch Adam step. ``seeds`` networks (different
initial weights) are trained at once, ``jax.vmap`` over the seeds of a ``lax.scan`` over
the epochs, one compilation. A baseline with the same layers but ``Dense`` instead of
``GraphConv`` (an MLP that ignores the ties) shows what the graph contributes.

Figures of the default run (seed 0, 200 epochs, 10 seeds; measured on the shared 2-core CPU
at load 12.5-13: 109-120 s wall, 30 CPU-seconds user+sys, mostly import and the two
compilations): test accuracy (the 32 unlabelled members) 0.9375 (30 of 32) for every one of
the 10 seeds (mean 0.9375, min 0.9375); over 30 other seeds (10..39) the mean is 0.9385,
min 0.9375, max 0.969 (one seed gets 31 of 32), 100 or 400 epochs give 0.9375 on all 10
seeds again, and a hidden width of 4 a mean of 0.953. The two members it gets wrong are 2
and 8, both Mr. Hi's: 8 has 3 of its 5 ties in the officer's faction, the officer included
(Zachary's own max-flow analysis misplaced this member too), and 2 has 4 of its 10 ties
there, among them 32, the officer's closest ally. The graph-blind MLP scores 0.48 on
average over the same 10 seeds (min 0.34, max 0.56): chance, since one-hot features carry
nothing a label could generalise from; it fits its two labels just as well (loss 0.008
against the GCN's 0.007 after 200 epochs). ``embeddings.png`` shows the network coloured by
the GCN's predictions, and the 2-D embeddings before and after training: even the untrained
GCN (random weights) already places the two communities apart, because two rounds of
neighbourhood averaging make members with shared friends alike; training stretches them
into the tanh's corners on either side of the classifier's line, the two leaders at the
extremes and the two mistakes on the officer's side of the line. ``curves.png`` shows the
loss on the labelled pair and the accuracy on the unlabelled 32 per epoch for both models
(mean over the seeds and the min-max band); the accuracy is watched, never used to choose
anything (its mean over the seeds touches 0.95 around epoch 10 and stays at 0.9375 from
epoch 33 on).

Run: ``python -m experiments.karate_gcn [--epochs 200] [--seed 0] [--seeds 10]
[--out out/karate_gcn]``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import optax

import jaxdl
import jaxdl.data
from experiments import _common

NAME = "karate_gcn"
FACTIONS = ("Mr. Hi", "Officer")
LABELLED = (0, 33)          # Mr. Hi and the officer: the only labels the model sees
EPOCHS = 200
SEEDS = 10
HIDDEN = 16
EMBEDDING = 2               # 2-D, so that it can be plotted as it is
LEARNING_RATE = 0.01


def load_karate() -> tuple[np.ndarray, np.ndarray]:
    """The karate club as ``(adjacency (34, 34) float32 0/1 symmetric, faction (34,) int32)``.

    Faction 0 is Mr. Hi's, 1 the officer's (``jaxdl.data.load("karate_club")["label"]``); the
    edge weights (shared contexts) are dropped: a tie is a tie.
    """
    nodes, edges = jaxdl.data.load("karate_club"), jaxdl.data.load("karate_club/edges")
    n = len(nodes["node"])
    if not np.array_equal(nodes["node"], np.arange(n)):
        raise ValueError(f"{NAME}: expected nodes 0..{n - 1} in order, got {nodes['node']}")
    adjacency = np.zeros((n, n), np.float32)
    adjacency[edges["source"], edges["target"]] = 1.0
    adjacency[edges["target"], edges["source"]] = 1.0
    return adjacency, np.asarray(nodes["label"], np.int32)


def gcn(adjacency: Any, *, hidden: int = HIDDEN, graph: bool = True) -> jaxdl.Layer:
    """``serial(encoder, Dense(2))``, node features ``(n, n)`` -> logits ``(n, 2)``.

    The encoder (params ``"encoder"``) is ``GraphConv(hidden, A) -> Tanh -> GraphConv(2, A)
    -> Tanh``, giving each node a 2-D embedding ``(n, 2)``; ``graph=False`` puts ``Dense``
    layers in place of the graph convolutions (the same network, blind to the ties).
    """
    if graph:
        layers = (jaxdl.GraphConv(hidden, adjacency), jaxdl.Tanh(),
                  jaxdl.GraphConv(EMBEDDING, adjacency), jaxdl.Tanh())
    else:
        layers = (jaxdl.Dense(hidden), jaxdl.Tanh(), jaxdl.Dense(EMBEDDING), jaxdl.Tanh())
    encoder = jaxdl.serial(*layers, name="encoder")
    return jaxdl.serial(encoder, jaxdl.Dense(len(FACTIONS)), name="gcn" if graph else "mlp")


def train_seeds(model: jaxdl.Layer, x: Any, labels: Any, labelled: Any, seeds: list[int], *,
                epochs: int, learning_rate: float) -> dict[str, Any]:
    """Trains one network per seed on the labelled nodes, all seeds at once.

    Args:
      model: a node classifier, features ``(n, f)`` -> logits ``(n, classes)``.
      x: node features ``(n, f)``.
      labels: ``(n,)`` int classes; only the ``labelled`` ones enter the loss.
      labelled: ``(n,)`` bool, the nodes whose labels are used.
      seeds: the initialisation seeds, one network each.
      epochs: full-batch Adam steps.
      learning_rate: Adam's step size.

    Returns:
      ``params`` (each leaf with a leading seed axis), ``loss`` ``(seeds, epochs)`` (the
      labelled nodes' cross-entropy before each step) and ``unlabelled_accuracy``
      ``(seeds, epochs)`` (after each step; watched only).
    """
    x, labels, labelled = jnp.asarray(x), jnp.asarray(labels), jnp.asarray(labelled)
    optimizer = optax.adam(learning_rate)
    step = jaxdl.make_train_step(model, "sparse_categorical_cross_entropy", optimizer,
                                 jit=False)
    # the whole graph is ONE example: a batch of one (1, n, f), the mask picks the loss's nodes
    batch = {"x": x[None], "y": labels[None], "mask": labelled[None]}

    def one_seed(key: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        _, params, state = model.init(key, x.shape)

        def epoch(carry: Any, _: None) -> tuple[Any, tuple[jax.Array, jax.Array]]:
            params, state, opt_state = carry
            params, state, opt_state, metrics = step(params, state, opt_state, batch)
            logits, _ = model.apply(params, state, x)
            accuracy = jaxdl.metrics.accuracy(logits, labels, where=~labelled)
            return (params, state, opt_state), (metrics["loss"], accuracy)

        (params, _, _), (loss, accuracy) = jax.lax.scan(
            epoch, (params, state, optimizer.init(params)), None, length=epochs)
        return params, loss, accuracy

    keys = jnp.stack([jax.random.key(s) for s in seeds])
    params, loss, accuracy = jax.jit(jax.vmap(one_seed))(keys)
    return {"params": params, "loss": np.asarray(loss),
            "unlabelled_accuracy": np.asarray(accuracy)}


def _member(tree: Any, i: int) -> Any:
    return jax.tree_util.tree_map(lambda leaf: leaf[i], tree)


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    return _common.check_int(f"{NAME}.run", name, value, low, high)


def run(*, seed: int = 0, epochs: int = EPOCHS, seeds: int = SEEDS, hidden: int = HIDDEN,
        learning_rate: float = LEARNING_RATE, out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Trains the GCN (and the graph-blind MLP) from two labelled members, scores the rest.

    Args:
      seed: the headline network's initialisation seed; the networks of the multi-seed
        figures use ``seed, seed + 1, ..., seed + seeds - 1``.
      epochs: full-batch training steps.
      seeds: how many networks of each kind (>= 1).
      hidden: the first graph convolution's width.
      learning_rate: Adam's step size.
      out: folder for ``embeddings.png`` and ``curves.png`` (None: no plots).
      verbose: print the figures and the nodes it gets wrong.

    Returns:
      ``test_accuracy`` (seed ``seed``, the 32 unlabelled members), ``train_accuracy`` (the
      2 labelled ones), ``mean_test_accuracy``, ``min_test_accuracy`` and ``max_test_accuracy``
      over the ``seeds`` networks, the same four with an ``mlp_`` prefix for the baseline,
      ``seed_test_accuracies`` and ``mlp_seed_test_accuracies`` (lists), ``wrong`` (the
      misclassified members of seed ``seed``), ``embedding`` ``(34, 2)`` and
      ``untrained_embedding``, ``predicted`` ``(34,)``, ``labels``, ``history`` (per-epoch
      arrays ``(seeds, epochs)``), ``n_test``, ``n_seeds``, and ``plot``/``curves_plot``
      when ``out`` is given.
    """
    say = print if verbose else (lambda *a, **k: None)
    seed = _check_int("seed", seed, 0)
    epochs = _check_int("epochs", epochs, 1)
    seeds = _check_int("seeds", seeds, 1)
    hidden = _check_int("hidden", hidden, 1)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or \
            not math.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"{NAME}.run: learning_rate must be a positive number, got "
                         f"{learning_rate!r}")

    adjacency, labels = load_karate()
    n = len(labels)
    x = np.eye(n, dtype=np.float32)               # one-hot identity features, as Kipf
    labelled = np.zeros(n, bool)
    labelled[list(LABELLED)] = True
    say(f"karate club: {n} members, {int(adjacency.sum()) // 2} ties; labelled: "
        + ", ".join(f"{i} ({FACTIONS[labels[i]]})" for i in LABELLED)
        + f"; test: the other {n - len(LABELLED)}")
    seed_list = list(range(seed, seed + seeds))
    r: dict[str, Any] = {"labels": labels, "n_test": int((~labelled).sum()), "n_seeds": seeds}
    history: dict[str, np.ndarray] = {}
    models = {"": gcn(adjacency, hidden=hidden), "mlp_": gcn(adjacency, hidden=hidden,
                                                             graph=False)}
    for prefix, model in models.items():
        if verbose and prefix == "":
            say(jaxdl.summary(model, (n, n)))
        t0 = time.perf_counter()
        trained = train_seeds(model, x, labels, labelled, seed_list, epochs=epochs,
                              learning_rate=learning_rate)
        seconds = time.perf_counter() - t0
        predicted = np.stack([
            np.asarray(jnp.argmax(model.apply(_member(trained["params"], i), {}, x)[0], -1))
            for i in range(seeds)])
        correct = predicted == labels[None]
        test_acc = correct[:, ~labelled].mean(axis=1)
        what = "GCN" if prefix == "" else "MLP (no graph)"
        say(f"{what}: {seeds} seeds x {epochs} epochs in {seconds:.1f} s (compilation "
            f"included); final loss on the labelled pair {trained['loss'][:, -1].mean():.4f} "
            f"(mean); test accuracy per seed {np.round(test_acc, 4).tolist()}")
        r.update({
            f"{prefix}test_accuracy": float(test_acc[0]),
            f"{prefix}train_accuracy": float(correct[0, labelled].mean()),
            f"{prefix}mean_test_accuracy": float(test_acc.mean()),
            f"{prefix}min_test_accuracy": float(test_acc.min()),
            f"{prefix}max_test_accuracy": float(test_acc.max()),
            f"{prefix}seed_test_accuracies": test_acc.tolist(),
        })
        history[f"{prefix}loss"] = trained["loss"]
        history[f"{prefix}unlabelled_accuracy"] = trained["unlabelled_accuracy"]
        if prefix == "":
            gcn_model, params0 = model, _member(trained["params"], 0)
            r["predicted"] = predicted[0]
    r["history"] = history

    # the 2-D embeddings of seed `seed`: before training (same initial weights) and after
    encoder = gcn_model.children[0]
    _, init_params, _ = gcn_model.init(jax.random.key(seed), (n, n))
    r["untrained_embedding"] = np.asarray(encoder.apply(init_params["encoder"], {}, x)[0])
    r["embedding"] = np.asarray(encoder.apply(params0["encoder"], {}, x)[0])
    r["wrong"] = [int(i) for i in np.flatnonzero(r["predicted"] != labels)]
    say(f"seed {seed}: test accuracy {r['test_accuracy']:.4f} "
        f"({round(r['test_accuracy'] * r['n_test'])} of {r['n_test']}); wrong: "
        + (", ".join(f"{i} (is {FACTIONS[labels[i]]}, {int(adjacency[i].sum())} ties, "
                     f"{int(adjacency[i, labels == 0].sum())} to Mr. Hi's faction)"
                     for i in r["wrong"]) or "none"))
    say(f"over {seeds} seeds: GCN mean {r['mean_test_accuracy']:.4f} (min "
        f"{r['min_test_accuracy']:.4f}); MLP without the graph mean "
        f"{r['mlp_mean_test_accuracy']:.4f} (min {r['mlp_min_test_accuracy']:.4f}, max "
        f"{r['mlp_max_test_accuracy']:.4f})")
    if out is not None:
        r["plot"] = str(plot_embeddings(adjacency, labels, r, params0["dense"],
                                        Path(out) / "embeddings.png", seed=seed))
        r["curves_plot"] = str(plot_curves(history, Path(out) / "curves.png"))
    return r


def _scatter_nodes(ax: Any, pos: np.ndarray, labels: np.ndarray, wrong: list[int]) -> None:
    """Nodes at ``pos (n, 2)``, coloured by true faction; leaders as stars, mistakes ringed."""
    colours = np.array(["tab:blue", "tab:orange"])
    free = np.ones(len(labels), bool)
    free[list(LABELLED)] = False
    for f, name in enumerate(FACTIONS):
        sel = free & (labels == f)
        ax.scatter(pos[sel, 0], pos[sel, 1], c=colours[f], s=110, edgecolors="k",
                   linewidths=0.5, label=f"{name}'s faction", zorder=3)
    for i in LABELLED:
        ax.scatter(pos[i, 0], pos[i, 1], c=colours[labels[i]], marker="*", s=420,
                   edgecolors="k", linewidths=1.0, zorder=4)
    if wrong:
        ax.scatter(pos[wrong, 0], pos[wrong, 1], facecolors="none", edgecolors="red", s=380,
                   linewidths=2.0, label="misclassified", zorder=5)
    for i, (px, py) in enumerate(pos):
        ax.annotate(str(i), (px, py), fontsize=6.5, ha="center", va="center", zorder=6)


def plot_embeddings(adjacency: np.ndarray, labels: np.ndarray, r: dict[str, Any],
                    head: dict[str, Any], path: Path, *, seed: int) -> Path:
    """Three panels: the network coloured by the GCN's predictions, then the 2-D embeddings
    ``(34, 2)`` before and after training (true factions; labelled leaders as stars; the
    trained panel with the classifier's boundary ``head`` = the ``Dense(2)``'s params)."""
    fig, axes = _common.plt.subplots(1, 3, figsize=(17, 5.4), layout="constrained")
    graph = nx.from_numpy_array(adjacency)
    layout = nx.spring_layout(graph, seed=1)
    pos = np.array([layout[i] for i in range(len(labels))])
    nx.draw_networkx_edges(graph, layout, ax=axes[0], alpha=0.3)
    colours = np.array(["tab:blue", "tab:orange"])
    axes[0].scatter(pos[:, 0], pos[:, 1], c=colours[r["predicted"]], s=150, edgecolors="k",
                    linewidths=0.5, zorder=3)
    for i in LABELLED:
        axes[0].scatter(pos[i, 0], pos[i, 1], c=colours[labels[i]], marker="*", s=500,
                        edgecolors="k", zorder=4)
    if r["wrong"]:
        axes[0].scatter(pos[r["wrong"], 0], pos[r["wrong"], 1], facecolors="none",
                        edgecolors="red", s=420, linewidths=2.0, zorder=5)
    for i, (px, py) in enumerate(pos):
        axes[0].annotate(str(i), (px, py), fontsize=6.5, ha="center", va="center", zorder=6)
    axes[0].set_title(f"predicted faction (stars: the 2 labels; red: wrong)\n"
                      f"test accuracy {r['test_accuracy']:.4f} on the other 32")
    axes[0].axis("off")
    _scatter_nodes(axes[1], r["untrained_embedding"], labels, [])
    axes[1].set_title("2-D GCN embedding, untrained (random weights)")
    _scatter_nodes(axes[2], r["embedding"], labels, r["wrong"])
    # the Dense(2) head's boundary: logit_1 - logit_0 = 0, a line in the embedding plane
    w = np.asarray(head["w"])
    b = np.asarray(head["b"]) if "b" in head else np.zeros(2)
    dw, db = w[:, 1] - w[:, 0], b[1] - b[0]
    lim = np.array(axes[2].get_xlim())
    if abs(dw[1]) > 1e-9:
        axes[2].plot(lim, -(db + dw[0] * lim) / dw[1], "k--", lw=1, label="decision boundary")
        axes[2].set_ylim(*np.array(axes[2].get_ylim()))
    axes[2].set_xlim(*lim)
    axes[2].set_title(f"2-D GCN embedding after training (seed {seed})")
    axes[2].legend(loc="best", fontsize=8)
    for ax in axes[1:]:
        ax.set_xlabel("embedding 1")
        ax.set_ylabel("embedding 2")
        ax.grid(alpha=0.3)
    return _common.save_figure(fig, path)


def plot_curves(history: dict[str, np.ndarray], path: Path) -> Path:
    """Labelled-node loss and unlabelled accuracy per epoch, GCN vs MLP: the mean over seeds
    and the min-max band."""
    fig, axes = _common.plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, key, ylabel in ((axes[0], "loss", "cross-entropy on the 2 labelled members"),
                            (axes[1], "unlabelled_accuracy", "accuracy on the other 32")):
        for prefix, label in (("", "GCN"), ("mlp_", "MLP, no graph")):
            values = history[prefix + key]
            epochs = np.arange(1, values.shape[1] + 1)
            line, = ax.plot(epochs, values.mean(0), label=f"{label} (mean of {len(values)})")
            ax.fill_between(epochs, values.min(0), values.max(0), color=line.get_color(),
                            alpha=0.2)
        ax.set_xlabel("epoch (one full-batch step)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")
    axes[1].set_ylim(0, 1.02)
    return _common.save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: trains, prints the results and the RESULT line."""

    def extra(parser: Any) -> None:
        parser.add_argument("--seeds", type=int, default=SEEDS,
                            help=f"networks per model, seeds SEED.. (default {SEEDS})")

    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0,
                              epochs_help="training epochs (full-batch steps)", extra=extra,
                              argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, seeds=args.seeds, out=args.out, verbose=True)
    print(f"plots: {r['plot']}, {r['curves_plot']}   (total {time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in (
        "test_accuracy", "train_accuracy", "mean_test_accuracy", "min_test_accuracy",
        "mlp_test_accuracy", "mlp_mean_test_accuracy", "mlp_max_test_accuracy", "n_test",
        "n_seeds")})


if __name__ == "__main__":
    main()
