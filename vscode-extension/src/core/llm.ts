/**
 * OpenAI-compatible chat against swapd, streamed: content and reasoning deltas as they come, tool calls assembled
 * from argument deltas by index, prefill progress, and a wait-and-retry while swapd swaps tiers (503 + Retry-After).
 * Token counts and the context size come from llama-server itself (`/tokenize`, `/props`).
 */
import { randomUUID } from "node:crypto";

import { Aborted, ContextOverflow, ServerError, VarietError } from "./errors.js";
import { SseParser } from "./sse.js";
import { Transport, envelopeMessage } from "./transport.js";

export interface ToolCall {
  readonly id: string;
  readonly type: "function";
  readonly function: { readonly name: string; readonly arguments: string };
}

export type ChatMessage =
  | { readonly role: "system"; readonly content: string }
  | { readonly role: "user"; readonly content: string }
  | { readonly role: "assistant"; readonly content: string | null; readonly tool_calls?: readonly ToolCall[] }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string };

export interface ToolSchema {
  readonly type: "function";
  readonly function: { readonly name: string; readonly description: string; readonly parameters: object };
}

export interface ChatRequest {
  readonly tier: string;
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly ToolSchema[];
  /** "none": the tools stay in the prompt (so its cached prefix still matches) but the answer must be text. */
  readonly toolChoice?: "auto" | "none";
  readonly maxTokens?: number;
  /** false: ask the chat template to skip the reasoning block (`enable_thinking`), e.g. for a short summary. */
  readonly thinking?: boolean;
}

export interface ChatResult {
  readonly content: string;
  readonly reasoning: string;
  readonly toolCalls: ToolCall[];
  readonly finishReason: string | null;
  /** `X-Swapd-Tier`: the tier that actually served. */
  readonly servedBy: string | null;
  readonly promptTokens: number | null;
}

export type LlmProgress =
  | { readonly type: "content"; readonly delta: string }
  | { readonly type: "reasoning"; readonly delta: string }
  /** A native tool call as streamed so far: its id (fixed from the first delta), name and arguments text. */
  | { readonly type: "tool_call_delta"; readonly index: number; readonly id: string; readonly name: string; readonly arguments: string }
  | { readonly type: "status"; readonly text: string };

export interface LlmOptions {
  /** Longest total wait for swaps (503) before giving up. */
  readonly maxSwapWaitMs: number;
}

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Aborted());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Aborted());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Retry-After in seconds (the form swapd uses) or as an HTTP date; 1 s if absent or odd. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (!header) return 1000;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? 1000 : Math.max(0, date - now);
}

export class Llm {
  private readonly ctxSizes = new Map<string, number>();
  private readonly tokenCache = new Map<string, number>();

  constructor(
    private readonly transport: Transport,
    private readonly options: LlmOptions = { maxSwapWaitMs: 15 * 60_000 },
  ) {}

  async chat(request: ChatRequest, signal: AbortSignal, onProgress: (progress: LlmProgress) => void): Promise<ChatResult> {
    const body: Record<string, unknown> = {
      model: request.tier,
      messages: request.messages,
      stream: true,
      stream_options: { include_usage: true },
      // llama-server streams prefill progress; it keeps the watchdog fed and the user informed on long prompts.
      return_progress: true,
      cache_prompt: true,
    };
    if (request.tools && request.tools.length > 0) {
      body.tools = request.tools;
      body.tool_choice = request.toolChoice ?? "auto";
    }
    if (request.maxTokens) body.max_tokens = request.maxTokens;
    if (request.thinking !== undefined) body.chat_template_kwargs = { enable_thinking: request.thinking };

    const started = Date.now();
    for (;;) {
      const open = await this.transport.open("/v1/chat/completions", { method: "POST", body, signal, accept: "text/event-stream" });
      const status = open.response.status;
      if (status === 503) {
        const waitMs = retryAfterMs(open.response.headers.get("retry-after"));
        const text = await Transport.text(open).catch(() => "");
        if (Date.now() + waitMs - started > this.options.maxSwapWaitMs) {
          throw new ServerError(`swapd stayed busy for too long: ${envelopeMessage(text)}`, 503);
        }
        onProgress({ type: "status", text: `swapd is swapping tiers; retrying in ${Math.ceil(waitMs / 1000)} s` });
        await abortableDelay(waitMs, signal);
        continue;
      }
      if (!open.response.ok) {
        const error = await this.transport.failure(open);
        if (error.message.includes("exceed") && error.message.includes("context")) throw new ContextOverflow(error.message);
        throw error;
      }
      return this.readStream(open, onProgress);
    }
  }

  private async readStream(open: Awaited<ReturnType<Transport["open"]>>, onProgress: (progress: LlmProgress) => void): Promise<ChatResult> {
    const parser = new SseParser();
    let content = "";
    let reasoning = "";
    let finishReason: string | null = null;
    let promptTokens: number | null = null;
    const calls = new Map<number, PartialCall>();
    let done = false;
    for await (const chunk of open.chunks) {
      for (const event of parser.push(chunk)) {
        if (event.data === "[DONE]") {
          done = true;
          continue;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(event.data);
        } catch {
          throw new ServerError(`the server sent a malformed stream event: ${event.data.slice(0, 120)}`, 200);
        }
        const data = record(parsed);
        if (!data) continue;
        if (data.error !== undefined) {
          const message = envelopeMessage(event.data);
          if (/exceed/.test(message) && /context/.test(message)) throw new ContextOverflow(message);
          throw new ServerError(`the server failed mid-answer: ${message}`, 200);
        }
        const progress = record(data.prompt_progress);
        if (progress && typeof progress.total === "number" && typeof progress.processed === "number" && progress.total > 0) {
          onProgress({ type: "status", text: `reading the prompt ${Math.round((100 * progress.processed) / progress.total)}%` });
        }
        const usage = record(data.usage);
        if (usage && typeof usage.prompt_tokens === "number") promptTokens = usage.prompt_tokens;
        const choices = Array.isArray(data.choices) ? data.choices : [];
        const choice = record(choices[0]);
        if (!choice) continue;
        if (typeof choice.finish_reason === "string") finishReason = choice.finish_reason;
        const delta = record(choice.delta);
        if (!delta) continue;
        if (typeof delta.content === "string" && delta.content) {
          content += delta.content;
          onProgress({ type: "content", delta: delta.content });
        }
        if (typeof delta.reasoning_content === "string" && delta.reasoning_content) {
          reasoning += delta.reasoning_content;
          onProgress({ type: "reasoning", delta: delta.reasoning_content });
        }
        if (Array.isArray(delta.tool_calls)) {
          for (const raw of delta.tool_calls) {
            const part = record(raw);
            if (!part) continue;
            const index = typeof part.index === "number" ? part.index : calls.size;
            let call = calls.get(index);
            if (!call) {
              // The id is fixed here, so a preview opened mid-stream and the finished call agree on it.
              call = { id: typeof part.id === "string" && part.id ? part.id : `call_${randomUUID().slice(0, 8)}_${index}`, name: "", arguments: "" };
              calls.set(index, call);
            }
            const fn = record(part.function);
            if (fn && typeof fn.name === "string" && fn.name) call.name += fn.name;
            if (fn && typeof fn.arguments === "string") call.arguments += fn.arguments;
            onProgress({ type: "tool_call_delta", index, id: call.id, name: call.name, arguments: call.arguments });
          }
        }
      }
    }
    if (!done && finishReason === null) {
      throw new ServerError("the answer stream ended early (the server may have restarted); press retry", 200);
    }
    const toolCalls: ToolCall[] = [...calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, call]) => ({
        id: call.id,
        type: "function" as const,
        function: { name: call.name, arguments: call.arguments },
      }));
    return { content, reasoning, toolCalls, finishReason, servedBy: open.response.headers.get("x-swapd-tier"), promptTokens };
  }

  /** The tier's context window per slot, from llama-server's `/props`; cached per tier. */
  async contextSize(tier: string, signal: AbortSignal): Promise<number> {
    const cached = this.ctxSizes.get(tier);
    if (cached) return cached;
    const props = record(await this.transport.json(`/props?model=${encodeURIComponent(tier)}`, { method: "GET", signal }));
    const settings = record(props?.default_generation_settings);
    const nCtx = [settings?.n_ctx, props?.n_ctx].find((value): value is number => typeof value === "number" && value > 0);
    if (!nCtx) throw new VarietError("swapd's /props did not say the context size (n_ctx)");
    this.ctxSizes.set(tier, nCtx);
    return nCtx;
  }

  /** Forget cached sizes, e.g. after a swap changed what a tier runs with. */
  forgetContextSizes(): void {
    this.ctxSizes.clear();
  }

  /** Exact token count of a text by the serving model's tokenizer (`/tokenize`), cached by text. */
  async countTokens(tier: string, text: string, signal: AbortSignal): Promise<number> {
    const key = `${tier}\0${text}`;
    const cached = this.tokenCache.get(key);
    if (cached !== undefined) return cached;
    const answer = record(
      await this.transport.json("/tokenize", { method: "POST", body: { model: tier, content: text, add_special: false }, signal }),
    );
    const tokens = answer?.tokens;
    if (!Array.isArray(tokens)) throw new VarietError("swapd's /tokenize answered without a token list");
    if (this.tokenCache.size > 5000) this.tokenCache.clear();
    this.tokenCache.set(key, tokens.length);
    return tokens.length;
  }

  /**
   * Fill-in-the-middle through llama-server's `/infill` on `model`, a companion (never a tier: asking a tier would
   * swap); returns the middle text. A model without FIM tokens answers 501, an unknown name 404 (`ServerError.status`).
   */
  async infill(
    request: { model: string; prefix: string; suffix: string; maxTokens: number },
    signal: AbortSignal,
  ): Promise<string> {
    const answer = record(
      await this.transport.json("/infill", {
        method: "POST",
        body: {
          model: request.model,
          input_prefix: request.prefix,
          input_suffix: request.suffix,
          n_predict: request.maxTokens,
          cache_prompt: true,
          stream: false,
        },
        signal,
      }),
    );
    return typeof answer?.content === "string" ? answer.content : "";
  }

  /** The names and aliases of swapd's companions (`/v1/models` entries marked `companion`), which serve beside any tier. */
  async companionModels(signal: AbortSignal): Promise<Set<string>> {
    const answer = record(await this.transport.json("/v1/models", { method: "GET", signal }));
    const names = new Set<string>();
    for (const entry of Array.isArray(answer?.data) ? answer.data : []) {
      const model = record(entry);
      if (model?.companion !== true || typeof model.id !== "string") continue;
      names.add(model.id);
      for (const alias of Array.isArray(model.aliases) ? model.aliases : []) if (typeof alias === "string") names.add(alias);
    }
    return names;
  }
}
