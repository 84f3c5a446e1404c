import type { ToolDefinition } from "../tool.js";

export const readFileDefinition: ToolDefinition = {
  name: "read_file",
  kind: "read",
  description:
    "Read a text file in the workspace. Lines are numbered in the header only; the text is exact. Use start and end (1-based, inclusive) for big files.",
  parameters: {
    type: "object",
    properties: {
      path: { type: "string", description: "Path relative to the workspace root." },
      start: { type: "integer", description: "First line to return (1-based)." },
      end: { type: "integer", description: "Last line to return (inclusive)." },
    },
    required: ["path"],
  },
};
