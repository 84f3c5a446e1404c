import type { ToolDefinition } from "../tool.js";

export const runCommandDefinition: ToolDefinition = {
  name: "run_command",
  kind: "command",
  description:
    "Run a shell command in the workspace root (non-interactive, no stdin) and return its exit code and output. The user approves each command.",
  parameters: {
    type: "object",
    properties: { command: { type: "string", description: "The command line, e.g. \"npm test\"." } },
    required: ["command"],
  },
};
