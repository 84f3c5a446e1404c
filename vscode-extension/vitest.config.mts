import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// `vscode` is not an npm module; editor-glue tests get a hand-written mock of the few APIs we use.
export default defineConfig({
  resolve: { alias: { vscode: fileURLToPath(new URL("./test/support/vscodeMock.ts", import.meta.url)) } },
  test: { include: ["test/**/*.test.ts"], pool: "threads", testTimeout: 15000 },
});
