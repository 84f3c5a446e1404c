"""Every error swapd raises, under one base, so callers catch as broadly or narrowly as they need.

Errors that reach an HTTP client carry their status and OpenAI error type; `proxy.py` and
`control.py` turn them into the OpenAI envelope with `"source": "swapd"`.
"""


class SwapdError(Exception):
    """Base of all swapd errors; str() is one line a user can act on."""

    status = 500
    error_type = "server_error"


class BundledPieceMissing(SwapdError):
    """The development llama-server or tiny model is not installed in this environment."""


class ConfigError(SwapdError):
    """The config file is unreadable or fails validation; one line per bad field."""


class CredentialError(SwapdError):
    """A secret file is missing, empty, or readable by others than its owner."""


class GpuProbeFailed(SwapdError):
    """The GPU probe (NVML or the JSON file) could not be read."""


class BadRequest(SwapdError):
    """The request is malformed: bad JSON, a wrong field type or a refused path."""

    status = 400
    error_type = "invalid_request_error"


class PayloadTooLarge(BadRequest):
    """The request body is over the configured size limit."""

    status = 413


class MethodNotAllowed(BadRequest):
    """The path exists but not with this HTTP method."""

    status = 405


class Unauthorized(SwapdError):
    """A missing or wrong bearer token."""

    status = 401
    error_type = "authentication_error"


class NotFound(SwapdError):
    """No such endpoint (or it is not served on this socket)."""

    status = 404
    error_type = "invalid_request_error"


class UnknownTier(NotFound):
    """A request or command names a tier that the config does not define."""


class PinConflict(SwapdError):
    """An operator swap to another tier while a tier is pinned."""

    status = 409
    error_type = "invalid_request_error"


class TierUnavailable(SwapdError):
    """The request could not be served: a failed load, an unload, a forced swap or a full queue."""

    status = 503
    error_type = "unavailable_error"

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UpstreamUnavailable(SwapdError):
    """llama-server did not answer (connection refused or reset twice)."""

    status = 502
    error_type = "upstream_error"


class LoadFailed(SwapdError):
    """llama-server exited, ran out of memory or timed out while loading a tier."""


class NotEnoughVram(LoadFailed):
    """The GPU probe shows less free VRAM than the tier expects plus the margin."""


class PrewarmFailed(SwapdError):
    """A model file could not be read into the page cache (deleted, unreadable)."""

    status = 409
    error_type = "invalid_request_error"


class IllegalTransition(SwapdError):
    """A state machine was asked for a move its transition table forbids (a bug, never user input)."""
