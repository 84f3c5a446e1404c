/**
 * MCP tool servers over real stdio with the official TypeScript SDK: the project's own searxng server
 * (`assistant mcp searxng`, from the repo's .venv) against the fake SearXNG upstream (tests/fakes/searxng.py), and
 * the probe server (tests/mcp_stdio_server.py) for a crash and a hang. Skipped where `make setup` has not built the
 * .venv (e.g. a machine with only Node); the root `make test` runs setup first, so there it always runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import * as readline from "node:readline";

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { Agent, type AgentEvent, type AgentSettings } from "../../src/core/agent.js";
import { McpServers, type McpServerConfig } from "../../src/core/mcp.js";
import { DEFAULT_POLICY } from "../../src/core/policy.js";
import { TOOLS } from "../../src/core/tools/registry.js";
import { FakeHost } from "../support/fakeHost.js";
import { FakeSwapd, textAnswer, toolCallAnswer, testLlm } from "../support/fakeServer.js";
import { snapshot, tempDir } from "../support/tempdir.js";

const repo = path.resolve(__dirname, "../../..");
const python = path.join(repo, ".venv/bin/python");
const assistant = path.join(repo, ".venv/bin/assistant");
const available = fs.existsSync(assistant) && fs.existsSync(python);

/** The fake SearXNG in a Python child: prints its URL, serves until its stdin closes. */
async function fakeSearxng(): Promise<{ url: string; child: ChildProcess }> {
  const script = "import sys\nfrom fakes.searxng import FakeSearxng, serve\nwith serve(FakeSearxng().app()) as url:\n    print(url, flush=True)\n    sys.stdin.read()\n";
  const child = spawn(python, ["-c", script], { cwd: repo, env: { ...process.env, PYTHONPATH: path.join(repo, "tests") }, stdio: ["pipe", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the fake SearXNG exited with ${String(code)}`)));
  });
  return { url: url.trim(), child };
}

const settings: AgentSettings = { tier: "balanced", maxSteps: 6, policy: { ...DEFAULT_POLICY, edit: "auto" }, commandTimeoutMs: 5000, maxOutputBytes: 4000 };

describe.skipIf(!available)("MCP servers over real stdio", () => {
  let searxng: { url: string; child: ChildProcess };
  let configDir: string;
  let swapd: FakeSwapd;
  let root: string;
  let host: FakeHost;
  let events: AgentEvent[];
  let servers: McpServers | undefined;

  const searxngConfig = (): McpServerConfig => ({
    name: "searxng",
    command: assistant,
    args: ["mcp", "searxng", "--config", path.join(configDir, "assistant.toml")],
    env: {},
    callTimeoutMs: 30_000,
    startTimeoutMs: 60_000,
  });
  const probe = (callTimeoutMs = 30_000): McpServerConfig => ({
    name: "probe",
    command: python,
    args: [path.join(repo, "tests/mcp_stdio_server.py")],
    env: {},
    callTimeoutMs,
    startTimeoutMs: 60_000,
  });
  function agent(mcp: McpServers): Agent {
    return new Agent({ llm: testLlm(swapd.url), host, tools: TOOLS, workspaceName: "ws", mcp });
  }
  const run = (a: Agent, text: string): Promise<string> => a.run(text, settings, new AbortController().signal, (e) => events.push(e));
  const results = (): Extract<AgentEvent, { type: "tool_result" }>[] => events.filter((e): e is Extract<AgentEvent, { type: "tool_result" }> => e.type === "tool_result");

  beforeAll(async () => {
    searxng = await fakeSearxng();
    configDir = await tempDir();
    await fsp.writeFile(path.join(configDir, "assistant.toml"), `[searxng]\nurl = "${searxng.url}"\n`);
  }, 60_000);
  afterAll(async () => {
    const exited = new Promise((resolve) => searxng.child.once("exit", resolve));
    searxng.child.stdin?.end();
    await exited;
    await fsp.rm(configDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    swapd = new FakeSwapd();
    await swapd.start();
    root = await tempDir();
    await fsp.writeFile(path.join(root, "main.py"), "print('helo')\n");
    host = new FakeHost(root);
    events = [];
  });
  afterEach(async () => {
    await servers?.close();
    servers = undefined;
    await swapd.close();
    await fsp.rm(root, { recursive: true, force: true });
  });

  it("the searxng server's tools: listed as searxng__*, a search asks, its result is untrusted, then edits ask", async () => {
    servers = new McpServers([searxngConfig()]);
    swapd
      .on("/v1/chat/completions", toolCallAnswer([{ name: "searxng__web_search", args: { query: "stdio" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "edit_file", args: { path: "main.py", search: "helo", replace: "pwned" } }]))
      .on("/v1/chat/completions", textAnswer("done"));
    host.answers = [{ approved: true }, { approved: false }];
    const before = await snapshot(root);
    const a = agent(servers);
    expect(await run(a, "search the web, then fix main.py")).toBe("answered");
    const offered = (swapd.chats()[0]?.body as { tools: { function: { name: string } }[] }).tools.map((t) => t.function.name);
    expect(offered.filter((name) => name.startsWith("searxng__"))).toEqual(["searxng__fetch_url", "searxng__web_search"]);
    expect(host.approvals.map((r) => r.kind)).toEqual(["tool", "edit"]);
    const [search] = results();
    expect(search).toMatchObject({ status: "ok", untrusted: true });
    expect(search?.content).toMatch(/^<untrusted-content source="web via tool searxng__web_search">\n/);
    expect(search?.content).toContain("Result 0 for stdio");
    expect(a.untrusted).toBe(true);
    expect(await snapshot(root)).toEqual(before);
    expect(events.filter((e) => e.type === "notice" || e.type === "error")).toEqual([]);
  }, 120_000);

  it("servers that cannot start are each shown once with the reason; the agent goes on without them", async () => {
    servers = new McpServers([
      { ...searxngConfig(), name: "missing", command: path.join(configDir, "no-such-program") },
      { ...searxngConfig(), name: "bad_config", args: ["mcp", "searxng", "--config", path.join(configDir, "absent.toml")] },
    ]);
    swapd.on("/v1/chat/completions", textAnswer("one")).on("/v1/chat/completions", textAnswer("two"));
    const a = agent(servers);
    expect(await run(a, "first")).toBe("answered");
    expect(await run(a, "second")).toBe("answered");
    const notices = events.filter((e): e is Extract<AgentEvent, { type: "notice" }> => e.type === "notice").map((e) => e.text);
    expect(notices).toHaveLength(2);
    expect(notices[0]).toMatch(/^MCP server 'missing' did not start \(.*ENOENT.*\); going on without its tools$/);
    expect(notices[1]).toMatch(/^MCP server 'bad_config' did not start \(.*\): .*absent\.toml.*; going on without its tools$/);
    expect((swapd.chats()[1]?.body as { tools: unknown[] }).tools).toHaveLength(TOOLS.length);
  }, 120_000);

  it("a server that dies mid-call: the call fails clearly, it is shown once, and the turn goes on", async () => {
    servers = new McpServers([probe()]);
    swapd
      .on("/v1/chat/completions", toolCallAnswer([{ name: "probe__die", args: {} }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "probe__echo", args: { text: "hi" } }]))
      .on("/v1/chat/completions", textAnswer("carried on"));
    expect(await run(agent(servers), "crash it")).toBe("answered");
    expect(results().map((r) => r.content)).toEqual([
      "error: tool server 'probe' stopped during the call; its tools are gone for now",
      expect.stringMatching(/^error: unknown tool 'probe__echo'/),
    ]);
    expect(events.filter((e) => e.type === "notice")).toEqual([{ type: "notice", text: expect.stringMatching(/^MCP server 'probe' stopped(: .*)?; going on without its tools$/) }]);
    const lastTools = (swapd.chats().at(-1)?.body as { tools: unknown[] }).tools;
    expect(lastTools).toHaveLength(TOOLS.length);
  }, 120_000);

  it("a call that never answers ends at call_timeout_s; the server stays up", async () => {
    servers = new McpServers([probe(1000)]);
    swapd
      .on("/v1/chat/completions", toolCallAnswer([{ name: "probe__hang", args: {} }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "probe__echo", args: { text: "still there" } }]))
      .on("/v1/chat/completions", textAnswer("ok"));
    await run(agent(servers), "hang");
    expect(results().map((r) => r.content)).toEqual(["error: probe__hang did not answer within 1 s", expect.stringMatching(/^still there from \d+/)]);
  }, 120_000);
});
