"""The train/val/test split, stratified on label quantiles and seeded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.errors import BadInput, DataQualityError


@dataclass(frozen=True)
class SplitOptions:
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 42
    strata: int = 10

    def check(self) -> None:
        for name, value in (("val", self.val_fraction), ("test", self.test_fraction)):
            if not 0 < value < 1:
                raise BadInput(f"{name} fraction must be in (0, 1), got {value}")
        if self.val_fraction + self.test_fraction >= 1:
            raise BadInput(
                f"val fraction {self.val_fraction} + test fraction {self.test_fraction} "
                "leave no training rows"
            )
        if self.strata < 1:
            raise BadInput(f"strata must be at least 1, got {self.strata}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "fractions": {
                "train": round(1 - self.val_fraction - self.test_fraction, 6),
                "val": self.val_fraction,
                "test": self.test_fraction,
            },
            "seed": self.seed,
            "strata": self.strata,
        }


def stratified_split(
    frame: pd.DataFrame, label: str, options: SplitOptions
) -> dict[str, pd.DataFrame]:
    """train/val/test stratified on label quantiles: rows are ranked by label into `strata`
    equal bins, and each bin gives each split its share (largest remainder), at random."""
    options.check()
    n = len(frame)
    n_test = max(1, round(options.test_fraction * n))
    n_val = max(1, round(options.val_fraction * n))
    if n - n_test - n_val < 1:
        raise DataQualityError(f"{n} valid rows are too few to split into train, val and test")
    strata = max(1, min(options.strata, n // 3))
    rank = frame[label].rank(method="first").to_numpy() - 1
    codes = (rank * strata // n).astype("int64")
    sizes = np.bincount(codes, minlength=strata)
    test_q = _quotas(sizes, options.test_fraction, n_test)
    val_q = np.minimum(_quotas(sizes, options.val_fraction, n_val), sizes - test_q)

    rng = np.random.default_rng(options.seed)
    order = np.lexsort((rng.random(n), codes))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sorted_codes = codes[order]
    position = np.arange(n) - starts[sorted_codes]
    assign = np.full(n, 0, dtype=np.int8)  # 0 train, 1 val, 2 test
    assign[order[position < test_q[sorted_codes]]] = 2
    val_mask = (position >= test_q[sorted_codes]) & (
        position < test_q[sorted_codes] + val_q[sorted_codes]
    )
    assign[order[val_mask]] = 1
    out = {}
    for code, name in ((0, "train"), (1, "val"), (2, "test")):
        part = frame[assign == code]
        part.index = pd.RangeIndex(len(part))
        out[name] = part
    return out


def _quotas(sizes: np.ndarray, fraction: float, total: int) -> np.ndarray:
    ideal = sizes * fraction
    base = np.floor(ideal).astype("int64")
    remainder = int(total - base.sum())
    if remainder > 0:
        order = np.argsort(-(ideal - base), kind="stable")
        base[order[:remainder]] += 1
    return np.minimum(base, sizes)
