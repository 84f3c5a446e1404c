/**
 * The system's git, for the shadow repository of checkpoints: one process per call, its own git directory and work
 * tree given explicitly, and none of the user's, the system's or the workspace's git configuration, hooks or
 * attributes (no filters, no line-ending conversion), so a snapshot is byte-exact and a repository cannot make it
 * run anything. Decision note: docs/decisions/0009-extension-checkpoints.md.
 */
import { execFile } from "node:child_process";

import { Aborted, CheckpointFailed } from "./errors.js";

/** Settings that make the shadow repository independent of whatever the user configured for their own repositories. */
const CONFIG = [
  "core.autocrlf=false",
  "core.safecrlf=false",
  "core.fsmonitor=false",
  "core.hooksPath=/dev/null",
  "core.quotePath=false",
  "core.untrackedCache=true",
  "core.symlinks=true",
  "commit.gpgSign=false",
  "gc.auto=0",
  "safe.directory=*",
  "user.name=Variet",
  "user.email=checkpoints@variet.invalid",
];

/** The largest answer we read from git (the listing of a big workspace fits easily). */
const MAX_BUFFER = 256 * 1024 * 1024;

export interface GitCall {
  /** Bytes for git's stdin (pathspecs, NUL-separated). */
  readonly input?: string;
  /** Treat every pathspec as a literal path (no globs, no magic). */
  readonly literalPathspecs?: boolean;
  readonly signal: AbortSignal;
}

export class Git {
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly gitDir: string,
    readonly workTree: string,
  ) {
    // Inherited GIT_* variables (a VS Code started from a hook gets GIT_INDEX_FILE, GIT_DIR…) would redirect us.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("GIT_")));
    this.env = {
      ...env,
      GIT_DIR: gitDir,
      GIT_WORK_TREE: workTree,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_TERMINAL_PROMPT: "0",
      GIT_OPTIONAL_LOCKS: "0",
      LC_ALL: "C",
    };
  }

  /** Run `git <args>` and return stdout; a failure is one line naming the git command and git's first error line. */
  async run(args: readonly string[], call: GitCall): Promise<string> {
    if (call.signal.aborted) throw new Aborted();
    const argv = [...CONFIG.flatMap((setting) => ["-c", setting]), ...args];
    const env = call.literalPathspecs ? { ...this.env, GIT_LITERAL_PATHSPECS: "1" } : this.env;
    return new Promise((resolve, reject) => {
      const child = execFile("git", argv, { env, cwd: this.workTree, maxBuffer: MAX_BUFFER, signal: call.signal, encoding: "utf8" }, (error, stdout, stderr) => {
        if (!error) {
          resolve(stdout);
          return;
        }
        if (call.signal.aborted) {
          reject(new Aborted());
          return;
        }
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new CheckpointFailed("git is not installed (or not on PATH); install git, or set variet.checkpoints.enabled to false"));
          return;
        }
        const why = stderr.split("\n").find((line) => /^(fatal|error):/.test(line)) ?? stderr.split("\n").find((line) => line.trim() !== "") ?? error.message;
        reject(new CheckpointFailed(`git ${args[0] ?? ""} failed: ${why.trim()}`));
      });
      if (call.input !== undefined) child.stdin?.end(call.input);
    });
  }
}
