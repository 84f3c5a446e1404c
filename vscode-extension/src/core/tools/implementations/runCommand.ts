import { ToolFailed } from "../../errors.js";
import { rejectionResult } from "../../policy.js";
import { runCommand as runShell } from "../../shell.js";
import { stringArg } from "../arguments.js";
import type { Arguments, ToolContext, ToolOutcome } from "../tool.js";

export async function runCommand(args: Arguments, context: ToolContext): Promise<ToolOutcome> {
  const command = stringArg(args, "command").trim();
  if (command === "") throw new ToolFailed("command is empty");
  const answer = await context.approve({ kind: "command", tool: "run_command", command });
  if (!answer.approved) return { status: "rejected", content: rejectionResult("run_command", answer.reason) };
  const root = (await context.workspace.resolve(".")).absolute;
  const result = await runShell(command, {
    cwd: root,
    timeoutMs: context.commandTimeoutMs,
    maxOutputBytes: context.maxOutputBytes,
    signal: context.signal,
  });
  const how = result.timedOut
    ? `killed after the ${Math.round(context.commandTimeoutMs / 1000)} s timeout`
    : result.exitCode !== null
      ? `exit code ${result.exitCode}`
      : `killed by ${result.signal ?? "a signal"}`;
  return { status: "ok", content: `${how}\n${result.output || "(no output)"}`, changedWorkspace: true };
}
