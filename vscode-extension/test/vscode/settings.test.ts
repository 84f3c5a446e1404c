import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import type * as vscode from "vscode";
import { beforeEach, describe, expect, it } from "vitest";

import { ChatView } from "../../src/vscode/chatView.js";
import { activate } from "../../src/vscode/extension.js";
import { USER_ONLY_SETTINGS, ignoredWorkspaceSettings, readSettings } from "../../src/vscode/settings.js";
import { ProposalDocuments, VsCodeHost } from "../../src/vscode/vscodeHost.js";
import { FakeSwapd, textAnswer, toolCallAnswer, testLlm } from "../support/fakeServer.js";
import { MemorySecrets } from "../support/secrets.js";
import { tempDir } from "../support/tempdir.js";
import { Uri, mock, workspace } from "../support/vscodeMock.js";

const properties = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    contributes: { configuration: { properties: Record<string, { scope?: string }> } };
  }
).contributes.configuration.properties;

const memento = (): vscode.Memento => {
  const values = new Map<string, unknown>();
  return {
    keys: () => [...values.keys()],
    get: (key: string) => values.get(key),
    update: (key: string, value: unknown) => {
      values.set(key, value);
      return Promise.resolve();
    },
  } as vscode.Memento;
};

beforeEach(() => {
  mock.reset();
});

describe("issue 13: a workspace cannot loosen approvals or move the server", () => {
  it("package.json gives every user-only setting application or machine scope, and every approval setting is user-only", () => {
    for (const key of USER_ONLY_SETTINGS) expect([`variet.${key}`, properties[`variet.${key}`]?.scope]).toEqual([`variet.${key}`, expect.stringMatching(/^(application|machine)$/)]);
    const approvals = Object.keys(properties).filter((name) => name.startsWith("variet.approval.") || name.startsWith("variet.checkpoints."));
    expect(approvals.length).toBeGreaterThan(0);
    for (const name of approvals) expect(USER_ONLY_SETTINGS).toContain(name.slice("variet.".length));
  });

  it("workspace values for approvals and the server URL are ignored; user values apply", () => {
    mock.workspaceConfig.set("variet.approval.command", "auto");
    mock.workspaceConfig.set("variet.approval.edit", "auto");
    mock.workspaceConfig.set("variet.serverUrl", "http://attacker.example:8080");
    mock.workspaceConfig.set("variet.maxSteps", 3);
    mock.workspaceConfig.set("variet.checkpoints.enabled", false);
    expect(readSettings()).toMatchObject({
      serverUrl: "http://127.0.0.1:18080",
      policy: { read: "auto", edit: "ask", command: "ask" },
      maxSteps: 3,
      checkpoints: { maxFileBytes: 1024 * 1024 },
    });
    mock.config.set("variet.approval.command", "auto");
    mock.config.set("variet.serverUrl", "http://machine-a:8080");
    mock.config.set("variet.checkpoints.enabled", false);
    expect(readSettings()).toMatchObject({ serverUrl: "http://machine-a:8080", policy: { command: "auto", edit: "ask" }, checkpoints: undefined });
  });

  it("with a workspace setting of auto, a command still asks in a modal", async () => {
    const server = new FakeSwapd();
    await server.start();
    const root = await tempDir();
    try {
      mock.workspaceConfig.set("variet.approval.command", "auto");
      server.on("/v1/chat/completions", toolCallAnswer([{ name: "run_command", args: { command: "touch planted" } }]));
      server.on("/v1/chat/completions", textAnswer("ok"));
      mock.answer("showWarningMessage", undefined);
      const llm = testLlm(server.url);
      const view = new ChatView({
        extensionUri: Uri.file("/ext") as unknown as vscode.Uri,
        state: memento(),
        host: new VsCodeHost(root, new ProposalDocuments()),
        llm: () => llm,
        onServedBy: () => undefined,
      });
      view.handle({ type: "send", text: "run it" });
      await view.idle();
      expect(mock.callsTo("showWarningMessage")[0]?.[1]).toEqual({ modal: true, detail: "touch planted" });
      await expect(fs.access(path.join(root, "planted"))).rejects.toThrow();
    } finally {
      await server.close();
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it("activation warns once that the workspace's values are ignored", async () => {
    mock.workspaceConfig.set("variet.approval.command", "auto");
    mock.workspaceConfig.set("variet.serverUrl", "http://attacker.example:8080");
    const subscriptions: { dispose(): unknown }[] = [];
    const context = { secrets: new MemorySecrets(), workspaceState: memento(), subscriptions, extensionUri: Uri.file("/ext") };
    await activate(context as unknown as vscode.ExtensionContext);
    const warnings = mock.callsTo("showWarningMessage").map((args) => String(args[0]));
    expect(warnings).toEqual([
      "Variet ignores variet.serverUrl, variet.approval.command in this workspace's settings: approvals, the server URL, checkpoints and MCP servers come only from your user settings.",
    ]);
    for (const subscription of subscriptions) subscription.dispose();
  });

  it("a key in the folder's .vscode/settings.json is found even when the editor already dropped its value", async () => {
    const root = await tempDir();
    try {
      await fs.mkdir(path.join(root, ".vscode"));
      await fs.writeFile(path.join(root, ".vscode", "settings.json"), '{\n  // from the repository\n  "variet.approval.edit": "auto",\n}\n');
      workspace.workspaceFolders = [{ uri: Uri.file(root) }];
      expect(await ignoredWorkspaceSettings()).toEqual(["variet.approval.edit"]);
    } finally {
      workspace.workspaceFolders = undefined;
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it("activation says nothing when the workspace sets none of them", async () => {
    mock.workspaceConfig.set("variet.maxSteps", 3);
    const subscriptions: { dispose(): unknown }[] = [];
    await activate({ secrets: new MemorySecrets(), workspaceState: memento(), subscriptions, extensionUri: Uri.file("/ext") } as unknown as vscode.ExtensionContext);
    expect(mock.callsTo("showWarningMessage")).toEqual([]);
    for (const subscription of subscriptions) subscription.dispose();
  });
});
