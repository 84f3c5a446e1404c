"""Policy decisions: config rules, annotation defaults, the untrusted-content guard, failing closed."""

import asyncio

from agent_rig import ScriptedConfirm
from hypothesis import given
from hypothesis import strategies as st

from assistant.config import PolicySettings
from assistant.policy import ConfirmationRequest, Policy, ToolHints, is_untrusted, label_untrusted

READ_LOCAL = ToolHints(read_only=True, open_world=False)
READ_WEB = ToolHints(read_only=True, open_world=True, untrusted=True)
SEND = ToolHints(read_only=False, destructive=False, open_world=True)
HINTS = st.builds(
    ToolHints,
    read_only=st.none() | st.booleans(),
    destructive=st.none() | st.booleans(),
    open_world=st.none() | st.booleans(),
    untrusted=st.booleans(),
)


def test_defaults_come_from_the_annotations() -> None:
    policy = Policy(PolicySettings())
    assert policy.decide("notes__lookup", READ_LOCAL, tainted=False).decision == "allow"
    assert policy.decide("web__search", READ_WEB, tainted=False).decision == "allow"
    assert policy.decide("mail__send", SEND, tainted=False).decision == "confirm"
    assert policy.decide("x__unannotated", ToolHints(), tainted=False).decision == "confirm"


def test_config_rules_win_exact_names_before_globs() -> None:
    policy = Policy(PolicySettings(tools={"mail__*": "deny", "mail__search": "allow"}))
    assert policy.decide("mail__send", SEND, tainted=False).decision == "deny"
    assert policy.decide("mail__search", SEND, tainted=False).decision == "allow"


@given(HINTS, st.sampled_from(["allow", "confirm", "deny"]))
def test_once_tainted_no_outbound_tool_runs_without_a_yes(hints: ToolHints, rule: str) -> None:
    policy = Policy(PolicySettings(tools={"t__x": rule}))  # type: ignore[dict-item]
    decision = policy.decide("t__x", hints, tainted=True).decision
    if rule == "deny":
        assert decision == "deny"
    elif hints.outbound:
        assert decision == "confirm"


def test_a_closed_read_only_tool_stays_allowed_when_tainted() -> None:
    assert Policy(PolicySettings()).decide("notes__lookup", READ_LOCAL, tainted=True).decision == "allow"


def request() -> ConfirmationRequest:
    return ConfirmationRequest("c1", "mail__send", {"to": "a@b.c"}, "why")


def test_only_an_explicit_yes_confirms() -> None:
    policy = Policy(PolicySettings())
    assert asyncio.run(policy.ask(ScriptedConfirm(answers=[True]), request())) is True
    assert asyncio.run(policy.ask(ScriptedConfirm(answers=[False]), request())) is False
    assert asyncio.run(policy.ask(ScriptedConfirm(), request())) is False


def test_no_answer_in_time_is_a_no() -> None:
    policy = Policy(PolicySettings(confirm_timeout_s=0.01))
    confirm = ScriptedConfirm(hang=True)
    assert asyncio.run(policy.ask(confirm, request())) is False
    assert len(confirm.asked) == 1


def test_results_are_untrusted_when_marked_or_from_the_open_world() -> None:
    assert is_untrusted(READ_WEB, None)
    assert is_untrusted(READ_LOCAL, {"variet/untrusted": True})
    assert not is_untrusted(READ_LOCAL, {})


@given(st.text(max_size=200))
def test_untrusted_text_cannot_close_its_label(text: str) -> None:
    labelled = label_untrusted("web__fetch_url", text)
    assert labelled.startswith('<untrusted-content source="tool web__fetch_url">\n')
    assert labelled.count("</untrusted-content>") == 1


def test_a_server_wrapper_is_unwrapped_and_its_source_kept() -> None:
    inner = '<untrusted-content source="mail">\nhello\n</untrusted-content>'
    labelled = label_untrusted("gmail__read", inner)
    assert labelled.startswith(
        '<untrusted-content source="mail via tool gmail__read">\nhello\n</untrusted-content>'
    )
