import * as fs from "node:fs/promises";
import * as path from "node:path";

import type * as vscode from "vscode";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { Checkpoints } from "../../src/core/checkpoints.js";
import { ChatView } from "../../src/vscode/chatView.js";
import { CHECKPOINT_SCHEME, CheckpointDocuments, checkpointStore } from "../../src/vscode/checkpointView.js";
import { ProposalDocuments, VsCodeHost } from "../../src/vscode/vscodeHost.js";
import type { ToWebview } from "../../src/webview/protocol.js";
import { FakeHost } from "../support/fakeHost.js";
import { FakeSwapd, textAnswer, toolCallAnswer, testLlm } from "../support/fakeServer.js";
import { tempDir } from "../support/tempdir.js";
import { Uri, mock } from "../support/vscodeMock.js";

let server: FakeSwapd;
let base: string;
let root: string;
let checkpoints: Checkpoints;
let posted: ToWebview[];
let view: ChatView;

const memento = (): vscode.Memento => {
  const values = new Map<string, unknown>();
  return { keys: () => [...values.keys()], get: (key: string) => values.get(key), update: async (key: string, value: unknown) => void values.set(key, value) } as vscode.Memento;
};

beforeEach(async () => {
  mock.reset();
  server = new FakeSwapd();
  await server.start();
  base = await tempDir();
  root = path.join(base, "ws");
  await fs.mkdir(root);
  await fs.writeFile(path.join(root, "main.py"), "print('helo')\n");
  checkpoints = checkpointStore(path.join(base, "global-storage"), root);
  const llm = testLlm(server.url);
  view = new ChatView({ extensionUri: Uri.file("/ext") as unknown as vscode.Uri, state: memento(), host: new FakeHost(root), llm: () => llm, onServedBy: () => undefined, checkpoints });
  posted = [];
  const webview = { options: {}, html: "", cspSource: "", asWebviewUri: (uri: Uri) => uri, postMessage: async (m: ToWebview) => posted.push(m), onDidReceiveMessage: () => ({ dispose() {} }) };
  view.resolveWebviewView({ webview } as unknown as vscode.WebviewView);
});
afterEach(async () => {
  await server.close();
  await fs.rm(base, { recursive: true, force: true });
});

/** One turn in which the model reads main.py and fixes the typo; returns the edit's call id. */
async function editTurn(): Promise<string> {
  server
    .on("/v1/chat/completions", toolCallAnswer([{ name: "read_file", args: { path: "main.py" } }]))
    .on("/v1/chat/completions", toolCallAnswer([{ name: "edit_file", args: { path: "main.py", search: "helo", replace: "hello" } }]))
    .on("/v1/chat/completions", textAnswer("Fixed."));
  view.handle({ type: "send", text: "fix the typo" });
  await view.idle();
  const event = posted.flatMap((m) => (m.type === "event" && m.event.type === "checkpoint" ? [m.event] : []))[0];
  expect(event?.checkpoint.label).toBe("edit_file main.py");
  return event?.id ?? "";
}

const mainPy = (): Promise<string> => fs.readFile(path.join(root, "main.py"), "utf8");
const notices = (): string[] => posted.flatMap((m) => (m.type === "notice" ? [m.text] : []));

describe("checkpoints in the chat", () => {
  it("the store lives under global storage, and each step's checkpoint is shown again after a reload", async () => {
    const id = await editTurn();
    expect(checkpoints.storeDir.startsWith(path.join(base, "global-storage", "checkpoints"))).toBe(true);
    posted.length = 0;
    view.handle({ type: "ready" });
    await expect.poll(() => posted.find((m) => m.type === "history")).toMatchObject({ checkpoints: [{ id, label: "edit_file main.py" }] });
  });

  it("restore files puts the file back and says so; restore task cuts the conversation at the step", async () => {
    const id = await editTurn();
    expect(await mainPy()).toBe("print('hello')\n");
    view.handle({ type: "restore", id, what: "files" });
    await view.idle();
    expect(await mainPy()).toBe("print('helo')\n");
    const restored = posted.find((m): m is Extract<ToWebview, { type: "restored" }> => m.type === "restored");
    expect(restored?.text).toBe("Restored the files to before edit_file main.py: 1 put back, 0 removed.");
    view.handle({ type: "restore", id: restored?.undo ?? "", what: "files" });
    await view.idle();
    expect(await mainPy()).toBe("print('hello')\n");
    expect(posted.filter((m) => m.type === "restored").map((m) => (m.type === "restored" ? m.text : ""))).toEqual([
      "Restored the files to before edit_file main.py: 1 put back, 0 removed.",
      "Undid the restore to before edit_file main.py: 1 put back, 0 removed.",
    ]);
    view.handle({ type: "restore", id, what: "files" });
    await view.idle();
    posted.length = 0;
    view.handle({ type: "restore", id, what: "task" });
    await view.idle();
    const history = posted.find((m): m is Extract<ToWebview, { type: "history" }> => m.type === "history");
    expect(history?.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "assistant", "tool"]);
    expect(history?.messages.at(-1)).toMatchObject({ tool_call_id: id, content: "not run: the user restored the task to before this call" });
  });

  it("restore task for a step no longer in the conversation says so and cuts nothing", async () => {
    const id = await editTurn();
    view.newChat();
    view.handle({ type: "restore", id, what: "task" });
    await view.idle();
    expect(notices()).toEqual(["That step is no longer in this conversation, so the task was not cut."]);
    expect(await mainPy()).toBe("print('hello')\n");
  });

  it("a restore over the user's own later change asks first, and a no changes nothing", async () => {
    const id = await editTurn();
    await fs.writeFile(path.join(root, "main.py"), "print('hello, mine')\n");
    mock.answer("showWarningMessage", undefined, "Overwrite them");
    view.handle({ type: "restore", id, what: "both" });
    await view.idle();
    expect(mock.callsTo("showWarningMessage")[0]?.slice(0, 2)).toEqual([
      "Restoring this checkpoint would overwrite changes made since by something other than Variet:",
      { modal: true, detail: "main.py" },
    ]);
    expect(await mainPy()).toBe("print('hello, mine')\n");
    expect(notices()).toEqual(["Nothing was restored."]);
    view.handle({ type: "restore", id, what: "files" });
    await view.idle();
    expect(await mainPy()).toBe("print('helo')\n");
  });

  it("diff with now opens the changed files, the checkpoint's text on the left", async () => {
    const id = await editTurn();
    view.handle({ type: "diffCheckpoint", id });
    await view.idle();
    const [command, title, resources] = mock.callsTo("executeCommand").at(-1) as [string, string, Uri[][]];
    expect([command, title]).toEqual(["vscode.changes", "Checkpoint before edit_file main.py ↔ now"]);
    const [label, left, right] = resources[0] ?? [];
    expect(label?.fsPath).toBe(path.join(root, "main.py"));
    expect(right?.fsPath).toBe(path.join(root, "main.py"));
    expect(left?.scheme).toBe(CHECKPOINT_SCHEME);
    const documents = new CheckpointDocuments(checkpoints);
    const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) } as unknown as vscode.CancellationToken;
    expect(await documents.provideTextDocumentContent(left as unknown as vscode.Uri, token)).toBe("print('helo')\n");
  });

  it("nothing to restore while the agent works", async () => {
    server.on("/v1/chat/completions", (_req, res) => void res.writeHead(200, { "Content-Type": "text/event-stream" }));
    view.handle({ type: "send", text: "hang" });
    view.handle({ type: "restore", id: "x", what: "files" });
    expect(notices()).toEqual(["The agent is still working; stop it first."]);
    view.stop();
    await view.idle();
  });
});

describe("approval without a checkpoint", () => {
  it("the edit question and the command modal carry the warning", async () => {
    const host = new VsCodeHost("/ws", new ProposalDocuments());
    const warning = "No checkpoint could be made before this step, so it could not be undone from the chat.";
    mock.answer("showWarningMessage", "Accept", "Run");
    const change = { path: "a.ts", before: "a", after: "b", isNew: false };
    expect(await host.approve({ kind: "edit", tool: "edit_file", change, warning }, new AbortController().signal)).toEqual({ approved: true });
    expect(await host.approve({ kind: "command", tool: "run_command", command: "make", warning }, new AbortController().signal)).toEqual({ approved: true });
    const [edit, command] = mock.callsTo("showWarningMessage");
    expect(edit?.[0]).toBe(`${warning} Apply this edit to a.ts?`);
    expect(command?.[1]).toEqual({ modal: true, detail: `make\n\n${warning}` });
  });
});
