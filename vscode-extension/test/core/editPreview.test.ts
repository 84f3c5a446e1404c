import * as fs from "node:fs/promises";
import * as path from "node:path";

import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { EditPreviews } from "../../src/core/editPreview.js";
import type { ProposedChange } from "../../src/core/host.js";
import { Workspace } from "../../src/core/workspace.js";
import { tempDir } from "../support/tempdir.js";

let root: string;
let shown: [string, ProposedChange | undefined][];
let previews: EditPreviews;

beforeEach(async () => {
  root = await tempDir();
  await fs.writeFile(path.join(root, "main.py"), "print('helo')\nprint('bye')\n");
  shown = [];
  previews = new EditPreviews(new Workspace(root), (id, change) => shown.push([id, change]));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Feed the arguments cut at these points, as the stream would deliver them, and wait for the previews to catch up. */
async function stream(name: string, args: string, cuts: readonly number[], index = 0): Promise<void> {
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b).concat(args.length)) {
    previews.update({ index, id: `call-${index}`, name, arguments: args.slice(0, cut) });
  }
  await previews.settled();
}

describe("edits previewed while they stream", () => {
  const edit = JSON.stringify({ path: "main.py", search: "helo", replace: "hello, world" });

  it("however the arguments are cut, the preview ends at the finished edit and never shows a partial path", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: edit.length }), { maxLength: 12 }), async (cuts) => {
        shown = [];
        previews = new EditPreviews(new Workspace(root), (id, change) => shown.push([id, change]));
        await stream("edit_file", edit, cuts);
        expect(shown.at(-1)).toEqual(["call-0", { path: "main.py", before: "print('helo')\nprint('bye')\n", after: "print('hello, world')\nprint('bye')\n", isNew: false }]);
        for (const [, change] of shown) expect(change?.path).toBe("main.py");
      }),
      { numRuns: 60 },
    );
  });

  it("the diff opens with the file unchanged as soon as the path is complete, then the replacement grows", async () => {
    const cut = edit.indexOf('"search"');
    previews.update({ index: 0, id: "c", name: "edit_file", arguments: edit.slice(0, cut) });
    await previews.settled();
    expect(shown).toEqual([["c", { path: "main.py", before: "print('helo')\nprint('bye')\n", after: "print('helo')\nprint('bye')\n", isNew: false }]]);
    previews.update({ index: 0, id: "c", name: "edit_file", arguments: edit.slice(0, edit.indexOf("world")) });
    await previews.settled();
    // A partial string may lose its trailing blank until more arrives.
    expect(shown.at(-1)?.[1]?.after).toMatch(/^print\('hello, ?'\)\nprint\('bye'\)\n$/);
  });

  it("a new file's content grows; close takes the preview away and nothing reopens it", async () => {
    const args = JSON.stringify({ path: "src/new.ts", content: "export const x = 1;\n" });
    await stream("write_file", args, [args.indexOf("export") + 6]);
    expect(shown.map(([, change]) => change?.after)).toEqual(["export", "export const x = 1;\n"]);
    previews.close("call-0");
    previews.update({ index: 0, id: "call-0", name: "write_file", arguments: args });
    await previews.settled();
    expect(shown.at(-1)).toEqual(["call-0", undefined]);
  });

  it("nothing is shown for a path the tool would refuse, an existing file to create, or another tool", async () => {
    await stream("edit_file", JSON.stringify({ path: "../outside.py", search: "a", replace: "b" }), [5, 20]);
    await stream("write_file", JSON.stringify({ path: "main.py", content: "x" }), [10], 1);
    await stream("edit_file", JSON.stringify({ path: "missing.py", search: "a", replace: "b" }), [], 2);
    await stream("run_command", JSON.stringify({ command: "rm -rf ." }), [], 3);
    expect(shown).toEqual([]);
  });
});
