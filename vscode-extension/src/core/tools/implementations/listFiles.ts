import { stringArg } from "../arguments.js";
import type { Arguments, ToolContext, ToolOutcome } from "../tool.js";

const LIMIT = 300;

export async function listFiles(args: Arguments, context: ToolContext): Promise<ToolOutcome> {
  const glob = stringArg(args, "glob") || "**";
  const { files, truncated } = await context.workspace.list(glob, LIMIT, context.signal);
  if (files.length === 0) return { status: "ok", content: `no files match '${glob}'` };
  const note = truncated ? `\n[only the first ${LIMIT}; use a narrower glob]` : "";
  return { status: "ok", content: files.join("\n") + note };
}
