import type { ToolDefinition } from "../tool.js";

export const searchDefinition: ToolDefinition = {
  name: "search",
  kind: "read",
  description: "Search file contents for text (or a regular expression) and return matching lines as path:line: text.",
  parameters: {
    type: "object",
    properties: {
      query: { type: "string", description: "Text to find (exact, case-sensitive) or a regular expression when regex is true." },
      regex: { type: "boolean", description: "Treat query as a JavaScript regular expression." },
      glob: { type: "string", description: "Only search files matching this glob." },
    },
    required: ["query"],
  },
};
