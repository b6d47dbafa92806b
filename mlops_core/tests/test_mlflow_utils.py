"""mlops_core.mlflow_utils.refs without a server: every reference form, and the bad ones."""

from __future__ import annotations

import pytest

from mlops_core.errors import BadInput
from mlops_core.mlflow_utils import ModelRef, Reference, model_uri, parse_reference


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (3, Reference("m", version="3")),
        ("3", Reference("m", version="3")),
        (" 007 ", Reference("m", version="7")),
        ("champion", Reference("m", alias="champion")),
        ("@challenger", Reference("m", alias="challenger")),
        ("models:/other/7", Reference("other", version="7")),
        ("models:/other@champion", Reference("other", alias="champion")),
        ("models:/other/champion", Reference("other", alias="champion")),
        ("models:/team/house-price/2", Reference("team/house-price", version="2")),
    ],
)
def test_every_reference_form(ref, expected):
    assert parse_reference(ref, "m") == expected


@pytest.mark.parametrize(
    ("ref", "uri"),
    [
        (3, "models:/m/3"),
        ("champion", "models:/m@champion"),
        ("@challenger", "models:/m@challenger"),
        ("models:/other/7", "models:/other/7"),
        ("models:/other@x", "models:/other@x"),
    ],
)
def test_model_uri(ref, uri):
    assert model_uri("m", ref) == uri


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("models:/", "expected models:/<name>/<version> or models:/<name>@<alias>"),
        ("models:/m", "expected models:/<name>/<version>"),
        ("models:/m/", "expected models:/<name>/<version>"),
        ("models:/@champion", "expected models:/<name>/<version>"),
        ("models:/m@", "expected models:/<name>/<version>"),
        ("models:/m@a/b", "expected models:/<name>/<version>"),
        ("models:/m/bad alias", "expected models:/<name>/<version>"),
        ("@", "not a version number, an alias"),
        ("two words", "not a version number, an alias"),
        ("v1.2", "not a version number, an alias"),
    ],
)
def test_bad_references_are_named(ref, says):
    with pytest.raises(BadInput) as caught:
        parse_reference(ref, "m")
    assert repr(ref) in caught.value.message and says in caught.value.message


def test_empty_reference_is_bad_input():
    with pytest.raises(BadInput, match="empty model reference"):
        model_uri("m", " ")


def test_bare_reference_needs_a_model_name():
    with pytest.raises(BadInput, match="'3' needs a registered model name"):
        parse_reference("3")
    assert parse_reference("models:/x/3") == Reference("x", version="3")


def test_model_ref_uri_is_pinned_to_the_version():
    ref = ModelRef("m", "4", "run", "data-v2", {"test_rmse": 1.0}, ("champion",))
    assert ref.uri == "models:/m/4"
    assert ref.as_dict()["data_version"] == "data-v2"
    assert parse_reference("models:/m@champion", None).uri == "models:/m@champion"
