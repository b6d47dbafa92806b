"""Helpers shared by the deployment-prep tests (a module of its own: conftest modules of
other stages share its name)."""

from __future__ import annotations

import subprocess
from pathlib import Path

DATA_VERSION = "data-v1"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def champion(client, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, "champion").version)
    except Exception:
        return None


def house_schema():
    """The repository's house-price schema (models/house-price/schema.yaml): the shape of
    every test model here (each a copy of that folder under its own name)."""
    from deployment_prep.settings import repo_root
    from mlops_core.schema import load_schema

    return load_schema(repo_root() / "models" / "house-price" / "schema.yaml")
