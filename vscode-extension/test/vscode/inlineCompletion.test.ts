import type * as vscode from "vscode";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Llm } from "../../src/core/llm.js";
import { Transport } from "../../src/core/transport.js";
import { InfillProvider } from "../../src/vscode/inlineCompletion.js";
import { FakeSwapd, json } from "../support/fakeServer.js";
import { InlineCompletionItem, Position, mock } from "../support/vscodeMock.js";

let server: FakeSwapd;
const text = "def add(a, b):\n    return \n\nprint(add(1, 2))\n";
const document = { getText: () => text, offsetAt: () => text.indexOf("return ") + "return ".length } as unknown as vscode.TextDocument;
const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) } as unknown as vscode.CancellationToken;

function provider(activeTier: string | undefined): InfillProvider {
  const llm = new Llm(new Transport({ baseUrl: server.url, credentials: { label: "API key", setCommand: "x", token: async () => "test-key" }, idleTimeoutMs: 5000 }));
  return new InfillProvider(() => llm, () => activeTier);
}

beforeEach(async () => {
  mock.reset();
  mock.config.set("variet.inlineCompletions", true);
  server = new FakeSwapd();
  await server.start();
});
afterEach(async () => {
  await server.close();
});

describe("fill-in-the-middle", () => {
  it("asks /infill on the fast tier with the text around the cursor", async () => {
    server.on("/infill", (_req, res) => json(res, 200, { content: "a + b" }));
    const items = await provider("fast").provideInlineCompletionItems(document, new Position(1, 11) as unknown as vscode.Position, {} as vscode.InlineCompletionContext, token);
    expect(items).toHaveLength(1);
    expect((items[0] as unknown as InlineCompletionItem).insertText).toBe("a + b");
    expect(server.requests[0]?.body).toMatchObject({ model: "fast", input_prefix: "def add(a, b):\n    return ", input_suffix: "\n\nprint(add(1, 2))\n" });
  });

  it("stays quiet unless fast is the active tier (no swap per keystroke) or when turned off", async () => {
    const position = new Position(1, 11) as unknown as vscode.Position;
    expect(await provider("balanced").provideInlineCompletionItems(document, position, {} as vscode.InlineCompletionContext, token)).toEqual([]);
    mock.config.set("variet.inlineCompletions", false);
    expect(await provider("fast").provideInlineCompletionItems(document, position, {} as vscode.InlineCompletionContext, token)).toEqual([]);
    expect(server.requests).toEqual([]);
  });
});
