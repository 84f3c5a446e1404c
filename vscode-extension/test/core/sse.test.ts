import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { SseParser, type SseEvent } from "../../src/core/sse.js";

function parseAll(parts: readonly Uint8Array[]): SseEvent[] {
  const parser = new SseParser();
  return parts.flatMap((part) => parser.push(part));
}

describe("SseParser", () => {
  it("parses named events, multi-line data, comments and CRLF", () => {
    const text = ': keep-alive\r\nevent: state\r\ndata: {"a":1}\r\n\r\ndata: one\ndata: two\n\n';
    expect(parseAll([new TextEncoder().encode(text)])).toEqual([
      { event: "state", data: '{"a":1}' },
      { event: "message", data: "one\ntwo" },
    ]);
  });

  it("gives the same events however the bytes are split (including inside UTF-8 characters and CRLF)", () => {
    const event = fc.record({
      event: fc.constantFrom("", "state", "swap"),
      data: fc.string({ unit: "grapheme" }).map((s) => s.replace(/[\r\n]/g, " ")),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom("\n", "\r\n", "\r"), (events, cuts, eol) => {
        const text = events.map((e) => `${e.event ? `event: ${e.event}${eol}` : ""}data: ${e.data}${eol}${eol}`).join("");
        const bytes = new TextEncoder().encode(text);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const parts: Uint8Array[] = [];
        let last = 0;
        for (const point of points) {
          parts.push(bytes.slice(last, point));
          last = point;
        }
        parts.push(bytes.slice(last));
        expect(parseAll(parts)).toEqual(events.map((e) => ({ event: e.event || "message", data: e.data })));
      }),
    );
  });
});
