import { ToolFailed } from "../../errors.js";
import { rejectionResult } from "../../policy.js";
import { digestOf } from "../../workspace.js";
import { stringArg } from "../arguments.js";
import type { Arguments, ToolContext, ToolOutcome } from "../tool.js";

function occurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

/** Exact search/replace: validated completely (read first, unchanged since, unique match) before the user sees a diff. */
export async function editFile(args: Arguments, context: ToolContext): Promise<ToolOutcome> {
  let search = stringArg(args, "search");
  let replace = stringArg(args, "replace");
  if (search === "") throw new ToolFailed("search is empty; copy the exact text to replace from read_file");
  const file = await context.workspace.read(stringArg(args, "path"));
  // Models write \n; a Windows-style file keeps its \r\n line ends.
  if (file.text.includes("\r\n") && !search.includes("\r")) {
    search = search.replace(/\n/g, "\r\n");
    replace = replace.replace(/\r?\n/g, "\r\n");
  }
  const readDigest = context.reads.get(file.relative);
  if (readDigest === undefined) throw new ToolFailed(`read '${file.relative}' with read_file before editing it`);
  if (readDigest !== file.digest) {
    throw new ToolFailed(`'${file.relative}' changed since you read it; read_file it again and retry the edit`);
  }
  const count = occurrences(file.text, search);
  if (count === 0) {
    throw new ToolFailed(
      `the search text was not found in '${file.relative}'; nothing was changed. Copy it exactly (whitespace included) from read_file`,
    );
  }
  if (count > 1) {
    throw new ToolFailed(
      `the search text occurs ${count} times in '${file.relative}'; nothing was changed. Include more surrounding lines so it matches once`,
    );
  }
  if (search === replace) throw new ToolFailed("search and replace are the same; nothing to do");
  const at = file.text.indexOf(search);
  const after = file.text.slice(0, at) + replace + file.text.slice(at + search.length);
  const answer = await context.approve({
    kind: "edit",
    tool: "edit_file",
    change: { path: file.relative, before: file.text, after, isNew: false },
  });
  if (!answer.approved) return { status: "rejected", content: rejectionResult("edit_file", answer.reason) };
  // The file may have changed while the user looked at the diff.
  const current = await context.workspace.read(file.relative);
  if (current.digest !== file.digest) throw new ToolFailed(`'${file.relative}' changed while the edit waited for approval; read it again`);
  await context.workspace.write(file.relative, after);
  context.reads.set(file.relative, digestOf(after));
  const line = file.text.slice(0, at).split("\n").length;
  return { status: "ok", content: `edited ${file.relative} at line ${line}. Call get_diagnostics to check for errors.`, changedWorkspace: true };
}
