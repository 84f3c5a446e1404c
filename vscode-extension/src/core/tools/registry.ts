/** The agent's tool set, in a fixed order so the tool list in every request is byte-identical (prompt cache). */
import type { ToolSchema } from "../llm.js";
import { editFileDefinition } from "./definitions/editFile.js";
import { getDiagnosticsDefinition } from "./definitions/getDiagnostics.js";
import { listFilesDefinition } from "./definitions/listFiles.js";
import { readFileDefinition } from "./definitions/readFile.js";
import { runCommandDefinition } from "./definitions/runCommand.js";
import { searchDefinition } from "./definitions/search.js";
import { writeFileDefinition } from "./definitions/writeFile.js";
import { editFile } from "./implementations/editFile.js";
import { getDiagnostics } from "./implementations/getDiagnostics.js";
import { listFiles } from "./implementations/listFiles.js";
import { readFile } from "./implementations/readFile.js";
import { runCommand } from "./implementations/runCommand.js";
import { search } from "./implementations/search.js";
import { writeFile } from "./implementations/writeFile.js";
import { parseArguments } from "./arguments.js";
import type { Tool, ToolDefinition } from "./tool.js";

function builtin(definition: ToolDefinition, run: Tool["run"]): Tool {
  return { definition, parse: (json) => parseArguments(definition, json), run };
}

export const TOOLS: readonly Tool[] = [
  builtin(readFileDefinition, readFile),
  builtin(listFilesDefinition, listFiles),
  builtin(searchDefinition, search),
  builtin(editFileDefinition, editFile),
  builtin(writeFileDefinition, writeFile),
  builtin(runCommandDefinition, runCommand),
  builtin(getDiagnosticsDefinition, getDiagnostics),
];

export function toolSchemas(tools: readonly Tool[]): ToolSchema[] {
  return tools.map(({ definition }) => ({
    type: "function",
    function: { name: definition.name, description: definition.description, parameters: definition.parameters },
  }));
}
