import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Aborted, ServerError, ServerUnreachable, StreamStalled, Unauthorized } from "../../src/core/errors.js";
import { Llm, type LlmProgress, retryAfterMs } from "../../src/core/llm.js";
import { Transport } from "../../src/core/transport.js";
import { FakeSwapd, chunk, json, sse, textAnswer, toolCallAnswer } from "../support/fakeServer.js";

let server: FakeSwapd;

function llm(options: { key?: string; idleMs?: number; url?: string } = {}): Llm {
  return new Llm(
    new Transport({
      baseUrl: options.url ?? server.url,
      credentials: { label: "API key", setCommand: "Variet: Set API Key", token: async () => options.key ?? "test-key" },
      idleTimeoutMs: options.idleMs ?? 10_000,
    }),
  );
}

const request = { tier: "balanced", messages: [{ role: "user" as const, content: "hi" }] };

beforeEach(async () => {
  server = new FakeSwapd();
  await server.start();
});
afterEach(async () => {
  await server.close();
});

describe("chat streaming", () => {
  it("streams content deltas and reports the serving tier", async () => {
    server.on("/v1/chat/completions", textAnswer("Hello from the balanced tier"));
    const progress: LlmProgress[] = [];
    const result = await llm().chat(request, new AbortController().signal, (p) => progress.push(p));
    expect(result.content).toBe("Hello from the balanced tier");
    expect(progress.filter((p) => p.type === "content").length).toBeGreaterThan(1);
    expect(result.servedBy).toBe("balanced");
    expect(result.finishReason).toBe("stop");
    const sent = server.chats()[0]?.body as Record<string, unknown>;
    expect(sent.model).toBe("balanced");
    expect(sent.stream).toBe(true);
    expect(server.chats()[0]?.authorization).toBe("Bearer test-key");
  });

  it("assembles parallel tool calls from argument deltas by index", async () => {
    server.on(
      "/v1/chat/completions",
      toolCallAnswer([
        { name: "read_file", args: { path: "src/a.ts", start: 1 } },
        { name: "search", args: { query: "needle \"quoted\" ü" } },
      ]),
    );
    const result = await llm().chat(request, new AbortController().signal, () => undefined);
    expect(result.toolCalls.map((c) => c.function.name)).toEqual(["read_file", "search"]);
    expect(JSON.parse(result.toolCalls[0]?.function.arguments ?? "")).toEqual({ path: "src/a.ts", start: 1 });
    expect(JSON.parse(result.toolCalls[1]?.function.arguments ?? "")).toEqual({ query: 'needle "quoted" ü' });
    expect(result.toolCalls[0]?.id).toBe("call_0_read_file");
  });

  it("interleaved deltas for two indices land in the right calls", async () => {
    server.on(
      "/v1/chat/completions",
      sse([
        chunk({ tool_calls: [{ index: 1, id: "b", function: { name: "list_files", arguments: '{"glob"' } }] }),
        chunk({ tool_calls: [{ index: 0, id: "a", function: { name: "read_file", arguments: '{"path":' } }] }),
        chunk({ tool_calls: [{ index: 1, function: { arguments: ':"*.md"}' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] }),
        chunk({}, "tool_calls"),
      ]),
    );
    const result = await llm().chat(request, new AbortController().signal, () => undefined);
    expect(result.toolCalls.map((c) => [c.id, c.function.arguments])).toEqual([
      ["a", '{"path":"x"}'],
      ["b", '{"glob":"*.md"}'],
    ]);
  });

  it("reports reasoning and prefill progress separately from content", async () => {
    server.on(
      "/v1/chat/completions",
      sse([{ prompt_progress: { total: 100, processed: 40, cache: 0, time_ms: 5 } }, chunk({ reasoning_content: "let me think" }), chunk({ content: "done" }, "stop")]),
    );
    const progress: LlmProgress[] = [];
    const result = await llm().chat(request, new AbortController().signal, (p) => progress.push(p));
    expect(result.reasoning).toBe("let me think");
    expect(result.content).toBe("done");
    expect(progress).toContainEqual({ type: "status", text: "reading the prompt 40%" });
  });

  it("a malformed stream event is a clear error, not a crash", async () => {
    server.on("/v1/chat/completions", (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      res.end("data: {not json\n\n");
    });
    await expect(llm().chat(request, new AbortController().signal, () => undefined)).rejects.toThrow(/malformed stream event/);
  });

  it("an error event mid-stream becomes a ServerError with the server's message", async () => {
    server.on("/v1/chat/completions", sse([chunk({ content: "par" }), { error: { message: "slot crashed", code: 500 } }]));
    await expect(llm().chat(request, new AbortController().signal, () => undefined)).rejects.toThrow(/slot crashed/);
  });

  it("a stream cut off before finishing says so", async () => {
    server.on("/v1/chat/completions", (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      res.end(`data: ${JSON.stringify(chunk({ content: "half" }))}\n\n`);
    });
    await expect(llm().chat(request, new AbortController().signal, () => undefined)).rejects.toThrow(/ended early/);
  });
});

describe("swaps, keys and reachability", () => {
  it("waits and retries on 503 with Retry-After during a swap, telling the user", async () => {
    const busy = { error: { message: "swap in progress", type: "unavailable", code: 503, source: "swapd" } };
    server.on("/v1/chat/completions", (_req, res) => json(res, 503, busy, { "Retry-After": "0" }));
    server.on("/v1/chat/completions", (_req, res) => json(res, 503, busy, { "Retry-After": "0" }));
    server.on("/v1/chat/completions", textAnswer("after the swap"));
    const progress: LlmProgress[] = [];
    const result = await llm().chat(request, new AbortController().signal, (p) => progress.push(p));
    expect(result.content).toBe("after the swap");
    expect(server.chats()).toHaveLength(3);
    expect(progress.filter((p) => p.type === "status" && p.text.includes("swapping tiers"))).toHaveLength(2);
  });

  it("gives up on 503 past the longest swap wait", async () => {
    server.always("/v1/chat/completions", (_req, res) => json(res, 503, { error: { message: "queue full" } }, { "Retry-After": "5" }));
    const client = new Llm(
      new Transport({ baseUrl: server.url, credentials: { label: "API key", setCommand: "x", token: async () => "test-key" }, idleTimeoutMs: 5000 }),
      { maxSwapWaitMs: 1000 },
    );
    await expect(client.chat(request, new AbortController().signal, () => undefined)).rejects.toThrow(/busy for too long: queue full/);
  });

  it("a wrong key is Unauthorized and names the command that fixes it", async () => {
    const error = await llm({ key: "wrong" }).chat(request, new AbortController().signal, () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Unauthorized);
    expect((error as Error).message).toContain('run "Variet: Set API Key"');
  });

  it("an unreachable swapd is ServerUnreachable with the URL", async () => {
    const url = server.url;
    await server.close();
    server = new FakeSwapd();
    await server.start();
    const error = await llm({ url }).chat(request, new AbortController().signal, () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerUnreachable);
    expect((error as Error).message).toContain(url);
    expect((error as Error).message).toContain("ECONNREFUSED");
  });

  it("a connection closed before the answer is sent once more, on a new connection", async () => {
    server.on("/v1/chat/completions", (_req, res) => void res.socket?.destroy());
    server.on("/v1/chat/completions", textAnswer("answered on a new connection"));
    const result = await llm().chat(request, new AbortController().signal, () => undefined);
    expect(result.content).toBe("answered on a new connection");
    expect(server.chats()).toHaveLength(2);
  });

  it("a second closed connection is not retried: the request fails with the cause", async () => {
    server.always("/v1/chat/completions", (_req, res) => void res.socket?.destroy());
    const error = await llm().chat(request, new AbortController().signal, () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerUnreachable);
    expect((error as Error).message).toContain("UND_ERR_SOCKET");
    expect(server.chats()).toHaveLength(2);
  });

  it("other error statuses carry the envelope's message", async () => {
    server.on("/v1/chat/completions", (_req, res) => json(res, 400, { error: { message: "unknown tier 'deeep'", source: "swapd" } }));
    const error = await llm().chat(request, new AbortController().signal, () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect((error as Error).message).toBe("swapd answered 400: unknown tier 'deeep'");
  });
});

describe("the idle watchdog and abort", () => {
  it("fires when the stream goes silent, not on total duration", async () => {
    server.on("/v1/chat/completions", (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      res.write(`data: ${JSON.stringify(chunk({ content: "start" }))}\n\n`);
      // ...and then nothing, like a wedged server.
    });
    const error = await llm({ idleMs: 150 }).chat(request, new AbortController().signal, () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StreamStalled);
    expect((error as Error).message).toMatch(/no data from swapd/);
  });

  it("fires while waiting for the response headers too", async () => {
    server.on("/v1/chat/completions", () => {
      // Never answers.
    });
    await expect(llm({ idleMs: 150 }).chat(request, new AbortController().signal, () => undefined)).rejects.toBeInstanceOf(StreamStalled);
  });

  it("abort mid-stream is Aborted", async () => {
    const controller = new AbortController();
    server.on("/v1/chat/completions", (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      res.write(`data: ${JSON.stringify(chunk({ content: "streaming" }))}\n\n`);
    });
    const result = llm().chat(request, controller.signal, (p) => {
      if (p.type === "content") controller.abort();
    });
    await expect(result).rejects.toBeInstanceOf(Aborted);
  });
});

describe("llama-server helpers", () => {
  it("reads n_ctx from /props and counts tokens with /tokenize, caching both", async () => {
    const client = llm();
    const signal = new AbortController().signal;
    expect(await client.contextSize("balanced", signal)).toBe(32768);
    expect(await client.contextSize("balanced", signal)).toBe(32768);
    expect(await client.countTokens("balanced", "12345678", signal)).toBe(2);
    expect(await client.countTokens("balanced", "12345678", signal)).toBe(2);
    expect(server.requests.filter((r) => r.path === "/props")).toHaveLength(1);
    expect(server.requests.filter((r) => r.path === "/tokenize")).toHaveLength(1);
  });

  it("infill posts prefix and suffix and returns the middle", async () => {
    server.on("/infill", (req, res) => {
      const body = req.body as { input_prefix: string; input_suffix: string; model: string };
      json(res, 200, { content: `${body.model}:${body.input_prefix.length}:${body.input_suffix.length}` });
    });
    expect(await llm().infill({ model: "fim", prefix: "abc", suffix: "de", maxTokens: 8 }, new AbortController().signal)).toBe("fim:3:2");
  });

  it("lists swapd's companions with their aliases from /v1/models, and no tiers", async () => {
    server.on("/v1/models", (_req, res) =>
      json(res, 200, {
        data: [
          { id: "fast", aliases: ["gemma"], state: "ready" },
          { id: "fim", aliases: ["coder", 7], companion: true },
          { id: "odd", companion: "yes" },
        ],
      }),
    );
    expect(await llm().companionModels(new AbortController().signal)).toEqual(new Set(["fim", "coder"]));
  });

  it("parses Retry-After as seconds or a date", () => {
    expect(retryAfterMs("3")).toBe(3000);
    expect(retryAfterMs(null)).toBe(1000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
  });
});
