"""Errors that end a command, each with the documented exit code a caller can branch on."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every `mlops` command (documented in README.md)."""

    OK = 0
    FAILURE = 1  # an unexpected error (a bug): the message and a traceback are printed
    BAD_INPUT = 2  # bad input or usage: a file, field, row or option named in the message
    GATE_REFUSED = 3  # the quality gate or a deployable check refused the model
    DATA_QUALITY = 4  # the data failed validation (too many invalid rows, a missing column)
    UNAVAILABLE = 5  # a service or store the command needs cannot be reached
    DRIFT = 6  # monitoring: the policy found drift (retraining advised)
    INSUFFICIENT_DATA = 7  # monitoring: too few rows to judge
    CONFLICT = 8  # the state disagrees: a dirty or diverged GitOps checkout, a rejected push
    ROLLBACK_FAILED = 9  # monitoring: the policy called for a rollback that did not happen


class MlopsError(Exception):
    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadInput(MlopsError):
    exit_code = ExitCode.BAD_INPUT


class GateRefused(MlopsError):
    exit_code = ExitCode.GATE_REFUSED


class DataQualityError(MlopsError):
    exit_code = ExitCode.DATA_QUALITY


class Unavailable(MlopsError):
    exit_code = ExitCode.UNAVAILABLE


class Conflict(MlopsError):
    exit_code = ExitCode.CONFLICT
