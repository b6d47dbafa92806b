"""The row sample and the error bounds of sampled drift scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model_monitoring.sampling import column_error, js_error, sample, wasserstein_error


def test_sample_draws_without_replacement_and_is_seeded():
    frame = pd.DataFrame({"x": range(1000)})
    drawn = sample(frame, 100, seed=3)
    assert len(drawn) == 100 and drawn["x"].is_unique
    assert drawn.equals(sample(frame, 100, seed=3)) and not drawn.equals(sample(frame, 100, 4))
    assert len(sample(frame, 0, seed=3)) == 1000 and len(sample(frame, 5000, seed=3)) == 1000


def test_bounds_are_zero_when_every_row_is_compared():
    values = np.random.default_rng(0).normal(size=500)
    assert wasserstein_error(values, 500) == 0.0 and js_error(3, 500, 500) == 0.0
    series = pd.Series(values)
    assert column_error("Wasserstein distance (normed)", series, series, 500, 500, 1.0) == 0.0


def test_bounds_shrink_like_one_over_root_n():
    values = np.random.default_rng(0).normal(size=1_000_000)
    small, large = wasserstein_error(values, 1_000), wasserstein_error(values, 4_000)
    assert small / large == pytest.approx(2.0, rel=0.01)
    # sqrt((k-1)/(8n)) * sqrt(1 - n/N) for k = 2, n = 100 000 of 1 000 000.
    assert js_error(2, 100_000, 1_000_000) == pytest.approx((1 / 8e5) ** 0.5 * 0.9**0.5)


def test_the_wasserstein_bound_covers_an_actual_sample():
    rng = np.random.default_rng(1)
    values = rng.lognormal(size=200_000)
    errors = []
    for seed in range(20):
        drawn = np.random.default_rng(seed).choice(values, 2_000, replace=False)
        errors.append(abs(np.sort(drawn).mean() - values.mean()))  # W1 >= |mean difference|
    assert np.mean(errors) <= wasserstein_error(values, 2_000)


def test_methods_without_a_bound_say_so():
    big = pd.Series(np.arange(5000.0))
    assert column_error("K-S p_value", big, big, 100, 100, 1.0) is None
