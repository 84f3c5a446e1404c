"""One event per line, and the redaction filter as the second line of defence."""

import logging

from hypothesis import given
from hypothesis import strategies as st

from swapd.logs import RedactSecrets, line


def test_event_lines_are_key_value_and_quote_what_needs_it() -> None:
    assert line("swap.done", tier="deep", took_s=41.2) == "swap.done tier=deep took_s=41.2"
    assert (
        line("swap.failed", error='no "room" left', code=3) == 'swap.failed error="no \\"room\\" left" code=3'
    )
    assert line("x", empty="") == 'x empty=""'


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("swapd", logging.INFO, __file__, 1, message, args, None)


@given(prefix=st.text(max_size=20), suffix=st.text(max_size=20))
def test_known_secrets_are_redacted_wherever_they_appear(prefix: str, suffix: str) -> None:
    secret = "sk-Hx8c0ffee-secret"
    rec = record("%s%s%s", prefix, secret, suffix)
    RedactSecrets([secret]).filter(rec)
    assert secret not in rec.getMessage()
    assert "[redacted]" in rec.getMessage()


def test_bearer_tokens_are_redacted_even_when_unknown() -> None:
    rec = record("header was Authorization: Bearer abc.def-123 end")
    RedactSecrets([]).filter(rec)
    assert rec.getMessage() == "header was Authorization: Bearer [redacted] end"
