"""The train/val/test split, seeded and stratified: on label quantiles (regression) or on
the class (classification).

A classifier's split keeps each class's share in every split (largest remainder per class)
and gives every class at least one row in each of train, val and test, so each split can be
scored on every class. A class with fewer than 3 rows cannot be in all three: the split
refuses it (DataQualityError naming the class and its count) rather than silently
training or testing without it."""

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


MIN_CLASS_ROWS = 3  # one row in each of train, val and test
_SPLIT_STREAM = 0x5B1  # seeds the split's generator apart from any other use of the seed


def stratified_split(
    frame: pd.DataFrame,
    label: str,
    options: SplitOptions,
    *,
    classes: tuple[str, ...] | list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """train/val/test, seeded. Regression (classes None): stratified on label quantiles,
    rows ranked by label into `strata` equal bins. Classification: one stratum per class.
    Each stratum gives each split its share (largest remainder), at random."""
    options.check()
    n = len(frame)
    n_test = max(1, round(options.test_fraction * n))
    n_val = max(1, round(options.val_fraction * n))
    if n - n_test - n_val < 1:
        raise DataQualityError(f"{n} valid rows are too few to split into train, val and test")
    if classes is not None:
        codes, sizes = _class_codes(frame[label], list(classes), label)
        test_q = _quotas(sizes, options.test_fraction, n_test)
        val_q = _quotas(sizes, options.val_fraction, n_val)
        # Every class in every split: at least one row each in test and val, one left
        # for train (sizes >= MIN_CLASS_ROWS).
        test_q = np.maximum(test_q, 1)
        val_q = np.clip(val_q, 1, sizes - test_q - 1)
        return _assign(frame, codes, sizes, test_q, val_q, options.seed)
    strata = max(1, min(options.strata, n // 3))
    rank = frame[label].rank(method="first").to_numpy() - 1
    codes = (rank * strata // n).astype("int64")
    sizes = np.bincount(codes, minlength=strata)
    test_q = _quotas(sizes, options.test_fraction, n_test)
    val_q = np.minimum(_quotas(sizes, options.val_fraction, n_val), sizes - test_q)
    return _assign(frame, codes, sizes, test_q, val_q, options.seed)


def _class_codes(
    values: pd.Series, classes: list[str], label: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's class index, the rows per class; DataQualityError for a class too small
    to be in every split (or a value that is no class: the validation lets none through)."""
    codes = pd.Categorical(values.astype(object), categories=classes).codes.astype("int64")
    if (codes < 0).any():
        bad = values[codes < 0].iloc[0]
        raise DataQualityError(f"label {label!r}: {bad!r} is not one of the classes {classes}")
    sizes = np.bincount(codes, minlength=len(classes))
    small = [(c, int(k)) for c, k in zip(classes, sizes, strict=True) if k < MIN_CLASS_ROWS]
    if small:
        shown = ", ".join(f"{c!r} {k} row{'s' if k != 1 else ''}" for c, k in small)
        raise DataQualityError(
            f"label {label!r}: too few rows of class{'es' if len(small) > 1 else ''} {shown} "
            f"to stratify the split (each class needs at least {MIN_CLASS_ROWS}: one in each "
            "of train, val and test); add rows of it, or remove it from the label's "
            "categories in schema.yaml",
            details={"classes": dict(zip(classes, map(int, sizes), strict=True))},
        )
    return codes, sizes


def _assign(
    frame: pd.DataFrame,
    codes: np.ndarray,
    sizes: np.ndarray,
    test_q: np.ndarray,
    val_q: np.ndarray,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Within each stratum, in a seeded random order: the first test_q rows to test, the
    next val_q to val, the rest to train."""
    n = len(frame)
    # A stream of its own: the synthetic generator draws its first column from
    # default_rng(seed) too, and the same draws as sort keys would split on that column.
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
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
