/**
 * Fill-in-the-middle completions through llama-server's `/infill` on the swapd companion named by
 * `variet.completion.model`: a code model that runs beside every tier, so completions work whatever tier is active
 * and never cause a swap. The name is checked against swapd's companions before the first request, so a tier name is
 * never asked (it would swap on every keystroke). A setting that cannot work (not a companion, unknown to swapd, or a
 * model without FIM tokens: 501) is reported once and completions stay off until the setting or the server changes.
 */
import * as vscode from "vscode";

import { ServerError } from "../core/errors.js";
import type { Llm } from "../core/llm.js";
import { readSettings } from "./settings.js";

const PREFIX_CHARS = 6000;
const SUFFIX_CHARS = 2000;
const MAX_TOKENS = 64;
/** Quiet time after the last keystroke before asking, so typing does not queue requests. */
const DEBOUNCE_MS = 250;
const SETTING = "variet.completion.model";

export class InfillProvider implements vscode.InlineCompletionItemProvider {
  /** The request in flight; a newer keystroke makes it outdated. */
  private current: AbortController | undefined;
  /** `server\0model` checked to be a companion. */
  private verified: string | undefined;
  /** `server\0model` that cannot work: no more requests until the setting or the server changes. */
  private refused: string | undefined;

  constructor(private readonly llm: () => Llm) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    _context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[]> {
    const settings = readSettings();
    const model = settings.completionModel;
    const key = `${settings.serverUrl}\0${model}`;
    if (!settings.inlineCompletions || !model || this.refused === key) return [];
    this.current?.abort();
    const controller = new AbortController();
    this.current = controller;
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
      const llm = this.llm();
      if (this.verified !== key) {
        const companions = await llm.companionModels(controller.signal);
        if (!companions.has(model)) {
          const known = companions.size ? `swapd's companions: ${[...companions].join(", ")}` : "swapd has no companions";
          this.refuse(key, `"${model}" is not a companion model on swapd (${known})`);
          return [];
        }
        this.verified = key;
      }
      const offset = document.offsetAt(position);
      const text = document.getText();
      const prefix = text.slice(Math.max(0, offset - PREFIX_CHARS), offset);
      const suffix = text.slice(offset, offset + SUFFIX_CHARS);
      const middle = await llm.infill({ model, prefix, suffix, maxTokens: MAX_TOKENS }, controller.signal);
      if (!middle.trim()) return [];
      return [new vscode.InlineCompletionItem(middle, new vscode.Range(position, position))];
    } catch (error) {
      if (error instanceof ServerError && (error.status === 501 || error.status === 404)) {
        this.refuse(key, error.status === 501 ? `"${model}" cannot fill in the middle (${error.message})` : error.message);
      }
      // Anything else is simply not shown; the chat reports connection problems.
      return [];
    } finally {
      if (this.current === controller) this.current = undefined;
      subscription.dispose();
    }
  }

  private refuse(key: string, why: string): void {
    this.refused = key;
    void vscode.window.showWarningMessage(`Variet: inline completions are off: ${why}. Set ${SETTING} to a companion that has FIM tokens.`);
  }
}
