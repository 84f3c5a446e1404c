"""Tool calls written as text are recovered in each syntax the production templates teach."""

import json

from hypothesis import given
from hypothesis import strategies as st

from assistant.leaked_calls import LeakedCall, find_leaked_calls

NAMES = st.from_regex(r"[a-z][a-z0-9]{0,8}__[a-z][a-z_]{0,10}", fullmatch=True)
KEYS = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True)
# Plain text around a call; no markup characters, so it cannot itself look like a call.
PROSE = st.text(st.characters(categories=["L", "N", "Zs"], exclude_characters="<>{}|"), max_size=40)
SCALARS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.text(st.characters(categories=["L", "N", "Zs"], exclude_characters="<>|"), min_size=1, max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
ARGUMENTS = st.dictionaries(KEYS, VALUES, max_size=4)


def gemma_value(value: object) -> str:
    """`format_argument(value, escape_keys=False)` from google-gemma-4-31B-it.jinja."""
    if isinstance(value, str):
        return f'<|"|>{value}<|"|>'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{gemma_value(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(gemma_value(v) for v in value) + "]"
    return str(value)


def qwen_xml(name: str, arguments: dict[str, object]) -> str:
    """The tool-call rendering of Qwen3.5-4B.jinja."""
    parts = [f"<tool_call>\n<function={name}>\n"]
    for key, value in arguments.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else str(value)
        parts.append(f"<parameter={key}>\n{shown}\n</parameter>\n")
    parts.append("</function>\n</tool_call>")
    return "".join(parts)


def schema_for(arguments: dict[str, object]) -> dict[str, object]:
    def kind(value: object) -> str:
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, str):
            return "string"
        return "array" if isinstance(value, list) else "object"

    return {"type": "object", "properties": {k: {"type": kind(v)} for k, v in arguments.items()}}


@given(NAMES, ARGUMENTS, PROSE, PROSE)
def test_gemma_4_calls_round_trip(name: str, arguments: dict[str, object], before: str, after: str) -> None:
    text = f"{before}<|tool_call>call:{name}{gemma_value(arguments)}<tool_call|>{after}"
    calls, rest = find_leaked_calls(text, {})
    assert calls == [LeakedCall(name, arguments)]
    assert rest == f"{before}{after}".strip()


@given(NAMES, st.dictionaries(KEYS, SCALARS, max_size=4), PROSE)
def test_qwen_xml_calls_round_trip_with_the_schema_types(
    name: str, arguments: dict[str, object], before: str
) -> None:
    text = f"{before}\n{qwen_xml(name, arguments)}"
    calls, rest = find_leaked_calls(text, {name: schema_for(arguments)})
    assert calls == [LeakedCall(name, arguments)]
    assert rest == before.strip()


@given(NAMES, ARGUMENTS, PROSE)
def test_hermes_json_in_tool_call_tags_round_trips(
    name: str, arguments: dict[str, object], before: str
) -> None:
    block = json.dumps({"name": name, "arguments": arguments})
    calls, rest = find_leaked_calls(f"{before}<tool_call>\n{block}\n</tool_call>", {})
    assert calls == [LeakedCall(name, arguments)]
    assert rest == before.strip()


@given(NAMES, ARGUMENTS, PROSE)
def test_bare_json_is_a_call_only_for_a_known_tool(
    name: str, arguments: dict[str, object], before: str
) -> None:
    text = f"{before} {json.dumps({'name': name, 'parameters': arguments})}"
    assert find_leaked_calls(text, {})[0] == []
    calls, _ = find_leaked_calls(text, {name: {}})
    assert calls == [LeakedCall(name, arguments)]


@given(st.text(max_size=200))
def test_any_text_parses_without_raising(text: str) -> None:
    calls, rest = find_leaked_calls(text, {"web__search": {}})
    assert isinstance(calls, list) and isinstance(rest, str)


@given(PROSE)
def test_plain_prose_has_no_calls_and_is_left_alone(text: str) -> None:
    assert find_leaked_calls(text, {"web__search": {}}) == ([], text.strip())


def test_unbalanced_qwen_tags_as_the_tiny_model_writes_them() -> None:
    text = "<function=example_function_name><parameter=query>gpu prices\n<function=web__search>"
    calls, _ = find_leaked_calls(text, {})
    assert calls == [
        LeakedCall("example_function_name", {"query": "gpu prices"}),
        LeakedCall("web__search", {}),
    ]


def test_several_gemma_calls_in_one_reply() -> None:
    text = '<|tool_call>call:a__b{q:<|"|>x<|"|>}<tool_call|><|tool_call>call:a__c{n:2}<tool_call|>'
    calls, rest = find_leaked_calls(text, {})
    assert calls == [LeakedCall("a__b", {"q": "x"}), LeakedCall("a__c", {"n": 2})]
    assert rest == ""
