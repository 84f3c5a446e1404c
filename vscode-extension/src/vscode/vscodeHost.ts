/** The agent core's Host in VS Code: diffs through `vscode.diff`, questions as notifications, the editor's diagnostics. */
import * as path from "node:path";

import * as vscode from "vscode";

import type { ApprovalAnswer, ApprovalRequest, Diagnostic, Host, ProposedChange } from "../core/host.js";

export const PROPOSAL_SCHEME = "variet-proposal";

/** Both sides of one proposed change, as documents; `update` changes their text while the diff is open. */
export interface Proposal {
  readonly before: vscode.Uri;
  readonly after: vscode.Uri;
  update(change: ProposedChange): void;
  dispose(): void;
}

/** Read-only in-memory documents holding both sides of a proposed change, for the diff editor. */
export class ProposalDocuments implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private counter = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "";
  }

  add(change: ProposedChange): Proposal {
    const id = ++this.counter;
    const before = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${change.path}`, query: `${id}-before` });
    const after = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${change.path}`, query: `${id}-after` });
    this.texts.set(before.toString(), change.before);
    this.texts.set(after.toString(), change.after);
    return {
      before,
      after,
      update: (next) => {
        for (const [uri, text] of [
          [before, next.before],
          [after, next.after],
        ] as const) {
          if (this.texts.get(uri.toString()) === text) continue;
          this.texts.set(uri.toString(), text);
          this.changed.fire(uri);
        }
      },
      dispose: () => {
        this.texts.delete(before.toString());
        this.texts.delete(after.toString());
      },
    };
  }
}

/** How often a streaming preview's text is refreshed in the editor at most. */
const PREVIEW_REFRESH_MS = 100;

interface OpenPreview {
  readonly proposal: Proposal;
  readonly path: string;
  pending: ProposedChange | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

function diffTitle(change: ProposedChange): string {
  return `${change.path} (${change.isNew ? "new file" : "proposed edit"}) — Variet`;
}

const ACCEPT = "Accept";
const REJECT = "Reject";
const REJECT_WITH_REASON = "Reject with a reason…";

/** Resolve to undefined when the signal aborts, so a pending question never blocks a stopped agent. */
function unlessAborted<T>(promise: Thenable<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

const SEVERITY: Record<number, Diagnostic["severity"]> = { 0: "error", 1: "warning", 2: "info", 3: "hint" };

export class VsCodeHost implements Host {
  /** Diffs opened while calls stream, by call id, until the call's question takes them over or they close. */
  private readonly previews = new Map<string, OpenPreview>();

  constructor(
    readonly workspaceRoot: string,
    private readonly proposals: ProposalDocuments,
  ) {}

  preview(callId: string, change: ProposedChange | undefined): void {
    const open = this.previews.get(callId);
    if (open && (!change || open.path !== change.path)) {
      this.previews.delete(callId);
      clearTimeout(open.timer);
      void this.closeDiff(open.proposal.after).finally(() => open.proposal.dispose());
    }
    if (!change) return;
    const current = this.previews.get(callId);
    if (!current) {
      const proposal = this.proposals.add(change);
      this.previews.set(callId, { proposal, path: change.path, pending: undefined, timer: undefined });
      // preserveFocus: the user may be typing in the chat while the model writes.
      void vscode.commands.executeCommand("vscode.diff", proposal.before, proposal.after, diffTitle(change), { preview: true, preserveFocus: true });
      return;
    }
    current.pending = change;
    current.timer ??= setTimeout(() => {
      current.timer = undefined;
      if (current.pending) current.proposal.update(current.pending);
      current.pending = undefined;
    }, PREVIEW_REFRESH_MS);
  }

  async approve(request: ApprovalRequest, signal: AbortSignal): Promise<ApprovalAnswer> {
    switch (request.kind) {
      case "edit":
        return this.approveChange(request.change, request.warning, request.callId, signal);
      case "command": {
        const answer = await unlessAborted(
          vscode.window.showWarningMessage(
            `Variet wants to run a command in ${path.basename(this.workspaceRoot)}`,
            { modal: true, detail: request.warning ? `${request.command}\n\n${request.warning}` : request.command },
            "Run",
            REJECT_WITH_REASON,
          ),
          signal,
        );
        if (answer === "Run") return { approved: true };
        return this.rejection(answer === REJECT_WITH_REASON, signal);
      }
      case "read": {
        const answer = await unlessAborted(vscode.window.showInformationMessage(`Variet: ${request.summary}`, "Allow", REJECT), signal);
        return { approved: answer === "Allow" };
      }
      case "tool": {
        const question = `Variet wants to call ${request.tool} ${request.arguments} (${request.reason}).`;
        const answer = await unlessAborted(vscode.window.showInformationMessage(question, "Allow", REJECT, REJECT_WITH_REASON), signal);
        if (answer === "Allow") return { approved: true };
        return this.rejection(answer === REJECT_WITH_REASON, signal);
      }
    }
  }

  private async approveChange(change: ProposedChange, warning: string | undefined, callId: string | undefined, signal: AbortSignal): Promise<ApprovalAnswer> {
    // The diff opened while the call streamed shows the finished change; otherwise open one now.
    const streamed = callId === undefined ? undefined : this.previews.get(callId);
    const reuse = streamed?.path === change.path ? streamed : undefined;
    if (callId !== undefined && reuse) {
      this.previews.delete(callId);
      clearTimeout(reuse.timer);
    } else if (callId !== undefined) {
      this.preview(callId, undefined);
    }
    const docs = reuse?.proposal ?? this.proposals.add(change);
    try {
      if (reuse) docs.update(change);
      // The streamed diff may have been closed, or replaced as a preview tab, meanwhile: the question needs it shown.
      if (!reuse || this.diffTabs(docs.after).length === 0) {
        await vscode.commands.executeCommand("vscode.diff", docs.before, docs.after, diffTitle(change), { preview: true });
      }
      const question = change.isNew ? `Create ${change.path}?` : `Apply this edit to ${change.path}?`;
      const ask = warning ? vscode.window.showWarningMessage(`${warning} ${question}`, ACCEPT, REJECT, REJECT_WITH_REASON) : vscode.window.showInformationMessage(question, ACCEPT, REJECT, REJECT_WITH_REASON);
      const answer = await unlessAborted(ask, signal);
      if (answer === ACCEPT) return { approved: true };
      return await this.rejection(answer === REJECT_WITH_REASON, signal);
    } finally {
      await this.closeDiff(docs.after);
      docs.dispose();
    }
  }

  private async rejection(askReason: boolean, signal: AbortSignal): Promise<ApprovalAnswer> {
    if (!askReason) return { approved: false };
    const reason = await unlessAborted(vscode.window.showInputBox({ prompt: "Why? (sent to the model)" }), signal);
    return reason ? { approved: false, reason } : { approved: false };
  }

  /** The open diff tabs whose right side is `after`. */
  private diffTabs(after: vscode.Uri): vscode.Tab[] {
    const tabs = vscode.window.tabGroups?.all.flatMap((group) => group.tabs) ?? [];
    return tabs.filter((tab) => tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.toString() === after.toString());
  }

  private async closeDiff(after: vscode.Uri): Promise<void> {
    const mine = this.diffTabs(after);
    if (mine.length > 0) await vscode.window.tabGroups.close(mine);
  }

  async diagnostics(paths: readonly string[] | undefined, signal: AbortSignal): Promise<Diagnostic[]> {
    const toUri = (rel: string): vscode.Uri => vscode.Uri.file(path.join(this.workspaceRoot, rel));
    if (paths) {
      // Opening a document makes its language server look at it; then give it a moment to publish.
      const uris = paths.map(toUri);
      await Promise.all(uris.map(async (uri) => vscode.workspace.openTextDocument(uri).then(undefined, () => undefined)));
      await this.settle(uris, signal);
    }
    const entries: [vscode.Uri, readonly vscode.Diagnostic[]][] = paths
      ? paths.map((rel) => [toUri(rel), vscode.languages.getDiagnostics(toUri(rel))])
      : vscode.languages.getDiagnostics();
    const out: Diagnostic[] = [];
    for (const [uri, diagnostics] of entries) {
      const rel = path.relative(this.workspaceRoot, uri.fsPath);
      if (rel.startsWith("..") || path.isAbsolute(rel)) continue;
      for (const d of diagnostics) {
        out.push({
          path: rel.split(path.sep).join("/"),
          line: d.range.start.line + 1,
          severity: SEVERITY[d.severity] ?? "info",
          message: d.message,
          ...(d.source ? { source: d.source } : {}),
        });
      }
    }
    return out;
  }

  /** Wait for the first diagnostics update touching these files, at most a short while (outside readiness). */
  private async settle(uris: readonly vscode.Uri[], signal: AbortSignal): Promise<void> {
    const wanted = new Set(uris.map((uri) => uri.toString()));
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        listener.dispose();
        signal.removeEventListener("abort", done);
        resolve();
      };
      const listener = vscode.languages.onDidChangeDiagnostics((event) => {
        if (event.uris.some((uri) => wanted.has(uri.toString()))) done();
      });
      const timer = setTimeout(done, 1500);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
