/**
 * Checkpoint cost on a workspace of 5,000 source files (plus an ignored node_modules of 2,000): the first snapshot,
 * then rounds that alternate the baseline (a step's own write of one file) with the same write wrapped in its
 * checkpoints (snapshot before, snapshot after). Reports medians and the added time per step.
 * Run: `make -C vscode-extension bench`.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

import { Checkpoints } from "../src/core/checkpoints.js";
import { ShadowRepo } from "../src/core/shadowRepo.js";

const FILES = 5000;
const ROUNDS = 21;
const CAP = 1024 * 1024;
const signal = new AbortController().signal;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function workspace(root: string): Promise<void> {
  const line = "export function value(input: number): number { return input * 2 + 1; }\n";
  for (let dir = 0; dir < FILES / 100; dir++) {
    await fs.mkdir(path.join(root, "src", `module${dir}`), { recursive: true });
    for (let file = 0; file < 100; file++) await fs.writeFile(path.join(root, "src", `module${dir}`, `file${file}.ts`), line.repeat(12));
  }
  await fs.writeFile(path.join(root, ".gitignore"), "node_modules/\n");
  for (let pkg = 0; pkg < 20; pkg++) {
    await fs.mkdir(path.join(root, "node_modules", `pkg${pkg}`), { recursive: true });
    for (let file = 0; file < 100; file++) await fs.writeFile(path.join(root, "node_modules", `pkg${pkg}`, `index${file}.js`), line);
  }
}

const base = await fs.mkdtemp(path.join(os.tmpdir(), "variet-bench-"));
try {
  const root = path.join(base, "ws");
  await workspace(root);
  const repo = new ShadowRepo(path.join(base, "store-repo"), root);
  const first = await timed(() => repo.snapshot(CAP, signal));
  const checkpoints = new Checkpoints(path.join(base, "store-steps"), root);
  await checkpoints.before("warm", "warm", CAP, signal);

  const oneChanged: number[] = [];
  const unchanged: number[] = [];
  const plainStep: number[] = [];
  const checkpointedStep: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const file = path.join(root, "src", `module${round % 50}`, "file7.ts");
    oneChanged.push(await timed(async () => fs.writeFile(file, `// round ${round}\n`).then(() => repo.snapshot(CAP, signal))));
    unchanged.push(await timed(() => repo.snapshot(CAP, signal)));
    plainStep.push(await timed(() => fs.writeFile(file, `// plain ${round}\n`)));
    checkpointedStep.push(
      await timed(async () => {
        await checkpoints.before(`s${round}`, "step", CAP, signal);
        await fs.writeFile(file, `// checkpointed ${round}\n`);
        await checkpoints.after(`s${round}`, CAP, signal);
      }),
    );
  }
  const report = {
    files: FILES,
    ignored_files: 2000,
    rounds: ROUNDS,
    first_snapshot_ms: Math.round(first),
    median_snapshot_one_file_changed_ms: Math.round(median(oneChanged)),
    median_snapshot_nothing_changed_ms: Math.round(median(unchanged)),
    median_step_without_checkpoints_ms: Number(median(plainStep).toFixed(2)),
    median_step_with_checkpoints_ms: Math.round(median(checkpointedStep)),
    load_average: os.loadavg().map((n) => Number(n.toFixed(2))),
  };
  console.log(JSON.stringify(report, null, 2));
} finally {
  await fs.rm(base, { recursive: true, force: true });
}
