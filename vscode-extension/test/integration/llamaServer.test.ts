/**
 * The core against a real llama-server on the tiny model with the Qwen3.5 chat template (the balanced and deep
 * tiers' family), located by the project's own `swapd.bundled`. Skipped where `make setup` has not built it
 * (e.g. a machine with only Node); the root `make test` runs setup first, so there it always runs.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Agent, type AgentEvent } from "../../src/core/agent.js";
import { type ChatMessage, type ChatRequest, type ChatResult, Llm, type LlmProgress } from "../../src/core/llm.js";
import { DEFAULT_POLICY } from "../../src/core/policy.js";
import { TOOLS } from "../../src/core/tools/registry.js";
import { Transport } from "../../src/core/transport.js";
import { FakeHost } from "../support/fakeHost.js";
import { snapshot, tempDir } from "../support/tempdir.js";

const python = path.resolve(__dirname, "../../../.venv/bin/python");
const available = fs.existsSync(path.resolve(__dirname, "../../../.venv/.llama-stamp")) && fs.existsSync(python);
const KEY = "integration-key";
const CTX_SIZE = 2048;

/** Every chat request's outcome, so a test can prove none was refused (e.g. for exceeding the context size). */
class RecordingLlm extends Llm {
  readonly outcomes: { summary: boolean; messages: readonly ChatMessage[]; ok: boolean; error?: string; promptTokens: number | null }[] = [];

  override async chat(request: ChatRequest, signal: AbortSignal, onProgress: (progress: LlmProgress) => void): Promise<ChatResult> {
    const summary = request.toolChoice === "none";
    try {
      const result = await super.chat(request, signal, onProgress);
      this.outcomes.push({ summary, messages: request.messages, ok: true, promptTokens: result.promptTokens });
      return result;
    } catch (error) {
      this.outcomes.push({ summary, messages: request.messages, ok: false, error: String(error), promptTokens: null });
      throw error;
    }
  }
}

function bundled(): { server: string; model: string; template: string } {
  const out = execFileSync(python, ["-c", "from swapd import bundled; print(bundled.llama_server()); print(bundled.tiny_model()); print(bundled.chat_template('Qwen3.5-4B'))"], {
    encoding: "utf8",
  });
  const [server = "", model = "", template = ""] = out.trim().split("\n");
  return { server, model, template };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

/** Outside readiness: poll /health until the deadline, failing early if the process dies. */
async function waitHealthy(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`llama-server exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error("llama-server did not become healthy within the deadline");
}

describe.skipIf(!available)("against a real llama-server (tiny model, Qwen3.5 template)", () => {
  let child: ChildProcess;
  let url: string;
  let llm: RecordingLlm;

  beforeAll(async () => {
    const { server, model, template } = bundled();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(
      server,
      ["--model", model, "--host", "127.0.0.1", "--port", String(port), "--ctx-size", String(CTX_SIZE), "--threads", "2", "--no-webui", "--jinja", "--chat-template-file", template, "--api-key", KEY],
      { stdio: "ignore", detached: true },
    );
    await waitHealthy(url, child, 60_000);
    llm = new RecordingLlm(new Transport({ baseUrl: url, credentials: { label: "API key", setCommand: "Variet: Set API Key", token: async () => KEY }, idleTimeoutMs: 120_000 }));
  }, 90_000);

  afterAll(async () => {
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid, "SIGTERM");
      // A server busy with a long prefill may not stop at once; it must not outlive the suite.
      const pid = child.pid;
      const kill = setTimeout(() => process.kill(-pid, "SIGKILL"), 10_000);
      await exited;
      clearTimeout(kill);
    }
  }, 30_000);

  it("reads n_ctx from /props, counts with /tokenize and streams an answer", async () => {
    const signal = new AbortController().signal;
    expect(await llm.contextSize("balanced", signal)).toBe(CTX_SIZE);
    expect(await llm.countTokens("balanced", "hello world", signal)).toBeGreaterThan(0);
    const result = await llm.chat({ tier: "balanced", messages: [{ role: "user", content: "Say hi." }], maxTokens: 8 }, signal, () => undefined);
    expect(result.finishReason).toMatch(/^(stop|length)$/);
    expect(result.promptTokens).toBeGreaterThan(0);
    expect(result.content.length + result.reasoning.length).toBeGreaterThan(0);
  }, 120_000);

  it("an agent turn on what the tiny model really emits ends cleanly, with every call answered", async () => {
    const root = await tempDir();
    await fsp.writeFile(path.join(root, "main.py"), "print('helo')\n");
    const host = new FakeHost(root);
    host.answers = Array.from({ length: 10 }, () => ({ approved: false }));
    const before = await snapshot(root);
    const events: AgentEvent[] = [];
    // Two tools keep the prompt (and the tiny model's prefill on 2 shared cores) short.
    const tools = TOOLS.filter((t) => t.definition.name === "read_file" || t.definition.name === "edit_file");
    const agent = new Agent({ llm, host, tools, workspaceName: "ws" });
    const reason = await agent.run(
      "Fix the typo in main.py.",
      { tier: "balanced", maxSteps: 1, policy: DEFAULT_POLICY, commandTimeoutMs: 5000, maxOutputBytes: 4000, maxAnswerTokens: 96 },
      new AbortController().signal,
      (e) => events.push(e),
    );
    expect({ reason, errors: events.filter((e) => e.type === "error") }).toMatchObject({ reason: expect.stringMatching(/^(answered|step_limit|repeated_call)$/) });
    expect(events.filter((e) => e.type === "error" && e.message.startsWith("internal error"))).toEqual([]);
    const calls = agent.messages.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.id) : []));
    const answered = agent.messages.flatMap((m) => (m.role === "tool" ? [m.tool_call_id] : []));
    expect(answered.sort()).toEqual(calls.sort());
    // Every edit was rejected, so whatever the model tried, the workspace is as it was.
    expect(await snapshot(root)).toEqual(before);
    await fsp.rm(root, { recursive: true, force: true });
  }, 180_000);

  it("a task longer than the window: its oldest part is summarized by the model, and no request is refused for length", async () => {
    const root = await tempDir();
    const module = (i: number): string => Array.from({ length: 12 }, (_, line) => `def step_${i}_${line}(value):\n    return value + ${line}  # module ${i}`).join("\n");
    // The task so far: the request and a module read, as a real unit (a call and its result).
    const history: ChatMessage[] = [
      { role: "user", content: "Explain what each module in src/ does, then suggest one cleanup." },
      { role: "assistant", content: null, tool_calls: [{ id: "call_0", type: "function", function: { name: "read_file", arguments: JSON.stringify({ path: "src/module0.py" }) } }] },
      { role: "tool", tool_call_id: "call_0", content: `src/module0.py, lines 1-24 of 24:\n${module(0)}` },
    ];
    // No tool schemas: on this window, the template's tool block would leave little room for the task itself.
    const agent = new Agent({ llm, host: new FakeHost(root), tools: [], workspaceName: "ws" });
    agent.restore(history);
    const events: AgentEvent[] = [];
    const settings = { tier: "balanced", maxSteps: 1, policy: DEFAULT_POLICY, commandTimeoutMs: 5000, maxOutputBytes: 4000, maxAnswerTokens: 8 };
    const from = llm.outcomes.length;
    // The user pastes the next modules, one per turn (about 450 tokens each), until the conversation outgrows the window.
    for (let i = 1; i < 8 && !events.some((e) => e.type === "summary"); i++) {
      const text = `Here is src/module${i}.py:\n${module(i)}`;
      const reason = await agent.run(text, settings, new AbortController().signal, (e) => events.push(e));
      // The errors ride along so a failure shows them.
      expect({ reason, errors: events.filter((e) => e.type === "error") }).toEqual({ reason: expect.stringMatching(/^(answered|step_limit|repeated_call)$/), errors: expect.any(Array) });
    }
    // Whatever the tiny model wrote (a stray call ends its one step), nothing failed.
    expect(events.filter((e) => e.type === "error" && !e.message.startsWith("stopped after 1 steps"))).toEqual([]);
    const outcomes = llm.outcomes.slice(from);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    for (const outcome of outcomes) expect(outcome.promptTokens).toBeLessThanOrEqual(CTX_SIZE);
    const summaryAt = outcomes.findIndex((o) => o.summary);
    expect(summaryAt).toBeGreaterThan(0);
    const summary = events.find((e): e is Extract<AgentEvent, { type: "summary" }> => e.type === "summary");
    expect(summary?.text).toMatch(/^\[Summary of the earlier part of this conversation/);
    expect(summary?.text).toContain("Files read: src/module0.py");
    expect(summary?.text).toContain("The user's request: Explain what each module in src/ does");
    // Both requests in the user's words, a long one cut to fit a small window.
    expect(summary?.text).toMatch(/The user's latest message: Here is src\/module\d\.py:\n.* \[…\] /s);
    // The request after the summary: system prompt, the summary, then what was kept. A history too long for one
    // summary request takes several (each carries the summary so far), and a fit may fold twice: so the first
    // request that is not a summary's, with the last summary.
    const after = outcomes.slice(summaryAt).find((o) => !o.summary);
    const last = events.filter((e): e is Extract<AgentEvent, { type: "summary" }> => e.type === "summary").at(-1);
    expect(after?.messages[1]).toEqual({ role: "user", content: last?.text });
    await fsp.rm(root, { recursive: true, force: true });
  }, 600_000);
});
