/** Messages between the chat view (extension host) and its webview. */
import type { AgentEvent } from "../core/agent.js";
import type { ChatMessage } from "../core/llm.js";

export type ToWebview =
  | { readonly type: "history"; readonly messages: readonly ChatMessage[] }
  | { readonly type: "event"; readonly event: AgentEvent }
  | { readonly type: "busy"; readonly busy: boolean }
  | { readonly type: "notice"; readonly text: string };

export type FromWebview =
  | { readonly type: "ready" }
  | { readonly type: "send"; readonly text: string }
  | { readonly type: "stop" }
  | { readonly type: "retry" }
  | { readonly type: "newChat" };

export function isFromWebview(value: unknown): value is FromWebview {
  if (!value || typeof value !== "object" || !("type" in value)) return false;
  const type = value.type;
  if (type === "send") return typeof (value as { text?: unknown }).text === "string";
  return type === "ready" || type === "stop" || type === "retry" || type === "newChat";
}
