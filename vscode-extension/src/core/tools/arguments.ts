/** Checks a call's JSON arguments against the tool's schema and says exactly what is wrong, for the model to fix. */
import { ToolFailed } from "../errors.js";
import type { Arguments, ToolDefinition } from "./tool.js";

export function parseArguments(definition: ToolDefinition, json: string): Record<string, string | number | boolean | undefined> {
  const usage = `${definition.name} takes ${JSON.stringify(
    Object.fromEntries(Object.entries(definition.parameters.properties).map(([key, schema]) => [key, schema.type])),
  )} (required: ${definition.parameters.required.join(", ") || "none"})`;
  let parsed: unknown;
  try {
    parsed = json.trim() === "" ? {} : JSON.parse(json);
  } catch {
    throw new ToolFailed(`the arguments are not valid JSON (cut off?): ${json.slice(0, 200)}; ${usage}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ToolFailed(`the arguments must be a JSON object; ${usage}`);
  }
  const input = parsed as Record<string, unknown>;
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const key of definition.parameters.required) {
    if (input[key] === undefined || input[key] === null) throw new ToolFailed(`missing argument '${key}'; ${usage}`);
  }
  for (const [key, value] of Object.entries(input)) {
    const schema = definition.parameters.properties[key];
    if (!schema) throw new ToolFailed(`unknown argument '${key}'; ${usage}`);
    if (value === null || value === undefined) continue;
    if (schema.type === "string") {
      if (typeof value !== "string") throw new ToolFailed(`argument '${key}' must be a string; ${usage}`);
      out[key] = value;
    } else if (schema.type === "integer") {
      const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof number !== "number" || !Number.isInteger(number)) throw new ToolFailed(`argument '${key}' must be an integer; ${usage}`);
      out[key] = number;
    } else {
      const bool = value === "true" ? true : value === "false" ? false : value;
      if (typeof bool !== "boolean") throw new ToolFailed(`argument '${key}' must be true or false; ${usage}`);
      out[key] = bool;
    }
  }
  return out;
}

export function stringArg(args: Arguments, key: string): string {
  const value = args[key];
  return typeof value === "string" ? value : "";
}

export function optionalNumber(args: Arguments, key: string): number | undefined {
  const value = args[key];
  return typeof value === "number" ? value : undefined;
}
