"""Which addresses fetch_url may reach: public ones only, decided after DNS resolution.

Every spelling of an address (decimal, octal, hex, IPv4-mapped IPv6, 6to4, NAT64) is judged by the
IPv4 address it really reaches, and a name is judged by every address it resolves to. The caller then
connects to the address that was checked, so a second DNS answer cannot swap in a private one.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from assistant.errors import FetchRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses getaddrinfo gives for `host` (numeric spellings included), without blocking."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchRefused(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    # sockaddr[0] is the address text; an IPv6 scope ("fe80::1%eth0") is dropped before parsing.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form really reaches (mapped, 6to4, NAT64, Teredo), else itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def kind(address: IPAddress) -> str | None:
    """Why `address` is not public ("loopback", "private", ...), or None when it is."""
    target = embedded_ipv4(address)
    for name, hit in (
        ("unspecified", target.is_unspecified),
        ("loopback", target.is_loopback),
        ("link-local or metadata", target.is_link_local),
        ("multicast", target.is_multicast),
        ("private", target.is_private),
        ("reserved", target.is_reserved or not target.is_global),
    ):
        if hit:
            return name
    return None


class AddressGuard:
    """Resolves a host and refuses it unless every address is public or allow-listed."""

    def __init__(self, allow: Sequence[Network] = (), resolver: Resolver = system_resolver) -> None:
        self._allow = tuple(allow)
        self._resolver = resolver

    def _allowed(self, address: IPAddress) -> bool:
        targets = {address, embedded_ipv4(address)}
        return any(target in network for target in targets for network in self._allow)

    async def resolve(self, host: str, port: int) -> IPAddress:
        """The checked address to connect to for `host`."""
        addresses = await self._resolver(host, port)
        if not addresses:
            raise FetchRefused(f"cannot resolve host {host!r}")
        for address in addresses:
            why = kind(address)
            if why is not None and not self._allowed(address):
                raise FetchRefused(
                    f"refusing {host!r}: it resolves to {address}, a {why} address; fetch_url reaches "
                    "only public addresses unless [searxng] fetch_allow_networks lists it"
                )
        return addresses[0]
