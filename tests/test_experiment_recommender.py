"""experiments.recommender: the baselines by hand, the recommendation rule, and, at a small
budget on the real MovieLens ratings, the effects the experiment exists to show."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

import jaxdl
from experiments import recommender

# prepared datasets go to a temporary folder, not the user's ~/tensorflow_datasets
pytestmark = pytest.mark.usefixtures("private_data_dir")


def test_metrics_clip_to_the_rating_scale() -> None:
    # 6.0 counts as 5.0 and -1.0 as 0.5: errors 0 and 0.5
    assert recommender.rmse(np.array([6.0, -1.0]), np.array([5.0, 1.0])) == pytest.approx(
        np.sqrt(0.125))
    assert recommender.mae(np.array([6.0, -1.0]), np.array([5.0, 1.0])) == pytest.approx(0.25)


def test_movie_means_by_hand() -> None:
    # movie 0: 4, 5; movie 1: 1; movie 2: no rating. Global mean 10/3.
    x = np.array([[0, 0], [1, 0], [0, 1]], np.int32)
    y = np.array([4.0, 5.0, 1.0], np.float32)
    mu = 10 / 3
    np.testing.assert_allclose(recommender.movie_means(x, y, 3), [4.5, 1.0, mu], rtol=1e-6)
    # shrinkage 1: mu + sum(r - mu) / (n + 1)
    np.testing.assert_allclose(recommender.movie_means(x, y, 3, shrinkage=1.0),
                               [mu + (9 - 2 * mu) / 3, mu + (1 - mu) / 2, mu], rtol=1e-6)


def test_bias_baseline_recovers_additive_biases() -> None:
    # every (user, movie) pair rated exactly mu + b_u + c_i: no shrinkage recovers it
    rng = np.random.default_rng(0)
    b, c = rng.normal(0, 0.5, 5), rng.normal(0, 0.5, 7)
    x = np.array([(u, i) for u in range(5) for i in range(7)], np.int32)
    y = 3.0 + b[x[:, 0]] + c[x[:, 1]]
    mu, b_hat, c_hat = recommender.bias_baseline(x, y, 5, 7, shrinkage=0.0, sweeps=50)
    np.testing.assert_allclose(mu + b_hat[x[:, 0]] + c_hat[x[:, 1]], y, atol=1e-6)


def test_recommend_skips_rated_and_unrecommendable_movies() -> None:
    # a bias-only MF: the ranking is the order of the item biases
    mf = jaxdl.MatrixFactorization(2, 6, 1, init_scale=0.0, global_bias=3.0)
    _, params, _ = mf.init(jax.random.key(0), (2,))
    params["item_bias"]["embedding"] = np.array([[5.0], [4.0], [3.0], [2.0], [1.0], [0.0]],
                                                np.float32)
    rated = np.array([True, False, False, False, False, False])
    allowed = np.array([True, True, False, True, True, True])
    rows, scores = recommender.recommend(mf, params, 1, rated, allowed, k=3)
    assert rows.tolist() == [1, 3, 4]
    np.testing.assert_allclose(scores, [7.0, 5.0, 4.0])


def test_split_is_seeded_disjoint_and_80_20() -> None:
    data = recommender.load_ratings()
    n = len(data["rating"])
    a, b = recommender.split_ratings(data, 0), recommender.split_ratings(data, 1)
    assert [len(a[s][1]) for s in ("train", "val", "test")] == [72602, 8067, 20167]
    assert len(a["test"][1]) == pytest.approx(0.2 * n, abs=1)
    np.testing.assert_array_equal(a["test"][0], recommender.split_ratings(data, 0)["test"][0])
    assert not np.array_equal(a["test"][0], b["test"][0])
    keys = {s: set(map(tuple, a[s][0].tolist())) for s in a}  # (user, movie) is unique
    assert sum(map(len, keys.values())) == n                 # no pair twice in a split ...
    assert len(set().union(*keys.values())) == n             # ... nor in two splits


@pytest.mark.slow  # two MF trainings
def test_weight_decay_is_what_keeps_mf_from_overfitting() -> None:
    data = recommender.load_ratings()
    splits = recommender.split_ratings(data, 0)
    mf = recommender.matrix_factorization(610, 9742, 32, float(np.mean(splits["train"][1])))
    _, params, _ = mf.init(jax.random.key(0), (2,))
    fits = {wd: recommender.train(mf, params, splits, learning_rate=recommender.MF_LEARNING_RATE,
                                  weight_decay=wd, epochs=5, seed=0)
            for wd in (0.0, 0.5)}
    (free, free_val), (decayed, decayed_val) = fits[0.0], fits[0.5]
    # without weight decay: a lower training error, a higher validation error, an early best
    assert free.history["loss"][-1] < decayed.history["loss"][-1] - 0.05
    assert free_val > decayed_val + 0.01
    assert free.best_epoch <= 3 and free.history["val_loss"][-1] > min(free.history["val_loss"])


@pytest.mark.slow
def test_small_run_beats_the_baselines_and_recommends(tmp_path: Path) -> None:
    r = recommender.run(seed=0, epochs=4, weight_decays=(0.5,), out=tmp_path)
    # the baselines' order, and the two models below all of them
    assert r["global_mean_test_rmse"] > r["movie_mean_test_rmse"] > \
        r["movie_mean_shrunk_test_rmse"] > r["bias_test_rmse"]
    assert r["movie_mean_test_rmse"] > 0.95
    assert r["mf_test_rmse"] <= 0.88 and r["mf_test_rmse"] < r["bias_test_rmse"] + 0.01
    assert r["ncf_test_rmse"] < r["movie_mean_shrunk_test_rmse"] - 0.05
    # recommendations: top_k titles, none the user rated, best first
    data = recommender.load_ratings()
    rated_titles = set(data["title"][data["x"][data["x"][:, 0] == 0, 1]])
    for model in ("mf", "ncf"):
        recs = r[f"{model}_recommendations"]
        assert len(recs) == 10 and not rated_titles & {t for t, _ in recs}
        assert [s for _, s in recs] == sorted((s for _, s in recs), reverse=True)
    assert all(t in rated_titles for t, _ in r["user_top_rated"])
    for key in ("plot", "rmse_plot", "factors_plot"):
        assert Path(r[key]).is_file()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"factors": True}, TypeError, "factors"),
    ({"weight_decays": ()}, ValueError, "weight_decays"),
    ({"weight_decays": 0.5}, TypeError, "weight_decays"),
    ({"weight_decays": (0.5, -1.0)}, ValueError, "weight_decays"),
    ({"weight_decays": (float("nan"),)}, ValueError, "weight_decays"),
    ({"top_k": 0}, ValueError, "top_k"),
    ({"min_ratings": 0}, ValueError, "min_ratings"),
    ({"user_id": 0}, ValueError, "user_id"),
    ({"user_id": 611}, ValueError, "user_id 611"),
])
def test_bad_arguments_are_refused(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=f"recommender.run: {match}"):
        recommender.run(**kwargs)
