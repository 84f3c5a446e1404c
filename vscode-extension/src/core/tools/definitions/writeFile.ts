import type { ToolDefinition } from "../tool.js";

export const writeFileDefinition: ToolDefinition = {
  name: "write_file",
  kind: "edit",
  description: "Create a new file with the given content. Refuses if the file exists; use edit_file for existing files. The user reviews it.",
  parameters: {
    type: "object",
    properties: {
      path: { type: "string", description: "Path relative to the workspace root." },
      content: { type: "string", description: "The whole file content." },
    },
    required: ["path", "content"],
  },
};
