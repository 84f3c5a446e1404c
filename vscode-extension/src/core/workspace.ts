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

export function errnoCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/** Linux's limits: one file or folder name, and a whole path. */
const NAME_MAX_BYTES = 255;
const PATH_MAX_BYTES = 4095;

/** A model-supplied path as quoted in a message: long ones are shortened, so one error stays one readable line. */
function quoted(userPath: string): string {
  return userPath.length > 80 ? `'${userPath.slice(0, 40)}…${userPath.slice(-20)}' (${userPath.length} characters)` : `'${userPath}'`;
}

const FS_FAILURES: Readonly<Record<string, string>> = {
  ENAMETOOLONG: "a name in the path or the whole path is too long; use a shorter path",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is used up",
  EROFS: "the file system is read-only",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is a file, not a folder",
  ELOOP: "too many symlinks on the way",
  EBUSY: "the file is busy",
};

/**
 * One line for a failed file operation, with the path relative to `root`: Node's own message names the absolute path
 * and the errno, which tells the model nothing it can act on.
 */
export function describeFsError(error: unknown, root: string): string | undefined {
  const code = errnoCode(error);
  if (!code) return undefined;
  const where = error instanceof Error && "path" in error && typeof error.path === "string" ? path.relative(root, error.path).split(path.sep).join("/") : "";
  const what = FS_FAILURES[code] ?? `the file system said ${code}`;
  return where && !where.startsWith("..") ? `${what} ('${where.length > 80 ? `${where.slice(0, 60)}…` : where}')` : what;
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
    const longName = userPath.split(/[\\/]/).find((name) => Buffer.byteLength(name) > NAME_MAX_BYTES);
    if (longName !== undefined) {
      throw new ToolFailed(
        `path ${quoted(userPath)} has a name of ${Buffer.byteLength(longName)} bytes; a file or folder name may have at most ${NAME_MAX_BYTES}, so use a shorter name`,
      );
    }
    const realRoot = await this.rootReal();
    const lexical = path.resolve(this.root, userPath.replace(/\\/g, "/"));
    if (!isInside(path.resolve(this.root), lexical) && !isInside(realRoot, lexical)) {
      throw new PathOutsideWorkspace(`path ${quoted(userPath)} is outside the workspace; use a path inside ${this.root}`);
    }
    if (Buffer.byteLength(lexical) > PATH_MAX_BYTES) {
      throw new ToolFailed(`path ${quoted(userPath)} is too long: a whole path may have at most ${PATH_MAX_BYTES} bytes; use a shorter path`);
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
        throw new PathOutsideWorkspace(`path ${quoted(userPath)} goes through a broken symlink; refusing to follow it`);
      }
      throw error;
    }
    const absolute = path.join(real, ...tail);
    if (!isInside(realRoot, absolute)) {
      throw new PathOutsideWorkspace(`path ${quoted(userPath)} leads outside the workspace (through a symlink); use a path inside ${this.root}`);
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
    if (again.absolute !== resolved.absolute) throw new PathOutsideWorkspace(`path ${quoted(userPath)} changed while writing; refusing`);
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
