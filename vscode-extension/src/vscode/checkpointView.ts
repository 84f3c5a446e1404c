/**
 * The editor side of checkpoints: where a workspace's store lives, a checkpoint's diff against now in the
 * multi-file diff editor, and the question before a restore overwrites changes the agent did not make.
 */
import { createHash } from "node:crypto";
import * as path from "node:path";

import * as vscode from "vscode";

import { Checkpoints, type RestoreResult } from "../core/checkpoints.js";

/** `variet-checkpoint:/<path>?<commit>`: a file as a snapshot has it; an empty query is a file the snapshot lacks. */
export const CHECKPOINT_SCHEME = "variet-checkpoint";
const OVERWRITE = "Overwrite them";

/** One store per workspace folder, under the extension's global storage (never in the workspace). */
export function checkpointStore(globalStorage: string, workspaceRoot: string): Checkpoints {
  const key = createHash("sha256").update(workspaceRoot).digest("hex").slice(0, 16);
  return new Checkpoints(path.join(globalStorage, "checkpoints", key), workspaceRoot);
}

export class CheckpointDocuments implements vscode.TextDocumentContentProvider {
  constructor(private readonly checkpoints: Checkpoints) {}

  async provideTextDocumentContent(uri: vscode.Uri, token: vscode.CancellationToken): Promise<string> {
    if (!uri.query) return "";
    const controller = new AbortController();
    token.onCancellationRequested(() => controller.abort());
    return (await this.checkpoints.fileAt(uri.query, uri.path.slice(1), controller.signal)) ?? "";
  }
}

/** Open every file that changed since checkpoint `id`, the checkpoint's text on the left and the file now on the right. */
export async function showCheckpointDiff(checkpoints: Checkpoints, id: string, label: string, maxFileBytes: number, signal: AbortSignal): Promise<void> {
  const { before, changes } = await checkpoints.changesSince(id, maxFileBytes, signal);
  if (changes.length === 0) {
    void vscode.window.showInformationMessage(`Nothing has changed since the checkpoint before ${label}.`);
    return;
  }
  const old = (file: string, present: boolean): vscode.Uri => vscode.Uri.from({ scheme: CHECKPOINT_SCHEME, path: `/${file}`, query: present ? before : "" });
  const resources = changes.map((change) => {
    const now = vscode.Uri.file(path.join(checkpoints.workspaceRoot, change.path));
    return [now, old(change.path, change.status !== "added"), change.status === "deleted" ? old(change.path, false) : now];
  });
  await vscode.commands.executeCommand("vscode.changes", `Checkpoint before ${label} ↔ now`, resources);
}

/** Restore the files; if something else changed some of them since, name them and ask first. Undefined: the user said no. */
export async function restoreFiles(checkpoints: Checkpoints, id: string, maxFileBytes: number, signal: AbortSignal): Promise<RestoreResult | undefined> {
  const first = await checkpoints.restore(id, false, maxFileBytes, signal);
  if (first.conflicts.length === 0) return first;
  const shown = first.conflicts.slice(0, 20).join("\n") + (first.conflicts.length > 20 ? `\n… and ${first.conflicts.length - 20} more` : "");
  const answer = await vscode.window.showWarningMessage(
    "Restoring this checkpoint would overwrite changes made since by something other than Variet:",
    { modal: true, detail: shown },
    OVERWRITE,
  );
  if (answer !== OVERWRITE) return undefined;
  return checkpoints.restore(id, true, maxFileBytes, signal);
}
