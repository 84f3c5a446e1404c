"""The address guard refuses every spelling of a non-public address, judged after real resolution."""

import asyncio
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.errors import FetchRefused
from assistant.servers.ssrf import AddressGuard, IPAddress, kind

octet = st.integers(min_value=0, max_value=255)


def refused(host: str, guard: AddressGuard | None = None) -> bool:
    try:
        asyncio.run((guard or AddressGuard()).resolve(host, 80))
    except FetchRefused:
        return True
    return False


@st.composite
def private_ipv4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    prefix = draw(
        st.sampled_from(["127.0.0.0/8", "10.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
                         "100.64.0.0/10", "0.0.0.0/8"])
    )  # fmt: skip
    network = ipaddress.IPv4Network(prefix)
    offset = draw(st.integers(min_value=0, max_value=network.num_addresses - 1))
    return network[offset]


@st.composite
def spelling(draw: st.DrawFn, address: ipaddress.IPv4Address) -> str:
    """The many ways inet_aton (and so getaddrinfo) accepts one IPv4 address."""
    value = int(address)
    octets = address.packed
    styles = ["dotted", "decimal", "hex", "octal", "octal-dotted", "hex-dotted", "short"]
    style = draw(st.sampled_from(styles))
    if style == "decimal":
        return str(value)
    if style == "hex":
        return hex(value)
    if style == "octal":
        return "0" + format(value, "o")
    if style == "octal-dotted":
        return ".".join("0" + format(o, "o") for o in octets)
    if style == "hex-dotted":
        return ".".join(hex(o) for o in octets)
    if style == "short":  # a.b.c with the last part 16 bits wide
        return f"{octets[0]}.{octets[1]}.{octets[2] * 256 + octets[3]}"
    return str(address)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_spelling_of_a_private_ipv4_address_is_refused(data: st.DataObject) -> None:
    address = data.draw(private_ipv4())
    host = data.draw(spelling(address))
    assert refused(host), host


@settings(max_examples=30, deadline=None)
@given(address=private_ipv4())
def test_ipv6_forms_that_embed_a_private_ipv4_are_refused(address: ipaddress.IPv4Address) -> None:
    value = int(address)
    for host in (
        f"::ffff:{address}",
        f"::ffff:{value >> 16:x}:{value & 0xFFFF:x}",
        f"2002:{value >> 16:x}:{value & 0xFFFF:x}::1",
        f"64:ff9b::{address}",
    ):
        assert refused(host), host


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "::1", "0.0.0.0", "::", "fe80::1", "fd00::1", "ff02::1", "224.0.0.1"]
)
def test_well_known_non_public_hosts_are_refused(host: str) -> None:
    assert refused(host)


@settings(max_examples=40, deadline=None)
@given(a=st.sampled_from([8, 9, 23, 45, 93, 151, 185]), b=octet, c=octet, d=octet)
def test_public_addresses_in_any_spelling_are_allowed(a: int, b: int, c: int, d: int) -> None:
    address = ipaddress.IPv4Address(f"{a}.{b}.{c}.{d}")
    assert kind(address) is None
    assert not refused(str(int(address)))
    assert not refused(f"::ffff:{address}")


@settings(max_examples=30, deadline=None)
@given(private=private_ipv4(), public_first=st.booleans())
def test_a_name_with_any_private_answer_is_refused(
    private: ipaddress.IPv4Address, public_first: bool
) -> None:
    public = ipaddress.IPv4Address("93.184.216.34")
    answers: list[IPAddress] = [public, private] if public_first else [private, public]

    async def resolver(host: str, port: int) -> list[IPAddress]:
        return answers

    assert refused("innocent.example", AddressGuard(resolver=resolver))


def test_allow_list_opens_exactly_the_listed_networks() -> None:
    guard = AddressGuard(allow=[ipaddress.ip_network("127.0.0.0/8")])
    assert not refused("127.0.0.1", guard)
    assert not refused("::ffff:127.0.0.1", guard)
    assert refused("10.0.0.1", guard)
    assert refused("169.254.169.254", guard)


def test_an_unresolvable_name_is_refused_with_the_reason() -> None:
    async def nothing(host: str, port: int) -> list[IPAddress]:
        return []

    with pytest.raises(FetchRefused, match=r"cannot resolve host 'void\.example'"):
        asyncio.run(AddressGuard(resolver=nothing).resolve("void.example", 80))
