"""One classification of what went wrong talking to MLflow.

By MLflow's `error_code` (the server's answer, or the status MLflow mapped to a code), and
by exception type for transport failures; never by message text. MLflow wraps a transport
failure in a plain MlflowException (INTERNAL_ERROR) raised inside the `except` of the
requests error, so the cause is found on the exception's __cause__/__context__ chain.
"""

from __future__ import annotations

from enum import StrEnum

from mlops_core.errors import BadInput, MlopsError, Unavailable


class Failure(StrEnum):
    NOT_FOUND = "not_found"  # the model, version, alias or run does not exist
    INVALID = "invalid"  # the request is wrong (a malformed name or version, an unset alias)
    UNREACHABLE = "unreachable"  # transient: nothing answered, a timeout, 429/503/504
    DENIED = "denied"  # authentication or permission
    OTHER = "other"  # anything else: an internal server error, a bug


_BY_CODE = {
    "RESOURCE_DOES_NOT_EXIST": Failure.NOT_FOUND,
    "NOT_FOUND": Failure.NOT_FOUND,
    "INVALID_PARAMETER_VALUE": Failure.INVALID,
    "BAD_REQUEST": Failure.INVALID,
    "TEMPORARILY_UNAVAILABLE": Failure.UNREACHABLE,
    "DEADLINE_EXCEEDED": Failure.UNREACHABLE,
    "REQUEST_LIMIT_EXCEEDED": Failure.UNREACHABLE,
    "RESOURCE_EXHAUSTED": Failure.UNREACHABLE,
    "PERMISSION_DENIED": Failure.DENIED,
    "UNAUTHENTICATED": Failure.DENIED,
    "CUSTOMER_UNAUTHORIZED": Failure.DENIED,
}


def _transport_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean the request never got an answer (or only 5xx ones)."""
    from mlops_core.mlflow_utils.connect import Unreachable

    types: list[type[BaseException]] = [Unreachable, ConnectionError, TimeoutError]
    try:
        import httpx

        types.append(httpx.TransportError)
    except ImportError:  # pragma: no cover - httpx is a dependency of mlops_core
        pass
    try:
        import requests.exceptions as rq

        # RetryError: MLflow's own retries on 429/5xx answers ran out.
        types += [rq.ConnectionError, rq.Timeout, rq.RetryError, rq.ChunkedEncodingError]
    except ImportError:
        pass
    try:
        import urllib3.exceptions as u3

        types += [u3.MaxRetryError, u3.NewConnectionError, u3.ProtocolError, u3.TimeoutError]
    except ImportError:
        pass
    return tuple(types)


def _chain(exc: BaseException):
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        # Python's own rule for which exception caused which (`raise ... from None` cuts).
        if current.__cause__ is not None:
            current = current.__cause__
        else:
            current = None if current.__suppress_context__ else current.__context__


def error_code(exc: BaseException) -> str | None:
    """MLflow's error code name of the first MlflowException on the chain, if any."""
    for link in _chain(exc):
        code = getattr(link, "error_code", None)
        if isinstance(code, str) and code:
            return code
    return None


def classify(exc: BaseException) -> Failure:
    """What kind of failure exc is; the outermost link that says so wins."""
    transport = _transport_types()
    for link in _chain(exc):
        if isinstance(link, transport):
            return Failure.UNREACHABLE
        if isinstance(link, MlopsError):  # already decided by the layer or a stage
            return Failure.INVALID if isinstance(link, BadInput) else Failure.OTHER
        code = getattr(link, "error_code", None)
        if isinstance(code, str) and code in _BY_CODE:
            return _BY_CODE[code]
    return Failure.OTHER


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the server did not answer or said to come back later."""
    return classify(exc) is Failure.UNREACHABLE


def registry_error(exc: BaseException, tracking_uri: str | None = None) -> MlopsError:
    """An MLflow failure with no more specific message, as the error that ends a command.

    Not-found and invalid requests are the caller's to word (they name the model, version
    or alias); this gives Unavailable (exit 5) for the rest, Unreachable when transient.
    """
    from mlops_core.mlflow_utils.connect import HOW_TO_START, Unreachable

    where = f" at {tracking_uri}" if tracking_uri else ""
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    kind = classify(exc)
    if kind is Failure.UNREACHABLE:
        return Unreachable(f"MLflow{where} is not reachable ({message}); {HOW_TO_START}")
    if kind is Failure.DENIED:
        return Unavailable(f"MLflow{where} refused the request: {message}")
    return Unavailable(f"MLflow model registry{where}: {message}")
