/** Messages between the chat view (extension host) and its webview. */
import type { AgentEvent } from "../core/agent.js";
import type { Checkpoint } from "../core/checkpoints.js";
import type { ChatMessage } from "../core/llm.js";

export type ToWebview =
  | { readonly type: "history"; readonly messages: readonly ChatMessage[]; readonly checkpoints?: readonly Checkpoint[] }
  | { readonly type: "event"; readonly event: AgentEvent }
  | { readonly type: "busy"; readonly busy: boolean }
  | { readonly type: "notice"; readonly text: string; readonly info?: boolean }
  /** Files were restored; `undo` is the checkpoint of the state just before, offered as an undo button. */
  | { readonly type: "restored"; readonly text: string; readonly undo: string };

export type FromWebview =
  | { readonly type: "ready" }
  | { readonly type: "send"; readonly text: string }
  | { readonly type: "stop" }
  | { readonly type: "retry" }
  | { readonly type: "newChat" }
  /** Restore the checkpoint taken before call `id`: the files, the task (the conversation cut there), or both. */
  | { readonly type: "restore"; readonly id: string; readonly what: RestoreWhat }
  | { readonly type: "diffCheckpoint"; readonly id: string };

export type RestoreWhat = "files" | "task" | "both";

export function isFromWebview(value: unknown): value is FromWebview {
  if (!value || typeof value !== "object" || !("type" in value)) return false;
  const type = value.type;
  if (type === "send") return typeof (value as { text?: unknown }).text === "string";
  if (type === "restore") {
    const { id, what } = value as { id?: unknown; what?: unknown };
    return typeof id === "string" && (what === "files" || what === "task" || what === "both");
  }
  if (type === "diffCheckpoint") return typeof (value as { id?: unknown }).id === "string";
  return type === "ready" || type === "stop" || type === "retry" || type === "newChat";
}
