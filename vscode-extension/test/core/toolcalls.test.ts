import { describe, expect, it } from "vitest";

import { extractLeakedCalls } from "../../src/core/toolcalls.js";

const known = new Set(["read_file", "edit_file", "search"]);
const args = (text: string, index = 0): unknown => JSON.parse(extractLeakedCalls(text, known).calls[index]?.arguments ?? "null");

describe("leaked tool calls", () => {
  it("Hermes/Qwen <tool_call> JSON, with the text around it kept", () => {
    const out = extractLeakedCalls('Let me look.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.ts"}}\n</tool_call>', known);
    expect(out.calls).toEqual([{ name: "read_file", arguments: '{"path":"a.ts"}' }]);
    expect(out.text).toBe("Let me look.");
  });

  it("Qwen3.5 <function=...><parameter=...> XML with multi-line values", () => {
    const text = "<tool_call>\n<function=edit_file>\n<parameter=path>\nsrc/a.ts\n</parameter>\n<parameter=search>\nconst a = 1;\nconst b = 2;\n</parameter>\n<parameter=replace>\nconst a = 3;\n</parameter>\n</function>\n</tool_call>";
    expect(extractLeakedCalls(text, known).calls[0]?.name).toBe("edit_file");
    expect(args(text)).toEqual({ path: "src/a.ts", search: "const a = 1;\nconst b = 2;", replace: "const a = 3;" });
  });

  it("unbalanced Qwen XML: missing </parameter>, </function> and </tool_call>", () => {
    const text = "<tool_call>\n<function=read_file>\n<parameter=path>\nREADME.md\n<parameter=start>\n3";
    expect(args(text)).toEqual({ path: "README.md", start: "3" });
  });

  it("bare <function=...> without the <tool_call> wrapper, two calls in a row", () => {
    const text = "<function=read_file><parameter=path>a</parameter></function><function=read_file><parameter=path>b</parameter></function>";
    const out = extractLeakedCalls(text, known);
    expect(out.calls.map((c) => JSON.parse(c.arguments) as unknown)).toEqual([{ path: "a" }, { path: "b" }]);
    expect(out.text).toBe("");
  });

  it("Gemma 4 <|tool_call>call:name{...}<tool_call|> with <|\"|> strings, numbers and nesting", () => {
    const text = 'Sure.<|tool_call>call:search{query:<|"|>a "quoted", {brace}<|"|>,limit:5,flags:[true,null],opts:{deep:false}}<tool_call|>';
    const out = extractLeakedCalls(text, known);
    expect(out.calls[0]?.name).toBe("search");
    expect(JSON.parse(out.calls[0]?.arguments ?? "")).toEqual({ query: 'a "quoted", {brace}', limit: 5, flags: [true, null], opts: { deep: false } });
    expect(out.text).toBe("Sure.");
  });

  it("Gemma 4 call cut off mid-arguments hands the raw text on (so the agent reports invalid JSON)", () => {
    const out = extractLeakedCalls('<|tool_call>call:read_file{path:<|"|>src/ma', known);
    expect(out.calls).toEqual([{ name: "read_file", arguments: '{path:<|"|>src/ma' }]);
    expect(() => JSON.parse(out.calls[0]?.arguments ?? "") as unknown).toThrow();
  });

  it("bare JSON naming a known tool, fenced or not, and a list of them", () => {
    expect(args('{"name": "read_file", "arguments": {"path": "x"}}')).toEqual({ path: "x" });
    expect(args('```json\n{"name": "search", "parameters": {"query": "q"}}\n```')).toEqual({ query: "q" });
    expect(extractLeakedCalls('[{"name":"read_file","arguments":{"path":"a"}},{"name":"read_file","arguments":{"path":"b"}}]', known).calls).toHaveLength(2);
  });

  it("ordinary JSON answers and prose are left alone", () => {
    for (const text of ['{"name": "Ada", "arguments": 3}', '{"config": true}', "Use <function> tags in HTML.", "{ not json"]) {
      const out = extractLeakedCalls(text, known);
      expect(out.calls).toEqual([]);
      expect(out.text).toBe(text.trim());
    }
  });

  it("an unknown tool name inside explicit tags is still a call (the agent answers it with an error)", () => {
    expect(extractLeakedCalls("<tool_call>\n<function=example_function_name>\n<parameter=x>\n1\n</parameter>\n</function>\n</tool_call>", known).calls[0]?.name).toBe(
      "example_function_name",
    );
  });
});
