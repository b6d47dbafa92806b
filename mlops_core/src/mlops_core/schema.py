"""A model's dataset schema (models/<name>/schema.yaml): the one declaration of its task,
columns, types, ranges and label."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_core.contracts.constants import Task

DType = Literal["int", "float", "category"]


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    dtype: DType
    description: str = ""
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    synthetic: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> Column:
        if self.dtype == "category":
            if not self.categories:
                raise ValueError(f"column {self.name!r}: a category column needs 'categories'")
            if self.min is not None or self.max is not None:
                raise ValueError(f"column {self.name!r}: a category column takes no min/max")
            normalised = [normalise_category(c) for c in self.categories]
            if normalised != list(self.categories):
                raise ValueError(
                    f"column {self.name!r}: categories must be written in normal form "
                    f"(lower case, trimmed): {normalised}"
                )
        elif self.categories:
            raise ValueError(f"column {self.name!r}: only category columns take 'categories'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"column {self.name!r}: min {self.min} is above max {self.max}")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("int", "float")


class DatasetSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    task: Task = Task.REGRESSION
    description: str = ""
    label: Column
    features: tuple[Column, ...] = Field(min_length=1)
    synthetic: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _unique(self) -> DatasetSchema:
        names = [c.name for c in self.features] + [self.label.name]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"columns declared twice: {', '.join(duplicated)}")
        if self.task is Task.REGRESSION and not self.label.is_numeric:
            raise ValueError(
                f"label {self.label.name!r}: a regression label must be numeric (int or float)"
            )
        if self.task is Task.CLASSIFICATION:
            if self.label.dtype != "category":
                raise ValueError(
                    f"label {self.label.name!r}: a classification label is a category column "
                    "whose 'categories' are the classes"
                )
            if len(self.label.categories or ()) < 2:
                raise ValueError(
                    f"label {self.label.name!r}: a classifier needs two classes or more"
                )
        return self

    @property
    def is_classification(self) -> bool:
        return self.task is Task.CLASSIFICATION

    @property
    def classes(self) -> tuple[str, ...]:
        """The label's classes in the order the schema lists them (classification only)."""
        if not self.is_classification:
            raise ValueError(f"{self.name} is a regression model: it has no classes")
        return tuple(self.label.categories or ())

    @cached_property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @cached_property
    def numeric_features(self) -> list[str]:
        return [c.name for c in self.features if c.is_numeric]

    @cached_property
    def categorical_features(self) -> list[str]:
        return [c.name for c in self.features if c.dtype == "category"]

    @cached_property
    def columns(self) -> list[Column]:
        return [*self.features, self.label]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def normalise_category(value: str) -> str:
    """The one spelling of a category value: trimmed and lower case (" Yes" -> "yes")."""
    return " ".join(str(value).split()).lower()


def load_schema(path: str | Path | None = None) -> DatasetSchema:
    """Load and validate a schema file (errors name the file and the field); without a
    path, the schema of the default model (MLOPS_MODEL, or the only model folder)."""
    from mlops_core.configfile import load_yaml_model

    if path is None:
        from mlops_core.settings import get_settings

        return get_settings().load_schema()
    schema, _, _ = load_yaml_model(DatasetSchema, path, what="schema file")
    return schema
