import { ToolFailed } from "../../errors.js";
import { rejectionResult } from "../../policy.js";
import { digestOf } from "../../workspace.js";
import { stringArg } from "../arguments.js";
import type { Arguments, ToolContext, ToolOutcome } from "../tool.js";

export async function writeFile(args: Arguments, context: ToolContext): Promise<ToolOutcome> {
  const resolved = await context.workspace.resolve(stringArg(args, "path"));
  if (resolved.relative === ".") throw new ToolFailed("give a file path, not the workspace root");
  if (await context.workspace.exists(resolved.relative)) {
    throw new ToolFailed(`'${resolved.relative}' already exists; read it and use edit_file to change it`);
  }
  const content = stringArg(args, "content");
  const answer = await context.approve({
    kind: "edit",
    tool: "write_file",
    change: { path: resolved.relative, before: "", after: content, isNew: true },
  });
  if (!answer.approved) return { status: "rejected", content: rejectionResult("write_file", answer.reason) };
  if (await context.workspace.exists(resolved.relative)) throw new ToolFailed(`'${resolved.relative}' appeared while waiting for approval`);
  await context.workspace.write(resolved.relative, content);
  context.reads.set(resolved.relative, digestOf(content));
  return { status: "ok", content: `created ${resolved.relative} (${content.split("\n").length} lines)`, changedWorkspace: true };
}
