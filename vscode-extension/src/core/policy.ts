/** Which tool calls need a human yes. Approval is data: one setting per tool kind. */

export type ToolKind = "read" | "edit" | "command";
export type ApprovalMode = "ask" | "auto";
export type ApprovalPolicy = Readonly<Record<ToolKind, ApprovalMode>>;

/** File writes and commands ask by default; reading the workspace does not. */
export const DEFAULT_POLICY: ApprovalPolicy = { read: "auto", edit: "ask", command: "ask" };

export function needsApproval(policy: ApprovalPolicy, kind: ToolKind): boolean {
  return policy[kind] !== "auto";
}

/** The tool result the model sees when the user says no, so it can change course instead of retrying. */
export function rejectionResult(tool: string, reason: string | undefined): string {
  const why = reason?.trim() ? ` The user said: ${reason.trim()}` : "";
  return `The user rejected this ${tool} call; nothing was changed.${why} Do not repeat the same call; ask or try another approach.`;
}

/** Parse a settings value, keeping the default for anything unknown. */
export function policyFrom(values: Partial<Record<ToolKind, unknown>>): ApprovalPolicy {
  const pick = (kind: ToolKind): ApprovalMode => {
    const value = values[kind];
    return value === "ask" || value === "auto" ? value : DEFAULT_POLICY[kind];
  };
  return { read: pick("read"), edit: pick("edit"), command: pick("command") };
}
