import { stringArg } from "../arguments.js";
import type { Arguments, ToolContext, ToolOutcome } from "../tool.js";

const LIMIT = 50;

export async function getDiagnostics(args: Arguments, context: ToolContext): Promise<ToolOutcome> {
  const only = stringArg(args, "path");
  const paths = only ? [(await context.workspace.resolve(only)).relative] : undefined;
  const found = await context.host.diagnostics(paths, context.signal);
  if (found.length === 0) return { status: "ok", content: only ? `no problems in ${paths?.[0]}` : "no problems in the workspace" };
  const order = { error: 0, warning: 1, info: 2, hint: 3 } as const;
  const lines = [...found]
    .sort((a, b) => order[a.severity] - order[b.severity] || a.path.localeCompare(b.path) || a.line - b.line)
    .slice(0, LIMIT)
    .map((d) => `${d.path}:${d.line}: ${d.severity}: ${d.message}${d.source ? ` (${d.source})` : ""}`);
  const more = found.length > LIMIT ? `\n[${found.length - LIMIT} more]` : "";
  return { status: "ok", content: lines.join("\n") + more };
}
