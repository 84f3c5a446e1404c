import type { ToolDefinition } from "../tool.js";

export const listFilesDefinition: ToolDefinition = {
  name: "list_files",
  kind: "read",
  description: "List workspace files matching a glob, e.g. \"src/**/*.ts\" or \"*.md\". Skips .git and node_modules.",
  parameters: {
    type: "object",
    properties: { glob: { type: "string", description: "Glob pattern; \"**\" lists everything." } },
    required: ["glob"],
  },
};
