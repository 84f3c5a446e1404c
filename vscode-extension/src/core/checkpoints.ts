/**
 * Checkpoints of one workspace: a snapshot before every step that changes files or runs a command, another after
 * it, and restores. The timeline of steps is kept next to the shadow repository, so it survives a reload. What
 * changed between one step's end and the next step's start was done by something other than the agent: a restore
 * that would overwrite such a change reports it as a conflict and changes nothing until told to overwrite.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { CheckpointFailed } from "./errors.js";
import { type FileChange, ShadowRepo, type SkippedPath } from "./shadowRepo.js";

export interface Checkpoint {
  /** The tool call it was taken before, or `restore-…` for the state just before a restore. */
  readonly id: string;
  /** What the step did, e.g. `edit_file main.py`. */
  readonly label: string;
  readonly at: number;
  readonly skipped: readonly SkippedPath[];
  readonly skippedCount: number;
  /** A tool step, or the state just before a restore (restoring it undoes that restore). */
  readonly kind: "step" | "restore";
}

interface Step extends Checkpoint {
  before: string;
  after?: string;
}

export interface RestoreResult {
  /** Files that something other than the agent changed since the checkpoint; non-empty means nothing was done. */
  readonly conflicts: readonly string[];
  readonly restored: readonly string[];
  readonly removed: readonly string[];
  /** Files that could not be removed (their folder leads outside the workspace). */
  readonly failed: readonly string[];
  /** The checkpoint of the state just before this restore: restoring it undoes the restore. */
  readonly undo?: string;
}

/** Steps kept in the timeline; older checkpoints can no longer be restored. */
export const MAX_STEPS = 1000;
const TIMELINE = "timeline.json";

export class Checkpoints {
  private readonly repo: ShadowRepo;
  private steps: Step[] | undefined;
  /** Every operation runs after the previous one: snapshots share one git index. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly storeDir: string,
    readonly workspaceRoot: string,
  ) {
    this.repo = new ShadowRepo(storeDir, workspaceRoot);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async timeline(): Promise<Step[]> {
    if (this.steps) return this.steps;
    const text = await fs.readFile(path.join(this.storeDir, TIMELINE), "utf8").catch(() => "");
    let steps: Step[] = [];
    try {
      const parsed = JSON.parse(text || "[]") as unknown;
      if (Array.isArray(parsed)) steps = parsed as Step[];
    } catch {
      // A damaged timeline loses old checkpoints, not the ability to make new ones.
    }
    this.steps = steps;
    return steps;
  }

  private async save(): Promise<void> {
    const steps = await this.timeline();
    if (steps.length > MAX_STEPS) steps.splice(0, steps.length - MAX_STEPS);
    const file = path.join(this.storeDir, TIMELINE);
    const temporary = `${file}.${randomUUID().slice(0, 8)}`;
    try {
      await fs.writeFile(temporary, JSON.stringify(steps));
      await fs.rename(temporary, file);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw new CheckpointFailed(`the checkpoint list could not be saved in ${this.storeDir}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Snapshot before the step `id`; the step's checkpoint. */
  before(id: string, label: string, maxFileBytes: number, signal: AbortSignal): Promise<Checkpoint> {
    return this.serial(async () => {
      const snapshot = await this.repo.snapshot(maxFileBytes, signal);
      const step: Step = { id, label, at: Date.now(), kind: "step", before: snapshot.commit, skipped: snapshot.skipped, skippedCount: snapshot.skippedCount };
      (await this.timeline()).push(step);
      await this.save();
      return publicView(step);
    });
  }

  /**
   * The user said yes to step `id` after a question: snapshot again, so what changed while the question was open
   * (the user's own typing) is not counted as the step's, and restoring the checkpoint keeps it.
   */
  approved(id: string, maxFileBytes: number, signal: AbortSignal): Promise<void> {
    return this.serial(async () => {
      const step = (await this.timeline()).find((s) => s.id === id);
      if (!step) return;
      step.before = (await this.repo.snapshot(maxFileBytes, signal)).commit;
      await this.save();
    });
  }

  /** Snapshot after the step `id` ran, so later changes by anything else can be told apart from the agent's. */
  after(id: string, maxFileBytes: number, signal: AbortSignal): Promise<void> {
    return this.serial(async () => {
      const step = (await this.timeline()).find((s) => s.id === id);
      if (!step) return;
      step.after = (await this.repo.snapshot(maxFileBytes, signal, false)).commit;
      await this.save();
    });
  }

  /**
   * The step `id` did not run (the user said no): the agent changed nothing, so its after-snapshot is its before.
   * Its checkpoint stays, a point that can still be restored.
   */
  didNotRun(id: string): Promise<void> {
    return this.serial(async () => {
      const step = (await this.timeline()).find((s) => s.id === id);
      if (!step) return;
      step.after = step.before;
      await this.save();
    });
  }

  async list(): Promise<Checkpoint[]> {
    return this.serial(async () => (await this.timeline()).map(publicView));
  }

  private async find(id: string): Promise<Step> {
    const step = (await this.timeline()).find((s) => s.id === id);
    if (!step) throw new CheckpointFailed("that checkpoint is no longer kept; only the newest ones can be restored");
    return step;
  }

  /** The checkpoint against the workspace now: what changed, and a snapshot of now to read the texts from. */
  changesSince(id: string, maxFileBytes: number, signal: AbortSignal): Promise<{ readonly before: string; readonly changes: FileChange[] }> {
    return this.serial(async () => {
      const step = await this.find(id);
      const now = await this.repo.snapshot(maxFileBytes, signal, false);
      return { before: step.before, changes: await this.repo.changes(step.before, now.commit, signal) };
    });
  }

  fileAt(commit: string, file: string, signal: AbortSignal): Promise<string | undefined> {
    return this.serial(() => this.repo.fileAt(commit, file, signal));
  }

  /**
   * Put the workspace's files back as they were before step `id`. Without `overwrite`, files that something other
   * than the agent changed since are returned as conflicts and nothing is touched. The state before the restore is
   * itself kept, as a restore step.
   */
  restore(id: string, overwrite: boolean, maxFileBytes: number, signal: AbortSignal): Promise<RestoreResult> {
    return this.serial(async () => {
      const steps = await this.timeline();
      const target = await this.find(id);
      // Ignored paths listed too: this snapshot is the target of the restore's undo.
      const now = await this.repo.snapshot(maxFileBytes, signal);
      // What the checkpoint left out was never saved, so it can be neither put back nor removed.
      const leftOut = await this.repo.leftOut(target.before, signal);
      const changes = (await this.repo.changes(target.before, now.commit, signal)).filter((change) => !leftOut(change.path));
      const byOthers = new Set<string>();
      for (let j = steps.indexOf(target); j < steps.length; j++) {
        const step = steps[j];
        if (!step) continue;
        // A step with no after-snapshot is not known to be the agent's alone: its changes count as others'.
        const start = step.after ?? step.before;
        const end = steps[j + 1]?.before ?? now.commit;
        for (const change of await this.repo.changes(start, end, signal)) byOthers.add(change.path);
      }
      const conflicts = changes.filter((change) => byOthers.has(change.path)).map((change) => change.path);
      if (conflicts.length > 0 && !overwrite) return { conflicts, restored: [], removed: [], failed: [] };
      const added = changes.filter((change) => change.status === "added").map((change) => change.path);
      const restored = changes.filter((change) => change.status !== "added").map((change) => change.path);
      // Removing first: a folder that became a symlink must go before git writes the files that were in it.
      const failed = await this.repo.remove(added);
      await this.repo.checkout(target.before, restored, signal);
      const after = await this.repo.snapshot(maxFileBytes, signal, false);
      const undo = `restore-${randomUUID().slice(0, 8)}`;
      steps.push({
        id: undo,
        label: `the restore to before ${target.label}`,
        at: Date.now(),
        kind: "restore",
        before: now.commit,
        after: after.commit,
        skipped: [],
        skippedCount: 0,
      });
      await this.save();
      return { conflicts: [], restored, removed: added.filter((file) => !failed.includes(file)), failed, undo };
    });
  }
}

function publicView(step: Step): Checkpoint {
  return { id: step.id, label: step.label, at: step.at, skipped: step.skipped, skippedCount: step.skippedCount, kind: step.kind };
}
