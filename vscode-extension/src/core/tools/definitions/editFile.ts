import type { ToolDefinition } from "../tool.js";

export const editFileDefinition: ToolDefinition = {
  name: "edit_file",
  kind: "edit",
  description:
    "Replace one exact, unique piece of text in a file you have read. search must match the file exactly once, including whitespace; include surrounding lines to make it unique. The user reviews the diff.",
  parameters: {
    type: "object",
    properties: {
      path: { type: "string", description: "Path relative to the workspace root." },
      search: { type: "string", description: "The exact text to replace." },
      replace: { type: "string", description: "The new text." },
    },
    required: ["path", "search", "replace"],
  },
};
