import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { LOW_WATER, chooseCut, unitStarts } from "../../src/core/context.js";
import type { ChatMessage } from "../../src/core/llm.js";

/** Valid histories: user messages, plain answers, and assistant calls each followed by all of their results. */
const unit = fc.oneof(
  fc.constant<ChatMessage[]>([{ role: "user", content: "u" }]),
  fc.constant<ChatMessage[]>([{ role: "assistant", content: "a" }]),
  fc.integer({ min: 1, max: 3 }).map((n): ChatMessage[] => {
    const ids = Array.from({ length: n }, (_, i) => `c${i}`);
    return [
      { role: "assistant", content: null, tool_calls: ids.map((id) => ({ id, type: "function" as const, function: { name: "read_file", arguments: "{}" } })) },
      ...ids.map((id): ChatMessage => ({ role: "tool", tool_call_id: id, content: "r" })),
    ];
  }),
);
const history = fc
  .array(unit, { minLength: 1, maxLength: 12 })
  .map((units): ChatMessage[] => [{ role: "user", content: "task" }, ...units.flat()]);

describe("trimming", () => {
  it("never orphans a tool result, never drops the protected turn, and fits when it says so", () => {
    fc.assert(
      fc.property(
        history,
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 60, maxLength: 60 }),
        fc.integer({ min: 0, max: 4000 }),
        fc.integer({ min: 0, max: 300 }),
        fc.nat(),
        (messages, counts, budget, fixed, protectSeed) => {
          const tokens = messages.map((_, i) => counts[i] ?? 1);
          const userIndexes = messages.flatMap((m, i) => (m.role === "user" ? [i] : []));
          const protectFrom = userIndexes[protectSeed % userIndexes.length] ?? 0;
          const decision = chooseCut(tokens, messages, fixed, budget, 0, protectFrom);
          expect(decision.cut).toBeLessThanOrEqual(protectFrom);
          expect(messages[decision.cut]?.role).not.toBe("tool");
          const kept = messages.slice(decision.cut);
          const callIds = new Set(kept.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.id) : [])));
          for (const m of kept) if (m.role === "tool") expect(callIds.has(m.tool_call_id)).toBe(true);
          const total = fixed + tokens.slice(decision.cut).reduce((a, b) => a + b, 0);
          if (decision.fits) expect(total).toBeLessThanOrEqual(budget);
          else expect(decision.cut).toBe(unitStarts(messages).filter((s) => s <= protectFrom).pop());
        },
      ),
    );
  });

  it("keeps the previous cut while it fits, so the prompt prefix stays the same", () => {
    const messages: ChatMessage[] = [
      { role: "user", content: "1" },
      { role: "assistant", content: "2" },
      { role: "user", content: "3" },
      { role: "assistant", content: "4" },
      { role: "user", content: "5" },
    ];
    expect(chooseCut([10, 10, 10, 10, 10], messages, 0, 100, 2, 4)).toEqual({ cut: 2, fits: true });
  });

  it("cuts down to the low-water mark, not just under the budget", () => {
    const messages: ChatMessage[] = Array.from({ length: 10 }, (_, i): ChatMessage => ({ role: i % 2 ? "assistant" : "user", content: String(i) }));
    const decision = chooseCut(Array(10).fill(10) as number[], messages, 0, 95, 0, 8);
    expect(decision.fits).toBe(true);
    expect(100 - decision.cut * 10).toBeLessThanOrEqual(Math.floor(95 * LOW_WATER));
  });
});
