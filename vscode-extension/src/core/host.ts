/**
 * What the editor provides to the agent core. The VS Code implementation is `src/vscode/vscodeHost.ts`;
 * tests use a recording fake. Files and commands are plain Node in the core (`workspace.ts`, `shell.ts`).
 */

/** A change the agent wants to make to one file, shown to the user as a diff. */
export interface ProposedChange {
  /** Workspace-relative path with forward slashes. */
  readonly path: string;
  /** Current text, or "" for a new file. */
  readonly before: string;
  readonly after: string;
  readonly isNew: boolean;
}

export type ApprovalRequest = (
  | { readonly kind: "edit"; readonly tool: string; readonly change: ProposedChange }
  | { readonly kind: "command"; readonly tool: string; readonly command: string }
  | { readonly kind: "read"; readonly tool: string; readonly summary: string }
  /** An MCP tool that can change things or reach outside; `reason` says why it asks. */
  | { readonly kind: "tool"; readonly tool: string; readonly arguments: string; readonly reason: string }
) & {
  /** Set when the step would run without a checkpoint (the store failed): the question is asked whatever the policy. */
  readonly warning?: string;
  /** The tool call asking, so an edit's question can reuse the preview shown while the call streamed. */
  readonly callId?: string;
};

export interface ApprovalAnswer {
  readonly approved: boolean;
  /** Optional words from the user, passed to the model with a rejection. */
  readonly reason?: string;
}

export interface Diagnostic {
  readonly path: string;
  /** 1-based. */
  readonly line: number;
  readonly severity: "error" | "warning" | "info" | "hint";
  readonly message: string;
  readonly source?: string;
}

export interface Host {
  /** Absolute path of the workspace root; every tool path is confined to it. */
  readonly workspaceRoot: string;
  /** Ask the user; no answer (dismissed, aborted) means no. */
  approve(request: ApprovalRequest, signal: AbortSignal): Promise<ApprovalAnswer>;
  /**
   * Show an edit while the model is still writing call `callId`, updated on every call; `undefined` closes it.
   * Optional: a host without a live view leaves it out.
   */
  preview?(callId: string, change: ProposedChange | undefined): void;
  /** Problems the editor knows about, for the given workspace-relative paths or for the whole workspace. */
  diagnostics(paths: readonly string[] | undefined, signal: AbortSignal): Promise<Diagnostic[]>;
}
