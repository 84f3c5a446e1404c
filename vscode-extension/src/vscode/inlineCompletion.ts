/**
 * Fill-in-the-middle completions through llama-server's `/infill` on the fast tier. They are offered only while
 * swapd reports fast as the active, ready tier: asking for fast otherwise would make swapd swap on every keystroke.
 */
import * as vscode from "vscode";

import type { Llm } from "../core/llm.js";
import { readSettings } from "./settings.js";

const PREFIX_CHARS = 6000;
const SUFFIX_CHARS = 2000;
const MAX_TOKENS = 64;
/** Quiet time after the last keystroke before asking, so typing does not queue requests. */
const DEBOUNCE_MS = 250;

export class InfillProvider implements vscode.InlineCompletionItemProvider {
  constructor(
    private readonly llm: () => Llm,
    private readonly activeReadyTier: () => string | undefined,
  ) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    _context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[]> {
    if (!readSettings().inlineCompletions || this.activeReadyTier() !== "fast") return [];
    const controller = new AbortController();
    const subscription = token.onCancellationRequested(() => controller.abort());
    try {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DEBOUNCE_MS);
        controller.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (controller.signal.aborted) return [];
      const offset = document.offsetAt(position);
      const text = document.getText();
      const prefix = text.slice(Math.max(0, offset - PREFIX_CHARS), offset);
      const suffix = text.slice(offset, offset + SUFFIX_CHARS);
      const middle = await this.llm().infill({ tier: "fast", prefix, suffix, maxTokens: MAX_TOKENS }, controller.signal);
      if (!middle.trim()) return [];
      return [new vscode.InlineCompletionItem(middle, new vscode.Range(position, position))];
    } catch {
      // A completion that fails is simply not shown; the chat reports connection problems.
      return [];
    } finally {
      subscription.dispose();
    }
  }
}
