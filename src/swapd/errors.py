"""Every error swapd raises, under one base, so callers catch as broadly or narrowly as they need."""


class SwapdError(Exception):
    """Base of all swapd errors; str() is one line a user can act on."""


class BundledPieceMissing(SwapdError):
    """The development llama-server or tiny model is not installed in this environment."""
