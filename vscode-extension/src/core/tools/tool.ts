/** The shape every tool has: a schema the model sees (definitions/) and code that runs it (implementations/). */
import type { ApprovalAnswer, ApprovalRequest, Host } from "../host.js";
import type { ToolKind } from "../policy.js";
import type { Workspace } from "../workspace.js";

export interface ParameterSchema {
  readonly type: "string" | "integer" | "boolean";
  readonly description: string;
}

export interface ToolDefinition {
  readonly name: string;
  /** What the approval policy keys on. */
  readonly kind: ToolKind;
  readonly description: string;
  readonly parameters: {
    readonly type: "object";
    readonly properties: Readonly<Record<string, ParameterSchema>>;
    readonly required: readonly string[];
  };
}

/** What the model read, by workspace-relative path: the digest at read time, so stale edits are refused. */
export type ReadLedger = Map<string, string>;

export interface ToolContext {
  readonly workspace: Workspace;
  readonly host: Host;
  readonly signal: AbortSignal;
  readonly reads: ReadLedger;
  /** Asks the user when the policy says so for this tool's kind; otherwise approves. */
  readonly approve: (request: ApprovalRequest) => Promise<ApprovalAnswer>;
  readonly commandTimeoutMs: number;
  readonly maxOutputBytes: number;
}

export interface ToolOutcome {
  readonly status: "ok" | "rejected";
  readonly content: string;
  /** True when the workspace may have changed (so an identical later call is not a repeat). */
  readonly changedWorkspace?: boolean;
}

export type Arguments = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Tool {
  readonly definition: ToolDefinition;
  readonly run: (args: Arguments, context: ToolContext) => Promise<ToolOutcome>;
}
