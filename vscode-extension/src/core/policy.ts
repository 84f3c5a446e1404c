/**
 * Which tool calls need a human yes. Approval is data: one setting per tool kind the user may loosen, plus two rules no
 * setting can loosen: MCP tools that can change things or reach outside always ask, and once untrusted content is in
 * the conversation, so do edits and commands (as the assistant's policy does).
 */

/** `outbound`: MCP tools that are not read-only and closed-world (they can change things or carry data out). */
export type ToolKind = "read" | "edit" | "command" | "outbound";
export type ApprovalMode = "ask" | "auto";
/** The kinds a setting governs; `outbound` always asks. */
export type PolicyKind = Exclude<ToolKind, "outbound">;
export type ApprovalPolicy = Readonly<Record<PolicyKind, ApprovalMode>>;

/** File writes and commands ask by default; reading the workspace does not. */
export const DEFAULT_POLICY: ApprovalPolicy = { read: "auto", edit: "ask", command: "ask" };

/** `tainted`: untrusted content (a web page, a mail) is in the conversation. */
export function needsApproval(policy: ApprovalPolicy, kind: ToolKind, tainted: boolean): boolean {
  if (kind === "outbound") return true;
  if (tainted && kind !== "read") return true;
  return policy[kind] !== "auto";
}

/** Why an outbound tool asks, shown with the question. */
export function outboundReason(tainted: boolean): string {
  return tainted
    ? "untrusted content is in this conversation and this tool can change things or reach outside"
    : "this tool can change things or reach outside this machine";
}

/** The tool result the model sees when the user says no, so it can change course instead of retrying. */
export function rejectionResult(tool: string, reason: string | undefined): string {
  const why = reason?.trim() ? ` The user said: ${reason.trim()}` : "";
  return `The user rejected this ${tool} call; nothing was changed.${why} Do not repeat the same call; ask or try another approach.`;
}

/** Parse a settings value, keeping the default for anything unknown. */
export function policyFrom(values: Partial<Record<PolicyKind, unknown>>): ApprovalPolicy {
  const pick = (kind: PolicyKind): ApprovalMode => {
    const value = values[kind];
    return value === "ask" || value === "auto" ? value : DEFAULT_POLICY[kind];
  };
  return { read: pick("read"), edit: pick("edit"), command: pick("command") };
}
