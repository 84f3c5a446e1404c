import * as fs from "node:fs/promises";
import * as path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Agent, type AgentEvent, type AgentSettings, MAX_RESULT_CHARS, REPEAT_STOP } from "../../src/core/agent.js";
import { DEFAULT_POLICY } from "../../src/core/policy.js";
import { TOOLS } from "../../src/core/tools/registry.js";
import { FakeHost } from "../support/fakeHost.js";
import { FakeSwapd, type Recorded, chunk, json, sse, textAnswer, toolCallAnswer, testLlm } from "../support/fakeServer.js";
import { snapshot, tempDir } from "../support/tempdir.js";
import { describeFsError } from "../../src/core/workspace.js";
import { Checkpoints } from "../../src/core/checkpoints.js";

let server: FakeSwapd;
let root: string;
let host: FakeHost;
let events: AgentEvent[];

const settings: AgentSettings = { tier: "balanced", maxSteps: 8, policy: DEFAULT_POLICY, commandTimeoutMs: 5000, maxOutputBytes: 4000 };

function agent(key = "test-key", url?: string): Agent {
  return new Agent({ llm: testLlm(url ?? server.url, () => key), host, tools: TOOLS, workspaceName: "ws" });
}

async function run(a: Agent, text: string, s: AgentSettings = settings, signal = new AbortController().signal): Promise<string> {
  return a.run(text, s, signal, (e) => events.push(e));
}

type SentMessage = { role: string; content: string | null; tool_call_id?: string; tool_calls?: { id: string }[] };
const sentMessages = (i: number): SentMessage[] => (server.chats()[i]?.body as { messages: SentMessage[] }).messages;
/** Summary requests (text only, tools still in the prompt) get `notes(n)` for the n-th, whatever else is queued. */
const isSummaryRequest = (request: Recorded): boolean => (request.body as { tool_choice?: string }).tool_choice === "none";
function summarizeWith(notes: (n: number) => string): void {
  let n = 0;
  server.route("/v1/chat/completions", isSummaryRequest, (req, res) => textAnswer(notes(n++))(req, res));
}
const toolResults = (): Extract<AgentEvent, { type: "tool_result" }>[] => events.filter((e): e is Extract<AgentEvent, { type: "tool_result" }> => e.type === "tool_result");

beforeEach(async () => {
  server = new FakeSwapd();
  await server.start();
  root = await tempDir();
  await fs.writeFile(path.join(root, "main.py"), "print('helo')\n");
  host = new FakeHost(root);
  events = [];
});
afterEach(async () => {
  await server.close();
  await fs.rm(root, { recursive: true, force: true });
});

describe("a turn with tools", () => {
  it("reads, edits after approval, answers; results go back under their call ids; the prefix stays stable", async () => {
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "edit_file", args: { path: "main.py", search: "helo", replace: "hello" } }]))
      .on("/v1/chat/completions", textAnswer("Fixed the typo."));
    const a = agent();
    expect(await run(a, "fix the typo")).toBe("answered");
    expect(await fs.readFile(path.join(root, "main.py"), "utf8")).toBe("print('hello')\n");
    expect(host.approvals.map((r) => r.kind)).toEqual(["edit"]);
    const third = sentMessages(2);
    expect(third.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool", "assistant", "tool"]);
    expect(third[3]?.tool_call_id).toBe(third[2]?.tool_calls?.[0]?.id);
    expect(third[3]?.content).toContain("print('helo')");
    // Identical system prompt and tool list in every request: llama.cpp's prompt cache can reuse the prefix.
    const bodies = server.chats().map((r) => r.body as { messages: SentMessage[]; tools: unknown });
    expect(new Set(bodies.map((b) => JSON.stringify([b.messages[0], b.tools]))).size).toBe(1);
    expect(events.at(-1)).toEqual({ type: "done", reason: "answered" });
    expect(events).toContainEqual({ type: "assistant_end", servedBy: "balanced" });
  });

  it("a rejected edit goes back to the model as a tool result and the file is untouched", async () => {
    host.answers = [{ approved: false, reason: "not like that" }];
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "edit_file", args: { path: "main.py", search: "helo", replace: "HELLO" } }]))
      .on("/v1/chat/completions", textAnswer("OK, leaving it."));
    const before = await snapshot(root);
    await run(agent(), "shout");
    expect(await snapshot(root)).toEqual(before);
    const last = sentMessages(2).at(-1);
    expect(last?.role).toBe("tool");
    expect(last?.content).toMatch(/The user rejected this edit_file call; nothing was changed. The user said: not like that/);
    expect(toolResults().map((r) => r.status)).toEqual(["ok", "rejected"]);
  });

  it("a path outside the workspace is a clear tool error, and nothing outside is read or written", async () => {
    const outsideFile = path.join(path.dirname(root), `outside-${path.basename(root)}.txt`);
    await fs.writeFile(outsideFile, "TOP-SECRET-CONTENT");
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: `../${path.basename(outsideFile)}` } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "write_file", args: { path: "/tmp/planted-by-model.txt", content: "x" } }]))
      .on("/v1/chat/completions", textAnswer("I cannot."));
    const before = await snapshot(root);
    await run(agent(), "read the secret");
    expect(toolResults().map((r) => r.status)).toEqual(["error", "error"]);
    expect(toolResults()[0]?.content).toMatch(/^error: path '\.\.\/outside-.*' is outside the workspace/);
    expect(JSON.stringify(server.chats())).not.toContain("TOP-SECRET-CONTENT");
    await expect(fs.access("/tmp/planted-by-model.txt")).rejects.toThrow();
    expect(await snapshot(root)).toEqual(before);
    expect(host.approvals).toEqual([]);
    await fs.rm(outsideFile);
  });

  it("an edit whose search text is missing is reported and the model can recover", async () => {
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "edit_file", args: { path: "main.py", search: "print('hi')", replace: "x" } }]))
      .on("/v1/chat/completions", textAnswer("The text was not there."));
    const before = await snapshot(root);
    await run(agent(), "edit");
    expect(toolResults()[1]?.content).toMatch(/search text was not found in 'main.py'; nothing was changed/);
    expect(await snapshot(root)).toEqual(before);
  });

  it("executes calls leaked into the text (Qwen XML) and stores them as native calls", async () => {
    server
      .on("/v1/chat/completions", textAnswer("Looking.\n<tool_call>\n<function=read_file>\n<parameter=path>\nmain.py\n</parameter>\n</function>\n</tool_call>"))
      .on("/v1/chat/completions", textAnswer("It prints helo."));
    expect(await run(agent(), "what does it print?")).toBe("answered");
    const second = sentMessages(1);
    expect(second[2]).toMatchObject({ role: "assistant", content: "Looking.", tool_calls: [{ type: "function", function: { name: "read_file" } }] });
    expect(second[3]?.content).toContain("print('helo')");
  });

  it("a call mentioned in the reasoning is ignored when the model answered", async () => {
    server.on(
      "/v1/chat/completions",
      sse([chunk({ reasoning_content: "<tool_call>\n<function=read_file>\n<parameter=path>\nmain.py\n</parameter>\n</function>\n</tool_call>" }), chunk({ content: "No need to read it." }, "stop")]),
    );
    expect(await run(agent(), "q")).toBe("answered");
    expect(toolResults()).toEqual([]);
  });

  it("a call leaked into the reasoning runs when there is no answer", async () => {
    server.on("/v1/chat/completions", sse([chunk({ reasoning_content: "<function=read_file><parameter=path>main.py</parameter></function>" }), chunk({}, "stop")]));
    server.on("/v1/chat/completions", textAnswer("read"));
    expect(await run(agent(), "q")).toBe("answered");
    expect(toolResults()[0]?.status).toBe("ok");
  });

  it("leaked calls get ids that stay unique across turns", async () => {
    const leak = "<tool_call>\n<function=read_file>\n<parameter=path>\nmain.py\n</parameter>\n</function>\n</tool_call>";
    const a = agent();
    for (let turn = 0; turn < 2; turn++) {
      server.on("/v1/chat/completions", textAnswer(leak));
      server.on("/v1/chat/completions", textAnswer("ok"));
      await run(a, `turn ${turn}`);
    }
    const ids = a.messages.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.id) : []));
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  it("unknown tools and bad arguments get error results, not a crash", async () => {
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "web_search", args: { query: "x" } }, { name: "read_file", args: { query: "x" } }]))
      .on("/v1/chat/completions", sse([chunk({ tool_calls: [{ index: 0, id: "t", function: { name: "read_file", arguments: '{"path": "ma' } }] }, "length")]))
      .on("/v1/chat/completions", textAnswer("giving up"));
    expect(await run(agent(), "go")).toBe("answered");
    expect(toolResults().map((r) => r.content)).toEqual([
      expect.stringMatching(/^error: unknown tool 'web_search'; the tools are: read_file, list_files/),
      expect.stringMatching(/^error: missing argument 'path'/),
      expect.stringMatching(/^error: the arguments are not valid JSON \(cut off\?\)/),
    ]);
  });
});

describe("approval policy", () => {
  it("read tools ask when the policy says so, and a no is the tool result", async () => {
    host.answers = [{ approved: false }];
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]));
    server.on("/v1/chat/completions", textAnswer("ok"));
    await run(agent(), "read", { ...settings, policy: { ...DEFAULT_POLICY, read: "ask" } });
    expect(host.approvals).toEqual([{ kind: "read", tool: "read_file", summary: 'read_file {"path":"main.py"}', callId: expect.any(String) }]);
    expect(toolResults()[0]).toMatchObject({ status: "rejected", content: expect.stringContaining("rejected this read_file call") });
  });

  it("edits and commands run without a question when set to auto", async () => {
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "write_file", args: { path: "new.txt", content: "x" } }]));
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "run_command", args: { command: "cat new.txt" } }]));
    server.on("/v1/chat/completions", textAnswer("ok"));
    await run(agent(), "go", { ...settings, policy: { read: "auto", edit: "auto", command: "auto" } });
    expect(host.approvals).toEqual([]);
    expect(toolResults().map((r) => r.content)).toEqual([expect.stringMatching(/^created new.txt/), "exit code 0\nx"]);
  });

  it("by default reads do not ask, edits and commands do", async () => {
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "list_files", args: { glob: "*" } }]));
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "run_command", args: { command: "true" } }]));
    server.on("/v1/chat/completions", textAnswer("ok"));
    await run(agent(), "go");
    expect(host.approvals.map((a) => a.kind)).toEqual(["command"]);
  });
});

describe("guards", () => {
  it("the same call repeated is answered with a warning, then the turn stops", async () => {
    server.always("/v1/chat/completions", toolCallAnswer([{ name: "list_files", args: { glob: "**" } }]));
    expect(await run(agent(), "loop")).toBe("repeated_call");
    expect(server.chats()).toHaveLength(REPEAT_STOP);
    expect(toolResults()[2]?.content).toMatch(/already made this exact list_files call 2 times/);
    expect(events).toContainEqual({ type: "error", message: `stopped: the model repeated the same list_files call ${REPEAT_STOP} times` });
  });

  it("an identical read after an edit is not a repeat", async () => {
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "write_file", args: { path: "b.py", content: "" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", textAnswer("done"));
    expect(await run(agent(), "x")).toBe("answered");
    expect(toolResults().every((r) => r.status === "ok")).toBe(true);
  });

  it("stops at the step limit and says how to go on", async () => {
    let n = 0;
    server.always("/v1/chat/completions", (req, res) => toolCallAnswer([{ name: "list_files", args: { glob: `*.${n++}` } }])(req, res));
    expect(await run(agent(), "forever", { ...settings, maxSteps: 3 })).toBe("step_limit");
    expect(server.chats()).toHaveLength(3);
    expect(events).toContainEqual({ type: "error", message: 'stopped after 3 steps (variet.maxSteps); say "continue" to go on' });
  });

  it("stop during an approval ends the turn as aborted and answers every open call", async () => {
    const controller = new AbortController();
    host.approve = async (request) => {
      host.approvals.push(request);
      controller.abort();
      return { approved: false };
    };
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "write_file", args: { path: "a.txt", content: "a" } }, { name: "write_file", args: { path: "b.txt", content: "b" } }]));
    const a = agent();
    expect(await run(a, "two files", settings, controller.signal)).toBe("aborted");
    const tools = a.messages.filter((m) => m.role === "tool");
    expect(tools).toHaveLength(2);
    expect(tools.every((m) => m.role === "tool" && m.content.startsWith("cancelled"))).toBe(true);
    expect(events.at(-1)).toEqual({ type: "done", reason: "aborted" });
  });
});

describe("bad connections", () => {
  it("swapd unreachable: a clear message in the chat, workspace untouched", async () => {
    const url = server.url;
    await server.close();
    server = new FakeSwapd();
    await server.start();
    const before = await snapshot(root);
    expect(await run(agent("test-key", url), "hi")).toBe("error");
    expect(events).toContainEqual({ type: "error", message: expect.stringMatching(/^cannot reach swapd at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); check variet.serverUrl/) });
    expect(await snapshot(root)).toEqual(before);
  });

  it("a wrong key: the message names the command to fix it; retry then works", async () => {
    const a = agent("wrong");
    expect(await run(a, "hi")).toBe("error");
    expect(events).toContainEqual({ type: "error", message: 'swapd rejected the API key (401); run "Variet: Set API Key"' });
    server.on("/v1/chat/completions", textAnswer("hello"));
    const good = agent();
    good.restore(a.messages);
    expect(await good.retry(settings, new AbortController().signal, (e) => events.push(e))).toBe("answered");
    expect(sentMessages(0).map((m) => m.role)).toEqual(["system", "user"]);
  });
});

describe("context and tiers", () => {
  it("folds old turns into a summary to fit n_ctx from /props, never splitting a call from its result", async () => {
    server.always("/props", (_req, res) => json(res, 200, { default_generation_settings: { n_ctx: 4096 } }));
    summarizeWith(() => "Task: questions. Decisions: none. Open to-dos: none.");
    const a = agent();
    for (let i = 0; i < 4; i++) {
      server.on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]));
      server.on("/v1/chat/completions", textAnswer(`answer ${i} ${"x".repeat(3000)}`));
      await run(a, `question ${i}`);
    }
    const last = sentMessages(server.chats().length - 1);
    expect(last[1]?.content).toMatch(/^\[Summary of the earlier part of this conversation/);
    expect(last[2]?.role).not.toBe("tool");
    expect(last.some((m) => m.content === "question 0")).toBe(false);
    expect(last.some((m) => m.content === "question 3")).toBe(true);
    const context = events.filter((e) => e.type === "context").at(-1);
    expect(context).toMatchObject({ contextSize: 4096 });
    expect(context && "droppedMessages" in context && context.droppedMessages).toBeGreaterThan(0);
  });

  it("learns the chat template's extra tokens from the answer's usage", async () => {
    server.on("/v1/chat/completions", sse([chunk({ content: "one" }, "stop"), { choices: [], usage: { prompt_tokens: 5000, completion_tokens: 1 } }]));
    server.on("/v1/chat/completions", textAnswer("two"));
    const a = agent();
    await run(a, "first");
    await run(a, "second");
    const [first, second] = events.filter((e): e is Extract<AgentEvent, { type: "context" }> => e.type === "context");
    // The second estimate starts from the server's real count for the first request, not our smaller sum.
    expect(second?.usedTokens).toBeGreaterThanOrEqual(5000);
    expect(first?.usedTokens).toBeLessThan(5000);
  });

  it("cuts a huge tool result before it reaches the model", async () => {
    await fs.writeFile(path.join(root, "min.js"), "x".repeat(100_000));
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "min.js" } }]));
    server.on("/v1/chat/completions", textAnswer("minified"));
    await run(agent(), "read it");
    const result = sentMessages(1).at(-1)?.content ?? "";
    expect(result.length).toBeLessThan(MAX_RESULT_CHARS + 200);
    expect(result).toMatch(/more characters cut; ask for less at once\]$/);
  });

  it("says clearly when even the current turn cannot fit", async () => {
    server.always("/props", (_req, res) => json(res, 200, { default_generation_settings: { n_ctx: 256 } }));
    expect(await run(agent(), "y".repeat(4000))).toBe("error");
    expect(events).toContainEqual({ type: "error", message: expect.stringMatching(/needs about \d+ tokens but the balanced tier holds 256/) });
    expect(server.chats()).toHaveLength(0);
  });

  it("plan with deep, act with balanced", async () => {
    server.on("/v1/chat/completions", textAnswer("1. read main.py\n2. answer"));
    server.on("/v1/chat/completions", textAnswer("It prints helo."));
    expect(await run(agent(), "what does it print?", { ...settings, planTier: "deep" })).toBe("answered");
    const [plan, act] = server.chats().map((r) => r.body as { model: string; tools?: unknown; messages: SentMessage[] });
    expect(plan?.model).toBe("deep");
    expect(plan?.tools).toBeUndefined();
    expect(plan?.messages.at(-1)?.content).toMatch(/short numbered plan/);
    expect(act?.model).toBe("balanced");
    expect(act?.tools).toBeDefined();
    // The act request must not end on the plan (an assistant message llama-server would continue).
    expect(act?.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(act?.messages.at(-1)?.content).toMatch(/carry out the plan/);
  });
});

describe("issue 13: messages a newcomer can read", () => {
  it("a too-long path comes back as one clear line, without Node's errno or the absolute path", async () => {
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "write_file", args: { path: `${"d".repeat(300)}/x.txt`, content: "x" } }]));
    server.on("/v1/chat/completions", textAnswer("ok"));
    await run(agent(), "go");
    const content = toolResults()[0]?.content ?? "";
    expect(content).toMatch(/^error: path 'd+…d+\/x\.txt' \(306 characters\) has a name of 300 bytes; a file or folder name may have at most 255, so use a shorter name$/);
    expect(content).not.toContain(root);
    expect(host.approvals).toEqual([]);
  });

  it("a file-system failure names the error and the workspace-relative path", async () => {
    await fs.mkdir(path.join(root, "dir"));
    const error = await fs.writeFile(path.join(root, "dir"), "x").catch((e: unknown) => e);
    expect(describeFsError(error, root)).toBe("it is a directory ('dir')");
    expect(describeFsError(new Error("plain"), root)).toBeUndefined();
  });

  it("while an edit or a command waits for the user, the events say so, before the question", async () => {
    const seenAtQuestion: AgentEvent[][] = [];
    host.approve = async (request) => {
      seenAtQuestion.push([...events]);
      host.approvals.push(request);
      return { approved: true };
    };
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "edit_file", args: { path: "main.py", search: "helo", replace: "hello" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "run_command", args: { command: "true" } }]))
      .on("/v1/chat/completions", textAnswer("done"));
    await run(agent(), "go");
    expect(seenAtQuestion.map((seen) => seen.at(-1))).toEqual([
      { type: "awaiting_approval", id: expect.any(String), what: "the edit to main.py in the diff" },
      { type: "awaiting_approval", id: expect.any(String), what: "the command `true`" },
    ]);
    // Reads are auto by default: no waiting event for them.
    expect(events.filter((e) => e.type === "awaiting_approval")).toHaveLength(2);
  });
});

describe("checkpoints in the loop", () => {
  const withCheckpoints: AgentSettings = { ...settings, checkpoints: { maxFileBytes: 1 << 20 } };
  const agentWith = (checkpoints: Checkpoints): Agent => {
    return new Agent({ llm: testLlm(server.url), host, tools: TOOLS, workspaceName: "ws", checkpoints });
  };

  it("snapshots before an edit and a command, before the question; restoring the edit's brings the file back", async () => {
    const store = await tempDir("variet-store-");
    const checkpoints = new Checkpoints(store, root);
    const seenAtQuestion: string[][] = [];
    host.approve = async (request) => {
      seenAtQuestion.push(events.map((e) => e.type));
      host.approvals.push(request);
      return { approved: request.kind !== "command" };
    };
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "edit_file", args: { path: "main.py", search: "helo", replace: "hello" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "run_command", args: { command: "rm main.py" } }]))
      .on("/v1/chat/completions", textAnswer("done"));
    await run(agentWith(checkpoints), "fix it", withCheckpoints);
    const made = events.filter((e): e is Extract<AgentEvent, { type: "checkpoint" }> => e.type === "checkpoint");
    expect(made.map((e) => e.checkpoint.label)).toEqual(["edit_file main.py", "run_command rm main.py"]);
    expect(seenAtQuestion.map((types) => types.slice(-2))).toEqual([
      ["checkpoint", "awaiting_approval"],
      ["checkpoint", "awaiting_approval"],
    ]);
    expect((await checkpoints.list()).map((c) => c.label)).toEqual(["edit_file main.py", "run_command rm main.py"]);
    expect(await fs.readFile(path.join(root, "main.py"), "utf8")).toBe("print('hello')\n");
    await checkpoints.restore(made[0]?.id ?? "", false, 1 << 20, new AbortController().signal);
    expect(await fs.readFile(path.join(root, "main.py"), "utf8")).toBe("print('helo')\n");
    await fs.rm(store, { recursive: true, force: true });
  });

  it("what the user changes while a question is open is not the step's: restoring its checkpoint keeps it", async () => {
    const store = await tempDir("variet-store-");
    const checkpoints = new Checkpoints(store, root);
    await fs.writeFile(path.join(root, "notes.md"), "draft\n");
    host.approve = async (request) => {
      await fs.writeFile(path.join(root, "notes.md"), "typed while the diff was open\n");
      host.approvals.push(request);
      return { approved: true };
    };
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", toolCallAnswer([{ name: "edit_file", args: { path: "main.py", search: "helo", replace: "hello" } }]))
      .on("/v1/chat/completions", textAnswer("done"));
    await run(agentWith(checkpoints), "fix it", withCheckpoints);
    const made = events.find((e): e is Extract<AgentEvent, { type: "checkpoint" }> => e.type === "checkpoint");
    const result = await checkpoints.restore(made?.id ?? "", false, 1 << 20, new AbortController().signal);
    expect(result).toMatchObject({ conflicts: [], restored: ["main.py"], removed: [] });
    expect(await fs.readFile(path.join(root, "main.py"), "utf8")).toBe("print('helo')\n");
    expect(await fs.readFile(path.join(root, "notes.md"), "utf8")).toBe("typed while the diff was open\n");
    await fs.rm(store, { recursive: true, force: true });
  });

  it("a store that fails warns, and the edit still asks even when edits are auto", async () => {
    const blocker = path.join(root, "not-a-folder");
    await fs.writeFile(blocker, "");
    host.answers = [{ approved: true }];
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "write_file", args: { path: "new.txt", content: "x" } }]))
      .on("/v1/chat/completions", textAnswer("done"));
    await run(agentWith(new Checkpoints(path.join(blocker, "store"), root)), "go", { ...withCheckpoints, policy: { read: "auto", edit: "auto", command: "auto" } });
    expect(events).toContainEqual({ type: "checkpoint_failed", id: expect.any(String), message: expect.stringMatching(/^no checkpoint: the checkpoint store .* cannot be written/) });
    expect(host.approvals).toEqual([expect.objectContaining({ kind: "edit", warning: expect.stringContaining("No checkpoint could be made") })]);
    expect(await fs.readFile(path.join(root, "new.txt"), "utf8")).toBe("x");
  });

  it("with checkpoints off nothing is snapshotted and auto edits do not ask", async () => {
    const store = path.join(root, "never-made");
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "write_file", args: { path: "new.txt", content: "x" } }]))
      .on("/v1/chat/completions", textAnswer("done"));
    await run(agentWith(new Checkpoints(store, root)), "go", { ...settings, policy: { read: "auto", edit: "auto", command: "auto" } });
    expect(events.filter((e) => e.type.startsWith("checkpoint"))).toEqual([]);
    expect(host.approvals).toEqual([]);
    await expect(fs.access(store)).rejects.toThrow();
  });

  it("rewind cuts the task back to before a call, which then reads as not run", async () => {
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }, { name: "list_files", args: { glob: "*" } }]))
      .on("/v1/chat/completions", textAnswer("done"));
    const a = agent();
    await run(a, "look");
    const calls = a.messages.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []) : []));
    expect(a.rewind("no-such-call")).toBe(false);
    expect(a.rewind(calls[1]?.id ?? "")).toBe(true);
    expect(a.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "tool"]);
    expect(a.messages.at(-2)).toMatchObject({ tool_call_id: calls[0]?.id, content: expect.stringContaining("print('helo')") });
    expect(a.messages.at(-1)).toEqual({ role: "tool", tool_call_id: calls[1]?.id, content: "not run: the user restored the task to before this call" });
  });
});

describe("issue 15: edits stream into the diff", () => {
  const streamedEdit = (args: string, cut: number, released: Promise<void>, seen: { approvalsWhenShown: number }) => async (_req: unknown, res: import("node:http").ServerResponse) => {
    res.writeHead(200, { "Content-Type": "text/event-stream", "X-Swapd-Tier": "balanced" });
    const send = (value: unknown): boolean => res.write(`data: ${JSON.stringify(value)}\n\n`);
    send(chunk({ tool_calls: [{ index: 0, id: "c-edit", type: "function", function: { name: "edit_file", arguments: args.slice(0, cut) } }] }));
    // The rest of the call is written only once the diff is open: it opened while the call was incomplete.
    await released;
    seen.approvalsWhenShown = host.approvals.length;
    send(chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(cut) } }] }));
    send(chunk({}, "tool_calls"));
    res.end("data: [DONE]\n\n");
  };

  it("the diff opens once the path is known, before the call is complete; the question comes after, for that call", async () => {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    host.onPreview = (_id, change) => change && release();
    const seen = { approvalsWhenShown: -1 };
    const args = JSON.stringify({ path: "main.py", search: "helo", replace: "hello" });
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", streamedEdit(args, args.indexOf('"search"'), released, seen))
      .on("/v1/chat/completions", textAnswer("done"));
    await run(agent(), "fix");
    expect(host.previews[0]).toEqual(["c-edit", { path: "main.py", before: "print('helo')\n", after: "print('helo')\n", isNew: false }]);
    expect(seen.approvalsWhenShown).toBe(0);
    expect(events).toContainEqual({ type: "status", text: "balanced is writing a call to edit_file…" });
    expect(host.approvals).toEqual([expect.objectContaining({ kind: "edit", callId: "c-edit", change: expect.objectContaining({ after: "print('hello')\n" }) })]);
    expect(host.previews.at(-1)).toEqual(["c-edit", undefined]);
    expect(await fs.readFile(path.join(root, "main.py"), "utf8")).toBe("print('hello')\n");
  });

  it("a streamed edit that turns out invalid is never asked about, and its preview closes", async () => {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    host.onPreview = (_id, change) => change && release();
    const args = JSON.stringify({ path: "main.py", search: "not in the file", replace: "x" });
    server
      .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
      .on("/v1/chat/completions", streamedEdit(args, args.indexOf('"search"'), released, { approvalsWhenShown: -1 }))
      .on("/v1/chat/completions", textAnswer("sorry"));
    await run(agent(), "fix");
    expect(host.approvals).toEqual([]);
    expect(toolResults()[1]?.content).toMatch(/search text was not found/);
    expect(host.previews.at(-1)).toEqual(["c-edit", undefined]);
  });
});
