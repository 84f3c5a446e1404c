/**
 * A fake swapd on a real loopback HTTP server, speaking the wire formats of docs/architecture.md ("swapd's LAN
 * port", "swapd's control API") and of llama-server's OpenAI-compatible streaming chat
 * (https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md: /v1/chat/completions with
 * `stream: true`, /props, /tokenize, /infill). Each test queues the answers it wants per path.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

import { Llm } from "../../src/core/llm.js";
import { Transport } from "../../src/core/transport.js";

export interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

export type Handler = (request: Recorded, response: http.ServerResponse) => void | Promise<void>;

export class FakeSwapd {
  readonly requests: Recorded[] = [];
  private readonly queues = new Map<string, Handler[]>();
  private readonly defaults = new Map<string, Handler>();
  private readonly routes: { path: string; matches: (request: Recorded) => boolean; handler: Handler }[] = [];
  private readonly server: http.Server;
  private readonly open = new Set<http.ServerResponse>();
  url = "";

  constructor(readonly token = "test-key") {
    this.server = http.createServer((req, res) => {
      void this.dispatch(req, res);
    });
    this.defaults.set("/props", (_req, res) => json(res, 200, { default_generation_settings: { n_ctx: 32768 } }));
    this.defaults.set("/tokenize", (req, res) => {
      const content = (req.body as { content?: string }).content ?? "";
      json(res, 200, { tokens: Array.from({ length: Math.ceil(content.length / 4) }, (_, i) => i) });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const response of this.open) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Answer the next request to `path` with `handler` (FIFO). */
  on(path: string, handler: Handler): this {
    const queue = this.queues.get(path) ?? [];
    queue.push(handler);
    this.queues.set(path, queue);
    return this;
  }

  /** Answer every request to `path` that has nothing queued. */
  always(path: string, handler: Handler): this {
    this.defaults.set(path, handler);
    return this;
  }

  /** Answer every request to `path` that `matches` with `handler`, ahead of anything queued. */
  route(path: string, matches: (request: Recorded) => boolean, handler: Handler): this {
    this.routes.push({ path, matches, handler });
    return this;
  }

  chats(): Recorded[] {
    return this.requests.filter((r) => r.path === "/v1/chat/completions");
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const recorded: Recorded = {
      method: req.method ?? "GET",
      path,
      authorization: req.headers.authorization,
      body: text ? (JSON.parse(text) as unknown) : undefined,
    };
    this.requests.push(recorded);
    this.open.add(res);
    res.on("close", () => this.open.delete(res));
    if (path !== "/health" && req.headers.authorization !== `Bearer ${this.token}`) {
      json(res, 401, { error: { message: "invalid api key", type: "authentication_error", code: 401, source: "swapd" } });
      return;
    }
    const handler =
      this.routes.find((route) => route.path === path && route.matches(recorded))?.handler ?? this.queues.get(path)?.shift() ?? this.defaults.get(path);
    if (!handler) {
      json(res, 404, { error: { message: `no fake for ${path}`, type: "not_found", code: 404, source: "swapd" } });
      return;
    }
    await handler(recorded, res);
  }
}

export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** One streamed chat answer: each chunk is an OpenAI `chat.completion.chunk`, then `[DONE]`. */
export function sse(chunks: readonly unknown[], headers: Record<string, string> = { "X-Swapd-Tier": "balanced" }): Handler {
  return (_req, res) => {
    res.writeHead(200, { "Content-Type": "text/event-stream", ...headers });
    for (const chunk of chunks) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    res.end("data: [DONE]\n\n");
  };
}

export function chunk(delta: Record<string, unknown>, finishReason: string | null = null): unknown {
  return { id: "chatcmpl-1", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finishReason }] };
}

/** A plain text answer, split into a few deltas. */
export function textAnswer(text: string): Handler {
  const parts = text.match(/.{1,7}/gs) ?? [""];
  return sse([chunk({ role: "assistant", content: "" }), ...parts.map((p) => chunk({ content: p })), chunk({}, "stop")]);
}

/** Native tool calls, each call's arguments streamed in small pieces, as llama-server does with --jinja. */
export function toolCallAnswer(calls: readonly { name: string; args: unknown }[], content = ""): Handler {
  const chunks: unknown[] = [chunk({ role: "assistant", content })];
  calls.forEach((call, index) => {
    const args = JSON.stringify(call.args);
    chunks.push(chunk({ tool_calls: [{ index, id: `call_${index}_${call.name}`, type: "function", function: { name: call.name, arguments: "" } }] }));
    for (let at = 0; at < args.length; at += 5) {
      chunks.push(chunk({ tool_calls: [{ index, function: { arguments: args.slice(at, at + 5) } }] }));
    }
  });
  chunks.push(chunk({}, "tool_calls"));
  return sse(chunks);
}

/** An `Llm` on `baseUrl` that sends `key()` as its API key, with a 5 s idle watchdog: the client the tests drive. */
export function testLlm(baseUrl: string, key: () => string = () => "test-key"): Llm {
  return new Llm(new Transport({ baseUrl, credentials: { label: "API key", setCommand: "Variet: Set API Key", token: async () => key() }, idleTimeoutMs: 5000 }));
}
