/**
 * The shape every tool has: a schema the model sees and code that runs it. Built-in tools keep them apart
 * (definitions/, implementations/); MCP tools (`../mcp.ts`) bring their schema from their server.
 */
import type { ApprovalAnswer, ApprovalRequest, Host } from "../host.js";
import type { ToolKind } from "../policy.js";
import type { Workspace } from "../workspace.js";

export interface ParameterSchema {
  readonly type: "string" | "integer" | "boolean";
  readonly description: string;
}

/** The flat argument schema of a built-in tool; `parseArguments` checks calls against it. */
export interface ParametersSchema {
  readonly type: "object";
  readonly properties: Readonly<Record<string, ParameterSchema>>;
  readonly required: readonly string[];
}

export interface ToolDefinition<Parameters extends object = ParametersSchema> {
  readonly name: string;
  /** What the approval policy keys on. */
  readonly kind: ToolKind;
  readonly description: string;
  /** JSON Schema of the arguments object, as the model sees it. */
  readonly parameters: Parameters;
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
  /** "error": the tool ran and reported a failure (an MCP `isError` result); other failures throw ToolFailed. */
  readonly status: "ok" | "rejected" | "error";
  readonly content: string;
  /** True when the workspace may have changed (so an identical later call is not a repeat). */
  readonly changedWorkspace?: boolean;
  /** Third-party text (already labelled as data): the conversation is tainted from here on. */
  readonly untrusted?: boolean;
}

export type Arguments = Readonly<Record<string, unknown>>;

export interface Tool {
  readonly definition: ToolDefinition<object>;
  /** The model's JSON arguments checked against the schema; a ToolFailed says what to fix. */
  readonly parse: (json: string) => Arguments;
  readonly run: (args: Arguments, context: ToolContext) => Promise<ToolOutcome>;
}
