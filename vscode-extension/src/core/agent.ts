/**
 * The coding agent's loop: ask the model, run its tool calls (asking the user where the policy says so), feed the
 * results back, until it answers without a call. It reports typed events and owns no UI and no storage.
 * The system prompt and tool list never change within a workspace, so llama.cpp's prompt cache keeps hitting.
 */
import { randomUUID } from "node:crypto";

import type { Checkpoint, Checkpoints } from "./checkpoints.js";
import { Aborted, ContextOverflow, ServerError, ToolFailed, VarietError, throwIfAborted } from "./errors.js";
import type { ApprovalAnswer, ApprovalRequest, Host } from "./host.js";
import { MESSAGE_OVERHEAD_TOKENS, answerReserve, chooseCut, unitStarts } from "./context.js";
import { EditPreviews } from "./editPreview.js";
import type { ChatMessage, ChatResult, Llm, ToolCall, ToolSchema } from "./llm.js";
import type { McpServers } from "./mcp.js";
import { type ApprovalPolicy, needsApproval, outboundReason, rejectionResult } from "./policy.js";
import { type Summary, factChars, foldFacts, summaryAnswerTokens, summaryMessage, writeSummary } from "./summary.js";
import { toolSchemas } from "./tools/registry.js";
import type { ReadLedger, Tool, ToolOutcome } from "./tools/tool.js";
import { extractLeakedCalls } from "./toolcalls.js";
import { isLabelledUntrusted } from "./untrusted.js";
import { Workspace, describeFsError } from "./workspace.js";

export type AgentEvent =
  | { readonly type: "status"; readonly text: string }
  | { readonly type: "assistant_start"; readonly tier: string }
  | { readonly type: "text"; readonly delta: string }
  | { readonly type: "reasoning"; readonly delta: string }
  | { readonly type: "assistant_end"; readonly servedBy: string | null }
  | { readonly type: "tool_call"; readonly id: string; readonly name: string; readonly arguments: string }
  | {
      readonly type: "tool_result";
      readonly id: string;
      readonly status: "ok" | "error" | "rejected";
      readonly content: string;
      /** Third-party text, labelled as data; edits and commands ask from here on. */
      readonly untrusted?: boolean;
    }
  /** A snapshot was taken before call `id` changes files or runs a command. */
  | { readonly type: "checkpoint"; readonly id: string; readonly checkpoint: Checkpoint }
  /** No snapshot could be taken before call `id`; the user is asked whatever the policy says. */
  | { readonly type: "checkpoint_failed"; readonly id: string; readonly message: string }
  /** The call waits for the user's yes; `what` says what to look at ("the edit to a.ts in the diff"). */
  | { readonly type: "awaiting_approval"; readonly id: string; readonly what: string }
  | { readonly type: "context"; readonly usedTokens: number; readonly contextSize: number; readonly droppedMessages: number }
  /** The oldest `messages` history messages are now sent as this one summary message. */
  | { readonly type: "summary"; readonly text: string; readonly messages: number }
  /** Something the user should know that does not end the turn. */
  | { readonly type: "notice"; readonly text: string }
  | { readonly type: "error"; readonly message: string }
  | { readonly type: "done"; readonly reason: StopReason };

export type StopReason = "answered" | "step_limit" | "repeated_call" | "aborted" | "error";

export interface AgentSettings {
  /** The tier that acts (runs tools). */
  readonly tier: string;
  /** When set, each turn starts with a plan written by this tier, without tools. */
  readonly planTier?: string;
  readonly maxSteps: number;
  readonly policy: ApprovalPolicy;
  readonly commandTimeoutMs: number;
  readonly maxOutputBytes: number;
  /** Caps each answer (llama.cpp's n_predict); unset, the server stops at end of turn or a full context. */
  readonly maxAnswerTokens?: number;
  /** Snapshot before each edit or command (needs `AgentDeps.checkpoints`); unset, checkpoints are off. */
  readonly checkpoints?: { readonly maxFileBytes: number };
}

/** How many identical calls (same tool, same arguments, nothing changed in between) before we intervene. */
export const REPEAT_WARN = 3;
export const REPEAT_STOP = 4;
/** A tool result longer than this is cut, so one huge output cannot flood a small context window. */
export const MAX_RESULT_CHARS = 24_000;

const SYSTEM_PROMPT = `You are Variet, a coding agent working inside the user's workspace through tools.
- Paths are relative to the workspace root. You cannot touch anything outside it.
- Read a file with read_file before editing it. Edit with edit_file: search must be copied exactly from the file and match once.
- Create new files with write_file. Run builds and tests with run_command. After editing, call get_diagnostics.
- The user approves edits and commands; if they reject one, do not repeat it: change course or ask.
- Call one tool at a time and wait for its result. When the task is done, answer briefly without calling a tool.`;

/** After a plan, so the request does not end on an assistant message (llama-server would continue it as a prefill). */
const ACT_INSTRUCTION = "Now carry out the plan above, one tool call at a time.";

const PLAN_INSTRUCTION =
  "Before acting: write a short numbered plan for the request above (files to read, changes, checks). Do not call tools and do not write the code yet.";

export function systemPrompt(workspaceName: string): string {
  // Only facts that stay fixed for the workspace: anything volatile here would bust the prompt cache on every turn.
  return `${SYSTEM_PROMPT}\nWorkspace: ${workspaceName}`;
}

function canonicalArguments(json: string): string {
  try {
    const sortKeys = (value: unknown): unknown =>
      value && typeof value === "object" && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sortKeys(v)]))
        : value;
    return JSON.stringify(sortKeys(JSON.parse(json)));
  } catch {
    return json.trim();
  }
}

/** How a step is named next to its checkpoint. */
function stepLabel(request: ApprovalRequest): string {
  switch (request.kind) {
    case "edit":
      return `${request.tool} ${request.change.path}`;
    case "command":
      return `${request.tool} ${request.command.length > 60 ? `${request.command.slice(0, 60)}…` : request.command}`;
    case "read":
      return request.summary;
    case "tool":
      return `${request.tool} ${request.arguments}`;
  }
}

/** What the user is asked to look at, for the chat's status line while the question is open. */
function approvalSubject(request: ApprovalRequest): string {
  switch (request.kind) {
    case "edit":
      return request.change.isNew ? `the new file ${request.change.path} in the diff` : `the edit to ${request.change.path} in the diff`;
    case "command":
      return `the command \`${request.command.length > 60 ? `${request.command.slice(0, 60)}…` : request.command}\``;
    case "read":
      return request.summary;
    case "tool":
      return `the call to ${request.tool}`;
  }
}

export interface AgentDeps {
  readonly llm: Llm;
  readonly host: Host;
  /** The built-in tools; MCP tools come from `mcp` and follow them in the list. */
  readonly tools: readonly Tool[];
  readonly workspaceName: string;
  readonly checkpoints?: Checkpoints;
  readonly mcp?: McpServers;
}

export class Agent {
  private history: ChatMessage[] = [];
  private readonly reads: ReadLedger = new Map();
  private readonly workspace: Workspace;
  private readonly system: string;
  /** Untrusted content has entered this conversation: edits, commands and outbound tools ask until a new chat. */
  private tainted = false;
  /** Leading history messages sent as `summary` instead; only grows within a conversation, so the prefix stays stable. */
  private cut = 0;
  private summary: Summary | undefined;
  /** Per tier: what the chat template adds beyond our per-message counts, learnt from the answers' `usage`. */
  private readonly templateTokens = new Map<string, number>();
  /** Edits shown while they stream, for the step in progress (only with a host that can show them). */
  private previews: EditPreviews | undefined;

  constructor(private readonly deps: AgentDeps) {
    this.workspace = new Workspace(deps.host.workspaceRoot);
    this.system = systemPrompt(deps.workspaceName);
  }

  get messages(): readonly ChatMessage[] {
    return this.history;
  }

  /** Whether untrusted content (a web page, a mail) is in this conversation; saved with it, so a reload keeps it. */
  get untrusted(): boolean {
    return this.tainted;
  }

  /** Restore a saved conversation; a trailing assistant call without results gets "not run" results. */
  restore(messages: readonly ChatMessage[], untrusted = false): void {
    this.history = [...messages];
    this.tainted = untrusted || messages.some((m) => m.role === "tool" && isLabelledUntrusted(m.content));
    this.cut = 0;
    this.summary = undefined;
    this.closeOpenCalls("not run: the conversation was interrupted");
  }

  /**
   * Cut the conversation back to just before call `id` ran (restore the task): its result and everything after it go,
   * and it and any later call of the same answer read as not run. False when no such call is in the history.
   */
  rewind(id: string): boolean {
    const owner = this.history.findIndex((m) => m.role === "assistant" && (m.tool_calls ?? []).some((c) => c.id === id));
    const message = this.history[owner];
    if (message?.role !== "assistant" || !message.tool_calls) return false;
    const earlier = new Set(message.tool_calls.slice(0, message.tool_calls.findIndex((c) => c.id === id)).map((c) => c.id));
    let at = owner + 1;
    while (this.history[at]?.role === "tool" && earlier.has((this.history[at] as { tool_call_id: string }).tool_call_id)) at++;
    this.history.splice(at);
    this.keepSummaryWithinHistory();
    // The files may be back as they were: edits need a fresh read.
    this.reads.clear();
    this.closeOpenCalls("not run: the user restored the task to before this call");
    return true;
  }

  clear(): void {
    this.history = [];
    this.tainted = false;
    this.reads.clear();
    this.cut = 0;
    this.summary = undefined;
  }

  /** Run one user turn. Never throws: failures end the turn with an `error` event and `done`. */
  async run(userText: string, settings: AgentSettings, signal: AbortSignal, emit: (event: AgentEvent) => void): Promise<StopReason> {
    this.history.push({ role: "user", content: userText });
    return this.turn(settings, signal, emit);
  }

  /** Run the last user message again, dropping whatever came after it. */
  async retry(settings: AgentSettings, signal: AbortSignal, emit: (event: AgentEvent) => void): Promise<StopReason> {
    const last = this.history.map((m) => m.role).lastIndexOf("user");
    if (last === -1) {
      emit({ type: "error", message: "nothing to retry" });
      emit({ type: "done", reason: "error" });
      return "error";
    }
    this.history.splice(last + 1);
    this.keepSummaryWithinHistory();
    return this.turn(settings, signal, emit);
  }

  /** After the history was cut back: a summary reaching its end may describe steps that are gone; write one anew. */
  private keepSummaryWithinHistory(): void {
    if (this.cut < this.history.length) return;
    this.cut = 0;
    this.summary = undefined;
  }

  private async turn(settings: AgentSettings, signal: AbortSignal, emit: (event: AgentEvent) => void): Promise<StopReason> {
    let reason: StopReason;
    try {
      reason = await this.loop(settings, signal, emit);
    } catch (error) {
      if (error instanceof Aborted || signal.aborted) {
        reason = "aborted";
      } else {
        reason = "error";
        emit({ type: "error", message: error instanceof VarietError ? error.message : `internal error: ${String(error)}` });
      }
    } finally {
      this.previews?.closeAll();
      this.previews = undefined;
      this.closeOpenCalls(signal.aborted ? "cancelled: the user stopped the agent" : "not run: the turn ended");
    }
    emit({ type: "done", reason });
    return reason;
  }

  private async loop(settings: AgentSettings, signal: AbortSignal, emit: (event: AgentEvent) => void): Promise<StopReason> {
    if (settings.planTier) {
      const plan = await this.ask(settings.planTier, false, settings.maxAnswerTokens, signal, emit, PLAN_INSTRUCTION);
      this.history.push({ role: "assistant", content: plan.content });
    }
    const seen = new Map<string, number>();
    let generation = 0;
    await this.deps.mcp?.start(signal);
    for (let step = 0; step < settings.maxSteps; step++) {
      this.previews?.closeAll();
      const host = this.deps.host;
      this.previews = host.preview ? new EditPreviews(this.workspace, (id, change) => host.preview?.(id, change)) : undefined;
      for (const text of this.deps.mcp?.takeNotices() ?? []) emit({ type: "notice", text });
      const byName = this.toolsByName();
      const afterPlan = this.history.at(-1)?.role === "assistant";
      const result = await this.ask(settings.tier, true, settings.maxAnswerTokens, signal, emit, afterPlan ? ACT_INSTRUCTION : undefined);
      let calls = result.toolCalls;
      let content = result.content;
      if (calls.length === 0) {
        const leaked = extractLeakedCalls(result.content, new Set(byName.keys()));
        // Calls in the reasoning count only when there is no answer: thinking often mentions a call it then decides against.
        const fromReasoning =
          leaked.calls.length === 0 && leaked.text.trim() === "" ? extractLeakedCalls(result.reasoning, new Set(byName.keys())) : undefined;
        const found = leaked.calls.length > 0 ? leaked.calls : (fromReasoning?.calls ?? []);
        if (leaked.calls.length > 0) content = leaked.text;
        calls = found.map((call, index) => ({
          // Unique across turns and restored histories: results and UI cards are matched by id.
          id: `leaked_${randomUUID().slice(0, 8)}_${index}`,
          type: "function" as const,
          function: { name: call.name, arguments: call.arguments },
        }));
      }
      if (calls.length === 0) {
        this.history.push({ role: "assistant", content });
        return "answered";
      }
      // Stored as native calls, so the chat template shows the model the proper format from here on.
      this.history.push({ role: "assistant", content: content || null, tool_calls: calls });
      for (const call of calls) {
        const key = `${generation}\0${call.function.name}\0${canonicalArguments(call.function.arguments)}`;
        const count = (seen.get(key) ?? 0) + 1;
        seen.set(key, count);
        emit({ type: "tool_call", id: call.id, name: call.function.name, arguments: call.function.arguments });
        if (count >= REPEAT_STOP) {
          this.pushResult(call, "error", "stopped: the same call was repeated with no change in between", emit);
          emit({ type: "error", message: `stopped: the model repeated the same ${call.function.name} call ${count} times` });
          return "repeated_call";
        }
        if (count >= REPEAT_WARN) {
          this.pushResult(
            call,
            "error",
            `you already made this exact ${call.function.name} call ${count - 1} times and the result will not change; do something different or answer`,
            emit,
          );
          continue;
        }
        const outcome = await this.execute(byName, call, settings, signal, emit);
        this.previews?.close(call.id);
        // A stop during the call (e.g. while a question was open) wins over whatever the tool returned.
        throwIfAborted(signal);
        if (outcome.status === "ok" && outcome.changedWorkspace) generation++;
        if (outcome.untrusted) this.tainted = true;
        this.pushResult(call, outcome.status, outcome.content, emit, outcome.untrusted === true);
      }
    }
    emit({ type: "error", message: `stopped after ${settings.maxSteps} steps (variet.maxSteps); say "continue" to go on` });
    return "step_limit";
  }

  /** The built-in tools, then the running MCP servers' tools: the same list (and bytes) until a server starts or stops. */
  private tools(): readonly Tool[] {
    const mcp = this.deps.mcp?.tools() ?? [];
    return mcp.length > 0 ? [...this.deps.tools, ...mcp] : this.deps.tools;
  }

  private toolsByName(): ReadonlyMap<string, Tool> {
    return new Map(this.tools().map((tool) => [tool.definition.name, tool]));
  }

  private pushResult(call: ToolCall, status: "ok" | "error" | "rejected", content: string, emit: (event: AgentEvent) => void, untrusted = false): void {
    let text = status === "error" ? `error: ${content}` : content;
    if (text.length > MAX_RESULT_CHARS) {
      text = `${text.slice(0, MAX_RESULT_CHARS)}\n[${text.length - MAX_RESULT_CHARS} more characters cut; ask for less at once]`;
    }
    this.history.push({ role: "tool", tool_call_id: call.id, content: text });
    emit({ type: "tool_result", id: call.id, status, content: text, ...(untrusted ? { untrusted } : {}) });
  }

  private async execute(
    byName: ReadonlyMap<string, Tool>,
    call: ToolCall,
    settings: AgentSettings,
    signal: AbortSignal,
    emit: (event: AgentEvent) => void,
  ): Promise<ToolOutcome> {
    const tool = byName.get(call.function.name);
    if (!tool) {
      return { status: "error", content: `unknown tool '${call.function.name}'; the tools are: ${[...byName.keys()].join(", ")}` };
    }
    const { name, kind } = tool.definition;
    // Set inside `approve`, which the tool calls at most once, right before it changes anything.
    const step: { checkpoint: "none" | "taken" | "failed"; approved: boolean } = { checkpoint: "none", approved: false };
    const approve = async (request: ApprovalRequest): Promise<ApprovalAnswer> => {
      let warning: string | undefined;
      if (kind === "edit" || kind === "command") {
        step.checkpoint = await this.checkpointBefore(call.id, stepLabel(request), settings, signal, emit);
        if (step.checkpoint === "failed") warning = "No checkpoint could be made before this step, so it could not be undone from the chat.";
      }
      if (warning === undefined && !needsApproval(settings.policy, kind, this.tainted)) {
        step.approved = true;
        return { approved: true };
      }
      emit({ type: "awaiting_approval", id: call.id, what: approvalSubject(request) });
      const answer = await this.deps.host.approve({ ...request, callId: call.id, ...(warning === undefined ? {} : { warning }) }, signal);
      step.approved = answer.approved;
      if (answer.approved && step.checkpoint === "taken") await this.checkpointApproved(call.id, settings, signal);
      return answer;
    };
    try {
      const args = tool.parse(call.function.arguments);
      // Edits and commands ask inside the tool, with the diff or the command line; the others ask here, up front.
      if (kind === "read" || kind === "outbound") {
        const request: ApprovalRequest =
          kind === "read"
            ? { kind: "read", tool: name, summary: `${name} ${JSON.stringify(args)}` }
            : { kind: "tool", tool: name, arguments: JSON.stringify(args), reason: outboundReason(this.tainted) };
        const answer = await approve(request);
        if (!answer.approved) return { status: "rejected", content: rejectionResult(name, answer.reason) };
      }
      return await tool.run(args, {
        workspace: this.workspace,
        host: this.deps.host,
        signal,
        reads: this.reads,
        approve,
        commandTimeoutMs: settings.commandTimeoutMs,
        maxOutputBytes: settings.maxOutputBytes,
      });
    } catch (error) {
      if (error instanceof Aborted || signal.aborted) throw new Aborted();
      if (error instanceof ToolFailed) return { status: "error", content: error.message };
      const message = describeFsError(error, this.workspace.root) ?? (error instanceof Error ? error.message : String(error));
      return { status: "error", content: `${call.function.name} failed: ${message}` };
    } finally {
      if (step.checkpoint === "taken") await this.checkpointAfter(call.id, step.approved, settings, signal);
    }
  }

  /** Snapshot before a step; a failure is reported, never thrown, so the step can still be asked about. */
  private async checkpointBefore(
    id: string,
    label: string,
    settings: AgentSettings,
    signal: AbortSignal,
    emit: (event: AgentEvent) => void,
  ): Promise<"none" | "taken" | "failed"> {
    const store = this.deps.checkpoints;
    if (!store || !settings.checkpoints) return "none";
    try {
      emit({ type: "checkpoint", id, checkpoint: await store.before(id, label, settings.checkpoints.maxFileBytes, signal) });
      return "taken";
    } catch (error) {
      if (error instanceof Aborted || signal.aborted) throw new Aborted();
      emit({ type: "checkpoint_failed", id, message: `no checkpoint: ${error instanceof VarietError ? error.message : String(error)}` });
      return "failed";
    }
  }

  /** After a yes to a question: the checkpoint is taken again, so what changed while the question was open is not the step's. */
  private async checkpointApproved(id: string, settings: AgentSettings, signal: AbortSignal): Promise<void> {
    const store = this.deps.checkpoints;
    if (!store || !settings.checkpoints) return;
    // On failure the first snapshot stays the checkpoint: what changed during the question then counts as the step's.
    await store.approved(id, settings.checkpoints.maxFileBytes, signal).catch(() => undefined);
  }

  /** Snapshot after a step that ran, so later outside changes are told apart; a step that did not run changed nothing. */
  private async checkpointAfter(id: string, ran: boolean, settings: AgentSettings, signal: AbortSignal): Promise<void> {
    const store = this.deps.checkpoints;
    if (!store || !settings.checkpoints) return;
    // Without the after-snapshot the step counts as changed by others when restoring: safe, only more questions.
    await (ran ? store.after(id, settings.checkpoints.maxFileBytes, signal) : store.didNotRun(id)).catch(() => undefined);
  }

  /** One model request over the history (its oldest part summarized when it does not fit); streams text to `emit`. */
  private async ask(
    tier: string,
    withTools: boolean,
    maxTokens: number | undefined,
    signal: AbortSignal,
    emit: (event: AgentEvent) => void,
    extraInstruction?: string,
  ): Promise<ChatResult> {
    const tools = withTools ? toolSchemas(this.tools()) : undefined;
    const tail: ChatMessage[] = extraInstruction ? [{ role: "user", content: extraInstruction }] : [];
    const { kept, estimate } = await this.fit(tier, tools, tail, signal, emit);
    emit({ type: "assistant_start", tier });
    const announced = new Set<number>();
    const result = await this.deps.llm.chat(
      { tier, messages: [{ role: "system", content: this.system }, ...kept, ...tail], ...(tools ? { tools } : {}), ...(maxTokens ? { maxTokens } : {}) },
      signal,
      (progress) => {
        if (progress.type === "content") emit({ type: "text", delta: progress.delta });
        else if (progress.type === "reasoning") emit({ type: "reasoning", delta: progress.delta });
        else if (progress.type === "status") emit({ type: "status", text: progress.text });
        else if (progress.type === "tool_call_delta") {
          if (progress.name && !announced.has(progress.index)) {
            announced.add(progress.index);
            emit({ type: "status", text: `${tier} is writing a call to ${progress.name}…` });
          }
          if (withTools) this.previews?.update(progress);
        }
      },
    );
    emit({ type: "assistant_end", servedBy: result.servedBy });
    if (result.promptTokens !== null && estimate !== undefined) this.templateTokens.set(tier, Math.max(0, result.promptTokens - estimate));
    // Cut off with nothing to show and no cap of ours: the context window is full.
    if (result.finishReason === "length" && maxTokens === undefined && result.toolCalls.length === 0 && result.content === "") {
      throw new ContextOverflow("the model ran out of room before answering; start a new chat or use a tier with a bigger context");
    }
    return result;
  }

  /**
   * The messages to send after the system prompt: the summary (if any) and the history since it. When they do not fit
   * `/props` n_ctx minus the answer reserve, the oldest whole units are folded into the summary, down to a low-water
   * mark, so the next steps append to a stable prefix. Counts come from llama-server.
   */
  private async fit(
    tier: string,
    tools: readonly ToolSchema[] | undefined,
    tail: readonly ChatMessage[],
    signal: AbortSignal,
    emit: (event: AgentEvent) => void,
  ): Promise<{ kept: ChatMessage[]; estimate?: number }> {
    let contextSize: number;
    const count = (text: string): Promise<number> => this.deps.llm.countTokens(tier, text, signal);
    const messageTokens = async (message: ChatMessage): Promise<number> => {
      const calls = message.role === "assistant" && message.tool_calls ? JSON.stringify(message.tool_calls) : "";
      return MESSAGE_OVERHEAD_TOKENS + (await count(`${message.content ?? ""}${calls}`));
    };
    const head = (): ChatMessage[] => (this.summary ? [summaryMessage(this.summary)] : []);
    let tokens: number[];
    let base: number;
    let fixed: number;
    try {
      contextSize = await this.deps.llm.contextSize(tier, signal);
      tokens = [];
      for (const message of this.history) tokens.push(await messageTokens(message));
      base = (await count(this.system)) + (tools ? await count(JSON.stringify(tools)) : 0) + MESSAGE_OVERHEAD_TOKENS;
      fixed = base;
      for (const message of tail) fixed += await messageTokens(message);
    } catch (error) {
      // A server without /props or /tokenize: send everything and let the server say if it is too long.
      if (error instanceof ServerError) {
        emit({ type: "status", text: "the server does not report its context size; sending the whole conversation" });
        return { kept: [...head(), ...this.history.slice(this.cut)] };
      }
      throw error;
    }
    const learnt = this.templateTokens.get(tier) ?? 0;
    base += learnt;
    fixed += learnt;
    const budget = contextSize - answerReserve(contextSize);
    const total = async (): Promise<number> => {
      const summary = this.summary ? await messageTokens(summaryMessage(this.summary)) : 0;
      return fixed + summary + tokens.slice(this.cut).reduce((sum, n) => sum + n, 0);
    };
    let used = await total();
    // Twice at most: the first summary may come out longer than the room kept for it.
    for (let round = 0; used > budget && round < 2; round++) {
      if (!(await this.summarize({ tier, tools, contextSize, budget, base, fixed, tokens, messageTokens, signal, emit }))) break;
      used = await total();
    }
    emit({ type: "context", usedTokens: used, contextSize, droppedMessages: this.cut });
    if (used > budget) {
      throw new ContextOverflow(
        `the request needs about ${used} tokens but the ${tier} tier holds ${contextSize}; start a new chat or ask for less at once`,
      );
    }
    return { kept: [...head(), ...this.history.slice(this.cut)], estimate: used - learnt };
  }

  /** Fold the oldest units into the summary, keeping at least the newest unit; false when nothing more can be folded. */
  private async summarize(fit: {
    tier: string;
    tools: readonly ToolSchema[] | undefined;
    contextSize: number;
    budget: number;
    /** System prompt, tools and the template's overhead: what a summary request shares with the real one. */
    base: number;
    /** `base` plus the request's own trailing instruction, if any. */
    fixed: number;
    tokens: readonly number[];
    messageTokens: (message: ChatMessage) => Promise<number>;
    signal: AbortSignal;
    emit: (event: AgentEvent) => void;
  }): Promise<boolean> {
    const newest = unitStarts(this.history).at(-1) ?? 0;
    const answerTokens = summaryAnswerTokens(fit.contextSize);
    // Room for the summary to come: the model's notes, at most its answer, and the facts we keep.
    const chars = factChars(fit.contextSize);
    const facts = foldFacts(this.summary, this.history.slice(this.cut, newest), chars);
    const reserve = answerTokens + (await fit.messageTokens(summaryMessage({ ...facts, notes: "" })));
    const decision = chooseCut(fit.tokens, this.history, fit.fixed + reserve, fit.budget, this.cut, newest);
    if (!decision.fits || decision.cut <= this.cut) return false;
    const folded = this.history.slice(this.cut, decision.cut);
    fit.emit({ type: "status", text: `the conversation outgrew the ${fit.tier} tier's window; summarizing its oldest part` });
    let summary: Summary;
    try {
      summary = await writeSummary(
        {
          llm: this.deps.llm,
          tier: fit.tier,
          system: { role: "system", content: this.system },
          tools: fit.tools,
          // Like any request: the prompt within the budget, the answer (smaller than the reserve) in the reserve.
          room: fit.budget - fit.base,
          maxTokens: answerTokens,
          factChars: chars,
          count: fit.messageTokens,
          onStatus: (text) => fit.emit({ type: "status", text }),
        },
        this.summary,
        folded,
        fit.signal,
      );
    } catch (error) {
      if (error instanceof Aborted || fit.signal.aborted || !(error instanceof VarietError)) throw error;
      summary = { ...foldFacts(this.summary, folded, chars), notes: this.summary?.notes ?? "" };
      fit.emit({ type: "notice", text: `could not write a summary (${error.message}); kept the task and the files touched instead` });
    }
    this.summary = summary;
    this.cut = decision.cut;
    const message = summaryMessage(summary);
    fit.emit({ type: "summary", text: message.content, messages: this.cut });
    return true;
  }

  /** Give every tool call without a result one, so the history never holds an unanswered call. */
  private closeOpenCalls(why: string): void {
    const answered = new Set(this.history.flatMap((m) => (m.role === "tool" ? [m.tool_call_id] : [])));
    for (let i = this.history.length - 1; i >= 0; i--) {
      const message = this.history[i];
      if (message?.role !== "assistant" || !message.tool_calls) continue;
      const missing = message.tool_calls.filter((call) => !answered.has(call.id));
      if (missing.length === 0) return;
      // Results go right after the assistant message's existing results.
      let at = i + 1;
      while (this.history[at]?.role === "tool") at++;
      this.history.splice(at, 0, ...missing.map((call) => ({ role: "tool" as const, tool_call_id: call.id, content: why })));
      return;
    }
  }
}
