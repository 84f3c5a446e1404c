import * as fs from "node:fs/promises";
import * as path from "node:path";

import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Agent, type AgentEvent, type AgentSettings } from "../../src/core/agent.js";
import type { ChatMessage } from "../../src/core/llm.js";
import { DEFAULT_POLICY } from "../../src/core/policy.js";
import { SUMMARY_INSTRUCTION, type Summary, factChars, foldFacts, summaryMessage, summaryPieces } from "../../src/core/summary.js";
import { TOOLS } from "../../src/core/tools/registry.js";
import { FakeHost } from "../support/fakeHost.js";
import { FakeSwapd, type Recorded, json, textAnswer, toolCallAnswer, testLlm } from "../support/fakeServer.js";
import { tempDir } from "../support/tempdir.js";

const call = (id: string, name: string, args: unknown): ChatMessage => ({
  role: "assistant",
  content: null,
  tool_calls: [{ id, type: "function", function: { name, arguments: JSON.stringify(args) } }],
});

describe("the summary message", () => {
  it("keeps the latest request and the files touched, whatever the model writes", () => {
    const facts = foldFacts(
      undefined,
      [
      { role: "user", content: "rename foo to bar everywhere" },
      call("1", "read_file", { path: "a.py" }),
      { role: "tool", tool_call_id: "1", content: "..." },
      call("2", "edit_file", { path: "a.py", search: "foo", replace: "bar" }),
      { role: "tool", tool_call_id: "2", content: "edited" },
      call("3", "write_file", { path: "b.py", content: "bar" }),
      { role: "tool", tool_call_id: "3", content: "created" },
      ],
      2000,
    );
    expect(facts).toEqual({ task: "rename foo to bar everywhere", latest: undefined, changed: ["a.py", "b.py"], read: ["a.py"] });
    const text = summaryMessage({ ...facts, notes: "" }).content;
    expect(text).toContain("The user's request: rename foo to bar everywhere");
    expect(text).toContain("Files changed: a.py, b.py");
    expect(text).toContain("(no notes: the model wrote no summary)");
  });

  it("folding more in keeps the first request, adds the latest message, and cuts a very long one", () => {
    const previous: Summary = { task: "first", latest: undefined, changed: ["x"], read: [], notes: "n" };
    expect(foldFacts(previous, [call("1", "read_file", { path: "y" })], 2000)).toEqual({ task: "first", latest: undefined, changed: ["x"], read: ["y"] });
    const long = foldFacts(previous, [{ role: "user", content: `${"a".repeat(5000)}END` }], factChars(32768));
    expect(long.task).toBe("first");
    expect(long.latest?.length).toBeLessThan(2010);
    expect(long.latest?.endsWith("END")).toBe(true);
    expect(summaryMessage({ ...long, notes: "" }).content).toContain("The user's request: first\nThe user's latest message: aaa");
  });

  it("is the same bytes for the same summary (the cached prefix depends on it)", () => {
    fc.assert(
      fc.property(fc.option(fc.string(), { nil: undefined }), fc.array(fc.string()), fc.array(fc.string()), fc.string(), (task, changed, read, notes) => {
        const summary: Summary = { task, latest: task, changed, read, notes };
        expect(summaryMessage(summary)).toEqual(summaryMessage(structuredClone(summary)));
      }),
    );
  });

  it("pieces are runs of whole units, cover everything once, and fit unless one unit alone is too big", () => {
    const unit = fc.oneof(
      fc.constant<ChatMessage[]>([{ role: "user", content: "u" }]),
      fc.integer({ min: 1, max: 3 }).map((n): ChatMessage[] => {
        const ids = Array.from({ length: n }, (_, i) => `c${i}`);
        return [
          { role: "assistant", content: null, tool_calls: ids.map((id) => ({ id, type: "function" as const, function: { name: "read_file", arguments: "{}" } })) },
          ...ids.map((id): ChatMessage => ({ role: "tool", tool_call_id: id, content: "r" })),
        ];
      }),
    );
    fc.assert(
      fc.property(fc.array(unit, { minLength: 1, maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 40, maxLength: 40 }), fc.integer({ min: 1, max: 900 }), (units, counts, room) => {
        const messages = units.flat();
        const tokens = messages.map((_, i) => counts[i] ?? 1);
        const pieces = summaryPieces(messages, tokens, room);
        expect(pieces.flatMap(([from, to]) => messages.slice(from, to))).toEqual(messages);
        for (const [from, to] of pieces) {
          expect(messages[from]?.role).not.toBe("tool");
          expect(to === messages.length || messages[to]?.role !== "tool").toBe(true);
          const size = tokens.slice(from, to).reduce((a, b) => a + b, 0);
          const oneUnit = messages.slice(from + 1, to).every((m) => m.role === "tool");
          expect(size <= room || oneUnit).toBe(true);
        }
      }),
    );
  });
});

type SentMessage = { role: string; content: string | null; tool_call_id?: string; tool_calls?: { id: string }[] };
type SentBody = { messages: SentMessage[]; tools?: unknown; tool_choice?: string; max_tokens?: number; chat_template_kwargs?: unknown };

let server: FakeSwapd;
let root: string;
let events: AgentEvent[];
const settings: AgentSettings = { tier: "balanced", maxSteps: 20, policy: DEFAULT_POLICY, commandTimeoutMs: 5000, maxOutputBytes: 4000 };

const isSummaryRequest = (request: Recorded): boolean => (request.body as SentBody).tool_choice === "none";
const bodies = (): SentBody[] => server.chats().map((r) => r.body as SentBody);
const isSummaryMessage = (m: SentMessage | undefined): boolean => m?.role === "user" && (m.content ?? "").startsWith("[Summary of the earlier part");

function agent(): Agent {
  return new Agent({ llm: testLlm(server.url), host: new FakeHost(root), tools: TOOLS, workspaceName: "ws" });
}

/** The model reads each file in turn, then answers; `files` of about 1,200 characters each. */
async function readingTask(files: number): Promise<void> {
  for (let i = 0; i < files; i++) {
    await fs.writeFile(path.join(root, `part${i}.txt`), `part ${i}\n${"lorem ipsum dolor sit amet ".repeat(45)}\n`);
    server.on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: `part${i}.txt` } }]));
  }
  server.on("/v1/chat/completions", textAnswer("Read them all."));
}

beforeEach(async () => {
  server = new FakeSwapd();
  await server.start();
  root = await tempDir();
  events = [];
  // 4,096 tokens: the answer reserve leaves 3,072, which five of these reads overflow (the fake counts 4 chars a token).
  server.always("/props", (_req, res) => json(res, 200, { default_generation_settings: { n_ctx: 4096 } }));
});
afterEach(async () => {
  await server.close();
  await fs.rm(root, { recursive: true, force: true });
});

describe("a task longer than the window", () => {
  it("is summarized by the acting tier: whole units, cache-friendly request, then a stable prefix", async () => {
    let summaries = 0;
    server.route("/v1/chat/completions", isSummaryRequest, (req, res) =>
      textAnswer(`Task: read every part. Decisions: none. Open to-dos: the remaining parts (summary ${++summaries}).`)(req, res),
    );
    await readingTask(12);
    const a = agent();
    expect(await a.run("read every part file", settings, new AbortController().signal, (e) => events.push(e))).toBe("answered");
    expect(events.filter((e) => e.type === "error")).toEqual([]);

    const all = bodies();
    const summaryAt = all.flatMap((b, i) => (b.tool_choice === "none" ? [i] : []));
    expect(summaryAt.length).toBeGreaterThanOrEqual(1);
    // Same system prompt and tools in every request, summary requests included.
    expect(new Set(all.map((b) => JSON.stringify([b.messages[0], b.tools]))).size).toBe(1);
    for (const at of summaryAt) {
      const request = all[at];
      const before = all[at - 1];
      expect(request?.messages.at(-1)).toEqual({ role: "user", content: SUMMARY_INSTRUCTION });
      expect(request?.max_tokens).toBeGreaterThan(0);
      // No reasoning block: it would spend the summary's tokens (the prefix before the instruction is unchanged).
      expect(request?.chat_template_kwargs).toEqual({ enable_thinking: false });
      // The request that did not fit was the last one sent as is: the summary request starts with its messages.
      const folded = request?.messages.slice(0, -1) ?? [];
      expect(before?.messages.slice(0, folded.length)).toEqual(folded);
    }
    // After a summary, every request starts with the same bytes until the next summary.
    const acting = all.filter((b) => b.tool_choice !== "none");
    expect(acting.every((b) => b.chat_template_kwargs === undefined)).toBe(true);
    const withSummary = acting.filter((b) => isSummaryMessage(b.messages[1]));
    expect(withSummary.length).toBeGreaterThan(1);
    for (let i = 1; i < withSummary.length; i++) {
      const [prev, next] = [withSummary[i - 1], withSummary[i]];
      // Steps only append, so a request with the same summary extends the one before it.
      if (prev?.messages[1]?.content === next?.messages[1]?.content) expect(next?.messages.slice(0, prev?.messages.length)).toEqual(prev?.messages);
    }
    // Never an orphaned tool result, in any request.
    for (const body of all) {
      const calls = new Set(body.messages.flatMap((m) => (m.tool_calls ?? []).map((c) => c.id)));
      for (const m of body.messages) if (m.role === "tool") expect(calls.has(m.tool_call_id ?? "")).toBe(true);
    }
    const summary = events.filter((e): e is Extract<AgentEvent, { type: "summary" }> => e.type === "summary").at(-1);
    expect(summary?.text).toContain("The user's request: read every part file");
    expect(summary?.text).toMatch(/Files read: part0\.txt, part1\.txt/);
    expect(summary?.text).toContain(`(summary ${summaries})`);
    expect(acting.at(-1)?.messages[1]?.content).toBe(summary?.text);
  });

  it("a later summary folds in the earlier one", async () => {
    server.route("/v1/chat/completions", isSummaryRequest, (req, res) =>
      textAnswer(isSummaryMessage((req.body as SentBody).messages[1]) ? "second summary, building on the first" : "first summary")(req, res),
    );
    await readingTask(20);
    await agent().run("read every part file", settings, new AbortController().signal, (e) => events.push(e));
    const summaries = events.filter((e): e is Extract<AgentEvent, { type: "summary" }> => e.type === "summary");
    expect(summaries.length).toBeGreaterThanOrEqual(2);
    expect(summaries.at(-1)?.text).toContain("second summary, building on the first");
    expect(summaries.at(-1)?.messages).toBeGreaterThan(summaries[0]?.messages ?? 0);
  });

  it("a failed summary request keeps the task and the files, says so once, and the task goes on", async () => {
    server.route("/v1/chat/completions", isSummaryRequest, (_req, res) =>
      json(res, 500, { error: { message: "model crashed", type: "server_error", code: 500 } }),
    );
    await readingTask(8);
    expect(await agent().run("read every part file", settings, new AbortController().signal, (e) => events.push(e))).toBe("answered");
    const notices = events.filter((e) => e.type === "notice");
    expect(notices.length).toBeGreaterThanOrEqual(1);
    expect(notices[0]).toMatchObject({ text: expect.stringMatching(/^could not write a summary \(.*model crashed.*\); kept the task and the files touched instead$/) });
    const summary = events.filter((e): e is Extract<AgentEvent, { type: "summary" }> => e.type === "summary").at(-1);
    expect(summary?.text).toContain("The user's request: read every part file");
    expect(summary?.text).toContain("Files read: part0.txt");
  });

  it("restoring the task to a step the summary covers drops the summary; the next request has none", async () => {
    server.route("/v1/chat/completions", isSummaryRequest, (req, res) => textAnswer("notes")(req, res));
    await readingTask(8);
    const a = agent();
    await a.run("read every part file", settings, new AbortController().signal, (e) => events.push(e));
    expect(events.some((e) => e.type === "summary")).toBe(true);
    const first = a.messages.find((m) => m.role === "assistant" && m.tool_calls);
    expect(a.rewind(first?.role === "assistant" ? (first.tool_calls?.[0]?.id ?? "") : "")).toBe(true);
    server.on("/v1/chat/completions", textAnswer("from the start"));
    const before = server.chats().length;
    await a.run("go on", settings, new AbortController().signal, (e) => events.push(e));
    const sent = bodies()[before]?.messages ?? [];
    expect(sent.some(isSummaryMessage)).toBe(false);
    expect(sent[1]?.content).toBe("read every part file");
  });

  it("retry after a summary of the same turn starts again from the whole history", async () => {
    server.route("/v1/chat/completions", isSummaryRequest, (req, res) => textAnswer("notes")(req, res));
    await readingTask(8);
    const a = agent();
    await a.run("read every part file", settings, new AbortController().signal, (e) => events.push(e));
    expect(events.some((e) => e.type === "summary")).toBe(true);
    server.on("/v1/chat/completions", textAnswer("again"));
    const before = server.chats().length;
    await a.retry(settings, new AbortController().signal, (e) => events.push(e));
    const sent = bodies()[before]?.messages ?? [];
    expect(sent.map((m) => m.role)).toEqual(["system", "user"]);
    expect(sent[1]?.content).toBe("read every part file");
  });
});
