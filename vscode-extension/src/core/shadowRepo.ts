/**
 * A shadow git repository of one workspace, kept in the extension's storage and never in the workspace: the
 * workspace is only its work tree. A snapshot commits every tracked and untracked file that is not ignored by the
 * workspace's .gitignore files; files over the size cap and nested repositories are left out and listed.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { CheckpointFailed } from "./errors.js";
import { Git } from "./git.js";
import { describeFsError } from "./workspace.js";

export interface SkippedPath {
  /** Workspace-relative, `/`-separated; a folder ends with `/`. */
  readonly path: string;
  readonly reason: "over the size cap" | "nested git repository" | "ignored";
}

export interface Snapshot {
  readonly commit: string;
  /** The first few skipped paths, for the chat; `skippedCount` is the total. */
  readonly skipped: readonly SkippedPath[];
  readonly skippedCount: number;
}

export interface FileChange {
  readonly path: string;
  readonly status: "added" | "modified" | "deleted";
}

/** How many skipped paths a snapshot keeps by name. */
export const SKIPPED_LISTED = 50;
/** Files stat'ed at once while looking for big ones. */
const STAT_BATCH = 64;
const REF = "refs/heads/checkpoints";
/**
 * Dependency and cache folders a workspace may not ignore itself: reinstalled, never edited by hand, and large.
 * They are left out (and listed as ignored) like the workspace's own .gitignore'd paths.
 */
const EXCLUDED = ["node_modules/", ".venv/", "venv/", "__pycache__/", ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".tox/"];
/** Byte-exact snapshots: no line-ending conversion, no filters, whatever the workspace's .gitattributes say. */
const ATTRIBUTES = "* -text -ident -filter !working-tree-encoding\n";

const STATUS: Readonly<Record<string, FileChange["status"]>> = { A: "added", M: "modified", T: "modified", D: "deleted" };

function nulSeparated(output: string): string[] {
  return output.split("\0").filter((entry) => entry !== "");
}

export class ShadowRepo {
  private readonly git: Git;
  private ready: Promise<void> | undefined;
  /** The newest snapshot commit, the parent of the next. */
  private head: string | undefined;

  constructor(
    readonly storeDir: string,
    readonly workspaceRoot: string,
  ) {
    this.git = new Git(path.join(storeDir, "git"), workspaceRoot);
  }

  private async init(signal: AbortSignal): Promise<void> {
    const gitDir = this.git.gitDir;
    try {
      await fs.mkdir(path.join(gitDir, "info"), { recursive: true });
      await fs.writeFile(path.join(gitDir, "info", "attributes"), ATTRIBUTES);
      await fs.writeFile(path.join(gitDir, "info", "exclude"), `${EXCLUDED.join("\n")}\n`);
    } catch (error) {
      throw new CheckpointFailed(
        `the checkpoint store ${this.storeDir} cannot be written (${describeFsError(error, this.storeDir) ?? String(error)}); free some space or fix its permissions, or set variet.checkpoints.enabled to false`,
      );
    }
    await fs.access(path.join(gitDir, "HEAD")).catch(async () => {
      await this.git.run(["init", "-q"], { signal });
    });
    const head = await this.git.run(["rev-parse", "-q", "--verify", REF], { signal }).catch(() => "");
    this.head = head.trim() || undefined;
  }

  private async ensure(signal: AbortSignal): Promise<void> {
    this.ready ??= this.init(signal);
    try {
      await this.ready;
    } catch (error) {
      this.ready = undefined;
      throw error;
    }
  }

  /** Commit the workspace as it is now; `listIgnored` false saves listing the ignored paths when nobody will see them. */
  async snapshot(maxFileBytes: number, signal: AbortSignal, listIgnored = true): Promise<Snapshot> {
    await this.ensure(signal);
    const candidates = nulSeparated(await this.git.run(["ls-files", "-z", "--others", "--modified", "--exclude-standard"], { signal }));
    const skipped: SkippedPath[] = candidates.filter((entry) => entry.endsWith("/")).map((entry) => ({ path: entry, reason: "nested git repository" }));
    const files = candidates.filter((entry) => !entry.endsWith("/"));
    for (let at = 0; at < files.length; at += STAT_BATCH) {
      const batch = files.slice(at, at + STAT_BATCH);
      const sizes = await Promise.all(batch.map(async (file) => fs.lstat(path.join(this.workspaceRoot, file)).then((stat) => (stat.isFile() ? stat.size : 0), () => 0)));
      batch.forEach((file, index) => {
        if ((sizes[index] ?? 0) > maxFileBytes) skipped.push({ path: file, reason: "over the size cap" });
      });
    }
    const excludes = skipped.map((entry) => `:(exclude,literal)${entry.path}`);
    await this.git.run(["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"], { input: [".", ...excludes].join("\0"), signal });
    const big = skipped.filter((entry) => entry.reason === "over the size cap").map((entry) => entry.path);
    // A file that grew past the cap may still be in the index from an earlier snapshot.
    if (big.length > 0) {
      await this.git.run(["rm", "-q", "--cached", "--ignore-unmatch", "--pathspec-from-file=-", "--pathspec-file-nul"], { input: big.join("\0"), literalPathspecs: true, signal });
    }
    const ignored = listIgnored ? nulSeparated(await this.git.run(["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"], { signal })) : [];
    const all = [...skipped, ...ignored.map((entry): SkippedPath => ({ path: entry, reason: "ignored" }))];
    const tree = (await this.git.run(["write-tree"], { signal })).trim();
    // Every path left out goes in the commit message, so a restore to this snapshot never deletes one of them.
    const message = `checkpoint\n${JSON.stringify(all.map((entry) => entry.path))}\n`;
    const commit = (await this.git.run(["commit-tree", tree, ...(this.head ? ["-p", this.head] : []), "-F", "-"], { input: message, signal })).trim();
    await this.git.run(["update-ref", REF, commit], { signal });
    this.head = commit;
    return { commit, skipped: all.slice(0, SKIPPED_LISTED), skippedCount: all.length };
  }

  /**
   * Whether `file` existed but was left out of snapshot `commit` (over the size cap, in a nested repository, or
   * ignored when the snapshot listed ignored paths): absent from the snapshot, yet not to be removed by a restore.
   */
  async leftOut(commit: string, signal: AbortSignal): Promise<(file: string) => boolean> {
    await this.ensure(signal);
    const object = await this.git.run(["cat-file", "commit", commit], { signal });
    let paths: unknown;
    try {
      paths = JSON.parse(object.slice(object.indexOf("\n\n") + 2).split("\n")[1] ?? "[]");
    } catch {
      paths = [];
    }
    const listed = Array.isArray(paths) ? paths.filter((entry): entry is string => typeof entry === "string") : [];
    const files = new Set(listed.filter((entry) => !entry.endsWith("/")));
    const folders = listed.filter((entry) => entry.endsWith("/"));
    return (file) => files.has(file) || folders.some((folder) => file.startsWith(folder));
  }

  /** Files that differ between two snapshots. */
  async changes(from: string, to: string, signal: AbortSignal): Promise<FileChange[]> {
    await this.ensure(signal);
    const fields = nulSeparated(await this.git.run(["diff-tree", "-r", "-z", "--no-renames", "--name-status", from, to], { signal }));
    const out: FileChange[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2) {
      out.push({ status: STATUS[fields[i] ?? ""] ?? "modified", path: fields[i + 1] ?? "" });
    }
    return out;
  }

  /** A file's text in a snapshot, or undefined where the snapshot has no such file. */
  async fileAt(commit: string, file: string, signal: AbortSignal): Promise<string | undefined> {
    await this.ensure(signal);
    return this.git.run(["cat-file", "blob", `${commit}:${file}`], { signal }).catch(() => undefined);
  }

  /** Write these files as they are in `commit`; git refuses to write through a symlink. */
  async checkout(commit: string, files: readonly string[], signal: AbortSignal): Promise<void> {
    if (files.length === 0) return;
    await this.ensure(signal);
    await this.git.run(["checkout", "-q", commit, "--pathspec-from-file=-", "--pathspec-file-nul"], { input: files.join("\0"), literalPathspecs: true, signal });
  }

  /** Delete files the snapshot did not have; a path whose folder leads outside the workspace is left alone. */
  async remove(files: readonly string[]): Promise<string[]> {
    const realRoot = await fs.realpath(this.workspaceRoot);
    const failed: string[] = [];
    for (const file of files) {
      const absolute = path.join(realRoot, file);
      const folder = await fs.realpath(path.dirname(absolute)).catch(() => undefined);
      const inside = folder !== undefined && (folder === realRoot || folder.startsWith(`${realRoot}${path.sep}`));
      if (!inside) {
        failed.push(file);
        continue;
      }
      await fs.rm(path.join(folder, path.basename(absolute)), { force: true }).catch(() => failed.push(file));
    }
    return failed;
  }
}
