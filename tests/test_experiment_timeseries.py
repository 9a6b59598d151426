"""experiments.timeseries at a small budget: the split is by time without leakage, the
baselines are what they say, and the LSTM forecaster beats the naive last-value forecast
on the test years."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments import timeseries as ts

pytestmark = pytest.mark.usefixtures("private_data_dir")


def test_windows_read_only_the_past() -> None:
    series = np.arange(30.0)
    x, y, target = ts.windows(series, 5, start=11)
    assert x.shape == (19, 5, 1) and y.shape == (19, 1)
    assert target[0] == 11 and target[-1] == 29
    np.testing.assert_array_equal(x[:, :, 0], target[:, None] - np.arange(5, 0, -1))
    np.testing.assert_array_equal(y[:, 0], target)


def test_scaling_and_the_autoregression_see_only_the_training_years() -> None:
    years, activity = ts.load_series()
    assert years[0] == 1700 and years[-1] == 2008 and len(years) == 309
    later = activity.copy()
    later[years > ts.TRAIN_END] *= 10.0                     # any change after training
    assert ts.scaling(years, later) == ts.scaling(years, activity)
    # least squares recovers a noiseless AR(2) with an intercept exactly
    s = np.zeros(40)
    s[:2] = 1.0, 2.0
    for t in range(2, 40):
        s[t] = 0.5 * s[t - 1] - 0.3 * s[t - 2] + 1.0
    x, y, _ = ts.windows(s, 2)
    np.testing.assert_allclose(ts.fit_autoregression(x, y), [-0.3, 0.5, 1.0], atol=1e-5)


def test_lstm_beats_the_naive_forecast(tmp_path: Path) -> None:
    r = ts.run(epochs=40, out=tmp_path)
    assert (r["n_train"], r["n_val"], r["n_test"]) == (201, 35, 53)
    test = r["years"] > ts.VAL_END
    assert r["years"][test][0] == ts.VAL_END + 1
    # the naive forecast is the previous year's value; the targets are consecutive years
    np.testing.assert_array_equal(r["forecasts"]["naive"][1:], r["truth"][:-1])
    assert r["naive_test_rmse"] == pytest.approx(33.4151, abs=1e-3)
    assert r["ar_order"] == 15 and r["ar_test_rmse"] == pytest.approx(20.4535, abs=1e-2)
    assert r["test_rmse"] < 0.85 * r["naive_test_rmse"], (r["test_rmse"], r["naive_test_rmse"])
    assert r["test_mae"] < r["naive_test_mae"]
    assert all(Path(p).is_file() for p in r["plots"])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"window": 21}, ValueError, "window"),
    ({"window": 2.0}, TypeError, "window"),
    ({"units": 0}, ValueError, "units"),
    ({"seed": -1}, ValueError, "seed"),
])
def test_bad_arguments_are_refused(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=rf"timeseries\.run: {match}"):
        ts.run(**kwargs)
