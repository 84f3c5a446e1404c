import * as fs from "node:fs/promises";
import * as path from "node:path";

import { ToolFailed, throwIfAborted } from "../../errors.js";
import { stringArg } from "../arguments.js";
import type { Arguments, ToolContext, ToolOutcome } from "../tool.js";

const MAX_MATCHES = 100;
const MAX_FILES = 5000;
const MAX_FILE_BYTES = 1_000_000;
const MAX_LINE_CHARS = 200;

export async function search(args: Arguments, context: ToolContext): Promise<ToolOutcome> {
  const query = stringArg(args, "query");
  if (query === "") throw new ToolFailed("query is empty");
  let matcher: (line: string) => boolean;
  if (args.regex === true) {
    let regex: RegExp;
    try {
      regex = new RegExp(query);
    } catch (error) {
      throw new ToolFailed(`invalid regular expression: ${error instanceof Error ? error.message : String(error)}`);
    }
    matcher = (line) => regex.test(line);
  } else {
    matcher = (line) => line.includes(query);
  }
  const glob = stringArg(args, "glob") || "**";
  const { files } = await context.workspace.list(glob, MAX_FILES, context.signal);
  const root = (await context.workspace.resolve(".")).absolute;
  const hits: string[] = [];
  for (const rel of files) {
    throwIfAborted(context.signal);
    const absolute = path.join(root, rel);
    const stat = await fs.stat(absolute);
    if (stat.size > MAX_FILE_BYTES) continue;
    const text = await fs.readFile(absolute, "utf8");
    if (text.includes("\0")) continue;
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] ?? "";
      if (!matcher(line)) continue;
      hits.push(`${rel}:${i + 1}: ${line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line}`);
      if (hits.length >= MAX_MATCHES) {
        return { status: "ok", content: `${hits.join("\n")}\n[stopped at ${MAX_MATCHES} matches; narrow the query or glob]` };
      }
    }
  }
  return { status: "ok", content: hits.length > 0 ? hits.join("\n") : `no matches for '${query}' in '${glob}'` };
}
