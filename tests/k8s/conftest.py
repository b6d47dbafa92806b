"""Fixtures of the Kubernetes checks; the helpers live in k8s_support.py."""

from __future__ import annotations

import pytest
from k8s_support import GITOPS, load_yaml


@pytest.fixture(scope="session")
def images_list() -> dict:
    """gitops/images.yaml: the one list of the platform's images (registry, tag, images)."""
    return load_yaml(GITOPS / "images.yaml")
