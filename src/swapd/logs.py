"""swapd's own log: one event per line (`swap.done tier=deep took_s=41.2`), with secrets redacted.

llama-server's output never comes here; it stays in the supervisor's ring buffer.
"""

import logging
import re
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def line(event: str, **fields: object) -> str:
    """Format an event name and key=value fields; values with spaces are quoted."""
    parts = [event]
    for key, value in fields.items():
        text = f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        if not text or any(c.isspace() or c in '"=' for c in text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class RedactSecrets(logging.Filter):
    """The second line of defence: replaces known secret values and bearer tokens in every record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = self._scrub(message)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        record.msg, record.args = clean, None
        return True

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _BEARER.sub(rf"\g<1>{REDACTED}", text)


def configure(level: str, secrets: Iterable[str]) -> None:
    """Send swapd's and uvicorn's logs to stderr (the journal adds time stamps), redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # One line per health poll and per proxied request would drown the events that matter.
    logging.getLogger("httpx").setLevel(logging.WARNING)
