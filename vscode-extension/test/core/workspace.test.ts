import * as fs from "node:fs/promises";
import * as path from "node:path";

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PathOutsideWorkspace } from "../../src/core/errors.js";
import { globToRegExp } from "../../src/core/glob.js";
import { Workspace } from "../../src/core/workspace.js";
import { tempDir } from "../support/tempdir.js";

let base: string;
let root: string;
let outside: string;

beforeAll(async () => {
  base = await tempDir();
  root = path.join(base, "ws");
  outside = path.join(base, "outside");
  await fs.mkdir(path.join(root, "src", "deep"), { recursive: true });
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, "secret.txt"), "secret");
  await fs.writeFile(path.join(root, "src", "a.ts"), "a");
  await fs.symlink(outside, path.join(root, "escape"));
  await fs.symlink(path.join(outside, "secret.txt"), path.join(root, "src", "secret-link"));
  await fs.symlink(path.join(root, "src"), path.join(root, "inner-link"));
  await fs.symlink(path.join(base, "missing-target"), path.join(root, "dangling"));
});
afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

function isInside(candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

describe("path confinement", () => {
  const segment = fc.constantFrom("..", ".", "src", "deep", "a.ts", "escape", "secret-link", "inner-link", "dangling", "new", "x.txt", "", "/", "~");

  it("whatever the path, resolve either refuses it or lands inside the real root", async () => {
    const workspace = new Workspace(root);
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.boolean(), async (segments, absolute) => {
        const userPath = (absolute ? `${root}/` : "") + segments.join("/");
        try {
          const resolved = await workspace.resolve(userPath);
          expect(isInside(resolved.absolute)).toBe(true);
          // And the real location, if it exists, is inside too.
          const real = await fs.realpath(resolved.absolute).catch(() => resolved.absolute);
          expect(isInside(real)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).name).toMatch(/PathOutsideWorkspace|ToolFailed/);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("paths made only of plain names always resolve, relative and equal to the join", async () => {
    const workspace = new Workspace(root);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.stringMatching(/^[a-z0-9_-]{1,8}$/), { minLength: 1, maxLength: 4 }), async (names) => {
        const resolved = await workspace.resolve(names.join("/"));
        expect(resolved.relative).toBe(names.join("/"));
        expect(resolved.absolute).toBe(path.join(root, ...names));
      }),
      { numRuns: 100 },
    );
  });

  it.each([
    ["../outside/secret.txt", /outside the workspace/],
    ["/etc/passwd", /outside the workspace/],
    ["src/../../outside", /outside the workspace/],
    ["escape/secret.txt", /through a symlink/],
    ["src/secret-link", /through a symlink/],
    ["escape/new-file.txt", /through a symlink/],
    ["dangling", /broken symlink/],
    ["dangling/child.txt", /broken symlink/],
  ])("refuses %s", async (userPath, message) => {
    await expect(new Workspace(root).resolve(userPath)).rejects.toThrow(message);
    await expect(new Workspace(root).resolve(userPath)).rejects.toBeInstanceOf(PathOutsideWorkspace);
  });

  it("allows symlinks that stay inside and `..` that stays inside", async () => {
    const workspace = new Workspace(root);
    expect((await workspace.resolve("inner-link/a.ts")).relative).toBe("src/a.ts");
    expect((await workspace.resolve("src/deep/../a.ts")).relative).toBe("src/a.ts");
    expect((await workspace.resolve(".")).relative).toBe(".");
  });

  it("write refuses to go through a symlink that escapes and leaves the outside untouched", async () => {
    const workspace = new Workspace(root);
    await expect(workspace.write("escape/planted.txt", "x")).rejects.toBeInstanceOf(PathOutsideWorkspace);
    await expect(fs.readdir(outside)).resolves.toEqual(["secret.txt"]);
  });
});

describe("globs", () => {
  it.each([
    ["**/*.ts", "src/a.ts", true],
    ["*.ts", "src/deep/b.ts", true],
    ["src/*.ts", "src/deep/b.ts", false],
    ["src/**/*.ts", "src/b.ts", true],
    ["*.{js,ts}", "x.js", true],
    ["*.{js,ts}", "x.py", false],
    ["**", "anything/at/all", true],
    ["README.md", "README.md", true],
    ["a?.md", "ab.md", true],
  ])("%s matches %s: %s", (glob, file, expected) => {
    expect(globToRegExp(glob).test(file)).toBe(expected);
  });

  it("lists without following symlinks or entering skipped dirs", async () => {
    await fs.mkdir(path.join(root, "node_modules", "m"), { recursive: true });
    await fs.writeFile(path.join(root, "node_modules", "m", "i.ts"), "");
    const { files } = await new Workspace(root).list("**/*.ts", 100, new AbortController().signal);
    expect(files).toEqual(["src/a.ts"]);
  });
});

describe("issue 13: too-long paths", () => {
  const oneLine = (message: string): void => {
    expect(message).not.toMatch(/ENAMETOOLONG|\n/);
    expect(message).not.toContain(root);
    expect(message.length).toBeLessThan(300);
  };

  it("a name over 255 bytes is refused with a message the model can act on", async () => {
    const error = (await new Workspace(root).read(`src/${"n".repeat(300)}.ts`).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe("ToolFailed");
    expect(error.message).toMatch(/^path 'src\/n+…n+\.ts' \(307 characters\) has a name of 303 bytes; a file or folder name may have at most 255/);
    oneLine(error.message);
  });

  it("a path over 4095 bytes made of short names is refused the same way, for writes too", async () => {
    const long = Array.from({ length: 500 }, () => "abcdefghi").join("/");
    const error = (await new Workspace(root).write(long, "x").catch((e: unknown) => e)) as Error;
    expect(error.name).toBe("ToolFailed");
    expect(error.message).toMatch(/is too long: a whole path may have at most 4095 bytes; use a shorter path$/);
    oneLine(error.message);
  });

  it("any name length up to the limit resolves", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 255 }), async (n) => {
        expect((await new Workspace(root).resolve(`new/${"x".repeat(n)}`)).relative).toBe(`new/${"x".repeat(n)}`);
      }),
      { numRuns: 30 },
    );
  });
});
