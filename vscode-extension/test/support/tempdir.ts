import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/** A fresh directory under the OS temp dir, resolved through symlinks. */
export async function tempDir(prefix = "variet-"): Promise<string> {
  return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
}

/** Every file under `root` with its content, to prove a failed action left the workspace untouched. */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isSymbolicLink()) out[path.relative(root, full)] = `-> ${await fs.readlink(full)}`;
      else out[path.relative(root, full)] = await fs.readFile(full, "utf8");
    }
  };
  await walk(root);
  return out;
}
