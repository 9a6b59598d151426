"""experiments.karate_gcn and experiments.friend_suggestions at a tiny budget: the GCN
classifies the karate club from two labels where a graph-blind MLP cannot, the graph
auto-encoder finds hidden Les Misérables ties, and no held-out label reaches either model."""

from __future__ import annotations

from pathlib import Path

import jax
import networkx as nx
import numpy as np
import pytest

from experiments import friend_suggestions as fs
from experiments import karate_gcn as kg

pytestmark = pytest.mark.usefixtures("private_data_dir")


# --------------------------------------------------------------------------- karate_gcn


def test_karate_club_is_loaded_as_the_published_graph() -> None:
    adjacency, labels = kg.load_karate()
    assert adjacency.shape == (34, 34) and adjacency.dtype == np.float32
    assert np.array_equal(adjacency, adjacency.T) and not adjacency.diagonal().any()
    assert adjacency.sum() == 2 * 78
    assert np.array_equal(adjacency, nx.to_numpy_array(nx.karate_club_graph(), weight=None))
    assert np.bincount(labels).tolist() == [17, 17]
    assert labels[0] == 0 and labels[33] == 1          # Mr. Hi, the officer


def test_gcn_learns_the_factions_from_two_labels_and_the_mlp_cannot(tmp_path: Path) -> None:
    r = kg.run(seed=0, epochs=60, seeds=3, out=tmp_path)
    assert r["train_accuracy"] == 1.0                   # both blind models fit the 2 labels
    assert r["mlp_train_accuracy"] == 1.0
    assert r["test_accuracy"] >= 0.9, r["test_accuracy"]
    assert r["min_test_accuracy"] >= 0.9, r["seed_test_accuracies"]
    # without the ties, one-hot features say nothing about the other 32: chance
    assert r["mlp_mean_test_accuracy"] <= 0.7, r["mlp_seed_test_accuracies"]
    assert r["n_test"] == 32 and len(r["seed_test_accuracies"]) == 3
    assert r["embedding"].shape == (34, 2) and r["untrained_embedding"].shape == (34, 2)
    assert r["history"]["loss"].shape == (3, 60)
    assert r["history"]["loss"][:, -1].max() < 0.5 * r["history"]["loss"][:, 0].min()
    assert set(r["wrong"]) == set(np.flatnonzero(r["predicted"] != r["labels"]))
    assert Path(r["plot"]).is_file() and Path(r["curves_plot"]).is_file()


def test_only_the_two_labelled_members_reach_the_loss() -> None:
    adjacency, labels = kg.load_karate()
    x = np.eye(34, dtype=np.float32)
    labelled = np.zeros(34, bool)
    labelled[list(kg.LABELLED)] = True
    scrambled = labels.copy()
    scrambled[~labelled] = np.random.default_rng(0).integers(0, 2, 32)
    model = kg.gcn(adjacency)
    a, b = (kg.train_seeds(model, x, y, labelled, [0], epochs=5, learning_rate=0.01)
            for y in (labels, scrambled))
    for leaf_a, leaf_b in zip(jax.tree_util.tree_leaves(a["params"]),
                              jax.tree_util.tree_leaves(b["params"])):
        np.testing.assert_array_equal(leaf_a, leaf_b)   # the same training, bit for bit
    np.testing.assert_array_equal(a["loss"], b["loss"])


@pytest.mark.parametrize("kwargs, error, word", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 2.5}, TypeError, "epochs"),
    ({"seeds": 0}, ValueError, "seeds"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": True}, TypeError, "seed"),
    ({"hidden": 0}, ValueError, "hidden"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate"),
    ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
])
def test_karate_gcn_bad_arguments(kwargs: dict, error: type, word: str) -> None:
    with pytest.raises(error, match=rf"karate_gcn\.run: .*{word}"):
        kg.run(**kwargs)


# --------------------------------------------------------------------------- friend_suggestions


def test_split_hides_ties_and_draws_non_ties() -> None:
    names, ties = fs.load_graph()
    n = len(names)
    assert n == 77 and len(ties) == 254 and (ties[:, 0] < ties[:, 1]).all()
    split = fs.split_ties(n, ties, seed=3)
    assert {k: len(v) for k, v in split.items()} == {
        "train": 203, "val_pos": 13, "val_neg": 13, "test_pos": 38, "test_neg": 38}
    as_set = {k: {tuple(p) for p in v.tolist()} for k, v in split.items()}
    assert all(len(as_set[k]) == len(split[k]) for k in split)           # no pair twice
    all_ties = {tuple(p) for p in ties.tolist()}
    assert as_set["train"] | as_set["val_pos"] | as_set["test_pos"] == all_ties
    assert not as_set["train"] & as_set["test_pos"] and not as_set["val_pos"] & as_set["test_pos"]
    assert not (as_set["val_neg"] | as_set["test_neg"]) & all_ties       # negatives: non-ties
    assert not as_set["val_neg"] & as_set["test_neg"]
    assert all((v[:, 0] < v[:, 1]).all() for v in split.values())
    again = fs.split_ties(n, ties, seed=3)
    assert all(np.array_equal(split[k], again[k]) for k in split)        # seeded
    assert not np.array_equal(split["test_pos"], fs.split_ties(n, ties, seed=4)["test_pos"])


def test_neighbourhood_scores_are_networkx_s() -> None:
    names, ties = fs.load_graph()
    train = fs.split_ties(len(names), ties, seed=0)["train"]
    g = nx.Graph()
    g.add_nodes_from(range(len(names)))
    g.add_edges_from(map(tuple, train.tolist()))
    pairs = [(0, 11), (11, 48), (2, 3), (25, 55), (10, 76), (47, 58)]
    aa = fs.neighbourhood_scores(len(names), train, "adamic_adar")
    cn = fs.neighbourhood_scores(len(names), train, "common_neighbours")
    for i, j, want in nx.adamic_adar_index(g, pairs):
        assert aa[i, j] == pytest.approx(want) and aa[j, i] == pytest.approx(want)
        assert cn[i, j] == len(list(nx.common_neighbors(g, i, j)))


def test_link_loss_weighs_ties_and_non_ties_equally() -> None:
    logits = np.array([[0.0, 2.0, -1.0], [2.0, 0.0, 3.0], [-1.0, 3.0, 0.0]], np.float32)
    targets = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], np.float32)
    where = ~np.eye(3, dtype=bool)
    where[0, 2] = where[2, 0] = False                     # a held-out pair: not learned from
    got = float(fs.link_loss(logits, targets, where=where))
    softplus = lambda z: np.log1p(np.exp(z))              # noqa: E731
    want = 0.5 * (softplus(-2.0) + softplus(3.0))         # mean over ties, over non-ties
    assert got == pytest.approx(want, rel=1e-6)


def test_held_out_labels_never_reach_the_model() -> None:
    names, ties = fs.load_graph()
    n = len(names)
    split = fs.split_ties(n, ties, seed=0)
    swapped = dict(split, test_pos=split["test_neg"], test_neg=split["test_pos"],
                   val_pos=split["val_neg"], val_neg=split["val_pos"])
    model = fs.graph_autoencoder(fs.adjacency(n, split["train"]))
    a, b = (fs.train_autoencoder(model, n, s, seed=0, epochs=5, learning_rate=0.01)
            for s in (split, swapped))
    np.testing.assert_array_equal(a["scores"], b["scores"])   # same model either way
    np.testing.assert_allclose(a["val_roc_auc"], 1.0 - b["val_roc_auc"], atol=1e-12)


def test_graph_autoencoder_finds_hidden_ties(tmp_path: Path) -> None:
    r = fs.run(seed=0, epochs=100, seeds=1, out=tmp_path)
    assert r["test_roc_auc"] >= 0.75, r["test_roc_auc"]
    assert r["train_roc_auc"] > 0.9
    assert r["adamic_adar_test_roc_auc"] >= 0.75                  # the classical baseline
    assert r["embedding_test_roc_auc"] > 0.6
    assert r["n_test_ties"] == 38 and r["n_seeds"] == 1
    assert r["mean_test_roc_auc"] == r["test_roc_auc"]
    # suggestions: 5 distinct characters, best first, none a tie Cosette already has
    names, ties = fs.load_graph()
    train = fs.split_ties(len(names), ties, seed=0)["train"]
    known = {names[b if names[a] == "Cosette" else a] for a, b in train.tolist()
             if "Cosette" in (names[a], names[b])}
    assert len(set(r["suggestions"])) == 5 and not set(r["suggestions"]) & known
    assert "Cosette" not in r["suggestions"]
    p = r["suggestion_probabilities"]
    assert p == sorted(p, reverse=True) and all(0.0 < v < 1.0 for v in p)
    assert r["history"]["loss"].shape == (1, 100)
    for key in ("plot", "roc_plot", "curves_plot"):
        assert Path(r[key]).is_file()


def test_suggest_ranks_and_excludes() -> None:
    scores = np.array([[9.0, 1.0, 5.0, 7.0, 3.0]] * 5)
    known = np.zeros((5, 5))
    known[0, 3] = 1.0
    assert fs.suggest(scores, 0, known, k=2) == [2, 4]             # not itself, not node 3


@pytest.mark.parametrize("kwargs, error, word", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"seeds": 0}, ValueError, "seeds"),
    ({"seed": 1.0}, TypeError, "seed"),
    ({"embedding": 0}, ValueError, "embedding"),
    ({"learning_rate": -1.0}, ValueError, "learning_rate"),
    ({"member": "Gandalf"}, ValueError, "member"),
    ({"member": 3}, TypeError, "member"),
])
def test_friend_suggestions_bad_arguments(kwargs: dict, error: type, word: str) -> None:
    with pytest.raises(error, match=rf"friend_suggestions\.run: .*{word}"):
        fs.run(**kwargs)
