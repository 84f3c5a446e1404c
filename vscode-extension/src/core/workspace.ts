/**
 * The workspace as the tools see it: every path the model gives is resolved here and must stay inside the
 * root, by its text (`..`, absolute paths) and by its real location (symlinks), before anything is read or written.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { PathOutsideWorkspace, ToolFailed, throwIfAborted } from "./errors.js";
import { globToRegExp } from "./glob.js";

/** Directories never listed or searched: version control and dependency trees. */
const SKIPPED_DIRS = new Set([".git", "node_modules", ".venv", "dist", "out", "__pycache__", ".mypy_cache"]);

export interface ResolvedPath {
  /** Absolute, real (symlink-free) path inside the real root. */
  readonly absolute: string;
  /** Relative to the root, with `/` separators; "." for the root itself. */
  readonly relative: string;
}

export interface FileSnapshot {
  readonly text: string;
  /** sha256 of the bytes, to tell whether the file changed since the model read it. */
  readonly digest: string;
}

export function digestOf(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function errnoCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

export class Workspace {
  private realRoot: Promise<string> | undefined;

  constructor(readonly root: string) {}

  private async rootReal(): Promise<string> {
    this.realRoot ??= fs.realpath(this.root);
    return this.realRoot;
  }

  /**
   * Resolve a model-supplied path. Existing paths are checked by realpath; for a path that does not exist yet,
   * the nearest existing ancestor is, and a dangling symlink on the way is refused (writing through it could land outside).
   */
  async resolve(userPath: string): Promise<ResolvedPath> {
    if (typeof userPath !== "string" || userPath.trim() === "") throw new ToolFailed("path is empty; give a path relative to the workspace root");
    if (userPath.includes("\0")) throw new ToolFailed("path contains a NUL byte");
    const realRoot = await this.rootReal();
    const lexical = path.resolve(this.root, userPath.replace(/\\/g, "/"));
    if (!isInside(path.resolve(this.root), lexical) && !isInside(realRoot, lexical)) {
      throw new PathOutsideWorkspace(`path '${userPath}' is outside the workspace; use a path inside ${this.root}`);
    }
    // Walk up to the nearest existing entry, remembering the missing tail.
    let existing = lexical;
    const tail: string[] = [];
    for (;;) {
      try {
        await fs.lstat(existing);
        break;
      } catch (error) {
        if (errnoCode(error) !== "ENOENT" && errnoCode(error) !== "ENOTDIR") throw error;
        const parent = path.dirname(existing);
        if (parent === existing) break;
        tail.unshift(path.basename(existing));
        existing = parent;
      }
    }
    let real: string;
    try {
      real = await fs.realpath(existing);
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ELOOP") {
        throw new PathOutsideWorkspace(`path '${userPath}' goes through a broken symlink; refusing to follow it`);
      }
      throw error;
    }
    const absolute = path.join(real, ...tail);
    if (!isInside(realRoot, absolute)) {
      throw new PathOutsideWorkspace(`path '${userPath}' leads outside the workspace (through a symlink); use a path inside ${this.root}`);
    }
    const relative = path.relative(realRoot, absolute).split(path.sep).join("/") || ".";
    return { absolute, relative };
  }

  async read(userPath: string): Promise<FileSnapshot & ResolvedPath> {
    const resolved = await this.resolve(userPath);
    let text: string;
    try {
      const stat = await fs.stat(resolved.absolute);
      if (stat.isDirectory()) throw new ToolFailed(`'${resolved.relative}' is a directory; use list_files`);
      text = await fs.readFile(resolved.absolute, "utf8");
    } catch (error) {
      if (errnoCode(error) === "ENOENT") throw new ToolFailed(`file '${resolved.relative}' does not exist; use list_files to find it`);
      throw error;
    }
    return { ...resolved, text, digest: digestOf(text) };
  }

  async exists(userPath: string): Promise<boolean> {
    const { absolute } = await this.resolve(userPath);
    try {
      await fs.lstat(absolute);
      return true;
    } catch {
      return false;
    }
  }

  /** Write text, creating missing parent directories; the path is re-resolved right before writing. */
  async write(userPath: string, text: string): Promise<ResolvedPath> {
    const resolved = await this.resolve(userPath);
    await fs.mkdir(path.dirname(resolved.absolute), { recursive: true });
    // Re-check after mkdir: a parent could have been swapped for a symlink in between.
    const again = await this.resolve(userPath);
    if (again.absolute !== resolved.absolute) throw new PathOutsideWorkspace(`path '${userPath}' changed while writing; refusing`);
    await fs.writeFile(resolved.absolute, text, "utf8");
    return resolved;
  }

  /** Workspace-relative files matching the glob, in sorted order, at most `limit`. Symlinks are not followed. */
  async list(glob: string, limit: number, signal: AbortSignal): Promise<{ files: string[]; truncated: boolean }> {
    const matcher = globToRegExp(glob);
    const files: string[] = [];
    let truncated = false;
    const realRoot = await this.rootReal();
    const walk = async (dir: string, prefix: string): Promise<void> => {
      throwIfAborted(signal);
      const entries = await fs.readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const entry of entries) {
        if (truncated) return;
        const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (!SKIPPED_DIRS.has(entry.name)) await walk(path.join(dir, entry.name), rel);
        } else if (entry.isFile() && matcher.test(rel)) {
          if (files.length >= limit) {
            truncated = true;
            return;
          }
          files.push(rel);
        }
      }
    };
    await walk(realRoot, "");
    return { files, truncated };
  }
}
