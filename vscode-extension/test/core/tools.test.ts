import * as fs from "node:fs/promises";
import * as path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { ApprovalRequest } from "../../src/core/host.js";
import { parseArguments } from "../../src/core/tools/arguments.js";
import { readFileDefinition } from "../../src/core/tools/definitions/readFile.js";
import { TOOLS } from "../../src/core/tools/registry.js";
import type { ToolContext, ToolOutcome } from "../../src/core/tools/tool.js";
import { Workspace } from "../../src/core/workspace.js";
import { FakeHost } from "../support/fakeHost.js";
import { snapshot, tempDir } from "../support/tempdir.js";

let root: string;
let host: FakeHost;
let context: ToolContext;

function tool(name: string): (args: Record<string, unknown>) => Promise<ToolOutcome> {
  const found = TOOLS.find((t) => t.definition.name === name);
  if (!found) throw new Error(`no tool ${name}`);
  return (args) => found.run(found.parse(JSON.stringify(args)), context);
}

beforeEach(async () => {
  root = await tempDir();
  await fs.mkdir(path.join(root, "src"));
  await fs.writeFile(path.join(root, "src", "a.ts"), "const a = 1;\nconst b = 2;\nconst a2 = 1;\n");
  await fs.writeFile(path.join(root, "README.md"), "# hello\nworld\n");
  host = new FakeHost(root);
  context = {
    workspace: new Workspace(root),
    host,
    signal: new AbortController().signal,
    reads: new Map(),
    approve: (request: ApprovalRequest) => host.approve(request),
    commandTimeoutMs: 5000,
    maxOutputBytes: 1000,
  };
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe("read_file, list_files, search", () => {
  it("reads a range with a header", async () => {
    const out = await tool("read_file")({ path: "src/a.ts", start: 2, end: 2 });
    expect(out.content).toBe("src/a.ts, lines 2-2 of 4:\nconst b = 2;");
  });

  it("a missing file says how to find it", async () => {
    await expect(tool("read_file")({ path: "nope.ts" })).rejects.toThrow("file 'nope.ts' does not exist; use list_files to find it");
  });

  it("lists by glob and searches text and regex", async () => {
    expect((await tool("list_files")({ glob: "*.ts" })).content).toBe("src/a.ts");
    expect((await tool("search")({ query: "const a" })).content).toBe("src/a.ts:1: const a = 1;\nsrc/a.ts:3: const a2 = 1;");
    expect((await tool("search")({ query: "^#", regex: true, glob: "*.md" })).content).toBe("README.md:1: # hello");
    await expect(tool("search")({ query: "(", regex: true })).rejects.toThrow(/invalid regular expression/);
  });
});

describe("edit_file", () => {
  it("applies an approved unique replacement after showing the diff", async () => {
    await tool("read_file")({ path: "src/a.ts" });
    const out = await tool("edit_file")({ path: "src/a.ts", search: "const b = 2;", replace: "const b = 3;" });
    expect(out.status).toBe("ok");
    expect(await fs.readFile(path.join(root, "src/a.ts"), "utf8")).toBe("const a = 1;\nconst b = 3;\nconst a2 = 1;\n");
    expect(host.approvals[0]).toMatchObject({ kind: "edit", change: { path: "src/a.ts", isNew: false } });
    // A second edit works without re-reading: our own write updated what the model knows.
    await tool("edit_file")({ path: "src/a.ts", search: "const b = 3;", replace: "const b = 4;" });
    expect(await fs.readFile(path.join(root, "src/a.ts"), "utf8")).toContain("const b = 4;");
  });

  it.each([
    [{ search: "const c = 9;" }, /not found in 'src\/a.ts'; nothing was changed/],
    [{ search: "= 1;" }, /occurs 2 times in 'src\/a.ts'; nothing was changed. Include more surrounding lines/],
  ])("refuses %o with a clear message and leaves the workspace untouched", async (edit, message) => {
    await tool("read_file")({ path: "src/a.ts" });
    const before = await snapshot(root);
    await expect(tool("edit_file")({ path: "src/a.ts", replace: "x", ...edit })).rejects.toThrow(message);
    expect(await snapshot(root)).toEqual(before);
    expect(host.approvals).toEqual([]);
  });

  it("refuses a file it has not read, and one changed since the read", async () => {
    await expect(tool("edit_file")({ path: "src/a.ts", search: "const b = 2;", replace: "x" })).rejects.toThrow(/read 'src\/a.ts' with read_file before/);
    await tool("read_file")({ path: "src/a.ts" });
    await fs.appendFile(path.join(root, "src/a.ts"), "// someone else\n");
    await expect(tool("edit_file")({ path: "src/a.ts", search: "const b = 2;", replace: "x" })).rejects.toThrow(/changed since you read it/);
    expect(await fs.readFile(path.join(root, "src/a.ts"), "utf8")).toContain("const b = 2;");
  });

  it("a rejection changes nothing and says so", async () => {
    await tool("read_file")({ path: "src/a.ts" });
    host.answers = [{ approved: false, reason: "keep b" }];
    const before = await snapshot(root);
    const out = await tool("edit_file")({ path: "src/a.ts", search: "const b = 2;", replace: "const b = 3;" });
    expect(out.status).toBe("rejected");
    expect(out.content).toContain("The user said: keep b");
    expect(await snapshot(root)).toEqual(before);
  });

  it("a path outside the workspace is refused before anything else", async () => {
    const before = await snapshot(root);
    await expect(tool("edit_file")({ path: "../x.ts", search: "a", replace: "b" })).rejects.toThrow(/outside the workspace/);
    expect(await snapshot(root)).toEqual(before);
  });
});

describe("write_file", () => {
  it("creates a new file with parents after approval", async () => {
    const out = await tool("write_file")({ path: "src/new/b.ts", content: "export {};\n" });
    expect(out.status).toBe("ok");
    expect(await fs.readFile(path.join(root, "src/new/b.ts"), "utf8")).toBe("export {};\n");
    expect(host.approvals[0]).toMatchObject({ kind: "edit", change: { isNew: true, before: "" } });
  });

  it("refuses to overwrite an existing file", async () => {
    await expect(tool("write_file")({ path: "README.md", content: "gone" })).rejects.toThrow(/already exists; read it and use edit_file/);
    expect(await fs.readFile(path.join(root, "README.md"), "utf8")).toBe("# hello\nworld\n");
  });
});

describe("run_command", () => {
  it("runs in the workspace root after approval and reports the exit code", async () => {
    const out = await tool("run_command")({ command: "pwd; echo oops >&2; exit 3" });
    expect(out.content).toBe(`exit code 3\n${root}\noops\n`);
    expect(host.approvals[0]).toEqual({ kind: "command", tool: "run_command", command: "pwd; echo oops >&2; exit 3" });
  });

  it("caps the output, keeping the head and the tail", async () => {
    const out = await tool("run_command")({ command: "echo START; yes x | head -c 5000; echo; echo END" });
    expect(out.content).toMatch(/^exit code 0\nSTART/);
    expect(out.content).toMatch(/bytes omitted/);
    expect(out.content).toMatch(/END\n$/);
    expect(out.content.length).toBeLessThan(1200);
  });

  it("kills the whole process group on timeout", async () => {
    context = { ...context, commandTimeoutMs: 200 };
    const out = await tool("run_command")({ command: "sleep 30 & sleep 30; echo never" });
    expect(out.content).toMatch(/^killed after the 0 s timeout/);
    expect(out.content).not.toContain("never");
  });

  it("a rejected command does not run", async () => {
    host.answers = [{ approved: false }];
    const out = await tool("run_command")({ command: "touch ran.txt" });
    expect(out.status).toBe("rejected");
    await expect(fs.access(path.join(root, "ran.txt"))).rejects.toThrow();
  });
});

describe("get_diagnostics and arguments", () => {
  it("formats the host's diagnostics, errors first", async () => {
    host.diagnosticsList = [
      { path: "src/a.ts", line: 3, severity: "warning", message: "unused", source: "ts" },
      { path: "src/a.ts", line: 1, severity: "error", message: "bad type" },
    ];
    expect((await tool("get_diagnostics")({ path: "src/a.ts" })).content).toBe("src/a.ts:1: error: bad type\nsrc/a.ts:3: warning: unused (ts)");
    host.diagnosticsList = [];
    expect((await tool("get_diagnostics")({})).content).toBe("no problems in the workspace");
  });

  it("explains bad arguments: cut-off JSON, missing, unknown and mistyped", () => {
    const read = readFileDefinition;
    expect(() => parseArguments(read, '{"path": "a')).toThrow(/not valid JSON \(cut off\?\)/);
    expect(() => parseArguments(read, "{}")).toThrow(/missing argument 'path'/);
    expect(() => parseArguments(read, '{"path":"a","query":"x"}')).toThrow(/unknown argument 'query'/);
    expect(() => parseArguments(read, '{"path":"a","start":"two"}')).toThrow(/'start' must be an integer/);
    // Leaked XML calls carry every value as text; numbers in text are accepted.
    expect(parseArguments(read, '{"path":"a","start":"2"}')).toEqual({ path: "a", start: 2 });
  });
});

describe("line endings", () => {
  it("edits a CRLF file with the model's LF text and keeps CRLF", async () => {
    await fs.writeFile(path.join(root, "win.txt"), "one\r\ntwo\r\nthree\r\n");
    await tool("read_file")({ path: "win.txt" });
    await tool("edit_file")({ path: "win.txt", search: "one\ntwo", replace: "one\n2" });
    expect(await fs.readFile(path.join(root, "win.txt"), "utf8")).toBe("one\r\n2\r\nthree\r\n");
  });
});
