"""The recipient allow-list cannot be talked around: case, look-alikes, display names, lists, CR/LF."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.errors import AssistantError, RecipientNotAllowed, ToolInputInvalid
from assistant.servers.recipients import AllowList, header_addresses

ALLOW = AllowList(["ann@example.com", "@team.example"], "[gmail] allowed_recipients")


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("ann@example.com", "ann@example.com"),
        ("ANN@EXAMPLE.COM", "ann@example.com"),
        ("  Ann@Example.com ", "ann@example.com"),
        ("Ann Smith <ann@example.com>", "ann@example.com"),
        ("<ann@example.com>", "ann@example.com"),
        ("joe@team.example", "joe@team.example"),
    ],
)
def test_allowed_forms_normalise_to_the_bare_address(value: str, address: str) -> None:
    assert ALLOW.check([value], "to") == [address]


@pytest.mark.parametrize(
    "value",
    [
        "eve@evil.example",
        "ann@example.com.evil.example",
        "ann@evil-example.com",
        "ann+x@example.com",
        "joe@sub.team.example",
        "ann@example.com <eve@evil.example>",
        '"ann@example.com" <eve@evil.example>',
        "Ann <eve@evil.example>",
        "ann@example.com, eve@evil.example",
        "ann@example.com; eve@evil.example",
        "ann@example.com eve@evil.example",
        "ann@example.com\r\nBcc: eve@evil.example",
        "ann@example.com\nBcc: eve@evil.example",
        "аnn@example.com",  # Cyrillic а
        "ann@exаmple.com",  # Cyrillic а in the domain
        "ann＠example.com",  # fullwidth at sign
        "ann@example.com\u200b",  # zero-width space
        "ann@xn--exmple-cua.com",
        '"ann"@example.com',
        "ann@[127.0.0.1]",
        "ann@example.com.",
        "ann",
        "",
        "@example.com",
        # Issue 13: %-hack and bang-path routing through an allowed domain.
        "attacker%evil.example@team.example",
        "evil.example!attacker@team.example",
        "Joe <joe%evil.example@team.example>",
    ],
)
def test_bypass_attempts_are_refused(value: str) -> None:
    with pytest.raises((RecipientNotAllowed, ToolInputInvalid)):
        ALLOW.check([value], "to")


@given(
    before=st.from_regex(r"[a-z0-9.]{0,8}", fullmatch=True),
    router=st.sampled_from("%!"),
    after=st.from_regex(r"[a-z0-9.]{0,8}", fullmatch=True),
)
def test_issue_13_routing_in_the_local_part_is_refused_under_an_allowed_domain(
    before: str, router: str, after: str
) -> None:
    with pytest.raises(ToolInputInvalid):
        ALLOW.check([f"{before}{router}{after}@team.example"], "to")


def test_routing_is_named_in_the_refusal() -> None:
    with pytest.raises(ToolInputInvalid, match="routes on through '%' or '!'"):
        ALLOW.check(["attacker%evil.example@team.example"], "to")


def test_one_bad_address_refuses_the_whole_list() -> None:
    with pytest.raises(RecipientNotAllowed, match=r"eve@evil\.example"):
        ALLOW.check(["ann@example.com", "eve@evil.example"], "to")


def test_an_empty_allow_list_refuses_everyone() -> None:
    with pytest.raises(RecipientNotAllowed, match=r"empty: nobody is allowed"):
        AllowList([], "[gmail] allowed_recipients").check(["ann@example.com"], "to")


@given(st.text(min_size=1, max_size=40))
def test_arbitrary_text_is_either_an_allowed_address_or_refused(value: str) -> None:
    try:
        addresses = ALLOW.check([value], "to")
    except AssistantError:
        return
    assert addresses[0] in {"ann@example.com"} or addresses[0].endswith("@team.example")
    assert all(c.isascii() and c.isprintable() for c in addresses[0])


@given(
    local=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    case=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_case_never_matters(local: str, case: list[bool]) -> None:
    value = f"{local}@team.example"
    mixed = "".join(c.upper() if flip else c for c, flip in zip(value, case, strict=False))
    assert ALLOW.check([mixed], "to") == [value]


def test_header_parsing_finds_every_address_in_a_draft_header() -> None:
    value = 'Ann <ann@example.com>, "Bob, the builder" <bob@evil.example>'
    assert header_addresses("To", value) == ["ann@example.com", "bob@evil.example"]
