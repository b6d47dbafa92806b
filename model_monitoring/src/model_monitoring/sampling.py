"""Large windows: Evidently runs on a uniform random sample (without replacement, seeded) of at
most `sample_rows` rows per side, and each sampled drift score carries a bound on its error
against the score on every row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def sample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """At most `limit` rows drawn uniformly without replacement (every row when limit is 0)."""
    if limit and len(frame) > limit:
        return frame.sample(n=limit, random_state=seed).reset_index(drop=True)
    return frame.reset_index(drop=True)


def wasserstein_error(values: np.ndarray, n: int) -> float:
    """Expected W1 distance between a uniform n-sample and the full column (population):
    E W1(F_n, F) <= n^-1/2 * integral sqrt(F(1-F)) dx (Bobkov & Ledoux 2019, thm 3.5),
    times the finite-population correction sqrt(1 - n/N). 0 when nothing was sampled."""
    values = np.sort(values[~np.isnan(values)])
    total = len(values)
    if n >= total or total < 2:
        return 0.0
    cdf = np.arange(1, total) / total
    integral = float(np.sum(np.sqrt(cdf * (1 - cdf)) * np.diff(values)))
    return integral / math.sqrt(n) * math.sqrt(1 - n / total)


def js_error(categories: int, n: int, total: int) -> float:
    """Approximate expected Jensen-Shannon distance (natural log) between a uniform n-sample's
    frequencies over k categories and the population's: 8 n JSD ~ chi2(k-1), so
    E JS distance <= sqrt((k-1) / (8 n)) (Jensen), times sqrt(1 - n/N)."""
    if n >= total or categories < 2:
        return 0.0
    return math.sqrt((categories - 1) / (8 * n)) * math.sqrt(1 - n / total)


def column_error(
    method: str, ref_full: pd.Series, cur_full: pd.Series, n_ref: int, n_cur: int, norm: float
) -> float | None:
    """Bound on |sampled score - exact score| by the triangle inequality (both metrics); None
    for a method without a bound (p-value tests, which Evidently uses only on small sides)."""
    if len(ref_full) <= n_ref and len(cur_full) <= n_cur:
        return 0.0
    lowered = method.lower()
    if "wasserstein" in lowered:
        ref_v = pd.to_numeric(ref_full, errors="coerce").to_numpy(float)
        cur_v = pd.to_numeric(cur_full, errors="coerce").to_numpy(float)
        return (wasserstein_error(ref_v, n_ref) + wasserstein_error(cur_v, n_cur)) / max(
            norm, 0.001
        )
    if "jensen" in lowered:
        k = int(pd.concat([ref_full, cur_full]).nunique())
        if k > 20 and pd.api.types.is_numeric_dtype(ref_full):
            k = int(math.ceil(math.log2(len(ref_full) + len(cur_full))) + 1)  # sturges bins
        return js_error(k, n_ref, len(ref_full)) + js_error(k, n_cur, len(cur_full))
    return None
