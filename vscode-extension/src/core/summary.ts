/**
 * Long tasks: when the conversation outgrows the window, its oldest whole units are folded into one summary message,
 * written by the tier that is acting. The summary sits right after the system prompt and changes only when more is
 * folded into it, so the prefix (system prompt, tools, summary) is byte-identical from one request to the next and
 * llama.cpp's prompt cache keeps hitting. The task and the files touched are also kept by us, not only by the model,
 * so a weak summary cannot lose them.
 */
import { throwIfAborted } from "./errors.js";
import type { ChatMessage, Llm, ToolCall, ToolSchema } from "./llm.js";

export interface Summary {
  /** The user's first request in the conversation, in their words (cut when very long): the task. */
  readonly task: string | undefined;
  /** The user's latest message among the folded ones, when it is not the first. */
  readonly latest: string | undefined;
  /** Workspace paths changed (edit_file, write_file) and read (read_file), oldest first. */
  readonly changed: readonly string[];
  readonly read: readonly string[];
  /** What the model wrote: decisions, state, open to-dos. */
  readonly notes: string;
}

/** The last question of a summary request; the tools stay in the prompt, but the answer must be text. */
export const SUMMARY_INSTRUCTION = `The conversation above no longer fits your context window and is about to be replaced by a summary you write now. Do not call tools. Write only the summary, so that you can carry on from it alone, under these headings:
Task: what the user asked for, in their words where they matter.
Decisions: what was decided or found out, and why.
Files touched: each file read, changed or created, and what changed in it.
Open to-dos: what is left to do, in order.
At most 250 words.`;

const HEADER =
  "[Summary of the earlier part of this conversation, which no longer fits the context window. It is a record of what happened, not a new request.]";
/** Paths listed per kind; older ones beyond this are left to the model's notes. */
const MAX_PATHS = 40;
const CHANGING_TOOLS = new Set(["edit_file", "write_file"]);

/**
 * Characters kept of each of the user's requests: about a sixteenth of the window in tokens, at most 2,000. A longer
 * one is kept as its start and end; the model's notes say the rest.
 */
export function factChars(contextSize: number): number {
  return Math.max(200, Math.min(2000, Math.floor(contextSize / 4)));
}

/** Tokens a summary answer may use: an eighth of the window, at most 1024, so the kept history has room. */
export function summaryAnswerTokens(contextSize: number): number {
  return Math.max(64, Math.min(1024, Math.floor(contextSize / 8)));
}

/** The summary as the user message that follows the system prompt. Pure: the same summary gives the same bytes. */
export function summaryMessage(summary: Summary): Extract<ChatMessage, { role: "user" }> {
  const lines = [HEADER];
  if (summary.task !== undefined) lines.push(`The user's request: ${summary.task}`);
  if (summary.latest !== undefined) lines.push(`The user's latest message: ${summary.latest}`);
  if (summary.changed.length > 0) lines.push(`Files changed: ${summary.changed.join(", ")}`);
  if (summary.read.length > 0) lines.push(`Files read: ${summary.read.join(", ")}`);
  lines.push(summary.notes.trim() || "(no notes: the model wrote no summary)");
  return { role: "user", content: lines.join("\n") };
}

function pathOf(call: ToolCall): string | undefined {
  try {
    const args = JSON.parse(call.function.arguments) as unknown;
    const value = args && typeof args === "object" ? (args as Record<string, unknown>).path : undefined;
    return typeof value === "string" && value.trim() ? value.trim() : undefined;
  } catch {
    return undefined;
  }
}

function remember(list: readonly string[], path: string): string[] {
  return [...list.filter((p) => p !== path), path].slice(-MAX_PATHS);
}

function clipRequest(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const half = Math.floor(maxChars / 2);
  return `${text.slice(0, half)} […] ${text.slice(-half)}`;
}

/** The facts we keep ourselves: the first and latest requests and the files touched, folded over `messages`. */
export function foldFacts(previous: Summary | undefined, messages: readonly ChatMessage[], maxChars: number): Omit<Summary, "notes"> {
  let task = previous?.task;
  let latest = previous?.latest;
  let changed = [...(previous?.changed ?? [])];
  let read = [...(previous?.read ?? [])];
  for (const message of messages) {
    if (message.role === "user") {
      if (task === undefined) task = clipRequest(message.content, maxChars);
      else latest = clipRequest(message.content, maxChars);
    }
    if (message.role !== "assistant") continue;
    for (const call of message.tool_calls ?? []) {
      const path = pathOf(call);
      if (!path) continue;
      if (CHANGING_TOOLS.has(call.function.name)) changed = remember(changed, path);
      else if (call.function.name === "read_file") read = remember(read, path);
    }
  }
  return { task, latest, changed, read };
}

/** Unit start indexes within `messages` (a tool result belongs to the call before it). */
function unitBounds(messages: readonly ChatMessage[]): number[] {
  const starts = messages.flatMap((m, i) => (m.role !== "tool" || i === 0 ? [i] : []));
  return [...starts, messages.length];
}

/**
 * Split `messages` into runs of whole units whose tokens fit `room` each, oldest first. A unit bigger than `room` on
 * its own is a run by itself (its text is clipped before it is sent).
 */
export function summaryPieces(messages: readonly ChatMessage[], tokens: readonly number[], room: number): [number, number][] {
  const bounds = unitBounds(messages);
  const pieces: [number, number][] = [];
  let start = 0;
  let used = 0;
  for (let u = 0; u + 1 < bounds.length; u++) {
    const from = bounds[u] ?? 0;
    const to = bounds[u + 1] ?? messages.length;
    const size = tokens.slice(from, to).reduce((sum, n) => sum + n, 0);
    if (from > start && used + size > room) {
      pieces.push([start, from]);
      start = from;
      used = 0;
    }
    used += size;
  }
  if (start < messages.length) pieces.push([start, messages.length]);
  return pieces;
}

/** Shorten every string in a call's JSON arguments, keeping it valid JSON (chat templates parse it). */
function clipArguments(json: string, share: number): string {
  const clip = (value: unknown): unknown => {
    if (typeof value === "string") return value.length > 80 ? `${value.slice(0, Math.max(80, Math.floor(value.length * share)))}…` : value;
    if (Array.isArray(value)) return value.map(clip);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, clip(v)]));
    return value;
  };
  try {
    return JSON.stringify(clip(JSON.parse(json)));
  } catch {
    return "{}";
  }
}

/** The same messages with their text cut to about `share` of its length, for a summary request only. */
function clipMessages(messages: readonly ChatMessage[], share: number): ChatMessage[] {
  const cut = (text: string): string => (text.length > 200 ? `${text.slice(0, Math.max(200, Math.floor(text.length * share)))}\n[… cut for the summary]` : text);
  return messages.map((message): ChatMessage => {
    if (message.role === "assistant") {
      const calls = message.tool_calls?.map((call) => ({ ...call, function: { ...call.function, arguments: clipArguments(call.function.arguments, share) } }));
      return { role: "assistant", content: message.content === null ? null : cut(message.content), ...(calls ? { tool_calls: calls } : {}) };
    }
    if (message.role === "system") return message;
    return { ...message, content: cut(message.content) };
  });
}

export interface SummaryWriter {
  readonly llm: Llm;
  /** The acting tier: it writes the summary. */
  readonly tier: string;
  /** The request's own system prompt and tools, so a summary request reuses the prompt cache of the last step. */
  readonly system: ChatMessage;
  readonly tools: readonly ToolSchema[] | undefined;
  /** Prompt tokens a summary request may use beyond the system prompt, the tools and the template's overhead. */
  readonly room: number;
  readonly maxTokens: number;
  /** Characters kept of each of the user's requests (`factChars`). */
  readonly factChars: number;
  /** Tokens of one message as the chat template sends it. */
  readonly count: (message: ChatMessage) => Promise<number>;
  /** Prefill progress and swap waits, for the status line. */
  readonly onStatus: (text: string) => void;
}

/** Cut shares tried, in turn, for a unit too big for one summary request; the last keeps only each message's start. */
const CLIP_SHARES = [0.9, 0.45, 0.2, 0];

/**
 * Fold `messages` (whole units) into `previous`: one request per piece that fits, each folding into the summary so far.
 * Throws what the server throws (the caller keeps the facts and goes on); an empty answer keeps the notes so far.
 */
export async function writeSummary(writer: SummaryWriter, previous: Summary | undefined, messages: readonly ChatMessage[], signal: AbortSignal): Promise<Summary> {
  const instruction: ChatMessage = { role: "user", content: SUMMARY_INSTRUCTION };
  const instructionTokens = await writer.count(instruction);
  const tokens: number[] = [];
  for (const message of messages) tokens.push(await writer.count(message));
  const sizeOf = async (piece: readonly ChatMessage[]): Promise<number> => {
    let total = 0;
    for (const message of piece) total += await writer.count(message);
    return total;
  };
  let folded = previous;
  const roomAfter = async (summary: Summary | undefined): Promise<number> =>
    writer.room - instructionTokens - (summary ? await writer.count(summaryMessage(summary)) : 0);
  // Pieces are sized against the summary so far; a grown summary may leave a piece a little over, which clipping handles.
  for (const [from, to] of summaryPieces(messages, tokens, await roomAfter(previous))) {
    throwIfAborted(signal);
    // The summary so far, then the messages: the same prefix as the request that did not fit, so the cache hits.
    const head = folded ? [summaryMessage(folded)] : [];
    const room = await roomAfter(folded);
    const original = messages.slice(from, to);
    let piece = original;
    const size = tokens.slice(from, to).reduce((sum, n) => sum + n, 0);
    for (const share of size > room ? CLIP_SHARES : []) {
      piece = clipMessages(original, (share * Math.max(0, room)) / size);
      if ((await sizeOf(piece)) <= room) break;
    }
    const result = await writer.llm.chat(
      {
        tier: writer.tier,
        messages: [writer.system, ...head, ...piece, instruction],
        ...(writer.tools ? { tools: writer.tools, toolChoice: "none" as const } : {}),
        maxTokens: writer.maxTokens,
        // Reasoning would spend the summary's few tokens before it writes a word.
        thinking: false,
      },
      signal,
      (progress) => {
        if (progress.type === "status") writer.onStatus(progress.text);
      },
    );
    folded = { ...foldFacts(folded, original, writer.factChars), notes: result.content.trim() || (folded?.notes ?? "") };
  }
  return folded ?? { ...foldFacts(undefined, messages, writer.factChars), notes: "" };
}
