"""Shared library of the MLOps platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlops-core")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
