// Two bundles: the extension host (Node, CommonJS, `vscode` provided by the editor) and the chat webview (browser).
import * as esbuild from "esbuild";

const common = { bundle: true, minify: true, sourcemap: false, logLevel: "warning" };

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: ["src/vscode/extension.ts"],
    outfile: "dist/extension.js",
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["vscode"],
  }),
  esbuild.build({
    ...common,
    entryPoints: ["src/webview/main.ts"],
    outfile: "dist/webview.js",
    platform: "browser",
    format: "iife",
    target: "es2022",
  }),
]);
