"""The recipient allow-list, enforced in the server so that no prompt can talk its way past it.

An address is accepted only in a strict ASCII form (`local@domain`, optionally `Name <local@domain>`),
one per item, and compared lower-cased against the configured entries: an exact address, or `@domain`
for a whole domain (not its subdomains). Anything unusual (look-alike letters, quotes, several
addresses in one item, CR/LF) is refused instead of interpreted, and so are `%` and `!` in the local
part: old relays route `eve%evil.example@team.example` on to evil.example, past a `@team.example` entry.
"""

import re
from collections.abc import Iterable, Sequence
from email.headerregistry import AddressHeader, HeaderRegistry

from assistant.errors import RecipientNotAllowed, ToolInputInvalid

_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_NAMED = re.compile(r"(?P<name>[^<>\"@,;:\\]*)<(?P<address>[^<>]*)>")
_HEADERS = HeaderRegistry()


def parse_address(value: str) -> str:
    """The bare, lower-cased address in `value`, or ToolInputInvalid saying what is wrong with it."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ToolInputInvalid(f"recipient {value!r} contains a control character (CR/LF?)")
    if not value.isascii():
        raise ToolInputInvalid(f"recipient {value!r} has non-ASCII characters; give a plain address")
    text = value.strip()
    named = _NAMED.fullmatch(text)
    if named is not None:
        text = named["address"].strip()
    if not _ADDRESS.fullmatch(text):
        raise ToolInputInvalid(
            f"recipient {value!r} is not one plain address like 'ann@example.com' or 'Ann <ann@example.com>'"
        )
    if any(c in "%!" for c in text.rsplit("@", 1)[0]):
        raise ToolInputInvalid(f"recipient {value!r} routes on through '%' or '!'; give the final address")
    return text.lower()


def header_addresses(name: str, value: str) -> list[str]:
    """The addresses in a To/Cc/Bcc header written elsewhere (a draft edited in Gmail)."""
    header = _HEADERS(name, value)
    if header.defects or not isinstance(header, AddressHeader):
        raise RecipientNotAllowed(f"the {name} header {value!r} is malformed; refusing to send")
    return [parse_address(address.addr_spec) for address in header.addresses]


class AllowList:
    """Addresses (`ann@example.com`) and domains (`@example.com`) that may receive mail or invites."""

    def __init__(self, entries: Iterable[str], setting: str) -> None:
        self._entries = frozenset(entry.lower() for entry in entries)
        self._setting = setting

    def allows(self, address: str) -> bool:
        return address in self._entries or "@" + address.rsplit("@", 1)[1] in self._entries

    def check(self, values: Sequence[str], field: str) -> list[str]:
        """The bare addresses of `values`; refuses the call if any is malformed or not allowed."""
        addresses = [parse_address(value) for value in values]
        refused = [address for address in addresses if not self.allows(address)]
        if refused:
            empty = "" if self._entries else " (empty: nobody is allowed)"
            raise RecipientNotAllowed(
                f"{field}: {', '.join(refused)} not allowed by {self._setting}{empty}; only the user "
                "can add addresses there"
            )
        return addresses
