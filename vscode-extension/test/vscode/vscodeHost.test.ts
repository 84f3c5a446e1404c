import type * as vscode from "vscode";
import { beforeEach, describe, expect, it } from "vitest";

import type { ApprovalRequest } from "../../src/core/host.js";
import { ProposalDocuments, VsCodeHost } from "../../src/vscode/vscodeHost.js";
import { DiagnosticSeverity, Position, Range, Uri, languages, mock } from "../support/vscodeMock.js";

let proposals: ProposalDocuments;
let host: VsCodeHost;
const edit: ApprovalRequest = { kind: "edit", tool: "edit_file", change: { path: "src/a.ts", before: "old\n", after: "new\n", isNew: false } };

beforeEach(() => {
  mock.reset();
  proposals = new ProposalDocuments();
  host = new VsCodeHost("/ws", proposals);
});

describe("approvals in VS Code", () => {
  it("shows the change with vscode.diff, accepts, and closes the diff", async () => {
    let shown: string[] = [];
    mock.answer("showInformationMessage", () => {
      const [, before, after] = mock.callsTo("executeCommand")[0] as [string, vscode.Uri, vscode.Uri];
      shown = [proposals.provideTextDocumentContent(before), proposals.provideTextDocumentContent(after)];
      return "Accept";
    });
    expect(await host.approve(edit, new AbortController().signal)).toEqual({ approved: true });
    expect(mock.callsTo("executeCommand")[0]?.[0]).toBe("vscode.diff");
    expect(shown).toEqual(["old\n", "new\n"]);
    expect(mock.callsTo("showInformationMessage")[0]?.[0]).toBe("Apply this edit to src/a.ts?");
    expect(mock.tabs).toEqual([]);
  });

  it("a rejection with a reason passes the reason on", async () => {
    mock.answer("showInformationMessage", "Reject with a reason…");
    mock.answer("showInputBox", "use a constant");
    expect(await host.approve(edit, new AbortController().signal)).toEqual({ approved: false, reason: "use a constant" });
  });

  it("a dismissed question is a no", async () => {
    mock.answer("showInformationMessage", undefined);
    expect(await host.approve(edit, new AbortController().signal)).toEqual({ approved: false });
  });

  it("stop while the question is open answers no at once", async () => {
    const controller = new AbortController();
    mock.answer("showInformationMessage", () => {
      controller.abort();
      return new Promise(() => undefined);
    });
    expect(await host.approve(edit, controller.signal)).toEqual({ approved: false });
  });

  it("an MCP tool that reaches outside asks with its arguments and why; a rejection can carry a reason", async () => {
    const call: ApprovalRequest = { kind: "tool", tool: "searxng__web_search", arguments: '{"query":"x"}', reason: "this tool can change things or reach outside this machine" };
    mock.answer("showInformationMessage", "Allow", "Reject with a reason…");
    mock.answer("showInputBox", "not now");
    expect(await host.approve(call, new AbortController().signal)).toEqual({ approved: true });
    expect(await host.approve(call, new AbortController().signal)).toEqual({ approved: false, reason: "not now" });
    expect(mock.callsTo("showInformationMessage")[0]?.[0]).toBe(
      'Variet wants to call searxng__web_search {"query":"x"} (this tool can change things or reach outside this machine).',
    );
  });

  it("commands ask in a modal with the command as detail", async () => {
    mock.answer("showWarningMessage", "Run");
    expect(await host.approve({ kind: "command", tool: "run_command", command: "npm test" }, new AbortController().signal)).toEqual({ approved: true });
    expect(mock.callsTo("showWarningMessage")[0]?.[1]).toEqual({ modal: true, detail: "npm test" });
  });
});

describe("diagnostics", () => {
  it("maps the editor's diagnostics to workspace-relative paths, 1-based lines", async () => {
    mock.diagnostics.set("/ws/src/a.ts", [{ range: new Range(new Position(4, 0), new Position(4, 3)), message: "bad", severity: DiagnosticSeverity.Error, source: "ts" }]);
    mock.diagnostics.set("/elsewhere/b.ts", [{ range: new Range(new Position(0, 0), new Position(0, 1)), message: "not ours", severity: 1 }]);
    expect(await host.diagnostics(undefined, new AbortController().signal)).toEqual([{ path: "src/a.ts", line: 5, severity: "error", message: "bad", source: "ts" }]);
    // The language server publishes once the host starts listening; the host must not wait out its deadline.
    const subscribe = languages.onDidChangeDiagnostics;
    languages.onDidChangeDiagnostics = (listener) => {
      const subscription = subscribe(listener);
      queueMicrotask(() => languages.fireDiagnosticsChanged([Uri.file("/ws/src/a.ts")]));
      return subscription;
    };
    try {
      expect(await host.diagnostics(["src/a.ts"], new AbortController().signal)).toHaveLength(1);
    } finally {
      languages.onDidChangeDiagnostics = subscribe;
    }
  });
});

describe("issue 15: the diff while an edit streams", () => {
  const change = (after: string) => ({ path: "src/a.ts", before: "old\n", after, isNew: false });

  it("opens one diff without taking focus, refreshes its text, and the question reuses it with the finished edit", async () => {
    host.preview("c1", change("old\n"));
    const diffs = (): unknown[][] => mock.callsTo("executeCommand").filter((args) => args[0] === "vscode.diff");
    expect(diffs()).toHaveLength(1);
    expect(diffs()[0]?.[4]).toEqual({ preview: true, preserveFocus: true });
    const after = diffs()[0]?.[2] as vscode.Uri;
    const refreshed = new Promise<vscode.Uri>((resolve) => proposals.onDidChange(resolve));
    host.preview("c1", change("ne"));
    expect((await refreshed).toString()).toBe(after.toString());
    expect(proposals.provideTextDocumentContent(after)).toBe("ne");
    let shownAtQuestion = "";
    mock.answer("showInformationMessage", () => {
      shownAtQuestion = proposals.provideTextDocumentContent(after);
      return "Accept";
    });
    expect(await host.approve({ kind: "edit", tool: "edit_file", change: change("new\n"), callId: "c1" }, new AbortController().signal)).toEqual({ approved: true });
    expect(diffs()).toHaveLength(1);
    expect(shownAtQuestion).toBe("new\n");
    expect(mock.tabs).toEqual([]);
  });

  it("the question opens the diff again when the streamed one was closed meanwhile", async () => {
    host.preview("c3", change("old\n"));
    mock.tabs = [];
    const diffs = (): unknown[][] => mock.callsTo("executeCommand").filter((args) => args[0] === "vscode.diff");
    let shownAtQuestion: string[] = [];
    mock.answer("showInformationMessage", () => {
      shownAtQuestion = mock.tabs.map((tab) => proposals.provideTextDocumentContent((tab as { input: vscode.TabInputTextDiff }).input.modified));
      return "Reject";
    });
    expect(await host.approve({ kind: "edit", tool: "edit_file", change: change("new\n"), callId: "c3" }, new AbortController().signal)).toEqual({ approved: false });
    expect(diffs()).toHaveLength(2);
    expect(shownAtQuestion).toEqual(["new\n"]);
    expect(mock.tabs).toEqual([]);
  });

  it("closing a preview closes its diff", async () => {
    host.preview("c2", change("x"));
    expect(mock.tabs).toHaveLength(1);
    host.preview("c2", undefined);
    await expect.poll(() => mock.tabs).toEqual([]);
  });
});
