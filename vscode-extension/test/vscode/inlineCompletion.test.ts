import type * as vscode from "vscode";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { InfillProvider } from "../../src/vscode/inlineCompletion.js";
import { FakeSwapd, json, testLlm } from "../support/fakeServer.js";
import { InlineCompletionItem, Position, mock } from "../support/vscodeMock.js";

let server: FakeSwapd;
const text = "def add(a, b):\n    return \n\nprint(add(1, 2))\n";
const document = { getText: () => text, offsetAt: () => text.indexOf("return ") + "return ".length } as unknown as vscode.TextDocument;
const position = new Position(1, 11) as unknown as vscode.Position;
const context = {} as vscode.InlineCompletionContext;
const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) } as unknown as vscode.CancellationToken;
const MODELS = {
  object: "list",
  data: [
    { id: "fast", object: "model", name: "fast", aliases: ["gemma"], state: "ready" },
    { id: "fim", object: "model", name: "fim", aliases: ["coder"], state: "ready", companion: true },
  ],
};

function provider(): InfillProvider {
  const llm = testLlm(server.url);
  return new InfillProvider(() => llm);
}

const infills = (): unknown[] => server.requests.filter((r) => r.path === "/infill").map((r) => r.body);
const insertText = (items: vscode.InlineCompletionItem[]): unknown => (items[0] as unknown as InlineCompletionItem | undefined)?.insertText;

beforeEach(async () => {
  mock.reset();
  mock.config.set("variet.inlineCompletions", true);
  server = new FakeSwapd();
  server.always("/v1/models", (_req, res) => json(res, 200, MODELS));
  await server.start();
});
afterEach(async () => {
  await server.close();
});

describe("fill-in-the-middle on the completion companion", () => {
  it("asks /infill of the companion named by variet.completion.model (default fim), whatever tier is active", async () => {
    server.always("/infill", (_req, res) => json(res, 200, { content: "a + b" }));
    const complete = provider();
    expect(insertText(await complete.provideInlineCompletionItems(document, position, context, token))).toBe("a + b");
    mock.config.set("variet.completion.model", "coder");
    expect(insertText(await complete.provideInlineCompletionItems(document, position, context, token))).toBe("a + b");
    expect(infills()).toEqual([
      expect.objectContaining({ model: "fim", input_prefix: "def add(a, b):\n    return ", input_suffix: "\n\nprint(add(1, 2))\n" }),
      expect.objectContaining({ model: "coder" }),
    ]);
    expect(server.requests.filter((r) => r.path === "/v1/models")).toHaveLength(2); // once per setting, not per keystroke
  });

  it("never asks a tier: a completion model that is not a companion is reported once and not tried", async () => {
    mock.config.set("variet.completion.model", "fast");
    const complete = provider();
    for (let i = 0; i < 3; i++) expect(await complete.provideInlineCompletionItems(document, position, context, token)).toEqual([]);
    expect(infills()).toEqual([]);
    expect(mock.callsTo("showWarningMessage")).toEqual([
      [`Variet: inline completions are off: "fast" is not a companion model on swapd (swapd's companions: fim, coder). Set variet.completion.model to a companion that has FIM tokens.`],
    ]);
    expect(server.requests.filter((r) => r.path === "/v1/models")).toHaveLength(1);
  });

  it("a 501 (no FIM tokens) is shown once, not retried per keystroke, and retried after the setting changes", async () => {
    server.on("/infill", (_req, res) =>
      json(res, 501, { error: { code: 501, message: "Infill is not supported by this model: prefix token is missing. ", type: "not_supported_error" } }),
    );
    server.on("/infill", (_req, res) => json(res, 200, { content: "x" }));
    const complete = provider();
    for (let i = 0; i < 3; i++) expect(await complete.provideInlineCompletionItems(document, position, context, token)).toEqual([]);
    expect(infills()).toHaveLength(1);
    const warnings = mock.callsTo("showWarningMessage");
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.[0])).toMatch(/^Variet: inline completions are off: "fim" cannot fill in the middle \(swapd answered 501: Infill is not supported.*Set variet\.completion\.model/);
    mock.config.set("variet.completion.model", "coder");
    expect(insertText(await complete.provideInlineCompletionItems(document, position, context, token))).toBe("x");
  });

  it("typing cancels the outdated request in flight", async () => {
    let arrived!: () => void;
    const firstArrived = new Promise<void>((resolve) => (arrived = resolve));
    let closed!: () => void;
    const firstClosed = new Promise<void>((resolve) => (closed = resolve));
    server.on("/infill", (_req, res) => {
      res.on("close", () => closed());
      arrived(); // and never answer
    });
    server.on("/infill", (_req, res) => json(res, 200, { content: "newer" }));
    const complete = provider();
    const outdated = complete.provideInlineCompletionItems(document, position, context, token);
    await firstArrived;
    const newer = complete.provideInlineCompletionItems(document, position, context, token);
    expect(await outdated).toEqual([]);
    await firstClosed;
    expect(insertText(await newer)).toBe("newer");
    expect(mock.callsTo("showWarningMessage")).toEqual([]);
  });

  it("stays quiet when turned off", async () => {
    mock.config.set("variet.inlineCompletions", false);
    expect(await provider().provideInlineCompletionItems(document, position, context, token)).toEqual([]);
    expect(server.requests).toEqual([]);
  });
});
