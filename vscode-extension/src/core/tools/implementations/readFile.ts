import { ToolFailed } from "../../errors.js";
import { optionalNumber, stringArg } from "../arguments.js";
import type { Arguments, ToolContext, ToolOutcome } from "../tool.js";

/** More than this many lines at once floods a small context window; the model gets a range hint instead. */
const MAX_LINES = 400;

export async function readFile(args: Arguments, context: ToolContext): Promise<ToolOutcome> {
  const file = await context.workspace.read(stringArg(args, "path"));
  if (file.text.includes("\0")) throw new ToolFailed(`'${file.relative}' is a binary file`);
  context.reads.set(file.relative, file.digest);
  const lines = file.text.split("\n");
  const total = lines.length;
  const start = Math.max(1, optionalNumber(args, "start") ?? 1);
  if (start > total) throw new ToolFailed(`'${file.relative}' has ${total} lines; start ${start} is past the end`);
  const wanted = Math.min(total, optionalNumber(args, "end") ?? total);
  if (wanted < start) throw new ToolFailed(`end ${wanted} is before start ${start}`);
  const end = Math.min(wanted, start + MAX_LINES - 1);
  const body = lines.slice(start - 1, end).join("\n");
  const more = end < wanted ? ` (cut at ${MAX_LINES} lines; read from ${end + 1} next)` : "";
  return { status: "ok", content: `${file.relative}, lines ${start}-${end} of ${total}${more}:\n${body}` };
}
