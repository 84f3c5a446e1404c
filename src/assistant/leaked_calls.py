"""Tool calls that leaked into the text instead of arriving as native `tool_calls`.

A local model sometimes writes its call as text, in the syntax its chat template taught it:
- Qwen 3.x XML: `<tool_call><function=NAME><parameter=KEY>value</parameter></function></tool_call>`, often
  with tags left unbalanced;
- Hermes / Qwen 2.5 JSON in `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`;
- Gemma 4: `<|tool_call>call:NAME{key:<|"|>text<|"|>,n:3}<tool_call|>`;
- bare JSON `{"name": ..., "arguments": {...}}`, accepted only for a tool that exists.
The syntaxes are those of llama.cpp's reference templates (`models/templates/Qwen3.5-4B.jinja`,
`google-gemma-4-31B-it.jinja`).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

JsonObject = dict[str, object]


@dataclass(frozen=True)
class LeakedCall:
    name: str
    arguments: JsonObject


_GEMMA_CALL = re.compile(r"(?:<\|tool_call>)?call:([A-Za-z0-9_.-]+)\{")
_GEMMA_QUOTE = '<|"|>'
_GEMMA_END = "<tool_call|>"
_GEMMA_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")
_GEMMA_KEY = re.compile(r"[^:,{}\[\]\s]+")
_XML_FUNCTION = re.compile(r"(?:<tool_call>\s*)?<function=([^>\s]+)>")
_XML_PARAMETER = re.compile(r"<parameter=([^>\s]+)>")
_XML_FUNCTION_END = re.compile(r"</function>|<function=|</tool_call>|<tool_call>")
_HERMES_BLOCK = re.compile(r"<tool_call>\s*(?=\{)")
_TRAILING_TAGS = re.compile(r"\s*(?:</function>\s*)?(?:</tool_call>)?")


def find_leaked_calls(text: str, schemas: Mapping[str, Mapping[str, object]]) -> tuple[list[LeakedCall], str]:
    """The calls written in `text`, and the text with them cut out; `schemas` maps tool names to schemas."""
    spans: list[tuple[int, int, LeakedCall]] = []
    spans += _gemma_calls(text, schemas)
    spans += _xml_calls(text, schemas)
    spans += _hermes_calls(text)
    if not spans:
        spans += _bare_json_calls(text, schemas)
    spans.sort(key=lambda span: span[0])
    calls: list[LeakedCall] = []
    kept: list[str] = []
    cursor = 0
    for start, end, call in spans:
        if start < cursor:
            continue
        kept.append(text[cursor:start])
        calls.append(call)
        cursor = end
    kept.append(text[cursor:])
    return calls, "".join(kept).strip()


def _gemma_calls(text: str, schemas: Mapping[str, Mapping[str, object]]) -> list[tuple[int, int, LeakedCall]]:
    found: list[tuple[int, int, LeakedCall]] = []
    for match in _GEMMA_CALL.finditer(text):
        wrapped = match.group(0).startswith("<|tool_call>")
        if not wrapped and match.group(1) not in schemas:
            continue
        try:
            arguments, end = _GemmaValue(text, match.end() - 1).mapping()
        except ValueError:
            continue
        if text.startswith(_GEMMA_END, end):
            end += len(_GEMMA_END)
        found.append((match.start(), end, LeakedCall(match.group(1), arguments)))
    return found


class _GemmaValue:
    """Gemma 4's argument syntax: JSON with bare keys and strings quoted by `<|"|>`."""

    def __init__(self, text: str, at: int) -> None:
        self.text = text
        self.at = at

    def mapping(self) -> tuple[JsonObject, int]:
        value = self.value()
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value, self.at

    def value(self) -> object:
        text = self.text
        if text.startswith(_GEMMA_QUOTE, self.at):
            end = text.find(_GEMMA_QUOTE, self.at + len(_GEMMA_QUOTE))
            if end < 0:
                raise ValueError("unterminated string")
            value = text[self.at + len(_GEMMA_QUOTE) : end]
            self.at = end + len(_GEMMA_QUOTE)
            return value
        if text.startswith("{", self.at):
            return self._items("}", keyed=True)
        if text.startswith("[", self.at):
            return self._items("]", keyed=False)
        match = _GEMMA_SCALAR.match(text, self.at)
        if match is None:
            raise ValueError(f"unexpected text at {self.at}")
        self.at = match.end()
        scalar: object = json.loads(match.group(0))
        return scalar

    def _items(self, close: str, keyed: bool) -> object:
        self.at += 1
        mapping: JsonObject = {}
        items: list[object] = []
        while True:
            self._space()
            if self.text.startswith(close, self.at):
                self.at += 1
                return mapping if keyed else items
            if mapping or items:
                if not self.text.startswith(",", self.at):
                    raise ValueError("expected a comma")
                self.at += 1
                self._space()
            if keyed:
                key = self._key()
                mapping[key] = self.value()
            else:
                items.append(self.value())

    def _key(self) -> str:
        if self.text.startswith(_GEMMA_QUOTE, self.at):
            key = self.value()
            assert isinstance(key, str)
        else:
            match = _GEMMA_KEY.match(self.text, self.at)
            if match is None:
                raise ValueError("expected a key")
            key = match.group(0)
            self.at = match.end()
        if not self.text.startswith(":", self.at):
            raise ValueError("expected a colon")
        self.at += 1
        return key

    def _space(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1


def _xml_calls(text: str, schemas: Mapping[str, Mapping[str, object]]) -> list[tuple[int, int, LeakedCall]]:
    found: list[tuple[int, int, LeakedCall]] = []
    for match in _XML_FUNCTION.finditer(text):
        name = match.group(1)
        stop = _XML_FUNCTION_END.search(text, match.end())
        body_end = stop.start() if stop else len(text)
        arguments = _xml_parameters(text[match.end() : body_end], _property_types(schemas.get(name)))
        tail = _TRAILING_TAGS.match(text, body_end)
        end = tail.end() if tail else body_end
        found.append((match.start(), end, LeakedCall(name, arguments)))
    return found


def _xml_parameters(body: str, types: Mapping[str, object]) -> JsonObject:
    arguments: JsonObject = {}
    matches = list(_XML_PARAMETER.finditer(body))
    for i, match in enumerate(matches):
        stop = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        raw = body[match.end() : stop]
        close = raw.find("</parameter>")
        if close >= 0:
            raw = raw[:close]
        raw = raw.removeprefix("\n").removesuffix("\n")
        arguments[match.group(1)] = _xml_value(raw, types.get(match.group(1)))
    return arguments


def _xml_value(raw: str, declared: object) -> object:
    """Strings stay as written; other declared types (and undeclared JSON) are decoded."""
    if declared == "string":
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        if raw in ("True", "False"):
            return raw == "True"
        return raw


def _property_types(schema: Mapping[str, object] | None) -> Mapping[str, object]:
    properties = schema.get("properties") if schema else None
    if not isinstance(properties, Mapping):
        return {}
    return {key: spec.get("type") for key, spec in properties.items() if isinstance(spec, Mapping)}


def _hermes_calls(text: str) -> list[tuple[int, int, LeakedCall]]:
    found: list[tuple[int, int, LeakedCall]] = []
    for match in _HERMES_BLOCK.finditer(text):
        parsed = _json_call_at(text, match.end(), None)
        if parsed is None:
            continue
        call, end = parsed
        tail = _TRAILING_TAGS.match(text, end)
        found.append((match.start(), tail.end() if tail else end, call))
    return found


def _bare_json_calls(
    text: str, schemas: Mapping[str, Mapping[str, object]]
) -> list[tuple[int, int, LeakedCall]]:
    found: list[tuple[int, int, LeakedCall]] = []
    at = text.find("{")
    while at >= 0:
        parsed = _json_call_at(text, at, schemas)
        if parsed is None:
            at = text.find("{", at + 1)
            continue
        call, end = parsed
        found.append((at, end, call))
        at = text.find("{", end)
    return found


def _json_call_at(text: str, at: int, known: Mapping[str, object] | None) -> tuple[LeakedCall, int] | None:
    """A `{"name", "arguments"|"parameters"}` object starting at `at`; with `known`, only known names."""
    try:
        value, end = json.JSONDecoder().raw_decode(text, at)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(name := value.get("name"), str):
        return None
    if known is not None and name not in known:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return LeakedCall(name, arguments), end
