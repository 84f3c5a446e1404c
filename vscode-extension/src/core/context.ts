/**
 * Fitting the conversation into the tier's context window. History is cut only at unit boundaries (a user
 * message, or an assistant message together with all its tool results), so a tool result is never orphaned
 * from its call, and cut down to a low-water mark so the kept prefix stays stable for llama.cpp's prompt cache.
 */
import type { ChatMessage } from "./llm.js";

/** Chat-template tokens around each message (role markers, separators); small and template-dependent. */
export const MESSAGE_OVERHEAD_TOKENS = 8;
/** When trimming, cut to this share of the budget, so the next few steps don't trim (and re-prefill) again. */
export const LOW_WATER = 0.7;

/** Start index of each unit: tool messages belong to the assistant message before them. */
export function unitStarts(history: readonly ChatMessage[]): number[] {
  const starts: number[] = [];
  history.forEach((message, index) => {
    if (message.role !== "tool" || index === 0) starts.push(index);
  });
  return starts;
}

/** Tokens the answer may use; kept free when trimming. */
export function answerReserve(contextSize: number): number {
  return Math.min(8192, Math.floor(contextSize / 4));
}

export interface TrimDecision {
  /** Number of leading history messages to leave out (always a unit start). */
  readonly cut: number;
  /** Whether the kept messages fit the budget. */
  readonly fits: boolean;
}

/**
 * Choose how many leading messages to drop. `cut` from the previous step is kept when everything still fits.
 * `protectFrom` (the turn's user message) and everything after it are never dropped.
 */
export function chooseCut(
  tokens: readonly number[],
  history: readonly ChatMessage[],
  fixedTokens: number,
  budget: number,
  previousCut: number,
  protectFrom: number,
): TrimDecision {
  const starts = unitStarts(history);
  const total = (from: number): number => fixedTokens + tokens.slice(from).reduce((sum, n) => sum + n, 0);
  const validPrevious = starts.includes(previousCut) || previousCut === 0 ? Math.min(previousCut, protectFrom) : 0;
  if (total(validPrevious) <= budget) return { cut: validPrevious, fits: true };
  const target = Math.floor(budget * LOW_WATER);
  let best = validPrevious;
  for (const start of starts) {
    if (start <= validPrevious) continue;
    if (start > protectFrom) break;
    best = start;
    if (total(start) <= target) return { cut: start, fits: true };
  }
  return { cut: best, fits: total(best) <= budget };
}
