import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Checkpoints } from "../../src/core/checkpoints.js";
import { snapshot, tempDir } from "../support/tempdir.js";

const CAP = 64 * 1024;
let base: string;
let root: string;
let store: string;
const signal = new AbortController().signal;

beforeEach(async () => {
  base = await tempDir();
  root = path.join(base, "ws");
  store = path.join(base, "storage", "checkpoints");
  await fs.mkdir(root);
  await fs.writeFile(path.join(root, "a.txt"), "alpha\n");
  await fs.mkdir(path.join(root, "src"));
  await fs.writeFile(path.join(root, "src", "b.ts"), "export const b = 1;\n");
});
afterEach(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

const write = (rel: string, text: string): Promise<void> => fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true }).then(() => fs.writeFile(path.join(root, rel), text));

/** One agent step: checkpoint, change, after-snapshot. */
async function step(checkpoints: Checkpoints, id: string, change: () => Promise<void>): Promise<void> {
  await checkpoints.before(id, id, CAP, signal);
  await change();
  await checkpoints.after(id, CAP, signal);
}

describe("checkpoints", () => {
  it("restore files brings back edited, created and deleted files, and the user's .git is never touched", async () => {
    execFileSync("git", ["init", "-q"], { cwd: root, env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null" } });
    const userGit = await snapshot(path.join(root, ".git"));
    const original = await snapshot(root);
    const checkpoints = new Checkpoints(store, root);
    await step(checkpoints, "c1", () => write("a.txt", "changed\n"));
    await step(checkpoints, "c2", async () => {
      await write("src/new.ts", "new\n");
      await fs.rm(path.join(root, "src", "b.ts"));
    });
    const result = await checkpoints.restore("c1", false, CAP, signal);
    expect(result).toEqual({ conflicts: [], restored: ["a.txt", "src/b.ts"], removed: ["src/new.ts"], failed: [], undo: expect.stringMatching(/^restore-/) });
    expect(await snapshot(root)).toEqual(original);
    expect(await snapshot(path.join(root, ".git"))).toEqual(userGit);
    await expect(fs.access(path.join(store, "git", "HEAD"))).resolves.toBeUndefined();
  });

  it("restoring to any checkpoint gives exactly the files as they were then", async () => {
    const op = fc.record({ file: fc.constantFrom("a.txt", "src/b.ts", "src/c.ts", "d/e.txt"), text: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }) });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 5 }), fc.nat(), async (ops, pick) => {
        const checkpoints = new Checkpoints(await fs.mkdtemp(path.join(base, "store-")), root);
        const states: Record<string, string>[] = [];
        for (const [index, { file, text }] of ops.entries()) {
          states.push(await snapshot(root));
          await step(checkpoints, `s${index}`, async () => {
            if (text === undefined) await fs.rm(path.join(root, file), { force: true });
            else await write(file, text);
          });
        }
        const target = pick % ops.length;
        const result = await checkpoints.restore(`s${target}`, false, CAP, signal);
        expect(result.conflicts).toEqual([]);
        // Emptied folders may stay; compare files only.
        expect(await snapshot(root)).toEqual(states[target]);
      }),
      { numRuns: 12 },
    );
  }, 120_000);

  it("skips and lists files over the size cap, ignored paths and nested repositories, and leaves them alone on restore", async () => {
    await write(".gitignore", "build/\n*.log\n");
    await write("node_modules/dep/index.js", "module.exports = 1;");
    await write("build/out.js", "compiled");
    await write("debug.log", "log");
    await write("big.bin", "x".repeat(CAP + 1));
    await fs.mkdir(path.join(root, "vendor", "lib"), { recursive: true });
    execFileSync("git", ["init", "-q"], { cwd: path.join(root, "vendor", "lib"), env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null" } });
    await write("vendor/lib/x.c", "int x;");
    const checkpoints = new Checkpoints(store, root);
    const checkpoint = await checkpoints.before("c1", "edit_file a.txt", CAP, signal);
    expect(checkpoint.skipped).toEqual(
      expect.arrayContaining([
        { path: "big.bin", reason: "over the size cap" },
        { path: "vendor/lib/", reason: "nested git repository" },
        { path: "build/", reason: "ignored" },
        { path: "debug.log", reason: "ignored" },
        { path: "node_modules/", reason: "ignored" },
      ]),
    );
    expect(checkpoint.skippedCount).toBe(5);
    await write("a.txt", "changed\n");
    await checkpoints.after("c1", CAP, signal);
    await write("big.bin", "y".repeat(CAP + 5));
    await write("debug.log", "more log");
    await checkpoints.restore("c1", false, CAP, signal);
    expect(await fs.readFile(path.join(root, "a.txt"), "utf8")).toBe("alpha\n");
    expect(await fs.readFile(path.join(root, "big.bin"), "utf8")).toBe("y".repeat(CAP + 5));
    expect(await fs.readFile(path.join(root, "debug.log"), "utf8")).toBe("more log");
    expect(await fs.readFile(path.join(root, "vendor", "lib", "x.c"), "utf8")).toBe("int x;");
  });

  it("a restore never removes a file its checkpoint left out, even when it is now under the cap or no longer ignored", async () => {
    await write(".gitignore", ".env\n");
    await write(".env", "TOKEN=secret\n");
    await write("data.json", "x".repeat(CAP + 1));
    const checkpoints = new Checkpoints(store, root);
    await step(checkpoints, "c1", async () => {
      await write(".gitignore", "");
      await write("data.json", "{}");
    });
    const result = await checkpoints.restore("c1", false, CAP, signal);
    expect(result).toMatchObject({ conflicts: [], restored: [".gitignore"], removed: [], failed: [] });
    expect(await fs.readFile(path.join(root, ".env"), "utf8")).toBe("TOKEN=secret\n");
    expect(await fs.readFile(path.join(root, "data.json"), "utf8")).toBe("{}");
    expect(await fs.readFile(path.join(root, ".gitignore"), "utf8")).toBe(".env\n");
  });

  it("a restore over a file someone else changed since reports the conflict and changes nothing until told to overwrite", async () => {
    const checkpoints = new Checkpoints(store, root);
    await step(checkpoints, "c1", () => write("a.txt", "agent\n"));
    await write("src/b.ts", "the user's own change\n");
    await step(checkpoints, "c2", () => write("a.txt", "agent again\n"));
    const before = await snapshot(root);
    expect(await checkpoints.restore("c1", false, CAP, signal)).toEqual({ conflicts: ["src/b.ts"], restored: [], removed: [], failed: [] });
    expect(await snapshot(root)).toEqual(before);
    expect(await checkpoints.restore("c1", true, CAP, signal)).toMatchObject({ conflicts: [], restored: ["a.txt", "src/b.ts"], removed: [], failed: [] });
    expect(await fs.readFile(path.join(root, "src", "b.ts"), "utf8")).toBe("export const b = 1;\n");
  });

  it("a step approved after a question is checkpointed again, so what the user changed meanwhile is theirs", async () => {
    const checkpoints = new Checkpoints(store, root);
    await checkpoints.before("c1", "edit_file a.txt", CAP, signal);
    await write("src/b.ts", "the user typed this while the question was open\n");
    await checkpoints.approved("c1", CAP, signal);
    await write("a.txt", "agent\n");
    await checkpoints.after("c1", CAP, signal);
    expect(await checkpoints.restore("c1", false, CAP, signal)).toMatchObject({ conflicts: [], restored: ["a.txt"], removed: [], failed: [] });
    expect(await fs.readFile(path.join(root, "a.txt"), "utf8")).toBe("alpha\n");
    expect(await fs.readFile(path.join(root, "src", "b.ts"), "utf8")).toBe("the user typed this while the question was open\n");
  });

  it("a step that did not run keeps its checkpoint, and what changed while it waited is someone else's", async () => {
    const checkpoints = new Checkpoints(store, root);
    await checkpoints.before("c1", "rejected edit", CAP, signal);
    await write("a.txt", "the user typed this while the question was open\n");
    await checkpoints.didNotRun("c1");
    expect((await checkpoints.list()).map((c) => c.id)).toEqual(["c1"]);
    expect((await checkpoints.restore("c1", false, CAP, signal)).conflicts).toEqual(["a.txt"]);
  });

  it("a restore can be undone, and neither the restore nor its undo counts as someone else's change", async () => {
    const checkpoints = new Checkpoints(store, root);
    await step(checkpoints, "c1", () => write("a.txt", "agent\n"));
    const changed = await snapshot(root);
    const restore = await checkpoints.restore("c1", false, CAP, signal);
    expect(await fs.readFile(path.join(root, "a.txt"), "utf8")).toBe("alpha\n");
    const undo = await checkpoints.restore(restore.undo ?? "", false, CAP, signal);
    expect(undo.conflicts).toEqual([]);
    expect(await snapshot(root)).toEqual(changed);
    expect((await checkpoints.restore("c1", false, CAP, signal)).conflicts).toEqual([]);
    expect((await checkpoints.list()).map((c) => c.label)).toEqual(["c1", "the restore to before c1", "the restore to before the restore to before c1", "the restore to before c1"]);
  });

  it("a change made after the last step counts as someone else's too", async () => {
    const checkpoints = new Checkpoints(store, root);
    await step(checkpoints, "c1", () => write("a.txt", "agent\n"));
    await write("a.txt", "the user edited the agent's edit\n");
    expect((await checkpoints.restore("c1", false, CAP, signal)).conflicts).toEqual(["a.txt"]);
  });

  it("the checkpoint list survives a reload", async () => {
    const first = new Checkpoints(store, root);
    await step(first, "c1", () => write("a.txt", "agent\n"));
    const second = new Checkpoints(store, root);
    expect((await second.list()).map((c) => [c.id, c.label])).toEqual([["c1", "c1"]]);
    await second.restore("c1", false, CAP, signal);
    expect(await fs.readFile(path.join(root, "a.txt"), "utf8")).toBe("alpha\n");
    await expect(second.restore("gone", false, CAP, signal)).rejects.toThrow("that checkpoint is no longer kept");
  });

  it("the diff against now lists what changed and reads the old text", async () => {
    const checkpoints = new Checkpoints(store, root);
    await step(checkpoints, "c1", () => write("a.txt", "agent\n"));
    const { before, changes } = await checkpoints.changesSince("c1", CAP, signal);
    expect(changes).toEqual([{ path: "a.txt", status: "modified" }]);
    expect(await checkpoints.fileAt(before, "a.txt", signal)).toBe("alpha\n");
    expect(await checkpoints.fileAt(before, "missing.txt", signal)).toBeUndefined();
  });

  it("snapshots are byte-exact whatever the workspace's .gitattributes say", async () => {
    await write(".gitattributes", "* text eol=crlf\n");
    await write("mixed.txt", "one\r\ntwo\nthree\r\n");
    const checkpoints = new Checkpoints(store, root);
    await step(checkpoints, "c1", () => write("mixed.txt", "gone"));
    await checkpoints.restore("c1", false, CAP, signal);
    expect(await fs.readFile(path.join(root, "mixed.txt"), "utf8")).toBe("one\r\ntwo\nthree\r\n");
  });

  it("a folder swapped for a symlink to outside is put back without writing through the link", async () => {
    const outside = path.join(base, "outside");
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, "b.ts"), "outside, must stay\n");
    const checkpoints = new Checkpoints(store, root);
    await step(checkpoints, "c1", async () => {
      await fs.rm(path.join(root, "src"), { recursive: true });
      await fs.symlink(outside, path.join(root, "src"));
    });
    expect(await checkpoints.restore("c1", false, CAP, signal)).toMatchObject({ conflicts: [], removed: ["src"] });
    expect((await fs.lstat(path.join(root, "src"))).isDirectory()).toBe(true);
    expect(await fs.readFile(path.join(root, "src", "b.ts"), "utf8")).toBe("export const b = 1;\n");
    expect(await fs.readFile(path.join(outside, "b.ts"), "utf8")).toBe("outside, must stay\n");
  });

  it("a store that cannot be written fails with one clear line", async () => {
    await fs.writeFile(path.join(base, "file"), "");
    const checkpoints = new Checkpoints(path.join(base, "file", "checkpoints"), root);
    const error = (await checkpoints.before("c1", "x", CAP, signal).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe("CheckpointFailed");
    expect(error.message).toMatch(/^the checkpoint store .*file\/checkpoints cannot be written \(a part of the path is a file, not a folder.*\); free some space or fix its permissions, or set variet.checkpoints.enabled to false$/);
  });
});
