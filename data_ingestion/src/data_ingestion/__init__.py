"""The data ingestion stage: read, clean, validate, split and version a dataset."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("data-ingestion")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
