import type { ToolDefinition } from "../tool.js";

export const getDiagnosticsDefinition: ToolDefinition = {
  name: "get_diagnostics",
  kind: "read",
  description: "Errors and warnings the editor reports (compiler, linter). Call it after editing files.",
  parameters: {
    type: "object",
    properties: { path: { type: "string", description: "Only this file; omit for the whole workspace." } },
    required: [],
  },
};
