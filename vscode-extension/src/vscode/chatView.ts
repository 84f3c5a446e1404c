/**
 * The sidebar chat: one agent per workspace, its events forwarded to the webview, stop and retry, and the
 * conversation (with whether untrusted content is in it) saved in workspaceState so it survives a reload.
 */
import * as path from "node:path";

import * as vscode from "vscode";

import { Agent, type AgentEvent, type AgentSettings } from "../core/agent.js";
import type { Checkpoint, Checkpoints } from "../core/checkpoints.js";
import { unitStarts } from "../core/context.js";
import type { Host } from "../core/host.js";
import type { ChatMessage, Llm } from "../core/llm.js";
import type { McpServers } from "../core/mcp.js";
import { TOOLS } from "../core/tools/registry.js";
import { VarietError } from "../core/errors.js";
import { type FromWebview, type RestoreWhat, type ToWebview, isFromWebview } from "../webview/protocol.js";
import { restoreFiles, showCheckpointDiff } from "./checkpointView.js";
import { readSettings } from "./settings.js";

export const HISTORY_KEY = "variet.history";
/** Set once untrusted content entered the saved conversation; edits and commands keep asking after a reload. */
export const UNTRUSTED_KEY = "variet.untrusted";
/** Saved messages per workspace; older ones are dropped whole units at a time. */
export const MAX_SAVED_MESSAGES = 400;
/** Captured command output kept per call; the rest is elided in the middle. */
const MAX_OUTPUT_BYTES = 16_000;

export interface ChatDeps {
  readonly extensionUri: vscode.Uri;
  readonly state: vscode.Memento;
  readonly host: Host | undefined;
  readonly llm: () => Llm;
  readonly onServedBy: (tier: string) => void;
  /** The workspace's checkpoint store (undefined without a folder). */
  readonly checkpoints?: Checkpoints;
  /** The MCP tool servers from `variet.mcpServers`, if any. */
  readonly mcp?: McpServers;
}

/** The size cap for restores and diffs when checkpoints are off (old ones can still be restored). */
const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;

/** The newest messages to keep, starting at a unit boundary so no saved tool result lacks its call. */
export function savedTail(messages: readonly ChatMessage[]): readonly ChatMessage[] {
  if (messages.length <= MAX_SAVED_MESSAGES) return messages;
  const start = unitStarts(messages).find((index) => index >= messages.length - MAX_SAVED_MESSAGES) ?? messages.length;
  return messages.slice(start);
}

export function agentSettings(): AgentSettings {
  const settings = readSettings();
  return {
    tier: settings.agentTier,
    ...(settings.planWithDeep && settings.agentTier !== "deep" ? { planTier: "deep" } : {}),
    maxSteps: settings.maxSteps,
    policy: settings.policy,
    commandTimeoutMs: settings.commandTimeoutMs,
    maxOutputBytes: MAX_OUTPUT_BYTES,
    checkpoints: settings.checkpoints,
  };
}

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private agent: Agent | undefined;
  private running: AbortController | undefined;
  private turn: Promise<unknown> | undefined;

  constructor(private readonly deps: ChatDeps) {}

  private ensureAgent(): Agent | undefined {
    if (this.agent || !this.deps.host) return this.agent;
    this.agent = new Agent({
      llm: this.deps.llm(),
      host: this.deps.host,
      tools: TOOLS,
      workspaceName: path.basename(this.deps.host.workspaceRoot),
      ...(this.deps.checkpoints ? { checkpoints: this.deps.checkpoints } : {}),
      ...(this.deps.mcp ? { mcp: this.deps.mcp } : {}),
    });
    this.agent.restore(this.deps.state.get<ChatMessage[]>(HISTORY_KEY) ?? [], this.deps.state.get<boolean>(UNTRUSTED_KEY) === true);
    return this.agent;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.deps.extensionUri, "dist");
    view.webview.options = { enableScripts: true, localResourceRoots: [media, vscode.Uri.joinPath(this.deps.extensionUri, "media")] };
    view.webview.html = this.html(view.webview);
    view.webview.onDidReceiveMessage((message: unknown) => {
      if (isFromWebview(message)) this.handle(message);
    });
  }

  /** Handle one message from the webview. Public for tests. */
  handle(message: FromWebview): void {
    switch (message.type) {
      case "ready":
        void this.postHistory();
        this.post({ type: "busy", busy: this.running !== undefined });
        if (!this.deps.host) this.post({ type: "notice", text: "Open a folder to use the Variet agent; its tools work inside the workspace." });
        return;
      case "send":
        if (message.text.trim()) this.start((agent, signal, emit) => agent.run(message.text.trim(), agentSettings(), signal, emit));
        return;
      case "retry":
        this.start((agent, signal, emit) => agent.retry(agentSettings(), signal, emit));
        return;
      case "stop":
        this.stop();
        return;
      case "newChat":
        this.newChat();
        return;
      case "restore":
        this.exclusive((signal) => this.restore(message.id, message.what, signal));
        return;
      case "diffCheckpoint":
        this.exclusive((signal) => this.diff(message.id, signal));
        return;
    }
  }

  /** The conversation with the checkpoints of its steps, for the webview to draw. */
  private async postHistory(): Promise<void> {
    const messages = this.ensureAgent()?.messages ?? [];
    const store = this.deps.checkpoints;
    // No await without a store, so the history goes out at once.
    const checkpoints = store ? await store.list().catch(() => undefined) : undefined;
    this.post({ type: "history", messages, ...(checkpoints ? { checkpoints } : {}) });
  }

  /** Run work that must not overlap another (a turn, a restore, a diff); Stop aborts it. */
  private exclusive(work: (signal: AbortSignal) => Promise<void>): void {
    if (this.running) {
      this.post({ type: "notice", text: "The agent is still working; stop it first." });
      return;
    }
    const controller = new AbortController();
    this.running = controller;
    this.post({ type: "busy", busy: true });
    this.turn = work(controller.signal)
      .catch((error: unknown) => {
        this.post({ type: "notice", text: error instanceof VarietError ? error.message : `internal error: ${String(error)}` });
      })
      .finally(() => {
        this.running = undefined;
        this.post({ type: "busy", busy: false });
      });
  }

  private async checkpointOf(id: string): Promise<Checkpoint | undefined> {
    return (await this.deps.checkpoints?.list())?.find((checkpoint) => checkpoint.id === id);
  }

  private async restore(id: string, what: RestoreWhat, signal: AbortSignal): Promise<void> {
    const store = this.deps.checkpoints;
    const agent = this.ensureAgent();
    if (!store || !agent) return;
    const checkpoint = await this.checkpointOf(id);
    const label = checkpoint?.label ?? "this step";
    if (what !== "task") {
      const result = await restoreFiles(store, id, readSettings().checkpoints?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, signal);
      if (!result) {
        this.post({ type: "notice", text: "Nothing was restored.", info: true });
        return;
      }
      const failed = result.failed.length > 0 ? ` Not removed (outside the workspace): ${result.failed.join(", ")}.` : "";
      const what = checkpoint?.kind === "restore" ? `Undid ${label}` : `Restored the files to before ${label}`;
      const text = `${what}: ${result.restored.length} put back, ${result.removed.length} removed.${failed}`;
      this.post(result.undo ? { type: "restored", text, undo: result.undo } : { type: "notice", text, info: true });
    }
    if (what === "files") return;
    if (!agent.rewind(id)) {
      this.post({ type: "notice", text: "That step is no longer in this conversation, so the task was not cut.", info: true });
      return;
    }
    await this.deps.state.update(HISTORY_KEY, savedTail(agent.messages));
    await this.postHistory();
  }

  private async diff(id: string, signal: AbortSignal): Promise<void> {
    const store = this.deps.checkpoints;
    if (!store) return;
    await showCheckpointDiff(store, id, (await this.checkpointOf(id))?.label ?? "this step", readSettings().checkpoints?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, signal);
  }

  stop(): void {
    this.running?.abort();
  }

  newChat(): void {
    this.stop();
    this.agent?.clear();
    void this.deps.state.update(HISTORY_KEY, []);
    void this.deps.state.update(UNTRUSTED_KEY, false);
    this.post({ type: "history", messages: [] });
  }

  /** Resolves when the current turn (if any) has finished. */
  async idle(): Promise<void> {
    await this.turn;
  }

  private start(run: (agent: Agent, signal: AbortSignal, emit: (event: AgentEvent) => void) => Promise<unknown>): void {
    const agent = this.ensureAgent();
    if (!agent) {
      this.post({ type: "notice", text: "Open a folder first: the agent only works inside a workspace." });
      return;
    }
    const emit = (event: AgentEvent): void => {
      if (event.type === "assistant_end" && event.servedBy) this.deps.onServedBy(event.servedBy);
      this.post({ type: "event", event });
    };
    this.exclusive(async (signal) => {
      try {
        await run(agent, signal, emit);
      } finally {
        await Promise.all([this.deps.state.update(HISTORY_KEY, savedTail(agent.messages)), this.deps.state.update(UNTRUSTED_KEY, agent.untrusted)]).then(
          undefined,
          (error: unknown) => {
            this.post({ type: "notice", text: `The conversation could not be saved: ${String(error)}` });
          },
        );
      }
    });
  }

  private post(message: ToWebview): void {
    void this.view?.webview.postMessage(message);
  }

  private html(webview: vscode.Webview): string {
    const nonce = Array.from({ length: 24 }, () => Math.floor(Math.random() * 36).toString(36)).join("");
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, "dist", "webview.js"));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, "media", "chat.css"));
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Variet</title>
</head>
<body>
<div id="log" role="log" aria-live="polite"></div>
<div id="status"></div>
<form id="composer">
  <textarea id="input" rows="3" placeholder="Ask the agent… (Enter to send, Shift+Enter for a new line)"></textarea>
  <div id="buttons">
    <button type="submit" id="send">Send</button>
    <button type="button" id="stop" disabled>Stop</button>
    <button type="button" id="retry">Retry</button>
    <button type="button" id="new">New chat</button>
  </div>
</form>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.stop();
  }
}
