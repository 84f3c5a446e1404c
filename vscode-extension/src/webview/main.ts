/** The chat webview: renders the conversation and streamed agent events; talks to the host only by messages. */
import MarkdownIt from "markdown-it";

import type { AgentEvent } from "../core/agent.js";
import type { Checkpoint } from "../core/checkpoints.js";
import type { ChatMessage } from "../core/llm.js";
import { isLabelledUntrusted } from "../core/untrusted.js";
import type { FromWebview, ToWebview } from "./protocol.js";

interface VsCodeApi {
  postMessage(message: FromWebview): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
// Raw HTML from the model is never rendered; links are plain text.
const markdown = new MarkdownIt({ html: false, linkify: false, breaks: false });

const log = document.getElementById("log") as HTMLDivElement;
const status = document.getElementById("status") as HTMLDivElement;
const form = document.getElementById("composer") as HTMLFormElement;
const input = document.getElementById("input") as HTMLTextAreaElement;
const stopButton = document.getElementById("stop") as HTMLButtonElement;
const sendButton = document.getElementById("send") as HTMLButtonElement;
const retryButton = document.getElementById("retry") as HTMLButtonElement;
const newButton = document.getElementById("new") as HTMLButtonElement;

let current: { element: HTMLDivElement; text: string; reasoning: HTMLDetailsElement | undefined; reasoningText: string } | undefined;
let renderPending = false;
const cards = new Map<string, HTMLDetailsElement>();
const checkpointBars = new Map<string, HTMLDivElement>();

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function scroll(): void {
  log.scrollTop = log.scrollHeight;
}

function addUser(text: string): void {
  log.append(element("div", "message user", text));
  scroll();
}

function startAssistant(tier: string): void {
  const wrapper = element("div", "message assistant");
  wrapper.append(element("div", "tier", tier));
  const body = element("div", "markdown");
  wrapper.append(body);
  log.append(wrapper);
  current = { element: body, text: "", reasoning: undefined, reasoningText: "" };
}

function renderCurrent(): void {
  renderPending = false;
  if (!current) return;
  current.element.innerHTML = markdown.render(current.text);
  scroll();
}

function appendText(delta: string): void {
  if (!current) startAssistant("");
  if (!current) return;
  current.text += delta;
  if (!renderPending) {
    renderPending = true;
    requestAnimationFrame(renderCurrent);
  }
}

function appendReasoning(delta: string): void {
  if (!current) startAssistant("");
  if (!current) return;
  if (!current.reasoning) {
    current.reasoning = element("details", "reasoning");
    current.reasoning.append(element("summary", "", "thinking"), element("pre", ""));
    current.element.before(current.reasoning);
  }
  current.reasoningText += delta;
  const pre = current.reasoning.querySelector("pre");
  if (pre) pre.textContent = current.reasoningText;
}

function summarize(name: string, args: string): string {
  try {
    const parsed = JSON.parse(args) as Record<string, unknown>;
    const key = ["path", "command", "query", "url", "glob"].find((k) => typeof parsed[k] === "string");
    return key ? `${name} ${String(parsed[key])}` : name;
  } catch {
    return name;
  }
}

function addCard(id: string, name: string, args: string): void {
  const card = element("details", "tool pending");
  card.append(element("summary", "", `⚙ ${summarize(name, args)}`));
  card.append(element("pre", "args", args));
  log.append(card);
  cards.set(id, card);
  scroll();
}

function finishCard(id: string, state: "ok" | "error" | "rejected", content: string, untrusted: boolean): void {
  const card = cards.get(id);
  if (!card) return;
  card.classList.remove("pending");
  card.classList.add(state);
  if (untrusted) card.classList.add("untrusted");
  const summary = card.querySelector("summary");
  const mark = state === "ok" ? "✓" : state === "rejected" ? "✗ rejected:" : "⚠";
  if (summary) summary.textContent = `${mark} ${summary.textContent?.replace(/^⚙ /, "") ?? ""}${untrusted ? " (untrusted content)" : ""}`;
  card.append(element("pre", "result", content));
}

const RESTORE_BUTTONS = [
  ["Restore files", "files"],
  ["Restore task", "task"],
  ["Restore both", "both"],
] as const;

/** The checkpoint taken before call `id`, drawn just above its card, with its restore and diff buttons. */
function addCheckpoint(id: string, checkpoint: Checkpoint): void {
  const card = cards.get(id);
  if (!card || checkpointBars.has(id)) return;
  const bar = element("div", "checkpoint");
  const label = element("span", "label", `⟲ checkpoint before ${checkpoint.label}`);
  if (checkpoint.skippedCount > 0) {
    label.textContent += ` (${checkpoint.skippedCount} left out)`;
    const more = checkpoint.skippedCount > checkpoint.skipped.length ? `\n… and ${checkpoint.skippedCount - checkpoint.skipped.length} more` : "";
    label.title = checkpoint.skipped.map((entry) => `${entry.path}: ${entry.reason}`).join("\n") + more;
  }
  bar.append(label);
  for (const [text, what] of RESTORE_BUTTONS) {
    const button = element("button", "", text);
    button.addEventListener("click", () => vscode.postMessage({ type: "restore", id, what }));
    bar.append(button);
  }
  const diff = element("button", "", "Diff with now");
  diff.addEventListener("click", () => vscode.postMessage({ type: "diffCheckpoint", id }));
  bar.append(diff);
  card.before(bar);
  checkpointBars.set(id, bar);
}

function checkpointFailed(id: string, message: string): void {
  cards.get(id)?.before(element("div", "checkpoint failed", `⚠ ${message}`));
}

function showError(text: string): void {
  log.append(element("div", "error", text));
  scroll();
}

function showNotice(text: string): void {
  log.append(element("div", "notice", text));
  scroll();
}

/** Older messages stay on screen; the card shows what the model now sees in their place. */
function addSummary(text: string, messages: number): void {
  const card = element("details", "summary");
  card.append(element("summary", "", `Summarized the ${messages} oldest messages to fit the context window`), element("pre", "", text));
  log.append(card);
  scroll();
}

function onEvent(event: AgentEvent): void {
  switch (event.type) {
    case "assistant_start":
      startAssistant(event.tier);
      status.textContent = `waiting for ${event.tier}…`;
      return;
    case "text":
      status.textContent = "";
      appendText(event.delta);
      return;
    case "reasoning":
      status.textContent = "thinking…";
      appendReasoning(event.delta);
      return;
    case "assistant_end":
      status.textContent = "";
      renderCurrent();
      if (current && current.text === "" && !current.reasoning) current.element.parentElement?.remove();
      current = undefined;
      return;
    case "tool_call":
      addCard(event.id, event.name, event.arguments);
      status.textContent = `${summarize(event.name, event.arguments)}…`;
      return;
    case "checkpoint":
      addCheckpoint(event.id, event.checkpoint);
      return;
    case "checkpoint_failed":
      checkpointFailed(event.id, event.message);
      return;
    case "awaiting_approval":
      cards.get(event.id)?.classList.add("awaiting");
      status.textContent = `waiting for your approval: ${event.what}`;
      return;
    case "tool_result":
      cards.get(event.id)?.classList.remove("awaiting");
      finishCard(event.id, event.status, event.content, event.untrusted === true);
      status.textContent = "";
      return;
    case "status":
      status.textContent = event.text;
      return;
    case "context":
      status.title = `context: ${event.usedTokens} of ${event.contextSize} tokens${event.droppedMessages ? `, the ${event.droppedMessages} oldest messages sent as a summary` : ""}`;
      return;
    case "error":
      showError(event.message);
      return;
    case "notice":
      showNotice(event.text);
      return;
    case "summary":
      addSummary(event.text, event.messages);
      return;
    case "done":
      status.textContent = event.reason === "aborted" ? "stopped" : "";
      return;
  }
}

function renderHistory(messages: readonly ChatMessage[], checkpoints: readonly Checkpoint[]): void {
  log.replaceChildren();
  cards.clear();
  checkpointBars.clear();
  for (const message of messages) {
    if (message.role === "user") addUser(message.content);
    else if (message.role === "assistant") {
      if (message.content) {
        startAssistant("");
        appendText(message.content);
        renderCurrent();
        current = undefined;
      }
      for (const call of message.tool_calls ?? []) addCard(call.id, call.function.name, call.function.arguments);
    } else if (message.role === "tool") {
      const state = message.content.startsWith("error:") ? "error" : message.content.startsWith("The user rejected") ? "rejected" : "ok";
      finishCard(message.tool_call_id, state, message.content, isLabelledUntrusted(message.content));
    }
  }
  for (const checkpoint of checkpoints) addCheckpoint(checkpoint.id, checkpoint);
}

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  switch (message.type) {
    case "history":
      renderHistory(message.messages, message.checkpoints ?? []);
      return;
    case "event":
      onEvent(message.event);
      return;
    case "busy":
      stopButton.disabled = !message.busy;
      sendButton.disabled = message.busy;
      retryButton.disabled = message.busy;
      document.body.classList.toggle("busy", message.busy);
      return;
    case "restored": {
      const line = element("div", "info", `${message.text} `);
      const undo = element("button", "undo", "Undo restore");
      undo.addEventListener("click", () => vscode.postMessage({ type: "restore", id: message.undo, what: "files" }));
      line.append(undo);
      log.append(line);
      scroll();
      return;
    }
    case "notice":
      if (message.info) {
        log.append(element("div", "info", message.text));
        scroll();
      } else showError(message.text);
      return;
  }
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  addUser(text);
  input.value = "";
  vscode.postMessage({ type: "send", text });
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});
stopButton.addEventListener("click", () => vscode.postMessage({ type: "stop" }));
retryButton.addEventListener("click", () => {
  // The host drops what followed the last user message; redraw from the host's copy when the turn ends.
  const users = log.querySelectorAll(".message.user");
  const last = users[users.length - 1];
  while (last?.nextSibling) last.nextSibling.remove();
  vscode.postMessage({ type: "retry" });
});
newButton.addEventListener("click", () => vscode.postMessage({ type: "newChat" }));

vscode.postMessage({ type: "ready" });
