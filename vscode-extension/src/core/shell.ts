/** Runs one shell command in its own process group, with captured output capped and a timeout that kills the group. */
import { spawn } from "node:child_process";

import { Aborted } from "./errors.js";

export interface CommandResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** stdout and stderr interleaved, head and tail kept when over the cap. */
  readonly output: string;
  readonly omittedBytes: number;
}

export interface CommandOptions {
  readonly cwd: string;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly signal: AbortSignal;
}

/** Keeps the first and last half of the cap, so both the command's start and its final error survive. */
class CappedOutput {
  private head: Buffer[] = [];
  private headSize = 0;
  private tail: Buffer = Buffer.alloc(0);
  omitted = 0;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    const half = Math.floor(this.cap / 2);
    if (this.headSize < half) {
      const take = chunk.subarray(0, half - this.headSize);
      this.head.push(take);
      this.headSize += take.length;
      chunk = chunk.subarray(take.length);
    }
    if (chunk.length === 0) return;
    const joined = Buffer.concat([this.tail, chunk]);
    const keep = this.cap - half;
    if (joined.length > keep) {
      this.omitted += joined.length - keep;
      this.tail = joined.subarray(joined.length - keep);
    } else {
      this.tail = joined;
    }
  }

  text(): string {
    const head = Buffer.concat(this.head).toString("utf8");
    const tail = this.tail.toString("utf8");
    return this.omitted > 0 ? `${head}\n[... ${this.omitted} bytes omitted ...]\n${tail}` : head + tail;
  }
}

const KILL_GRACE_MS = 2000;

export async function runCommand(command: string, options: CommandOptions): Promise<CommandResult> {
  if (options.signal.aborted) throw new Aborted();
  const isWindows = process.platform === "win32";
  const child = spawn(isWindows ? "cmd.exe" : "/bin/sh", isWindows ? ["/d", "/s", "/c", command] : ["-c", command], {
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: !isWindows,
    env: { ...process.env, PAGER: "cat", GIT_PAGER: "cat", TERM: "dumb" },
  });
  const output = new CappedOutput(options.maxOutputBytes);
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk));

  let timedOut = false;
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const killGroup = (sig: NodeJS.Signals): void => {
    if (child.pid === undefined || child.exitCode !== null) return;
    try {
      if (isWindows) child.kill(sig);
      else process.kill(-child.pid, sig);
    } catch {
      // Already gone.
    }
  };
  const stop = (): void => {
    killGroup("SIGTERM");
    killTimer = setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
  };
  const timeout = setTimeout(() => {
    timedOut = true;
    stop();
  }, options.timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    stop();
  };
  options.signal.addEventListener("abort", onAbort, { once: true });

  try {
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, sig) => resolve([code, sig]));
    });
    if (aborted) throw new Aborted();
    return { exitCode, signal, timedOut, output: output.text(), omittedBytes: output.omitted };
  } finally {
    clearTimeout(timeout);
    if (killTimer) clearTimeout(killTimer);
    options.signal.removeEventListener("abort", onAbort);
  }
}
